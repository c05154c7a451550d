//! The implementation under test as a container image (`conformance run --implementation-image
//! 'IMAGE [ARGS]'`), run the way the CNB lifecycle ships: one container per invocation, of an
//! image already in the local Docker engine (the runner pulls nothing), through the Docker API
//! (the `bollard` client testcontainers re-exports), never the `docker` command line.
//!
//! Each container gets:
//! - the image's entrypoint with `ARGS` as its command (and `--version` appended for the
//!   version probe), standard input empty, standard output and error captured apart (no TTY);
//! - the contract's variables ([`InvocationEnv::vars`]) and nothing else of the runner's
//!   environment: `PATH` is the image's, with the suite's credential-helper directory first
//!   when a case hands one over;
//! - bind mounts at the same absolute paths as on this machine: the layers directory and the
//!   working directory read-write (as for a command), `report.toml`, `DOCKER_CONFIG` and the
//!   credential helper's directory read-only. Every path the variables name, the report shows,
//!   a rejection must name and the secrecy check searches is the same as for a command;
//! - the host's network (`network_mode: host`), which reaches every registry the runner starts
//!   on 127.0.0.1 (a process, or a container publishing its port there), the quirks proxy and
//!   the token service, with no port mapping to keep in step (Linux engines);
//! - the user and group that own its working directory (the runner's), so that what it writes
//!   belongs to the runner.
//!
//! The same timeout and kill guarantees as a command: on a timeout the container is killed and
//! removed and the invocation is `timed out`; a guard removes it when the
//! invocation is dropped (Ctrl-C, an error); every container carries [`OWNER_LABEL`], so one
//! left by a runner killed outright is removed by the next run's probe. Exit statuses are the
//! container's: a main process killed by signal n exits 128 + n as from a shell, and an
//! entrypoint the engine cannot execute counts as 127 (not found) or 126 (not executable), as
//! `docker run` reports it.

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::pin::Pin;
use std::time::{Duration, Instant};

use futures_util::{Stream, StreamExt};
use testcontainers::bollard::container::LogOutput;
use testcontainers::bollard::errors::Error as DockerError;
use testcontainers::bollard::models::{ContainerCreateBody, HostConfig, Mount, MountType};
use testcontainers::bollard::query_parameters::{
    AttachContainerOptionsBuilder, CreateContainerOptions, RemoveContainerOptionsBuilder, StartContainerOptions,
};
use testcontainers::bollard::Docker;

use crate::implementation::{self, Exit, Implementation, ImplementationError, Invocation, InvocationEnv, Launch};
use crate::provider::container::{self as engine, owner};
use crate::provider::ProviderError;

/// Label on every implementation container; its value names the runner process that owns it.
pub const OWNER_LABEL: &str = "io.buildpacks.cnb-artifacts.implementation.owner";
/// How long the `--version` probe may take, as for a command.
const PROBE_TIMEOUT: Duration = Duration::from_secs(20);
/// How long removing a container may take.
const REMOVE_TIMEOUT: Duration = Duration::from_secs(20);
/// `PATH` when the image sets none (Docker's default).
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Why an implementation image cannot be run (the runner's or the engine's fault, never the
/// implementation's).
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error(
        "the implementation image `{image}` is not in the local Docker engine; the runner pulls nothing: \
         build it, or `docker pull {image}`, first"
    )]
    Missing { image: String },
    #[error("the implementation image `{image}` needs a Docker engine: {source}")]
    NoEngine { image: String, source: Box<ProviderError> },
    #[error("{action} failed: {source}")]
    Docker { action: String, source: Box<DockerError> },
}

