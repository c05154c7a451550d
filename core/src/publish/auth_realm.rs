//! Where credentials may go (spec rule R-AUTH-6): the token realm a registry names in its
//! `WWW-Authenticate` challenge is checked before any credential leaves the process.
//!
//! oci-client 0.18 sends the registry's credentials to whatever realm the registry names
//! (the class of go-containerregistry #2193 and containerd CVE-2020-15157). Before a
//! [`RegistryTarget`](super::registry_target::RegistryTarget) with credentials makes its first
//! request, [`check_realm`] asks the registry for its challenge without credentials
//! (`GET /v2/`) and applies [`decide`]:
//!
//! - a realm over plain HTTP is refused unless the registry itself is spoken to over plain HTTP
//!   and the realm's host is one named insecure (or loopback, R-AUTH-3): credentials never go
//!   from an HTTPS registry to an HTTP realm, nor in clear text to a host nobody named;
//! - a realm on another host (or port) over HTTPS is allowed (Docker Hub sends clients to
//!   `auth.docker.io`) and logged; `--realm-host HOST` limits such realms to the hosts listed,
//!   and `--no-cross-host-realm` refuses them all.
//!
//! A registry that cannot be asked, or answers with a realm that is not a URL, gets no
//! credentials either. (A registry that names one realm to this probe and another to
//! oci-client's requests is not caught: oci-client exposes no hook on its token request. This
//! residual is recorded in docs/security.md.)

use super::client::TransportOptions;

/// Why credentials are not sent to a realm. Realm URLs are the registry's text: shown escaped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RealmError {
    #[error("the registry names the token realm `{realm}` over plain HTTP; credentials are not sent in clear text to a host not named with --insecure-registry{}", if *.from_https { " (and never from an HTTPS registry)" } else { "" })]
    PlainHttp { realm: String, from_https: bool },
    #[error("the registry names the token realm `{realm}` on another host ({host}), and {why}; credentials are not sent there")]
    CrossHostRefused { realm: String, host: String, why: &'static str },
    #[error("the registry's authentication challenge names a realm that is not an http(s) URL: `{realm}`")]
    BadRealm { realm: String },
    #[error("cannot ask the registry for its authentication challenge before sending credentials: {reason}")]
    ProbeFailed { reason: String },
}

/// What [`decide`] allows: `Some(host)` when the realm is on another host (to be logged).
pub type CrossHost = Option<String>;

/// The `realm` parameter of a `Bearer` challenge; `None` for `Basic` or no challenge.
pub fn bearer_realm(www_authenticate: &str) -> Option<String> {
    let (scheme, params) = www_authenticate.trim().split_once(char::is_whitespace)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    for part in split_params(params) {
        let (k, v) = part.split_once('=')?;
        if k.trim().eq_ignore_ascii_case("realm") {
            return Some(v.trim().trim_matches('"').to_string());
        }
    }
    None
}

/// `a="x,y",b=z` split at the commas outside quotes.
pub(crate) fn split_params(params: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut start, mut quoted) = (0, false);
    for (i, c) in params.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => {
                parts.push(&params[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&params[start..]);
    parts
}

/// The rule of R-AUTH-6 for `realm`, named by `registry` (spoken to over HTTPS unless `opts`
/// says it is insecure).
pub fn decide(registry: &str, realm: &str, opts: &TransportOptions) -> Result<CrossHost, RealmError> {
    let shown = crate::display::text(realm).to_string();
    let url = reqwest::Url::parse(realm).map_err(|_| RealmError::BadRealm { realm: shown.clone() })?;
    let Some(host) = url.host_str() else { return Err(RealmError::BadRealm { realm: shown }) };
    let authority = match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    };
    let registry_https = !opts.is_insecure(registry);
    match url.scheme() {
        "http" if registry_https || !opts.is_insecure(&authority) => {
            return Err(RealmError::PlainHttp { realm: shown, from_https: registry_https })
        }
        "http" | "https" => {}
        _ => return Err(RealmError::BadRealm { realm: shown }),
    }
    // Another port is another server: only the registry's own authority is "the same host".
    if authority.eq_ignore_ascii_case(registry) {
        return Ok(None);
    }
    if opts.deny_cross_host_realm {
        return Err(RealmError::CrossHostRefused { realm: shown, host: authority, why: "--no-cross-host-realm is set" });
    }
    if !opts.realm_hosts.is_empty() && !opts.realm_hosts.iter().any(|h| h.eq_ignore_ascii_case(&authority) || h.eq_ignore_ascii_case(host))
    {
        return Err(RealmError::CrossHostRefused { realm: shown, host: authority, why: "that host is not listed with --realm-host" });
    }
    Ok(Some(authority))
}

