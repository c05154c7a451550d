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
        } else if entries.iter().any(|e| e.id == id_text) {
            report.error(LayerTomlError::GroupDuplicateId { id: id_text }, id.span());
        } else {
            entries.push(GroupEntry { id: id_text, version });
        }
    }
    entries
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
