//! Every request the publisher makes to a registry, made with `reqwest` (spec rules R-PUSH-*,
//! R-REF-1, R-REF-5, R-AUTH-6, R-AUTH-7, R-SEC-2, R-SEC-4): blob checks, mounts and uploads,
//! manifest reads and writes (with `ETag` and `If-Match`, which oci-client neither returns nor
//! sends), and the referrers API probe (oci-client's `pull_referrers` falls back to the tag
//! schema by itself on a 404, which hides the answer we must classify).
//!
//! Same transport as the consumer's oci-client: the client and scheme come from
//! [`crate::publish::client::http_client`] and [`crate::publish::client::registry_base_url`].
//! Authentication is reactive: a request is sent with the authorization already obtained for
//! its repository, if any; on a 401 the challenge is answered (HTTP Basic with the
//! credentials, or a bearer token from the challenge's realm, [`crate::publish::token`]) and the
//! request is sent once more. Credentials are therefore only sent to a registry that asked for
//! them, and to a token realm only after R-AUTH-6 allowed it — checked on every challenge, not
//! only the first — and they never appear in errors.
//!
//! Every request is bounded ([`crate::publish::min_rate::within`]): besides the connect and
//! idle timeouts of the client, it is cut off when it moves fewer bytes than the minimum
//! transfer rate over a window. Every answer body is read up to a cap: a successful answer up
//! to [`MAX_BODY`] (the 4 MiB manifest limit of R-PUSH-6, which also bounds the fallback
//! index), refused as soon as a larger `Content-Length` or body is seen; an error answer only up
//! to [`ERROR_BODY_CAP`], the rest never read, so a hostile or broken registry cannot make the
//! publisher hold an arbitrary amount of memory.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::sync::Mutex;

use bytes::Bytes;
use oci_client::secrets::RegistryAuth;

use crate::publish::checked_file::{mismatch_in_chain, FileMismatch};
use crate::publish::client::{http_client, registry_base_url, TransportOptions};
use crate::publish::error::{error_chain, RegistryFailure, TargetError};
use crate::publish::min_rate::{self, Meter, MinRate, TooSlow};
use crate::publish::retry::{parse_retry_after, status_is_transient, with_retry, RetryPolicy, Transient};
use crate::publish::token::{self, Challenge, TokenError};
use crate::reference::Digest;

mod uploads;

/// The most bytes of a successful answer body that are read: the 4 MiB manifest limit.
pub const MAX_BODY: usize = crate::manifest::MAX_MANIFEST_SIZE;

/// The most bytes of an error answer's body that are read (R-SEC-2); the rest is never read.
pub const ERROR_BODY_CAP: usize = 64 * 1024;

/// The target of the `rel="next"` link of a `Link` header (`<url>; rel="next"`, RFC 8288, as
/// the distribution spec pages tag and referrers listings); `None` when it names none. The
/// target is the registry's word: callers take from it only what they check.
pub fn next_link(link: &str) -> Option<&str> {
    let next = link.split(',').find(|l| l.split(';').skip(1).any(|p| p.trim().replace('"', "").eq_ignore_ascii_case("rel=next")))?;
    Some(next.split(';').next().unwrap_or_default().trim().trim_start_matches('<').trim_end_matches('>'))
}

/// A response, read whole (at most [`MAX_BODY`] bytes; an error answer at most
/// [`ERROR_BODY_CAP`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawResponse {
    pub status: u16,
    pub content_type: Option<String>,
    pub etag: Option<String>,
    /// The `Docker-Content-Digest` header, which registries send with manifests.
    pub content_digest: Option<String>,
    pub location: Option<String>,
    www_authenticate: Option<String>,
    /// The `Link` header, by which a paginated listing (referrers, tags) names its next page
    /// ([`next_link`]).
    pub link: Option<String>,
    retry_after: Option<String>,
    pub body: Bytes,
    /// The error answer went on past [`ERROR_BODY_CAP`]; `body` is its beginning.
    pub cut: bool,
}

