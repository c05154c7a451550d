//! Unit tests of layer TOML parsing (R-FILE-4, R-FILE-5, R-FIELD-*); the layers dir walk
//! (R-FILE-1..3) is tested in `layers_dir::tests`. Two topics have files of their own: every
//! bad-input fixture ([`fixtures`]) and values of the wrong TOML type ([`wrong_type`]).

mod fixtures;
mod wrong_type;

use std::path::Path;

use proptest::prelude::*;
use rstest::rstest;

use super::*;

/// The artifacts of `source`, or the test fails printing the diagnostics.
fn parse_ok(source: &str) -> Vec<ArtifactDecl> {
    parse_layer_toml(Path::new("l.toml"), source).unwrap_or_else(|d| panic!("unexpected errors:\n{d}"))
}

/// The diagnostics of `source` as printed, or the test fails.
fn errors(source: &str) -> String {
    match parse_layer_toml(Path::new("l.toml"), source) {
        Ok(a) => panic!("expected errors, parsed {} artifacts", a.len()),
        Err(d) => d.to_string(),
    }
}

/// The text a span covers.
fn text(source: &str, span: std::ops::Range<usize>) -> &str {
    &source[span]
}

fn strings(values: &[Spanned<String>]) -> Vec<&str> {
    values.iter().map(|v| v.get_ref().as_str()).collect()
}

const CURRENT_FORM: &str = r#"
[types]
launch = true
build = false
cache = true

[metadata]
version = "1.2.3"
nested = { any = [1, "two", { three = 3.0 }] }

[additionalArtifact]
file = "module.wasm"
type = "wasm"
tag = "${build.tag}-wasm"
"#;

/// The RFC's example with its values quoted (the RFC's own text is not valid TOML).
const RFC_FORM: &str = include_str!("../../../fixtures/cli/rfc-example/layers/examples_wasm/wasm.toml");

#[test]
fn r_file_4_current_form_parses() {
    let artifacts = parse_ok(CURRENT_FORM);
    assert_eq!(artifacts.len(), 1);
    let a = &artifacts[0];
    assert_eq!(a.index, 0);
    assert_eq!(strings(&a.files), ["module.wasm"]);
    assert_eq!(*a.preset.get_ref(), Preset::Wasm);
    assert_eq!(text(CURRENT_FORM, a.preset.span()), "\"wasm\"");
    assert_eq!(a.tag.as_ref().map(|t| t.get_ref().as_str()), Some("${build.tag}-wasm"));
    assert_eq!(text(CURRENT_FORM, a.span.clone()), "[additionalArtifact]");
    assert!(a.repository.is_none() && a.artifact_type.is_none() && a.media_type.is_none());
    assert!(a.labels.is_empty());
}

#[test]
fn r_file_4_rfc_form_parses_with_quoted_values() {
    let artifacts = parse_ok(RFC_FORM);
    assert_eq!(artifacts.len(), 1);
    let a = &artifacts[0];
    assert_eq!(strings(&a.files), ["mywasmprogram.wasm"]);
    assert_eq!(a.tag.as_ref().map(|t| t.get_ref().as_str()), Some("wasm"));
    assert_eq!(*a.preset.get_ref(), Preset::Generic);
    assert_eq!(text(RFC_FORM, a.preset.span()), "[additionalArtifact]");
    let labels: Vec<(&str, &str)> = a.labels.iter().map(|(k, v)| (k.get_ref().as_str(), v.get_ref().as_str())).collect();
    assert_eq!(labels, [("myLabel1", "blah1-${build.tag}"), ("myLabel2", "blah2")]);
    assert_eq!(text(RFC_FORM, a.labels[0].1.span()), "\"blah1-${build.tag}\"");
}

