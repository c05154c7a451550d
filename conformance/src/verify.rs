//! Judging a run: compares what the registry holds after the implementation ran with what the
//! case expects, and turns every difference into a [`Finding`].
//!
//! For a published case (R-PUSH-*, R-MAN-*, R-REF-*): every invocation exited 0; each expected
//! tag points at exactly the expected manifest bytes, served with the OCI manifest media type,
//! and its blobs exist; an artifact published by digest only exists by digest; each artifact
//! repository's fallback index (`sha256-<subject hex>`) is exactly the expected merge of what
//! was there before with the new entries (with concurrent publishers, R-REF-5, the new entries
//! it lists: lost ones are allowed); and nothing else changed: no other tag appeared,
//! moved or vanished. For a rejected case (R-ERR-1, R-COLL-*, R-CONF-*, …): every invocation
//! exited non-zero, no tag appeared, moved or vanished, and no fixture file was uploaded as a
//! blob.

use std::collections::{BTreeMap, BTreeSet};

use super::case::IndexCheck;
use super::diff;
use super::ending;
use super::expect::{self, ExpectError, ExpectedArtifact};
use super::implementation::{Exit, Invocation};
use super::outcome::Finding;
use super::registry_view::{RegistryView, ServedManifest, Snapshot, ViewError};
use cnb_artifacts_core::media_types::{OCI_INDEX, OCI_MANIFEST};
use cnb_artifacts_core::plan::Subject;
use cnb_artifacts_core::reference::Digest;

