//! The transport layer against real HTTP: oci-client built by `make_client_for` talking plain
//! HTTP to loopback, retries of real oci-client errors (R-PUSH-7), credentials from
//! `CNB_REGISTRY_AUTH` reaching the server (R-AUTH-1), and streamed monolithic uploads to a
//! real registry (R-AUTH-3).
//!
//! Most tests use a scripted HTTP server (a few lines over a TCP listener) so that status codes
//! and request headers are under the test's control; one uses a real registry.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use cnb_artifacts_core::publish::auth::{resolve_with, AuthSource, Secret};
use cnb_artifacts_core::publish::client::{make_client, make_client_for, TransportOptions};
use cnb_artifacts_core::publish::retry::{with_retry, RetryPolicy};
use cnb_artifacts_core::reference::Digest;
use oci_client::secrets::RegistryAuth;
use oci_client::{Reference, RegistryOperation};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One request the scripted server saw.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    authorization: Option<String>,
}

/// A scripted HTTP/1.1 server on 127.0.0.1: `respond(request, n)` gives the status line and
/// extra headers of the `n`-th request (0-based) to the same path; bodies are empty.
struct Scripted {
    host: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Scripted {
    async fn start(respond: impl Fn(&Seen, usize) -> (u16, Vec<(&'static str, String)>) + Send + Sync + 'static) -> Scripted {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let host = listener.local_addr().unwrap().to_string();
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let respond = Arc::new(respond);
        let log = seen.clone();
        tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                let (log, respond) = (log.clone(), respond.clone());
                tokio::spawn(async move {
                    while let Some(req) = read_head(&mut conn).await {
                        let n = {
                            let mut log = log.lock().unwrap();
                            log.push(req.clone());
                            log.iter().filter(|s| s.path == req.path).count() - 1
                        };
                        let (status, headers) = respond(&req, n);
                        let mut out = format!("HTTP/1.1 {status} Scripted\r\ncontent-length: 0\r\n");
                        for (k, v) in headers {
                            out.push_str(&format!("{k}: {v}\r\n"));
                        }
                        out.push_str("\r\n");
                        if conn.write_all(out.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        Scripted { host, seen }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    fn count(&self, path: &str) -> usize {
        self.seen().iter().filter(|s| s.path == path).count()
    }
}

/// Reads one request head (requests here have no body), or `None` at end of connection.
async fn read_head(conn: &mut tokio::net::TcpStream) -> Option<Seen> {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        if conn.read(&mut byte).await.ok()? == 0 {
            return None;
        }
        if buf.is_empty() && !byte[0].is_ascii_uppercase() {
            return None; // not HTTP (a TLS ClientHello starts with 0x16): hang up
        }
        buf.push(byte[0]);
    }
    let text = String::from_utf8_lossy(&buf);
    let mut lines = text.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let (method, path) = (first.next()?.to_string(), first.next()?.to_string());
    let authorization =
        lines.filter_map(|l| l.split_once(": ")).find(|(k, _)| k.eq_ignore_ascii_case("authorization")).map(|(_, v)| v.to_string());
    Some(Seen { method, path, authorization })
}

const DIGEST: &str = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";

fn blob_path() -> String {
    format!("/v2/team/app/blobs/{DIGEST}")
}

fn fast_retries() -> TransportOptions {
    let retry = RetryPolicy { max_attempts: 4, base_delay: Duration::from_millis(1), max_delay: Duration::from_millis(5) };
    TransportOptions { retry, ..TransportOptions::default() }
}

/// `blob_exists` through `with_retry` against `server`; returns the outcome.
async fn blob_exists(server: &Scripted, opts: &TransportOptions) -> Result<bool, oci_client::errors::OciDistributionError> {
    let client = make_client_for(opts, &[&server.host]).unwrap();
    let image = Reference::with_tag(server.host.clone(), "team/app".into(), "1".into());
    with_retry(&opts.retry, "blob exists", || client.blob_exists(&image, DIGEST)).await
}

#[tokio::test]
async fn r_push_7_real_client_errors_503_are_retried_until_success() {
    let server = Scripted::start(|req, n| if req.path.contains("/blobs/") && n < 2 { (503, vec![]) } else { (200, vec![]) }).await;
    assert!(blob_exists(&server, &fast_retries()).await.unwrap());
    assert_eq!(server.count(&blob_path()), 3, "two 503s then a 200: {:?}", server.seen());
    assert!(server.seen().iter().all(|s| s.method == "HEAD"));
}

#[tokio::test]
async fn r_push_7_real_client_attempts_are_bounded() {
    let server = Scripted::start(|_, _| (502, vec![])).await;
    assert!(blob_exists(&server, &fast_retries()).await.is_err());
    assert_eq!(server.count(&blob_path()), 4);
}

#[tokio::test]
async fn r_push_7_real_client_403_is_not_retried() {
    let server = Scripted::start(|_, _| (403, vec![])).await;
    assert!(blob_exists(&server, &fast_retries()).await.is_err());
    assert_eq!(server.count(&blob_path()), 1);
}

#[tokio::test]
async fn r_auth_3_loopback_registry_with_port_is_spoken_to_over_plain_http() {
    // The scripted server speaks only plain HTTP: any answer at all proves the scheme.
    let server = Scripted::start(|_, _| (404, vec![])).await;
    assert!(!blob_exists(&server, &TransportOptions::default()).await.unwrap());
    // Without the registry named, oci-client's exact-match list does not cover the port: HTTPS.
    let client = make_client(&TransportOptions::default()).unwrap();
    let image = Reference::with_tag(server.host.clone(), "team/app".into(), "1".into());
    assert!(client.blob_exists(&image, DIGEST).await.is_err());
}

/// The Authorization header the server saw on the blob request after authenticating with
/// the credentials `CNB_REGISTRY_AUTH` gives for the server.
async fn authorization_sent(env: impl Fn(&str) -> String) -> (RegistryAuth, Option<String>) {
    let server = Scripted::start(|req, _| match (req.path.as_str(), &req.authorization) {
        ("/v2/", None) => (401, vec![("www-authenticate", "Basic realm=\"scripted\"".to_string())]),
        _ => (200, vec![]),
    })
    .await;
    let source = AuthSource { registry_auth: Some(Secret::new(env(&server.host))), ..AuthSource::default() };
    let auth = resolve_with(&server.host, &source).unwrap();
    let opts = TransportOptions::default();
    let client = make_client_for(&opts, &[&server.host]).unwrap();
    let image = Reference::with_tag(server.host.clone(), "team/app".into(), "1".into());
    client.auth(&image, &auth, RegistryOperation::Pull).await.unwrap();
    assert!(client.blob_exists(&image, DIGEST).await.unwrap());
    let sent = server.seen().into_iter().find(|s| s.path == blob_path()).and_then(|s| s.authorization);
    (auth, sent)
}

#[tokio::test]
async fn r_auth_1_basic_credentials_from_cnb_registry_auth_reach_the_registry() {
    // base64("ci-user:ci-pass")
    let (auth, sent) = authorization_sent(|host| format!(r#"{{"{host}": "Basic Y2ktdXNlcjpjaS1wYXNz"}}"#)).await;
    assert_eq!(auth, RegistryAuth::Basic("ci-user".into(), "ci-pass".into()));
    assert_eq!(sent.as_deref(), Some("Basic Y2ktdXNlcjpjaS1wYXNz"));
}

#[tokio::test]
async fn r_auth_1_bearer_token_from_cnb_registry_auth_is_sent_as_is() {
    let (_, sent) = authorization_sent(|host| format!(r#"{{"{host}": "Bearer tok-123"}}"#)).await;
    assert_eq!(sent.as_deref(), Some("Bearer tok-123"));
}

#[tokio::test]
async fn r_auth_3_streamed_monolithic_uploads_reach_a_real_registry() {
    let registry = require_registry!();
    let mut opts = TransportOptions { chunk_size: 1024, ..TransportOptions::default() };
    if registry.insecure {
        opts.insecure_registries.push(registry.host.clone());
    }
    let client = make_client_for(&opts, &[&registry.host]).unwrap();
    let image = Reference::with_tag(registry.host.clone(), "transport/blobs".into(), "x".into());
    let auth = RegistryAuth::Anonymous;
    client.auth(&image, &auth, RegistryOperation::Push).await.unwrap();

    // 5 MiB + 1: more than oci-client's 4 MiB chunk, sent as one streamed PUT.
    let data: Vec<u8> = (0..5 * 1024 * 1024 + 1).map(|i| (i % 251) as u8).collect();
    for blob in [data, Vec::new()] {
        let digest = Digest::of(&blob);
        let size = blob.len() as u64;
        let items: Vec<Result<bytes::Bytes, oci_client::errors::OciDistributionError>> =
            blob.chunks(opts.chunk_size).map(|c| Ok(bytes::Bytes::copy_from_slice(c))).collect();
        let stream = futures_util::stream::iter(items);
        client.push_blob_stream(&image, stream, digest.as_str(), Some(size)).await.unwrap();
        assert!(client.blob_exists(&image, digest.as_str()).await.unwrap(), "blob of {size} bytes");
    }
}