#[test]
fn r_file_5_rfc_example_as_written_is_a_syntax_error() {
    let unquoted = "[layer]\npublish=false\ncache=false\n\n[additionalArtifact]\ntag=wasm\nfile=mywasmprogram.wasm\n";
    assert_eq!(
        errors(unquoted),
        "error[R-FILE-5]: l.toml:6:5: invalid TOML: string values must be quoted, expected literal string\n  help: quote string values, e.g. `tag = \"wasm\"` (the RFC's examples write them unquoted, which is not valid TOML)\n\
         error[R-FILE-5]: l.toml:7:6: invalid TOML: string values must be quoted, expected literal string\n  help: quote string values, e.g. `tag = \"wasm\"` (the RFC's examples write them unquoted, which is not valid TOML)"
    );
}

#[rstest]
#[case::empty("")]
#[case::types_only("[types]\nlaunch = true\n")]
#[case::rfc_layer_only("[layer]\npublish = false\n")]
#[case::metadata_anything("[metadata]\nadditionalArtifact = 1\nx = { y = [1, 'a'] }\n")]
#[case::top_level_flags_ignored("launch = \"yes\"\nbuild = 3\n")]
#[case::unknown_tables_ignored("[foo]\nbar = 1\n[[baz]]\n")]
#[case::unknown_keys_in_types_ignored("[types]\nlaunch = true\nsomething = \"else\"\n")]
#[case::empty_array("additionalArtifact = []\n")]
fn r_file_4_files_without_artifacts_yield_none(#[case] source: &str) {
    assert_eq!(parse_ok(source), []);
}

#[rstest]
#[case::types_string(
    "[types]\nlaunch = \"yes\"\n",
    "error[R-FILE-4]: l.toml:2:10: `[types]` key `launch`: expected a boolean, found a string\n  \
     help: write `true` or `false`, without quotes"
)]
#[case::types_integer(
    "[types]\ncache = 1\n",
    "error[R-FILE-4]: l.toml:2:9: `[types]` key `cache`: expected a boolean, found an integer\n  \
     help: write `true` or `false`"
)]
#[case::layer_publish(
    "[layer]\npublish = \"false\"\n",
    "error[R-FILE-4]: l.toml:2:11: `[layer]` key `publish`: expected a boolean, found a string\n  \
     help: write `true` or `false`, without quotes"
)]
#[case::types_not_table("types = [\"launch\"]\n", "error[R-FILE-4]: l.toml:1:9: `types`: expected a table, found an array")]
#[case::layer_not_table("layer = true\n", "error[R-FILE-4]: l.toml:1:9: `layer`: expected a table, found a boolean")]
fn r_file_4_layer_flags_must_be_booleans(#[case] source: &str, #[case] expected: &str) {
    assert_eq!(errors(source), expected);
}

#[rstest]
#[case::unterminated_string("[additionalArtifact]\nfile = \"a.wasm\n", "l.toml:2:15: invalid TOML: invalid basic string, expected `\"`")]
#[case::duplicate_key("[additionalArtifact]\nfile = \"a\"\nfile = \"b\"\n", "l.toml:3:1: invalid TOML: duplicate key")]
#[case::duplicate_table("[additionalArtifact]\nfile = \"a\"\n[additionalArtifact]\n", "l.toml:3:2: invalid TOML: duplicate key")]
fn r_file_5_syntax_errors_name_line_and_column(#[case] source: &str, #[case] expected: &str) {
    assert_eq!(errors(source), format!("error[R-FILE-5]: {expected}"));
}

/// R-FILE-5: a leading byte order mark is skipped; errors after it are located as without it.
#[test]
fn r_file_5_a_leading_byte_order_mark_is_skipped() {
    let artifacts = parse_ok("\u{feff}[additionalArtifact]\nfile = \"a\"\n");
    assert_eq!(strings(&artifacts[0].files), ["a"]);
    assert_eq!(errors("\u{feff}x = [\n"), errors("x = [\n"));
    assert!(errors("a = 1\n\u{feff}b = 2\n").starts_with("error[R-FILE-5]: l.toml:2:1: invalid TOML"), "elsewhere it is a character");
}

