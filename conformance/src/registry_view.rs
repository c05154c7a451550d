//! The runner's own view of the registry, over the distribution API with plain HTTP requests:
//! the catalog, tag lists, manifests by tag or digest, blob existence, the small pushes
//! [`super::setup`] needs, and the deletes of [`super::cleanup`]. [`RegistryView::snapshot`] records every tag of a case namespace
//! with the exact manifest bytes it points at, before and after the implementation runs.
//!
//! Reads are anonymous: the registries the runner starts allow them. An external registry
//! that refuses `/v2/_catalog` is read through the repositories the case names instead.

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::header::{ACCEPT, CONTENT_TYPE, LINK, LOCATION};
use reqwest::StatusCode;

use cnb_artifacts_core::media_types::{DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_INDEX, OCI_MANIFEST};
use cnb_artifacts_core::reference::Digest;

/// A failed request to the registry: the runner's or the registry's fault, never the
/// implementation's.
#[derive(Debug, thiserror::Error)]
pub enum ViewError {
    #[error("cannot build an HTTP client: {0}")]
    Client(reqwest::Error),
    #[error("{method} {url} failed: {source}")]
    Request { method: &'static str, url: String, source: reqwest::Error },
    #[error("{method} {url} answered {status}: {body}")]
    Status { method: &'static str, url: String, status: u16, body: String },
    #[error("{url} answered with a body that is not the expected JSON: {reason}")]
    Body { url: String, reason: String },
}

pub use crate::provider::seed::ServedManifest;

/// Every tag under a namespace and the manifest it points at: `repository → tag → manifest`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub repos: BTreeMap<String, BTreeMap<String, ServedManifest>>,
}

impl Snapshot {
    pub fn get(&self, repo: &str, tag: &str) -> Option<&ServedManifest> {
        self.repos.get(repo).and_then(|tags| tags.get(tag))
    }

    /// `repo:tag → digest`, for reports.
    pub fn digests(&self) -> BTreeMap<String, String> {
        self.repos.iter().flat_map(|(r, tags)| tags.iter().map(move |(t, m)| (format!("{r}:{t}"), m.digest.to_string()))).collect()
    }
}

/// Plain HTTP access to one registry.
#[derive(Debug, Clone)]
pub struct RegistryView {
    http: reqwest::Client,
    base: String,
}

const ACCEPT_MANIFESTS: [&str; 4] = [OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST];

impl RegistryView {
    /// A view of `host` (`host:port`), over plain HTTP when `insecure`.
    pub fn new(host: &str, insecure: bool) -> Result<RegistryView, ViewError> {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().map_err(ViewError::Client)?;
        let scheme = if insecure { "http" } else { "https" };
        Ok(RegistryView { http, base: format!("{scheme}://{host}") })
    }

    async fn send(&self, method: &'static str, url: &str, req: reqwest::RequestBuilder) -> Result<reqwest::Response, ViewError> {
        req.send().await.map_err(|source| ViewError::Request { method, url: url.to_string(), source })
    }

    async fn status_error(method: &'static str, url: &str, answer: reqwest::Response) -> ViewError {
        let status = answer.status().as_u16();
        let body: String = answer.text().await.unwrap_or_default().chars().take(400).collect();
        ViewError::Status { method, url: url.to_string(), status, body }
    }

    /// A paginated list (`/v2/_catalog` or `/tags/list`): the strings under `key` across pages.
    /// `Ok(None)` on 404.
    async fn paged(&self, first: String, key: &str) -> Result<Option<Vec<String>>, ViewError> {
        let mut out = Vec::new();
        let mut url = first;
        loop {
            let answer = self.send("GET", &url, self.http.get(&url)).await?;
            if answer.status() == StatusCode::NOT_FOUND {
                return Ok(None);
            }
            if !answer.status().is_success() {
                return Err(Self::status_error("GET", &url, answer).await);
            }
            let next = answer.headers().get(LINK).and_then(|v| v.to_str().ok()).and_then(next_link);
            let body: serde_json::Value = answer.json().await.map_err(|e| ViewError::Body { url: url.clone(), reason: e.to_string() })?;
            if let Some(items) = body.get(key).and_then(|v| v.as_array()) {
                out.extend(items.iter().filter_map(|v| v.as_str().map(str::to_string)));
            }
            match next {
                Some(path) if path.starts_with("http") => url = path,
                Some(path) => url = format!("{}{path}", self.base),
                None => return Ok(Some(out)),
            }
        }
    }

