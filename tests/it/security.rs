//! Security promises of the publisher (spec rules R-AUTH-2, R-AUTH-3, R-PUSH-3, R-PUSH-6):
//! credentials never appear in its output, TLS is verified unless the user adds a CA, and what
//! a registry serves is checked (a manifest must hash to the digest asked for and stay within
//! 4 MiB). The binary is run as a user would (`--log debug`, `RUST_LOG=trace`, `--report-out`)
//! against a real registry, and against proxies (`cnb_artifacts_conformance::provider::quirks::Proxy`) that
//! play a hostile or untrusted registry. See `docs/reliability.md`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

use base64::Engine as _;
use cnb_artifacts_conformance::provider::quirks::{Handler, Proxy, ProxyOptions, ProxyRequest, ProxyResponse, Reply, Upstream};
use cnb_artifacts_conformance::provider::seed::{list_tags, seed_app_image};
use cnb_artifacts_core::media_types::{ANNOTATION_LAYER, OCI_MANIFEST};
use cnb_artifacts_core::plan::Subject;
use cnb_artifacts_core::reference::Digest;
use hyper::Method;
use tempfile::TempDir;
use tokio_rustls::rustls;

use crate::support::{bin, report, Registry};

pub(crate) const APP: &str = "team/app";
pub(crate) const USER: &str = "ci-robot";
pub(crate) const PASSWORD: &str = "pw-7Qx9-never-print-me";
/// The token the hostile registry's token server issues.
pub(crate) const ISSUED_TOKEN: &str = "issued-token-d41d8cd98f00";

/// The forms a credential could leak in: the password, `user:password` in base64 (with and
/// without padding), and the issued token.
fn secret_forms() -> Vec<String> {
    let pair = format!("{USER}:{PASSWORD}");
    vec![
        PASSWORD.to_string(),
        base64::engine::general_purpose::STANDARD.encode(&pair),
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(&pair),
        ISSUED_TOKEN.to_string(),
    ]
}

/// A layers dir declaring one artifact tagged `wasm`.
fn layers() -> TempDir {
    let dir = tempfile::tempdir().unwrap();
    let layer = dir.path().join("examples_wasm/wasm");
    std::fs::create_dir_all(&layer).unwrap();
    std::fs::write(dir.path().join("examples_wasm/wasm.toml"), "[additionalArtifact]\nfile = \"m.wasm\"\ntag = \"wasm\"\n").unwrap();
    std::fs::write(layer.join("m.wasm"), b"\0asm\x01\0\0\0 security").unwrap();
    dir
}

/// One run of `cnb-artifacts --log debug publish` with `RUST_LOG=trace`, the credentials in
/// `CNB_REGISTRY_AUTH` for `host`, and an empty Docker config.
pub(crate) struct Run {
    output: Output,
    report: Option<String>,
    pub(crate) described: String,
}