/// R-FILE-5: TOML v1.1.0 syntax is accepted: newlines and a trailing comma in an inline table,
/// the escapes `\e` and `\xHH`, a time without seconds.
#[test]
fn r_file_5_toml_1_1_syntax_is_accepted() {
    let source = "[metadata]\nat = 07:32\n\n[additionalArtifact]\nfile = \"a\"\nlabels = {\n  \"x\" = \"\\x41\\e\",\n}\n";
    let artifacts = parse_ok(source);
    let labels: Vec<(&str, &str)> = artifacts[0].labels.iter().map(|(k, v)| (k.get_ref().as_str(), v.get_ref().as_str())).collect();
    assert_eq!(labels, [("x", "A\u{1b}")]);
}

#[test]
fn r_field_1_array_of_tables_declares_several_artifacts_in_order() {
    let source = "[[additionalArtifact]]\nfile = \"a\"\n\n[[additionalArtifact]]\nfiles = [\"b\", \"c\"]\n";
    let artifacts = parse_ok(source);
    assert_eq!(artifacts.iter().map(|a| a.index).collect::<Vec<_>>(), [0, 1]);
    assert_eq!(strings(&artifacts[0].files), ["a"]);
    assert_eq!(strings(&artifacts[1].files), ["b", "c"]);
    assert_eq!(text(source, artifacts[1].span.clone()), "[[additionalArtifact]]");
    assert_eq!(artifacts[1].span.start, 35);
}

#[test]
fn r_field_1_inline_forms_are_the_same_tables() {
    let inline = parse_ok("additionalArtifact = [{ file = \"a\" }, { file = \"b\", tag = \"t\" }]\n");
    assert_eq!(inline.len(), 2);
    assert_eq!(inline[1].tag.as_ref().map(|t| t.get_ref().as_str()), Some("t"));
    let single = parse_ok("additionalArtifact = { file = \"a\" }\n");
    assert_eq!(strings(&single[0].files), ["a"]);
}

#[rstest]
#[case::string(
    "additionalArtifact = \"a.wasm\"\n",
    "error[R-FIELD-1]: l.toml:1:22: `additionalArtifact`: expected a table or an array of tables, found a string"
)]
#[case::array_of_strings(
    "additionalArtifact = [{ file = \"a\" }, \"b\"]\n",
    "error[R-FIELD-1]: l.toml:1:39: `additionalArtifact[1]`: expected a table, found a string"
)]
fn r_field_1_anything_but_tables_is_an_error(#[case] source: &str, #[case] expected: &str) {
    let help = "\n  help: write `[additionalArtifact]` for one artifact or a `[[additionalArtifact]]` table for each of several";
    assert_eq!(errors(source), format!("{expected}{help}"));
}

const FILE_HELP: &str =
    "\n  help: write `file = \"NAME\"` for one file or `files = [\"A\", \"B\"]` for several, paths relative to the layer directory";

#[rstest]
#[case::both("[additionalArtifact]\nfile = \"a\"\nfiles = [\"b\"]\n", "l.toml:3:1: `file` and `files` are both set; use exactly one")]
#[case::both_files_first(
    "[additionalArtifact]\nfiles = [\"b\"]\nfile = \"a\"\n",
    "l.toml:3:1: `file` and `files` are both set; use exactly one"
)]
#[case::neither("[additionalArtifact]\ntag = \"x\"\n", "l.toml:1:1: artifact has neither `file` nor `files`")]
#[case::empty_files("[additionalArtifact]\nfiles = []\n", "l.toml:2:9: `files` is empty")]
fn r_field_2_exactly_one_of_file_or_files(#[case] source: &str, #[case] expected: &str) {
    assert_eq!(errors(source), format!("error[R-FIELD-2]: {expected}{FILE_HELP}"));
}

