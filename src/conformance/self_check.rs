//! `conformance self-check`: proves the suite can fail. Each mutant is a known-bad
//! implementation (a command, like any implementation under test) described in
//! `conformance/mutants/<name>.toml`; the whole suite runs against it, and the mutant is caught
//! when every case listed in its `must_fail` (globs) FAILs. A mutant that passes a case it
//! should fail means the suite has a blind spot.
//!
//! Mutant file format:
//!
//! ```toml
//! name = "ignores-collisions"
//! description = "publishes even when two artifacts claim one tag"
//! implementation = "env CNB_ARTIFACTS_MUTANT=ignore-collisions {suite}/conformance/adapters/reference.sh"
//! must_fail = ["coll-*"]
//! ```
//!
//! In `implementation`, `{suite}` is replaced by the suite directory and `{bin}` by the
//! reference binary (`$CNB_ARTIFACTS_BIN`, else this program).

use std::path::PathBuf;

use globset::Glob;
use serde::Deserialize;

use super::outcome::Status;
use super::runner::{self, RunError, RunOptions};
use super::selection::Selected;
use super::SuiteDir;

/// One known-bad implementation.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mutant {
    pub name: String,
    pub description: String,
    pub implementation: String,
    /// Globs of case IDs that must FAIL against this mutant.
    pub must_fail: Vec<String>,
}

/// Why the mutants cannot be loaded.
#[derive(Debug, thiserror::Error)]
pub enum MutantError {
    #[error("cannot read mutant {path}: {reason}")]
    Invalid { path: PathBuf, reason: String },
}

/// Every mutant under `conformance/mutants/`, by file name (none when the directory is absent).
pub fn load(suite: &SuiteDir) -> Result<Vec<Mutant>, MutantError> {
    let Ok(entries) = std::fs::read_dir(suite.mutants_dir()) else { return Ok(Vec::new()) };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.extension().is_some_and(|x| x == "toml")).collect();
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).map_err(|e| MutantError::Invalid { path: path.clone(), reason: e.to_string() })?;
            let mut m: Mutant = toml::from_str(&text).map_err(|e| MutantError::Invalid { path: path.clone(), reason: e.to_string() })?;
            m.implementation = m.implementation.replace("{suite}", &suite.root().display().to_string()).replace("{bin}", &reference_bin());
            Ok(m)
        })
        .collect()
}

/// The reference binary for `{bin}`.
fn reference_bin() -> String {
    std::env::var("CNB_ARTIFACTS_BIN")
        .ok()
        .or_else(|| std::env::current_exe().ok().map(|p| p.display().to_string()))
        .unwrap_or_else(|| "cnb-artifacts".to_string())
}

/// How the suite fared against one mutant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub mutant: String,
    /// Cases that failed.
    pub failed: Vec<String>,
    /// Cases of `must_fail` that did not fail: the suite's blind spots.
    pub missed: Vec<String>,
}

impl Verdict {
    pub fn caught(&self) -> bool {
        self.missed.is_empty() && !self.failed.is_empty()
    }
}

/// Runs `selected` against each mutant with `base` options (its implementation replaced).
pub async fn run(suite: &SuiteDir, selected: &[Selected], mutants: &[Mutant], base: &RunOptions) -> Result<Vec<Verdict>, RunError> {
    let mut verdicts = Vec::new();
    for m in mutants {
        let implementation = super::implementation::Implementation::parse(&m.implementation)?;
        let opts = RunOptions { implementation, ..base.clone() };
        let results = runner::run(suite, selected.to_vec(), &opts).await?;
        let failed: Vec<String> = results.cases.iter().filter(|c| c.status == Status::Fail).map(|c| c.id.clone()).collect();
        let globs: Vec<_> = m.must_fail.iter().filter_map(|g| Glob::new(g).ok().map(|g| g.compile_matcher())).collect();
        let missed = results
            .cases
            .iter()
            .filter(|c| globs.iter().any(|g| g.is_match(&c.id)) && c.status != Status::Fail)
            .map(|c| c.id.clone())
            .collect();
        verdicts.push(Verdict { mutant: m.name.clone(), failed, missed });
    }
    Ok(verdicts)
}
