//! Tests of [`super::build`]: exact bytes and digests (R-MAN-1..9). The digests are the spec:
//! the worked example here is the one printed in `docs/spec.md` (section "Worked example").

use std::collections::BTreeMap;

use rstest::rstest;

use super::*;
use crate::layer_toml::Preset;
use crate::plan::presets::test_support::{input, LayerDir};
use crate::plan::presets::{self, PresetInput};
use crate::plan::PlannedFile;

/// The app image manifest of the worked example.
fn example_subject() -> Subject {
    Subject {
        digest: "sha256:8160ad6a21f80d968d190030185cab208a4127801714d8e6bfce9fb779371886".parse().expect("digest"),
        size: 759,
        media_type: media_types::OCI_MANIFEST.to_string(),
    }
}

/// An artifact as the planner hands it over: preset applied, layer media types set.
fn planned(preset: PresetInput<'_>, annotations: &[(&str, &str)]) -> PlannedArtifact {
    let out = presets::apply(&preset).expect("preset");
    let files: Vec<PlannedFile> =
        preset.files.iter().map(|f| PlannedFile { media_type: out.layer_media_type.clone(), ..f.clone() }).collect();
    PlannedArtifact {
        buildpack: "acme/greeter".into(),
        buildpack_version: Some("1.0.0".into()),
        layer: "greeting".into(),
        index: 0,
        registry: "registry.example.com".into(),
        repository: "acme/app".into(),
        tags: vec!["greeting".into()],
        preset: preset.preset,
        artifact_type: out.artifact_type,
        annotations: annotations.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        config: out.config,
        files,
        declared_at: crate::diagnostic::Location { file: "layers/acme_greeter/greeting.toml".into(), line: 1, column: 1 },
    }
}

const EXAMPLE_ANNOTATIONS: &[(&str, &str)] = &[
    ("com.example.greeting", "Grüße, world"),
    ("io.buildpacks.artifact.buildpack.id", "acme/greeter"),
    ("io.buildpacks.artifact.buildpack.version", "1.0.0"),
    ("io.buildpacks.artifact.layer", "greeting"),
    ("org.opencontainers.image.created", "2023-11-14T22:13:20Z"),
];

const EXAMPLE_MANIFEST: &str = concat!(
    r#"{"annotations":{"com.example.greeting":"Grüße, world","io.buildpacks.artifact.buildpack.id":"acme/greeter","#,
    r#""io.buildpacks.artifact.buildpack.version":"1.0.0","io.buildpacks.artifact.layer":"greeting","#,
    r#""org.opencontainers.image.created":"2023-11-14T22:13:20Z"},"#,
    r#""artifactType":"application/vnd.buildpacks.artifact.v1","#,
    r#""config":{"digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","#,
    r#""mediaType":"application/vnd.oci.empty.v1+json","size":2},"#,
    r#""layers":[{"annotations":{"org.opencontainers.image.title":"out/greeting.txt"},"#,
    r#""digest":"sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824","#,
    r#""mediaType":"application/octet-stream","size":5}],"#,
    r#""mediaType":"application/vnd.oci.image.manifest.v1+json","schemaVersion":2,"#,
    r#""subject":{"digest":"sha256:8160ad6a21f80d968d190030185cab208a4127801714d8e6bfce9fb779371886","#,
    r#""mediaType":"application/vnd.oci.image.manifest.v1+json","size":759}}"#
);

const EXAMPLE_DIGEST: &str = "sha256:301f18507e89c8af6c90d2094537784006b74022daa21841123676f782cac6c7";

/// The worked example of the spec (40-manifests.md, "Worked example"): bytes and digest.
#[test]
fn r_man_1_worked_example_bytes_and_digest() {
    let dir = LayerDir::new();
    let files = [dir.add("out/greeting.txt", b"hello")];
    let artifact = planned(input(Preset::Generic, &files), EXAMPLE_ANNOTATIONS);
    let built = build(&artifact, &example_subject()).expect("build");
    assert_eq!(String::from_utf8(built.manifest_bytes.clone()).expect("UTF-8"), EXAMPLE_MANIFEST);
    assert_eq!(built.manifest_bytes.len(), 918);
    assert_eq!(built.manifest_digest.as_str(), EXAMPLE_DIGEST);
    assert_eq!(built.config_bytes, b"{}");
    assert_eq!(
        built.config,
        Descriptor {
            media_type: "application/vnd.oci.empty.v1+json".into(),
            digest: "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a".parse().expect("digest"),
            size: 2,
        }
    );
    assert_eq!(built.layers.len(), 1);
    assert_eq!(built.layers[0].title, "out/greeting.txt");
    assert_eq!(built.layers[0].source, files[0].source);
}

