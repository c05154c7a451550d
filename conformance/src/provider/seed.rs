//! The app image the tests and the conformance runner push first: every artifact names it as
//! its `subject` (R-MAN-6), so its digest appears in every expected manifest.
//!
//! [`app_image`] is a fixed, tiny OCI image: one uncompressed tar layer holding `hello.txt`,
//! an image config naming that layer, and the manifest as fixed bytes. Its bytes, and so its
//! digest, are the same on every run and machine: changing anything here changes every
//! expected digest of the conformance suite ([`APP_IMAGE_DIGEST`] pins it). Besides
//! [`seed_app_image`] this module offers the two reads the tests and the runner need:
//! [`list_tags`] and [`fetch_manifest`].

use std::time::Duration;

use oci_client::secrets::RegistryAuth;
use oci_client::Reference;
use reqwest::header::{HeaderValue, ACCEPT, CONTENT_TYPE};

use super::{shorten, ProviderError, RunningRegistry};
use cnb_artifacts_core::media_types::{DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_INDEX, OCI_MANIFEST};
use cnb_artifacts_core::plan::Subject;
use cnb_artifacts_core::reference::Digest;

/// Media type of the app image's config blob.
pub const OCI_IMAGE_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// Media type of the app image's (uncompressed) layer.
pub const OCI_LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
/// The digest of [`app_image`]'s manifest: the `subject` digest of every conformance case.
pub const APP_IMAGE_DIGEST: &str = "sha256:15141f3dc217214a54c9dd776b7f5101e089c66c04b283f38a29aded55b86d51";

/// The one file of the app image's layer.
const LAYER_FILE: &str = "hello.txt";
const LAYER_CONTENT: &[u8] = b"Hello from cnb-artifacts: this image is the subject of every artifact.\n";

/// The three blobs of the app image, as exact bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppImage {
    pub layer: Vec<u8>,
    pub config: Vec<u8>,
    pub manifest: Vec<u8>,
}

impl AppImage {
    /// The manifest's descriptor: what artifacts name as `subject`.
    pub fn subject(&self) -> Subject {
        Subject { digest: Digest::of(&self.manifest), size: self.manifest.len() as u64, media_type: OCI_MANIFEST.to_string() }
    }
}

/// Builds the app image; the same bytes every time.
pub fn app_image() -> AppImage {
    let layer = layer_tar();
    let layer_digest = Digest::of(&layer);
    // The layer is uncompressed, so its diff ID is its digest.
    let config =
        format!(r#"{{"architecture":"amd64","os":"linux","config":{{}},"rootfs":{{"type":"layers","diff_ids":["{layer_digest}"]}}}}"#)
            .into_bytes();
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"mediaType":"{OCI_IMAGE_CONFIG}","digest":"{}","size":{}}},"layers":[{{"mediaType":"{OCI_LAYER_TAR}","digest":"{layer_digest}","size":{}}}]}}"#,
        Digest::of(&config),
        config.len(),
        layer.len()
    )
    .into_bytes();
    AppImage { layer, config, manifest }
}

/// A ustar archive of [`LAYER_FILE`] with every header field fixed (mode 0644, owner 0:0,
/// mtime 0, no user or group names).
fn layer_tar() -> Vec<u8> {
    let mut header = tar::Header::new_ustar();
    header.set_entry_type(tar::EntryType::Regular);
    header.set_mode(0o644);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(0);
    header.set_size(LAYER_CONTENT.len() as u64);
    let mut tar = tar::Builder::new(Vec::new());
    // Writing into a Vec cannot fail, and the path is a fixed short ASCII name.
    tar.append_data(&mut header, LAYER_FILE, LAYER_CONTENT).expect("a tar entry of fixed bytes into memory");
    tar.into_inner().expect("finishing a tar in memory")
}

/// Pushes [`app_image`] to `repository` under each of `tags` (by digest when there are none)
/// and returns its subject descriptor.
pub async fn seed_app_image(registry: &RunningRegistry, repository: &str, tags: &[String]) -> Result<Subject, ProviderError> {
    let image = app_image();
    let subject = image.subject();
    let client = registry.client();
    client.store_auth_if_needed(&registry.host, &RegistryAuth::Anonymous).await;
    let by_digest = Reference::with_digest(registry.host.clone(), repository.to_string(), subject.digest.to_string());
    for (what, bytes) in [("layer", &image.layer), ("config", &image.config)] {
        let digest = Digest::of(bytes).to_string();
        client.push_blob(&by_digest, bytes.clone(), &digest).await.map_err(|source| ProviderError::Push {
            what: format!("the app image {what} {digest}"),
            reference: by_digest.whole(),
            source,
        })?;
    }
    let targets: Vec<Reference> =
        if tags.is_empty() { vec![by_digest] } else { tags.iter().map(|tag| registry.reference(repository, tag)).collect() };
    for target in targets {
        client
            .push_manifest_raw(&target, image.manifest.clone(), HeaderValue::from_static(OCI_MANIFEST))
            .await
            .map_err(|source| ProviderError::Push { what: "the app image manifest".to_string(), reference: target.whole(), source })?;
    }
    Ok(subject)
}

