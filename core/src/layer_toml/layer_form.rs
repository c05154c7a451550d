//! The parts of a layer TOML the lifecycle itself reads (R-FILE-4): the current form's
//! `[types]` table (`launch`, `build`, `cache`) and the RFC form's `[layer]` table (`publish`,
//! `cache`, `launch`, `build`). Their flags must be booleans, as the lifecycle requires; other
//! keys in them, `[metadata]` and every other top-level key are the lifecycle's or the
//! buildpack's business and are ignored here.

use toml::de::{DeTable, DeValue};

use super::error::LayerTomlError;
use super::{entries_in_order, Report};

/// The tables checked and the boolean flags each holds.
const FORMS: [(&str, &[&str]); 2] = [("types", &["launch", "build", "cache"]), ("layer", &["publish", "cache", "launch", "build"])];

/// Reports every flag of `[types]` / `[layer]` that is not a boolean.
pub(super) fn check_layer_flags(document: &DeTable<'_>, report: &mut Report<'_>) {
    for (table_name, flags) in FORMS {
        let Some(value) = document.get(table_name) else {
            continue;
        };
        let DeValue::Table(table) = value.get_ref() else {
            report.error(LayerTomlError::LayerTableWrongType { table: table_name, found: report.found(value) }, value.span());
            continue;
        };
        for (key, value) in entries_in_order(table) {
            if flags.contains(&key.get_ref().as_ref()) && !matches!(value.get_ref(), DeValue::Boolean(_)) {
                report.error(
                    LayerTomlError::LayerFlagWrongType { table: table_name, key: key.get_ref().to_string(), found: report.found(value) },
                    value.span(),
                );
            }
        }
    }
}
