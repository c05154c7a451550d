//! R-PUSH-2 and R-PUSH-7 under injected faults: the requests of a multi-artifact publish are
//! broken in turn, in every way of [`KINDS`], and after each run the registry must hold either
//! the complete publish or the tags it held before (the fallback tag may gain its complete
//! index; a failure while tagging may leave exactly the tags the error lists). A run whose
//! publish failed is followed by a rerun without faults, which must complete; every run must
//! end with byte-identical manifests and tags to a clean publish, every tag on a complete
//! artifact.
//!
//! Which requests: each request of the clean run, by its key (method, path without the
//! namespace or upload id, digest, occurrence: the publish is concurrent, so the order of
//! arrival varies), broken whenever it arrives; every one except oci-client's `GET /v2/` pings (it
//! sends one before each call against a registry that asks for no credentials, and ignores
//! their failure: `Client::get_auth_token` drops the error), of which the first and the last
//! are broken as samples. Speed: the publisher runs in process with waits of at most 5 ms
//! between attempts, one registry serves every run in its own namespace, and [`PARALLEL`]
//! runs overlap.

use std::time::{Duration, Instant};

use cnb_artifacts_core::publish::error::error_chain;
use cnb_artifacts_core::publish::{PublishError, PublishOptions, RegistryTarget};
use futures_util::future::join_all;

use super::injector::{Fault, FaultPlan, FaultProxy, Schedule};
use super::scenario::{connect, diff, expected_tag_names, fast_retries, RegistryView, Scenario, State, APP_TAGS};
use cnb_artifacts_conformance::provider::Provider;

use crate::support::{Registry, REGISTRY_ENV};

/// The fault kinds: persistent ones must fail the publish cleanly, single ones must be
/// retried away.
const KINDS: [(Fault, Schedule); 7] = [
    (Fault::Reset, Schedule::From),
    (Fault::Status(500), Schedule::From),
    (Fault::Status(503), Schedule::Once),
    (Fault::Reset, Schedule::Once),
    (Fault::LostResponse, Schedule::Once),
    (Fault::Status(429), Schedule::Once),
    (Fault::Truncate, Schedule::Once),
];

/// Files of at least this size are sent in one pass (R-PUSH-11): the scenario's `m.wasm` (33
/// bytes, in both repositories) is, `notes.txt` (14 bytes) is not, so the sweep breaks the
/// requests of both ways of uploading.
const SINGLE_PASS_FROM: u64 = 20;

/// Runs in flight at once.
const PARALLEL: usize = 4;

/// oci-client's credential probe, sent before each of its calls.
const PING: &str = "GET /v2/";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_push_2_fault_sweep_never_leaves_a_half_published_state() {
    // Some 20 000 requests: a registry process answers them about 2.5 times faster than a
    // container (no port proxy, no overlay filesystem), so it is preferred unless the provider
    // is named.
    let named = std::env::var_os(REGISTRY_ENV).is_some_and(|v| !v.is_empty());
    let registry =
        if named || Provider::Process.check_available().is_err() { require_registry!() } else { require_registry!(&Provider::Process) };
    let view = RegistryView::of(&registry);
    let started = Instant::now();

    // A clean run through the proxy: which requests a publish makes, and what it leaves.
    let clean = Scenario::new(&registry, &view, "clean").await.single_pass_from(SINGLE_PASS_FROM);
    let proxy = FaultProxy::start(&registry, None).await;
    let report = clean.publish(&proxy.host(), fast_retries(), &PublishOptions::default()).await.unwrap();
    let requests = proxy.log();
    let keys = proxy.keys();
    let expected = view.state("clean").await;
    let names: Vec<(&str, Vec<String>)> =
        expected.iter().map(|(repository, tags)| (repository.as_str(), tags.keys().cloned().collect())).collect();
    let wanted: Vec<(&str, Vec<String>)> = expected_tag_names(&clean.subject).into_iter().collect();
    assert_eq!(names, wanted, "the clean publish sets every tag");
    assert_eq!(report.artifacts.len(), 3);
    assert!(view.incomplete("clean", &expected).await.is_empty());

    let points = sweep_points(&requests);
    let plans: Vec<FaultPlan> =
        KINDS.iter().flat_map(|&(fault, schedule)| points.iter().map(move |&at| FaultPlan { fault, schedule, at })).collect();
    // PARALLEL workers, each with its own proxy and client, take the plans in turn.
    let queues: Vec<Vec<FaultPlan>> = (0..PARALLEL).map(|w| plans.iter().skip(w).step_by(PARALLEL).copied().collect()).collect();
    let failures: Vec<String> = join_all(queues.into_iter().map(|queue| {
        let (registry, view, expected, keys) = (&registry, &view, &expected, &keys);
        async move {
            let proxy = FaultProxy::start(registry, None).await;
            let target = connect(&proxy.host(), fast_retries()).await;
            let mut failures = Vec::new();
            for plan in queue {
                let run = Run { registry, view, proxy: &proxy, target: &target, expected, keys };
                failures.extend(run.check(plan).await.err());
            }
            failures
        }
    }))
    .await
    .concat();
    eprintln!(
        "fault sweep: {} requests per clean publish ({} pings), {} broken per kind, {} runs ({} kinds), {:.1?} in all",
        requests.len(),
        requests.iter().filter(|r| *r == PING).count(),
        points.len(),
        plans.len(),
        KINDS.len(),
        started.elapsed()
    );
    assert!(failures.is_empty(), "{} of {} runs broke a promise:\n{}", failures.len(), plans.len(), failures.join("\n"));
}

