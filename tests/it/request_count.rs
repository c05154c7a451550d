//! The number of requests a publish sends, pinned as a formula of the number of artifacts `A`
//! and of tags each `T` (docs/performance.md, "Requests"): counted by the quirks proxy's request
//! log with a `wan` profile of no delay (every answer forwarded unchanged). Each formula is
//! checked for several `A` and `T`, so a request that starts to be sent per artifact, or per
//! tag, where it was sent per repository or per publish fails the test, and so does one that
//! is cut without the formula (and the docs) saying so.
//!
//! The scenario: the app image (one layer) in `<ns>/app` tagged `1.0` and `latest`; `A`
//! artifacts of one file each (`L` = 1 file blob), either all in the app image's repository or
//! each in a repository of its own; `T` = 1 (`tag = "a<i>"`) or 2 (`tag = "${build.tag}-a<i>"`).

use std::time::Duration;

use cnb_artifacts_conformance::provider::quirks::{start_quirks_proxy, QuirkProfile, QuirksProxy, Wan};
use cnb_artifacts_core::publish::PublishOptions;

use crate::fault::scenario::{fast_retries, RegistryView, Scenario};
use crate::support::Registry;

/// Where the artifacts go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Repos {
    /// All in the app image's repository.
    App,
    /// Each in a repository of its own.
    Own,
}

/// The requests of a first publish of `a` artifacts with `t` tags each.
fn fresh(repos: Repos, a: usize, t: usize) -> usize {
    match repos {
        Repos::App => 10 + (4 + t) * a,
        Repos::Own => 2 + (16 + t) * a,
    }
}

/// The requests of the same publish again, nothing changed.
fn republish(repos: Repos, a: usize, t: usize) -> usize {
    match repos {
        Repos::App => 5 + t * a,
        Repos::Own => 2 + (4 + t) * a,
    }
}

/// The layer TOML of `a` artifacts with `t` tags each.
fn layer_toml(ns: &str, repos: Repos, a: usize, t: usize) -> String {
    (0..a)
        .map(|i| {
            let tag = if t == 2 { format!("${{build.tag}}-a{i}") } else { format!("a{i}") };
            let repository = match repos {
                Repos::App => String::new(),
                Repos::Own => format!("repository = \"{ns}/own{i}\"\n"),
            };
            format!("[[additionalArtifact]]\nfile = \"f{i}.bin\"\ntag = \"{tag}\"\n{repository}\n")
        })
        .collect()
}

/// A proxy that forwards everything unchanged, and logs it.
async fn counting(registry: &Registry) -> QuirksProxy {
    start_quirks_proxy(&registry.url(), QuirkProfile::Wan(Wan { rtt: Duration::ZERO, bandwidth: None })).await.unwrap()
}

/// Publishes the scenario twice through a counting proxy; the requests of each publish.
async fn count(registry: &Registry, view: &RegistryView, repos: Repos, a: usize, t: usize) -> (Vec<String>, Vec<String>) {
    let ns = format!("count-{}-{a}-{t}", if repos == Repos::App { "app" } else { "own" });
    let scenario = Scenario::empty(registry, view, &ns).await;
    let files: Vec<(String, Vec<u8>)> = (0..a).map(|i| (format!("f{i}.bin"), format!("file {i} of {ns}\n").into_bytes())).collect();
    let files: Vec<(&str, &[u8])> = files.iter().map(|(n, b)| (n.as_str(), b.as_slice())).collect();
    scenario.write_layer("acme_count", "count", &layer_toml(&ns, repos, a, t), &files);
    let proxy = counting(registry).await;
    let first = scenario.publish(&proxy.host(), fast_retries(), &PublishOptions::default()).await.unwrap();
    assert_eq!(first.artifacts.len(), a);
    let fresh = proxy.request_log(0);
    scenario.publish(&proxy.host(), fast_retries(), &PublishOptions::default()).await.unwrap();
    let again = proxy.request_log(fresh.len());
    (fresh, again)
}

async fn check(repos: Repos) {
    let registry = require_registry!();
    let view = RegistryView::of(&registry);
    let mut wrong = Vec::new();
    for (a, t) in [(1, 1), (3, 1), (2, 2), (5, 2)] {
        let (first, again) = count(&registry, &view, repos, a, t).await;
        eprintln!("{repos:?} A={a} T={t}: first publish {} requests, re-publish {}", first.len(), again.len());
        for (what, log, formula) in [("first publish", &first, fresh(repos, a, t)), ("re-publish", &again, republish(repos, a, t))] {
            if log.len() != formula {
                wrong.push(format!("{what}, A={a}, T={t}: {} requests, the formula says {formula}:\n  {}", log.len(), log.join("\n  ")));
            }
        }
    }
    assert!(wrong.is_empty(), "{repos:?}:\n{}", wrong.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_of_artifacts_in_the_app_repository_follow_the_formula() {
    check(Repos::App).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_of_artifacts_in_their_own_repositories_follow_the_formula() {
    check(Repos::Own).await;
}
