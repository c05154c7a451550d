//! Chart.yaml → the Helm config blob (R-PRESET-3).
//!
//! `helm push` writes the config as the JSON of Helm's `chart.Metadata` Go struct, whose
//! fields all carry `omitempty`. This module does the same, with a member list fixed by this
//! spec so that digests do not change with Helm releases: the keys of [`METADATA`] are copied
//! (other keys are dropped), values are converted by the [`Kind`] of the key, empty and null
//! values are omitted, and the result is serialised as canonical JSON (R-MAN-2). Chart.yaml is
//! parsed as YAML 1.2 (core schema), with merge keys (`<<`) applied.

use serde_json::{Map, Value as Json};
use serde_yaml_ng::Value as Yaml;

use super::ChartInfo;
use crate::manifest::canonical;

/// Why a Chart.yaml cannot be turned into a config blob.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetadataError {
    #[error("{reason}")]
    Invalid { reason: String },
    #[error("`{field}` is missing or empty")]
    FieldMissing { field: &'static str },
}

fn invalid(reason: impl Into<String>) -> MetadataError {
    MetadataError::Invalid { reason: reason.into() }
}

/// How a Chart.yaml value is converted to its JSON member.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// A string; omitted when null or empty.
    Str,
    /// A string written even when null or empty (as `""`): a dependency's `name`, `repository`.
    StrAlways,
    /// A boolean; `true` is written, `false` and null are omitted.
    Bool,
    /// A sequence of strings; omitted when null or empty.
    StrList,
    /// A mapping of strings to strings; omitted when null or empty.
    StrMap,
    /// A sequence of mappings with the given members; omitted when null or empty.
    Objects(&'static [(&'static str, Kind)]),
    /// A sequence of any values, converted structurally; omitted when null or empty.
    AnyList,
}

/// Members of a `maintainers` entry (Helm's `chart.Maintainer`).
pub const MAINTAINER: &[(&str, Kind)] = &[("name", Kind::Str), ("email", Kind::Str), ("url", Kind::Str)];

/// Members of a `dependencies` entry (Helm 3's `chart.Dependency`).
pub const DEPENDENCY: &[(&str, Kind)] = &[
    ("name", Kind::StrAlways),
    ("version", Kind::Str),
    ("repository", Kind::StrAlways),
    ("condition", Kind::Str),
    ("tags", Kind::StrList),
    ("enabled", Kind::Bool),
    ("import-values", Kind::AnyList),
    ("alias", Kind::Str),
];

/// Members of the config (Helm's `chart.Metadata`), in Helm's field order.
pub const METADATA: &[(&str, Kind)] = &[
    ("name", Kind::Str),
    ("home", Kind::Str),
    ("sources", Kind::StrList),
    ("version", Kind::Str),
    ("description", Kind::Str),
    ("keywords", Kind::StrList),
    ("maintainers", Kind::Objects(MAINTAINER)),
    ("icon", Kind::Str),
    ("apiVersion", Kind::Str),
    ("condition", Kind::Str),
    ("tags", Kind::Str),
    ("appVersion", Kind::Str),
    ("deprecated", Kind::Bool),
    ("annotations", Kind::StrMap),
    ("kubeVersion", Kind::Str),
    ("dependencies", Kind::Objects(DEPENDENCY)),
    ("type", Kind::Str),
];

/// The Helm config bytes of a Chart.yaml and the chart's name and version.
pub fn from_yaml(chart_yaml: &[u8]) -> Result<(Vec<u8>, ChartInfo), MetadataError> {
    let mut doc: Yaml = serde_yaml_ng::from_slice(chart_yaml).map_err(|e| invalid(e.to_string()))?;
    doc.apply_merge().map_err(|e| invalid(e.to_string()))?;
    let mapping = match doc {
        Yaml::Null => serde_yaml_ng::Mapping::new(),
        Yaml::Mapping(m) => m,
        _ => return Err(invalid("the document is not a mapping")),
    };
    let metadata = members(&mapping, METADATA, "")?;
    let required = |field: &'static str| match metadata.get(field) {
        Some(Json::String(s)) => Ok(s.clone()),
        _ => Err(MetadataError::FieldMissing { field }),
    };
    let chart = ChartInfo { name: required("name")?, version: required("version")? };
    let bytes = canonical::to_vec(&Json::Object(metadata)).map_err(|e| invalid(e.to_string()))?;
    Ok((bytes, chart))
}

