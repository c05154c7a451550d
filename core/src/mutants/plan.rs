//! The mutations of a finished plan: one hook ([`planned`]) at the end of planning rewrites the
//! artifacts or the errors, for every mutant whose wrong behaviour shows in the plan alone.

use super::{active, defer, Mutant};
use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::layer_toml::Preset;
use crate::media_types::{ANNOTATION_CREATED, BUILDPACKS_ARTIFACT, HELM_CHART, HELM_CONFIG, OCTET_STREAM, RESERVED_PREFIX};
use crate::plan::{BuildContext, PlannedArtifact};
use crate::reference::MAX_TAG_LEN;

/// One 8 MiB piece, the size [`Mutant::CapsFileSize`] stops at.
const PIECE: u64 = 8 * 1024 * 1024;

/// Rewrites the outcome of planning (`ctx` is `None` for `validate`): the artifacts that planned
/// and the errors found. The identity unless a mutant is armed.
pub fn planned(artifacts: &mut Vec<PlannedArtifact>, errors: &mut Diagnostics, ctx: Option<&BuildContext>) {
    if active(Mutant::IgnoresCollisions) {
        errors.0.retain(|d| !d.rule.starts_with("R-COLL-"));
    }
    if active(Mutant::SkipsMissingFiles) {
        errors.0.retain(|d| d.rule != "R-CONF-5" && !d.message.contains("dangling"));
    }
    if active(Mutant::SkipsUnparsableLayerToml) {
        errors.0.retain(|d| d.rule != "R-FILE-5");
    }
    if active(Mutant::CollisionsIgnoreRepository) {
        errors.extend(tag_only_collisions(artifacts));
    }
    if active(Mutant::TagLimit127) {
        errors.extend(
            artifacts
                .iter()
                .flat_map(|a| &a.tags)
                .filter(|t| t.len() >= MAX_TAG_LEN)
                .map(|t| Diagnostic::new("R-TAG-1", None, format!("tag `{t}` is longer than 127 characters"))),
        );
    }
    if active(Mutant::FailsWithoutArtifacts) && artifacts.is_empty() && errors.is_empty() {
        errors.push(Diagnostic::new("R-FILE-4", None, "no layer declares an artifact: nothing to publish"));
    }
    if active(Mutant::PublishesValidArtifacts) && ctx.is_some() {
        defer(std::mem::take(&mut errors.0));
    }
    if active(Mutant::FirstArtifactOnly) {
        artifacts.retain(|a| a.index == 0);
    }
    for artifact in artifacts.iter_mut() {
        rewrite(artifact, ctx);
    }
}

/// Two artifacts with one tag, in whatever repositories.
fn tag_only_collisions(artifacts: &[PlannedArtifact]) -> Vec<Diagnostic> {
    let mut seen: Vec<(&str, String)> = Vec::new();
    let mut errors = Vec::new();
    for a in artifacts {
        for t in &a.tags {
            match seen.iter().find(|(tag, _)| tag == t) {
                Some((_, other)) => {
                    errors.push(Diagnostic::new("R-COLL-1", None, format!("artifacts {other} and {} are both tagged `{t}`", a.label())))
                }
                None => seen.push((t, a.label())),
            }
        }
    }
    errors
}

/// The per-artifact mutations.
fn rewrite(a: &mut PlannedArtifact, ctx: Option<&BuildContext>) {
    if active(Mutant::DropsLabels) {
        a.annotations.retain(|k, _| k.starts_with(RESERVED_PREFIX) || k == ANNOTATION_CREATED);
    }
    if active(Mutant::NoReservedAnnotations) {
        a.annotations.retain(|k, _| !k.starts_with(RESERVED_PREFIX));
    }
    if active(Mutant::PrimaryTagOnly) {
        a.tags.truncate(1);
    }
    if active(Mutant::TagsLatestWhenUntagged) && a.tags.is_empty() {
        a.tags.push("latest".to_string());
    }
    if active(Mutant::SortsFiles) {
        a.files.sort_by(|x, y| x.path.cmp(&y.path));
    }
    if active(Mutant::CapsFileSize) {
        for f in &mut a.files {
            f.size = f.size.min(PIECE);
        }
    }
    match a.preset {
        Preset::Wasm if active(Mutant::WrongMediaTypes) => set_layer_media_type(a, OCTET_STREAM),
        Preset::Helm if active(Mutant::WrongMediaTypes) => {
            a.config.media_type = HELM_CHART.to_string();
            set_layer_media_type(a, HELM_CONFIG);
        }
        Preset::Generic if active(Mutant::IgnoresDeclaredMediaTypes) => {
            a.artifact_type = BUILDPACKS_ARTIFACT.to_string();
            set_layer_media_type(a, OCTET_STREAM);
        }
        Preset::Helm if active(Mutant::HelmTagKeepsPlus) => {
            a.tags = a.tags.iter().map(|t| t.replace('_', "+")).collect();
        }
        Preset::Helm if active(Mutant::HelmChartInAppRepository) => {
            if let Some(ctx) = ctx {
                a.repository = ctx.image.repository.clone();
            }
        }
        _ => {}
    }
}

fn set_layer_media_type(a: &mut PlannedArtifact, media_type: &str) {
    for f in &mut a.files {
        f.media_type = media_type.to_string();
    }
}