/// Why verification could not finish: the registry or the case data, never the implementation.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error(transparent)]
    Registry(#[from] ViewError),
    #[error(transparent)]
    CaseData(#[from] ExpectError),
}

/// Every invocation must have exited 0.
pub fn exits_succeeded(invocations: &[&Invocation]) -> Vec<Finding> {
    invocations
        .iter()
        .filter(|i| !i.exit.success())
        .map(|i| {
            let how = ending::crash(i).unwrap_or_else(|| format!("ended with {}", i.exit));
            Finding::new("exit-status", format!("the publish must succeed, but `{}` {how}", i.command))
                .expected_found("exit status 0", i.exit.to_string())
        })
        .collect()
}

/// Every invocation must have exited non-zero, and not by timing out (a hang is no rejection)
/// nor by crashing (a crash is no rejection either, [`ending::crash`]).
pub fn exits_rejected(invocations: &[&Invocation]) -> Vec<Finding> {
    invocations
        .iter()
        .filter_map(|i| match i.exit {
            _ if ending::crash(i).is_some() => Some(
                Finding::new(
                    "crash",
                    format!("the build must be rejected, but the implementation {}", ending::crash(i).unwrap_or_default()),
                )
                .expected_found("a non-zero exit status without a crash", i.exit.to_string()),
            ),
            Exit::Code(0) => Some(
                Finding::new("exit-status", "the build must be rejected, but the implementation exited 0")
                    .expected_found("a non-zero exit status", "exit status 0"),
            ),
            Exit::TimedOut { .. } => Some(
                Finding::new("exit-status", format!("the implementation {}", i.exit))
                    .expected_found("a non-zero exit status", i.exit.to_string()),
            ),
            _ => None,
        })
        .collect()
}

/// Checks a published case; `referrers_tag` is `sha256-<subject hex>`.
pub async fn published(
    view: &RegistryView,
    expected: &[ExpectedArtifact],
    index_check: IndexCheck,
    referrers_api: bool,
    subject: &Subject,
    before: &Snapshot,
    after: &Snapshot,
) -> Result<Vec<Finding>, VerifyError> {
    let mut findings = Vec::new();
    let referrers_tag = subject.digest.referrers_tag();
    let mut checked: BTreeSet<(String, String)> = BTreeSet::new();
    for artifact in expected {
        for tag in &artifact.tags {
            checked.insert((artifact.repo.clone(), tag.clone()));
            findings.extend(tag_points_at(artifact, tag, after.get(&artifact.repo, tag)));
        }
        if artifact.tags.is_empty() {
            let found = view.manifest(&artifact.repo, artifact.digest.as_str()).await?;
            if found.is_none() {
                findings.push(
                    Finding::new(
                        "by-digest",
                        format!("{}@{} (published by digest only, from {}) does not exist", artifact.repo, artifact.digest, artifact.file),
                    )
                    .missing("manifest"),
                );
            }
        }
        findings.extend(blobs_exist(view, artifact).await?);
    }
    let mut by_repo: BTreeMap<&str, Vec<&ExpectedArtifact>> = BTreeMap::new();
    for artifact in expected {
        by_repo.entry(&artifact.repo).or_default().push(artifact);
    }
    for (repo, ours) in by_repo {
        checked.insert((repo.to_string(), referrers_tag.clone()));
        if referrers_api {
            findings.extend(referrers_api_lists(view, repo, subject, &ours).await?);
            continue;
        }
        let before_index = before.get(repo, &referrers_tag).map(|f| f.bytes.as_slice());
        let found = after.get(repo, &referrers_tag);
        let ours = match (index_check, found) {
            (IndexCheck::AllowLostEntries, Some(found)) => {
                let listed = expect::index_digests(&found.bytes);
                let kept: Vec<&ExpectedArtifact> = ours.into_iter().filter(|a| listed.contains(&a.digest.to_string())).collect();
                if kept.is_empty() {
                    findings.push(Finding::new(
                        "fallback-index",
                        format!("the fallback index {repo}:{referrers_tag} lists none of the new artifacts; at least the last writer's must survive (R-REF-5)"),
                    ));
                }
                kept
            }
            _ => ours,
        };
        let wanted = expect::fallback_index(repo, before_index, &ours)?;
        findings.extend(fallback_index_is(repo, &referrers_tag, &wanted, found));
    }
    findings.extend(nothing_else_changed(before, after, &checked));
    Ok(findings)
}

/// R-PUSH-10: the app image manifest, byte for byte, in every repository of `expected` other
/// than `app_repo`, by digest, with the blobs it names.
pub async fn subject_present(
    view: &RegistryView,
    app_repo: &str,
    expected: &[ExpectedArtifact],
    subject: &Subject,
) -> Result<Vec<Finding>, VerifyError> {
    let others: BTreeSet<&str> = expected.iter().map(|a| a.repo.as_str()).filter(|r| *r != app_repo).collect();
    if others.is_empty() {
        return Ok(Vec::new());
    }
    let Some(app) = view.manifest(app_repo, subject.digest.as_str()).await? else {
        return Ok(vec![Finding::new("subject", format!("the app image {app_repo}@{} is gone", subject.digest)).missing("app image")]);
    };
    let mut findings = Vec::new();
    for repo in others {
        let what = format!("the app image {} in {repo}, the repository of an artifact (R-PUSH-10)", subject.digest);
        match view.manifest(repo, subject.digest.as_str()).await? {
            None => findings.push(Finding::new("subject", format!("{what} does not exist")).missing("app image")),
            Some(found) if found.bytes != app.bytes => {
                findings.push(Finding::new("subject", format!("{what} is not the app image's bytes")))
            }
            Some(found) => {
                for digest in missing_blobs(view, repo, &found.bytes).await? {
                    findings.push(Finding::new("subject", format!("{what}: its blob {digest} is missing from {repo}")).missing("blob"));
                }
            }
        }
    }
    Ok(findings)
}

/// On a registry with the referrers API (R-REF-1): its listing for the subject must hold each
/// expected entry exactly (R-REF-3); the fallback tag is then not judged.
async fn referrers_api_lists(
    view: &RegistryView,
    repo: &str,
    subject: &Subject,
    ours: &[&ExpectedArtifact],
) -> Result<Vec<Finding>, ViewError> {
    let listing = view.referrers(repo, &subject.digest).await?;
    let entries: Vec<serde_json::Value> = listing
        .as_ref()
        .and_then(|l| serde_json::from_slice::<serde_json::Value>(&l.bytes).ok())
        .and_then(|v| v.get("manifests").and_then(|m| m.as_array()).cloned())
        .unwrap_or_default();
    Ok(ours
        .iter()
        .filter(|a| !entries.contains(&a.referrer_entry()))
        .map(|a| {
            Finding::new(
                "referrers-api",
                format!("the referrers API of {repo} does not list {} ({}) as R-REF-3 describes it", a.digest, a.file),
            )
            .expected_found(a.referrer_entry().to_string(), format!("{} entries", entries.len()))
        })
        .collect())
}

/// `repo:tag` must hold exactly the expected manifest, served as an OCI image manifest.
fn tag_points_at(artifact: &ExpectedArtifact, tag: &str, found: Option<&ServedManifest>) -> Vec<Finding> {
    let name = format!("{}:{tag}", artifact.repo);
    let Some(found) = found else {
        return vec![Finding::new("tag", format!("{name} does not exist; it must hold the manifest of {}", artifact.file))
            .expected_found(artifact.digest.to_string(), "(no such tag)")
            .missing("tag")];
    };
    let mut findings = Vec::new();
    if found.digest != artifact.digest {
        let diff = diff::unified(
            &format!("expected {} ({})", artifact.file, artifact.digest),
            &expect::pretty(&artifact.bytes),
            &format!("found {name} ({})", found.digest),
            &expect::pretty(&found.bytes),
        );
        let message = if diff.is_none() {
            format!("{name} holds the expected manifest content but not its exact bytes: it is not RFC 8785 canonical JSON")
        } else {
            format!("{name} holds a different manifest than expected")
        };
        findings.push(Finding::new("tag", message).expected_found(artifact.digest.to_string(), found.digest.to_string()).with_diff(diff));
    }
    if media_type(&found.content_type) != OCI_MANIFEST {
        findings.push(
            Finding::new("content-type", format!("{name} is served with the wrong media type"))
                .expected_found(OCI_MANIFEST, found.content_type.clone()),
        );
    }
    findings
}

/// The config and layer blobs the expected manifest names must exist in its repository.
async fn blobs_exist(view: &RegistryView, artifact: &ExpectedArtifact) -> Result<Vec<Finding>, ViewError> {
    Ok(missing_blobs(view, &artifact.repo, &artifact.bytes)
        .await?
        .into_iter()
        .map(|digest| {
            Finding::new("blob", format!("blob {digest} named by {} is missing from {}", artifact.file, artifact.repo)).missing("blob")
        })
        .collect())
}

/// The config and layer digests of the image manifest `manifest` that `repo` does not hold.
async fn missing_blobs(view: &RegistryView, repo: &str, manifest: &[u8]) -> Result<Vec<Digest>, ViewError> {
    let manifest: serde_json::Value = serde_json::from_slice(manifest).unwrap_or_default();
    let descriptors = manifest.get("config").into_iter().chain(manifest.get("layers").and_then(|l| l.as_array()).into_iter().flatten());
    let mut missing = Vec::new();
    for d in descriptors {
        let Some(digest) = d.get("digest").and_then(|d| d.as_str()).and_then(|d| d.parse::<Digest>().ok()) else {
            continue;
        };
        if !view.blob_exists(repo, &digest).await? {
            missing.push(digest);
        }
    }
    Ok(missing)
}

/// The fallback index at `repo:referrers_tag` must be exactly `wanted` (R-REF-2..4).
fn fallback_index_is(repo: &str, referrers_tag: &str, wanted: &[u8], found: Option<&ServedManifest>) -> Vec<Finding> {
    let name = format!("{repo}:{referrers_tag}");
    let wanted_digest = Digest::of(wanted);
    let Some(found) = found else {
        return vec![Finding::new("fallback-index", format!("the referrers fallback index {name} does not exist"))
            .expected_found(wanted_digest.to_string(), "(no such tag)")
            .missing("fallback index")];
    };
    let mut findings = Vec::new();
    if found.digest != wanted_digest {
        let want: BTreeSet<String> = expect::index_digests(wanted).into_iter().collect();
        let listed = expect::index_digests(&found.bytes);
        let have: BTreeSet<String> = listed.iter().cloned().collect();
        let missing: Vec<&String> = want.difference(&have).collect();
        let extra: Vec<&String> = have.difference(&want).collect();
        let mut what = Vec::new();
        if !missing.is_empty() {
            what.push(format!("missing entries {missing:?}"));
        }
        if !extra.is_empty() {
            what.push(format!("unexpected entries {extra:?}"));
        }
        if listed.len() != have.len() {
            what.push("an entry listed twice".to_string());
        }
        if what.is_empty() {
            what.push("entries or members differ, or it is not canonical JSON sorted by digest".to_string());
        }
        let diff = diff::unified(
            &format!("expected {name} ({wanted_digest})"),
            &expect::pretty(wanted),
            &format!("found {name} ({})", found.digest),
            &expect::pretty(&found.bytes),
        );
        findings.push(
            Finding::new("fallback-index", format!("the fallback index {name} is wrong: {}", what.join("; ")))
                .expected_found(wanted_digest.to_string(), found.digest.to_string())
                .with_diff(diff),
        );
    }
    if media_type(&found.content_type) != OCI_INDEX {
        findings.push(
            Finding::new("content-type", format!("{name} is served with the wrong media type"))
                .expected_found(OCI_INDEX, found.content_type.clone()),
        );
    }
    findings
}

/// Apart from `checked` tags, every tag must be as it was: none new, moved or gone.
pub fn nothing_else_changed(before: &Snapshot, after: &Snapshot, checked: &BTreeSet<(String, String)>) -> Vec<Finding> {
    let mut findings = Vec::new();
    for (repo, tags) in &after.repos {
        for (tag, found) in tags {
            if checked.contains(&(repo.clone(), tag.clone())) {
                continue;
            }
            match before.get(repo, tag) {
                None => findings.push(
                    Finding::new("nothing-new", format!("{repo}:{tag} is new, but the case expects no such tag"))
                        .expected_found("(no such tag)", found.digest.to_string()),
                ),
                Some(was) if was.digest != found.digest => findings.push(
                    Finding::new("unchanged", format!("{repo}:{tag} was changed, but it must keep what it held before"))
                        .expected_found(was.digest.to_string(), found.digest.to_string())
                        .with_diff(diff::unified("before", &expect::pretty(&was.bytes), "after", &expect::pretty(&found.bytes))),
                ),
                Some(_) => {}
            }
        }
    }
    for (repo, tags) in &before.repos {
        for (tag, was) in tags {
            if after.get(repo, tag).is_none() {
                findings.push(
                    Finding::new("unchanged", format!("{repo}:{tag} was deleted")).expected_found(was.digest.to_string(), "(no such tag)"),
                );
            }
        }
    }
    findings
}

/// Checks a rejected case: nothing changed, and none of `file_digests` became a blob in any
/// repository that did not have it before (`present_before`).
pub async fn rejected(
    view: &RegistryView,
    before: &Snapshot,
    after: &Snapshot,
    repos: &[String],
    file_digests: &[Digest],
    present_before: &BTreeSet<(String, Digest)>,
) -> Result<Vec<Finding>, ViewError> {
    let mut findings = nothing_else_changed(before, after, &BTreeSet::new());
    for repo in repos {
        for digest in file_digests {
            if present_before.contains(&(repo.clone(), digest.clone())) {
                continue;
            }
            if view.blob_exists(repo, digest).await? {
                findings.push(Finding::new(
                    "nothing-pushed",
                    format!("blob {digest} (a fixture file) was uploaded to {repo}, but a rejected build must push nothing"),
                ));
            }
        }
    }
    Ok(findings)
}

/// The media type of a `Content-Type` header value (parameters dropped).
fn media_type(content_type: &str) -> &str {
    content_type.split(';').next().unwrap_or("").trim()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fetched(bytes: &[u8], content_type: &str) -> ServedManifest {
        ServedManifest { bytes: bytes.to_vec(), content_type: content_type.to_string(), digest: Digest::of(bytes) }
    }

    fn artifact(bytes: &[u8]) -> ExpectedArtifact {
        ExpectedArtifact {
            file: "a.json".into(),
            repo: "ns/app".into(),
            tags: vec!["wasm".into()],
            bytes: bytes.to_vec(),
            digest: Digest::of(bytes),
        }
    }

    #[test]
    fn r_man_2_same_content_different_bytes_is_called_non_canonical() {
        let a = artifact(br#"{"a":1,"b":2}"#);
        let findings = tag_points_at(&a, "wasm", Some(&fetched(br#"{"b":2,"a":1}"#, OCI_MANIFEST)));
        assert_eq!(findings.len(), 1);
        assert!(findings[0].message.contains("not RFC 8785 canonical"), "{}", findings[0].message);
    }

    #[test]
    fn r_man_1_wrong_content_type_is_a_finding() {
        let a = artifact(br#"{"a":1}"#);
        let findings = tag_points_at(&a, "wasm", Some(&fetched(br#"{"a":1}"#, "application/json")));
        assert_eq!(findings.iter().map(|f| f.check.as_str()).collect::<Vec<_>>(), ["content-type"]);
    }

    #[test]
    fn different_manifest_gets_a_diff() {
        let a = artifact(br#"{"a":1}"#);
        let findings = tag_points_at(&a, "wasm", Some(&fetched(br#"{"a":2}"#, OCI_MANIFEST)));
        let diff = findings[0].diff.as_deref().expect("diff");
        assert!(diff.contains("-  \"a\": 1") && diff.contains("+  \"a\": 2"), "{diff}");
    }

    #[test]
    fn r_push_5_moved_new_and_deleted_tags_are_all_reported() {
        let mut before = Snapshot::default();
        let mut after = Snapshot::default();
        before.repos.entry("ns/app".into()).or_default().insert("1.0".into(), fetched(b"{}", OCI_MANIFEST));
        before.repos.entry("ns/app".into()).or_default().insert("gone".into(), fetched(b"{}", OCI_MANIFEST));
        after.repos.entry("ns/app".into()).or_default().insert("1.0".into(), fetched(b"[]", OCI_MANIFEST));
        after.repos.entry("ns/app".into()).or_default().insert("new".into(), fetched(b"{}", OCI_MANIFEST));
        let findings = nothing_else_changed(&before, &after, &BTreeSet::new());
        let messages: Vec<&str> = findings.iter().map(|f| f.message.as_str()).collect();
        assert_eq!(findings.len(), 3, "{messages:?}");
        assert!(messages.iter().any(|m| m.contains("1.0 was changed")));
        assert!(messages.iter().any(|m| m.contains("new is new")));
        assert!(messages.iter().any(|m| m.contains("gone was deleted")));
    }

    #[test]
    fn r_ref_4_missing_index_entries_are_named() {
        let ours = artifact(br#"{"a":1}"#);
        let wanted = expect::fallback_index("ns/app", None, &[&ours]).unwrap();
        let empty = format!(r#"{{"manifests":[],"mediaType":"{OCI_INDEX}","schemaVersion":2}}"#);
        let findings = fallback_index_is("ns/app", "sha256-x", &wanted, Some(&fetched(empty.as_bytes(), OCI_INDEX)));
        assert_eq!(findings.len(), 1);
        assert!(findings[0].message.contains("missing entries"), "{}", findings[0].message);
        assert!(fallback_index_is("ns/app", "sha256-x", &wanted, Some(&fetched(&wanted, OCI_INDEX))).is_empty());
    }

    #[test]
    fn rejections_need_a_non_zero_exit_and_no_hang() {
        let inv = |exit| Invocation {
            command: "x".into(),
            cwd: "/".into(),
            env: BTreeMap::new(),
            exit,
            stdout: String::new(),
            stderr: String::new(),
            duration_ms: 0,
        };
        assert!(exits_rejected(&[&inv(Exit::Code(1))]).is_empty());
        assert_eq!(exits_rejected(&[&inv(Exit::Code(0))]).len(), 1);
        assert_eq!(exits_rejected(&[&inv(Exit::TimedOut { after_seconds: 1 })]).len(), 1);
        assert_eq!(exits_succeeded(&[&inv(Exit::Code(3))]).len(), 1);
    }
}
