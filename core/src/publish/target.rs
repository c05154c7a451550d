//! Where a plan is published: one small async trait with a registry implementation
//! ([`crate::publish::registry_target::RegistryTarget`]) and an OCI image layout implementation
//! ([`crate::publish::layout::LayoutTarget`]).
//!
//! The publisher ([`crate::publish::publish`]) drives the order of R-PUSH-1 through these
//! operations only, so both targets receive exactly the same blobs and manifest bytes
//! (R-PUSH-7). A target reports failures as [`TargetError`]s; the publisher adds which artifact
//! they concern.

use crate::input_file::FileIdentity;
use std::collections::BTreeSet;
use std::path::Path;

use crate::plan::Subject;
use crate::publish::error::{PublishError, TargetError};
use crate::publish::progress::BlobProgress;
use crate::publish::referrers::{ReferrerEntry, ReferrersMode, ReferrersOutcome};
use crate::reference::Digest;

/// A manifest reference inside a repository: a tag or a digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManifestRef<'a> {
    /// A tag, e.g. `1.2.3`.
    Tag(&'a str),
    /// A digest, e.g. `sha256:…`.
    Digest(&'a Digest),
}

impl ManifestRef<'_> {
    /// `repository:tag` or `repository@digest`.
    pub fn in_repository(&self, repository: &str) -> String {
        match self {
            ManifestRef::Tag(t) => format!("{repository}:{t}"),
            ManifestRef::Digest(d) => format!("{repository}@{d}"),
        }
    }
}

/// A manifest read from a target, with its exact bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedManifest {
    /// The manifest's bytes, exactly as the target sent them.
    pub bytes: Vec<u8>,
    /// The digest of [`FetchedManifest::bytes`], computed here.
    pub digest: Digest,
    /// The `mediaType` member of the manifest, when it has one.
    pub media_type: Option<String>,
}

impl FetchedManifest {
    /// Wraps `bytes`, reading the `mediaType` member when the bytes are a JSON object.
    pub fn new(bytes: Vec<u8>) -> FetchedManifest {
        let media_type = serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|v| v.get("mediaType").and_then(|m| m.as_str()).map(str::to_string));
        let digest = Digest::of(&bytes);
        FetchedManifest { bytes, digest, media_type }
    }
}

/// The bytes of one blob and where they come from.
#[derive(Debug, Clone, Copy)]
pub enum BlobSource<'a> {
    /// Small blobs built in memory (config blobs).
    Bytes(&'a [u8]),
    /// A planned file, streamed from disk and checked against its planned digest, size and
    /// identity (device and inode, R-PUSH-4).
    File {
        /// The file to stream.
        path: &'a Path,
        /// Its planned size in bytes.
        size: u64,
        /// Its planned device and inode.
        identity: FileIdentity,
    },
}

/// How [`Target::mount_or_push_blob`] made a blob present.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlobStored {
    /// Mounted from another repository: no byte sent.
    Mounted,
    /// Uploaded.
    Uploaded,
}

/// A file streamed to an upload session, its digest computed on the way, the session not yet
/// completed (R-PUSH-11): [`Target::commit_staged`] makes it the blob, [`Target::cancel_staged`]
/// discards it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StagedBlob {
    /// The repository of the session.
    pub repository: String,
    /// The digest of the bytes sent.
    pub digest: Digest,
    /// How many bytes were sent.
    pub size: u64,
    /// The session, as the target names it (a registry: the URL of its last `Location`).
    pub session: String,
}

/// Which implementation a target is; decides the rules that only apply to registries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetKind {
    /// A registry ([`crate::publish::RegistryTarget`]).
    Registry,
    /// An OCI image layout on disk ([`crate::publish::LayoutTarget`]).
    Layout,
}

/// One place to publish to. Every operation is idempotent.
#[allow(async_fn_in_trait)]
pub trait Target {
    /// Whether this is a registry or a layout.
    fn kind(&self) -> TargetKind;

