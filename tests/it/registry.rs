//! Tests of `cnb_artifacts_conformance::provider`: each provider starts a registry that passes the health
//! check, takes the deterministic app image and serves it back byte for byte, and leaves
//! nothing behind once dropped; external URLs that do not work fail with clear errors.

use std::time::Instant;

use cnb_artifacts_conformance::provider::container::{owner, KEPT_PREFIX, OWNER_LABEL};
use cnb_artifacts_conformance::provider::seed::{app_image, fetch_manifest, list_tags, seed_app_image, APP_IMAGE_DIGEST};
use cnb_artifacts_conformance::provider::{self, Provider, ProviderError, RunningRegistry};
use cnb_artifacts_core::media_types::OCI_MANIFEST;
use rstest::rstest;
use testcontainers::bollard::query_parameters::ListContainersOptionsBuilder;
use testcontainers::bollard::Docker;

/// Seeds the app image twice and reads it back: same digest, same bytes, both tags listed.
async fn seed_and_read_back(registry: &RunningRegistry) {
    let repository = "app/seeded";
    let first = seed_app_image(registry, repository, &["v1".to_string()]).await.expect("first seeding");
    let second = seed_app_image(registry, repository, &["v2".to_string()]).await.expect("second seeding");
    assert_eq!(first, second, "seeding twice gave different subjects");
    assert_eq!(first.digest.as_str(), APP_IMAGE_DIGEST);
    assert_eq!(first.size, app_image().manifest.len() as u64);

    for reference in ["v1", "v2", APP_IMAGE_DIGEST] {
        let fetched = fetch_manifest(registry, repository, reference).await.expect("fetching the manifest");
        assert_eq!(fetched.bytes, app_image().manifest, "manifest {reference} not byte-identical");
        assert_eq!(fetched.content_type, OCI_MANIFEST);
        assert_eq!(fetched.digest, first.digest);
    }
    assert_eq!(list_tags(registry, repository).await.expect("listing tags"), vec!["v1", "v2"]);
}

/// The container IDs of every container with `id` (running or not).
async fn containers_with_id(id: &str) -> Vec<String> {
    let docker = Docker::connect_with_local_defaults().expect("a Docker client");
    let filters = std::collections::HashMap::from([("id", vec![id])]);
    let options = ListContainersOptionsBuilder::new().all(true).filters(&filters).build();
    let found = docker.list_containers(Some(options)).await.expect("listing containers");
    found.into_iter().filter_map(|c| c.id).collect()
}

/// True while a process with `pid` exists.
fn process_exists(pid: u32) -> bool {
    // SAFETY: kill with signal 0 only checks that the process exists.
    unsafe { libc::kill(pid as libc::pid_t, 0) == 0 }
}

#[rstest]
#[case::container(Provider::Container)]
#[case::process(Provider::Process)]
#[tokio::test]
async fn provider_starts_serves_and_cleans_up(#[case] provider: Provider) {
    let started = Instant::now();
    let registry = require_registry!(&provider);
    eprintln!("{provider} registry at {} started in {:?} (version {:?})", registry.host, started.elapsed(), registry.version);
    assert!(registry.host.starts_with("127.0.0.1:"), "{}", registry.host);
    assert!(registry.insecure);
    assert!(registry.version.as_deref().is_some_and(|v| v.starts_with("2.")), "{:?}", registry.version);
    registry.health_check().await.expect("health check");
    seed_and_read_back(&registry).await;

    match provider {
        Provider::Container => {
            let id = registry.container_id().expect("a container registry has an ID").to_string();
            assert_eq!(containers_with_id(&id).await, vec![id.clone()]);
            drop(registry);
            assert!(containers_with_id(&id).await.is_empty(), "container {id} still exists after drop");
        }
        Provider::Process => {
            let (pid, dir) = registry.process().map(|(pid, dir)| (pid, dir.to_path_buf())).expect("a process registry");
            assert!(process_exists(pid) && dir.join("storage").is_dir());
            drop(registry);
            assert!(!process_exists(pid), "registry process {pid} still runs after drop");
            assert!(!dir.exists(), "{} still exists after drop", dir.display());
        }
        Provider::External(_) => unreachable!("only the two local providers are cases"),
    }
}

#[tokio::test]
async fn default_registry_passes_health_check() {
    // The provider `$CNB_ARTIFACTS_TEST_REGISTRY` names, or the detected default.
    let registry = require_registry!();
    registry.health_check().await.expect("health check");
}

#[test]
fn container_registry_dropped_outside_any_runtime_is_removed() {
    let provider = Provider::Container;
    if !crate::support::provider_available(&test_name!(), &provider) {
        return;
    }
    let runtime = || tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let registry = runtime().block_on(provider::start(&provider)).expect("starting a container registry");
    let id = registry.container_id().unwrap().to_string();
    drop(registry); // no runtime here: the guard makes one
    assert!(runtime().block_on(containers_with_id(&id)).is_empty(), "container {id} still exists after drop");
}

