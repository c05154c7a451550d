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

pub mod profiles;
pub mod proxy;

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

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

    /// The profile's name, as `--registry-quirks` takes it.
    pub fn name(self) -> &'static str {
        match self {
            QuirkProfile::AllowlistMediaTypes => "allowlist-media-types",
            QuirkProfile::ReferrersHtml => "referrers-html",
            QuirkProfile::Sha256TagIsSubject => "sha256-tag-is-subject",
            QuirkProfile::ImmutableTags => "immutable-tags",
            QuirkProfile::Conditional412 => "conditional-412",
            QuirkProfile::Manifest413 => "manifest-413",
            QuirkProfile::OciSubjectNoReferrers => "oci-subject-no-referrers",
        }
    }
}

impl fmt::Display for QuirkProfile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A profile name that is not one of [`QuirkProfile::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown registry quirk profile `{given}`: use one of {}", QuirkProfile::ALL.map(QuirkProfile::name).join(", "))]
pub struct UnknownQuirkProfile {
    pub given: String,
}

impl FromStr for QuirkProfile {
    type Err = UnknownQuirkProfile;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        QuirkProfile::ALL.into_iter().find(|p| p.name() == s).ok_or_else(|| UnknownQuirkProfile { given: s.to_string() })
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

/// A running quirks proxy; dropping it stops it.
#[derive(Debug)]
pub struct QuirksProxy {
    proxy: Proxy,
    profile: QuirkProfile,
    hits: Arc<Hits>,
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
}

/// Starts a proxy with `profile` in front of the registry `upstream` (`http://host:port`,
/// `https://host`, or a bare `host[:port]`), on a free port of 127.0.0.1. Must be called inside
/// a tokio runtime; the proxy runs on it until dropped.
pub async fn start_quirks_proxy(upstream: &str, profile: QuirkProfile) -> Result<QuirksProxy, ProxyError> {
    let hits = Arc::new(Hits::default());
    let handler = profiles::Quirks::new(profile, hits.clone());
    let proxy = Proxy::start(upstream, handler, ProxyOptions::default()).await?;
    Ok(QuirksProxy { proxy, profile, hits })
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
    }
}
