//! The `additionalArtifact` value of a layer TOML, or the `artifact` value of an `artifacts.toml`:
//! one table or an array of tables (R-FIELD-1, R-ATOML-2), and each table's fields and their
//! types (R-FIELD-2..9); in `artifacts.toml`, `labels` may also be an array of tables (R-ATOML-3).

use std::collections::HashMap;

use std::ops::Range;

use toml::de::{DeTable, DeValue};
use toml::Spanned;

use super::error::{suggest_artifact_key, LayerTomlError};
use super::media_type::validate_media_type;
use super::{entries_in_order, ArtifactDecl, DeclForm, Preset, Report};

/// The artifact declarations of `value` (the `additionalArtifact` or `artifact` entry of a file
/// of `form`); problems go to `report` and the tables that have any are kept with
/// [`ArtifactDecl::complete`] false, holding the fields that did parse, so the planner can still
/// check those (R-FILE-6: every error in one run).
pub(super) fn artifact_decls(value: &Spanned<DeValue<'_>>, form: DeclForm, report: &mut Report<'_>) -> Vec<ArtifactDecl> {
    let key = match form {
        DeclForm::LayerToml => "additionalArtifact",
        DeclForm::ArtifactsToml => "artifact",
    };
    match value.get_ref() {
        DeValue::Table(table) => vec![artifact_decl(0, value.span(), table, form, report)],
        DeValue::Array(items) => items
            .iter()
            .enumerate()
            .filter_map(|(index, item)| match item.get_ref() {
                DeValue::Table(table) => Some(artifact_decl(index, item.span(), table, form, report)),
                _ => {
                    let found = report.found(item);
                    report.error(LayerTomlError::ArtifactEntryWrongType { key, index, found }, item.span());
                    None
                }
            })
            .collect(),
        _ => {
            let found = report.found(value);
            report.error(LayerTomlError::ArtifactsWrongType { key, found }, value.span());
            Vec::new()
        }
    }
}

/// One artifact table; incomplete when it has any problem (all of which are reported).
fn artifact_decl(index: usize, span: Range<usize>, table: &DeTable<'_>, form: DeclForm, report: &mut Report<'_>) -> ArtifactDecl {
    let errors_before = report.len();
    let mut decl = ArtifactDecl {
        index,
        span: span.clone(),
        files: Vec::new(),
        tag: None,
        repository: None,
        preset: Spanned::new(span.clone(), Preset::Generic),
        artifact_type: None,
        media_type: None,
        labels: Vec::new(),
        complete: false,
        preset_inputs_complete: false,
    };
    let mut file_key: Option<Range<usize>> = None;
    let mut files_key: Option<Range<usize>> = None;
    let mut preset_input_errors = 0;
    for (key, value) in entries_in_order(table) {
        let before = report.len();
        let name = key.get_ref().as_ref();
        match name {
            "file" => {
                file_key = Some(key.span());
                decl.files.extend(string_field("file", value, report));
            }
            "files" => {
                files_key = Some(key.span());
                decl.files.extend(files_field(value, report));
            }
            "tag" => decl.tag = string_field("tag", value, report),
            "repository" => decl.repository = string_field("repository", value, report),
            "type" => {
                if let Some(preset) = preset_field(value, report) {
                    decl.preset = preset;
                }
            }
            "artifactType" => decl.artifact_type = media_type_field("artifactType", value, report),
            "mediaType" => decl.media_type = media_type_field("mediaType", value, report),
            "labels" => decl.labels = labels_field(value, form, report),
            other => {
                report.error(LayerTomlError::UnknownKey { key: other.to_string(), suggestion: suggest_artifact_key(other) }, key.span())
            }
        }
        if PRESET_INPUTS.contains(&name) {
            preset_input_errors += report.len() - before;
        }
    }
    let before = report.len();
    match (file_key, files_key) {
        (Some(_), Some(_)) if crate::mutants::merges_file_and_files(&mut decl.files) => {}
        (Some(a), Some(b)) => {
            report.error(LayerTomlError::FileAndFiles, if a.start > b.start { a } else { b });
            // Which of the two was meant is unknown: checking both lists would only add
            // follow-on errors (the same file "listed twice").
            decl.files.clear();
        }
        (None, None) => report.error(LayerTomlError::NoFile, span),
        _ => {}
    }
    decl.complete = report.len() == errors_before;
    decl.preset_inputs_complete = preset_input_errors == 0 && report.len() == before;
    decl
}

/// The keys the preset's checks read (R-PRESET-*): with these whole, the preset can judge the
/// files even when other keys of the table are wrong.
const PRESET_INPUTS: [&str; 5] = ["file", "files", "type", "artifactType", "mediaType"];

