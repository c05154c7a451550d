//! The multi-artifact publish the fault and quirk tests run, and a view of what the registry
//! holds.
//!
//! The scenario, per namespace `<ns>`: the app image in `<ns>/app` tagged `1.0` and `latest`;
//! one layer declaring three artifacts, each tagged `${build.tag}-<name>` (so twice): `wasm`
//! and `notes` in `<ns>/app`, `bundle` (both files) in `<ns>/modules`, whose blobs are mounted
//! from `<ns>/app`. Distribution 2.8 has no referrers API, so each repository gets a fallback
//! index. Manifests do not name the registry or the namespace, so every namespace ends with the
//! same manifest digests: a [`State`] is keyed by repository *relative to the namespace*.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use cnb_artifacts_conformance::provider::seed::{app_image, seed_app_image};
use cnb_artifacts_core::media_types::{OCI_INDEX, OCI_MANIFEST};
use cnb_artifacts_core::plan::{BuildContext, Plan, PlanOptions, Subject};
use cnb_artifacts_core::publish::client::TransportOptions;
use cnb_artifacts_core::publish::retry::RetryPolicy;
use cnb_artifacts_core::publish::{publish, PublishError, PublishOptions, PublishReport, RegistryTarget};
use cnb_artifacts_core::reference::Digest;
use futures_util::future::join_all;
use oci_client::secrets::RegistryAuth;
use serde_json::Value;
use tempfile::TempDir;
use tokio::sync::OnceCell;

use crate::support::Registry;

/// The app image's tags; the first is the reference's own.
pub const APP_TAGS: [&str; 2] = ["1.0", "latest"];
/// Repositories of a scenario, relative to its namespace.
pub const REPOSITORIES: [&str; 2] = ["app", "modules"];

const WASM: &[u8] = b"\0asm\x01\0\0\0 fault injection module";
const NOTES: &[u8] = b"release notes\n";

/// The layer TOML of the scenario in namespace `ns`: three artifacts, two tags each.
pub fn tools_toml(ns: &str) -> String {
    format!(
        "[[additionalArtifact]]\nfile = \"m.wasm\"\ntag = \"${{build.tag}}-wasm\"\n\n\
         [[additionalArtifact]]\nfile = \"notes.txt\"\ntag = \"${{build.tag}}-notes\"\n\n\
         [[additionalArtifact]]\nfiles = [\"m.wasm\", \"notes.txt\"]\nrepository = \"{ns}/modules\"\ntag = \"${{build.tag}}-bundle\"\n"
    )
}

/// Tag -> manifest digest.
pub type Tags = BTreeMap<String, Digest>;
/// Repository (relative to the namespace) -> its tags.
pub type State = BTreeMap<String, Tags>;

/// Retries that keep a sweep fast: 3 attempts, waits of at most 5 ms.
pub fn fast_retries() -> RetryPolicy {
    RetryPolicy { max_attempts: 3, base_delay: Duration::from_millis(1), max_delay: Duration::from_millis(5) }
}

/// An anonymous client of the registry (or proxy) at `host`.
pub async fn connect(host: &str, retry: RetryPolicy) -> RegistryTarget {
    let transport = TransportOptions { retry, ..TransportOptions::default() };
    RegistryTarget::with_auth(host, &transport, RegistryAuth::Anonymous).await.unwrap()
}

/// One namespace with the app image seeded and a layers dir declaring its artifacts.
pub struct Scenario {
    pub ns: String,
    pub subject: Subject,
    layers: TempDir,
    /// The choices [`Scenario::plan`] plans with.
    plan_options: PlanOptions,
}

impl Scenario {
    /// Seeds the app image into `<ns>/app` (straight to the registry, see
    /// [`RegistryView::seed_app_image`]) and writes the layers dir.
    pub async fn new(registry: &Registry, view: &RegistryView, ns: &str) -> Scenario {
        let scenario = Scenario::empty(registry, view, ns).await;
        scenario.write_layer("acme_tools", "tools", &tools_toml(ns), &[("m.wasm", WASM), ("notes.txt", NOTES)]);
        scenario
    }

    /// Like [`Scenario::new`], with an empty layers dir to fill with [`Scenario::write_layer`].
    pub async fn empty(registry: &Registry, view: &RegistryView, ns: &str) -> Scenario {
        let subject = view.seed_app_image(registry, ns).await;
        let layers = tempfile::tempdir().unwrap();
        Scenario { ns: ns.to_string(), subject, layers, plan_options: PlanOptions::default() }
    }

    /// This scenario with files of at least `min` bytes sent in one pass (R-PUSH-11).
    pub fn single_pass_from(self, min: u64) -> Scenario {
        Scenario { plan_options: PlanOptions { single_pass_min_size: Some(min) }, ..self }
    }

    /// Writes (or rewrites) `<layers>/<bp_dir>/<layer>.toml` and the layer's files.
    pub fn write_layer(&self, bp_dir: &str, layer: &str, toml: &str, files: &[(&str, &[u8])]) {
        let dir = self.layers.path().join(bp_dir).join(layer);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(self.layers.path().join(bp_dir).join(format!("{layer}.toml")), toml).unwrap();
        for (name, bytes) in files {
            std::fs::write(dir.join(name), bytes).unwrap();
        }
    }

