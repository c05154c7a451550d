//! Unit tests of the referrers probe classification, fallback merge and write loop.

use std::cell::RefCell;
use std::collections::BTreeMap;

use rstest::rstest;
use serde_json::{json, Value};

use super::*;

fn digest(c: char) -> Digest {
    format!("sha256:{}", c.to_string().repeat(64)).parse().unwrap()
}

fn entry(c: char) -> ReferrerEntry {
    ReferrerEntry {
        media_type: OCI_MANIFEST.to_string(),
        digest: digest(c),
        size: 100,
        artifact_type: Some("application/vnd.buildpacks.artifact.v1".to_string()),
        annotations: BTreeMap::from([("io.buildpacks.artifact.layer".to_string(), "wasm".to_string())]),
    }
}

fn manifests(bytes: &[u8]) -> Vec<Value> {
    serde_json::from_slice::<Value>(bytes).unwrap()["manifests"].as_array().unwrap().clone()
}

const REF: &str = "r/app:sha256-x";

#[rstest]
#[case::index(200, Some("application/vnd.oci.image.index.v1+json"), r#"{"manifests":[]}"#, Ok(Probe::Supported))]
#[case::index_with_charset(
    200,
    Some("application/vnd.oci.image.index.v1+json; charset=utf-8"),
    r#"{"schemaVersion":2,"manifests":[]}"#,
    Ok(Probe::Supported)
)]
#[case::not_found(404, Some("text/plain"), "404 page not found", Ok(Probe::Unsupported))]
fn r_ref_1_probe_answers(#[case] status: u16, #[case] ct: Option<&str>, #[case] body: &str, #[case] expected: Result<Probe, ()>) {
    assert_eq!(classify_probe(status, ct, body.as_bytes()).map_err(|_| ()), expected);
}

#[rstest]
#[case::html_200(200, Some("text/html"), "<html>login</html>")]
#[case::json_200_not_index(200, Some("application/json"), r#"{"manifests":[]}"#)]
#[case::index_type_bad_body(200, Some("application/vnd.oci.image.index.v1+json"), "not json")]
#[case::bad_request(400, Some("application/json"), r#"{"errors":[]}"#)]
#[case::server_error(503, None, "")]
#[case::unauthorized(401, None, "")]
fn r_ref_1_other_probe_answers_are_errors(#[case] status: u16, #[case] ct: Option<&str>, #[case] body: &str) {
    let err = classify_probe(status, ct, body.as_bytes()).unwrap_err();
    assert!(err.starts_with(&format!("HTTP {status}")), "{err}");
}

#[test]
fn r_ref_3_new_fallback_index_is_canonical_and_sorted() {
    let bytes = merge_fallback(None, REF, &[entry('b'), entry('a')]).unwrap();
    let text = String::from_utf8(bytes.clone()).unwrap();
    let expected = format!(
        concat!(
            r#"{{"manifests":[{{"annotations":{{"io.buildpacks.artifact.layer":"wasm"}},"artifactType":"application/vnd.buildpacks.artifact.v1","#,
            r#""digest":"{a}","mediaType":"application/vnd.oci.image.manifest.v1+json","size":100}},"#,
            r#"{{"annotations":{{"io.buildpacks.artifact.layer":"wasm"}},"artifactType":"application/vnd.buildpacks.artifact.v1","#,
            r#""digest":"{b}","mediaType":"application/vnd.oci.image.manifest.v1+json","size":100}}],"#,
            r#""mediaType":"application/vnd.oci.image.index.v1+json","schemaVersion":2}}"#
        ),
        a = digest('a'),
        b = digest('b')
    );
    assert_eq!(text, expected);
    assert!(lists_all(&bytes, &[entry('a'), entry('b')]));
}

