//! `conformance run --registry-quirks PROFILE` end to end, through the built binary on the
//! `process` registry provider: behind every quirk profile the reference implementation passes a
//! selection of cases that makes the quirk fire, the refusals the profile makes correct are
//! reported as such, and the implementation only ever sees the proxy; a wrong answer to a quirk
//! (tags moved before the refusal, a refusal swallowed, the registry's answer not quoted) FAILs;
//! a quirk that never fires is called out; an unknown profile is a usage error; an external
//! registry (`--registry URL`) works behind a profile too; and behind `wan` (not one of the
//! standard profiles) the reference passes as without it.

use std::path::Path;
use std::process::Command;

use cnb_artifacts_conformance::provider::Provider;
use rstest::rstest;
use serde_json::Value;

use crate::conformance::{available, code, conformance, json, mutant_bin, registry_is_gone, statuses};
use crate::support::report;

/// What one run produced.
struct Run {
    results: Value,
    junit: quick_junit::Report,
    stdout: String,
}

/// `conformance run --registry-quirks profile args…` with JSON and JUnit output; panics (with
/// the command's report) unless it exits `expected`.
fn run_behind(profile: &str, args: &[&str], expected: i32) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let (json_path, junit_path) = (dir.path().join("results.json"), dir.path().join("junit.xml"));
    let outputs = ["--json", json_path.to_str().unwrap(), "--junit", junit_path.to_str().unwrap()];
    let (cmd, output) = conformance(&[&["run", "--registry-quirks", profile], args, &outputs[..]].concat());
    assert_eq!(code(&output), expected, "{}", report(&cmd, &output));
    let junit = std::fs::read_to_string(&junit_path).unwrap();
    Run {
        results: json(&json_path),
        junit: quick_junit::Report::deserialize_from_str(&junit).expect("JUnit parses"),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
    }
}

/// `--filter` arguments for `cases`, on the process provider.
fn filters<'a>(cases: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["--registry-provider", "process"];
    args.extend(cases.iter().flat_map(|c| ["--filter", c]));
    args
}

fn case_of<'a>(results: &'a Value, id: &str) -> &'a Value {
    results["cases"].as_array().unwrap().iter().find(|c| c["id"] == id).unwrap_or_else(|| panic!("no case {id}"))
}

/// Every case passed behind `profile`, exactly `refused` as accepted refusals quoting `answer`
/// (others may too when `others_may_refuse`); the quirk fired; the implementation was given only
/// the proxy; the reports name the profile; registry and proxy are gone afterwards.
async fn check_passed(run: &Run, profile: &str, refused: &[&str], answer: &str) {
    let results = &run.results;
    assert!(statuses(results).iter().all(|(_, s)| s == "pass"), "{}", run.stdout);
    let quirks = &results["quirks"];
    assert_eq!(quirks["profile"], profile);
    assert_eq!(quirks["fired"], true, "the quirk must fire: {quirks}");
    assert!(quirks["hits"].as_u64().unwrap() > 0);
    assert_eq!(results["provenance"]["registryQuirks"], profile);
    let proxy = quirks["proxyHost"].as_str().unwrap();
    assert_ne!(proxy, results["provenance"]["registryHost"].as_str().unwrap());
    for c in results["cases"].as_array().unwrap() {
        let id = c["id"].as_str().unwrap();
        assert_eq!(c["quirk"]["profile"], profile, "{id}");
        for inv in c["invocations"].as_array().unwrap() {
            assert_eq!(inv["env"]["CNB_ARTIFACTS_REGISTRY"], proxy, "{id}: the implementation sees only the proxy");
            assert!(inv["env"]["CNB_OUTPUT_IMAGE"].as_str().unwrap().starts_with(&format!("{proxy}/")), "{id}");
        }
        let refusal = &c["quirk"]["refusal"];
        if refused.contains(&id) {
            assert_eq!(refusal["answer"], answer, "{id}: {c}");
            assert!(refusal["quoted"].as_str().unwrap().contains(answer), "{id}: {refusal}");
            // A case line: `[n/total] STATUS id …` (the count first while the run prints live).
            let line = run.stdout.lines().find(|l| l.split_whitespace().skip_while(|w| w.starts_with('[')).nth(1) == Some(id)).unwrap();
            assert!(line.contains(&format!("refused under quirk {profile}: ")), "{line}");
        }
    }
    let accepted = results["cases"].as_array().unwrap().iter().filter(|c| !c["quirk"]["refusal"].is_null()).count();
    assert!(accepted >= refused.len(), "{}", run.stdout);
    assert_eq!(quirks["refusalsAccepted"].as_u64(), Some(accepted as u64));
    let suite = &run.junit.test_suites[0];
    let property = |name: &str| suite.properties.iter().find(|p| p.name.as_str() == name).map(|p| p.value.to_string());
    assert_eq!(property("registry.quirks").as_deref(), Some(profile));
    assert_eq!(property("registry.quirks.fired").as_deref(), Some("true"));
    let junit_refusals = suite.test_cases.iter().filter(|t| t.properties.iter().any(|p| p.name.as_str() == "quirk.refusal")).count();
    assert_eq!(junit_refusals, accepted);
    registry_is_gone(results).await;
    registry_is_gone(&serde_json::json!({"provenance": {"registryHost": proxy}})).await;
}

