//! What a run tells whoever watches it while it goes: the header once the registry is up, each
//! case as it starts, and each case's result as it ends, in case order. Cases run `--jobs` at a
//! time and end in any order; [`InOrder`] holds a result back until every earlier case has
//! ended, so the lines come out in the same order in every run, each as soon as it can.

use crate::outcome::CaseResult;
use crate::provenance::Provenance;

/// The run's header: where the results come from, and what runs.
#[derive(Debug, Clone, Copy)]
pub struct Header<'a> {
    pub provenance: &'a Provenance,
    /// The quirks proxy's `host:port` the implementation was given, behind a quirk profile.
    pub proxy_host: Option<&'a str>,
    /// The IDs of the selected cases, in the order their results come.
    pub cases: &'a [&'a str],
}

/// Told about a run as it goes. Every method has an empty default.
pub trait Progress: Send + Sync {
    /// The registry is up and healthy; no case has started yet.
    fn header(&self, _header: &Header<'_>) {}
    /// Case `id` starts.
    fn started(&self, _id: &str) {}
    /// Case `id` ended (called at once, in any order; [`Progress::finished`] follows in order).
    fn ended(&self, _id: &str) {}
    /// The case at `position` (1-based, of `total`) ended; called in case order.
    fn finished(&self, _position: usize, _total: usize, _result: &CaseResult) {}
}

/// Watches nothing.
pub struct Silent;

impl Progress for Silent {}

/// Results in case order: each is released once every earlier one has been.
#[derive(Debug)]
pub struct InOrder {
    slots: Vec<Option<CaseResult>>,
    released: usize,
}

impl InOrder {
    /// Room for `total` results.
    pub fn new(total: usize) -> InOrder {
        InOrder { slots: (0..total).map(|_| None).collect(), released: 0 }
    }

    /// Stores the result of the case at `index` (0-based) and tells `progress` of every result
    /// that can now be released, in order.
    pub fn put(&mut self, index: usize, result: CaseResult, progress: &dyn Progress) {
        if let Some(slot) = self.slots.get_mut(index) {
            *slot = Some(result);
        }
        let total = self.slots.len();
        while let Some(Some(next)) = self.slots.get(self.released) {
            progress.finished(self.released + 1, total, next);
            self.released += 1;
        }
    }

    /// Whether the case at `index` has a result.
    pub fn has(&self, index: usize) -> bool {
        self.slots.get(index).is_some_and(Option::is_some)
    }

    /// Every result, in case order; `None` for a case that has none.
    pub fn into_slots(self) -> Vec<Option<CaseResult>> {
        self.slots
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::outcome::Status;

    #[derive(Default)]
    struct Seen(Mutex<Vec<(usize, usize, String)>>);

    impl Progress for Seen {
        fn finished(&self, position: usize, total: usize, result: &CaseResult) {
            self.0.lock().unwrap().push((position, total, result.id.clone()));
        }
    }

    fn result(id: &str) -> CaseResult {
        CaseResult::new(&crate::case::for_tests(id, &["R-TAG-1"], "t"), Status::Pass)
    }

    #[test]
    fn results_are_released_in_case_order_as_soon_as_every_earlier_one_ended() {
        let seen = Seen::default();
        let mut order = InOrder::new(4);
        order.put(2, result("c"), &seen);
        order.put(1, result("b"), &seen);
        assert!(seen.0.lock().unwrap().is_empty(), "nothing before the first case ends");
        order.put(0, result("a"), &seen);
        assert_eq!(*seen.0.lock().unwrap(), [(1, 4, "a".to_string()), (2, 4, "b".to_string()), (3, 4, "c".to_string())]);
        assert!(order.has(2) && !order.has(3));
        order.put(3, result("d"), &seen);
        assert_eq!(seen.0.lock().unwrap().last(), Some(&(4, 4, "d".to_string())));
        assert!(order.into_slots().iter().all(Option::is_some));
    }
}
