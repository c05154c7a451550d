//! `<layers>/group.toml` (R-FILE-2): the buildpacks of the build, in order, with versions.
//! `[[group]]` entries have `id` (a non-empty string), `version` (a string, optional here) and
//! `api` (not read); `[[group-extensions]]` and every other key are ignored.

use toml::de::DeValue;
use toml::Spanned;

use super::error::LayerTomlError;
use super::{parse_document, Report};

/// One `[[group]]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct GroupEntry {
    pub id: String,
    pub version: Option<String>,
}

/// The `[[group]]` entries of a group.toml text; problems go to `report`. A group.toml without
/// `[[group]]` lists no buildpacks.
pub(super) fn parse_group_toml(report: &mut Report<'_>) -> Vec<GroupEntry> {
    let source = report.source();
    let Some(document) = parse_document(source, report) else {
        return Vec::new();
    };
    let Some(group) = document.get_ref().get("group") else {
        return Vec::new();
    };
    let DeValue::Array(items) = group.get_ref() else {
        report.error(wrong_type("group".into(), "an array of tables", group, report), group.span());
        return Vec::new();
    };
    let mut entries: Vec<GroupEntry> = Vec::new();
    for (index, item) in items.iter().enumerate() {
        let DeValue::Table(table) = item.get_ref() else {
            report.error(wrong_type(format!("group[{index}]"), "a table", item, report), item.span());
            continue;
        };
        let Some(id) = table.get("id") else {
            report.error(LayerTomlError::GroupEntryWithoutId { index }, item.span());
            continue;
        };
        let Some(id_text) = string(format!("group[{index}].id"), id, report) else {
            continue;
        };
        let version = match table.get("version") {
            Some(v) => match string(format!("group[{index}].version"), v, report) {
                Some(v) => Some(v),
                None => continue,
            },
            None => None,
        };
        if id_text.is_empty() {
            report.error(LayerTomlError::GroupEntryEmptyId { index }, id.span());
        } else if let Err(reason) = check_buildpack_id(&id_text) {
            report.error(LayerTomlError::GroupInvalidId { index, id: id_text, reason }, id.span());
        } else if entries.iter().any(|e| e.id == id_text) {
            report.error(LayerTomlError::GroupDuplicateId { id: id_text }, id.span());
        } else {
            entries.push(GroupEntry { id: id_text, version });
        }
    }
    entries
}

/// The buildpack spec's ID grammar (R-FILE-7): letters, digits, `.`, `/` and `-`; not `app`,
/// `config` or `sbom` (the lifecycle's directories). `.` and `..`, and any ID whose directory
/// name (R-FILE-1) would be one of them, would name the layers dir or its parent.
pub(super) fn check_buildpack_id(id: &str) -> Result<(), &'static str> {
    if crate::mutants::active(crate::mutants::Mutant::AcceptsEscapingIds) {
        return Ok(());
    }
    if !id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '/' | '-')) {
        return Err("only letters, digits, `.`, `/` and `-` are allowed");
    }
    let dir = super::Buildpack::dir_name_of(id);
    if dir == "." || dir == ".." {
        return Err("it would name the layers dir or its parent");
    }
    if ["app", "config", "sbom"].contains(&id) {
        return Err("it is a directory of the lifecycle");
    }
    Ok(())
}

fn string(key: String, value: &Spanned<DeValue<'_>>, report: &mut Report<'_>) -> Option<String> {
    match value.get_ref() {
        DeValue::String(s) => Some(s.to_string()),
        _ => {
            report.error(wrong_type(key, "a string", value, report), value.span());
            None
        }
    }
}

fn wrong_type(key: String, expected: &'static str, value: &Spanned<DeValue<'_>>, report: &Report<'_>) -> LayerTomlError {
    LayerTomlError::GroupWrongType { key, expected, found: report.found(value) }
}