#[rstest]
#[case::file_integer(
    "[additionalArtifact]\nfile = 1\n",
    "l.toml:2:8: `file`: expected a string, found an integer\n  help: quote the value (without quotes, TOML reads it as a number)"
)]
#[case::files_string(
    "[additionalArtifact]\nfiles = \"a\"\n",
    "l.toml:2:9: `files`: expected an array of strings, found a string\n  help: write `files = [\"A\", \"B\"]`, or `file = \"A\"` for one file"
)]
#[case::files_element(
    "[additionalArtifact]\nfiles = [\"a\", true]\n",
    "l.toml:2:15: `files[1]`: expected a string, found a boolean\n  help: quote the value (without quotes, `true` and `false` are booleans)"
)]
#[case::tag_integer(
    "[additionalArtifact]\nfile = \"a\"\ntag = 1.0\n",
    "l.toml:3:7: `tag`: expected a string, found a float\n  help: quote the value (without quotes, TOML reads it as a number)"
)]
#[case::repository_table(
    "[additionalArtifact]\nfile = \"a\"\nrepository = {}\n",
    "l.toml:3:14: `repository`: expected a string, found an inline table\n  help: `repository` takes a string, not an inline table: write `repository = \"…\"`"
)]
#[case::type_array(
    "[additionalArtifact]\nfile = \"a\"\ntype = [\"wasm\"]\n",
    "l.toml:3:8: `type`: expected a string, found an array\n  help: `type` takes one string, not an array: one of generic, wasm, helm, junit"
)]
#[case::artifact_type_date(
    "[additionalArtifact]\nfile = \"a\"\nartifactType = 1979-05-27\n",
    "l.toml:3:16: `artifactType`: expected a string, found a datetime\n  help: quote the value (without quotes, TOML reads a date or time as a datetime)"
)]
fn r_field_9_wrong_value_types_say_what_was_expected(#[case] source: &str, #[case] expected: &str) {
    assert_eq!(errors(source), format!("error[R-FIELD-9]: {expected}"));
}

#[test]
fn r_field_3_r_field_4_templates_are_kept_as_written() {
    let source = "[additionalArtifact]\nfile = \"a\"\ntag = \"${nope\"\nrepository = \"charts/${layer.name}\"\n";
    let a = &parse_ok(source)[0];
    assert_eq!(a.tag.as_ref().map(|t| t.get_ref().as_str()), Some("${nope"));
    assert_eq!(text(source, a.tag.as_ref().map(|t| t.span()).unwrap_or_default()), "\"${nope\"");
    assert_eq!(a.repository.as_ref().map(|r| r.get_ref().as_str()), Some("charts/${layer.name}"));
}

#[rstest]
#[case::generic("generic", Preset::Generic)]
#[case::wasm("wasm", Preset::Wasm)]
#[case::helm("helm", Preset::Helm)]
fn r_field_5_presets(#[case] name: &str, #[case] expected: Preset) {
    let a = &parse_ok(&format!("[additionalArtifact]\nfile = \"a\"\ntype = \"{name}\"\n"))[0];
    assert_eq!(*a.preset.get_ref(), expected);
    assert_eq!(expected.as_str(), name);
}

#[rstest]
#[case::typo("wsam")]
#[case::uppercase("Wasm")]
#[case::empty("")]
fn r_field_5_unknown_presets_list_the_valid_ones(#[case] name: &str) {
    assert_eq!(
        errors(&format!("[additionalArtifact]\nfile = \"a\"\ntype = \"{name}\"\n")),
        format!("error[R-FIELD-5]: l.toml:3:8: unknown artifact type `{name}`\n  help: valid types: generic, wasm, helm, junit")
    );
}

#[test]
fn r_field_6_r_field_7_media_types_are_kept() {
    let source = "[additionalArtifact]\nfile = \"a\"\nartifactType = \"application/vnd.acme.thing.v1\"\nmediaType = \"application/vnd.acme.layer.v1+tar\"\n";
    let a = &parse_ok(source)[0];
    assert_eq!(a.artifact_type.as_ref().map(|t| t.get_ref().as_str()), Some("application/vnd.acme.thing.v1"));
    assert_eq!(a.media_type.as_ref().map(|t| t.get_ref().as_str()), Some("application/vnd.acme.layer.v1+tar"));
}

const MEDIA_HELP: &str = "\n  help: write `type/subtype` in lowercase letters, digits and `!#$&-^_.+`, e.g. `application/vnd.example.thing.v1+json`, without parameters";