/// Asks `registry` for its challenge without credentials and applies [`decide`] (R-AUTH-6).
pub async fn check_realm(registry: &str, opts: &TransportOptions) -> Result<(), RealmError> {
    let failed = |reason: String| RealmError::ProbeFailed { reason };
    let client = super::client::http_client(opts).map_err(|e| failed(e.to_string()))?;
    let url = format!("{}/v2/", super::client::registry_base_url(opts, registry));
    let response = client
        .get(&url)
        .timeout(opts.connect_timeout + opts.idle_timeout)
        .send()
        .await
        .map_err(|e| failed(format!("GET {url}: {}", super::error::error_chain(&e))))?;
    let Some(challenge) = response.headers().get(reqwest::header::WWW_AUTHENTICATE) else { return Ok(()) };
    let challenge = String::from_utf8_lossy(challenge.as_bytes()).into_owned();
    let Some(realm) = bearer_realm(&challenge) else { return Ok(()) };
    if let Some(host) = decide(registry, &realm, opts)? {
        tracing::info!("{registry} sends clients to the token realm on {host}; credentials for {registry} will go there (refuse with --no-cross-host-realm)");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    fn opts(insecure: &[&str], realm_hosts: &[&str], deny: bool) -> TransportOptions {
        TransportOptions {
            insecure_registries: insecure.iter().map(|s| s.to_string()).collect(),
            realm_hosts: realm_hosts.iter().map(|s| s.to_string()).collect(),
            deny_cross_host_realm: deny,
            ..TransportOptions::default()
        }
    }

    #[test]
    fn the_realm_of_a_bearer_challenge() {
        let c = r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:a/b:pull,push""#;
        assert_eq!(bearer_realm(c).as_deref(), Some("https://auth.docker.io/token"));
        assert_eq!(bearer_realm(r#"Basic realm="Registry""#), None);
    }

    #[rstest]
    #[case::same_host("registry.example", "https://registry.example/token", &[], &[], false, Ok(None))]
    #[case::docker_hub("index.docker.io", "https://auth.docker.io/token", &[], &[], false, Ok(Some("auth.docker.io".into())))]
    #[case::allowlisted("index.docker.io", "https://auth.docker.io/token", &[], &["auth.docker.io"], false, Ok(Some("auth.docker.io".into())))]
    #[case::insecure_same("reg.internal:5000", "http://reg.internal:5000/token", &["reg.internal:5000"], &[], false, Ok(None))]
    #[case::loopback("127.0.0.1:5000", "http://127.0.0.1:5001/token", &[], &[], false, Ok(Some("127.0.0.1:5001".into())))]
    fn r_auth_6_allowed_realms(
        #[case] registry: &str,
        #[case] realm: &str,
        #[case] insecure: &[&str],
        #[case] hosts: &[&str],
        #[case] deny: bool,
        #[case] expected: Result<CrossHost, RealmError>,
    ) {
        assert_eq!(decide(registry, realm, &opts(insecure, hosts, deny)), expected);
    }

    #[rstest]
    #[case::https_to_http("registry.example", "http://registry.example/token", &[], &[], false)]
    #[case::http_to_unnamed_http("127.0.0.1:5000", "http://evil.example/token", &[], &[], false)]
    #[case::denied("index.docker.io", "https://auth.docker.io/token", &[], &[], true)]
    #[case::not_listed("registry.example", "https://evil.example/token", &[], &["auth.example"], false)]
    #[case::not_a_url("registry.example", "/token", &[], &[], false)]
    #[case::file_url("registry.example", "file:///etc/passwd", &[], &[], false)]
    fn r_auth_6_refused_realms(
        #[case] registry: &str,
        #[case] realm: &str,
        #[case] insecure: &[&str],
        #[case] hosts: &[&str],
        #[case] deny: bool,
    ) {
        assert!(decide(registry, realm, &opts(insecure, hosts, deny)).is_err());
    }
}
