//! Chart.yaml → the Helm config blob (R-PRESET-3).
//!
//! `helm push` writes the config as the JSON of Helm's `chart.Metadata` Go struct, whose
//! fields all carry `omitempty`. This module does the same, with a member list fixed by this
//! spec so that digests do not change with Helm releases: only the keys of [`Metadata`],
//! [`Maintainer`] and [`Dependency`] are read (other keys are dropped), empty and null values
//! are omitted, and the result is written as canonical JSON (R-MAN-2).
//!
//! Scalars are taken as their *text*, never resolved to numbers: `appVersion: 1.10` is the
//! string `1.10` (Helm itself would read `1.1`). A plain scalar that is empty, `~`, `null`,
//! `Null` or `NULL` is *no value*. Booleans are the plain scalars `true`/`True`/`TRUE` and
//! `false`/`False`/`FALSE`. The one exception is `import-values`, whose items Helm reads as
//! arbitrary YAML: they are resolved (YAML 1.2 core schema) and written structurally. A leading
//! UTF-8 byte order mark is ignored.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value as Json;
use serde_yaml_ng::Value as Yaml;

use super::ChartInfo;
use crate::canonical;

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

/// A string member: the scalar's text, `None` for no value.
type Text = Option<String>;

/// A string-list member: items with no value become `""`.
type TextList = Option<Vec<Text>>;

fn skip_text(v: &Text) -> bool {
    v.as_deref().is_none_or(str::is_empty)
}

fn skip_list<T>(v: &Option<Vec<T>>) -> bool {
    v.as_ref().is_none_or(Vec::is_empty)
}

fn skip_bool(v: &Option<bool>) -> bool {
    *v != Some(true)
}

/// Helm's `chart.Metadata`: the members of the config.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Metadata {
    #[serde(skip_serializing_if = "skip_text")]
    name: Text,
    #[serde(skip_serializing_if = "skip_text")]
    home: Text,
    #[serde(skip_serializing_if = "skip_list")]
    sources: TextList,
    #[serde(skip_serializing_if = "skip_text")]
    version: Text,
    #[serde(skip_serializing_if = "skip_text")]
    description: Text,
    #[serde(skip_serializing_if = "skip_list")]
    keywords: TextList,
    #[serde(skip_serializing_if = "skip_list")]
    maintainers: Option<Vec<Option<Maintainer>>>,
    #[serde(skip_serializing_if = "skip_text")]
    icon: Text,
    #[serde(skip_serializing_if = "skip_text")]
    api_version: Text,
    #[serde(skip_serializing_if = "skip_text")]
    condition: Text,
    #[serde(skip_serializing_if = "skip_text")]
    tags: Text,
    #[serde(skip_serializing_if = "skip_text")]
    app_version: Text,
    #[serde(skip_serializing_if = "skip_bool")]
    deprecated: Option<bool>,
    #[serde(default, skip_serializing_if = "TextMap::is_empty")]
    annotations: TextMap,
    #[serde(skip_serializing_if = "skip_text")]
    kube_version: Text,
    #[serde(skip_serializing_if = "skip_list")]
    dependencies: Option<Vec<Option<Dependency>>>,
    #[serde(rename = "type", skip_serializing_if = "skip_text")]
    chart_type: Text,
}

/// Helm's `chart.Maintainer`.
#[derive(Debug, Default, Deserialize, Serialize)]
pub struct Maintainer {
    #[serde(skip_serializing_if = "skip_text")]
    name: Text,
    #[serde(skip_serializing_if = "skip_text")]
    email: Text,
    #[serde(skip_serializing_if = "skip_text")]
    url: Text,
}

/// Helm 3's `chart.Dependency`; `name` and `repository` are written even when empty.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Dependency {
    name: Text,
    #[serde(skip_serializing_if = "skip_text")]
    version: Text,
    repository: Text,
    #[serde(skip_serializing_if = "skip_text")]
    condition: Text,
    #[serde(skip_serializing_if = "skip_list")]
    tags: TextList,
    #[serde(skip_serializing_if = "skip_bool")]
    enabled: Option<bool>,
    #[serde(skip_serializing_if = "skip_list")]
    import_values: Option<Vec<AnyValue>>,
    #[serde(skip_serializing_if = "skip_text")]
    alias: Text,
}

