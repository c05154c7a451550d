//! What each registry quirk profile changes in the answers of the registry behind the proxy.
//! Every profile reproduces one way real registries depart from CNCF Distribution (see
//! [`super::QuirkProfile`] for the list and which registries behave so); everything a profile
//! does not concern is forwarded unchanged. Each change made is counted, so a test can tell a
//! quirk that never fired from one the publisher coped with.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use hyper::header::{HeaderMap, HeaderValue, ACCEPT, IF_MATCH};
use hyper::Method;
use serde_json::{json, Value};

use super::proxy::{Handler, ProxyRequest, ProxyResponse, Reply, Upstream};
use super::{Hits, QuirkProfile, RequestLog, MANIFEST_413_LIMIT};
use cnb_artifacts_core::media_types::{DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_INDEX, OCI_MANIFEST};

/// Config media types an allowlisting registry accepts: those of container images.
const ALLOWED_CONFIG_TYPES: [&str; 2] = ["application/vnd.oci.image.config.v1+json", "application/vnd.docker.container.image.v1+json"];

/// The page a registry behind a login portal serves for an API path it does not know.
const LOGIN_PAGE: &str = "<!DOCTYPE html>\n<html><head><title>Sign in</title></head>\
<body><form action=\"/login\" method=\"post\"><input name=\"user\"></form></body></html>\n";

/// What nginx answers when a request body exceeds `client_max_body_size`.
const NGINX_413: &str = "<html>\r\n<head><title>413 Request Entity Too Large</title></head>\r\n\
<body>\r\n<center><h1>413 Request Entity Too Large</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n";

/// A registry API route this module cares about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route<'a> {
    /// `/v2/<name>/manifests/<reference>`
    Manifest {
        name: &'a str,
        reference: &'a str,
    },
    /// `/v2/<name>/referrers/<digest>`
    Referrers {
        name: &'a str,
    },
    Other,
}

impl<'a> Route<'a> {
    fn of(path: &'a str) -> Route<'a> {
        let Some(rest) = path.strip_prefix("/v2/") else {
            return Route::Other;
        };
        let split = |marker: &str| rest.rsplit_once(marker).filter(|(name, last)| !name.is_empty() && !last.contains('/'));
        if let Some((name, reference)) = split("/manifests/") {
            return Route::Manifest { name, reference };
        }
        if let Some((name, _)) = split("/referrers/") {
            return Route::Referrers { name };
        }
        Route::Other
    }

    /// The repository the request concerns, when it names one.
    fn repository(self) -> Option<&'a str> {
        match self {
            Route::Manifest { name, .. } | Route::Referrers { name } => Some(name),
            Route::Other => None,
        }
    }
}

/// The handler of one profile.
pub(super) struct Quirks {
    pub(super) profile: QuirkProfile,
    pub(super) hits: Arc<Hits>,
    log: Arc<RequestLog>,
    /// `conditional-412` refuses only the first conditional write.
    refused_once: AtomicBool,
}

impl Quirks {
    pub(super) fn new(profile: QuirkProfile, hits: Arc<Hits>, log: Arc<RequestLog>) -> Quirks {
        Quirks { profile, hits, log, refused_once: AtomicBool::new(false) }
    }

