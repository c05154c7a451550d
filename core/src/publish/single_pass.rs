//! Single-pass uploads (spec rule R-PUSH-11): large files read once, their digests computed
//! while they are sent.
//!
//! Planning leaves the digest of a large file pending ([`crate::plan::PlanOptions`]). After the
//! checks of step 1 have read the tags to set ([`TagReads`]), [`resolve`] computes every pending
//! digest, `jobs` files at a time, in one of two ways:
//!
//! - **hash first**, when a tag of the artifact already holds a manifest with a layer of the
//!   file's title and size (most likely the same file, published before: an unchanged
//!   re-publish must upload no byte, and only the digest can tell whether the blob is there),
//!   or when the target cannot stage (an OCI layout), or when the staging upload failed. The
//!   file is then uploaded, if needed, as any other in step 2;
//! - **stage** otherwise: the file is streamed once to a new upload session in its artifact's
//!   repository and hashed on the way ([`Target::stage_file`]); the session is left open. A file
//!   that several artifacts name (same device and inode) is read once, for the artifact in the
//!   app image's repository when there is one: the others mount the blob from there.
//!
//! In step 2 a staged blob is completed with the computed digest, or cancelled when the
//! repository already holds the blob (`blobs`). Every session still open when the publish
//! ends (a failure before step 2, or a second file with the same bytes) is cancelled
//! ([`Staged::cancel_all`]): a session is never completed before the checks of step 1 passed.

use std::collections::BTreeMap;
use std::sync::Mutex;

use crate::input_file::FileIdentity;
use crate::plan::{Plan, PlannedFile};
use crate::publish::error::{PublishError, TargetError};
use crate::publish::jobs;
use crate::publish::preflight::TagReads;
use crate::publish::progress::Progress;
use crate::publish::target::{BlobSource, StagedBlob, Target};
use crate::reference::Digest;

/// The upload sessions opened by [`resolve`] and not yet completed or cancelled.
#[derive(Debug, Default)]
pub(crate) struct Staged(Mutex<Vec<StagedBlob>>);

impl Staged {
    fn add(&self, staged: StagedBlob) {
        if let Ok(mut open) = self.0.lock() {
            open.push(staged);
        }
    }

    /// Takes the open session holding `digest` in `repository`, if there is one.
    pub(crate) fn take(&self, repository: &str, digest: &Digest) -> Option<StagedBlob> {
        let mut open = self.0.lock().ok()?;
        let at = open.iter().position(|s| s.repository == repository && &s.digest == digest)?;
        Some(open.swap_remove(at))
    }

    /// Cancels every session still open (best effort: a registry drops abandoned sessions
    /// itself after a while), `jobs` at a time.
    pub(crate) async fn cancel_all(&self, target: &impl Target, jobs: usize) {
        let open: Vec<StagedBlob> = self.0.lock().map(|mut open| std::mem::take(&mut *open)).unwrap_or_default();
        let _ = jobs::in_order(&open, jobs, |staged| async move {
            match target.cancel_staged(staged).await {
                Ok(()) => tracing::info!("cancelled the upload of {} to {}", staged.digest, staged.repository),
                Err(e) => tracing::warn!("cannot cancel the upload of {} to {}: {e}", staged.digest, staged.repository),
            }
            Ok::<(), ()>(())
        })
        .await;
    }
}

/// The plan with every pending digest computed, and the sessions staged on the way. On a
/// failure every session staged is cancelled before the error is returned.
pub(crate) async fn resolve(
    target: &impl Target,
    plan: &Plan,
    reads: &TagReads,
    progress: &Progress,
    jobs: usize,
) -> Result<(Plan, Staged), PublishError> {
    // Each file to read once, by device and inode: a file several artifacts name is read once,
    // for the artifact in the app image's repository when there is one (the others then mount
    // the blob from there, R-PUSH-4), else for the first.
    let app_repository = &plan.context.image.repository;
    let mut files: BTreeMap<FileIdentity, Vec<(usize, usize)>> = BTreeMap::new();
    for (i, artifact) in plan.artifacts.iter().enumerate() {
        for (j, file) in artifact.files.iter().enumerate().filter(|(_, f)| f.digest_pending) {
            let names = files.entry(file.identity).or_default();
            if artifact.repository == *app_repository && names.first().is_none_or(|&(k, _)| plan.artifacts[k].repository != *app_repository)
            {
                names.insert(0, (i, j));
            } else {
                names.push((i, j));
            }
        }
    }
    let staged = Staged::default();
    let computed = jobs::in_order(&files, jobs, |(identity, names)| {
        let (i, j) = names[0];
        let (artifact, staged) = (&plan.artifacts[i], &staged);
        let file = &artifact.files[j];
        // Sent first only when no tag of these artifacts holds a layer like it (an unchanged
        // re-publish then sends nothing).
        let published = names.iter().any(|&(k, l)| reads.holds_layer(k, &plan.artifacts[k].files[l].path, file.size));
        async move {
            let failed = |source| PublishError::FileUnreadable {
                artifact: artifact.label(),
                repository: artifact.name(),
                what: format!("file {}", file.path),
                source: Box::new(source),
            };
            if !published {
                let source = BlobSource::File { path: &file.source, size: file.size, identity: file.identity };
                let bar = progress.blob(&format!("file {} of {}", file.path, artifact.label()), file.size);
                if let Some(blob) = target.stage_file(&artifact.repository, source, &bar).await.map_err(failed)? {
                    tracing::info!("sent file {} of {} to {} in one pass: {}", file.path, artifact.label(), artifact.name(), blob.digest);
                    let digest = blob.digest.clone();
                    staged.add(blob);
                    return Ok((*identity, digest));
                }
            } else {
                tracing::debug!("a tag of {} holds a layer like {}: hashing it first", artifact.label(), file.path);
            }
            Ok((*identity, hash_planned(file).await.map_err(failed)?))
        }
    })
    .await;
    let computed: BTreeMap<FileIdentity, Digest> = match computed {
        Ok(c) => c.into_iter().collect(),
        Err(e) => {
            staged.cancel_all(target, jobs).await;
            return Err(e);
        }
    };
    let mut resolved = plan.clone();
    for file in resolved.artifacts.iter_mut().flat_map(|a| &mut a.files).filter(|f| f.digest_pending) {
        if let Some(digest) = computed.get(&file.identity) {
            file.digest = digest.clone();
            file.digest_pending = false;
        }
    }
    Ok((resolved, staged))
}

/// The digest of a planned file whose digest was left pending, read from the very file planned
/// (same device and inode, same size).
async fn hash_planned(file: &PlannedFile) -> Result<Digest, TargetError> {
    let path = file.source.clone();
    let hashed = tokio::task::spawn_blocking(move || crate::plan::confine::hash_file(&path))
        .await
        .map_err(|e| TargetError::ReadFile { path: file.source.clone(), source: std::io::Error::other(e) })?;
    let (digest, size, identity) = hashed.map_err(|source| TargetError::ReadFile { path: file.source.clone(), source })?;
    let same_file = identity == file.identity || crate::mutants::opens_paths_as_given();
    if !same_file || size != file.size {
        let found = if same_file { format!("{size} bytes") } else { "another file".to_string() };
        return Err(TargetError::FileChanged { path: file.source.clone(), expected: None, expected_size: file.size, found });
    }
    Ok(digest)
}
