//! The publisher against a real registry (spec rules R-PUSH-*, R-REF-*): the RFC example end to
//! end, tags, the referrers fallback index, re-publishing, the overwrite rule, failures before
//! tagging, and the OCI layout target.

use std::path::Path;

use cnb_artifacts_conformance::provider::seed::{fetch_manifest, list_tags, seed_app_image};
use cnb_artifacts_core::media_types::{ANNOTATION_LAYER, OCI_INDEX, OCI_MANIFEST};
use cnb_artifacts_core::plan::{BuildContext, Plan, Subject};
use cnb_artifacts_core::publish::client::TransportOptions;
use cnb_artifacts_core::publish::error::RegistryFailure;
use cnb_artifacts_core::publish::progress::BlobProgress;
use cnb_artifacts_core::publish::referrers::{ReferrerEntry, ReferrersOutcome};
use cnb_artifacts_core::publish::target::{BlobSource, FetchedManifest, ManifestRef, Target, TargetKind};
use cnb_artifacts_core::publish::{
    publish, LayoutTarget, PublishError, PublishOptions, PublishReport, ReferrersMode, ReferrersUsed, RegistryTarget, TargetError,
};
use cnb_artifacts_core::reference::Digest;
use serde_json::{json, Value};
use tempfile::TempDir;

use crate::support::Registry;

const APP: &str = "team/app";
const WASM: &[u8] = b"\0asm\x01\0\0\0 a tiny module";

/// The RFC's own example, as the CLI fixture holds it (values quoted).
const RFC_TOML: &str = include_str!("../../fixtures/cli/rfc-example/layers/examples_wasm/wasm.toml");

/// Writes `<layers>/<bp_dir>/<layer>.toml` and the layer's files.
fn write_layer(layers: &Path, bp_dir: &str, layer: &str, toml: &str, files: &[(&str, &[u8])]) {
    let dir = layers.join(bp_dir).join(layer);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(layers.join(bp_dir).join(format!("{layer}.toml")), toml).unwrap();
    for (name, bytes) in files {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }
}

/// A layers dir with the RFC example.
fn rfc_layers() -> TempDir {
    let layers = tempfile::tempdir().unwrap();
    write_layer(layers.path(), "examples_wasm", "wasm", RFC_TOML, &[("mywasmprogram.wasm", WASM)]);
    layers
}

fn context(registry: &Registry, tag: &str, extra_tags: &[&str], subject: &Subject) -> BuildContext {
    BuildContext {
        image: format!("{}/{APP}:{tag}", registry.host).parse().unwrap(),
        extra_tags: extra_tags.iter().map(|t| t.to_string()).collect(),
        digest: Some(subject.digest.clone()),
        manifest_size: Some(subject.size),
        manifest_media_type: Some(subject.media_type.clone()),
        source_date_epoch: None,
    }
}

fn plan_of(layers: &Path, ctx: &BuildContext) -> Plan {
    cnb_artifacts_core::plan::plan(layers, ctx).unwrap_or_else(|d| panic!("planning failed:\n{d}"))
}

async fn target(registry: &Registry) -> RegistryTarget {
    RegistryTarget::connect(&registry.host, &TransportOptions::default()).await.unwrap()
}

async fn publish_with(registry: &Registry, plan: &Plan, subject: &Subject, opts: &PublishOptions) -> Result<PublishReport, PublishError> {
    publish(plan, subject, opts, &target(registry).await).await
}

async fn tags(registry: &Registry, repository: &str) -> Vec<String> {
    let mut t = list_tags(registry, repository).await.unwrap_or_default();
    t.sort();
    t
}

async fn blob(registry: &Registry, repository: &str, digest: &str) -> Vec<u8> {
    let url = format!("{}/v2/{repository}/blobs/{digest}", registry.url());
    let answer = reqwest::get(&url).await.unwrap();
    assert_eq!(answer.status().as_u16(), 200, "GET {url}");
    answer.bytes().await.unwrap().to_vec()
}

fn json_of(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap()
}

