//! What a side left in its namespace, normalised so that two namespaces compare, and the first
//! divergence between two sides.
//!
//! [`capture`] reads every tag of the namespace with the exact manifest bytes it points at, and
//! every manifest a fallback index there lists by digest. Normalising: the namespace's name
//! becomes `${namespace}` (the two namespaces of a build have the same length, so sizes stay
//! equal), and every digest of a manifest of the namespace becomes the digest of its normalised
//! bytes (a manifest whose annotations name the namespace has another digest in the other one,
//! and so has the index listing it). Blob digests are left alone: no blob depends on the
//! namespace; a fallback index, whose entries are sorted by those digests, is sorted again by
//! the normalised ones. Blob presence is the set of blobs the manifests name that the registry lacks.
//!
//! [`compare`] checks, in order: the exit class, the set of tags (and listed digests), each
//! manifest's normalised bytes, blob presence; and reports the first difference.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::execute::Side;
use crate::registry_view::{RegistryView, ViewError};
use cnb_artifacts_core::canonical;
use cnb_artifacts_core::reference::Digest;

/// What a namespace holds, normalised.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct State {
    /// `repo:tag` (repository inside the namespace) or `repo@<normalised digest>` → the
    /// normalised manifest text.
    pub manifests: BTreeMap<String, String>,
    /// `repo: blob digest` for every blob a manifest names that the repository lacks.
    pub missing_blobs: BTreeSet<String>,
}

/// Reads namespace `ns` (`known`: repositories to read even when the catalog does not list them).
pub async fn capture(view: &RegistryView, ns: &str, known: &[String]) -> Result<State, ViewError> {
    let snapshot = view.snapshot(ns, known).await?;
    // (repo inside the namespace, tag or None, raw bytes)
    let mut raw: Vec<(String, Option<String>, Vec<u8>)> = Vec::new();
    for (repo, tags) in &snapshot.repos {
        for (tag, m) in tags {
            raw.push((repo.clone(), Some(tag.clone()), m.bytes.clone()));
        }
    }
    let mut seen: BTreeSet<(String, Digest)> = raw.iter().map(|(r, _, b)| (r.clone(), Digest::of(b))).collect();
    let listed: Vec<(String, Digest)> =
        raw.iter().flat_map(|(repo, _, bytes)| listed_digests(bytes).into_iter().map(move |d| (repo.clone(), d))).collect();
    for (repo, digest) in listed {
        if seen.insert((repo.clone(), digest.clone())) {
            if let Some(m) = view.manifest(&repo, digest.as_str()).await? {
                raw.push((repo, None, m.bytes));
            }
        }
    }
    let mut missing = BTreeSet::new();
    for (repo, _, bytes) in &raw {
        for blob in blob_digests(bytes) {
            if !view.blob_exists(repo, &blob).await? {
                missing.insert(format!("{}: {blob}", inside(repo, ns)));
            }
        }
    }
    Ok(normalise(ns, raw, missing))
}

/// The state of `raw` manifests with the namespace and the namespace-dependent digests replaced.
fn normalise(ns: &str, raw: Vec<(String, Option<String>, Vec<u8>)>, missing_blobs: BTreeSet<String>) -> State {
    let mut renamed: BTreeMap<String, String> = BTreeMap::new();
    let text_of = |bytes: &[u8], renamed: &BTreeMap<String, String>| {
        let mut text = String::from_utf8_lossy(bytes).replace(ns, "${namespace}");
        for (from, to) in renamed {
            text = text.replace(from.as_str(), to.as_str());
        }
        resorted(text)
    };
    // Manifests name manifests at most two deep (index → artifact → subject): three rounds
    // settle every name.
    for _ in 0..3 {
        let mut next = BTreeMap::new();
        for (_, _, bytes) in &raw {
            let normalised = text_of(&bytes[..], &renamed);
            let raw_digest = Digest::of(bytes).to_string();
            let norm_digest = format!("~{}", Digest::of(normalised.as_bytes()));
            if raw_digest != norm_digest[1..] {
                next.insert(raw_digest, norm_digest);
            }
        }
        renamed = next;
    }
    let mut manifests = BTreeMap::new();
    for (repo, tag, bytes) in &raw {
        let text = text_of(&bytes[..], &renamed);
        let key = match tag {
            Some(t) => format!("{}:{t}", inside(repo, ns)),
            None => {
                let d = Digest::of(bytes).to_string();
                format!("{}@{}", inside(repo, ns), renamed.get(&d).cloned().unwrap_or(d))
            }
        };
        manifests.insert(key, text);
    }
    State { manifests, missing_blobs }
}

