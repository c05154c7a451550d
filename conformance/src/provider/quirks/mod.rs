//! Registry quirk profiles: a proxy in front of a real registry that makes it behave like a
//! registry that departs from CNCF Distribution in one known way, so that the publisher's
//! answer to each departure (spec rules R-PUSH-2, R-REF-1, R-REF-4, R-REF-5) can be tested and
//! the conformance runner can run its cases against it (`--registry-quirks PROFILE`).
//!
//! [`start_quirks_proxy`] starts one on a free loopback port; point image references at
//! [`QuirksProxy::host`] instead of the registry's host. [`proxy`] is the forwarding machinery,
//! also used by the fault injection tests; [`profiles`] says what each profile changes.
//!
//! | profile | the registry … | like |
//! | --- | --- | --- |
//! | `allowlist-media-types` | refuses manifests with a config media type other than an image config's, or with an `artifactType`: `400 MANIFEST_INVALID` | GitLab (before 16.x), Quay with the default allowlist |
//! | `referrers-html` | answers the referrers API with `200 text/html` (a login page) | registries behind an SSO portal |
//! | `sha256-tag-is-subject` | serves the subject manifest for a `GET` of the fallback tag `sha256-<hex>` | registries that resolve a tag that looks like a digest |
//! | `immutable-tags` | refuses a `PUT` to a tag that exists: `400 TAG_INVALID` | ECR and Harbor with tag immutability |
//! | `conditional-412` | refuses the first conditional (`If-Match`) `PUT` of a fallback index: `412` | any registry with a concurrent writer |
//! | `manifest-413` | refuses manifest `PUT`s over [`MANIFEST_413_LIMIT`] bytes: `413` from nginx | registries behind a proxy with a small body limit |
//! | `oci-subject-no-referrers` | answers a manifest `PUT` with a `subject` with `OCI-Subject`, but its referrers API answers 404 | half-upgraded registries |
//! | `wan[:RTT]`, `wan:rtt=RTT,bw=RATE` | answers everything unchanged, a round trip later (and at a bandwidth) | a cloud registry seen from a CI runner ([`wan`]) |
//!
//! `wan` is not in [`QuirkProfile::ALL`], the standard profiles the suite sweeps: it changes no
//! answer, only when it arrives, and a run asks for it by name. Every proxy keeps a log of the
//! requests it received ([`QuirksProxy::request_log`]), which tests use to count a publish's
//! requests.

pub mod profiles;
pub mod proxy;
pub mod referrers_api;
pub mod wan;

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

pub use wan::Wan;

pub use proxy::{Forward, Handler, Proxy, ProxyError, ProxyOptions, ProxyRequest, ProxyResponse, Reply, Upstream};

/// The largest manifest the `manifest-413` profile lets through, in bytes.
pub const MANIFEST_413_LIMIT: usize = 4096;

/// One way a registry departs from CNCF Distribution; see the module documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum QuirkProfile {
    AllowlistMediaTypes,
    ReferrersHtml,
    Sha256TagIsSubject,
    ImmutableTags,
    Conditional412,
    Manifest413,
    OciSubjectNoReferrers,
    /// Latency (and bandwidth), not a departure: see [`wan`].
    Wan(Wan),
}

impl QuirkProfile {
    /// Every profile, in the order of the module documentation.
    pub const ALL: [QuirkProfile; 7] = [
        QuirkProfile::AllowlistMediaTypes,
        QuirkProfile::ReferrersHtml,
        QuirkProfile::Sha256TagIsSubject,
        QuirkProfile::ImmutableTags,
        QuirkProfile::Conditional412,
        QuirkProfile::Manifest413,
        QuirkProfile::OciSubjectNoReferrers,
    ];

    /// The profile's name, as `--registry-quirks` takes it (`wan` without its parameters:
    /// [`fmt::Display`] gives the whole spec).
    pub fn name(self) -> &'static str {
        match self {
            QuirkProfile::AllowlistMediaTypes => "allowlist-media-types",
            QuirkProfile::ReferrersHtml => "referrers-html",
            QuirkProfile::Sha256TagIsSubject => "sha256-tag-is-subject",
            QuirkProfile::ImmutableTags => "immutable-tags",
            QuirkProfile::Conditional412 => "conditional-412",
            QuirkProfile::Manifest413 => "manifest-413",
            QuirkProfile::OciSubjectNoReferrers => "oci-subject-no-referrers",
            QuirkProfile::Wan(_) => "wan",
        }
    }
}

impl fmt::Display for QuirkProfile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QuirkProfile::Wan(wan) => wan.fmt(f),
            _ => f.write_str(self.name()),
        }
    }
}

/// A profile name that is not one of [`QuirkProfile::ALL`] nor a `wan` spec, or a malformed
/// `wan` spec.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnknownQuirkProfile {
    #[error("unknown registry quirk profile `{given}`: use one of {}, or wan[:RTT] (e.g. wan:50ms, wan:rtt=50ms,bw=10MiB)", QuirkProfile::ALL.map(QuirkProfile::name).join(", "))]
    Unknown { given: String },
    #[error("invalid registry quirk profile `{given}`: {reason}")]
    BadWan { given: String, reason: String },
}

impl FromStr for QuirkProfile {
    type Err = UnknownQuirkProfile;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match Wan::parse(s) {
            Some(Ok(wan)) => return Ok(QuirkProfile::Wan(wan)),
            Some(Err(reason)) => return Err(UnknownQuirkProfile::BadWan { given: s.to_string(), reason }),
            None => {}
        }
        QuirkProfile::ALL.into_iter().find(|p| p.name() == s).ok_or_else(|| UnknownQuirkProfile::Unknown { given: s.to_string() })
    }
}

