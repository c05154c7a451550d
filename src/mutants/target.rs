//! Mutations of what a publish sends and reads: a [`Target`] wrapped around the real one
//! ([`crate::cli::Seams::target`]). The publisher drives it exactly as the real target; the
//! wrapper changes the order of writes, what reads answer, or the fallback index it finds.

use std::sync::atomic::{AtomicBool, Ordering};

use cnb_artifacts_core::canonical;
use cnb_artifacts_core::media_types::{ANNOTATION_LAYER, OCI_INDEX, OCI_MANIFEST};
use cnb_artifacts_core::mutants::{active, Mutant};
use cnb_artifacts_core::plan::{Plan, Subject};
use cnb_artifacts_core::publish::progress::BlobProgress;
use cnb_artifacts_core::publish::referrers::{ReferrerEntry, ReferrersMode, ReferrersOutcome};
use cnb_artifacts_core::publish::target::{BlobSource, FetchedManifest, ManifestRef, StagedBlob, TargetKind};
use cnb_artifacts_core::publish::{PublishError, Target, TargetError};
use cnb_artifacts_core::reference::Digest;
use serde_json::Value;

/// The real target `inner`, publishing `plan`, with the armed mutant's changes.
pub struct MutantTarget<'a, T> {
    inner: T,
    plan: &'a Plan,
    seams: &'a dyn cnb_artifacts_core::plan::Seams,
    /// Set by the first write: the preflight checks are over.
    wrote: AtomicBool,
    /// Set once [`Mutant::TagsBeforeReferrers`] has set the tags.
    tagged: AtomicBool,
}

impl<'a, T: Target> MutantTarget<'a, T> {
    pub fn new(inner: T, plan: &'a Plan, seams: &'a dyn cnb_artifacts_core::plan::Seams) -> Self {
        MutantTarget { inner, plan, seams, wrote: AtomicBool::new(false), tagged: AtomicBool::new(false) }
    }

    fn write(&self) {
        self.wrote.store(true, Ordering::SeqCst);
    }

    /// What a read answers instead of asking the target, if anything.
    fn fake_read(&self, repository: &str, reference: ManifestRef<'_>) -> Option<FetchedManifest> {
        let context = &self.plan.context;
        let subject = context.subject()?;
        let app_repository = repository == context.image.repository;
        let is_subject = match reference {
            ManifestRef::Digest(d) => d == &subject.digest,
            ManifestRef::Tag(t) => app_repository && context.image.tag.as_deref() == Some(t),
        };
        let as_described = || FetchedManifest {
            bytes: vec![b' '; usize::try_from(subject.size).unwrap_or(0)],
            digest: subject.digest.clone(),
            media_type: Some(subject.media_type.clone()),
        };
        // R-PUSH-3: the app image is taken to be what the build context says, unread.
        if active(Mutant::NoSubjectCheck) && app_repository && is_subject && !self.wrote.load(Ordering::SeqCst) {
            return Some(as_described());
        }
        // R-PUSH-10: every other repository is taken to hold the app image already.
        if active(Mutant::NoSubjectCopy) && !app_repository && is_subject {
            return Some(as_described());
        }
        None
    }

    /// Before the referrers of `repository` are recorded.
    async fn before_referrers(&self, repository: &str, subject: &Subject, mode: ReferrersMode) -> Result<(), PublishError> {
        if active(Mutant::TagsBeforeReferrers) && !self.tagged.swap(true, Ordering::SeqCst) {
            self.push_every_tag(subject).await?;
        }
        if mode != ReferrersMode::Api && (active(Mutant::FallbackDropsEntries) || active(Mutant::KeepsLastDuplicate)) {
            self.rewrite_fallback(repository, subject).await?;
        }
        Ok(())
    }

    /// R-PUSH-1: every tag of the plan, set now, before any referrers index.
    async fn push_every_tag(&self, subject: &Subject) -> Result<(), PublishError> {
        for artifact in &self.plan.artifacts {
            let built = cnb_artifacts_core::manifest::build_with(artifact, subject, self.seams)
                .map_err(|source| PublishError::ManifestBuild { artifact: artifact.label(), source })?;
            for tag in &artifact.tags {
                let pushed =
                    self.inner.push_manifest(&artifact.repository, ManifestRef::Tag(tag), OCI_MANIFEST, &built.manifest_bytes).await;
                pushed.map_err(|source| PublishError::TagRejected {
                    artifact: artifact.label(),
                    reference: format!("{}:{tag}", artifact.name()),
                    source: Box::new(source),
                    already_tagged: Vec::new(),
                })?;
            }
        }
        Ok(())
    }