    /// Every repository of the registry (`/v2/_catalog`).
    pub async fn catalog(&self) -> Result<Vec<String>, ViewError> {
        let url = format!("{}/v2/_catalog?n=1000", self.base);
        Ok(self.paged(url, "repositories").await?.unwrap_or_default())
    }

    /// The tags of `repo`; none when the repository does not exist.
    pub async fn tags(&self, repo: &str) -> Result<Vec<String>, ViewError> {
        let url = format!("{}/v2/{repo}/tags/list", self.base);
        let mut tags = self.paged(url, "tags").await?.unwrap_or_default();
        tags.sort();
        Ok(tags)
    }

    /// The manifest `repo:reference` (tag or digest); `None` when there is none.
    pub async fn manifest(&self, repo: &str, reference: &str) -> Result<Option<ServedManifest>, ViewError> {
        let url = format!("{}/v2/{repo}/manifests/{reference}", self.base);
        self.get_optional(url, &ACCEPT_MANIFESTS.join(", ")).await
    }

    /// `GET /v2/<repo>/referrers/<digest>`: the listing when the registry serves the referrers
    /// API (a 2xx OCI image index), `None` when it answers 404 (no API, R-REF-1).
    pub async fn referrers(&self, repo: &str, digest: &Digest) -> Result<Option<ServedManifest>, ViewError> {
        let url = format!("{}/v2/{repo}/referrers/{digest}", self.base);
        let listing = self.get_optional(url, OCI_INDEX).await?;
        Ok(listing.filter(|f| f.content_type.split(';').next().unwrap_or("").trim() == OCI_INDEX))
    }

    /// GET `url`: the body, its digest and content type; `None` on a 404.
    async fn get_optional(&self, url: String, accept: &str) -> Result<Option<ServedManifest>, ViewError> {
        let answer = self.send("GET", &url, self.http.get(&url).header(ACCEPT, accept)).await?;
        if answer.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !answer.status().is_success() {
            return Err(Self::status_error("GET", &url, answer).await);
        }
        let content_type = answer.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
        let bytes = answer.bytes().await.map_err(|source| ViewError::Request { method: "GET", url: url.clone(), source })?.to_vec();
        Ok(Some(ServedManifest { digest: Digest::of(&bytes), bytes, content_type }))
    }

    /// Whether the registry serves the referrers API (asked of `repo`, which must exist).
    pub async fn has_referrers_api(&self, repo: &str) -> Result<bool, ViewError> {
        let probe = Digest::of(b"cnb-artifacts referrers probe");
        Ok(self.referrers(repo, &probe).await?.is_some())
    }

    /// Whether blob `digest` is in `repo` (HEAD).
    pub async fn blob_exists(&self, repo: &str, digest: &Digest) -> Result<bool, ViewError> {
        let url = format!("{}/v2/{repo}/blobs/{digest}", self.base);
        let answer = self.send("HEAD", &url, self.http.head(&url)).await?;
        match answer.status() {
            s if s.is_success() => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            _ => Err(Self::status_error("HEAD", &url, answer).await),
        }
    }

    /// Uploads `bytes` as a blob of `repo` (POST then PUT); returns its digest.
    pub async fn push_blob(&self, repo: &str, bytes: &[u8]) -> Result<Digest, ViewError> {
        let digest = Digest::of(bytes);
        let url = format!("{}/v2/{repo}/blobs/uploads/", self.base);
        let answer = self.send("POST", &url, self.http.post(&url)).await?;
        if answer.status() != StatusCode::ACCEPTED {
            return Err(Self::status_error("POST", &url, answer).await);
        }
        let location = answer.headers().get(LOCATION).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
        let mut put = if location.starts_with("http") { location } else { format!("{}{location}", self.base) };
        put.push(if put.contains('?') { '&' } else { '?' });
        put.push_str(&format!("digest={digest}"));
        let req = self.http.put(&put).header(CONTENT_TYPE, "application/octet-stream").body(bytes.to_vec());
        let answer = self.send("PUT", &put, req).await?;
        if answer.status() != StatusCode::CREATED {
            return Err(Self::status_error("PUT", &put, answer).await);
        }
        Ok(digest)
    }

