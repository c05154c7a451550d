//! Mutations of a finished plan ([`cnb_artifacts_core::plan::Seams::planned`]): the artifacts
//! or the errors rewritten, for every mutant whose wrong behaviour shows in the plan alone.

use cnb_artifacts_core::diagnostic::{Diagnostic, Diagnostics};
use cnb_artifacts_core::layer_toml::{ArtifactDecl, LayerFile, Preset};
use cnb_artifacts_core::media_types::{ANNOTATION_CREATED, BUILDPACKS_ARTIFACT, HELM_CHART, HELM_CONFIG, OCTET_STREAM, RESERVED_PREFIX};
use cnb_artifacts_core::mutants::{active, Mutant};
use cnb_artifacts_core::plan::confine::normalise;
use cnb_artifacts_core::plan::{template_vars, BuildContext, PlannedArtifact};
use cnb_artifacts_core::reference::MAX_TAG_LEN;
use cnb_artifacts_core::template::Template;

use super::parsed::DISGUISE;

/// One 8 MiB piece, the size [`Mutant::CapsFileSize`] stops at.
const PIECE: u64 = 8 * 1024 * 1024;

/// Rewrites the outcome of planning (`ctx` is `None` for `validate`); `layers` are the files as
/// read, before [`super::parsed`] changed them. Errors that [`Mutant::PublishesValidArtifacts`]
/// holds back go to `deferred`.
pub fn planned(
    layers: &[LayerFile],
    artifacts: &mut Vec<PlannedArtifact>,
    errors: &mut Diagnostics,
    ctx: Option<&BuildContext>,
    deferred: &mut Vec<Diagnostic>,
) {
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
        deferred.append(&mut errors.0);
    }
    if active(Mutant::FirstArtifactOnly) {
        artifacts.retain(|a| a.index == 0);
    }
    for artifact in artifacts.iter_mut() {
        rewrite(artifact, ctx);
        if let Some((layer, decl)) = declared(layers, artifact) {
            restore_duplicates(artifact, decl);
            restore_chart_names(artifact, layer, decl, ctx);
            retitle(artifact, layer, decl);
        }
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
    if active(Mutant::AllowsReservedLabels) {
        let disguised: Vec<String> = a.annotations.keys().filter(|k| k.starts_with(DISGUISE)).cloned().collect();
        for key in disguised {
            if let Some(value) = a.annotations.remove(&key) {
                a.annotations.entry(key[DISGUISE.len()..].to_string()).or_insert(value);
            }
        }
    }
    if active(Mutant::NoReservedAnnotations) {
        a.annotations.retain(|k, _| !k.starts_with(RESERVED_PREFIX));
    }
    if active(Mutant::EpochOverridesCreatedLabel) {
        let created = ctx.and_then(|c| c.source_date_epoch).and_then(cnb_artifacts_core::plan::presets::created_timestamp);
        if let Some(created) = created {
            a.annotations.insert(ANNOTATION_CREATED.to_string(), created);
        }
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

/// The layer file and the table `a` was planned from.
fn declared<'l>(layers: &'l [LayerFile], a: &PlannedArtifact) -> Option<(&'l LayerFile, &'l ArtifactDecl)> {
    let layer = layers.iter().find(|l| l.buildpack.id == a.buildpack && l.name == a.layer && l.form == a.form)?;
    Some((layer, layer.artifacts.iter().find(|d| d.index == a.index)?))
}

/// [`Mutant::AllowsDuplicateFiles`] (R-CONF-6): a file declared twice is a layer twice.
fn restore_duplicates(a: &mut PlannedArtifact, decl: &ArtifactDecl) {
    if !active(Mutant::AllowsDuplicateFiles) || decl.files.len() == a.files.len() {
        return;
    }
    let planned = std::mem::take(&mut a.files);
    for declared in &decl.files {
        let path = normalise(declared.get_ref()).unwrap_or_else(|_| declared.get_ref().clone());
        a.files.extend(planned.iter().find(|f| f.path == path).cloned());
    }
}

/// [`Mutant::IgnoresHelmRule`] (R-PRESET-4): a chart goes to the repository and tag declared,
/// whether or not they fit the chart.
fn restore_chart_names(a: &mut PlannedArtifact, layer: &LayerFile, decl: &ArtifactDecl, ctx: Option<&BuildContext>) {
    if !active(Mutant::IgnoresHelmRule) || a.preset != Preset::Helm {
        return;
    }
    let vars = template_vars(layer, ctx);
    let render = |text: &toml::Spanned<String>| Template::parse(text.get_ref()).ok()?.render(&vars).ok();
    if let Some(repository) = decl.repository.as_ref().and_then(render) {
        a.repository = repository;
    }
    if let Some(tag) = decl.tag.as_ref().and_then(render) {
        a.tags = vec![tag];
    }
}

/// The titles of the layers ([`Mutant::KeepsDotComponents`], [`Mutant::TitleFromTarget`]): the
/// path as declared, or the path a link resolves to, instead of the normalised declared path.
fn retitle(a: &mut PlannedArtifact, layer: &LayerFile, decl: &ArtifactDecl) {
    if active(Mutant::KeepsDotComponents) {
        for (f, declared) in a.files.iter_mut().zip(&decl.files) {
            f.path = declared.get_ref().clone();
        }
    }
    if active(Mutant::TitleFromTarget) {
        let root = layer.layer_dir.canonicalize().unwrap_or_else(|_| layer.layer_dir.clone());
        for f in &mut a.files {
            if let Ok(relative) = f.source.strip_prefix(&root) {
                f.path = relative.to_string_lossy().into_owned();
            }
        }
    }
}
