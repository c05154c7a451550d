//! The JSON results file (`--json FILE`): the whole [`RunResults`] — provenance, summary,
//! every case with its findings, invocations (command, environment, exit, output), what the
//! registry held afterwards, and rule coverage. `--rerun-failed` reads its `cases[].id`,
//! `cases[].status` and the implementation, registry and quirk profile of its `provenance`
//! ([`crate::rerun`]).

use std::path::Path;

use super::{write_file, ReportWriteError};
use crate::outcome::RunResults;

/// The results as pretty JSON.
pub fn render(results: &RunResults) -> Result<String, ReportWriteError> {
    serde_json::to_string_pretty(results)
        .map(|s| cnb_artifacts_core::display::json(&s))
        .map_err(|e| ReportWriteError::Serialise { format: "JSON", message: e.to_string() })
}

/// Writes the results to `path`.
pub fn write(results: &RunResults, path: &Path) -> Result<(), ReportWriteError> {
    write_file(path, &(render(results)? + "\n"))
}
