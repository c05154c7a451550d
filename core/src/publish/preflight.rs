//! The checks made before anything is pushed (spec rules R-PUSH-3 and R-PUSH-5): the app image
//! exists and is the subject, and every tag to set is free or holds an artifact published this
//! way.
//!
//! A manifest is *ours* when it is an OCI image manifest (`mediaType`
//! `application/vnd.oci.image.manifest.v1+json`) whose `annotations` carry
//! `io.buildpacks.artifact.layer`: every manifest this spec publishes has it (R-LABEL-*), and
//! nothing else is expected to.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::manifest::BuiltArtifact;
use crate::media_types::{
    ANNOTATION_LAYER, ANNOTATION_TITLE, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_INDEX, OCI_MANIFEST, SUBJECT_MEDIA_TYPES,
};
use crate::plan::{BuildContext, Plan, PlannedArtifact, Subject};
use crate::publish::error::{ForeignTag, PublishError};
use crate::publish::target::{FetchedManifest, ManifestRef, Target, TargetKind};
use crate::reference::{Digest, ImageRef};

/// True when `m` is an artifact manifest published under this spec (see the module docs).
pub fn is_ours(m: &FetchedManifest) -> bool {
    let Ok(v) = serde_json::from_slice::<Value>(&m.bytes) else {
        return false;
    };
    v.get("mediaType").and_then(Value::as_str) == Some(OCI_MANIFEST)
        && v.get("annotations").and_then(|a| a.get(ANNOTATION_LAYER)).is_some_and(Value::is_string)
}

/// A short description of what a manifest is, for error messages.
pub fn describe(m: &FetchedManifest) -> String {
    let v: Value = serde_json::from_slice(&m.bytes).unwrap_or(Value::Null);
    let artifact_type = v.get("artifactType").and_then(Value::as_str);
    let d = &m.digest;
    match (m.media_type.as_deref(), artifact_type) {
        (Some(OCI_MANIFEST), _) if is_ours(m) => {
            format!("an artifact published by cnb-artifacts ({d})")
        }
        (Some(OCI_MANIFEST), Some(t)) => {
            format!("an OCI artifact of type {t} ({d}) without the {ANNOTATION_LAYER} annotation")
        }
        (Some(OCI_MANIFEST), None) => {
            format!("an OCI image manifest ({d}) without the {ANNOTATION_LAYER} annotation")
        }
        (Some(OCI_INDEX), _) => format!("an OCI image index ({d})"),
        (Some(DOCKER_MANIFEST), _) => format!("a Docker image manifest ({d})"),
        (Some(DOCKER_MANIFEST_LIST), _) => format!("a Docker manifest list ({d})"),
        (Some(other), _) => format!("a manifest of media type {other} ({d})"),
        (None, _) => format!("a manifest without a media type ({d})"),
    }
}

/// The subject descriptor of the build's app image as the target holds it under its tag (R-PUSH-3),
/// for callers that were given no full descriptor. A digest the context does name must be the
/// one the tag holds: a mismatch is [`PublishError::SubjectDigestMismatch`], never a silent switch
/// to the other image. When the tag does not exist (an OCI image layout holding only the app
/// image's manifest, or a registry where only the digest was pushed), the digest is read by
/// itself ([`resolve_subject_by_digest`]): its size is then known, or said to be missing.
pub async fn resolve_subject(target: &impl Target, context: &BuildContext) -> Result<Subject, PublishError> {
    let tagged = match resolve_tag(target, &context.image).await {
        Ok(found) => Some(found),
        Err(PublishError::AppImageTagMissing { .. }) if context.digest.is_some() => None,
        Err(e) => return Err(e),
    };
    let Some(expected) = &context.digest else {
        return tagged.ok_or_else(|| PublishError::AppImageTagMissing { reference: context.image.to_string() });
    };
    match tagged {
        Some(found) if &found.digest != expected => Err(PublishError::SubjectDigestMismatch {
            reference: context.image.to_string(),
            expected: expected.clone(),
            found: found.digest.to_string(),
        }),
        Some(found) => Ok(found),
        None => resolve_subject_by_digest(target, &context.image, expected).await,
    }
}

