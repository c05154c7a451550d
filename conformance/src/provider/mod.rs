//! Real OCI registries for the integration tests and the conformance runner.
//!
//! A [`Provider`] says where a registry comes from: a container of the locally built image
//! `cnb-artifacts/registry:2.8.2` ([`container`], [`image`]), a plain `docker-registry` process
//! on a free loopback port ([`process`]), or an external registry named by URL. [`start`] gives
//! a [`RunningRegistry`] whose `Drop` removes whatever was started (the container, or the
//! process and its storage directory); [`RunningRegistry::keep`] leaves it running on purpose.
//! [`RunningRegistry::health_check`] proves the registry answers `/v2/` and accepts a push;
//! [`RunningRegistry::announced_version`] reads what an external registry says of itself there.
//! [`seed`] pushes the deterministic app image that every artifact names as its `subject`.
//!
//! No spec rules live here: this is test and conformance infrastructure (see
//! `docs/registries.md`). Containers go through testcontainers, so no `docker` command line
//! is needed.

pub mod auth;
mod command;
pub mod container;
pub mod image;
pub mod process;
pub mod quirks;
pub mod seed;

/// The registry configuration (`ci/registry/config.yml`) of both the image and the process provider.
pub const CONFIG_YML: &str = include_str!("../../../ci/registry/config.yml");

/// The repository the health check pushes its blob to.
pub const HEALTH_CHECK_REPO: &str = "cnb-artifacts/health-check";
/// The blob the health check pushes.
pub const HEALTH_CHECK_BLOB: &[u8] = b"cnb-artifacts health check\n";

/// The `/v2/` answer headers that name a registry's software or API version, in the order
/// they are reported.
const VERSION_HEADERS: [&str; 2] = ["Server", "Docker-Distribution-API-Version"];

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::{Duration, Instant};

use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};

/// Where a registry comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Provider {
    /// A container of the image built by [`image::ensure_image`].
    Container,
    /// A `docker-registry` child process on a free loopback port.
    Process,
    /// A registry that is already running, named by URL (`http://host:port` or `https://host`).
    External(String),
}

impl FromStr for Provider {
    type Err = ProviderError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "container" => Ok(Provider::Container),
            "process" => Ok(Provider::Process),
            url if url.starts_with("http://") || url.starts_with("https://") => {
                external_host(url)?;
                Ok(Provider::External(url.trim_end_matches('/').to_string()))
            }
            other => Err(ProviderError::UnknownProvider { given: other.to_string() }),
        }
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Provider::Container => f.write_str("container"),
            Provider::Process => f.write_str("process"),
            Provider::External(url) => f.write_str(url),
        }
    }
}

impl Provider {
    /// Checks, without starting anything, that this provider can work here: a Docker engine
    /// answers (container), the `docker-registry` binary is installed (process).
    pub fn check_available(&self) -> Result<(), ProviderError> {
        match self {
            Provider::Container => container::engine_version().map(drop),
            Provider::Process => process::find_binary().map(drop),
            Provider::External(_) => Ok(()),
        }
    }
}

/// The `host[:port]` of an external registry URL and whether it is plain HTTP.
fn external_host(url: &str) -> Result<(String, bool), ProviderError> {
    let invalid = |reason: &str| ProviderError::InvalidUrl { given: url.to_string(), reason: reason.to_string() };
    let (rest, insecure) = if let Some(rest) = url.strip_prefix("http://") {
        (rest, true)
    } else if let Some(rest) = url.strip_prefix("https://") {
        (rest, false)
    } else {
        return Err(invalid("it must start with http:// or https://"));
    };
    let host = rest.trim_end_matches('/');
    if host.is_empty() {
        return Err(invalid("it names no host"));
    }
    if host.contains('/') || host.contains('?') || host.contains('#') || host.contains('@') {
        return Err(invalid("it must be only a scheme and host[:port], with no path, query or credentials"));
    }
    Ok((host.to_string(), insecure))
}

