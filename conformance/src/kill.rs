//! Killing what the suite started, one way for every child: SIGKILL through kill(2), to one
//! process (a registry, a `docker` command past its time limit) or to a whole process group (an
//! implementation under test and everything it spawned).

/// Whom to kill.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Victim {
    /// One process, by pid.
    Process(u32),
    /// The process group led by this pid (the child was started with `process_group(0)`).
    Group(u32),
}

/// Sends SIGKILL to `victim`. A victim already gone is no error: there is nothing left to do.
pub(crate) fn sigkill(victim: Victim) {
    let target = match victim {
        Victim::Process(pid) => libc::pid_t::try_from(pid).ok(),
        Victim::Group(pid) => libc::pid_t::try_from(pid).ok().map(|pid| -pid),
    };
    // pid 0 or -1 would signal our own group or every process we may signal: never.
    if let Some(target) = target.filter(|t| t.unsigned_abs() > 1) {
        // SAFETY: kill(2) has no memory-safety preconditions; the pid is our own child (or its
        // group), which has not been reaped yet.
        unsafe {
            libc::kill(target, libc::SIGKILL);
        }
    }
}
