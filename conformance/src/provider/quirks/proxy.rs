//! A forwarding HTTP/1.1 proxy on a loopback port, between a client (the publisher) and a real
//! registry, whose every answer a [`Handler`] decides. No spec rules live here: it is the
//! machinery under the registry quirk profiles ([`super::QuirkProfile`]) and the fault
//! injection tests (`tests/it/fault/`).
//!
//! Every request is read whole (bodies are buffered: the artifacts of tests and conformance
//! cases are small), numbered in arrival order from 1 across all connections, and handed to
//! the handler with an [`Upstream`] that forwards it. The handler answers with a [`Reply`]: a
//! response (forwarded, changed or made up), a TCP reset instead of an answer, or a response
//! whose body is cut off halfway. Absolute `Location` headers that name the upstream are
//! rewritten to name the proxy (as the client addressed it), so blob uploads stay behind the
//! proxy. With a [`TlsAcceptor`] the proxy speaks HTTPS to its clients and plain HTTP or HTTPS
//! to the upstream, as the upstream URL says. Dropping the [`Proxy`] stops it and closes every
//! connection.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_LENGTH, CONTENT_TYPE, HOST, LOCATION};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::TlsAcceptor;

/// One request as the client sent it, body included.
#[derive(Debug, Clone)]
pub struct ProxyRequest {
    /// 1-based arrival number among all requests this proxy received.
    pub number: u64,
    pub method: Method,
    /// Path and query as sent, e.g. `/v2/team/app/blobs/uploads/?mount=…`.
    pub target: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl ProxyRequest {
    /// The path, without the query.
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or_default()
    }

    /// A header's value, when present and text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// A response to send to the client.
#[derive(Debug, Clone)]
pub struct ProxyResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl ProxyResponse {
    /// A made-up response with a `Content-Type` and a body.
    pub fn new(status: u16, content_type: &str, body: impl Into<Bytes>) -> ProxyResponse {
        let mut headers = HeaderMap::new();
        if let Ok(value) = HeaderValue::from_str(content_type) {
            headers.insert(CONTENT_TYPE, value);
        }
        ProxyResponse { status: status_code(status), headers, body: body.into() }
    }

    /// A registry error in the OCI error envelope, e.g. `400` `MANIFEST_INVALID`.
    pub fn oci_error(status: u16, code: &str, message: &str, detail: serde_json::Value) -> ProxyResponse {
        let body = serde_json::json!({ "errors": [{ "code": code, "message": message, "detail": detail }] });
        ProxyResponse::new(status, "application/json", body.to_string())
    }

    /// Sets (replaces) a header; a name or value that is not valid HTTP is ignored.
    pub fn with_header(mut self, name: &str, value: &str) -> ProxyResponse {
        if let (Ok(name), Ok(value)) = (HeaderName::try_from(name), HeaderValue::from_str(value)) {
            self.headers.insert(name, value);
        }
        self
    }