/// A string map: keys and values as text, a value with no value as `""`, no key twice.
#[derive(Debug, Default, Serialize)]
pub struct TextMap(Option<BTreeMap<String, String>>);

impl TextMap {
    fn is_empty(&self) -> bool {
        self.0.as_ref().is_none_or(BTreeMap::is_empty)
    }
}

impl<'de> Deserialize<'de> for TextMap {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(TextMap(Option::<UniqueEntries>::deserialize(deserializer)?.map(|e| e.0)))
    }
}

/// The entries of a mapping read as text, refusing a key seen twice.
struct UniqueEntries(BTreeMap<String, String>);

impl<'de> Deserialize<'de> for UniqueEntries {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Entries;
        impl<'de> serde::de::Visitor<'de> for Entries {
            type Value = UniqueEntries;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a mapping")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<UniqueEntries, A::Error> {
                let mut out = BTreeMap::new();
                while let Some((key, value)) = map.next_entry::<String, Text>()? {
                    if out.contains_key(&key) {
                        return Err(serde::de::Error::custom(format!("the key `{key}` appears twice")));
                    }
                    out.insert(key, value.unwrap_or_default());
                }
                Ok(UniqueEntries(out))
            }
        }
        deserializer.deserialize_map(Entries)
    }
}

/// An `import-values` item: any YAML value, written structurally.
#[derive(Debug, Serialize)]
pub struct AnyValue(Json);

impl<'de> Deserialize<'de> for AnyValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        any_json(&Yaml::deserialize(deserializer)?).map(AnyValue).map_err(serde::de::Error::custom)
    }
}

/// Any YAML value as JSON: numbers stay numbers, mapping keys become strings.
fn any_json(value: &Yaml) -> Result<Json, String> {
    match value {
        Yaml::Null => Ok(Json::Null),
        Yaml::Bool(b) => Ok(Json::Bool(*b)),
        Yaml::String(s) => Ok(Json::String(s.clone())),
        Yaml::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => Ok(Json::from(i)),
            (None, Some(u), _) => Ok(Json::from(u)),
            (None, None, Some(f)) => serde_json::Number::from_f64(f).map(Json::Number).ok_or_else(|| format!("{n} is not a finite number")),
            (None, None, None) => Err(format!("{n} is not a number")),
        },
        Yaml::Sequence(items) => items.iter().map(any_json).collect::<Result<_, _>>().map(Json::Array),
        Yaml::Mapping(mapping) => {
            let mut out = serde_json::Map::new();
            for (k, v) in mapping {
                let key = match k {
                    Yaml::String(s) => s.clone(),
                    Yaml::Bool(b) => b.to_string(),
                    Yaml::Number(n) if n.is_i64() || n.is_u64() => n.to_string(),
                    _ => return Err("a mapping key is not a string, an integer or a boolean".to_string()),
                };
                if out.insert(key.clone(), any_json(v)?).is_some() {
                    return Err(format!("the key `{key}` appears twice"));
                }
            }
            Ok(Json::Object(out))
        }
        Yaml::Tagged(t) => Err(format!("the YAML tag `{}` is not supported", t.tag)),
    }
}