/// The RFC example: one Wasm file tagged `wasm`, labels rendered, subject = the app image.
#[tokio::test]
async fn r_push_1_rfc_example_end_to_end() {
    let registry = require_registry!();
    let subject = seed_app_image(&registry, APP, &["1.0".to_string()]).await.unwrap();
    let layers = rfc_layers();
    let plan = plan_of(layers.path(), &context(&registry, "1.0", &[], &subject));
    let report = publish_with(&registry, &plan, &subject, &PublishOptions::default()).await.unwrap();

    assert_eq!(report.artifacts.len(), 1);
    let a = &report.artifacts[0];
    assert_eq!((a.repository.as_str(), a.tags.clone()), (APP, vec!["wasm".to_string()]));
    assert_eq!(a.referrers, ReferrersUsed::Fallback, "Distribution 2.8 has no referrers API");

    let fetched = fetch_manifest(&registry, APP, "wasm").await.unwrap();
    assert_eq!(fetched.digest, a.manifest_digest);
    assert_eq!(fetched.bytes.len() as u64, a.manifest_size);
    assert_eq!(fetched.content_type, OCI_MANIFEST);
    let m = json_of(&fetched.bytes);
    assert_eq!(m["subject"]["digest"], subject.digest.as_str());
    assert_eq!(m["subject"]["size"], subject.size);
    assert_eq!(m["annotations"]["myLabel1"], "blah1-1.0");
    assert_eq!(m["annotations"]["myLabel2"], "blah2");
    assert!(m["annotations"][ANNOTATION_LAYER].is_string());

    // Pulled blobs equal the files.
    let layer = &m["layers"][0];
    assert_eq!(blob(&registry, APP, layer["digest"].as_str().unwrap()).await, WASM);
    let config = blob(&registry, APP, m["config"]["digest"].as_str().unwrap()).await;
    assert_eq!(Digest::of(&config).as_str(), m["config"]["digest"].as_str().unwrap());

    // The fallback index lists the artifact as the referrers API would.
    let index = fetch_manifest(&registry, APP, &subject.digest.referrers_tag()).await.unwrap();
    assert_eq!(Some(&index.digest), a.fallback_index.as_ref());
    let idx = json_of(&index.bytes);
    assert_eq!(idx["mediaType"], OCI_INDEX);
    assert_eq!(
        idx["manifests"],
        json!([{
            "mediaType": OCI_MANIFEST,
            "digest": a.manifest_digest.as_str(),
            "size": a.manifest_size,
            "artifactType": m["artifactType"],
            "annotations": m["annotations"],
        }])
    );
    assert_eq!(index.bytes, cnb_artifacts_core::canonical::to_vec(&idx).unwrap(), "the fallback index is canonical JSON");
    assert_eq!(tags(&registry, APP).await, ["1.0".to_string(), subject.digest.referrers_tag(), "wasm".to_string()]);
}

/// A `${build.tag}` template gives one tag per app image tag, all on the same manifest.
#[tokio::test]
async fn r_push_1_one_manifest_under_every_tag() {
    let registry = require_registry!();
    let subject = seed_app_image(&registry, APP, &["1.0".to_string(), "latest".to_string()]).await.unwrap();
    let layers = tempfile::tempdir().unwrap();
    write_layer(
        layers.path(),
        "acme_wasm",
        "m",
        "[additionalArtifact]\nfile = \"m.wasm\"\ntag = \"${build.tag}-wasm\"\n",
        &[("m.wasm", WASM)],
    );
    let plan = plan_of(layers.path(), &context(&registry, "1.0", &["latest"], &subject));
    let report = publish_with(&registry, &plan, &subject, &PublishOptions::default()).await.unwrap();
    let a = &report.artifacts[0];
    assert_eq!(a.tags, ["1.0-wasm", "latest-wasm"]);
    for tag in &a.tags {
        assert_eq!(fetch_manifest(&registry, APP, tag).await.unwrap().digest, a.manifest_digest, "{tag}");
    }
}