    /// R-REF-4: the existing fallback index emptied ([`Mutant::FallbackDropsEntries`]), or
    /// rid of all but the last of entries with one digest ([`Mutant::KeepsLastDuplicate`]),
    /// before the real merge reads it.
    async fn rewrite_fallback(&self, repository: &str, subject: &Subject) -> Result<(), PublishError> {
        let tag = subject.digest.referrers_tag();
        let unreadable =
            |source: TargetError| PublishError::TagCheckFailed { reference: format!("{repository}:{tag}"), source: Box::new(source) };
        let Some(existing) = self.inner.fetch_manifest(repository, ManifestRef::Tag(&tag)).await.map_err(unreadable)? else {
            return Ok(());
        };
        let Ok(Value::Object(mut index)) = serde_json::from_slice::<Value>(&existing.bytes) else { return Ok(()) };
        if existing.media_type.as_deref() != Some(OCI_INDEX) {
            return Ok(());
        }
        let Some(Value::Array(entries)) = index.get_mut("manifests") else { return Ok(()) };
        if active(Mutant::FallbackDropsEntries) {
            entries.clear();
        } else {
            let digest = |e: &Value| e.get("digest").and_then(Value::as_str).map(str::to_string);
            let all: Vec<Option<String>> = entries.iter().map(digest).collect();
            let mut i = 0;
            entries.retain(|e| {
                i += 1;
                let d = digest(e);
                d.is_none() || !all[i..].contains(&d)
            });
        }
        let Ok(bytes) = canonical::to_vec(&Value::Object(index)) else { return Ok(()) };
        self.inner.push_manifest(repository, ManifestRef::Tag(&tag), OCI_INDEX, &bytes).await.map_err(unreadable)
    }
}

/// [`Mutant::OwnArtifactsAsForeign`]: a manifest read by tag, with the annotation that makes it
/// ours removed from its bytes (its digest kept, so a tag already holding the new manifest is
/// still recognised).
fn as_foreign(m: FetchedManifest) -> FetchedManifest {
    let Ok(mut value) = serde_json::from_slice::<Value>(&m.bytes) else { return m };
    if let Some(annotations) = value.get_mut("annotations").and_then(Value::as_object_mut) {
        annotations.remove(ANNOTATION_LAYER);
    }
    match serde_json::to_vec(&value) {
        Ok(bytes) => FetchedManifest { bytes, ..m },
        Err(_) => m,
    }
}

impl<T: Target> Target for MutantTarget<'_, T> {
    fn kind(&self) -> TargetKind {
        self.inner.kind()
    }

    fn describe(&self) -> String {
        self.inner.describe()
    }

    async fn fetch_manifest(&self, repository: &str, reference: ManifestRef<'_>) -> Result<Option<FetchedManifest>, TargetError> {
        if let Some(fake) = self.fake_read(repository, reference) {
            return Ok(Some(fake));
        }
        let fetched = self.inner.fetch_manifest(repository, reference).await?;
        Ok(match reference {
            ManifestRef::Tag(_) if active(Mutant::OwnArtifactsAsForeign) => fetched.map(as_foreign),
            _ => fetched,
        })
    }

    async fn blob_exists(&self, repository: &str, digest: &Digest) -> Result<bool, TargetError> {
        self.inner.blob_exists(repository, digest).await
    }

    async fn mount_blob(&self, repository: &str, from: &str, digest: &Digest) -> Result<bool, TargetError> {
        self.write();
        self.inner.mount_blob(repository, from, digest).await
    }

    async fn push_blob(
        &self,
        repository: &str,
        digest: &Digest,
        source: BlobSource<'_>,
        progress: &BlobProgress,
    ) -> Result<(), TargetError> {
        self.write();
        self.inner.push_blob(repository, digest, source, progress).await
    }

    async fn stage_file(
        &self,
        repository: &str,
        source: BlobSource<'_>,
        progress: &BlobProgress,
    ) -> Result<Option<StagedBlob>, TargetError> {
        self.write();
        self.inner.stage_file(repository, source, progress).await
    }

    async fn commit_staged(&self, staged: &StagedBlob) -> Result<(), TargetError> {
        self.write();
        self.inner.commit_staged(staged).await
    }

    async fn cancel_staged(&self, staged: &StagedBlob) -> Result<(), TargetError> {
        self.inner.cancel_staged(staged).await
    }

    async fn push_manifest(&self, repository: &str, reference: ManifestRef<'_>, media_type: &str, bytes: &[u8]) -> Result<(), TargetError> {
        self.write();
        self.inner.push_manifest(repository, reference, media_type, bytes).await
    }

    async fn record_referrers(
        &self,
        repository: &str,
        subject: &Subject,
        entries: &[ReferrerEntry],
        mode: ReferrersMode,
    ) -> Result<ReferrersOutcome, PublishError> {
        self.write();
        self.before_referrers(repository, subject, mode).await?;
        self.inner.record_referrers(repository, subject, entries, mode).await
    }
}
