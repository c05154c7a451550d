//! What a run against an external registry (`--registry URL`) leaves there. Unless `--keep`,
//! the runner deletes at the end of the run, passed or failed, what it and the implementation
//! pushed: under the run's namespace `<prefix>-<random>/` and in the health check's
//! repository, every manifest reachable from a tag (an index's children, and the referrers the
//! referrers API lists where the registry serves it) is deleted by digest, which removes the
//! tags that point at it, then every blob those manifests name and the health check's blob.
//!
//! A registry that does not allow deletion answers the first DELETE with 405 (Distribution
//! without `storage.delete.enabled`: `UNSUPPORTED`); nothing more is tried and
//! [`Cleanup::line`] names what to remove by hand. The distribution API cannot remove a
//! repository's name, so `/v2/_catalog` may still list the run's repositories, empty. A
//! manifest no tag and no listing reaches (an untagged push of a publish that failed before its
//! tags) cannot be found, so it is not deleted. An interrupted run (Ctrl-C) cleans up nothing.

use std::collections::BTreeSet;

use crate::provider::{HEALTH_CHECK_BLOB, HEALTH_CHECK_REPO};
use crate::registry_view::{RegistryView, ServedManifest, ViewError};
use cnb_artifacts_core::display;
use cnb_artifacts_core::reference::Digest;
use cnb_artifacts_core::spelling::count;

/// How the cleanup of an external registry ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cleanup {
    /// Every manifest and blob found was deleted; `tags_left` lists `repo:tag`s still there
    /// afterwards (a registry that keeps a tag when its manifest is deleted).
    Deleted { manifests: usize, blobs: usize, tags_left: Vec<String> },
    /// The registry does not allow deletion: its answer to the first DELETE.
    Unsupported { answer: String },
    /// A request failed otherwise.
    Failed { error: String },
}

impl Cleanup {
    /// One line for the end of the report, naming what was deleted or what is left where.
    pub fn line(&self, prefix: &str) -> String {
        let place = format!("under {prefix}/ and in {HEALTH_CHECK_REPO}");
        match self {
            Cleanup::Deleted { manifests, blobs, tags_left } if tags_left.is_empty() => format!(
                "registry cleaned up: deleted {} and {} the run pushed {place} (the catalog may still list the repository names, empty)",
                count(*manifests, "manifest", "manifests"),
                count(*blobs, "blob", "blobs")
            ),
            Cleanup::Deleted { manifests, blobs, tags_left } => format!(
                "registry partly cleaned up: deleted {} and {} {place}, but these tags are still there: {}; remove them yourself",
                count(*manifests, "manifest", "manifests"),
                count(*blobs, "blob", "blobs"),
                display::text(&tags_left.join(", "))
            ),
            Cleanup::Unsupported { answer } => format!(
                "registry NOT cleaned up: it does not allow deletion ({}); remove the repositories {place} yourself",
                display::text(answer)
            ),
            Cleanup::Failed { error } => {
                format!("registry NOT cleaned up: {}; remove the repositories {place} yourself", display::text(error))
            }
        }
    }
}

/// Deletes what the run left under `prefix/` (the catalog's repositories there, and `known`
/// ones for a registry that serves no catalog) and in the health check's repository.
/// `referrers_api`: the registry serves the referrers API, so untagged referrers are listed.
pub async fn clean(view: &RegistryView, prefix: &str, known: &[String], referrers_api: bool) -> Cleanup {
    match delete_all(view, prefix, known, referrers_api).await {
        Ok(cleanup) => cleanup,
        Err(ViewError::Status { status: 405, body, .. }) => {
            let code = if body.contains("UNSUPPORTED") { " UNSUPPORTED" } else { "" };
            Cleanup::Unsupported { answer: format!("DELETE answered 405{code}") }
        }
        Err(e) => Cleanup::Failed { error: e.to_string() },
    }
}

async fn delete_all(view: &RegistryView, prefix: &str, known: &[String], referrers_api: bool) -> Result<Cleanup, ViewError> {
    let mut repos = view.repositories(prefix, known).await?;
    repos.push(HEALTH_CHECK_REPO.to_string());
    let (mut manifests, mut blobs, mut tags_left) = (0, 0, Vec::new());
    for repo in &repos {
        let mut found = Found::default();
        for tag in view.tags(repo).await? {
            if let Some(m) = view.manifest(repo, &tag).await? {
                found.visit(view, repo, m, referrers_api).await?;
            }
        }
        if repo == HEALTH_CHECK_REPO {
            found.blobs.insert(Digest::of(HEALTH_CHECK_BLOB));
        }
        for digest in &found.manifests {
            manifests += usize::from(view.delete(repo, "manifests", digest).await?);
        }
        tags_left.extend(view.tags(repo).await?.into_iter().map(|t| format!("{repo}:{t}")));
        for digest in &found.blobs {
            blobs += usize::from(view.delete(repo, "blobs", digest).await?);
        }
    }
    Ok(Cleanup::Deleted { manifests, blobs, tags_left })
}

