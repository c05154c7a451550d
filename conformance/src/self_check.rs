//! `conformance self-check`: proves the suite can fail. The reference implementation must pass
//! every selected case; each *mutant* — a known-bad implementation (a command, like any
//! implementation under test) described in `conformance/mutants/<name>.toml` — must FAIL every
//! case its `must_fail` globs claim; and every selected case must be FAILed by at least one
//! mutant. A case no mutant kills is a weak case (its expectations would let a wrong
//! implementation through): tighten the case or add a mutant.
//!
//! KnownBad file format:
//!
//! ```toml
//! name = "ignores-collisions"
//! description = "publishes although artifacts collide (R-COLL-1..3)"
//! implementation = "env CNB_ARTIFACTS_MUTANT=ignores-collisions CNB_ARTIFACTS_BIN={mutant_bin} {suite}/conformance/adapters/reference.sh"
//! must_fail = ["coll-*"]
//! ```
//!
//! A `must_fail` entry `@rejected` claims every rejected case (`outcome = "rejected"`), so that
//! mutants about how rejections are reported (crashing, naming the wrong file) claim new
//! rejected cases without an edit.
//!
//! In `implementation`, `{suite}` is replaced by the suite directory, `{bin}` by the reference
//! binary (`$CNB_ARTIFACTS_BIN`, else this program) and `{mutant_bin}` by the mutant binary
//! (`$CNB_CONFORMANCE_MUTANT_BIN`, else `cnb-artifacts-mutant` beside this program; built with
//! `cargo build --features mutants`, see `cnb_artifacts_core::mutants`), each quoted as a shell word.
//!
//! Two scopes: [`Scope::Claimed`] (the default) runs each mutant only against the cases it
//! claims, which proves "every case is killed" (a claimed case that does not FAIL fails the
//! check) and makes every case name the mutant that must kill it; [`Scope::Matrix`] runs every
//! mutant against every selected case — one whole suite run per mutant, minutes — and reports,
//! per case, every mutant that kills it. Runs go a few at a time, each on its own thread
//! against its own registry, so the runner's checks (strays included) stay exactly those of
//! `conformance run`.

mod render;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use futures_util::stream::{self, StreamExt};
use globset::{Glob, GlobMatcher};
use serde::Deserialize;

use super::case::Expect;
use super::implementation::Implementation;
use super::outcome::{RunResults, Status};
use super::runner::{self, RunError, RunOptions};
use super::selection::Selected;
use super::SuiteDir;

/// The `must_fail` entry that claims every rejected case.
pub const REJECTED: &str = "@rejected";

/// The mutant binary's name; it is looked for beside the running program.
pub const MUTANT_BIN_NAME: &str = "cnb-artifacts-mutant";

/// One known-bad implementation.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KnownBad {
    pub name: String,
    pub description: String,
    pub implementation: String,
    /// Globs of case IDs that must FAIL against this mutant.
    pub must_fail: Vec<String>,
}

/// Why the mutants cannot be loaded.
#[derive(Debug, thiserror::Error)]
pub enum KnownBadError {
    #[error("cannot read mutant {path}: {reason}")]
    Invalid { path: PathBuf, reason: String },
    #[error(
        "mutant {mutant} needs the mutant binary, but {} does not exist: build it with \
         `cargo build --features mutants` (or name it with $CNB_CONFORMANCE_MUTANT_BIN)",
        path.display()
    )]
    MutantBinaryMissing { mutant: String, path: PathBuf },
    #[error("mutant {mutant}: must_fail glob `{glob}` is invalid: {reason}")]
    InvalidGlob { mutant: String, glob: String, reason: String },
    #[error("mutant {mutant}: must_fail glob `{glob}` matches no case")]
    GlobMatchesNothing { mutant: String, glob: String },
}

