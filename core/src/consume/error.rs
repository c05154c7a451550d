//! What can go wrong when discovering or pulling artifacts.

use std::path::PathBuf;

/// One failure of `discover` or `pull`; strings from the registry are escaped when printed.
#[derive(Debug, thiserror::Error)]
pub enum ConsumeError {
    #[error("cannot connect to {registry}: {reason}")]
    Connect { registry: String, reason: String },
    #[error("{what}: {reason}")]
    Registry { what: String, reason: String },
    #[error("{reference} not found")]
    NotFound { reference: String },
    #[error("{what} is not usable: {reason}")]
    Invalid { what: String, reason: String },
    #[error("{what} does not match its digest: expected {expected}, got {found}")]
    DigestMismatch { what: String, expected: String, found: String },
    #[error("{what} is larger than the {limit} bytes its descriptor states")]
    TooLarge { what: String, limit: u64 },
    #[error("no artifact of {image} matches {filter}")]
    NoMatch { image: String, filter: String },
    #[error("{count} artifacts of {image} match {filter}: {candidates}; narrow it with --buildpack or --annotation")]
    SeveralMatches { image: String, filter: String, count: usize, candidates: String },
    #[error("file title `{title}` of {artifact} is not a safe relative path inside the output directory")]
    UnsafeTitle { artifact: String, title: String },
    #[error("layer {digest} of {artifact} has no org.opencontainers.image.title annotation to name its file")]
    NoTitle { artifact: String, digest: String },
    #[error("cannot write {}: {reason}", path.display())]
    Write { path: PathBuf, reason: String },
}
