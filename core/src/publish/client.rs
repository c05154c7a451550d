//! HTTP clients for the publisher: plain HTTP or verified TLS per registry (spec rule
//! R-AUTH-3), extra trusted CA certificates, upload mode, retry settings and time bounds
//! (R-SEC-4).
//!
//! [`http_client`] builds the [`reqwest::Client`] every request of a publish goes through
//! (`crate::publish::registry_http`), and [`registry_base_url`] gives those requests their
//! scheme; [`make_client`] builds an [`oci_client::Client`] with the same TLS choices for the
//! consumer's blob downloads. Certificates are never skipped: a registry is either spoken to
//! over plain HTTP (because it is listed as insecure, or is on the loopback interface) or over
//! HTTPS with full verification.
//!
//! Blob uploads are monolithic: one streamed `PUT` with a `Content-Length` per blob, which every
//! registry accepts and to which no minimum part size applies (Amazon ECR's 5 MiB is for
//! chunked `PATCH`es; oci-client 0.18 would split chunked uploads into 4 MiB pieces).
//! [`TransportOptions::chunk_size`] is the size of the stream items the publisher reads files
//! in.

use std::path::{Path, PathBuf};
use std::time::Duration;

use oci_client::client::{Certificate, CertificateEncoding, ClientConfig, ClientProtocol};

use super::retry::RetryPolicy;

/// The default size of the pieces blobs are read and sent in: 1 MiB. Uploads are monolithic, so
/// no registry minimum part size applies (Amazon ECR's 5 MiB is for chunked `PATCH`es); larger
/// pieces only cost memory (two pieces are alive per upload) and were no faster
/// (docs/performance.md).
pub const DEFAULT_CHUNK_SIZE: usize = 1024 * 1024;

/// Hosts spoken to over plain HTTP whatever their port (R-AUTH-3).
const LOOPBACK_HOSTS: [&str; 3] = ["localhost", "127.0.0.1", "[::1]"];

/// Default connect timeout of every client (`--connect-timeout`).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// Default idle timeout (time without receiving a byte) of every client (`--idle-timeout`).
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// How the publisher talks to registries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransportOptions {
    /// Registries (`host` or `host:port`, as in the image reference) spoken to over plain
    /// HTTP. Loopback hosts need not be listed.
    pub insecure_registries: Vec<String>,
    /// A PEM (one or more certificates) or DER file of CA certificates trusted in addition to
    /// the system's.
    pub ca_file: Option<PathBuf>,
    /// Size of the pieces blobs are read and sent in; default [`DEFAULT_CHUNK_SIZE`].
    pub chunk_size: usize,
    /// How transient failures are retried (attempts, backoff, `Retry-After`).
    pub retry: RetryPolicy,
    /// How long connecting to a registry may take.
    pub connect_timeout: Duration,
    /// How long a request may go without receiving a byte.
    pub idle_timeout: Duration,
    /// Hosts (`host` or `host:port`) a registry may send credentials to as its token realm
    /// when that is another host; empty: any host over HTTPS (R-AUTH-6).
    pub realm_hosts: Vec<String>,
    /// Refuse every token realm on another host than the registry (R-AUTH-6).
    pub deny_cross_host_realm: bool,
    /// The slowest a request may transfer before it is cut off (R-SEC-4).
    pub min_rate: super::min_rate::MinRate,
}

impl Default for TransportOptions {
    fn default() -> Self {
        TransportOptions {
            insecure_registries: Vec::new(),
            ca_file: None,
            chunk_size: DEFAULT_CHUNK_SIZE,
            retry: RetryPolicy::default(),
            connect_timeout: CONNECT_TIMEOUT,
            idle_timeout: IDLE_TIMEOUT,
            realm_hosts: Vec::new(),
            deny_cross_host_realm: false,
            min_rate: super::min_rate::MinRate::default(),
        }
    }
}

impl TransportOptions {
    /// True when `registry` (`host` or `host:port`) is spoken to over plain HTTP: it is listed
    /// in `insecure_registries` (host names compared case-insensitively), or its host is
    /// `localhost`, `127.0.0.1` or `[::1]`, with any port (R-AUTH-3).
    pub fn is_insecure(&self, registry: &str) -> bool {
        let registry = registry.to_ascii_lowercase();
        if LOOPBACK_HOSTS.contains(&host_of(&registry)) {
            return true;
        }
        self.insecure_registries.iter().any(|r| r.trim().eq_ignore_ascii_case(&registry))
    }
}