/// The Helm config bytes of a Chart.yaml and the chart's name and version.
pub fn from_yaml(chart_yaml: &[u8]) -> Result<(Vec<u8>, ChartInfo), MetadataError> {
    let chart_yaml = chart_yaml.strip_prefix(b"\xef\xbb\xbf").unwrap_or(chart_yaml);
    // Every key of every mapping is unique, also where the config drops the key (R-PRESET-3):
    // reading the document as a YAML value refuses a duplicate anywhere.
    serde_yaml_ng::from_slice::<Yaml>(chart_yaml).map_err(|e| invalid(e.to_string()))?;
    let mut metadata: Metadata = serde_yaml_ng::from_slice(chart_yaml).map_err(|e| invalid(e.to_string()))?;
    metadata.normalise()?;
    let required = |value: &Text, field: &'static str| value.clone().filter(|v| !v.is_empty()).ok_or(MetadataError::FieldMissing { field });
    let chart = ChartInfo { name: required(&metadata.name, "name")?, version: required(&metadata.version, "version")? };
    let bytes = canonical::to_vec(&metadata).map_err(|e| invalid(e.to_string()))?;
    Ok((bytes, chart))
}

/// List items with no value become `""`.
fn fill(list: &mut TextList) {
    for item in list.iter_mut().flatten() {
        item.get_or_insert_with(String::new);
    }
}

/// The items of a list of mappings; a null item is an error.
fn items<'a, T>(list: &'a mut Option<Vec<Option<T>>>, at: &str) -> Result<Vec<&'a mut T>, MetadataError> {
    list.iter_mut()
        .flatten()
        .enumerate()
        .map(|(i, item)| item.as_mut().ok_or_else(|| invalid(format!("{at}[{i}]: an entry is empty"))))
        .collect()
}