    pub fn is_success(&self) -> bool {
        self.status.is_success()
    }
}

fn status_code(status: u16) -> StatusCode {
    StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// What the proxy does with one request.
#[derive(Debug, Clone)]
pub enum Reply {
    Respond(ProxyResponse),
    /// Answer nothing and close the connection with a TCP reset.
    Reset,
    /// Send the status, the headers and a `Content-Length` of the whole body, then the first
    /// half of the body, then reset the connection. A response without a body is a [`Reply::Reset`].
    Truncate(ProxyResponse),
    /// Send the status and the headers with a `Content-Length` of the whole body, then the body
    /// one byte every so often: a registry that trickles its answer.
    Trickle(ProxyResponse, Duration),
    /// Send `status`, a `Content-Type` and a `Content-Length` of `size`, then `size` bytes of
    /// `x`, made as they are sent (never held in memory), counting in `sent` the bytes the
    /// client took: a registry whose error answer is huge.
    Huge {
        status: u16,
        content_type: String,
        size: u64,
        sent: Arc<AtomicU64>,
    },
}

/// Decides the answer to every request. `upstream` forwards a request to the real registry.
pub trait Handler: Send + Sync + 'static {
    fn handle(&self, request: ProxyRequest, upstream: &Upstream) -> impl Future<Output = Reply> + Send;
}

/// A handler that forwards every request unchanged.
#[derive(Debug, Clone, Copy, Default)]
pub struct Forward;

impl Handler for Forward {
    async fn handle(&self, request: ProxyRequest, upstream: &Upstream) -> Reply {
        Reply::Respond(upstream.forward(&request).await)
    }
}

/// Headers that belong to one connection, never forwarded (RFC 9110 §7.6.1).
const HOP_BY_HOP: [&str; 8] =
    ["connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer", "transfer-encoding", "upgrade"];

fn is_hop_by_hop(name: &HeaderName) -> bool {
    HOP_BY_HOP.contains(&name.as_str())
}

/// The real registry behind the proxy.
#[derive(Debug, Clone)]
pub struct Upstream {
    client: reqwest::Client,
    /// `http://host:port` or `https://host`.
    base: String,
}

impl Upstream {
    /// Sends `request` to the upstream unchanged (but for the hop-by-hop headers) and returns
    /// its answer; `502 Bad Gateway` when the upstream cannot be reached.
    pub async fn forward(&self, request: &ProxyRequest) -> ProxyResponse {
        self.send(&request.method, &request.target, &request.headers, request.body.clone()).await
    }

    /// Sends a request of the handler's own making to the upstream (not counted, not seen by
    /// the handler).
    pub async fn send(&self, method: &Method, target: &str, headers: &HeaderMap, body: Bytes) -> ProxyResponse {
        let url = format!("{}{target}", self.base);
        let mut builder = self.client.request(method.clone(), &url);
        for (name, value) in headers {
            if !is_hop_by_hop(name) && name != HOST && name != CONTENT_LENGTH {
                builder = builder.header(name, value);
            }
        }
        if !body.is_empty() || headers.contains_key(CONTENT_LENGTH) {
            builder = builder.header(CONTENT_LENGTH, body.len()).body(body);
        }
        let bad_gateway = |e: reqwest::Error| {
            let text = cnb_artifacts_core::publish::error::error_chain(&e);
            ProxyResponse::new(502, "text/plain", format!("the proxy could not reach {url}: {text}"))
        };
        let response = match builder.send().await {
            Ok(r) => r,
            Err(e) => return bad_gateway(e),
        };
        let status = response.status();
        let mut headers = HeaderMap::new();
        for (name, value) in response.headers() {
            if !is_hop_by_hop(name) {
                headers.append(name.clone(), value.clone());
            }
        }
        match response.bytes().await {
            Ok(body) => ProxyResponse { status, headers, body },
            Err(e) => bad_gateway(e),
        }
    }
}

/// Why a proxy could not start.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("the proxy cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: io::Error },
    #[error("invalid upstream registry `{given}`: {reason}")]
    InvalidUpstream { given: String, reason: String },
    #[error("cannot set up the proxy's upstream client: {0}")]
    Client(reqwest::Error),
}

/// Where and how a proxy listens.
#[derive(Clone)]
pub struct ProxyOptions {
    /// Default `127.0.0.1:0`: a free loopback port.
    pub bind: SocketAddr,
    /// Speak HTTPS to clients with this acceptor.
    pub tls: Option<TlsAcceptor>,
}

impl Default for ProxyOptions {
    fn default() -> Self {
        ProxyOptions { bind: SocketAddr::from(([127, 0, 0, 1], 0)), tls: None }
    }
}

/// A running proxy; dropping it stops it and closes its connections.
#[derive(Debug)]
pub struct Proxy {
    addr: SocketAddr,
    tls: bool,
    requests: Arc<AtomicU64>,
    task: JoinHandle<()>,
}

