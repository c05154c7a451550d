//! Retrying registry calls that failed for a passing reason (spec rule R-PUSH-7).
//!
//! Every network call of the publisher runs inside [`with_retry`]: a bounded number of
//! attempts, exponential backoff with full jitter between them, and a server's `Retry-After`
//! honoured (capped by the policy's longest delay). Which failures are worth another attempt is
//! the error type's business, through [`Transient`]; this module implements it for
//! [`reqwest::Error`] (every request of a publish, `crate::publish::registry_http`) and for
//! [`oci_client::errors::OciDistributionError`] (the consumer's blob downloads).
//!
//! The loop is our own (about 30 lines) rather than a crate such as `backon`: it must take the
//! delay from the error itself (`Retry-After`), be testable under tokio's paused clock, and log
//! one warning per retry naming the operation; a dependency would not make that shorter.
//!
//! Gaps in what oci-client 0.18 reports (so a retry of the consumer's calls cannot be decided
//! better than this):
//! - its errors keep no response headers, so `Retry-After` is never known for them;
//! - a failed token request becomes `AuthenticationFailure(body)` without the status code, so a
//!   token server's 503 is not retried;
//! - 4xx responses with an OCI error body become `RegistryFailure` without the status code; a
//!   `TOOMANYREQUESTS` error code is taken as 429.

use std::fmt::Display;
use std::future::Future;
use std::time::{Duration, SystemTime};

use oci_client::errors::{OciDistributionError, OciErrorCode};

/// How often and how patiently a registry call is retried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included; `0` is taken as `1`.
    pub max_attempts: u32,
    /// The backoff ceiling before the second attempt; it doubles for each later one.
    pub base_delay: Duration,
    /// No wait between two attempts is longer than this, `Retry-After` included.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy { max_attempts: 5, base_delay: Duration::from_millis(200), max_delay: Duration::from_secs(10) }
    }
}

impl RetryPolicy {
    /// A policy that tries once and never waits.
    pub fn none() -> Self {
        RetryPolicy { max_attempts: 1, ..RetryPolicy::default() }
    }

    /// The upper bound of the wait after the `failures`-th failed attempt (1-based):
    /// `min(max_delay, base_delay * 2^(failures-1))`.
    pub fn backoff_ceiling(&self, failures: u32) -> Duration {
        let factor = 2u32.saturating_pow(failures.saturating_sub(1));
        self.base_delay.saturating_mul(factor).min(self.max_delay)
    }

    /// The wait after the `failures`-th failed attempt: a uniformly random duration in
    /// `[0, backoff_ceiling(failures)]` (full jitter), or the server's `Retry-After` capped by
    /// `max_delay` when it sent one.
    fn delay(&self, failures: u32, retry_after: Option<Duration>, rng: &mut fastrand::Rng) -> Duration {
        if let Some(after) = retry_after {
            return after.min(self.max_delay);
        }
        let ceiling = self.backoff_ceiling(failures);
        let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(rng.u64(0..=nanos))
    }
}

/// An error that may go away if the same call is made again.
pub trait Transient {
    /// True when another attempt may succeed (connection failures, timeouts, 429, most 5xx).
    fn is_transient(&self) -> bool;
    /// How long the server asked us to wait, if it said.
    fn retry_after(&self) -> Option<Duration> {
        None
    }
}

/// Runs `f` until it succeeds, fails with a non-transient error, or `policy.max_attempts`
/// attempts have been made; returns the last result. Logs a warning naming `what` before each
/// retry.
pub async fn with_retry<T, E, F, Fut>(policy: &RetryPolicy, what: &str, f: F) -> Result<T, E>
where
    E: Transient + Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    with_retry_rng(policy, what, f, &mut fastrand::Rng::new()).await
}

async fn with_retry_rng<T, E, F, Fut>(policy: &RetryPolicy, what: &str, mut f: F, rng: &mut fastrand::Rng) -> Result<T, E>
where
    E: Transient + Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let attempts = policy.max_attempts.max(1);
    let mut failures = 0;
    loop {
        let err = match f().await {
            Ok(v) => return Ok(v),
            Err(e) => e,
        };
        failures += 1;
        if failures >= attempts || !err.is_transient() {
            return Err(err);
        }
        let delay = policy.delay(failures, err.retry_after(), rng);
        tracing::warn!("{what}: attempt {failures} of {attempts} failed: {err}; retrying in {} ms", delay.as_millis());
        tokio::time::sleep(delay).await;
    }
}

/// True for HTTP statuses worth another attempt: 408, 429 and every 5xx except 501 (Not
/// Implemented) and 505 (HTTP Version Not Supported).
pub fn status_is_transient(status: u16) -> bool {
    matches!(status, 408 | 429) || ((500..600).contains(&status) && !matches!(status, 501 | 505))
}