/// The subject descriptor of what `image`'s tag holds.
async fn resolve_tag(target: &impl Target, image: &ImageRef) -> Result<Subject, PublishError> {
    let tag = image.tag.as_deref().unwrap_or("latest");
    let reference = format!("{}:{tag}", image.name());
    let fetched = target
        .fetch_manifest(&image.repository, ManifestRef::Tag(tag))
        .await
        .map_err(|source| PublishError::AppImageUnreadable { reference: reference.clone(), source: Box::new(source) })?;
    let Some(m) = fetched else {
        return Err(PublishError::AppImageTagMissing { reference });
    };
    subject_of(reference, m.digest.clone(), &m)
}

/// The subject descriptor of the app image manifest `m` read as `reference`: its `mediaType`
/// member (an OCI image manifest when it has none) must be one of R-MAN-6's (R-CTX-2).
fn subject_of(reference: String, digest: Digest, m: &FetchedManifest) -> Result<Subject, PublishError> {
    let media_type = m.media_type.clone().unwrap_or_else(|| OCI_MANIFEST.to_string());
    if !SUBJECT_MEDIA_TYPES.contains(&media_type.as_str()) {
        return Err(PublishError::SubjectMediaType { reference, media_type: crate::display::text(&media_type).to_string() });
    }
    Ok(Subject { digest, size: m.bytes.len() as u64, media_type })
}

/// The subject descriptor of the app image manifest `digest` given without its size
/// (R-PUSH-3): read from the target by digest. A registry without it is
/// [`PublishError::AppImageMissing`]; a layout without it cannot tell the size
/// ([`PublishError::SubjectSizeUnknown`]).
pub async fn resolve_subject_by_digest(target: &impl Target, image: &ImageRef, digest: &Digest) -> Result<Subject, PublishError> {
    let reference = format!("{}@{digest}", image.name());
    let fetched = target
        .fetch_manifest(&image.repository, ManifestRef::Digest(digest))
        .await
        .map_err(|source| PublishError::AppImageUnreadable { reference: reference.clone(), source: Box::new(source) })?;
    match fetched {
        Some(m) => subject_of(reference, digest.clone(), &m),
        None if target.kind() == TargetKind::Layout => Err(PublishError::SubjectSizeUnknown { digest: digest.clone() }),
        None => Err(PublishError::AppImageMissing { image: image.to_string(), digest: digest.clone() }),
    }
}

/// R-PUSH-3: the app image exists by digest with the subject's size and media type, and its
/// tag (when the reference has one) points to it. A layout that does not hold the app image is
/// accepted with a warning (the layout may hold only the artifacts).
///
/// Returns the app image's manifest as read by digest (`None` from a layout without it), which
/// the subject copy (R-PUSH-10) pushes without reading it again.
pub async fn check_subject(target: &impl Target, image: &ImageRef, subject: &Subject) -> Result<Option<FetchedManifest>, PublishError> {
    let by_digest = format!("{}@{}", image.name(), subject.digest);
    let unreadable = |reference: &str| {
        let reference = reference.to_string();
        move |source| PublishError::AppImageUnreadable { reference, source: Box::new(source) }
    };
    let fetched = target.fetch_manifest(&image.repository, ManifestRef::Digest(&subject.digest)).await.map_err(unreadable(&by_digest))?;
    let Some(m) = fetched else {
        if target.kind() == TargetKind::Layout {
            tracing::warn!("the layout does not hold the app image {by_digest}; publishing the artifacts without checking it");
            return Ok(None);
        }
        return Err(PublishError::AppImageMissing { image: image.to_string(), digest: subject.digest.clone() });
    };
    let found_type = m.media_type.as_deref().unwrap_or(&subject.media_type);
    if m.bytes.len() as u64 != subject.size || found_type != subject.media_type {
        return Err(PublishError::SubjectDescriptorMismatch {
            reference: by_digest,
            expected: format!("{} bytes of {}", subject.size, subject.media_type),
            found: format!("{} bytes of {found_type}", m.bytes.len()),
        });
    }
    let Some(tag) = &image.tag else { return Ok(Some(m)) };
    let by_tag = format!("{}:{tag}", image.name());
    let found = target.fetch_manifest(&image.repository, ManifestRef::Tag(tag)).await.map_err(unreadable(&by_tag))?;
    match found {
        Some(t) if t.digest == subject.digest => Ok(Some(m)),
        Some(t) => {
            Err(PublishError::SubjectDigestMismatch { reference: by_tag, expected: subject.digest.clone(), found: t.digest.to_string() })
        }
        None => Err(PublishError::SubjectDigestMismatch {
            reference: by_tag,
            expected: subject.digest.clone(),
            found: "nothing (the tag does not exist)".to_string(),
        }),
    }
}