#[test]
fn r_ref_4_merge_keeps_foreign_entries_and_top_level_members() {
    let existing = json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "annotations": {"by": "someone"},
        "manifests": [
            {"mediaType": OCI_MANIFEST, "digest": digest('c').as_str(), "size": 7, "artifactType": "application/spdx+json", "x-extra": true},
            {"mediaType": OCI_MANIFEST, "digest": digest('a').as_str(), "size": 1}
        ]
    });
    let bytes = merge_fallback(Some(existing.to_string().as_bytes()), REF, &[entry('a'), entry('b')]).unwrap();
    let m = manifests(&bytes);
    let digests: Vec<&str> = m.iter().map(|e| e["digest"].as_str().unwrap()).collect();
    assert_eq!(digests, [digest('a').as_str(), digest('b').as_str(), digest('c').as_str()]);
    assert_eq!(m[0]["size"], 100, "our entry replaces the stale one with our digest");
    assert_eq!(m[2]["x-extra"], true, "foreign entries are kept verbatim");
    let top: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(top["annotations"]["by"], "someone");
}

#[test]
fn r_ref_4_merge_is_idempotent() {
    let once = merge_fallback(None, REF, &[entry('a')]).unwrap();
    let twice = merge_fallback(Some(&once), REF, &[entry('a')]).unwrap();
    assert_eq!(once, twice);
}

#[test]
fn r_ref_4_duplicate_foreign_digests_are_deduplicated() {
    let d = digest('c');
    let existing = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {"digest": d.as_str(), "size": 1, "n": 1}, {"digest": d.as_str(), "size": 1, "n": 2}
    ]});
    let m = manifests(&merge_fallback(Some(existing.to_string().as_bytes()), REF, &[]).unwrap());
    assert_eq!(m.len(), 1);
    assert_eq!(m[0]["n"], 1, "the first is kept");
}

#[rstest]
#[case::the_subject_itself(json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": {}, "layers": []}))]
#[case::docker_manifest(json!({"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json"}))]
#[case::untyped_manifest(json!({"schemaVersion": 2, "config": {}, "layers": []}))]
fn r_ref_4_fallback_tag_holding_something_else_is_an_error(#[case] existing: Value) {
    let err = merge_fallback(Some(existing.to_string().as_bytes()), REF, &[entry('a')]).unwrap_err();
    assert!(matches!(err, PublishError::FallbackTagHoldsOther { .. }), "{err}");
    assert!(err.to_string().contains(REF));
}

#[rstest]
#[case::not_json(b"nope".to_vec())]
#[case::schema_1(json!({"schemaVersion": 1, "mediaType": OCI_INDEX}).to_string().into_bytes())]
#[case::manifests_not_array(json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": {}}).to_string().into_bytes())]
#[case::entry_without_digest(json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [{"size": 1}]}).to_string().into_bytes())]
#[case::duplicate_member(format!(r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[{{"digest":"{}","size":1,"size":2}}]}}"#, digest('b')).into_bytes())]
#[case::big_integer(format!(r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[{{"digest":"{}","size":18446744073709551616}}]}}"#, digest('b')).into_bytes())]
fn r_ref_4_invalid_fallback_index_is_an_error(#[case] existing: Vec<u8>) {
    let err = merge_fallback(Some(&existing), REF, &[entry('a')]).unwrap_err();
    assert!(matches!(err, PublishError::FallbackIndexInvalid { .. }), "{err}");
    assert!(err.to_string().contains(REF), "names the tag: {err}");
}

