//! Publishing to an OCI image layout directory instead of a registry (spec rule R-PUSH-8).
//!
//! The layout gets exactly the blobs and manifest bytes a registry would: `oci-layout` holds
//! `{"imageLayoutVersion":"1.0.0"}`, every blob and manifest is `blobs/sha256/<hex>`, and
//! `index.json` lists each artifact manifest once per tag with
//! `org.opencontainers.image.ref.name` = `<repository>:<tag>` (untagged artifacts once, without
//! a ref name). An existing layout is merged into: its other entries and top-level members are
//! kept, a tag we set replaces the entry that had the same ref name, and the file is rewritten
//! as RFC 8785 canonical JSON with entries sorted by (ref name, digest), so the same content
//! always gives the same bytes. Files are replaced atomically (write to a temporary file in the
//! same directory, then rename). Layouts have no referrers API: consumers find artifacts by the
//! `subject` of the manifests `index.json` lists.

use std::path::{Path, PathBuf};

use futures_util::StreamExt;
use serde_json::{Map, Value};
use tokio::io::AsyncWriteExt;

use crate::canonical;
use crate::media_types::OCI_INDEX;
use crate::plan::Subject;
use crate::publish::checked_file;
use crate::publish::error::{PublishError, TargetError};
use crate::publish::progress::BlobProgress;
use crate::publish::referrers::{ReferrerEntry, ReferrersMode, ReferrersOutcome, ReferrersUsed};
use crate::publish::target::{BlobSource, FetchedManifest, ManifestRef, Target, TargetKind};
use crate::reference::Digest;

/// The annotation naming an `index.json` entry.
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";
const LAYOUT_FILE: &str = "oci-layout";
const LAYOUT_CONTENT: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;

/// An OCI image layout directory being published to.
#[derive(Debug)]
pub struct LayoutTarget {
    root: PathBuf,
    chunk_size: usize,
}

impl LayoutTarget {
    /// Opens the layout at `root`, creating it (and `oci-layout`, `index.json`) when missing;
    /// an existing layout must have a valid `oci-layout` and `index.json`.
    pub fn open(root: &Path, chunk_size: usize) -> Result<LayoutTarget, PublishError> {
        let target = LayoutTarget { root: root.to_path_buf(), chunk_size };
        target.init().map_err(|source| PublishError::LayoutUnusable { path: root.to_path_buf(), source: Box::new(source) })?;
        Ok(target)
    }

    fn init(&self) -> Result<(), TargetError> {
        let blobs = self.root.join("blobs").join("sha256");
        std::fs::create_dir_all(&blobs).map_err(|source| TargetError::WriteLayout { path: blobs, source })?;
        let layout = self.root.join(LAYOUT_FILE);
        match std::fs::read(&layout) {
            Ok(bytes) => {
                let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                if v.get("imageLayoutVersion").and_then(Value::as_str) != Some("1.0.0") {
                    return Err(TargetError::InvalidLayout { path: layout, reason: "imageLayoutVersion is not 1.0.0".into() });
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => write_atomic(&layout, LAYOUT_CONTENT)?,
            Err(source) => return Err(TargetError::ReadFile { path: layout, source }),
        }
        let index = self.read_index()?;
        self.write_index(index)
    }

    fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root.join("blobs").join("sha256").join(digest.hex())
    }

    fn index_path(&self) -> PathBuf {
        self.root.join("index.json")
    }

    /// `index.json` as (other top-level members, entries); an empty index when missing.
    fn read_index(&self) -> Result<(Map<String, Value>, Vec<Value>), TargetError> {
        let path = self.index_path();
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Map::new(), Vec::new())),
            Err(source) => return Err(TargetError::ReadFile { path, source }),
        };
        let invalid = |reason: &str| TargetError::InvalidLayout { path: path.clone(), reason: reason.to_string() };
        let Ok(Value::Object(mut top)) = serde_json::from_slice::<Value>(&bytes) else {
            return Err(invalid("index.json is not a JSON object"));
        };
        if top.get("schemaVersion").and_then(Value::as_u64) != Some(2) {
            return Err(invalid("index.json schemaVersion is not 2"));
        }
        let entries = match top.remove("manifests") {
            Some(Value::Array(a)) => a,
            None => Vec::new(),
            Some(_) => return Err(invalid("index.json `manifests` is not an array")),
        };
        if entries.iter().any(|e| e.get("digest").and_then(Value::as_str).is_none()) {
            return Err(invalid("an index.json entry has no string `digest`"));
        }
        Ok((top, entries))
    }

    /// Writes `index.json`: entries deduplicated and sorted by (ref name, digest), canonical JSON.
    fn write_index(&self, (mut top, mut entries): (Map<String, Value>, Vec<Value>)) -> Result<(), TargetError> {
        entries.sort_by_key(entry_key);
        entries.dedup();
        top.insert("schemaVersion".into(), Value::from(2));
        top.insert("mediaType".into(), Value::from(OCI_INDEX));
        top.insert("manifests".into(), Value::Array(entries));
        let path = self.index_path();
        let bytes =
            canonical::to_vec(&Value::Object(top)).map_err(|e| TargetError::InvalidLayout { path: path.clone(), reason: e.to_string() })?;
        write_atomic(&path, &bytes)
    }

    fn store_bytes(&self, digest: &Digest, bytes: &[u8]) -> Result<(), TargetError> {
        let path = self.blob_path(digest);
        if path.exists() {
            return Ok(());
        }
        write_atomic(&path, bytes)
    }

    /// Adds `entry` for `reference`: a tag replaces the entry with the same ref name and the
    /// untagged entry of the same digest; a digest adds an untagged entry unless one with that
    /// digest is listed already.
    fn list(&self, repository: &str, reference: ManifestRef<'_>, mut entry: Map<String, Value>) -> Result<(), TargetError> {
        let (top, mut entries) = self.read_index()?;
        let digest = entry.get("digest").and_then(Value::as_str).unwrap_or_default().to_string();
        match reference {
            ManifestRef::Tag(tag) => {
                let name = format!("{repository}:{tag}");
                entries.retain(|e| {
                    let n = ref_name(e);
                    n != Some(name.as_str()) && !(n.is_none() && entry_digest(e) == digest)
                });
                let mut annotations = Map::new();
                annotations.insert(REF_NAME.into(), Value::from(name));
                entry.insert("annotations".into(), Value::Object(annotations));
            }
            ManifestRef::Digest(_) => {
                if entries.iter().any(|e| entry_digest(e) == digest) {
                    return Ok(());
                }
            }
        }
        entries.push(Value::Object(entry));
        self.write_index((top, entries))
    }
}

