//! The registry target's raw requests against a scripted fake registry: answers a real
//! Distribution never gives (an HTML 200, a referrers API that ignores subjects, `412` on a
//! conditional write, a Basic challenge), so the suite proves it refuses or handles them.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use oci_client::secrets::RegistryAuth;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;
use crate::media_types::OCI_MANIFEST;
use crate::publish::retry::RetryPolicy;

/// One request the fake saw.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// An answer: status, headers, body.
type Answer = (u16, Vec<(&'static str, String)>, Vec<u8>);

/// A registry that answers each request with `respond(request, all requests so far)`.
struct Fake {
    host: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Fake {
    async fn start(respond: impl Fn(&Seen, &[Seen]) -> Answer + Send + Sync + 'static) -> Fake {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let host = listener.local_addr().unwrap().to_string();
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let (log, respond) = (seen.clone(), Arc::new(respond));
        tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                let (log, respond) = (log.clone(), respond.clone());
                tokio::spawn(async move {
                    while let Some(req) = read_request(&mut conn).await {
                        let (status, headers, body) = {
                            let mut log = log.lock().unwrap();
                            log.push(req.clone());
                            respond(&req, &log)
                        };
                        let mut out = format!("HTTP/1.1 {status} Fake\r\ncontent-length: {}\r\n", body.len());
                        for (k, v) in headers {
                            out.push_str(&format!("{k}: {v}\r\n"));
                        }
                        out.push_str("\r\n");
                        let mut bytes = out.into_bytes();
                        bytes.extend(body);
                        if conn.write_all(&bytes).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        Fake { host, seen }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    async fn target(&self, auth: RegistryAuth) -> RegistryTarget {
        let retry = RetryPolicy { max_attempts: 2, base_delay: Duration::from_millis(1), max_delay: Duration::from_millis(2) };
        let opts = TransportOptions { retry, ..TransportOptions::default() };
        RegistryTarget::with_auth(&self.host, &opts, auth).await.unwrap()
    }
}

async fn read_request(conn: &mut tokio::net::TcpStream) -> Option<Seen> {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        if conn.read(&mut byte).await.ok()? == 0 {
            return None;
        }
        buf.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&buf).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let (method, path) = (first.next()?.to_string(), first.next()?.to_string());
    let headers: Vec<(String, String)> = lines.filter_map(|l| l.split_once(": ").map(|(k, v)| (k.to_string(), v.to_string()))).collect();
    let len = headers.iter().find(|(k, _)| k.eq_ignore_ascii_case("content-length")).and_then(|(_, v)| v.parse().ok()).unwrap_or(0);
    let mut body = vec![0u8; len];
    conn.read_exact(&mut body).await.ok()?;
    Some(Seen { method, path, headers, body })
}

fn subject() -> Subject {
    Subject { digest: Digest::of(b"app"), size: 3, media_type: OCI_MANIFEST.to_string() }
}

fn ours() -> Vec<ReferrerEntry> {
    vec![ReferrerEntry {
        media_type: OCI_MANIFEST.to_string(),
        digest: Digest::of(b"artifact"),
        size: 8,
        artifact_type: Some("application/vnd.buildpacks.artifact.v1".to_string()),
        annotations: Default::default(),
    }]
}

fn index_of(entries: &[ReferrerEntry]) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries})).unwrap()
}

fn index_headers() -> Vec<(&'static str, String)> {
    vec![("content-type", OCI_INDEX.to_string())]
}

fn referrers_path() -> String {
    format!("/v2/team/app/referrers/{}", subject().digest)
}

fn fallback_path() -> String {
    format!("/v2/team/app/manifests/{}", subject().digest.referrers_tag())
}

async fn record(fake: &Fake, mode: ReferrersMode) -> Result<ReferrersOutcome, PublishError> {
    fake.target(RegistryAuth::Anonymous).await.record_referrers("team/app", &subject(), &ours(), mode).await
}

#[tokio::test]
async fn r_ref_1_html_answer_is_an_error_not_a_fallback() {
    let fake = Fake::start(|_, _| (200, vec![("content-type", "text/html".into())], b"<html>sign in</html>".to_vec())).await;
    let err = record(&fake, ReferrersMode::Auto).await.unwrap_err();
    assert!(matches!(err, PublishError::ReferrersProbeUnexpected { .. }), "{err}");
    assert!(err.to_string().contains("text/html"), "{err}");
    assert!(fake.seen().iter().all(|s| s.method == "GET"), "nothing was written");
}

#[tokio::test]
async fn r_ref_1_server_error_after_retries_is_an_error() {
    let fake = Fake::start(|_, _| (503, vec![], b"busy".to_vec())).await;
    let err = record(&fake, ReferrersMode::Auto).await.unwrap_err();
    assert!(err.to_string().contains("HTTP 503"), "{err}");
    assert_eq!(fake.seen().len(), 2, "retried, then gave up");
}

#[tokio::test]
async fn r_ref_1_supported_api_listing_our_artifacts_needs_no_fallback() {
    let fake = Fake::start(|_, _| (200, index_headers(), index_of(&ours()))).await;
    let outcome = record(&fake, ReferrersMode::Auto).await.unwrap();
    assert_eq!(outcome, ReferrersOutcome { used: ReferrersUsed::Api, fallback_index: None });
    assert_eq!(fake.seen().len(), 1);
    assert_eq!(fake.seen()[0].path, referrers_path());
    assert_eq!(fake.seen()[0].header("accept"), Some(OCI_INDEX));
}

#[tokio::test]
async fn r_ref_1_api_that_ignored_the_subject_gets_the_fallback_too() {
    let fake = Fake::start(|req, seen| {
        let puts: Vec<&Seen> = seen.iter().filter(|s| s.method == "PUT").collect();
        match (req.method.as_str(), req.path.as_str()) {
            ("GET", p) if p == referrers_path() => (200, index_headers(), index_of(&[])),
            ("GET", _) => match puts.last() {
                Some(put) => (200, index_headers(), put.body.clone()),
                None => (404, vec![], Vec::new()),
            },
            _ => (201, vec![("location", "/v2/team/app/manifests/x".into())], Vec::new()),
        }
    })
    .await;
    let outcome = record(&fake, ReferrersMode::Auto).await.unwrap();
    assert_eq!(outcome.used, ReferrersUsed::Fallback);
    let put = fake.seen().into_iter().find(|s| s.method == "PUT").expect("a fallback write");
    assert_eq!(put.path, fallback_path());
    assert_eq!(put.header("content-type"), Some(OCI_INDEX));
    assert_eq!(outcome.fallback_index, Some(Digest::of(&put.body)));
}

#[tokio::test]
async fn r_ref_1_forced_api_makes_no_request() {
    let fake = Fake::start(|_, _| (500, vec![], Vec::new())).await;
    assert_eq!(record(&fake, ReferrersMode::Api).await.unwrap().used, ReferrersUsed::Api);
    assert!(fake.seen().is_empty());
}

/// The first write of the index loses, and the publisher reads, merges and writes again: a 412
/// (the document changed since it was read), or Distribution's `400 DIGEST_INVALID` when another
/// publisher stores the same index bytes at the same moment (seen in `concurrent-publishers`).
#[rstest::rstest]
#[case::precondition_failed(412, "")]
#[case::concurrent_writer_of_the_same_bytes(
    400,
    r#"{"errors":[{"code":"DIGEST_INVALID","message":"provided digest did not match uploaded content"}]}"#
)]
#[tokio::test]
async fn r_ref_5_if_match_is_sent_and_a_lost_write_merges_again(#[case] status: u16, #[case] answer: &'static str) {
    let theirs = vec![ReferrerEntry { digest: Digest::of(b"theirs"), ..ours()[0].clone() }];
    let existing = index_of(&theirs);
    let fake = Fake::start(move |req, seen| {
        let puts: Vec<&Seen> = seen.iter().filter(|s| s.method == "PUT").collect();
        match req.method.as_str() {
            "PUT" if puts.len() == 1 => (status, vec![], answer.as_bytes().to_vec()),
            "PUT" => (201, vec![("location", "/v2/team/app/manifests/x".into())], Vec::new()),
            _ => {
                let body = if puts.len() >= 2 { puts[1].body.clone() } else { existing.clone() };
                let mut headers = index_headers();
                headers.push(("etag", format!("\"{}\"", Digest::of(&body))));
                (200, headers, body)
            }
        }
    })
    .await;
    let outcome = record(&fake, ReferrersMode::Fallback).await.unwrap();
    let puts: Vec<Seen> = fake.seen().into_iter().filter(|s| s.method == "PUT").collect();
    assert_eq!(puts.len(), 2);
    let expected_etag = format!("\"{}\"", Digest::of(&index_of(&theirs)));
    assert_eq!(puts[0].header("if-match"), Some(expected_etag.as_str()));
    assert!(lists_all(&puts[1].body, &theirs) && lists_all(&puts[1].body, &ours()), "both kept");
    assert_eq!(outcome.fallback_index, Some(Digest::of(&puts[1].body)));
}

