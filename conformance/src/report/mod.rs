//! The reports of a run: [`human`] (the terminal report with everything needed to reproduce a
//! failure), printed while the run goes by [`live`]; [`junit`] (JUnit XML for CI dashboards),
//! [`github`] (GitHub Actions annotations) and [`json`] (machine-readable results, also read
//! back by `--rerun-failed`). All list cases in ID order.

pub mod github;
pub mod human;
pub mod json;
pub mod junit;
pub mod live;

use std::path::{Path, PathBuf};

/// Why a report file cannot be written.
#[derive(Debug, thiserror::Error)]
pub enum ReportWriteError {
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
    #[error("cannot serialise the {format} report: {message}")]
    Serialise { format: &'static str, message: String },
}

fn write_file(path: &Path, text: &str) -> Result<(), ReportWriteError> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|source| ReportWriteError::Write { path: path.to_path_buf(), source })?;
    }
    std::fs::write(path, text).map_err(|source| ReportWriteError::Write { path: path.to_path_buf(), source })
}

/// Results of a run with no case, for the reports' tests.
#[cfg(test)]
pub(crate) fn empty_results() -> crate::outcome::RunResults {
    use crate::outcome::RunResults;
    RunResults {
        provenance: serde_json::from_str(
            r#"{"suiteVersion":"1","suiteCommit":"c","suiteDataDigest":"d","implementation":"i","implementationVersion":"v",
            "registryProvider":"process","registryVersion":"r","registryHost":"h","registryReferrersApi":false,"date":"2026-01-01T00:00:00Z"}"#,
        )
        .expect("provenance"),
        summary: RunResults::summarise(&[]),
        cases: Vec::new(),
        run_findings: Vec::new(),
        coverage: crate::coverage::Coverage::default(),
        require_coverage: false,
        kept: Vec::new(),
        cleanup: None,
        quirks: None,
        interrupted: None,
        duration_ms: 0,
    }
}
