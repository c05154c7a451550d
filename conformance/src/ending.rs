//! How an invocation ended, judged beyond zero versus non-zero: a crash is never a correct
//! rejection, and a command that could not be started says nothing about the implementation.
//!
//! The rules (written for implementers in `docs/conformance.md`, "Crashes and commands that
//! cannot start"):
//!
//! - death by a signal is a crash ("crashed: killed by SIGSEGV");
//! - so is exit status 128 + n for a signal n that dumps core (SIGQUIT, SIGILL, SIGTRAP,
//!   SIGABRT, SIGBUS, SIGFPE, SIGSEGV, SIGSYS): how a shell reports a child killed by it;
//! - so is a non-zero exit whose standard output or standard error carries a crash signature:
//!   a Rust panic (`panicked at`), a Go panic (a line starting `panic: ` and a line starting
//!   `goroutine `), a Python traceback (`Traceback (most recent call last)`) or an uncaught
//!   JVM exception (`Exception in thread "`);
//! - exit status 126 (found but not executable) or 127 (not found) means the command could not
//!   be started: the case is an ERROR, and the run exits 5.

use super::implementation::{Exit, Invocation};

/// Signals that dump core, by number (Linux numbering, also that of macOS for these).
const CORE_SIGNALS: [(i32, &str); 8] =
    [(3, "SIGQUIT"), (4, "SIGILL"), (5, "SIGTRAP"), (6, "SIGABRT"), (7, "SIGBUS"), (8, "SIGFPE"), (11, "SIGSEGV"), (31, "SIGSYS")];

/// Other signals, for naming only.
const OTHER_SIGNALS: [(i32, &str); 7] =
    [(1, "SIGHUP"), (2, "SIGINT"), (9, "SIGKILL"), (13, "SIGPIPE"), (14, "SIGALRM"), (15, "SIGTERM"), (10, "SIGUSR1")];

/// The name of signal `n` (`SIGSEGV`), or `signal n`.
pub fn signal_name(n: i32) -> String {
    CORE_SIGNALS
        .iter()
        .chain(OTHER_SIGNALS.iter())
        .find(|(s, _)| *s == n)
        .map_or_else(|| format!("signal {n}"), |(_, name)| name.to_string())
}

/// Why `inv` counts as a crash, e.g. `crashed: killed by SIGSEGV`; `None` when it ended on
/// its own terms (exit 0, or a non-zero exit without a crash signature), or timed out.
pub fn crash(inv: &Invocation) -> Option<String> {
    match inv.exit {
        Exit::Code(0) | Exit::TimedOut { .. } => None,
        Exit::Signal(n) => Some(format!("crashed: killed by {}", signal_name(n))),
        Exit::Code(code) => {
            if let Some((_, name)) = CORE_SIGNALS.iter().find(|(s, _)| code == 128 + s) {
                return Some(format!("crashed: exit status {code}, a shell's report of a child killed by {name}"));
            }
            signature(&inv.stdout)
                .or_else(|| signature(&inv.stderr))
                .map(|what| format!("crashed: exit status {code} and its output carries {what}"))
        }
    }
}

/// The crash signature `output` carries, described, if any.
fn signature(output: &str) -> Option<&'static str> {
    if output.contains("panicked at") {
        return Some("a Rust panic (`panicked at`)");
    }
    let starts = |prefix: &str| output.lines().any(|l| l.starts_with(prefix));
    if starts("panic: ") && starts("goroutine ") {
        return Some("a Go panic (`panic:` and `goroutine`)");
    }
    if output.contains("Traceback (most recent call last)") {
        return Some("a Python traceback (`Traceback (most recent call last)`)");
    }
    if output.contains("Exception in thread \"") {
        return Some("an uncaught JVM exception (`Exception in thread`)");
    }
    None
}

/// Why `inv` shows that the command could not be started (exit 126 or 127), if it does.
pub fn not_started(inv: &Invocation) -> Option<String> {
    let why = match inv.exit {
        Exit::Code(126) => "exit status 126: found but not executable",
        Exit::Code(127) => "exit status 127: command not found",
        _ => return None,
    };
    let said = super::implementation::tail(inv.stderr.trim_end(), 3);
    let said = if said.is_empty() { String::new() } else { format!("; it said: {said}") };
    Some(format!("the implementation could not be started: `{}` ended with {why}{said}", inv.command))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    fn inv(exit: Exit, stderr: &str) -> Invocation {
        Invocation {
            command: "impl".into(),
            cwd: "/".into(),
            env: Default::default(),
            exit,
            stdout: String::new(),
            stderr: stderr.into(),
            duration_ms: 0,
        }
    }

    #[rstest]
    #[case::segv(Exit::Signal(11), "", Some("crashed: killed by SIGSEGV"))]
    #[case::kill(Exit::Signal(9), "", Some("crashed: killed by SIGKILL"))]
    #[case::shell_abort(Exit::Code(134), "", Some("crashed: exit status 134, a shell's report of a child killed by SIGABRT"))]
    #[case::rust(
        Exit::Code(101),
        "thread 'main' panicked at src/main.rs:3:5:\nboom",
        Some("crashed: exit status 101 and its output carries a Rust panic (`panicked at`)")
    )]
    #[case::go(
        Exit::Code(2),
        "panic: runtime error\n\ngoroutine 1 [running]:\nmain.main()",
        Some("crashed: exit status 2 and its output carries a Go panic (`panic:` and `goroutine`)")
    )]
    #[case::python(
        Exit::Code(1),
        "Traceback (most recent call last):\n  File \"x.py\"",
        Some("crashed: exit status 1 and its output carries a Python traceback (`Traceback (most recent call last)`)")
    )]
    #[case::jvm(
        Exit::Code(1),
        "Exception in thread \"main\" java.lang.NullPointerException",
        Some("crashed: exit status 1 and its output carries an uncaught JVM exception (`Exception in thread`)")
    )]
    #[case::clean_rejection(Exit::Code(1), "error[R-COLL-1]: a.toml:3:7: collision", None)]
    #[case::go_word_alone(Exit::Code(1), "error: panic: is not a tag", None)]
    #[case::success(Exit::Code(0), "thread 'main' panicked at x", None)]
    #[case::timeout(Exit::TimedOut { after_seconds: 1 }, "", None)]
    fn crashes_are_recognised(#[case] exit: Exit, #[case] stderr: &str, #[case] expected: Option<&str>) {
        assert_eq!(crash(&inv(exit, stderr)).as_deref(), expected);
    }

    #[rstest]
    #[case(126, true)]
    #[case(127, true)]
    #[case(1, false)]
    #[case(0, false)]
    fn exit_126_and_127_mean_not_started(#[case] code: i32, #[case] expected: bool) {
        let why = not_started(&inv(Exit::Code(code), "env: 'x.sh': No such file or directory\n"));
        assert_eq!(why.is_some(), expected);
        if let Some(why) = why {
            assert!(why.starts_with("the implementation could not be started"), "{why}");
            assert!(why.contains("No such file or directory"), "{why}");
        }
    }
}
