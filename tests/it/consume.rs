//! The consumer's side against a real registry (Distribution: the fallback tag): publish the
//! three forms of `fixtures/cases/atoml-three-forms` beside a foreign (ORAS-style) referrer,
//! then `discover` lists all of them, foreign marked, and `pull` fetches one, verified.

use std::process::Command;

use cnb_artifacts_conformance::provider::seed::seed_app_image;
use cnb_artifacts_conformance::registry_view::RegistryView;
use cnb_artifacts_core::canonical;
use cnb_artifacts_core::media_types::{OCI_EMPTY, OCI_INDEX, OCI_MANIFEST};
use cnb_artifacts_core::reference::Digest;
use serde_json::{json, Value};

use crate::support::{bin, copy_fixture, run, run_failing};

const APP: &str = "team/app";
const WASM: &[u8] = include_bytes!("../../fixtures/cases/atoml-three-forms/layers/examples_wasm/revision/m.wasm");

/// Pushes an ORAS-style referrer of `subject` and a fallback index listing it.
async fn push_foreign_referrer(host: &str, subject: &cnb_artifacts_core::plan::Subject) {
    let view = RegistryView::new(host, true).unwrap();
    let empty = view.push_blob(APP, b"{}").await.unwrap();
    let content = b"sbom by another tool\n";
    let content_digest = view.push_blob(APP, content).await.unwrap();
    let manifest = canonical::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": "application/spdx+json",
        "config": {"mediaType": OCI_EMPTY, "digest": empty.to_string(), "size": 2},
        "layers": [{"mediaType": "application/spdx+json", "digest": content_digest.to_string(), "size": content.len(),
                    "annotations": {"org.opencontainers.image.title": "../../escape.spdx.json"}}],
        "subject": subject,
        "annotations": {"org.opencontainers.image.created": "2024-01-01T00:00:00Z", "com.example.tool": "oras\u{1b}[31m"},
    }))
    .unwrap();
    let digest = Digest::of(&manifest);
    view.push_manifest(APP, digest.as_str(), OCI_MANIFEST, &manifest).await.unwrap();
    let index = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {"mediaType": OCI_MANIFEST, "digest": digest.to_string(), "size": manifest.len(), "artifactType": "application/spdx+json"}]});
    view.push_manifest(APP, &subject.digest.referrers_tag(), OCI_INDEX, &serde_json::to_vec(&index).unwrap()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn discover_lists_every_form_and_foreign_entries_and_pull_verifies() {
    let Some(registry) = crate::support::registry("discover_lists_every_form_and_foreign_entries_and_pull_verifies").await else {
        return;
    };
    let host = registry.host.clone();
    let subject = seed_app_image(&registry, APP, &["1.0".to_string()]).await.unwrap();
    push_foreign_referrer(&host, &subject).await;
    let fixture = copy_fixture("cases/atoml-three-forms");
    let image = format!("{host}/{APP}:1.0");
    run(Command::new(bin()).args(["publish", "--layers-dir"]).arg(fixture.path().join("layers")).args(["--image", &image]));

    let listing = run(Command::new(bin()).args(["discover", &image, "--format", "json"]));
    let listing: Value = serde_json::from_slice(&listing.stdout).unwrap();
    assert_eq!(listing["source"], "fallback-tag");
    let artifacts = listing["artifacts"].as_array().unwrap();
    assert_eq!(artifacts.len(), 5, "{listing:#}");
    let foreign: Vec<&Value> = artifacts.iter().filter(|a| a["foreign"] == true).collect();
    assert_eq!(foreign.len(), 1);
    let mut tags: Vec<&str> = artifacts.iter().flat_map(|a| a["tags"].as_array().unwrap()).map(|t| t.as_str().unwrap()).collect();
    tags.sort();
    assert_eq!(tags, ["1.0-current", "1.0-revision", "1.0-revision-raw", "1.0-rfc"]);

    let text = run(Command::new(bin()).args(["discover", &image]));
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(text.contains("(foreign)"), "{text}");
    assert!(!text.contains('\u{1b}'), "control characters from the registry are escaped: {text}");

    let wasm = run(Command::new(bin()).args(["discover", &image, "--type", "wasm", "--format", "json"]));
    let wasm: Value = serde_json::from_slice(&wasm.stdout).unwrap();
    assert_eq!(wasm["artifacts"].as_array().unwrap().len(), 2, "the current form's and artifacts.toml's wasm presets");

    // Several matches, then one, then none.
    let out = tempfile::tempdir().unwrap();
    let several = run_failing(Command::new(bin()).args(["pull", &image, "--type", "wasm", "-o"]).arg(out.path()));
    assert!(String::from_utf8_lossy(&several.stderr).contains("2 artifacts of"), "{several:?}");
    let one = run(Command::new(bin())
        .args(["pull", &image, "--type", "wasm", "--annotation", "io.buildpacks.artifact.layer=revision", "-o"])
        .arg(out.path()));
    assert_eq!(std::fs::read(out.path().join("m.wasm")).unwrap(), WASM, "{one:?}");
    let none = run_failing(Command::new(bin()).args(["pull", &image, "--type", "application/spdx+json", "-o"]).arg(out.path()));
    assert!(String::from_utf8_lossy(&none.stderr).contains("no artifact of"), "foreign entries are never pulled: {none:?}");
    assert!(!out.path().join("../../escape.spdx.json").exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn discover_and_pull_use_the_referrers_api_when_the_registry_has_one() {
    use cnb_artifacts_conformance::provider::quirks::referrers_api::ReferrersApi;
    use cnb_artifacts_conformance::provider::quirks::{Proxy, ProxyOptions};
    let Some(registry) = crate::support::registry("discover_and_pull_use_the_referrers_api_when_the_registry_has_one").await else {
        return;
    };
    let proxy = Proxy::start(&registry.host, ReferrersApi::default(), ProxyOptions::default()).await.unwrap();
    let host = proxy.host();
    seed_app_image(&registry, APP, &["1.0".to_string()]).await.unwrap();
    let fixture = copy_fixture("cases/atoml-revision-example");
    let image = format!("{host}/{APP}:1.0");
    run(Command::new(bin()).args(["publish", "--layers-dir"]).arg(fixture.path().join("layers")).args(["--image", &image]));

    let listing = run(Command::new(bin()).args(["discover", &image, "--format", "json"]));
    let listing: Value = serde_json::from_slice(&listing.stdout).unwrap();
    assert_eq!(listing["source"], "referrers-api", "{listing:#}");
    let artifacts = listing["artifacts"].as_array().unwrap();
    assert_eq!(artifacts.len(), 1, "{listing:#}");
    assert_eq!(artifacts[0]["artifactType"], "application/vnd.wasm.config.v1+json");
    assert_eq!(artifacts[0]["tags"], json!(["wasm"]));

    let out = tempfile::tempdir().unwrap();
    run(Command::new(bin()).args(["pull", &image, "--type", "application/vnd.wasm.config.v1+json", "-o"]).arg(out.path()));
    let pulled = std::fs::read(out.path().join("mywasmprogram.wasm")).unwrap();
    let published = std::fs::read(fixture.path().join("layers/examples_wasm/wasm/mywasmprogram.wasm")).unwrap();
    assert_eq!(pulled, published);
}

#[tokio::test(flavor = "multi_thread")]
async fn discover_follows_the_pages_of_a_referrers_listing() {
    use cnb_artifacts_conformance::provider::quirks::referrers_api::ReferrersApi;
    use cnb_artifacts_conformance::provider::quirks::{Proxy, ProxyOptions};
    let Some(registry) = crate::support::registry("discover_follows_the_pages_of_a_referrers_listing").await else {
        return;
    };
    let proxy = Proxy::start(&registry.host, ReferrersApi::paginated(1), ProxyOptions::default()).await.unwrap();
    seed_app_image(&registry, APP, &["1.0".to_string()]).await.unwrap();
    let fixture = copy_fixture("cases/atoml-three-forms");
    let image = format!("{}/{APP}:1.0", proxy.host());
    run(Command::new(bin()).args(["publish", "--layers-dir"]).arg(fixture.path().join("layers")).args(["--image", &image]));

    let listing = run(Command::new(bin()).args(["discover", &image, "--format", "json"]));
    let listing: Value = serde_json::from_slice(&listing.stdout).unwrap();
    assert_eq!(listing["source"], "referrers-api", "{listing:#}");
    assert_eq!(listing["artifacts"].as_array().unwrap().len(), 4, "one artifact per page, every page read: {listing:#}");
}

/// Pushes an artifact that claims to be of this spec (it has `io.buildpacks.artifact.layer`)
/// with one layer titled `title` whose descriptor states `size`, listed in the fallback index.
async fn push_crafted_artifact(host: &str, subject: &cnb_artifacts_core::plan::Subject, title: &str, size: usize) {
    let view = RegistryView::new(host, true).unwrap();
    let empty = view.push_blob(APP, b"{}").await.unwrap();
    let content = b"crafted content\n";
    let content_digest = view.push_blob(APP, content).await.unwrap();
    let manifest = canonical::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": "application/vnd.example.crafted",
        "config": {"mediaType": OCI_EMPTY, "digest": empty.to_string(), "size": 2},
        "layers": [{"mediaType": "application/octet-stream", "digest": content_digest.to_string(), "size": size,
                    "annotations": {"org.opencontainers.image.title": title}}],
        "subject": subject,
        "annotations": {"io.buildpacks.artifact.layer": "crafted", "io.buildpacks.artifact.buildpack.id": "evil/bp"},
    }))
    .unwrap();
    let digest = Digest::of(&manifest);
    view.push_manifest(APP, digest.as_str(), OCI_MANIFEST, &manifest).await.unwrap();
    let index = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {"mediaType": OCI_MANIFEST, "digest": digest.to_string(), "size": manifest.len()}]});
    view.push_manifest(APP, &subject.digest.referrers_tag(), OCI_INDEX, &serde_json::to_vec(&index).unwrap()).await.unwrap();
}