/// Every mutant under `conformance/mutants/`, by file name (none when the directory is absent),
/// with its placeholders replaced.
pub fn load(suite: &SuiteDir) -> Result<Vec<KnownBad>, KnownBadError> {
    let Ok(entries) = std::fs::read_dir(suite.mutants_dir()) else {
        return Ok(Vec::new());
    };
    let mut paths: Vec<PathBuf> =
        entries.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.extension().is_some_and(|x| x == "toml")).collect();
    paths.sort();
    let mutant_bin = mutant_bin();
    paths
        .into_iter()
        .map(|path| {
            let invalid = |reason: String| KnownBadError::Invalid { path: path.clone(), reason };
            let text = std::fs::read_to_string(&path).map_err(|e| invalid(e.to_string()))?;
            let mut m: KnownBad = toml::from_str(&text).map_err(|e| invalid(e.to_string()))?;
            if m.implementation.contains("{mutant_bin}") && !mutant_bin.is_file() {
                return Err(KnownBadError::MutantBinaryMissing { mutant: m.name, path: mutant_bin.clone() });
            }
            m.implementation = m
                .implementation
                .replace("{suite}", &quoted(suite.root()))
                .replace("{mutant_bin}", &quoted(&mutant_bin))
                .replace("{bin}", &quoted(Path::new(&reference_bin())));
            Ok(m)
        })
        .collect()
}

fn quoted(path: &Path) -> String {
    let text = path.display().to_string();
    shlex::try_quote(&text).map(|q| q.into_owned()).unwrap_or(text)
}

/// The reference binary for `{bin}`.
fn reference_bin() -> String {
    std::env::var("CNB_ARTIFACTS_BIN")
        .ok()
        .or_else(|| std::env::current_exe().ok().map(|p| p.display().to_string()))
        .unwrap_or_else(|| "cnb-artifacts".to_string())
}

/// The mutant binary for `{mutant_bin}`: `$CNB_CONFORMANCE_MUTANT_BIN`, else beside this program.
fn mutant_bin() -> PathBuf {
    if let Some(path) = std::env::var_os("CNB_CONFORMANCE_MUTANT_BIN") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().unwrap_or_default();
    exe.with_file_name(MUTANT_BIN_NAME)
}

/// The case IDs among `ids` that each mutant claims (`rejected`: the rejected ones among them,
/// for [`REJECTED`]); every glob must be valid and match a case of the whole suite (`all_ids`),
/// so that a renamed case cannot silently drop a claim.
pub fn claims(
    mutants: &[KnownBad],
    all_ids: &[String],
    ids: &[String],
    rejected: &BTreeSet<String>,
) -> Result<Vec<Vec<String>>, KnownBadError> {
    mutants
        .iter()
        .map(|m| {
            let globs = matchers(m)?;
            if let Some((glob, _)) = globs.iter().find(|(_, g)| !all_ids.iter().any(|id| g.is_match(id))) {
                return Err(KnownBadError::GlobMatchesNothing { mutant: m.name.clone(), glob: glob.clone() });
            }
            let all_rejected = m.must_fail.iter().any(|g| g == REJECTED);
            Ok(ids
                .iter()
                .filter(|id| (all_rejected && rejected.contains(*id)) || globs.iter().any(|(_, g)| g.is_match(id.as_str())))
                .cloned()
                .collect())
        })
        .collect()
}

fn matchers(m: &KnownBad) -> Result<Vec<(String, GlobMatcher)>, KnownBadError> {
    m.must_fail
        .iter()
        .filter(|g| *g != REJECTED)
        .map(|g| {
            Glob::new(g).map(|glob| (g.clone(), glob.compile_matcher())).map_err(|e| KnownBadError::InvalidGlob {
                mutant: m.name.clone(),
                glob: g.clone(),
                reason: e.to_string(),
            })
        })
        .collect()
}

/// Which cases each mutant runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Every selected case: the full matrix of which mutant kills which case.
    Matrix,
    /// Only the selected cases the mutant claims (`must_fail`).
    Claimed,
}