/// An existing fallback index keeps its foreign entries; ours are added, sorted by digest.
#[tokio::test]
async fn r_ref_4_fallback_index_merges_with_a_foreign_entry() {
    let registry = require_registry!();
    let subject = seed_app_image(&registry, APP, &["1.0".to_string()]).await.unwrap();
    // Another tool's referrer of the app image. Distribution refuses an index naming
    // manifests it does not hold, so it is pushed for real.
    let t = target(&registry).await;
    let empty = Digest::of(b"{}");
    t.push_blob(APP, &empty, BlobSource::Bytes(b"{}"), &BlobProgress::none()).await.unwrap();
    let sbom = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": "application/spdx+json",
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty.as_str(), "size": 2},
        "layers": [{"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty.as_str(), "size": 2}],
        "subject": {"mediaType": subject.media_type, "digest": subject.digest.as_str(), "size": subject.size},
        "annotations": {"by": "another tool"}
    });
    let sbom_bytes = serde_json::to_vec(&sbom).unwrap();
    let sbom_digest = Digest::of(&sbom_bytes);
    t.push_manifest(APP, ManifestRef::Digest(&sbom_digest), OCI_MANIFEST, &sbom_bytes).await.unwrap();
    let foreign = json!({
        "mediaType": OCI_MANIFEST,
        "digest": sbom_digest.as_str(),
        "size": sbom_bytes.len(),
        "artifactType": "application/spdx+json",
        "annotations": {"by": "another tool"},
        "x-unknown-member": "kept"
    });
    let existing = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [foreign.clone()]});
    let existing_bytes = serde_json::to_vec_pretty(&existing).unwrap();
    t.push_manifest(APP, ManifestRef::Tag(&subject.digest.referrers_tag()), OCI_INDEX, &existing_bytes).await.unwrap();

    let layers = rfc_layers();
    let plan = plan_of(layers.path(), &context(&registry, "1.0", &[], &subject));
    let report = publish(&plan, &subject, &PublishOptions::default(), &t).await.unwrap();
    let ours = &report.artifacts[0].manifest_digest;

    let index = fetch_manifest(&registry, APP, &subject.digest.referrers_tag()).await.unwrap();
    let entries = json_of(&index.bytes)["manifests"].as_array().unwrap().clone();
    let digests: Vec<&str> = entries.iter().map(|e| e["digest"].as_str().unwrap()).collect();
    let mut expected = vec![ours.as_str(), foreign["digest"].as_str().unwrap()];
    expected.sort();
    assert_eq!(digests, expected);
    assert!(entries.contains(&foreign), "the foreign entry is kept as it was");

    // Publishing again changes nothing: same index bytes.
    publish(&plan, &subject, &PublishOptions::default(), &t).await.unwrap();
    assert_eq!(fetch_manifest(&registry, APP, &subject.digest.referrers_tag()).await.unwrap().bytes, index.bytes);
}

/// A fallback tag that holds something else than an index (here, the app image) is an error
/// naming it, and nothing is tagged.
#[tokio::test]
async fn r_ref_4_fallback_tag_holding_the_subject_is_an_error() {
    let registry = require_registry!();
    let subject = seed_app_image(&registry, APP, &["1.0".to_string()]).await.unwrap();
    seed_app_image(&registry, APP, &[subject.digest.referrers_tag()]).await.unwrap();
    let layers = rfc_layers();
    let plan = plan_of(layers.path(), &context(&registry, "1.0", &[], &subject));
    let err = publish_with(&registry, &plan, &subject, &PublishOptions::default()).await.unwrap_err();
    assert!(matches!(err, PublishError::FallbackTagHoldsOther { .. }), "{err}");
    assert!(err.to_string().contains(&subject.digest.referrers_tag()), "{err}");
    assert!(!tags(&registry, APP).await.contains(&"wasm".to_string()));
}

/// Publishing the same plan again uploads no blob byte (R-PUSH-4).
#[tokio::test]
async fn r_push_4_republish_uploads_nothing() {
    let registry = require_registry!();
    let subject = seed_app_image(&registry, APP, &["1.0".to_string()]).await.unwrap();
    let layers = rfc_layers();
    let plan = plan_of(layers.path(), &context(&registry, "1.0", &[], &subject));
    let first = publish_with(&registry, &plan, &subject, &PublishOptions::default()).await.unwrap();
    assert_eq!(first.artifacts[0].blobs.blobs_uploaded, 2, "config and file");
    assert_eq!(first.artifacts[0].blobs.bytes_uploaded, WASM.len() as u64 + 2, "the file and the `{{}}` config");
    let second = publish_with(&registry, &plan, &subject, &PublishOptions::default()).await.unwrap();
    let b = second.artifacts[0].blobs;
    assert_eq!((b.blobs_uploaded, b.bytes_uploaded, b.blobs_skipped), (0, 0, 2));
    assert_eq!(second.artifacts[0].manifest_digest, first.artifacts[0].manifest_digest);
}

