//! Verdicts users can gate on (`docs/conformance.md`, "Crashes and commands that cannot start",
//! "What a rejection must name"): an implementation that rejects everything passes no case,
//! rejected or twin; one that crashes passes nothing; one whose program is missing is an ERROR
//! and the run exits 5; and every rejected case has a near-miss twin or a reasoned waiver.

use cnb_artifacts_conformance::case::{self, Expect};
use cnb_artifacts_conformance::provider::Provider;
use cnb_artifacts_conformance::SuiteDir;
use serde_json::Value;

use crate::conformance::{available, code, conformance, json, statuses};
use crate::support::report;

/// Runs the whole suite against `implementation` on the process provider; `None` when that
/// provider is unavailable here.
fn run_suite(implementation: &str, expected_code: i32) -> Option<Value> {
    run_suite_filtered(implementation, &[], expected_code)
}

fn suite() -> Vec<case::Case> {
    case::load_all(&SuiteDir::new(env!("CARGO_MANIFEST_DIR"))).expect("the suite loads")
}

fn findings(results: &Value, id: &str) -> Vec<String> {
    let case = results["cases"].as_array().unwrap().iter().find(|c| c["id"] == id).unwrap_or_else(|| panic!("no case {id}"));
    case["findings"].as_array().unwrap().iter().map(|f| f["message"].as_str().unwrap().to_string()).collect()
}

#[test]
fn an_implementation_that_rejects_everything_passes_no_case() {
    let Some(results) = run_suite("sh -c 'echo \"error: not implemented\" >&2; exit 1'", 4) else { return };
    let cases = suite();
    for (id, status) in statuses(&results) {
        assert_eq!(status, "fail", "{id} passed against an implementation that rejects everything");
    }
    for c in cases.iter().filter(|c| matches!(c.expect, Expect::Rejected { .. })) {
        let said = findings(&results, &c.id);
        assert!(said.iter().any(|m| m.starts_with("rejected, but the output does not name")), "{}: {said:?}", c.id);
        if let Some(twin) = &c.twin {
            assert!(findings(&results, twin).iter().any(|m| m.contains("the publish must succeed")), "twin {twin}");
        }
    }
}

#[test]
fn an_implementation_that_crashes_passes_nothing() {
    let script = "echo \"error: examples_wasm/module.toml:1:1: bad input\" >&2; kill -SEGV $$";
    let Some(results) = run_suite(&format!("sh -c '{script}'"), 4) else { return };
    for (id, status) in statuses(&results) {
        assert_eq!(status, "fail", "{id} passed against an implementation that crashes");
        assert!(findings(&results, &id).iter().any(|m| m.contains("crashed: killed by SIGSEGV")), "{id}");
    }
}

#[test]
fn a_rust_panic_is_no_rejection() {
    if !available(&Provider::Process) {
        return;
    }
    let script = "echo \"thread main panicked at src/plan.rs:3:5: examples_wasm/one.toml examples_wasm/two.toml\" >&2; exit 101";
    let implementation = format!("sh -c '{script}'");
    let args = ["run", "--registry-provider", "process", "--filter", "coll-same-tag", "--implementation", &implementation];
    let (cmd, output) = conformance(&args);
    assert_eq!(code(&output), 4, "{}", report(&cmd, &output));
    assert!(String::from_utf8_lossy(&output.stdout).contains("a Rust panic"), "{}", report(&cmd, &output));
}

#[test]
fn a_missing_program_stops_the_run_with_exit_5() {
    if !available(&Provider::Process) {
        return;
    }
    let args = ["run", "--registry-provider", "process", "--filter", "coll-*", "--implementation", "env X=1 /nonexistent/reference.sh"];
    let (cmd, output) = conformance(&args);
    assert_eq!(code(&output), 5, "{}", report(&cmd, &output));
    assert!(String::from_utf8_lossy(&output.stderr).contains("the implementation could not be started"), "{}", report(&cmd, &output));
}

#[test]
fn a_command_not_found_during_a_case_is_an_error() {
    // Answers the `--version` probe, then exits 127 like a shell that cannot find a command.
    let Some(results) = run_suite_filtered("sh -c 'test \"$1\" = --version && exit 0; exit 127' adapter", &["coll-*"], 5) else { return };
    for (id, status) in statuses(&results) {
        assert_eq!(status, "error", "{id}");
    }
}

/// Runs the cases matching `filters` (all when empty) against `implementation`.
fn run_suite_filtered(implementation: &str, filters: &[&str], expected_code: i32) -> Option<Value> {
    if !available(&Provider::Process) {
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let json_path = dir.path().join("results.json");
    let mut args = vec!["run", "--registry-provider", "process", "--implementation", implementation, "--json", json_path.to_str().unwrap()];
    for f in filters {
        args.extend(["--filter", f]);
    }
    let (cmd, output) = conformance(&args);
    assert_eq!(code(&output), expected_code, "{}", report(&cmd, &output));
    Some(json(&json_path))
}

/// Every rejected case has a near-miss twin (a published case of the suite, checked when the
/// suite loads) or says why it cannot have one.
#[test]
fn every_rejected_case_has_a_twin_or_a_reasoned_waiver() {
    let cases = suite();
    let unpaired: Vec<&str> = cases
        .iter()
        .filter(|c| matches!(c.expect, Expect::Rejected { .. }))
        .filter(|c| c.twin.is_none() && c.twin_waiver.as_deref().is_none_or(|w| w.trim().len() < 20))
        .map(|c| c.id.as_str())
        .collect();
    assert!(unpaired.is_empty(), "rejected cases without a twin or a reasoned `twin_waiver`: {unpaired:?}");
}
