//! The `junit` preset (R-PRESET-5): one JUnit XML test report, published with a config that
//! carries the summary — `tests`, `failures`, `errors`, `skipped` — so that a policy (an
//! admission controller such as Kubewarden) can refuse an image whose tests failed by reading
//! the small config alone, without pulling the report.
//!
//! The counts are taken from the `<testcase>` elements, not from the `tests=`/`failures=`
//! attributes that runners write inconsistently: each `<testcase>` is one test; one with a
//! `<failure>` child is a failure, with an `<error>` child an error, with a `<skipped>` child
//! skipped (the first of these children decides). The root element must be `<testsuites>` or
//! `<testsuite>`. A report that is not well-formed XML is an input error located at its line
//! and column.

use serde::Serialize;

use super::{only_file, refuse_media_type, PresetError, PresetInput, PresetOutput};
use crate::canonical;
use crate::media_types::{JUNIT_XML, TEST_RESULTS_CONFIG};
use crate::plan::{ConfigBlob, PlannedFile};

/// Reports larger than this are refused rather than read.
pub const MAX_REPORT_SIZE: u64 = 64 * 1024 * 1024;

/// The summary of a report; also the config blob (plus `format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Summary {
    pub tests: u64,
    pub failures: u64,
    pub errors: u64,
    pub skipped: u64,
}

#[derive(Serialize)]
struct Config {
    format: &'static str,
    #[serde(flatten)]
    summary: Summary,
}

/// The config blob for `summary`.
pub fn config(summary: Summary) -> ConfigBlob {
    let bytes = canonical::to_vec(&Config { format: "junit", summary }).expect("an object of integers has a canonical form");
    ConfigBlob { media_type: TEST_RESULTS_CONFIG.to_string(), bytes }
}

/// Summarises the JUnit XML `text`; `Err` says what is wrong and where (`line L, column C`).
pub fn summarise(text: &str) -> Result<Summary, String> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(text);
    let mut summary = Summary::default();
    let mut stack: Vec<Vec<u8>> = Vec::new();
    // Whether the open <testcase> already has its outcome.
    let mut decided = false;
    let at = |offset: u64| {
        let offset = usize::try_from(offset).unwrap_or(usize::MAX).min(text.len());
        let before = text.get(..offset).unwrap_or(text);
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        format!("line {line}, column {column}")
    };
    loop {
        let event = reader.read_event().map_err(|e| format!("{}: {e}", at(reader.error_position())))?;
        let (name, empty) = match &event {
            Event::Start(e) => (e.name().as_ref().to_vec(), false),
            Event::Empty(e) => (e.name().as_ref().to_vec(), true),
            Event::End(_) => {
                stack.pop();
                continue;
            }
            Event::Eof => break,
            _ => continue,
        };
        if stack.is_empty() && summary == Summary::default() && !matches!(name.as_slice(), b"testsuites" | b"testsuite") {
            let found = String::from_utf8_lossy(&name).into_owned();
            return Err(format!("{}: the root element is <{found}>, not <testsuites> or <testsuite>", at(reader.buffer_position())));
        }
        let in_testcase = stack.last().is_some_and(|n| n == b"testcase");
        match name.as_slice() {
            b"testcase" => {
                summary.tests += 1;
                decided = false;
            }
            b"failure" if in_testcase && !decided => (summary.failures, decided) = (summary.failures + 1, true),
            b"error" if in_testcase && !decided => (summary.errors, decided) = (summary.errors + 1, true),
            b"skipped" if in_testcase && !decided => (summary.skipped, decided) = (summary.skipped + 1, true),
            _ => {}
        }
        if !empty {
            stack.push(name);
        }
    }
    if !stack.is_empty() {
        return Err(format!(
            "{}: the document ends inside <{}>",
            at(text.len() as u64),
            String::from_utf8_lossy(stack.last().unwrap_or(&Vec::new()))
        ));
    }
    Ok(summary)
}

fn read_report(file: &PlannedFile) -> Result<String, PresetError> {
    let not_junit = |reason: String| PresetError::NotJunit { path: file.path.clone(), reason };
    if file.size > MAX_REPORT_SIZE {
        return Err(not_junit(format!("it is {} bytes, over the {MAX_REPORT_SIZE} byte limit", file.size)));
    }
    let bytes = std::fs::read(&file.source).map_err(|e| PresetError::Io {
        preset: crate::layer_toml::Preset::Junit,
        path: file.path.clone(),
        message: e.to_string(),
    })?;
    String::from_utf8(bytes).map_err(|e| not_junit(format!("byte {} is not UTF-8", e.utf8_error().valid_up_to())))
}

/// Applies `junit`.
pub(super) fn apply(input: &PresetInput<'_>) -> Result<PresetOutput, PresetError> {
    refuse_media_type(input)?;
    let file = only_file(input, |count| PresetError::JunitFileCount { count })?;
    let summary = if crate::mutants::active(crate::mutants::Mutant::JunitUnread) {
        Summary::default()
    } else {
        let text = read_report(file)?;
        summarise(&text).map_err(|reason| PresetError::NotJunit { path: file.path.clone(), reason })?
    };
    Ok(PresetOutput {
        config: config(summary),
        artifact_type: input.artifact_type.unwrap_or(TEST_RESULTS_CONFIG).to_string(),
        layer_media_type: JUNIT_XML.to_string(),
        chart: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    const REPORT: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<testsuites tests="99">
  <testsuite name="a">
    <testcase name="ok"/>
    <testcase name="fails"><failure message="boom">trace</failure></testcase>
    <testcase name="errs"><error/></testcase>
    <testcase name="skip"><skipped/></testcase>
    <testcase name="ok2"><system-out>x</system-out></testcase>
  </testsuite>
</testsuites>
"#;

    #[test]
    fn r_preset_5_counts_come_from_the_testcases() {
        assert_eq!(summarise(REPORT), Ok(Summary { tests: 5, failures: 1, errors: 1, skipped: 1 }));
        assert_eq!(
            String::from_utf8(config(summarise(REPORT).unwrap()).bytes).unwrap(),
            r#"{"errors":1,"failures":1,"format":"junit","skipped":1,"tests":5}"#
        );
    }

    #[rstest]
    #[case::single_suite("<testsuite><testcase/></testsuite>", Ok(Summary { tests: 1, ..Default::default() }))]
    #[case::empty_suites("<testsuites/>", Ok(Summary::default()))]
    #[case::wrong_root("<html><body/></html>", Err("line 1, column 7: the root element is <html>, not <testsuites> or <testsuite>"))]
    #[case::mismatched("<testsuites>\n  <testsuite></testsuites>", Err("line 2, column 14: "))]
    #[case::unterminated("<testsuites>\n<testsuite>", Err("the document ends inside <testsuite>"))]
    fn r_preset_5_reports_are_checked(#[case] text: &str, #[case] expected: Result<Summary, &str>) {
        match (summarise(text), expected) {
            (Ok(found), Ok(expected)) => assert_eq!(found, expected),
            (Err(found), Err(expected)) => assert!(found.contains(expected), "{found}"),
            (found, expected) => panic!("{found:?} != {expected:?}"),
        }
    }
}
