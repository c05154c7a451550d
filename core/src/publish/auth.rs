//! Registry credentials: where they come from and how they are kept out of sight (spec rules
//! R-AUTH-1 and R-AUTH-2).
//!
//! [`resolve`] finds the credentials for one registry the way the lifecycle does: first the
//! platform's `CNB_REGISTRY_AUTH` variable, then the Docker config file (`auths`, `credHelpers`,
//! `credsStore`), else anonymous access. [`resolve_with`] does the same from an explicit
//! [`AuthSource`], so nothing here depends on process-global state in tests.
//!
//! Secrets are held in [`Secret`], whose `Debug` and `Display` print `***`; no error of this
//! module carries a credential, a helper's output or a JSON parser message (which may quote
//! the input) — errors name the variable or file and the key, never the value.
//!
//! The Docker config is read here rather than through the `docker_credential` crate: that
//! crate finds helpers only on the process `PATH`, matches `credHelpers` keys without
//! normalisation (Docker Hub's `https://index.docker.io/v1/` vs `index.docker.io`), treats a
//! helper's "credentials not found" answer as an error, drops the `username` that accompanies
//! an `identitytoken`, ignores `registrytoken`, and puts the helper's stdout in its error
//! text. The precedence below is the crate's.

mod docker_config;
pub mod redact;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;

use base64::Engine as _;
use oci_client::secrets::RegistryAuth;

use crate::mutants::Mutant;

pub use docker_config::DOCKER_HUB_SERVER;

/// The platform variable with per-registry authorization headers (CNB platform spec).
pub const REGISTRY_AUTH_ENV: &str = "CNB_REGISTRY_AUTH";

/// A credential. Its `Debug` and `Display` print `***`; read it with [`Secret::expose`].
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    /// Wraps a credential.
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    /// The credential itself: for sending it where the user sent it, never for printing.
    pub fn expose(&self) -> &str {
        &self.0
    }
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl<'de> serde::Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret)
    }
}

/// Where credentials are looked up.
#[derive(Debug, Clone, Default)]
pub struct AuthSource {
    /// The value of `CNB_REGISTRY_AUTH`; unset and empty are the same.
    pub registry_auth: Option<Secret>,
    /// `CNB_REGISTRY_AUTH` is set but not UTF-8: an error, never a fall-through (R-AUTH-1).
    pub registry_auth_not_utf8: bool,
    /// The Docker config file: `$DOCKER_CONFIG/config.json`, else `$HOME/.docker/config.json`.
    pub docker_config: Option<PathBuf>,
    /// The directories searched for `docker-credential-<name>` helpers (a `PATH` value).
    pub helper_path: Option<OsString>,
    /// How long a credential helper may run before it is killed; `None`: [`HELPER_TIMEOUT`].
    pub helper_timeout: Option<std::time::Duration>,
}

/// How long a credential helper may run by default.
pub const HELPER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

impl AuthSource {
    /// The sources named by the process environment.
    pub fn from_env() -> Self {
        let docker_dir = std::env::var_os("DOCKER_CONFIG")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".docker")));
        AuthSource {
            registry_auth: std::env::var(REGISTRY_AUTH_ENV).ok().map(Secret),
            registry_auth_not_utf8: matches!(std::env::var(REGISTRY_AUTH_ENV), Err(std::env::VarError::NotUnicode(_))),
            docker_config: docker_dir.map(|d| d.join("config.json")),
            helper_path: std::env::var_os("PATH"),
            helper_timeout: None,
        }
    }
}

