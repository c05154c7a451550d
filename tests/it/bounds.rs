//! Every wait and every read of the publisher is bounded, against hostile registries (spec
//! rules R-SEC-2, R-SEC-4, R-PUSH-3, R-AUTH-7; docs/security.md): a registry that goes silent
//! at each step of a publish, trickles an answer, sends a 200 MB answer, lies in its
//! `Docker-Content-Digest` header or issues a token that cannot be used. The hostile registries
//! are quirks proxies (`cnb_artifacts_conformance::provider::quirks::Proxy`) in front of the
//! test registry or, where no real answer is needed, on their own. Every run is measured: it
//! must end within its configured bounds and stay within 32 MiB of resident memory; the
//! figures are printed (`cargo test --test it bounds -- --nocapture`).

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use cnb_artifacts_conformance::provider::quirks::{Handler, Proxy, ProxyOptions, ProxyRequest, ProxyResponse, Reply, Upstream};
use cnb_artifacts_conformance::provider::seed::{app_image, seed_app_image};
use cnb_artifacts_core::media_types::OCI_MANIFEST;
use cnb_artifacts_core::plan::Subject;
use hyper::Method;
use tempfile::TempDir;

use crate::support::bin;
use crate::support::measured::{run_measured, Measured, MAX_RSS_KIB};

const APP: &str = "team/app";
/// How long a bounded run may take at most here: its bounds are 1–2 s, retries are off.
const BOUNDED: Duration = Duration::from_secs(10);
/// When a run that is not bounded is killed.
const DEADLINE: Duration = Duration::from_secs(60);

/// A layers dir declaring one artifact tagged `wasm`, its file `size` bytes (sparse).
fn layers(size: u64) -> TempDir {
    let dir = tempfile::tempdir().unwrap();
    let layer = dir.path().join("examples_wasm/wasm");
    std::fs::create_dir_all(&layer).unwrap();
    std::fs::write(dir.path().join("examples_wasm/wasm.toml"), "[additionalArtifact]\nfile = \"m.wasm\"\ntag = \"wasm\"\n").unwrap();
    let file = std::fs::File::create(layer.join("m.wasm")).unwrap();
    std::io::Write::write_all(&mut &file, b"\0asm\x01\0\0\0").unwrap();
    file.set_len(size.max(8)).unwrap();
    dir
}

/// Short bounds: connect 1 s, idle 2 s, a 1 s rate window, one attempt per request.
const SHORT: [&str; 8] = ["--max-attempts", "1", "--connect-timeout", "1", "--idle-timeout", "2", "--min-transfer-window", "1"];

/// `cnb-artifacts publish` of `layers` to `host`, with the [`SHORT`] bounds and `extra`, no
/// credentials unless `auth` is set.
fn publish(host: &str, subject: &Subject, layers: &Path, docker_config: &Path, extra: &[&str], auth: bool) -> Command {
    let mut cmd = publish_with(host, subject, layers, docker_config, &SHORT, auth);
    cmd.args(extra);
    cmd
}