/// How a self-check is carried out.
#[derive(Debug, Clone)]
pub struct Options {
    /// Registry, jobs and timeout of every run; its implementation is the reference.
    pub base: RunOptions,
    pub scope: Scope,
    /// Mutants run at once, each against its own registry (at least 1).
    pub parallel: usize,
}

/// How the suite fared against one mutant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub mutant: String,
    pub description: String,
    /// Selected cases the mutant claims (`must_fail`).
    pub claimed: Vec<String>,
    /// Cases that FAILed: the mutant's kills.
    pub failed: Vec<String>,
    /// Claimed cases that did not FAIL: the suite's blind spots.
    pub missed: Vec<String>,
    /// Cases that ended in ERROR (the runner or registry broke; no verdict).
    pub errors: Vec<String>,
    pub duration: Duration,
}

impl Verdict {
    /// Every claimed case FAILed (vacuously true for a mutant with no claim in the selection).
    pub fn caught(&self) -> bool {
        self.missed.is_empty() && self.errors.is_empty()
    }
}

/// How the reference implementation fared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferenceVerdict {
    pub passed: usize,
    /// Cases that did not PASS, with their status.
    pub not_passed: Vec<(String, Status)>,
    pub duration: Duration,
}

/// The outcome of a self-check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelfCheck {
    pub scope: Scope,
    pub reference: ReferenceVerdict,
    pub verdicts: Vec<Verdict>,
    /// Every selected case (by ID) and the mutants that killed it.
    pub kills: BTreeMap<String, Vec<String>>,
    /// Per rule family (`R-COLL`): of the (mutant, claimed case citing the family) pairs, how
    /// many there are and how many FAILed — the mutation score.
    pub families: BTreeMap<String, FamilyScore>,
    pub duration: Duration,
}

/// The mutation score of one rule family.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FamilyScore {
    pub claimed: usize,
    pub killed: usize,
}

/// The mutation score per rule family: each verdict's claimed cases, counted once for every
/// family (`R-COLL` of `R-COLL-1`) the case cites.
fn family_scores(verdicts: &[Verdict], selected: &[Selected]) -> BTreeMap<String, FamilyScore> {
    let mut scores: BTreeMap<String, FamilyScore> = BTreeMap::new();
    for v in verdicts {
        for id in &v.claimed {
            let Some(s) = selected.iter().find(|s| &s.case.id == id) else { continue };
            let families: BTreeSet<&str> = s.case.rules.iter().filter_map(|r| r.rsplit_once('-').map(|(f, _)| f)).collect();
            for family in families {
                let score = scores.entry(family.to_string()).or_default();
                score.claimed += 1;
                score.killed += usize::from(v.failed.contains(id));
            }
        }
    }
    scores
}

/// What a self-check says, as an exit status class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckStatus {
    /// The reference passes, every mutant is caught, every case is killed.
    Proven,
    /// A blind spot: a missed claim, a case no mutant kills, or a reference failure.
    BlindSpots,
    /// A run ended in ERROR: nothing can be concluded.
    Broken,
}

impl SelfCheck {
    /// Cases that no mutant killed: weak cases.
    pub fn unkilled(&self) -> Vec<&str> {
        self.kills.iter().filter(|(_, by)| by.is_empty()).map(|(id, _)| id.as_str()).collect()
    }

    pub fn status(&self) -> CheckStatus {
        let reference_errors = self.reference.not_passed.iter().any(|(_, s)| *s == Status::Error);
        if reference_errors || self.verdicts.iter().any(|v| !v.errors.is_empty()) {
            CheckStatus::Broken
        } else if !self.reference.not_passed.is_empty() || !self.unkilled().is_empty() || self.verdicts.iter().any(|v| !v.caught()) {
            CheckStatus::BlindSpots
        } else {
            CheckStatus::Proven
        }
    }

    /// The human report: reference, mutants, the case × killer matrix, a summary.
    pub fn render(&self) -> String {
        render::render(self)
    }
}

