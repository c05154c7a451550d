//! The self-check's mutations: each armed [`Mutant`] is one plausible way to get the spec wrong,
//! applied at the pipeline's seams (`cnb_artifacts_core::plan::seams`, [`crate::cli::Seams`])
//! by the `cnb-artifacts-mutant` binary (`src/bin/cnb-artifacts-mutant.rs`). Compiled only with
//! the cargo feature `mutants`; the release binary passes no seams at all.
//!
//! | seam | module |
//! | --- | --- |
//! | the inputs (`SOURCE_DATE_EPOCH`) | [`inputs`] |
//! | after parsing | [`parsed`] |
//! | after the plan | [`plan`] |
//! | the manifest bytes | [`manifest_bytes`] |
//! | a target wrapped around the real one | [`target`] |
//!
//! The mutants that still need a narrow hook inside the core are listed in ARCHITECTURE.md
//! ("Boundaries"), with why.

pub mod inputs;
pub mod manifest_bytes;
pub mod parsed;
pub mod plan;
pub mod target;

use std::sync::Mutex;

use cnb_artifacts_core::diagnostic::{Diagnostic, Diagnostics};
use cnb_artifacts_core::layer_toml::LayerFile;
use cnb_artifacts_core::mutants::{active, Mutant};
use cnb_artifacts_core::plan::{BuildContext, Plan, PlannedArtifact};
use cnb_artifacts_core::publish::Target;

pub use inputs::mutate_inputs;

/// The seams of the mutant binary: the armed mutant's rewrites, and the input errors
/// [`Mutant::PublishesValidArtifacts`] holds back until the publish is done.
#[derive(Debug, Default)]
pub struct MutantSeams {
    deferred: Mutex<Vec<Diagnostic>>,
    /// The layer files as read, before [`parsed`] changed them.
    read: Mutex<Vec<LayerFile>>,
}

impl MutantSeams {
    /// The errors held back by [`Mutant::PublishesValidArtifacts`], emptied.
    pub fn take_deferred(&self) -> Vec<Diagnostic> {
        self.deferred.lock().map(|mut d| std::mem::take(&mut *d)).unwrap_or_default()
    }
}

impl cnb_artifacts_core::plan::Seams for MutantSeams {
    fn parsed(&self, layers: &mut Vec<LayerFile>, errors: &mut Diagnostics, ctx: Option<&BuildContext>) {
        if let Ok(mut read) = self.read.lock() {
            read.clone_from(layers);
        }
        parsed::parsed(layers, errors, ctx);
    }

    fn planned(&self, _layers: &[LayerFile], artifacts: &mut Vec<PlannedArtifact>, errors: &mut Diagnostics, ctx: Option<&BuildContext>) {
        let read = self.read.lock().map(|r| r.clone()).unwrap_or_default();
        let mut deferred = Vec::new();
        plan::planned(&read, artifacts, errors, ctx, &mut deferred);
        if let Ok(mut held) = self.deferred.lock() {
            held.extend(deferred);
        }
    }

    fn manifest_bytes(&self, bytes: Vec<u8>) -> Vec<u8> {
        manifest_bytes::manifest_bytes(bytes)
    }

    fn enforces_manifest_size_limit(&self) -> bool {
        !active(Mutant::NoSizeLimit)
    }
}

impl crate::cli::Seams for MutantSeams {
    fn target<'a, T: Target + 'a>(&'a self, plan: &'a Plan, target: T) -> impl Target + 'a {
        target::MutantTarget::new(target, plan, self)
    }
}