#[test]
fn r_man_1_exactly_the_listed_members() {
    let dir = LayerDir::new();
    let files = [dir.add("a", b"a")];
    let built = build(&planned(input(Preset::Generic, &files), &[]), &example_subject()).expect("build");
    let value: serde_json::Value = serde_json::from_slice(&built.manifest_bytes).expect("JSON");
    let keys = |v: &serde_json::Value| v.as_object().expect("object").keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(&value), ["annotations", "artifactType", "config", "layers", "mediaType", "schemaVersion", "subject"]);
    assert_eq!(keys(&value["config"]), ["digest", "mediaType", "size"]);
    assert_eq!(keys(&value["subject"]), ["digest", "mediaType", "size"]);
    assert_eq!(keys(&value["layers"][0]), ["annotations", "digest", "mediaType", "size"]);
    assert_eq!(keys(&value["layers"][0]["annotations"]), ["org.opencontainers.image.title"]);
    // R-MAN-7: annotations are always present, even empty.
    assert_eq!(value["annotations"], serde_json::json!({}));
    assert_eq!(value["schemaVersion"], 2);
}

/// R-MAN-2: canonical JSON — no whitespace, no trailing newline.
#[test]
fn r_man_2_manifest_has_no_insignificant_whitespace() {
    let dir = LayerDir::new();
    let files = [dir.add("a b.txt", b"a")];
    let built = build(&planned(input(Preset::Generic, &files), &[("k", "v w")]), &example_subject()).expect("build");
    let text = String::from_utf8(built.manifest_bytes).expect("UTF-8");
    assert!(!text.ends_with('\n'));
    assert!(!text.contains(": ") && !text.contains(", ") && !text.contains('\n'));
}

/// R-MAN-4/5: one layer per file, in declared order (not sorted), titled by declared path.
#[test]
fn r_man_4_layers_follow_declared_order() {
    let dir = LayerDir::new();
    let files = [dir.add("z/last.txt", b"1"), dir.add("a/first.txt", b"22"), dir.add("m.txt", b"333")];
    let built = build(&planned(PresetInput { media_type: Some("text/plain"), ..input(Preset::Generic, &files) }, &[]), &example_subject())
        .expect("build");
    let value: serde_json::Value = serde_json::from_slice(&built.manifest_bytes).expect("JSON");
    let titles: Vec<&str> = value["layers"]
        .as_array()
        .expect("layers")
        .iter()
        .map(|l| l["annotations"]["org.opencontainers.image.title"].as_str().expect("title"))
        .collect();
    assert_eq!(titles, ["z/last.txt", "a/first.txt", "m.txt"]);
    let sizes: Vec<u64> = built.layers.iter().map(|l| l.descriptor.size).collect();
    assert_eq!(sizes, [1, 2, 3]);
    assert!(built.layers.iter().all(|l| l.descriptor.media_type == "text/plain"));
}

/// R-MAN-6: the subject is the app image manifest descriptor, media type included.
#[test]
fn r_man_6_subject_is_copied() {
    let dir = LayerDir::new();
    let files = [dir.add("a", b"a")];
    let subject = Subject { digest: Digest::of(b"docker manifest"), size: 1, media_type: media_types::DOCKER_MANIFEST.to_string() };
    let built = build(&planned(input(Preset::Generic, &files), &[]), &subject).expect("build");
    let value: serde_json::Value = serde_json::from_slice(&built.manifest_bytes).expect("JSON");
    assert_eq!(
        value["subject"],
        serde_json::json!({"digest": subject.digest.as_str(), "mediaType": media_types::DOCKER_MANIFEST, "size": 1})
    );
}

/// Same inputs, same bytes: twice in a row, and with annotations inserted in another order.
#[test]
fn r_man_2_build_is_deterministic() {
    let dir = LayerDir::new();
    let files = [dir.add("out/greeting.txt", b"hello")];
    let mut reversed = EXAMPLE_ANNOTATIONS.to_vec();
    reversed.reverse();
    let first = build(&planned(input(Preset::Generic, &files), EXAMPLE_ANNOTATIONS), &example_subject()).expect("build");
    let second = build(&planned(input(Preset::Generic, &files), &reversed), &example_subject()).expect("build");
    assert_eq!(first, second);
    assert_eq!(first.manifest_digest.as_str(), EXAMPLE_DIGEST);
}

