//! The few registry requests oci-client 0.18 does not expose, made with `reqwest` (spec rules
//! R-REF-1 and R-REF-5): the referrers API probe (oci-client's `pull_referrers` falls back to
//! the tag schema by itself on a 404, which hides the answer we must classify), and reading and
//! writing the fallback index with its `ETag` and `If-Match` (oci-client neither returns
//! response headers nor sends conditional requests).
//!
//! Same transport as oci-client: the client and scheme come from
//! [`crate::publish::client::http_client`] and [`crate::publish::client::registry_base_url`].
//! Authentication is reactive: a request is sent with the authorization already obtained for
//! its repository, if any; on a 401 the credentials are exchanged through oci-client's own
//! `Client::auth` (which speaks the bearer-token protocol and returns the token; for registries
//! that ask for HTTP Basic it returns nothing and the Basic credentials are sent as they are),
//! and the request is sent once more. Credentials are therefore only sent to a registry that
//! asked for them, and never appear in errors.
//!
//! Every answer body is read up to [`MAX_BODY`] (the 4 MiB manifest limit of R-PUSH-6, which
//! also bounds the fallback index): a larger `Content-Length`, or a body that runs past the
//! limit, is refused as soon as that is known, without reading the rest, so a hostile or broken
//! registry cannot make the publisher hold an arbitrary amount of memory.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Mutex;

use bytes::Bytes;
use oci_client::secrets::RegistryAuth;
use oci_client::{Reference, RegistryOperation};

use crate::publish::client::{http_client, registry_base_url, TransportOptions};
use crate::publish::error::{error_chain, RegistryFailure, TargetError};
use crate::publish::retry::{parse_retry_after, status_is_transient, with_retry, RetryPolicy, Transient};

/// The most bytes of an answer body that are read: the 4 MiB manifest limit.
pub const MAX_BODY: usize = crate::manifest::MAX_MANIFEST_SIZE;

/// A response, read whole (at most [`MAX_BODY`] bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawResponse {
    pub status: u16,
    pub content_type: Option<String>,
    pub etag: Option<String>,
    /// The `Docker-Content-Digest` header, which registries send with manifests.
    pub content_digest: Option<String>,
    /// The `Link` header, by which a paginated referrers listing names its next page.
    pub link: Option<String>,
    retry_after: Option<String>,
    pub body: Bytes,
}

impl RawResponse {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// This response as a [`RegistryFailure`]: status and body verbatim.
    pub fn to_error(&self) -> RegistryFailure {
        RegistryFailure { status: Some(self.status), detail: String::from_utf8_lossy(&self.body).into_owned() }
    }
}

#[derive(Debug, Clone)]
enum Authorization {
    Bearer(String),
    Basic(String, String),
}

/// One failed attempt, for [`with_retry`].
enum Attempt {
    Transport(reqwest::Error),
    Status(RawResponse),
    /// The body is (at least) this many bytes, over [`MAX_BODY`]; not transient.
    TooLarge(usize),
}

impl fmt::Display for Attempt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Attempt::Transport(e) => f.write_str(&error_chain(e)),
            Attempt::Status(r) => write!(f, "{}", r.to_error()),
            Attempt::TooLarge(size) => write!(f, "an answer of {size} bytes, over the {MAX_BODY}-byte limit"),
        }
    }
}

impl Transient for Attempt {
    fn is_transient(&self) -> bool {
        match self {
            Attempt::Transport(e) => e.is_transient(),
            Attempt::Status(r) => status_is_transient(r.status),
            Attempt::TooLarge(_) => false,
        }
    }
    fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            Attempt::Status(r) => r.retry_after.as_deref().and_then(parse_retry_after),
            Attempt::Transport(_) | Attempt::TooLarge(_) => None,
        }
    }
}

/// Raw requests to one registry.
pub struct RegistryHttp {
    http: reqwest::Client,
    base: String,
    registry: String,
    oci: oci_client::Client,
    auth: RegistryAuth,
    retry: RetryPolicy,
    /// Authorization obtained per repository.
    granted: Mutex<BTreeMap<String, Authorization>>,
}

impl RegistryHttp {
    /// Raw requests to `registry` with `opts`' transport; `oci` exchanges credentials.
    pub fn new(
        registry: &str,
        opts: &TransportOptions,
        oci: oci_client::Client,
        auth: RegistryAuth,
    ) -> Result<RegistryHttp, crate::publish::client::TransportError> {
        Ok(RegistryHttp {
            http: http_client(opts)?,
            base: registry_base_url(opts, registry),
            registry: registry.to_string(),
            oci,
            auth,
            retry: opts.retry.clone(),
            granted: Mutex::new(BTreeMap::new()),
        })
    }

    /// `GET /v2/<repository>/referrers/<digest>` accepting an OCI image index.
    pub async fn referrers(&self, repository: &str, digest: &str) -> Result<RawResponse, TargetError> {
        self.referrers_page(repository, digest, None).await
    }

    /// One page of the referrers listing: `query` is the query string (without `?`) of the
    /// previous page's `Link: <…>; rel="next"`, on this registry's own path for `digest`.
    pub async fn referrers_page(&self, repository: &str, digest: &str, query: Option<&str>) -> Result<RawResponse, TargetError> {
        let query = query.map(|q| format!("?{q}")).unwrap_or_default();
        let url = format!("{}/v2/{repository}/referrers/{digest}{query}", self.base);
        let accept = crate::media_types::OCI_INDEX;
        self.send(repository, "referrers probe", |c| c.get(&url).header("Accept", accept)).await
    }

