//! The JSON Schema of a layer TOML (both forms, R-FILE-4, and the artifact table, R-FIELD-*),
//! for editors with TOML schema support (taplo, Even Better TOML; see docs/schema/README.md).
//!
//! Generated with `schemars` from the types below, which hold the parser's own pieces: the
//! keys of `ARTIFACT_KEYS` (a test checks the schema has exactly these), [`Preset`] for
//! `type`, and the media type syntax of `super::media_type` as a pattern. The checked-in copy,
//! `docs/schema/layer-toml.schema.json`, is compared with [`layer_toml_schema`] by a snapshot
//! test (`SNAPSHOTS=overwrite cargo test schema` rewrites it). What a schema cannot say (files
//! inside the layer directory, template syntax, collisions) is left to `cnb-artifacts validate`.
//! The `artifacts.toml` form, once it exists, gets its own root type here beside
//! [`LayerToml`], sharing [`ArtifactTable`].

use std::collections::BTreeMap;

use schemars::JsonSchema;

#[allow(unused_imports)] // named in the docs above
use super::error::ARTIFACT_KEYS;
use super::Preset;

/// `type/subtype` in lowercase (R-FIELD-6, R-FIELD-7), as `validate_media_type` checks it.
const MEDIA_TYPE_PATTERN: &str = r"^[a-z0-9][a-z0-9!#$&^_.+-]{0,126}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$";

/// A buildpack layer's TOML file (`<layers>/<buildpack>/<layer>.toml`) with the additional
/// artifacts it declares. Keys other than these are the lifecycle's or the buildpack's and
/// are allowed.
#[derive(JsonSchema)]
#[schemars(title = "cnb-artifacts layer TOML")]
#[allow(dead_code)] // a schema, never built
pub struct LayerToml {
    /// The current buildpack spec form: where the layer is available.
    types: Option<Types>,
    /// The RFC's form of the layer flags.
    layer: Option<RfcLayer>,
    /// The buildpack's own metadata, any content.
    metadata: Option<BTreeMap<String, serde_json::Value>>,
    /// One artifact (`[additionalArtifact]`) or several (`[[additionalArtifact]]`).
    #[serde(rename = "additionalArtifact")]
    additional_artifact: Option<OneOrMany>,
}

/// `[types]` (R-FILE-4): the flags are booleans; other keys are ignored.
#[derive(JsonSchema)]
#[allow(dead_code)]
struct Types {
    launch: Option<bool>,
    build: Option<bool>,
    cache: Option<bool>,
}

/// `[layer]` of the RFC's form (R-FILE-4): the flags are booleans; other keys are ignored.
#[derive(JsonSchema)]
#[allow(dead_code)]
struct RfcLayer {
    publish: Option<bool>,
    cache: Option<bool>,
    launch: Option<bool>,
    build: Option<bool>,
}

/// R-FIELD-1: one table or an array of tables.
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum OneOrMany {
    One(ArtifactTable),
    Many(Vec<ArtifactTable>),
}

/// One `[additionalArtifact]` table (R-FIELD-2..9): exactly one of `file` and `files`; no
/// other keys.
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("oneOf" = [{ "required": ["file"] }, { "required": ["files"] }]))]
#[allow(dead_code)]
pub struct ArtifactTable {
    /// One file, relative to the layer directory.
    file: Option<String>,
    /// Several files, relative to the layer directory, in manifest order.
    #[schemars(length(min = 1))]
    files: Option<Vec<String>>,
    /// The tag template, e.g. `${build.tag}-wasm`; without it, the artifact is published by
    /// digest only (helm: the chart version).
    tag: Option<String>,
    /// The repository template (same registry as the app image); default: the app image's.
    repository: Option<String>,
    /// The preset: `generic` (default), `wasm` or `helm`.
    #[serde(rename = "type")]
    preset: Option<Preset>,
    /// The manifest's `artifactType` (a media type).
    #[serde(rename = "artifactType")]
    #[schemars(regex(pattern = MEDIA_TYPE_PATTERN))]
    artifact_type: Option<String>,
    /// The media type of the file layers.
    #[serde(rename = "mediaType")]
    #[schemars(regex(pattern = MEDIA_TYPE_PATTERN))]
    media_type: Option<String>,
    /// Manifest annotations: non-empty keys, string template values.
    #[schemars(extend("propertyNames" = { "minLength": 1 }))]
    labels: Option<BTreeMap<String, String>>,
}

/// The schema as pretty JSON with a final newline, as checked in.
pub fn layer_toml_schema() -> String {
    let schema = schemars::generate::SchemaSettings::draft07().into_generator().into_root_schema_for::<LayerToml>();
    let mut value = schema.to_value();
    without_null(&mut value);
    let mut text = serde_json::to_string_pretty(&value).unwrap_or_default();
    text.push('\n');
    text
}

/// TOML has no null: an optional key is one that may be absent, so the `null` that schemars
/// allows for `Option` fields (`"type": ["string", "null"]`, `anyOf: [T, {"type": "null"}]`)
/// is taken out.
fn without_null(value: &mut serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            if let Some(Value::Array(types)) = map.get_mut("type") {
                types.retain(|t| t != "null");
                if types.len() == 1 {
                    let only = types.remove(0);
                    map.insert("type".into(), only);
                }
            }
            if let Some(Value::Array(any)) = map.get_mut("anyOf") {
                any.retain(|s| s.get("type").is_none_or(|t| t != "null"));
                if any.len() == 1 {
                    let only = any.remove(0);
                    map.remove("anyOf");
                    if let Value::Object(inner) = only {
                        map.extend(inner);
                    }
                }
            }
            map.values_mut().for_each(without_null);
        }
        Value::Array(items) => items.iter_mut().for_each(without_null),
        _ => {}
    }
}

#[cfg(test)]
mod tests;
