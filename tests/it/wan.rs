//! The `wan` quirk profile (`cnb_artifacts_conformance::provider::quirks::wan`): a publish
//! through it pays the round trip on every request and still publishes exactly what a publish
//! straight to the registry does; and the hidden `conformance proxy` subcommand that runs it for
//! `ci/bench` and measurements.

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cnb_artifacts_conformance::provider::quirks::{start_quirks_proxy, QuirkProfile, Wan};
use cnb_artifacts_core::publish::PublishOptions;

use crate::fault::scenario::{fast_retries, RegistryView, Scenario};
use crate::support::bin;

const RTT: Duration = Duration::from_millis(100);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publish_over_the_wan_profile_is_delayed_and_exact() {
    let registry = require_registry!();
    let view = RegistryView::of(&registry);
    let clean = Scenario::new(&registry, &view, "near").await;
    let started = Instant::now();
    clean.publish(&registry.host, fast_retries(), &PublishOptions::default()).await.unwrap();
    let near = started.elapsed();

    let proxy = start_quirks_proxy(&registry.url(), QuirkProfile::Wan(Wan { rtt: RTT, bandwidth: None })).await.unwrap();
    let far = Scenario::new(&registry, &view, "far").await;
    let started = Instant::now();
    far.publish(&proxy.host(), fast_retries(), &PublishOptions::default()).await.unwrap();
    let elapsed = started.elapsed();

    assert_eq!(view.state("far").await, view.state("near").await, "the same tags, the same digests");
    let requests = proxy.requests();
    assert_eq!(proxy.hits(), requests, "every request was delayed");
    assert_eq!(proxy.request_log(0).len() as u64, requests);
    // At least the manifest's PUT waits for its blobs, and the tags for the manifest: 3 round trips in a row.
    assert!(requests >= 3, "{requests} requests");
    assert!(elapsed >= RTT * 3, "{requests} requests took {elapsed:?}, less than 3 round trips of {RTT:?}");
    assert!(elapsed > near + RTT, "{elapsed:?} through a {RTT:?} round trip, {near:?} without");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_proxy_subcommand_delays_logs_and_counts_until_sigterm() {
    let registry = require_registry!();
    let mut child = Command::new(bin())
        .args(["conformance", "proxy", "--upstream", &registry.url(), "--quirks", "wan:rtt=200ms,bw=10MiB", "--log-requests"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("runs");
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    let host = first.strip_prefix("listening: ").and_then(|l| l.split_whitespace().next()).unwrap_or_else(|| panic!("{first}"));
    assert!(first.contains("wan:rtt=200ms,bw=10MiB"), "{first}");

    let started = Instant::now();
    let answer = reqwest::get(format!("http://{host}/v2/")).await.unwrap();
    let elapsed = started.elapsed();
    assert!(answer.status().is_success(), "{:?}", answer.status());
    assert!(elapsed >= Duration::from_millis(200), "one round trip of 200 ms took {elapsed:?}");

    // SIGTERM through kill(2) (a bare Debian has no `kill` program).
    // SAFETY: kill(2) has no memory-safety preconditions; the pid is our unreaped child.
    let sent = unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    assert_eq!(sent, 0, "kill -TERM {}: {}", child.id(), std::io::Error::last_os_error());
    let status = child.wait().unwrap();
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    assert_eq!(status.code(), Some(0), "{rest}\n{stderr}");
    assert_eq!(rest.trim(), "requests: 1", "{stderr}");
    assert_eq!(stderr.trim(), "GET /v2/");
}

#[test]
fn a_malformed_wan_spec_is_a_usage_error() {
    let output =
        Command::new(bin()).args(["conformance", "proxy", "--upstream", "http://127.0.0.1:1", "--quirks", "wan:50"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("wan:50") && stderr.contains("50ms"), "{stderr}");
}
