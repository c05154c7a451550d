//! Running the small local helper programs of the registry providers (`ldd`,
//! `docker-registry --version`) with a time limit, turning every failure into a
//! [`ProviderError`] that names the command and what it printed.
//!
//! These commands finish in milliseconds, so async callers may call [`run_blocking`] too.

use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use super::ProviderError;
use crate::kill::{sigkill, Victim};

/// `program arg arg …`, for messages.
fn describe(cmd: &Command) -> String {
    let mut text = cmd.get_program().to_string_lossy().into_owned();
    for arg in cmd.get_args() {
        text.push(' ');
        text.push_str(&arg.to_string_lossy());
    }
    text
}

/// Runs `cmd` to completion within `limit` and returns its stdout; a non-zero exit gives
/// [`ProviderError::CommandFailed`] with its stderr (or stdout when stderr is empty). The
/// child is killed when the limit passes.
pub(super) fn run_blocking(mut cmd: Command, limit: Duration) -> Result<String, ProviderError> {
    let command = describe(&cmd);
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| ProviderError::CommandNotRunnable { command: command.clone(), source })?;
    let pid = child.id();
    let (send, receive) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = send.send(child.wait_with_output());
    });
    let output = match receive.recv_timeout(limit) {
        Ok(output) => output.map_err(|source| ProviderError::CommandNotRunnable { command: command.clone(), source })?,
        Err(_) => {
            sigkill(Victim::Process(pid));
            return Err(ProviderError::TimedOut { what: format!("`{command}`"), after: limit });
        }
    };
    if output.status.success() {
        return Ok(String::from_utf8_lossy(&output.stdout).into_owned());
    }
    let mut stderr = String::from_utf8_lossy(&output.stderr).trim().to_string();
    if stderr.is_empty() {
        stderr = String::from_utf8_lossy(&output.stdout).trim().to_string();
    }
    Err(ProviderError::CommandFailed { command, status: output.status.to_string(), stderr })
}
