//! Step (b) of R-PUSH-1: every blob of every artifact, before any manifest (spec rules R-PUSH-1
//! and R-PUSH-4).
//!
//! For each blob and target repository: a blob already handled in this run, or present in the
//! repository (`HEAD`), is skipped and its bytes counted as skipped; otherwise, when the
//! repository is not the app image's, the upload session is opened asking for a mount from the
//! app image's repository (`POST …?mount=&from=`, no `HEAD` there first), and the bytes are
//! sent only when the registry did not mount; otherwise it is uploaded: config blobs from
//! memory, files streamed from disk and checked against their planned digest and size on the
//! way. Artifacts whose every tag already holds their manifest (`skip`) need no blob: the
//! registry holds their manifest, so it holds its blobs. A file already sent to an upload
//! session in one pass (R-PUSH-11, `single_pass`) is completed there, or the session is
//! cancelled when the `HEAD` finds the blob.

use std::collections::BTreeSet;

use crate::manifest::BuiltArtifact;
use crate::plan::Plan;
use crate::publish::error::{PublishError, TargetError};
use crate::publish::jobs;
use crate::publish::progress::Progress;
use crate::publish::report::BlobTally;
use crate::publish::single_pass::Staged;
use crate::publish::target::{BlobSource, BlobStored, StagedBlob, Target, TargetKind};
use crate::reference::Digest;

/// One blob to make present.
struct Blob<'a> {
    digest: &'a Digest,
    size: u64,
    source: BlobSource<'a>,
    /// `config` or `file <path>`, for messages.
    what: String,
}

fn blobs_of(built: &BuiltArtifact) -> Vec<Blob<'_>> {
    let config = Blob {
        digest: &built.config.digest,
        size: built.config.size,
        source: BlobSource::Bytes(&built.config_bytes),
        what: "config".to_string(),
    };
    let files = built.layers.iter().map(|l| Blob {
        digest: &l.descriptor.digest,
        size: l.descriptor.size,
        source: BlobSource::File { path: &l.source, size: l.descriptor.size, identity: l.identity },
        what: format!("file {}", l.title),
    });
    std::iter::once(config).chain(files).collect()
}

/// Makes every blob of every artifact present in its repository, `jobs` at a time; one tally
/// per artifact, in plan order. The blobs of the app image's repository go first, so that a
/// blob also wanted elsewhere is there to be mounted from, as when one went after the other.
pub async fn push_all(
    target: &impl Target,
    plan: &Plan,
    built: &[BuiltArtifact],
    skip: &[bool],
    staged: &Staged,
    progress: &Progress,
    jobs: usize,
) -> Result<Vec<BlobTally>, PublishError> {
    let app_repository = plan.context.image.repository.as_str();
    let mut tallies = vec![BlobTally::default(); built.len()];
    let mut seen: BTreeSet<(&str, &Digest)> = BTreeSet::new();
    let (mut first, mut then) = (Vec::new(), Vec::new());
    for (i, ((artifact, b), &skipped)) in plan.artifacts.iter().zip(built).zip(skip).enumerate() {
        for blob in blobs_of(b) {
            // Made present earlier in this publish, or by the artifact's manifest already tagged.
            if skipped || !seen.insert((artifact.repository.as_str(), blob.digest)) {
                tallies[i].add(Stored::Skipped, blob.size);
                continue;
            }
            let phase = if mountable(target, app_repository, &artifact.repository) { &mut then } else { &mut first };
            phase.push((i, artifact, blob));
        }
    }
    let total = progress.total(first.len() + then.len(), first.iter().chain(&then).map(|(_, _, blob)| blob.size).sum());
    for phase in [first, then] {
        let done = jobs::in_order(phase, jobs, |(i, artifact, blob)| {
            let (progress, total) = (progress, &total);
            async move {
                let failed = |source| PublishError::BlobUpload {
                    artifact: artifact.label(),
                    repository: artifact.name(),
                    digest: blob.digest.clone(),
                    what: blob.what.clone(),
                    source: Box::new(source),
                };
                let stored = match staged.take(&artifact.repository, blob.digest) {
                    Some(session) => complete_staged(target, app_repository, &session, &blob, progress, &artifact.label()).await,
                    None => make_present(target, app_repository, &artifact.repository, &blob, progress, &artifact.label()).await,
                }
                .map_err(failed)?;
                total.advance(blob.size);
                Ok::<_, PublishError>((i, stored, blob.size))
            }
        })
        .await?;
        for (i, stored, size) in done {
            tallies[i].add(stored, size);
        }
    }
    total.finish();
    Ok(tallies)
}

