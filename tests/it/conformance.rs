//! The conformance runner end to end, through the built binary: the whole suite passes against
//! the reference implementation on both registry providers (and the registry is gone
//! afterwards); a wrong implementation fails; `--filter`, JUnit and JSON output, baselines and
//! `--rerun-failed` behave as `docs/conformance.md` says; `regen --check` finds the checked-in
//! expectations in sync with the reference planner.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use cnb_artifacts_conformance::provider::Provider;
use serde_json::Value;

use crate::support::{bin, report};

/// `cnb-artifacts conformance <args>` from the repository root, with the reference binary.
pub(crate) fn conformance(args: &[&str]) -> (Command, Output) {
    let mut cmd = Command::new(bin());
    cmd.arg("conformance").args(args).current_dir(env!("CARGO_MANIFEST_DIR")).env("CNB_ARTIFACTS_BIN", bin());
    cmd.env_remove("CNB_CONFORMANCE_IMPLEMENTATION");
    let output = cmd.output().unwrap_or_else(|e| panic!("could not run {cmd:?}: {e}"));
    (cmd, output)
}

pub(crate) fn code(output: &Output) -> i32 {
    output.status.code().unwrap_or(-1)
}

pub(crate) fn json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

pub(crate) fn statuses(results: &Value) -> Vec<(String, String)> {
    results["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .map(|c| (c["id"].as_str().unwrap().to_string(), c["status"].as_str().unwrap().to_string()))
        .collect()
}

/// False (after saying so) when `provider` is unavailable here; panics under CI.
pub(crate) fn available(provider: &Provider) -> bool {
    crate::support::provider_available(&format!("conformance on the {provider} provider"), provider)
}

/// The registry a run used no longer answers.
pub(crate) async fn registry_is_gone(results: &Value) {
    let host = results["provenance"]["registryHost"].as_str().expect("registryHost");
    let http = reqwest::Client::builder().timeout(Duration::from_secs(3)).build().unwrap();
    let answer = http.get(format!("http://{host}/v2/")).send().await;
    assert!(answer.is_err(), "the registry at {host} still answers after the run: {answer:?}");
}

async fn whole_suite_passes(provider: &str) {
    let dir = tempfile::tempdir().unwrap();
    let (json_path, junit_path) = (dir.path().join("results.json"), dir.path().join("junit.xml"));
    let (cmd, output) = conformance(&[
        "run",
        "--registry-provider",
        provider,
        "--json",
        json_path.to_str().unwrap(),
        "--junit",
        junit_path.to_str().unwrap(),
        "--require-coverage",
    ]);
    let results = json(&json_path);
    let uncovered = results["coverage"]["uncovered"].as_array().cloned().unwrap_or_default();
    assert_eq!(code(&output), 0, "uncovered MUST rules: {uncovered:?}\n{}", report(&cmd, &output));
    let all = statuses(&results);
    assert!(all.len() >= 40, "only {} cases", all.len());
    assert!(all.iter().all(|(_, s)| s == "pass"), "{all:?}");
    assert_eq!(results["summary"]["passed"].as_u64(), Some(all.len() as u64));
    assert_eq!(results["provenance"]["registryProvider"], provider);
    let junit = quick_junit::Report::deserialize_from_str(&std::fs::read_to_string(&junit_path).unwrap()).expect("JUnit parses");
    let suite = &junit.test_suites[0];
    assert_eq!(suite.test_cases.len(), all.len());
    assert_eq!(suite.failures + suite.errors, 0);
    registry_is_gone(&results).await;
}

#[tokio::test]
async fn suite_passes_against_the_reference_on_the_process_provider() {
    if available(&Provider::Process) {
        whole_suite_passes("process").await;
    }
}

#[tokio::test]
async fn suite_passes_against_the_reference_on_the_container_provider() {
    if available(&Provider::Container) {
        whole_suite_passes("container").await;
    }
}

#[test]
fn a_filter_that_matches_nothing_is_a_usage_error() {
    let (cmd, output) = conformance(&["run", "--filter", "rfc-*", "--filter", "no-such-case-*"]);
    assert_eq!(code(&output), 2, "{}", report(&cmd, &output));
    assert!(String::from_utf8_lossy(&output.stderr).contains("no-such-case-*"), "{}", report(&cmd, &output));
}

#[test]
fn list_names_every_case_with_its_rules() {
    let (cmd, output) = conformance(&["list"]);
    assert_eq!(code(&output), 0, "{}", report(&cmd, &output));
    let text = String::from_utf8_lossy(&output.stdout);
    let rfc = text.lines().find(|l| l.starts_with("rfc-example ")).unwrap_or_else(|| panic!("no rfc-example in\n{text}"));
    assert!(rfc.contains("R-LABEL-1") && rfc.contains("RFC"), "{rfc}");
    assert!(text.lines().count() >= 40);
}

#[test]
fn regen_finds_the_expectations_in_sync() {
    let (cmd, output) = conformance(&["regen", "--check"]);
    assert_eq!(code(&output), 0, "{}", report(&cmd, &output));
}

/// An implementation that publishes nothing and exits 0 fails every case that expects a
/// publish or a rejection; the report says why, and `--rerun-failed` picks those cases.
#[test]
fn a_wrong_implementation_fails_and_rerun_failed_selects_the_failures() {
    if !available(&Provider::Process) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let json_path = dir.path().join("results.json");
    let args = ["run", "--registry-provider", "process", "--implementation", "true", "--json", json_path.to_str().unwrap()];
    let filters = ["--filter", "rfc-example", "--filter", "coll-same-tag", "--filter", "no-artifact-current-form"];
    let (cmd, output) = conformance(&[&args[..], &filters[..]].concat());
    assert_eq!(code(&output), 4, "{}", report(&cmd, &output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("rfc-example/app:wasm does not exist"), "{stdout}");
    assert!(stdout.contains("the build must be rejected, but the implementation exited 0"), "{stdout}");
    let results = json(&json_path);
    assert_eq!(
        statuses(&results),
        [
            ("coll-same-tag".to_string(), "fail".to_string()),
            ("no-artifact-current-form".to_string(), "pass".to_string()),
            ("rfc-example".to_string(), "fail".to_string())
        ]
    );
    let rerun_json = dir.path().join("rerun.json");
    let (cmd, output) = conformance(&[
        "run",
        "--registry-provider",
        "process",
        "--implementation",
        "false",
        "--rerun-failed",
        json_path.to_str().unwrap(),
        "--json",
        rerun_json.to_str().unwrap(),
    ]);
    assert_eq!(code(&output), 4, "{}", report(&cmd, &output));
    // `false` rejects, but names no file: not a rejection for the right reason.
    assert_eq!(
        statuses(&json(&rerun_json)),
        [("coll-same-tag".to_string(), "fail".to_string()), ("rfc-example".to_string(), "fail".to_string())]
    );
}

/// Listed failures are expected; a listed case that passes is stale and fails the run;
/// `--update-baseline` drops it and keeps the real failure.
#[test]
fn a_baseline_expects_failures_and_catches_stale_entries() {
    if !available(&Provider::Process) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let baseline = dir.path().join("baseline.toml");
    std::fs::write(&baseline, "[expected-failures]\nrfc-example = \"does not publish\"\n").unwrap();
    let base = ["run", "--registry-provider", "process", "--implementation", "false", "--baseline", baseline.to_str().unwrap()];
    let (cmd, output) = conformance(&[&base[..], &["--filter", "rfc-example"]].concat());
    assert_eq!(code(&output), 0, "{}", report(&cmd, &output));
    assert!(String::from_utf8_lossy(&output.stdout).contains("expected failure"), "{}", report(&cmd, &output));
    std::fs::write(&baseline, "[expected-failures]\nrfc-example = \"does not publish\"\ncoll-same-tag = \"old\"\n").unwrap();
    // An implementation that rejects every build naming every layer TOML: right for the rejected
    // `coll-same-tag` (so its baseline entry is stale), wrong for `rfc-example`.
    let names_every_file = "sh -c 'test \"$0\" = --version && exit 0; cd \"$CNB_LAYERS_DIR\" && find . -name \"*.toml\" >&2; exit 1'";
    let base = ["run", "--registry-provider", "process", "--implementation", names_every_file, "--baseline", baseline.to_str().unwrap()];
    let (cmd, output) = conformance(&[&base[..], &["--filter", "rfc-example", "--filter", "coll-same-tag", "--update-baseline"]].concat());
    assert_eq!(code(&output), 4, "{}", report(&cmd, &output));
    assert!(String::from_utf8_lossy(&output.stdout).contains("STALE"), "{}", report(&cmd, &output));
    let rewritten = std::fs::read_to_string(&baseline).unwrap();
    assert!(rewritten.contains("rfc-example = \"does not publish\"") && !rewritten.contains("coll-same-tag"), "{rewritten}");
}

/// Ctrl-C during a run stops the implementation (its whole process group) and removes the
/// registry; the run exits 5.
#[tokio::test]
async fn ctrl_c_kills_the_implementation_and_removes_the_registry() {
    if !available(&Provider::Process) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let seen = dir.path().join("seen");
    let script = format!("test \"$0\" = --version && exit 0; echo \"$CNB_ARTIFACTS_REGISTRY $$\" > {}; exec sleep 60", seen.display());
    let implementation = format!("sh -c '{script}'");
    let child = Command::new(bin())
        .args(["conformance", "run", "--registry-provider", "process", "--filter", "rfc-example", "--implementation", &implementation])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("runs");
    let started = std::time::Instant::now();
    while !seen.exists() {
        assert!(started.elapsed() < Duration::from_secs(60), "the implementation never started");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let line = std::fs::read_to_string(&seen).unwrap();
    let (host, pid) = line.trim().split_once(' ').expect("host and pid");
    // Ctrl-C, through kill(2): a bare Debian has no `kill` program (procps), and the test
    // needs none (ci/fresh-machine found that).
    // SAFETY: kill(2) has no memory-safety preconditions; the pid is our unreaped child.
    let sent = unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    assert_eq!(sent, 0, "kill -INT {}: {}", child.id(), std::io::Error::last_os_error());
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(5), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(String::from_utf8_lossy(&output.stderr).contains("interrupted"));
    let results = serde_json::json!({"provenance": {"registryHost": host}});
    registry_is_gone(&results).await;
    let proc_dir = format!("/proc/{pid}");
    let gone_by = std::time::Instant::now() + Duration::from_secs(5);
    while Path::new(&proc_dir).exists() && std::time::Instant::now() < gone_by {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!Path::new(&proc_dir).exists(), "the implementation (pid {pid}) still runs");
}

/// The mutant binary (built by `cargo test --features mutants`, as `ci/test` does).
pub(crate) fn mutant_bin() -> &'static str {
    match option_env!("CARGO_BIN_EXE_cnb-artifacts-mutant") {
        Some(path) => path,
        None => panic!("the mutant binary is built only with --features mutants"),
    }
}

/// `self-check` against `suite` with the mutant binary; each mutant runs only on the cases it
/// claims (the default; `--matrix` runs every mutant on every case).
fn self_check(suite: &Path, extra: &[&str]) -> (Command, Output) {
    let args = [&["self-check", "--registry-provider", "process", "--suite-dir"][..], &[suite.to_str().unwrap()], extra].concat();
    let mut cmd = Command::new(bin());
    cmd.arg("conformance").args(&args).current_dir(env!("CARGO_MANIFEST_DIR")).env("CNB_ARTIFACTS_BIN", bin());
    cmd.env("CNB_CONFORMANCE_MUTANT_BIN", mutant_bin()).env_remove("CNB_CONFORMANCE_IMPLEMENTATION");
    let output = cmd.output().unwrap_or_else(|e| panic!("could not run {cmd:?}: {e}"));
    (cmd, output)
}

fn toml_stems(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok()?.path().file_name()?.to_str()?.strip_suffix(".toml").map(str::to_string))
        .collect();
    names.sort();
    names
}

/// `self-check` proves the suite can fail: the reference passes every case, every mutant of
/// conformance/mutants/ FAILs every case it claims, and so every case is killed by a mutant.
#[test]
#[cfg_attr(not(feature = "mutants"), ignore = "needs the mutant binary: cargo test --features mutants")]
fn self_check_every_case_is_killed_and_the_reference_passes() {
    if !available(&Provider::Process) {
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let (cmd, output) = self_check(root, &[]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(code(&output), 0, "{}", report(&cmd, &output));
    let cases = toml_stems(&root.join("conformance/cases"));
    let n = cases.len();
    assert!(stdout.contains(&format!("reference: {n} of {n} cases passed")), "{stdout}");
    assert!(stdout.contains(&format!("{n} cases: every case is killed by at least one mutant")), "{stdout}");
    for case in &cases {
        let line = stdout
            .lines()
            .find(|l| l.split_whitespace().next() == Some(case.as_str()))
            .unwrap_or_else(|| panic!("{case} not reported:\n{stdout}"));
        let killers: usize = line.split_whitespace().nth(1).and_then(|k| k.parse().ok()).unwrap_or(0);
        assert!(killers >= 1, "{case} is killed by no mutant: {line}");
    }
    let mutants = toml_stems(&root.join("conformance/mutants"));
    assert!(mutants.len() >= 40, "only {} mutants", mutants.len());
    for m in &mutants {
        assert!(stdout.lines().any(|l| l.split_whitespace().take(2).eq(["caught", m.as_str()])), "{m} not caught:\n{stdout}");
    }
}

/// A case that no mutant kills fails the self-check, and the report names it.
#[test]
#[cfg_attr(not(feature = "mutants"), ignore = "needs the mutant binary: cargo test --features mutants")]
fn self_check_fails_on_a_case_no_mutant_kills() {
    if !available(&Provider::Process) {
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let suite = tempfile::tempdir().unwrap();
    let s = suite.path();
    for dir in ["conformance/cases", "conformance/mutants", "fixtures/cases"] {
        std::fs::create_dir_all(s.join(dir)).unwrap();
    }
    let copy = |from: &str, to: &str| {
        let status = Command::new("cp").arg("-a").arg(root.join(from)).arg(s.join(to)).status().unwrap();
        assert!(status.success(), "cp {from}");
    };
    copy("conformance/adapters", "conformance/adapters");
    copy("conformance/coverage.toml", "conformance/coverage.toml");
    for case in ["rfc-example", "tag-max-length"] {
        copy(&format!("conformance/cases/{case}.toml"), "conformance/cases/");
        copy(&format!("conformance/cases/{case}"), "conformance/cases/");
        copy(&format!("fixtures/cases/{case}"), "fixtures/cases/");
    }
    // One mutant, claiming only rfc-example: nothing kills tag-max-length.
    let mutant = std::fs::read_to_string(root.join("conformance/mutants/drops-labels.toml")).unwrap();
    let must_fail = mutant.lines().find(|l| l.starts_with("must_fail")).expect("must_fail").to_string();
    let mutant = mutant.replace(&must_fail, "must_fail = [\"rfc-example\"]");
    std::fs::write(s.join("conformance/mutants/drops-labels.toml"), mutant).unwrap();
    let (cmd, output) = self_check(s, &[]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(code(&output), 4, "{}", report(&cmd, &output));
    assert!(stdout.contains("reference: 2 of 2 cases passed"), "{stdout}");
    assert!(stdout.contains("2 cases: 1 killed by no mutant: tag-max-length"), "{stdout}");
    assert!(stdout.lines().any(|l| l.contains("tag-max-length") && l.contains("NONE")), "{stdout}");
}

/// The mutant binary refuses a mutant name it does not know instead of behaving correctly.
#[test]
#[cfg_attr(not(feature = "mutants"), ignore = "needs the mutant binary: cargo test --features mutants")]
fn the_mutant_binary_refuses_unknown_mutants() {
    let output = Command::new(mutant_bin()).arg("--version").env("CNB_ARTIFACTS_MUTANT", "no-such-mutant").output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("no-such-mutant") && stderr.contains("drops-labels"), "{stderr}");
}
