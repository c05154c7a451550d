//! The schema against its snapshot, the parser's keys and every fixture: each valid layer TOML
//! validates; each invalid fixture whose errors a schema can express is rejected.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::layer_toml_schema;
use crate::layer_toml::error::ARTIFACT_KEYS;

/// Rules whose errors the schema expresses: layer flags (R-FILE-4) and the artifact table's
/// shape and types (R-FIELD-*).
const SCHEMA_RULES: [&str; 8] = ["R-FILE-4", "R-FIELD-1", "R-FIELD-2", "R-FIELD-5", "R-FIELD-6", "R-FIELD-7", "R-FIELD-8", "R-FIELD-9"];

/// The repository root (this crate is `core/`).
fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the workspace root")
}

fn schema() -> Value {
    serde_json::from_str(&layer_toml_schema()).expect("the schema is JSON")
}

/// The layer TOMLs of a layers dir (R-FILE-1..3: `<buildpack>/<layer>.toml`).
fn layer_tomls(layers: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for bp in std::fs::read_dir(layers).into_iter().flatten().flatten() {
        if !bp.path().is_dir() {
            continue;
        }
        for f in std::fs::read_dir(bp.path()).into_iter().flatten().flatten() {
            let name = f.file_name().to_string_lossy().into_owned();
            if name.ends_with(".toml") && !["launch.toml", "build.toml", "store.toml"].contains(&name.as_str()) && f.path().is_file() {
                out.push(f.path());
            }
        }
    }
    out.sort();
    out
}

/// The TOML file as JSON; `None` when it is not TOML (a schema cannot judge it).
fn as_json(path: &Path) -> Option<Value> {
    let text = std::fs::read_to_string(path).ok()?;
    let value: toml::Value = toml::from_str(&text).ok()?;
    serde_json::to_value(value).ok()
}

#[test]
fn the_checked_in_schema_is_the_generated_one() {
    let path = root().join("docs/schema/layer-toml.schema.json");
    let generated = layer_toml_schema();
    if std::env::var_os("SNAPSHOTS").is_some_and(|v| v == "overwrite") {
        std::fs::write(&path, &generated).expect("write the snapshot");
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(checked_in == generated, "{} is stale: run `SNAPSHOTS=overwrite cargo test schema` and commit it", path.display());
}

#[test]
fn the_artifact_table_has_exactly_the_parsers_keys() {
    let schema = schema();
    let defs = schema.get("definitions").or_else(|| schema.get("$defs")).expect("definitions");
    let keys: BTreeSet<&str> = defs["ArtifactTable"]["properties"].as_object().expect("properties").keys().map(String::as_str).collect();
    assert_eq!(keys, ARTIFACT_KEYS.into_iter().collect::<BTreeSet<_>>());
    assert_eq!(defs["ArtifactTable"]["additionalProperties"], Value::Bool(false));
}

#[test]
fn every_valid_fixture_validates() {
    let validator = jsonschema::validator_for(&schema()).expect("a valid JSON Schema");
    let mut layers_dirs: Vec<PathBuf> =
        ["rfc-example", "multi", "collisions"].iter().map(|f| root().join("fixtures/cli").join(f).join("layers")).collect();
    for case in std::fs::read_dir(root().join("conformance/cases")).unwrap().flatten() {
        let text = std::fs::read_to_string(case.path()).unwrap_or_default();
        let Ok(doc) = toml::from_str::<toml::Value>(&text) else { continue };
        if doc.get("expect").and_then(|e| e.get("outcome")).and_then(toml::Value::as_str) == Some("published") {
            let fixture = doc["fixture"].as_str().unwrap();
            layers_dirs.push(root().join("fixtures/cases").join(fixture).join("layers"));
        }
    }
    let mut checked = 0;
    let mut failures = Vec::new();
    for dir in &layers_dirs {
        for file in layer_tomls(dir) {
            let json = as_json(&file).unwrap_or_else(|| panic!("{} is not TOML", file.display()));
            let errors: Vec<String> = validator.iter_errors(&json).map(|e| format!("{} at {}", e, e.instance_path())).collect();
            if !errors.is_empty() {
                failures.push(format!("{}: {}", file.display(), errors.join("; ")));
            }
            checked += 1;
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(checked >= 30, "only {checked} layer TOMLs checked");
}

#[test]
fn every_schema_catchable_invalid_fixture_is_rejected() {
    let validator = jsonschema::validator_for(&schema()).expect("a valid JSON Schema");
    let mut checked = 0;
    let mut missed = Vec::new();
    let mut cases: Vec<PathBuf> = std::fs::read_dir(root().join("fixtures/invalid/parse")).unwrap().flatten().map(|e| e.path()).collect();
    cases.sort();
    for case in cases {
        let expected = std::fs::read_to_string(case.join("expected.txt")).unwrap_or_default();
        let rules: BTreeSet<&str> =
            expected.lines().filter_map(|l| l.strip_prefix("error[")).filter_map(|l| l.split_once(']')).map(|(r, _)| r).collect();
        if rules.is_empty() || !rules.iter().all(|r| SCHEMA_RULES.contains(r)) {
            continue;
        }
        let files: Vec<Value> = layer_tomls(&case.join("layers")).iter().filter_map(|f| as_json(f)).collect();
        if files.is_empty() || files.iter().all(|f| validator.is_valid(f)) {
            missed.push(case.file_name().unwrap().to_string_lossy().into_owned());
        }
        checked += 1;
    }
    assert!(missed.is_empty(), "the schema accepts these invalid fixtures: {missed:?}");
    assert!(checked >= 20, "only {checked} invalid fixtures checked");
}