/// The tags of `repository`, as the registry lists them.
pub async fn list_tags(registry: &RunningRegistry, repository: &str) -> Result<Vec<String>, ProviderError> {
    let reference = registry.reference(repository, "latest");
    let client = registry.client();
    let answer = client
        .list_tags(&reference, &RegistryAuth::Anonymous, None, None)
        .await
        .map_err(|source| ProviderError::ListTags { reference: format!("{}/{repository}", registry.host), source })?;
    Ok(answer.tags)
}

/// A manifest as the registry serves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServedManifest {
    pub bytes: Vec<u8>,
    /// The `Content-Type` the registry sent.
    pub content_type: String,
    /// The digest of `bytes` (checked against `Docker-Content-Digest` when the registry sends it).
    pub digest: Digest,
}

/// Fetches the manifest `repository:reference` (`reference` is a tag or a digest) exactly as
/// served. A plain GET rather than oci-client's `pull_manifest_raw`, because that one does not
/// return the `Content-Type`; so only registries that allow anonymous reads are supported.
pub async fn fetch_manifest(registry: &RunningRegistry, repository: &str, reference: &str) -> Result<ServedManifest, ProviderError> {
    let url = format!("{}/v2/{repository}/manifests/{reference}", registry.url());
    let unreachable = |source| ProviderError::Unreachable { url: url.clone(), source };
    let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().map_err(unreachable)?;
    let accept = [OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST].join(", ");
    let answer = http.get(&url).header(ACCEPT, accept).send().await.map_err(unreachable)?;
    let status = answer.status().as_u16();
    if status != 200 {
        let body = answer.text().await.unwrap_or_default();
        return Err(ProviderError::UnexpectedStatus { url, status, expected: "200", body: shorten(&body) });
    }
    let header_text = |name: &str| answer.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
    let content_type = header_text(CONTENT_TYPE.as_str()).ok_or_else(|| ProviderError::MissingContentType { url: url.clone() })?;
    let header_digest = header_text("Docker-Content-Digest");
    let bytes = answer.bytes().await.map_err(unreachable)?.to_vec();
    let digest = Digest::of(&bytes);
    if let Some(header) = header_digest {
        if header != digest.as_str() {
            return Err(ProviderError::DigestHeaderMismatch { url, header, computed: digest.to_string() });
        }
    }
    Ok(ServedManifest { bytes, content_type, digest })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_image_is_deterministic_and_pinned() {
        let image = app_image();
        assert_eq!(image, app_image());
        assert_eq!(image.subject().digest.as_str(), APP_IMAGE_DIGEST);
        assert_eq!(image.subject().media_type, OCI_MANIFEST);
    }

    #[test]
    fn app_image_manifest_names_its_blobs() {
        let image = app_image();
        let manifest: serde_json::Value = serde_json::from_slice(&image.manifest).unwrap();
        assert_eq!(manifest["config"]["digest"], Digest::of(&image.config).as_str());
        assert_eq!(manifest["config"]["size"], image.config.len());
        assert_eq!(manifest["layers"][0]["digest"], Digest::of(&image.layer).as_str());
        let config: serde_json::Value = serde_json::from_slice(&image.config).unwrap();
        assert_eq!(config["rootfs"]["diff_ids"][0], Digest::of(&image.layer).as_str());
    }

    #[test]
    fn app_image_layer_holds_the_hello_file() {
        let layer = app_image().layer;
        let mut archive = tar::Archive::new(layer.as_slice());
        let mut entries = archive.entries().unwrap();
        let mut entry = entries.next().unwrap().unwrap();
        assert_eq!(entry.path().unwrap().to_str(), Some(LAYER_FILE));
        assert_eq!(entry.header().mtime().unwrap(), 0);
        let mut content = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut content).unwrap();
        assert_eq!(content, LAYER_CONTENT);
        assert!(entries.next().is_none());
    }
}
