//! The one integration-test binary: one `mod` per area, all linked together (fast to link).
//! `support` holds the shared helpers (registries, fixtures, running the binary); it comes
//! first so that its macros (`require_registry!`) are visible in every module after it.

#[macro_use]
mod support;

mod architecture;
mod bad_input;
mod bounds;
mod cli;
mod conformance;
mod conformance_diff;
mod conformance_live;
mod conformance_quirks;
mod conformance_verdicts;
mod consume;
mod docs;
mod external_registry;
mod fault;
mod output_sweep;
mod publish;
mod realm;
mod registry;
mod request_count;
mod security;
mod single_pass;
mod transport;
mod wan;
