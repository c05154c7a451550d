//! The container provider: the registry image ([`super::image`]) run through testcontainers,
//! its port 5000 published on a free port of 127.0.0.1 only.
//!
//! Cleanup: dropping the [`ContainerGuard`] drops the testcontainers container, which removes
//! it (from inside a tokio runtime; the guard makes one when dropped outside any). A process
//! killed outright (SIGKILL) cannot do that, so every container carries an owner label
//! (`host/pid/start-time`), and each start first removes the containers of this host whose
//! owner process is gone (`reap_orphans`). Containers left on purpose (`ContainerGuard::keep`)
//! are renamed `cnb-artifacts-kept-*` and never reaped. Calls testcontainers has no API for
//! (inspect, list, rename, version) go through the `bollard` client it re-exports.

use std::collections::HashMap;
use std::time::Duration;

use testcontainers::bollard::models::{Mount, MountType, PortBinding};
use testcontainers::bollard::query_parameters::{
    ListContainersOptionsBuilder, RemoveContainerOptionsBuilder, RenameContainerOptionsBuilder,
};
use testcontainers::bollard::Docker;
use testcontainers::core::IntoContainerPort;
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, GenericImage, ImageExt};

use super::image;
use super::{ProviderError, Storage, Variant};

/// Label on every container this module starts; its value names the owner process.
pub const OWNER_LABEL: &str = "io.buildpacks.cnb-artifacts.registry.owner";
/// Name prefix of containers left running on purpose.
pub const KEPT_PREFIX: &str = "cnb-artifacts-kept-";
const REGISTRY_PORT: u16 = 5000;
/// The registry's storage inside the container: an anonymous volume, which another container
/// can share (`volumes_from`) and which is removed with the container.
const STORAGE_PATH: &str = "/var/lib/registry";
/// Where a [`Variant`]'s files are copied inside the container.
const FILES_DIR: &str = "/etc/docker/registry/files";
const ENGINE_TIMEOUT: Duration = Duration::from_secs(15);

/// A running registry container; dropping it removes the container.
#[derive(Debug)]
pub struct ContainerGuard {
    /// `None` only while being kept or dropped.
    container: Option<ContainerAsync<GenericImage>>,
    id: String,
}

/// A client of the local Docker engine (`DOCKER_HOST` or the default socket).
pub(crate) fn docker() -> Result<Docker, ProviderError> {
    Docker::connect_with_local_defaults()
        .map_err(|source| ProviderError::Docker { action: "connecting to the Docker engine".to_string(), source })
}

/// Starts a registry container with `variant`'s settings and files (and another container's
/// storage volume, when it says so); returns its guard, `127.0.0.1:port` and the registry
/// version.
pub(super) async fn start(variant: &Variant) -> Result<(ContainerGuard, String, Option<String>), ProviderError> {
    let docker = docker()?;
    reap_orphans(&docker).await;
    let image = image::ensure_image(&docker).await?;
    let shared = match &variant.storage_of {
        Some(Storage::Container(id)) => Some(id.clone()),
        _ => None,
    };
    let mut request = GenericImage::new(image.name.as_str(), image.tag.as_str())
        .with_exposed_port(REGISTRY_PORT.tcp())
        .with_label(OWNER_LABEL, owner::this_process())
        .with_env_var("REGISTRY_STORAGE_DELETE_ENABLED", "true")
        .with_host_config_modifier(move |host| {
            // Loopback only, on a port the engine picks (not every interface, as by default).
            let binding = PortBinding { host_ip: Some("127.0.0.1".to_string()), host_port: Some(String::new()) };
            host.publish_all_ports = Some(false);
            host.port_bindings = Some(HashMap::from([(format!("{REGISTRY_PORT}/tcp"), Some(vec![binding]))]));
            match &shared {
                Some(id) => host.volumes_from = Some(vec![id.clone()]),
                None => {
                    let volume = Mount { target: Some(STORAGE_PATH.to_string()), typ: Some(MountType::VOLUME), ..Mount::default() };
                    host.mounts = Some(vec![volume]);
                }
            }
        });
    for (key, value) in variant.env_with(FILES_DIR) {
        request = request.with_env_var(key, value);
    }
    for (name, bytes) in &variant.files {
        request = request.with_copy_to(format!("{FILES_DIR}/{name}"), bytes.clone());
    }
    let container = request.start().await.map_err(|source| ProviderError::Testcontainers {
        action: format!("starting a container of {}:{}", image.name, image.tag),
        source,
    })?;
    let id = container.id().to_string();
    // On an error the container is dropped, and so removed.
    let port = container
        .get_host_port_ipv4(REGISTRY_PORT.tcp())
        .await
        .map_err(|source| ProviderError::Testcontainers { action: format!("reading the host port of container {id}"), source })?;
    let guard = ContainerGuard { container: Some(container), id };
    Ok((guard, format!("127.0.0.1:{port}"), image.version))
}

