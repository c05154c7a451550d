//! Planning: from a layers dir and a build context to the exact list of artifacts to publish.
//!
//! Pure and offline (no network): reads layer TOMLs through [`crate::layer_toml`], renders
//! templates through [`crate::template`], confines and hashes files ([`confine`]), asks the
//! preset for config and media types ([`crate::plan::presets`]) and checks every collision
//! (`collisions`) before anything could be pushed. Owns spec rules R-PLAN-*, R-TAG-*,
//! R-REPO-*, R-LABEL-*; R-CONF-* live in [`confine`], R-COLL-* in `collisions`.

mod artifact;
pub(crate) mod collisions;
pub mod confine;
pub mod presets;
mod render;
pub mod seams;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::layer_toml::{self, Preset};
use crate::reference::{Digest, ImageRef};
pub use render::vars as template_vars;
pub use seams::{NoSeams, Seams};

/// The app image's manifest descriptor: the `subject` of every artifact (R-MAN-6).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Subject {
    /// The app image manifest's digest.
    pub digest: Digest,
    /// The app image manifest's size in bytes.
    pub size: u64,
    /// The app image manifest's media type (one of [`crate::media_types::SUBJECT_MEDIA_TYPES`]).
    #[serde(rename = "mediaType")]
    pub media_type: String,
}

/// What the build produced and where: the input to planning besides the layers dir.
#[derive(Debug, Clone)]
pub struct BuildContext {
    /// The app image reference (its tag, if any, is the primary tag).
    pub image: ImageRef,
    /// Further tags of the app image, beside the reference's own (order kept, duplicates dropped).
    pub extra_tags: Vec<String>,
    /// The app image's digest, when known (`--digest` or report.toml).
    pub digest: Option<Digest>,
    /// Size and media type of the app image manifest, when known; with `digest` they make the
    /// subject descriptor and so the manifest digests.
    pub manifest_size: Option<u64>,
    /// The app image manifest's media type; `None` means the OCI image manifest.
    pub manifest_media_type: Option<String>,
    /// `SOURCE_DATE_EPOCH` when set (R-MAN-8): seconds since the epoch.
    pub source_date_epoch: Option<i64>,
}

impl BuildContext {
    /// Every tag of the app image: the reference's tag first, then the extra tags.
    pub fn all_tags(&self) -> Vec<String> {
        let mut tags: Vec<String> = Vec::new();
        for t in self.image.tag.iter().chain(self.extra_tags.iter()) {
            if !tags.contains(t) {
                tags.push(t.clone());
            }
        }
        tags
    }

    /// The subject descriptor, when digest and size are known.
    pub fn subject(&self) -> Option<Subject> {
        Some(Subject {
            digest: self.digest.clone()?,
            size: self.manifest_size?,
            media_type: self.manifest_media_type.clone().unwrap_or_else(|| crate::media_types::OCI_MANIFEST.to_string()),
        })
    }
}

/// A config blob: media type and exact bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigBlob {
    /// The config's media type.
    pub media_type: String,
    /// The config's exact bytes.
    pub bytes: Vec<u8>,
}

/// One file of an artifact, checked and hashed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlannedFile {
    /// The path as declared, relative to the layer directory (normalised: no `.` components).
    pub path: String,
    /// Where the bytes are read from (inside the layer directory).
    #[serde(skip)]
    pub source: PathBuf,
    /// The device and inode of `source` when it was hashed: the publisher uploads only from
    /// that same file (R-PUSH-4).
    #[serde(skip)]
    pub identity: crate::input_file::FileIdentity,
    /// The file's size in bytes when it was hashed.
    pub size: u64,
    /// The digest of the file's bytes; not yet known when [`PlannedFile::digest_pending`].
    pub digest: Digest,
    /// The file was not hashed at planning ([`PlanOptions::single_pass_min_size`]): the
    /// publisher computes its digest while uploading it (R-PUSH-11), and `digest` is a
    /// placeholder until then.
    #[serde(skip)]
    pub digest_pending: bool,
    /// The layer media type (the preset's, or `mediaType` as declared).
    #[serde(rename = "mediaType")]
    pub media_type: String,
}

/// One artifact to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedArtifact {
    /// The buildpack ID whose layer declared the artifact.
    pub buildpack: String,
    /// The buildpack's version, from group.toml, when known.
    pub buildpack_version: Option<String>,
    /// The layer's name (its directory under the buildpack's).
    pub layer: String,
    /// The file the artifact was declared in: the layer TOML or the layer's `artifacts.toml`.
    pub form: layer_toml::DeclForm,
    /// Position of the artifact table in its file, from 0.
    pub index: usize,
    /// Registry host, always the app image's.
    pub registry: String,
    /// Repository path without the host.
    pub repository: String,
    /// Tags to set, in order; empty when the artifact is published by digest only.
    pub tags: Vec<String>,
    /// The media-type preset (`type`): generic, wasm, helm or junit.
    pub preset: Preset,
    /// The manifest's `artifactType`.
    pub artifact_type: String,
    /// Manifest annotations: rendered labels plus the reserved ones (R-LABEL-*).
    pub annotations: BTreeMap<String, String>,
    /// The config blob.
    pub config: ConfigBlob,
    /// The files, one layer each, in the declared order.
    pub files: Vec<PlannedFile>,
    /// Where the artifact table starts in its layer TOML: errors found after planning (e.g. a
    /// manifest over 4 MiB, R-MAN-9) name it (R-ERR-1).
    pub declared_at: crate::diagnostic::Location,
}

