//! Making artifacts discoverable from the app image: referrers API detection and the
//! referrers tag-schema fallback index (spec rules R-REF-1..5).
//!
//! Pure logic lives here: the descriptors a referrers listing holds ([`ReferrerEntry`]), what a
//! probe answer means ([`classify_probe`]), and the fallback index merge ([`merge_fallback`]),
//! which keeps every entry of others, adds ours, sorts by digest and serialises as RFC 8785
//! canonical JSON so the same set of referrers always has the same bytes. The read–merge–write
//! loop that survives concurrent writers is [`write_fallback`], written against a small
//! [`IndexStore`] so it can be tested without a registry.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::canonical;
use crate::manifest::{BuiltArtifact, MAX_MANIFEST_SIZE};
use crate::media_types::{OCI_INDEX, OCI_MANIFEST};
use crate::publish::error::{PublishError, TargetError};
use crate::reference::Digest;

/// How referrers are recorded (`--referrers`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ReferrersMode {
    /// Probe the registry's referrers API per repository; fall back on a 404 (R-REF-1).
    #[default]
    Auto,
    /// Trust the referrers API without probing; never write a fallback index.
    Api,
    /// Always write the tag-schema fallback index, without probing.
    Fallback,
}

/// How referrers were recorded in a repository, for the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ReferrersUsed {
    /// The registry's referrers API lists the artifacts.
    Api,
    /// A tag-schema fallback index lists them.
    Fallback,
    /// An OCI image layout: consumers find referrers by the `subject` of the manifests listed
    /// in `index.json`.
    Layout,
}

impl std::fmt::Display for ReferrersUsed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ReferrersUsed::Api => "api",
            ReferrersUsed::Fallback => "fallback",
            ReferrersUsed::Layout => "layout",
        })
    }
}

/// What recording referrers in one repository did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferrersOutcome {
    /// The referrers API or the fallback index.
    pub used: ReferrersUsed,
    /// The digest of the fallback index written, when one was.
    pub fallback_index: Option<Digest>,
}

/// One entry of a referrers listing: the artifact manifest's descriptor with its
/// `artifactType` and `annotations`, as the referrers API returns them (R-REF-3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReferrerEntry {
    /// The artifact manifest's media type.
    #[serde(rename = "mediaType")]
    pub media_type: String,
    /// The artifact manifest's digest.
    pub digest: Digest,
    /// The artifact manifest's size in bytes.
    pub size: u64,
    /// The manifest's `artifactType` (or its config's media type).
    #[serde(rename = "artifactType", skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// The manifest's annotations.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

impl ReferrerEntry {
    /// The entry of a built artifact: `artifactType` and `annotations` are read from the exact
    /// manifest bytes, so the entry says what the manifest says.
    pub fn of(built: &BuiltArtifact) -> ReferrerEntry {
        let manifest: Value = serde_json::from_slice(&built.manifest_bytes).unwrap_or(Value::Null);
        let artifact_type = manifest.get("artifactType").and_then(Value::as_str).map(str::to_string);
        let annotations = manifest
            .get("annotations")
            .and_then(Value::as_object)
            .map(|m| m.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string()))).collect())
            .unwrap_or_default();
        ReferrerEntry {
            media_type: OCI_MANIFEST.to_string(),
            digest: built.manifest_digest.clone(),
            size: built.manifest_bytes.len() as u64,
            artifact_type,
            annotations,
        }
    }
}

/// What a referrers API probe answer means (R-REF-1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    /// 2xx with an OCI image index: the registry lists referrers itself.
    Supported,
    /// 404: use the tag-schema fallback.
    Unsupported,
}

/// Classifies the answer to `GET /v2/<repo>/referrers/<digest>`; anything but a 2xx OCI image
/// index or a 404 is `Err` with a description of the answer (never a silent fallback).
pub fn classify_probe(status: u16, content_type: Option<&str>, body: &[u8]) -> Result<Probe, String> {
    let media_type = content_type.map(|c| c.split(';').next().unwrap_or("").trim().to_ascii_lowercase());
    if status == 404 {
        return Ok(Probe::Unsupported);
    }
    let is_index = media_type.as_deref() == Some(OCI_INDEX)
        && serde_json::from_slice::<Value>(body).is_ok_and(|v| v.get("manifests").is_some_and(Value::is_array));
    if (200..300).contains(&status) && is_index {
        return Ok(Probe::Supported);
    }
    let excerpt: String = String::from_utf8_lossy(body).chars().take(200).collect();
    Err(format!("HTTP {status} with content type {}: {}", media_type.as_deref().unwrap_or("(none)"), excerpt.trim()))
}

/// True when the listing `body` (a referrers API answer or a fallback index) names every digest
/// of `ours`.
pub fn lists_all(body: &[u8], ours: &[ReferrerEntry]) -> bool {
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        return false;
    };
    let listed: Vec<&str> = v
        .get("manifests")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|e| e.get("digest").and_then(Value::as_str)).collect())
        .unwrap_or_default();
    ours.iter().all(|e| listed.contains(&e.digest.as_str()))
}

