//! `cnb-artifacts conformance list | run | regen | self-check | diff` (and the hidden `proxy`,
//! `super::proxy_cmd`): the command line of the
//! conformance suite ([`cnb_artifacts_conformance`]). Raw flags → validated options → a tokio runtime
//! that runs the cases, printing each as it ends; Ctrl-C or SIGTERM stops `run`, which kills the
//! running implementations, removes the registry and writes the results so far (for
//! `self-check`, Ctrl-C drops the run). Exit codes: 0 every selected case passed, 2 usage error (e.g. a `--filter`
//! that matches nothing), 4 cases failed, 5 the runner, its registry or the case data broke.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Subcommand};

use super::exit;
use cnb_artifacts_conformance::baseline::Baseline;
use cnb_artifacts_conformance::implementation::Implementation;
use cnb_artifacts_conformance::interrupt::Interrupt;
use cnb_artifacts_conformance::provider::quirks::QuirkProfile;
use cnb_artifacts_conformance::provider::Provider;
use cnb_artifacts_conformance::regen::{self, CaseRegen};
use cnb_artifacts_conformance::report::live::Terminal;
use cnb_artifacts_conformance::rerun::EarlierRun;
use cnb_artifacts_conformance::runner::RunOptions;
use cnb_artifacts_conformance::selection::{self, Selected};
use cnb_artifacts_conformance::{case, report, self_check, SuiteDir};

#[derive(Debug, Subcommand)]
pub enum ConformanceCommand {
    /// List the cases: ID, rules, title.
    List {
        #[command(flatten)]
        suite: SuiteArgs,
    },
    /// Run the cases against an implementation and a real registry.
    Run(RunArgs),
    /// Recompute expectations offline with the reference planner; show a diff (write with --write).
    Regen {
        #[command(flatten)]
        suite: SuiteArgs,
        /// Write the recomputed expectations.
        #[arg(long)]
        write: bool,
        /// Exit 1 when any expectation would change (for CI).
        #[arg(long, conflicts_with = "write")]
        check: bool,
    },
    /// Prove the suite can fail: the reference passes every case, each known-bad implementation of
    /// conformance/mutants/ fails the cases it claims, and every case is failed by some mutant.
    SelfCheck {
        #[command(flatten)]
        suite: SuiteArgs,
        #[command(flatten)]
        registry: RegistryArgs,
        /// Cases run at once, per run.
        #[arg(long, default_value_t = 4, value_parser = at_least_one)]
        jobs: usize,
        /// Runs (the reference, the mutants) at once, each against its own registry.
        #[arg(long, default_value_t = 4, value_parser = at_least_one)]
        parallel: usize,
        /// Run every mutant against every case (the full matrix of which mutant kills which
        /// case; one suite run per mutant) instead of only against the cases it claims.
        #[arg(long)]
        matrix: bool,
    },
    /// Differential run: generate builds from a seed, publish each with the reference and with
    /// --implementation (each into its own namespace of one registry), compare; shrink the first
    /// divergence and write it as a case (exit 4). See docs/conformance.md, "Differential runs".
    Diff(super::conformance_diff_cmd::DiffArgs),
    /// Run a quirks proxy in front of a registry until SIGTERM or Ctrl-C (for ci/bench and
    /// measurements, e.g. --quirks wan:50ms).
    #[command(hide = true)]
    Proxy(super::proxy_cmd::ProxyArgs),
}

/// Where the suite is and which cases to take.
#[derive(Debug, Clone, Args)]
pub struct SuiteArgs {
    /// The suite checkout (holds conformance/cases and fixtures/cases); default: $CNB_CONFORMANCE_DIR,
    /// the current directory, or the source tree of this binary.
    #[arg(long)]
    pub suite_dir: Option<PathBuf>,
    /// Only cases whose ID matches this glob (repeatable; each must match a case).
    #[arg(long)]
    pub filter: Vec<String>,
}

