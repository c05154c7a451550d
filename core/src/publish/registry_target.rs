//! Publishing to a registry (spec rules R-PUSH-1..6, R-REF-1..5) through the requests of
//! `crate::publish::registry_http`, each inside [`with_retry`](crate::publish::retry::with_retry).
//! Blobs are streamed from disk in one `PUT` per blob through the checking stream of
//! `crate::publish::checked_file`; manifests are sent as the exact bytes that were digested.
//! Referrers are recorded by [`RegistryTarget::record_referrers`]: probe, then the tag-schema
//! fallback index when needed.
//!
//! Manifests read are checked: their bytes must hash to the digest asked for and to the
//! `Docker-Content-Digest` header the registry sent, and a manifest (or fallback index) over
//! 4 MiB is refused rather than used (R-PUSH-3, R-PUSH-6).
//!
//! The `OCI-Subject` header of a manifest `PUT` is not relied on: the probe takes its place
//! (R-REF-1): when the probe says the API is supported, the listing is read again after the
//! manifests are pushed, and if it does not name them (the registry did not process the
//! subject), the fallback index is written too.

use std::collections::BTreeSet;

use bytes::Bytes;
use oci_client::secrets::RegistryAuth;

use crate::media_types::OCI_INDEX;
use crate::plan::Subject;
use crate::publish::checked_file;
use crate::publish::client::TransportOptions;
use crate::publish::error::{PublishError, RegistryFailure, TargetError};
use crate::publish::progress::BlobProgress;
use crate::publish::referrers::{
    classify_probe, lists_all, write_fallback, IndexStore, Probe, PutOutcome, ReferrerEntry, ReferrersMode, ReferrersOutcome,
    ReferrersUsed, StoredIndex,
};
use crate::publish::registry_http::{next_link, RegistryHttp, UploadError};
use crate::publish::target::{BlobSource, BlobStored, FetchedManifest, ManifestRef, StagedBlob, Target, TargetKind};
use crate::reference::Digest;

/// The most pages of a tag listing read; a repository with more has its tags read one by one.
const MAX_TAG_PAGES: usize = 100;

/// A page of `GET /v2/<name>/tags/list`.
#[derive(serde::Deserialize)]
struct TagList {
    tags: Option<Vec<String>>,
}

/// The query string of the next page a `Link` header names (`<…?n=100&last=x>; rel="next"`),
/// without `?`; `None` at the last page.
fn next_query(link: Option<&str>) -> Option<String> {
    next_link(link?)?.split_once('?').map(|(_, query)| query.to_string()).filter(|q| !q.is_empty())
}

/// The URL of a staged blob's upload session.
fn session_url(staged: &StagedBlob) -> Result<reqwest::Url, TargetError> {
    reqwest::Url::parse(&staged.session).map_err(|e| {
        TargetError::Registry(RegistryFailure {
            status: None,
            detail: format!("the upload session `{}` is not a URL: {e}", staged.session),
        })
    })
}

/// One registry, with resolved credentials.
pub struct RegistryTarget {
    registry: String,
    opts: TransportOptions,
    http: RegistryHttp,
}

impl RegistryTarget {
    /// Connects to `registry` (`host[:port]`): builds the clients and resolves credentials
    /// (R-AUTH-*). No request is made yet.
    pub async fn connect(registry: &str, opts: &TransportOptions) -> Result<RegistryTarget, PublishError> {
        let auth = crate::publish::auth::resolve(registry)
            .map_err(|source| PublishError::Credentials { registry: registry.to_string(), source })?;
        Self::with_auth(registry, opts, auth).await
    }

    /// Like [`RegistryTarget::connect`], with credentials resolved by the caller.
    pub async fn with_auth(registry: &str, opts: &TransportOptions, auth: RegistryAuth) -> Result<RegistryTarget, PublishError> {
        crate::publish::auth::redact::register(&auth);
        if !matches!(auth, RegistryAuth::Anonymous) {
            crate::publish::auth_realm::check_realm(registry, opts)
                .await
                .map_err(|source| PublishError::CredentialsWithheld { registry: registry.to_string(), source })?;
        }
        let http =
            RegistryHttp::new(registry, opts, auth).map_err(|source| PublishError::Transport { registry: registry.to_string(), source })?;
        Ok(RegistryTarget { registry: registry.to_string(), opts: opts.clone(), http })
    }