/// Parses a `Retry-After` header value: delta-seconds (`120`) or an HTTP-date
/// (`Wed, 21 Oct 2015 07:28:00 GMT`, parsed by `httpdate`, taken relative to the system clock; a
/// date in the past means no wait). Anything else is `None`.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        return value.parse::<u64>().ok().map(Duration::from_secs);
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(SystemTime::now()).unwrap_or(Duration::ZERO))
}

impl Transient for OciDistributionError {
    fn is_transient(&self) -> bool {
        match self {
            OciDistributionError::RequestError(e) => e.is_transient(),
            OciDistributionError::ServerError { code, .. } => status_is_transient(*code),
            OciDistributionError::RegistryError { envelope, .. } => envelope.errors.iter().any(|e| e.code == OciErrorCode::Toomanyrequests),
            OciDistributionError::IoError(e) => io_is_transient(e),
            _ => false,
        }
    }
}

impl Transient for reqwest::Error {
    fn is_transient(&self) -> bool {
        if let Some(status) = self.status() {
            return status_is_transient(status.as_u16());
        }
        if self.is_decode() {
            // A body cut off while reading it (reqwest reports it as a decode error) is a
            // transport failure; a body that is not what was expected is not.
            return body_read_failed(self);
        }
        if self.is_builder() || self.is_redirect() || tls_failure(self) || refused_by_loopback(self) {
            return false;
        }
        self.is_timeout() || self.is_connect() || self.is_request() || self.is_body()
    }
}

/// True when a loopback address refused the connection: nothing listens on that port of this
/// machine, and retrying would only print warnings before the same error (R-PUSH-7).
fn refused_by_loopback(e: &reqwest::Error) -> bool {
    let loopback = e.url().and_then(|u| u.host_str()).is_some_and(|host| {
        host.eq_ignore_ascii_case("localhost")
            || host.trim_start_matches('[').trim_end_matches(']').parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
    });
    if !loopback || !e.is_connect() {
        return false;
    }
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if s.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::ConnectionRefused) {
            return true;
        }
        source = s.source();
    }
    false
}

/// True when reading a response body failed in transport (the connection was reset or closed
/// mid-body), found in the source chain of a decode error.
fn body_read_failed(e: &reqwest::Error) -> bool {
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if s.downcast_ref::<reqwest::Error>().is_some_and(reqwest::Error::is_body)
            || s.downcast_ref::<std::io::Error>().is_some_and(io_is_transient)
        {
            return true;
        }
        source = s.source();
    }
    false
}

/// Connection resets and the like, as opposed to local file errors (not found, denied).
fn io_is_transient(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(e.kind(), ConnectionReset | ConnectionAborted | ConnectionRefused | TimedOut | BrokenPipe | UnexpectedEof | Interrupted)
}