/// The host part of `host[:port]`, keeping the brackets of an IPv6 literal.
fn host_of(registry: &str) -> &str {
    if registry.starts_with('[') {
        return registry.find(']').map_or(registry, |end| &registry[..=end]);
    }
    registry.split_once(':').map_or(registry, |(host, _)| host)
}

/// Why a client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// The CA file (`--ca-file`) cannot be read.
    #[error("cannot read CA file {path}: {source}")]
    CaFileUnreadable {
        /// The CA file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A PEM block of the CA file is not valid PEM.
    #[error("CA file {path}: certificate {index} is not valid PEM")]
    CaPemInvalid {
        /// The CA file.
        path: PathBuf,
        /// The certificate's position in the file, from 1.
        index: usize,
    },
    /// A certificate of the CA file is not a valid X.509 certificate.
    #[error("CA file {path}: certificate {index} is not a valid X.509 certificate: {source}")]
    CaCertificateInvalid {
        /// The CA file.
        path: PathBuf,
        /// The certificate's position in the file, from 1.
        index: usize,
        /// Why the TLS stack refused it.
        source: reqwest::Error,
    },
    /// The CA file holds no certificate.
    #[error("CA file {path} holds no certificate (expected PEM `-----BEGIN CERTIFICATE-----` blocks or DER)")]
    CaFileEmpty {
        /// The CA file.
        path: PathBuf,
    },
    /// The HTTP client cannot be built.
    #[error("cannot set up the HTTP client: {source}")]
    ClientSetup {
        /// The HTTP client's error.
        source: reqwest::Error,
    },
    /// The registry client (oci-client) cannot be built.
    #[error("cannot set up the registry client: {source}")]
    RegistryClientSetup {
        /// oci-client's error.
        source: oci_client::errors::OciDistributionError,
    },
}

/// The registry client for `opts`. Registries in `opts.insecure_registries` and loopback hosts
/// written without a port use plain HTTP; for a loopback registry with a port, use
/// [`make_client_for`] (oci-client matches its plain-HTTP list exactly, port included).
pub fn make_client(opts: &TransportOptions) -> Result<oci_client::Client, TransportError> {
    make_client_for(opts, &[])
}

/// The registry client for `opts` that also speaks plain HTTP to each of `registries` that
/// [`TransportOptions::is_insecure`] says is insecure (e.g. `localhost:5000`). Pass every
/// registry the run talks to.
pub fn make_client_for(opts: &TransportOptions, registries: &[&str]) -> Result<oci_client::Client, TransportError> {
    let mut plain: Vec<String> = opts.insecure_registries.iter().map(|r| r.trim().to_string()).collect();
    plain.extend(LOOPBACK_HOSTS.iter().map(|h| h.to_string()));
    plain.extend(registries.iter().filter(|r| opts.is_insecure(r)).map(|r| r.to_string()));
    plain.sort();
    plain.dedup();
    let extra_root_certificates = match &opts.ca_file {
        Some(path) => read_ca_file(path)?,
        None => Vec::new(),
    };
    let config = ClientConfig {
        protocol: ClientProtocol::HttpsExcept(plain),
        extra_root_certificates,
        accept_invalid_certificates: false,
        use_monolithic_push: true,
        connect_timeout: Some(opts.connect_timeout),
        read_timeout: Some(opts.idle_timeout),
        user_agent: concat!("cnb-artifacts/", env!("CARGO_PKG_VERSION")),
        platform_resolver: None,
        ..ClientConfig::default()
    };
    oci_client::Client::try_from(config).map_err(|source| TransportError::RegistryClientSetup { source })
}

