//! Running the selected cases against one registry and collecting their results.
//!
//! [`run`] starts (or names) the registry, health-checks it before any case, then runs up to
//! `jobs` cases at once. Each case gets its own namespace (`<case-id>` in a registry the runner
//! started, `<prefix>-<random>/<case-id>` in an external one), its own app image (seeded by the
//! runner, so its digest is fixed), its setup, a snapshot of the namespace before and after
//! the implementation runs, and a verdict ([`super::verify`]). A case that the runner or the
//! registry cannot carry through is an ERROR, never a FAIL. Finally, in a registry the runner
//! started, no repository may exist outside the case namespaces; an external registry is
//! cleaned up instead ([`super::cleanup`]), unless `keep`.
//!
//! [`run_watched`] tells a [`Progress`] watcher of the header and of each result as the case
//! ends, in case order ([`super::schedule`]), and stops at an [`Interrupt`]: the running cases
//! are dropped (their implementations killed), the unfinished ones are NOT RUN, and the results
//! so far come back. Dropping the future removes the registry and kills running
//! implementations too. With `keep`, each invocation's directory also gets `env` and
//! `replay.sh` ([`super::replay`]); every FAIL and ERROR carries the command that reruns it
//! ([`super::rerun`]).
//!
//! With a quirk profile ([`RunOptions::quirks`]) a quirks proxy stands in front of the registry
//! for the whole run: the implementation is given only the proxy's host (and the expected
//! manifests are rendered with it), while seeding, setup and verification use the registry
//! directly; a failed publish may then pass as an accepted refusal ([`super::quirks`]).
//!
//! A case with `[auth]` publishes instead to an authenticated registry of the run
//! ([`super::credentials`]), never through the proxy, which serves the storage of the anonymous
//! one: everything else about the case is as above, and the implementation's output is then
//! searched for the credentials it was handed ([`super::secrecy`], R-AUTH-2).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::baseline::Baseline;
use super::case::{Case, Expect, IndexCheck, SourceDateEpoch};
use super::cleanup;
use super::coverage;
use super::credentials::{self, AuthRegistries};
use super::ending;
use super::error_names::{self, Named};
use super::expect::{self, ExpectedArtifact};
use super::fixture;
use super::implementation::{Implementation, ImplementationError, Invocation, InvocationEnv};
use super::interrupt::Interrupt;
use super::outcome::CaseQuirk;
use super::outcome::{CaseResult, Fault, Finding, RunResults, Status};
use super::progress::{Header, Progress, Silent};
use super::quirks::{self, Attempt, Behind, Observed, RefusalVerdict};
use super::registry_view::{RegistryView, Snapshot, ViewError};
use super::rerun::RerunCommand;
use super::secrecy;
use super::selection::Selected;
use super::setup;
use super::verify;
use super::SuiteDir;
use super::{replay, schedule, startup};
use crate::provider::quirks::{ProxyError, QuirkProfile};
use crate::provider::{self, Provider, ProviderError, RunningRegistry, HEALTH_CHECK_REPO};
use cnb_artifacts_core::plan::Subject;
use cnb_artifacts_core::reference::Digest;

/// How a run is carried out.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub implementation: Implementation,
    pub provider: Provider,
    /// Cases run at once (at least 1).
    pub jobs: usize,
    /// Leave the registry and the case directories in place.
    pub keep: bool,
    /// Per invocation, unless a case sets its own.
    pub timeout: Duration,
    /// First component of the namespaces on an external registry.
    pub namespace_prefix: String,
    pub require_coverage: bool,
    /// Put a quirks proxy with this profile between the implementation and the registry.
    pub quirks: Option<QuirkProfile>,
    /// Known failures: each result is marked as it ends, before the watcher sees it.
    pub baseline: Option<Baseline>,
    /// The program that started the run (this binary): every FAIL and ERROR then carries the
    /// command that reruns it ([`RerunCommand`]).
    pub rerun_program: Option<String>,
}

