//! One side of a differential build: the build published by one implementation into its own
//! namespace, exactly as the runner runs a case ([`crate::implementation`]: the contract's
//! environment, a fresh working directory, the timeout and the process-group kill): the app
//! image seeded ([`crate::provider::seed`]), the registry state before the publish pushed
//! ([`crate::setup`]), the layers directory written, the implementation run once, and the
//! namespace read back ([`super::compare::capture`]).

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::build::{Build, APP_REPOSITORY};
use super::compare::{self, State};
use super::DiffError;
use crate::case::{Case, Expect};
use crate::implementation::{Exit, Implementation, InvocationEnv};
use crate::provider::{self, RunningRegistry};
use crate::registry_view::RegistryView;

/// What every side of a run shares: the registry, a view of it, a work directory.
pub struct Lane<'a> {
    pub registry: &'a RunningRegistry,
    pub view: &'a RegistryView,
    pub work: &'a Path,
    pub docker_config: &'a Path,
    pub timeout: Duration,
}

/// How a publish ended, as the comparison sees it (R-ERR-2 gives zero and non-zero; the
/// reference's exit codes split non-zero further).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExitClass {
    /// Exit 0.
    Accepted,
    /// Exit 1: invalid input, nothing pushed.
    RejectedInput,
    /// Anything else: another exit status, a signal, a timeout.
    Other(String),
}

impl ExitClass {
    pub fn of(exit: &Exit) -> ExitClass {
        match exit {
            Exit::Code(0) => ExitClass::Accepted,
            Exit::Code(1) => ExitClass::RejectedInput,
            other => ExitClass::Other(other.to_string()),
        }
    }
}

impl std::fmt::Display for ExitClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExitClass::Accepted => f.write_str("accepted"),
            ExitClass::RejectedInput => f.write_str("rejected-input"),
            ExitClass::Other(how) => write!(f, "other ({how})"),
        }
    }
}

/// One side's outcome.
#[derive(Debug, Clone)]
pub struct Side {
    pub class: ExitClass,
    pub stdout: String,
    pub stderr: String,
    /// The rule IDs its output mentions.
    pub rules: Vec<String>,
    pub state: State,
}

impl Side {
    /// One line for reports: the exit class and the last line of standard error.
    pub fn summary(&self) -> String {
        let last = self.stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("");
        if last.is_empty() {
            self.class.to_string()
        } else {
            format!("{}: {}", self.class, last.trim())
        }
    }
}

/// The case the build stands for, as the runner's setup needs it.
pub(crate) fn as_case(build: &Build, id: &str) -> Case {
    Case {
        id: id.to_string(),
        title: String::new(),
        rules: Vec::new(),
        fixture: id.to_string(),
        build: crate::case::Build {
            tags: build.tags.clone(),
            repository: APP_REPOSITORY.to_string(),
            source_date_epoch: None,
            overwrite: build.overwrite,
            digest: None,
        },
        generate: Vec::new(),
        setup: build.setup(),
        concurrent: Vec::new(),
        timeout_seconds: None,
        twin: None,
        twin_waiver: None,
        auth: None,
        expect: Expect::Published { manifests: Vec::new(), fallback_index: Default::default() },
    }
}

/// Publishes `build` with `implementation` into namespace `ns` and reads what it left.
pub async fn run_side(lane: &Lane<'_>, build: &Build, ns: &str, implementation: &Implementation) -> Result<Side, DiffError> {
    let app_repo = format!("{ns}/{APP_REPOSITORY}");
    let subject = provider::seed::seed_app_image(lane.registry, &app_repo, &build.tags).await.map_err(DiffError::Registry)?;
    crate::setup::apply(lane.view, &as_case(build, ns), ns, &subject).await?;
    let dir: PathBuf = lane.work.join(ns);
    let io = |e: std::io::Error| DiffError::Io(format!("preparing {}: {e}", dir.display()));
    if dir.exists() {
        std::fs::remove_dir_all(&dir).map_err(io)?;
    }
    let layers = build.write_layers(&dir.join("layers")).map_err(io)?;
    let cwd = dir.join("cwd");
    std::fs::create_dir_all(&cwd).map_err(io)?;
    let name = format!("{}/{app_repo}", lane.registry.host);
    let env = InvocationEnv {
        layers_dir: layers,
        output_image: match build.tags.first() {
            Some(tag) => format!("{name}:{tag}"),
            None => name,
        },
        tags: build.tags.clone(),
        digest: subject.digest.to_string(),
        manifest_size: subject.size,
        manifest_media_type: subject.media_type.clone(),
        report: dir.join("report.toml"),
        registry: lane.registry.host.clone(),
        insecure: lane.registry.insecure,
        docker_config: lane.docker_config.to_path_buf(),
        registry_auth: None,
        path_first: None,
        source_date_epoch: None,
        overwrite: build.overwrite,
    };
    std::fs::write(&env.report, env.report_toml()).map_err(io)?;
    let invocation = implementation.run(&env, &cwd, lane.timeout).await?;
    let state = compare::capture(lane.view, ns, &[app_repo]).await?;
    Ok(Side {
        class: ExitClass::of(&invocation.exit),
        rules: invocation.mentioned_rules(),
        stdout: invocation.stdout,
        stderr: invocation.stderr,
        state,
    })
}