/// A raw HTTP client with the same TLS choices as [`make_client`]. Build URLs with
/// [`registry_base_url`] so that insecure registries get `http://`.
pub fn http_client(opts: &TransportOptions) -> Result<reqwest::Client, TransportError> {
    let mut certs = Vec::new();
    if let Some(path) = &opts.ca_file {
        for (i, cert) in read_ca_file(path)?.iter().enumerate() {
            certs.push(to_reqwest(path, i + 1, cert)?);
        }
    }
    reqwest::Client::builder()
        .tls_certs_merge(certs)
        .connect_timeout(opts.connect_timeout)
        .read_timeout(opts.idle_timeout)
        .user_agent(concat!("cnb-artifacts/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|source| TransportError::ClientSetup { source })
}

/// `http://<registry>` for insecure registries (R-AUTH-3), `https://<registry>` otherwise;
/// Docker Hub's names (`docker.io`, `index.docker.io`) map to `index.docker.io` as oci-client
/// does.
pub fn registry_base_url(opts: &TransportOptions, registry: &str) -> String {
    let host = match registry {
        "docker.io" | "index.docker.io" => "index.docker.io",
        other => other,
    };
    let scheme = if opts.is_insecure(registry) { "http" } else { "https" };
    format!("{scheme}://{host}")
}

/// The certificates of a PEM bundle (every `CERTIFICATE` block) or of a DER file, each checked
/// to be one the TLS stack accepts.
fn read_ca_file(path: &Path) -> Result<Vec<Certificate>, TransportError> {
    let data = crate::input_file::read_input(path, crate::input_file::Follow::Links, crate::input_file::CONFIG_CAP)
        .map_err(|e| TransportError::CaFileUnreadable { path: path.to_path_buf(), source: crate::input_file::into_io(e) })?;
    let certs = match pem_blocks(&data) {
        Some(blocks) => blocks.into_iter().map(|data| Certificate { encoding: CertificateEncoding::Pem, data }).collect(),
        None if !data.is_empty() => vec![Certificate { encoding: CertificateEncoding::Der, data }],
        None => Vec::new(),
    };
    if certs.is_empty() {
        return Err(TransportError::CaFileEmpty { path: path.to_path_buf() });
    }
    let parsed = certs.iter().enumerate().map(|(i, c)| to_reqwest(path, i + 1, c)).collect::<Result<Vec<_>, _>>()?;
    // Certificates are parsed lazily: only building a client shows whether they are valid.
    if reqwest::Client::builder().tls_certs_merge(parsed.clone()).build().is_err() {
        for (i, cert) in parsed.into_iter().enumerate() {
            if let Err(source) = reqwest::Client::builder().tls_certs_merge([cert]).build() {
                return Err(TransportError::CaCertificateInvalid { path: path.to_path_buf(), index: i + 1, source });
            }
        }
    }
    Ok(certs)
}

fn to_reqwest(path: &Path, index: usize, cert: &Certificate) -> Result<reqwest::Certificate, TransportError> {
    let parsed = match cert.encoding {
        CertificateEncoding::Pem => reqwest::Certificate::from_pem(&cert.data),
        CertificateEncoding::Der => reqwest::Certificate::from_der(&cert.data),
    };
    parsed.map_err(|_| TransportError::CaPemInvalid { path: path.to_path_buf(), index })
}

/// The `-----BEGIN CERTIFICATE-----` … `-----END CERTIFICATE-----` blocks of a PEM file, or
/// `None` when the data is not PEM text at all.
fn pem_blocks(data: &[u8]) -> Option<Vec<Vec<u8>>> {
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    let text = std::str::from_utf8(data).ok()?;
    if !text.contains("-----BEGIN ") {
        return None;
    }
    let mut blocks = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(BEGIN) {
        let Some(len) = rest[start..].find(END) else {
            break;
        };
        let end = start + len + END.len();
        blocks.push(format!("{}\n", &rest[start..end]).into_bytes());
        rest = &rest[end..];
    }
    Some(blocks)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case::localhost_any_port("localhost:5000", true)]
    #[case::localhost_bare("localhost", true)]
    #[case::localhost_upper("LOCALHOST:5000", true)]
    #[case::ipv4_loopback("127.0.0.1:41234", true)]
    #[case::ipv6_loopback("[::1]:5000", true)]
    #[case::ipv6_loopback_bare("[::1]", true)]
    #[case::listed("registry.internal:5000", true)]
    #[case::listed_other_port("registry.internal:5001", false)]
    #[case::not_listed("registry.example.com", false)]
    #[case::localhost_lookalike("localhost.example.com", false)]
    #[case::other_loopback_address("127.0.0.2:5000", false)]
    #[case::docker_hub("docker.io", false)]
    fn r_auth_3_plain_http_only_for_listed_or_loopback(#[case] registry: &str, #[case] insecure: bool) {
        let opts = TransportOptions { insecure_registries: vec!["Registry.Internal:5000".into()], ..Default::default() };
        assert_eq!(opts.is_insecure(registry), insecure, "{registry}");
        let scheme = if insecure { "http://" } else { "https://" };
        assert!(registry_base_url(&opts, registry).starts_with(scheme));
    }

    #[test]
    fn r_auth_3_defaults() {
        let opts = TransportOptions::default();
        assert_eq!(opts.chunk_size, DEFAULT_CHUNK_SIZE);
        assert!(opts.insecure_registries.is_empty());
        assert_eq!(registry_base_url(&opts, "docker.io"), "https://index.docker.io");
    }

    /// A self-signed CA certificate (P-256, valid until 2126).
    const TEST_CA: &str = "-----BEGIN CERTIFICATE-----
MIIBlzCCAT2gAwIBAgIUSiIcIBITNa/pe97ugT8bty7Y5ewwCgYIKoZIzj0EAwIw
IDEeMBwGA1UEAwwVY25iLWFydGlmYWN0cyB0ZXN0IENBMCAXDTI2MTEyNTE0MzMz
NVoYDzIxMjYxMTAxMTQzMzM1WjAgMR4wHAYDVQQDDBVjbmItYXJ0aWZhY3RzIHRl
c3QgQ0EwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAATbmuvr3DrfOXXeuuNmmWfw
XTw0YqUdNtJ7qbGeNcyI4bsUOcZk5ImK2baeeR9fx1+QCoEKe8sYQr6uT000LhY6
o1MwUTAdBgNVHQ4EFgQUfPQyH/nUO2GvJgHkz2oHEZ92OYkwHwYDVR0jBBgwFoAU
fPQyH/nUO2GvJgHkz2oHEZ92OYkwDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQD
AgNIADBFAiEAr/miUWfxoOAscTbbhnLlBwgEpVJ9FNtPloE6TAyIYHkCIFP/K0Cl
Htmz9/mPHRw+hxPaiH3e+mbtIA3c/G+zrWj4
-----END CERTIFICATE-----
";

    #[test]
    fn r_auth_3_pem_bundles_are_split_into_certificates() {
        let two = format!("junk before\n{TEST_CA}between\n{TEST_CA}");
        let blocks = pem_blocks(two.as_bytes()).unwrap();
        assert_eq!(blocks.len(), 2);
        assert!(blocks[0].starts_with(b"-----BEGIN CERTIFICATE-----"));
        assert!(blocks[1].ends_with(b"-----END CERTIFICATE-----\n"));
        assert_eq!(pem_blocks(b"\x30\x82binary der"), None);
    }

    #[test]
    fn r_auth_3_unreadable_and_empty_ca_files_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        let opts = TransportOptions { ca_file: Some(missing.clone()), ..Default::default() };
        let err = make_client(&opts).map(drop).unwrap_err();
        assert!(matches!(err, TransportError::CaFileUnreadable { .. }), "{err}");
        assert!(err.to_string().contains("missing.pem"));

        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----\n").unwrap();
        let opts = TransportOptions { ca_file: Some(empty), ..Default::default() };
        assert!(matches!(http_client(&opts).unwrap_err(), TransportError::CaFileEmpty { .. }));
    }

    #[test]
    fn r_auth_3_garbage_certificate_is_an_error_naming_the_file_and_position() {
        let dir = tempfile::tempdir().unwrap();
        let bad = dir.path().join("bad.pem");
        let garbage = "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n";
        std::fs::write(&bad, format!("{TEST_CA}{garbage}")).unwrap();
        let opts = TransportOptions { ca_file: Some(bad), ..Default::default() };
        let err = make_client(&opts).map(drop).unwrap_err();
        assert!(matches!(err, TransportError::CaCertificateInvalid { index: 2, .. }), "{err}");
        assert!(err.to_string().contains("bad.pem"));
    }

    #[tokio::test]
    async fn r_auth_3_ca_bundle_is_trusted_by_both_clients() {
        let dir = tempfile::tempdir().unwrap();
        let bundle = dir.path().join("ca.pem");
        std::fs::write(&bundle, format!("{TEST_CA}{TEST_CA}")).unwrap();
        assert_eq!(read_ca_file(&bundle).unwrap().len(), 2);
        let opts = TransportOptions { ca_file: Some(bundle), ..Default::default() };
        make_client(&opts).map(drop).unwrap();
        http_client(&opts).unwrap();
    }

    #[tokio::test]
    async fn r_auth_3_clients_build_without_ca_file() {
        let opts = TransportOptions::default();
        make_client(&opts).map(drop).unwrap();
        make_client_for(&opts, &["localhost:5000", "example.com"]).map(drop).unwrap();
        http_client(&opts).unwrap();
    }
}