/// R-MAN-8: nothing in the manifest depends on the clock; `created` appears only when given.
#[test]
fn r_man_8_no_timestamp_unless_given() {
    let dir = LayerDir::new();
    let files = [dir.add("m.wasm", b"\0asm\x01\0\0\0")];
    let built = build(&planned(input(Preset::Wasm, &files), &[]), &example_subject()).expect("build");
    let text = String::from_utf8(built.manifest_bytes).expect("UTF-8");
    assert!(!text.contains("created"), "{text}");
    assert!(String::from_utf8(built.config_bytes).expect("UTF-8").contains(r#""created":"1970-01-01T00:00:00Z""#));
}

/// R-MAN-9: at most 4 MiB; exactly 4 MiB is accepted, one byte more is refused.
#[rstest]
#[case::at_limit(0, true)]
#[case::one_over(1, false)]
fn r_man_9_manifest_over_4_mib_is_refused(#[case] extra: usize, #[case] accepted: bool) {
    let dir = LayerDir::new();
    let files = [dir.add("a", b"a")];
    let base = build(&planned(input(Preset::Generic, &files), &[("pad", "")]), &example_subject()).expect("build");
    let pad = "x".repeat(MAX_MANIFEST_SIZE - base.manifest_bytes.len() + extra);
    let artifact = planned(input(Preset::Generic, &files), &[("pad", pad.as_str())]);
    match build(&artifact, &example_subject()) {
        Ok(built) => {
            assert!(accepted);
            assert_eq!(built.manifest_bytes.len(), MAX_MANIFEST_SIZE);
        }
        Err(err) => {
            assert!(!accepted);
            assert!(matches!(&err, ManifestError::TooLarge { size, .. } if *size == MAX_MANIFEST_SIZE + 1), "{err:?}");
            assert_eq!(err.rule(), "R-MAN-9");
            assert!(err.help().is_some());
        }
    }
}

/// Digests of the committed fixtures built with every preset (subject and labels as in the
/// worked example, no `SOURCE_DATE_EPOCH`). A change here changes what conformant tools publish.
#[rstest]
#[case::generic_text(
    Preset::Generic,
    "out/greeting.txt",
    None,
    "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
    "sha256:855ee576d03a56dac41d8bda2681eef1c83dac84dafa39e1e578bf7fe645567a"
)]
#[case::wasm_module(
    Preset::Wasm,
    "hello.wasm",
    Some("wasm/hello-module.wasm"),
    "sha256:1ad838612496a803e6bd8943beb95915db2ca73b3513673994f192eedf2cc37f",
    "sha256:81723317cdef4436002ed0c6869a120f31cb459a52b29a9bb39e3be6daab9007"
)]
#[case::helm_chart(
    Preset::Helm,
    "hello-0.1.0.tgz",
    Some("charts/hello-0.1.0.tgz"),
    "sha256:863b689f6915157923d8e04ba71c53561d20cc0577102d18f1990509b03f0109",
    "sha256:f2831a21d3ba2b9a182916b33cebe423b4c01a1f9b0ae3c4f9863ae94536ec52"
)]
fn r_man_1_fixture_digests(
    #[case] preset: Preset,
    #[case] path: &str,
    #[case] fixture: Option<&str>,
    #[case] config_digest: &str,
    #[case] manifest_digest: &str,
) {
    let dir = LayerDir::new();
    let file = match fixture {
        Some(f) => dir.add_fixture(path, f),
        None => dir.add(path, b"hello"),
    };
    let files = [file];
    let annotations: BTreeMap<&str, &str> = EXAMPLE_ANNOTATIONS.iter().copied().filter(|(k, _)| !k.contains("created")).collect();
    let annotations: Vec<(&str, &str)> = annotations.into_iter().collect();
    let built = build(&planned(input(preset, &files), &annotations), &example_subject()).expect("build");
    assert_eq!(built.config.digest.as_str(), config_digest, "config {}", String::from_utf8_lossy(&built.config_bytes));
    assert_eq!(built.manifest_digest.as_str(), manifest_digest, "manifest {}", String::from_utf8_lossy(&built.manifest_bytes));
    assert_eq!(built.manifest_digest, Digest::of(&built.manifest_bytes));
}
