//! Reliability under faults and registry quirks (spec rules R-PUSH-2, R-PUSH-7, R-REF-1,
//! R-REF-4, R-REF-5): a proxy between the publisher and the test registry breaks requests
//! ([`injector`]) or makes the registry behave like a quirky one
//! (`cnb_artifacts_conformance::provider::quirks`), and the tests check that a publish either completes
//! exactly or fails with a clear error and no tag moved. See `docs/reliability.md`.

mod injector;
mod quirks;
pub(crate) mod scenario;
mod sweep;
