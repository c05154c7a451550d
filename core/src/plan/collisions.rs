//! Collision checks (rules R-COLL-1..3), run over the whole build before anything is pushed:
//! two artifacts of one build on the same `repository:tag` (R-COLL-1), an artifact on a tag of
//! the app image itself (R-COLL-2), an artifact on a referrers tag-schema tag `sha256-<hex>`
//! (R-COLL-3). Each error names both sides. Collisions with tags already in a registry are the
//! publisher's (R-PUSH-5).

use std::collections::BTreeMap;

use crate::diagnostic::{Diagnostic, Location};
use crate::reference::is_referrers_tag;

/// One tag an artifact wants, and where it was declared.
#[derive(Debug, Clone)]
pub struct TagClaim {
    pub repository: String,
    pub tag: String,
    /// `buildpack/layer#index` of the artifact.
    pub artifact: String,
    pub location: Location,
}

/// Checks every claim; returns one diagnostic per collision.
///
/// `app_repository` and `app_tags` describe the app image (repository path without host).
pub fn check(claims: &[TagClaim], app_repository: &str, app_tags: &[String]) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let mut seen: BTreeMap<(&str, &str), &TagClaim> = BTreeMap::new();
    for claim in claims {
        let name = format!("{}:{}", claim.repository, claim.tag);
        if is_referrers_tag(&claim.tag) {
            out.push(
                Diagnostic::at(
                    "R-COLL-3",
                    claim.location.clone(),
                    format!(
                        "artifact {} would be tagged `{name}`, a referrers tag-schema tag reserved for the referrers index",
                        claim.artifact
                    ),
                )
                .with_help("tags of the form sha256-<64 hex> are reserved; choose another tag"),
            );
            continue;
        }
        if claim.repository == app_repository && app_tags.iter().any(|t| t == &claim.tag) {
            out.push(
                Diagnostic::at(
                    "R-COLL-2",
                    claim.location.clone(),
                    format!(
                        "artifact {} would be tagged `{name}`, which is a tag of the app image `{app_repository}:{}`",
                        claim.artifact, claim.tag
                    ),
                )
                .with_help("give the artifact a tag of its own, e.g. `${build.tag}-wasm`"),
            );
            continue;
        }
        match seen.get(&(claim.repository.as_str(), claim.tag.as_str())) {
            Some(first) if first.artifact != claim.artifact => out.push(
                Diagnostic::at(
                    "R-COLL-1",
                    claim.location.clone(),
                    format!(
                        "artifact {} would be tagged `{name}`, which artifact {} (declared at {}) is tagged too",
                        claim.artifact, first.artifact, first.location
                    ),
                )
                .with_help("each repository:tag may hold one artifact of a build; make the tags differ"),
            ),
            Some(_) => {}
            None => {
                seen.insert((claim.repository.as_str(), claim.tag.as_str()), claim);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;
    use std::path::Path;

    fn claim(repo: &str, tag: &str, artifact: &str, line: usize) -> TagClaim {
        TagClaim {
            repository: repo.into(),
            tag: tag.into(),
            artifact: artifact.into(),
            location: Location { file: Path::new("l.toml").into(), line, column: 1 },
        }
    }

    #[rstest]
    #[case::r_coll_1_two_artifacts_one_tag(vec![claim("app", "wasm", "bp/a#0", 1), claim("app", "wasm", "bp/b#0", 2)], Some("R-COLL-1"))]
    #[case::r_coll_1_other_repository_is_fine(vec![claim("app", "wasm", "bp/a#0", 1), claim("other", "wasm", "bp/b#0", 2)], None)]
    #[case::r_coll_2_app_tag(vec![claim("app", "latest", "bp/a#0", 1)], Some("R-COLL-2"))]
    #[case::r_coll_2_app_tag_in_other_repo_is_fine(vec![claim("charts/x", "latest", "bp/a#0", 1)], None)]
    #[case::r_coll_3_referrers_tag(vec![claim("x", &format!("sha256-{}", "0".repeat(64)), "bp/a#0", 1)], Some("R-COLL-3"))]
    fn r_coll_collisions(#[case] claims: Vec<TagClaim>, #[case] rule: Option<&str>) {
        let found = check(&claims, "app", &["latest".to_string(), "1.0".to_string()]);
        assert_eq!(found.first().map(|d| d.rule), rule, "{found:?}");
        assert!(found.len() <= 1);
    }

    #[test]
    fn r_coll_1_names_both_sides() {
        let found = check(&[claim("app", "wasm", "bp/a#0", 3), claim("app", "wasm", "bp/b#1", 7)], "app", &[]);
        let text = found[0].to_string();
        assert!(text.contains("bp/b#1") && text.contains("bp/a#0") && text.contains("l.toml:3:1"), "{text}");
    }
}