/// Why credentials could not be found. No variant holds a credential.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error(
        "{REGISTRY_AUTH_ENV} is not a JSON object of registry names to authorization headers ({what} at line {line}, column {column})"
    )]
    /// `CNB_REGISTRY_AUTH` is not a JSON object of strings.
    RegistryAuthEnvInvalid {
        /// What the JSON parser found wrong.
        what: &'static str,
        /// Its line in the value, from 1.
        line: usize,
        /// Its column, from 1.
        column: usize,
    },
    /// `CNB_REGISTRY_AUTH` is set but not UTF-8.
    #[error("{REGISTRY_AUTH_ENV} is not valid UTF-8 (it must be a JSON object of registry names to authorization headers)")]
    RegistryAuthEnvNotUtf8,
    /// An entry of `CNB_REGISTRY_AUTH` is neither `Basic …` nor `Bearer …`.
    #[error("{REGISTRY_AUTH_ENV} entry `{key}` is not `Basic <base64 of user:password>` or `Bearer <token>`")]
    RegistryAuthEnvMalformed {
        /// The entry's registry name.
        key: String,
    },
    /// The Docker config exists but cannot be read.
    #[error("cannot read Docker config {path}: {source}")]
    DockerConfigUnreadable {
        /// The config file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The Docker config is not valid JSON of the expected shape.
    #[error("Docker config {path} is not a valid config file ({what} at line {line}, column {column})")]
    DockerConfigInvalid {
        /// The config file.
        path: PathBuf,
        /// What the JSON parser found wrong.
        what: &'static str,
        /// Its line, from 1.
        line: usize,
        /// Its column, from 1.
        column: usize,
    },
    /// An `auths` entry's `auth` is not base64 of `user:password`.
    #[error("Docker config {path}: `auths.\"{key}\".auth` is not the base64 of `user:password`")]
    DockerConfigAuthMalformed {
        /// The config file.
        path: PathBuf,
        /// The entry's registry name.
        key: String,
    },
    /// An `auths` entry's `auth` contradicts its `username` and `password`.
    #[error("Docker config {path}: `auths.\"{key}\"` has an `auth` that does not match its `username` and `password`")]
    DockerConfigAuthMismatch {
        /// The config file.
        path: PathBuf,
        /// The entry's registry name.
        key: String,
    },
    /// The credential helper named in the config is not on `PATH`.
    #[error("credential helper `{helper}` named by `{setting}` in {path} is not on PATH")]
    HelperNotFound {
        /// The helper (`docker-credential-<name>`).
        helper: String,
        /// The setting naming it (`credsStore` or `credHelpers."<registry>"`).
        setting: String,
        /// The config file.
        path: PathBuf,
    },
    /// The credential helper could not be started or read.
    #[error("credential helper `{helper}` could not be run: {source}")]
    HelperIo {
        /// The helper.
        helper: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The credential helper exited with a failure.
    #[error("credential helper `{helper}` failed for `{server}` ({status}); run `{helper} get` with `{server}` on stdin to see why")]
    HelperFailed {
        /// The helper.
        helper: String,
        /// The server it was asked about.
        server: String,
        /// Its exit status.
        status: String,
    },
    /// The credential helper ran past its timeout and was killed.
    #[error("credential helper `{helper}` did not answer for `{server}` within {after:?} and was stopped")]
    HelperTimedOut {
        /// The helper.
        helper: String,
        /// The server it was asked about.
        server: String,
        /// The timeout.
        after: std::time::Duration,
    },
    /// The credential helper's answer is not the JSON the helper protocol defines.
    #[error("credential helper `{helper}` answered for `{server}` with something other than a JSON object with `Username` and `Secret`")]
    HelperBadResponse {
        /// The helper.
        helper: String,
        /// The server it was asked about.
        server: String,
    },
}

/// The credentials for `registry` (`host` or `host:port`) from the process environment
/// (R-AUTH-1).
pub fn resolve(registry: &str) -> Result<RegistryAuth, AuthError> {
    resolve_with(registry, &AuthSource::from_env())
}

/// The credentials for `registry` from `source`: `CNB_REGISTRY_AUTH` first, then the Docker
/// config file, else anonymous (R-AUTH-1).
pub fn resolve_with(registry: &str, source: &AuthSource) -> Result<RegistryAuth, AuthError> {
    let auth = first_source(registry, source)?;
    if crate::mutants::active(Mutant::PrintsCredentials) {
        eprintln!("debug: credentials for {registry}: Authorization: {}", mutant_header(&auth));
    }
    Ok(auth)
}

/// The `Authorization` value [`Mutant::PrintsCredentials`] prints (R-AUTH-2 forbids it).
fn mutant_header(auth: &RegistryAuth) -> String {
    match auth {
        RegistryAuth::Basic(user, password) => {
            format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")))
        }
        RegistryAuth::Bearer(token) => format!("Bearer {token}"),
        RegistryAuth::Anonymous => "(anonymous)".to_string(),
    }
}

/// The credentials of the first source with an entry for `registry` (R-AUTH-1).
fn first_source(registry: &str, source: &AuthSource) -> Result<RegistryAuth, AuthError> {
    if source.registry_auth_not_utf8 {
        return Err(AuthError::RegistryAuthEnvNotUtf8);
    }
    let docker_config_first = crate::mutants::active(Mutant::DockerConfigFirst);
    if docker_config_first {
        if let Some(auth) = from_docker_config(registry, source)? {
            return Ok(auth);
        }
    }
    let from_env = match from_registry_auth_env(registry, source.registry_auth.as_ref()) {
        Err(_) if crate::mutants::active(Mutant::MalformedRegistryAuthFallsThrough) => None,
        found => found?,
    };
    if let Some(auth) = from_env {
        tracing::debug!(registry, "credentials from {REGISTRY_AUTH_ENV}");
        return Ok(auth);
    }
    if !docker_config_first {
        if let Some(auth) = from_docker_config(registry, source)? {
            return Ok(auth);
        }
    }
    tracing::debug!(registry, "no credentials found; anonymous access");
    Ok(RegistryAuth::Anonymous)
}

/// The credentials the Docker config file holds for `registry`, if any (R-AUTH-4).
fn from_docker_config(registry: &str, source: &AuthSource) -> Result<Option<RegistryAuth>, AuthError> {
    let Some(path) = &source.docker_config else {
        return Ok(None);
    };
    let found = docker_config::resolve(registry, path, source.helper_path.as_deref(), source.helper_timeout.unwrap_or(HELPER_TIMEOUT))?;
    if found.is_some() {
        tracing::debug!(registry, config = %path.display(), "credentials from the Docker config");
    }
    Ok(found)
}

/// The normal form of a registry name or credential key, used to match one to the other:
/// scheme and path dropped (`https://index.docker.io/v1/` → `index.docker.io`), lowercased,
/// and Docker Hub's names (`docker.io`, `index.docker.io`, `registry-1.docker.io`) made
/// `index.docker.io` (R-AUTH-1).
pub fn normalize_registry(name: &str) -> String {
    let name = name.trim();
    let without_scheme = name.strip_prefix("https://").or_else(|| name.strip_prefix("http://")).unwrap_or(name);
    let host = without_scheme.split('/').next().unwrap_or(without_scheme).to_ascii_lowercase();
    match host.as_str() {
        "docker.io" | "registry-1.docker.io" | "index.docker.io" => "index.docker.io".to_string(),
        _ => host,
    }
}

/// The entry of `map` for `registry`: the key written exactly as `registry` if there is one,
/// else the first key (in sorted order) with the same normal form.
fn lookup<'m, V>(map: &'m BTreeMap<String, V>, registry: &str) -> Option<(&'m str, &'m V)> {
    if let Some((k, v)) = map.get_key_value(registry) {
        return Some((k.as_str(), v));
    }
    let wanted = normalize_registry(registry);
    map.iter().find(|(k, _)| normalize_registry(k) == wanted).map(|(k, v)| (k.as_str(), v))
}

