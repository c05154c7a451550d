//! What can go wrong when discovering or pulling artifacts.

use std::path::PathBuf;

/// One failure of `discover` or `pull`; strings from the registry are escaped when printed.
#[derive(Debug, thiserror::Error)]
pub enum ConsumeError {
    /// The registry cannot be reached, or its client not set up.
    #[error("cannot connect to {registry}: {reason}")]
    Connect {
        /// The registry host.
        registry: String,
        /// Why (escaped).
        reason: String,
    },
    /// A request failed.
    #[error("{what}: {reason}")]
    Registry {
        /// What was asked (a manifest, a listing, a blob).
        what: String,
        /// The registry's answer or the transport error (escaped).
        reason: String,
    },
    /// The app image or artifact does not exist.
    #[error("{reference} not found")]
    NotFound {
        /// The reference asked for.
        reference: String,
    },
    /// A manifest or listing was read but cannot be used (not JSON, wrong shape).
    #[error("{what} is not usable: {reason}")]
    Invalid {
        /// What was read.
        what: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A manifest or blob does not hash to its digest; it is not used.
    #[error("{what} does not match its digest: expected {expected}, got {found}")]
    DigestMismatch {
        /// What was read.
        what: String,
        /// The digest it should have.
        expected: String,
        /// The digest of the bytes received.
        found: String,
    },
    /// A blob is longer than its descriptor says; reading stopped at the stated size.
    #[error("{what} is larger than the {limit} bytes its descriptor states")]
    TooLarge {
        /// What was read.
        what: String,
        /// The size its descriptor states, in bytes.
        limit: u64,
    },
    /// `pull`: no artifact passes the filter.
    #[error("no artifact of {image} matches {filter}")]
    NoMatch {
        /// The app image.
        image: String,
        /// The filter, as the user wrote it.
        filter: String,
    },
    /// `pull`: more than one artifact passes the filter.
    #[error("{count} artifacts of {image} match {filter}: {candidates}; narrow it with --buildpack or --annotation")]
    SeveralMatches {
        /// The app image.
        image: String,
        /// The filter, as the user wrote it.
        filter: String,
        /// How many artifacts match.
        count: usize,
        /// Their labels, comma-separated.
        candidates: String,
    },
    /// A layer's title would write outside the output directory (absolute, `..`, …); nothing is written.
    #[error("file title `{title}` of {artifact} is not a safe relative path inside the output directory")]
    UnsafeTitle {
        /// The artifact.
        artifact: String,
        /// The title, escaped.
        title: String,
    },
    /// A layer has no title, so the file has no name.
    #[error("layer {digest} of {artifact} has no org.opencontainers.image.title annotation to name its file")]
    NoTitle {
        /// The artifact.
        artifact: String,
        /// The layer's digest.
        digest: String,
    },
    /// A pulled file cannot be written.
    #[error("cannot write {}: {reason}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The operating system's reason.
        reason: String,
    },
}
