//! `conformance run --registry URL` against a registry the test starts and hands over as if it
//! were a user's own: the run's header names what the registry's `/v2/` answer announced, and
//! at its end the run deletes what it pushed where the registry allows deletion (the default
//! test registry: Distribution with deletion enabled), or says in one line what is left where
//! it does not (a `docker-registry` process whose configuration turns deletion off).

use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use cnb_artifacts_conformance::provider::{process, Provider, CONFIG_YML, HEALTH_CHECK_BLOB, HEALTH_CHECK_REPO};
use cnb_artifacts_conformance::registry_view::RegistryView;
use cnb_artifacts_core::reference::Digest;
use serde_json::Value;

use crate::conformance::{code, conformance, json};
use crate::support::report;

/// A few cases that publish (tags, a fallback index, files), set up foreign images and
/// reject (so something is pushed before the implementation runs).
const CASES: [&str; 4] = ["files-multiple-in-order", "fallback-tag-holds-image", "foreign-tag-overwrite", "own-artifact-tag-moves"];

/// Runs `CASES` against `url` as an external registry; the command, its output and results.json.
async fn run_against(url: String, cases: &[&'static str]) -> (Command, Output, Value) {
    let cases = cases.to_vec();
    tokio::task::spawn_blocking(move || {
        let dir = tempfile::tempdir().unwrap();
        let json_path = dir.path().join("results.json");
        let mut args = vec!["run", "--registry", url.as_str(), "--json", json_path.to_str().unwrap()];
        for case in &cases {
            args.extend(["--filter", case]);
        }
        let (cmd, output) = conformance(&args);
        assert_eq!(code(&output), 0, "{}", report(&cmd, &output));
        let results = json(&json_path);
        (cmd, output, results)
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_external_run_deletes_what_it_pushed_where_the_registry_allows_deletion() {
    let registry = require_registry!();
    let url = registry.url();
    let (cmd, output, results) = run_against(url.clone(), &CASES).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let said = report(&cmd, &output);
    assert!(stdout.contains(&format!("registry: {url} (external, Docker-Distribution-API-Version registry/2.0)")), "{said}");
    assert!(stdout.contains("registry cleaned up: deleted "), "{said}");

    let view = RegistryView::new(&registry.host, true).unwrap();
    let mut checked = 0;
    let mut prefix = None;
    for case in results["cases"].as_array().expect("cases") {
        let namespace = case["namespace"].as_str().expect("namespace");
        prefix.get_or_insert_with(|| namespace.split('/').next().unwrap().to_string());
        for (reference, digest) in case["found"].as_object().expect("found") {
            let (repo, _tag) = reference.rsplit_once(':').unwrap();
            let manifest = view.manifest(repo, digest.as_str().unwrap()).await.unwrap();
            assert!(manifest.is_none(), "{repo}@{digest} is still there after the run\n{said}");
            checked += 1;
        }
    }
    assert!(checked >= CASES.len(), "the run found only {checked} tagged manifests: nothing to prove deleted\n{said}");
    let prefix = format!("{}/", prefix.expect("a case namespace"));
    let repos: Vec<String> =
        view.catalog().await.unwrap().into_iter().filter(|r| r.starts_with(&prefix) || r == HEALTH_CHECK_REPO).collect();
    assert!(repos.len() > 1, "the catalog lists none of the run's repositories: {repos:?}");
    for repo in &repos {
        assert_eq!(view.tags(repo).await.unwrap(), Vec::<String>::new(), "{repo} still has tags after the run\n{said}");
    }
    let health = Digest::of(HEALTH_CHECK_BLOB);
    assert!(!view.blob_exists(HEALTH_CHECK_REPO, &health).await.unwrap(), "the health check's blob is still there\n{said}");
}

/// A `docker-registry` process on a free loopback port whose configuration does not allow
/// deletion; killed when dropped.
struct NoDeleteRegistry {
    child: Child,
    host: String,
    _dir: tempfile::TempDir,
}

impl Drop for NoDeleteRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start_without_deletion() -> NoDeleteRegistry {
    let binary = process::find_binary().expect("docker-registry");
    let dir = tempfile::tempdir().unwrap();
    let config = CONFIG_YML.replace("  delete:\n    enabled: true", "  delete:\n    enabled: false");
    assert_ne!(config, CONFIG_YML, "ci/registry/config.yml no longer enables deletion as this test expects");
    std::fs::write(dir.path().join("config.yml"), config).unwrap();
    let host = format!("127.0.0.1:{}", std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port());
    let child = Command::new(binary)
        .arg("serve")
        .arg(dir.path().join("config.yml"))
        .env("REGISTRY_HTTP_ADDR", &host)
        .env("REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY", dir.path().join("storage"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let registry = NoDeleteRegistry { child, host, _dir: dir };
    let http = reqwest::Client::new();
    let started = Instant::now();
    while http.get(format!("http://{}/v2/", registry.host)).send().await.is_err() {
        assert!(started.elapsed() < Duration::from_secs(20), "docker-registry did not answer at {}", registry.host);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    registry
}

#[tokio::test(flavor = "multi_thread")]
async fn an_external_run_says_what_is_left_where_the_registry_does_not_allow_deletion() {
    if !crate::conformance::available(&Provider::Process) {
        return;
    }
    let registry = start_without_deletion().await;
    let (cmd, output, results) = run_against(format!("http://{}", registry.host), &CASES[..1]).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let prefix = results["cases"][0]["namespace"].as_str().expect("namespace").split('/').next().unwrap().to_string();
    let line = format!(
        "registry NOT cleaned up: it does not allow deletion (DELETE answered 405 UNSUPPORTED); remove the repositories \
         under {prefix}/ and in {HEALTH_CHECK_REPO} yourself"
    );
    assert!(stdout.contains(&line), "expected the line\n{line}\n{}", report(&cmd, &output));
    assert_eq!(results["cleanup"].as_str(), Some(line.as_str()));
}