impl RawResponse {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// This response as a [`RegistryFailure`]: status and body (credentials redacted; a body
    /// cut at [`ERROR_BODY_CAP`] says so).
    pub fn to_error(&self) -> RegistryFailure {
        let body = String::from_utf8_lossy(&self.body);
        if !self.cut {
            return RegistryFailure { status: Some(self.status), detail: body.into_owned() };
        }
        let redacted = crate::publish::auth::redact::redact_body(&body);
        let start: String = redacted.chars().take(crate::publish::error::BODY_SHOWN / 2).collect();
        let detail = format!("{start}… (an answer over {ERROR_BODY_CAP} bytes; the rest was not read)");
        RegistryFailure { status: Some(self.status), detail }
    }

    /// A transient answer (R-PUSH-7): 408, 429, most 5xx, or a 4xx with `TOOMANYREQUESTS`.
    fn is_transient(&self) -> bool {
        status_is_transient(self.status)
            || ((400..500).contains(&self.status) && String::from_utf8_lossy(&self.body).contains("TOOMANYREQUESTS"))
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
    TooSlow(TooSlow),
    /// No credentials could be sent, or the token endpoint issued none.
    Token {
        error: TokenError,
        transient: bool,
    },
    /// The registry's answer breaks the protocol (e.g. no `Location` for an upload).
    Protocol(String),
    /// The file to upload could not be read.
    File(TargetError),
}

impl fmt::Display for Attempt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Attempt::Transport(e) => f.write_str(&error_chain(e)),
            Attempt::Status(r) => write!(f, "{}", r.to_error()),
            Attempt::TooLarge(size) => write!(f, "an answer of {size} bytes, over the {MAX_BODY}-byte limit"),
            Attempt::TooSlow(e) => write!(f, "{e}"),
            Attempt::Token { error, .. } => write!(f, "{error}"),
            Attempt::Protocol(why) => f.write_str(why),
            Attempt::File(e) => write!(f, "{e}"),
        }
    }
}

impl Transient for Attempt {
    fn is_transient(&self) -> bool {
        match self {
            Attempt::Transport(e) => mismatch_in_chain(e).is_none() && e.is_transient(),
            Attempt::Status(r) => r.is_transient(),
            Attempt::TooSlow(_) => true,
            Attempt::Token { transient, .. } => *transient,
            Attempt::TooLarge(_) | Attempt::Protocol(_) | Attempt::File(_) => false,
        }
    }
    fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            Attempt::Status(r) => r.retry_after.as_deref().and_then(parse_retry_after),
            _ => None,
        }
    }
}

/// Why an upload failed: the file changed under it, or anything else.
#[derive(Debug)]
pub enum UploadError {
    FileChanged(FileMismatch),
    Failed(TargetError),
}

/// Requests to one registry.
pub struct RegistryHttp {
    http: reqwest::Client,
    base: String,
    registry: String,
    auth: RegistryAuth,
    opts: TransportOptions,
    /// Authorization obtained per repository.
    granted: Mutex<BTreeMap<String, Authorization>>,
}

impl RegistryHttp {
    /// Requests to `registry` with `opts`' transport and the credentials `auth`.
    pub fn new(
        registry: &str,
        opts: &TransportOptions,
        auth: RegistryAuth,
    ) -> Result<RegistryHttp, crate::publish::client::TransportError> {
        Ok(RegistryHttp {
            http: http_client(opts)?,
            base: registry_base_url(opts, registry),
            registry: registry.to_string(),
            auth,
            opts: opts.clone(),
            granted: Mutex::new(BTreeMap::new()),
        })
    }

