//! `cnb-artifacts conformance diff`: differential conformance on generated builds
//! ([`cnb_artifacts_conformance::differential`]). Flags → options → one run on one registry;
//! prints the seed and the command that reproduces the run first, one line per build, and on a
//! divergence the shrunk build's case file. Exit codes: 0 no divergence, 2 usage error, 4 a
//! divergence was found (its case written and passed by the reference), 5 the run could not be
//! carried through or was interrupted (the seed is printed either way).

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::conformance_cmd::{block_on_interruptible, default_implementation, provider, runtime, suite_dir, RegistryArgs, SuiteArgs};
use super::exit;
use cnb_artifacts_conformance::differential::{self, Options};
use cnb_artifacts_conformance::implementation::Implementation;
use cnb_artifacts_conformance::{self_check, SuiteDir};

#[derive(Debug, Clone, Args)]
pub struct DiffArgs {
    /// The suite checkout (for the reference adapter and the mutants); default:
    /// $CNB_CONFORMANCE_DIR, the current directory, or the source tree of this binary.
    #[arg(long)]
    pub suite_dir: Option<PathBuf>,
    #[command(flatten)]
    pub registry: RegistryArgs,
    /// The seed the builds are drawn from (default: a random one, printed).
    #[arg(long)]
    pub seed: Option<u64>,
    /// How many builds to compare (builds 0..N of the seed).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..))]
    pub count: u64,
    /// The implementation compared with the reference (split like shell words, no shell);
    /// default: the reference itself.
    #[arg(long, conflicts_with = "mutant")]
    pub implementation: Option<String>,
    /// Compare with the self-check's mutant NAME (conformance/mutants/NAME.toml) instead.
    #[arg(long, value_name = "NAME")]
    pub mutant: Option<String>,
    /// The reference command; default: the reference adapter calling this binary.
    #[arg(long)]
    pub reference: Option<String>,
    /// Where the case of a divergence is written (a suite directory: conformance/cases/ and
    /// fixtures/cases/ under it).
    #[arg(long, default_value = "target/conformance/diff")]
    pub out: PathBuf,
    /// Most candidate builds tried while shrinking a divergence.
    #[arg(long, default_value_t = 150)]
    pub shrink_budget: usize,
}

/// Runs `conformance diff`; returns the exit code.
pub fn run(args: &DiffArgs) -> u8 {
    let suite = suite_dir(&SuiteArgs { suite_dir: args.suite_dir.clone(), filter: Vec::new() });
    let reference_cmd = args.reference.clone().unwrap_or_else(|| default_implementation(&suite));
    let other_cmd = match (&args.implementation, &args.mutant) {
        (Some(cmd), _) => cmd.clone(),
        (None, Some(name)) => match mutant_command(&suite, name) {
            Ok(cmd) => cmd,
            Err(code) => return code,
        },
        (None, None) => reference_cmd.clone(),
    };
    let parse = |cmd: &str| {
        Implementation::parse(cmd).map_err(|e| {
            eprintln!("error: {e}");
            exit::USAGE
        })
    };
    let (reference, implementation) = match (parse(&reference_cmd), parse(&other_cmd)) {
        (Ok(r), Ok(i)) => (r, i),
        (Err(code), _) | (_, Err(code)) => return code,
    };
    let provider = match provider(&args.registry) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let seed = args.seed.unwrap_or_else(clock_seed);
    let reproduce = reproduce_line(args, seed);
    println!("differential run: seed {seed}, builds 0..{}", args.count);
    println!("  reference:      {}", reference.display);
    println!("  implementation: {}", implementation.display);
    println!("reproduce: {reproduce}");
    let opts = Options {
        seed,
        count: args.count,
        reference,
        implementation,
        provider,
        timeout: Duration::from_secs(args.registry.timeout.max(1)),
        out: args.out.clone(),
        shrink_budget: args.shrink_budget,
        reproduce: reproduce.clone(),
        namespace_prefix: args.registry.namespace_prefix.clone(),
    };
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    let say = |line: &str| println!("{line}");
    let report = match block_on_interruptible(&rt, differential::run(&opts, &say)) {
        None => {
            println!("interrupted (seed {seed}); reproduce: {reproduce}");
            return exit::RUNNER;
        }
        Some(Err(e)) => {
            eprintln!("error: {e}");
            println!("not carried through (seed {seed}); reproduce: {reproduce}");
            return exit::RUNNER;
        }
        Some(Ok(r)) => r,
    };
    let Some(found) = report.found else {
        println!("no divergence in {} builds (seed {seed})", report.ran);
        return exit::OK;
    };
    println!("divergence at build {} of seed {seed}, shrunk after {} candidates:", found.build_index, found.tried);
    println!("  {}", found.shrunk.to_string().replace('\n', "\n  "));
    println!("  reference:      {}", found.reference);
    println!("  implementation: {}", found.implementation);
    println!("case written: {} (suite directory {})", found.written.case_file.display(), found.written.suite.root().display());
    println!("replayed against the reference: {}", found.replay.status.label());
    if !found.ready() {
        for f in &found.replay.findings {
            println!("  {}: {}", f.check, f.message);
        }
        if let Some(reason) = &found.replay.reason {
            println!("  {reason}");
        }
        eprintln!("error: the written case does not pass against the reference, so it is not ready to commit");
        return exit::RUNNER;
    }
    println!("reproduce: {reproduce}");
    exit::CONFORMANCE_FAILED
}

/// The implementation command of mutant `name` of the suite.
fn mutant_command(suite: &SuiteDir, name: &str) -> Result<String, u8> {
    let mutants = self_check::load(suite).map_err(|e| {
        eprintln!("error: {e}");
        exit::RUNNER
    })?;
    match mutants.into_iter().find(|m| m.name == name) {
        Some(m) => Ok(m.implementation),
        None => {
            eprintln!("error: no mutant `{name}` in {}", suite.mutants_dir().display());
            Err(exit::USAGE)
        }
    }
}

/// A seed when none is given.
fn clock_seed() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64 % 1_000_000_000)
}

/// The command line that reruns exactly these builds.
fn reproduce_line(args: &DiffArgs, seed: u64) -> String {
    let quote = |s: &str| shlex::try_quote(s).map(|q| q.into_owned()).unwrap_or_else(|_| s.to_string());
    let mut line = format!("cnb-artifacts conformance diff --seed {seed} --count {}", args.count);
    if let Some(m) = &args.mutant {
        line.push_str(&format!(" --mutant {}", quote(m)));
    }
    if let Some(i) = &args.implementation {
        line.push_str(&format!(" --implementation {}", quote(i)));
    }
    if let Some(r) = &args.reference {
        line.push_str(&format!(" --reference {}", quote(r)));
    }
    line
}
