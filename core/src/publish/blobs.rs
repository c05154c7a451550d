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
//! registry holds their manifest, so it holds its blobs.

use std::collections::BTreeSet;

use crate::manifest::BuiltArtifact;
use crate::plan::Plan;
use crate::publish::error::PublishError;
use crate::publish::progress::Progress;
use crate::publish::report::BlobTally;
use crate::publish::target::{BlobSource, BlobStored, Target, TargetKind};
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

/// Makes every blob of every artifact present in its repository; one tally per artifact, in
/// plan order.
pub async fn push_all(
    target: &impl Target,
    plan: &Plan,
    built: &[BuiltArtifact],
    skip: &[bool],
    progress: Progress,
) -> Result<Vec<BlobTally>, PublishError> {
    let app_repository = &plan.context.image.repository;
    let mut done: BTreeSet<(String, Digest)> = BTreeSet::new();
    let mut tallies = Vec::with_capacity(built.len());
    for ((artifact, b), &skipped) in plan.artifacts.iter().zip(built).zip(skip) {
        let repository = &artifact.repository;
        let mut tally = BlobTally::default();
        if skipped {
            for blob in blobs_of(b) {
                tally.blobs_skipped += 1;
                tally.bytes_skipped += blob.size;
            }
            tallies.push(tally);
            continue;
        }
        for blob in blobs_of(b) {
            let failed = |source| PublishError::BlobUpload {
                artifact: artifact.label(),
                repository: artifact.name(),
                digest: blob.digest.clone(),
                what: blob.what.clone(),
                source: Box::new(source),
            };
            let key = (repository.clone(), blob.digest.clone());
            if done.contains(&key) || target.blob_exists(repository, blob.digest).await.map_err(failed)? {
                tracing::debug!("{} {} is already in {repository}", blob.what, blob.digest);
                tally.blobs_skipped += 1;
                tally.bytes_skipped += blob.size;
            } else {
                let bar = progress.blob(&format!("{} {} of {}", blob.what, blob.digest, artifact.label()), blob.size);
                let stored = if mountable(target, app_repository, repository) {
                    target.mount_or_push_blob(repository, app_repository, blob.digest, blob.source, &bar).await.map_err(failed)?
                } else {
                    target.push_blob(repository, blob.digest, blob.source, &bar).await.map_err(failed)?;
                    BlobStored::Uploaded
                };
                if stored == BlobStored::Mounted {
                    tracing::info!("mounted {} {} from {app_repository} into {repository}", blob.what, blob.digest);
                    tally.blobs_mounted += 1;
                    tally.bytes_mounted += blob.size;
                } else {
                    tally.blobs_uploaded += 1;
                    tally.bytes_uploaded += blob.size;
                }
            }
            done.insert(key);
        }
        tallies.push(tally);
    }
    Ok(tallies)
}

/// True when a cross-repository mount is worth asking for: a registry, and another repository
/// than the app image's. The mount is asked for in the request that opens the upload, without
/// first asking whether the app image's repository holds the blob: a registry that cannot mount
/// opens the session the bytes then go to.
fn mountable(target: &impl Target, app_repository: &str, repository: &str) -> bool {
    target.kind() == TargetKind::Registry && repository != app_repository
}
