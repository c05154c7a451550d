//! Results: one [`CaseResult`] per case with a [`Status`] that separates the implementation
//! being wrong ([`Status::Fail`]) from the runner or its registry breaking ([`Status::Error`],
//! never counted against the implementation), and [`RunResults`] for the whole run with its
//! exit code (0 all passed, 4 cases failed, 5 runner or registry error).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::coverage::Coverage;
use super::implementation::Invocation;
use super::provenance::Provenance;

/// A case's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Everything the case expects holds.
    Pass,
    /// The implementation under test did something the spec forbids.
    Fail,
    /// The runner, the registry or the case data broke; says nothing about the implementation.
    Error,
    /// Not run, for a reason the runner gives.
    Skip,
    /// Not run because the user said so (`--disable`).
    Disabled,
    /// Not run, or not finished, because the run was interrupted (Ctrl-C, SIGTERM).
    #[serde(rename = "not-run")]
    NotRun,
}

impl Status {
    pub fn label(self) -> &'static str {
        match self {
            Status::Pass => "PASS",
            Status::Fail => "FAIL",
            Status::Error => "ERROR",
            Status::Skip => "SKIP",
            Status::Disabled => "DISABLED",
            Status::NotRun => "NOT RUN",
        }
    }
}

/// Whose fault a non-passing result is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Fault {
    Implementation,
    Registry,
    Runner,
    CaseData,
    /// The implementation command could not be started (exit status 126 or 127).
    NotStarted,
}

impl Fault {
    pub fn describe(self) -> &'static str {
        match self {
            Fault::Implementation => "the implementation under test",
            Fault::Registry => "the registry (not the implementation)",
            Fault::Runner => "the conformance runner (not the implementation)",
            Fault::CaseData => "the case data (not the implementation): fix the case or run `conformance regen`",
            Fault::NotStarted => "the implementation command, which could not be started (exit status 126 or 127): fix the command",
        }
    }
}

/// One thing that did not hold.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    /// Short name of the check, e.g. `exit-status`, `tag`, `fallback-index`, `nothing-new`.
    pub check: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub found: Option<String>,
    /// Unified diff of expected vs found (manifest JSON), when both exist.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff: Option<String>,
    /// Set when the finding is only that something expected is absent (`tag`, `blob`,
    /// `manifest`, `fallback index`, `app image`): after a publish that failed, these are its
    /// follow-on findings, which the terminal report folds into one line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub missing: Option<String>,
}

impl Finding {
    pub fn new(check: &str, message: impl Into<String>) -> Finding {
        Finding { check: check.to_string(), message: message.into(), ..Finding::default() }
    }
    pub fn expected_found(mut self, expected: impl Into<String>, found: impl Into<String>) -> Finding {
        self.expected = Some(expected.into());
        self.found = Some(found.into());
        self
    }
    pub fn with_diff(mut self, diff: Option<String>) -> Finding {
        self.diff = diff;
        self
    }
    /// Marks the finding as the absence of a `what` (a follow-on of a failed publish).
    pub fn missing(mut self, what: &str) -> Finding {
        self.missing = Some(what.to_string());
        self
    }
}

/// How the baseline file judged a result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BaselineMark {
    /// Listed in the baseline and failed: reported, not counted.
    ExpectedFailure,
    /// Listed in the baseline but passed: the baseline is stale, which fails the run.
    Stale,
}

/// The result of one case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CaseResult {
    pub id: String,
    pub title: String,
    pub rules: Vec<String>,
    /// The case file, relative to the suite directory (`conformance/cases/<id>.toml`).
    pub case_file: String,
    /// The source of the case's layer tree, relative to the suite directory
    /// (`fixtures/cases/<fixture>/layers`).
    pub fixture_source: String,
    pub status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fault: Option<Fault>,
    /// Why it was skipped, disabled or errored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baseline: Option<BaselineMark>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub findings: Vec<Finding>,
    /// What the runner pushed before running the implementation.
    pub setup: Vec<String>,
    pub invocations: Vec<Invocation>,
    /// For rejected cases: the rules the case expects, and those the output mentions.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub expected_error_rules: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mentioned_rules: Vec<String>,
    /// `repo:tag → digest` in the case namespace after the run.
    pub found: BTreeMap<String, String>,
    pub fixture_listing: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kept_at: Option<PathBuf>,
    /// Behind a quirk profile (`--registry-quirks`): how the case met it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quirk: Option<CaseQuirk>,
    /// For a FAIL or ERROR: the command that reruns just this case with `--keep`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rerun: Option<String>,
    pub duration_ms: u64,
}

impl CaseResult {
    /// A result with nothing run yet.
    pub fn new(case: &super::case::Case, status: Status) -> CaseResult {
        let expected_error_rules = match &case.expect {
            super::case::Expect::Rejected { rules, .. } => rules.clone(),
            super::case::Expect::Published { .. } => Vec::new(),
        };
        CaseResult {
            id: case.id.clone(),
            title: case.title.clone(),
            rules: case.rules.clone(),
            case_file: format!("conformance/cases/{}.toml", case.id),
            fixture_source: format!("fixtures/cases/{}/layers", case.fixture),
            status,
            fault: None,
            reason: None,
            baseline: None,
            namespace: None,
            findings: Vec::new(),
            setup: Vec::new(),
            invocations: Vec::new(),
            expected_error_rules,
            mentioned_rules: Vec::new(),
            found: BTreeMap::new(),
            fixture_listing: Vec::new(),
            kept_at: None,
            quirk: None,
            rerun: None,
            duration_ms: 0,
        }
    }