    fn retry(&self) -> &RetryPolicy {
        &self.opts.retry
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

    /// `HEAD /v2/<repository>/blobs/<digest>`.
    pub async fn head_blob(&self, repository: &str, digest: &Digest) -> Result<RawResponse, TargetError> {
        let url = format!("{}/v2/{repository}/blobs/{digest}", self.base);
        self.send(repository, "blob check", |c| c.head(&url)).await
    }

    /// `POST /v2/<repository>/blobs/uploads/?mount=<digest>&from=<from>`: `201` when mounted.
    pub async fn mount_blob(&self, repository: &str, from: &str, digest: &Digest) -> Result<RawResponse, TargetError> {
        let url = format!("{}/v2/{repository}/blobs/uploads/?mount={digest}&from={from}", self.base);
        self.send(repository, "blob mount", |c| c.post(&url).header("Content-Length", 0)).await
    }

    /// `GET /v2/<repository>/tags/list`, or the page `query` (the query string of the previous
    /// page's `Link: <…>; rel="next"`, without `?`).
    pub async fn tags_list(&self, repository: &str, query: Option<&str>) -> Result<RawResponse, TargetError> {
        let query = query.map(|q| format!("?{q}")).unwrap_or_default();
        let url = format!("{}/v2/{repository}/tags/list{query}", self.base);
        self.send(repository, "tag listing", |c| c.get(&url).header("Accept", "application/json")).await
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
        self.retried(&what, || self.exchange(repository, &build)).await
    }

    /// Makes `attempt` again while it fails transiently (R-PUSH-7): a transport failure or a
    /// transient status. A status that is not transient is returned as a response.
    async fn retried<F, Fut>(&self, what: &str, attempt: F) -> Result<RawResponse, TargetError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<RawResponse, Attempt>>,
    {
        let result = with_retry(self.retry(), what, || async {
            let response = attempt().await?;
            if response.is_transient() {
                return Err(Attempt::Status(response));
            }
            Ok(response)
        })
        .await;
        match result {
            Ok(r) | Err(Attempt::Status(r)) => Ok(r),
            Err(other) => Err(self.failure(what, other)),
        }
    }

    /// A failed request's error, naming the request.
    fn failure(&self, what: &str, attempt: Attempt) -> TargetError {
        match attempt {
            Attempt::Status(r) => r.to_error().into(),
            Attempt::Transport(e) => {
                TargetError::Registry(RegistryFailure { status: None, detail: format!("{what}: {}", error_chain(&e)) })
            }
            Attempt::TooLarge(size) => TargetError::ManifestTooLarge { reference: what.to_string(), size },
            Attempt::File(e) => e,
            other => TargetError::Registry(RegistryFailure { status: None, detail: format!("{what}: {other}") }),
        }
    }

    fn granted(&self, repository: &str) -> Option<Authorization> {
        self.granted.lock().ok().and_then(|g| g.get(repository).cloned())
    }

    /// One request with the authorization held for `repository`; on a 401, the challenge
    /// answered and the request sent once more.
    async fn exchange(
        &self,
        repository: &str,
        build: &impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    ) -> Result<RawResponse, Attempt> {
        let response = self.once(build(&self.http), self.granted(repository).as_ref(), &Meter::default()).await?;
        if response.status != 401 {
            return Ok(response);
        }
        match self.authorize(repository, response.www_authenticate.as_deref()).await? {
            Some(authorization) => {
                let response = self.once(build(&self.http), Some(&authorization), &Meter::default()).await?;
                if let Ok(mut g) = self.granted.lock() {
                    g.insert(repository.to_string(), authorization);
                }
                Ok(response)
            }
            None => Ok(response),
        }
    }

    /// Sends `request` and reads its answer, within the minimum transfer rate; `meter` also
    /// counts what the request's body stream sends.
    async fn once(
        &self,
        request: reqwest::RequestBuilder,
        authorization: Option<&Authorization>,
        meter: &Meter,
    ) -> Result<RawResponse, Attempt> {
        let request = match authorization {
            Some(Authorization::Bearer(token)) => request.bearer_auth(token),
            Some(Authorization::Basic(user, password)) => request.basic_auth(user, Some(password)),
            None => request,
        };
        let rate: MinRate = self.opts.min_rate;
        min_rate::within(rate, meter, read_answer(request, meter)).await.map_err(Attempt::TooSlow)?
    }

    /// Answers a 401's challenge for `repository`: the credentials for Basic (or none when
    /// there are none), a token from the realm for Bearer.
    async fn authorize(&self, repository: &str, challenge: Option<&str>) -> Result<Option<Authorization>, Attempt> {
        if let RegistryAuth::Bearer(token) = &self.auth {
            return Ok(Some(Authorization::Bearer(token.clone())));
        }
        let basic = match &self.auth {
            RegistryAuth::Basic(user, password) => Some((user.clone(), password.clone())),
            _ => None,
        };
        let (realm, service, scope) = match token::parse_challenge(challenge) {
            Challenge::Basic => return Ok(basic.map(|(u, p)| Authorization::Basic(u, p))),
            Challenge::Bearer { realm, service, scope } => (realm, service, scope),
        };
        let refused = |error| Attempt::Token { error, transient: false };
        if basic.is_some() {
            // R-AUTH-6 on every challenge: a registry that named a good realm to the first
            // probe and names another now gets nothing either.
            crate::publish::auth_realm::decide(&self.registry, &realm, &self.opts)
                .map_err(|source| refused(TokenError::Withheld { source }))?;
        }
        let url = token::token_url(&realm, service.as_deref(), scope.as_deref(), repository).map_err(refused)?;
        let mut request = self.http.get(url);
        if let Some((user, password)) = &basic {
            request = request.basic_auth(user, Some(password));
        }
        let answer = self.once(request, None, &Meter::default()).await?;
        if !answer.is_success() {
            let transient = answer.is_transient();
            let failure = answer.to_error();
            return Err(Attempt::Token {
                error: TokenError::Refused { realm: crate::display::text(&realm).to_string(), failure },
                transient,
            });
        }
        let issued = token::usable_token(&realm, &answer.body).map_err(refused)?;
        crate::publish::auth::redact::register_secret(&issued);
        Ok(Some(Authorization::Bearer(issued)))
    }
}

/// Sends `request` and reads the answer's body within its cap, counting body bytes in `meter`.
async fn read_answer(request: reqwest::RequestBuilder, meter: &Meter) -> Result<RawResponse, Attempt> {
    let (client, request) = request.build_split();
    let request = request.map_err(Attempt::Transport)?;
    let is_head = request.method() == reqwest::Method::HEAD;
    let mut response = client.execute(request).await.map_err(Attempt::Transport)?;
    let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
    let mut answer = RawResponse {
        status: response.status().as_u16(),
        content_type: header("content-type"),
        etag: header("etag"),
        content_digest: header("docker-content-digest"),
        location: header("location"),
        link: header("link"),
        www_authenticate: header("www-authenticate"),
        retry_after: header("retry-after"),
        body: Bytes::new(),
        cut: false,
    };
    if is_head {
        return Ok(answer);
    }
    let success = answer.is_success();
    if let Some(length) = response.content_length().filter(|&l| success && l > MAX_BODY as u64) {
        return Err(Attempt::TooLarge(usize::try_from(length).unwrap_or(usize::MAX)));
    }
    let cap = if success { MAX_BODY } else { ERROR_BODY_CAP };
    let mut body = bytes::BytesMut::new();
    while let Some(chunk) = response.chunk().await.map_err(Attempt::Transport)? {
        meter.add(chunk.len());
        if body.len() + chunk.len() > cap {
            if success {
                return Err(Attempt::TooLarge(body.len() + chunk.len()));
            }
            // An error answer: keep its beginning, read no more (the connection is dropped).
            body.extend_from_slice(&chunk[..cap - body.len()]);
            answer.cut = true;
            break;
        }
        body.extend_from_slice(&chunk);
    }
    answer.body = body.freeze();
    Ok(answer)
}
