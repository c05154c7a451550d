//! Random builds from a seed, with the core's proptest strategies
//! ([`cnb_artifacts_core::strategies`]): templates with every variable and escape, labels with
//! non-BMP, control and DEL characters, Helm charts with odd Chart.yaml names and versions.
//! Around them: several app tags, tags chosen from a small set so that artifacts collide with
//! each other, with the app image's tags and with foreign tags; confinement tricks (`..`,
//! absolute paths, links out, missing files, one file twice); a fallback index another tool
//! wrote; both declaration forms.
//!
//! Build `i` of seed `S` is drawn from its own deterministic RNG (ChaCha, keyed by the sha256
//! of `S` and `i`), so it is the same build whether or not the builds before it were drawn.

use proptest::prelude::*;
use proptest::sample::{select, subsequence};
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use sha2::{Digest as _, Sha256};

use super::build::{Artifact, ArtifactFile, Build, Buildpack, FileSource, Form, Layer};
use cnb_artifacts_core::strategies::{chart_name, chart_version, label_text, template_piece, template_text, Piece};
use cnb_artifacts_core::template::Var;

/// Build `index` of `seed`.
pub fn generate(seed: u64, index: u64) -> Build {
    let key: [u8; 32] = Sha256::digest(format!("cnb-artifacts conformance diff {seed} {index}").as_bytes()).into();
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &key);
    let mut runner = TestRunner::new_with_rng(Config::default(), rng);
    match build().new_tree(&mut runner) {
        Ok(tree) => tree.current(),
        // The strategies reject nothing, so a tree is always drawn; an empty build otherwise.
        Err(_) => Build {
            tags: vec!["1.0".into()],
            overwrite: false,
            buildpacks: Vec::new(),
            foreign_tags: Vec::new(),
            foreign_referrers: Vec::new(),
        },
    }
}

/// A whole build.
pub fn build() -> impl Strategy<Value = Build> {
    let app_tags = subsequence(vec!["1.0", "latest", "v2", "2026.12.05"], 1..=3);
    let buildpacks = proptest::collection::vec(buildpack(), 1..=2);
    let foreign_tags = prop_oneof![4 => Just(Vec::new()), 1 => subsequence(vec!["wasm", "data", "1.0-x", "module"], 1..=1)];
    let foreign_referrers = prop_oneof![4 => Just(Vec::new()), 1 => Just(vec!["application/vnd.example.sbom+json"])];
    (app_tags, prop::bool::weighted(0.2), buildpacks, foreign_tags, foreign_referrers).prop_map(|(tags, overwrite, bps, ft, fr)| Build {
        tags: tags.into_iter().map(str::to_string).collect(),
        overwrite,
        buildpacks: bps
            .into_iter()
            .enumerate()
            .map(|(i, (version, layers))| Buildpack { id: format!("acme/bp{i}"), version, layers })
            .collect(),
        foreign_tags: ft.into_iter().map(str::to_string).collect(),
        foreign_referrers: fr.into_iter().map(str::to_string).collect(),
    })
}

/// A buildpack's version (sometimes none) and its layers, named by position.
fn buildpack() -> impl Strategy<Value = (Option<String>, Vec<Layer>)> {
    let version = prop_oneof![30 => select(vec!["1.2.3", "0.0.1-beta"]).prop_map(|v| Some(v.to_string())), 1 => Just(None)];
    let layers = proptest::collection::vec((prop::bool::weighted(0.4), proptest::collection::vec(artifact(), 1..=2)), 1..=2);
    (version, layers).prop_map(|(version, layers)| {
        let names = ["module", "data", "chart"];
        let layers = layers
            .into_iter()
            .enumerate()
            .map(|(i, (atoml, artifacts))| Layer {
                name: names[i % names.len()].to_string(),
                form: if atoml { Form::ArtifactsToml } else { Form::LayerToml },
                artifacts,
            })
            .collect();
        (version, layers)
    })
}

/// An artifact table: a generic one, or now and then a Helm chart.
fn artifact() -> impl Strategy<Value = Artifact> {
    let generic = (
        prop_oneof![11 => proptest::collection::vec(artifact_file(), 1..=1), 1 => proptest::collection::vec(artifact_file(), 2..=2)],
        tag(),
        repository(),
        prop_oneof![3 => Just(None), 1 => Just(Some("generic".to_string()))],
        labels(),
    )
        .prop_map(|(files, tag, repository, preset, labels)| Artifact { files, tag, repository, preset, labels });
    let helm = (
        chart_name(),
        chart_version(),
        prop_oneof![Just("hello".to_string()), Just("web-app".to_string())],
        prop::bool::weighted(0.15),
        labels(),
    )
        .prop_map(|(odd_name, odd_version, plain, odd, labels)| {
            let (name, version) = if odd { (odd_name, odd_version) } else { (plain, "0.1.0+build.7".to_string()) };
            Artifact {
                files: vec![ArtifactFile { path: "chart.tgz".into(), source: FileSource::Chart { name, version } }],
                tag: None,
                repository: None,
                preset: Some("helm".to_string()),
                labels,
            }
        });
    prop_oneof![12 => generic, 1 => helm]
}

