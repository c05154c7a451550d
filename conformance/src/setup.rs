//! State the registry holds before a case's implementation runs, pushed by the runner itself:
//! foreign images under tags the build wants (R-PUSH-5: an implementation must not overwrite
//! them unless told to) and referrers of the app image written by another tool into a
//! fallback index (R-REF-4: an implementation must keep them). Earlier publishes by the
//! implementation under test are run by [`super::runner`].
//!
//! Everything pushed here is deterministic, so the same case sees the same digests every run.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::case::{Case, ForeignReferrer};
use super::registry_view::{RegistryView, ViewError};
use cnb_artifacts_core::canonical;
use cnb_artifacts_core::media_types::{ANNOTATION_LAYER, OCI_EMPTY, OCI_INDEX, OCI_MANIFEST};
use cnb_artifacts_core::plan::Subject;
use cnb_artifacts_core::reference::Digest;

/// Stands for `sha256-<subject hex>` in a foreign image's tag.
pub const REFERRERS_TAG_TOKEN: &str = "@@REFERRERS_TAG@@";

const IMAGE_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";

/// Pushes the foreign images and foreign referrers of `case` into `namespace`; returns one
/// line per thing pushed, for the report.
pub async fn apply(view: &RegistryView, case: &Case, namespace: &str, subject: &Subject) -> Result<Vec<String>, ViewError> {
    let mut done = Vec::new();
    for image in &case.setup.foreign_images {
        let repo = format!("{namespace}/{}", case.repository(image.repository.as_deref()));
        let tag = image.tag.replace(REFERRERS_TAG_TOKEN, &subject.digest.referrers_tag());
        let digest = push_foreign_image(view, &repo, &tag, image.spec_artifact).await?;
        done.push(format!("foreign image {repo}:{tag} = {digest}"));
    }
    let mut by_repo: BTreeMap<String, Vec<&ForeignReferrer>> = BTreeMap::new();
    for r in &case.setup.foreign_referrers {
        let repo = format!("{namespace}/{}", case.repository(r.repository.as_deref()));
        by_repo.entry(repo).or_default().push(r);
    }
    for (repo, referrers) in by_repo {
        let mut entries = Vec::new();
        for r in referrers {
            let entry = push_foreign_referrer(view, &repo, &r.artifact_type, subject).await?;
            let second = r.duplicate.then(|| {
                let mut second = entry.clone();
                second["annotations"] = json!({"com.example.tool": "another-tool", "com.example.copy": "second"});
                second
            });
            entries.push(entry_text(&entry, r.raw_members.as_deref()));
            entries.extend(second.map(|s| entry_text(&s, None)));
        }
        // Written the way another tool might: pretty-printed, entries in push order, and a
        // top-level annotation of its own (R-REF-4 keeps all of it).
        let index = json!({
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [],
            "annotations": {"com.example.written-by": "another-tool"},
        });
        let text = serde_json::to_string_pretty(&index).unwrap_or_default();
        let bytes = text.replacen("\"manifests\": []", &format!("\"manifests\": [\n{}\n  ]", entries.join(",\n")), 1).into_bytes();
        let tag = subject.digest.referrers_tag();
        let digest = view.push_manifest(&repo, &tag, OCI_INDEX, &bytes).await?;
        done.push(format!("foreign fallback index {repo}:{tag} = {digest}"));
    }
    Ok(done)
}

/// The text of one index entry, pretty-printed, with `raw_members` (JSON text, possibly not
/// I-JSON) added after its last member.
fn entry_text(entry: &Value, raw_members: Option<&str>) -> String {
    let text = serde_json::to_string_pretty(entry).unwrap_or_default();
    match raw_members {
        Some(raw) => format!("{},\n  {raw}\n}}", text.trim_end().trim_end_matches('}').trim_end()),
        None => text,
    }
}

/// A small OCI image (not an artifact of this spec unless `spec_artifact`) whose content
/// depends only on `tag`.
async fn push_foreign_image(view: &RegistryView, repo: &str, tag: &str, spec_artifact: bool) -> Result<Digest, ViewError> {
    let layer = format!("foreign image for tag {tag}\n").into_bytes();
    let layer_digest = view.push_blob(repo, &layer).await?;
    let config = canonical_bytes(&json!({
        "architecture": "amd64",
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [layer_digest.to_string()]},
    }));
    let config_digest = view.push_blob(repo, &config).await?;
    let mut manifest = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": IMAGE_CONFIG, "digest": config_digest.to_string(), "size": config.len()},
        "layers": [{"mediaType": LAYER_TAR, "digest": layer_digest.to_string(), "size": layer.len()}],
    });
    if spec_artifact {
        manifest["annotations"] = json!({ ANNOTATION_LAYER: "earlier" });
    }
    view.push_manifest(repo, tag, OCI_MANIFEST, &canonical_bytes(&manifest)).await
}

/// An artifact of type `artifact_type` naming `subject`, pushed by digest; returns its
/// referrers index entry.
async fn push_foreign_referrer(view: &RegistryView, repo: &str, artifact_type: &str, subject: &Subject) -> Result<Value, ViewError> {
    let empty = view.push_blob(repo, b"{}").await?;
    let content = format!("written by another tool: {artifact_type}\n").into_bytes();
    let content_digest = view.push_blob(repo, &content).await?;
    let annotations = json!({"com.example.tool": "another-tool"});
    let manifest = canonical_bytes(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": artifact_type,
        "config": {"mediaType": OCI_EMPTY, "digest": empty.to_string(), "size": 2},
        "layers": [{"mediaType": "application/octet-stream", "digest": content_digest.to_string(), "size": content.len()}],
        "subject": subject,
        "annotations": annotations,
    }));
    let digest = Digest::of(&manifest);
    view.push_manifest(repo, digest.as_str(), OCI_MANIFEST, &manifest).await?;
    Ok(json!({
        "mediaType": OCI_MANIFEST,
        "digest": digest.to_string(),
        "size": manifest.len(),
        "artifactType": artifact_type,
        "annotations": annotations,
    }))
}

fn canonical_bytes(value: &Value) -> Vec<u8> {
    // These values hold only strings and integers, which canonical JSON always represents.
    canonical::to_vec(value).unwrap_or_default()
}