    /// The case's family, which groups it in CI reports: the family of the first rule it cites
    /// (`R-COLL` for `R-COLL-1`), or `other` for a case that cites none.
    pub fn family(&self) -> &str {
        self.rules.first().and_then(|r| r.rsplit_once('-')).map_or("other", |(family, _)| family)
    }

    /// Marks the result as an error of `fault` with `reason`.
    pub fn error(&mut self, fault: Fault, reason: impl Into<String>) {
        self.status = Status::Error;
        self.fault = Some(fault);
        self.reason = Some(reason.into());
    }

    /// Whether this result makes the run fail (exit 4): a failure not expected by the baseline,
    /// or a stale baseline entry.
    pub fn counts_as_failure(&self) -> bool {
        match self.baseline {
            Some(BaselineMark::ExpectedFailure) => false,
            Some(BaselineMark::Stale) => true,
            None => self.status == Status::Fail,
        }
    }
}

/// Counts per status.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub total: usize,
    pub passed: usize,
    pub failed: usize,
    pub errors: usize,
    pub skipped: usize,
    pub disabled: usize,
    /// Cases the run did not finish because it was interrupted.
    pub not_run: usize,
    pub expected_failures: usize,
    pub stale_baseline: usize,
}

/// Everything one run produced.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunResults {
    pub provenance: Provenance,
    pub summary: Summary,
    pub cases: Vec<CaseResult>,
    /// Problems that belong to no single case (e.g. repositories outside every namespace).
    pub run_findings: Vec<Finding>,
    pub coverage: Coverage,
    /// Whether uncovered MUST rules fail the run (`--require-coverage`).
    pub require_coverage: bool,
    /// What `--keep` left behind.
    pub kept: Vec<String>,
    /// On an external registry, what the run deleted there at its end or what is left to
    /// remove by hand (`cleanup::Cleanup::line`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cleanup: Option<String>,
    /// The quirk profile the run put in front of its registry (`--registry-quirks`), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quirks: Option<QuirksSummary>,
    /// The signal that interrupted the run (`SIGINT`, `SIGTERM`); its unfinished cases are
    /// [`Status::NotRun`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interrupted: Option<String>,
    /// Wall-clock time of the cases, from the first one starting to the last one ending.
    pub duration_ms: u64,
}

/// Exit codes of `conformance run` (the same values as `cli::exit`).
pub mod exit {
    pub const OK: u8 = 0;
    pub const CASES_FAILED: u8 = 4;
    pub const RUNNER: u8 = 5;
}

impl RunResults {
    /// Counts the cases by status and baseline mark.
    pub fn summarise(cases: &[CaseResult]) -> Summary {
        let mut s = Summary { total: cases.len(), ..Summary::default() };
        for c in cases {
            match c.status {
                Status::Pass => s.passed += 1,
                Status::Fail => s.failed += 1,
                Status::Error => s.errors += 1,
                Status::Skip => s.skipped += 1,
                Status::Disabled => s.disabled += 1,
                Status::NotRun => s.not_run += 1,
            }
            match c.baseline {
                Some(BaselineMark::ExpectedFailure) => s.expected_failures += 1,
                Some(BaselineMark::Stale) => s.stale_baseline += 1,
                None => {}
            }
        }
        s
    }

    /// 5 when the run was interrupted or anything errored (the run says nothing reliable), else 4 when a case failed, a
    /// baseline entry is stale, a run-level check failed or required coverage is missing, else 0.
    pub fn exit_code(&self) -> u8 {
        if self.interrupted.is_some() || self.cases.iter().any(|c| c.status == Status::Error) {
            return exit::RUNNER;
        }
        let uncovered = self.require_coverage && !self.coverage.uncovered.is_empty();
        if self.cases.iter().any(CaseResult::counts_as_failure) || !self.run_findings.is_empty() || uncovered {
            return exit::CASES_FAILED;
        }
        exit::OK
    }
}

/// The quirk profile of a run, in the results.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QuirksSummary {
    pub profile: String,
    /// `host:port` the implementation was given instead of the registry's.
    pub proxy_host: String,
    /// Answers the profile changed during the whole run.
    pub hits: u64,
    /// Requests the proxy received.
    pub requests: u64,
    /// False when the quirk never fired: the run did not exercise the profile at all.
    pub fired: bool,
    /// Cases that passed as accepted refusals.
    pub refusals_accepted: usize,
}

/// How a case went behind the proxy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CaseQuirk {
    pub profile: String,
    /// Answers the quirk changed for the case's namespace (0: the case did not meet the quirk).
    pub hits: u64,
    /// Set when the case passed as an accepted refusal.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refusal: Option<QuirkRefusal>,
}

/// A case that passed because the implementation refused what the quirky registry answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QuirkRefusal {
    pub profile: String,
    /// What the refusal quotes of the registry's answer, e.g. `MANIFEST_INVALID`.
    pub answer: String,
    /// Where standard error quotes it: the first such line, cut to the part around the answer.
    pub quoted: String,
    /// Invocations that refused, of `invocations` (concurrent publishers: the others succeeded).
    pub refused: usize,
    pub invocations: usize,
    /// The refused publish was an earlier one the case needs (`setup.publish`), so the case's
    /// own publish did not run.
    pub earlier_publish: bool,
}

impl QuirkRefusal {
    /// One line for the reports.
    pub fn describe(&self) -> String {
        let who = match (self.earlier_publish, self.refused == self.invocations) {
            (true, _) => "an earlier publish the case needs was refused".to_string(),
            (false, true) => "refused".to_string(),
            (false, false) => format!("{} of {} publishers refused", self.refused, self.invocations),
        };
        format!("{who} under quirk {}: {}", self.profile, self.quoted)
    }
}
