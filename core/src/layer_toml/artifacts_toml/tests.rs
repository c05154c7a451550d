//! Unit tests of the `artifacts.toml` form (R-ATOML-2..5).

use std::path::Path;

use rstest::rstest;

use super::parse_artifacts_toml;
use crate::layer_toml::{ArtifactDecl, Preset};

/// The RFC revision's example, as written there.
const REVISION_EXAMPLE: &str = r#"[[artifact]]
tag = "wasm"
file = "mywasmprogram.wasm"

[[artifact.labels]]
ConfigMediaType       = "application/vnd.wasm.config.v1+json"
ContentLayerMediaType = "application/vnd.wasm.content.layer.v1+wasm"
"#;

fn parse_ok(source: &str) -> Vec<ArtifactDecl> {
    parse_artifacts_toml(Path::new("artifacts.toml"), source).unwrap_or_else(|e| panic!("{e}"))
}

fn errors(source: &str) -> String {
    parse_artifacts_toml(Path::new("artifacts.toml"), source).expect_err("must fail").to_string()
}

#[test]
fn r_atoml_4_revision_example_maps_switches_onto_generic_media_types() {
    let [a] = &parse_ok(REVISION_EXAMPLE)[..] else { panic!("one artifact") };
    assert_eq!(*a.preset.get_ref(), Preset::Generic);
    assert_eq!(a.artifact_type.as_ref().map(|s| s.get_ref().as_str()), Some("application/vnd.wasm.config.v1+json"));
    assert_eq!(a.media_type.as_ref().map(|s| s.get_ref().as_str()), Some("application/vnd.wasm.content.layer.v1+wasm"));
    assert!(a.labels.is_empty(), "switches are not annotations: {:?}", a.labels);
    assert_eq!(a.tag.as_ref().map(|s| s.get_ref().as_str()), Some("wasm"));
}

#[rstest]
#[case::wasm("application/vnd.wasm.config.v0+json", "application/wasm", Preset::Wasm)]
#[case::helm("application/vnd.cncf.helm.config.v1+json", "application/vnd.cncf.helm.chart.content.v1.tar+gzip", Preset::Helm)]
fn r_atoml_4_a_presets_config_media_type_selects_the_preset(#[case] config: &str, #[case] layer: &str, #[case] preset: Preset) {
    let source = format!(
        "[[artifact]]\nfile = \"f\"\n[artifact.labels]\nConfigMediaType = \"{config}\"\nContentLayerMediaType = \"{layer}\"\nx = \"y\"\n"
    );
    let [a] = &parse_ok(&source)[..] else { panic!("one artifact") };
    assert_eq!(*a.preset.get_ref(), preset);
    assert_eq!(a.artifact_type, None);
    assert_eq!(a.media_type, None);
    assert_eq!(a.labels.len(), 1);
}

#[test]
fn r_atoml_3_label_tables_merge_in_order() {
    let source = "[[artifact]]\nfile = \"f\"\n[[artifact.labels]]\nb = \"1\"\n[[artifact.labels]]\na = \"2\"\n";
    let [a] = &parse_ok(source)[..] else { panic!("one artifact") };
    let keys: Vec<&str> = a.labels.iter().map(|(k, _)| k.get_ref().as_str()).collect();
    assert_eq!(keys, ["b", "a"]);
}

#[rstest]
#[case::duplicate_label(
    "[[artifact]]\nfile = \"f\"\n[[artifact.labels]]\na = \"1\"\n[[artifact.labels]]\na = \"2\"\n",
    "error[R-ATOML-3]: artifacts.toml:6:1: label `a` is set twice (first at 4:1)\n  help: set each label once"
)]
#[case::labels_string(
    "[[artifact]]\nfile = \"f\"\nlabels = \"x\"\n",
    "error[R-ATOML-3]: artifacts.toml:3:10: `labels`: expected a table or an array of tables, found a string\n  help: write `[artifact.labels]` followed by `name = \"value\"` lines, or one or more `[[artifact.labels]]` tables"
)]
#[case::unknown_top_key(
    "[[artifacts]]\nfile = \"f\"\n",
    "error[R-ATOML-2]: artifacts.toml:1:3: unknown top-level key `artifacts` in artifacts.toml\n  help: did you mean `artifact`? write `[[artifact]]` tables"
)]
#[case::artifact_string(
    "artifact = \"f\"\n",
    "error[R-ATOML-2]: artifacts.toml:1:12: `artifact`: expected a table or an array of tables, found a string\n  help: write a `[[artifact]]` table for each artifact"
)]
#[case::switch_bad_media_type(
    "[[artifact]]\nfile = \"f\"\n[artifact.labels]\nConfigMediaType = \"Wasm/x\"\n",
    "error[R-ATOML-4]: artifacts.toml:4:19: `ConfigMediaType` value `Wasm/x` is not a valid media type: uppercase `W` is not allowed in the type\n  help: write `type/subtype` in lowercase letters, digits and `!#$&-^_.+`, e.g. `application/vnd.example.thing.v1+json`, without parameters"
)]
#[case::switch_and_artifact_type(
    "[[artifact]]\nfile = \"f\"\nartifactType = \"a/b\"\n[artifact.labels]\nConfigMediaType = \"c/d\"\n",
    "error[R-ATOML-5]: artifacts.toml:5:19: `ConfigMediaType` = `c/d` conflicts with `artifactType` = `a/b`"
)]
#[case::switch_and_media_type(
    "[[artifact]]\nfile = \"f\"\nmediaType = \"a/b\"\n[artifact.labels]\nContentLayerMediaType = \"c/d\"\n",
    "error[R-ATOML-5]: artifacts.toml:5:25: `ContentLayerMediaType` = `c/d` conflicts with `mediaType` = `a/b`"
)]
#[case::switch_and_fixed_preset(
    "[[artifact]]\nfile = \"f\"\ntype = \"wasm\"\n[artifact.labels]\nConfigMediaType = \"application/vnd.wasm.config.v1+json\"\n",
    "error[R-ATOML-5]: artifacts.toml:5:19: `ConfigMediaType` = `application/vnd.wasm.config.v1+json` conflicts with `type` = `wasm`, whose config media type is fixed"
)]
#[case::layer_switch_and_selected_preset(
    "[[artifact]]\nfile = \"f\"\n[artifact.labels]\nConfigMediaType = \"application/vnd.wasm.config.v0+json\"\nContentLayerMediaType = \"application/octet-stream\"\n",
    "error[R-ATOML-5]: artifacts.toml:5:25: `ContentLayerMediaType` = `application/octet-stream` conflicts with the `wasm` preset, whose layer media type is `application/wasm`"
)]
fn r_atoml_bad_input_is_located(#[case] source: &str, #[case] expected: &str) {
    let got = errors(source);
    let first = got.lines().take(expected.lines().count()).collect::<Vec<_>>().join("\n");
    assert_eq!(first, expected, "full output:\n{got}");
}

#[test]
fn r_file_5_revision_example_unquoted_gets_the_quoting_hint() {
    let got = errors("[[artifact]]\ntag=wasm\nfile=mywasmprogram.wasm\n");
    assert!(got.starts_with("error[R-FILE-5]: artifacts.toml:2:5: invalid TOML: string values must be quoted"), "{got}");
    assert!(got.contains("help: quote string values, e.g. `tag = \"wasm\"`"), "{got}");
}

#[test]
fn r_atoml_2_no_artifact_declares_nothing() {
    assert!(parse_ok("").is_empty());
    assert!(parse_ok("artifact = []\n").is_empty());
}
