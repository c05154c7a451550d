//! A handler that gives Distribution 2.8 (which has no referrers API) the OCI 1.1 referrers
//! API: every manifest pushed through the proxy with a `subject` is remembered, and
//! `GET /v2/<name>/referrers/<digest>` answers an OCI image index of the remembered referrers
//! of that digest in that repository (empty when there are none), with `artifactType` and
//! `annotations` copied from each manifest as the distribution spec says. Everything else is
//! forwarded. Tests use it to exercise the referrers-API path of publishers and consumers
//! against a real registry. With a page size, a listing comes in pages linked by
//! `Link: <…?page=N>; rel="next"`, as the distribution spec allows.

use std::collections::BTreeMap;
use std::sync::Mutex;

use hyper::Method;
use serde_json::{json, Value};

use super::proxy::{Handler, ProxyRequest, ProxyResponse, Reply, Upstream};
use cnb_artifacts_core::media_types::{OCI_INDEX, OCI_MANIFEST};
use cnb_artifacts_core::reference::Digest;

/// The referrers API in front of a registry without one.
#[derive(Debug, Default)]
pub struct ReferrersApi {
    /// (repository, subject digest) → index entries, in push order.
    referrers: Mutex<BTreeMap<(String, String), Vec<Value>>>,
    /// Entries per page; `None` lists everything in one answer.
    page_size: Option<usize>,
}

impl ReferrersApi {
    /// Listings in pages of `size` entries (at least 1).
    pub fn paginated(size: usize) -> ReferrersApi {
        ReferrersApi { page_size: Some(size.max(1)), ..ReferrersApi::default() }
    }

    /// The answer to a listing request: page `?page=N` (0 when absent) of `manifests`, with a
    /// `Link` to the next page when there is one.
    fn page(&self, path: &str, query: Option<&str>, manifests: Vec<Value>) -> ProxyResponse {
        let page: usize = query.and_then(|q| q.strip_prefix("page=")).and_then(|n| n.parse().ok()).unwrap_or(0);
        let size = self.page_size.unwrap_or(usize::MAX);
        let shown: Vec<Value> = manifests.iter().skip(page.saturating_mul(size)).take(size).cloned().collect();
        let index = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": shown});
        let response = ProxyResponse::new(200, OCI_INDEX, serde_json::to_vec(&index).unwrap_or_default());
        if (page + 1).saturating_mul(size) < manifests.len() {
            response.with_header("link", &format!("<{path}?page={}>; rel=\"next\"", page + 1))
        } else {
            response
        }
    }

    /// The descriptor of a manifest with a subject: (subject digest, index entry).
    fn entry(body: &[u8], content_type: Option<&str>) -> Option<(String, Value)> {
        let manifest: Value = serde_json::from_slice(body).ok()?;
        let subject = manifest.get("subject")?.get("digest")?.as_str()?.to_string();
        let media_type = manifest.get("mediaType").and_then(Value::as_str).or(content_type).unwrap_or(OCI_MANIFEST);
        let artifact_type = manifest
            .get("artifactType")
            .or_else(|| manifest.get("config").and_then(|c| c.get("mediaType")))
            .cloned()
            .unwrap_or(Value::Null);
        let mut entry = json!({"mediaType": media_type, "digest": Digest::of(body).to_string(), "size": body.len()});
        if !artifact_type.is_null() {
            entry["artifactType"] = artifact_type;
        }
        if let Some(annotations) = manifest.get("annotations") {
            entry["annotations"] = annotations.clone();
        }
        Some((subject, entry))
    }
}

impl Handler for ReferrersApi {
    async fn handle(&self, request: ProxyRequest, upstream: &Upstream) -> Reply {
        let path = request.path().to_string();
        let Some(rest) = path.strip_prefix("/v2/") else {
            return Reply::Respond(upstream.forward(&request).await);
        };
        if let (Some((name, digest)), true) = (rest.rsplit_once("/referrers/"), request.method == Method::GET) {
            let key = (name.to_string(), digest.to_string());
            let manifests = self.referrers.lock().map(|r| r.get(&key).cloned().unwrap_or_default()).unwrap_or_default();
            return Reply::Respond(self.page(&path, request.target.split_once('?').map(|(_, q)| q), manifests));
        }
        let answer = upstream.forward(&request).await;
        if let (Some((name, _)), true) = (rest.rsplit_once("/manifests/"), request.method == Method::PUT && answer.is_success()) {
            if let Some((subject, entry)) = Self::entry(&request.body, request.header("content-type")) {
                if let Ok(mut referrers) = self.referrers.lock() {
                    let list = referrers.entry((name.to_string(), subject)).or_default();
                    if !list.iter().any(|e| e["digest"] == entry["digest"]) {
                        list.push(entry);
                    }
                }
            }
        }
        Reply::Respond(answer)
    }
}
