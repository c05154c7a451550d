//! Blob uploads of [`RegistryHttp`]: the monolithic `PUT` of R-PUSH-4 (with the mount asked
//! for in the `POST` that opens its session), and the sessions of a single-pass upload
//! (R-PUSH-11): opened and fed by one `PATCH`, then completed or cancelled. A session's URL is
//! the registry's `Location`: the authorization held for the repository goes along only when it
//! is on the registry's own origin.

use std::future::Future;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};

use super::{Attempt, RawResponse, RegistryHttp, UploadError};
use crate::publish::checked_file::mismatch_in_chain;
use crate::publish::error::TargetError;
use crate::publish::min_rate::Meter;
use crate::publish::retry::with_retry;
use crate::reference::Digest;

impl RegistryHttp {
    /// Uploads one blob of `size` bytes in one streamed `PUT` (R-PUSH-1): `POST` an upload
    /// session, then `PUT` the bytes `body` streams to its `Location`, retried as a whole.
    /// Monolithic, so no registry minimum part size applies (see [`crate::publish::client`]).
    /// With `mount_from`, the `POST` asks for a cross-repository mount from that repository
    /// (`?mount=<digest>&from=<repository>`): `201 Created` means mounted (`Ok(true)`, nothing
    /// sent); `202 Accepted` opens the session the bytes then go to; any other answer that is not
    /// transient is taken for "no mount", and a plain session is opened.
    pub async fn upload<S, F, Fut>(
        &self,
        repository: &str,
        digest: &Digest,
        size: u64,
        mount_from: Option<&str>,
        body: F,
    ) -> Result<bool, UploadError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<S, TargetError>>,
        S: Stream<Item = std::io::Result<Bytes>> + Send + 'static,
    {
        let what = format!("blob upload {digest} to {}/{repository}", self.registry);
        let start_url = format!("{}/v2/{repository}/blobs/uploads/", self.base);
        let mount_url = mount_from.map(|from| format!("{start_url}?mount={digest}&from={from}"));
        let result = with_retry(self.retry(), &what, || async {
            let post = |url: &str| {
                let url = url.to_string();
                move |c: &reqwest::Client| c.post(&url).header("Content-Length", 0)
            };
            let mut started = self.exchange(repository, &post(mount_url.as_deref().unwrap_or(&start_url))).await?;
            if mount_url.is_some() {
                if started.status == 201 {
                    return Ok(true);
                }
                if started.status != 202 && !started.is_transient() {
                    tracing::debug!("mounting {digest} into {repository} was answered {}; uploading", started.to_error());
                    started = self.exchange(repository, &post(&start_url)).await?;
                }
            }
            if started.status != 202 {
                return Err(Attempt::Status(started));
            }
            let mut url = self.session_url(&started).map_err(Attempt::Protocol)?;
            url.query_pairs_mut().append_pair("digest", digest.as_str());
            let meter = Meter::default();
            let counted = meter.clone();
            let stream = body().await.map_err(Attempt::File)?.inspect(move |chunk| {
                if let Ok(chunk) = chunk {
                    counted.add(chunk.len());
                }
            });
            let authorization = self.granted(repository).filter(|_| self.same_origin(&url));
            let request = self
                .http
                .put(url)
                .header("Content-Length", size)
                .header("Content-Type", "application/octet-stream")
                .body(reqwest::Body::wrap_stream(stream));
            let done = self.once(request, authorization.as_ref(), &meter).await?;
            if !done.is_success() {
                return Err(Attempt::Status(done));
            }
            Ok(false)
        })
        .await;
        result.map_err(|e| match e {
            Attempt::Transport(t) => match mismatch_in_chain(&t) {
                Some(m) => UploadError::FileChanged(m.clone()),
                None => UploadError::Failed(self.failure(&what, Attempt::Transport(t))),
            },
            Attempt::File(e) => UploadError::Failed(e),
            other => UploadError::Failed(self.failure(&what, other)),
        })
    }