/// The manifests and blobs reachable in one repository.
#[derive(Default)]
struct Found {
    manifests: BTreeSet<Digest>,
    blobs: BTreeSet<Digest>,
}

impl Found {
    /// Records `first` and everything it leads to in `repo`: an index's children, the
    /// referrers of each manifest (with the API), the config and layer blobs.
    async fn visit(&mut self, view: &RegistryView, repo: &str, first: ServedManifest, referrers_api: bool) -> Result<(), ViewError> {
        let mut pending = vec![first];
        while let Some(m) = pending.pop() {
            if !self.manifests.insert(m.digest.clone()) {
                continue;
            }
            let named = Named::of(&m.bytes);
            self.blobs.extend(named.blobs);
            let mut next = named.manifests;
            if referrers_api {
                if let Some(listing) = view.referrers(repo, &m.digest).await? {
                    next.extend(Named::of(&listing.bytes).manifests);
                }
            }
            for digest in next.into_iter().filter(|d| !self.manifests.contains(d)) {
                if let Some(child) = view.manifest(repo, digest.as_str()).await? {
                    pending.push(child);
                }
            }
        }
        Ok(())
    }
}

/// The digests a manifest or index names: `manifests[]` (children) and `config`, `layers[]`
/// (blobs). Anything unreadable names nothing.
#[derive(Debug, Default, PartialEq, Eq)]
struct Named {
    manifests: Vec<Digest>,
    blobs: Vec<Digest>,
}

impl Named {
    fn of(bytes: &[u8]) -> Named {
        let Ok(json) = serde_json::from_slice::<serde_json::Value>(bytes) else {
            return Named::default();
        };
        let digests = |list: Option<&serde_json::Value>| -> Vec<Digest> {
            let entries = list.and_then(|v| v.as_array()).map(Vec::as_slice).unwrap_or_default();
            entries.iter().filter_map(|e| e.get("digest")?.as_str()?.parse().ok()).collect()
        };
        let mut blobs = digests(json.get("layers"));
        blobs.extend(json.get("config").and_then(|c| c.get("digest")?.as_str()?.parse().ok()));
        Named { manifests: digests(json.get("manifests")), blobs }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(c: char) -> String {
        format!("sha256:{}", c.to_string().repeat(64))
    }

    #[test]
    fn a_manifest_names_its_config_and_layers_an_index_its_children() {
        let manifest = format!(
            r#"{{"config":{{"digest":"{}"}},"layers":[{{"digest":"{}"}},{{"digest":"not a digest"}}],"subject":{{"digest":"{}"}}}}"#,
            digest('a'),
            digest('b'),
            digest('c')
        );
        let named = Named::of(manifest.as_bytes());
        assert_eq!(named.blobs, vec![digest('b').parse().unwrap(), digest('a').parse().unwrap()]);
        assert!(named.manifests.is_empty(), "the subject belongs to the app image, not to the artifact");
        let index = format!(r#"{{"manifests":[{{"digest":"{}"}}]}}"#, digest('d'));
        assert_eq!(Named::of(index.as_bytes()).manifests, vec![digest('d').parse::<Digest>().unwrap()]);
        assert_eq!(Named::of(b"not json"), Named::default());
    }

    #[test]
    fn the_line_says_what_was_deleted_or_what_to_remove() {
        let done = Cleanup::Deleted { manifests: 3, blobs: 1, tags_left: Vec::new() };
        assert_eq!(
            done.line("cnb-conformance-0000abcd"),
            "registry cleaned up: deleted 3 manifests and 1 blob the run pushed under cnb-conformance-0000abcd/ and in \
             cnb-artifacts/health-check (the catalog may still list the repository names, empty)"
        );
        let refused = Cleanup::Unsupported { answer: "DELETE answered 405 UNSUPPORTED".to_string() };
        assert_eq!(
            refused.line("p-1"),
            "registry NOT cleaned up: it does not allow deletion (DELETE answered 405 UNSUPPORTED); remove the repositories \
             under p-1/ and in cnb-artifacts/health-check yourself"
        );
        let partly = Cleanup::Deleted { manifests: 1, blobs: 0, tags_left: vec!["p-1/x/app:1".to_string()] };
        assert!(partly.line("p-1").contains("these tags are still there: p-1/x/app:1;"), "{}", partly.line("p-1"));
    }
}