/// A file an artifact names: usually a small regular file, sometimes a confinement trick.
fn artifact_file() -> impl Strategy<Value = ArtifactFile> {
    let plain = (select(vec!["a.txt", "b.bin", "c.json", "e.wasm"]), proptest::collection::vec(any::<u8>(), 0..24))
        .prop_map(|(name, bytes)| ArtifactFile { path: name.to_string(), source: FileSource::Bytes(bytes) });
    let trick = |path: &'static str, source: FileSource| Just(ArtifactFile { path: path.to_string(), source });
    prop_oneof![
        400 => plain,
        1 => trick("../secret.txt", FileSource::Absent),
        1 => trick("/etc/hostname", FileSource::Absent),
        1 => trick("missing.txt", FileSource::Absent),
        1 => trick("link-out", FileSource::LinkOut),
        4 => trick("./d.txt", FileSource::Bytes(b"dot\n".to_vec())),
    ]
}

/// A tag template: none (digest only), one of a few that collide often, or a generated one
/// with every variable and escape (most of which the tag grammar refuses).
fn tag() -> impl Strategy<Value = Option<String>> {
    let common = select(vec!["${build.tag}-${layer.name}", "${layer.name}", "wasm", "data", "${build.tag}-x", "v${buildpack.version}"]);
    let odd = select(vec!["${build.tag}".to_string(), format!("sha256-{}", "ab".repeat(32)), "Bad/Tag".to_string(), "t".repeat(129)]);
    prop_oneof![
        16 => Just(None),
        48 => (common.clone(), 0..20u8).prop_map(|(t, k)| Some(format!("{t}-{k}"))),
        8 => common.prop_map(|t| Some(t.to_string())),
        1 => proptest::collection::vec(template_piece(), 1..4).prop_map(|p| Some(template_text(&p, |_| String::new()).0)),
        1 => odd.prop_map(Some),
    ]
}

/// A repository template, always inside the app image's repository (so inside the namespace).
fn repository() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        90 => Just(None),
        3 => Just(Some("${build.repository}/extra".to_string())),
        3 => Just(Some("${build.repository}-${layer.name}".to_string())),
        3 => Just(Some("${build.registry}/${build.repository}/sub".to_string())),
        1 => Just(Some("${build.repository}/Upper".to_string())),
    ]
}

/// Labels: a few keys (one reserved now and then), values of template pieces and odd text.
fn labels() -> impl Strategy<Value = Vec<(String, String)>> {
    let key = prop_oneof![
        200 => select(vec!["org.opencontainers.image.description", "com.example.note", "a", "org.opencontainers.image.created"]),
        1 => Just("io.buildpacks.artifact.mine"),
    ];
    let piece = prop_oneof![2 => template_piece(), 3 => label_text().prop_map(Piece::Literal)];
    let value = proptest::collection::vec(piece, 0..4).prop_map(|pieces| template_text(&pieces, |v: Var| v.name().to_string()).0);
    proptest::collection::vec((key, value), 0..=3).prop_map(|pairs| {
        let mut labels: Vec<(String, String)> = Vec::new();
        for (k, v) in pairs {
            if !labels.iter().any(|(seen, _)| seen == k) {
                labels.push((k.to_string(), v));
            }
        }
        labels
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_build_is_the_same_for_its_seed_and_index_alone() {
        assert_eq!(generate(7, 3), generate(7, 3));
        assert_ne!(generate(7, 3), generate(7, 4));
        assert_ne!(generate(7, 3), generate(8, 3));
    }

    #[test]
    fn builds_cover_both_forms_labels_and_several_tags() {
        let builds: Vec<Build> = (0..200).map(|i| generate(20261205, i)).collect();
        let layers = || builds.iter().flat_map(|b| &b.buildpacks).flat_map(|bp| &bp.layers);
        assert!(layers().any(|l| l.form == Form::ArtifactsToml));
        assert!(layers().any(|l| l.form == Form::LayerToml));
        assert!(layers().flat_map(|l| &l.artifacts).any(|a| a.labels.iter().any(|(_, v)| v.contains('\u{7F}'))));
        assert!(layers().flat_map(|l| &l.artifacts).any(|a| a.preset.as_deref() == Some("helm")));
        assert!(builds.iter().any(|b| b.tags.len() > 1));
        assert!(builds.iter().any(|b| !b.foreign_tags.is_empty()));
        assert!(builds.iter().any(|b| !b.foreign_referrers.is_empty()));
    }
}
