//! The baseline: cases an implementation is known to fail, with a reason each. A listed case
//! that fails is reported as an expected failure and does not fail the run; a listed case that
//! now passes fails the run as stale, so the baseline only ever shrinks by intent.
//! `--update-baseline` rewrites the file from the run's results.
//!
//! Format (TOML):
//!
//! ```toml
//! [expected-failures]
//! "coll-app-image-tag" = "tracked in issue 12"
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::outcome::{BaselineMark, CaseResult, Status};

/// Why a baseline cannot be read or written.
#[derive(Debug, thiserror::Error)]
pub enum BaselineError {
    #[error("cannot read baseline {path}: {source}")]
    Unreadable { path: PathBuf, source: std::io::Error },
    #[error("baseline {path} is invalid: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error("cannot write baseline {path}: {source}")]
    Unwritable { path: PathBuf, source: std::io::Error },
}

/// Known failures: case ID → reason.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Baseline {
    #[serde(rename = "expected-failures", default)]
    pub expected_failures: BTreeMap<String, String>,
}

impl Baseline {
    /// Reads `path`; a missing file is an empty baseline (so `--update-baseline` can create it).
    pub fn load(path: &Path) -> Result<Baseline, BaselineError> {
        match std::fs::read_to_string(path) {
            Ok(text) => toml::from_str(&text).map_err(|e| BaselineError::Invalid { path: path.to_path_buf(), message: e.to_string() }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Baseline::default()),
            Err(source) => Err(BaselineError::Unreadable { path: path.to_path_buf(), source }),
        }
    }

    /// Marks each result: listed and failed → expected failure; listed and passed → stale.
    pub fn apply(&self, results: &mut [CaseResult]) {
        for r in results {
            if !self.expected_failures.contains_key(&r.id) {
                continue;
            }
            r.baseline = match r.status {
                Status::Fail => Some(BaselineMark::ExpectedFailure),
                Status::Pass => Some(BaselineMark::Stale),
                _ => None,
            };
        }
    }

    /// The baseline the run's results call for: every failed case (keeping known reasons, else
    /// the first finding), entries of cases this run did not execute kept as they were.
    pub fn updated(&self, results: &[CaseResult]) -> Baseline {
        let mut next = self.clone();
        for r in results {
            match r.status {
                Status::Fail => {
                    let reason = self
                        .expected_failures
                        .get(&r.id)
                        .cloned()
                        .or_else(|| r.findings.first().map(|f| f.message.clone()))
                        .unwrap_or_else(|| "fails".to_string());
                    next.expected_failures.insert(r.id.clone(), reason);
                }
                Status::Pass => {
                    next.expected_failures.remove(&r.id);
                }
                _ => {}
            }
        }
        next
    }

    /// Writes the baseline as TOML.
    pub fn write(&self, path: &Path) -> Result<(), BaselineError> {
        let body = toml::to_string(self).map_err(|e| BaselineError::Invalid { path: path.to_path_buf(), message: e.to_string() })?;
        let text = format!("# Conformance cases this implementation is known to fail (`conformance run --baseline`).\n{body}");
        std::fs::write(path, text).map_err(|source| BaselineError::Unwritable { path: path.to_path_buf(), source })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::Finding;

    fn result(id: &str, status: Status) -> CaseResult {
        let case: crate::case::Case = toml::from_str(&format!(
            "id = \"{id}\"\ntitle = \"t\"\nrules = [\"R-TAG-1\"]\nfixture = \"f\"\n[expect]\noutcome = \"rejected\"\nrules = []\n"
        ))
        .unwrap();
        let mut r = CaseResult::new(&case, status);
        if status == Status::Fail {
            r.findings.push(Finding::new("tag", "wrong tag"));
        }
        r
    }

    #[test]
    fn listed_failures_are_expected_and_listed_passes_are_stale() {
        let baseline: Baseline = toml::from_str("[expected-failures]\na = \"known\"\nb = \"known\"\n").unwrap();
        let mut results = vec![result("a", Status::Fail), result("b", Status::Pass), result("c", Status::Fail)];
        baseline.apply(&mut results);
        assert_eq!(results[0].baseline, Some(BaselineMark::ExpectedFailure));
        assert!(!results[0].counts_as_failure());
        assert_eq!(results[1].baseline, Some(BaselineMark::Stale));
        assert!(results[1].counts_as_failure());
        assert!(results[2].counts_as_failure());
    }

    #[test]
    fn update_adds_new_failures_drops_passes_and_keeps_reasons() {
        let baseline: Baseline = toml::from_str("[expected-failures]\na = \"known\"\nb = \"old\"\nz = \"not run\"\n").unwrap();
        let next = baseline.updated(&[result("a", Status::Fail), result("b", Status::Pass), result("c", Status::Fail)]);
        let ids: Vec<&str> = next.expected_failures.keys().map(String::as_str).collect();
        assert_eq!(ids, ["a", "c", "z"]);
        assert_eq!(next.expected_failures["a"], "known");
        assert_eq!(next.expected_failures["c"], "wrong tag");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("baseline.toml");
        next.write(&path).unwrap();
        assert_eq!(Baseline::load(&path).unwrap(), next);
    }

    #[test]
    fn a_missing_baseline_is_empty() {
        assert_eq!(Baseline::load(Path::new("/nonexistent/baseline.toml")).unwrap(), Baseline::default());
    }
}
