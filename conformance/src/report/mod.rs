//! The reports of a run: [`human`] (the terminal report with everything needed to reproduce a
//! failure), [`junit`] (JUnit XML for CI dashboards) and [`json`] (machine-readable results,
//! also read back by `--rerun-failed`). All three list cases in ID order.

pub mod human;
pub mod json;
pub mod junit;

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
