//! Which cases a run executes: `--filter GLOB` (each pattern must match at least one case ID),
//! `--disable GLOB` (reported as DISABLED) and the IDs `--rerun-failed` takes from earlier
//! results ([`super::rerun`]).

use globset::{Glob, GlobSet, GlobSetBuilder};

use super::case::Case;

/// Why the selection cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum SelectionError {
    #[error("`{pattern}` is not a valid glob: {source}")]
    InvalidGlob { pattern: String, source: globset::Error },
    #[error("--filter `{pattern}` matches no case; `cnb-artifacts conformance list` shows the case IDs")]
    FilterMatchesNothing { pattern: String },
}

/// A case and whether it runs.
#[derive(Debug, Clone)]
pub struct Selected {
    pub case: Case,
    pub disabled: bool,
}

fn glob_set(patterns: &[String]) -> Result<Vec<(String, GlobSet)>, SelectionError> {
    patterns
        .iter()
        .map(|p| {
            let glob = Glob::new(p).map_err(|source| SelectionError::InvalidGlob { pattern: p.clone(), source })?;
            let set =
                GlobSetBuilder::new().add(glob).build().map_err(|source| SelectionError::InvalidGlob { pattern: p.clone(), source })?;
            Ok((p.clone(), set))
        })
        .collect()
}

/// The cases selected by `filters` (all when empty) and `only` (from `--rerun-failed`), with
/// those matching `disable` marked disabled.
pub fn select(cases: Vec<Case>, filters: &[String], disable: &[String], only: Option<&[String]>) -> Result<Vec<Selected>, SelectionError> {
    let filters = glob_set(filters)?;
    let disable = glob_set(disable)?;
    for (pattern, set) in &filters {
        if !cases.iter().any(|c| set.is_match(&c.id)) {
            return Err(SelectionError::FilterMatchesNothing { pattern: pattern.clone() });
        }
    }
    Ok(cases
        .into_iter()
        .filter(|c| filters.is_empty() || filters.iter().any(|(_, s)| s.is_match(&c.id)))
        .filter(|c| only.is_none_or(|ids| ids.contains(&c.id)))
        .map(|case| Selected { disabled: disable.iter().any(|(_, s)| s.is_match(&case.id)), case })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cases(ids: &[&str]) -> Vec<Case> {
        ids.iter()
            .map(|id| {
                toml::from_str(&format!(
                    "id = \"{id}\"\ntitle = \"t\"\nrules = [\"R-TAG-1\"]\nfixture = \"f\"\n[expect]\noutcome = \"rejected\"\nrules = []\n"
                ))
                .unwrap()
            })
            .collect()
    }

    fn ids(selected: &[Selected]) -> Vec<(&str, bool)> {
        selected.iter().map(|s| (s.case.id.as_str(), s.disabled)).collect()
    }

    #[test]
    fn filters_select_and_disable_marks() {
        let s = select(cases(&["coll-1", "coll-2", "conf-1"]), &["coll-*".into()], &["*-2".into()], None).unwrap();
        assert_eq!(ids(&s), [("coll-1", false), ("coll-2", true)]);
    }

    #[test]
    fn a_filter_that_matches_nothing_is_an_error() {
        let err = select(cases(&["coll-1"]), &["coll-*".into(), "nope*".into()], &[], None).unwrap_err();
        assert!(matches!(err, SelectionError::FilterMatchesNothing { ref pattern } if pattern == "nope*"), "{err}");
    }

    #[test]
    fn only_the_given_ids_are_selected() {
        let only = ["b".to_string(), "c".to_string()];
        let s = select(cases(&["a", "b", "c"]), &[], &[], Some(&only)).unwrap();
        assert_eq!(ids(&s), [("b", false), ("c", false)]);
    }
}