/// A canonical index (R-REF-3) with its entries sorted again, by their normalised digests: the
/// raw digests sort the entries in an order that depends on the namespace. Any other text as
/// it is (a non-canonical index then differs from a canonical one, as it should).
fn resorted(text: String) -> String {
    let Ok(mut value) = serde_json::from_str::<Value>(&text) else { return text };
    if canonical::to_vec(&value).ok().as_deref() != Some(text.as_bytes()) {
        return text;
    }
    let Some(entries) = value.get_mut("manifests").and_then(Value::as_array_mut) else { return text };
    entries.sort_by(|a, b| a["digest"].as_str().cmp(&b["digest"].as_str()));
    canonical::to_vec(&value).ok().and_then(|bytes| String::from_utf8(bytes).ok()).unwrap_or(text)
}

fn inside<'a>(repo: &'a str, ns: &str) -> &'a str {
    repo.strip_prefix(ns).and_then(|r| r.strip_prefix('/')).unwrap_or(repo)
}

/// The digests an index lists.
fn listed_digests(bytes: &[u8]) -> Vec<Digest> {
    let Ok(value) = serde_json::from_slice::<Value>(bytes) else { return Vec::new() };
    value["manifests"].as_array().into_iter().flatten().filter_map(|m| m["digest"].as_str()?.parse().ok()).collect()
}

/// The blobs a manifest names (config and layers).
fn blob_digests(bytes: &[u8]) -> Vec<Digest> {
    let Ok(value) = serde_json::from_slice::<Value>(bytes) else { return Vec::new() };
    let config = value["config"]["digest"].as_str().and_then(|d| d.parse().ok());
    let layers = value["layers"].as_array().into_iter().flatten().filter_map(|l| l["digest"].as_str()?.parse().ok());
    config.into_iter().chain(layers).collect()
}

/// The first difference between the reference's side and the other one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Divergence {
    /// They ended differently.
    Exit { reference: String, implementation: String },
    /// A tag (or a listed digest) exists on one side only.
    Tags { only_reference: Vec<String>, only_implementation: Vec<String> },
    /// The same tag points at different bytes.
    Manifest { key: String, reference: String, implementation: String },
    /// A named blob is missing on one side only.
    Blobs { only_reference: Vec<String>, only_implementation: Vec<String> },
}

impl Divergence {
    /// What kind of difference it is: a shrunk build must keep diverging this way.
    pub fn kind(&self) -> String {
        match self {
            Divergence::Exit { reference, implementation } => format!("exit {reference} / {implementation}"),
            Divergence::Tags { .. } => "tags".to_string(),
            Divergence::Manifest { .. } => "manifest".to_string(),
            Divergence::Blobs { .. } => "blobs".to_string(),
        }
    }
}

impl std::fmt::Display for Divergence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let list = |items: &[String]| if items.is_empty() { "nothing".to_string() } else { items.join(", ") };
        match self {
            Divergence::Exit { reference, implementation } => {
                write!(f, "exit: the reference {reference}, the implementation {implementation}")
            }
            Divergence::Tags { only_reference, only_implementation } => write!(
                f,
                "tags: only the reference has {}; only the implementation has {}",
                list(only_reference),
                list(only_implementation)
            ),
            Divergence::Manifest { key, reference, implementation } => {
                write!(f, "manifest {key}: the reference's is\n  {reference}\nthe implementation's is\n  {implementation}")
            }
            Divergence::Blobs { only_reference, only_implementation } => write!(
                f,
                "blobs: missing only on the reference's side: {}; missing only on the implementation's side: {}",
                list(only_reference),
                list(only_implementation)
            ),
        }
    }
}

