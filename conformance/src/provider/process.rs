//! The process provider: Debian's `docker-registry` binary run as a child process on a free
//! port of 127.0.0.1, for machines without a Docker engine.
//!
//! The child gets `ci/registry/config.yml` in a fresh temporary directory, with the listen
//! address and storage directory set through the registry's `REGISTRY_*` environment
//! overrides (any `REGISTRY_*` variables of this process are removed first), and writes its
//! stdout and stderr to `registry.log` there. Cleanup: dropping the [`ProcessGuard`] kills and
//! reaps the child and removes the directory. On Linux the child also gets `PR_SET_PDEATHSIG`
//! = SIGKILL, so it dies with its parent even when the parent is killed outright. That signal
//! follows the *thread* that started the child: start the registry from a thread that lives as
//! long as it should (an async task on a runtime does; `spawn_blocking` does not).

use std::fs::File;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use super::command;
use super::CONFIG_YML;
use super::{ProviderError, Storage, Variant};

/// Environment variable naming the registry binary to run instead of `docker-registry` on PATH.
pub const BINARY_ENV: &str = "CNB_ARTIFACTS_REGISTRY_BIN";
const BINARY_NAME: &str = "docker-registry";
const LOG_FILE: &str = "registry.log";
const STORAGE_DIR: &str = "storage";

/// A running registry process; dropping it kills the process and removes its directory.
#[derive(Debug)]
pub struct ProcessGuard {
    child: Mutex<Child>,
    pid: u32,
    /// Holds `config.yml`, `registry.log` and `storage/`.
    dir: tempfile::TempDir,
    /// Set by [`ProcessGuard::keep`]: then `Drop` leaves the process and directory alone.
    kept: bool,
}

/// The registry binary: `$CNB_ARTIFACTS_REGISTRY_BIN` when set, else `docker-registry` on PATH.
pub fn find_binary() -> Result<PathBuf, ProviderError> {
    if let Some(path) = std::env::var_os(BINARY_ENV) {
        let path = PathBuf::from(path);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(ProviderError::BinaryNotFound { searched: format!("${BINARY_ENV} = {}", path.display()) })
        };
    }
    let path_var = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path_var)
        .map(|dir| dir.join(BINARY_NAME))
        .find(|candidate| candidate.is_file())
        .ok_or_else(|| ProviderError::BinaryNotFound { searched: format!("PATH for `{BINARY_NAME}`") })
}

/// The version the binary reports, e.g. `2.8.2+ds1` from
/// `docker-registry github.com/docker/distribution 2.8.2+ds1`.
pub fn binary_version(binary: &Path) -> Option<String> {
    let mut cmd = Command::new(binary);
    cmd.arg("--version");
    let out = command::run_blocking(cmd, Duration::from_secs(15)).ok()?;
    out.split_whitespace().last().map(str::to_string)
}

/// Starts a registry process; returns its guard, `127.0.0.1:port` and the registry version.
/// Readiness (`/v2/` answering) is checked by the caller.
/// The registry gets `variant`'s settings and files (written into its directory) and, when the
/// variant says so, another registry's storage directory.
pub(super) async fn start(variant: &Variant) -> Result<(ProcessGuard, String, Option<String>), ProviderError> {
    let binary = find_binary()?;
    let version = binary_version(&binary);
    let dir = tempfile::Builder::new().prefix("cnb-artifacts-registry-").tempdir().map_err(ProviderError::TempDir)?;
    let config = dir.path().join("config.yml");
    std::fs::write(&config, CONFIG_YML).map_err(ProviderError::TempDir)?;
    for (name, bytes) in &variant.files {
        std::fs::write(dir.path().join(name), bytes).map_err(ProviderError::TempDir)?;
    }
    let storage = match &variant.storage_of {
        Some(Storage::Dir(shared)) => shared.clone(),
        _ => dir.path().join(STORAGE_DIR),
    };
    let log = File::create(dir.path().join(LOG_FILE)).map_err(ProviderError::TempDir)?;
    let log_err = log.try_clone().map_err(ProviderError::TempDir)?;
    let host = format!("127.0.0.1:{}", free_port().map_err(ProviderError::TempDir)?);

    let mut cmd = Command::new(&binary);
    cmd.arg("serve").arg(&config).stdin(Stdio::null()).stdout(log).stderr(log_err);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("REGISTRY_") {
            cmd.env_remove(key);
        }
    }
    cmd.env("REGISTRY_HTTP_ADDR", &host).env("REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY", storage);
    cmd.envs(variant.env_with(&dir.path().display().to_string()));
    die_with_parent(&mut cmd);
    let child = cmd.spawn().map_err(|source| ProviderError::Spawn { program: binary.display().to_string(), source })?;
    let pid = child.id();
    Ok((ProcessGuard { child: Mutex::new(child), pid, dir, kept: false }, host, version))
}

/// A port of 127.0.0.1 that was free a moment ago (the caller retries if it is taken since).
fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Makes the child receive SIGKILL when the thread that spawned it ends (Linux only).
#[cfg(target_os = "linux")]
fn die_with_parent(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: getpid is async-signal-safe and runs before the fork.
    let parent = unsafe { libc::getpid() };
    // SAFETY: the closure runs between fork and exec and only calls the async-signal-safe
    // prctl and getppid; it allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The parent may have died before prctl: then no signal would ever come.
            if libc::getppid() != parent {
                return Err(std::io::Error::other("the parent exited before the registry started"));
            }
            Ok(())
        });
    }
}

#[cfg(not(target_os = "linux"))]
fn die_with_parent(_cmd: &mut Command) {}

impl ProcessGuard {
    pub fn pid(&self) -> u32 {
        self.pid
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The storage directory of a registry started with its own storage.
    pub(super) fn storage_dir(&self) -> PathBuf {
        self.dir.path().join(STORAGE_DIR)
    }

    /// An error when the process has already exited (with the end of its log).
    pub(super) fn check_alive(&self) -> Result<(), ProviderError> {
        let mut child = self.child.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        match child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => Err(ProviderError::ExitedEarly {
                status: status.to_string(),
                log: self.dir.path().join(LOG_FILE),
                log_tail: self.log_tail(),
            }),
            Err(err) => Err(ProviderError::ExitedEarly {
                status: format!("unknown: {err}"),
                log: self.dir.path().join(LOG_FILE),
                log_tail: self.log_tail(),
            }),
        }
    }

    /// The last 20 lines of the registry's log.
    pub(super) fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.dir.path().join(LOG_FILE)).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// Leaves the process running and its directory in place; returns what was left.
    pub(super) fn keep(mut self, host: &str) -> String {
        self.kept = true;
        self.dir.disable_cleanup(true);
        format!(
            "registry process {} at http://{host}, storage and log in {} (the process ends when this \
             program exits; remove the directory afterwards)",
            self.pid,
            self.dir.path().display()
        )
    }
}

impl Drop for ProcessGuard {
    fn drop(&mut self) {
        if self.kept {
            return;
        }
        let child = self.child.get_mut().unwrap_or_else(|poisoned| poisoned.into_inner());
        crate::kill::sigkill(crate::kill::Victim::Process(child.id()));
        let _ = child.wait();
        // `dir` (a TempDir) is removed when the fields drop, after the process is dead.
    }
}