/// What step 1 read of the tags to set (R-PUSH-5): the manifest each existing tag holds, by
/// artifact (its index in the plan).
#[derive(Debug, Default)]
pub struct TagReads {
    read: Vec<(usize, String, FetchedManifest)>,
}

impl TagReads {
    /// The references that already hold their artifact's manifest: the tagging step skips
    /// them, so re-publishing an unchanged build writes no tag (and works on registries with
    /// immutable tags), and an artifact whose every tag is among them needs no blob and no
    /// manifest pushed.
    pub fn already_tagged(&self, built: &[BuiltArtifact]) -> BTreeSet<String> {
        let mut current = BTreeSet::new();
        for (i, reference, m) in &self.read {
            if m.digest == built[*i].manifest_digest {
                tracing::info!("{reference} already holds {}", m.digest);
                current.insert(reference.clone());
            }
        }
        current
    }

    /// Whether a tag of artifact `i` holds a manifest with a layer of `size` bytes titled
    /// `title`: most likely the same file, published before (R-PUSH-11).
    pub fn holds_layer(&self, i: usize, title: &str, size: u64) -> bool {
        self.read.iter().filter(|(j, _, _)| *j == i).any(|(_, _, m)| {
            let Ok(v) = serde_json::from_slice::<Value>(&m.bytes) else { return false };
            v.get("layers").and_then(Value::as_array).is_some_and(|layers| {
                layers.iter().any(|l| {
                    l.get("size").and_then(Value::as_u64) == Some(size)
                        && l.get("annotations").and_then(|a| a.get(ANNOTATION_TITLE)).and_then(Value::as_str) == Some(title)
                })
            })
        })
    }
}

