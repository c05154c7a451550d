//! Single-pass uploads (R-PUSH-11) against a real registry, seen through the quirks proxy's
//! request log: a large file is sent once, to an upload session completed only after the
//! checks; an unchanged re-publish sends no byte; a session is cancelled when the blob turns
//! out to be there already, and every session is cancelled when the publish fails.

use std::time::Duration;

use cnb_artifacts_conformance::provider::quirks::{start_quirks_proxy, QuirkProfile, QuirksProxy, Wan};
use cnb_artifacts_core::plan::{Plan, PlanOptions};
use cnb_artifacts_core::publish::{publish, PublishOptions, PublishReport};
use cnb_artifacts_core::reference::Digest;

use crate::fault::scenario::{connect, fast_retries, RegistryView, Scenario};
use crate::support::Registry;

/// Files of at least this size are sent in one pass in these tests.
const MIN: u64 = 1024 * 1024;

fn single_pass() -> PlanOptions {
    PlanOptions { single_pass_min_size: Some(MIN) }
}

/// `len` bytes that differ with `seed`.
fn bytes(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8 ^ seed).collect()
}

/// A proxy that forwards everything unchanged, and logs it.
async fn counting(registry: &Registry) -> QuirksProxy {
    start_quirks_proxy(&registry.url(), QuirkProfile::Wan(Wan { rtt: Duration::ZERO, bandwidth: None })).await.unwrap()
}

async fn publish_plan(scenario: &Scenario, proxy: &QuirksProxy, plan: &Plan) -> Result<PublishReport, String> {
    let target = connect(&proxy.host(), fast_retries()).await;
    let opts = PublishOptions { jobs: 1, ..PublishOptions::default() };
    publish(plan, &scenario.subject, &opts, &target).await.map_err(|e| e.to_string())
}

/// The requests of `log` with `method`.
fn with_method<'l>(log: &'l [String], method: &str) -> Vec<&'l String> {
    log.iter().filter(|l| l.starts_with(&format!("{method} "))).collect()
}