/// Everything that can go wrong starting, checking or seeding a registry.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    #[error("unknown registry provider `{given}`: use `container`, `process` or a URL like http://127.0.0.1:5000")]
    UnknownProvider { given: String },
    #[error("invalid registry URL `{given}`: {reason}")]
    InvalidUrl { given: String, reason: String },
    #[error("no registry available: {docker}; {binary}; or name a running registry by URL")]
    NoProviderAvailable { docker: String, binary: String },
    #[error("could not run `{command}`: {source}")]
    CommandNotRunnable { command: String, source: std::io::Error },
    #[error("`{command}` failed ({status}): {stderr}")]
    CommandFailed { command: String, status: String, stderr: String },
    #[error("{what} did not finish within {after:?}")]
    TimedOut { what: String, after: Duration },
    #[error("{action} failed: {source}")]
    Docker { action: String, source: testcontainers::bollard::errors::Error },
    #[error("{action} failed: {source}")]
    Testcontainers { action: String, source: testcontainers::TestcontainersError },
    #[error("could not start an async runtime: {0}")]
    Runtime(std::io::Error),
    #[error(
        "the registry binary `docker-registry` was not found (searched {searched}); install it with `apt-get install -y docker-registry`"
    )]
    BinaryNotFound { searched: String },
    #[error("could not prepare the registry's temporary directory: {0}")]
    TempDir(std::io::Error),
    #[error("could not start `{program}`: {source}")]
    Spawn { program: String, source: std::io::Error },
    #[error("the registry process exited before answering ({status}); its log ({log}) ends with:\n{log_tail}")]
    ExitedEarly { status: String, log: PathBuf, log_tail: String },
    #[error("the registry at {url} did not answer within {after:?}; last attempt: {last}")]
    NotReady { url: String, after: Duration, last: String },
    #[error("the registry at {url} is unreachable: {source}")]
    Unreachable { url: String, source: reqwest::Error },
    #[error("the registry at {url} answered {status} (expected {expected}): {body}")]
    UnexpectedStatus { url: String, status: u16, expected: &'static str, body: String },
    #[error("pushing {what} to {reference} failed: {source}")]
    Push { what: String, reference: String, source: oci_client::errors::OciDistributionError },
    #[error("blob {digest} was pushed to {reference} but a HEAD of it says it is missing")]
    BlobMissingAfterPush { reference: String, digest: String },
    #[error("checking blob {digest} in {reference} failed: {source}")]
    BlobCheck { reference: String, digest: String, source: oci_client::errors::OciDistributionError },
    #[error("listing the tags of {reference} failed: {source}")]
    ListTags { reference: String, source: oci_client::errors::OciDistributionError },
    #[error("cannot start the registry with {kind} auth: {reason}")]
    AuthRegistry { kind: auth::AuthKind, reason: String },
    #[error("the registry at {url} sent a manifest without a Content-Type header")]
    MissingContentType { url: String },
    #[error("the registry at {url} says the manifest digest is {header} but its bytes hash to {computed}")]
    DigestHeaderMismatch { url: String, header: String, computed: String },
}

/// How a started registry differs from the plain one: the `REGISTRY_*` settings it gets on
/// top of `ci/registry/config.yml`, the files those settings name, and whose storage it uses.
/// The authenticated registries of [`auth`] are variants that share the storage of the
/// anonymous one, so that the runner reads what an implementation pushed to them anonymously.
#[derive(Debug, Clone, Default)]
pub struct Variant {
    /// `REGISTRY_*` environment overrides; `{files}` in a value stands for the directory that
    /// holds [`Variant::files`] as the registry sees it.
    pub env: Vec<(String, String)>,
    /// Files the registry reads (name, bytes), e.g. an htpasswd file or a certificate bundle.
    pub files: Vec<(String, Vec<u8>)>,
    /// Serve the storage of this registry instead of a fresh one.
    pub storage_of: Option<Storage>,
}

/// Where a started registry keeps its blobs and manifests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Storage {
    /// A directory of this machine (process provider).
    Dir(PathBuf),
    /// The storage volume of this container (container provider).
    Container(String),
}

