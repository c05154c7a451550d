//! The terminal report: provenance, one line per case (status, ID, rules, title), then for
//! every case that did not pass everything needed to reproduce and understand it — whose fault
//! it is, each finding with expected and found digests and a unified diff of the manifests,
//! the command, working directory, environment, exit status, the tail of stdout and stderr,
//! the fixture listing and what the registry held afterwards — then rule coverage and a
//! summary line. Behind a registry quirk profile, accepted refusals are noted on their case
//! line, and a profile whose quirk never fired is called out before the summary.
//!
//! A live run ([`super::live`]) prints the [`header`] first and each [`case_line`] as the case
//! ends, then [`rest`]: the same report in three parts. Each FAIL and ERROR names its case file
//! and fixture source and ends with the command that reruns it; after a publish that failed,
//! the findings that are only its consequences (every tag, manifest and blob it did not push)
//! fold into one line. Colour ([`Style`]) touches only the status words, and only when asked.

use std::fmt::Write as _;

use crate::implementation::tail;
use crate::outcome::{BaselineMark, CaseResult, Finding, RunResults, Status};
use crate::provenance::Provenance;
use cnb_artifacts_core::spelling::count;

/// Lines of stdout and stderr shown per invocation.
const TAIL_LINES: usize = 25;

/// The whole report, every line escaped (R-SEC-3): it quotes what the implementation printed.
pub fn render(results: &RunResults) -> String {
    let proxy = results.quirks.as_ref().map(|q| q.proxy_host.as_str());
    let width = results.cases.iter().map(|c| c.id.len()).max().unwrap_or(0);
    let lines: String = results.cases.iter().map(|c| case_line(c, width, Style::default()) + "\n").collect();
    format!("{}\n{lines}{}", header(&results.provenance, proxy), rest(results, Style::default()))
}

/// `text` with the control and invisible characters of each line escaped; the line breaks stay.
pub fn escaped_lines(text: &str) -> String {
    text.split('\n').map(cnb_artifacts_core::display::controls).collect::<Vec<_>>().join("\n")
}

/// How status words are shown: in colour (green PASS, red FAIL and ERROR, yellow the rest) or
/// plain. Plain output holds no escape sequence at all.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Style {
    pub colour: bool,
}

impl Style {
    /// `text` (a status word, maybe padded) in the colour of `status`.
    pub fn paint(self, status: Status, text: &str) -> String {
        if !self.colour {
            return text.to_string();
        }
        let code = match status {
            Status::Pass => "32",
            Status::Fail | Status::Error => "1;31",
            Status::Skip | Status::Disabled | Status::NotRun => "33",
        };
        format!("\x1b[{code}m{text}\x1b[0m")
    }
}

/// The header: suite, runner, implementation and registry, every line escaped.
pub fn header(p: &Provenance, proxy_host: Option<&str>) -> String {
    escaped_lines(&header_raw(p, proxy_host))
}

fn header_raw(p: &Provenance, proxy_host: Option<&str>) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "cnb-artifacts conformance suite {} (commit {}, data {}), runner {}",
        p.suite_version, p.suite_commit, p.suite_data_digest, p.runner_version
    );
    let _ = writeln!(out, "implementation: {} ({})", p.implementation, p.implementation_version);
    let _ = writeln!(out, "{}; {}", registry_line(p), p.date);
    if let (Some(profile), Some(host)) = (&p.registry_quirks, proxy_host) {
        let _ = writeln!(
            out,
            "registry quirks: {profile} (the implementation was given the proxy at {host}; the runner read the registry directly)"
        );
    }
    out
}