/// R-REF-4: kept is member for member, not byte for byte: a value keeps its value and may change
/// its spelling.
#[test]
fn r_ref_4_foreign_values_are_kept_and_written_canonically() {
    let existing = format!(
        r#"{{ "schemaVersion": 2, "mediaType": "{OCI_INDEX}", "manifests": [ {{ "digest": "{}", "size": 1.0, "x-name": "\u0041" }} ] }}"#,
        digest('b')
    );
    let merged = merge_fallback(Some(existing.as_bytes()), REF, &[]).unwrap();
    let expected =
        format!(r#"{{"manifests":[{{"digest":"{}","size":1,"x-name":"A"}}],"mediaType":"{OCI_INDEX}","schemaVersion":2}}"#, digest('b'));
    assert_eq!(String::from_utf8(merged).unwrap(), expected);
}

/// An in-memory fallback tag; `interfere` simulates a concurrent writer that replaces the
/// document right after each of our writes, `etags` whether the store honours If-Match.
struct MemoryStore {
    doc: RefCell<Option<Vec<u8>>>,
    interfere: RefCell<u32>,
    etags: bool,
    writes: RefCell<u32>,
}

impl MemoryStore {
    fn new(doc: Option<Vec<u8>>, interfere: u32, etags: bool) -> Self {
        MemoryStore { doc: RefCell::new(doc), interfere: RefCell::new(interfere), etags, writes: RefCell::new(0) }
    }
    fn etag(&self) -> Option<String> {
        self.doc.borrow().as_ref().map(|d| format!("\"{}\"", Digest::of(d)))
    }
}

impl IndexStore for MemoryStore {
    async fn read(&self) -> Result<Option<StoredIndex>, TargetError> {
        let etag = if self.etags { self.etag() } else { None };
        Ok(self.doc.borrow().clone().map(|bytes| StoredIndex { bytes, etag }))
    }
    async fn write(&self, bytes: &[u8], if_match: Option<&str>) -> Result<PutOutcome, TargetError> {
        *self.writes.borrow_mut() += 1;
        if self.etags && if_match.map(str::to_string) != self.etag() {
            return Ok(PutOutcome::PreconditionFailed);
        }
        *self.doc.borrow_mut() = Some(bytes.to_vec());
        if *self.interfere.borrow() > 0 {
            *self.interfere.borrow_mut() -= 1;
            // A concurrent publisher that read before our write overwrites it with its own entry.
            let theirs = merge_fallback(None, REF, &[entry('f')]).unwrap();
            *self.doc.borrow_mut() = Some(theirs);
        }
        Ok(PutOutcome::Stored)
    }
}

#[tokio::test(start_paused = true)]
async fn r_ref_5_lost_race_is_merged_again() {
    let store = MemoryStore::new(None, 2, false);
    let d = write_fallback(&store, REF, &[entry('a')]).await.unwrap();
    let doc = store.doc.borrow().clone().unwrap();
    assert_eq!(d, Digest::of(&doc));
    let digests: Vec<String> = manifests(&doc).iter().map(|e| e["digest"].as_str().unwrap().to_string()).collect();
    assert_eq!(digests, [digest('a').to_string(), digest('f').to_string()], "theirs kept, ours re-added");
    assert_eq!(*store.writes.borrow(), 3);
}

#[tokio::test(start_paused = true)]
async fn r_ref_5_endless_contention_is_an_error() {
    let store = MemoryStore::new(None, u32::MAX, false);
    let err = write_fallback(&store, REF, &[entry('a')]).await.unwrap_err();
    assert!(matches!(err, PublishError::FallbackIndexContended { attempts: FALLBACK_ATTEMPTS, .. }), "{err}");
}

#[tokio::test(start_paused = true)]
async fn r_ref_5_if_match_is_sent_when_the_store_gives_an_etag() {
    let existing = merge_fallback(None, REF, &[entry('c')]).unwrap();
    let store = MemoryStore::new(Some(existing), 0, true);
    write_fallback(&store, REF, &[entry('a')]).await.unwrap();
    assert_eq!(*store.writes.borrow(), 1, "the If-Match matched the first time");
    assert_eq!(manifests(store.doc.borrow().as_ref().unwrap()).len(), 2);
}

#[tokio::test(start_paused = true)]
async fn r_ref_5_unchanged_index_is_not_rewritten() {
    let existing = merge_fallback(None, REF, &[entry('a')]).unwrap();
    let store = MemoryStore::new(Some(existing.clone()), 0, false);
    assert_eq!(write_fallback(&store, REF, &[entry('a')]).await.unwrap(), Digest::of(&existing));
    assert_eq!(*store.writes.borrow(), 0);
}