#[rstest]
#[case::artifact_type_no_slash("artifactType", "R-FIELD-6", "wasm", "it has no `/` between type and subtype")]
#[case::artifact_type_uppercase("artifactType", "R-FIELD-6", "Application/x", "uppercase `A` is not allowed in the type")]
#[case::media_type_parameters("mediaType", "R-FIELD-7", "text/plain; charset=utf-8", "parameters (`;…`) are not allowed")]
#[case::media_type_empty("mediaType", "R-FIELD-7", "", "it is empty")]
fn r_field_6_r_field_7_invalid_media_types(#[case] key: &str, #[case] rule: &str, #[case] value: &str, #[case] reason: &str) {
    let source = format!("[additionalArtifact]\nfile = \"a\"\n{key} = \"{value}\"\n");
    let column = key.len() + 4;
    assert_eq!(
        errors(&source),
        format!("error[{rule}]: l.toml:3:{column}: `{key}` value `{value}` is not a valid media type: {reason}{MEDIA_HELP}")
    );
}

#[test]
fn r_field_8_labels_keep_the_written_order_and_quoted_dotted_keys() {
    let source = "[additionalArtifact]\nfile = \"a\"\n[additionalArtifact.labels]\nzeta = \"1\"\n\"org.example.key\" = \"${layer.name}\"\nalpha = \"\"\n";
    let a = &parse_ok(source)[0];
    let keys: Vec<&str> = a.labels.iter().map(|(k, _)| k.get_ref().as_str()).collect();
    assert_eq!(keys, ["zeta", "org.example.key", "alpha"]);
    assert_eq!(text(source, a.labels[1].0.span()), "\"org.example.key\"");
    assert_eq!(a.labels[2].1.get_ref(), "");
}

#[rstest]
#[case::integer("[additionalArtifact.labels]\nn = 1\n", "l.toml:4:5: label `n`: expected a string, found an integer\n  help: label values are string templates: quote the value (without quotes, TOML reads it as a number)")]
#[case::dotted_key(
    "[additionalArtifact.labels]\norg.example = \"x\"\n",
    "l.toml:4:1: label `org`: expected a string, found a table\n  help: an unquoted dotted key makes a nested table; quote label keys that contain dots: `\"org.example.key\" = \"value\"`"
)]
#[case::empty_key("[additionalArtifact.labels]\n\"\" = \"x\"\n", "l.toml:4:1: label key is empty")]
#[case::not_a_table(
    "labels = [\"a=b\"]\n",
    "l.toml:3:10: `labels`: expected a table, found an array\n  help: write the labels as a table: `[additionalArtifact.labels]` followed by `name = \"value\"` lines"
)]
fn r_field_8_labels_are_non_empty_keys_to_strings(#[case] tail: &str, #[case] expected: &str) {
    let source = format!("[additionalArtifact]\nfile = \"a\"\n{tail}");
    assert_eq!(errors(&source), format!("error[R-FIELD-8]: {expected}"));
}

#[rstest]
#[case::typo("tga", "did you mean `tag`? ")]
#[case::snake_case("artifact_type", "did you mean `artifactType`? ")]
#[case::lowercase("mediatype", "did you mean `mediaType`? ")]
#[case::missing_letter("fles", "did you mean `files`? ")]
#[case::unrelated("publish", "")]
#[case::short("ab", "")]
fn r_field_9_unknown_keys_are_errors_listing_the_valid_ones(#[case] key: &str, #[case] suggestion: &str) {
    let source = format!("[additionalArtifact]\nfile = \"a\"\n{key} = \"x\"\n");
    assert_eq!(
        errors(&source),
        format!(
            "error[R-FIELD-9]: l.toml:3:1: unknown key `{key}` in an artifact table\n  help: {suggestion}valid keys: \
             file, files, tag, repository, type, artifactType, mediaType, labels"
        )
    );
}