fn uploaded(report: &PublishReport) -> u64 {
    report.artifacts.iter().map(|a| a.blobs.bytes_uploaded).sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_push_11_a_large_file_is_sent_once_and_an_unchanged_republish_sends_nothing() {
    let registry = require_registry!();
    let view = RegistryView::of(&registry);
    let scenario = Scenario::empty(&registry, &view, "single-pass-once").await;
    let big = bytes(3 * MIN as usize, 1);
    let toml =
        "[[additionalArtifact]]\nfile = \"big.bin\"\ntag = \"big\"\n\n[[additionalArtifact]]\nfile = \"small.txt\"\ntag = \"small\"\n";
    scenario.write_layer("acme_sp", "files", toml, &[("big.bin", &big), ("small.txt", b"small\n")]);
    let proxy = counting(&registry).await;

    let plan = scenario.plan_with(&proxy.host(), &single_pass());
    let pending: Vec<bool> = plan.artifacts.iter().map(|a| a.files[0].digest_pending).collect();
    assert_eq!(pending, [true, false], "only the file of at least {MIN} bytes is left to the upload");
    let report = publish_plan(&scenario, &proxy, &plan).await.unwrap();
    let log = proxy.request_log(0);

    // The manifests are those of a plan that hashed every file.
    let hashed = scenario.plan(&proxy.host());
    for (artifact, reported) in hashed.artifacts.iter().zip(&report.artifacts) {
        let built = cnb_artifacts_core::manifest::build(artifact, &scenario.subject).unwrap();
        assert_eq!(reported.manifest_digest, built.manifest_digest, "{}", reported.label);
    }
    let digest = Digest::of(&big);
    let patches = with_method(&log, "PATCH");
    assert_eq!(patches.len(), 1, "one PATCH, the big file's:\n{}", log.join("\n"));
    assert!(patches[0].starts_with("PATCH /v2/single-pass-once/app/blobs/uploads/"), "{}", patches[0]);
    let completed = format!("digest={}", digest.as_str().replace(':', "%3A"));
    assert_eq!(log.iter().filter(|l| l.starts_with("PUT ") && l.contains(&completed)).count(), 1, "{}", log.join("\n"));
    assert!(with_method(&log, "DELETE").is_empty(), "{}", log.join("\n"));
    assert!(view.holds("single-pass-once/app", "blobs", digest.as_str()).await);
    let sent = report.artifacts[0].blobs.bytes_uploaded;
    assert!((big.len() as u64..big.len() as u64 + 1024).contains(&sent), "the file and its config: {sent} bytes");

    // Unchanged: the tag holds a layer of the file's title and size, so it is hashed first,
    // and nothing is sent.
    let seen = log.len();
    let again = publish_plan(&scenario, &proxy, &scenario.plan_with(&proxy.host(), &single_pass())).await.unwrap();
    let log = proxy.request_log(seen);
    assert_eq!(uploaded(&again), 0, "{}", log.join("\n"));
    assert!(with_method(&log, "PATCH").is_empty() && with_method(&log, "POST").is_empty(), "{}", log.join("\n"));

    // Changed bytes, same size and name: hashed first all the same, then uploaded as any blob.
    let changed = bytes(3 * MIN as usize, 2);
    scenario.write_layer("acme_sp", "files", toml, &[("big.bin", &changed)]);
    let seen = proxy.request_log(0).len();
    let moved = publish_plan(&scenario, &proxy, &scenario.plan_with(&proxy.host(), &single_pass())).await.unwrap();
    let log = proxy.request_log(seen);
    assert!(with_method(&log, "PATCH").is_empty(), "{}", log.join("\n"));
    assert!(moved.artifacts[0].blobs.bytes_uploaded >= changed.len() as u64, "{:?}", moved.artifacts[0].blobs);
    assert!(view.holds("single-pass-once/app", "blobs", Digest::of(&changed).as_str()).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_push_11_a_blob_the_repository_holds_is_cancelled_not_completed() {
    let registry = require_registry!();
    let view = RegistryView::of(&registry);
    let scenario = Scenario::empty(&registry, &view, "single-pass-held").await;
    let big = bytes(2 * MIN as usize, 3);
    scenario.write_layer("acme_sp", "one", "[[additionalArtifact]]\nfile = \"a.bin\"\ntag = \"one\"\n", &[("a.bin", &big)]);
    let proxy = counting(&registry).await;
    publish_plan(&scenario, &proxy, &scenario.plan(&proxy.host())).await.unwrap();

    // The same bytes under another name and tag: no tag tells, so they are sent, and the
    // HEAD of step 2 finds the blob.
    scenario.write_layer("acme_sp", "two", "[[additionalArtifact]]\nfile = \"b.bin\"\ntag = \"two\"\n", &[("b.bin", &big)]);
    let seen = proxy.request_log(0).len();
    let report = publish_plan(&scenario, &proxy, &scenario.plan_with(&proxy.host(), &single_pass())).await.unwrap();
    let log = proxy.request_log(seen);
    assert_eq!(with_method(&log, "PATCH").len(), 1, "{}", log.join("\n"));
    let deletes = with_method(&log, "DELETE");
    assert_eq!(deletes.len(), 1, "the session is cancelled:\n{}", log.join("\n"));
    let completed = format!("digest={}", Digest::of(&big).as_str().replace(':', "%3A"));
    assert!(!log.iter().any(|l| l.starts_with("PUT ") && l.contains(&completed)), "{}", log.join("\n"));
    let two = report.artifacts.iter().find(|a| a.tags == ["two"]).unwrap();
    assert!(two.blobs.bytes_uploaded >= big.len() as u64, "the bytes were sent: {:?}", two.blobs);
    assert_eq!(view.state("single-pass-held").await["app"].len(), 5, "app 1.0, latest, one, two, the fallback tag");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_push_11_every_session_is_cancelled_when_the_publish_fails() {
    let registry = require_registry!();
    let view = RegistryView::of(&registry);
    let scenario = Scenario::empty(&registry, &view, "single-pass-fails").await;
    let (first, second) = (bytes(2 * MIN as usize, 4), bytes(2 * MIN as usize, 5));
    let toml = "[[additionalArtifact]]\nfile = \"1.bin\"\ntag = \"one\"\n\n[[additionalArtifact]]\nfile = \"2.bin\"\ntag = \"two\"\n";
    scenario.write_layer("acme_sp", "files", toml, &[("1.bin", &first), ("2.bin", &second)]);
    let proxy = counting(&registry).await;
    let before = view.state("single-pass-fails").await;
    let plan = scenario.plan_with(&proxy.host(), &single_pass());
    // The second file grows after planning: its upload stops at the planned size.
    let mut grown = second.clone();
    grown.extend_from_slice(b"more");
    scenario.write_layer("acme_sp", "files", toml, &[("2.bin", &grown)]);
    // Rewriting keeps the inode (same file, truncated and written again).
    let err = publish_plan(&scenario, &proxy, &plan).await.unwrap_err();
    assert!(
        err.contains("2.bin") && err.contains("changed since planning") && err.contains(&format!("planned {} bytes", second.len())),
        "{err}"
    );
    let log = proxy.request_log(0);
    // The second file's PATCH was cut off mid-body: the proxy, which reads a body whole before
    // it logs and forwards the request, drops it.
    assert_eq!(with_method(&log, "PATCH").len(), 1, "{}", log.join("\n"));
    assert_eq!(with_method(&log, "POST").len(), 2, "{}", log.join("\n"));
    assert_eq!(with_method(&log, "DELETE").len(), 2, "both sessions are cancelled:\n{}", log.join("\n"));
    assert!(!log.iter().any(|l| l.contains("digest=")), "no session is completed:\n{}", log.join("\n"));
    assert!(!view.holds("single-pass-fails/app", "blobs", Digest::of(&first).as_str()).await);
    assert_eq!(view.state("single-pass-fails").await, before, "no tag changed");
}
