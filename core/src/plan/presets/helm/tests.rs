//! Unit tests of the `helm` preset (R-PRESET-3, R-PRESET-4): which Chart.yaml counts, the config it gives,
//! and the chart checked against the rendered repository and tags.

use super::*;
use crate::plan::presets::test_support::{input, tgz, LayerDir};
use crate::plan::presets::{apply, check_helm_target, ChartInfo};
use rstest::rstest;

const CHART_YAML: &[u8] = b"apiVersion: v2\nname: hello\nversion: 0.1.0\n";

#[rstest]
#[case::top_level(b"hello/Chart.yaml", true)]
#[case::other_dir_name(b"anything/Chart.yaml", true)]
#[case::subchart(b"hello/charts/sub/Chart.yaml", false)]
#[case::root(b"Chart.yaml", false)]
#[case::dot_dir(b"./Chart.yaml", false)]
#[case::dot_prefix(b"./hello/Chart.yaml", false)]
#[case::empty_dir(b"/Chart.yaml", false)]
#[case::lowercase(b"hello/chart.yaml", false)]
fn r_preset_3_which_entry_is_chart_yaml(#[case] name: &[u8], #[case] expected: bool) {
    assert_eq!(is_top_level_chart_yaml(name), expected);
}

#[test]
fn r_preset_3_fixture_chart() {
    let dir = LayerDir::new();
    let files = [dir.add_fixture("chart/hello-0.1.0.tgz", "charts/hello-0.1.0.tgz")];
    let out = apply(&input(Preset::Helm, &files)).expect("helm");
    assert_eq!(out.artifact_type, "application/vnd.cncf.helm.config.v1+json");
    assert_eq!(out.layer_media_type, "application/vnd.cncf.helm.chart.content.v1.tar+gzip");
    assert_eq!(out.config.media_type, "application/vnd.cncf.helm.config.v1+json");
    assert_eq!(
        String::from_utf8(out.config.bytes).expect("UTF-8"),
        r#"{"apiVersion":"v2","appVersion":"1.0.0","description":"A tiny chart for cnb-artifacts tests","name":"hello","type":"application","version":"0.1.0"}"#
    );
    assert_eq!(out.chart, Some(ChartInfo { name: "hello".into(), version: "0.1.0".into() }));
}