/// The members `fields` of `mapping`; `prefix` names the mapping in messages (`dependencies[0].`).
fn members(
    mapping: &serde_yaml_ng::Mapping,
    fields: &[(&str, Kind)],
    prefix: &str,
) -> Result<Map<String, Json>, MetadataError> {
    let mut out = Map::new();
    for (name, kind) in fields {
        let value = mapping.get(*name).unwrap_or(&Yaml::Null);
        if let Some(json) = convert(value, *kind, &format!("{prefix}{name}"))? {
            out.insert((*name).to_string(), json);
        }
    }
    Ok(out)
}

fn convert(value: &Yaml, kind: Kind, at: &str) -> Result<Option<Json>, MetadataError> {
    let non_empty = |json: Json| match &json {
        Json::String(s) if s.is_empty() => None,
        Json::Array(a) if a.is_empty() => None,
        Json::Object(o) if o.is_empty() => None,
        _ => Some(json),
    };
    match kind {
        Kind::Str => Ok(scalar_string(value, at)?.map(Json::String).and_then(non_empty)),
        Kind::StrAlways => Ok(Some(Json::String(scalar_string(value, at)?.unwrap_or_default()))),
        Kind::Bool => match value {
            Yaml::Null | Yaml::Bool(false) => Ok(None),
            Yaml::Bool(true) => Ok(Some(Json::Bool(true))),
            _ => Err(invalid(format!("`{at}` must be true or false"))),
        },
        Kind::StrList => {
            let items = sequence(value, at, |item, at| Ok(Json::String(scalar_string(item, at)?.unwrap_or_default())))?;
            Ok(items.map(Json::Array).and_then(non_empty))
        }
        Kind::StrMap => {
            let object = mapping_of(value, at, |v, at| Ok(Json::String(scalar_string(v, at)?.unwrap_or_default())))?;
            Ok(object.map(Json::Object).and_then(non_empty))
        }
        Kind::Objects(fields) => {
            let items = sequence(value, at, |item, at| match item {
                Yaml::Mapping(m) => Ok(Json::Object(members(m, fields, &format!("{at}."))?)),
                Yaml::Null => Err(invalid(format!("`{at}` is empty"))),
                _ => Err(invalid(format!("`{at}` must be a mapping"))),
            })?;
            Ok(items.map(Json::Array).and_then(non_empty))
        }
        Kind::AnyList => Ok(sequence(value, at, any_json)?.map(Json::Array).and_then(non_empty)),
    }
}

/// A YAML sequence converted item by item; `None` for null.
fn sequence(
    value: &Yaml,
    at: &str,
    item: impl Fn(&Yaml, &str) -> Result<Json, MetadataError>,
) -> Result<Option<Vec<Json>>, MetadataError> {
    match value {
        Yaml::Null => Ok(None),
        Yaml::Sequence(items) => {
            items.iter().enumerate().map(|(i, v)| item(v, &format!("{at}[{i}]"))).collect::<Result<_, _>>().map(Some)
        }
        _ => Err(invalid(format!("`{at}` must be a list"))),
    }
}

/// A YAML mapping converted entry by entry (keys as strings); `None` for null.
fn mapping_of(
    value: &Yaml,
    at: &str,
    entry: impl Fn(&Yaml, &str) -> Result<Json, MetadataError>,
) -> Result<Option<Map<String, Json>>, MetadataError> {
    let Yaml::Mapping(mapping) = value else {
        return match value {
            Yaml::Null => Ok(None),
            _ => Err(invalid(format!("`{at}` must be a mapping"))),
        };
    };
    let mut out = Map::new();
    for (k, v) in mapping {
        let key =
            scalar_string(k, &format!("a key of `{at}`"))?.ok_or_else(|| invalid(format!("`{at}` has a null key")))?;
        let json = entry(v, &format!("{at}.{key}"))?;
        if out.insert(key.clone(), json).is_some() {
            return Err(invalid(format!("`{at}` has the key `{key}` twice")));
        }
    }
    Ok(Some(out))
}

