//! The bearer-token exchange of the registry protocol (Docker's token authentication, used by
//! Distribution, Docker Hub, GHCR, Harbor…; spec rules R-AUTH-6, R-AUTH-7): what a
//! `WWW-Authenticate` challenge asks for, the token request it leads to, and whether the token
//! endpoint's answer holds a token that can be sent at all. The requests are made by
//! [`crate::publish::registry_http`], which checks the realm first (R-AUTH-6).

use crate::publish::error::RegistryFailure;

/// What a `401` answer's `WWW-Authenticate` header asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    /// `Basic …`, another scheme, or no header: the credentials as they are.
    Basic,
    /// `Bearer realm=…,service=…,scope=…`: a token from the realm.
    Bearer { realm: String, service: Option<String>, scope: Option<String> },
}

/// The challenge in `header` (`None`: no `WWW-Authenticate` header).
pub fn parse_challenge(header: Option<&str>) -> Challenge {
    let Some((scheme, params)) = header.map(str::trim).and_then(|h| h.split_once(char::is_whitespace)) else {
        return Challenge::Basic;
    };
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Challenge::Basic;
    }
    let mut found = (None, None, None);
    for part in crate::publish::auth_realm::split_params(params) {
        let Some((k, v)) = part.split_once('=') else { continue };
        let v = Some(v.trim().trim_matches('"').to_string());
        match k.trim().to_ascii_lowercase().as_str() {
            "realm" => found.0 = v,
            "service" => found.1 = v,
            "scope" => found.2 = v,
            _ => {}
        }
    }
    match found {
        (Some(realm), service, scope) => Challenge::Bearer { realm, service, scope },
        (None, ..) => Challenge::Basic,
    }
}

/// The token request's URL: the realm with `service` and the push and pull `scope` of
/// `repository` (plus the challenge's own scope when it names another).
pub fn token_url(realm: &str, service: Option<&str>, scope: Option<&str>, repository: &str) -> Result<reqwest::Url, TokenError> {
    let mut url =
        reqwest::Url::parse(realm).map_err(|_| TokenError::Unusable { realm: shown(realm), why: "the realm is not a URL".to_string() })?;
    {
        let mut query = url.query_pairs_mut();
        if let Some(service) = service {
            query.append_pair("service", service);
        }
        let ours = format!("repository:{repository}:pull,push");
        query.append_pair("scope", &ours);
        if let Some(scope) = scope.filter(|s| *s != ours) {
            query.append_pair("scope", scope);
        }
    }
    Ok(url)
}

/// Why no token came from a token endpoint. The realm is the registry's text: shown escaped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token endpoint {realm} refused to issue a token: {failure}")]
    Refused { realm: String, failure: RegistryFailure },
    #[error("the token endpoint {realm} answered with no usable token: {why}")]
    Unusable { realm: String, why: String },
    /// R-AUTH-6 refused the realm: no credential was sent.
    #[error("credentials are not sent: {source}")]
    Withheld { source: crate::publish::auth_realm::RealmError },
}

fn shown(realm: &str) -> String {
    crate::display::text(realm).to_string()
}

/// The token in a token endpoint's `200` answer (`token`, or OAuth's `access_token`), checked to
/// be something an `Authorization` header can carry.
pub fn usable_token(realm: &str, body: &[u8]) -> Result<String, TokenError> {
    #[derive(serde::Deserialize)]
    struct Answer {
        token: Option<String>,
        access_token: Option<String>,
    }
    let unusable = |why: String| TokenError::Unusable { realm: shown(realm), why };
    let answer: Answer =
        serde_json::from_slice(body).map_err(|e| unusable(format!("the answer is not a JSON object with a `token` ({e})")))?;
    let token = answer.token.filter(|t| !t.is_empty()).or(answer.access_token.filter(|t| !t.is_empty()));
    let Some(token) = token else {
        return Err(unusable("the answer has no `token` or `access_token`".to_string()));
    };
    // RFC 6750's b64token is visible ASCII; a header may carry other bytes, but no registry's
    // token holds them, and a control or non-ASCII character is a broken or hostile answer.
    if !token.chars().all(|c| c.is_ascii_graphic()) {
        return Err(unusable(format!(
            "the token ({} characters) holds characters an HTTP header cannot carry (control characters or non-ASCII text)",
            token.chars().count()
        )));
    }
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r_auth_7_challenges_are_read() {
        let c = r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull""#;
        assert_eq!(
            parse_challenge(Some(c)),
            Challenge::Bearer {
                realm: "https://auth.example/token".into(),
                service: Some("registry.example".into()),
                scope: Some("repository:a/b:pull".into())
            }
        );
        assert_eq!(parse_challenge(Some(r#"Basic realm="Registry""#)), Challenge::Basic);
        assert_eq!(parse_challenge(None), Challenge::Basic);
        assert_eq!(parse_challenge(Some("Bearer service=x")), Challenge::Basic);
    }

    #[test]
    fn r_auth_7_the_token_request_asks_for_push_and_pull() {
        let url = token_url("https://auth.example/token", Some("reg"), Some("repository:a/b:pull"), "a/b").unwrap();
        assert_eq!(
            url.as_str(),
            "https://auth.example/token?service=reg&scope=repository%3Aa%2Fb%3Apull%2Cpush&scope=repository%3Aa%2Fb%3Apull"
        );
    }

    #[test]
    fn r_auth_7_an_unusable_token_is_named_as_such() {
        let realm = "https://auth.example/token";
        assert_eq!(usable_token(realm, br#"{"token":"abc.def"}"#).unwrap(), "abc.def");
        assert_eq!(usable_token(realm, br#"{"token":"","access_token":"xyz"}"#).unwrap(), "xyz");
        for (body, says) in [
            (&br#"{"token":"abc\ndef"}"#[..], "HTTP header cannot carry"),
            (br#"{"token":"caf\u00e9"}"#, "HTTP header cannot carry"),
            (br#"{"nothing":1}"#, "no `token`"),
            (b"<html>sign in</html>", "not a JSON object"),
        ] {
            let err = usable_token(realm, body).unwrap_err().to_string();
            assert!(err.contains("the token endpoint https://auth.example/token answered with no usable token"), "{err}");
            assert!(err.contains(says), "{err}");
            assert!(!err.contains("abc"), "the token is not shown: {err}");
        }
    }
}
