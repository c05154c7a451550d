//! `cnb-artifacts-mutant`: the `cnb-artifacts` command line with one known-bad behaviour armed
//! from `$CNB_ARTIFACTS_MUTANT` (see `cnb_artifacts::mutants`), for `cnb-artifacts conformance
//! self-check`. Built only with the cargo feature `mutants`, never part of a release.

use std::process::ExitCode;

use cnb_artifacts::mutants::{mutate_inputs, MutantSeams};

fn main() -> ExitCode {
    if let Err(e) = cnb_artifacts_core::mutants::arm() {
        eprintln!("error: {e}");
        return ExitCode::from(2);
    }
    mutate_inputs();
    let seams = MutantSeams::default();
    let code = cnb_artifacts::cli::main_with(&seams);
    // `publishes-valid-artifacts` reports the input errors only after publishing the rest.
    let deferred = seams.take_deferred();
    if deferred.is_empty() {
        return code;
    }
    for d in &deferred {
        eprintln!("error: {d}");
    }
    ExitCode::from(1)
}