#[rstest::rstest]
#[case::escaping_title("../escaped.txt", 16, "is not a safe relative path inside the output directory")]
#[case::absolute_title("/tmp/absolute.txt", 16, "is not a safe relative path inside the output directory")]
#[case::blob_longer_than_its_descriptor("ok.txt", 4, "is larger than the 4 bytes its descriptor states")]
#[case::blob_shorter_than_its_descriptor("ok.txt", 17, "does not match its digest")]
#[tokio::test(flavor = "multi_thread")]
async fn pull_refuses_what_a_registry_must_not_make_it_write(#[case] title: &str, #[case] size: usize, #[case] error: &str) {
    let Some(registry) = crate::support::registry("pull_refuses_what_a_registry_must_not_make_it_write").await else {
        return;
    };
    let subject = seed_app_image(&registry, APP, &["1.0".to_string()]).await.unwrap();
    push_crafted_artifact(&registry.host, &subject, title, size).await;
    let image = format!("{}/{APP}:1.0", registry.host);
    let parent = tempfile::tempdir().unwrap();
    let out = parent.path().join("out");
    let failed = run_failing(Command::new(bin()).args(["pull", &image, "--buildpack", "evil/bp", "-o"]).arg(&out));
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert!(stderr.contains(error), "{stderr}");
    assert!(!parent.path().join("escaped.txt").exists());
    let left: Vec<_> = std::fs::read_dir(&out).map(|d| d.map(|e| e.unwrap().file_name()).collect()).unwrap_or_default();
    assert!(left.is_empty(), "nothing is left in the output directory: {left:?}");
}