fn publish_with(host: &str, subject: &Subject, layers: &Path, docker_config: &Path, bounds: &[&str], auth: bool) -> Command {
    let mut cmd = Command::new(bin());
    cmd.args(["--log", "info", "publish", "--layers-dir"])
        .arg(layers)
        .args(["--image", &format!("{host}/{APP}:1.0"), "--digest", subject.digest.as_str()])
        .args(["--manifest-size", &subject.size.to_string()])
        .args(bounds)
        .env("DOCKER_CONFIG", docker_config)
        .env_remove("CNB_REGISTRY_AUTH")
        .env_remove("RUST_LOG");
    if auth {
        let basic = base64::engine::general_purpose::STANDARD.encode("ci-robot:pw-7Qx9-never-print-me");
        cmd.env("CNB_REGISTRY_AUTH", format!(r#"{{"{host}": "Basic {basic}"}}"#));
    }
    cmd
}

async fn measure(name: &str, cmd: Command, deadline: Duration) -> Measured {
    let run = tokio::task::spawn_blocking(move || run_measured(cmd, deadline)).await.unwrap();
    // The figures the issue asks for, visible with --nocapture.
    println!("figures: {name}: {}, exit {:?}", run.figures(), run.output.status.code());
    run
}

/// The run failed (exit 3) within `within`, its error says `says`, and it stayed within the
/// memory bound.
fn assert_cut_off(run: &Measured, within: Duration, says: &[&str]) {
    assert!(!run.killed, "the publisher hung until killed ({}):\n{}", run.figures(), run.described);
    assert_eq!(run.output.status.code(), Some(3), "{}", run.described);
    assert!(run.elapsed <= within, "took {} ms, over {} ms:\n{}", run.elapsed.as_millis(), within.as_millis(), run.described);
    for needle in says {
        assert!(run.stderr().contains(needle), "the error says `{needle}`:\n{}", run.described);
    }
    assert!(run.peak_rss_kib <= MAX_RSS_KIB, "{} over {MAX_RSS_KIB} KiB:\n{}", run.figures(), run.described);
}

/// A registry that accepts the requests `silent` picks and never answers them.
struct SilentAt(fn(&ProxyRequest) -> bool);

impl Handler for SilentAt {
    async fn handle(&self, request: ProxyRequest, upstream: &Upstream) -> Reply {
        if (self.0)(&request) {
            std::future::pending::<()>().await;
        }
        Reply::Respond(upstream.forward(&request).await)
    }
}

fn ping(r: &ProxyRequest) -> bool {
    r.path() == "/v2/"
}
fn subject_manifest(r: &ProxyRequest) -> bool {
    r.method == Method::GET && r.path().contains("/manifests/sha256:")
}
fn referrers_probe(r: &ProxyRequest) -> bool {
    r.path().contains("/referrers/")
}
fn blob_upload(r: &ProxyRequest) -> bool {
    r.method == Method::PUT && r.path().contains("/blobs/uploads/")
}

/// A registry that accepts the connection and never answers is cut off within the configured
/// bounds at each step of a publish the issue names, and the error names the request.
#[rstest::rstest]
#[case::ping(ping, true, "/v2/")]
#[case::subject_manifest(subject_manifest, false, "manifest read in")]
#[case::referrers_probe(referrers_probe, false, "referrers probe in")]
#[case::blob_upload(blob_upload, false, "blob upload sha256:")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_sec_4_a_silent_registry_is_cut_off_at_every_step(
    #[case] silent: fn(&ProxyRequest) -> bool,
    #[case] auth: bool,
    #[case] names: &str,
) {
    let registry = require_registry!();
    let subject = seed_app_image(&registry, APP, &["1.0".to_string()]).await.unwrap();
    let proxy = Proxy::start(&registry.url(), SilentAt(silent), ProxyOptions::default()).await.unwrap();
    let (layers, work) = (layers(64), tempfile::tempdir().unwrap());
    let cmd = publish(&proxy.host(), &subject, layers.path(), work.path(), &[], auth);
    let run = measure(&format!("silent at {names}"), cmd, DEADLINE).await;
    assert_cut_off(&run, BOUNDED, &[names]);
    let stderr = run.stderr();
    assert!(stderr.contains("timed out") || stderr.contains("too slow"), "says why:\n{}", run.described);
}

/// A registry answering every request as its script says.
struct Scripted<F>(F);

impl<F: Fn(&ProxyRequest) -> Reply + Send + Sync + 'static> Handler for Scripted<F> {
    async fn handle(&self, request: ProxyRequest, _upstream: &Upstream) -> Reply {
        (self.0)(&request)
    }
}

fn app_manifest() -> ProxyResponse {
    ProxyResponse::new(200, OCI_MANIFEST, app_image().manifest)
}

/// Runs a publish against a registry scripted by `answer` (no real registry behind it).
async fn against(
    name: &str,
    answer: impl Fn(&ProxyRequest) -> Reply + Send + Sync + 'static,
    extra: &[&str],
    auth: bool,
) -> (Measured, String) {
    let proxy = Proxy::start("http://127.0.0.1:9", Scripted(answer), ProxyOptions::default()).await.unwrap();
    let (layers, work) = (layers(64), tempfile::tempdir().unwrap());
    let cmd = publish(&proxy.host(), &app_image().subject(), layers.path(), work.path(), extra, auth);
    (measure(name, cmd, DEADLINE).await, proxy.host())
}

/// A registry trickling the subject manifest at 10 bytes/s (a byte every 100 ms, so the idle
/// timeout never fires) is cut off by the minimum transfer rate, and the error names the
/// request that was too slow.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_sec_4_a_trickling_registry_is_cut_off_by_the_minimum_rate() {
    let trickle = |_: &ProxyRequest| Reply::Trickle(app_manifest(), Duration::from_millis(100));
    let (run, host) = against("trickle", trickle, &["--min-transfer-rate", "100"], false).await;
    assert_cut_off(&run, BOUNDED, &[&format!("manifest read in {host}/{APP}: too slow"), "--min-transfer-rate"]);
}

/// A 200 MB error answer is read only up to a small cap, shown cut, and costs no memory; a
/// 200 MB successful answer is refused from its `Content-Length` without being read.
#[rstest::rstest]
#[case::error_answer(400, "the rest was not read")]
#[case::manifest(200, "over the 4 MiB limit")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_sec_2_a_200_mb_answer_is_not_read(#[case] status: u16, #[case] says: &str) {
    let sent = Arc::new(AtomicU64::new(0));
    let counted = sent.clone();
    let huge = move |_: &ProxyRequest| Reply::Huge { status, content_type: "text/plain".into(), size: 200_000_000, sent: counted.clone() };
    let (run, _) = against(&format!("200 MB answer, HTTP {status}"), huge, &[], false).await;
    assert_cut_off(&run, BOUNDED, &[says]);
    assert!(run.output.stderr.len() < 8 * 1024, "the error is short: {} bytes:\n{}", run.output.stderr.len(), run.described);
    let sent = sent.load(Ordering::SeqCst);
    println!("figures: 200 MB answer, HTTP {status}: the registry got {sent} bytes out");
    assert!(sent < 32 * 1024 * 1024, "the publisher stopped reading early, yet took {sent} bytes");
}