/// The request numbers (1-based) to break: every one but the pings, and the first and the last
/// ping.
fn sweep_points(requests: &[String]) -> Vec<u64> {
    let pings: Vec<usize> = (0..requests.len()).filter(|&i| requests[i] == PING).collect();
    let samples = [pings.first().copied(), pings.last().copied()];
    (0..requests.len()).filter(|i| requests[*i] != PING || samples.contains(&Some(*i))).map(|i| i as u64 + 1).collect()
}

/// What one worker of the sweep needs for a run.
struct Run<'a> {
    registry: &'a Registry,
    view: &'a RegistryView,
    proxy: &'a FaultProxy,
    /// A client of `proxy`, kept from run to run.
    target: &'a RegistryTarget,
    /// The state of a clean publish.
    expected: &'a State,
    /// The keys of a clean publish's requests (`injector::request_key`): a plan breaks the request of the key at its
    /// position, whenever it arrives in this run.
    keys: &'a [String],
}

impl Run<'_> {
    /// One run: seed a namespace, publish through the proxy armed with `plan` and check what
    /// the registry holds; after a failure, disarm and publish again.
    async fn check(&self, plan: FaultPlan) -> Result<(), String> {
        let (view, expected) = (self.view, self.expected);
        let broken = self.keys.get(plan.at as usize - 1).map_or("?", String::as_str);
        let ns = plan.slug();
        let fail = |what: String| Err(format!("{ns} ({broken}): {what}"));
        let scenario = Scenario::new(self.registry, view, &ns).await.single_pass_from(SINGLE_PASS_FROM);
        let before = seeded_state(&scenario);
        let host = self.proxy.host();
        self.proxy.arm_at(plan, broken);
        let result = scenario.publish_to(self.target, &host, &PublishOptions::default()).await;
        self.proxy.disarm();
        let after = view.state(&ns).await;
        if self.proxy.injected() == 0 {
            return fail("the fault never fired: the publish made fewer requests than the clean run".to_string());
        }
        let problems = view.incomplete(&ns, &after).await;
        if !problems.is_empty() {
            return fail(format!("a tag points at an incomplete artifact:\n  {}", problems.join("\n  ")));
        }
        match (&result, plan.schedule) {
            (Ok(_), Schedule::Once) if &after != expected => {
                fail(format!("the publish succeeded but differs from a clean one:\n  {}", diff(expected, &after).join("\n  ")))
            }
            (Ok(_), Schedule::Once) => Ok(()),
            (Err(e), Schedule::Once) => {
                fail(format!("a single {:?} must be retried away, but the publish failed: {}", plan.fault, error_chain(e)))
            }
            (Ok(_), Schedule::From) => fail("every request from here on failed, yet the publish succeeded".to_string()),
            (Err(e), Schedule::From) => {
                if let Err(what) = check_failure(&scenario, &host, plan, e, &before, &after, expected) {
                    return fail(what);
                }
                if let Err(e) = scenario.publish_to(self.target, &host, &PublishOptions::default()).await {
                    return fail(format!("the rerun without faults failed: {}", error_chain(&e)));
                }
                let last = view.state(&ns).await;
                if &last != expected {
                    return fail(format!("the rerun differs from a clean publish:\n  {}", diff(expected, &last).join("\n  ")));
                }
                let problems = view.incomplete(&ns, &last).await;
                if !problems.is_empty() {
                    return fail(format!("after the rerun, a tag points at an incomplete artifact:\n  {}", problems.join("\n  ")));
                }
                Ok(())
            }
        }
    }
}