/// Writes `<layers>/<dir>/<file>` with `bytes`, creating directories.
fn put(layers: &std::path::Path, path: &str, bytes: &[u8]) {
    let path = layers.join(path);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn discover_and_pull_round_trip_every_preset() {
    let Some(registry) = crate::support::registry("discover_and_pull_round_trip_every_preset").await else {
        return;
    };
    // The chart goes to its default repository `<app>/<chart>` (R-PRESET-4), where only
    // `--repository` finds it: referrers are listed per repository.
    let app = "team/app";
    let chart_repository = "team/app/hello";
    seed_app_image(&registry, app, &["1.0".to_string()]).await.unwrap();
    let fixtures = crate::support::fixtures_dir();
    let chart = std::fs::read(fixtures.join("charts/hello-0.1.0.tgz")).unwrap();
    let report = std::fs::read(fixtures.join("cases/junit/layers/examples_tests/reports/junit.xml")).unwrap();
    let layers = tempfile::tempdir().unwrap();
    let l = layers.path();
    put(
        l,
        "acme_app/module.toml",
        b"[types]\nlaunch = false\n[additionalArtifact]\ntype = \"wasm\"\nfile = \"m.wasm\"\ntag = \"${build.tag}-wasm\"\n",
    );
    put(l, "acme_app/module/m.wasm", WASM);
    put(l, "acme_app/chart/artifacts.toml", b"[[artifact]]\ntype = \"helm\"\nfile = \"hello-0.1.0.tgz\"\n");
    put(l, "acme_app/chart/hello-0.1.0.tgz", &chart);
    put(
        l,
        "acme_app/tests/artifacts.toml",
        b"[[artifact]]\ntype = \"junit\"\nfile = \"reports/junit.xml\"\ntag = \"${build.tag}-tests\"\n",
    );
    put(l, "acme_app/tests/reports/junit.xml", &report);
    put(l, "acme_app/notes/artifacts.toml", b"[[artifact]]\nfiles = [\"a.txt\", \"sub/b.txt\"]\ntag = \"${build.tag}-notes\"\n");
    put(l, "acme_app/notes/a.txt", b"a\n");
    put(l, "acme_app/notes/sub/b.txt", b"b\n");
    let image = format!("{}/{app}:1.0", registry.host);
    run(Command::new(bin()).args(["publish", "--layers-dir"]).arg(l).args(["--image", &image]));

    let listing = run(Command::new(bin()).args(["discover", &image, "--format", "json"]));
    let listing: Value = serde_json::from_slice(&listing.stdout).unwrap();
    assert_eq!(listing["artifacts"].as_array().unwrap().len(), 3, "the chart is not in the app's repository: {listing:#}");
    let listing = run(Command::new(bin()).args([
        "discover",
        &image,
        "--repository",
        chart_repository,
        "--repository",
        "team/nowhere",
        "--format",
        "json",
    ]));
    let listing: Value = serde_json::from_slice(&listing.stdout).unwrap();
    assert_eq!(listing["artifacts"].as_array().unwrap().len(), 4, "{listing:#}");
    let searched: Vec<(&str, bool)> = listing["repositories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["repository"].as_str().unwrap(), r["subjectPresent"].as_bool().unwrap()))
        .collect();
    assert_eq!(searched, [(app, true), (chart_repository, true), ("team/nowhere", false)]);
    let helm: Vec<&Value> = listing["artifacts"].as_array().unwrap().iter().filter(|a| a["repository"] == chart_repository).collect();
    assert_eq!(helm.len(), 1, "{listing:#}");
    assert_eq!(helm[0]["tags"], json!(["0.1.0"]), "the chart's default tag is its version, in its own repository");
    let bad = run_failing(Command::new(bin()).args(["discover", &image, "--repository", "Team/App"]));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("not a valid repository path"), "{bad:?}");
    let junit = run(Command::new(bin()).args(["discover", &image, "--type", "junit", "--format", "json"]));
    let junit: Value = serde_json::from_slice(&junit.stdout).unwrap();
    assert_eq!(junit["artifacts"][0]["config"]["mediaType"], "application/vnd.buildpacks.test-results.config.v1+json");

    for (preset, files) in [
        ("wasm", vec![("m.wasm", WASM.to_vec())]),
        ("helm", vec![("hello-0.1.0.tgz", chart.clone())]),
        ("junit", vec![("reports/junit.xml", report.clone())]),
        ("generic", vec![("a.txt", b"a\n".to_vec()), ("sub/b.txt", b"b\n".to_vec())]),
    ] {
        let out = tempfile::tempdir().unwrap();
        run(Command::new(bin()).args(["pull", &image, "--repository", chart_repository, "--type", preset, "-o"]).arg(out.path()));
        for (name, bytes) in files {
            assert_eq!(std::fs::read(out.path().join(name)).unwrap(), bytes, "{preset}: {name}");
        }
    }
}
