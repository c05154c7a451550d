//! Names in the OCI distribution grammar: image references, repositories, tags and digests.
//!
//! Image references are parsed here, by hand, with Docker's normalisation (a regex-based parser
//! cost 17 MiB of memory on every run, docs/performance.md); this module also holds the checks
//! the spec needs after templating (rules R-TAG-1..4, R-REPO-1..3), with errors that explain what
//! is wrong and how to fix it.

use std::fmt;
use std::str::FromStr;

/// The longest tag the distribution spec allows.
pub const MAX_TAG_LEN: usize = 128;

/// The longest repository path (without host) the distribution spec allows (R-REPO-1).
pub const MAX_REPOSITORY_LEN: usize = 255;

/// Why a string is not a valid tag.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TagError {
    /// The tag is the empty string.
    #[error("tag is empty")]
    Empty,
    /// The tag is over 128 characters (R-TAG-1).
    #[error("tag `{tag}` is {len} characters long, over the limit of 128")]
    TooLong {
        /// The tag as given.
        tag: String,
        /// Its length in characters.
        len: usize,
    },
    /// The tag contains `+` (R-TAG-1: semver build metadata must be written otherwise).
    #[error("tag `{tag}` contains `+`, which tags may not contain")]
    Plus {
        /// The tag as given.
        tag: String,
    },
    /// The tag has a character outside `[A-Za-z0-9_.-]`, or starts with `.` or `-` (R-TAG-1).
    #[error("tag `{tag}` has an invalid character {ch:?} at position {pos}")]
    InvalidChar {
        /// The tag as given.
        tag: String,
        /// The first invalid character.
        ch: char,
        /// Its position, in characters from 0.
        pos: usize,
    },
}

impl TagError {
    /// A hint for the user.
    pub fn help(&self) -> &'static str {
        match self {
            TagError::Empty => "a template variable expanded to nothing; tags match [A-Za-z0-9_][A-Za-z0-9._-]{0,127}",
            TagError::TooLong { .. } => "shorten the tag template; tags are at most 128 characters",
            TagError::Plus { .. } => "semantic-version build metadata (`+…`) is not allowed in tags; Helm writes `+` as `_`",
            TagError::InvalidChar { .. } => "tags match [A-Za-z0-9_][A-Za-z0-9._-]{0,127}",
        }
    }
}

/// Checks `tag` against the distribution spec's tag grammar `[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`.
pub fn validate_tag(tag: &str) -> Result<(), TagError> {
    if tag.is_empty() {
        return Err(TagError::Empty);
    }
    for (pos, ch) in tag.chars().enumerate() {
        let ok = ch.is_ascii_alphanumeric() || ch == '_' || (pos > 0 && (ch == '.' || ch == '-'));
        if !ok {
            if ch == '+' {
                return Err(TagError::Plus { tag: tag.to_string() });
            }
            return Err(TagError::InvalidChar { tag: tag.to_string(), ch, pos });
        }
    }
    let len = tag.chars().count();
    if len > MAX_TAG_LEN {
        return Err(TagError::TooLong { tag: tag.to_string(), len });
    }
    Ok(())
}

/// True for tags of the referrers tag schema, `sha256-<64 lowercase hex>` (R-COLL-3).
pub fn is_referrers_tag(tag: &str) -> bool {
    tag.strip_prefix("sha256-").is_some_and(|hex| hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
}

/// Why a string is not a valid repository path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RepositoryError {
    /// The repository path is the empty string.
    #[error("repository is empty")]
    Empty,
    /// The repository path breaks the distribution grammar (R-REPO-1); the path as given.
    #[error("repository `{0}` is not a valid repository path")]
    Invalid(String),
    /// The repository path is over the length limit (R-REPO-1).
    #[error("repository `{repo}` is {len} characters long, over the limit of {MAX_REPOSITORY_LEN}")]
    TooLong {
        /// The repository path as given.
        repo: String,
        /// Its length in characters.
        len: usize,
    },
    /// The repository names a registry other than the app image's (R-REPO-2).
    #[error("repository `{repo}` names registry `{host}`, which is not the app image's registry `{expected}`")]
    ForeignRegistry {
        /// The repository as given.
        repo: String,
        /// The registry host it names.
        host: String,
        /// The app image's registry host.
        expected: String,
    },
}

impl RepositoryError {
    /// A suggestion for fixing the repository, for a diagnostic's help line.
    pub fn help(&self) -> &'static str {
        match self {
            RepositoryError::Empty => "write a repository path such as `team/app-wasm`; a template variable may have expanded to nothing",
            RepositoryError::TooLong { .. } => {
                "shorten the repository template; `<registry>/<repository>` is at most 255 characters, the host included"
            }
            RepositoryError::Invalid(_) => {
                "repository paths are lowercase components [a-z0-9]+ joined by `.`, `_`, `__` or `-`, separated by `/`"
            }
            RepositoryError::ForeignRegistry { .. } => {
                "artifacts are published to the app image's registry; write the repository path without a host"
            }
        }
    }
}

