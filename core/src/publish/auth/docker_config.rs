//! Credentials from the Docker config file and `docker-credential-*` helpers (spec rule
//! R-AUTH-1, second source).
//!
//! Precedence for a registry: its `credHelpers` entry; else its `auths` entry
//! (`identitytoken`, `registrytoken`, `auth`, then `username` + `password`); else the
//! `credsStore` helper; else nothing. Keys match a registry by [`super::normalize_registry`].

use crate::input_file::{read_input, Follow, CONFIG_CAP};
use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use oci_client::secrets::RegistryAuth;

use super::{decode_basic, json_error_kind, lookup, normalize_registry, AuthError, Secret};

/// The server name Docker uses for Docker Hub credentials.
pub const DOCKER_HUB_SERVER: &str = "https://index.docker.io/v1/";

/// The answer of a credential helper that has nothing for the server (docker-credential-helpers'
/// `ErrCredentialsNotFound`).
const NOT_FOUND_ANSWER: &str = "credentials not found";

/// The username helpers answer with when the secret is an identity token.
const IDENTITY_TOKEN_USER: &str = "<token>";

#[derive(serde::Deserialize, Default)]
struct DockerConfig {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
    #[serde(default, rename = "credHelpers")]
    cred_helpers: BTreeMap<String, String>,
    #[serde(default, rename = "credsStore")]
    creds_store: Option<String>,
}

#[derive(serde::Deserialize, Default)]
struct AuthEntry {
    auth: Option<Secret>,
    username: Option<String>,
    password: Option<Secret>,
    identitytoken: Option<Secret>,
    registrytoken: Option<Secret>,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct HelperAnswer {
    username: String,
    secret: Secret,
}

/// The credentials for `registry` in the config file at `path`, `None` when it has none for
/// it (or does not exist). Helpers are searched in `helper_path`.
pub(super) fn resolve(
    registry: &str,
    path: &Path,
    helper_path: Option<&OsStr>,
    timeout: std::time::Duration,
) -> Result<Option<RegistryAuth>, AuthError> {
    // Not a regular file (a named pipe, `/dev/zero`) or over the cap: refused before reading
    // (R-SEC-1, R-SEC-2).
    let text = match read_input(path, Follow::Links, CONFIG_CAP) {
        Ok(bytes) => String::from_utf8(bytes).map_err(|_| AuthError::DockerConfigUnreadable {
            path: path.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, "it is not valid UTF-8"),
        })?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(AuthError::DockerConfigUnreadable { path: path.to_path_buf(), source: crate::input_file::into_io(e) }),
    };
    let config: DockerConfig = serde_json::from_str(&text).map_err(|e| AuthError::DockerConfigInvalid {
        path: path.to_path_buf(),
        what: json_error_kind(&e),
        line: e.line(),
        column: e.column(),
    })?;
    let helpers = Helpers { config_path: path, search_path: helper_path, timeout };
    let server = helper_server(registry);

    let auths_first = crate::mutants::active(crate::mutants::Mutant::AuthsBeforeCredHelpers);
    if auths_first {
        if let Some(auth) = from_auths(path, &config, registry)? {
            return Ok(Some(auth));
        }
    }
    if let Some((key, helper)) = lookup(&config.cred_helpers, registry).filter(|(_, h)| !h.is_empty()) {
        let setting = format!("credHelpers.\"{key}\"");
        return helpers.get(helper, &server, &setting, true);
    }
    if !auths_first {
        if let Some(auth) = from_auths(path, &config, registry)? {
            return Ok(Some(auth));
        }
    }
    match config.creds_store.as_deref().filter(|s| !s.is_empty()) {
        Some(store) => helpers.get(store, &server, "credsStore", false),
        None => Ok(None),
    }
}

/// The credentials of the `auths` entry for `registry`, if it holds any.
fn from_auths(path: &Path, config: &DockerConfig, registry: &str) -> Result<Option<RegistryAuth>, AuthError> {
    match lookup(&config.auths, registry) {
        Some((key, entry)) => from_entry(path, key, entry),
        None => Ok(None),
    }
}