/// Which registry to run against.
#[derive(Debug, Clone, Args)]
pub struct RegistryArgs {
    /// Start a registry: `container` (Docker) or `process` (the docker-registry binary).
    #[arg(long, value_parser = ["container", "process"], conflicts_with = "registry")]
    pub registry_provider: Option<String>,
    /// Use a running registry, e.g. http://127.0.0.1:5000 (cases get a random namespace prefix).
    #[arg(long, value_parser = registry_url)]
    pub registry: Option<String>,
    /// Seconds each implementation invocation may take.
    #[arg(long, default_value_t = 60)]
    pub timeout: u64,
    /// First component of the case namespaces on an external registry.
    #[arg(long, default_value = "cnb-conformance")]
    pub namespace_prefix: String,
}

#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub suite: SuiteArgs,
    #[command(flatten)]
    pub registry: RegistryArgs,
    /// The implementation command (split like shell words, no shell); default: the reference
    /// adapter conformance/adapters/reference.sh calling this binary.
    #[arg(long, env = "CNB_CONFORMANCE_IMPLEMENTATION")]
    pub implementation: Option<String>,
    /// Run the implementation as a container of this local image instead, `IMAGE [ARGS]` split
    /// like --implementation: layers dir and report mounted, the contract's variables set, the
    /// host's network (see docs/conformance.md).
    #[arg(long, value_name = "IMAGE [ARGS]", conflicts_with = "implementation")]
    pub implementation_image: Option<String>,
    /// Report these cases (globs) as DISABLED instead of running them.
    #[arg(long)]
    pub disable: Vec<String>,
    /// Write JUnit XML here.
    #[arg(long)]
    pub junit: Option<PathBuf>,
    /// Write JSON results here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Cases run at once.
    #[arg(long, default_value_t = 2, value_parser = at_least_one)]
    pub jobs: usize,
    /// Leave the registry and case directories in place and say where (with --registry URL,
    /// what the run pushed there, which is otherwise deleted at the end).
    #[arg(long)]
    pub keep: bool,
    /// Known failures (TOML); listed failures do not fail the run, listed passes do.
    #[arg(long)]
    pub baseline: Option<PathBuf>,
    /// Rewrite --baseline from this run's results.
    #[arg(long, requires = "baseline")]
    pub update_baseline: bool,
    /// Run only the cases that failed, errored or did not run in this earlier --json results
    /// file, with its implementation, registry and quirk profile unless given again.
    #[arg(long)]
    pub rerun_failed: Option<PathBuf>,
    /// Fail the run when a MUST rule of docs/spec.md is cited by no case run.
    #[arg(long)]
    pub require_coverage: bool,
    /// Put a proxy with this registry quirk profile in front of the registry: the implementation
    /// is given only the proxy's host; a refusal the profile makes correct passes (see
    /// docs/conformance.md).
    #[arg(long, value_name = "PROFILE", value_parser = quirk_profile, help = quirk_profile_help())]
    pub registry_quirks: Option<QuirkProfile>,
}

/// `--registry-quirks`: a profile name or a `wan` spec, parsed with
/// [`QuirkProfile::from_str`](std::str::FromStr).
pub(super) fn quirk_profile(given: &str) -> Result<QuirkProfile, String> {
    given.parse::<QuirkProfile>().map_err(|e| e.to_string())
}

/// The help of `--registry-quirks`, listing every profile.
fn quirk_profile_help() -> String {
    format!(
        "Put a proxy with this registry quirk profile in front of the registry: the implementation is given only the \
         proxy's host; a refusal the profile makes correct passes (see docs/conformance.md). One of: {}; or a far \
         registry, wan[:RTT] or wan:rtt=RTT,bw=RATE (e.g. wan:50ms, wan:rtt=50ms,bw=10MiB)",
        QuirkProfile::ALL.map(QuirkProfile::name).join(", ")
    )
}

