//! The token service behind the token-auth registry: Distribution's `auth: token` scheme
//! (the Docker registry token protocol), served on a free port of 127.0.0.1 for one run.
//!
//! [`TokenService::start`] makes an ECDSA P-256 key and a self-signed certificate for it (the
//! registry trusts that certificate through `rootcertbundle`), then answers
//! `GET /token?service=…&scope=…` for the run's [`Account`]: with its Basic credentials, a JWT
//! (`ES256`, the certificate in `x5c`) granting every action asked for in every scope; without
//! them, `401`. Every token it issued is kept ([`TokenService::issued`]): a token is a
//! credential too, and the runner looks for it in the implementation's output (R-AUTH-2).
//! Dropping the service stops it.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};

use super::Account;

/// The `service` the registry names in its challenges and expects in `aud`.
pub const SERVICE: &str = "cnb-conformance-registry";
/// The `iss` of every token.
pub const ISSUER: &str = "cnb-conformance-token-service";
/// How long a token is valid, in seconds.
const LIFETIME: u64 = 900;

/// Why the token service could not start.
#[derive(Debug, thiserror::Error)]
pub enum TokenServiceError {
    #[error("cannot make the token signing key or certificate: {0}")]
    Key(String),
    #[error("cannot listen on 127.0.0.1: {0}")]
    Bind(std::io::Error),
}

/// A running token service; dropping it stops it.
#[derive(Debug)]
pub struct TokenService {
    /// `http://127.0.0.1:port/token`, the `realm` of the registry's challenges.
    pub realm: String,
    /// The PEM certificate the registry trusts (`rootcertbundle`).
    pub certificate_pem: String,
    issued: Arc<Mutex<Vec<String>>>,
    task: JoinHandle<()>,
}

/// What every request needs.
struct Signer {
    key: EcdsaKeyPair,
    rng: SystemRandom,
    /// The certificate, DER, standard base64 (the `x5c` header member).
    x5c: String,
    account: Account,
    issued: Arc<Mutex<Vec<String>>>,
}

impl TokenService {
    /// Makes a key and certificate and starts answering token requests for `account`.
    pub async fn start(account: &Account) -> Result<TokenService, TokenServiceError> {
        let key_err = |e: &dyn std::fmt::Display| TokenServiceError::Key(e.to_string());
        let key_pair = rcgen::KeyPair::generate().map_err(|e| key_err(&e))?;
        let cert = rcgen::CertificateParams::new(vec![ISSUER.to_string()])
            .map_err(|e| key_err(&e))?
            .self_signed(&key_pair)
            .map_err(|e| key_err(&e))?;
        let rng = SystemRandom::new();
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &key_pair.serialize_der(), &rng).map_err(|e| key_err(&e))?;
        let issued = Arc::new(Mutex::new(Vec::new()));
        let signer = Arc::new(Signer {
            key,
            rng,
            x5c: base64::engine::general_purpose::STANDARD.encode(cert.der()),
            account: account.clone(),
            issued: issued.clone(),
        });
        let listener = TcpListener::bind("127.0.0.1:0").await.map_err(TokenServiceError::Bind)?;
        let addr = listener.local_addr().map_err(TokenServiceError::Bind)?;
        let task = tokio::spawn(async move {
            // Owned by this task: aborting it drops the set, which aborts every connection.
            let mut connections = JoinSet::new();
            loop {
                tokio::select! {
                    accepted = listener.accept() => {
                        let Ok((tcp, _)) = accepted else { continue };
                        let signer = signer.clone();
                        connections.spawn(async move {
                            let service = hyper::service::service_fn(move |request| {
                                let signer = signer.clone();
                                async move { Ok::<_, Infallible>(signer.respond(&request)) }
                            });
                            let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(tcp), service).await;
                        });
                    }
                    Some(_) = connections.join_next(), if !connections.is_empty() => {}
                }
            }
        });
        Ok(TokenService { realm: format!("http://{addr}/token"), certificate_pem: cert.pem(), issued, task })
    }

    /// Every token issued so far.
    pub fn issued(&self) -> Vec<String> {
        self.issued.lock().map(|t| t.clone()).unwrap_or_default()
    }
}

