//! JUnit XML (`--junit FILE`) through `quick-junit`: one test suite with the run's `time` and
//! `timestamp`, one test case per conformance case, named by ID, its `classname` the case's
//! family (`R-COLL`, [`CaseResult::family`]), its `file` the case file. FAIL is a `<failure>`,
//! ERROR an `<error>` (the runner's fault, not the implementation's), SKIP, DISABLED, NOT RUN
//! and baseline expected failures are `<skipped>` with the reason; provenance goes into suite
//! properties.
//! Behind a registry quirk profile the suite properties name it and count its answers, and a
//! case that passed as an accepted refusal carries the property `quirk.refusal`.

use std::path::Path;
use std::time::Duration;

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use super::{human, write_file, ReportWriteError};
use crate::outcome::{BaselineMark, CaseResult, RunResults, Status};

/// The results as JUnit XML.
pub fn render(results: &RunResults) -> Result<String, ReportWriteError> {
    let mut report = Report::new("cnb-artifacts conformance");
    let mut suite = TestSuite::new("conformance");
    let p = &results.provenance;
    for (name, value) in [
        ("suite.version", &p.suite_version),
        ("runner.version", &p.runner_version),
        ("suite.commit", &p.suite_commit),
        ("suite.data-digest", &p.suite_data_digest),
        ("implementation", &p.implementation),
        ("implementation.version", &p.implementation_version),
        ("registry.provider", &p.registry_provider),
        ("registry.version", &p.registry_version),
        ("date", &p.date),
    ] {
        suite.add_property((name, value.as_str()));
    }
    if let Some(signal) = &results.interrupted {
        suite.add_property(("interrupted", signal.as_str()));
    }
    let time = Duration::from_millis(results.duration_ms);
    suite.set_time(time);
    report.set_time(time);
    if let Ok(at) = chrono::DateTime::parse_from_rfc3339(&p.date) {
        suite.set_timestamp(at);
        report.set_timestamp(at);
    }
    if let Some(q) = &results.quirks {
        suite.add_property(("registry.quirks", q.profile.as_str()));
        suite.add_property(("registry.quirks.hits", q.hits.to_string().as_str()));
        suite.add_property(("registry.quirks.fired", if q.fired { "true" } else { "false" }));
    }
    for case in &results.cases {
        suite.add_test_case(test_case(case));
    }
    for finding in &results.run_findings {
        let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
        status.set_message(finding.message.clone());
        suite.add_test_case(TestCase::new(format!("run/{}", finding.check), status));
    }
    report.add_test_suite(suite);
    report.to_string().map_err(|e| ReportWriteError::Serialise { format: "JUnit", message: e.to_string() })
}

fn test_case(case: &CaseResult) -> TestCase {
    let details = human::details(case);
    let first = case.findings.first().map(|f| f.message.clone());
    let status = match (case.status, case.baseline) {
        (_, Some(BaselineMark::ExpectedFailure)) => skipped(format!("expected failure (baseline): {}", first.unwrap_or_default())),
        (_, Some(BaselineMark::Stale)) => {
            failure(NonSuccessKind::Failure, "passes but is listed in the baseline: remove it (--update-baseline)".into(), None)
        }
        (Status::Pass, None) => TestCaseStatus::success(),
        (Status::Fail, None) => failure(NonSuccessKind::Failure, first.unwrap_or_else(|| "failed".into()), Some(details)),
        (Status::Error, None) => {
            failure(NonSuccessKind::Error, case.reason.clone().unwrap_or_else(|| "runner error".into()), Some(details))
        }
        (Status::Skip | Status::Disabled | Status::NotRun, None) => skipped(case.reason.clone().unwrap_or_default()),
    };
    let mut tc = TestCase::new(case.id.clone(), status);
    tc.set_classname(case.family());
    tc.extra.insert("file".into(), case.case_file.as_str().into());
    tc.set_time(Duration::from_millis(case.duration_ms));
    if let Some(inv) = case.invocations.last() {
        tc.set_system_out(inv.stdout.clone());
        tc.set_system_err(inv.stderr.clone());
    }
    if let Some(refusal) = case.quirk.as_ref().and_then(|q| q.refusal.as_ref()) {
        tc.add_property(("quirk.refusal", refusal.describe().as_str()));
    }
    tc
}

fn failure(kind: NonSuccessKind, message: String, description: Option<String>) -> TestCaseStatus {
    let mut status = TestCaseStatus::non_success(kind);
    status.set_message(message);
    if let Some(d) = description {
        status.set_description(d);
    }
    status
}

fn skipped(message: String) -> TestCaseStatus {
    let mut status = TestCaseStatus::skipped();
    status.set_message(message);
    status
}

/// Writes the JUnit XML to `path`.
pub fn write(results: &RunResults, path: &Path) -> Result<(), ReportWriteError> {
    write_file(path, &render(results)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_case_is_classed_by_its_family_and_names_its_file_and_the_suite_its_time() {
        let case = crate::case::for_tests("coll-same-tag", &["R-COLL-1", "R-ERR-1"], "t");
        let mut results = super::super::empty_results();
        results.cases.push(CaseResult::new(&case, Status::Fail));
        results.duration_ms = 1500;
        let xml = render(&results).unwrap();
        let parsed = Report::deserialize_from_str(&xml).unwrap();
        let suite = &parsed.test_suites[0];
        assert_eq!(suite.time, Some(Duration::from_millis(1500)));
        let tc = &suite.test_cases[0];
        assert_eq!(tc.classname.as_deref(), Some("R-COLL"));
        assert_eq!(tc.extra.get("file").map(|f| f.as_str()), Some("conformance/cases/coll-same-tag.toml"));
    }
}
