//! What one run of a case must find in the registry, computed from the case's data for the
//! registry host and namespace of this run.
//!
//! Expected manifests are stored as JSON with `${registry}` and `${namespace}` placeholders
//! (rendered labels such as `${build.image}` contain both). [`load_manifests`] substitutes
//! them, writes the result as RFC 8785 canonical JSON (R-MAN-2) and digests it; a case that
//! also states a literal digest must agree. [`fallback_index`] is the referrers fallback index
//! a repository must hold afterwards (R-REF-2..4): the entries that were there before, plus one
//! per expected manifest (R-REF-3), sorted by digest, as canonical JSON.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::{Map, Value};

use super::case::{Case, Expect};
use super::SuiteDir;
use cnb_artifacts_core::canonical;
use cnb_artifacts_core::media_types::{OCI_INDEX, OCI_MANIFEST};
use cnb_artifacts_core::reference::Digest;

/// The case data is wrong or inconsistent: neither the implementation's nor the registry's fault.
#[derive(Debug, thiserror::Error)]
pub enum ExpectError {
    #[error("cannot read expected manifest {path}: {source}")]
    Unreadable { path: PathBuf, source: std::io::Error },
    #[error("expected manifest {path} is not JSON after substitution: {reason}")]
    NotJson { path: PathBuf, reason: String },
    #[error("expected manifest {path} has digest {computed}, but the case states {stated}; run `cnb-artifacts conformance regen`")]
    DigestMismatch { path: PathBuf, stated: String, computed: Digest },
    #[error("the fallback index found before the run in {repo} is not a JSON object; the case setup is broken")]
    BrokenIndexBefore { repo: String },
}

/// One manifest the implementation must publish, for this run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectedArtifact {
    /// The file it came from (under `expected/`).
    pub file: String,
    /// Full repository path (with namespace).
    pub repo: String,
    pub tags: Vec<String>,
    /// Canonical bytes and their digest.
    pub bytes: Vec<u8>,
    pub digest: Digest,
}

impl ExpectedArtifact {
    /// Its referrers entry (R-REF-3): media type, digest, size, `artifactType`, `annotations`.
    pub fn referrer_entry(&self) -> Value {
        let manifest: Value = serde_json::from_slice(&self.bytes).unwrap_or(Value::Null);
        let mut entry = Map::new();
        entry.insert("mediaType".into(), Value::from(OCI_MANIFEST));
        entry.insert("digest".into(), Value::from(self.digest.to_string()));
        entry.insert("size".into(), Value::from(self.bytes.len()));
        if let Some(t) = manifest.get("artifactType") {
            entry.insert("artifactType".into(), t.clone());
        }
        if let Some(a) = manifest.get("annotations").filter(|a| a.as_object().is_some_and(|o| !o.is_empty())) {
            entry.insert("annotations".into(), a.clone());
        }
        Value::Object(entry)
    }
}

/// Replaces the placeholders of an expected-manifest text.
pub fn substitute(text: &str, registry: &str, namespace: &str) -> String {
    text.replace("${registry}", registry).replace("${namespace}", namespace)
}

/// The expected manifests of `case` for this run (none for a rejected case).
pub fn load_manifests(case: &Case, suite: &SuiteDir, registry: &str, namespace: &str) -> Result<Vec<ExpectedArtifact>, ExpectError> {
    let Expect::Published { manifests, .. } = &case.expect else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for m in manifests {
        let path = case.expected_dir(suite).join(&m.file);
        let text = std::fs::read_to_string(&path).map_err(|source| ExpectError::Unreadable { path: path.clone(), source })?;
        let bytes =
            canonical_of(&substitute(&text, registry, namespace)).map_err(|reason| ExpectError::NotJson { path: path.clone(), reason })?;
        let digest = Digest::of(&bytes);
        if let Some(stated) = &m.digest {
            if *stated != digest.as_str() {
                return Err(ExpectError::DigestMismatch { path, stated: stated.clone(), computed: digest });
            }
        }
        let repo = format!("{namespace}/{}", case.repository(m.repository.as_deref()));
        out.push(ExpectedArtifact { file: m.file.clone(), repo, tags: m.tags.clone(), bytes, digest });
    }
    Ok(out)
}

/// Canonical JSON bytes of a JSON text.
pub fn canonical_of(text: &str) -> Result<Vec<u8>, String> {
    let value: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    canonical::to_vec(&value).map_err(|e| e.to_string())
}

/// Pretty JSON of `bytes` for diffs (the bytes themselves when they are not JSON).
pub fn pretty(bytes: &[u8]) -> String {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(v) => serde_json::to_string_pretty(&v).unwrap_or_default(),
        Err(_) => String::from_utf8_lossy(bytes).into_owned(),
    }
}