#[test]
fn every_error_of_a_file_is_reported_in_order() {
    let source = "[types]\nlaunch = \"yes\"\n\n[[additionalArtifact]]\nfile = 1\ntga = \"x\"\n\n\
                  [[additionalArtifact]]\nfiles = []\ntype = \"wsam\"\n\n[[additionalArtifact]]\nfile = \"ok\"\n";
    let diagnostics = parse_layer_toml(Path::new("l.toml"), source).expect_err("errors");
    let summary: Vec<String> =
        diagnostics.0.iter().map(|d| format!("{} {}", d.rule, d.place.as_ref().map(|p| p.to_string()).unwrap_or_default())).collect();
    assert_eq!(
        summary,
        ["R-FILE-4 l.toml:2:10", "R-FIELD-9 l.toml:5:8", "R-FIELD-9 l.toml:6:1", "R-FIELD-2 l.toml:9:9", "R-FIELD-5 l.toml:10:8",]
    );
}

#[test]
fn a_bad_table_does_not_hide_the_good_ones_errors_are_per_file() {
    // One bad table fails the whole file: the caller gets the errors, not a partial list.
    let source = "[[additionalArtifact]]\nfile = \"a\"\n[[additionalArtifact]]\nfile = 2\n";
    assert!(parse_layer_toml(Path::new("l.toml"), source).is_err());
}

/// A valid layer TOML exercising every field, for mutation.
const FULL: &str = r#"[types]
launch = true
[metadata]
x = "y"
[[additionalArtifact]]
files = ["a.wasm", "b/c.bin"]
tag = "${build.tag}-wasm"
repository = "team/${layer.name}"
type = "wasm"
artifactType = "application/vnd.acme.v1"
mediaType = "application/wasm"
[additionalArtifact.labels]
"org.example" = "${buildpack.id}"
[[additionalArtifact]]
file = "chart.tgz"
type = "helm"
"#;

#[test]
fn full_example_parses() {
    let artifacts = parse_ok(FULL);
    assert_eq!(artifacts.len(), 2);
    assert_eq!(*artifacts[1].preset.get_ref(), Preset::Helm);
}

#[derive(Debug, Clone)]
enum Mutation {
    Insert(usize, String),
    Delete(usize, usize),
    Replace(usize, char),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let at = 0..FULL.len();
    prop_oneof![
        (at.clone(), "[\\[\\]{}=\"'.,#\\n a-z0-9é$]{1,4}").prop_map(|(i, s)| Mutation::Insert(i, s)),
        (at.clone(), 1usize..6).prop_map(|(i, n)| Mutation::Delete(i, n)),
        (at, any::<char>()).prop_map(|(i, c)| Mutation::Replace(i, c)),
    ]
}

fn apply(source: &str, mutations: &[Mutation]) -> String {
    let mut chars: Vec<char> = source.chars().collect();
    for m in mutations {
        match m {
            Mutation::Insert(i, s) => {
                let i = (*i).min(chars.len());
                chars.splice(i..i, s.chars());
            }
            Mutation::Delete(i, n) => {
                let i = (*i).min(chars.len());
                let end = (i + n).min(chars.len());
                chars.drain(i..end);
            }
            Mutation::Replace(i, c) => {
                if let Some(slot) = chars.get_mut(*i) {
                    *slot = *c;
                }
            }
        }
    }
    chars.into_iter().collect()
}

proptest! {
    #[test]
    fn r_file_5_parse_never_panics_on_arbitrary_text(source in any::<String>()) {
        let _ = parse_layer_toml(Path::new("l.toml"), &source);
    }

    #[test]
    fn r_file_5_parse_never_panics_on_mutated_files(mutations in proptest::collection::vec(mutation(), 1..4)) {
        let source = apply(FULL, &mutations);
        match parse_layer_toml(Path::new("l.toml"), &source) {
            // Every span handed out lies inside the text, on character boundaries.
            Ok(artifacts) => {
                for a in &artifacts {
                    for f in &a.files {
                        prop_assert!(source.get(f.span()).is_some());
                    }
                }
            }
            Err(diagnostics) => {
                prop_assert!(!diagnostics.is_empty());
                for d in &diagnostics.0 {
                    prop_assert!(d.rule.starts_with("R-FILE-") || d.rule.starts_with("R-FIELD-"));
                    prop_assert!(d.place.as_ref().and_then(|p| p.position()).is_some());
                }
            }
        }
    }
}
