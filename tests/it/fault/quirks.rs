//! The publisher against each registry quirk profile (`cnb_artifacts_conformance::provider::quirks`):
//! it either succeeds with exactly the tags of a clean publish, or fails with an error that
//! quotes the registry's answer and names the artifact (or the repository or tag concerned),
//! and no tag moved (R-PUSH-2, R-REF-1, R-REF-4, R-REF-5).

use cnb_artifacts_conformance::provider::quirks::{start_quirks_proxy, QuirkProfile, QuirksProxy, MANIFEST_413_LIMIT};
use cnb_artifacts_core::publish::error::error_chain;
use cnb_artifacts_core::publish::{PublishError, PublishOptions, ReferrersMode, ReferrersUsed};

use super::scenario::{diff, fast_retries, tools_toml, RegistryView, Scenario, State};
use crate::support::Registry;

/// The label of the scenario's first artifact.
const FIRST: &str = "acme/tools/tools#0";

/// A scenario in namespace `ns` behind a proxy with `profile`, and the registry's state before.
async fn behind(registry: &Registry, view: &RegistryView, profile: QuirkProfile, ns: &str) -> (QuirksProxy, Scenario, State) {
    let proxy = start_quirks_proxy(&registry.url(), profile).await.unwrap();
    let scenario = Scenario::new(registry, view, ns).await;
    let before = view.state(ns).await;
    (proxy, scenario, before)
}

/// What a clean publish of the scenario leaves, straight to the registry.
async fn clean_state(registry: &Registry, view: &RegistryView) -> State {
    let clean = Scenario::new(registry, view, "clean").await;
    clean.publish(&registry.host, fast_retries(), &PublishOptions::default()).await.unwrap();
    view.state("clean").await
}