impl Proxy {
    /// Starts a proxy in front of `upstream` (`http://host:port`, `https://host`, or a bare
    /// `host[:port]`, plain HTTP when it is a loopback host as in R-AUTH-3) that answers
    /// through `handler`. Must be called inside a tokio runtime.
    pub async fn start<H: Handler>(upstream: &str, handler: H, options: ProxyOptions) -> Result<Proxy, ProxyError> {
        let base = upstream_base(upstream)?;
        let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().map_err(ProxyError::Client)?;
        let listener = TcpListener::bind(options.bind).await.map_err(|source| ProxyError::Bind { addr: options.bind, source })?;
        let addr = listener.local_addr().map_err(|source| ProxyError::Bind { addr: options.bind, source })?;
        let requests = Arc::new(AtomicU64::new(0));
        let shared = Arc::new(Shared {
            handler,
            upstream: Upstream { client, base },
            requests: requests.clone(),
            scheme: if options.tls.is_some() { "https" } else { "http" },
            addr,
        });
        let tls = options.tls;
        let is_tls = tls.is_some();
        let task = tokio::spawn(async move {
            // Owned by this task: aborting it drops the set, which aborts every connection.
            let mut connections = JoinSet::new();
            loop {
                tokio::select! {
                    accepted = listener.accept() => {
                        let Ok((tcp, _)) = accepted else { continue };
                        connections.spawn(serve_connection(shared.clone(), tcp, tls.clone()));
                    }
                    Some(_) = connections.join_next(), if !connections.is_empty() => {}
                }
            }
        });
        Ok(Proxy { addr, tls: is_tls, requests, task })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `127.0.0.1:PORT`, as written in image references.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// `http://127.0.0.1:PORT` (or `https://`).
    pub fn url(&self) -> String {
        format!("{}://{}", if self.tls { "https" } else { "http" }, self.addr)
    }

    /// How many requests the proxy has received so far.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::SeqCst)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// `scheme://host[:port]` of an upstream, without a trailing slash.
fn upstream_base(given: &str) -> Result<String, ProxyError> {
    let invalid = |reason: &str| ProxyError::InvalidUpstream { given: given.to_string(), reason: reason.to_string() };
    let trimmed = given.trim().trim_end_matches('/');
    let (scheme, host) = match trimmed.split_once("://") {
        Some((scheme @ ("http" | "https"), host)) => (scheme, host),
        Some(_) => return Err(invalid("the scheme must be http or https")),
        None => {
            let opts = cnb_artifacts_core::publish::client::TransportOptions::default();
            (if opts.is_insecure(trimmed) { "http" } else { "https" }, trimmed)
        }
    };
    if host.is_empty() || host.contains(['/', '?', '#', '@']) {
        return Err(invalid("it must be a host[:port] with no path, query or credentials"));
    }
    Ok(format!("{scheme}://{host}"))
}

struct Shared<H> {
    handler: H,
    upstream: Upstream,
    requests: Arc<AtomicU64>,
    scheme: &'static str,
    addr: SocketAddr,
}

type ProxyBody = UnsyncBoxBody<Bytes, io::Error>;

/// The connection was dropped on purpose ([`Reply::Reset`]), or the request could not be read.
#[derive(Debug, thiserror::Error)]
#[error("the proxy dropped the connection")]
struct Dropped;

async fn serve_connection<H: Handler>(shared: Arc<Shared<H>>, tcp: TcpStream, tls: Option<TlsAcceptor>) {
    let _ = tcp.set_nodelay(true);
    let reset = Arc::new(AtomicBool::new(false));
    let io = Resettable { inner: tcp, reset: reset.clone() };
    match tls {
        Some(acceptor) => match acceptor.accept(io).await {
            Ok(stream) => serve_http(shared, stream, reset).await,
            Err(e) => tracing::debug!("TLS handshake with a client of the proxy failed: {e}"),
        },
        None => serve_http(shared, io, reset).await,
    }
}

async fn serve_http<H: Handler, I>(shared: Arc<Shared<H>>, io: I, reset: Arc<AtomicBool>)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |request| {
        let (shared, reset) = (shared.clone(), reset.clone());
        async move { shared.respond(request, &reset).await }
    });
    let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(io), service).await;
}