/// The first divergence of `implementation` from `reference`, or none.
pub fn compare(reference: &Side, implementation: &Side) -> Option<Divergence> {
    if reference.class != implementation.class {
        return Some(Divergence::Exit { reference: reference.class.to_string(), implementation: implementation.class.to_string() });
    }
    let (r, i) = (&reference.state, &implementation.state);
    // Tags first, then what they point at, then what is listed by digest only (whose keys hold
    // the digest, so differ whenever the bytes do).
    let only = |a: &State, b: &State, by_digest: bool| -> Vec<String> {
        a.manifests.keys().filter(|k| k.contains('@') == by_digest && !b.manifests.contains_key(*k)).cloned().collect()
    };
    for by_digest in [false, true] {
        let (only_reference, only_implementation) = (only(r, i, by_digest), only(i, r, by_digest));
        if !only_reference.is_empty() || !only_implementation.is_empty() {
            return Some(Divergence::Tags { only_reference, only_implementation });
        }
        if let Some((key, text)) = r.manifests.iter().find(|(k, t)| k.contains('@') == by_digest && i.manifests.get(*k) != Some(*t)) {
            return Some(Divergence::Manifest { key: key.clone(), reference: text.clone(), implementation: i.manifests[key].clone() });
        }
    }
    if r.missing_blobs != i.missing_blobs {
        return Some(Divergence::Blobs {
            only_reference: r.missing_blobs.difference(&i.missing_blobs).cloned().collect(),
            only_implementation: i.missing_blobs.difference(&r.missing_blobs).cloned().collect(),
        });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::differential::execute::ExitClass;

    fn artifact(ns: &str, label: &str) -> Vec<u8> {
        format!(r#"{{"annotations":{{"image":"host/{ns}/app:1.0","l":"{label}"}},"config":{{"digest":"{}"}}}}"#, Digest::of(b"{}"))
            .into_bytes()
    }

    fn index(entries: &[&[u8]]) -> Vec<u8> {
        let list: Vec<String> = entries.iter().map(|e| format!(r#"{{"digest":"{}","size":{}}}"#, Digest::of(e), e.len())).collect();
        format!(r#"{{"manifests":[{}]}}"#, list.join(",")).into_bytes()
    }

    fn state(ns: &str, label: &str) -> State {
        let a = artifact(ns, label);
        let raw = vec![
            (format!("{ns}/app"), Some("x".to_string()), a.clone()),
            (format!("{ns}/app"), Some("sha256-aa".to_string()), index(&[&a])),
            (format!("{ns}/app"), None, a),
        ];
        normalise(ns, raw, BTreeSet::new())
    }

    fn side(state: State) -> Side {
        Side { class: ExitClass::Accepted, stdout: String::new(), stderr: String::new(), rules: Vec::new(), state }
    }

    #[test]
    fn namespaces_and_the_digests_that_depend_on_them_are_normalised_away() {
        assert_eq!(state("diff-1-r", "v"), state("diff-1-i", "v"));
        assert_eq!(compare(&side(state("diff-1-r", "v")), &side(state("diff-1-i", "v"))), None);
    }

    #[test]
    fn index_entries_sorted_by_raw_digests_compare_by_normalised_ones() {
        let (a, b) = (br#"{"n":"1"}"#.to_vec(), br#"{"n":"2"}"#.to_vec());
        let entries = |first: &[u8], second: &[u8]| {
            let e = |m: &[u8]| format!(r#"{{"digest":"{}","size":{}}}"#, Digest::of(m), m.len());
            format!(r#"{{"manifests":[{},{}]}}"#, e(first), e(second)).into_bytes()
        };
        let one = normalise("ns", vec![("ns/app".into(), Some("i".into()), entries(&a, &b))], BTreeSet::new());
        let other = normalise("ns", vec![("ns/app".into(), Some("i".into()), entries(&b, &a))], BTreeSet::new());
        assert_eq!(one, other);
    }

    #[test]
    fn a_label_difference_is_the_first_manifest_that_differs() {
        let d = compare(&side(state("diff-1-r", "v")), &side(state("diff-1-i", "w"))).expect("diverges");
        assert_eq!(d.kind(), "manifest", "{d}");
        assert!(d.to_string().starts_with("manifest app:"), "{d}");
    }

    #[test]
    fn exit_classes_come_first() {
        let mut other = side(State::default());
        other.class = ExitClass::RejectedInput;
        let d = compare(&side(state("n", "v")), &other).expect("diverges");
        assert_eq!(d.kind(), "exit accepted / rejected-input");
        assert!(d.to_string().contains("the reference accepted"), "{d}");
    }

    #[test]
    fn missing_blobs_are_compared() {
        let mut a = side(State::default());
        a.state.missing_blobs.insert("app: sha256:00".into());
        let d = compare(&a, &side(State::default())).expect("diverges");
        assert_eq!(d.kind(), "blobs");
    }
}
