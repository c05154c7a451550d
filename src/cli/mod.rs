//! The command line (`cnb-artifacts`): raw flags (clap) → a validated build context → work.
//!
//! `main` returns an [`ExitCode`]; errors print their whole cause chain. Exit codes (README,
//! spec rule R-ERR-2): 0 success, 1 invalid input (nothing pushed), 2 usage error, 3 registry or
//! I/O failure while publishing (tags unchanged), 4 conformance cases failed, 5 the conformance
//! runner or its registry broke.

pub mod conformance_cmd;
pub mod conformance_diff_cmd;
mod consume_cmd;
mod context;
pub mod explain;
mod exporter_report;
mod plan_cmd;
mod proxy_cmd;
mod publish_cmd;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub use context::ContextArgs;

use cnb_artifacts_core::plan::{NoSeams, Plan};
use cnb_artifacts_core::publish::Target;

/// The pipeline's seams as the command line drives them: the core's
/// ([`cnb_artifacts_core::plan::Seams`]: after parsing, on the plan, on the manifest bytes) and
/// the fourth, a [`Target`] wrapped around the one publishing. The release binary passes
/// [`NoSeams`]; the self-check's mutant binary passes its mutations (`crate::mutants`).
pub trait Seams: cnb_artifacts_core::plan::Seams {
    /// The target to publish `plan` through, around `target`.
    fn target<'a, T: Target + 'a>(&'a self, plan: &'a Plan, target: T) -> impl Target + 'a;
}

impl Seams for NoSeams {
    fn target<'a, T: Target + 'a>(&'a self, _plan: &'a Plan, target: T) -> impl Target + 'a {
        target
    }
}

/// Exit codes, one per outcome class.
pub mod exit {
    pub const OK: u8 = 0;
    pub const INPUT: u8 = 1;
    pub const USAGE: u8 = 2;
    pub const PUBLISH: u8 = 3;
    pub const CONFORMANCE_FAILED: u8 = 4;
    pub const RUNNER: u8 = 5;
}

#[derive(Debug, Parser)]
#[command(name = "cnb-artifacts", version, about = "Additional OCI artifacts from Cloud Native Buildpacks")]
pub struct Cli {
    /// Log level filter (also RUST_LOG), e.g. `info`, `debug`.
    #[arg(long, global = true, default_value = "warn")]
    pub log: String,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check every layer TOML and declared file; needs no image reference.
    Validate {
        /// The layers directory (`$CNB_LAYERS_DIR`): the one holding group.toml and a directory
        /// per buildpack.
        #[arg(long, env = "CNB_LAYERS_DIR")]
        layers_dir: PathBuf,
    },
    /// Print what would be published, with digests (no network).
    Plan {
        /// The layers directory (`$CNB_LAYERS_DIR`): the one holding group.toml and a directory
        /// per buildpack.
        #[arg(long, env = "CNB_LAYERS_DIR")]
        layers_dir: PathBuf,
        #[command(flatten)]
        context: ContextArgs,
        /// Output format.
        #[arg(long, value_enum, default_value_t = plan_cmd::Format::Text)]
        format: plan_cmd::Format,
    },
    /// Publish every declared artifact beside the app image (or into an OCI image layout).
    Publish(Box<publish_cmd::PublishArgs>),
    /// List the artifacts whose subject is IMAGE (referrers API, else the fallback tag).
    Discover {
        #[command(flatten)]
        target: consume_cmd::Target,
        /// Output format.
        #[arg(long, value_enum, default_value_t = consume_cmd::Format::Text)]
        format: consume_cmd::Format,
    },
    /// Download the files of the one artifact of IMAGE that the filters select, verifying digests.
    Pull {
        #[command(flatten)]
        target: consume_cmd::Target,
        /// The directory to write the files to, named by their titles.
        #[arg(short = 'o', long = "output", value_name = "DIR")]
        out: PathBuf,
    },
    /// Print a spec rule's text (from docs/spec.md as built in), e.g. `explain R-FILE-6`.
    Explain {
        /// The rule ID, e.g. `R-FILE-6`.
        #[arg(required_unless_present = "list")]
        rule: Option<String>,
        /// List every rule ID with the first line of its text.
        #[arg(long, conflicts_with = "rule")]
        list: bool,
    },
    /// The conformance suite: list, run against an implementation, regenerate expectations.
    Conformance {
        #[command(subcommand)]
        cmd: conformance_cmd::ConformanceCommand,
    },
}