/// The answers a profile changed: in total and per repository named by the request.
#[derive(Debug, Default)]
struct Hits {
    total: AtomicU64,
    by_repository: Mutex<BTreeMap<String, u64>>,
}

impl Hits {
    fn record(&self, repository: Option<&str>) {
        self.total.fetch_add(1, Ordering::SeqCst);
        if let (Some(repository), Ok(mut by)) = (repository, self.by_repository.lock()) {
            *by.entry(repository.to_string()).or_default() += 1;
        }
    }

    fn in_namespace(&self, namespace: &str) -> u64 {
        let Ok(by) = self.by_repository.lock() else {
            return 0;
        };
        let under = format!("{namespace}/");
        by.iter().filter(|(repo, _)| *repo == namespace || repo.starts_with(&under)).map(|(_, n)| n).sum()
    }
}

/// Every request a quirks proxy received, as `METHOD /path?query`, in arrival order. It grows
/// with every request: the proxy serves tests, conformance runs and measurements, not traffic.
#[derive(Debug, Default)]
struct RequestLog {
    lines: Mutex<Vec<String>>,
}

impl RequestLog {
    fn record(&self, request: &ProxyRequest) {
        if let Ok(mut lines) = self.lines.lock() {
            lines.push(format!("{} {}", request.method, request.target));
        }
    }

    fn from(&self, start: usize) -> Vec<String> {
        self.lines.lock().map(|lines| lines.get(start..).unwrap_or_default().to_vec()).unwrap_or_default()
    }
}

/// A running quirks proxy; dropping it stops it.
#[derive(Debug)]
pub struct QuirksProxy {
    proxy: Proxy,
    profile: QuirkProfile,
    hits: Arc<Hits>,
    log: Arc<RequestLog>,
}

impl QuirksProxy {
    /// `127.0.0.1:PORT`: the registry host to write in image references.
    pub fn host(&self) -> String {
        self.proxy.host()
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        self.proxy.url()
    }

    pub fn profile(&self) -> QuirkProfile {
        self.profile
    }

    /// How many answers the profile changed so far (0: the quirk never fired).
    pub fn hits(&self) -> u64 {
        self.hits.total.load(Ordering::SeqCst)
    }

    /// How many answers the profile changed so far for requests naming the repository
    /// `namespace` or one under `namespace/` (a conformance case's namespace).
    pub fn hits_in(&self, namespace: &str) -> u64 {
        self.hits.in_namespace(namespace)
    }

    /// How many requests the proxy received so far.
    pub fn requests(&self) -> u64 {
        self.proxy.requests()
    }

    /// The requests received so far from the `start`-th on (0: all), each `METHOD /path?query`
    /// in arrival order (requests still being read are not there yet).
    pub fn request_log(&self, start: usize) -> Vec<String> {
        self.log.from(start)
    }
}

/// Starts a proxy with `profile` in front of the registry `upstream` (`http://host:port`,
/// `https://host`, or a bare `host[:port]`), on a free port of 127.0.0.1. Must be called inside
/// a tokio runtime; the proxy runs on it until dropped.
pub async fn start_quirks_proxy(upstream: &str, profile: QuirkProfile) -> Result<QuirksProxy, ProxyError> {
    start_quirks_proxy_on(upstream, profile, ProxyOptions::default()).await
}

/// [`start_quirks_proxy`] listening where `options` say (`conformance proxy --listen`).
pub async fn start_quirks_proxy_on(upstream: &str, profile: QuirkProfile, options: ProxyOptions) -> Result<QuirksProxy, ProxyError> {
    let (hits, log) = (Arc::new(Hits::default()), Arc::new(RequestLog::default()));
    let handler = profiles::Quirks::new(profile, hits.clone(), log.clone());
    let proxy = Proxy::start(upstream, handler, options).await?;
    Ok(QuirksProxy { proxy, profile, hits, log })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hits_are_counted_per_namespace() {
        let hits = Hits::default();
        for repo in [Some("a/app"), Some("a/app/hello"), Some("ab/app"), Some("a"), None] {
            hits.record(repo);
        }
        assert_eq!((hits.in_namespace("a"), hits.in_namespace("ab"), hits.in_namespace("c")), (3, 1, 0));
        assert_eq!(hits.total.load(Ordering::SeqCst), 5);
    }

    #[test]
    fn profile_names_round_trip() {
        for profile in QuirkProfile::ALL {
            assert_eq!(profile.name().parse::<QuirkProfile>(), Ok(profile));
            assert_eq!(profile.to_string(), profile.name());
        }
        let err = "gitlab".parse::<QuirkProfile>().unwrap_err();
        assert!(err.to_string().contains("allowlist-media-types, referrers-html"), "{err}");
        assert!(err.to_string().contains("wan:50ms"), "{err}");
    }

    #[test]
    fn wan_specs_are_profiles_outside_the_standard_sweep() {
        let wan = "wan:rtt=20ms,bw=1MiB".parse::<QuirkProfile>().unwrap();
        assert!(matches!(wan, QuirkProfile::Wan(Wan { bandwidth: Some(1_048_576), .. })));
        assert_eq!(wan.to_string().parse::<QuirkProfile>(), Ok(wan));
        assert_eq!(wan.name(), "wan");
        assert!(!QuirkProfile::ALL.contains(&wan));
        let err = "wan:fast".parse::<QuirkProfile>().unwrap_err();
        assert!(matches!(err, UnknownQuirkProfile::BadWan { .. }), "{err}");
        assert!(err.to_string().contains("wan:fast") && err.to_string().contains("ms"), "{err}");
    }
}