/// Why a run could not start or finish.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("could not start the registry ({provider}): {source}")]
    RegistryStart { provider: Provider, source: ProviderError },
    #[error("the registry at {host} failed its health check: {source}")]
    HealthCheck { host: String, source: ProviderError },
    #[error("could not start an authenticated registry ({provider}): {source}")]
    AuthRegistry { provider: Provider, source: ProviderError },
    #[error("could not start the registry quirks proxy ({profile}): {source}")]
    QuirksProxy { profile: QuirkProfile, source: ProxyError },
    #[error(transparent)]
    Implementation(#[from] ImplementationError),
    #[error("cannot create the run's working directory: {0}")]
    WorkDir(std::io::Error),
    #[error("cannot read the registry: {0}")]
    View(#[from] ViewError),
    #[error("invalid coverage exemptions: {0}")]
    Coverage(String),
    #[error("interrupted ({0}) before the first case: no results")]
    Interrupted(String),
}

/// Shared by every case of a run.
struct Ctx<'a> {
    suite: &'a SuiteDir,
    opts: &'a RunOptions,
    registry: &'a RunningRegistry,
    view: RegistryView,
    work: PathBuf,
    docker_config: PathBuf,
    /// `<prefix>-<random>` on an external registry; `None` in one the runner started.
    run_prefix: Option<String>,
    /// The registry serves the referrers API and the implementation sees it: artifacts are
    /// checked through it, not through fallback indexes (R-REF-1).
    referrers_api: bool,
    /// The quirks proxy in front of the registry, if any.
    behind: Option<Behind>,
    /// The registry `host:port` the implementation is given (the proxy's, behind one), and
    /// whether it speaks plain HTTP.
    implementation_host: String,
    implementation_insecure: bool,
    /// The authenticated registries for cases with `[auth]`.
    auth: &'a AuthRegistries,
    rerun: Option<RerunCommand>,
}

/// One prepared invocation: its environment and working directory.
struct Prepared {
    env: InvocationEnv,
    cwd: PathBuf,
}

/// A reason to stop a case as an ERROR.
type Abort = (Fault, String);

fn registry_fault(what: &'static str) -> impl Fn(&dyn std::fmt::Display) -> Abort {
    move |e| (Fault::Registry, format!("{what}: {e}"))
}

fn verify_fault(e: verify::VerifyError) -> Abort {
    match e {
        verify::VerifyError::Registry(e) => registry_fault("verifying")(&e),
        verify::VerifyError::CaseData(e) => (Fault::CaseData, e.to_string()),
    }
}

/// Runs `selected` and returns every result, in case ID order.
pub async fn run(suite: &SuiteDir, selected: Vec<Selected>, opts: &RunOptions) -> Result<RunResults, RunError> {
    run_watched(suite, selected, opts, &Silent, &Interrupt::new()).await
}