impl<H: Handler> Shared<H> {
    async fn respond(&self, request: Request<Incoming>, reset: &AtomicBool) -> Result<Response<ProxyBody>, Dropped> {
        let (parts, body) = request.into_parts();
        let body = body.collect().await.map_err(|_| Dropped)?.to_bytes();
        let number = self.requests.fetch_add(1, Ordering::SeqCst) + 1;
        let host = parts.headers.get(HOST).and_then(|v| v.to_str().ok()).map_or_else(|| self.addr.to_string(), str::to_string);
        let is_head = parts.method == Method::HEAD;
        let target = parts.uri.path_and_query().map_or("/", |p| p.as_str()).to_string();
        let request = ProxyRequest { number, method: parts.method, target, headers: parts.headers, body };
        let public_base = format!("{}://{host}", self.scheme);
        match self.handler.handle(request, &self.upstream).await {
            Reply::Respond(r) => Ok(self.to_hyper(r, &public_base, is_head, Shape::Whole)),
            Reply::Truncate(r) if !r.body.is_empty() && !is_head => {
                reset.store(true, Ordering::SeqCst);
                Ok(self.to_hyper(r, &public_base, is_head, Shape::Truncated))
            }
            Reply::Trickle(r, every) => Ok(self.to_hyper(r, &public_base, is_head, Shape::Trickled(every))),
            Reply::Huge { status, content_type, size, sent } => {
                let r = ProxyResponse::new(status, &content_type, Bytes::new());
                let mut response = self.to_hyper(r, &public_base, true, Shape::Whole);
                response.headers_mut().insert(CONTENT_LENGTH, HeaderValue::from(size));
                *response.body_mut() = huge_body(size, sent);
                Ok(response)
            }
            Reply::Reset | Reply::Truncate(_) => {
                reset.store(true, Ordering::SeqCst);
                Err(Dropped)
            }
        }
    }

    fn to_hyper(&self, r: ProxyResponse, public_base: &str, is_head: bool, shape: Shape) -> Response<ProxyBody> {
        let mut headers = r.headers;
        if let Some(location) = headers.get(LOCATION).and_then(|v| v.to_str().ok()) {
            if let Some(rest) = location.strip_prefix(&self.upstream.base) {
                if let Ok(value) = HeaderValue::from_str(&format!("{public_base}{rest}")) {
                    headers.insert(LOCATION, value);
                }
            }
        }
        // A HEAD answer keeps the upstream's length; otherwise the length is the body's.
        if !is_head {
            headers.insert(CONTENT_LENGTH, HeaderValue::from(r.body.len()));
        }
        let body: ProxyBody = match shape {
            Shape::Truncated => {
                let half = r.body.slice(..r.body.len() / 2);
                let first = futures_util::stream::once(async move { Ok(Frame::data(half)) });
                // Pausing lets hyper flush the head and the first half before the error aborts it.
                let cut = futures_util::stream::once(async {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    Err(io::Error::new(io::ErrorKind::ConnectionReset, "response cut off by the proxy"))
                });
                BodyExt::boxed_unsync(StreamBody::new(first.chain(cut)))
            }
            Shape::Trickled(every) => {
                let bytes = futures_util::stream::iter((0..r.body.len()).map(move |i| r.body.slice(i..=i))).then(move |byte| async move {
                    tokio::time::sleep(every).await;
                    Ok(Frame::data(byte))
                });
                BodyExt::boxed_unsync(StreamBody::new(bytes))
            }
            Shape::Whole => BodyExt::boxed_unsync(Full::new(r.body).map_err(|never| match never {})),
        };
        let mut response = Response::new(body);
        *response.status_mut() = r.status;
        *response.headers_mut() = headers;
        response
    }
}

/// How a response's body is sent.
#[derive(Debug, Clone, Copy)]
enum Shape {
    Whole,
    /// The first half, then a reset.
    Truncated,
    /// One byte per interval.
    Trickled(Duration),
}