/// Per profile, cases that make its quirk fire (a fresh publish, an earlier publish the case
/// needs, concurrent publishers, a fallback index to merge, a case rejected anyway), and those
/// the reference refuses. Profiles without a refusal must be coped with: nothing is refused.
/// (`manifest-413` needs a manifest over 4096 bytes, which no case has: see below.)
#[rstest]
#[case::allowlist_media_types(
    "allowlist-media-types",
    &["rfc-example", "republish-same", "concurrent-publishers", "foreign-tag-rejected"],
    &["rfc-example", "republish-same", "concurrent-publishers"],
    "MANIFEST_INVALID"
)]
#[case::referrers_html(
    "referrers-html",
    &["rfc-example", "tag-absent-digest-only", "coll-same-tag-other-repository"],
    &["rfc-example", "tag-absent-digest-only", "coll-same-tag-other-repository"],
    "text/html"
)]
#[case::sha256_tag_is_subject(
    "sha256-tag-is-subject",
    &["rfc-example", "ref-merge-foreign-entry", "fallback-tag-holds-image"],
    &["rfc-example", "ref-merge-foreign-entry"],
    "sha256-15141f3dc217214a54c9dd776b7f5101e089c66c04b283f38a29aded55b86d51"
)]
#[case::immutable_tags(
    "immutable-tags",
    &["rfc-example", "republish-same", "republish-moves-own-tag", "foreign-tag-overwrite", "concurrent-publishers"],
    &["republish-moves-own-tag", "foreign-tag-overwrite"],
    "TAG_INVALID"
)]
#[case::conditional_412("conditional-412", &["rfc-example", "ref-merge-foreign-entry"], &[], "")]
#[case::oci_subject_no_referrers("oci-subject-no-referrers", &["rfc-example", "coll-same-tag-other-repository"], &[], "")]
#[case::wan("wan:20ms", &["rfc-example", "republish-same", "concurrent-publishers"], &[], "")]
#[tokio::test]
async fn the_reference_passes_behind_each_profile(
    #[case] profile: &str,
    #[case] cases: &[&str],
    #[case] refused: &[&str],
    #[case] answer: &str,
) {
    if !available(&Provider::Process) {
        return;
    }
    let run = run_behind(profile, &filters(cases), 0);
    check_passed(&run, profile, refused, answer).await;
    if answer.is_empty() {
        assert_eq!(run.results["quirks"]["refusalsAccepted"], 0, "{profile} accepts no refusal");
    }
}

