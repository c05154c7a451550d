//! The RFC revision's form: `<layers>/<buildpack-dir>/<layer>/artifacts.toml` with `[[artifact]]`
//! tables (R-ATOML-*).
//!
//! Owns the file's structure (R-ATOML-2: only `artifact`, a table or an array of tables), its
//! labels as a table or as `[[artifact.labels]]` tables (R-ATOML-3, parsed by the shared
//! [`super::artifact`] reader) and the two *media type switches*, the label keys
//! `ConfigMediaType` and `ContentLayerMediaType` (R-ATOML-4, R-ATOML-5): they are taken out of the
//! labels and mapped onto what the artifact table already has — a preset when the config media
//! type is a preset's, else `artifactType`; the layer media type onto `mediaType` — so the
//! planner sees one [`ArtifactDecl`] whatever the form. Where the file is found (R-ATOML-1) is
//! `layers_dir`'s.

use std::path::Path;

use toml::Spanned;

use crate::diagnostic::Diagnostics;
use crate::media_types::{HELM_CHART, HELM_CONFIG, JUNIT_XML, TEST_RESULTS_CONFIG, WASM_CONFIG, WASM_LAYER};

use super::artifact::artifact_decls;
use super::error::LayerTomlError;
use super::media_type::validate_media_type;
use super::{entries_in_order, parse_document, ArtifactDecl, DeclForm, Preset, Report};

/// The file name of the revision's form, inside a layer directory (R-ATOML-1).
pub const ARTIFACTS_TOML: &str = "artifacts.toml";
/// The label key that sets the config media type (R-ATOML-4).
const CONFIG_SWITCH: &str = "ConfigMediaType";
/// The label key that sets the media type of the artifact's layers (R-ATOML-4).
const LAYER_SWITCH: &str = "ContentLayerMediaType";

/// Parses one `artifacts.toml` text (`path` is used in diagnostics only): its `artifact` tables
/// with their switches applied. Returns every problem found, sorted.
pub fn parse_artifacts_toml(path: &Path, source: &str) -> Result<Vec<ArtifactDecl>, Diagnostics> {
    super::whole(parse_artifacts_toml_partial(path, source))
}

/// Like [`parse_artifacts_toml`], but also returns the artifact tables of a file with problems
/// (incomplete ones marked so), for the planner to check what did parse (R-FILE-6). A syntax
/// error, or a switch that cannot apply, leaves that table out.
pub(crate) fn parse_artifacts_toml_partial(path: &Path, source: &str) -> (Vec<ArtifactDecl>, Diagnostics) {
    let mut report = Report::new(path, source);
    let Some(document) = parse_document(source, &mut report) else {
        return (Vec::new(), report.into_diagnostics());
    };
    let mut artifacts = Vec::new();
    for (key, value) in entries_in_order(document.get_ref()) {
        match key.get_ref().as_ref() {
            "artifact" => artifacts = artifact_decls(value, DeclForm::ArtifactsToml, &mut report),
            other => report.error(LayerTomlError::ArtifactsTomlUnknownKey { key: other.to_string() }, key.span()),
        }
    }
    let artifacts: Vec<ArtifactDecl> = artifacts.into_iter().filter_map(|decl| apply_switches(decl, &mut report)).collect();
    (artifacts, report.into_diagnostics())
}

/// Takes the switch labels out of `decl` and applies them (R-ATOML-4); `None` when a switch is
/// invalid or conflicts with the table's own keys (R-ATOML-5).
fn apply_switches(mut decl: ArtifactDecl, report: &mut Report<'_>) -> Option<ArtifactDecl> {
    if crate::mutants::active(crate::mutants::Mutant::SwitchesAsLabels) {
        return Some(decl);
    }
    let errors_before = report.len();
    let config = take_switch(&mut decl, CONFIG_SWITCH, report);
    let layer = take_switch(&mut decl, LAYER_SWITCH, report);
    // `type` written explicitly: its span is the value's, not the table's.
    let explicit_preset = decl.preset.span() != decl.span;
    if let Some(config) = config {
        let conflict = |other: String| LayerTomlError::SwitchConflict { switch: CONFIG_SWITCH, value: config.get_ref().clone(), other };
        let preset_of_config = match config.get_ref().as_str() {
            WASM_CONFIG => Some(Preset::Wasm),
            HELM_CONFIG => Some(Preset::Helm),
            TEST_RESULTS_CONFIG => Some(Preset::Junit),
            _ => None,
        };
        if let Some(artifact_type) = &decl.artifact_type {
            report.error(conflict(format!("`artifactType` = `{}`", artifact_type.get_ref())), config.span());
        } else if explicit_preset && *decl.preset.get_ref() != Preset::Generic {
            if preset_of_config != Some(*decl.preset.get_ref()) {
                let preset = decl.preset.get_ref().as_str();
                report.error(conflict(format!("`type` = `{preset}`, whose config media type is fixed")), config.span());
            }
        } else if let (Some(preset), false) = (preset_of_config, explicit_preset) {
            decl.preset = Spanned::new(config.span(), preset);
        } else {
            decl.artifact_type = Some(config);
        }
    }
    if let Some(layer) = layer {
        let conflict = |other: String| LayerTomlError::SwitchConflict { switch: LAYER_SWITCH, value: layer.get_ref().clone(), other };
        let fixed = match decl.preset.get_ref() {
            Preset::Wasm => Some(WASM_LAYER),
            Preset::Helm => Some(HELM_CHART),
            Preset::Junit => Some(JUNIT_XML),
            Preset::Generic => None,
        };
        if let Some(media_type) = &decl.media_type {
            report.error(conflict(format!("`mediaType` = `{}`", media_type.get_ref())), layer.span());
        } else if let Some(fixed) = fixed {
            if layer.get_ref() != fixed {
                let preset = decl.preset.get_ref().as_str();
                report.error(conflict(format!("the `{preset}` preset, whose layer media type is `{fixed}`")), layer.span());
            }
        } else {
            decl.media_type = Some(layer);
        }
    }
    (report.len() == errors_before).then_some(decl)
}

/// Removes label `key` from `decl` and returns its value, checked as a media type (R-ATOML-4).
fn take_switch(decl: &mut ArtifactDecl, key: &'static str, report: &mut Report<'_>) -> Option<Spanned<String>> {
    let position = decl.labels.iter().position(|(k, _)| k.get_ref() == key)?;
    let (_, value) = decl.labels.remove(position);
    if let Err(reason) = validate_media_type(value.get_ref()) {
        report.error(LayerTomlError::SwitchInvalidMediaType { key, value: value.get_ref().clone(), reason }, value.span());
        return None;
    }
    Some(value)
}

#[cfg(test)]
mod tests;