#[test]
fn r_preset_3_chart_with_plus_in_version() {
    let dir = LayerDir::new();
    let files = [dir.add_fixture("hello.tgz", "charts/hello-0.2.0+build.7.tgz")];
    let out = apply(&input(Preset::Helm, &files)).expect("helm");
    let chart = out.chart.expect("chart");
    assert_eq!(chart, ChartInfo { name: "hello".into(), version: "0.2.0+build.7".into() });
    assert_eq!(chart.tag(), "0.2.0_build.7");
    assert_eq!(check_helm_target(&chart, "charts/hello", &["0.2.0_build.7".to_string()]), Ok(()));
    let config = String::from_utf8(out.config.bytes).expect("UTF-8");
    assert!(config.contains(r#""version":"0.2.0+build.7""#), "{config}");
    assert!(!config.contains("x-unknown-key"), "{config}");
}

#[test]
fn r_preset_3_stops_at_the_first_chart_yaml_and_ignores_subcharts() {
    let dir = LayerDir::new();
    let bytes = tgz(&[
        ("hello/charts/sub/Chart.yaml", b"name: sub\nversion: 9.9.9\n"),
        ("hello/Chart.yaml", CHART_YAML),
        ("other/Chart.yaml", b"name: other\nversion: 1.0.0\n"),
    ]);
    let files = [dir.add("c.tgz", &bytes)];
    let chart = apply(&input(Preset::Helm, &files)).expect("helm").chart;
    assert_eq!(chart, Some(ChartInfo { name: "hello".into(), version: "0.1.0".into() }));
}

/// A gzip file of several members (RFC 1952) is read as one stream, as Go's reader does.
#[test]
fn r_preset_3_reads_every_gzip_member() {
    let dir = LayerDir::new();
    let tar = {
        let mut builder = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_ustar();
        header.set_size(CHART_YAML.len() as u64);
        header.set_entry_type(tar::EntryType::Regular);
        builder.append_data(&mut header, "hello/Chart.yaml", CHART_YAML).expect("tar");
        builder.into_inner().expect("tar")
    };
    let (first, second) = tar.split_at(512);
    let bytes = [gzip(first), gzip(second)].concat();
    let files = [dir.add("c.tgz", &bytes)];
    let chart = apply(&input(Preset::Helm, &files)).expect("helm").chart;
    assert_eq!(chart, Some(ChartInfo { name: "hello".into(), version: "0.1.0".into() }));
}

#[test]
fn r_preset_3_declared_artifact_type_is_kept() {
    let dir = LayerDir::new();
    let files = [dir.add("c.tgz", &tgz(&[("hello/Chart.yaml", CHART_YAML)]))];
    let out = apply(&PresetInput { artifact_type: Some("application/vnd.acme.chart"), ..input(Preset::Helm, &files) }).expect("helm");
    assert_eq!(out.artifact_type, "application/vnd.acme.chart");
    assert_eq!(out.config.media_type, "application/vnd.cncf.helm.config.v1+json");
}

#[test]
fn r_preset_3_refuses_a_declared_media_type() {
    let dir = LayerDir::new();
    let files = [dir.add("c.tgz", &tgz(&[("hello/Chart.yaml", CHART_YAML)]))];
    let err = apply(&PresetInput { media_type: Some("application/gzip"), ..input(Preset::Helm, &files) }).expect_err("mediaType");
    assert_eq!(err, PresetError::MediaTypeNotAllowed { preset: Preset::Helm });
    assert_eq!(err.rule(), "R-PRESET-3");
}

#[rstest]
#[case::none(0)]
#[case::two(2)]
fn r_preset_3_takes_exactly_one_file(#[case] count: usize) {
    let dir = LayerDir::new();
    let chart = tgz(&[("hello/Chart.yaml", CHART_YAML)]);
    let files: Vec<_> = (0..count).map(|i| dir.add(&format!("{i}.tgz"), &chart)).collect();
    assert_eq!(apply(&input(Preset::Helm, &files)), Err(PresetError::HelmFileCount { count }));
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).expect("gzip");
    encoder.finish().expect("gzip")
}

#[rstest]
#[case::empty_file(Vec::new(), "gzip magic")]
#[case::plain_tar_not_gzip(b"hello/Chart.yaml\0\0\0".to_vec(), "gzip magic")]
#[case::truncated_gzip(vec![0x1f, 0x8b, 0x08, 0x00, 0x00], "")]
#[case::corrupt_gzip({ let mut g = gzip(&[7u8; 4096]); g.truncate(20); g[12] ^= 0xff; g }, "")]
#[case::gzip_of_not_a_tar(gzip(&[b'x'; 1024]), "")]
fn r_preset_3_refuses_what_is_not_a_chart_archive(#[case] bytes: Vec<u8>, #[case] reason_contains: &str) {
    let dir = LayerDir::new();
    let files = [dir.add("c.tgz", &bytes)];
    match apply(&input(Preset::Helm, &files)) {
        Err(PresetError::NotAChartArchive { path, reason }) => {
            assert_eq!(path, "c.tgz");
            assert!(reason.contains(reason_contains), "{reason}");
        }
        other => panic!("expected NotAChartArchive, got {other:?}"),
    }
}

#[rstest]
#[case::no_chart_yaml(&[("hello/values.yaml", b"a: 1\n" as &[u8])])]
#[case::only_subchart(&[("hello/charts/sub/Chart.yaml", CHART_YAML)])]
#[case::at_root(&[("Chart.yaml", CHART_YAML)])]
#[case::empty_archive(&[])]
fn r_preset_3_tgz_without_chart_yaml(#[case] entries: &[(&str, &[u8])]) {
    let dir = LayerDir::new();
    let files = [dir.add("c.tgz", &tgz(entries))];
    let err = apply(&input(Preset::Helm, &files)).expect_err("no Chart.yaml");
    assert_eq!(err, PresetError::ChartYamlMissing { path: "c.tgz".into() });
    assert_eq!(err.rule(), "R-PRESET-3");
}

#[test]
fn r_preset_3_chart_yaml_over_1_mib_is_refused() {
    let dir = LayerDir::new();
    let mut yaml = CHART_YAML.to_vec();
    yaml.extend(std::iter::repeat_n(b'#', MAX_CHART_YAML_SIZE as usize));
    let files = [dir.add("c.tgz", &tgz(&[("hello/Chart.yaml", &yaml)]))];
    let err = apply(&input(Preset::Helm, &files)).expect_err("too large");
    assert_eq!(err, PresetError::ChartYamlTooLarge { path: "c.tgz".into(), entry: "hello/Chart.yaml".into(), size: yaml.len() as u64 });
}

#[test]
fn r_preset_3_chart_yaml_errors_name_the_entry() {
    let dir = LayerDir::new();
    let files = [dir.add("c.tgz", &tgz(&[("hello/Chart.yaml", b"name: hello\n")]))];
    assert_eq!(
        apply(&input(Preset::Helm, &files)),
        Err(PresetError::ChartFieldMissing { path: "c.tgz".into(), entry: "hello/Chart.yaml".into(), field: "version" })
    );
    let files = [dir.add("d.tgz", &tgz(&[("hello/Chart.yaml", b"name: hello\nversion: [1]\n")]))];
    match apply(&input(Preset::Helm, &files)) {
        Err(PresetError::ChartYamlInvalid { path, entry, reason }) => {
            assert_eq!((path.as_str(), entry.as_str()), ("d.tgz", "hello/Chart.yaml"));
            assert!(reason.starts_with("version: invalid type"), "{reason}");
        }
        other => panic!("expected ChartYamlInvalid, got {other:?}"),
    }
}