fn ref_name(entry: &Value) -> Option<&str> {
    entry.get("annotations").and_then(|a| a.get(REF_NAME)).and_then(Value::as_str)
}

fn entry_digest(entry: &Value) -> &str {
    entry.get("digest").and_then(Value::as_str).unwrap_or_default()
}

fn entry_key(entry: &Value) -> (String, String) {
    (ref_name(entry).unwrap_or_default().to_string(), entry_digest(entry).to_string())
}

/// Writes `bytes` to `path` through a temporary file in the same directory and a rename.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), TargetError> {
    use std::io::Write;
    let err = |source| TargetError::WriteLayout { path: path.to_path_buf(), source };
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(err)?;
    tmp.write_all(bytes).map_err(err)?;
    tmp.as_file().sync_all().map_err(err)?;
    tmp.persist(path).map_err(|e| err(e.error))?;
    Ok(())
}

impl Target for LayoutTarget {
    fn kind(&self) -> TargetKind {
        TargetKind::Layout
    }

    fn describe(&self) -> String {
        format!("oci-layout:{}", self.root.display())
    }

    async fn fetch_manifest(&self, repository: &str, reference: ManifestRef<'_>) -> Result<Option<FetchedManifest>, TargetError> {
        let digest = match reference {
            ManifestRef::Digest(d) => d.clone(),
            ManifestRef::Tag(tag) => {
                let name = format!("{repository}:{tag}");
                let (_, entries) = self.read_index()?;
                let Some(entry) = entries.iter().find(|e| ref_name(e) == Some(name.as_str())) else {
                    return Ok(None);
                };
                entry_digest(entry).parse().map_err(|reason| TargetError::InvalidLayout { path: self.index_path(), reason })?
            }
        };
        let path = self.blob_path(&digest);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(TargetError::ReadFile { path, source }),
        };
        let fetched = FetchedManifest::new(bytes);
        if fetched.digest != digest {
            return Err(TargetError::InvalidLayout { path, reason: format!("content hashes to {}", fetched.digest) });
        }
        Ok(Some(fetched))
    }

    async fn blob_exists(&self, _repository: &str, digest: &Digest) -> Result<bool, TargetError> {
        Ok(self.blob_path(digest).is_file())
    }

    async fn mount_blob(&self, _repository: &str, _from: &str, _digest: &Digest) -> Result<bool, TargetError> {
        Ok(false)
    }

    async fn push_blob(
        &self,
        _repository: &str,
        digest: &Digest,
        source: BlobSource<'_>,
        progress: &BlobProgress,
    ) -> Result<(), TargetError> {
        let (path, size, identity) = match source {
            BlobSource::Bytes(bytes) => return self.store_bytes(digest, bytes),
            BlobSource::File { path, size, identity } => (path, size, identity),
        };
        let dest = self.blob_path(digest);
        let werr = |source| TargetError::WriteLayout { path: dest.clone(), source };
        let tmp = tempfile::NamedTempFile::new_in(dest.parent().unwrap_or(&self.root)).map_err(werr)?;
        let mut out = tokio::fs::File::from_std(tmp.reopen().map_err(werr)?);
        let mut stream = std::pin::pin!(
            checked_file::file_stream(path, identity, Some(digest), size, self.chunk_size, checked_file::Check::Digest, progress.clone())
                .await?
        );
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| checked_file::stream_error(path, digest, size, e))?;
            out.write_all(&chunk).await.map_err(werr)?;
        }
        out.sync_all().await.map_err(werr)?;
        progress.finish();
        tmp.persist(&dest).map_err(|e| werr(e.error))?;
        Ok(())
    }

    async fn push_manifest(&self, repository: &str, reference: ManifestRef<'_>, media_type: &str, bytes: &[u8]) -> Result<(), TargetError> {
        let digest = Digest::of(bytes);
        self.store_bytes(&digest, bytes)?;
        let mut entry = Map::new();
        entry.insert("mediaType".into(), Value::from(media_type));
        entry.insert("digest".into(), Value::from(digest.as_str()));
        entry.insert("size".into(), Value::from(bytes.len() as u64));
        let manifest: Value = serde_json::from_slice(bytes).unwrap_or(Value::Null);
        if let Some(t) = manifest.get("artifactType").and_then(Value::as_str) {
            entry.insert("artifactType".into(), Value::from(t));
        }
        self.list(repository, reference, entry)
    }

    async fn record_referrers(
        &self,
        _: &str,
        _: &Subject,
        _: &[ReferrerEntry],
        _: ReferrersMode,
    ) -> Result<ReferrersOutcome, PublishError> {
        Ok(ReferrersOutcome { used: ReferrersUsed::Layout, fallback_index: None })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(root: &Path) -> Value {
        serde_json::from_slice(&std::fs::read(root.join("index.json")).unwrap()).unwrap()
    }

    #[tokio::test]
    async fn r_push_8_new_layout_has_its_marker_and_an_empty_index() {
        let dir = tempfile::tempdir().unwrap();
        LayoutTarget::open(dir.path(), 4).unwrap();
        assert_eq!(std::fs::read(dir.path().join("oci-layout")).unwrap(), LAYOUT_CONTENT);
        assert_eq!(
            std::fs::read_to_string(dir.path().join("index.json")).unwrap(),
            r#"{"manifests":[],"mediaType":"application/vnd.oci.image.index.v1+json","schemaVersion":2}"#
        );
    }

    #[tokio::test]
    async fn r_push_8_tags_replace_entries_and_foreign_entries_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let foreign = r#"{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:0000000000000000000000000000000000000000000000000000000000000000","size":1,"annotations":{"org.opencontainers.image.ref.name":"app:latest"}}],"annotations":{"x":"y"}}"#;
        std::fs::write(dir.path().join("index.json"), foreign).unwrap();
        let t = LayoutTarget::open(dir.path(), 4).unwrap();
        let m1 = br#"{"artifactType":"a/b","mediaType":"application/vnd.oci.image.manifest.v1+json"}"#;
        let m2 = br#"{"mediaType":"application/vnd.oci.image.manifest.v1+json","x":1}"#;
        let ty = crate::media_types::OCI_MANIFEST;
        let d1 = Digest::of(m1);
        t.push_manifest("team/app", ManifestRef::Digest(&d1), ty, m1).await.unwrap();
        assert_eq!(index(dir.path())["manifests"].as_array().unwrap().len(), 2, "untagged entry added");
        t.push_manifest("team/app", ManifestRef::Tag("wasm"), ty, m1).await.unwrap();
        t.push_manifest("team/app", ManifestRef::Tag("v1"), ty, m1).await.unwrap();
        t.push_manifest("team/app", ManifestRef::Tag("v1"), ty, m2).await.unwrap();
        let idx = index(dir.path());
        let names: Vec<(String, String)> = idx["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| (ref_name(e).unwrap_or("-").to_string(), entry_digest(e).to_string()))
            .collect();
        assert_eq!(
            names,
            vec![
                ("app:latest".to_string(), format!("sha256:{}", "0".repeat(64))),
                ("team/app:v1".to_string(), Digest::of(m2).to_string()),
                ("team/app:wasm".to_string(), d1.to_string()),
            ]
        );
        assert_eq!(idx["annotations"]["x"], "y", "other top-level members are kept");
        assert_eq!(idx["manifests"][2]["artifactType"], "a/b");
        let fetched = t.fetch_manifest("team/app", ManifestRef::Tag("wasm")).await.unwrap().unwrap();
        assert_eq!(fetched.bytes, m1.to_vec());
    }

    #[tokio::test]
    async fn r_push_8_changed_file_leaves_no_blob() {
        let dir = tempfile::tempdir().unwrap();
        let t = LayoutTarget::open(dir.path(), 4).unwrap();
        let f = dir.path().join("f");
        std::fs::write(&f, b"changed").unwrap();
        let planned = Digest::of(b"planned");
        let identity = crate::input_file::FileIdentity::of(&std::fs::metadata(&f).unwrap());
        let err = t.push_blob("r", &planned, BlobSource::File { path: &f, size: 7, identity }, &BlobProgress::none()).await.unwrap_err();
        assert!(matches!(err, TargetError::FileChanged { .. }), "{err}");
        assert!(!t.blob_exists("r", &planned).await.unwrap());
    }

    #[test]
    fn r_push_8_invalid_layout_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("oci-layout"), br#"{"imageLayoutVersion":"2"}"#).unwrap();
        assert!(matches!(LayoutTarget::open(dir.path(), 4), Err(PublishError::LayoutUnusable { .. })));
    }
}
