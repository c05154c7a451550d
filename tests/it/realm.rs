//! Where credentials may go (spec rule R-AUTH-6), against registries that name a token realm:
//! a hostile HTTPS registry naming a plain-HTTP realm gets no credentials, and a legitimate
//! realm on another host (as Docker Hub's `auth.docker.io`) is used, logged, and refused with
//! `--no-cross-host-realm` or when `--realm-host` does not list it. The registries are local
//! servers in front of the real registry (`cnb_artifacts_conformance::provider::quirks::Proxy`): hostile
//! or token-issuing peers, not mocks of the registry.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use cnb_artifacts_conformance::provider::quirks::{Handler, Proxy, ProxyOptions, ProxyRequest, ProxyResponse, Reply, Upstream};
use cnb_artifacts_conformance::provider::seed::{list_tags, seed_app_image};

use crate::security::{Pki, Run, APP, ISSUED_TOKEN, PASSWORD};

/// Every `Authorization` header a server received, with the request path.
#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<(String, String)>>>);

impl Seen {
    fn record(&self, request: &ProxyRequest) {
        if let Some(auth) = request.header("authorization") {
            self.0.lock().unwrap().push((request.path().to_string(), auth.to_string()));
        }
    }
    fn all(&self) -> Vec<(String, String)> {
        self.0.lock().unwrap().clone()
    }
}

/// A registry that asks for a token from `realm`, and forwards what carries the issued token.
struct Challenging {
    realm: Arc<Mutex<String>>,
    seen: Seen,
}

impl Handler for Challenging {
    async fn handle(&self, request: ProxyRequest, upstream: &Upstream) -> Reply {
        self.seen.record(&request);
        if request.header("authorization") == Some(&format!("Bearer {ISSUED_TOKEN}")) {
            return Reply::Respond(upstream.forward(&request).await);
        }
        let realm = self.realm.lock().unwrap().clone();
        let challenge = format!(r#"Bearer realm="{realm}",service="s",scope="repository:{APP}:pull,push""#);
        Reply::Respond(
            ProxyResponse::oci_error(401, "UNAUTHORIZED", "token needed", serde_json::Value::Null)
                .with_header("WWW-Authenticate", &challenge),
        )
    }
}

/// A token server: issues [`ISSUED_TOKEN`] to every request.
struct TokenServer(Seen);

impl Handler for TokenServer {
    async fn handle(&self, request: ProxyRequest, _upstream: &Upstream) -> Reply {
        self.0.record(&request);
        Reply::Respond(ProxyResponse::new(200, "application/json", format!(r#"{{"token":"{ISSUED_TOKEN}","expires_in":300}}"#)))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_auth_6_an_https_registry_naming_a_plain_http_realm_gets_no_credentials() {
    let registry = require_registry!();
    let subject = seed_app_image(&registry, APP, &["1.0".to_string()]).await.unwrap();
    let pki = Pki::new();
    let seen = Seen::default();
    let realm = Arc::new(Mutex::new(String::new()));
    let options =
        ProxyOptions { bind: SocketAddr::from(([127, 0, 0, 2], 0)), tls: Some(tokio_rustls::TlsAcceptor::from(pki.server.clone())) };
    let proxy = Proxy::start(&registry.url(), Challenging { realm: realm.clone(), seen: seen.clone() }, options).await.unwrap();
    // Its own host, but plain HTTP: the credentials would cross the network in clear text.
    *realm.lock().unwrap() = format!("http://{}/token", proxy.host());
    let dir = tempfile::tempdir().unwrap();
    let ca = pki.write_ca(dir.path());
    let run = Run::publish(&proxy.host(), &subject, &["--ca-file", ca.to_str().unwrap()]).await;
    assert_ne!(run.status(), Some(0), "{}", run.described);
    let stderr = run.stderr();
    assert!(stderr.contains(&format!("credentials for {} are not sent", proxy.host())), "{}", run.described);
    assert!(stderr.contains("over plain HTTP") && stderr.contains("never from an HTTPS registry"), "{}", run.described);
    assert_eq!(seen.all(), Vec::<(String, String)>::new(), "no credential reached the registry: {}", run.described);
    assert!(!stderr.contains(PASSWORD));
}

/// A registry on 127.0.0.1 whose token realm is a token server on another port: another
/// server, so a cross-host realm (allowed over plain HTTP here only because both are loopback,
/// R-AUTH-3).
async fn cross_host() -> Option<(crate::support::Registry, Proxy, Proxy, Seen, Seen)> {
    let registry = crate::support::registry("r_auth_6_cross_host").await?;
    let token_seen = Seen::default();
    let token = Proxy::start("http://127.0.0.1:9", TokenServer(token_seen.clone()), ProxyOptions::default()).await.unwrap();
    let realm = Arc::new(Mutex::new(format!("http://{}/token", token.host())));
    let seen = Seen::default();
    let proxy = Proxy::start(&registry.url(), Challenging { realm, seen: seen.clone() }, ProxyOptions::default()).await.unwrap();
    Some((registry, proxy, token, seen, token_seen))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_auth_6_a_cross_host_realm_is_used_and_logged() {
    let Some((registry, proxy, token, _seen, token_seen)) = cross_host().await else { return };
    let subject = seed_app_image(&registry, APP, &["1.0".to_string()]).await.unwrap();
    let run = Run::publish(&proxy.host(), &subject, &[]).await;
    assert_eq!(run.status(), Some(0), "{}", run.described);
    assert!(run.stderr().contains(&format!("sends clients to the token realm on {}", token.host())), "{}", run.described);
    assert!(token_seen.all().iter().any(|(_, auth)| auth.starts_with("Basic ")), "the token server got the credentials");
    assert!(list_tags(&registry, APP).await.unwrap().contains(&"wasm".to_string()));

    let listed = Run::publish(&proxy.host(), &subject, &["--realm-host", &token.host()]).await;
    assert_eq!(listed.status(), Some(0), "{}", listed.described);
}

#[rstest::rstest]
#[case::refused(&["--no-cross-host-realm"], "--no-cross-host-realm is set")]
#[case::not_listed(&["--realm-host", "auth.example"], "not listed with --realm-host")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_auth_6_a_cross_host_realm_can_be_refused(#[case] flags: &[&str], #[case] why: &str) {
    let Some((registry, proxy, _token, _seen, token_seen)) = cross_host().await else { return };
    let subject = seed_app_image(&registry, APP, &["1.0".to_string()]).await.unwrap();
    let run = Run::publish(&proxy.host(), &subject, flags).await;
    assert_ne!(run.status(), Some(0), "{}", run.described);
    assert!(run.stderr().contains(why), "{}", run.described);
    assert_eq!(token_seen.all(), Vec::<(String, String)>::new(), "the token server got nothing: {}", run.described);
}