/// An artifact in another repository mounts blobs the app image's repository holds, keeps the
/// app image as subject, and gets its fallback index in its own repository.
#[tokio::test]
async fn r_ref_5_other_repository_mounts_and_has_its_own_fallback_index() {
    let registry = require_registry!();
    let subject = seed_app_image(&registry, APP, &["1.0".to_string()]).await.unwrap();
    let layers = rfc_layers();
    let ctx = context(&registry, "1.0", &[], &subject);
    publish_with(&registry, &plan_of(layers.path(), &ctx), &subject, &PublishOptions::default()).await.unwrap();

    let elsewhere = tempfile::tempdir().unwrap();
    let toml = RFC_TOML.replace("tag=\"wasm\"", "tag=\"wasm\"\nrepository=\"team/modules\"");
    write_layer(elsewhere.path(), "examples_wasm", "wasm", &toml, &[("mywasmprogram.wasm", WASM)]);
    let report = publish_with(&registry, &plan_of(elsewhere.path(), &ctx), &subject, &PublishOptions::default()).await.unwrap();
    let a = &report.artifacts[0];
    assert_eq!(a.repository, "team/modules");
    assert_eq!((a.blobs.blobs_mounted, a.blobs.blobs_uploaded), (2, 0), "{:?}", a.blobs);
    let m = json_of(&fetch_manifest(&registry, "team/modules", "wasm").await.unwrap().bytes);
    assert_eq!(m["subject"]["digest"], subject.digest.as_str());
    let index = fetch_manifest(&registry, "team/modules", &subject.digest.referrers_tag()).await.unwrap();
    assert!(index.bytes.windows(a.manifest_digest.as_str().len()).any(|w| w == a.manifest_digest.as_str().as_bytes()));
    assert!(report.to_toml().contains("repository = \"team/modules\""));
    // R-PUSH-10: the app image is in the artifact's repository too, by digest, byte for byte,
    // with its blobs (mounted), and no tag of its own.
    let app_bytes = fetch_manifest(&registry, APP, "1.0").await.unwrap().bytes;
    assert_eq!(fetch_manifest(&registry, "team/modules", subject.digest.as_str()).await.unwrap().bytes, app_bytes);
    for blob_digest in blob_digests(&app_bytes) {
        assert_eq!(blob(&registry, "team/modules", &blob_digest).await, blob(&registry, APP, &blob_digest).await);
    }
    let mut expected = vec!["wasm".to_string(), subject.digest.referrers_tag()];
    expected.sort();
    assert_eq!(tags(&registry, "team/modules").await, expected);
}

/// The config and layer digests of an image manifest.
fn blob_digests(manifest: &[u8]) -> Vec<String> {
    let m = json_of(manifest);
    let layers = m["layers"].as_array().unwrap().iter().map(|l| l["digest"].as_str().unwrap().to_string());
    std::iter::once(m["config"]["digest"].as_str().unwrap().to_string()).chain(layers).collect()
}

/// An app image that is an index (a multi-platform image): its child manifests, their blobs
/// and the index itself are made present in another artifact repository, children first
/// (R-PUSH-10); publishing again finds it there.
#[tokio::test]
async fn r_push_10_index_subject_is_copied_into_the_artifact_repository() {
    let registry = require_registry!();
    let child = seed_app_image(&registry, APP, &["linux-amd64".to_string()]).await.unwrap();
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [{"mediaType": child.media_type, "digest": child.digest.as_str(), "size": child.size,
                       "platform": {"architecture": "amd64", "os": "linux"}}],
    }))
    .unwrap();
    let t = target(&registry).await;
    t.push_manifest(APP, ManifestRef::Tag("1.0"), OCI_INDEX, &index).await.unwrap();
    let subject = Subject { digest: Digest::of(&index), size: index.len() as u64, media_type: OCI_INDEX.to_string() };

    let layers = tempfile::tempdir().unwrap();
    let toml = RFC_TOML.replace("tag=\"wasm\"", "tag=\"wasm\"\nrepository=\"team/modules\"");
    write_layer(layers.path(), "examples_wasm", "wasm", &toml, &[("mywasmprogram.wasm", WASM)]);
    let plan = plan_of(layers.path(), &context(&registry, "1.0", &[], &subject));
    publish_with(&registry, &plan, &subject, &PublishOptions::default()).await.unwrap();

    assert_eq!(fetch_manifest(&registry, "team/modules", subject.digest.as_str()).await.unwrap().bytes, index);
    let child_bytes = fetch_manifest(&registry, APP, child.digest.as_str()).await.unwrap().bytes;
    assert_eq!(fetch_manifest(&registry, "team/modules", child.digest.as_str()).await.unwrap().bytes, child_bytes);
    for blob_digest in blob_digests(&child_bytes) {
        assert_eq!(blob(&registry, "team/modules", &blob_digest).await, blob(&registry, APP, &blob_digest).await);
    }
    let copied = cnb_artifacts_core::publish::subject_copy::copy_subject(&t, APP, "team/modules", &subject).await.unwrap();
    assert_eq!(copied, cnb_artifacts_core::publish::subject_copy::Copied::AlreadyThere);
    let same = cnb_artifacts_core::publish::subject_copy::copy_subject(&t, APP, APP, &subject).await.unwrap();
    assert_eq!(same, cnb_artifacts_core::publish::subject_copy::Copied::NotNeeded);
}