/// True when a TLS handshake failed (certificate not trusted, peer does not speak TLS): rustls
/// reports these as an `io::Error` of kind `InvalidData`, possibly wrapped in another
/// `io::Error`, in the source chain. Retrying cannot help.
fn tls_failure(e: &reqwest::Error) -> bool {
    fn io_invalid_data(io: &std::io::Error) -> bool {
        io.kind() == std::io::ErrorKind::InvalidData
            || io.get_ref().and_then(|inner| inner.downcast_ref::<std::io::Error>()).is_some_and(io_invalid_data)
    }
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if s.downcast_ref::<std::io::Error>().is_some_and(io_invalid_data) {
            return true;
        }
        source = s.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_client::errors::{OciEnvelope, OciError};
    use rstest::rstest;
    use std::cell::RefCell;
    use tokio::time::Instant;

    /// A scripted error: transient or not, with an optional Retry-After.
    #[derive(Debug)]
    struct Scripted {
        transient: bool,
        after: Option<Duration>,
    }
    impl Display for Scripted {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "scripted failure")
        }
    }
    impl Transient for Scripted {
        fn is_transient(&self) -> bool {
            self.transient
        }
        fn retry_after(&self) -> Option<Duration> {
            self.after
        }
    }

    fn policy() -> RetryPolicy {
        RetryPolicy { max_attempts: 5, base_delay: Duration::from_millis(100), max_delay: Duration::from_millis(500) }
    }

    /// Runs `with_retry_rng` with a closure that fails `fail_times` times with `err()`, and
    /// returns (result, instants of each attempt).
    async fn run(policy: &RetryPolicy, fail_times: usize, err: impl Fn() -> Scripted) -> (Result<u32, Scripted>, Vec<Instant>) {
        let calls = RefCell::new(Vec::new());
        let result = with_retry_rng(
            policy,
            "test op",
            || {
                calls.borrow_mut().push(Instant::now());
                let n = calls.borrow().len();
                let out = if n <= fail_times { Err(err()) } else { Ok(n as u32) };
                async move { out }
            },
            &mut fastrand::Rng::with_seed(7),
        )
        .await;
        (result, calls.into_inner())
    }

    fn gaps(at: &[Instant]) -> Vec<Duration> {
        at.windows(2).map(|w| w[1] - w[0]).collect()
    }

    #[tokio::test(start_paused = true)]
    async fn r_push_7_transient_failures_are_retried_until_success() {
        let (result, at) = run(&policy(), 3, || Scripted { transient: true, after: None }).await;
        assert_eq!(result.unwrap(), 4);
        assert_eq!(at.len(), 4);
    }

    #[tokio::test(start_paused = true)]
    async fn r_push_7_attempts_are_bounded() {
        let (result, at) = run(&policy(), 100, || Scripted { transient: true, after: None }).await;
        assert!(result.is_err());
        assert_eq!(at.len(), 5);
    }

    #[tokio::test(start_paused = true)]
    async fn r_push_7_zero_attempts_means_one() {
        let p = RetryPolicy { max_attempts: 0, ..policy() };
        let (result, at) = run(&p, 100, || Scripted { transient: true, after: None }).await;
        assert!(result.is_err());
        assert_eq!(at.len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn r_push_7_non_transient_error_is_not_retried() {
        let (result, at) = run(&policy(), 100, || Scripted { transient: false, after: None }).await;
        assert!(result.is_err());
        assert_eq!(at.len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn r_push_7_waits_stay_under_the_growing_ceiling_and_max_delay() {
        let p = policy();
        let (_, at) = run(&p, 100, || Scripted { transient: true, after: None }).await;
        let gaps = gaps(&at);
        assert_eq!(gaps.len(), 4);
        for (i, gap) in gaps.iter().enumerate() {
            let ceiling = p.backoff_ceiling(i as u32 + 1);
            assert!(*gap <= ceiling, "wait {i} was {gap:?}, over its ceiling {ceiling:?}");
            assert!(*gap <= p.max_delay);
        }
        assert!(gaps.iter().any(|g| !g.is_zero()), "full jitter should not give only zero waits: {gaps:?}");
    }

    #[test]
    fn r_push_7_backoff_ceiling_doubles_then_caps() {
        let p = policy();
        let ceilings: Vec<u128> = (1..=6).map(|n| p.backoff_ceiling(n).as_millis()).collect();
        assert_eq!(ceilings, [100, 200, 400, 500, 500, 500]);
        assert_eq!(p.backoff_ceiling(u32::MAX), p.max_delay, "no overflow");
    }

    #[test]
    fn r_push_7_jittered_delays_grow_on_average() {
        // Full jitter: each wait is uniform in [0, ceiling], so the mean wait doubles.
        let p = RetryPolicy { max_delay: Duration::from_secs(60), ..policy() };
        let mut rng = fastrand::Rng::with_seed(1);
        let mean =
            |n: u32, rng: &mut fastrand::Rng| -> f64 { (0..2000).map(|_| p.delay(n, None, rng).as_secs_f64()).sum::<f64>() / 2000.0 };
        let means: Vec<f64> = (1..=4).map(|n| mean(n, &mut rng)).collect();
        for w in means.windows(2) {
            assert!(w[1] > w[0] * 1.5, "mean waits should roughly double: {means:?}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn r_push_7_retry_after_is_honoured() {
        let p = RetryPolicy { max_delay: Duration::from_secs(10), ..policy() };
        let (result, at) = run(&p, 2, || Scripted { transient: true, after: Some(Duration::from_secs(3)) }).await;
        assert!(result.is_ok());
        assert_eq!(gaps(&at), [Duration::from_secs(3), Duration::from_secs(3)]);
    }

    #[tokio::test(start_paused = true)]
    async fn r_push_7_retry_after_is_capped_by_max_delay() {
        let (_, at) = run(&policy(), 1, || Scripted { transient: true, after: Some(Duration::from_secs(3600)) }).await;
        assert_eq!(gaps(&at), [policy().max_delay]);
    }

    #[rstest]
    #[case(408, true)]
    #[case(429, true)]
    #[case(500, true)]
    #[case(502, true)]
    #[case(503, true)]
    #[case(504, true)]
    #[case(501, false)]
    #[case(505, false)]
    #[case(400, false)]
    #[case(401, false)]
    #[case(403, false)]
    #[case(404, false)]
    fn r_push_7_status_classes(#[case] status: u16, #[case] transient: bool) {
        assert_eq!(status_is_transient(status), transient);
        let err = OciDistributionError::ServerError { code: status, url: "u".into(), message: String::new() };
        assert_eq!(err.is_transient(), transient);
    }

    fn envelope(code: OciErrorCode) -> OciDistributionError {
        let errors = vec![OciError { code, message: String::new(), detail: serde_json::Value::Null }];
        OciDistributionError::RegistryError { envelope: OciEnvelope { errors }, url: "u".into() }
    }

    #[rstest]
    #[case::too_many_requests(envelope(OciErrorCode::Toomanyrequests), true)]
    #[case::denied(envelope(OciErrorCode::Denied), false)]
    #[case::manifest_invalid(envelope(OciErrorCode::ManifestInvalid), false)]
    #[case::unauthorized(OciDistributionError::UnauthorizedError { url: "u".into() }, false)]
    #[case::auth_failure(OciDistributionError::AuthenticationFailure("x".into()), false)]
    #[case::connection_reset(OciDistributionError::IoError(std::io::ErrorKind::ConnectionReset.into()), true)]
    #[case::local_file_missing(OciDistributionError::IoError(std::io::ErrorKind::NotFound.into()), false)]
    #[case::no_location(OciDistributionError::RegistryNoLocationError, false)]
    fn r_push_7_oci_client_error_classes(#[case] err: OciDistributionError, #[case] transient: bool) {
        assert_eq!(err.is_transient(), transient, "{err}");
        assert_eq!(err.retry_after(), None);
    }

    #[tokio::test]
    async fn r_push_7_connection_refused_by_loopback_fails_fast() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        for host in ["127.0.0.1", "localhost"] {
            let err = reqwest::Client::new().get(format!("http://{host}:{port}/v2/")).send().await.unwrap_err();
            assert!(err.is_connect(), "{err:?}");
            assert!(!err.is_transient(), "{err:?}");
        }
    }

    #[test]
    fn r_push_7_connection_refused_elsewhere_is_transient() {
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert!(io_is_transient(&refused));
        assert!(OciDistributionError::IoError(refused).is_transient());
    }

    #[tokio::test]
    async fn r_push_7_tls_handshake_failure_is_not_transient() {
        // A server that answers TLS with plain HTTP: the handshake fails, retrying cannot help.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            while let Ok((mut s, _)) = listener.accept().await {
                let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n").await;
            }
        });
        let err = reqwest::Client::new().get(format!("https://127.0.0.1:{port}/v2/")).send().await.unwrap_err();
        assert!(!err.is_transient(), "{err:?}");
    }

    #[tokio::test]
    async fn r_push_7_body_cut_off_mid_read_is_transient() {
        // `/cut` promises 100 bytes, sends 5 and closes; `/whole` sends 5 bytes that are not JSON.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            while let Ok((mut s, _)) = listener.accept().await {
                let mut request = [0u8; 1024];
                let n = s.read(&mut request).await.unwrap_or(0);
                let length = if request[..n].starts_with(b"GET /cut") { 100 } else { 5 };
                let _ = s.write_all(format!("HTTP/1.1 200 OK\r\ncontent-length: {length}\r\n\r\nhello").as_bytes()).await;
            }
        });
        let get = |path: &str| reqwest::Client::new().get(format!("http://127.0.0.1:{port}{path}")).send();
        let err = get("/cut").await.unwrap().bytes().await.unwrap_err();
        assert!(err.is_transient(), "{err:?}");
        let err = get("/whole").await.unwrap().json::<serde_json::Value>().await.unwrap_err();
        assert!(err.is_decode() && !err.is_transient(), "a body that is not what was expected: {err:?}");
    }

    #[rstest]
    #[case("120", Some(Duration::from_secs(120)))]
    #[case(" 0 ", Some(Duration::ZERO))]
    #[case("Sun, 06 Nov 1994 08:49:37 GMT", Some(Duration::ZERO))] // in the past
    #[case("soon", None)]
    #[case("-5", None)]
    #[case("", None)]
    fn r_push_7_retry_after_values(#[case] value: &str, #[case] expected: Option<Duration>) {
        assert_eq!(parse_retry_after(value), expected);
    }

    #[test]
    fn r_push_7_http_date_in_the_future_is_a_wait() {
        assert_eq!(parse_retry_after("Thu, 01 Foo 2100 00:00:00 GMT"), None);
        let future = parse_retry_after("Fri, 01 Jan 2100 00:00:00 GMT").unwrap();
        assert!(future > Duration::from_secs(365 * 86_400));
    }
}