    /// Opens an upload session in `repository` (`POST /v2/<repository>/blobs/uploads/`) and
    /// streams `size` bytes of `body` to it in one `PATCH` (R-PUSH-11); returns the session's
    /// `Location` after the `PATCH`, which is left open: [`RegistryHttp::finish_upload`]
    /// completes it, [`RegistryHttp::cancel_upload`] deletes it. The `POST` is retried; the
    /// `PATCH` is not (its stream is read once): the caller falls back to a plain upload.
    pub async fn stream_to_session<S>(&self, repository: &str, size: u64, body: S) -> Result<reqwest::Url, UploadError>
    where
        S: Stream<Item = std::io::Result<Bytes>> + Send + 'static,
    {
        let what = format!("single-pass upload to {}/{repository}", self.registry);
        let start_url = format!("{}/v2/{repository}/blobs/uploads/", self.base);
        let failed = |e: Attempt| match e {
            Attempt::Transport(t) => match mismatch_in_chain(&t) {
                Some(m) => UploadError::FileChanged(m.clone()),
                None => UploadError::Failed(self.failure(&what, Attempt::Transport(t))),
            },
            other => UploadError::Failed(self.failure(&what, other)),
        };
        let started =
            self.send(repository, "upload start", |c| c.post(&start_url).header("Content-Length", 0)).await.map_err(UploadError::Failed)?;
        if started.status != 202 {
            return Err(UploadError::Failed(started.to_error().into()));
        }
        let url = self.session_url(&started).map_err(|why| failed(Attempt::Protocol(why)))?;
        let authorization = self.granted(repository).filter(|_| self.same_origin(&url));
        let meter = Meter::default();
        let counted = meter.clone();
        let stream = body.inspect(move |chunk| {
            if let Ok(chunk) = chunk {
                counted.add(chunk.len());
            }
        });
        let request = self
            .http
            .patch(url.clone())
            .header("Content-Length", size)
            .header("Content-Type", "application/octet-stream")
            .body(reqwest::Body::wrap_stream(stream));
        let patched = match self.once(request, authorization.as_ref(), &meter).await {
            Ok(answer) if answer.status == 202 => self.session_url(&answer).map_err(Attempt::Protocol),
            Ok(answer) => Err(Attempt::Status(answer)),
            Err(e) => Err(e),
        };
        if patched.is_err() {
            // The session is of no use any more (R-PUSH-11: no session is left open).
            if let Err(e) = self.cancel_upload(repository, &url).await {
                tracing::warn!("cannot cancel the upload session in {}/{repository}: {e}", self.registry);
            }
        }
        patched.map_err(failed)
    }

    /// Completes the upload session at `url` as the blob `digest` (`PUT <url>?digest=…`, no
    /// body); the registry checks the digest of what it received.
    pub async fn finish_upload(&self, repository: &str, url: &reqwest::Url, digest: &Digest) -> Result<(), TargetError> {
        let mut url = url.clone();
        url.query_pairs_mut().append_pair("digest", digest.as_str());
        let done = self.to_session(repository, "upload completion", &url, |c, url| c.put(url).header("Content-Length", 0)).await?;
        if done.is_success() {
            Ok(())
        } else {
            Err(done.to_error().into())
        }
    }

    /// Cancels the upload session at `url` (`DELETE <url>`): what it received is discarded.
    pub async fn cancel_upload(&self, repository: &str, url: &reqwest::Url) -> Result<(), TargetError> {
        let done = self.to_session(repository, "upload cancellation", url, |c, url| c.delete(url)).await?;
        // 404: the registry already dropped it.
        if done.is_success() || done.status == 404 {
            Ok(())
        } else {
            Err(done.to_error().into())
        }
    }

    /// The absolute URL of the upload session a response's `Location` names; why not, as a
    /// protocol error's text.
    fn session_url(&self, answer: &RawResponse) -> Result<reqwest::Url, String> {
        let location = answer.location.as_deref().ok_or_else(|| "the upload session has no Location".to_string())?;
        reqwest::Url::parse(&self.base)
            .and_then(|base| base.join(location))
            .map_err(|_| format!("the upload Location `{}` is not a URL", crate::display::text(location)))
    }

    /// Whether `url` is on the registry's own origin: only then does the authorization held
    /// for a repository go along to it (a `Location` is the registry's word).
    fn same_origin(&self, url: &reqwest::Url) -> bool {
        url.origin() == reqwest::Url::parse(&self.base).map(|b| b.origin()).unwrap_or_else(|_| url.origin())
    }

    /// Sends the request `build` makes for an upload session's `url`, with retries for
    /// transient failures; the authorization held for `repository` goes along only on the
    /// registry's own origin. Non-transient error statuses are returned as responses.
    async fn to_session(
        &self,
        repository: &str,
        what: &str,
        url: &reqwest::Url,
        build: impl Fn(&reqwest::Client, reqwest::Url) -> reqwest::RequestBuilder,
    ) -> Result<RawResponse, TargetError> {
        let what = format!("{what} in {}/{repository}", self.registry);
        let authorization = self.granted(repository).filter(|_| self.same_origin(url));
        self.retried(&what, || async { self.once(build(&self.http, url.clone()), authorization.as_ref(), &Meter::default()).await }).await
    }
}