    /// `GET` the fallback tag, for the read–merge–write loop.
    async fn read_index(&self, repository: &str, tag: &str) -> Result<Option<StoredIndex>, TargetError> {
        let r = self.http.get_manifest(repository, tag).await?;
        match r.status {
            404 => Ok(None),
            s if (200..300).contains(&s) => Ok(Some(StoredIndex { bytes: r.body.to_vec(), etag: r.etag })),
            _ => Err(r.to_error().into()),
        }
    }

    /// Stores a blob (`mount_from`: asking for a mount from there first, in the same session).
    async fn store_blob(
        &self,
        repository: &str,
        digest: &Digest,
        source: BlobSource<'_>,
        progress: &BlobProgress,
        mount_from: Option<&str>,
    ) -> Result<BlobStored, TargetError> {
        let chunk = self.opts.chunk_size;
        let result = match source {
            BlobSource::Bytes(bytes) => {
                let body = Bytes::copy_from_slice(bytes);
                let size = body.len() as u64;
                self.http
                    .upload(repository, digest, size, mount_from, || {
                        let body = body.clone();
                        async move { Ok::<_, TargetError>(futures_util::stream::iter([Ok::<_, std::io::Error>(body)])) }
                    })
                    .await
            }
            BlobSource::File { path, size, identity } => {
                self.http
                    .upload(repository, digest, size, mount_from, || {
                        checked_file::file_stream(path, identity, Some(digest), size, chunk, checked_file::Check::Length, progress.clone())
                    })
                    .await
            }
        };
        progress.finish();
        let changed = |found: String| match source {
            BlobSource::File { path, size, .. } => {
                Some(TargetError::FileChanged { path: path.to_path_buf(), expected: Some(digest.clone()), expected_size: size, found })
            }
            BlobSource::Bytes(_) => None,
        };
        match result {
            Ok(true) => Ok(BlobStored::Mounted),
            Ok(false) => Ok(BlobStored::Uploaded),
            Err(UploadError::FileChanged(m)) => Err(changed(m.found)
                .unwrap_or_else(|| TargetError::Registry(RegistryFailure { status: None, detail: "the upload stream failed".into() }))),
            Err(UploadError::Failed(e)) => {
                // The stream checks only the length (checked_file::Check::Length): a registry refuses
                // bytes whose digest is not the planned one. Was it the file that changed?
                if let BlobSource::File { path, size, .. } = source {
                    let owned = path.to_path_buf();
                    let hashed = tokio::task::spawn_blocking(move || crate::plan::confine::hash_file(&owned)).await;
                    if let Ok(Ok((found, found_size, _))) = hashed {
                        if &found != digest || found_size != size {
                            return Err(changed(format!("{found} ({found_size} bytes)")).unwrap_or(e));
                        }
                    }
                }
                Err(e)
            }
        }
    }
}

impl Target for RegistryTarget {
    fn kind(&self) -> TargetKind {
        TargetKind::Registry
    }

    fn describe(&self) -> String {
        self.registry.clone()
    }

    async fn fetch_manifest(&self, repository: &str, reference: ManifestRef<'_>) -> Result<Option<FetchedManifest>, TargetError> {
        let name = match reference {
            ManifestRef::Tag(t) => t.to_string(),
            ManifestRef::Digest(d) => d.to_string(),
        };
        let r = self.http.get_manifest(repository, &name).await?;
        let whole = || format!("{}/{}", self.registry, reference.in_repository(repository));
        match r.status {
            404 => Ok(None),
            s if (200..300).contains(&s) => {
                let fetched = FetchedManifest::new(r.body.to_vec());
                // The bytes must be what the digest asked for, and what the registry says it sent.
                let mismatch = |said: String| TargetError::DigestMismatch { reference: whole(), said, actual: fetched.digest.clone() };
                if let ManifestRef::Digest(d) = reference {
                    if d != &fetched.digest {
                        return Err(mismatch(format!("it was asked for {d}")));
                    }
                }
                match r.content_digest.as_deref().map(str::trim) {
                    Some(c) if c.starts_with("sha256:") && c != fetched.digest.as_str() => {
                        Err(mismatch(format!("its Docker-Content-Digest header says {}", crate::display::text(c))))
                    }
                    _ => Ok(Some(fetched)),
                }
            }
            _ => Err(r.to_error().into()),
        }
    }

