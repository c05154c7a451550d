//! `cnb-artifacts-mutant`: the `cnb-artifacts` command line with one known-bad behaviour armed
//! from `$CNB_ARTIFACTS_MUTANT` (see `cnb_artifacts_core::mutants`), for `cnb-artifacts conformance
//! self-check`. Built only with the cargo feature `mutants`, never part of a release.

use std::process::ExitCode;

fn main() -> ExitCode {
    if let Err(e) = cnb_artifacts_core::mutants::arm() {
        eprintln!("error: {e}");
        return ExitCode::from(2);
    }
    let code = cnb_artifacts::cli::main();
    // `publishes-valid-artifacts` reports the input errors only after publishing the rest.
    let deferred = cnb_artifacts_core::mutants::take_deferred();
    if deferred.is_empty() {
        return code;
    }
    for d in &deferred {
        eprintln!("error: {d}");
    }
    ExitCode::from(1)
}