    /// The plan for the app image `<host>/<ns>/app:1.0` (also tagged `latest`).
    pub fn plan(&self, host: &str) -> Plan {
        self.plan_with(host, &self.plan_options)
    }

    /// [`Scenario::plan`] with the choices `opts`.
    pub fn plan_with(&self, host: &str, opts: &PlanOptions) -> Plan {
        let ctx = BuildContext {
            image: format!("{host}/{}/app:{}", self.ns, APP_TAGS[0]).parse().unwrap(),
            extra_tags: APP_TAGS[1..].iter().map(|t| t.to_string()).collect(),
            digest: Some(self.subject.digest.clone()),
            manifest_size: Some(self.subject.size),
            manifest_media_type: Some(self.subject.media_type.clone()),
            source_date_epoch: None,
        };
        cnb_artifacts_core::plan::plan_with_options(self.layers.path(), &ctx, &cnb_artifacts_core::plan::NoSeams, opts)
            .unwrap_or_else(|d| panic!("planning failed:\n{d}"))
    }

    /// Publishes through the registry (or proxy) at `host`, in process, anonymously.
    pub async fn publish(&self, host: &str, retry: RetryPolicy, opts: &PublishOptions) -> Result<PublishReport, PublishError> {
        self.publish_to(&connect(host, retry).await, host, opts).await
    }

    /// Publishes with `target`, a client of the registry (or proxy) at `host`.
    pub async fn publish_to(&self, target: &RegistryTarget, host: &str, opts: &PublishOptions) -> Result<PublishReport, PublishError> {
        publish(&self.plan(host), &self.subject, opts, target).await
    }

    /// `registry/<ns>/<repository>:<tag>` as the publisher names tags.
    pub fn reference(&self, host: &str, repository: &str, tag: &str) -> String {
        format!("{host}/{}/{repository}:{tag}", self.ns)
    }
}

/// The tags expected after a complete publish: the app image's, each artifact's two, and the
/// fallback tag in each repository. Digests come from a clean run.
pub fn expected_tag_names(subject: &Subject) -> BTreeMap<&'static str, Vec<String>> {
    let fallback = subject.digest.referrers_tag();
    let per_app = |names: &[&str]| -> Vec<String> {
        let mut tags: Vec<String> = APP_TAGS.iter().flat_map(|t| names.iter().map(move |n| format!("{t}-{n}"))).collect();
        tags.push(fallback.clone());
        tags.sort();
        tags
    };
    let mut app = per_app(&["wasm", "notes"]);
    app.extend(APP_TAGS.iter().map(|t| t.to_string()));
    app.sort();
    BTreeMap::from([("app", app), ("modules", per_app(&["bundle"]))])
}

/// Reads a registry directly (never through a proxy), with one HTTP client.
pub struct RegistryView {
    http: reqwest::Client,
    base: String,
    /// The app image pushed once to [`SEED_REPOSITORY`], mounted from there into each namespace.
    seeded: OnceCell<Subject>,
    /// Manifest bytes by digest (content-addressed, so valid for every repository).
    manifests: Mutex<BTreeMap<Digest, Vec<u8>>>,
}

/// Where the app image is pushed once per registry.
const SEED_REPOSITORY: &str = "seed/app";

const ACCEPT_ALL: &str = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, \
application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json";

impl RegistryView {
    pub fn of(registry: &Registry) -> RegistryView {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
        RegistryView { http, base: registry.url(), seeded: OnceCell::new(), manifests: Mutex::default() }
    }

    /// Puts the app image into `<ns>/app` under [`APP_TAGS`]: its blobs mounted from
    /// [`SEED_REPOSITORY`] (pushed there on the first call), its manifest pushed per tag. Four
    /// requests with one client, so a sweep can afford a fresh namespace per run.
    pub async fn seed_app_image(&self, registry: &Registry, ns: &str) -> Subject {
        let subject = self
            .seeded
            .get_or_init(|| async { seed_app_image(registry, SEED_REPOSITORY, &[]).await.unwrap_or_else(|e| panic!("seeding: {e}")) })
            .await
            .clone();
        let image = app_image();
        let repository = format!("{ns}/app");
        for blob in [&image.layer, &image.config] {
            let url = format!("{}/v2/{repository}/blobs/uploads/?mount={}&from={SEED_REPOSITORY}", self.base, Digest::of(blob));
            let answer = self.http.post(&url).header("Content-Length", "0").send().await.unwrap_or_else(|e| panic!("POST {url}: {e}"));
            assert_eq!(answer.status().as_u16(), 201, "POST {url}");
        }
        for tag in APP_TAGS {
            let url = format!("{}/v2/{repository}/manifests/{tag}", self.base);
            let answer = self
                .http
                .put(&url)
                .header("Content-Type", OCI_MANIFEST)
                .body(image.manifest.clone())
                .send()
                .await
                .unwrap_or_else(|e| panic!("PUT {url}: {e}"));
            assert_eq!(answer.status().as_u16(), 201, "PUT {url}");
        }
        subject
    }