/// The `CNB_REGISTRY_AUTH` entry for `registry`, as written by the lifecycle:
/// `{"<registry>": "Basic <base64 user:password>" | "Bearer <token>"}` (R-AUTH-1).
fn from_registry_auth_env(registry: &str, value: Option<&Secret>) -> Result<Option<RegistryAuth>, AuthError> {
    let Some(value) = value.filter(|v| !v.expose().trim().is_empty()) else {
        return Ok(None);
    };
    let map: BTreeMap<String, Secret> = serde_json::from_str(value.expose()).map_err(|e| AuthError::RegistryAuthEnvInvalid {
        what: json_error_kind(&e),
        line: e.line(),
        column: e.column(),
    })?;
    let Some((key, header)) = lookup(&map, registry) else {
        return Ok(None);
    };
    let malformed = || AuthError::RegistryAuthEnvMalformed { key: key.to_string() };
    let header = header.expose().trim();
    let (scheme, credential) = header.split_once(char::is_whitespace).ok_or_else(malformed)?;
    let credential = credential.trim();
    if credential.is_empty() {
        return Err(malformed());
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let (user, password) = decode_basic(credential).ok_or_else(malformed)?;
        Ok(Some(RegistryAuth::Basic(user, password)))
    } else if scheme.eq_ignore_ascii_case("bearer") {
        Ok(Some(RegistryAuth::Bearer(credential.to_string())))
    } else {
        Err(malformed())
    }
}

/// `user:password` from its base64 form (padding optional), or `None`.
fn decode_basic(encoded: &str) -> Option<(String, String)> {
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new().with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );
    let bytes = engine.decode(encoded.trim()).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

/// What kind of JSON error `e` is, without its message (which may quote the input).
fn json_error_kind(e: &serde_json::Error) -> &'static str {
    match e.classify() {
        serde_json::error::Category::Syntax => "invalid JSON",
        serde_json::error::Category::Eof => "unexpected end of JSON",
        serde_json::error::Category::Data => "a value of the wrong type",
        serde_json::error::Category::Io => "read error",
    }
}

#[cfg(test)]
mod tests;