impl Implementation {
    /// `--implementation-image`: `given` split into words as a command is; the first is the
    /// image, the rest its arguments (the container's command, after the image's entrypoint).
    pub fn parse_image(given: &str) -> Result<Implementation, ImplementationError> {
        let words = shlex::split(given).ok_or_else(|| ImplementationError::Unsplittable { given: given.to_string() })?;
        let (image, args) = words.split_first().ok_or(ImplementationError::Empty)?;
        let quoted = shlex::try_quote(given).map_or_else(|_| given.to_string(), |q| q.into_owned());
        Ok(Implementation {
            program: image.clone(),
            args: args.to_vec(),
            display: format!("--implementation-image {quoted}"),
            launch: Launch::Image,
        })
    }
}

/// The image counterpart of [`Implementation::probe`]: the image must exist locally; the
/// first line of `ARGS --version`'s standard output, or `unknown`. Also removes the containers
/// earlier runners, killed outright, left behind.
pub(crate) async fn probe(imp: &Implementation) -> Result<String, ImplementationError> {
    let docker = connect(imp)?;
    engine::reap_orphans_labelled(&docker, OWNER_LABEL).await;
    image_path(&docker, &imp.program).await?;
    let mut cmd = imp.args.clone();
    cmd.push("--version".to_string());
    let spec = Spec { image: &imp.program, cmd: Some(cmd), env: Vec::new(), mounts: Vec::new(), cwd: None };
    let ran = run_container(&docker, &spec, PROBE_TIMEOUT).await?;
    match ran.exit {
        Exit::Code(code @ (126 | 127)) => {
            let said = implementation::tail(String::from_utf8_lossy(&ran.stderr).trim_end(), 3);
            let said = if said.is_empty() { String::new() } else { format!("; it said: {said}") };
            Err(ImplementationError::NotStarted { command: imp.display.clone(), code, said })
        }
        Exit::Code(0) => {
            let out = String::from_utf8_lossy(&ran.stdout);
            Ok(out.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("unknown").to_string())
        }
        _ => Ok("unknown".to_string()),
    }
}

/// The image counterpart of [`Implementation::run`]: one container with `env`, in `cwd`.
pub(crate) async fn run(
    imp: &Implementation,
    env: &InvocationEnv,
    cwd: &Path,
    timeout: Duration,
) -> Result<Invocation, ImplementationError> {
    let docker = connect(imp)?;
    let mut vars = env.vars();
    if let Some(dir) = &env.path_first {
        vars.insert("PATH".to_string(), format!("{}:{}", dir.display(), image_path(&docker, &imp.program).await?));
    }
    let spec = Spec {
        image: &imp.program,
        cmd: (!imp.args.is_empty()).then(|| imp.args.clone()),
        env: vars.iter().map(|(k, v)| format!("{k}={v}")).collect(),
        mounts: mounts(env, cwd),
        cwd: Some(cwd),
    };
    let started = Instant::now();
    let ran = run_container(&docker, &spec, timeout).await?;
    Ok(Invocation {
        command: imp.display.clone(),
        cwd: cwd.to_path_buf(),
        env: implementation::recorded(vars),
        exit: ran.exit,
        stdout: implementation::capped(&ran.stdout),
        stderr: implementation::capped(&ran.stderr),
        duration_ms: started.elapsed().as_millis() as u64,
    })
}

fn connect(imp: &Implementation) -> Result<Docker, ImageError> {
    engine::docker().map_err(|source| ImageError::NoEngine { image: imp.program.clone(), source: Box::new(source) })
}

/// The image's `PATH` (Docker's default when it sets none); [`ImageError::Missing`] when the
/// image is not in the local engine.
async fn image_path(docker: &Docker, image: &str) -> Result<String, ImageError> {
    let inspected = docker.inspect_image(image).await.map_err(|source| match source {
        DockerError::DockerResponseServerError { status_code: 404, .. } => ImageError::Missing { image: image.to_string() },
        source => ImageError::Docker { action: format!("inspecting image {image}"), source: Box::new(source) },
    })?;
    let env = inspected.config.and_then(|c| c.env).unwrap_or_default();
    Ok(env.iter().find_map(|kv| kv.strip_prefix("PATH=")).unwrap_or(DEFAULT_PATH).to_string())
}

