//! How many requests of one publish step are in flight at once ([`super::PublishOptions::jobs`],
//! `--jobs`), and the two ways a step runs its independent operations: `in_order`, which gives
//! the results in plan order or the first failure (checks, blobs, manifests, fallback indexes),
//! and `until_failure`, which also says which operations succeeded (tags, R-PUSH-2). Both start
//! nothing more after a failure and wait for what is in flight: when a step fails, no request it
//! sent is still being processed, so the registry holds its final state when the publish returns.
//!
//! Both poll their operations on the caller's task (no spawned task), at most `jobs` at a time,
//! started in plan order; so at most `jobs` blobs are being read and sent at once, each in
//! pieces of the chunk size, which bounds the memory of a publish.

use std::future::Future;

use futures_util::stream::{FuturesUnordered, StreamExt};

/// Operations in flight at once by default (`--jobs`). Over a wide network the requests of many
/// small artifacts set the time: at 50 ms round trip, 100 artifacts' 511 requests take at least
/// 511 / 16 × 50 ms ≈ 1.6 s at 16 (3.2 s at 8); the memory stays bounded by 16 pieces being sent
/// (docs/performance.md).
pub const DEFAULT_JOBS: usize = 16;

/// Runs `op` on every item, at most `jobs` at a time, and returns the results in item order.
/// After the first failure no new item starts and the items in flight are awaited (so nothing
/// this step sent is still being written when it returns); the failure of the earliest item
/// that failed is returned.
pub(crate) async fn in_order<I, F, T, E>(items: I, jobs: usize, op: impl FnMut(I::Item) -> F) -> Result<Vec<T>, E>
where
    I: IntoIterator,
    F: Future<Output = Result<T, E>>,
{
    let (results, failed) = run(items, jobs, op).await;
    match failed {
        Some((_, e)) => Err(e),
        None => Ok(results.into_iter().flatten().collect()),
    }
}

/// Runs `op` on every item, at most `jobs` at a time, started in item order. After the first
/// failure no new item starts, and the items in flight are awaited. Returns the indexes of the
/// items that succeeded, in item order, and the failure of the earliest item that failed.
pub(crate) async fn until_failure<I, F, E>(items: I, jobs: usize, op: impl FnMut(I::Item) -> F) -> (Vec<usize>, Option<(usize, E)>)
where
    I: IntoIterator,
    F: Future<Output = Result<(), E>>,
{
    let (results, failed) = run(items, jobs, op).await;
    (results.iter().enumerate().filter(|(_, r)| r.is_some()).map(|(i, _)| i).collect(), failed)
}

/// The loop of both: each item's result (`None`: failed or not started) and the earliest failure.
async fn run<I, F, T, E>(items: I, jobs: usize, op: impl FnMut(I::Item) -> F) -> (Vec<Option<T>>, Option<(usize, E)>)
where
    I: IntoIterator,
    F: Future<Output = Result<T, E>>,
{
    // The operations are made first (an async operation does nothing until polled): an
    // iterator holding `op` across the awaits would keep the caller's future from being `Send`.
    let operations: Vec<F> = items.into_iter().map(op).collect();
    let mut results: Vec<Option<T>> = operations.iter().map(|_| None).collect();
    let mut pending = operations.into_iter().enumerate();
    let mut running = FuturesUnordered::new();
    let mut failed: Option<(usize, E)> = None;
    loop {
        while failed.is_none() && running.len() < jobs.max(1) {
            let Some((i, operation)) = pending.next() else { break };
            running.push(async move { (i, operation.await) });
        }
        let Some((i, result)) = running.next().await else { break };
        match result {
            Ok(value) => results[i] = Some(value),
            Err(e) if failed.as_ref().is_none_or(|(first, _)| i < *first) => failed = Some((i, e)),
            Err(_) => {}
        }
    }
    (results, failed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    /// Counts operations in flight and remembers the most seen at once.
    #[derive(Default)]
    struct Gauge {
        now: AtomicUsize,
        most: AtomicUsize,
    }

    impl Gauge {
        async fn hold(&self, millis: u64) {
            let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
            self.most.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(millis)).await;
            self.now.fetch_sub(1, Ordering::SeqCst);
        }
    }

    #[tokio::test]
    async fn in_order_keeps_the_order_and_the_bound() {
        let gauge = Gauge::default();
        let got: Result<Vec<u64>, ()> = in_order(0..20u64, 3, |i| {
            let gauge = &gauge;
            async move {
                gauge.hold(20 - i).await;
                Ok(i * 2)
            }
        })
        .await;
        assert_eq!(got.unwrap(), (0..20).map(|i| i * 2).collect::<Vec<_>>());
        assert_eq!(gauge.most.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn in_order_gives_the_first_failure_in_item_order() {
        let got: Result<Vec<u64>, u64> = in_order(0..10u64, 4, |i| async move {
            tokio::time::sleep(Duration::from_millis(10 - i)).await;
            if i == 3 || i == 5 {
                Err(i)
            } else {
                Ok(i)
            }
        })
        .await;
        assert_eq!(got, Err(3));
    }

    /// After item 2 fails, nothing new starts; what was in flight finishes and is reported.
    #[tokio::test]
    async fn until_failure_starts_nothing_after_a_failure_and_waits_for_the_rest() {
        let started = AtomicUsize::new(0);
        let (succeeded, failed) = until_failure(0..10usize, 3, |i| {
            let started = &started;
            async move {
                started.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(if i == 2 { 1 } else { 30 })).await;
                if i == 2 {
                    Err(format!("item {i}"))
                } else {
                    Ok(())
                }
            }
        })
        .await;
        assert_eq!(started.load(Ordering::SeqCst), 3, "items 0, 1 and 2 only");
        assert_eq!(succeeded, [0, 1]);
        assert_eq!(failed, Some((2, "item 2".to_string())));
        let (all, none) = until_failure(0..5usize, 2, |_| async { Ok::<(), ()>(()) }).await;
        assert_eq!((all, none), (vec![0, 1, 2, 3, 4], None));
    }
}
