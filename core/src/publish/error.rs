//! What can go wrong while publishing, named for what happened (spec rules R-PUSH-*, R-REF-*).
//!
//! Two layers: a [`TargetError`] is what one operation on a [`crate::publish::target::Target`]
//! reports (a registry's answer verbatim, a changed file, a layout write), and a
//! [`PublishError`] adds which artifact, repository or reference it concerns. Messages never
//! carry credentials: registry answers are reported as status, error codes and body, and URLs
//! are built by this crate without user information.

use std::fmt::{self, Write as _};
use std::path::PathBuf;

use oci_client::errors::OciDistributionError;

use crate::manifest::ManifestError;
use crate::publish::auth::AuthError;
use crate::reference::Digest;

/// A registry's answer to a request that failed, as received: HTTP status (when known) and the
/// body or OCI error codes, verbatim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryFailure {
    /// The HTTP status, when the request reached the registry.
    pub status: Option<u16>,
    /// The error body (OCI error envelope as JSON, or the plain body), or the transport error.
    pub detail: String,
}

impl fmt::Display for RegistryFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.status {
            Some(status) => write!(f, "HTTP {status}: {}", registry_body(&self.detail)),
            None => f.write_str(&registry_body(&self.detail)),
        }
    }
}

impl std::error::Error for RegistryFailure {}

impl From<&OciDistributionError> for RegistryFailure {
    fn from(e: &OciDistributionError) -> Self {
        match e {
            OciDistributionError::ServerError { code, message, .. } => RegistryFailure { status: Some(*code), detail: message.clone() },
            OciDistributionError::RegistryError { envelope, .. } => {
                RegistryFailure { status: None, detail: serde_json::to_string(envelope).unwrap_or_else(|_| envelope.to_string()) }
            }
            OciDistributionError::UnauthorizedError { url } => {
                RegistryFailure { status: Some(401), detail: format!("not authorized for {url}") }
            }
            OciDistributionError::RequestError(r) => RegistryFailure { status: r.status().map(|s| s.as_u16()), detail: error_chain(r) },
            other => RegistryFailure { status: None, detail: error_chain(other) },
        }
    }
}

impl From<OciDistributionError> for RegistryFailure {
    fn from(e: OciDistributionError) -> Self {
        RegistryFailure::from(&e)
    }
}

/// The most characters of a registry's answer shown in a message (R-SEC-2).
pub const BODY_SHOWN: usize = 1024;

/// A registry's answer body for a message: credentials redacted, cut at [`BODY_SHOWN`]
/// characters (saying how much was left out), escaped as `crate::display::text`.
pub fn registry_body(body: &str) -> String {
    let redacted = crate::publish::auth::redact::redact_body(body.trim());
    let mut out = String::new();
    let mut chars = redacted.chars();
    for c in chars.by_ref().take(BODY_SHOWN) {
        let _ = crate::display::write_char(&mut out, c);
    }
    let rest = chars.as_str().len();
    if rest > 0 {
        let _ = write!(out, "… ({rest} more bytes not shown)");
    }
    out
}

/// `error: cause: cause…`, the whole chain on one line.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

/// `sha256:… (N bytes)`, or `N bytes` when the digest was not planned.
fn planned(digest: Option<&Digest>, size: u64) -> String {
    match digest {
        Some(d) => format!("{d} ({size} bytes)"),
        None => format!("{size} bytes"),
    }
}