/// A tag holding something this tool did not publish is refused, unless overwriting; a tag
/// holding our own artifact moves (R-PUSH-5).
#[tokio::test]
async fn r_push_5_foreign_tag_is_refused_and_own_tag_moves() {
    let registry = require_registry!();
    let subject = seed_app_image(&registry, APP, &["1.0".to_string()]).await.unwrap();
    // Another image (the app image's manifest with an annotation) under the artifact's tag.
    let mut other = json_of(&fetch_manifest(&registry, APP, "1.0").await.unwrap().bytes);
    other["annotations"] = json!({ "org.example.other": "yes" });
    let other = serde_json::to_vec(&other).unwrap();
    target(&registry).await.push_manifest(APP, ManifestRef::Tag("wasm"), OCI_MANIFEST, &other).await.unwrap();
    let layers = rfc_layers();
    let plan = plan_of(layers.path(), &context(&registry, "1.0", &[], &subject));
    let err = publish_with(&registry, &plan, &subject, &PublishOptions::default()).await.unwrap_err();
    let PublishError::ForeignTags { tags: foreign } = &err else { panic!("expected ForeignTags, got {err}") };
    assert_eq!(foreign[0].reference, format!("{}/{APP}:wasm", registry.host));
    assert!(foreign[0].found.contains("OCI image manifest"), "{}", foreign[0].found);
    assert!(err.to_string().ends_with("pass --overwrite to replace them"), "{err}");
    assert_eq!(fetch_manifest(&registry, APP, "wasm").await.unwrap().digest, Digest::of(&other), "the tag is unchanged");
    let repo_tags = tags(&registry, APP).await;
    assert!(!repo_tags.contains(&subject.digest.referrers_tag()), "nothing was written: {repo_tags:?}");

    let opts = PublishOptions { overwrite: true, ..Default::default() };
    let first = publish_with(&registry, &plan, &subject, &opts).await.unwrap();
    assert_eq!(fetch_manifest(&registry, APP, "wasm").await.unwrap().digest, first.artifacts[0].manifest_digest);

    // A new build of the artifact moves our own tag without --overwrite.
    write_layer(layers.path(), "examples_wasm", "wasm", RFC_TOML, &[("mywasmprogram.wasm", b"\0asm version two")]);
    let plan = plan_of(layers.path(), &context(&registry, "1.0", &[], &subject));
    let second = publish_with(&registry, &plan, &subject, &PublishOptions::default()).await.unwrap();
    assert_ne!(second.artifacts[0].manifest_digest, first.artifacts[0].manifest_digest);
    assert_eq!(fetch_manifest(&registry, APP, "wasm").await.unwrap().digest, second.artifacts[0].manifest_digest);
}

/// The subject must be the app image (R-PUSH-3): an unknown digest, and a digest the tag does
/// not point to, are errors before anything is pushed.
#[tokio::test]
async fn r_push_3_subject_must_be_the_app_image() {
    let registry = require_registry!();
    let subject = seed_app_image(&registry, APP, &["1.0".to_string()]).await.unwrap();
    let layers = rfc_layers();

    let unknown = Subject { digest: Digest::of(b"not pushed"), ..subject.clone() };
    let plan = plan_of(layers.path(), &context(&registry, "1.0", &[], &unknown));
    let err = publish_with(&registry, &plan, &unknown, &PublishOptions::default()).await.unwrap_err();
    assert!(matches!(err, PublishError::AppImageMissing { .. }), "{err}");

    // A manifest that exists in the repository but is not what the tag points to.
    let report = publish_with(&registry, &plan_of(layers.path(), &context(&registry, "1.0", &[], &subject)), &subject, &Default::default())
        .await
        .unwrap();
    let a = &report.artifacts[0];
    let lie = Subject { digest: a.manifest_digest.clone(), size: a.manifest_size, media_type: OCI_MANIFEST.to_string() };
    let before = tags(&registry, APP).await;
    let plan = plan_of(layers.path(), &context(&registry, "1.0", &[], &lie));
    let err = publish_with(&registry, &plan, &lie, &PublishOptions::default()).await.unwrap_err();
    assert!(matches!(err, PublishError::SubjectDigestMismatch { .. }), "{err}");
    assert!(err.to_string().contains(subject.digest.as_str()), "names what the tag holds: {err}");
    assert_eq!(tags(&registry, APP).await, before);
}