/// Runs `selected`, telling `progress` as it goes, until every case ended or `interrupt`
/// trips; returns every result, in case ID order (NOT RUN for those an interrupt cut off).
pub async fn run_watched(
    suite: &SuiteDir,
    selected: Vec<Selected>,
    opts: &RunOptions,
    progress: &dyn Progress,
    interrupt: &Interrupt,
) -> Result<RunResults, RunError> {
    let exemptions = coverage::Exemptions::load(&suite.coverage_exemptions_path()).map_err(RunError::Coverage)?;
    let started = tokio::select! {
        biased;
        _ = interrupt.tripped() => return Err(RunError::Interrupted(interrupt.reason().unwrap_or("interrupted").to_string())),
        started = startup::start(suite, &selected, opts) => started?,
    };
    // Fields are moved out one by one: what stays in `started` is dropped in its declaration
    // order when the run ends (also on an early return), the registry after what serves it.
    let behind = started.behind;
    let ctx = Ctx {
        suite,
        opts,
        registry: &started.registry,
        referrers_api: started.referrers_api,
        view: started.view,
        work: started.work.path().to_path_buf(),
        docker_config: started.docker_config,
        run_prefix: started.run_prefix,
        implementation_host: behind.as_ref().map_or_else(|| started.registry.host.clone(), |b| b.proxy.host()),
        implementation_insecure: behind.is_some() || started.registry.insecure,
        behind,
        auth: &started.auth,
        rerun: opts.rerun_program.as_deref().map(|program| RerunCommand::new(program, suite, opts)),
    };
    let ids: Vec<&str> = selected.iter().map(|s| s.case.id.as_str()).collect();
    let proxy_host = ctx.behind.as_ref().map(|_| ctx.implementation_host.as_str());
    let provenance = started.provenance;
    progress.header(&Header { provenance: &provenance, proxy_host, cases: &ids });
    let began = Instant::now();
    let mut cases = schedule::all(&selected, opts.jobs, progress, interrupt, |s| run_selected(&ctx, s)).await;
    let duration_ms = began.elapsed().as_millis() as u64;
    cases.sort_by(|a, b| a.id.cmp(&b.id));
    let interrupted = interrupt.reason().map(str::to_string);
    let run_findings = match (&ctx.run_prefix, &interrupted) {
        (None, None) => strays(&ctx.view, &selected).await?,
        _ => Vec::new(),
    };
    let mut kept = Vec::new();
    let cleanup = match &ctx.run_prefix {
        Some(prefix) if opts.keep => {
            kept.push(format!("registry content under {prefix}/ and in {HEALTH_CHECK_REPO}"));
            None
        }
        Some(prefix) if interrupted.is_some() => {
            Some(format!("registry NOT cleaned up: the run was interrupted; remove the repositories under {prefix}/ yourself"))
        }
        Some(prefix) => {
            let known: Vec<String> =
                cases.iter().flat_map(|c| c.found.keys()).filter_map(|k| Some(k.rsplit_once(':')?.0.to_string())).collect();
            Some(cleanup::clean(&ctx.view, prefix, &known, started.registry_referrers_api).await.line(prefix))
        }
        None => None,
    };
    // Every case is done: the proxy stops here (on an early return or Ctrl-C, when dropped).
    let quirks = ctx.behind.map(|b| b.summary(&cases));
    let spec = std::fs::read_to_string(suite.spec_path()).ok();
    let ran: Vec<&Case> = selected.iter().filter(|s| !s.disabled).map(|s| &s.case).collect();
    let coverage = coverage::compute(spec.as_deref(), &ran, &exemptions);
    if opts.keep {
        let dir = started.work.keep();
        for c in &mut cases {
            c.kept_at = Some(dir.join(&c.id));
        }
        kept.push(format!("case directories: {} (each invocation's directory has `env` and `replay.sh`)", dir.display()));
        kept.push(format!("registry: {}", started.registry.keep().await));
        if let Some(q) = &quirks {
            kept.push(format!("the quirks proxy ({}) stopped with the run; the registry is the one behind it", q.profile));
        }
    }
    let summary = RunResults::summarise(&cases);
    let require_coverage = opts.require_coverage;
    Ok(RunResults { provenance, summary, cases, run_findings, coverage, require_coverage, kept, cleanup, quirks, interrupted, duration_ms })
}

async fn run_selected(ctx: &Ctx<'_>, selected: &Selected) -> CaseResult {
    if selected.disabled {
        let mut r = CaseResult::new(&selected.case, Status::Disabled);
        r.reason = Some("disabled by --disable".to_string());
        return r;
    }
    let started = Instant::now();
    let case = &selected.case;
    if let Some(auth) = case.auth.as_ref().filter(|a| ctx.auth.host(a.registry).is_none()) {
        let mut r = CaseResult::new(case, Status::Skip);
        r.reason = Some(format!(
            "needs a registry with {} auth that the runner starts; --registry URL names one it cannot configure",
            auth.registry
        ));
        return r;
    }
    let mut result = CaseResult::new(case, Status::Pass);
    if let Some(b) = &ctx.behind {
        result.quirk = Some(CaseQuirk { profile: b.proxy.profile().to_string(), hits: 0, refusal: None });
    }
    let outcome = execute(ctx, case, &mut result).await;
    if let Some(q) = &mut result.quirk {
        q.hits = quirk_hits(ctx, &namespace(ctx, case));
    }
    match outcome {
        Err((fault, reason)) => result.error(fault, reason),
        Ok(()) if !result.findings.is_empty() => {
            result.status = Status::Fail;
            result.fault = Some(Fault::Implementation);
        }
        Ok(()) => {}
    }
    result.duration_ms = started.elapsed().as_millis() as u64;
    finish(ctx, result)
}

