//! The container image of the test registry, `cnb-artifacts/registry:2.8.2`, built locally
//! without pulling anything.
//!
//! The image is `FROM scratch` plus Debian's `docker-registry` binary, every library `ldd`
//! names for it (libc and the loader, at the same paths), and `ci/registry/config.yml`; the
//! Dockerfile's `WORKDIR` creates the empty `/var/lib/registry`. The Dockerfile and config are
//! the files in `ci/registry/`, embedded here so the Rust code needs no script
//! (`ci/registry/build-image.sh` builds the same image for people). The build goes through
//! testcontainers' [`GenericBuildableImage`]; it needs no base image and so no pull. When the
//! image is missing and the binary is not installed, a local `registry:2` image is used
//! instead if there is one.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use testcontainers::bollard::Docker;
use testcontainers::core::BuildImageOptions;
use testcontainers::runners::AsyncBuilder;
use testcontainers::GenericBuildableImage;

use super::command;
use super::process;
use super::ProviderError;

/// Repository and tag of the image this module builds.
pub const IMAGE_NAME: &str = "cnb-artifacts/registry";
pub const IMAGE_TAG: &str = "2.8.2";
/// The upstream image, used when it is present locally and ours cannot be built.
pub const UPSTREAM_IMAGE: (&str, &str) = ("registry", "2");
/// The Dockerfile of the image (`ci/registry/Dockerfile`).
pub const DOCKERFILE: &str = include_str!("../../../ci/registry/Dockerfile");
/// Image label holding the version of the registry binary inside (Dockerfile `LABEL`).
const VERSION_LABEL: &str = "org.opencontainers.image.version";

/// A registry image present in the local Docker engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryImage {
    pub name: String,
    pub tag: String,
    /// The registry version, from the image label (or the upstream tag).
    pub version: Option<String>,
}

/// One build at a time in this process: parallel tests all wait for the first build.
static BUILD_LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Makes sure a registry image exists locally: ours if present, else built from the installed
/// `docker-registry` binary, else `registry:2` if present.
pub async fn ensure_image(docker: &Docker) -> Result<RegistryImage, ProviderError> {
    let _one_at_a_time = BUILD_LOCK.lock().await;
    if let Some(version) = inspect(docker, IMAGE_NAME, IMAGE_TAG).await? {
        return Ok(RegistryImage { name: IMAGE_NAME.to_string(), tag: IMAGE_TAG.to_string(), version });
    }
    let binary = match process::find_binary() {
        Ok(binary) => binary,
        Err(missing) => {
            let (name, tag) = UPSTREAM_IMAGE;
            return match inspect(docker, name, tag).await? {
                Some(_) => Ok(RegistryImage { name: name.to_string(), tag: tag.to_string(), version: Some(tag.to_string()) }),
                None => Err(missing),
            };
        }
    };
    let version = process::binary_version(&binary);
    let mut image = GenericBuildableImage::new(IMAGE_NAME, IMAGE_TAG)
        .with_dockerfile_string(DOCKERFILE)
        .with_data(super::CONFIG_YML.as_bytes().to_vec(), "config.yml");
    for (source, target) in context_files(&binary, &linked_libraries(&binary)?) {
        // Files keep their mode (the binary and libraries are executable).
        image = image.with_file(source, target);
    }
    let options = BuildImageOptions::new().with_build_arg("REGISTRY_VERSION", version.as_deref().unwrap_or("unknown"));
    // The built image is found again by name when a container starts.
    let _built = image
        .build_image_with(options)
        .await
        .map_err(|source| ProviderError::Testcontainers { action: format!("building {IMAGE_NAME}:{IMAGE_TAG}"), source })?;
    Ok(RegistryImage { name: IMAGE_NAME.to_string(), tag: IMAGE_TAG.to_string(), version })
}

/// `Some(version label)` when `name:tag` exists locally, `None` when it does not.
async fn inspect(docker: &Docker, name: &str, tag: &str) -> Result<Option<Option<String>>, ProviderError> {
    use testcontainers::bollard::errors::Error;
    match docker.inspect_image(&format!("{name}:{tag}")).await {
        Ok(image) => {
            let labels = image.config.and_then(|config| config.labels).unwrap_or_default();
            Ok(Some(labels.get(VERSION_LABEL).filter(|v| !v.is_empty() && *v != "unknown").cloned()))
        }
        Err(Error::DockerResponseServerError { status_code: 404, .. }) => Ok(None),
        Err(source) => Err(ProviderError::Docker { action: format!("inspecting image {name}:{tag}"), source }),
    }
}

/// The absolute paths `ldd` prints for `binary` (libraries and the loader); none for a static
/// binary.
fn linked_libraries(binary: &Path) -> Result<Vec<PathBuf>, ProviderError> {
    let mut cmd = Command::new("ldd");
    cmd.arg(binary);
    match command::run_blocking(cmd, Duration::from_secs(30)) {
        Ok(out) => Ok(parse_ldd(&out)),
        Err(ProviderError::CommandFailed { stderr, .. }) if stderr.contains("not a dynamic executable") => Ok(Vec::new()),
        Err(err) => Err(err),
    }
}

/// Every absolute path in `ldd` output, in order, without duplicates.
fn parse_ldd(out: &str) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = Vec::new();
    for word in out.split_whitespace().filter(|w| w.starts_with('/')) {
        let path = PathBuf::from(word);
        if !paths.contains(&path) {
            paths.push(path);
        }
    }
    paths
}

/// The files of the build context besides Dockerfile and config: (source, target) pairs that
/// put the binary and each library under `rootfs/` at the path it has on this machine (reading
/// a symlinked library reads its target, so the loader finds it where `ldd` said).
fn context_files(binary: &Path, libraries: &[PathBuf]) -> Vec<(PathBuf, String)> {
    let mut files = vec![(binary.to_path_buf(), "rootfs/usr/bin/docker-registry".to_string())];
    for library in libraries {
        files.push((library.clone(), format!("rootfs{}", library.display())));
    }
    files
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ldd_output_gives_library_and_loader_paths() {
        let out = "\tlinux-vdso.so.1 (0x00007ffd)\n\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f)\n\t/lib64/ld-linux-x86-64.so.2 (0x00007f)\n";
        assert_eq!(parse_ldd(out), vec![PathBuf::from("/lib/x86_64-linux-gnu/libc.so.6"), PathBuf::from("/lib64/ld-linux-x86-64.so.2")]);
    }

    #[test]
    fn context_puts_binary_and_libraries_under_rootfs() {
        let files = context_files(Path::new("/usr/bin/docker-registry"), &[PathBuf::from("/lib64/ld-linux-x86-64.so.2")]);
        assert_eq!(
            files,
            vec![
                (PathBuf::from("/usr/bin/docker-registry"), "rootfs/usr/bin/docker-registry".to_string()),
                (PathBuf::from("/lib64/ld-linux-x86-64.so.2"), "rootfs/lib64/ld-linux-x86-64.so.2".to_string()),
            ]
        );
    }

    #[test]
    fn dockerfile_creates_storage_and_serves_the_embedded_config() {
        assert!(DOCKERFILE.contains("FROM scratch\n"));
        assert!(DOCKERFILE.contains("WORKDIR /var/lib/registry\n"));
        assert!(DOCKERFILE.contains("COPY config.yml /etc/docker/registry/config.yml\n"));
        assert!(crate::provider::CONFIG_YML.contains("rootdirectory: /var/lib/registry\n"));
    }
}
