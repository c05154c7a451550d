//! Publishing to a registry through oci-client (spec rules R-PUSH-1..6, R-REF-1..5).
//!
//! Every call runs inside [`with_retry`]. Blobs are streamed from disk with
//! `push_blob_stream` (one streamed `PUT` per blob, see [`crate::publish::client`]) through the
//! checking stream of [`crate::publish::checked_file`]; manifests are sent with `push_manifest_raw`, so
//! the registry receives exactly the bytes that were digested. Referrers are recorded by
//! [`RegistryTarget::record_referrers`]: probe, then the tag-schema fallback index when needed,
//! through [`crate::publish::registry_http`].
//!
//! Manifests read are checked: oci-client verifies their bytes against the digest asked for
//! and against a `Docker-Content-Digest` header, and a manifest (or fallback index) over 4 MiB
//! is refused rather than used (R-PUSH-3, R-PUSH-6).
//!
//! oci-client does not return the headers of a manifest `PUT`, so the `OCI-Subject` header
//! cannot be read. The probe takes its place (R-REF-1): when the probe says the API is
//! supported, the listing is read again after the manifests are pushed, and if it does not
//! name them (the registry did not process the subject), the fallback index is written too.

use std::error::Error as _;

use bytes::Bytes;
use futures_util::StreamExt;
use oci_client::errors::OciDistributionError;
use oci_client::secrets::RegistryAuth;
use oci_client::Reference;

use crate::media_types::OCI_INDEX;
use crate::plan::Subject;
use crate::publish::checked_file::{self, mismatch_in, FileMismatch};
use crate::publish::client::{make_client_for, TransportOptions};
use crate::publish::error::{PublishError, RegistryFailure, TargetError};
use crate::publish::progress::BlobProgress;
use crate::publish::referrers::{
    classify_probe, lists_all, write_fallback, IndexStore, Probe, PutOutcome, ReferrerEntry, ReferrersMode, ReferrersOutcome,
    ReferrersUsed, StoredIndex,
};
use crate::publish::registry_http::RegistryHttp;
use crate::publish::retry::{with_retry, Transient};
use crate::publish::target::{BlobSource, FetchedManifest, ManifestRef, Target, TargetKind};
use crate::reference::Digest;

/// One registry, with resolved credentials.
pub struct RegistryTarget {
    registry: String,
    client: oci_client::Client,
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
        let transport = |source| PublishError::Transport { registry: registry.to_string(), source };
        let client = make_client_for(opts, &[registry]).map_err(transport)?;
        client.store_auth_if_needed(registry, &auth).await;
        let http = RegistryHttp::new(registry, opts, client.clone(), auth).map_err(transport)?;
        Ok(RegistryTarget { registry: registry.to_string(), client, opts: opts.clone(), http })
    }

    fn reference(&self, repository: &str, reference: ManifestRef<'_>) -> Reference {
        match reference {
            ManifestRef::Tag(t) => Reference::with_tag(self.registry.clone(), repository.to_string(), t.to_string()),
            ManifestRef::Digest(d) => Reference::with_digest(self.registry.clone(), repository.to_string(), d.to_string()),
        }
    }

    fn repo(&self, repository: &str) -> Reference {
        self.reference(repository, ManifestRef::Tag("latest"))
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
}

/// A failed upload attempt: the registry's answer, or the file itself.
#[derive(Debug, thiserror::Error)]
enum UploadFailure {
    #[error("{}", RegistryFailure::from(.0))]
    Registry(OciDistributionError),
    #[error("{0}")]
    File(TargetError),
}

impl Transient for UploadFailure {
    fn is_transient(&self) -> bool {
        match self {
            UploadFailure::Registry(e) => e.is_transient(),
            UploadFailure::File(_) => false,
        }
    }
    fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            UploadFailure::Registry(e) => e.retry_after(),
            UploadFailure::File(_) => None,
        }
    }
}