/// Marks a result by the baseline and, for a FAIL or ERROR, adds the command that reruns it.
fn finish(ctx: &Ctx<'_>, mut result: CaseResult) -> CaseResult {
    if let Some(baseline) = &ctx.opts.baseline {
        baseline.apply(std::slice::from_mut(&mut result));
    }
    if matches!(result.status, Status::Fail | Status::Error) {
        result.rerun = ctx.rerun.as_ref().map(|r| r.for_case(&result.id));
    }
    result
}

/// The namespace of `case` in this run.
fn namespace(ctx: &Ctx<'_>, case: &Case) -> String {
    match &ctx.run_prefix {
        Some(prefix) => format!("{prefix}/{}", case.id),
        None => case.id.clone(),
    }
}

async fn execute(ctx: &Ctx<'_>, case: &Case, result: &mut CaseResult) -> Result<(), Abort> {
    let ns = namespace(ctx, case);
    result.namespace = Some(ns.clone());
    let dir = ctx.work.join(&case.id);
    let app_repo = format!("{ns}/{}", case.build.repository);
    let subject = provider::seed::seed_app_image(ctx.registry, &app_repo, &case.build.tags)
        .await
        .map_err(|e| registry_fault("seeding the app image")(&e))?;
    result.setup = setup::apply(&ctx.view, case, &ns, &subject).await.map_err(|e| registry_fault("setting up")(&e))?;
    let expected =
        expect::load_manifests(case, ctx.suite, implementation_host(ctx, case).0, &ns).map_err(|e| (Fault::CaseData, e.to_string()))?;
    let known = known_repositories(case, &ns, &expected);
    if !earlier_publishes(ctx, case, &ns, &known, &subject, result).await? {
        return Ok(());
    }
    let before = snapshot(ctx, &ns, &known, "reading the registry before the run").await?;
    let mut prepared = vec![prepare(ctx, case, &case.fixture, &dir.join("main"), &ns, &subject)?];
    for (i, fixture) in case.concurrent.iter().enumerate() {
        prepared.push(prepare(ctx, case, fixture, &dir.join(format!("concurrent-{}", i + 1)), &ns, &subject)?);
    }
    result.fixture_listing = fixture::listing(&prepared[0].env.layers_dir);
    let rejected = matches!(case.expect, Expect::Rejected { .. });
    let check_blobs = matches!(case.expect, Expect::Rejected { blobs_may_remain: false, .. });
    let mut blob_repos: Vec<String> = before.repos.keys().cloned().chain(known.iter().cloned()).collect();
    blob_repos.sort();
    blob_repos.dedup();
    let file_digests = if check_blobs { fixture::file_digests(&prepared[0].env.layers_dir) } else { Vec::new() };
    let present_before = blobs_present(&ctx.view, &blob_repos, &file_digests).await.map_err(|e| registry_fault("checking blobs")(&e))?;
    let hits_before = quirk_hits(ctx, &ns);
    let runs = futures_util::future::join_all(prepared.iter().map(|p| invoke(ctx, case, p))).await;
    let first_main = result.invocations.len();
    for run in runs {
        result.invocations.push(run?);
    }
    if let Some(why) = result.invocations.iter().find_map(ending::not_started) {
        return Err((Fault::NotStarted, why));
    }
    if case.auth.is_some() {
        let secrets = ctx.auth.secrets();
        result.findings.extend(secrecy::findings(&secrets, &result.invocations));
        secrecy::redact(&secrets, &mut result.invocations);
    }
    let after = snapshot(ctx, &ns, &known, "reading the registry after the run").await?;
    result.found = after.digests();
    let invocations: Vec<&Invocation> = result.invocations[first_main..].iter().collect();
    let findings = if rejected {
        let mut f = verify::exits_rejected(&invocations);
        if let Expect::Rejected { error_files, error_tags, error_sources, .. } = &case.expect {
            let referrers_tag = subject.digest.referrers_tag();
            let tags: Vec<String> = error_tags.iter().map(|t| t.replace("@@REFERRERS_TAG@@", &referrers_tag)).collect();
            let files = error_files.iter().map(|f| Named::File(f));
            let sources = error_sources.iter().map(|s| Named::Source(s));
            let wanted: Vec<Named> = files.chain(tags.iter().map(|t| Named::Tag(t))).chain(sources).collect();
            let layers = prepared.iter().map(|p| p.env.layers_dir.as_path());
            f.extend(error_names::findings(&wanted, invocations.iter().copied().zip(layers)));
        }
        let mut after_repos = blob_repos.clone();
        after_repos.extend(after.repos.keys().cloned());
        after_repos.sort();
        after_repos.dedup();
        f.extend(
            verify::rejected(&ctx.view, &before, &after, &after_repos, &file_digests, &present_before)
                .await
                .map_err(|e| registry_fault("checking that nothing was pushed")(&e))?,
        );
        let mut mentioned: Vec<String> = invocations.iter().flat_map(|i| i.mentioned_rules()).collect();
        mentioned.sort();
        mentioned.dedup();
        result.mentioned_rules = mentioned;
        f
    } else {
        let mut f = verify::exits_succeeded(&invocations);
        let index_check = match &case.expect {
            Expect::Published { fallback_index, .. } => *fallback_index,
            Expect::Rejected { .. } => IndexCheck::Exact,
        };
        f.extend(
            verify::published(&ctx.view, &expected, index_check, ctx.referrers_api, &subject, &before, &after)
                .await
                .map_err(verify_fault)?,
        );
        let app_repo = format!("{ns}/{}", case.build.repository);
        f.extend(verify::subject_present(&ctx.view, &app_repo, &expected, &subject).await.map_err(verify_fault)?);
        if !f.is_empty() && ctx.behind.is_some() {
            let files: Vec<Vec<Digest>> = prepared.iter().map(|p| fixture::file_digests(&p.env.layers_dir)).collect();
            let observed = Observed {
                attempts: invocations.iter().zip(&files).map(|(inv, files)| Attempt { invocation: inv, files }).collect(),
                expected: &expected,
                index_check,
                before: &before,
                after: &after,
                hits: quirk_hits(ctx, &ns) - hits_before,
                earlier_publish: false,
            };
            f = judge_quirk(ctx, &subject, &observed, f, &mut result.quirk).await?;
        }
        f
    };
    result.findings.extend(findings);
    Ok(())
}