impl Drop for TokenService {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Signer {
    fn respond<B>(&self, request: &Request<B>) -> Response<Full<Bytes>> {
        if request.uri().path() != "/token" {
            return answer(StatusCode::NOT_FOUND, "{\"errors\":[{\"code\":\"NOT_FOUND\"}]}".to_string());
        }
        let credentials = request.headers().get(hyper::header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(basic_credentials);
        if credentials.as_ref().is_none_or(|(user, password)| *user != self.account.user || *password != self.account.password) {
            return answer(
                StatusCode::UNAUTHORIZED,
                "{\"errors\":[{\"code\":\"UNAUTHORIZED\",\"message\":\"bad credentials\"}]}".to_string(),
            );
        }
        let scopes = query_values(request.uri().query().unwrap_or_default(), "scope");
        match self.token(&scopes) {
            Some(token) => {
                if let Ok(mut issued) = self.issued.lock() {
                    issued.push(token.clone());
                }
                let body = serde_json::json!({ "token": token, "access_token": token, "expires_in": LIFETIME });
                answer(StatusCode::OK, body.to_string())
            }
            None => answer(
                StatusCode::INTERNAL_SERVER_ERROR,
                "{\"errors\":[{\"code\":\"UNKNOWN\",\"message\":\"signing failed\"}]}".to_string(),
            ),
        }
    }

    /// A signed JWT for the account granting every action of `scopes` (`type:name:actions`).
    fn token(&self, scopes: &[String]) -> Option<String> {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).ok()?.as_secs();
        let access: Vec<serde_json::Value> = scopes
            .iter()
            .flat_map(|s| s.split(' '))
            .filter_map(|scope| {
                let (kind, rest) = scope.split_once(':')?;
                let (name, actions) = rest.rsplit_once(':')?;
                Some(serde_json::json!({ "type": kind, "name": name, "actions": actions.split(',').collect::<Vec<_>>() }))
            })
            .collect();
        let header = serde_json::json!({ "typ": "JWT", "alg": "ES256", "x5c": [self.x5c] });
        let claims = serde_json::json!({
            "iss": ISSUER, "sub": self.account.user, "aud": SERVICE, "exp": now + LIFETIME, "nbf": now.saturating_sub(60),
            "iat": now, "jti": format!("{:016x}", fastrand::u64(..)), "access": access,
        });
        let url = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let input = format!("{}.{}", url.encode(header.to_string()), url.encode(claims.to_string()));
        let signature = self.key.sign(&self.rng, input.as_bytes()).ok()?;
        Some(format!("{input}.{}", url.encode(signature.as_ref())))
    }
}

fn answer(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static("application/json"));
    response
}

/// User and password of a `Basic` Authorization header.
fn basic_credentials(header: &str) -> Option<(String, String)> {
    let (scheme, encoded) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let text = String::from_utf8(base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

/// The percent-decoded values of every `name=` parameter of a query string.
fn query_values(query: &str, name: &str) -> Vec<String> {
    query.split('&').filter_map(|pair| pair.split_once('=')).filter(|(k, _)| *k == name).map(|(_, v)| percent_decode(v)).collect()
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match std::str::from_utf8(&bytes[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(byte) => {
                        out.push(byte);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            byte => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_are_percent_decoded() {
        let query = "service=x&scope=repository%3Ans%2Fapp%3Apull%2Cpush&scope=registry:catalog:*";
        assert_eq!(query_values(query, "scope"), ["repository:ns/app:pull,push", "registry:catalog:*"]);
    }

    #[test]
    fn basic_headers_give_user_and_password() {
        assert_eq!(basic_credentials("Basic dTpwOnc="), Some(("u".to_string(), "p:w".to_string())));
        assert_eq!(basic_credentials("Bearer x"), None);
    }

    #[tokio::test]
    async fn tokens_are_signed_jwts_granting_the_scopes_asked_for() {
        let account = Account::generate();
        let service = TokenService::start(&account).await.expect("starts");
        let http = reqwest::Client::new();
        let url = format!("{}?service={SERVICE}&scope=repository%3Ans%2Fapp%3Apull%2Cpush", service.realm);
        let refused = http.get(&url).basic_auth(&account.user, Some("wrong")).send().await.expect("answers");
        assert_eq!(refused.status().as_u16(), 401);
        let body: serde_json::Value =
            http.get(&url).basic_auth(&account.user, Some(&account.password)).send().await.expect("answers").json().await.expect("JSON");
        let token = body["token"].as_str().expect("a token");
        assert_eq!(service.issued(), [token]);
        let claims = token.split('.').nth(1).expect("three parts");
        let claims: serde_json::Value =
            serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(claims).expect("base64url")).expect("JSON");
        assert_eq!(claims["access"][0]["name"], "ns/app");
        assert_eq!(claims["access"][0]["actions"], serde_json::json!(["pull", "push"]));
        assert_eq!(claims["aud"], SERVICE);
    }
}