/// The bind mounts of one invocation, each at its path on this machine: read-write the layers
/// and working directories, read-only the rest; paths that do not exist are left out (an
/// external registry's `DOCKER_CONFIG` may not), each path once.
fn mounts(env: &InvocationEnv, cwd: &Path) -> Vec<Mount> {
    let paths = [
        (Some(env.layers_dir.as_path()), false),
        (Some(cwd), false),
        (Some(env.report.as_path()), true),
        (Some(env.docker_config.as_path()), true),
        (env.path_first.as_deref(), true),
    ];
    let mut mounts: Vec<Mount> = Vec::new();
    for (path, read_only) in paths {
        let Some(path) = path.filter(|p| p.exists()) else { continue };
        let target = path.display().to_string();
        if mounts.iter().any(|m| m.target.as_deref() == Some(target.as_str())) {
            continue;
        }
        let source = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        mounts.push(Mount {
            target: Some(target),
            source: Some(source.display().to_string()),
            typ: Some(MountType::BIND),
            read_only: Some(read_only),
            ..Mount::default()
        });
    }
    mounts
}

/// One container to run.
struct Spec<'a> {
    image: &'a str,
    /// The container's command; `None` keeps the image's.
    cmd: Option<Vec<String>>,
    /// `NAME=value` pairs on top of the image's.
    env: Vec<String>,
    mounts: Vec<Mount>,
    /// The working directory, which also gives the user (its owner).
    cwd: Option<&'a Path>,
}

/// How a container ended and what it wrote.
struct Ran {
    exit: Exit,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

/// Creates, starts and waits for one container, killing and removing it after `timeout`;
/// the container is removed in every case, also when this future is dropped.
async fn run_container(docker: &Docker, spec: &Spec<'_>, timeout: Duration) -> Result<Ran, ImageError> {
    let user = spec.cwd.and_then(|dir| std::fs::metadata(dir).ok()).map(|m| format!("{}:{}", m.uid(), m.gid()));
    let body = ContainerCreateBody {
        image: Some(spec.image.to_string()),
        cmd: spec.cmd.clone(),
        env: Some(spec.env.clone()),
        working_dir: spec.cwd.map(|dir| dir.display().to_string()),
        user,
        labels: Some(HashMap::from([(OWNER_LABEL.to_string(), owner::this_process())])),
        attach_stdin: Some(false),
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        open_stdin: Some(false),
        tty: Some(false),
        host_config: Some(HostConfig {
            mounts: Some(spec.mounts.clone()),
            network_mode: Some("host".to_string()),
            auto_remove: Some(false),
            ..HostConfig::default()
        }),
        ..ContainerCreateBody::default()
    };
    let created = docker.create_container(None::<CreateContainerOptions>, body).await.map_err(|source| match source {
        DockerError::DockerResponseServerError { status_code: 404, .. } => ImageError::Missing { image: spec.image.to_string() },
        source => ImageError::Docker { action: format!("creating a container of {}", spec.image), source: Box::new(source) },
    })?;
    let running = Running { id: Some(created.id) };
    let waited = tokio::time::timeout(timeout, running.start_and_wait(docker)).await;
    running.remove(docker).await;
    match waited {
        Ok(ran) => ran,
        Err(_) => Ok(Ran { exit: Exit::TimedOut { after_seconds: timeout.as_secs() }, stdout: Vec::new(), stderr: Vec::new() }),
    }
}

/// A created container; dropping it while armed (Ctrl-C, an error) removes it by force.
struct Running {
    id: Option<String>,
}

impl Running {
    fn id(&self) -> &str {
        self.id.as_deref().unwrap_or_default()
    }