#[tokio::test]
async fn r_ref_1_basic_credentials_are_sent_only_after_a_challenge() {
    let fake = Fake::start(|req, _| match req.header("authorization") {
        Some(_) => (200, index_headers(), index_of(&ours())),
        None => (401, vec![("www-authenticate", "Basic realm=\"fake\"".into())], Vec::new()),
    })
    .await;
    let target = fake.target(RegistryAuth::Basic("user".into(), "pass".into())).await;
    let outcome = target.record_referrers("team/app", &subject(), &ours(), ReferrersMode::Auto).await.unwrap();
    assert_eq!(outcome.used, ReferrersUsed::Api);
    let probes: Vec<Seen> = fake.seen().into_iter().filter(|s| s.path == referrers_path()).collect();
    assert_eq!(probes.len(), 2);
    assert_eq!(probes[0].header("authorization"), None);
    assert_eq!(probes[1].header("authorization"), Some("Basic dXNlcjpwYXNz"));
}

/// Callers may run a publish on a multi-threaded runtime (`tokio::spawn`): its future is `Send`
/// for both targets.
#[allow(dead_code)]
fn publish_futures_are_send(
    plan: &crate::plan::Plan,
    opts: &crate::publish::PublishOptions,
    r: &RegistryTarget,
    l: &crate::publish::LayoutTarget,
) {
    fn send<T: Send>(_: T) {}
    send(crate::publish::publish(plan, &subject(), opts, r));
    send(crate::publish::publish(plan, &subject(), opts, l));
}