/// The Docker engine's version, when an engine answers. Blocking; callable from sync code and
/// from inside an async runtime alike (it asks from a thread of its own).
pub(super) fn engine_version() -> Result<String, ProviderError> {
    let ask = std::thread::spawn(|| -> Result<String, ProviderError> {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(ProviderError::Runtime)?;
        runtime.block_on(async {
            let docker = docker()?;
            let version = tokio::time::timeout(ENGINE_TIMEOUT, docker.version())
                .await
                .map_err(|_| ProviderError::TimedOut { what: "asking the Docker engine its version".to_string(), after: ENGINE_TIMEOUT })?
                .map_err(|source| ProviderError::Docker { action: "asking the Docker engine its version".to_string(), source })?;
            Ok(version.version.unwrap_or_else(|| "unknown".to_string()))
        })
    });
    ask.join().unwrap_or_else(|_| Err(ProviderError::Runtime(std::io::Error::other("the engine check panicked"))))
}

impl ContainerGuard {
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The last 20 lines the registry logged (stdout then stderr), for error messages.
    pub(super) async fn log_tail(&self) -> String {
        let Some(container) = &self.container else {
            return String::new();
        };
        let mut text = String::new();
        for output in [container.stdout_to_vec().await, container.stderr_to_vec().await] {
            match output {
                Ok(bytes) => text.push_str(&String::from_utf8_lossy(&bytes)),
                Err(err) => text.push_str(&format!("(could not read the container's log: {err})\n")),
            }
        }
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// Leaves the container running, renamed `cnb-artifacts-kept-<id>` so that no later run
    /// reaps it; returns what was left and how to remove it.
    pub(super) async fn keep(mut self, host: &str) -> String {
        let short: String = self.id.chars().take(12).collect();
        let name = format!("{KEPT_PREFIX}{short}");
        let options = RenameContainerOptionsBuilder::new().name(&name).build();
        let renamed = match docker() {
            Ok(docker) => docker
                .rename_container(&self.id, options)
                .await
                .map_err(|source| ProviderError::Docker { action: format!("renaming container {short}"), source }),
            Err(err) => Err(err),
        };
        // Not dropped, so testcontainers never removes it.
        std::mem::forget(self.container.take());
        match renamed {
            Ok(()) => format!("registry container {name} at http://{host}; remove it with `docker rm -f {name}`"),
            Err(err) => format!(
                "registry container {short} at http://{host} ({err}: a later run may remove it once this \
                 program has exited); remove it with `docker rm -f {short}`"
            ),
        }
    }
}

impl Drop for ContainerGuard {
    fn drop(&mut self) {
        let Some(container) = self.container.take() else {
            return;
        };
        if tokio::runtime::Handle::try_current().is_ok() {
            drop(container);
            return;
        }
        // testcontainers removes a dropped container through the current tokio runtime.
        match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(runtime) => runtime.block_on(async move { drop(container) }),
            Err(err) => {
                eprintln!("warning: registry container {} left running: no runtime to remove it ({err})", self.id);
                std::mem::forget(container);
            }
        }
    }
}

/// Removes the registry containers of this host whose owner process has ended (it was killed
/// before it could drop its guard). Best effort: a failure only means nothing is reaped.
/// Skipped when `TESTCONTAINERS_COMMAND=keep` asks to keep containers.
pub(super) async fn reap_orphans(docker: &Docker) {
    reap_orphans_labelled(docker, OWNER_LABEL).await;
}

/// Removes the containers of this host that carry the owner label `label` and whose owner
/// process has ended; as [`reap_orphans`], for any kind of container the suite starts.
pub(crate) async fn reap_orphans_labelled(docker: &Docker, label: &str) {
    if std::env::var("TESTCONTAINERS_COMMAND").is_ok_and(|command| command == "keep") {
        return;
    }
    let filters = HashMap::from([("label", vec![label])]);
    let options = ListContainersOptionsBuilder::new().all(true).filters(&filters).build();
    let Ok(containers) = docker.list_containers(Some(options)).await else {
        return;
    };
    for container in containers {
        let Some(id) = container.id else { continue };
        let kept = container.names.unwrap_or_default().iter().any(|n| n.trim_start_matches('/').starts_with(KEPT_PREFIX));
        let labels = container.labels.unwrap_or_default();
        let Some(owner) = labels.get(label) else {
            continue;
        };
        if kept || !owner::is_gone(owner) {
            continue;
        }
        let options = RemoveContainerOptionsBuilder::new().force(true).v(true).build();
        let _ = docker.remove_container(&id, Some(options)).await;
    }
}

/// Owner labels: `hostname/pid/start-time` of the process that started a container.
pub mod owner {
    /// This process's owner label.
    pub fn this_process() -> String {
        let pid = std::process::id();
        format!("{}/{pid}/{}", hostname(), start_time(pid).unwrap_or_default())
    }

    /// True when `label` names a process of this host that no longer runs (or whose pid now
    /// belongs to a process started at another time). Labels of other hosts, labels without a
    /// start time, and malformed labels are never gone.
    pub fn is_gone(label: &str) -> bool {
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

    /// This machine's host name (Linux).
    pub fn hostname() -> String {
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
        fn owner_is_gone_only_for_a_dead_process_of_this_host() {
            let me = this_process();
            assert!(!is_gone(&me), "{me}");
            let host = hostname();
            // Our pid with a start time it never had: the pid was "reused", the owner is gone.
            assert!(is_gone(&format!("{host}/{}/0", std::process::id())));
            assert!(!is_gone(&format!("another-host/{}/0", std::process::id())));
            assert!(!is_gone(&format!("{host}/{}/", std::process::id())));
            assert!(!is_gone("garbage"));
        }
    }
}