/// The fallback index for `ours`, merged into `existing` (the bytes now at the fallback tag
/// `reference`, if any) by R-REF-4: the existing document must be an OCI image index; its
/// entries are kept (the first of several with one digest), ours replace entries with our
/// digests, entries are sorted by digest, other top-level members are kept, and the result is
/// RFC 8785 canonical JSON.
pub fn merge_fallback(existing: Option<&[u8]>, reference: &str, ours: &[ReferrerEntry]) -> Result<Vec<u8>, PublishError> {
    let invalid = |reason: String| PublishError::FallbackIndexInvalid { reference: reference.to_string(), reason };
    let mut top = Map::new();
    let mut entries: BTreeMap<String, Value> = BTreeMap::new();
    if let Some(bytes) = existing {
        // I-JSON only: it is written back as canonical JSON, which must not change its values.
        let value = canonical::from_i_json(bytes).map_err(|e| invalid(format!("not I-JSON: {e}")))?;
        let Value::Object(mut object) = value else {
            return Err(invalid("not a JSON object".to_string()));
        };
        match object.get("mediaType").and_then(Value::as_str) {
            Some(OCI_INDEX) => {}
            Some(other) => {
                return Err(PublishError::FallbackTagHoldsOther {
                    reference: reference.to_string(),
                    found: format!("a document of media type {other}"),
                })
            }
            None if object.contains_key("config") || object.contains_key("layers") => {
                return Err(PublishError::FallbackTagHoldsOther {
                    reference: reference.to_string(),
                    found: "an image manifest without a media type".to_string(),
                })
            }
            None => {}
        }
        if object.get("schemaVersion").and_then(Value::as_u64) != Some(2) {
            return Err(invalid("schemaVersion is not 2".to_string()));
        }
        let manifests = match object.remove("manifests") {
            Some(Value::Array(m)) => m,
            None | Some(Value::Null) => Vec::new(),
            Some(_) => return Err(invalid("`manifests` is not an array".to_string())),
        };
        for (i, entry) in manifests.into_iter().enumerate() {
            let Some(digest) = entry.get("digest").and_then(Value::as_str).map(str::to_string) else {
                return Err(invalid(format!("entry {i} has no string `digest`")));
            };
            entries.entry(digest).or_insert(entry);
        }
        top = object;
    }
    for entry in ours {
        let value = serde_json::to_value(entry).map_err(|e| invalid(e.to_string()))?;
        entries.insert(entry.digest.to_string(), value);
    }
    top.insert("schemaVersion".to_string(), Value::from(2));
    top.insert("mediaType".to_string(), Value::from(OCI_INDEX));
    top.insert("manifests".to_string(), Value::Array(entries.into_values().collect()));
    let bytes = canonical::to_vec(&Value::Object(top)).map_err(|e| invalid(e.to_string()))?;
    if bytes.len() > MAX_MANIFEST_SIZE {
        return Err(PublishError::FallbackIndexTooLarge { reference: reference.to_string(), size: bytes.len() });
    }
    Ok(bytes)
}

/// The fallback index as read from a store, with the `ETag` the store gave, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredIndex {
    /// The index's bytes, as read.
    pub bytes: Vec<u8>,
    /// The store's `ETag` for it, for a conditional write (`If-Match`).
    pub etag: Option<String>,
}

/// What a conditional write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutOutcome {
    /// The write took effect.
    Stored,
    /// The store refused the write because the document changed since it was read (412), or
    /// because a concurrent writer got in the way (see `RegistryTarget`'s store): read, merge
    /// and write again.
    PreconditionFailed,
}

/// Where a fallback index is read and written: the fallback tag of one repository.
#[allow(async_fn_in_trait)]
pub trait IndexStore {
    /// The document at the fallback tag, `None` when the tag does not exist.
    async fn read(&self) -> Result<Option<StoredIndex>, TargetError>;
    /// Writes `bytes` to the fallback tag, only if its `ETag` still is `if_match` when given.
    async fn write(&self, bytes: &[u8], if_match: Option<&str>) -> Result<PutOutcome, TargetError>;
}

/// How many read–merge–write rounds [`write_fallback`] makes before giving up.
pub const FALLBACK_ATTEMPTS: u32 = 5;

/// Writes the fallback index (R-REF-5): read, merge ours, write (with `If-Match` when the
/// store gave an `ETag`), read back; if our entries are missing (a concurrent writer won) or
/// the write failed its precondition, start again, at most [`FALLBACK_ATTEMPTS`] times.
/// Returns the digest of the index that holds our entries.
pub async fn write_fallback(store: &impl IndexStore, reference: &str, ours: &[ReferrerEntry]) -> Result<Digest, PublishError> {
    let write_err = |source: TargetError| PublishError::FallbackIndexWrite { reference: reference.to_string(), source: Box::new(source) };
    for attempt in 1..=FALLBACK_ATTEMPTS {
        let current = store.read().await.map_err(write_err)?;
        let merged = merge_fallback(current.as_ref().map(|c| c.bytes.as_slice()), reference, ours)?;
        if current.as_ref().is_some_and(|c| c.bytes == merged) {
            return Ok(Digest::of(&merged));
        }
        let etag = current.as_ref().and_then(|c| c.etag.as_deref());
        if store.write(&merged, etag).await.map_err(write_err)? == PutOutcome::PreconditionFailed {
            tracing::info!("{reference} changed while we merged (attempt {attempt}); merging again");
            continue;
        }
        match store.read().await.map_err(write_err)? {
            Some(back) if lists_all(&back.bytes, ours) => return Ok(Digest::of(&back.bytes)),
            _ => tracing::info!("{reference} lost our entries to a concurrent writer (attempt {attempt}); merging again"),
        }
        tokio::time::sleep(std::time::Duration::from_millis(fastrand::u64(10..=100 * u64::from(attempt)))).await;
    }
    Err(PublishError::FallbackIndexContended { reference: reference.to_string(), attempts: FALLBACK_ATTEMPTS })
}

#[cfg(test)]
#[path = "referrers_tests.rs"]
mod tests;
