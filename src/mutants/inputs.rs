//! Mutations of the inputs, before the command line reads them: the build's
//! `SOURCE_DATE_EPOCH` (R-MAN-8).

use cnb_artifacts_core::mutants::{active, Mutant};

/// Rewrites the process environment the command line reads ([`Mutant::IgnoresSourceDateEpoch`],
/// [`Mutant::TimestampsAlways`]). Call before any other thread starts.
pub fn mutate_inputs() {
    const EPOCH: &str = "SOURCE_DATE_EPOCH";
    if active(Mutant::IgnoresSourceDateEpoch) {
        std::env::remove_var(EPOCH);
    }
    if active(Mutant::TimestampsAlways) && std::env::var_os(EPOCH).is_none() {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        std::env::set_var(EPOCH, now.to_string());
    }
}