/// Runs the earlier publishes `case` needs (`[[setup.publish]]`); false, with the findings in
/// `result`, when one failed. Behind a quirk profile a failure may be an accepted refusal, which
/// must leave the registry exactly as it was.
async fn earlier_publishes(
    ctx: &Ctx<'_>,
    case: &Case,
    ns: &str,
    known: &[String],
    subject: &Subject,
    result: &mut CaseResult,
) -> Result<bool, Abort> {
    let dir = ctx.work.join(&case.id);
    for (i, prior) in case.setup.publish.iter().enumerate() {
        let fixture = prior.fixture.as_deref().unwrap_or(&case.fixture);
        let prepared = prepare(ctx, case, fixture, &dir.join(format!("prior-{}", i + 1)), ns, subject)?;
        let before = match ctx.behind {
            Some(_) => snapshot(ctx, ns, known, "reading the registry before an earlier publish").await?,
            None => Snapshot::default(),
        };
        let hits_before = quirk_hits(ctx, ns);
        let inv = invoke(ctx, case, &prepared).await?;
        result.setup.push(format!("earlier publish of fixture `{fixture}` by the implementation: {}", inv.exit));
        if let Some(why) = ending::not_started(&inv) {
            result.invocations.push(inv);
            return Err((Fault::NotStarted, why));
        }
        if inv.exit.success() {
            result.invocations.push(inv);
            continue;
        }
        let how = ending::crash(&inv).unwrap_or_else(|| format!("failed ({})", inv.exit));
        let mut findings = vec![Finding::new("setup-publish", format!("an earlier publish the case needs must succeed, but it {how}"))];
        if ctx.behind.is_some() {
            let after = snapshot(ctx, ns, known, "reading the registry after an earlier publish").await?;
            let observed = Observed {
                attempts: vec![Attempt { invocation: &inv, files: &[] }],
                expected: &[],
                index_check: IndexCheck::Exact,
                before: &before,
                after: &after,
                hits: quirk_hits(ctx, ns) - hits_before,
                earlier_publish: true,
            };
            findings = judge_quirk(ctx, subject, &observed, findings, &mut result.quirk).await?;
        }
        result.invocations.push(inv);
        result.findings.extend(findings);
        return Ok(false);
    }
    Ok(true)
}