/// A library user resolving the subject by tag gets the same check as the command line
/// (R-PUSH-3): a digest the context names must be the one the tag holds.
#[tokio::test]
async fn r_push_3_resolve_subject_checks_the_digest_the_context_names() {
    let registry = require_registry!();
    let subject = seed_app_image(&registry, APP, &["1.0".to_string()]).await.unwrap();
    let target = target(&registry).await;
    let mut ctx = context(&registry, "1.0", &[], &subject);
    assert_eq!(cnb_artifacts_core::publish::resolve_subject(&target, &ctx).await.unwrap(), subject);
    ctx.digest = None;
    assert_eq!(cnb_artifacts_core::publish::resolve_subject(&target, &ctx).await.unwrap(), subject);
    ctx.digest = Some(Digest::of(b"another image"));
    let err = cnb_artifacts_core::publish::resolve_subject(&target, &ctx).await.unwrap_err();
    assert!(matches!(err, PublishError::SubjectDigestMismatch { .. }), "{err}");
}

/// A file changed after planning fails the publish before any tag is set (R-PUSH-2, R-PUSH-4).
/// Same size, other bytes: the upload streams them (only the length is checked on the way),
/// the real registry refuses them for the planned digest, and the publisher, re-reading the
/// file, reports the change rather than a registry failure.
#[tokio::test]
async fn r_push_2_changed_file_leaves_tags_unchanged() {
    let registry = require_registry!();
    let subject = seed_app_image(&registry, APP, &["1.0".to_string()]).await.unwrap();
    let layers = rfc_layers();
    let plan = plan_of(layers.path(), &context(&registry, "1.0", &[], &subject));
    let before = tags(&registry, APP).await;
    let file = layers.path().join("examples_wasm/wasm/mywasmprogram.wasm");
    let mut changed = WASM.to_vec();
    changed[0] = b'X'; // same size, other bytes
    std::fs::write(&file, &changed).unwrap();
    let err = publish_with(&registry, &plan, &subject, &PublishOptions::default()).await.unwrap_err();
    let PublishError::BlobUpload { source, artifact, .. } = &err else { panic!("expected a failed upload, got {err}") };
    let TargetError::FileChanged { path, .. } = source.as_ref() else { panic!("expected a changed file, got {err}") };
    assert_eq!(path, &file);
    assert_eq!(artifact, "examples/wasm/wasm#0");
    assert_eq!(tags(&registry, APP).await, before);
    let changed_digest = Digest::of(&changed);
    let url = format!("{}/v2/{APP}/blobs/{changed_digest}", registry.url());
    assert_eq!(reqwest::get(&url).await.unwrap().status().as_u16(), 404, "the changed bytes were not committed");
}

/// A registry target whose manifest pushes by digest fail for one manifest: a rejection in step
/// (c), reported verbatim.
struct RejectingTarget {
    inner: RegistryTarget,
    reject: Digest,
}

