//! The conformance suite runner: points a real registry at any implementation of the spec
//! (any language, called as a command) and checks, case by case, that what reaches the
//! registry is exactly what `docs/spec.md` says.
//!
//! | module | owns |
//! | --- | --- |
//! | [`case`] | the case files (`conformance/cases/<id>.toml`) |
//! | [`fixture`] | building each case's layers directory; the suite-data digest |
//! | [`implementation`] | the implementation-under-test contract: command, environment, timeout |
//! | [`credentials`] | the credentials handed to an implementation for a case with `[auth]`, the authenticated registries of a run |
//! | [`secrecy`] | R-AUTH-2: searching an implementation's output for the credentials it was handed |
//! | [`registry_view`] | reading the registry: catalog, tags, manifests, blobs; snapshots |
//! | [`setup`] | state the registry holds before a case runs |
//! | [`expect`] | expected manifests and fallback indexes for one run |
//! | [`verify`] | comparing expected and found state into findings |
//! | [`ending`] | how an invocation ended: crashes, commands that could not start |
//! | [`error_names`] | what a rejection's output must name (files, tags) |
//! | [`runner`] | running the selected cases (in parallel) and collecting results |
//! | [`schedule`], [`progress`], [`interrupt`] | cases `--jobs` at a time, results to a watcher in case order, stopping at Ctrl-C or SIGTERM |
//! | [`rerun`], [`replay`] | the command that reruns one case, `--rerun-failed`; `env` and `replay.sh` beside kept layers |
//! | [`cleanup`] | deleting what a run left in an external registry (`--registry URL`) |
//! | [`outcome`] | result types: status, fault, findings |
//! | [`quirks`] | running behind a registry quirk profile: what each profile makes correct, accepted refusals |
//! | [`selection`], [`baseline`], [`coverage`], [`provenance`] | what to run, known failures, rule coverage, where results come from |
//! | [`versioning`] | the suite's version, its changelog, case IDs never reused |
//! | [`report`] | human, JUnit and JSON reports |
//! | [`regen`] | recomputing expectations offline with the reference planner (for spec authors) |
//! | [`self_check`] | running known-bad implementations that the suite must catch |
//! | [`differential`] | `conformance diff`: generated builds published by two implementations, compared, a divergence shrunk into a case |
//! | [`provider`] | the registries the suite runs against (container, process, URL) and the quirks proxy |
//!
//! The runner touches the implementation only through its command line and the registry. It
//! uses the reference planner and manifest code only in [`regen`], never to judge a run. The
//! contract for implementers is `docs/conformance.md`; the cases cite rules R-* of the spec.

pub mod baseline;
pub mod case;
pub mod cleanup;
pub mod coverage;
pub mod credentials;
mod diff;
pub mod differential;
pub mod ending;
pub mod error_names;
pub mod expect;
pub mod fixture;
pub mod implementation;
pub mod implementation_image;
pub mod interrupt;
mod kill;
pub mod outcome;
pub mod progress;
pub mod provenance;
pub mod provider;
pub mod quirks;
pub mod regen;
pub mod registry_view;
pub mod replay;
pub mod report;
pub mod rerun;
pub mod runner;
pub mod schedule;
pub mod secrecy;
pub mod selection;
pub mod self_check;
pub mod setup;
mod startup;
pub mod verify;
pub mod versioning;

use std::path::{Path, PathBuf};

/// Where the suite's data lives: `conformance/cases/`, `fixtures/cases/`, `docs/spec.md`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SuiteDir {
    root: PathBuf,
}

impl SuiteDir {
    /// The suite rooted at `root` (a checkout of this repository).
    pub fn new(root: impl Into<PathBuf>) -> SuiteDir {
        SuiteDir { root: root.into() }
    }

    /// The suite to use when none is named: `$CNB_CONFORMANCE_DIR`, else the current directory
    /// when it holds `conformance/cases`, else the source tree this binary was built from.
    pub fn locate() -> SuiteDir {
        if let Some(dir) = std::env::var_os("CNB_CONFORMANCE_DIR") {
            return SuiteDir::new(dir);
        }
        if let Ok(cwd) = std::env::current_dir() {
            if cwd.join("conformance/cases").is_dir() {
                return SuiteDir::new(cwd);
            }
        }
        SuiteDir::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
    }

    pub fn root(&self) -> &Path {
        &self.root
    }
    pub fn cases_dir(&self) -> PathBuf {
        self.root.join("conformance/cases")
    }
    pub fn fixtures_dir(&self) -> PathBuf {
        self.root.join("fixtures/cases")
    }
    pub fn spec_path(&self) -> PathBuf {
        self.root.join("docs/spec.md")
    }
    /// `conformance/coverage.toml`: MUST rules the suite does not check, with reasons.
    pub fn coverage_exemptions_path(&self) -> PathBuf {
        self.root.join("conformance/coverage.toml")
    }
    pub fn mutants_dir(&self) -> PathBuf {
        self.root.join("conformance/mutants")
    }
    /// `conformance/suite.toml`: the suite's version and the digest of each version's cases.
    pub fn version_path(&self) -> PathBuf {
        self.root.join("conformance/suite.toml")
    }
    /// `conformance/CHANGELOG.md`: the cases each version added, changed and retired.
    pub fn changelog_path(&self) -> PathBuf {
        self.root.join("conformance/CHANGELOG.md")
    }
}

/// The version of the runner (the crate version). The suite's cases have their own version,
/// `conformance/suite.toml` ([`versioning`]).
pub const RUNNER_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The token in fixture TOML files that the runner replaces with the case namespace.
pub const NAMESPACE_TOKEN: &str = "@@NAMESPACE@@";
