//! `publish`: plan, then push to a registry or write an OCI image layout; print a one-line
//! summary per artifact and optionally write the report TOML (`--report-out`).

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::Args;

use super::{exit, report_input_errors, ContextArgs};
use cnb_artifacts_core::plan::{self, Plan, Subject};
use cnb_artifacts_core::publish::client::{TransportOptions, DEFAULT_CHUNK_SIZE};
use cnb_artifacts_core::publish::retry::RetryPolicy;
use cnb_artifacts_core::publish::{self, LayoutTarget, PublishError, PublishOptions, PublishReport, ReferrersMode, RegistryTarget};

#[derive(Debug, Clone, Args)]
pub struct PublishArgs {
    /// The layers directory (`$CNB_LAYERS_DIR`): the one holding group.toml and a directory per
    /// buildpack.
    #[arg(long, env = "CNB_LAYERS_DIR")]
    pub layers_dir: PathBuf,
    #[command(flatten)]
    pub context: ContextArgs,
    /// Write an OCI image layout to DIR instead of pushing (needs the subject descriptor:
    /// --digest with --manifest-size, or --report).
    #[arg(long, value_name = "DIR")]
    pub layout: Option<PathBuf>,
    /// A registry (`host[:port]`) spoken to over plain HTTP; loopback hosts need not be listed.
    #[arg(long = "insecure-registry", value_name = "HOST")]
    pub insecure_registries: Vec<String>,
    /// Extra CA certificates (PEM or DER) to trust for TLS.
    #[arg(long, value_name = "FILE")]
    pub ca_file: Option<PathBuf>,
    /// Replace tags that hold content this tool did not publish (R-PUSH-5).
    #[arg(long)]
    pub overwrite: bool,
    /// How referrers are recorded: probe the registry, or force the API or the fallback index.
    #[arg(long, value_enum, default_value_t = ReferrersMode::Auto)]
    pub referrers: ReferrersMode,
    /// Size of the pieces blobs are read and sent in, in bytes.
    #[arg(long, default_value_t = DEFAULT_CHUNK_SIZE)]
    pub chunk_size: usize,
    /// Files of at least this many bytes are read once when pushed to a registry: their digest
    /// is computed while they are uploaded, not at planning (R-PUSH-11). 0: every file is hashed
    /// at planning. An OCI layout always hashes at planning.
    #[arg(long, value_name = "BYTES", default_value_t = publish::DEFAULT_SINGLE_PASS_MIN_SIZE)]
    pub single_pass_min_size: u64,
    /// Requests in flight at once in each step (tag checks, blobs, manifests, fallback indexes,
    /// tags); at most this many blobs are being sent at once. An OCI layout is written one at a time.
    #[arg(long, default_value_t = cnb_artifacts_core::publish::jobs::DEFAULT_JOBS, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub jobs: usize,
    /// Attempts per registry request on transient failures (connection errors, 429, 5xx).
    #[arg(long, default_value_t = RetryPolicy::default().max_attempts)]
    pub max_attempts: u32,
    /// Seconds connecting to a registry may take.
    #[arg(long, value_name = "SECONDS", default_value_t = cnb_artifacts_core::publish::client::CONNECT_TIMEOUT.as_secs())]
    pub connect_timeout: u64,
    /// Seconds a registry request may go without receiving a byte before it fails.
    #[arg(long, value_name = "SECONDS", default_value_t = cnb_artifacts_core::publish::client::IDLE_TIMEOUT.as_secs())]
    pub idle_timeout: u64,
    /// The slowest a registry request may transfer, in bytes per second averaged over
    /// --min-transfer-window, before it fails as too slow (0: no minimum) (R-SEC-4).
    #[arg(long, value_name = "BYTES", default_value_t = cnb_artifacts_core::publish::min_rate::DEFAULT_BYTES_PER_SECOND)]
    pub min_transfer_rate: u64,
    /// The span, in seconds, over which --min-transfer-rate is averaged.
    #[arg(long, value_name = "SECONDS", default_value_t = cnb_artifacts_core::publish::min_rate::DEFAULT_WINDOW.as_secs())]
    pub min_transfer_window: u64,
    /// A host that may receive the credentials as a registry's token realm on another host
    /// (repeatable); without it any such host over HTTPS may (R-AUTH-6).
    #[arg(long = "realm-host", value_name = "HOST")]
    pub realm_hosts: Vec<String>,
    /// Never send credentials to a token realm on another host than the registry (R-AUTH-6).
    #[arg(long)]
    pub no_cross_host_realm: bool,
    /// Write what was published as TOML (`[[artifacts]]`) to FILE.
    #[arg(long, value_name = "FILE")]
    pub report_out: Option<PathBuf>,
}