/// A string value, or a type error.
fn string_field(key: &str, value: &Spanned<DeValue<'_>>, report: &mut Report<'_>) -> Option<Spanned<String>> {
    match value.get_ref() {
        DeValue::String(s) => Some(Spanned::new(value.span(), s.to_string())),
        _ => {
            let found = report.found(value);
            report.error(LayerTomlError::NotAString { key: key.to_string(), found }, value.span());
            None
        }
    }
}

/// `files`: a non-empty array of strings (R-FIELD-2).
fn files_field(value: &Spanned<DeValue<'_>>, report: &mut Report<'_>) -> Vec<Spanned<String>> {
    match value.get_ref() {
        DeValue::Array(items) if items.is_empty() => {
            report.error(LayerTomlError::EmptyFiles, value.span());
            Vec::new()
        }
        DeValue::Array(items) => {
            items.iter().enumerate().filter_map(|(i, item)| string_field(&format!("files[{i}]"), item, report)).collect()
        }
        _ => {
            let found = report.found(value);
            report.error(LayerTomlError::FilesNotAnArray { found }, value.span());
            Vec::new()
        }
    }
}

/// `type`: `generic`, `wasm`, `helm` or `junit` (R-FIELD-5).
fn preset_field(value: &Spanned<DeValue<'_>>, report: &mut Report<'_>) -> Option<Spanned<Preset>> {
    let name = string_field("type", value, report)?;
    let preset = [Preset::Generic, Preset::Wasm, Preset::Helm, Preset::Junit]
        .into_iter()
        .find(|p| crate::mutants::preset_name_matches(p.as_str(), name.get_ref()));
    if preset.is_none() {
        report.error(LayerTomlError::UnknownPreset { value: name.get_ref().clone() }, name.span());
    }
    Some(Spanned::new(name.span(), preset?))
}

/// `artifactType` / `mediaType`: a media type (R-FIELD-6, R-FIELD-7).
fn media_type_field(key: &'static str, value: &Spanned<DeValue<'_>>, report: &mut Report<'_>) -> Option<Spanned<String>> {
    let media_type = string_field(key, value, report)?;
    if let Err(reason) = validate_media_type(media_type.get_ref()) {
        report.error(LayerTomlError::InvalidMediaType { key, value: media_type.get_ref().clone(), reason }, media_type.span());
        return None;
    }
    Some(media_type)
}

/// `[additionalArtifact.labels]`: non-empty keys to string values, in the order written
/// (R-FIELD-8); in `artifacts.toml` also `[[artifact.labels]]` tables, merged in order, a key
/// given twice being an error (R-ATOML-3).
fn labels_field(value: &Spanned<DeValue<'_>>, form: DeclForm, report: &mut Report<'_>) -> Vec<(Spanned<String>, Spanned<String>)> {
    let mut labels = Vec::new();
    match (value.get_ref(), form) {
        (DeValue::Table(table), _) => label_table(table, &mut labels, report),
        (DeValue::Array(items), DeclForm::ArtifactsToml) => {
            for item in items {
                match item.get_ref() {
                    DeValue::Table(table) => label_table(table, &mut labels, report),
                    _ => report.error(LayerTomlError::LabelTablesWrongType { found: report.found(item) }, item.span()),
                }
            }
            let mut first: HashMap<&str, usize> = HashMap::new();
            for (key, _) in &labels {
                if let Some(line) = first.get(key.get_ref().as_str()) {
                    let first_at = report.location(*line);
                    report.error(LayerTomlError::DuplicateLabel { key: key.get_ref().clone(), first: first_at }, key.span());
                } else {
                    first.insert(key.get_ref(), key.span().start);
                }
            }
        }
        (_, DeclForm::ArtifactsToml) => report.error(LayerTomlError::LabelTablesWrongType { found: report.found(value) }, value.span()),
        (_, DeclForm::LayerToml) => report.error(LayerTomlError::LabelsWrongType { found: report.found(value) }, value.span()),
    }
    labels
}

/// The labels of one table, appended to `labels` in the order written (R-FIELD-8).
fn label_table(table: &DeTable<'_>, labels: &mut Vec<(Spanned<String>, Spanned<String>)>, report: &mut Report<'_>) {
    for (key, value) in entries_in_order(table) {
        if key.get_ref().is_empty() {
            report.error(LayerTomlError::EmptyLabelKey, key.span());
            continue;
        }
        match value.get_ref() {
            DeValue::String(s) => {
                labels.push((Spanned::new(key.span(), key.get_ref().to_string()), Spanned::new(value.span(), s.to_string())))
            }
            _ => {
                let found = report.found(value);
                let key = key.get_ref().to_string();
                report.error(LayerTomlError::LabelWrongType { key, found }, value.span());
            }
        }
    }
}