impl Metadata {
    /// Applies the conversions serde cannot express: empty list items, required-but-empty
    /// dependency members, null entries.
    fn normalise(&mut self) -> Result<(), MetadataError> {
        fill(&mut self.sources);
        fill(&mut self.keywords);
        items(&mut self.maintainers, "maintainers")?;
        for dependency in items(&mut self.dependencies, "dependencies")? {
            fill(&mut dependency.tags);
            dependency.name.get_or_insert_with(String::new);
            dependency.repository.get_or_insert_with(String::new);
        }
        Ok(())
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
    #[case::nulls("name: a\nversion: '1'\nhome: ~\nsources: null\ndependencies:\nicon: NULL\n", r#"{"name":"a","version":"1"}"#)]
    #[case::quoted_null_is_text("name: a\nversion: '1'\nhome: 'null'\n", r#"{"home":"null","name":"a","version":"1"}"#)]
    #[case::integer_is_text("name: a\nversion: 2\n", r#"{"name":"a","version":"2"}"#)]
    #[case::float_is_text("name: a\nversion: 1.10\nappVersion: 1.0e3\n", r#"{"appVersion":"1.0e3","name":"a","version":"1.10"}"#)]
    #[case::radix_is_text("name: a\nversion: 0x10\ntags: 0777\n", r#"{"name":"a","tags":"0777","version":"0x10"}"#)]
    #[case::boolean_is_text("name: true\nversion: '1'\n", r#"{"name":"true","version":"1"}"#)]
    #[case::tag_is_ignored("name: !custom a\nversion: !!str 1.10\n", r#"{"name":"a","version":"1.10"}"#)]
    #[case::block_scalar(
        "name: a\nversion: '1'\ndescription: |\n  two\n  lines\n",
        r#"{"description":"two\nlines\n","name":"a","version":"1"}"#
    )]
    #[case::boolean_spellings("name: a\nversion: '1'\ndeprecated: True\n", r#"{"deprecated":true,"name":"a","version":"1"}"#)]
    #[case::merge_key_not_applied("base: &b {description: shared}\n<<: *b\nname: a\nversion: '1'\n", r#"{"name":"a","version":"1"}"#)]
    #[case::alias("name: &n a\nversion: '1'\ndescription: *n\n", r#"{"description":"a","name":"a","version":"1"}"#)]
    #[case::non_ascii(
        "name: a\nversion: '1'\ndescription: \"caf\u{e9} \u{2603}\"\n",
        "{\"description\":\"caf\u{e9} \u{2603}\",\"name\":\"a\",\"version\":\"1\"}"
    )]
    #[case::import_value_keys(
        "name: a\nversion: '1'\ndependencies: [{name: x, import-values: [{1: a, true: [b, ~]}]}]\n",
        r#"{"dependencies":[{"import-values":[{"1":"a","true":["b",null]}],"name":"x","repository":""}],"name":"a","version":"1"}"#
    )]
    #[case::byte_order_mark("\u{feff}name: a\nversion: '1'\n", r#"{"name":"a","version":"1"}"#)]
    fn r_preset_3_conversion(#[case] yaml: &str, #[case] expected: &str) {
        assert_eq!(config(yaml).expect("chart"), expected);
    }

    #[rstest]
    #[case::no_name("version: 1.0.0\n", "name")]
    #[case::empty_name("name: ''\nversion: 1.0.0\n", "name")]
    #[case::null_name("name: ~\nversion: 1.0.0\n", "name")]
    #[case::no_version("name: a\n", "version")]
    #[case::empty_document("", "name")]
    #[case::comments_only("# nothing\n", "name")]
    fn r_preset_3_name_and_version_are_required(#[case] yaml: &str, #[case] field: &'static str) {
        assert_eq!(config(yaml), Err(MetadataError::FieldMissing { field }));
    }

    #[rstest]
    #[case::list_as_string("name: [a]\nversion: '1'\n", "name: invalid type: sequence")]
    #[case::quoted_bool("name: a\nversion: '1'\ndeprecated: 'true'\n", "deprecated: invalid type")]
    #[case::yes_is_not_a_bool("name: a\nversion: '1'\ndeprecated: yes\n", "deprecated: invalid type")]
    #[case::scalar_list("name: a\nversion: '1'\nkeywords: web\n", "keywords: invalid type")]
    #[case::nested_list("name: a\nversion: '1'\nsources: [[a]]\n", "sources[0]: invalid type")]
    #[case::null_maintainer("name: a\nversion: '1'\nmaintainers: [~]\n", "maintainers[0]: an entry is empty")]
    #[case::bad_dependency("name: a\nversion: '1'\ndependencies: [x]\n", "dependencies[0]: invalid type")]
    #[case::bad_nested("name: a\nversion: '1'\ndependencies: [{name: x, enabled: 1}]\n", "dependencies[0].enabled: invalid type")]
    #[case::clashing_keys("name: a\nversion: '1'\nannotations: {1: x, '1': y}\n", "the key `1` appears twice")]
    #[case::map_as_string("name: a\nversion: '1'\nannotations: {a: [x]}\n", "annotations.a: invalid type")]
    #[case::tagged_import_value("name: a\nversion: '1'\ndependencies: [{name: x, import-values: [!t y]}]\n", "tag")]
    #[case::infinite_import_value("name: a\nversion: '1'\ndependencies: [{name: x, import-values: [.inf]}]\n", "not a finite number")]
    #[case::float_import_value_key(
        "name: a\nversion: '1'\ndependencies: [{name: x, import-values: [{1.5: a}]}]\n",
        "not a string, an integer or a boolean"
    )]
    #[case::not_a_mapping("- name\n", "invalid type: sequence")]
    #[case::syntax("name: [a\n", "")]
    #[case::duplicate_key("name: a\nname: b\nversion: '1'\n", "duplicate entry with key \"name\"")]
    #[case::duplicate_dropped_key("name: a\nversion: '1'\nengine: x\nengine: y\n", "duplicate entry with key \"engine\"")]
    #[case::duplicate_nested_dropped_key("name: a\nversion: '1'\nx-any: {a: 1, a: 2}\n", "duplicate entry with key \"a\"")]
    #[case::duplicate_maintainer_key("name: a\nversion: '1'\nmaintainers: [{name: x, name: y}]\n", "duplicate entry")]
    #[case::two_documents("name: a\n---\nname: b\n", "more than one document")]
    fn r_preset_3_invalid_chart_yaml(#[case] yaml: &str, #[case] reason_contains: &str) {
        match config(yaml) {
            Err(MetadataError::Invalid { reason }) => {
                assert!(reason.contains(reason_contains), "{reason}")
            }
            other => panic!("expected Invalid, got {other:?}"),
        }
    }
}