impl Variant {
    /// The environment overrides with `{files}` replaced by `files_dir`.
    fn env_with(&self, files_dir: &str) -> Vec<(String, String)> {
        self.env.iter().map(|(k, v)| (k.clone(), v.replace("{files}", files_dir))).collect()
    }
}

/// What must be cleaned up when a [`RunningRegistry`] is dropped.
#[derive(Debug)]
enum Guard {
    /// Boxed: a testcontainers container is large.
    Container(Box<container::ContainerGuard>),
    Process(process::ProcessGuard),
    /// An external registry: nothing was started.
    Nothing,
}

/// A registry that answers at `host`; dropping it removes what [`start`] started.
#[derive(Debug)]
pub struct RunningRegistry {
    /// `host:port` as written in image references, e.g. `127.0.0.1:32768`.
    pub host: String,
    /// Plain HTTP (true for every registry this module starts; they listen on loopback).
    pub insecure: bool,
    pub provider: Provider,
    /// The registry software's version, when known (e.g. `2.8.2+ds1`).
    pub version: Option<String>,
    guard: Guard,
}

/// How long a started registry gets to answer `/v2/`.
const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// How often the process provider tries again when its free port was taken meanwhile.
const PORT_ATTEMPTS: usize = 3;

/// Starts (or, for an external URL, just names) a registry. Started registries answer `/v2/`
/// when this returns; an external one is not contacted (see [`RunningRegistry::health_check`]).
pub async fn start(provider: &Provider) -> Result<RunningRegistry, ProviderError> {
    start_variant(provider, &Variant::default()).await
}

/// Starts a registry of `provider` configured as `variant` says (an external registry cannot
/// be configured: it is only named, as by [`start`]).
pub async fn start_variant(provider: &Provider, variant: &Variant) -> Result<RunningRegistry, ProviderError> {
    match provider {
        Provider::Container => {
            let (guard, host, version) = container::start(variant).await?;
            let registry =
                RunningRegistry { host, insecure: true, provider: provider.clone(), version, guard: Guard::Container(Box::new(guard)) };
            registry.wait_ready().await?;
            Ok(registry)
        }
        Provider::Process => {
            let mut attempt = 1;
            loop {
                let (guard, host, version) = process::start(variant).await?;
                let registry = RunningRegistry { host, insecure: true, provider: provider.clone(), version, guard: Guard::Process(guard) };
                match registry.wait_ready().await {
                    Ok(()) => return Ok(registry),
                    Err(ProviderError::ExitedEarly { log_tail, .. })
                        if attempt < PORT_ATTEMPTS && log_tail.contains("address already in use") =>
                    {
                        attempt += 1;
                    }
                    Err(err) => return Err(err),
                }
            }
        }
        Provider::External(url) => {
            let (host, insecure) = external_host(url)?;
            Ok(RunningRegistry { host, insecure, provider: provider.clone(), version: None, guard: Guard::Nothing })
        }
    }
}

/// The provider to use when none is named: a container when a Docker engine answers, else a
/// process when the `docker-registry` binary is installed.
pub fn detect_default() -> Result<Provider, ProviderError> {
    let docker = match Provider::Container.check_available() {
        Ok(()) => return Ok(Provider::Container),
        Err(err) => format!("no Docker engine answered ({err})"),
    };
    match Provider::Process.check_available() {
        Ok(()) => Ok(Provider::Process),
        Err(err) => Err(ProviderError::NoProviderAvailable { docker, binary: err.to_string() }),
    }
}

impl RunningRegistry {
    /// `http://host` or `https://host`.
    pub fn url(&self) -> String {
        format!("{}://{}", if self.insecure { "http" } else { "https" }, self.host)
    }

    /// An oci-client that speaks plain HTTP to this registry when it is insecure.
    pub fn client(&self) -> Client {
        let protocol = if self.insecure { ClientProtocol::HttpsExcept(vec![self.host.clone()]) } else { ClientProtocol::Https };
        Client::new(ClientConfig { protocol, ..ClientConfig::default() })
    }

