//! The container provider: the registry image ([`super::image`]) run by the Docker engine,
//! its port 5000 published on a free port of 127.0.0.1.
//!
//! Driven through the `docker` command line, which negotiates the API version with any engine
//! (testcontainers 0.28 cannot talk to engines older than API 1.53, such as Debian's 20.10).
//! Cleanup: dropping the [`ContainerGuard`] runs `docker rm -f -v`. A process killed outright
//! (SIGKILL) cannot run that, so every container carries an owner label
//! (`host/pid/start-time`), and each start first removes the containers of this host whose
//! owner process is gone ([`reap_orphans`]). Containers left on purpose ([`ContainerGuard::keep`])
//! are renamed `cnb-artifacts-kept-*` and never reaped.

use std::process::Command;
use std::time::Duration;

use super::command;
use super::image;
use super::RegistryError;

/// Label on every container this module starts; its value names the owner process.
const OWNER_LABEL: &str = "io.buildpacks.cnb-artifacts.registry.owner";
/// Name prefix of containers left running on purpose.
const KEPT_PREFIX: &str = "cnb-artifacts-kept-";
const DOCKER_TIMEOUT: Duration = Duration::from_secs(60);

/// A running registry container; dropping it removes the container and its volumes.
#[derive(Debug)]
pub struct ContainerGuard {
    id: String,
}

/// Starts a registry container; returns its guard, `127.0.0.1:port` and the registry version.
pub(super) async fn start() -> Result<(ContainerGuard, String, Option<String>), RegistryError> {
    reap_orphans().await;
    let image = image::ensure_image().await?;
    let mut run = Command::new("docker");
    run.args(["run", "--detach", "--publish", "127.0.0.1::5000"])
        .arg("--label")
        .arg(format!("{OWNER_LABEL}={}", owner::this_process()))
        .args(["--env", "REGISTRY_STORAGE_DELETE_ENABLED=true"])
        .arg(&image.name);
    let id = command::run(run, None, DOCKER_TIMEOUT).await?.trim().to_string();
    // From here on the guard removes the container, whatever fails next.
    let guard = ContainerGuard { id };
    let mut port = Command::new("docker");
    port.args(["port", &guard.id, "5000/tcp"]);
    let published = command::run(port, None, DOCKER_TIMEOUT).await?;
    let host = published
        .lines()
        .map(str::trim)
        .find(|line| line.starts_with("127.0.0.1:"))
        .ok_or_else(|| RegistryError::NoPublishedPort { container: guard.id.clone(), output: published.clone() })?
        .to_string();
    Ok((guard, host, image.version))
}

/// The Docker engine's version, when `docker` is installed and the engine answers.
pub(super) fn engine_version() -> Result<String, RegistryError> {
    let mut cmd = Command::new("docker");
    cmd.args(["version", "--format", "{{.Server.Version}}"]);
    Ok(command::run_blocking(cmd, Duration::from_secs(15))?.trim().to_string())
}

impl ContainerGuard {
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The last lines the registry logged, for error messages.
    pub(super) fn log_tail(&self) -> String {
        let mut cmd = Command::new("docker");
        cmd.args(["logs", "--tail", "20", &self.id]);
        // `docker logs` replays the container's stdout and stderr on its own: show both.
        match command::output_blocking(cmd, Duration::from_secs(15)) {
            Ok(out) => format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)),
            Err(err) => err.to_string(),
        }
    }

    /// Leaves the container running, renamed `cnb-artifacts-kept-<id>` so that no later run
    /// reaps it; returns what was left and how to remove it.
    pub(super) fn keep(self, host: &str) -> String {
        let short: String = self.id.chars().take(12).collect();
        let name = format!("{KEPT_PREFIX}{short}");
        let mut rename = Command::new("docker");
        rename.args(["rename", &self.id, &name]);
        let renamed = command::run_blocking(rename, DOCKER_TIMEOUT);
        let description = match renamed {
            Ok(_) => format!("registry container {name} ({short}) at http://{host}; remove it with `docker rm -f {name}`"),
            Err(err) => format!(
                "registry container {short} at http://{host} (renaming it failed: {err}; a later run may remove it); \
                 remove it with `docker rm -f {short}`"
            ),
        };
        std::mem::forget(self);
        description
    }
}