/// Every tag of the namespace `ns` and its manifest, read from the registry directly.
async fn snapshot(ctx: &Ctx<'_>, ns: &str, known: &[String], when: &'static str) -> Result<Snapshot, Abort> {
    ctx.view.snapshot(ns, known).await.map_err(|e| registry_fault(when)(&e))
}

/// Answers the quirk changed so far for requests in namespace `ns` (0 without a quirk profile).
fn quirk_hits(ctx: &Ctx<'_>, ns: &str) -> u64 {
    ctx.behind.as_ref().map_or(0, |b| b.proxy.hits_in(ns))
}

/// The findings of a failed publish behind a quirk profile: none, with the refusal recorded in
/// `quirk`, when it is an accepted refusal; else `findings` and why it is not one.
async fn judge_quirk(
    ctx: &Ctx<'_>,
    subject: &Subject,
    observed: &Observed<'_>,
    mut findings: Vec<Finding>,
    quirk: &mut Option<CaseQuirk>,
) -> Result<Vec<Finding>, Abort> {
    let Some(behind) = &ctx.behind else {
        return Ok(findings);
    };
    match quirks::judge_refusal(behind.rule, &ctx.view, subject, ctx.referrers_api, observed).await.map_err(verify_fault)? {
        RefusalVerdict::NotARefusal => {}
        RefusalVerdict::Accepted(refusal) => {
            if let Some(q) = quirk {
                q.refusal = Some(refusal);
            }
            return Ok(Vec::new());
        }
        RefusalVerdict::NotAccepted(why) => findings.extend(why),
    }
    Ok(findings)
}

