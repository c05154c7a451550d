//! `cnb-artifacts discover IMAGE` and `cnb-artifacts pull IMAGE`: the consumer's side
//! ([`cnb_artifacts_core::consume`]). Both exit 0 on success, 1 when nothing (or more than one
//! artifact) matches, 3 on a registry or I/O failure.

use std::path::PathBuf;

use clap::Args;
use cnb_artifacts_core::consume::{self, escape, ConsumeError, Consumer, Discovery, Filter};
use cnb_artifacts_core::publish::client::TransportOptions;
use cnb_artifacts_core::reference::ImageRef;

use super::exit;

/// What to look at and which registries to trust.
#[derive(Debug, Args)]
pub struct Target {
    /// The app image (`registry/repository:tag` or `@sha256:…`).
    pub image: String,
    /// A registry (`host[:port]`) spoken to over plain HTTP; loopback hosts need not be listed.
    #[arg(long = "insecure-registry", value_name = "HOST")]
    pub insecure_registries: Vec<String>,
    /// Extra CA certificates (PEM or DER) to trust for TLS.
    #[arg(long, value_name = "FILE")]
    pub ca_file: Option<PathBuf>,
    /// Only artifacts of this type: a preset name (generic, wasm, helm, junit) or an exact artifactType.
    #[arg(long = "type", value_name = "TYPE")]
    pub artifact_type: Option<String>,
    /// Only artifacts declared by this buildpack ID.
    #[arg(long, value_name = "ID")]
    pub buildpack: Option<String>,
    /// Also search this repository of the image's registry (repeatable), e.g. `team/app/hello`
    /// for a Helm chart published to its default `<app>/<chart>`: referrers are listed per
    /// repository.
    #[arg(long = "repository", value_name = "REPOSITORY", value_parser = parse_repository)]
    pub repositories: Vec<String>,
    /// Only artifacts with this manifest annotation (repeatable).
    #[arg(long = "annotation", value_name = "KEY=VALUE", value_parser = parse_annotation)]
    pub annotations: Vec<(String, String)>,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
}

fn parse_repository(s: &str) -> Result<String, String> {
    cnb_artifacts_core::reference::validate_repository_path(s).map(|()| s.to_string()).map_err(|e| format!("{e} ({})", e.help()))
}

fn parse_annotation(s: &str) -> Result<(String, String), String> {
    s.split_once('=').map(|(k, v)| (k.to_string(), v.to_string())).ok_or_else(|| format!("`{s}` is not KEY=VALUE"))
}

impl Target {
    fn filter(&self) -> Filter {
        Filter { artifact_type: self.artifact_type.clone(), buildpack: self.buildpack.clone(), annotations: self.annotations.clone() }
    }
}

/// Runs `work` with a consumer for the image's registry; prints errors.
fn with_consumer<T>(target: &Target, work: impl AsyncFnOnce(&Consumer, &ImageRef) -> Result<T, ConsumeError>) -> Result<T, u8> {
    let image: ImageRef = target.image.parse().map_err(|e: String| {
        eprintln!("error: {e}");
        exit::USAGE
    })?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|e| {
        eprintln!("error: cannot start the async runtime: {e}");
        exit::PUBLISH
    })?;
    let opts =
        TransportOptions { insecure_registries: target.insecure_registries.clone(), ca_file: target.ca_file.clone(), ..Default::default() };
    runtime
        .block_on(async {
            let consumer = Consumer::connect(&image.registry, &opts).await?;
            work(&consumer, &image).await
        })
        .map_err(|e| {
            eprintln!("error: {}", cnb_artifacts_core::publish::auth::redact::redact(&e.to_string()));
            match e {
                ConsumeError::NoMatch { .. } | ConsumeError::SeveralMatches { .. } | ConsumeError::NotFound { .. } => exit::INPUT,
                _ => exit::PUBLISH,
            }
        })
}

pub fn discover(target: &Target, format: Format) -> u8 {
    let filter = target.filter();
    match with_consumer(target, async |c, image| consume::discover(c, image, &target.repositories).await) {
        Ok(mut discovery) => {
            discovery.artifacts.retain(|a| filter.matches(a));
            print!("{}", render(&discovery, format));
            exit::OK
        }
        Err(code) => code,
    }
}

pub fn pull(target: &Target, out: &std::path::Path) -> u8 {
    let filter = target.filter();
    match with_consumer(target, async |c, image| consume::pull(c, image, &target.repositories, &filter, out).await) {
        Ok(pulled) => {
            for f in &pulled.files {
                println!("{}", escape(&f.display().to_string()));
            }
            exit::OK
        }
        Err(code) => code,
    }
}

fn source_name(source: consume::ListingSource) -> &'static str {
    match source {
        consume::ListingSource::ReferrersApi => "referrers API",
        consume::ListingSource::FallbackTag => "fallback tag",
    }
}

/// The listing as text (one line per artifact, foreign ones marked) or JSON.
fn render(discovery: &Discovery, format: Format) -> String {
    match format {
        Format::Json => serde_json::to_string_pretty(discovery).map(|s| cnb_artifacts_core::display::json(&s) + "\n").unwrap_or_default(),
        Format::Text => {
            let mut out = format!(
                "{}@{} ({} artifacts, from the {})\n",
                escape(&discovery.image),
                discovery.subject,
                discovery.artifacts.len(),
                source_name(discovery.source)
            );
            for r in discovery.repositories.iter().skip(1) {
                let note = if r.subject_present { "" } else { ", the subject is not there" };
                out.push_str(&format!("also searched {} (from the {}{note})\n", escape(&r.repository), source_name(r.source)));
            }
            out.push_str("TYPE\tBUILDPACK\tLAYER\tTAGS\tDIGEST\tSIZE\tREPOSITORY\n");
            for a in &discovery.artifacts {
                let size: u64 = a.files.iter().map(|f| f.size).sum();
                let (buildpack, layer) = if a.foreign {
                    ("(foreign)".to_string(), "-".to_string())
                } else {
                    (escape(a.buildpack.as_deref().unwrap_or("-")), escape(a.layer.as_deref().unwrap_or("-")))
                };
                let tags = if a.tags.is_empty() { "-".to_string() } else { escape(&a.tags.join(",")) };
                out.push_str(&format!(
                    "{}\t{buildpack}\t{layer}\t{tags}\t{}\t{size}\t{}\n",
                    escape(&a.artifact_type),
                    a.digest,
                    escape(&a.repository)
                ));
            }
            out
        }
    }
}