/// A suite holding `rfc-example` and a case whose manifest is over 4096 bytes (60 labels of 80
/// characters), its expectations computed by `conformance regen --write`.
fn suite_with_a_big_manifest() -> tempfile::TempDir {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let suite = tempfile::tempdir().unwrap();
    let s = suite.path();
    for dir in ["conformance/cases", "fixtures/cases/big-manifest/layers/examples_wasm/big"] {
        std::fs::create_dir_all(s.join(dir)).unwrap();
    }
    for from in ["conformance/cases/rfc-example.toml", "conformance/cases/rfc-example", "fixtures/cases/rfc-example"] {
        let to = s.join(from).parent().unwrap().to_path_buf();
        let status = Command::new("cp").arg("-a").arg(root.join(from)).arg(to).status().unwrap();
        assert!(status.success(), "cp {from}");
    }
    let case = "id = \"big-manifest\"\ntitle = \"A manifest over 4096 bytes\"\nrules = [\"R-LABEL-1\"]\nfixture = \"big-manifest\"\n\n[expect]\noutcome = \"published\"\n";
    std::fs::write(s.join("conformance/cases/big-manifest.toml"), case).unwrap();
    let layers = s.join("fixtures/cases/big-manifest/layers");
    std::fs::copy(root.join("fixtures/cases/rfc-example/layers/group.toml"), layers.join("group.toml")).unwrap();
    let labels: String = (0..60).map(|i| format!("label{i:02} = \"{}\"\n", "x".repeat(80))).collect();
    let toml = format!("[additionalArtifact]\nfile = \"big.txt\"\ntag = \"big\"\n\n[additionalArtifact.labels]\n{labels}");
    std::fs::write(layers.join("examples_wasm/big.toml"), toml).unwrap();
    std::fs::write(layers.join("examples_wasm/big/big.txt"), "a file with a large manifest\n").unwrap();
    let (cmd, output) = conformance(&["regen", "--write", "--suite-dir", s.to_str().unwrap()]);
    assert_eq!(code(&output), 0, "{}", report(&cmd, &output));
    suite
}

/// `manifest-413` fires only on a manifest over 4096 bytes: the reference refuses that one,
/// quoting `413`, and publishes the small one.
#[tokio::test]
async fn the_reference_passes_behind_manifest_413() {
    if !available(&Provider::Process) {
        return;
    }
    let suite = suite_with_a_big_manifest();
    let adapter = Path::new(env!("CARGO_MANIFEST_DIR")).join("conformance/adapters/reference.sh");
    let args = ["--suite-dir", suite.path().to_str().unwrap(), "--implementation", adapter.to_str().unwrap()];
    let run = run_behind("manifest-413", &[&filters(&[])[..], &args[..]].concat(), 0);
    assert_eq!(statuses(&run.results).len(), 2);
    check_passed(&run, "manifest-413", &["big-manifest"], "413").await;
    assert!(case_of(&run.results, "rfc-example")["quirk"]["refusal"].is_null(), "a small manifest is published");
}

/// A profile whose quirk no selected case meets is reported as not exercised, in the summary
/// and the results, without failing the run.
#[test]
fn a_quirk_that_never_fires_is_reported() {
    if !available(&Provider::Process) {
        return;
    }
    let run = run_behind("manifest-413", &filters(&["rfc-example"]), 0);
    assert_eq!(run.results["quirks"]["fired"], false);
    assert_eq!(run.results["quirks"]["hits"], 0);
    assert!(run.stdout.contains("warning: quirk manifest-413 never fired during this run"), "{}", run.stdout);
}

/// The reference adapter run through `sh -c SCRIPT adapter`, so SCRIPT can mishandle its result.
fn wrapped_reference(script: &str) -> String {
    let adapter = Path::new(env!("CARGO_MANIFEST_DIR")).join("conformance/adapters/reference.sh");
    format!("sh -c '{script}' {}", adapter.display())
}

/// The case `id` FAILed behind `profile`, with a finding of check `check` saying `says`, and its
/// diagnostics name the profile.
fn check_failed(run: &Run, profile: &str, id: &str, check: &str, says: &str) {
    let c = case_of(&run.results, id);
    assert_eq!(c["status"], "fail", "{}", run.stdout);
    assert_eq!(c["quirk"]["profile"], profile);
    assert!(c["quirk"]["refusal"].is_null());
    let findings = c["findings"].as_array().unwrap();
    assert!(findings.iter().any(|f| f["check"] == check && f["message"].as_str().unwrap().contains(says)), "{}", run.stdout);
    assert!(run.stdout.contains(&format!("registry quirk: {profile} (")), "{}", run.stdout);
}