    /// Every tag of every repository of namespace `ns` and the digest of what it holds.
    pub async fn state(&self, ns: &str) -> State {
        let mut state = State::new();
        for repository in REPOSITORIES {
            let tags = self.tags(&format!("{ns}/{repository}")).await;
            if !tags.is_empty() {
                state.insert(repository.to_string(), tags);
            }
        }
        state
    }

    async fn tags(&self, repository: &str) -> Tags {
        let url = format!("{}/v2/{repository}/tags/list", self.base);
        let answer = self.http.get(&url).send().await.unwrap_or_else(|e| panic!("GET {url}: {e}"));
        if answer.status().as_u16() == 404 {
            return Tags::new();
        }
        let list: Value = answer.json().await.unwrap_or_else(|e| panic!("GET {url}: {e}"));
        let names: Vec<String> =
            list["tags"].as_array().map(|a| a.iter().filter_map(|t| t.as_str().map(str::to_string)).collect()).unwrap_or_default();
        let digests = join_all(names.iter().map(|tag| async move {
            let bytes = self.manifest(repository, tag).await.unwrap_or_else(|| panic!("{repository}:{tag} is listed but absent"));
            let digest = Digest::of(&bytes);
            self.manifests.lock().unwrap().insert(digest.clone(), bytes);
            digest
        }))
        .await;
        names.into_iter().zip(digests).collect()
    }

    /// The bytes of the manifest `repository` + `reference`, `None` on 404.
    pub async fn manifest(&self, repository: &str, reference: &str) -> Option<Vec<u8>> {
        let url = format!("{}/v2/{repository}/manifests/{reference}", self.base);
        let answer = self.http.get(&url).header("Accept", ACCEPT_ALL).send().await.unwrap_or_else(|e| panic!("GET {url}: {e}"));
        match answer.status().as_u16() {
            200 => Some(answer.bytes().await.unwrap().to_vec()),
            404 => None,
            other => panic!("GET {url}: HTTP {other}"),
        }
    }

    /// True when `HEAD /v2/<repository>/<kind>/<digest>` answers 200 (`kind`: `blobs` or
    /// `manifests`).
    pub async fn holds(&self, repository: &str, kind: &str, digest: &str) -> bool {
        let url = format!("{}/v2/{repository}/{kind}/{digest}", self.base);
        let answer = self.http.head(&url).header("Accept", ACCEPT_ALL).send().await.unwrap_or_else(|e| panic!("HEAD {url}: {e}"));
        answer.status().as_u16() == 200
    }

    /// What is wrong with the tags of `ns` (as [`RegistryView::state`] read them): a tagged
    /// manifest naming a blob the repository lacks, or an index listing a manifest the
    /// repository does not hold. Empty when everything tagged is complete.
    pub async fn incomplete(&self, ns: &str, state: &State) -> Vec<String> {
        // (repository, `blobs` or `manifests`, digest) -> the first tag that needs it.
        let mut needed: BTreeMap<(String, &str, String), String> = BTreeMap::new();
        for (repository, tags) in state {
            let repository = format!("{ns}/{repository}");
            for (tag, digest) in tags {
                let bytes = self.manifests.lock().unwrap().get(digest).cloned().unwrap_or_default();
                let m: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                let (kind, descriptors): (&str, Vec<&Value>) = if m["mediaType"] == OCI_INDEX {
                    ("manifests", m["manifests"].as_array().into_iter().flatten().collect())
                } else {
                    ("blobs", std::iter::once(&m["config"]).chain(m["layers"].as_array().into_iter().flatten()).collect())
                };
                for d in descriptors {
                    let digest = d["digest"].as_str().unwrap_or_default().to_string();
                    needed.entry((repository.clone(), kind, digest)).or_insert_with(|| tag.clone());
                }
            }
        }
        let held = join_all(needed.keys().map(|(repository, kind, digest)| self.holds(repository, kind, digest))).await;
        needed
            .into_iter()
            .zip(held)
            .filter(|(_, held)| !held)
            .map(|(((repository, kind, digest), tag), _)| format!("{repository}:{tag} needs {kind}/{digest}, which the repository lacks"))
            .collect()
    }
}

/// The tags that differ between two states, as `repository:tag before -> after` lines.
pub fn diff(before: &State, after: &State) -> Vec<String> {
    let none = Tags::new();
    let repositories: std::collections::BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    let mut lines = Vec::new();
    for repository in repositories {
        let (b, a) = (before.get(repository).unwrap_or(&none), after.get(repository).unwrap_or(&none));
        let tags: std::collections::BTreeSet<&String> = b.keys().chain(a.keys()).collect();
        for tag in tags {
            if b.get(tag) != a.get(tag) {
                let show = |d: Option<&Digest>| d.map_or("(none)".to_string(), |d| d.to_string());
                lines.push(format!("{repository}:{tag} {} -> {}", show(b.get(tag)), show(a.get(tag))));
            }
        }
    }
    lines
}