impl Run {
    pub(crate) async fn publish(host: &str, subject: &Subject, extra: &[&str]) -> Run {
        let layers = layers();
        let work = tempfile::tempdir().unwrap();
        let report_path = work.path().join("report.toml");
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"));
        let mut cmd = Command::new(bin());
        cmd.args(["--log", "debug", "publish", "--layers-dir"])
            .arg(layers.path())
            .args(["--image", &format!("{host}/{APP}:1.0"), "--digest", subject.digest.as_str()])
            .args(["--manifest-size", &subject.size.to_string(), "--max-attempts", "2", "--report-out"])
            .arg(&report_path)
            .args(extra)
            .env("CNB_REGISTRY_AUTH", format!(r#"{{"{host}": "Basic {basic}"}}"#))
            .env("RUST_LOG", "trace")
            .env("DOCKER_CONFIG", work.path())
            .env_remove("RUST_BACKTRACE");
        let (cmd, output) = tokio::task::spawn_blocking(move || {
            let output = cmd.output().expect("running cnb-artifacts");
            (cmd, output)
        })
        .await
        .unwrap();
        let described = report(&cmd, &output);
        Run { output, report: std::fs::read_to_string(&report_path).ok(), described }
    }

    pub(crate) fn status(&self) -> Option<i32> {
        self.output.status.code()
    }

    pub(crate) fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }

    /// Every place a credential must not appear: stdout, stderr and the report.
    fn assert_no_secret(&self) {
        let mut texts = vec![("stdout", String::from_utf8_lossy(&self.output.stdout).into_owned()), ("stderr", self.stderr())];
        texts.extend(self.report.clone().map(|r| ("report", r)));
        for (place, text) in texts {
            for secret in secret_forms() {
                assert!(!text.contains(&secret), "`{secret}` appears in {place}:\n{}", self.described);
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_auth_2_credentials_never_appear_in_trace_logs_or_the_report() {
    let registry = require_registry!();
    let subject = seed_app_image(&registry, APP, &["1.0".to_string()]).await.unwrap();
    let run = Run::publish(&registry.host, &subject, &[]).await;
    assert_eq!(run.status(), Some(0), "{}", run.described);
    assert!(run.stderr().contains("TRACE") || run.stderr().contains("DEBUG"), "the logs are verbose: {}", run.described);
    assert!(run.report.as_deref().is_some_and(|r| r.contains("[[artifacts]]")), "{}", run.described);
    run.assert_no_secret();
}

/// How the hostile registry fails.
#[derive(Debug, Clone, Copy)]
enum Hostility {
    /// Its token server answers 500, quoting the `Authorization` header it received (the
    /// user's Basic credentials).
    TokenServerEchoes,
    /// Its token server issues a token, then every registry call answers 500 quoting the
    /// `Authorization` header (the issued token).
    CallsEcho,
    /// Every call, token requests included, answers 401 with a Bearer challenge.
    AlwaysUnauthorized,
}

/// A registry that asks for Bearer tokens (realm: its own `/token`) and then fails.
struct Hostile(Hostility);

impl Handler for Hostile {
    async fn handle(&self, request: ProxyRequest, _upstream: &Upstream) -> Reply {
        let host = request.header("host").unwrap_or_default().to_string();
        let sent = request.header("authorization").unwrap_or("(none)").to_string();
        let challenge = format!(r#"Bearer realm="http://{host}/token",service="hostile",scope="repository:{APP}:pull,push""#);
        let unauthorized = ProxyResponse::oci_error(401, "UNAUTHORIZED", &format!("you sent: {sent}"), serde_json::Value::Null)
            .with_header("WWW-Authenticate", &challenge);
        let echo = ProxyResponse::new(500, "text/plain", format!("internal error; request had Authorization: {sent}\n"));
        let token = request.path() == "/token";
        let with_token = sent == format!("Bearer {ISSUED_TOKEN}");
        Reply::Respond(match self.0 {
            Hostility::TokenServerEchoes if token => echo,
            Hostility::CallsEcho if token => {
                ProxyResponse::new(200, "application/json", format!(r#"{{"token":"{ISSUED_TOKEN}","expires_in":300}}"#))
            }
            Hostility::CallsEcho if with_token => echo,
            _ => unauthorized,
        })
    }
}

#[rstest::rstest]
#[case::token_server_echoes(Hostility::TokenServerEchoes)]
#[case::calls_echo(Hostility::CallsEcho)]
#[case::always_unauthorized(Hostility::AlwaysUnauthorized)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_auth_2_credentials_never_appear_when_a_hostile_registry_echoes_them(#[case] hostility: Hostility) {
    let proxy = Proxy::start("http://127.0.0.1:9", Hostile(hostility), ProxyOptions::default()).await.unwrap();
    let subject = cnb_artifacts_conformance::provider::seed::app_image().subject();
    let run = Run::publish(&proxy.host(), &subject, &[]).await;
    assert_eq!(run.status(), Some(3), "a registry failure: {}", run.described);
    assert!(run.stderr().contains(&format!("{}/{APP}", proxy.host())), "the error names the image: {}", run.described);
    assert!(proxy.requests() > 1, "the publisher talked to the registry");
    run.assert_no_secret();
}

/// A CA and a server certificate for `127.0.0.2` signed by it, made at test time.
pub(crate) struct Pki {
    ca_pem: String,
    pub(crate) server: Arc<rustls::ServerConfig>,
}

impl Pki {
    pub(crate) fn new() -> Pki {
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params.distinguished_name.push(rcgen::DnType::CommonName, "cnb-artifacts test CA");
        let ca = rcgen::CertifiedIssuer::self_signed(ca_params, rcgen::KeyPair::generate().unwrap()).unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["127.0.0.2".to_string()]).unwrap().signed_by(&key, &ca).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let server = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![cert.der().clone()], rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()))
            .unwrap();
        Pki { ca_pem: ca.pem(), server: Arc::new(server) }
    }

    pub(crate) fn write_ca(&self, dir: &Path) -> PathBuf {
        let path = dir.join("ca.pem");
        std::fs::write(&path, &self.ca_pem).unwrap();
        path
    }
}

/// A TLS-terminating proxy on 127.0.0.2 in front of `registry`: a host that is not loopback by
/// name, so the publisher must speak verified HTTPS to it (R-AUTH-3).
async fn tls_proxy(registry: &Registry, pki: &Pki) -> Proxy {
    let options =
        ProxyOptions { bind: SocketAddr::from(([127, 0, 0, 2], 0)), tls: Some(tokio_rustls::TlsAcceptor::from(pki.server.clone())) };
    Proxy::start(&registry.url(), cnb_artifacts_conformance::provider::quirks::Forward, options).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_auth_3_untrusted_certificate_is_refused_and_ca_file_is_trusted() {
    let registry = require_registry!();
    let subject = seed_app_image(&registry, APP, &["1.0".to_string()]).await.unwrap();
    let pki = Pki::new();
    let proxy = tls_proxy(&registry, &pki).await;

    let refused = Run::publish(&proxy.host(), &subject, &[]).await;
    assert_eq!(refused.status(), Some(3), "{}", refused.described);
    let stderr = refused.stderr().to_lowercase();
    assert!(stderr.contains("certificate"), "the error says why: {}", refused.described);
    assert!(!stderr.contains("retrying"), "a TLS failure is not retried: {}", refused.described);
    assert!(!list_tags(&registry, APP).await.unwrap().contains(&"wasm".to_string()));

    let dir = tempfile::tempdir().unwrap();
    let ca = pki.write_ca(dir.path());
    let trusted = Run::publish(&proxy.host(), &subject, &["--ca-file", ca.to_str().unwrap()]).await;
    assert_eq!(trusted.status(), Some(0), "{}", trusted.described);
    assert!(list_tags(&registry, APP).await.unwrap().contains(&"wasm".to_string()));
}

/// A registry that serves other bytes than the ones stored for one manifest path.
struct Tampering {
    /// `/v2/<repository>/manifests/<reference>` to tamper with.
    path: String,
    replace: fn(Vec<u8>) -> Vec<u8>,
    /// Send a `Docker-Content-Digest` header matching the new bytes (else the original's).
    fix_header: bool,
}

impl Handler for Tampering {
    async fn handle(&self, request: ProxyRequest, upstream: &Upstream) -> Reply {
        let mut answer = upstream.forward(&request).await;
        if request.method == Method::GET && request.path() == self.path && answer.is_success() {
            answer.body = (self.replace)(answer.body.to_vec()).into();
            if self.fix_header {
                let digest = Digest::of(&answer.body);
                answer = answer.with_header("Docker-Content-Digest", digest.as_str());
            }
        }
        Reply::Respond(answer)
    }
}

/// The app image manifest with one extra space: valid JSON, another digest.
fn add_space(mut bytes: Vec<u8>) -> Vec<u8> {
    bytes.push(b' ');
    bytes
}

/// An artifact manifest of ours, padded with a 5 MiB annotation.
fn oversized(_: Vec<u8>) -> Vec<u8> {
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": { "mediaType": "application/vnd.oci.empty.v1+json", "digest": Digest::of(b"{}").as_str(), "size": 2 },
        "layers": [],
        "annotations": { ANNOTATION_LAYER: "wasm", "padding": "x".repeat(5 * 1024 * 1024) },
    });
    serde_json::to_vec(&manifest).unwrap()
}

/// Publishes through a tampering proxy; returns the run and the tags of the app repository.
async fn publish_through(registry: &Registry, subject: &Subject, tampering: Tampering) -> (Run, Vec<String>) {
    let proxy = Proxy::start(&registry.url(), tampering, ProxyOptions::default()).await.unwrap();
    let run = Run::publish(&proxy.host(), subject, &[]).await;
    let mut tags = list_tags(registry, APP).await.unwrap();
    tags.sort();
    (run, tags)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_push_3_manifest_not_matching_the_digest_asked_for_is_refused() {
    let registry = require_registry!();
    let subject = seed_app_image(&registry, APP, &["1.0".to_string()]).await.unwrap();
    for fix_header in [false, true] {
        let path = format!("/v2/{APP}/manifests/{}", subject.digest);
        let (run, tags) = publish_through(&registry, &subject, Tampering { path, replace: add_space, fix_header }).await;
        assert_eq!(run.status(), Some(3), "{}", run.described);
        assert!(run.stderr().contains(subject.digest.as_str()), "names the digest asked for: {}", run.described);
        assert_eq!(tags, ["1.0"], "nothing was written");
    }
}

/// R-PUSH-3: a tag resolves by the bytes served, not by the `Docker-Content-Digest` header: a
/// header naming the subject over other bytes is refused, naming both digests.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_push_3_a_tag_resolves_by_the_body_and_a_contradicting_header_is_refused() {
    let registry = require_registry!();
    let subject = seed_app_image(&registry, APP, &["1.0".to_string()]).await.unwrap();
    let tampering = Tampering { path: format!("/v2/{APP}/manifests/1.0"), replace: add_space, fix_header: false };
    let (run, tags) = publish_through(&registry, &subject, tampering).await;
    assert_eq!(run.status(), Some(3), "{}", run.described);
    let served = {
        let mut bytes = cnb_artifacts_conformance::provider::seed::fetch_manifest(&registry, APP, "1.0").await.unwrap().bytes;
        bytes.push(b' ');
        Digest::of(&bytes)
    };
    let expected =
        format!("its Docker-Content-Digest header says {}, but the bytes the registry sent have digest {served}", subject.digest);
    assert!(run.stderr().contains(&expected), "names both digests: {}", run.described);
    assert_eq!(tags, ["1.0"], "nothing was written");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_push_6_manifest_over_4_mib_served_by_the_registry_is_refused() {
    let registry = require_registry!();
    // The tag to set exists and holds one of our artifacts, which the registry serves 5 MiB big.
    let subject = seed_app_image(&registry, APP, &["1.0".to_string(), "wasm".to_string()]).await.unwrap();
    let tampering = Tampering { path: format!("/v2/{APP}/manifests/wasm"), replace: oversized, fix_header: true };
    let (run, tags) = publish_through(&registry, &subject, tampering).await;
    assert_eq!(run.status(), Some(3), "{}", run.described);
    assert!(run.stderr().contains("4 MiB"), "says why: {}", run.described);
    assert!(run.stderr().contains(&format!("{APP}:wasm")), "names the tag: {}", run.described);
    assert_eq!(tags, ["1.0", "wasm"]);
    let held = cnb_artifacts_conformance::provider::seed::fetch_manifest(&registry, APP, "wasm").await.unwrap();
    assert_eq!(held.digest, subject.digest, "the tag did not move");
}