/// An implementation that fails but does not leave a refused publish behind FAILs: it reports
/// success after the refusal, or refuses without quoting the registry's answer.
#[rstest]
#[case::failure_swallowed("\"$0\" \"$@\" || true", "tag", "rfc-example/app:wasm does not exist")]
#[case::answer_not_quoted("\"$0\" \"$@\" 2>/dev/null", "quirk-refusal", "quoting the registry's answer `MANIFEST_INVALID`")]
#[test]
fn a_refusal_must_be_reported_quoting_the_registry(#[case] script: &str, #[case] check: &str, #[case] says: &str) {
    if !available(&Provider::Process) {
        return;
    }
    let implementation = wrapped_reference(script);
    let args = [&filters(&["rfc-example"])[..], &["--implementation", &implementation]].concat();
    let run = run_behind("allowlist-media-types", &args, 4);
    check_failed(&run, "allowlist-media-types", "rfc-example", check, says);
}

/// A publisher that sets its tags before the referrers step (mutant `tags-before-referrers`) is
/// refused by the registry afterwards, quoting it, but has moved a tag: it FAILs.
#[test]
#[cfg_attr(not(feature = "mutants"), ignore = "needs the mutant binary: cargo test --features mutants")]
fn a_refusal_after_a_tag_moved_fails() {
    if !available(&Provider::Process) {
        return;
    }
    let adapter = Path::new(env!("CARGO_MANIFEST_DIR")).join("conformance/adapters/reference.sh");
    let implementation = format!("env CNB_ARTIFACTS_MUTANT=tags-before-referrers CNB_ARTIFACTS_BIN={} {}", mutant_bin(), adapter.display());
    let args = [&filters(&["rfc-example"])[..], &["--implementation", &implementation]].concat();
    let run = run_behind("sha256-tag-is-subject", &args, 4);
    check_failed(&run, "sha256-tag-is-subject", "rfc-example", "quirk-refusal", "no tag may move");
    let c = case_of(&run.results, "rfc-example");
    assert!(
        c["findings"].as_array().unwrap().iter().any(|f| f["message"] == "rfc-example/app:wasm is new, but the case expects no such tag"),
        "{c}"
    );
}

/// Behind a profile, an external registry (`--registry URL`) is used like a started one: the
/// cases run under a random namespace prefix and the refusal is judged there.
#[tokio::test]
async fn an_external_registry_works_behind_a_profile() {
    let registry = require_registry!(&Provider::Process);
    let args = ["--registry", &registry.url(), "--filter", "rfc-example", "--filter", "republish-moves-own-tag"];
    let run = run_behind("immutable-tags", &args, 0);
    assert!(statuses(&run.results).iter().all(|(_, s)| s == "pass"), "{}", run.stdout);
    let c = case_of(&run.results, "republish-moves-own-tag");
    assert!(c["namespace"].as_str().unwrap().starts_with("cnb-conformance-"), "{c}");
    assert_eq!(c["quirk"]["refusal"]["answer"], "TAG_INVALID", "{c}");
    assert_eq!(run.results["provenance"]["registryHost"], registry.host.as_str());
}

/// `--help` lists every profile; an unknown one is a usage error naming the valid ones.
#[test]
fn profiles_are_listed_and_an_unknown_one_is_a_usage_error() {
    let (cmd, output) = conformance(&["run", "--help"]);
    assert_eq!(code(&output), 0, "{}", report(&cmd, &output));
    let help = String::from_utf8_lossy(&output.stdout);
    for profile in cnb_artifacts_conformance::provider::quirks::QuirkProfile::ALL {
        assert!(help.contains(profile.name()), "{profile} missing from\n{help}");
    }
    let (cmd, output) = conformance(&["run", "--registry-quirks", "gitlab"]);
    assert_eq!(code(&output), 2, "{}", report(&cmd, &output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("gitlab") && stderr.contains("allowlist-media-types"), "{stderr}");
}