/// The [`FileMismatch`] anywhere in `e`'s chain (the streamed body's error travels through
/// reqwest and hyper when an upload is cut short).
fn find_mismatch(e: &OciDistributionError) -> Option<FileMismatch> {
    if let OciDistributionError::IoError(io) = e {
        return mismatch_in(io).cloned();
    }
    let mut source = e.source();
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            if let Some(m) = mismatch_in(io) {
                return Some(m.clone());
            }
        }
        if let Some(m) = s.downcast_ref::<FileMismatch>() {
            return Some(m.clone());
        }
        source = s.source();
    }
    None
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
                let claimed = match reference {
                    ManifestRef::Digest(d) => Some(d.as_str()),
                    ManifestRef::Tag(_) => r.content_digest.as_deref().filter(|c| c.starts_with("sha256:")),
                };
                match claimed {
                    Some(c) if c != fetched.digest.as_str() => Err(TargetError::InvalidManifest {
                        reference: whole(),
                        reason: format!("the registry said {c}, but the bytes it sent have digest {}", fetched.digest),
                    }),
                    _ => Ok(Some(fetched)),
                }
            }
            _ => Err(r.to_error().into()),
        }
    }

    async fn blob_exists(&self, repository: &str, digest: &Digest) -> Result<bool, TargetError> {
        let r = self.repo(repository);
        let what = format!("check blob {digest} in {}/{repository}", self.registry);
        with_retry(&self.opts.retry, &what, || self.client.blob_exists(&r, digest.as_str()))
            .await
            .map_err(|e| RegistryFailure::from(e).into())
    }

    async fn mount_blob(&self, repository: &str, from: &str, digest: &Digest) -> Result<bool, TargetError> {
        match self.client.mount_blob(&self.repo(repository), &self.repo(from), digest.as_str()).await {
            Ok(()) => Ok(true),
            Err(e) => {
                tracing::debug!("mounting {digest} from {from} into {repository} failed ({}); uploading", RegistryFailure::from(e));
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
        let r = self.repo(repository);
        let what = format!("upload blob {digest} to {}/{repository}", self.registry);
        let result = with_retry(&self.opts.retry, &what, || async {
            match source {
                BlobSource::Bytes(bytes) => {
                    let stream = futures_util::stream::iter([Ok(Bytes::copy_from_slice(bytes))]);
                    self.client.push_blob_stream(&r, stream, digest.as_str(), Some(bytes.len() as u64)).await
                }
                BlobSource::File { path, size } => {
                    let stream =
                        checked_file::file_stream(path, digest, size, self.opts.chunk_size, checked_file::Check::Length, progress.clone())
                            .await
                            .map_err(UploadFailure::File)?
                            .map(|chunk| chunk.map_err(OciDistributionError::IoError));
                    self.client.push_blob_stream(&r, stream, digest.as_str(), Some(size)).await
                }
            }
            .map(|_| ())
            .map_err(|e| match (find_mismatch(&e), source) {
                (Some(m), BlobSource::File { path, size }) => UploadFailure::File(TargetError::FileChanged {
                    path: path.to_path_buf(),
                    expected: digest.clone(),
                    expected_size: size,
                    found: m.found,
                }),
                _ => UploadFailure::Registry(e),
            })
        })
        .await;
        progress.finish();
        match result {
            Ok(()) => Ok(()),
            Err(UploadFailure::File(e)) => Err(e),
            Err(UploadFailure::Registry(e)) => {
                // The stream checks only the length (checked_file::Check::Length): a registry refuses
                // bytes whose digest is not the planned one. Was it the file that changed?
                if let BlobSource::File { path, size } = source {
                    let owned = path.to_path_buf();
                    let hashed = tokio::task::spawn_blocking(move || crate::plan::confine::hash_file(&owned)).await;
                    if let Ok(Ok((found, found_size))) = hashed {
                        if &found != digest || found_size != size {
                            return Err(TargetError::FileChanged {
                                path: path.to_path_buf(),
                                expected: digest.clone(),
                                expected_size: size,
                                found: format!("{found} ({found_size} bytes)"),
                            });
                        }
                    }
                }
                Err(RegistryFailure::from(e).into())
            }
        }
    }

    async fn push_manifest(&self, repository: &str, reference: ManifestRef<'_>, media_type: &str, bytes: &[u8]) -> Result<(), TargetError> {
        let r = self.reference(repository, reference);
        let what = format!("push manifest {}/{}", self.registry, reference.in_repository(repository));
        let content_type = reqwest::header::HeaderValue::from_str(media_type)
            .map_err(|e| TargetError::Registry(RegistryFailure { status: None, detail: format!("media type `{media_type}`: {e}") }))?;
        let body = Bytes::copy_from_slice(bytes);
        with_retry(&self.opts.retry, &what, || self.client.push_manifest_raw(&r, body.clone(), content_type.clone()))
            .await
            .map(|_| ())
            .map_err(|e| RegistryFailure::from(e).into())
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
