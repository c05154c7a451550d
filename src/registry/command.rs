//! Running the helper programs of the registry providers (`docker`, `ldd`, `docker-registry
//! --version`) with a time limit, turning every failure into a [`RegistryError`] that names the
//! command and what it printed.
//!
//! Two flavours: [`run`] for async callers (it may feed stdin, e.g. a `docker build` context),
//! and [`run_blocking`] for `Drop` and other sync code.

use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;

use super::RegistryError;

/// `program arg arg …`, for messages.
fn describe(cmd: &Command) -> String {
    let mut text = cmd.get_program().to_string_lossy().into_owned();
    for arg in cmd.get_args() {
        text.push(' ');
        text.push_str(&arg.to_string_lossy());
    }
    text
}

/// Stdout as text when the command succeeded, else [`RegistryError::CommandFailed`].
fn check(command: String, output: Output) -> Result<String, RegistryError> {
    if output.status.success() {
        return Ok(String::from_utf8_lossy(&output.stdout).into_owned());
    }
    let mut stderr = String::from_utf8_lossy(&output.stderr).trim().to_string();
    if stderr.is_empty() {
        stderr = String::from_utf8_lossy(&output.stdout).trim().to_string();
    }
    Err(RegistryError::CommandFailed { command, status: output.status.to_string(), stderr })
}

/// Runs `cmd` to completion within `limit`, feeding it `stdin` if given; returns its stdout.
/// The child is killed when the limit passes.
pub(super) async fn run(cmd: Command, stdin: Option<Vec<u8>>, limit: Duration) -> Result<String, RegistryError> {
    let command = describe(&cmd);
    let mut cmd = tokio::process::Command::from(cmd);
    cmd.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd.spawn().map_err(|source| RegistryError::CommandNotRunnable { command: command.clone(), source })?;
    // Feed stdin concurrently with reading the output, so neither side can block the other.
    let feeder = match (stdin, child.stdin.take()) {
        (Some(bytes), Some(mut pipe)) => Some(tokio::spawn(async move {
            let written = pipe.write_all(&bytes).await;
            drop(pipe);
            written
        })),
        _ => None,
    };
    let output = match tokio::time::timeout(limit, child.wait_with_output()).await {
        Ok(output) => output.map_err(|source| RegistryError::CommandNotRunnable { command: command.clone(), source })?,
        Err(_) => return Err(RegistryError::CommandTimedOut { command, after: limit }),
    };
    if let Some(feeder) = feeder {
        // A write error (broken pipe) only matters if the command failed; `check` reports that.
        let _ = feeder.await;
    }
    check(command, output)
}

/// Runs `cmd` to completion within `limit` without an async runtime; returns its stdout.
/// The child is killed when the limit passes.
pub(super) fn run_blocking(cmd: Command, limit: Duration) -> Result<String, RegistryError> {
    let command = describe(&cmd);
    check(command, output_blocking(cmd, limit)?)
}

/// Like [`run_blocking`], but returns the whole output whatever the exit status.
pub(super) fn output_blocking(mut cmd: Command, limit: Duration) -> Result<Output, RegistryError> {
    let command = describe(&cmd);
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| RegistryError::CommandNotRunnable { command: command.clone(), source })?;
    let pid = child.id();
    let (send, receive) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = send.send(child.wait_with_output());
    });
    match receive.recv_timeout(limit) {
        Ok(output) => output.map_err(|source| RegistryError::CommandNotRunnable { command, source }),
        Err(_) => {
            kill(pid);
            Err(RegistryError::CommandTimedOut { command, after: limit })
        }
    }
}

/// Sends SIGKILL to `pid` (a child that outlived its time limit).
fn kill(pid: u32) {
    #[cfg(unix)]
    if let Ok(pid) = libc::pid_t::try_from(pid) {
        // SAFETY: kill(2) has no memory-safety preconditions; the pid is our own child, which
        // the waiting thread has not reaped yet (it is still blocked in wait).
        unsafe {
            libc::kill(pid, libc::SIGKILL);
        }
    }
    #[cfg(not(unix))]
    let _ = pid;
}
