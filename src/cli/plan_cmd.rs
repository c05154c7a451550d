//! `validate` and `plan`: report problems, or print the plan as text or JSON (with manifest
//! digests when the subject descriptor is known); with `--format json` the problems are JSON too.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use super::{exit, report_input_errors, ContextArgs};
use cnb_artifacts_core::diagnostic::{Diagnostic, Diagnostics};
use cnb_artifacts_core::plan::{self, PlannedArtifact, PlannedFile, Subject};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
}

pub fn validate(layers_dir: &Path, seams: &dyn plan::Seams) -> u8 {
    match plan::validate_with(layers_dir, seams) {
        Ok(()) => {
            println!("ok: {} is valid", layers_dir.display());
            exit::OK
        }
        Err(errors) => report_input_errors(&errors),
    }
}

/// The JSON form of a plan (documented in the README).
#[derive(Debug, Serialize)]
pub struct PlanJson<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<Subject>,
    pub artifacts: Vec<ArtifactJson<'a>>,
}

#[derive(Debug, Serialize)]
pub struct ArtifactJson<'a> {
    pub buildpack: &'a str,
    pub layer: &'a str,
    pub index: usize,
    /// `registry/repository`.
    pub repository: String,
    pub tags: &'a [String],
    #[serde(rename = "type")]
    pub preset: cnb_artifacts_core::layer_toml::Preset,
    #[serde(rename = "artifactType")]
    pub artifact_type: &'a str,
    pub annotations: &'a BTreeMap<String, String>,
    pub files: &'a [PlannedFile],
    #[serde(rename = "configDigest")]
    pub config_digest: cnb_artifacts_core::reference::Digest,
    #[serde(rename = "manifestDigest", skip_serializing_if = "Option::is_none")]
    pub manifest_digest: Option<cnb_artifacts_core::reference::Digest>,
    #[serde(rename = "manifestSize", skip_serializing_if = "Option::is_none")]
    pub manifest_size: Option<usize>,
}

/// One input error in `plan --format json` output (camelCase, as the plan's JSON).
#[derive(Debug, Serialize)]
struct ErrorJson<'a> {
    rule: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    line: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    column: Option<usize>,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    help: Option<&'a str>,
}

/// The errors as text on stderr, or with `--format json` as `{"errors": [...]}` on stdout
/// (the text count line still goes to stderr); exit 1 either way.
fn report_errors(errors: &Diagnostics, format: Format) -> u8 {
    if format == Format::Text {
        return report_input_errors(errors);
    }
    let list: Vec<ErrorJson<'_>> = errors
        .0
        .iter()
        .map(|d| ErrorJson {
            rule: d.rule,
            path: d.place.as_ref().map(|p| cnb_artifacts_core::diagnostic::display_path(p.path()).to_string()),
            line: d.place.as_ref().and_then(|p| p.position()).map(|(line, _)| line),
            column: d.place.as_ref().and_then(|p| p.position()).map(|(_, column)| column),
            message: &d.message,
            help: d.help.as_deref(),
        })
        .collect();
    match serde_json::to_string_pretty(&serde_json::json!({ "errors": list })).map(|s| cnb_artifacts_core::display::json(&s)) {
        Ok(s) => println!("{s}"),
        Err(e) => eprintln!("error: cannot write the errors as JSON: {e}"),
    }
    let n = errors.0.len();
    eprintln!("{n} error{}; nothing was published", if n == 1 { "" } else { "s" });
    exit::INPUT
}

pub fn plan(layers_dir: &Path, args: &ContextArgs, format: Format, seams: &dyn plan::Seams) -> u8 {
    let ctx = match args.to_context() {
        Ok(c) => c,
        Err(errors) => return report_errors(&errors, format),
    };
    let plan = match plan::plan_with(layers_dir, &ctx, seams) {
        Ok(p) => p,
        Err(errors) => return report_errors(&errors, format),
    };
    let subject = ctx.subject();
    if let (Some(digest), None) = (&ctx.digest, ctx.manifest_size) {
        eprintln!(
            "note: the app image digest {digest} was given without its manifest size, so the artifacts' \
             manifest digests are not computed: pass --manifest-size N or --report report.toml \
             (`publish` reads the size from the registry)"
        );
    }
    let mut artifacts = Vec::new();
    for a in &plan.artifacts {
        let built = match &subject {
            Some(s) => match cnb_artifacts_core::manifest::build_with(a, s, seams) {
                Ok(b) => Some(b),
                Err(e) => return report_errors(&Diagnostics(vec![Diagnostic::new("R-MAN-9", None, e.to_string())]), format),
            },
            None => None,
        };
        artifacts.push(artifact_json(a, built.as_ref()));
    }
    let missing = match (&ctx.digest, ctx.manifest_size) {
        (None, None) => "(needs --digest and --manifest-size, or --report)",
        (None, Some(_)) => "(needs --digest: --manifest-size alone is not a descriptor)",
        (Some(_), _) => "(needs --manifest-size: --digest was given without it)",
    };
    let doc = PlanJson { subject, artifacts };
    match format {
        Format::Json => match serde_json::to_string_pretty(&doc).map(|s| cnb_artifacts_core::display::json(&s)) {
            Ok(s) => println!("{s}"),
            Err(e) => {
                eprintln!("error: cannot write the plan as JSON: {e}");
                return exit::INPUT;
            }
        },
        Format::Text => print_text(&doc, missing),
    }
    exit::OK
}

fn artifact_json<'a>(a: &'a PlannedArtifact, built: Option<&cnb_artifacts_core::manifest::BuiltArtifact>) -> ArtifactJson<'a> {
    ArtifactJson {
        buildpack: &a.buildpack,
        layer: &a.layer,
        index: a.index,
        repository: a.name(),
        tags: &a.tags,
        preset: a.preset,
        artifact_type: &a.artifact_type,
        annotations: &a.annotations,
        files: &a.files,
        config_digest: cnb_artifacts_core::reference::Digest::of(&a.config.bytes),
        manifest_digest: built.map(|b| b.manifest_digest.clone()),
        manifest_size: built.map(|b| b.manifest_bytes.len()),
    }
}

/// The plan as text; every value a buildpack chose (IDs, layer names, repository, tags,
/// labels, file names) goes through [`text`] (R-SEC-3).
fn print_text(doc: &PlanJson<'_>, missing: &str) {
    use cnb_artifacts_core::display::text;
    if doc.artifacts.is_empty() {
        println!("no artifacts declared");
    }
    for a in &doc.artifacts {
        println!("artifact {}/{}#{} ({})", text(a.buildpack), text(a.layer), a.index, a.preset_name());
        println!("  repository:   {}", text(&a.repository));
        if a.tags.is_empty() {
            println!("  tags:         (none: published by digest only)");
        } else {
            println!("  tags:         {}", text(&a.tags.join(", ")));
        }
        println!("  artifactType: {}", text(a.artifact_type));
        println!("  annotations:");
        for (k, v) in a.annotations {
            println!("    {} = {}", text(k), text(v));
        }
        println!("  files:");
        for f in a.files {
            println!("    {}  {} bytes  {}  {}", text(&f.path), f.size, f.digest, text(&f.media_type));
        }
        match &a.manifest_digest {
            Some(d) => println!("  manifest:     {d}"),
            None => println!("  manifest:     {missing}"),
        }
    }
}

impl ArtifactJson<'_> {
    fn preset_name(&self) -> &'static str {
        self.preset.as_str()
    }
}