    /// `GET /v2/<repository>/manifests/<reference>` accepting every manifest media type.
    pub async fn get_manifest(&self, repository: &str, reference: &str) -> Result<RawResponse, TargetError> {
        use crate::media_types::{DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_INDEX, OCI_MANIFEST};
        let url = format!("{}/v2/{repository}/manifests/{reference}", self.base);
        let accept = [OCI_INDEX, OCI_MANIFEST, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST].join(", ");
        self.send(repository, "manifest read", |c| c.get(&url).header("Accept", accept.as_str())).await.map_err(|e| match e {
            TargetError::ManifestTooLarge { size, .. } => {
                let separator = if reference.contains(':') { '@' } else { ':' };
                TargetError::ManifestTooLarge { reference: format!("{}/{repository}{separator}{reference}", self.registry), size }
            }
            e => e,
        })
    }

    /// `PUT /v2/<repository>/manifests/<reference>` with exactly `body`, and `If-Match` when given.
    pub async fn put_manifest(
        &self,
        repository: &str,
        reference: &str,
        media_type: &str,
        body: &[u8],
        if_match: Option<&str>,
    ) -> Result<RawResponse, TargetError> {
        let url = format!("{}/v2/{repository}/manifests/{reference}", self.base);
        let body = Bytes::copy_from_slice(body);
        self.send(repository, "manifest write", |c| {
            let r = c.put(&url).header("Content-Type", media_type).body(body.clone());
            match if_match {
                Some(tag) => r.header("If-Match", tag),
                None => r,
            }
        })
        .await
    }

    /// Sends the request `build` makes, with retries for transient failures and one
    /// re-authentication on a 401. Non-transient error statuses are returned as responses.
    async fn send(
        &self,
        repository: &str,
        what: &str,
        build: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    ) -> Result<RawResponse, TargetError> {
        let what = format!("{what} in {}/{repository}", self.registry);
        let result = with_retry(&self.retry, &what, || async {
            let response = self.attempt(repository, &build).await?;
            if status_is_transient(response.status) {
                return Err(Attempt::Status(response));
            }
            Ok(response)
        })
        .await;
        match result {
            Ok(r) | Err(Attempt::Status(r)) => Ok(r),
            Err(Attempt::Transport(e)) => Err(TargetError::Registry(RegistryFailure { status: None, detail: error_chain(&e) })),
            Err(Attempt::TooLarge(size)) => Err(TargetError::ManifestTooLarge { reference: what, size }),
        }
    }

    async fn attempt(
        &self,
        repository: &str,
        build: &impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    ) -> Result<RawResponse, Attempt> {
        let granted = self.granted.lock().ok().and_then(|g| g.get(repository).cloned());
        let response = self.once(build(&self.http), granted.as_ref()).await?;
        if response.status != 401 {
            return Ok(response);
        }
        match self.authorize(repository).await {
            Some(authorization) => {
                let response = self.once(build(&self.http), Some(&authorization)).await?;
                if let Ok(mut g) = self.granted.lock() {
                    g.insert(repository.to_string(), authorization);
                }
                Ok(response)
            }
            None => Ok(response),
        }
    }

    async fn once(&self, request: reqwest::RequestBuilder, authorization: Option<&Authorization>) -> Result<RawResponse, Attempt> {
        let request = match authorization {
            Some(Authorization::Bearer(token)) => request.bearer_auth(token),
            Some(Authorization::Basic(user, password)) => request.basic_auth(user, Some(password)),
            None => request,
        };
        let mut response = request.send().await.map_err(Attempt::Transport)?;
        let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
        let (status, content_type, etag, content_digest, link, retry_after) = (
            response.status().as_u16(),
            header("content-type"),
            header("etag"),
            header("docker-content-digest"),
            header("link"),
            header("retry-after"),
        );
        if let Some(length) = response.content_length().filter(|&l| l > MAX_BODY as u64) {
            return Err(Attempt::TooLarge(usize::try_from(length).unwrap_or(usize::MAX)));
        }
        let mut body = bytes::BytesMut::new();
        while let Some(chunk) = response.chunk().await.map_err(Attempt::Transport)? {
            if body.len() + chunk.len() > MAX_BODY {
                return Err(Attempt::TooLarge(body.len() + chunk.len()));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(RawResponse { status, content_type, etag, content_digest, link, retry_after, body: body.freeze() })
    }

    /// Exchanges the credentials for an authorization with push and pull scope on `repository`.
    async fn authorize(&self, repository: &str) -> Option<Authorization> {
        if let RegistryAuth::Bearer(token) = &self.auth {
            return Some(Authorization::Bearer(token.clone()));
        }
        let reference = Reference::with_tag(self.registry.clone(), repository.to_string(), "latest".to_string());
        match self.oci.auth(&reference, &self.auth, RegistryOperation::Push).await {
            Ok(Some(token)) => {
                crate::publish::auth::redact::register_secret(&token);
                Some(Authorization::Bearer(token))
            }
            Ok(None) => match &self.auth {
                RegistryAuth::Basic(user, password) => Some(Authorization::Basic(user.clone(), password.clone())),
                _ => None,
            },
            Err(e) => {
                tracing::warn!("authentication to {}/{repository} failed: {}", self.registry, RegistryFailure::from(e));
                None
            }
        }
    }
}