    /// A reference to `repository:tag` in this registry.
    pub fn reference(&self, repository: &str, tag: &str) -> Reference {
        Reference::with_tag(self.host.clone(), repository.to_string(), tag.to_string())
    }

    /// Polls `GET /v2/` until it answers 200 or 401, or [`READY_TIMEOUT`] passes.
    async fn wait_ready(&self) -> Result<(), ProviderError> {
        let started = Instant::now();
        loop {
            if let Guard::Process(guard) = &self.guard {
                guard.check_alive()?;
            }
            match self.check_v2().await {
                Ok(()) => return Ok(()),
                Err(err) if started.elapsed() >= READY_TIMEOUT => {
                    let log = self.log_tail().await.unwrap_or_default();
                    return Err(ProviderError::NotReady {
                        url: self.url(),
                        after: READY_TIMEOUT,
                        last: format!("{err}; the registry's log ends with:\n{log}"),
                    });
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }

    /// `GET /v2/`: the answer, whatever its status.
    async fn get_v2(&self) -> Result<(String, reqwest::Response), ProviderError> {
        let url = format!("{}/v2/", self.url());
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .map_err(|source| ProviderError::Unreachable { url: url.clone(), source })?;
        let answer = http.get(&url).send().await.map_err(|source| ProviderError::Unreachable { url: url.clone(), source })?;
        Ok((url, answer))
    }

    /// `GET /v2/` answers 200 (open) or 401 (needs credentials).
    async fn check_v2(&self) -> Result<(), ProviderError> {
        let (url, answer) = self.get_v2().await?;
        let status = answer.status().as_u16();
        if status == 200 || status == 401 {
            return Ok(());
        }
        let body = answer.text().await.unwrap_or_default();
        Err(ProviderError::UnexpectedStatus { url, status, expected: "200 or 401", body: shorten(&body) })
    }

    /// Proves the registry works: `/v2/` answers 200 or 401, and a tiny blob pushed to the
    /// repository `cnb-artifacts/health-check` is then found by a HEAD request.
    pub async fn health_check(&self) -> Result<(), ProviderError> {
        self.check_v2().await?;
        let blob = HEALTH_CHECK_BLOB;
        let digest = cnb_artifacts_core::reference::Digest::of(blob).to_string();
        let reference = self.reference(HEALTH_CHECK_REPO, "unused");
        let client = self.client();
        client.store_auth_if_needed(&self.host, &RegistryAuth::Anonymous).await;
        client.push_blob(&reference, blob.to_vec(), &digest).await.map_err(|source| ProviderError::Push {
            what: format!("blob {digest}"),
            reference: reference.whole(),
            source,
        })?;
        let found = client.blob_exists(&reference, &digest).await.map_err(|source| ProviderError::BlobCheck {
            reference: reference.whole(),
            digest: digest.clone(),
            source,
        })?;
        if !found {
            return Err(ProviderError::BlobMissingAfterPush { reference: reference.whole(), digest });
        }
        Ok(())
    }

    /// What the registry says of itself in its `/v2/` answer: the `Server` and
    /// `Docker-Distribution-API-Version` headers it sends (e.g.
    /// `Docker-Distribution-API-Version registry/2.0`), or `None` when it sends neither or
    /// cannot be asked. For an external registry, whose software the runner does not know.
    pub async fn announced_version(&self) -> Option<String> {
        let (_, answer) = self.get_v2().await.ok()?;
        announced(answer.headers())
    }

    /// Leaves the registry running (for `--keep`) and says what was left and how to remove it.
    /// A process registry still dies with this program (it was started with a parent-death
    /// signal); its storage directory stays.
    pub async fn keep(mut self) -> String {
        let guard = std::mem::replace(&mut self.guard, Guard::Nothing);
        match guard {
            Guard::Container(guard) => guard.keep(&self.host).await,
            Guard::Process(guard) => guard.keep(&self.host),
            Guard::Nothing => format!("external registry {} (nothing was started)", self.url()),
        }
    }

    /// The last lines the registry logged, for a registry this module started.
    pub async fn log_tail(&self) -> Option<String> {
        match &self.guard {
            Guard::Container(guard) => Some(guard.log_tail().await),
            Guard::Process(guard) => Some(guard.log_tail()),
            Guard::Nothing => None,
        }
    }

    /// The container ID, for a container registry.
    pub fn container_id(&self) -> Option<&str> {
        match &self.guard {
            Guard::Container(guard) => Some(guard.id()),
            _ => None,
        }
    }

    /// Where this registry keeps its data, for a registry this module started.
    pub fn storage(&self) -> Option<Storage> {
        match &self.guard {
            Guard::Container(guard) => Some(Storage::Container(guard.id().to_string())),
            Guard::Process(guard) => Some(Storage::Dir(guard.storage_dir())),
            Guard::Nothing => None,
        }
    }

    /// The process ID and storage directory, for a process registry.
    pub fn process(&self) -> Option<(u32, &std::path::Path)> {
        match &self.guard {
            Guard::Process(guard) => Some((guard.pid(), guard.dir())),
            _ => None,
        }
    }
}

/// The version headers of a `/v2/` answer, each as `Name value` (the value escaped and cut to
/// 100 characters: it is the registry's text), joined by `, `; `None` without any.
fn announced(headers: &reqwest::header::HeaderMap) -> Option<String> {
    let said: Vec<String> = VERSION_HEADERS
        .iter()
        .filter_map(|name| {
            let value = String::from_utf8_lossy(headers.get(*name)?.as_bytes()).trim().chars().take(100).collect::<String>();
            (!value.is_empty()).then(|| format!("{name} {}", cnb_artifacts_core::display::text(&value)))
        })
        .collect();
    (!said.is_empty()).then(|| said.join(", "))
}

/// At most 500 characters of a response body, for error messages.
fn shorten(body: &str) -> String {
    match body.char_indices().nth(500) {
        Some((cut, _)) => format!("{}…", &body[..cut]),
        None => body.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_parses_names_and_urls() {
        assert_eq!("container".parse::<Provider>().unwrap(), Provider::Container);
        assert_eq!("process".parse::<Provider>().unwrap(), Provider::Process);
        assert_eq!("http://127.0.0.1:5000/".parse::<Provider>().unwrap(), Provider::External("http://127.0.0.1:5000".to_string()));
        assert!(matches!("docker".parse::<Provider>(), Err(ProviderError::UnknownProvider { .. })));
        assert!(matches!("http://host/path".parse::<Provider>(), Err(ProviderError::InvalidUrl { .. })));
        assert!(matches!("https://".parse::<Provider>(), Err(ProviderError::InvalidUrl { .. })));
    }

    #[test]
    fn provider_display_round_trips() {
        for given in ["container", "process", "https://registry.example:8443"] {
            assert_eq!(given.parse::<Provider>().unwrap().to_string(), given);
        }
    }

    #[test]
    fn announced_version_names_the_known_headers_only() {
        use reqwest::header::{HeaderMap, HeaderValue};
        let mut headers = HeaderMap::new();
        assert_eq!(announced(&headers), None);
        headers.insert("x-powered-by", HeaderValue::from_static("something"));
        assert_eq!(announced(&headers), None, "an unknown header names no version");
        headers.insert("docker-distribution-api-version", HeaderValue::from_static("registry/2.0"));
        assert_eq!(announced(&headers).as_deref(), Some("Docker-Distribution-API-Version registry/2.0"));
        headers.insert("server", HeaderValue::from_bytes("evil\u{202e}/1.0".as_bytes()).unwrap());
        assert_eq!(announced(&headers).as_deref(), Some("Server evil\\u{202e}/1.0, Docker-Distribution-API-Version registry/2.0"));
    }

    #[test]
    fn external_host_tells_plain_http() {
        assert_eq!(external_host("http://localhost:5000").unwrap(), ("localhost:5000".to_string(), true));
        assert_eq!(external_host("https://ghcr.io").unwrap(), ("ghcr.io".to_string(), false));
    }
}