fn assert_unchanged(before: &State, after: &State, text: &str) {
    assert_eq!(after, before, "no tag may move: {:?}; error: {text}", diff(before, after));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_push_2_allowlist_media_types_rejection_names_the_artifact_and_answer() {
    let registry = require_registry!();
    let view = RegistryView::of(&registry);
    let (proxy, scenario, before) = behind(&registry, &view, QuirkProfile::AllowlistMediaTypes, "allowlist").await;
    let err = scenario.publish(&proxy.host(), fast_retries(), &PublishOptions::default()).await.unwrap_err();
    let text = error_chain(&err);
    assert!(matches!(err, PublishError::ManifestRejected { .. }), "{text}");
    assert!(text.contains(FIRST), "names the artifact: {text}");
    assert!(text.contains("MANIFEST_INVALID") && text.contains("unknown media type"), "quotes the registry: {text}");
    // The three manifests are pushed at once (--jobs 8), each refused; nothing follows them.
    assert_eq!(proxy.hits(), 3, "the manifest pushes were refused, nothing followed");
    assert_unchanged(&before, &view.state("allowlist").await, &text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_ref_1_referrers_html_is_an_error_not_a_fallback() {
    let registry = require_registry!();
    let view = RegistryView::of(&registry);
    let expected = clean_state(&registry, &view).await;
    let (proxy, scenario, before) = behind(&registry, &view, QuirkProfile::ReferrersHtml, "html").await;
    let err = scenario.publish(&proxy.host(), fast_retries(), &PublishOptions::default()).await.unwrap_err();
    let text = error_chain(&err);
    assert!(matches!(err, PublishError::ReferrersProbeUnexpected { .. }), "{text}");
    assert!(text.contains("HTTP 200") && text.contains("text/html") && text.contains("Sign in"), "quotes the answer: {text}");
    assert!(text.contains("html/app"), "names the repository: {text}");
    assert_unchanged(&before, &view.state("html").await, &text);

    // The user can choose the fallback explicitly; then the publish completes.
    let opts = PublishOptions { referrers: ReferrersMode::Fallback, ..PublishOptions::default() };
    let report = scenario.publish(&proxy.host(), fast_retries(), &opts).await.unwrap();
    assert!(report.artifacts.iter().all(|a| a.referrers == ReferrersUsed::Fallback));
    assert_eq!(view.state("html").await, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_ref_4_fallback_tag_resolving_to_the_subject_is_refused() {
    let registry = require_registry!();
    let view = RegistryView::of(&registry);
    let (proxy, scenario, before) = behind(&registry, &view, QuirkProfile::Sha256TagIsSubject, "sha-tag").await;
    let err = scenario.publish(&proxy.host(), fast_retries(), &PublishOptions::default()).await.unwrap_err();
    let text = error_chain(&err);
    assert!(matches!(err, PublishError::FallbackTagHoldsOther { .. }), "{text}");
    assert!(text.contains(&scenario.subject.digest.referrers_tag()), "names the tag: {text}");
    assert!(text.contains("application/vnd.oci.image.manifest.v1+json"), "says what it holds: {text}");
    assert!(proxy.hits() >= 1);
    assert_unchanged(&before, &view.state("sha-tag").await, &text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_push_2_immutable_tags_refusal_moves_no_tag() {
    let registry = require_registry!();
    let view = RegistryView::of(&registry);
    let expected = clean_state(&registry, &view).await;
    let (proxy, scenario, _) = behind(&registry, &view, QuirkProfile::ImmutableTags, "immutable").await;
    scenario.publish(&proxy.host(), fast_retries(), &PublishOptions::default()).await.unwrap();
    assert_eq!(view.state("immutable").await, expected, "new tags are accepted");

    // The same publish again: every tag already holds its manifest, so none is re-sent and the
    // immutable registry refuses nothing.
    let hits = proxy.hits();
    scenario.publish(&proxy.host(), fast_retries(), &PublishOptions::default()).await.unwrap();
    assert_eq!(proxy.hits(), hits, "no tag was re-sent to the immutable registry");
    assert_eq!(view.state("immutable").await, expected, "re-publishing changes nothing");

    // A changed artifact: the fallback index cannot be rewritten, so nothing is tagged.
    scenario.write_layer("acme_tools", "tools", &tools_toml("immutable"), &[("notes.txt", b"release notes, take two\n")]);
    let err = scenario.publish(&proxy.host(), fast_retries(), &PublishOptions::default()).await.unwrap_err();
    let text = error_chain(&err);
    assert!(matches!(err, PublishError::FallbackIndexWrite { .. }), "{text}");
    assert!(text.contains("TAG_INVALID") && text.contains("nothing was tagged"), "{text}");
    assert_unchanged(&expected, &view.state("immutable").await, &text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_ref_5_precondition_failed_restarts_the_merge() {
    let registry = require_registry!();
    let view = RegistryView::of(&registry);
    let (proxy, scenario, _) = behind(&registry, &view, QuirkProfile::Conditional412, "cond").await;
    let first = scenario.publish(&proxy.host(), fast_retries(), &PublishOptions::default()).await.unwrap();
    assert_eq!(proxy.hits(), 0, "a first index is written without If-Match");

    scenario.write_layer("acme_tools", "tools", &tools_toml("cond"), &[("notes.txt", b"release notes, take two\n")]);
    let second = scenario.publish(&proxy.host(), fast_retries(), &PublishOptions::default()).await.unwrap();
    assert_eq!(proxy.hits(), 1, "the conditional index write was refused once (the registry sends an ETag)");
    let state = view.state("cond").await;
    let app = &state["app"];
    assert_eq!(app["1.0-notes"], second.artifacts[1].manifest_digest);
    let index = view.manifest("cond/app", &scenario.subject.digest.referrers_tag()).await.unwrap();
    let index = String::from_utf8(index).unwrap();
    for digest in [&first.artifacts[0].manifest_digest, &first.artifacts[1].manifest_digest, &second.artifacts[1].manifest_digest] {
        assert!(index.contains(digest.as_str()), "the merged index keeps {digest}: {index}");
    }
    assert_eq!(second.artifacts[1].fallback_index.as_ref(), Some(&app[&scenario.subject.digest.referrers_tag()]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_push_2_manifest_413_names_the_artifact_and_answer() {
    let registry = require_registry!();
    let view = RegistryView::of(&registry);
    let (proxy, scenario, before) = behind(&registry, &view, QuirkProfile::Manifest413, "too-big").await;
    let labels: String = (0..60).map(|i| format!("label{i:02} = \"{}\"\n", "x".repeat(80))).collect();
    let toml = format!("[additionalArtifact]\nfile = \"big.txt\"\ntag = \"big\"\n\n[additionalArtifact.labels]\n{labels}");
    scenario.write_layer("acme_zz", "big", &toml, &[("big.txt", b"a file with a large manifest\n")]);
    let plan = scenario.plan(&proxy.host());
    let big = plan.artifacts.iter().find(|a| a.layer == "big").unwrap().label();

    let err = scenario.publish(&proxy.host(), fast_retries(), &PublishOptions::default()).await.unwrap_err();
    let text = error_chain(&err);
    assert!(matches!(err, PublishError::ManifestRejected { .. }), "{text}");
    assert!(text.contains(&big), "names the artifact {big}: {text}");
    assert!(text.contains("413") && text.contains("Request Entity Too Large"), "quotes the registry: {text}");
    assert!(proxy.hits() >= 1, "the manifest was over {MANIFEST_413_LIMIT} bytes");
    assert_unchanged(&before, &view.state("too-big").await, &text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_ref_1_oci_subject_header_without_referrers_api_writes_the_fallback() {
    let registry = require_registry!();
    let view = RegistryView::of(&registry);
    let expected = clean_state(&registry, &view).await;
    let (proxy, scenario, _) = behind(&registry, &view, QuirkProfile::OciSubjectNoReferrers, "subject-hdr").await;
    let report = scenario.publish(&proxy.host(), fast_retries(), &PublishOptions::default()).await.unwrap();
    assert!(report.artifacts.iter().all(|a| a.referrers == ReferrersUsed::Fallback));
    assert!(proxy.hits() >= 5, "3 manifest pushes answered with OCI-Subject, 2 probes with 404");
    assert_eq!(view.state("subject-hdr").await, expected);
}