/// Runs a conformance subcommand; returns the exit code.
pub fn run(cmd: ConformanceCommand) -> u8 {
    match cmd {
        ConformanceCommand::List { suite } => list(&suite),
        ConformanceCommand::Run(args) => run_cases(&args),
        ConformanceCommand::Regen { suite, write, check } => regen_cases(&suite, write, check),
        ConformanceCommand::SelfCheck { suite, registry, jobs, parallel, matrix } => {
            let scope = if matrix { self_check::Scope::Matrix } else { self_check::Scope::Claimed };
            self_check_cmd(&suite, &registry, jobs, parallel, scope)
        }
        ConformanceCommand::Diff(args) => super::conformance_diff_cmd::run(&args),
        ConformanceCommand::Proxy(args) => super::proxy_cmd::run(&args),
    }
}

pub(super) fn suite_dir(args: &SuiteArgs) -> SuiteDir {
    args.suite_dir.clone().map(SuiteDir::new).unwrap_or_else(SuiteDir::locate)
}

/// Loads and selects the cases; `Err` is the exit code after printing why.
fn load(args: &SuiteArgs, disable: &[String], only: Option<&[String]>) -> Result<(SuiteDir, Vec<Selected>), u8> {
    let suite = suite_dir(args);
    let cases = case::load_all(&suite).map_err(|errors| {
        for e in &errors {
            eprintln!("error: {e}");
        }
        eprintln!("{} broken case file{}; nothing was run", errors.len(), if errors.len() == 1 { "" } else { "s" });
        exit::RUNNER
    })?;
    let selected = selection::select(cases, &args.filter, disable, only).map_err(|e| {
        eprintln!("error: {e}");
        exit::USAGE
    })?;
    Ok((suite, selected))
}

fn list(args: &SuiteArgs) -> u8 {
    let (_, selected) = match load(args, &[], None) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let width = selected.iter().map(|s| s.case.id.len()).max().unwrap_or(0);
    for s in &selected {
        println!("{:<width$}  {}  {}", s.case.id, s.case.rules.join(" "), s.case.title);
    }
    exit::OK
}

/// `--jobs` and `--parallel`: a whole number of at least 1 (0 would run nothing).
fn at_least_one(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(0) => Err("must be at least 1".to_string()),
        Ok(n) => Ok(n),
        Err(e) => Err(e.to_string()),
    }
}

/// `--registry`: a registry URL (a usage error otherwise, exit 2); `host:port` without a
/// scheme is refused with the URL it most likely meant.
fn registry_url(s: &str) -> Result<String, String> {
    match s.parse::<Provider>() {
        Ok(Provider::External(_)) => Ok(s.to_string()),
        Ok(_) => {
            Err("expected a registry URL like http://127.0.0.1:5000 (for `container` or `process`, use --registry-provider)".to_string())
        }
        Err(_) if !s.contains("://") && !s.is_empty() => {
            Err(format!("`{s}` has no scheme: write `http://{s}` (plain HTTP) or `https://{s}`"))
        }
        Err(e) => Err(e.to_string()),
    }
}

pub(super) fn provider(args: &RegistryArgs) -> Result<Provider, u8> {
    let named = args.registry.as_deref().or(args.registry_provider.as_deref());
    let result = match named {
        Some(name) => name.parse::<Provider>(),
        None => cnb_artifacts_conformance::provider::detect_default(),
    };
    result.map_err(|e| {
        eprintln!("error: {e}");
        exit::RUNNER
    })
}

/// The reference adapter, told where this binary is unless `CNB_ARTIFACTS_BIN` says so.
pub(super) fn default_implementation(suite: &SuiteDir) -> String {
    let adapter = suite.root().join("conformance/adapters/reference.sh");
    let quoted = |p: &Path| shlex::try_quote(&p.display().to_string()).map(|q| q.into_owned()).unwrap_or_default();
    match (std::env::var_os("CNB_ARTIFACTS_BIN"), std::env::current_exe()) {
        (None, Ok(exe)) => format!("env CNB_ARTIFACTS_BIN={} {}", quoted(&exe), quoted(&adapter)),
        _ => quoted(&adapter),
    }
}