/// The fallback index `repo` must hold after the run (R-REF-4): the members of the index there
/// before (`before`), its entries (the first of several with one digest), `ours` replacing
/// entries with the same digest, all sorted by digest; canonical JSON.
pub fn fallback_index(repo: &str, before: Option<&[u8]>, ours: &[&ExpectedArtifact]) -> Result<Vec<u8>, ExpectError> {
    let broken = || ExpectError::BrokenIndexBefore { repo: repo.to_string() };
    let mut top = Map::new();
    let mut entries: BTreeMap<String, Value> = BTreeMap::new();
    if let Some(bytes) = before {
        let Ok(Value::Object(mut object)) = serde_json::from_slice::<Value>(bytes) else {
            return Err(broken());
        };
        if let Some(Value::Array(list)) = object.remove("manifests") {
            for entry in list {
                let digest = entry.get("digest").and_then(Value::as_str).ok_or_else(broken)?.to_string();
                entries.entry(digest).or_insert(entry);
            }
        }
        top = object;
    }
    for artifact in ours {
        entries.insert(artifact.digest.to_string(), artifact.referrer_entry());
    }
    top.insert("schemaVersion".into(), Value::from(2));
    top.insert("mediaType".into(), Value::from(OCI_INDEX));
    top.insert("manifests".into(), Value::Array(entries.into_values().collect()));
    canonical::to_vec(&Value::Object(top)).map_err(|_| broken())
}

/// The digests an index lists, in order.
pub fn index_digests(bytes: &[u8]) -> Vec<String> {
    serde_json::from_slice::<Value>(bytes)
        .ok()
        .and_then(|v| v.get("manifests").and_then(Value::as_array).cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|e| e.get("digest").and_then(Value::as_str).map(str::to_string))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn artifact(annotations: &str) -> ExpectedArtifact {
        let text =
            format!(r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","artifactType":"application/x","annotations":{annotations}}}"#);
        let bytes = canonical_of(&text).unwrap();
        ExpectedArtifact { file: "a.json".into(), repo: "ns/app".into(), tags: vec![], digest: Digest::of(&bytes), bytes }
    }

    #[test]
    fn r_man_2_substitution_then_canonical_form() {
        let text = "{\n  \"b\": \"${registry}/${namespace}/app:1.0\",\n  \"a\": 1\n}\n";
        let bytes = canonical_of(&substitute(text, "127.0.0.1:5000", "case")).unwrap();
        assert_eq!(bytes, br#"{"a":1,"b":"127.0.0.1:5000/case/app:1.0"}"#);
    }

    #[test]
    fn r_ref_3_entries_carry_type_and_annotations() {
        let a = artifact(r#"{"k":"v"}"#);
        let entry = a.referrer_entry();
        assert_eq!(entry["artifactType"], "application/x");
        assert_eq!(entry["annotations"]["k"], "v");
        assert_eq!(entry["size"], a.bytes.len());
        assert!(artifact("{}").referrer_entry().get("annotations").is_none());
    }

    #[test]
    fn r_ref_4_expected_index_keeps_foreign_entries_and_members_and_sorts() {
        let ours = artifact(r#"{"k":"v"}"#);
        let foreign = format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","annotations":{{"x":"y"}},"manifests":[
                {{"mediaType":"{OCI_MANIFEST}","digest":"sha256:{f}","size":1}},
                {{"mediaType":"{OCI_MANIFEST}","digest":"sha256:{zero}","size":2}},
                {{"mediaType":"{OCI_MANIFEST}","digest":"sha256:{f}","size":3}}]}}"#,
            f = "f".repeat(64),
            zero = "0".repeat(64)
        );
        let index = fallback_index("ns/app", Some(foreign.as_bytes()), &[&ours]).unwrap();
        let digests = index_digests(&index);
        let mut sorted = digests.clone();
        sorted.sort();
        assert_eq!(digests, sorted);
        assert_eq!(digests.len(), 3);
        let v: Value = serde_json::from_slice(&index).unwrap();
        assert_eq!(v["annotations"]["x"], "y");
        // The first of the two entries with one digest is kept.
        let kept = v["manifests"].as_array().unwrap().iter().find(|e| e["digest"] == format!("sha256:{}", "f".repeat(64))).unwrap();
        assert_eq!(kept["size"], 1);
        assert_eq!(index, canonical_of(std::str::from_utf8(&index).unwrap()).unwrap());
    }

    #[test]
    fn r_ref_2_a_new_index_lists_only_ours() {
        let ours = artifact("{}");
        let index = fallback_index("ns/app", None, &[&ours]).unwrap();
        assert_eq!(index_digests(&index), [ours.digest.to_string()]);
    }
}
