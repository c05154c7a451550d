//! The runner in an implementer's hands, through the built binary: case lines appear while the
//! run goes, Ctrl-C leaves valid partial JSON and JUnit with the unfinished cases NOT RUN, every
//! FAIL prints a command that reruns it (which works when pasted, and `--keep` leaves `env` and
//! `replay.sh` that rerun the implementation by hand), and `--rerun-failed` reruns the
//! implementation the results recorded. Output that is not a terminal holds no escape sequence.

use std::io::BufRead;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use cnb_artifacts_conformance::provider::Provider;

use super::conformance::{available, code, conformance, json, statuses};
use crate::support::{bin, report};

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
}

/// Waits up to a minute for `what` to hold.
async fn wait_for(what: &str, mut holds: impl FnMut() -> bool) {
    let started = Instant::now();
    while !holds() {
        assert!(started.elapsed() < Duration::from_secs(60), "waited a minute for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The first case fails at once and is printed while the second one still runs; SIGINT then
/// stops the run: exit 5, and the JSON and JUnit hold the failure and two cases not run.
#[tokio::test]
async fn ctrl_c_leaves_partial_json_and_junit_with_the_unfinished_cases_not_run() {
    if !available(&Provider::Process) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (first, hung) = (dir.path().join("first"), dir.path().join("hung"));
    let (json_path, junit_path) = (dir.path().join("results.json"), dir.path().join("junit.xml"));
    // The first publish exits 1 naming nothing (a FAIL); every later one hangs.
    let script = format!(
        "test \"$0\" = --version && exit 0; if [ -e {first} ]; then touch {hung}; exec sleep 60; fi; touch {first}; exit 1",
        first = first.display(),
        hung = hung.display()
    );
    let implementation = format!("sh -c '{script}'");
    let mut child = Command::new(bin())
        .args(["conformance", "run", "--registry-provider", "process", "--jobs", "1", "--implementation", &implementation])
        .args(["--filter", "coll-same-tag", "--filter", "rfc-example", "--filter", "tag-max-length"])
        .arg("--json")
        .arg(&json_path)
        .arg("--junit")
        .arg(&junit_path)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("CNB_CONFORMANCE_IMPLEMENTATION")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("runs");
    let (tx, rx) = mpsc::channel::<String>();
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut seen = Vec::new();
    wait_for("the first case's line, while the run goes on", || {
        seen.extend(rx.try_iter());
        seen.iter().any(|l| l.starts_with("[1/3] FAIL") && l.contains("coll-same-tag"))
    })
    .await;
    assert!(seen.iter().any(|l| l.starts_with("cnb-artifacts conformance suite ")), "the header comes first: {seen:?}");
    wait_for("the second case to hang", || hung.exists()).await;
    // SAFETY: kill(2) has no memory-safety preconditions; the pid is our unreaped child.
    let sent = unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    assert_eq!(sent, 0, "kill -INT {}: {}", child.id(), std::io::Error::last_os_error());
    let output = child.wait_with_output().unwrap();
    reader.join().unwrap();
    seen.extend(rx.try_iter());
    let stdout = seen.join("\n");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(5), "{stdout}\n{stderr}");
    assert!(stderr.contains("interrupted (SIGINT)"), "{stderr}");
    assert!(stdout.contains("[2/3] NOT RUN") && stdout.contains("result: INTERRUPTED (SIGINT)"), "{stdout}");
    assert!(!stdout.contains('\x1b') && !stderr.contains('\x1b'), "no escape sequence without a terminal: {stdout:?}");
    let results = json(&json_path);
    assert_eq!(statuses(&results), pairs(&[("coll-same-tag", "fail"), ("rfc-example", "not-run"), ("tag-max-length", "not-run")]));
    assert_eq!(results["interrupted"], "SIGINT");
    assert_eq!(results["summary"]["notRun"], 2);
    let junit = quick_junit::Report::deserialize_from_str(&std::fs::read_to_string(&junit_path).unwrap()).expect("JUnit parses");
    let suite = &junit.test_suites[0];
    assert_eq!((suite.test_cases.len(), suite.failures, suite.skipped), (3, 1, 2));
    let failed = suite.test_cases.iter().find(|t| t.name.as_str() == "coll-same-tag").unwrap();
    assert_eq!(failed.classname.as_deref(), Some("R-COLL"));
    assert_eq!(failed.extra.get("file").map(|f| f.as_str()), Some("conformance/cases/coll-same-tag.toml"));
    assert!(suite.time.is_some(), "the suite has a time");
    let results = serde_json::json!({"provenance": {"registryHost": results["provenance"]["registryHost"]}});
    super::conformance::registry_is_gone(&results).await;
}

/// The `storage and log in DIR` of a kept process registry, to remove it.
fn kept_registry_dir(results: &serde_json::Value) -> Option<String> {
    let kept = results["kept"].as_array()?.iter().filter_map(|k| k.as_str()).find(|k| k.starts_with("registry: "))?;
    Some(kept.split_once("storage and log in ")?.1.split_once(" (")?.0.to_string())
}

/// A FAIL prints a command that reruns just that case with `--keep`; pasted into a shell it
/// does, and the kept invocation directory's `replay.sh` reruns the implementation by hand
/// with the variables of the case.
#[test]
fn the_rerun_command_of_a_failure_works_when_pasted_and_keep_leaves_a_replay() {
    if !available(&Provider::Process) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join("layers-dir-seen");
    // Publishes nothing: a FAIL for a case that expects artifacts.
    let implementation = format!("sh -c 'test \"$0\" = --version && exit 0; echo \"$CNB_LAYERS_DIR\" > {}; exit 0'", record.display());
    let (cmd, output) =
        conformance(&["run", "--registry-provider", "process", "--implementation", &implementation, "--filter", "rfc-example"]);
    assert_eq!(code(&output), 4, "{}", report(&cmd, &output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(!stdout.contains('\x1b'), "{stdout:?}");
    assert!(stdout.contains("case file: conformance/cases/rfc-example.toml; fixture: fixtures/cases/rfc-example/layers"), "{stdout}");
    let rerun =
        stdout.lines().find_map(|l| l.trim_start().strip_prefix("rerun: ")).unwrap_or_else(|| panic!("no rerun command:\n{stdout}"));
    let json_path = dir.path().join("rerun.json");
    let pasted = format!("{rerun} --json {}", json_path.display());
    let output = Command::new("sh").arg("-c").arg(&pasted).current_dir(env!("CARGO_MANIFEST_DIR")).output().unwrap();
    let results = json(&json_path);
    let registry_dir = kept_registry_dir(&results);
    let kept_at = results["cases"][0]["keptAt"].as_str().map(str::to_string);
    let cleanup = || {
        if let Some(d) = &registry_dir {
            let _ = std::fs::remove_dir_all(d);
        }
        if let Some(case_dir) = kept_at.as_deref().and_then(|k| Path::new(k).parent()) {
            let _ = std::fs::remove_dir_all(case_dir);
        }
    };
    let pasted_stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let outcome = std::panic::catch_unwind(|| {
        assert_eq!(output.status.code(), Some(4), "{pasted}\n{pasted_stdout}");
        assert_eq!(statuses(&results), pairs(&[("rfc-example", "fail")]));
        assert_eq!(results["provenance"]["implementation"], implementation.as_str());
        let main = Path::new(kept_at.as_deref().expect("keptAt")).join("main");
        assert!(main.join("env").is_file(), "no env in {}", main.display());
        std::fs::remove_file(&record).unwrap();
        let replay = Command::new(main.join("replay.sh")).env_remove("CNB_LAYERS_DIR").output().unwrap();
        assert!(replay.status.success(), "{}", String::from_utf8_lossy(&replay.stderr));
        let seen = std::fs::read_to_string(&record).unwrap();
        assert_eq!(Path::new(seen.trim()), main.join("layers"));
    });
    cleanup();
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

/// `--rerun-failed` without `--implementation` reruns the implementation the results name, on
/// the same registry provider, and says so; results without a failure have nothing to rerun.
#[test]
fn rerun_failed_reruns_the_recorded_implementation_and_nothing_is_nothing() {
    if !available(&Provider::Process) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join("first.json");
    let args = ["run", "--registry-provider", "process", "--implementation", "true", "--json", first.to_str().unwrap()];
    let (cmd, output) = conformance(&[&args[..], &["--filter", "rfc-example", "--filter", "no-artifact-current-form"]].concat());
    assert_eq!(code(&output), 4, "{}", report(&cmd, &output));
    let again = dir.path().join("again.json");
    let (cmd, output) = conformance(&["run", "--rerun-failed", first.to_str().unwrap(), "--json", again.to_str().unwrap()]);
    assert_eq!(code(&output), 4, "{}", report(&cmd, &output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let note = stdout.lines().next().unwrap_or_default();
    assert!(note.starts_with("rerunning 1 case that failed, errored or did not run of "), "{stdout}");
    assert!(note.contains("implementation true (from ") && note.contains("registry process (from "), "{note}");
    let again = json(&again);
    assert_eq!(statuses(&again), pairs(&[("rfc-example", "fail")]));
    assert_eq!(again["provenance"]["implementation"], "true");
    assert_eq!(again["provenance"]["registryProvider"], "process");
    let passed = dir.path().join("passed.json");
    std::fs::write(&passed, r#"{"cases": [{"id": "rfc-example", "status": "pass"}]}"#).unwrap();
    let (cmd, output) = conformance(&["run", "--rerun-failed", passed.to_str().unwrap()]);
    assert_eq!(code(&output), 0, "{}", report(&cmd, &output));
    assert!(String::from_utf8_lossy(&output.stdout).contains("nothing to rerun"), "{}", report(&cmd, &output));
}