/// Everything after the case lines: the details of each case that did not pass, run findings,
/// coverage, what was kept and cleaned up, the quirk summary and the result. Escaped, with the
/// status words painted by `style`.
pub fn rest(results: &RunResults, style: Style) -> String {
    let mut out = String::new();
    for case in results.cases.iter().filter(|c| !matches!(c.status, Status::Pass | Status::Disabled | Status::NotRun)) {
        out.push('\n');
        let title = escaped_lines(&format!(" {}: {}", case.id, case.title));
        let _ = writeln!(out, "── {}{title}", style.paint(case.status, &status_label(case)));
        out.push_str(&escaped_lines(&details(case)));
    }
    let mut tail = String::new();
    for finding in &results.run_findings {
        let _ = writeln!(tail, "\n── FAIL (run): {}", finding.message);
    }
    tail.push('\n');
    tail.push_str(&coverage(results));
    for kept in &results.kept {
        let _ = writeln!(tail, "kept: {kept}");
    }
    if let Some(cleanup) = &results.cleanup {
        let _ = writeln!(tail, "{cleanup}");
    }
    if let Some(q) = &results.quirks {
        let _ = write!(
            tail,
            "\nquirk {}: changed {} of {} answers; {} passed as accepted refusals",
            q.profile,
            q.hits,
            q.requests,
            count(q.refusals_accepted, "case", "cases")
        );
        if !q.fired {
            let _ = write!(tail, "\nwarning: quirk {} never fired during this run: no case met it, so the run says nothing about how the implementation handles it", q.profile);
        }
        tail.push('\n');
    }
    let s = &results.summary;
    let _ = write!(
        tail,
        "\n{}: {} passed, {} failed, {}, {} skipped, {} disabled",
        count(s.total, "case", "cases"),
        s.passed,
        s.failed,
        count(s.errors, "error", "errors"),
        s.skipped,
        s.disabled
    );
    if s.not_run > 0 {
        let _ = write!(tail, ", {} not run", s.not_run);
    }
    if s.expected_failures > 0 || s.stale_baseline > 0 {
        let failures = count(s.expected_failures, "expected failure", "expected failures");
        let _ = write!(tail, " ({failures}, {})", count(s.stale_baseline, "stale baseline entry", "stale baseline entries"));
    }
    let interrupted;
    let verdict = match (&results.interrupted, results.exit_code()) {
        (Some(signal), _) => {
            interrupted = format!("INTERRUPTED ({signal}): the results so far; {} not run", count(s.not_run, "case was", "cases were"));
            interrupted.as_str()
        }
        (None, 0) => "conformant for the selected cases",
        (None, 4) => "NOT conformant",
        (None, _) => "INCONCLUSIVE: the runner or registry broke (see ERROR cases)",
    };
    let _ = writeln!(tail, "\nresult: {verdict}");
    out + &escaped_lines(&tail)
}

/// `registry: container 2.8.2+ds1 at 127.0.0.1:32768` for a registry the runner started;
/// `registry: http://host:5000 (external, <what its /v2/ answer announced>)` for one named
/// by URL, or `(external, version unknown)` when it announced nothing.
fn registry_line(p: &Provenance) -> String {
    if p.registry_provider.contains("://") {
        let version = if p.registry_version == "unknown" { "version unknown" } else { p.registry_version.as_str() };
        format!("registry: {} (external, {version})", p.registry_provider)
    } else {
        format!("registry: {} {} at {}", p.registry_provider, p.registry_version, p.registry_host)
    }
}

fn status_label(case: &CaseResult) -> String {
    match case.baseline {
        Some(BaselineMark::ExpectedFailure) => {
            format!("{} (expected, baseline)", case.status.label())
        }
        Some(BaselineMark::Stale) => format!("{} (stale baseline entry)", case.status.label()),
        None => case.status.label().to_string(),
    }
}

/// `STATUS  id  rules  title`, escaped, the status painted by `style`.
pub fn case_line(case: &CaseResult, width: usize, style: Style) -> String {
    let status = style.paint(case.status, &format!("{:<8}", case.status.label()));
    format!("{status} {}", escaped_lines(&case_line_rest(case, width)))
}

fn case_line_rest(case: &CaseResult, width: usize) -> String {
    let mut line = format!("{:<width$}  {}  {}", case.id, case.rules.join(" "), case.title);
    match case.baseline {
        Some(BaselineMark::ExpectedFailure) => line.push_str("  [expected failure: baseline]"),
        Some(BaselineMark::Stale) => line.push_str("  [STALE baseline entry: the case passes now]"),
        None => {}
    }
    if let Some(reason) = case.reason.as_deref().filter(|_| matches!(case.status, Status::Skip | Status::Disabled | Status::NotRun)) {
        line.push_str(&format!("  ({reason})"));
    }
    if let Some(refusal) = case.quirk.as_ref().and_then(|q| q.refusal.as_ref()) {
        line.push_str(&format!("  [{}]", refusal.describe()));
    }
    line
}