/// R-PUSH-5: every tag to set is free, already holds our manifest, or holds an artifact
/// published this way (which is then moved). Tags holding anything else are all reported in one
/// error, unless `overwrite`. `built`: the manifests to push, when their digests are known; a
/// tag that holds one of them is not foreign even if it did not look like ours. Without them
/// (digests left to the upload, R-PUSH-11), a manifest that is ours is not foreign either, which
/// comes to the same for every manifest this tool builds.
///
/// The tags of each repository are listed once (`GET /v2/<repository>/tags/list`) when the
/// target can: a tag the listing does not name does not exist, and only the tags it names are
/// read.
pub async fn read_tags(
    target: &impl Target,
    plan: &Plan,
    built: Option<&[BuiltArtifact]>,
    subject: &Subject,
    overwrite: bool,
    jobs: usize,
) -> Result<TagReads, PublishError> {
    // The tags of each repository, listed once, `jobs` repositories at a time.
    let mut first_of: BTreeMap<&str, &PlannedArtifact> = BTreeMap::new();
    for artifact in &plan.artifacts {
        first_of.entry(artifact.repository.as_str()).or_insert(artifact);
    }
    let listed = crate::publish::jobs::in_order(&first_of, jobs, |(repository, artifact)| async move {
        let wanted: BTreeSet<&str> =
            plan.artifacts.iter().filter(|a| a.repository == *repository).flat_map(|a| a.tags.iter().map(String::as_str)).collect();
        let tags = target.list_tags(repository, &wanted).await.map_err(|source| PublishError::TagCheckFailed {
            reference: artifact.tags.first().map_or_else(|| artifact.name(), |tag| format!("{}:{tag}", artifact.name())),
            source: Box::new(source),
        })?;
        Ok::<_, PublishError>((*repository, tags))
    })
    .await?;
    let listed: BTreeMap<&str, Option<BTreeSet<String>>> = listed.into_iter().collect();

    // Every tag the listing does not rule out, read `jobs` at a time, judged in plan order.
    // Collected first: a lazy iterator held across the awaits would keep the future from being `Send`.
    let to_read: Vec<(usize, &PlannedArtifact, &String)> = plan
        .artifacts
        .iter()
        .enumerate()
        .flat_map(|(i, artifact)| artifact.tags.iter().map(move |tag| (i, artifact, tag)))
        .filter(|(_, artifact, tag)| listed[artifact.repository.as_str()].as_ref().is_none_or(|tags| tags.contains(*tag)))
        .collect();
    let read = crate::publish::jobs::in_order(to_read, jobs, |(i, artifact, tag)| async move {
        let reference = format!("{}:{tag}", artifact.name());
        let existing = target
            .fetch_manifest(&artifact.repository, ManifestRef::Tag(tag))
            .await
            .map_err(|source| PublishError::TagCheckFailed { reference: reference.clone(), source: Box::new(source) })?;
        Ok::<_, PublishError>(existing.map(|m| (i, reference, m)))
    })
    .await?;

    let reads = TagReads { read: read.into_iter().flatten().collect() };
    let mut foreign = Vec::new();
    for (i, reference, m) in &reads.read {
        let artifact = &plan.artifacts[*i];
        let to_push = built.map(|b| &b[*i].manifest_digest);
        if to_push == Some(&m.digest) {
            continue;
        } else if is_ours(m) {
            match to_push {
                Some(d) => tracing::info!("{reference} moves from {} to {d}", m.digest),
                None => tracing::info!("{reference} holds {}, published this way", m.digest),
            }
        } else if m.digest == subject.digest {
            // Even --overwrite does not take the app image's own tag (R-PUSH-5).
            foreign.push(ForeignTag {
                reference: reference.clone(),
                found: describe(m),
                artifact: artifact.label(),
                holds_app_image: true,
            });
        } else if overwrite {
            tracing::warn!("{reference} holds {}; replacing it (--overwrite)", describe(m));
        } else {
            foreign.push(ForeignTag {
                reference: reference.clone(),
                found: describe(m),
                artifact: artifact.label(),
                holds_app_image: false,
            });
        }
    }
    if foreign.is_empty() {
        Ok(reads)
    } else {
        Err(PublishError::ForeignTags { tags: foreign })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// R-PUSH-11: a tag of the artifact holding a layer of the file's title and size says the
    /// file was most likely published before; another title, size or artifact does not.
    #[test]
    fn r_push_11_a_layer_of_the_same_title_and_size_at_a_tag_of_the_artifact_counts_as_published() {
        let manifest = |title: &str, size: u64| {
            let layer = serde_json::json!({"digest": Digest::of(b"x"), "size": size, "annotations": {ANNOTATION_TITLE: title}});
            FetchedManifest::new(serde_json::to_vec(&serde_json::json!({"mediaType": OCI_MANIFEST, "layers": [layer]})).unwrap())
        };
        let reads = TagReads { read: vec![(0, "r/app:a".into(), manifest("a.bin", 10)), (1, "r/app:b".into(), manifest("b.bin", 20))] };
        assert!(reads.holds_layer(0, "a.bin", 10));
        assert!(!reads.holds_layer(0, "a.bin", 11), "another size");
        assert!(!reads.holds_layer(0, "c.bin", 10), "another title");
        assert!(!reads.holds_layer(0, "b.bin", 20), "another artifact's tag");
        assert!(!reads.holds_layer(2, "a.bin", 10), "an artifact without tags read");
    }

    /// R-CTX-2, R-MAN-6: a subject read from the target has one of the four subject media
    /// types; an image manifest without `mediaType` is an OCI one; anything else is refused.
    #[test]
    fn r_ctx_2_a_subject_read_from_the_target_has_a_subject_media_type() {
        let subject =
            |json: &str| subject_of("r/app:1".into(), Digest::of(json.as_bytes()), &FetchedManifest::new(json.as_bytes().to_vec()));
        for media_type in SUBJECT_MEDIA_TYPES {
            assert_eq!(subject(&format!(r#"{{"mediaType":"{media_type}"}}"#)).unwrap().media_type, media_type);
        }
        assert_eq!(subject(r#"{"schemaVersion":2,"config":{},"layers":[]}"#).unwrap().media_type, OCI_MANIFEST);
        let err = subject(r#"{"mediaType":"application/vnd.example.thing+json"}"#).unwrap_err();
        assert!(matches!(err, PublishError::SubjectMediaType { .. }), "{err}");
        assert!(err.to_string().contains("r/app:1 is a application/vnd.example.thing+json"), "{err}");
    }
}
