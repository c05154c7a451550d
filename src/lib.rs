//! The `cnb-artifacts` command line as a library, so that the release binary (`src/main.rs`) and
//! the self-check's `cnb-artifacts-mutant` share it. The work is in `cnb-artifacts-core` (the
//! product) and `cnb-artifacts-conformance` (the suite); [`cli`] parses flags, builds the inputs
//! and prints. With the cargo feature `mutants`, [`mutants`] holds the self-check's known-bad
//! behaviours, applied at the pipeline's seams.

pub mod cli;
#[cfg(feature = "mutants")]
pub mod mutants;