    async fn blob_exists(&self, repository: &str, digest: &Digest) -> Result<bool, TargetError> {
        let r = self.http.head_blob(repository, digest).await?;
        match r.status {
            404 => Ok(false),
            s if (200..300).contains(&s) => Ok(true),
            _ => Err(r.to_error().into()),
        }
    }

    async fn mount_blob(&self, repository: &str, from: &str, digest: &Digest) -> Result<bool, TargetError> {
        match self.http.mount_blob(repository, from, digest).await {
            Ok(r) if r.status == 201 => Ok(true),
            Ok(r) => {
                tracing::debug!("mounting {digest} from {from} into {repository} was answered {}; uploading", r.to_error());
                Ok(false)
            }
            Err(e) => {
                tracing::debug!("mounting {digest} from {from} into {repository} failed ({e}); uploading");
                Ok(false)
            }
        }
    }

    async fn push_blob(
        &self,
        repository: &str,
        digest: &Digest,
        source: BlobSource<'_>,
        progress: &BlobProgress,
    ) -> Result<(), TargetError> {
        self.store_blob(repository, digest, source, progress, None).await.map(|_| ())
    }

    async fn mount_or_push_blob(
        &self,
        repository: &str,
        from: &str,
        digest: &Digest,
        source: BlobSource<'_>,
        progress: &BlobProgress,
    ) -> Result<BlobStored, TargetError> {
        self.store_blob(repository, digest, source, progress, Some(from)).await
    }

    async fn stage_file(
        &self,
        repository: &str,
        source: BlobSource<'_>,
        progress: &BlobProgress,
    ) -> Result<Option<StagedBlob>, TargetError> {
        let BlobSource::File { path, size, identity } = source else { return Ok(None) };
        let computed = checked_file::ComputedDigest::default();
        let check = checked_file::Check::Compute(computed.clone());
        let stream = checked_file::file_stream(path, identity, None, size, self.opts.chunk_size, check, progress.clone()).await?;
        let sent = self.http.stream_to_session(repository, size, stream).await;
        progress.finish();
        match (sent, computed.get()) {
            (Ok(url), Some(digest)) => Ok(Some(StagedBlob { repository: repository.to_string(), digest, size, session: url.to_string() })),
            (Ok(url), None) => {
                // The registry answered before the stream ended: nothing usable was sent.
                let _ = self.http.cancel_upload(repository, &url).await;
                Ok(None)
            }
            (Err(UploadError::FileChanged(m)), _) => {
                Err(TargetError::FileChanged { path: path.to_path_buf(), expected: None, expected_size: size, found: m.found })
            }
            (Err(UploadError::Failed(e)), _) => {
                tracing::warn!("single-pass upload of {} to {repository} failed ({e}); hashing it first instead", path.display());
                Ok(None)
            }
        }
    }

    async fn commit_staged(&self, staged: &StagedBlob) -> Result<(), TargetError> {
        let url = session_url(staged)?;
        self.http.finish_upload(&staged.repository, &url, &staged.digest).await
    }

    async fn cancel_staged(&self, staged: &StagedBlob) -> Result<(), TargetError> {
        let url = session_url(staged)?;
        self.http.cancel_upload(&staged.repository, &url).await
    }

    async fn list_tags(&self, repository: &str, wanted: &BTreeSet<&str>) -> Result<Option<BTreeSet<String>>, TargetError> {
        let mut tags = BTreeSet::new();
        let mut query: Option<String> = None;
        for _ in 0..MAX_TAG_PAGES {
            let r = self.http.tags_list(repository, query.as_deref()).await?;
            match r.status {
                404 => return Ok(Some(tags)),
                s if (200..300).contains(&s) => {}
                _ => {
                    tracing::debug!("listing the tags of {}/{repository} was answered {}; reading each tag", self.registry, r.to_error());
                    return Ok(None);
                }
            }
            let Ok(list) = serde_json::from_slice::<TagList>(&r.body) else {
                tracing::debug!("the tag listing of {}/{repository} is not a tag list; reading each tag", self.registry);
                return Ok(None);
            };
            tags.extend(list.tags.unwrap_or_default().into_iter().filter(|t| wanted.contains(t.as_str())));
            match next_query(r.link.as_deref()) {
                Some(next) => query = Some(next),
                None => return Ok(Some(tags)),
            }
        }
        tracing::debug!("the tags of {}/{repository} span over {MAX_TAG_PAGES} pages; reading each tag", self.registry);
        Ok(None)
    }

