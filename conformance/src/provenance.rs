//! Where a result comes from, recorded in every report: the suite's version and commit, a
//! digest of its data (cases, expectations, fixtures), the implementation command and its
//! `--version`, the registry provider and version, the registry quirk profile, and the date of
//! the run.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// The provenance of one run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Provenance {
    /// The version of the cases (`conformance/suite.toml`), or `unknown`.
    pub suite_version: String,
    /// The version of the runner that ran them.
    #[serde(default)]
    pub runner_version: String,
    /// `git rev-parse HEAD` of the suite directory, or `unknown`.
    pub suite_commit: String,
    /// sha256 over every case, expectation and fixture file (see `fixture::suite_digest`).
    pub suite_data_digest: String,
    pub implementation: String,
    /// First line of `<implementation> --version`, or `unknown`.
    pub implementation_version: String,
    /// `container`, `process` or the registry URL.
    pub registry_provider: String,
    pub registry_version: String,
    /// `host:port` the cases ran against.
    pub registry_host: String,
    /// Whether the registry serves the referrers API (then artifacts are checked through it
    /// rather than through fallback indexes, R-REF-1).
    pub registry_referrers_api: bool,
    /// The registry quirk profile the implementation met (`--registry-quirks`), if any.
    #[serde(default)]
    pub registry_quirks: Option<String>,
    /// RFC 3339 UTC time the run started.
    pub date: String,
}

/// The commit checked out at `dir`; else the one an exported copy of the suite records in
/// `dir/REVISION` (the runner image has no git: `ci/runner-image` writes it); else `unknown`.
pub fn git_commit(dir: &Path) -> String {
    git_head(dir).or_else(|| recorded_revision(dir)).unwrap_or_else(|| "unknown".to_string())
}

/// `REVISION` of an exported suite, when it holds one commit ID (40 or 64 hex digits).
fn recorded_revision(dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(dir.join("REVISION")).ok()?;
    let id = text.trim();
    (matches!(id.len(), 40 | 64) && id.bytes().all(|b| b.is_ascii_hexdigit())).then(|| id.to_string())
}

fn git_head(dir: &Path) -> Option<String> {
    std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["rev-parse", "HEAD"])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|s| !s.is_empty())
}

/// The current time as RFC 3339 UTC, to the second.
pub fn now() -> String {
    let secs = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
    chrono::DateTime::from_timestamp(secs, 0).map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string()).unwrap_or_else(|| "unknown".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_without_git_has_an_unknown_commit() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(git_commit(dir.path()), "unknown");
    }

    #[test]
    fn an_exported_suite_names_the_commit_its_revision_file_records() {
        let dir = tempfile::tempdir().unwrap();
        let id = "71d00de0d9b843371c9acbee0280063a2b596f9c";
        std::fs::write(dir.path().join("REVISION"), format!("{id}\n")).unwrap();
        assert_eq!(git_commit(dir.path()), id);
        std::fs::write(dir.path().join("REVISION"), "not a commit\n").unwrap();
        assert_eq!(git_commit(dir.path()), "unknown");
    }

    #[test]
    fn now_is_rfc3339_utc() {
        let t = now();
        assert_eq!(t.len(), 20, "{t}");
        assert!(t.ends_with('Z') && t.as_bytes()[10] == b'T', "{t}");
    }
}
