use super::*;
use crate::implementation::Implementation;

fn opts(implementation: &str, provider: Provider, quirks: Option<QuirkProfile>) -> RunOptions {
    RunOptions {
        implementation: Implementation::parse(implementation).unwrap(),
        provider,
        jobs: 2,
        keep: false,
        timeout: Duration::from_secs(60),
        namespace_prefix: DEFAULT_PREFIX.to_string(),
        require_coverage: false,
        quirks,
        baseline: None,
        rerun_program: None,
    }
}

#[test]
fn the_rerun_command_repeats_implementation_registry_and_quirks_for_one_case() {
    let suite = SuiteDir::new("/nonexistent/suite");
    let o = opts("/opt/my adapter.sh --flag", Provider::Process, Some(QuirkProfile::ALL[0]));
    let line = RerunCommand::new("/usr/bin/cnb-artifacts", &suite, &o).for_case("rfc-example");
    let words = shlex::split(&line).expect("a shell line");
    assert_eq!(
        words,
        [
            "/usr/bin/cnb-artifacts",
            "conformance",
            "run",
            "--suite-dir",
            "/nonexistent/suite",
            "--implementation",
            "/opt/my adapter.sh --flag",
            "--registry-provider",
            "process",
            "--registry-quirks",
            QuirkProfile::ALL[0].name(),
            "--filter",
            "rfc-example",
            "--keep"
        ]
    );
}

#[test]
fn an_external_registry_and_a_changed_timeout_are_repeated() {
    let suite = SuiteDir::new("/nonexistent/suite");
    let mut o = opts("true", "http://127.0.0.1:5000".parse().unwrap(), None);
    o.timeout = Duration::from_secs(5);
    o.namespace_prefix = "mine".to_string();
    let words = shlex::split(&RerunCommand::new("cnb-artifacts", &suite, &o).for_case("x")).unwrap();
    let at = |flag: &str| words.iter().position(|w| w == flag).map(|i| words[i + 1].as_str());
    assert_eq!(at("--registry"), Some("http://127.0.0.1:5000"));
    assert_eq!(at("--namespace-prefix"), Some("mine"));
    assert_eq!(at("--timeout"), Some("5"));
    assert!(!words.iter().any(|w| w == "--registry-quirks" || w == "--registry-provider"), "{words:?}");
}

fn earlier(json: &str) -> EarlierRun {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("results.json");
    std::fs::write(&path, json).unwrap();
    EarlierRun::read(&path).unwrap()
}

const PROVENANCE: &str = r#""provenance": {"suiteVersion": "1", "suiteCommit": "c", "suiteDataDigest": "d",
    "implementation": "my-adapter --x", "implementationVersion": "v", "registryProvider": "process",
    "registryVersion": "2.8.2", "registryHost": "127.0.0.1:1", "registryReferrersApi": false,
    "registryQuirks": "immutable-tags", "date": "2026-01-01T00:00:00Z"}"#;

#[test]
fn failed_errored_and_not_run_cases_are_rerun_with_what_the_results_recorded() {
    let run = earlier(&format!(
        r#"{{{PROVENANCE}, "cases": [{{"id": "a", "status": "pass"}}, {{"id": "b", "status": "fail"}},
            {{"id": "c", "status": "error"}}, {{"id": "d", "status": "not-run"}}, {{"id": "e", "status": "skip"}}]}}"#
    ));
    assert_eq!(run.ids, ["b", "c", "d"]);
    let chosen = run.choose(None, None, None).unwrap();
    assert_eq!(chosen.implementation.as_deref(), Some("my-adapter --x"));
    assert_eq!(chosen.registry.as_deref(), Some("process"));
    assert_eq!(chosen.quirks, Some("immutable-tags".parse().unwrap()));
    assert!(chosen.note.contains("implementation my-adapter --x (from "), "{}", chosen.note);
    assert!(chosen.note.starts_with("rerunning 3 cases that failed"), "{}", chosen.note);
}

#[test]
fn what_is_given_again_wins_and_is_said_so() {
    let run = earlier(&format!(r#"{{{PROVENANCE}, "cases": [{{"id": "b", "status": "fail"}}]}}"#));
    let chosen = run.choose(Some("other"), Some("container"), None).unwrap();
    assert_eq!(chosen.implementation.as_deref(), Some("other"));
    assert_eq!(chosen.registry.as_deref(), Some("container"));
    assert!(chosen.note.contains("implementation other (given)") && chosen.note.contains("registry container (given)"), "{}", chosen.note);
}

#[test]
fn results_without_failures_or_provenance_have_nothing_to_rerun() {
    let run = earlier(r#"{"cases": [{"id": "a", "status": "pass"}]}"#);
    assert!(run.ids.is_empty());
    let chosen = run.choose(None, None, None).unwrap();
    assert_eq!((chosen.implementation, chosen.registry, chosen.quirks), (None, None, None));
}