impl Target for RejectingTarget {
    fn kind(&self) -> TargetKind {
        self.inner.kind()
    }
    fn describe(&self) -> String {
        self.inner.describe()
    }
    async fn fetch_manifest(&self, r: &str, m: ManifestRef<'_>) -> Result<Option<FetchedManifest>, TargetError> {
        self.inner.fetch_manifest(r, m).await
    }
    async fn blob_exists(&self, r: &str, d: &Digest) -> Result<bool, TargetError> {
        self.inner.blob_exists(r, d).await
    }
    async fn mount_blob(&self, r: &str, from: &str, d: &Digest) -> Result<bool, TargetError> {
        self.inner.mount_blob(r, from, d).await
    }
    async fn push_blob(&self, r: &str, d: &Digest, s: BlobSource<'_>, p: &BlobProgress) -> Result<(), TargetError> {
        self.inner.push_blob(r, d, s, p).await
    }
    async fn push_manifest(&self, r: &str, m: ManifestRef<'_>, t: &str, bytes: &[u8]) -> Result<(), TargetError> {
        if m == ManifestRef::Digest(&self.reject) {
            let detail = r#"{"errors":[{"code":"MANIFEST_INVALID","message":"manifest invalid"}]}"#.to_string();
            return Err(TargetError::Registry(RegistryFailure { status: Some(400), detail }));
        }
        self.inner.push_manifest(r, m, t, bytes).await
    }
    async fn record_referrers(
        &self,
        r: &str,
        s: &Subject,
        e: &[ReferrerEntry],
        mode: ReferrersMode,
    ) -> Result<ReferrersOutcome, PublishError> {
        self.inner.record_referrers(r, s, e, mode).await
    }
}

/// Two artifacts, the second's manifest rejected: the error names it and quotes the registry,
/// and neither artifact is tagged (R-PUSH-2).
#[tokio::test]
async fn r_push_2_rejected_manifest_leaves_every_tag_unchanged() {
    let registry = require_registry!();
    let subject = seed_app_image(&registry, APP, &["1.0".to_string()]).await.unwrap();
    let layers = tempfile::tempdir().unwrap();
    let toml = "[[additionalArtifact]]\nfile = \"a.wasm\"\ntag = \"a\"\n\n[[additionalArtifact]]\nfile = \"b.txt\"\ntag = \"b\"\n";
    write_layer(layers.path(), "acme_two", "two", toml, &[("a.wasm", WASM), ("b.txt", b"bee")]);
    let plan = plan_of(layers.path(), &context(&registry, "1.0", &[], &subject));
    let second = cnb_artifacts_core::manifest::build(&plan.artifacts[1], &subject).unwrap();
    let t = RejectingTarget { inner: target(&registry).await, reject: second.manifest_digest.clone() };
    let before = tags(&registry, APP).await;
    let err = publish(&plan, &subject, &PublishOptions::default(), &t).await.unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, PublishError::ManifestRejected { .. }), "{text}");
    assert!(text.contains("acme/two/two#1") || text.contains(&plan.artifacts[1].label()), "{text}");
    assert!(text.contains("HTTP 400") && text.contains("MANIFEST_INVALID"), "{text}");
    assert_eq!(tags(&registry, APP).await, before, "neither a nor b nor the fallback tag");
}

/// The layout target receives exactly the bytes the registry holds (R-PUSH-8).
#[tokio::test]
async fn r_push_8_layout_is_byte_identical_to_the_registry() {
    let registry = require_registry!();
    let subject = seed_app_image(&registry, APP, &["1.0".to_string()]).await.unwrap();
    let layers = tempfile::tempdir().unwrap();
    let toml = "[[additionalArtifact]]\nfile = \"a.wasm\"\ntag = \"a\"\ntype = \"wasm\"\n\n[[additionalArtifact]]\nfiles = [\"b.txt\", \"c.txt\"]\n";
    write_layer(layers.path(), "acme_two", "two", toml, &[("a.wasm", WASM), ("b.txt", b"bee"), ("c.txt", b"sea")]);
    let plan = plan_of(layers.path(), &context(&registry, "1.0", &[], &subject));
    let report = publish_with(&registry, &plan, &subject, &PublishOptions::default()).await.unwrap();

    let out = tempfile::tempdir().unwrap();
    let layout = LayoutTarget::open(out.path(), 4).unwrap();
    let layout_report = publish(&plan, &subject, &PublishOptions::default(), &layout).await.unwrap();
    assert_eq!(layout_report.artifacts[0].referrers, ReferrersUsed::Layout);

    for (a, la) in report.artifacts.iter().zip(&layout_report.artifacts) {
        assert_eq!(a.manifest_digest, la.manifest_digest);
        let in_registry = fetch_manifest(&registry, APP, a.manifest_digest.as_str()).await.unwrap().bytes;
        let in_layout = std::fs::read(out.path().join("blobs/sha256").join(a.manifest_digest.hex())).unwrap();
        assert_eq!(in_layout, in_registry, "{}", a.label);
        let m = json_of(&in_layout);
        let descriptors = std::iter::once(&m["config"]).chain(m["layers"].as_array().unwrap());
        for d in descriptors {
            let digest = d["digest"].as_str().unwrap();
            let file = std::fs::read(out.path().join("blobs/sha256").join(&digest["sha256:".len()..])).unwrap();
            assert_eq!(file, blob(&registry, APP, digest).await, "{digest}");
        }
    }
    let index = json_of(&std::fs::read(out.path().join("index.json")).unwrap());
    let entries: Vec<(Option<&str>, &str)> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["annotations"]["org.opencontainers.image.ref.name"].as_str(), e["digest"].as_str().unwrap()))
        .collect();
    assert_eq!(
        entries,
        [(None, report.artifacts[1].manifest_digest.as_str()), (Some("team/app:a"), report.artifacts[0].manifest_digest.as_str())],
        "the untagged artifact without a ref name first, then one entry per tag"
    );
    assert_eq!(std::fs::read(out.path().join("oci-layout")).unwrap(), br#"{"imageLayoutVersion":"1.0.0"}"#);
}

