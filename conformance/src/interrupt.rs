//! Stopping a run from outside: Ctrl-C (`SIGINT`) or `SIGTERM`. An [`Interrupt`] is a
//! cancellation token that a signal trips; the runner watches it, drops the cases still running
//! (which kills their implementations' process groups), marks every unfinished case as not run
//! and returns the results so far, which the command line then writes as usual.

use std::sync::{Arc, OnceLock};

use tokio_util::sync::CancellationToken;

/// A run's stop switch, tripped by a signal or by [`Interrupt::trip`].
#[derive(Debug, Clone, Default)]
pub struct Interrupt {
    token: CancellationToken,
    signal: Arc<OnceLock<String>>,
}

impl Interrupt {
    /// A switch that only [`Interrupt::trip`] trips.
    pub fn new() -> Interrupt {
        Interrupt::default()
    }

    /// A switch tripped by the first `SIGINT` or `SIGTERM` this process receives. Must be called
    /// inside a tokio runtime (it spawns the task that waits for the signals).
    pub fn on_signals() -> std::io::Result<Interrupt> {
        use tokio::signal::unix::{signal, SignalKind};
        let interrupt = Interrupt::new();
        let mut int = signal(SignalKind::interrupt())?;
        let mut term = signal(SignalKind::terminate())?;
        let tripped = interrupt.clone();
        tokio::spawn(async move {
            let name = tokio::select! {
                _ = int.recv() => "SIGINT",
                _ = term.recv() => "SIGTERM",
            };
            tripped.trip(name);
        });
        Ok(interrupt)
    }

    /// Trips the switch, naming why (the first reason given is kept).
    pub fn trip(&self, why: &str) {
        let _ = self.signal.set(why.to_string());
        self.token.cancel();
    }

    /// Why the switch was tripped, once it was.
    pub fn reason(&self) -> Option<&str> {
        self.signal.get().map(String::as_str).filter(|_| self.token.is_cancelled())
    }

    /// Waits until the switch is tripped.
    pub async fn tripped(&self) {
        self.token.cancelled().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn tripping_wakes_the_waiter_and_keeps_the_first_reason() {
        let interrupt = Interrupt::new();
        assert_eq!(interrupt.reason(), None);
        let waiter = interrupt.clone();
        let waited = tokio::spawn(async move { waiter.tripped().await });
        interrupt.trip("SIGTERM");
        interrupt.trip("SIGINT");
        tokio::time::timeout(std::time::Duration::from_secs(5), waited).await.expect("woken").expect("joined");
        assert_eq!(interrupt.reason(), Some("SIGTERM"));
    }
}