/// Why a self-check could not be carried out.
#[derive(Debug, thiserror::Error)]
pub enum SelfCheckError {
    #[error(transparent)]
    KnownBad(#[from] KnownBadError),
    #[error(transparent)]
    Run(#[from] RunError),
    #[error("a run of the self-check stopped: {0}")]
    Task(String),
}

/// One suite run of a self-check: the reference (no mutant) or a mutant.
struct Planned<'a> {
    mutant: Option<(&'a KnownBad, Vec<String>)>,
    opts: RunOptions,
    cases: Vec<Selected>,
}

/// Runs the reference and every mutant against `selected` (see the module docs); `all_ids` are
/// the IDs of the whole suite, against which the `must_fail` globs are checked.
pub async fn run(
    suite: &SuiteDir,
    selected: &[Selected],
    all_ids: &[String],
    mutants: &[KnownBad],
    opts: &Options,
) -> Result<SelfCheck, SelfCheckError> {
    let started = Instant::now();
    let ids: Vec<String> = selected.iter().filter(|s| !s.disabled).map(|s| s.case.id.clone()).collect();
    let rejected: BTreeSet<String> =
        selected.iter().filter(|s| matches!(s.case.expect, Expect::Rejected { .. })).map(|s| s.case.id.clone()).collect();
    let claims = claims(mutants, all_ids, &ids, &rejected)?;
    let base = RunOptions { require_coverage: false, ..opts.base.clone() };
    let mut plans = vec![Planned { mutant: None, opts: base.clone(), cases: selected.to_vec() }];
    for (m, claimed) in mutants.iter().zip(claims) {
        let cases: Vec<Selected> = match opts.scope {
            Scope::Matrix => selected.to_vec(),
            Scope::Claimed => selected.iter().filter(|s| claimed.contains(&s.case.id)).cloned().collect(),
        };
        if cases.is_empty() {
            continue;
        }
        let implementation = Implementation::parse(&m.implementation).map_err(RunError::from)?;
        plans.push(Planned { mutant: Some((m, claimed)), opts: RunOptions { implementation, ..base.clone() }, cases });
    }
    // Unordered, so that a long run (the reference) does not hold back the next ones.
    let mut runs = stream::iter(plans.iter().enumerate())
        .map(|(i, p)| async move { (i, on_own_thread(suite, p).await) })
        .buffer_unordered(opts.parallel.max(1));
    let mut reference = None;
    let mut verdicts = Vec::new();
    while let Some((i, joined)) = runs.next().await {
        let (results, duration) = joined?;
        let results = results?;
        match &plans[i].mutant {
            None => reference = Some(reference_verdict(&results, duration)),
            Some((m, claimed)) => verdicts.push((i, verdict(m, claimed, &results, duration))),
        }
    }
    verdicts.sort_by_key(|(i, _)| *i);
    let verdicts: Vec<Verdict> = verdicts.into_iter().map(|(_, v)| v).collect();
    let reference = reference.unwrap_or(ReferenceVerdict { passed: 0, not_passed: Vec::new(), duration: Duration::ZERO });
    let mut kills: BTreeMap<String, Vec<String>> = ids.iter().map(|id| (id.clone(), Vec::new())).collect();
    for v in &verdicts {
        for id in &v.failed {
            kills.entry(id.clone()).or_default().push(v.mutant.clone());
        }
    }
    let families = family_scores(&verdicts, selected);
    Ok(SelfCheck { scope: opts.scope, reference, verdicts, kills, families, duration: started.elapsed() })
}

fn reference_verdict(results: &RunResults, duration: Duration) -> ReferenceVerdict {
    ReferenceVerdict {
        passed: results.cases.iter().filter(|c| c.status == Status::Pass).count(),
        not_passed: results
            .cases
            .iter()
            .filter(|c| !matches!(c.status, Status::Pass | Status::Disabled))
            .map(|c| (c.id.clone(), c.status))
            .collect(),
        duration,
    }
}

/// Runs `plan` on a thread of its own with its own runtime, so that one run's blocking work
/// (copying fixtures, hashing) does not stall the others, and the registry it starts lives as
/// long as that thread (`crate::provider::process`). Dropping the future (Ctrl-C) cancels the
/// run and waits until it has removed its registry and killed its implementations.
fn on_own_thread(suite: &SuiteDir, plan: &Planned<'_>) -> impl std::future::Future<Output = Result<Timed, SelfCheckError>> {
    let (suite, cases, run_opts) = (suite.clone(), plan.cases.clone(), plan.opts.clone());
    let (done, result) = tokio::sync::oneshot::channel();
    let token = tokio_util::sync::CancellationToken::new();
    let cancelled = token.clone();
    let name = plan.mutant.as_ref().map_or("reference", |(m, _)| m.name.as_str());
    let thread = std::thread::Builder::new().name(format!("self-check {name}")).spawn(move || {
        let out = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(runtime) => runtime.block_on(async move {
                tokio::select! {
                    out = timed(runner::run(&suite, cases, &run_opts)) => Ok(out),
                    _ = cancelled.cancelled() => Err(SelfCheckError::Task("cancelled".to_string())),
                }
            }),
            Err(e) => Err(SelfCheckError::Task(format!("cannot start a runtime: {e}"))),
        };
        let _ = done.send(out);
    });
    let guard = thread.map(|t| CancelOnDrop { token, thread: Some(t) });
    async move {
        let _guard = guard.map_err(|e| SelfCheckError::Task(format!("cannot start a thread: {e}")))?;
        result.await.map_err(|_| SelfCheckError::Task("the run's thread ended without a result".to_string()))?
    }
}

/// A run's result and how long it took.
type Timed = (Result<RunResults, RunError>, Duration);

/// Cancels a run's thread and waits for it to clean up when dropped.
struct CancelOnDrop {
    token: tokio_util::sync::CancellationToken,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.token.cancel();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn timed<T>(fut: impl std::future::Future<Output = T>) -> (T, Duration) {
    let started = Instant::now();
    let out = fut.await;
    (out, started.elapsed())
}

fn verdict(m: &KnownBad, claimed: &[String], results: &RunResults, duration: Duration) -> Verdict {
    let with = |status: Status| -> Vec<String> { results.cases.iter().filter(|c| c.status == status).map(|c| c.id.clone()).collect() };
    let failed = with(Status::Fail);
    let errors = with(Status::Error);
    let missed = claimed.iter().filter(|id| !failed.contains(id) && !errors.contains(id)).cloned().collect();
    Verdict { mutant: m.name.clone(), description: m.description.clone(), claimed: claimed.to_vec(), failed, missed, errors, duration }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    fn mutant(must_fail: &[&str]) -> KnownBad {
        KnownBad {
            name: "m".into(),
            description: "d".into(),
            implementation: "true".into(),
            must_fail: must_fail.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn ids(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[rstest]
    #[case::glob(&["coll-*"], &["coll-a", "coll-b"])]
    #[case::exact(&["rfc-example"], &["rfc-example"])]
    #[case::outside_selection(&["tag-x"], &[])]
    fn claims_are_the_selected_cases_matching_must_fail(#[case] globs: &[&str], #[case] expected: &[&str]) {
        let all = ids(&["coll-a", "coll-b", "rfc-example", "tag-x"]);
        let selected = ids(&["coll-a", "coll-b", "rfc-example"]);
        let claimed = claims(&[mutant(globs)], &all, &selected, &BTreeSet::new()).expect("valid");
        assert_eq!(claimed, vec![ids(expected)]);
    }

    #[test]
    fn placeholders_are_replaced_by_quoted_paths() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("suite with space");
        std::fs::create_dir_all(root.join("conformance/mutants")).unwrap();
        let text = "name = \"m\"\ndescription = \"d\"\nimplementation = \"env X=1 {suite}/adapter.sh --flag\"\nmust_fail = [\"a\"]\n";
        std::fs::write(root.join("conformance/mutants/m.toml"), text).unwrap();
        let mutants = load(&SuiteDir::new(&root)).expect("loads");
        let implementation = Implementation::parse(&mutants[0].implementation).expect("splits");
        assert_eq!(implementation.args, ["X=1", &format!("{}/adapter.sh", root.display()), "--flag"]);
    }

    #[test]
    fn at_rejected_claims_every_rejected_case_and_nothing_else() {
        let all = ids(&["coll-a", "twin-coll-a", "rfc-example"]);
        let rejected: BTreeSet<String> = ids(&["coll-a"]).into_iter().collect();
        let claimed = claims(&[mutant(&[REJECTED])], &all, &all, &rejected).expect("valid");
        assert_eq!(claimed, vec![ids(&["coll-a"])]);
    }

    #[test]
    fn the_report_gives_a_mutation_score_per_rule_family() {
        let c = check(&[("a", &["m"])], &[], false);
        assert!(c.render().contains("R-COLL  2/2 (100%)"), "{}", c.render());
    }

    #[test]
    fn a_glob_matching_no_case_is_an_error() {
        let err = claims(&[mutant(&["renamed-case"])], &ids(&["rfc-example"]), &ids(&["rfc-example"]), &BTreeSet::new()).unwrap_err();
        assert!(matches!(err, KnownBadError::GlobMatchesNothing { ref glob, .. } if glob == "renamed-case"), "{err}");
    }

    fn check(kills: &[(&str, &[&str])], missed: &[&str], reference_fails: bool) -> SelfCheck {
        SelfCheck {
            scope: Scope::Matrix,
            reference: ReferenceVerdict {
                passed: kills.len(),
                not_passed: if reference_fails { vec![("a".into(), Status::Fail)] } else { Vec::new() },
                duration: Duration::ZERO,
            },
            verdicts: vec![Verdict {
                mutant: "m".into(),
                description: "d".into(),
                claimed: ids(&["a"]),
                failed: ids(&["a"]),
                missed: ids(missed),
                errors: Vec::new(),
                duration: Duration::ZERO,
            }],
            kills: kills.iter().map(|(id, by)| (id.to_string(), ids(by))).collect(),
            families: BTreeMap::from([("R-COLL".to_string(), FamilyScore { claimed: 2, killed: 2 })]),
            duration: Duration::ZERO,
        }
    }

    #[test]
    fn every_case_killed_and_every_mutant_caught_is_proven() {
        let c = check(&[("a", &["m"]), ("b", &["m", "n"])], &[], false);
        assert_eq!(c.status(), CheckStatus::Proven);
        assert!(c.render().contains("every case is killed by at least one mutant"), "{}", c.render());
    }

    #[test]
    fn a_case_no_mutant_kills_is_a_blind_spot_and_named() {
        let c = check(&[("a", &["m"]), ("weak-case", &[])], &[], false);
        assert_eq!(c.unkilled(), ["weak-case"]);
        assert_eq!(c.status(), CheckStatus::BlindSpots);
        assert!(c.render().contains("weak-case"), "{}", c.render());
    }

    #[rstest]
    #[case::missed_claim(&["a"], false)]
    #[case::reference_fails(&[], true)]
    fn missed_claims_and_reference_failures_are_blind_spots(#[case] missed: &[&str], #[case] reference_fails: bool) {
        assert_eq!(check(&[("a", &["m"])], missed, reference_fails).status(), CheckStatus::BlindSpots);
    }

    #[test]
    fn an_error_makes_the_check_broken() {
        let mut c = check(&[("a", &["m"])], &[], false);
        c.verdicts[0].errors = ids(&["a"]);
        assert_eq!(c.status(), CheckStatus::Broken);
    }
}