fn options(args: &RegistryArgs, implementation: &str, jobs: usize, keep: bool, require_coverage: bool) -> Result<RunOptions, u8> {
    let implementation = Implementation::parse(implementation).map_err(|e| {
        eprintln!("error: {e}");
        exit::USAGE
    })?;
    Ok(RunOptions {
        implementation,
        provider: provider(args)?,
        jobs,
        keep,
        timeout: Duration::from_secs(args.timeout.max(1)),
        namespace_prefix: args.namespace_prefix.clone(),
        require_coverage,
        quirks: None,
        baseline: None,
        rerun_program: None,
    })
}

pub(super) fn runtime() -> Result<tokio::runtime::Runtime, u8> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|e| {
        eprintln!("error: cannot start the async runtime: {e}");
        exit::RUNNER
    })
}

/// Runs `fut` until it ends, Ctrl-C (`SIGINT`) or `SIGTERM`; on a signal the future is dropped
/// (its guards remove the registry and kill the implementation) and `None` is returned.
pub(super) fn block_on_interruptible<T>(rt: &tokio::runtime::Runtime, fut: impl std::future::Future<Output = T>) -> Option<T> {
    rt.block_on(async {
        let interrupt = match Interrupt::on_signals() {
            Ok(interrupt) => interrupt,
            Err(e) => {
                eprintln!("warning: cannot watch for SIGINT and SIGTERM ({e}); an interrupted run leaves no clean-up");
                Interrupt::new()
            }
        };
        tokio::select! {
            out = fut => Some(out),
            _ = interrupt.tripped() => {
                eprintln!("interrupted ({}): removing the registry and stopping the implementation", interrupt.reason().unwrap_or("signal"));
                None
            }
        }
    })
}

fn run_cases(args: &RunArgs) -> u8 {
    let (mut registry, mut implementation, mut quirks) = (args.registry.clone(), args.implementation.clone(), args.registry_quirks);
    let only = match &args.rerun_failed {
        Some(path) => {
            let earlier = EarlierRun::read(path);
            let given_registry = registry.registry.clone().or_else(|| registry.registry_provider.clone());
            let chosen = earlier.and_then(|e| e.choose(implementation.as_deref(), given_registry.as_deref(), quirks).map(|c| (e, c)));
            match chosen {
                Err(e) => {
                    eprintln!("error: {e}");
                    return exit::RUNNER;
                }
                Ok((earlier, _)) if earlier.ids.is_empty() => {
                    println!("nothing to rerun: {} has no case that failed, errored or did not run", path.display());
                    return exit::OK;
                }
                Ok((earlier, chosen)) => {
                    println!("{}", chosen.note);
                    (implementation, quirks) = (chosen.implementation, chosen.quirks);
                    match chosen.registry {
                        Some(url) if url.contains("://") => registry.registry = Some(url),
                        provider => registry.registry_provider = provider,
                    }
                    Some(earlier.ids)
                }
            }
        }
        None => None,
    };
    let (suite, selected) = match load(&args.suite, &args.disable, only.as_deref()) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let baseline = match args.baseline.as_deref().map(Baseline::load).transpose() {
        Ok(b) => b,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::RUNNER;
        }
    };
    let implementation = implementation.unwrap_or_else(|| default_implementation(&suite));
    let program = std::env::current_exe().map_or_else(|_| "cnb-artifacts".to_string(), |p| p.display().to_string());
    let opts = match options(&registry, &implementation, args.jobs, args.keep, args.require_coverage) {
        Ok(o) => RunOptions { quirks, baseline: baseline.clone(), rerun_program: Some(program), ..o },
        Err(code) => return code,
    };
    let opts = match args.implementation_image.as_deref().map(Implementation::parse_image).transpose() {
        Ok(Some(implementation)) => RunOptions { implementation, ..opts },
        Ok(None) => opts,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::USAGE;
        }
    };
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    let terminal = Terminal::detect();
    let results = match rt.block_on(terminal.run(&suite, selected, &opts)) {
        Err(e) => {
            eprintln!("error: {e}");
            return exit::RUNNER;
        }
        Ok(r) => r,
    };
    print!("{}", terminal.rest(&results));
    let mut code = results.exit_code();
    if let Some(path) = &args.junit {
        code = write_report(code, report::junit::write(&results, path));
    }
    if let Some(path) = &args.json {
        code = write_report(code, report::json::write(&results, path));
    }
    if let (true, Some(b), Some(path)) = (args.update_baseline, &baseline, &args.baseline) {
        match b.updated(&results.cases).write(path) {
            Ok(()) => println!("baseline written: {}", path.display()),
            Err(e) => {
                eprintln!("error: {e}");
                code = exit::RUNNER;
            }
        }
    }
    code
}