    /// Puts `bytes` as the manifest `repo:reference` with `media_type`.
    pub async fn push_manifest(&self, repo: &str, reference: &str, media_type: &str, bytes: &[u8]) -> Result<Digest, ViewError> {
        let url = format!("{}/v2/{repo}/manifests/{reference}", self.base);
        let req = self.http.put(&url).header(CONTENT_TYPE, media_type).body(bytes.to_vec());
        let answer = self.send("PUT", &url, req).await?;
        if answer.status() != StatusCode::CREATED {
            return Err(Self::status_error("PUT", &url, answer).await);
        }
        Ok(Digest::of(bytes))
    }

    /// `DELETE /v2/<repo>/<kind>/<digest>` (`kind`: `manifests` or `blobs`): true when it was
    /// deleted, false when it was not there (404). A registry that does not allow deletion
    /// answers 405 (an error here, `ViewError::Status`).
    pub async fn delete(&self, repo: &str, kind: &'static str, digest: &Digest) -> Result<bool, ViewError> {
        let url = format!("{}/v2/{repo}/{kind}/{digest}", self.base);
        let answer = self.send("DELETE", &url, self.http.delete(&url)).await?;
        match answer.status() {
            s if s.is_success() => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            _ => Err(Self::status_error("DELETE", &url, answer).await),
        }
    }

    /// The repositories under `namespace/`: from the catalog when the registry serves it,
    /// else `known` (the repositories the case names).
    pub async fn repositories(&self, namespace: &str, known: &[String]) -> Result<Vec<String>, ViewError> {
        let prefix = format!("{namespace}/");
        let mut repos: Vec<String> = match self.catalog().await {
            Ok(all) => all.into_iter().filter(|r| r.starts_with(&prefix)).collect(),
            Err(ViewError::Status { status: 401 | 403 | 404 | 405, .. }) => Vec::new(),
            Err(e) => return Err(e),
        };
        repos.extend(known.iter().cloned());
        repos.sort();
        repos.dedup();
        Ok(repos)
    }

    /// Every tag of every repository under `namespace` with its manifest.
    pub async fn snapshot(&self, namespace: &str, known: &[String]) -> Result<Snapshot, ViewError> {
        let mut snapshot = Snapshot::default();
        for repo in self.repositories(namespace, known).await? {
            let mut tags = BTreeMap::new();
            for tag in self.tags(&repo).await? {
                // A tag deleted between the listing and the read is simply not there.
                if let Some(m) = self.manifest(&repo, &tag).await? {
                    tags.insert(tag, m);
                }
            }
            if !tags.is_empty() {
                snapshot.repos.insert(repo, tags);
            }
        }
        Ok(snapshot)
    }
}

/// The target of a `Link: <url>; rel="next"` header: the publisher's reading of it, so the view
/// pages exactly as the publisher does.
fn next_link(header: &str) -> Option<String> {
    cnb_artifacts_core::publish::next_link(header).map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("</v2/_catalog?last=b&n=2>; rel=\"next\"", Some("/v2/_catalog?last=b&n=2"))]
    #[case("<http://h/v2/x/tags/list?n=1&last=a>; rel=\"next\"", Some("http://h/v2/x/tags/list?n=1&last=a"))]
    #[case("</v2/_catalog?last=b>; rel=\"prev\"", None)]
    fn pagination_follows_the_next_link(#[case] header: &str, #[case] next: Option<&str>) {
        assert_eq!(next_link(header).as_deref(), next);
    }

    #[test]
    fn snapshot_digests_are_keyed_by_repository_and_tag() {
        let mut s = Snapshot::default();
        let m = ServedManifest { bytes: b"{}".to_vec(), content_type: OCI_MANIFEST.into(), digest: Digest::of(b"{}") };
        s.repos.entry("ns/app".into()).or_default().insert("1.0".into(), m);
        assert_eq!(s.digests()["ns/app:1.0"], Digest::of(b"{}").to_string());
        assert!(s.get("ns/app", "1.0").is_some());
        assert!(s.get("ns/app", "2.0").is_none());
    }
}