/// Everything about one non-passing case, indented.
pub fn details(case: &CaseResult) -> String {
    let mut out = String::new();
    if let Some(fault) = case.fault {
        let _ = writeln!(out, "   fault: {}", fault.describe());
    }
    if let Some(reason) = &case.reason {
        let _ = writeln!(out, "   reason: {reason}");
    }
    let _ = writeln!(out, "   case file: {}; fixture: {}", case.case_file, case.fixture_source);
    if let Some(ns) = &case.namespace {
        let _ = writeln!(out, "   namespace: {ns}");
    }
    if let Some(q) = &case.quirk {
        let _ = writeln!(out, "   registry quirk: {} (answers it changed for this case: {})", q.profile, q.hits);
    }
    let failed_exit = case.findings.iter().any(|f| f.check == "exit-status");
    let (follow_on, shown): (Vec<&Finding>, Vec<&Finding>) = case.findings.iter().partition(|f| failed_exit && f.missing.is_some());
    for f in shown {
        let _ = writeln!(out, "   ✗ {}: {}", f.check, f.message);
        if let (Some(e), Some(found)) = (&f.expected, &f.found) {
            let _ = writeln!(out, "       expected: {e}\n       found:    {found}");
        }
        if let Some(diff) = &f.diff {
            for line in diff.lines() {
                let _ = writeln!(out, "       {line}");
            }
        }
    }
    if !follow_on.is_empty() {
        let _ = writeln!(out, "   ✗ follow-on: {}", follow_on_line(&follow_on));
    }
    if !case.expected_error_rules.is_empty() {
        let mentioned = if case.mentioned_rules.is_empty() { "none".to_string() } else { case.mentioned_rules.join(" ") };
        let _ = writeln!(out, "   expected error: {}; rules the output mentions: {mentioned}", case.expected_error_rules.join(" "));
    }
    for s in &case.setup {
        let _ = writeln!(out, "   setup: {s}");
    }
    for inv in &case.invocations {
        let _ = writeln!(out, "   command: {}", inv.command);
        let _ = writeln!(out, "   cwd: {}", inv.cwd.display());
        let _ = writeln!(out, "   env:");
        for (k, v) in &inv.env {
            let _ = writeln!(out, "     {k}={v}");
        }
        let _ = writeln!(out, "   {} after {} ms", inv.exit, inv.duration_ms);
        for (name, text) in [("stdout", &inv.stdout), ("stderr", &inv.stderr)] {
            if text.trim().is_empty() {
                let _ = writeln!(out, "   {name}: (empty)");
                continue;
            }
            let _ = writeln!(out, "   {name} (last {TAIL_LINES} lines):");
            for line in tail(text, TAIL_LINES).lines() {
                let _ = writeln!(out, "     | {line}");
            }
        }
    }
    if !case.fixture_listing.is_empty() {
        let _ = writeln!(out, "   fixture (layers directory):");
        for line in &case.fixture_listing {
            let _ = writeln!(out, "     {line}");
        }
    }
    if !case.found.is_empty() {
        let _ = writeln!(out, "   registry after the run:");
        for (name, digest) in &case.found {
            let _ = writeln!(out, "     {name}  {digest}");
        }
    }
    if let Some(dir) = &case.kept_at {
        let _ = writeln!(out, "   kept at: {} (rerun the implementation by hand: <invocation>/replay.sh)", dir.display());
    }
    if let Some(rerun) = &case.rerun {
        let _ = writeln!(out, "   rerun: {rerun}");
    }
    out
}

/// What the failed publish left missing, counted by kind: `the failed publish left 5 things
/// missing: 2 tags, 2 blobs, 1 fallback index (each in --json)`.
fn follow_on_line(findings: &[&Finding]) -> String {
    let mut kinds: Vec<(&str, usize)> = Vec::new();
    for what in findings.iter().filter_map(|f| f.missing.as_deref()) {
        match kinds.iter_mut().find(|(k, _)| *k == what) {
            Some((_, n)) => *n += 1,
            None => kinds.push((what, 1)),
        }
    }
    let counted: Vec<String> = kinds.iter().map(|(k, n)| if *n == 1 { format!("1 {k}") } else { format!("{n} {k}s") }).collect();
    format!("the failed publish left {} missing: {} (each in --json)", count(findings.len(), "thing", "things"), counted.join(", "))
}