impl Drop for ContainerGuard {
    fn drop(&mut self) {
        let mut rm = Command::new("docker");
        rm.args(["rm", "--force", "--volumes", &self.id]);
        if let Err(err) = command::run_blocking(rm, DOCKER_TIMEOUT) {
            // Drop cannot return the error; a leaked container must not go unnoticed.
            eprintln!("warning: could not remove registry container {}: {err}", self.id);
        }
    }
}

/// Removes the registry containers of this host whose owner process has ended (it was killed
/// before it could drop its guard). Best effort: failures only mean nothing is reaped.
pub(super) async fn reap_orphans() {
    let mut ps = Command::new("docker");
    ps.args(["ps", "--all", "--filter", &format!("label={OWNER_LABEL}")])
        .arg("--format")
        .arg(format!("{{{{.ID}}}}\t{{{{.Names}}}}\t{{{{.Label \"{OWNER_LABEL}\"}}}}"));
    let Ok(listing) = command::run(ps, None, DOCKER_TIMEOUT).await else {
        return;
    };
    for line in listing.lines() {
        let mut fields = line.split('\t');
        let (Some(id), Some(name), Some(owner)) = (fields.next(), fields.next(), fields.next()) else {
            continue;
        };
        if name.starts_with(KEPT_PREFIX) || !owner::is_gone(owner) {
            continue;
        }
        let mut rm = Command::new("docker");
        rm.args(["rm", "--force", "--volumes", id]);
        let _ = command::run(rm, None, DOCKER_TIMEOUT).await;
    }
}

/// Owner labels: `hostname/pid/start-time` of the process that started a container.
mod owner {
    /// This process's owner label.
    pub(super) fn this_process() -> String {
        let pid = std::process::id();
        format!("{}/{pid}/{}", hostname(), start_time(pid).unwrap_or_default())
    }

    /// True when `label` names a process of this host that no longer runs (or whose pid now
    /// belongs to another process). Labels of other hosts, or unreadable ones, are never gone.
    pub(super) fn is_gone(label: &str) -> bool {
        let mut parts = label.split('/');
        let (Some(host), Some(pid), Some(started)) = (parts.next(), parts.next(), parts.next()) else {
            return false;
        };
        let Ok(pid) = pid.parse::<u32>() else {
            return false;
        };
        if host != hostname() || started.is_empty() || !cfg!(target_os = "linux") {
            return false;
        }
        start_time(pid).as_deref() != Some(started)
    }

    fn hostname() -> String {
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .or_else(|_| std::fs::read_to_string("/etc/hostname"))
            .map(|h| h.trim().to_string())
            .unwrap_or_default()
    }

    /// Field 22 of `/proc/<pid>/stat`: when the process started, in clock ticks since boot.
    fn start_time(pid: u32) -> Option<String> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // The command name (field 2) is in parentheses and may hold spaces: count after it.
        let after_name = &stat[stat.rfind(')')? + 1..];
        after_name.split_whitespace().nth(19).map(str::to_string)
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        #[cfg(target_os = "linux")]
        fn this_process_is_not_gone_and_a_dead_pid_is() {
            let me = this_process();
            assert!(!is_gone(&me), "{me}");
            let host = hostname();
            // A start time no process of ours has: the pid is "reused", so the owner is gone.
            assert!(is_gone(&format!("{host}/{}/0", std::process::id())));
            assert!(!is_gone(&format!("another-host/{}/0", std::process::id())));
            assert!(!is_gone("garbage"));
        }
    }
}