/// A scalar as a string: strings as written, integers in decimal, booleans as `true`/`false`;
/// `None` for null. Floats are refused: their text is lost (`1.10` would become `1.1`).
fn scalar_string(value: &Yaml, at: &str) -> Result<Option<String>, MetadataError> {
    match value {
        Yaml::Null => Ok(None),
        Yaml::String(s) => Ok(Some(s.clone())),
        Yaml::Bool(b) => Ok(Some(b.to_string())),
        Yaml::Number(n) if n.is_i64() || n.is_u64() => Ok(Some(n.to_string())),
        Yaml::Number(n) => Err(invalid(format!(
            "`{at}` is the YAML number {n}, not a string; quote it (`\"{n}\"`) so its text is kept"
        ))),
        Yaml::Tagged(t) => Err(invalid(format!("`{at}` has the YAML tag `{}`, which is not supported", t.tag))),
        Yaml::Sequence(_) | Yaml::Mapping(_) => Err(invalid(format!("`{at}` must be a string"))),
    }
}

/// Any YAML value as JSON (for `import-values`): numbers stay numbers, mapping keys become strings.
fn any_json(value: &Yaml, at: &str) -> Result<Json, MetadataError> {
    match value {
        Yaml::Null => Ok(Json::Null),
        Yaml::Bool(b) => Ok(Json::Bool(*b)),
        Yaml::String(s) => Ok(Json::String(s.clone())),
        Yaml::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => Ok(Json::from(i)),
            (None, Some(u), _) => Ok(Json::from(u)),
            (None, None, Some(f)) => serde_json::Number::from_f64(f)
                .map(Json::Number)
                .ok_or_else(|| invalid(format!("`{at}` is not a finite number"))),
            (None, None, None) => Err(invalid(format!("`{at}` is not a number"))),
        },
        Yaml::Sequence(_) => Ok(Json::Array(sequence(value, at, any_json)?.unwrap_or_default())),
        Yaml::Mapping(_) => Ok(Json::Object(mapping_of(value, at, any_json)?.unwrap_or_default())),
        Yaml::Tagged(t) => Err(invalid(format!("`{at}` has the YAML tag `{}`, which is not supported", t.tag))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    fn config(yaml: &str) -> Result<String, MetadataError> {
        from_yaml(yaml.as_bytes()).map(|(bytes, _)| String::from_utf8(bytes).expect("UTF-8"))
    }

    #[test]
    fn r_preset_3_minimal_chart() {
        let (bytes, chart) = from_yaml(b"apiVersion: v2\nname: hello\nversion: 0.1.0\n").expect("chart");
        assert_eq!(bytes, br#"{"apiVersion":"v2","name":"hello","version":"0.1.0"}"#);
        assert_eq!(chart, ChartInfo { name: "hello".into(), version: "0.1.0".into() });
    }

    /// Every member of the list, in every kind, with unknown keys dropped.
    #[test]
    fn r_preset_3_every_member() {
        let yaml = r#"
apiVersion: v2
name: full
version: 1.2.3+build.4
description: All the members
type: application
appVersion: "1.10"
kubeVersion: ">=1.25.0"
home: https://example.com
icon: https://example.com/icon.svg
condition: full.enabled
tags: web
deprecated: true
sources: [https://example.com/src, ~]
keywords: [a, 1, true]
maintainers:
  - {name: Ann, email: ann@example.com, url: "", extra: dropped}
  - {}
annotations: {b: "2", a: 1, c: ~}
dependencies:
  - name: redis
    version: "~17"
    repository: oci://registry.example.com/charts
    condition: redis.enabled
    tags: [cache]
    enabled: false
    alias: cache
    import-values: [data, {child: default.x, parent: y}, 3, 1.5]
    depends-on: [dropped]
  - {name: bare}
engine: gotpl
x-custom: dropped
"#;
        let expected = concat!(
            r#"{"annotations":{"a":"1","b":"2","c":""},"apiVersion":"v2","appVersion":"1.10","#,
            r#""condition":"full.enabled","dependencies":[{"alias":"cache","condition":"redis.enabled","#,
            r#""import-values":["data",{"child":"default.x","parent":"y"},3,1.5],"name":"redis","#,
            r#""repository":"oci://registry.example.com/charts","tags":["cache"],"version":"~17"},"#,
            r#"{"name":"bare","repository":""}],"deprecated":true,"description":"All the members","#,
            r#""home":"https://example.com","icon":"https://example.com/icon.svg","keywords":["a","1","true"],"#,
            r#""kubeVersion":">=1.25.0","maintainers":[{"email":"ann@example.com","name":"Ann"},{}],"#,
            r#""name":"full","sources":["https://example.com/src",""],"tags":"web","type":"application","#,
            r#""version":"1.2.3+build.4"}"#
        );
        assert_eq!(config(yaml).expect("chart"), expected);
    }

    #[rstest]
    #[case::empty_values(
        "name: a\nversion: '1'\ndescription: ''\nkeywords: []\nannotations: {}\ndeprecated: false\nmaintainers: []\n",
        r#"{"name":"a","version":"1"}"#
    )]
    #[case::nulls("name: a\nversion: '1'\nhome: ~\nsources: null\ndependencies:\n", r#"{"name":"a","version":"1"}"#)]
    #[case::integer_version("name: a\nversion: 2\n", r#"{"name":"a","version":"2"}"#)]
    #[case::merge_keys(
        "base: &b {description: shared}\n<<: *b\nname: a\nversion: '1'\n",
        r#"{"description":"shared","name":"a","version":"1"}"#
    )]
    #[case::non_ascii(
        "name: a\nversion: '1'\ndescription: \"caf\u{e9} \u{2603}\"\n",
        "{\"description\":\"caf\u{e9} \u{2603}\",\"name\":\"a\",\"version\":\"1\"}"
    )]
    fn r_preset_3_conversion(#[case] yaml: &str, #[case] expected: &str) {
        assert_eq!(config(yaml).expect("chart"), expected);
    }

    #[rstest]
    #[case::no_name("version: 1.0.0\n", "name")]
    #[case::empty_name("name: ''\nversion: 1.0.0\n", "name")]
    #[case::no_version("name: a\n", "version")]
    #[case::empty_document("", "name")]
    fn r_preset_3_name_and_version_are_required(#[case] yaml: &str, #[case] field: &'static str) {
        assert_eq!(config(yaml), Err(MetadataError::FieldMissing { field }));
    }

    #[rstest]
    #[case::float_version("name: a\nversion: 1.10\n", "`version` is the YAML number 1.1")]
    #[case::float_app_version("name: a\nversion: '1'\nappVersion: 2.0\n", "`appVersion` is the YAML number")]
    #[case::list_as_string("name: [a]\nversion: '1'\n", "`name` must be a string")]
    #[case::string_as_bool("name: a\nversion: '1'\ndeprecated: 'yes'\n", "`deprecated` must be true or false")]
    #[case::scalar_list("name: a\nversion: '1'\nkeywords: web\n", "`keywords` must be a list")]
    #[case::null_maintainer("name: a\nversion: '1'\nmaintainers: [~]\n", "`maintainers[0]` is empty")]
    #[case::bad_dependency("name: a\nversion: '1'\ndependencies: [x]\n", "`dependencies[0]` must be a mapping")]
    #[case::bad_nested(
        "name: a\nversion: '1'\ndependencies: [{name: x, enabled: 1}]\n",
        "`dependencies[0].enabled` must be true or false"
    )]
    #[case::clashing_keys(
        "name: a\nversion: '1'\nannotations: {1: x, '1': y}\n",
        "`annotations` has the key `1` twice"
    )]
    #[case::tagged("name: !custom a\nversion: '1'\n", "`name` has the YAML tag")]
    #[case::not_a_mapping("- name\n", "the document is not a mapping")]
    #[case::syntax("name: [a\n", "")]
    #[case::duplicate_key("name: a\nname: b\nversion: '1'\n", "duplicate")]
    fn r_preset_3_invalid_chart_yaml(#[case] yaml: &str, #[case] reason_contains: &str) {
        match config(yaml) {
            Err(MetadataError::Invalid { reason }) => assert!(reason.contains(reason_contains), "{reason}"),
            other => panic!("expected Invalid, got {other:?}"),
        }
    }
}
#[cfg(test)]
mod probe {
    #[test]
    fn probe_yaml() {
        for y in ["a: !!str 1.10", "a: !!int '3'", "a: !foo x", "a: 0x10", "a: 0o17", "a: 1_000", "a: +5", "a: yes", "a: .inf", "a: 1e3", "a: 12345678901234567890123", "a: -0", "\u{feff}a: b"] {
            let v: Result<serde_yaml_ng::Value, _> = serde_yaml_ng::from_str(y);
            println!("{y:?} => {v:?}");
        }
    }
}