fn write_report(code: u8, written: Result<(), report::ReportWriteError>) -> u8 {
    match written {
        Ok(()) => code,
        Err(e) => {
            eprintln!("error: {e}");
            exit::RUNNER
        }
    }
}

fn regen_cases(args: &SuiteArgs, write: bool, check: bool) -> u8 {
    let (_, selected) = match load(args, &[], None) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let suite = suite_dir(args);
    let (mut changed, mut failed) = (0, 0);
    for s in &selected {
        let outcome = regen::regen_case(&s.case, &suite);
        match &outcome {
            CaseRegen::Unchanged => println!("unchanged  {}", s.case.id),
            CaseRegen::Skipped(reason) => println!("skipped    {}: {reason}", s.case.id),
            CaseRegen::Failed(reason) => {
                failed += 1;
                println!("FAILED     {}: {reason}", s.case.id);
            }
            CaseRegen::Changed { diff, .. } => {
                changed += 1;
                println!("{}  {}\n{diff}", if write { "written  " } else { "changed  " }, s.case.id);
            }
        }
        if write {
            if let Err(e) = regen::apply(&outcome) {
                eprintln!("error: writing the expectations of {}: {e}", s.case.id);
                return exit::RUNNER;
            }
        }
    }
    println!(
        "{} cases: {changed} changed, {failed} failed{}",
        selected.len(),
        if write || changed == 0 { "" } else { " (rerun with --write to write)" }
    );
    if failed > 0 {
        exit::RUNNER
    } else if check && changed > 0 {
        exit::INPUT
    } else {
        exit::OK
    }
}

fn self_check_cmd(args: &SuiteArgs, registry: &RegistryArgs, jobs: usize, parallel: usize, scope: self_check::Scope) -> u8 {
    let (suite, selected) = match load(args, &[], None) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let all_ids: Vec<String> = match case::load_all(&suite) {
        Ok(cases) => cases.into_iter().map(|c| c.id).collect(),
        Err(_) => return exit::RUNNER,
    };
    let mutants = match self_check::load(&suite) {
        Ok(m) if m.is_empty() => {
            eprintln!("error: no mutants in {}", suite.mutants_dir().display());
            return exit::RUNNER;
        }
        Ok(m) => m,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::RUNNER;
        }
    };
    let base = match options(registry, &default_implementation(&suite), jobs, false, false) {
        Ok(o) => o,
        Err(code) => return code,
    };
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    let opts = self_check::Options { base, scope, parallel };
    let check = match block_on_interruptible(&rt, self_check::run(&suite, &selected, &all_ids, &mutants, &opts)) {
        None => return exit::RUNNER,
        Some(Err(e)) => {
            eprintln!("error: {e}");
            return exit::RUNNER;
        }
        Some(Ok(c)) => c,
    };
    print!("{}", check.render());
    match check.status() {
        self_check::CheckStatus::Proven => exit::OK,
        self_check::CheckStatus::BlindSpots => exit::CONFORMANCE_FAILED,
        self_check::CheckStatus::Broken => exit::RUNNER,
    }
}