pub fn publish(args: &PublishArgs, seams: &impl super::Seams) -> u8 {
    let ctx = match args.context.to_context() {
        Ok(c) => c,
        Err(errors) => return report_input_errors(&errors),
    };
    let single_pass = args.layout.is_none() && args.single_pass_min_size > 0;
    let plan_opts = plan::PlanOptions { single_pass_min_size: single_pass.then_some(args.single_pass_min_size) };
    let plan = match plan::plan_with_options(&args.layers_dir, &ctx, seams, &plan_opts) {
        Ok(p) => p,
        Err(errors) => return report_input_errors(&errors),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return exit::PUBLISH;
        }
    };
    match runtime.block_on(run(args, &plan, seams)) {
        Ok(report) => {
            for line in report.summary_lines() {
                println!("{line}");
            }
            if let Some(path) = &args.report_out {
                if let Err(e) = std::fs::write(path, report.to_toml()) {
                    eprintln!("error: cannot write the report {}: {e}", path.display());
                    return exit::PUBLISH;
                }
            }
            exit::OK
        }
        Err(e) => {
            let message =
                cnb_artifacts_core::publish::auth::redact::redact(&cnb_artifacts_core::publish::error::error_chain(&e)).into_owned();
            // Registry answers and names are escaped where they enter the message; the lines
            // the message itself is made of are kept, every other control character escaped.
            let lines: Vec<String> = message.lines().map(cnb_artifacts_core::display::controls).collect();
            eprintln!("error: {}", lines.join("\n"));
            if let Some(help) = plain_http_hint(&message, args) {
                eprintln!("  help: {help}");
            }
            exit_code(&e)
        }
    }
}

async fn run(args: &PublishArgs, plan: &Plan, seams: &impl super::Seams) -> Result<PublishReport, PublishError> {
    let transport = TransportOptions {
        insecure_registries: args.insecure_registries.clone(),
        ca_file: args.ca_file.clone(),
        chunk_size: args.chunk_size,
        retry: RetryPolicy { max_attempts: args.max_attempts.max(1), ..RetryPolicy::default() },
        connect_timeout: std::time::Duration::from_secs(args.connect_timeout.max(1)),
        idle_timeout: std::time::Duration::from_secs(args.idle_timeout.max(1)),
        realm_hosts: args.realm_hosts.clone(),
        deny_cross_host_realm: args.no_cross_host_realm,
        min_rate: cnb_artifacts_core::publish::min_rate::MinRate {
            bytes_per_second: args.min_transfer_rate,
            window: std::time::Duration::from_secs(args.min_transfer_window.max(1)),
        },
    };
    let opts =
        PublishOptions { overwrite: args.overwrite, referrers: args.referrers, progress: std::io::stderr().is_terminal(), jobs: args.jobs };
    let known: Option<Subject> = plan.context.subject();
    match &args.layout {
        Some(dir) => {
            let target = LayoutTarget::open(dir, transport.chunk_size)?;
            let subject = match known {
                Some(s) => s,
                None => publish::resolve_subject(&target, &plan.context).await?,
            };
            publish::publish_with(plan, &subject, &opts, &seams.target(plan, target), seams).await
        }
        None => {
            let target = RegistryTarget::connect(&plan.context.image.registry, &transport).await?;
            let subject = match known {
                Some(s) => s,
                None => publish::resolve_subject(&target, &plan.context).await?,
            };
            publish::publish_with(plan, &subject, &opts, &seams.target(plan, target), seams).await
        }
    }
}

/// A TLS handshake that met plain HTTP (rustls: `received corrupt message of type
/// InvalidContentType`) means the registry speaks HTTP: say which flag makes it work.
fn plain_http_hint(chain: &str, args: &PublishArgs) -> Option<String> {
    let registry = args.context.image.parse::<cnb_artifacts_core::reference::ImageRef>().ok()?.registry;
    let registry = registry.as_str();
    let tls_met_http = ["InvalidContentType", "corrupt message", "wrong version number", "http request to an https server"]
        .iter()
        .any(|needle| chain.to_ascii_lowercase().contains(&needle.to_ascii_lowercase()));
    let listed = args.insecure_registries.iter().any(|r| r.trim().eq_ignore_ascii_case(registry));
    (tls_met_http && args.layout.is_none() && !listed).then(|| {
        format!("the registry {registry} seems to speak plain HTTP, not HTTPS: pass --insecure-registry {registry} if that is intended")
    })
}

/// Problems with what the user gave (a digest that lies, a missing app image, foreign tags,
/// an oversized manifest) exit 1 like any input error; the registry failing exits 3.
fn exit_code(e: &PublishError) -> u8 {
    match e {
        PublishError::AppImageMissing { .. }
        | PublishError::AppImageTagMissing { .. }
        | PublishError::SubjectSizeUnknown { .. }
        | PublishError::SubjectDigestMismatch { .. }
        | PublishError::SubjectDescriptorMismatch { .. }
        | PublishError::SubjectMediaType { .. }
        | PublishError::ForeignTags { .. }
        | PublishError::ManifestBuild { .. }
        | PublishError::ManifestTooLarge { .. } => exit::INPUT,
        _ => exit::PUBLISH,
    }
}