/// What one operation on a target reported.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    /// The registry refused or failed a request; its answer.
    #[error("{0}")]
    Registry(#[from] RegistryFailure),
    /// A file's bytes no longer hash to what was planned (R-PUSH-4).
    #[error("{} changed since planning: planned {}, found {found}", path.display(), planned(expected.as_ref(), *expected_size))]
    FileChanged {
        /// The file.
        path: PathBuf,
        /// The digest planned; `None` for a file whose digest was left to the upload (R-PUSH-11).
        expected: Option<Digest>,
        /// The size planned, in bytes.
        expected_size: u64,
        /// What was found instead (a digest, or a size).
        found: String,
    },
    /// A planned file cannot be read for upload.
    #[error("cannot read {}: {source}", path.display())]
    ReadFile {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A file of the OCI image layout cannot be written.
    #[error("cannot write {}: {source}", path.display())]
    WriteLayout {
        /// The file of the layout.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The directory is not an OCI image layout this tool can add to.
    #[error("{} is not a valid OCI image layout: {reason}", path.display())]
    InvalidLayout {
        /// The layout directory.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A registry served a manifest over the 4 MiB limit (R-PUSH-6); it is not used.
    #[error("manifest {reference} served by the registry is {size} bytes, over the 4 MiB limit")]
    ManifestTooLarge {
        /// The manifest's reference.
        reference: String,
        /// Its size in bytes.
        size: usize,
    },
    /// A manifest fetched from the target does not hash to the digest it should have
    /// (R-PUSH-3): the one asked for, or the one the registry's `Docker-Content-Digest` header
    /// claims. `said` says which.
    #[error("manifest {reference}: {said}, but the bytes the registry sent have digest {actual}; they are not used")]
    DigestMismatch {
        /// The manifest's reference.
        reference: String,
        /// Which digest it should have had, and why (asked for, or the header's).
        said: String,
        /// The digest of the bytes received.
        actual: Digest,
    },
}

/// A tag that holds something this tool did not publish (R-PUSH-5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForeignTag {
    /// `registry/repository:tag`.
    pub reference: String,
    /// What is there, e.g. `an image manifest sha256:… without the io.buildpacks.artifact.layer annotation`.
    pub found: String,
    /// The artifact that wants the tag.
    pub artifact: String,
    /// The tag holds the app image itself (the subject): `--overwrite` would take the app's own
    /// tag away, so the advice is to rename the artifact's tag.
    pub holds_app_image: bool,
}

/// The foreign tags, one per line, then the advice: `--overwrite` only when no tag holds the
/// app image itself.
fn foreign_tags_message(tags: &[ForeignTag]) -> String {
    let mut text =
        format!("{} hold content this tool did not publish; nothing was pushed:", crate::spelling::count(tags.len(), "tag", "tags"));
    for t in tags {
        if t.holds_app_image {
            text.push_str(&format!("\n  - {} (wanted by {}) holds the app image itself: {}", t.reference, t.artifact, t.found));
        } else {
            text.push_str(&format!("\n  - {} (wanted by {}) holds {}", t.reference, t.artifact, t.found));
        }
    }
    if tags.iter().any(|t| t.holds_app_image) {
        text.push_str(
            "\nrename the artifact's tag in its layer TOML (e.g. `tag = \"${build.tag}-wasm\"`) so it \
             does not take a tag of the app image; --overwrite would move the app image's own tag",
        );
    } else {
        text.push_str("\npass --overwrite to replace them");
    }
    text
}

/// Why a publish stopped. Every variant names the artifact, repository or reference concerned.
/// Any error before the tagging step leaves every tag as it was (R-PUSH-2).
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// No client can be set up for the registry (CA file, TLS).
    #[error("cannot set up a client for {registry}: {source}")]
    Transport {
        /// The registry host.
        registry: String,
        /// Why.
        source: crate::publish::client::TransportError,
    },
    /// Credentials for the registry cannot be found (R-AUTH-1).
    #[error("cannot find credentials for {registry}: {source}")]
    Credentials {
        /// The registry host.
        registry: String,
        /// Why.
        source: AuthError,
    },
    /// R-AUTH-6: the registry's token realm is not one credentials may go to.
    #[error("credentials for {registry} are not sent: {source}")]
    CredentialsWithheld {
        /// The registry host.
        registry: String,
        /// Why the realm is refused.
        source: crate::publish::auth_realm::RealmError,
    },
    /// The app image named by digest is not in the registry (R-PUSH-1).
    #[error("the app image {image} does not exist in the registry: the subject {digest} must be pushed before its artifacts")]
    AppImageMissing {
        /// The app image reference.
        image: String,
        /// The subject digest.
        digest: Digest,
    },
    /// The app image tag does not exist and no digest was given.
    #[error("the app image tag {reference} does not exist; pass the image digest (--digest) or push the image first")]
    AppImageTagMissing {
        /// The app image reference.
        reference: String,
    },
    /// A digest was given without the manifest size, and the target cannot tell the size
    /// (an OCI image layout that does not hold the app image).
    #[error("--digest {digest} was given without --manifest-size, and the layout does not hold the app image, so its manifest size is unknown: pass --manifest-size N (the size in bytes of the app image manifest) or --report report.toml")]
    SubjectSizeUnknown {
        /// The subject digest given.
        digest: Digest,
    },
    /// The app image tag points to another digest than the one given (R-CTX-2).
    #[error("the app image tag {reference} points to {found}, but the subject digest given is {expected}: the digest (from --digest or report.toml) does not describe this image")]
    SubjectDigestMismatch {
        /// The app image reference.
        reference: String,
        /// The digest given.
        expected: Digest,
        /// What the tag points to.
        found: String,
    },
    /// R-CTX-2, R-MAN-6: the app image read from the registry is not a manifest a subject may be.
    #[error(
        "the app image {reference} is a {media_type}, not an image manifest or index (R-MAN-6), so it cannot be the subject of artifacts"
    )]
    SubjectMediaType {
        /// The app image reference.
        reference: String,
        /// Its media type.
        media_type: String,
    },
    /// The app image does not match the subject descriptor given (size or media type).
    #[error("the app image {reference} is {found}, but the subject descriptor says {expected}")]
    SubjectDescriptorMismatch {
        /// The app image reference.
        reference: String,
        /// The descriptor given.
        expected: String,
        /// What the registry holds.
        found: String,
    },
    /// The app image cannot be read.
    #[error("cannot read the app image {reference}: {source}")]
    AppImageUnreadable {
        /// The app image reference.
        reference: String,
        /// The target's error.
        source: Box<TargetError>,
    },
    /// What a tag to set holds cannot be read (R-PUSH-5).
    #[error("cannot check what tag {reference} holds: {source}")]
    TagCheckFailed {
        /// The tag's reference.
        reference: String,
        /// The target's error.
        source: Box<TargetError>,
    },
    /// Tags to set hold content this tool did not publish, and `overwrite` is off (R-PUSH-5).
    #[error("{}", foreign_tags_message(tags))]
    ForeignTags {
        /// Every such tag.
        tags: Vec<ForeignTag>,
    },
    /// An artifact's manifest cannot be built (R-MAN-*).
    #[error("cannot build the manifest of {artifact}: {source}")]
    ManifestBuild {
        /// The artifact's label.
        artifact: String,
        /// Why.
        source: ManifestError,
    },
    /// An artifact's manifest is over 4 MiB (R-MAN-9); nothing was pushed.
    #[error("{declared_at}: the manifest of {artifact} is {size} bytes, over the 4 MiB limit (R-MAN-9); nothing was pushed")]
    ManifestTooLarge {
        /// The artifact's label.
        artifact: String,
        /// Where the artifact is declared.
        declared_at: crate::diagnostic::Location,
        /// The manifest's size in bytes.
        size: usize,
    },
    /// A blob cannot be uploaded; nothing was tagged.
    #[error("cannot upload blob {digest} ({what}) of {artifact} to {repository}; nothing was tagged: {source}")]
    BlobUpload {
        /// The artifact's label.
        artifact: String,
        /// The repository.
        repository: String,
        /// The blob's digest.
        digest: Digest,
        /// Which blob (config, or a file's path).
        what: String,
        /// The target's error.
        source: Box<TargetError>,
    },
    /// A file whose digest was left to the upload (R-PUSH-11) cannot be read or sent whole;
    /// nothing was tagged.
    #[error("cannot read {what} of {artifact} for {repository}; nothing was tagged: {source}")]
    FileUnreadable {
        /// The artifact's label.
        artifact: String,
        /// The repository.
        repository: String,
        /// Which file.
        what: String,
        /// The target's error.
        source: Box<TargetError>,
    },
    /// The app image cannot be copied into an artifact's repository (R-PUSH-10); nothing was tagged.
    #[error("cannot make the app image {digest} present in {repository} (R-PUSH-10); nothing was tagged: {source}")]
    SubjectCopy {
        /// The repository.
        repository: String,
        /// The app image's digest.
        digest: Digest,
        /// The target's error.
        source: Box<TargetError>,
    },
    /// The registry refused a manifest; nothing was tagged.
    #[error("the registry rejected the manifest {digest} of {artifact} in {repository}; nothing was tagged: {source}")]
    ManifestRejected {
        /// The artifact's label.
        artifact: String,
        /// The repository.
        repository: String,
        /// The manifest's digest.
        digest: Digest,
        /// The target's error.
        source: Box<TargetError>,
    },
    /// The referrers API probe failed (R-REF-1); nothing was tagged.
    #[error("cannot query the referrers API of {repository}; nothing was tagged: {source}")]
    ReferrersProbeFailed {
        /// The repository.
        repository: String,
        /// The target's error.
        source: Box<TargetError>,
    },
    /// The referrers API answered something else than an index or 404 (R-REF-1); nothing was tagged.
    #[error("the referrers API of {repository} answered {answer}, which is neither an OCI image index nor 404; nothing was tagged (use --referrers=fallback or --referrers=api to choose)")]
    ReferrersProbeUnexpected {
        /// The repository.
        repository: String,
        /// The answer, as shown to the user.
        answer: String,
    },
    /// The fallback tag holds something else than an OCI image index (R-REF-2); nothing was tagged.
    #[error("the referrers fallback tag {reference} holds {found}, not an OCI image index; nothing was tagged")]
    FallbackTagHoldsOther {
        /// The fallback tag's reference.
        reference: String,
        /// What it holds.
        found: String,
    },
    /// The existing fallback index cannot be read as an index (R-REF-2); nothing was tagged.
    #[error("the referrers fallback index {reference} is invalid ({reason}); nothing was tagged")]
    FallbackIndexInvalid {
        /// The fallback tag's reference.
        reference: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The merged fallback index would be over 4 MiB; nothing was tagged.
    #[error("the referrers fallback index {reference} would be {size} bytes, over the 4 MiB limit; nothing was tagged")]
    FallbackIndexTooLarge {
        /// The fallback tag's reference.
        reference: String,
        /// Its size in bytes.
        size: usize,
    },
    /// The fallback index cannot be written; nothing was tagged.
    #[error("cannot write the referrers fallback index {reference}; nothing was tagged: {source}")]
    FallbackIndexWrite {
        /// The fallback tag's reference.
        reference: String,
        /// The target's error.
        source: Box<TargetError>,
    },
    /// Concurrent writers kept replacing the fallback index; nothing was tagged.
    #[error("the referrers fallback index {reference} kept losing our entries to concurrent writers after {attempts} attempts; nothing was tagged")]
    FallbackIndexContended {
        /// The fallback tag's reference.
        reference: String,
        /// How many read-merge-write rounds were tried.
        attempts: u32,
    },
    /// The registry refused a tag (R-PUSH-2: tags are set last; earlier tags stay set).
    #[error("the registry rejected tag {reference} of {artifact}: {source} (tags already set: {})", if already_tagged.is_empty() { "none".to_string() } else { already_tagged.join(", ") })]
    TagRejected {
        /// The artifact's label.
        artifact: String,
        /// The tag's reference.
        reference: String,
        /// The target's error.
        source: Box<TargetError>,
        /// The tags that were set (started before the failure, tags are set concurrently), in
        /// plan order.
        already_tagged: Vec<String>,
    },
    /// The OCI image layout cannot be opened.
    #[error("cannot open the OCI image layout {}: {source}", path.display())]
    LayoutUnusable {
        /// The layout directory.
        path: PathBuf,
        /// The target's error.
        source: Box<TargetError>,
    },
}

#[cfg(test)]
mod body_tests {
    use super::*;

    #[test]
    fn output_registry_bodies_are_cut_and_escaped() {
        let body = format!("\u{1b}]0;title\u{7}{}", "x".repeat(5000));
        let shown = registry_body(&body);
        assert!(shown.starts_with("\\u{1b}]0;title\\u{7}xxx"), "{shown}");
        assert!(shown.ends_with("… (3986 more bytes not shown)"), "{shown}");
        assert!(shown.chars().count() < BODY_SHOWN + 40);
    }
}