/// What a namespace holds once seeded: the app image under its tags.
fn seeded_state(scenario: &Scenario) -> State {
    let app = APP_TAGS.iter().map(|t| (t.to_string(), scenario.subject.digest.clone())).collect();
    State::from([("app".to_string(), app)])
}

/// A failed publish (R-PUSH-2): the error names the publish's references (and quotes an
/// injected status); no tag moved or vanished, except the fallback tag (now holding the
/// complete index) and, when tagging failed, exactly the tags the error lists as set, each on
/// its complete artifact.
fn check_failure(
    scenario: &Scenario,
    host: &str,
    plan: FaultPlan,
    e: &PublishError,
    before: &State,
    after: &State,
    expected: &State,
) -> Result<(), String> {
    let text = error_chain(e);
    if !text.contains(&scenario.ns) {
        return Err(format!("the error names no repository or reference of the publish: {text}"));
    }
    if let Fault::Status(code) = plan.fault {
        if !text.contains(&code.to_string()) {
            return Err(format!("the error does not quote the registry's HTTP {code}: {text}"));
        }
    }
    let already: &[String] = match e {
        PublishError::TagRejected { already_tagged, .. } => already_tagged,
        _ => &[],
    };
    let fallback = scenario.subject.digest.referrers_tag();
    for (repository, tags) in before {
        for (tag, digest) in tags {
            if after.get(repository).and_then(|t| t.get(tag)).is_none() {
                return Err(format!("{repository}:{tag} ({digest}) vanished; error: {text}"));
            }
        }
    }
    for (repository, tags) in after {
        for (tag, digest) in tags {
            if before.get(repository).and_then(|t| t.get(tag)) == Some(digest) {
                continue;
            }
            if expected.get(repository).and_then(|t| t.get(tag)) != Some(digest) {
                return Err(format!("{repository}:{tag} now holds {digest}, which a complete publish never sets; error: {text}"));
            }
            let reference = scenario.reference(host, repository, tag);
            if tag != &fallback && !already.contains(&reference) {
                return Err(format!("{reference} was set, but the failed publish does not say so: {text}"));
            }
        }
    }
    for reference in already {
        let set = after.iter().any(|(repository, tags)| tags.keys().any(|tag| &scenario.reference(host, repository, tag) == reference));
        if !set {
            return Err(format!("the error lists {reference} as set, but it is not: {text}"));
        }
    }
    Ok(())
}

/// An answer held back for 2 s is waited for, not retried: the publish completes with exactly
/// the requests of a clean run (R-PUSH-7: a slow answer is not a failure).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_push_7_stalled_answer_is_awaited_not_retried() {
    let registry = require_registry!();
    let view = RegistryView::of(&registry);
    let clean = Scenario::new(&registry, &view, "clean").await;
    let proxy = FaultProxy::start(&registry, None).await;
    clean.publish(&proxy.host(), fast_retries(), &PublishOptions::default()).await.unwrap();
    let count = proxy.requests();
    let expected = view.state("clean").await;

    let pause = Duration::from_secs(2);
    let plan = FaultPlan { fault: Fault::Stall(pause), schedule: Schedule::Once, at: count / 2 };
    let stalled = Scenario::new(&registry, &view, "stalled").await;
    let proxy = FaultProxy::start(&registry, Some(plan)).await;
    let started = Instant::now();
    stalled.publish(&proxy.host(), fast_retries(), &PublishOptions::default()).await.unwrap();
    assert!(started.elapsed() >= pause, "the stall was {:?}", started.elapsed());
    assert_eq!(proxy.injected(), 1);
    assert_eq!(proxy.requests(), count, "no request was retried");
    assert_eq!(view.state("stalled").await, expected);
}