/// `size` bytes of `x` in 64 KiB frames, made as the client reads them, counted in `sent`.
fn huge_body(size: u64, sent: Arc<AtomicU64>) -> ProxyBody {
    const FRAME: u64 = 64 * 1024;
    let block = Bytes::from(vec![b'x'; FRAME as usize]);
    let frames = futures_util::stream::iter((0..size.div_ceil(FRAME)).map(move |i| {
        let len = FRAME.min(size - i * FRAME);
        sent.fetch_add(len, Ordering::SeqCst);
        Ok(Frame::data(block.slice(..len as usize)))
    }));
    BodyExt::boxed_unsync(StreamBody::new(frames))
}

/// A client connection that, once `reset` is set, closes with a TCP reset (`SO_LINGER` 0)
/// instead of an orderly shutdown.
struct Resettable {
    inner: TcpStream,
    reset: Arc<AtomicBool>,
}

impl Drop for Resettable {
    fn drop(&mut self) {
        if self.reset.load(Ordering::SeqCst) {
            let _ = self.inner.set_zero_linger();
        }
    }
}

impl AsyncRead for Resettable {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Resettable {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.reset.load(Ordering::SeqCst) {
            // No FIN: the drop that follows sends the reset.
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// An upstream that answers every request with a 201, a `Location` naming itself and a
    /// 10-byte body.
    async fn upstream() -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let location = format!("{base}/v2/a/blobs/uploads/1?_state=x");
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let location = location.clone();
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    while s.read(&mut buf).await.unwrap_or(0) > 0 {
                        let head = format!("HTTP/1.1 201 Created\r\nlocation: {location}\r\ncontent-length: 10\r\n\r\n");
                        if s.write_all(format!("{head}0123456789").as_bytes()).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        base
    }

    /// Answers request 1 by forwarding, 2 with a reset, 3 with a truncated body.
    struct Script;

    impl Handler for Script {
        async fn handle(&self, request: ProxyRequest, upstream: &Upstream) -> Reply {
            match request.number {
                2 => Reply::Reset,
                3 => Reply::Truncate(upstream.forward(&request).await),
                _ => Reply::Respond(upstream.forward(&request).await),
            }
        }
    }

    #[tokio::test]
    async fn replies_forward_reset_and_truncate_and_locations_name_the_proxy() {
        let proxy = Proxy::start(&upstream().await, Script, ProxyOptions::default()).await.unwrap();
        let client = reqwest::Client::new();
        let url = format!("{}/v2/a/blobs/uploads/", proxy.url());

        let first = client.post(&url).send().await.unwrap();
        assert_eq!(first.status().as_u16(), 201);
        let location = first.headers()["location"].to_str().unwrap().to_string();
        assert_eq!(location, format!("{}/v2/a/blobs/uploads/1?_state=x", proxy.url()));
        assert_eq!(first.bytes().await.unwrap().as_ref(), b"0123456789");

        let reset = client.post(&url).send().await.unwrap_err();
        assert!(reset.is_request(), "{reset:?}");

        let truncated = client.post(&url).send().await.unwrap();
        assert_eq!(truncated.status().as_u16(), 201, "the head arrives");
        assert!(truncated.bytes().await.is_err(), "the body is cut off");
        assert_eq!(proxy.requests(), 3);
    }

    #[test]
    fn upstream_base_accepts_urls_and_bare_hosts() {
        assert_eq!(upstream_base("http://127.0.0.1:5000/").unwrap(), "http://127.0.0.1:5000");
        assert_eq!(upstream_base("https://registry.example").unwrap(), "https://registry.example");
        assert_eq!(upstream_base("localhost:5000").unwrap(), "http://localhost:5000");
        assert_eq!(upstream_base("registry.example:443").unwrap(), "https://registry.example:443");
        assert!(upstream_base("ftp://x").is_err());
        assert!(upstream_base("http://x/path").is_err());
        assert!(upstream_base("").is_err());
    }
}
