//! GitHub Actions workflow commands (`GITHUB_ACTIONS=true`): one `::error file=…,title=…::…`
//! line per case that fails the run (a FAIL not expected by the baseline, a stale baseline
//! entry) or errored, naming the case file, so the failure shows on the run's summary and
//! beside the case file. Values are escaped as the runner's toolkit does (`%`, CR, LF; in
//! properties also `:` and `,`); other control characters are shown escaped (R-SEC-3).

use std::fmt::Write as _;

use crate::outcome::{CaseResult, RunResults, Status};

/// Whether the run is a GitHub Actions job.
pub fn enabled() -> bool {
    std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true")
}

/// The annotations for `results`, one line each.
pub fn annotations(results: &RunResults) -> String {
    let mut out = String::new();
    for case in results.cases.iter().filter(|c| c.counts_as_failure() || c.status == Status::Error) {
        let title = format!("conformance {} {}: {}", case.status.label(), case.id, case.title);
        let _ = writeln!(out, "::error file={},title={}::{}", property(&case.case_file), property(&title), data(&message(case)));
    }
    for finding in &results.run_findings {
        let _ = writeln!(out, "::error title={}::{}", property("conformance FAIL (run)"), data(&finding.message));
    }
    out
}

/// What the annotation says: the first finding (or why the case errored) and the rerun command.
fn message(case: &CaseResult) -> String {
    let mut text = match (case.status, case.findings.first(), &case.reason) {
        (Status::Error, _, Some(reason)) => reason.clone(),
        (_, Some(f), _) => format!("{}: {}", f.check, f.message),
        (_, None, Some(reason)) => reason.clone(),
        (_, None, None) => "passes, but the baseline lists it: remove it (--update-baseline)".to_string(),
    };
    if case.findings.len() > 1 {
        text.push_str(&format!(" (and {} more findings)", case.findings.len() - 1));
    }
    if let Some(rerun) = &case.rerun {
        text.push_str(&format!("\nrerun: {rerun}"));
    }
    text
}

fn data(text: &str) -> String {
    text.split('\n')
        .map(|line| cnb_artifacts_core::display::controls(line).replace('%', "%25").replace('\r', "%0D"))
        .collect::<Vec<_>>()
        .join("%0A")
}

fn property(text: &str) -> String {
    data(text).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::Finding;

    #[test]
    fn a_failure_is_annotated_on_its_case_file_with_what_failed_and_the_rerun_command() {
        let case = crate::case::for_tests("tag-too-long", &["R-TAG-1"], "a: b, 100%");
        let mut failed = CaseResult::new(&case, Status::Fail);
        failed.findings.push(Finding::new("exit-status", "exited 0\nbut \u{1b}[31mmust not"));
        failed.rerun = Some("cnb-artifacts conformance run --filter tag-too-long --keep".to_string());
        let mut passed = CaseResult::new(&case, Status::Pass);
        passed.id = "other".to_string();
        let mut results = super::super::empty_results();
        results.cases = vec![failed, passed];
        let out = annotations(&results);
        assert_eq!(out.lines().count(), 1, "{out}");
        assert!(
            out.starts_with("::error file=conformance/cases/tag-too-long.toml,title=conformance FAIL tag-too-long%3A a%3A b%2C 100%25::exit-status: exited 0%0Abut "),
            "{out}"
        );
        assert!(out.trim_end().ends_with("%0Arerun: cnb-artifacts conformance run --filter tag-too-long --keep"), "{out}");
        assert!(!out.contains('\x1b'), "{out:?}");
    }
}