/// The rule-coverage section.
fn coverage(results: &RunResults) -> String {
    let c = &results.coverage;
    if !c.spec_found {
        return "rule coverage: docs/spec.md not found\n".to_string();
    }
    let covered = c.rules.len() - c.uncovered.len() - c.not_applicable.len();
    let mut out = format!(
        "rule coverage: {covered} of {} MUST rules cited by the cases run ({} not applicable)",
        c.rules.len(),
        c.not_applicable.len()
    );
    if c.uncovered.is_empty() {
        out.push('\n');
    } else {
        let flag = if results.require_coverage { " (fails the run: --require-coverage)" } else { "" };
        let _ = writeln!(out, "; uncovered{flag}: {}", c.uncovered.join(" "));
    }
    if !c.not_applicable.is_empty() {
        let ids: Vec<&str> = c.not_applicable.keys().map(String::as_str).collect();
        let _ = writeln!(out, "not checked by this suite (conformance/coverage.toml): {}", ids.join(" "));
    }
    if !c.unknown.is_empty() {
        let _ = writeln!(out, "rules cited by cases but not defined in the spec: {}", c.unknown.join(" "));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provenance(provider: &str, version: &str, host: &str) -> Provenance {
        Provenance {
            suite_version: "1".to_string(),
            runner_version: "0.1.0".to_string(),
            suite_commit: "unknown".to_string(),
            suite_data_digest: "sha256:0".to_string(),
            implementation: "impl".to_string(),
            implementation_version: "unknown".to_string(),
            registry_provider: provider.to_string(),
            registry_version: version.to_string(),
            registry_host: host.to_string(),
            registry_referrers_api: false,
            registry_quirks: None,
            date: "2026-01-01T00:00:00Z".to_string(),
        }
    }

    #[test]
    fn a_started_registry_is_named_with_its_version_and_address() {
        let p = provenance("container", "2.8.2+ds1", "127.0.0.1:32768");
        assert_eq!(registry_line(&p), "registry: container 2.8.2+ds1 at 127.0.0.1:32768");
    }

    #[test]
    fn after_a_failed_exit_what_the_publish_did_not_push_folds_into_one_line() {
        let case = crate::case::for_tests("rfc-example", &["R-TAG-1"], "t");
        let mut failed = CaseResult::new(&case, Status::Fail);
        failed.findings = vec![
            Finding::new("exit-status", "the publish must succeed, but `x` ended with exit status 1"),
            Finding::new("tag", "app:wasm does not exist").missing("tag"),
            Finding::new("tag", "app:other does not exist").missing("tag"),
            Finding::new("blob", "blob sha256:1 is missing").missing("blob"),
            Finding::new("unchanged", "app:1.0 was changed"),
        ];
        failed.rerun = Some("cnb-artifacts conformance run --filter rfc-example --keep".to_string());
        let text = details(&failed);
        assert!(text.contains("✗ exit-status: the publish must succeed") && text.contains("✗ unchanged: app:1.0 was changed"), "{text}");
        assert!(!text.contains("app:wasm does not exist"), "{text}");
        assert!(text.contains("✗ follow-on: the failed publish left 3 things missing: 2 tags, 1 blob (each in --json)"), "{text}");
        assert!(text.contains("case file: conformance/cases/rfc-example.toml; fixture: fixtures/cases/f/layers"), "{text}");
        assert!(text.trim_end().ends_with("rerun: cnb-artifacts conformance run --filter rfc-example --keep"), "{text}");
        // Without a failed exit, every absence is a finding of its own.
        failed.findings.remove(0);
        assert!(details(&failed).contains("app:wasm does not exist"));
    }

    #[test]
    fn an_external_registry_is_named_by_its_url_and_what_it_announced() {
        let p = provenance("http://127.0.0.1:5055", "Docker-Distribution-API-Version registry/2.0", "127.0.0.1:5055");
        assert_eq!(registry_line(&p), "registry: http://127.0.0.1:5055 (external, Docker-Distribution-API-Version registry/2.0)");
        let p = provenance("http://127.0.0.1:5055", "unknown", "127.0.0.1:5055");
        assert_eq!(registry_line(&p), "registry: http://127.0.0.1:5055 (external, version unknown)");
    }
}
