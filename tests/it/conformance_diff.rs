//! `conformance diff` end to end, through the built binary, on the process registry: a bounded
//! differential run of the reference against each of three mutants finds a divergence, shrinks
//! it and writes a case that the reference PASSes and the mutant FAILs; the reference against
//! itself finds none; the seed and the reproducing command are printed; usage errors exit 2.

use std::path::Path;
use std::process::{Command, Output};

use cnb_artifacts_conformance::provider::Provider;

use crate::conformance::{available, code, mutant_bin};
use crate::support::{bin, report};

/// The seed of these runs: each mutant below diverges within [`COUNT`] of its builds.
const SEED: &str = "20261205";
const COUNT: &str = "60";
/// Builds of the reference against itself: each costs two publishes.
const SELF_COUNT: &str = "30";

/// `cnb-artifacts conformance <args>` from the repository root, with the mutant binary named.
fn conformance(args: &[&str]) -> (Command, Output) {
    let mut cmd = Command::new(bin());
    cmd.arg("conformance").args(args).current_dir(env!("CARGO_MANIFEST_DIR")).env("CNB_ARTIFACTS_BIN", bin());
    cmd.env("CNB_CONFORMANCE_MUTANT_BIN", mutant_bin()).env_remove("CNB_CONFORMANCE_IMPLEMENTATION");
    let output = cmd.output().unwrap_or_else(|e| panic!("could not run {cmd:?}: {e}"));
    (cmd, output)
}

/// The reference adapter with mutant `name` armed.
fn mutant_implementation(name: &str) -> String {
    let adapter = Path::new(env!("CARGO_MANIFEST_DIR")).join("conformance/adapters/reference.sh");
    format!("env CNB_ARTIFACTS_MUTANT={name} CNB_ARTIFACTS_BIN={} {}", mutant_bin(), adapter.display())
}

/// The reference against mutant `name`: a divergence, shrunk, written as a case that the
/// reference passes and the mutant fails.
fn finds_and_shrinks(name: &str) {
    if !available(&Provider::Process) {
        return;
    }
    let out = tempfile::tempdir().unwrap();
    let out_dir = out.path().to_str().unwrap();
    let (cmd, output) =
        conformance(&["diff", "--registry-provider", "process", "--seed", SEED, "--count", COUNT, "--mutant", name, "--out", out_dir]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(code(&output), 4, "{}", report(&cmd, &output));
    assert!(stdout.contains(&format!("seed {SEED}")), "{stdout}");
    assert!(
        stdout.contains(&format!("reproduce: cnb-artifacts conformance diff --seed {SEED} --count {COUNT} --mutant {name}")),
        "{stdout}"
    );
    assert!(stdout.contains("replayed against the reference: PASS"), "{stdout}");
    // Shrinking reached a minimal build: every mutant here needs at most two artifacts to show.
    let artifacts: usize = stdout
        .split_once("candidates to ")
        .and_then(|(_, rest)| rest.split_once(" artifact"))
        .and_then(|(n, _)| n.parse().ok())
        .unwrap_or_else(|| panic!("no `shrunk after N candidates to K artifact(s)` line: {stdout}"));
    assert!((1..=2).contains(&artifacts), "shrunk to {artifacts} artifacts: {stdout}");
    let cases: Vec<_> = std::fs::read_dir(out.path().join("conformance/cases"))
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    assert_eq!(cases.len(), 1, "one case written: {cases:?}");
    let text = std::fs::read_to_string(&cases[0]).unwrap();
    assert!(text.contains("# Reference: ") && text.contains("# Implementation: ") && text.contains("# Divergence: "), "{text}");

    let run = |implementation: &str| {
        conformance(&["run", "--registry-provider", "process", "--suite-dir", out_dir, "--implementation", implementation])
    };
    let adapter = Path::new(env!("CARGO_MANIFEST_DIR")).join("conformance/adapters/reference.sh");
    let reference = format!("env CNB_ARTIFACTS_BIN={} {}", bin().display(), adapter.display());
    let (cmd, output) = run(&reference);
    assert_eq!(code(&output), 0, "the reference passes the written case: {}", report(&cmd, &output));
    let (cmd, output) = run(&mutant_implementation(name));
    assert_eq!(code(&output), 4, "the mutant fails the written case: {}", report(&cmd, &output));
}

#[test]
#[cfg_attr(not(feature = "mutants"), ignore = "needs the mutant binary: cargo test --features mutants")]
fn the_reference_against_drops_labels_diverges_and_shrinks() {
    finds_and_shrinks("drops-labels");
}

#[test]
#[cfg_attr(not(feature = "mutants"), ignore = "needs the mutant binary: cargo test --features mutants")]
fn the_reference_against_ignores_artifacts_toml_diverges_and_shrinks() {
    finds_and_shrinks("ignores-artifacts-toml");
}

#[test]
#[cfg_attr(not(feature = "mutants"), ignore = "needs the mutant binary: cargo test --features mutants")]
fn the_reference_against_first_artifact_only_diverges_and_shrinks() {
    finds_and_shrinks("first-artifact-only");
}

#[test]
#[cfg_attr(not(feature = "mutants"), ignore = "needs the mutant binary: cargo test --features mutants")]
fn the_reference_against_itself_finds_no_divergence() {
    if !available(&Provider::Process) {
        return;
    }
    let out = tempfile::tempdir().unwrap();
    let (cmd, output) = conformance(&[
        "diff",
        "--registry-provider",
        "process",
        "--seed",
        SEED,
        "--count",
        SELF_COUNT,
        "--out",
        out.path().to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(code(&output), 0, "{}", report(&cmd, &output));
    assert!(stdout.contains(&format!("no divergence in {SELF_COUNT} builds (seed {SEED})")), "{stdout}");
    assert!(!out.path().join("conformance").exists(), "no case is written");
}

#[test]
#[cfg_attr(not(feature = "mutants"), ignore = "needs the mutant binary: cargo test --features mutants")]
fn usage_errors_exit_2() {
    for args in [
        &["diff", "--count", "0"][..],
        &["diff", "--seed", "x"],
        &["diff", "--mutant", "no-such-mutant", "--registry-provider", "process"],
        &["diff", "--implementation", "a 'b", "--registry-provider", "process"],
        &["diff", "--mutant", "drops-labels", "--implementation", "x"],
    ] {
        let (cmd, output) = conformance(args);
        assert_eq!(code(&output), 2, "{}", report(&cmd, &output));
    }
}