#[tokio::test]
async fn unreachable_external_registry_fails_health_check_naming_the_url() {
    // A port that was free a moment ago: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("http://127.0.0.1:{port}");
    let registry = provider::start(&url.parse().unwrap()).await.expect("an external registry is only named");
    let err = registry.health_check().await.expect_err("nothing listens there");
    assert!(matches!(err, ProviderError::Unreachable { .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.contains(&format!("{url}/v2/")) && message.contains("unreachable"), "{message}");
}

#[tokio::test]
async fn external_registry_answering_404_fails_health_check_with_the_answer() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut request = [0u8; 1024];
        let _ = socket.read(&mut request).await.unwrap();
        let body = "not a registry";
        let answer = format!("HTTP/1.1 404 Not Found\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len());
        socket.write_all(answer.as_bytes()).await.unwrap();
    });
    let registry = provider::start(&url.parse().unwrap()).await.unwrap();
    let message = registry.health_check().await.expect_err("a 404 is no registry").to_string();
    assert!(message.contains(&format!("{url}/v2/")) && message.contains("404") && message.contains("not a registry"), "{message}");
    server.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn container_of_a_killed_owner_is_reaped_and_a_kept_one_is_not() {
    let provider = Provider::Container;
    let kept = require_registry!(&provider);
    let kept_id = kept.container_id().unwrap().to_string();
    let description = kept.keep().await;
    assert!(description.contains(KEPT_PREFIX) && description.contains("docker rm -f"), "{description}");

    // An orphan: a registry container whose owner label names a process that is gone.
    let docker = Docker::connect_with_local_defaults().unwrap();
    let orphan = {
        use testcontainers::runners::AsyncRunner;
        use testcontainers::{GenericImage, ImageExt};
        let dead_owner = format!("{}/{}/0", owner::hostname(), std::process::id());
        let container = GenericImage::new(provider::image::IMAGE_NAME, provider::image::IMAGE_TAG)
            .with_label(OWNER_LABEL, dead_owner)
            .start()
            .await
            .expect("starting the orphan");
        let id = container.id().to_string();
        std::mem::forget(container); // as if its owner had been killed
        id
    };
    // (Another test starting a registry meanwhile may reap it already: no check in between.)

    let fresh = require_registry!(&provider);
    assert!(containers_with_id(&orphan).await.is_empty(), "orphan {orphan} was not reaped");
    assert_eq!(containers_with_id(&kept_id).await, vec![kept_id.clone()], "the kept container was reaped");
    drop(fresh);

    let options = testcontainers::bollard::query_parameters::RemoveContainerOptionsBuilder::new().force(true).v(true).build();
    docker.remove_container(&kept_id, Some(options)).await.expect("removing the kept container");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kept_process_registry_keeps_running_and_its_directory() {
    let provider = Provider::Process;
    let registry = require_registry!(&provider);
    let (pid, dir) = registry.process().map(|(pid, dir)| (pid, dir.to_path_buf())).unwrap();
    let description = registry.keep().await;
    assert!(description.contains(&pid.to_string()) && description.contains(&dir.display().to_string()), "{description}");
    assert!(process_exists(pid) && dir.is_dir());
    // Clean up by hand what was kept.
    // SAFETY: SIGKILL to the registry process this test started.
    unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Env variable that makes [`helper_hold_registry_until_killed`] do its work.
const HELPER_ENV: &str = "CNB_ARTIFACTS_TEST_HOLD_REGISTRY";

/// Not a test by itself: run by [`registry_of_a_killed_test_process_does_not_outlive_it`] in a
/// child process, which it then kills. Starts a registry of the provider in `$HELPER_ENV`,
/// prints `READY <pid or container id> <dir>`, and waits to be killed.
#[tokio::test]
#[ignore = "a helper run by another test in a child process"]
async fn helper_hold_registry_until_killed() {
    let Ok(provider) = std::env::var(HELPER_ENV) else {
        return;
    };
    let registry = provider::start(&provider.parse().unwrap()).await.expect("starting the registry");
    match (registry.container_id(), registry.process()) {
        (Some(id), _) => println!("READY {id} -"),
        (_, Some((pid, dir))) => println!("READY {pid} {}", dir.display()),
        _ => unreachable!("a started registry is a container or a process"),
    }
    use std::io::Write;
    std::io::stdout().flush().unwrap();
    tokio::time::sleep(std::time::Duration::from_secs(60)).await;
}

#[rstest]
#[case::container(Provider::Container)]
#[case::process(Provider::Process)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_of_a_killed_test_process_does_not_outlive_it(#[case] provider: Provider) {
    use std::io::BufRead;
    if !crate::support::provider_available(&test_name!(), &provider) {
        return;
    }
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["registry::helper_hold_registry_until_killed", "--exact", "--ignored", "--nocapture"])
        .env(HELPER_ENV, provider.to_string())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let ready = stdout.lines().map_while(Result::ok).find(|line| line.starts_with("READY "));
    let ready = ready.unwrap_or_else(|| panic!("the helper never said READY: {:?}", child.wait()));
    let fields: Vec<&str> = ready.split(' ').collect();
    child.kill().unwrap(); // SIGKILL: no destructor runs in the helper
    child.wait().unwrap();

    match provider {
        Provider::Container => {
            let id = fields[1].to_string();
            assert_eq!(containers_with_id(&id).await, vec![id.clone()], "the container should outlive the kill");
            // The next start reaps it.
            let next = require_registry!(&provider);
            assert!(containers_with_id(&id).await.is_empty(), "container {id} of a killed owner was not reaped");
            drop(next);
        }
        Provider::Process => {
            let pid: u32 = fields[1].parse().unwrap();
            let deadline = Instant::now() + std::time::Duration::from_secs(5);
            // The registry becomes a zombie of init (or a subreaper) until reaped: "gone" means
            // no longer running, read from /proc.
            let running = |pid: u32| {
                std::fs::read_to_string(format!("/proc/{pid}/stat"))
                    .map(|stat| !stat.rsplit(')').next().unwrap_or("").trim_start().starts_with('Z'))
                    .unwrap_or(false)
            };
            while running(pid) && Instant::now() < deadline {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            assert!(!running(pid), "registry process {pid} survived the SIGKILL of its parent");
            // Its temp dir cannot be removed by a killed parent: clean up after the helper.
            std::fs::remove_dir_all(fields[2]).unwrap();
        }
        Provider::External(_) => unreachable!("only the two local providers are cases"),
    }
}