/// Builds the layers directory, `report.toml` and working directory of one invocation.
fn prepare(ctx: &Ctx<'_>, case: &Case, fixture: &str, dir: &Path, ns: &str, subject: &Subject) -> Result<Prepared, Abort> {
    let runner = |e: &dyn std::fmt::Display| (Fault::Runner, format!("preparing {}: {e}", dir.display()));
    let layers = fixture::materialise(case, ctx.suite, fixture, dir, ns).map_err(|e| runner(&e))?;
    let cwd = dir.join("cwd");
    std::fs::create_dir_all(&cwd).map_err(|e| runner(&e))?;
    let (host, insecure) = implementation_host(ctx, case);
    let name = format!("{host}/{ns}/{}", case.build.repository);
    let handover = match &case.auth {
        Some(auth) => credentials::hand_over(auth, host, &ctx.auth.accounts, dir).map_err(|e| runner(&e))?,
        None => credentials::Handover { docker_config: ctx.docker_config.clone(), ..credentials::Handover::default() },
    };
    let env = InvocationEnv {
        layers_dir: layers,
        output_image: match case.build.tags.first() {
            Some(tag) => format!("{name}:{tag}"),
            None => name,
        },
        tags: case.build.tags.clone(),
        digest: case.build.digest.clone().unwrap_or_else(|| subject.digest.to_string()),
        manifest_size: subject.size,
        manifest_media_type: subject.media_type.clone(),
        report: dir.join("report.toml"),
        registry: host.to_string(),
        insecure,
        docker_config: handover.docker_config,
        registry_auth: handover.registry_auth,
        path_first: handover.path_first,
        source_date_epoch: case.build.source_date_epoch.as_ref().map(SourceDateEpoch::env_value),
        overwrite: case.build.overwrite,
    };
    std::fs::write(&env.report, env.report_toml()).map_err(|e| runner(&e))?;
    if ctx.opts.keep {
        replay::write(dir, &case.id, &ctx.opts.implementation, &env, &cwd).map_err(|e| runner(&e))?;
    }
    Ok(Prepared { env, cwd })
}

/// The registry `host:port` the implementation publishes `case` to, and whether it is plain
/// HTTP: an authenticated registry for a case with `[auth]`, else the run's (or its proxy).
fn implementation_host<'c>(ctx: &'c Ctx<'_>, case: &Case) -> (&'c str, bool) {
    match case.auth.as_ref().and_then(|a| ctx.auth.host(a.registry)) {
        Some(host) => (host, true),
        None => (&ctx.implementation_host, ctx.implementation_insecure),
    }
}

async fn invoke(ctx: &Ctx<'_>, case: &Case, prepared: &Prepared) -> Result<Invocation, Abort> {
    let timeout = case.timeout_seconds.map(Duration::from_secs).unwrap_or(ctx.opts.timeout);
    ctx.opts.implementation.run(&prepared.env, &prepared.cwd, timeout).await.map_err(|e| (Fault::Runner, e.to_string()))
}

/// Repositories the case names: the app's, the expected manifests', the setup's.
fn known_repositories(case: &Case, ns: &str, expected: &[ExpectedArtifact]) -> Vec<String> {
    let mut repos: BTreeSet<String> = BTreeSet::from([format!("{ns}/{}", case.build.repository)]);
    repos.extend(expected.iter().map(|e| e.repo.clone()));
    let setup_repos = case.setup.foreign_images.iter().map(|i| i.repository.as_deref());
    let referrer_repos = case.setup.foreign_referrers.iter().map(|r| r.repository.as_deref());
    repos.extend(setup_repos.chain(referrer_repos).map(|r| format!("{ns}/{}", case.repository(r))));
    repos.into_iter().collect()
}

async fn blobs_present(view: &RegistryView, repos: &[String], digests: &[Digest]) -> Result<BTreeSet<(String, Digest)>, ViewError> {
    let mut present = BTreeSet::new();
    for repo in repos {
        for digest in digests {
            if view.blob_exists(repo, digest).await? {
                present.insert((repo.clone(), digest.clone()));
            }
        }
    }
    Ok(present)
}

/// Repositories outside every case namespace, in a registry the runner started: something
/// published where no case told it to.
async fn strays(view: &RegistryView, selected: &[Selected]) -> Result<Vec<Finding>, ViewError> {
    let namespaces: Vec<String> = selected.iter().map(|s| format!("{}/", s.case.id)).collect();
    Ok(view
        .catalog()
        .await?
        .into_iter()
        .filter(|repo| repo != HEALTH_CHECK_REPO && !namespaces.iter().any(|ns| repo.starts_with(ns.as_str())))
        .map(|repo| {
            Finding::new(
                "stray-repository",
                format!("repository {repo} lies outside every case namespace: an implementation published where no case asked it to"),
            )
        })
        .collect())
}