    /// The quirky answer to `request`, or `None` to forward it unchanged.
    async fn quirk(&self, request: &ProxyRequest, upstream: &Upstream) -> Option<ProxyResponse> {
        let route = Route::of(request.path());
        let put = request.method == Method::PUT;
        let read = request.method == Method::GET || request.method == Method::HEAD;
        match (self.profile, route) {
            (QuirkProfile::AllowlistMediaTypes, Route::Manifest { .. }) if put => {
                let unknown = unknown_media_type(&request.body)?;
                Some(ProxyResponse::oci_error(
                    400,
                    "MANIFEST_INVALID",
                    "manifest invalid",
                    json!({ "reason": format!("unknown media type {unknown}") }),
                ))
            }
            (QuirkProfile::ReferrersHtml, Route::Referrers { .. }) if read => {
                Some(ProxyResponse::new(200, "text/html; charset=utf-8", LOGIN_PAGE))
            }
            (QuirkProfile::Sha256TagIsSubject, Route::Manifest { name, reference }) if read => {
                let hex = reference.strip_prefix("sha256-").filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))?;
                let target = format!("/v2/{name}/manifests/sha256:{hex}");
                Some(upstream.send(&request.method, &target, &request.headers, Bytes::new()).await)
            }
            (QuirkProfile::ImmutableTags, Route::Manifest { name, reference }) if put && !reference.contains(':') => {
                let mut headers = HeaderMap::new();
                let accept = [OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST].join(", ");
                headers.insert(ACCEPT, HeaderValue::from_str(&accept).ok()?);
                let target = format!("/v2/{name}/manifests/{reference}");
                let existing = upstream.send(&Method::HEAD, &target, &headers, Bytes::new()).await;
                existing.is_success().then(|| {
                    ProxyResponse::oci_error(
                        400,
                        "TAG_INVALID",
                        "manifest tag is immutable",
                        json!({ "tag": reference, "reason": "the tag already exists and tags of this repository are immutable" }),
                    )
                })
            }
            (QuirkProfile::Conditional412, Route::Manifest { reference, .. })
                if put && reference.starts_with("sha256-") && request.headers.contains_key(IF_MATCH) =>
            {
                let first = !self.refused_once.swap(true, Ordering::SeqCst);
                first.then(|| ProxyResponse::new(412, "text/plain", "precondition failed: the manifest changed since it was read\n"))
            }
            (QuirkProfile::Manifest413, Route::Manifest { .. }) if put && request.body.len() > MANIFEST_413_LIMIT => {
                Some(ProxyResponse::new(413, "text/html", NGINX_413))
            }
            (QuirkProfile::OciSubjectNoReferrers, Route::Referrers { .. }) => {
                Some(ProxyResponse::new(404, "text/plain; charset=utf-8", "404 page not found\n"))
            }
            (QuirkProfile::OciSubjectNoReferrers, Route::Manifest { .. }) if put => {
                let subject = subject_digest(&request.body)?;
                let answer = upstream.forward(request).await;
                Some(if answer.is_success() { answer.with_header("OCI-Subject", &subject) } else { answer })
            }
            (QuirkProfile::Wan(wan), _) => Some(wan.forward(request, upstream).await),
            _ => None,
        }
    }
}

impl Handler for Quirks {
    async fn handle(&self, request: ProxyRequest, upstream: &Upstream) -> Reply {
        self.log.record(&request);
        match self.quirk(&request, upstream).await {
            Some(answer) => {
                self.hits.record(Route::of(request.path()).repository());
                tracing::debug!("quirk {} answered {} {} with {}", self.profile, request.method, request.target, answer.status);
                Reply::Respond(answer)
            }
            None => Reply::Respond(upstream.forward(&request).await),
        }
    }
}

/// The first media type of a manifest an allowlisting registry does not know: a config media
/// type other than a container image's, or any `artifactType`. Indexes pass.
fn unknown_media_type(body: &[u8]) -> Option<String> {
    let manifest: Value = serde_json::from_slice(body).ok()?;
    let config = manifest.get("config")?.get("mediaType").and_then(Value::as_str).unwrap_or_default();
    if !ALLOWED_CONFIG_TYPES.contains(&config) {
        return Some(config.to_string());
    }
    manifest.get("artifactType").and_then(Value::as_str).map(str::to_string)
}

/// The `subject.digest` of a manifest, when it has one.
fn subject_digest(body: &[u8]) -> Option<String> {
    let manifest: Value = serde_json::from_slice(body).ok()?;
    manifest.get("subject")?.get("digest")?.as_str().map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("/v2/team/app/manifests/1.0", Route::Manifest { name: "team/app", reference: "1.0" })]
    #[case("/v2/a/manifests/sha256-ab", Route::Manifest { name: "a", reference: "sha256-ab" })]
    #[case("/v2/team/app/referrers/sha256:ab", Route::Referrers { name: "team/app" })]
    #[case("/v2/team/app/blobs/sha256:ab", Route::Other)]
    #[case("/v2/manifests/x", Route::Other)]
    #[case("/v2/", Route::Other)]
    #[case("/token", Route::Other)]
    fn routes_are_recognised(#[case] path: &str, #[case] expected: Route<'static>) {
        assert_eq!(Route::of(path), expected);
    }

    #[rstest]
    #[case(r#"{"config":{"mediaType":"application/vnd.oci.empty.v1+json"}}"#, Some("application/vnd.oci.empty.v1+json"))]
    #[case(r#"{"config":{"mediaType":"application/vnd.oci.image.config.v1+json"},"artifactType":"x/y"}"#, Some("x/y"))]
    #[case(r#"{"config":{"mediaType":"application/vnd.oci.image.config.v1+json"}}"#, None)]
    #[case(r#"{"manifests":[]}"#, None)]
    #[case("not json", None)]
    fn allowlist_names_the_unknown_media_type(#[case] body: &str, #[case] unknown: Option<&str>) {
        assert_eq!(unknown_media_type(body.as_bytes()).as_deref(), unknown);
    }
}
