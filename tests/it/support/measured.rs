//! Running the binary with a deadline and measuring it: wall time and peak resident memory
//! (`VmHWM` of `/proc/<pid>/status`, read every 2 ms while it runs: the high-water mark of the
//! child's own memory since its `exec`; `wait4`'s `ru_maxrss` would include the test process's
//! memory at `fork`), for the bounds the publisher promises (docs/security.md: no input makes it wait longer than its configured bounds or
//! hold more than 32 MiB).

use std::io::Read;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One measured run.
pub struct Measured {
    pub output: Output,
    pub elapsed: Duration,
    /// Peak resident set size of the child, in KiB.
    pub peak_rss_kib: u64,
    /// The child was killed at the deadline.
    pub killed: bool,
    pub described: String,
}

impl Measured {
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }

    /// `peak RSS N KiB, M ms`, for messages and the figures the tests print.
    pub fn figures(&self) -> String {
        format!("peak RSS {} KiB, {} ms", self.peak_rss_kib, self.elapsed.as_millis())
    }
}

/// The peak resident memory every publisher run must stay within.
pub const MAX_RSS_KIB: u64 = 32 * 1024;

/// Runs `cmd` (stdin closed, stdout and stderr captured), killing it at `deadline`; blocking.
pub fn run_measured(mut cmd: Command, deadline: Duration) -> Measured {
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let started = Instant::now();
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("could not run {cmd:?}: {e}"));
    let pid = child.id() as libc::pid_t;
    let pipe = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut v = Vec::new();
            let _ = r.read_to_end(&mut v);
            v
        })
    };
    let stdout = pipe(Box::new(child.stdout.take().expect("piped stdout")));
    let stderr = pipe(Box::new(child.stderr.take().expect("piped stderr")));
    let (done, killed) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)));
    let watchdog = {
        let (done, killed) = (done.clone(), killed.clone());
        std::thread::spawn(move || {
            let mut peak = 0;
            while !done.load(Ordering::SeqCst) {
                peak = peak.max(vm_hwm_kib(pid).unwrap_or(0));
                if started.elapsed() > deadline && !killed.load(Ordering::SeqCst) {
                    killed.store(true, Ordering::SeqCst);
                    // SAFETY: kill(2) on our own child, not yet reaped (`done` is unset).
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                }
                std::thread::sleep(Duration::from_millis(2));
            }
            peak
        })
    };
    let status = child.wait().unwrap_or_else(|e| panic!("waiting for {cmd:?}: {e}"));
    done.store(true, Ordering::SeqCst);
    let elapsed = started.elapsed();
    let peak_rss_kib = watchdog.join().unwrap_or(0);
    let output = Output { status, stdout: stdout.join().unwrap_or_default(), stderr: stderr.join().unwrap_or_default() };
    let described = super::report(&cmd, &output);
    Measured { output, elapsed, peak_rss_kib, killed: killed.load(Ordering::SeqCst), described }
}

/// The `VmHWM` line of `/proc/<pid>/status`, in KiB; `None` once the process has exited.
fn vm_hwm_kib(pid: libc::pid_t) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