    /// The registry host or the layout path, for the report.
    fn describe(&self) -> String;

    /// The manifest at `repository` + `reference`, `None` when there is none.
    async fn fetch_manifest(&self, repository: &str, reference: ManifestRef<'_>) -> Result<Option<FetchedManifest>, TargetError>;

    /// Whether `repository` holds the blob `digest`.
    async fn blob_exists(&self, repository: &str, digest: &Digest) -> Result<bool, TargetError>;

    /// Mounts `digest` from repository `from` into `repository`; `false` when the target
    /// cannot (the caller then uploads).
    async fn mount_blob(&self, repository: &str, from: &str, digest: &Digest) -> Result<bool, TargetError>;

    /// Stores a blob whose bytes must hash to `digest`.
    async fn push_blob(
        &self,
        repository: &str,
        digest: &Digest,
        source: BlobSource<'_>,
        progress: &BlobProgress,
    ) -> Result<(), TargetError>;

    /// Makes the blob `digest` present in `repository`: mounted from repository `from` when the
    /// target can, else stored from `source`. The default asks [`Target::mount_blob`] and then
    /// [`Target::push_blob`]; a registry does both in one upload session (the mount asked for in
    /// the request that opens it, R-PUSH-4).
    async fn mount_or_push_blob(
        &self,
        repository: &str,
        from: &str,
        digest: &Digest,
        source: BlobSource<'_>,
        progress: &BlobProgress,
    ) -> Result<BlobStored, TargetError> {
        if self.mount_blob(repository, from, digest).await? {
            return Ok(BlobStored::Mounted);
        }
        self.push_blob(repository, digest, source, progress).await?;
        Ok(BlobStored::Uploaded)
    }

    /// Streams the file `source` to a new upload session in `repository`, computing its digest
    /// on the way, and leaves the session open (R-PUSH-11). `Ok(None)` when the target does not
    /// (the default) or the upload failed: the caller then hashes the file first and uploads it
    /// as any other. A file that is not the one planned, or not of its planned size, is an error.
    async fn stage_file(
        &self,
        repository: &str,
        source: BlobSource<'_>,
        progress: &BlobProgress,
    ) -> Result<Option<StagedBlob>, TargetError> {
        let _ = (repository, source, progress);
        Ok(None)
    }

    /// Completes a session [`Target::stage_file`] opened: the blob is then present.
    async fn commit_staged(&self, staged: &StagedBlob) -> Result<(), TargetError> {
        Err(TargetError::Registry(crate::publish::error::RegistryFailure {
            status: None,
            detail: format!("{} opens no upload session to complete ({})", self.describe(), staged.digest),
        }))
    }

    /// Cancels a session [`Target::stage_file`] opened: what it received is discarded.
    async fn cancel_staged(&self, staged: &StagedBlob) -> Result<(), TargetError> {
        let _ = staged;
        Ok(())
    }

    /// Which of the tags `wanted` exist in `repository` (none when it does not exist), when the
    /// target lists its tags in one go; `None` when it cannot, and each tag is then read by
    /// itself. Only the wanted tags are kept, so a listing of any length costs the memory of one
    /// page. The default: `None`.
    async fn list_tags(&self, repository: &str, wanted: &BTreeSet<&str>) -> Result<Option<BTreeSet<String>>, TargetError> {
        let _ = (repository, wanted);
        Ok(None)
    }

    /// Stores `bytes` unchanged as a manifest of `media_type` at `reference`.
    async fn push_manifest(&self, repository: &str, reference: ManifestRef<'_>, media_type: &str, bytes: &[u8]) -> Result<(), TargetError>;

    /// Makes `entries` discoverable from `subject` in `repository` (R-REF-*).
    async fn record_referrers(
        &self,
        repository: &str,
        subject: &Subject,
        entries: &[ReferrerEntry],
        mode: ReferrersMode,
    ) -> Result<ReferrersOutcome, PublishError>;
}