#[test]
fn the_next_page_of_a_tag_listing_is_its_link_query() {
    use super::next_query;
    assert_eq!(next_query(Some("</v2/a/tags/list?n=100&last=x>; rel=\"next\"")).as_deref(), Some("n=100&last=x"));
    assert_eq!(next_query(Some("<https://r/v2/a/tags/list?last=x>; rel=next")).as_deref(), Some("last=x"));
    assert_eq!(next_query(Some("</v2/a/tags/list?last=x>; rel=\"prev\"")), None);
    assert_eq!(next_query(None), None);
}

/// R-PUSH-5: of a long, paginated tag listing only the tags to check are kept (a listing of any
/// length costs the memory of one page); every page is read, and a tag on a later page counts.
#[tokio::test]
async fn r_push_5_a_tag_listing_keeps_only_the_wanted_tags() {
    let fake = Fake::start(|req, _| {
        let page: usize = req.path.rsplit_once("last=p").and_then(|(_, n)| n.parse().ok()).map_or(0, |n: usize| n + 1);
        let mut tags: Vec<String> = (0..5_000).map(|i| format!("filler-{page}-{i}")).collect();
        if page == 2 {
            tags.push("wanted-on-page-2".to_string());
        }
        let body = serde_json::to_vec(&serde_json::json!({"name": "team/app", "tags": tags})).unwrap();
        let link = (page < 3).then(|| ("link", format!("</v2/team/app/tags/list?n=5000&last=p{page}>; rel=\"next\"")));
        (200, link.into_iter().collect(), body)
    })
    .await;
    let target = fake.target(RegistryAuth::Anonymous).await;
    let wanted = BTreeSet::from(["wanted-on-page-2", "absent", "filler-9-9"]);
    let listed = target.list_tags("team/app", &wanted).await.unwrap();
    assert_eq!(listed, Some(BTreeSet::from(["wanted-on-page-2".to_string()])));
    assert_eq!(fake.seen().len(), 4, "every page is read: {:?}", fake.seen().iter().map(|s| &s.path).collect::<Vec<_>>());
}