/// What became of one blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stored {
    Skipped,
    Mounted,
    Uploaded,
}

impl BlobTally {
    fn add(&mut self, stored: Stored, size: u64) {
        let (blobs, bytes) = match stored {
            Stored::Skipped => (&mut self.blobs_skipped, &mut self.bytes_skipped),
            Stored::Mounted => (&mut self.blobs_mounted, &mut self.bytes_mounted),
            Stored::Uploaded => (&mut self.blobs_uploaded, &mut self.bytes_uploaded),
        };
        *blobs += 1;
        *bytes += size;
    }
}

/// Makes one blob present in `repository` (R-PUSH-4): skipped when a `HEAD` finds it, else
/// mounted from the app image's repository when [`mountable`] and the registry mounts, else
/// uploaded.
async fn make_present(
    target: &impl Target,
    app_repository: &str,
    repository: &str,
    blob: &Blob<'_>,
    progress: &Progress,
    label: &str,
) -> Result<Stored, TargetError> {
    if target.blob_exists(repository, blob.digest).await? {
        tracing::debug!("{} {} is already in {repository}", blob.what, blob.digest);
        return Ok(Stored::Skipped);
    }
    let bar = progress.blob(&format!("{} {} of {label}", blob.what, blob.digest), blob.size);
    if !mountable(target, app_repository, repository) {
        target.push_blob(repository, blob.digest, blob.source, &bar).await?;
        return Ok(Stored::Uploaded);
    }
    match target.mount_or_push_blob(repository, app_repository, blob.digest, blob.source, &bar).await? {
        BlobStored::Mounted => {
            tracing::info!("mounted {} {} from {app_repository} into {repository}", blob.what, blob.digest);
            Ok(Stored::Mounted)
        }
        BlobStored::Uploaded => Ok(Stored::Uploaded),
    }
}

/// Completes a blob's upload session (R-PUSH-11): cancelled when a `HEAD` finds the blob
/// already there (its bytes were sent, so they count as uploaded), else completed. When the
/// completion fails (its answer lost, the session expired), the session is cancelled and the
/// blob made present as any other: a `HEAD` finds it if the completion did take effect, else it
/// is uploaded from the file.
async fn complete_staged(
    target: &impl Target,
    app_repository: &str,
    session: &StagedBlob,
    blob: &Blob<'_>,
    progress: &Progress,
    label: &str,
) -> Result<Stored, TargetError> {
    let cancel = |why: &str| {
        tracing::info!("{} {} {why}; cancelling its upload to {}", blob.what, blob.digest, session.repository);
        async {
            if let Err(e) = target.cancel_staged(session).await {
                tracing::warn!("cannot cancel the upload of {} to {}: {e}", blob.digest, session.repository);
            }
        }
    };
    if target.blob_exists(&session.repository, blob.digest).await? {
        cancel("is already in the repository").await;
        return Ok(Stored::Uploaded);
    }
    match target.commit_staged(session).await {
        Ok(()) => Ok(Stored::Uploaded),
        Err(e) => {
            cancel(&format!("could not be completed ({e})")).await;
            make_present(target, app_repository, &session.repository, blob, progress, label).await
        }
    }
}

/// True when a cross-repository mount is worth asking for: a registry, and another repository
/// than the app image's. The mount is asked for in the request that opens the upload, without
/// first asking whether the app image's repository holds the blob: a registry that cannot mount
/// opens the session the bytes then go to.
fn mountable(target: &impl Target, app_repository: &str, repository: &str) -> bool {
    target.kind() == TargetKind::Registry && repository != app_repository
}
