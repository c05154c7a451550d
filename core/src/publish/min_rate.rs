//! The minimum transfer rate of one registry request (spec rule R-SEC-4).
//!
//! The idle timeout cuts off a registry that goes silent, but not one that trickles: a byte
//! every few seconds resets it forever. [`within`] runs one request (sending its body, waiting
//! for and reading its answer) and fails it with [`TooSlow`] when, over any span of
//! [`MinRate::window`], fewer than `bytes_per_second × window` body bytes moved in either
//! direction. Time spent waiting for the answer's head counts as time in which nothing moved,
//! so the window is never shorter than what a silent registry is already allowed by the idle
//! timeout (both default to 60 s).
//!
//! The bytes are counted by a [`Meter`] the request's body stream and answer reader add to;
//! the check runs on a timer, so a registry that stops reading an upload (and so stops the
//! stream from being polled) is caught as well.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::{Instant, MissedTickBehavior};

/// Default of `--min-transfer-rate`: 1 KiB/s.
pub const DEFAULT_BYTES_PER_SECOND: u64 = 1024;
/// Default of `--min-transfer-window`: 60 s, the idle timeout's default.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(60);

/// The slowest a request may go: `bytes_per_second` averaged over `window`. Zero bytes per
/// second switches the check off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MinRate {
    /// The floor, in bytes per second; 0 switches the check off.
    pub bytes_per_second: u64,
    /// How long a stretch the rate is averaged over (also the longest a stalled request waits).
    pub window: Duration,
}

impl Default for MinRate {
    fn default() -> Self {
        MinRate { bytes_per_second: DEFAULT_BYTES_PER_SECOND, window: DEFAULT_WINDOW }
    }
}

impl MinRate {
    /// The fewest bytes that must move in one window.
    fn floor(&self) -> u64 {
        (self.bytes_per_second as f64 * self.window.as_secs_f64()) as u64
    }
}

/// Body bytes moved by one request, counted by whoever moves them.
#[derive(Debug, Clone, Default)]
pub struct Meter(Arc<AtomicU64>);

impl Meter {
    /// Counts `bytes` more moved.
    pub fn add(&self, bytes: usize) {
        self.0.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// The bytes moved so far, in all.
    pub fn moved(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A request cut off for going below the minimum rate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "too slow: {moved} bytes moved in the last {window_ms} ms, below the minimum transfer rate of {rate} bytes/s (--min-transfer-rate, --min-transfer-window)",
    window_ms = window.as_millis()
)]
pub struct TooSlow {
    /// The minimum rate that was not met, in bytes per second.
    pub rate: u64,
    /// The bytes that moved in the last window.
    pub moved: u64,
    /// The window the rate was measured over.
    pub window: Duration,
}

/// Runs `work` (one request) while `meter` counts its bytes; fails when a window passes with
/// fewer bytes moved than `rate` asks.
pub async fn within<F: Future>(rate: MinRate, meter: &Meter, work: F) -> Result<F::Output, TooSlow> {
    if rate.bytes_per_second == 0 || rate.window.is_zero() {
        return Ok(work.await);
    }
    let tick = (rate.window / 8).max(Duration::from_millis(10));
    let start = Instant::now();
    // Samples of the meter; the first is always at least a window old once a window has passed.
    let mut samples: VecDeque<(Instant, u64)> = VecDeque::from([(start, meter.moved())]);
    let mut ticker = tokio::time::interval_at(start + tick, tick);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    tokio::pin!(work);
    loop {
        tokio::select! {
            out = &mut work => return Ok(out),
            now = ticker.tick() => {
                let moved = meter.moved();
                while samples.len() > 1 && now.duration_since(samples[1].0) >= rate.window {
                    samples.pop_front();
                }
                samples.push_back((now, moved));
                let (then, before) = samples[0];
                let span = now.duration_since(then);
                if span >= rate.window && moved - before < rate.floor() {
                    return Err(TooSlow { rate: rate.bytes_per_second, moved: moved - before, window: span });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Adds `per_step` bytes to `meter` every `step`, `steps` times.
    async fn trickle(meter: Meter, per_step: usize, step: Duration, steps: u32) -> &'static str {
        for _ in 0..steps {
            tokio::time::sleep(step).await;
            meter.add(per_step);
        }
        "done"
    }

    const RATE: MinRate = MinRate { bytes_per_second: 100, window: Duration::from_secs(10) };

    #[tokio::test(start_paused = true)]
    async fn r_sec_4_a_trickle_is_cut_off_after_one_window() {
        let meter = Meter::default();
        let started = Instant::now();
        // 10 bytes/s, forever (an hour), against a floor of 100 bytes/s.
        let err = within(RATE, &meter, trickle(meter.clone(), 1, Duration::from_millis(100), 36_000)).await.unwrap_err();
        let took = started.elapsed();
        assert!(took >= RATE.window && took <= RATE.window + Duration::from_secs(2), "{took:?}");
        assert!(err.moved < 1000 && err.moved >= 90, "{err}");
        assert!(err.to_string().contains("--min-transfer-rate"), "{err}");
    }

    #[tokio::test(start_paused = true)]
    async fn r_sec_4_a_silent_request_is_cut_off_and_a_steady_one_is_not() {
        let meter = Meter::default();
        assert!(within(RATE, &meter, std::future::pending::<()>()).await.is_err());
        // 200 bytes/s for 30 s: above the floor, finishes.
        let meter = Meter::default();
        assert_eq!(within(RATE, &meter, trickle(meter.clone(), 20, Duration::from_millis(100), 300)).await, Ok("done"));
        // A slow start (8 s of nothing, shorter than a window), then fast: finishes.
        let meter = Meter::default();
        let slow_start = async {
            tokio::time::sleep(Duration::from_secs(8)).await;
            trickle(meter.clone(), 1000, Duration::from_millis(100), 100).await
        };
        assert_eq!(within(RATE, &meter, slow_start).await, Ok("done"));
    }

    #[tokio::test(start_paused = true)]
    async fn r_sec_4_a_rate_of_zero_switches_the_check_off() {
        let meter = Meter::default();
        let off = MinRate { bytes_per_second: 0, ..RATE };
        assert_eq!(within(off, &meter, trickle(meter.clone(), 1, Duration::from_secs(1), 100)).await, Ok("done"));
    }
}