impl PlannedArtifact {
    /// `registry/repository`.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }
    /// A short human name: `buildpack/layer#index`, or `buildpack/layer/artifacts.toml#index`
    /// for the RFC revision's form (R-ATOML-6).
    pub fn label(&self) -> String {
        match self.form {
            layer_toml::DeclForm::LayerToml => format!("{}/{}#{}", self.buildpack, self.layer, self.index),
            layer_toml::DeclForm::ArtifactsToml => {
                format!("{}/{}/{}#{}", self.buildpack, self.layer, layer_toml::ARTIFACTS_TOML, self.index)
            }
        }
    }
}

/// The result of planning.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The build context planning started from.
    pub context: BuildContext,
    /// Every artifact to publish, in the order the layers dir was read (the same for the same inputs).
    pub artifacts: Vec<PlannedArtifact>,
}

impl Plan {
    /// Whether a file's digest is left to the publisher ([`PlannedFile::digest_pending`]).
    pub fn has_pending_digests(&self) -> bool {
        self.artifacts.iter().flat_map(|a| &a.files).any(|f| f.digest_pending)
    }
}

/// Choices of planning.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlanOptions {
    /// Files of at least this many bytes are not hashed at planning: the publisher computes
    /// their digests while uploading them, reading each once (R-PUSH-11). Never for the files
    /// of a `wasm` artifact, whose config names the files' digests. `None`: every file is
    /// hashed (the `plan` command, an OCI layout).
    pub single_pass_min_size: Option<u64>,
}

/// Plans every artifact under `layers_dir` for the build `ctx` (R-PLAN-1..3). Returns every
/// problem found in any file, or the complete plan; never a partial plan.
pub fn plan(layers_dir: &Path, ctx: &BuildContext) -> Result<Plan, Diagnostics> {
    plan_with(layers_dir, ctx, &NoSeams)
}

/// [`plan`], with `seams` rewriting between its stages ([`seams`]).
pub fn plan_with(layers_dir: &Path, ctx: &BuildContext, seams: &dyn Seams) -> Result<Plan, Diagnostics> {
    plan_with_options(layers_dir, ctx, seams, &PlanOptions::default())
}

/// [`plan_with`], with the choices `opts`.
pub fn plan_with_options(layers_dir: &Path, ctx: &BuildContext, seams: &dyn Seams, opts: &PlanOptions) -> Result<Plan, Diagnostics> {
    run(layers_dir, Some(ctx), seams, opts).map(|artifacts| Plan { context: ctx.clone(), artifacts })
}

/// Checks everything that needs no build context (R-PLAN-1): parsing, template syntax, label
/// keys, confinement, presets. Returns every problem found.
pub fn validate(layers_dir: &Path) -> Result<(), Diagnostics> {
    validate_with(layers_dir, &NoSeams)
}

/// [`validate`], with `seams` rewriting between its stages ([`seams`]).
pub fn validate_with(layers_dir: &Path, seams: &dyn Seams) -> Result<(), Diagnostics> {
    run(layers_dir, None, seams, &PlanOptions::default()).map(|_| ())
}

fn run(layers_dir: &Path, ctx: Option<&BuildContext>, seams: &dyn Seams, opts: &PlanOptions) -> Result<Vec<PlannedArtifact>, Diagnostics> {
    let (mut layers, mut errors) = layer_toml::read_layers_dir(layers_dir);
    seams.parsed(&mut layers, &mut errors, ctx);
    let created = match ctx.and_then(|c| c.source_date_epoch) {
        Some(epoch) => match crate::plan::presets::created_timestamp(epoch) {
            Some(t) => Some(t),
            None => {
                errors.push(Diagnostic::new("R-MAN-8", None, format!("SOURCE_DATE_EPOCH={epoch} is out of range")));
                None
            }
        },
        None => None,
    };
    let mut artifacts = Vec::new();
    let mut claims = Vec::new();
    for layer in &layers {
        for decl in &layer.artifacts {
            let checked = match artifact::check(layer, decl, created.as_deref(), opts) {
                Ok(c) => c,
                Err(d) => {
                    errors.extend(d);
                    continue;
                }
            };
            let Some(ctx) = ctx.filter(|_| layer.valid) else { continue };
            match checked.finish(ctx, created.as_deref()) {
                Ok((a, c)) => {
                    artifacts.push(a);
                    claims.extend(c);
                }
                Err(d) => errors.extend(d),
            }
        }
    }
    if let Some(ctx) = ctx {
        errors.extend(collisions::check(&claims, &ctx.image.repository, &ctx.all_tags()));
    }
    seams.planned(&layers, &mut artifacts, &mut errors, ctx);
    if errors.is_empty() {
        Ok(artifacts)
    } else {
        Err(errors.sorted())
    }
}