    /// Attaches to its output, starts it, and reads everything it writes until it exits.
    async fn start_and_wait(&self, docker: &Docker) -> Result<Ran, ImageError> {
        let id = self.id();
        let docker_error = |action: &str| {
            let action = format!("{action} container {}", short(id));
            move |source| ImageError::Docker { action, source: Box::new(source) }
        };
        let options = AttachContainerOptionsBuilder::new().stdout(true).stderr(true).stream(true).build();
        let attached = docker.attach_container(id, Some(options)).await.map_err(docker_error("attaching to"))?;
        if let Err(source) = docker.start_container(id, None::<StartContainerOptions>).await {
            return match not_started(&source) {
                Some(code) => Ok(Ran { exit: Exit::Code(code), stdout: Vec::new(), stderr: format!("{source}\n").into_bytes() }),
                None => Err(docker_error("starting")(source)),
            };
        }
        let waiting = async {
            match docker.wait_container(id, None).next().await {
                Some(Ok(answer)) => Ok(answer.status_code),
                Some(Err(DockerError::DockerContainerWaitError { code, .. })) => Ok(code),
                Some(Err(source)) => Err(docker_error("waiting for")(source)),
                None => Err(ImageError::Docker {
                    action: format!("waiting for container {}", short(id)),
                    source: Box::new(DockerError::DockerStreamError { error: "the engine ended the wait without a status".to_string() }),
                }),
            }
        };
        let ((stdout, stderr), code) = tokio::join!(collect(attached.output), waiting);
        let code = i32::try_from(code?).unwrap_or(i32::MAX);
        Ok(Ran { exit: Exit::Code(code), stdout, stderr })
    }

    /// Removes the container (killing it if it runs); a failure is only warned about, since
    /// the next run's probe reaps what is left.
    async fn remove(mut self, docker: &Docker) {
        let Some(id) = self.id.take() else { return };
        let options = RemoveContainerOptionsBuilder::new().force(true).v(true).build();
        match tokio::time::timeout(REMOVE_TIMEOUT, docker.remove_container(&id, Some(options))).await {
            Ok(Ok(())) | Ok(Err(DockerError::DockerResponseServerError { status_code: 404, .. })) => {}
            Ok(Err(err)) => eprintln!("warning: could not remove implementation container {}: {err}", short(&id)),
            Err(_) => eprintln!("warning: removing implementation container {} took over {REMOVE_TIMEOUT:?}", short(&id)),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let Some(id) = self.id.take() else { return };
        // Dropped mid-run (Ctrl-C, a timeout of the caller): remove it from a thread of its own
        // with a client and runtime of its own, since this one may be shutting down.
        let removal = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
            runtime.block_on(async {
                if let Ok(docker) = engine::docker() {
                    Running { id: Some(id) }.remove(&docker).await;
                }
            });
        });
        let _ = removal.join();
    }
}

/// What a container wrote to standard output and standard error, until its streams close.
async fn collect(mut output: Pin<Box<dyn Stream<Item = Result<LogOutput, DockerError>> + Send>>) -> (Vec<u8>, Vec<u8>) {
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    while let Some(Ok(frame)) = output.next().await {
        match frame {
            LogOutput::StdOut { message } => stdout.extend_from_slice(&message),
            LogOutput::StdErr { message } => stderr.extend_from_slice(&message),
            LogOutput::StdIn { .. } | LogOutput::Console { .. } => {}
        }
    }
    (stdout, stderr)
}

/// The exit status `docker run` reports when the engine cannot start the entrypoint: 127 when
/// it is not found, 126 when it cannot be executed; `None` for any other failure.
fn not_started(err: &DockerError) -> Option<i32> {
    let message = err.to_string();
    if ["executable file not found", "no such file or directory"].iter().any(|m| message.contains(m)) {
        Some(127)
    } else if ["permission denied", "is a directory"].iter().any(|m| message.contains(m)) {
        Some(126)
    } else {
        None
    }
}

/// The first 12 characters of a container ID, as Docker shows it.
fn short(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

#[cfg(test)]
#[path = "implementation_image_tests.rs"]
mod tests;
