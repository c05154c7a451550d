//! The pipeline's seams: the few named points between stages where a caller may rewrite what
//! one stage hands to the next. The self-check's known-bad implementations (the mutant binary,
//! `src/mutants/` of the root package, cargo feature `mutants`) are built on them; the real path
//! passes [`NoSeams`], which rewrites nothing.
//!
//! The seams, in pipeline order:
//!
//! 1. [`Seams::parsed`]: the layer files and declarations as read from the layers dir, with the
//!    problems found, before planning checks them;
//! 2. [`Seams::planned`]: the planned artifacts and every problem planning found;
//! 3. [`Seams::manifest_bytes`]: each manifest's exact bytes, before they are hashed, and
//!    [`Seams::enforces_manifest_size_limit`], whether they are held to 4 MiB (R-MAN-9).
//!
//! The fourth seam needs no hook: a [`crate::publish::Target`] that wraps another one sees and
//! may change every request of a publish.

use crate::diagnostic::Diagnostics;
use crate::layer_toml::LayerFile;
use crate::plan::{BuildContext, PlannedArtifact};

/// Rewrites between pipeline stages; every method's default rewrites nothing. `ctx` is `None`
/// when only validating (no build context). `Sync`, so that a publish stays a `Send` future.
pub trait Seams: Sync {
    /// After the layers dir is read, before any declaration is checked.
    fn parsed(&self, _layers: &mut Vec<LayerFile>, _errors: &mut Diagnostics, _ctx: Option<&BuildContext>) {}

    /// After planning and its checks, before the result is returned; `layers` are the files the
    /// artifacts were planned from.
    fn planned(
        &self,
        _layers: &[LayerFile],
        _artifacts: &mut Vec<PlannedArtifact>,
        _errors: &mut Diagnostics,
        _ctx: Option<&BuildContext>,
    ) {
    }

    /// A manifest's bytes as serialised, before they are checked and hashed.
    fn manifest_bytes(&self, bytes: Vec<u8>) -> Vec<u8> {
        bytes
    }

    /// Whether a manifest over `crate::manifest::MAX_MANIFEST_SIZE` is refused (R-MAN-9,
    /// R-PUSH-6).
    fn enforces_manifest_size_limit(&self) -> bool {
        true
    }
}

/// The seams of the real pipeline: nothing is rewritten.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoSeams;

impl Seams for NoSeams {}