/// Checks a repository path (without host) against the distribution spec's grammar
/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*`.
pub fn validate_repository_path(path: &str) -> Result<(), RepositoryError> {
    if path.is_empty() {
        return Err(RepositoryError::Empty);
    }
    for component in path.split('/') {
        if !valid_path_component(component) {
            return Err(RepositoryError::Invalid(path.to_string()));
        }
    }
    // Valid components are ASCII, so bytes count characters.
    if path.len() > MAX_REPOSITORY_LEN {
        return Err(RepositoryError::TooLong { repo: path.to_string(), len: path.len() });
    }
    Ok(())
}

/// Checks the repository path an artifact is pushed to in `registry` (R-REPO-1): the grammar of
/// [`validate_repository_path`], and at most 255 characters for `<registry>/<path>`, since
/// Docker's and containerd's reference parsers count the host.
pub fn validate_repository_in(registry: &str, path: &str) -> Result<(), RepositoryError> {
    match validate_repository_path(path) {
        Ok(()) | Err(RepositoryError::TooLong { .. }) => {}
        Err(e) => return Err(e),
    }
    let len = registry.chars().count() + 1 + path.len();
    if len > MAX_REPOSITORY_LEN {
        return Err(RepositoryError::TooLong { repo: format!("{registry}/{path}"), len });
    }
    Ok(())
}

fn valid_path_component(c: &str) -> bool {
    let b = c.as_bytes();
    if b.is_empty() {
        return false;
    }
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        // a separator run: `.`, `_`, `__` or `-+`, followed by an alphanumeric
        let start = i;
        match b[i] {
            b'.' => i += 1,
            b'_' => {
                i += 1;
                if i < b.len() && b[i] == b'_' {
                    i += 1;
                }
            }
            b'-' => {
                while i < b.len() && b[i] == b'-' {
                    i += 1;
                }
            }
            _ => return false,
        }
        if i >= b.len() || !alnum(b[i]) || i == start {
            return false;
        }
    }
    true
}

/// A `sha256:<64 lowercase hex>` digest.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Digest(String);

impl Digest {
    /// The digest as text, `sha256:<hex>`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// The hex part.
    pub fn hex(&self) -> &str {
        &self.0["sha256:".len()..]
    }
    /// The sha256 digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Digest {
        use sha2::{Digest as _, Sha256};
        Digest(format!("sha256:{}", hex::encode(Sha256::digest(bytes))))
    }
    /// From a finished hasher.
    pub fn from_sha256(hash: sha2::Sha256) -> Digest {
        use sha2::Digest as _;
        Digest(format!("sha256:{}", hex::encode(hash.finalize())))
    }
    /// The referrers tag-schema tag of this digest: `sha256-<hex>` (R-REF-2).
    pub fn referrers_tag(&self) -> String {
        format!("sha256-{}", self.hex())
    }
}

impl FromStr for Digest {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let hex = s.strip_prefix("sha256:").ok_or_else(|| format!("digest `{s}` must start with `sha256:`"))?;
        if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            return Err(format!("digest `{s}` must be `sha256:` followed by 64 lowercase hex digits"));
        }
        Ok(Digest(s.to_string()))
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// The app image reference a build was exported to: registry, repository and optional tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    /// Registry host (with port), as written by the user, e.g. `localhost:5000`.
    pub registry: String,
    /// Repository path without the registry, e.g. `team/app`.
    pub repository: String,
    /// The tag, when the reference has one.
    pub tag: Option<String>,
    /// The digest, when the reference has one (`name@sha256:…`).
    pub digest: Option<Digest>,
}

impl ImageRef {
    /// `registry/repository`.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }
}

impl FromStr for ImageRef {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.trim() != s || s.is_empty() {
            return Err(format!("image reference `{s}` is empty or has surrounding white space"));
        }
        // The tag and digest as written, checked first so that the error says what is wrong
        // with them rather than the parser's `invalid reference format`.
        let (name, written_digest) = match s.split_once('@') {
            Some((name, digest)) => (name, Some(digest)),
            None => (s, None),
        };
        let context = |e: &dyn fmt::Display| format!("image reference `{s}`: {e}");
        if let Some(d) = written_digest {
            d.parse::<Digest>().map_err(|e| context(&e))?;
        }
        if let Some((_, tag)) = name.rsplit('/').next().and_then(|last| last.split_once(':')) {
            validate_tag(tag).map_err(|e| context(&e))?;
        }
        // Docker's normalisation: the first component is a registry host when it contains `.`
        // or `:` or is `localhost`; otherwise the image is on Docker Hub (`docker.io`), where a
        // one-component name lives under `library/`. Parsed by hand: the oci-spec parser compiles
        // a Unicode regex that costs ~17 MiB and ~0.1 s per run (docs/performance.md).
        let (path, tag) = match name.rsplit_once('/').map_or(name, |(_, last)| last).split_once(':') {
            Some((_, tag)) => (&name[..name.len() - tag.len() - 1], Some(tag.to_string())),
            None => (name, None),
        };
        let (registry, repository) = match path.split_once('/') {
            Some((first, rest)) if first.contains(['.', ':']) || first == "localhost" => (first.to_string(), rest.to_string()),
            _ if path.contains('/') => ("docker.io".to_string(), path.to_string()),
            _ => ("docker.io".to_string(), format!("library/{path}")),
        };
        if !valid_registry(&registry) {
            return Err(context(&format!("registry `{registry}` is not a valid host[:port]")));
        }
        validate_repository_path(&repository).map_err(|e| context(&e))?;
        let digest = match written_digest {
            Some(d) => Some(d.parse::<Digest>().map_err(|e| context(&e))?),
            None => None,
        };
        Ok(ImageRef { registry, repository, tag, digest })
    }
}

/// A registry host: a DNS name or IPv4 address (letters, digits, `.`, `-`) or a bracketed IPv6
/// address, with an optional numeric port.
fn valid_registry(registry: &str) -> bool {
    let (host, port) = match registry.rsplit_once(':') {
        Some((h, p)) if !p.contains(']') => (h, Some(p)),
        _ => (registry, None),
    };
    let host_ok = if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        !v6.is_empty() && v6.chars().all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.')
    } else {
        !host.is_empty()
            && host.split('.').all(|label| {
                !label.is_empty()
                    && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                    && !label.starts_with('-')
                    && !label.ends_with('-')
            })
    };
    let port_ok = port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()));
    host_ok && port_ok
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