/// A file larger than the chunk size is streamed in many pieces and arrives intact.
#[tokio::test]
async fn r_push_4_large_file_is_streamed_in_chunks() {
    let registry = require_registry!();
    let subject = seed_app_image(&registry, APP, &["1.0".to_string()]).await.unwrap();
    let big: Vec<u8> = (0..3 * 1024 * 1024 + 7).map(|i: u32| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
    let layers = tempfile::tempdir().unwrap();
    write_layer(layers.path(), "acme_big", "big", "[additionalArtifact]\nfile = \"big.bin\"\ntag = \"big\"\n", &[("big.bin", &big)]);
    let plan = plan_of(layers.path(), &context(&registry, "1.0", &[], &subject));
    let opts = TransportOptions { chunk_size: 256 * 1024, ..TransportOptions::default() };
    let t = RegistryTarget::connect(&registry.host, &opts).await.unwrap();
    let report = publish(&plan, &subject, &PublishOptions::default(), &t).await.unwrap();
    assert_eq!(report.artifacts[0].blobs.bytes_uploaded, big.len() as u64 + 2);
    let digest = Digest::of(&big);
    assert_eq!(blob(&registry, APP, digest.as_str()).await, big);
}

/// A digest given without its manifest size (R-PUSH-3): the size and media type are read from
/// the registry by digest, not from the tag; an unknown digest is named as missing.
#[tokio::test]
async fn r_push_3_a_digest_without_size_is_resolved_by_digest() {
    let registry = require_registry!();
    let subject = seed_app_image(&registry, APP, &["1.0".to_string()]).await.unwrap();
    let image: cnb_artifacts_core::reference::ImageRef = format!("{}/{APP}:1.0", registry.host).parse().unwrap();
    let target = target(&registry).await;
    let found = cnb_artifacts_core::publish::resolve_subject_by_digest(&target, &image, &subject.digest).await.unwrap();
    assert_eq!(found, subject);
    let err = cnb_artifacts_core::publish::resolve_subject_by_digest(&target, &image, &Digest::of(b"not pushed")).await.unwrap_err();
    assert!(matches!(err, PublishError::AppImageMissing { .. }), "{err}");
}

/// A declared tag that holds the app image itself (a tag of it the publisher was not told
/// about) is refused even with --overwrite, and the error says what the tag holds and advises
/// renaming the artifact's tag (R-PUSH-5).
#[tokio::test]
async fn r_push_5_a_tag_holding_the_app_image_is_refused_even_with_overwrite() {
    let registry = require_registry!();
    let subject = seed_app_image(&registry, APP, &["1.0".to_string(), "wasm".to_string()]).await.unwrap();
    let layers = rfc_layers();
    let plan = plan_of(layers.path(), &context(&registry, "1.0", &[], &subject));
    let before = tags(&registry, APP).await;
    for overwrite in [false, true] {
        let opts = PublishOptions { overwrite, ..Default::default() };
        let err = publish_with(&registry, &plan, &subject, &opts).await.unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, PublishError::ForeignTags { .. }), "{text}");
        assert!(
            text.contains(&format!("{}/{APP}:wasm (wanted by examples/wasm/wasm#0) holds the app image itself", registry.host)),
            "{text}"
        );
        assert!(text.contains("rename the artifact's tag"), "{text}");
        assert!(!text.contains("pass --overwrite"), "{text}");
    }
    assert_eq!(tags(&registry, APP).await, before);
}