/// The credentials an `auths` entry holds itself, `None` for an empty entry (as `docker login`
/// writes when a `credsStore` keeps the secret).
fn from_entry(path: &Path, key: &str, entry: &AuthEntry) -> Result<Option<RegistryAuth>, AuthError> {
    let present = |s: &Option<Secret>| s.as_ref().filter(|s| !s.is_empty()).cloned();
    let username = entry.username.as_deref().filter(|u| !u.is_empty());
    if let Some(token) = present(&entry.identitytoken) {
        // oci-client 0.18 has no OAuth2 refresh-token grant; the identity token is presented as
        // a password at the token endpoint.
        let user = username.unwrap_or(IDENTITY_TOKEN_USER).to_string();
        return Ok(Some(RegistryAuth::Basic(user, token.expose().to_string())));
    }
    if let Some(token) = present(&entry.registrytoken) {
        return Ok(Some(RegistryAuth::Bearer(token.expose().to_string())));
    }
    let password = present(&entry.password);
    if let Some(auth) = present(&entry.auth) {
        let (user, pass) = decode_basic(auth.expose())
            .ok_or_else(|| AuthError::DockerConfigAuthMalformed { path: path.to_path_buf(), key: key.to_string() })?;
        if let (Some(u), Some(p)) = (username, &password) {
            if u != user || p.expose() != pass {
                return Err(AuthError::DockerConfigAuthMismatch { path: path.to_path_buf(), key: key.to_string() });
            }
        }
        return Ok(Some(RegistryAuth::Basic(user, pass)));
    }
    match (username, password) {
        (Some(u), Some(p)) => Ok(Some(RegistryAuth::Basic(u.to_string(), p.expose().to_string()))),
        _ => Ok(None),
    }
}

/// The server name a helper is asked about: `https://index.docker.io/v1/` for Docker Hub, else
/// the registry as written.
fn helper_server(registry: &str) -> String {
    if normalize_registry(registry) == "index.docker.io" {
        DOCKER_HUB_SERVER.to_string()
    } else {
        registry.trim().to_string()
    }
}

struct Helpers<'a> {
    config_path: &'a Path,
    search_path: Option<&'a OsStr>,
    /// How long a helper may run before it is killed.
    timeout: std::time::Duration,
}

impl Helpers<'_> {
    /// Asks `docker-credential-<name>` for `server`'s credentials (`get`, server on stdin,
    /// `{"Username", "Secret"}` on stdout). A "credentials not found" answer is `None`; so is a
    /// missing `credsStore` helper (`required` false), which is logged.
    fn get(&self, name: &str, server: &str, setting: &str, required: bool) -> Result<Option<RegistryAuth>, AuthError> {
        let helper = format!("docker-credential-{name}");
        let Some(exe) = self.find(&helper) else {
            if required {
                return Err(AuthError::HelperNotFound { helper, setting: setting.to_string(), path: self.config_path.to_path_buf() });
            }
            tracing::warn!(
                "credential helper `{helper}` named by `{setting}` in {} is not on PATH; continuing without it",
                self.config_path.display()
            );
            return Ok(None);
        };
        let io = |source| AuthError::HelperIo { helper: helper.clone(), source };
        let mut child =
            Command::new(&exe).arg("get").stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().map_err(io)?;
        if let Some(mut stdin) = child.stdin.take() {
            // A helper that exits without reading its input closes the pipe: its exit status,
            // not the broken pipe, says what happened.
            match stdin.write_all(server.as_bytes()) {
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
                other => other.map_err(io)?,
            }
        }
        let output = wait_bounded(child, self.timeout).map_err(io)?;
        let Some(output) = output else {
            return Err(AuthError::HelperTimedOut { helper, server: server.to_string(), after: self.timeout });
        };
        let stdout = String::from_utf8_lossy(&output.stdout);
        if !output.status.success() {
            if stdout.contains(NOT_FOUND_ANSWER) {
                return Ok(None);
            }
            let status = output.status.to_string();
            return Err(AuthError::HelperFailed { helper, server: server.to_string(), status });
        }
        let answer: HelperAnswer = serde_json::from_str(&stdout)
            .map_err(|_| AuthError::HelperBadResponse { helper: helper.clone(), server: server.to_string() })?;
        if answer.secret.is_empty() {
            return Ok(None);
        }
        Ok(Some(RegistryAuth::Basic(answer.username, answer.secret.expose().to_string())))
    }
}

/// The most bytes of a helper's answer that are read.
const HELPER_OUTPUT_CAP: u64 = 64 * 1024;

/// The helper's exit status and standard output (at most [`HELPER_OUTPUT_CAP`] bytes), or
/// `None` when it did not exit within `timeout`: it is then killed (R-AUTH-4).
fn wait_bounded(mut child: std::process::Child, timeout: std::time::Duration) -> std::io::Result<Option<std::process::Output>> {
    use std::io::Read;
    let stdout = child.stdout.take();
    let reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        if let Some(s) = stdout {
            let _ = s.take(HELPER_OUTPUT_CAP).read_to_end(&mut out);
        }
        out
    });
    let deadline = std::time::Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if std::time::Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Ok(None);
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    let stdout = reader.join().unwrap_or_default();
    Ok(Some(std::process::Output { status, stdout, stderr: Vec::new() }))
}

impl Helpers<'_> {
    /// The first executable file named `name` in the search path.
    fn find(&self, name: &str) -> Option<PathBuf> {
        let path = self.search_path?;
        std::env::split_paths(path).map(|dir| dir.join(name)).find(|p| is_executable(p))
    }
}

#[cfg(unix)]
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(path: &Path) -> bool {
    path.is_file()
}
