//! The `cnb-artifacts` command line as a library, so that the release binary (`src/main.rs`) and
//! the self-check's `cnb-artifacts-mutant` share it. All the work is in `cnb-artifacts-core` (the
//! product) and `cnb-artifacts-conformance` (the suite); [`cli`] only parses flags, builds the
//! inputs and prints.
//!
//! The crates' modules are re-exported under their familiar names for the integration tests.

pub mod cli;

pub use cnb_artifacts_conformance as conformance;
pub use cnb_artifacts_conformance::registry;
pub use cnb_artifacts_core::{diagnostic, layer_toml, manifest, mutants, plan, publish, reference, template};