/// Parses the command line and runs it.
pub fn main() -> ExitCode {
    main_with(&NoSeams)
}

/// [`main`], with `seams` rewriting between the pipeline's stages.
pub fn main_with(seams: &impl Seams) -> ExitCode {
    // clap reports a variable that is not UTF-8 as "invalid UTF-8 was detected in one or more
    // arguments", naming neither the variable nor the flag.
    for (var, flag) in [("CNB_OUTPUT_IMAGE", "--image"), ("CNB_CONFORMANCE_IMPLEMENTATION", "--implementation")] {
        if let Some(value) = std::env::var_os(var).filter(|v| v.to_str().is_none()) {
            eprintln!(
                "error: the variable {var} (the default of {flag}) is not valid UTF-8: `{}`",
                cnb_artifacts_core::diagnostic::display_path(std::path::Path::new(&value))
            );
            return ExitCode::from(exit::USAGE);
        }
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { exit::USAGE } else { exit::OK });
        }
    };
    init_tracing(&cli.log);
    ExitCode::from(run_quiet_on_broken_pipe(cli, seams))
}

/// The panic message of `println!` when the reader of stdout (or stderr) has gone away.
fn is_broken_pipe(message: &str) -> bool {
    message.starts_with("failed printing to std") && message.contains("Broken pipe")
}

/// Runs `cli`; output piped into a reader that closes early (`conformance list | head -3`)
/// ends the command quietly with exit 0, as ripgrep and cargo do, instead of a panic and a
/// backtrace. The unwinding still runs every guard (registries started are stopped).
fn run_quiet_on_broken_pipe(cli: Cli, seams: &impl Seams) -> u8 {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload.downcast_ref::<String>().map(String::as_str).or_else(|| payload.downcast_ref::<&str>().copied());
        if !message.is_some_and(is_broken_pipe) {
            default_hook(info);
        }
    }));
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(cli, seams))) {
        Ok(code) => code,
        Err(payload) => {
            let message = payload.downcast_ref::<String>().map(String::as_str).or_else(|| payload.downcast_ref::<&str>().copied());
            if message.is_some_and(is_broken_pipe) {
                exit::OK
            } else {
                std::panic::resume_unwind(payload)
            }
        }
    }
}

fn init_tracing(level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(cnb_artifacts_core::publish::auth::redact::RedactingStderr)
        .with_target(false)
        // Colour only helps a person at a terminal; the log lines are escaped (R-SEC-3), so
        // they carry no escape sequences at all.
        .with_ansi(false)
        .try_init();
}

fn run(cli: Cli, seams: &impl Seams) -> u8 {
    match cli.command {
        Command::Validate { layers_dir } => plan_cmd::validate(&layers_dir, seams),
        Command::Plan { layers_dir, context, format } => plan_cmd::plan(&layers_dir, &context, format, seams),
        Command::Publish(args) => publish_cmd::publish(&args, seams),
        Command::Discover { target, format } => consume_cmd::discover(&target, format),
        Command::Pull { target, out } => consume_cmd::pull(&target, &out),
        Command::Conformance { cmd } => conformance_cmd::run(cmd),
        Command::Explain { list: true, .. } => explain::list(),
        Command::Explain { rule, .. } => explain::explain(rule.as_deref().unwrap_or_default()),
    }
}

/// Prints input errors to stderr with a closing count; returns [`exit::INPUT`].
pub fn report_input_errors(errors: &cnb_artifacts_core::diagnostic::Diagnostics) -> u8 {
    eprintln!("{errors}");
    let n = errors.0.len();
    eprintln!("{n} error{}; nothing was published", if n == 1 { "" } else { "s" });
    let mut rules: Vec<&str> = Vec::new();
    for d in &errors.0 {
        if !rules.contains(&d.rule) {
            rules.push(d.rule);
        }
    }
    if let Some(first) = rules.first() {
        let all = if rules.len() > 1 { format!(" (rules here: {})", rules.join(", ")) } else { String::new() };
        eprintln!("for a rule's text, run `cnb-artifacts explain {first}`{all}");
    }
    exit::INPUT
}
