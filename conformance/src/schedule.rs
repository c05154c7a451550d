//! Running the selected cases `jobs` at a time until all have ended or the run is interrupted.
//! Results reach the [`Progress`] watcher in case order ([`InOrder`]); on an interrupt the cases
//! still running are dropped (which kills their implementations' process groups) and every
//! case without a result becomes [`Status::NotRun`], saying whether it had started.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};

use futures_util::stream::{self, StreamExt};

use crate::interrupt::Interrupt;
use crate::outcome::{CaseResult, Status};
use crate::progress::{InOrder, Progress};
use crate::selection::Selected;

/// Runs `run` on every selected case, at most `jobs` at once; returns a result per case, in the
/// order of `selected`.
pub async fn all<'a, F, Fut>(
    selected: &'a [Selected],
    jobs: usize,
    progress: &dyn Progress,
    interrupt: &Interrupt,
    run: F,
) -> Vec<CaseResult>
where
    F: Fn(&'a Selected) -> Fut,
    Fut: Future<Output = CaseResult>,
{
    let mut order = InOrder::new(selected.len());
    let began: Vec<AtomicBool> = selected.iter().map(|_| AtomicBool::new(false)).collect();
    {
        let (run, began) = (&run, &began);
        let mut running = stream::iter(selected.iter().enumerate())
            .map(|(i, s)| async move {
                began[i].store(true, Ordering::Relaxed);
                progress.started(&s.case.id);
                let result = run(s).await;
                progress.ended(&s.case.id);
                (i, result)
            })
            .buffer_unordered(jobs.max(1));
        loop {
            tokio::select! {
                biased;
                _ = interrupt.tripped() => break,
                next = running.next() => match next {
                    Some((i, result)) => order.put(i, result, progress),
                    None => break,
                },
            }
        }
    }
    if let Some(why) = interrupt.reason() {
        for (i, s) in selected.iter().enumerate() {
            if !order.has(i) {
                let mut r = CaseResult::new(&s.case, Status::NotRun);
                r.reason = Some(if began[i].load(Ordering::Relaxed) {
                    format!("interrupted ({why}) while it ran; its implementation was killed")
                } else {
                    format!("the run was interrupted ({why}) before it started")
                });
                order.put(i, r, progress);
            }
        }
    }
    order.into_slots().into_iter().flatten().collect()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::progress::Silent;

    fn selected(ids: &[&str]) -> Vec<Selected> {
        ids.iter().map(|id| Selected { case: crate::case::for_tests(id, &["R-TAG-1"], "t"), disabled: false }).collect()
    }

    #[tokio::test]
    async fn every_case_runs_and_results_keep_the_case_order() {
        let cases = selected(&["a", "b", "c"]);
        let slow_first = |s: &Selected| {
            let wait = if s.case.id == "a" { 50 } else { 0 };
            let result = CaseResult::new(&s.case, Status::Pass);
            async move {
                tokio::time::sleep(Duration::from_millis(wait)).await;
                result
            }
        };
        let results = all(&cases, 3, &Silent, &Interrupt::new(), slow_first).await;
        let ids: Vec<&str> = results.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["a", "b", "c"]);
        assert!(results.iter().all(|r| r.status == Status::Pass));
    }

    #[tokio::test]
    async fn an_interrupt_marks_running_and_waiting_cases_not_run() {
        let cases = selected(&["done", "hangs", "waits"]);
        let interrupt = Interrupt::new();
        let trip = interrupt.clone();
        let run = |s: &Selected| {
            let hang = s.case.id != "done";
            let result = CaseResult::new(&s.case, Status::Fail);
            let trip = trip.clone();
            async move {
                if hang {
                    trip.trip("SIGINT");
                    std::future::pending::<()>().await;
                }
                result
            }
        };
        let results = all(&cases, 1, &Silent, &interrupt, run).await;
        let got: Vec<(&str, Status)> = results.iter().map(|r| (r.id.as_str(), r.status)).collect();
        assert_eq!(got, [("done", Status::Fail), ("hangs", Status::NotRun), ("waits", Status::NotRun)]);
        assert!(results[1].reason.as_deref().unwrap().contains("while it ran"), "{:?}", results[1].reason);
        assert!(results[2].reason.as_deref().unwrap().starts_with("the run was interrupted (SIGINT) before it started"));
    }
}