    async fn push_manifest(&self, repository: &str, reference: ManifestRef<'_>, media_type: &str, bytes: &[u8]) -> Result<(), TargetError> {
        let name = match reference {
            ManifestRef::Tag(t) => t.to_string(),
            ManifestRef::Digest(d) => d.to_string(),
        };
        let r = self.http.put_manifest(repository, &name, media_type, bytes, None).await?;
        if r.is_success() {
            Ok(())
        } else {
            Err(r.to_error().into())
        }
    }

    async fn record_referrers(
        &self,
        repository: &str,
        subject: &Subject,
        entries: &[ReferrerEntry],
        mode: ReferrersMode,
    ) -> Result<ReferrersOutcome, PublishError> {
        let probe_failed = |source| PublishError::ReferrersProbeFailed { repository: repository.to_string(), source: Box::new(source) };
        let use_api = match mode {
            ReferrersMode::Api => return Ok(ReferrersOutcome { used: ReferrersUsed::Api, fallback_index: None }),
            ReferrersMode::Fallback => false,
            ReferrersMode::Auto => {
                let r = self.http.referrers(repository, subject.digest.as_str()).await.map_err(probe_failed)?;
                match classify_probe(r.status, r.content_type.as_deref(), &r.body) {
                    Ok(Probe::Supported) if lists_all(&r.body, entries) => true,
                    Ok(Probe::Supported) => {
                        tracing::warn!(
                            "{}/{repository} supports the referrers API but does not list the artifacts just pushed \
                             (the registry did not process their subject); writing the fallback index too",
                            self.registry
                        );
                        false
                    }
                    Ok(Probe::Unsupported) => false,
                    Err(answer) => return Err(PublishError::ReferrersProbeUnexpected { repository: repository.to_string(), answer }),
                }
            }
        };
        if use_api {
            return Ok(ReferrersOutcome { used: ReferrersUsed::Api, fallback_index: None });
        }
        let tag = subject.digest.referrers_tag();
        let reference = format!("{}/{repository}:{tag}", self.registry);
        let store = FallbackStore { target: self, repository, tag: &tag };
        let digest = write_fallback(&store, &reference, entries).await?;
        Ok(ReferrersOutcome { used: ReferrersUsed::Fallback, fallback_index: Some(digest) })
    }
}

/// The fallback tag of one repository, as an [`IndexStore`].
struct FallbackStore<'a> {
    target: &'a RegistryTarget,
    repository: &'a str,
    tag: &'a str,
}

impl IndexStore for FallbackStore<'_> {
    async fn read(&self) -> Result<Option<StoredIndex>, TargetError> {
        self.target.read_index(self.repository, self.tag).await
    }

    async fn write(&self, bytes: &[u8], if_match: Option<&str>) -> Result<PutOutcome, TargetError> {
        let r = self.target.http.put_manifest(self.repository, self.tag, OCI_INDEX, bytes, if_match).await?;
        match r.status {
            412 => Ok(PutOutcome::PreconditionFailed),
            // We computed these bytes, so their digest cannot be wrong: Distribution 2.8 answers
            // this when another publisher stores the same index bytes at the same moment (its
            // filesystem driver writes both into one blob path). Merge again, like a 412.
            400 if String::from_utf8_lossy(&r.body).contains("DIGEST_INVALID") => {
                tracing::info!(
                    "{}/{}:{} answered DIGEST_INVALID to our index: a concurrent writer",
                    self.target.registry,
                    self.repository,
                    self.tag
                );
                Ok(PutOutcome::PreconditionFailed)
            }
            _ if r.is_success() => Ok(PutOutcome::Stored),
            _ => Err(r.to_error().into()),
        }
    }
}

#[cfg(test)]
#[path = "registry_target_tests.rs"]
mod tests;