/// A manifest whose `Docker-Content-Digest` header lies is refused, and the error says that the
/// header does not match the bytes (it once said "not valid JSON").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_push_3_a_lying_docker_content_digest_header_is_named() {
    fn lying(_: &ProxyRequest) -> Reply {
        Reply::Respond(app_manifest().with_header("Docker-Content-Digest", &format!("sha256:{}", "0".repeat(64))))
    }
    let (run, _) = against("lying digest header", lying, &[], false).await;
    let actual = format!("the bytes the registry sent have digest {}", app_image().subject().digest);
    assert_cut_off(&run, BOUNDED, &["its Docker-Content-Digest header says sha256:0000", &actual]);
    assert!(!run.stderr().contains("JSON"), "{}", run.described);
}

/// A token endpoint that answers 200 with no usable token: the error says so and names the
/// realm (it once said "builder error: failed to parse header value").
#[rstest::rstest]
#[case::control_characters(r#"{"token":"abc\u0007\ndef"}"#, "holds characters an HTTP header cannot carry")]
#[case::not_json("<html>sign in</html>", "is not a JSON object")]
#[case::no_token(r#"{"expires_in":300}"#, "has no `token`")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_auth_7_an_unusable_token_is_named(#[case] token: &'static str, #[case] says: &str) {
    let challenge = move |request: &ProxyRequest| {
        let host = request.header("host").unwrap_or_default().to_string();
        if request.path() == "/token" {
            return Reply::Respond(ProxyResponse::new(200, "application/json", token));
        }
        let challenge = format!(r#"Bearer realm="http://{host}/token",service="hostile""#);
        Reply::Respond(
            ProxyResponse::oci_error(401, "UNAUTHORIZED", "authentication required", serde_json::Value::Null)
                .with_header("WWW-Authenticate", &challenge),
        )
    };
    let (run, host) = against("unusable token", challenge, &[], true).await;
    let named = format!("the token endpoint http://{host}/token answered with no usable token");
    assert_cut_off(&run, BOUNDED, &[&named, says]);
    assert!(!run.stderr().contains("builder error"), "{}", run.described);
}

/// Peak memory of whole publishes of a large file and of refused hostile inputs stays within
/// 32 MiB (the file is streamed in 1 MiB pieces; inputs are capped before reading).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_sec_2_peak_memory_of_a_large_publish_stays_within_32_mib() {
    let registry = require_registry!();
    let subject = seed_app_image(&registry, APP, &["1.0".to_string()]).await.unwrap();
    let (layers, work) = (layers(64 * 1024 * 1024), tempfile::tempdir().unwrap());
    let cmd = publish_with(&registry.host, &subject, layers.path(), work.path(), &[], false);
    let run = measure("publish of a 64 MiB file", cmd, Duration::from_secs(300)).await;
    assert_eq!(run.output.status.code(), Some(0), "{}", run.described);
    assert!(run.peak_rss_kib <= MAX_RSS_KIB, "{}:\n{}", run.figures(), run.described);
}

/// Hostile inputs the platform may name by mistake (`/dev/zero` as report.toml) or a buildpack
/// may write (a 1 GiB sparse layer TOML) are refused within the memory bound.
#[rstest::rstest]
#[case::dev_zero_report("report")]
#[case::sparse_layer_toml("toml")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_sec_2_peak_memory_of_refused_hostile_inputs_stays_within_32_mib(#[case] input: &str) {
    let layers = layers(64);
    let mut cmd = Command::new(bin());
    cmd.args(["plan", "--layers-dir"]).arg(layers.path()).args(["--image", "registry.example/team/app:1.0"]);
    if input == "report" {
        cmd.args(["--report", "/dev/zero"]);
    } else {
        let toml = std::fs::File::create(layers.path().join("examples_wasm/huge.toml")).unwrap();
        toml.set_len(1 << 30).unwrap();
    }
    let run = measure(&format!("hostile input: {input}"), cmd, DEADLINE).await;
    assert!(!run.killed && run.elapsed <= BOUNDED, "{}:\n{}", run.figures(), run.described);
    assert_eq!(run.output.status.code(), Some(1), "refused as bad input:\n{}", run.described);
    assert!(run.peak_rss_kib <= MAX_RSS_KIB, "{}:\n{}", run.figures(), run.described);
}
