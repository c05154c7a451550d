//! The container image of the test registry, `cnb-artifacts/registry:2.8.2`, built locally
//! without pulling anything.
//!
//! The image is `FROM scratch` plus Debian's `docker-registry` binary, every library `ldd`
//! names for it (libc and the loader, at the same paths), `ci/registry/config.yml` and an empty
//! `/var/lib/registry`. The Dockerfile and config are the files in `ci/registry/` (embedded
//! here, so the Rust code does not need `ci/registry/build-image.sh`). The build context is a
//! tar made in memory and piped to `docker build -`, which needs no base image and so no pull.
//! When the image is missing and the binary is not installed, a local `registry:2` image is
//! used instead if there is one.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::command;
use super::process;
use super::RegistryError;

/// The image this module builds.
pub const IMAGE: &str = "cnb-artifacts/registry:2.8.2";
/// The upstream image, used when it is present locally and [`IMAGE`] cannot be built.
pub const UPSTREAM_IMAGE: &str = "registry:2";
/// The Dockerfile of [`IMAGE`] (`ci/registry/Dockerfile`).
pub const DOCKERFILE: &str = include_str!("../../ci/registry/Dockerfile");
/// The registry configuration (`ci/registry/config.yml`), also used by the process provider.
pub const CONFIG_YML: &str = include_str!("../../ci/registry/config.yml");
/// Image label holding the version of the registry binary inside.
const VERSION_LABEL: &str = "org.opencontainers.image.version";

const INSPECT_TIMEOUT: Duration = Duration::from_secs(30);
const BUILD_TIMEOUT: Duration = Duration::from_secs(300);

/// A registry image present in the local Docker engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryImage {
    pub name: String,
    /// The registry version, from the image label (or the upstream tag).
    pub version: Option<String>,
}

/// One build at a time in this process: parallel tests all wait for the first build.
static BUILD_LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Makes sure a registry image exists locally: [`IMAGE`] if present, else built from the
/// installed `docker-registry` binary, else [`UPSTREAM_IMAGE`] if present.
pub async fn ensure_image() -> Result<RegistryImage, RegistryError> {
    let _one_at_a_time = BUILD_LOCK.lock().await;
    if let Some(version) = inspect(IMAGE).await? {
        return Ok(RegistryImage { name: IMAGE.to_string(), version });
    }
    let binary = match process::find_binary() {
        Ok(binary) => binary,
        Err(missing) => {
            return match inspect(UPSTREAM_IMAGE).await? {
                Some(_) => Ok(RegistryImage { name: UPSTREAM_IMAGE.to_string(), version: Some("2".to_string()) }),
                None => Err(missing),
            }
        }
    };
    let version = process::binary_version(&binary);
    build(&binary, version.as_deref()).await?;
    Ok(RegistryImage { name: IMAGE.to_string(), version })
}

/// `Some(version label)` when `image` exists locally, `None` when it does not.
async fn inspect(image: &str) -> Result<Option<Option<String>>, RegistryError> {
    let mut cmd = Command::new("docker");
    cmd.args(["image", "inspect", "--format", &format!("{{{{index .Config.Labels \"{VERSION_LABEL}\"}}}}"), image]);
    match command::run(cmd, None, INSPECT_TIMEOUT).await {
        Ok(out) => {
            let label = out.trim();
            Ok(Some((!label.is_empty() && label != "<no value>").then(|| label.to_string())))
        }
        Err(RegistryError::CommandFailed { stderr, .. }) if stderr.contains("No such image") => Ok(None),
        Err(err) => Err(err),
    }
}

/// Builds [`IMAGE`] from `binary`.
async fn build(binary: &Path, version: Option<&str>) -> Result<(), RegistryError> {
    let context = build_context(binary, &linked_libraries(binary).await?)?;
    let mut cmd = Command::new("docker");
    cmd.arg("build").arg("--tag").arg(IMAGE);
    if let Some(version) = version {
        cmd.arg("--label").arg(format!("{VERSION_LABEL}={version}"));
    }
    cmd.arg("-");
    command::run(cmd, Some(context), BUILD_TIMEOUT).await?;
    Ok(())
}

/// The absolute paths `ldd` prints for `binary` (libraries and the loader); none for a static
/// binary.
async fn linked_libraries(binary: &Path) -> Result<Vec<PathBuf>, RegistryError> {
    let mut cmd = Command::new("ldd");
    cmd.arg(binary);
    match command::run(cmd, None, INSPECT_TIMEOUT).await {
        Ok(out) => Ok(parse_ldd(&out)),
        Err(RegistryError::CommandFailed { stderr, .. }) if stderr.contains("not a dynamic executable") => Ok(Vec::new()),
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

/// The build context tar: Dockerfile, config.yml, and `rootfs/` with the binary, its libraries
/// and an empty `var/lib/registry`.
fn build_context(binary: &Path, libraries: &[PathBuf]) -> Result<Vec<u8>, RegistryError> {
    let read = |path: &Path| std::fs::read(path).map_err(|source| RegistryError::ImageContext { path: path.to_path_buf(), source });
    let mut files: Vec<(String, Vec<u8>, u32)> = vec![
        ("Dockerfile".to_string(), DOCKERFILE.as_bytes().to_vec(), 0o644),
        ("config.yml".to_string(), CONFIG_YML.as_bytes().to_vec(), 0o644),
        ("rootfs/usr/bin/docker-registry".to_string(), read(binary)?, 0o755),
    ];
    for library in libraries {
        // `fs::read` follows symlinks: the file lands at the path the loader looks for.
        files.push((format!("rootfs{}", library.display()), read(library)?, 0o755));
    }
    let empty_dir = "rootfs/var/lib/registry";
    let mut dirs: BTreeSet<String> = BTreeSet::from([empty_dir.to_string()]);
    for path in files.iter().map(|(path, _, _)| path.as_str()).chain([empty_dir]) {
        let mut parent = Path::new(path).parent();
        while let Some(dir) = parent.filter(|d| !d.as_os_str().is_empty()) {
            dirs.insert(dir.to_string_lossy().into_owned());
            parent = dir.parent();
        }
    }
    let mut tar = tar::Builder::new(Vec::new());
    let io_error = |source| RegistryError::ImageContext { path: PathBuf::from("<build context>"), source };
    // Sorted, so every directory comes before what it holds.
    for dir in &dirs {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Directory);
        header.set_mode(0o755);
        header.set_size(0);
        tar.append_data(&mut header, format!("{dir}/"), std::io::empty()).map_err(io_error)?;
    }
    for (path, bytes, mode) in &files {
        let mut header = tar::Header::new_gnu();
        header.set_mode(*mode);
        header.set_size(bytes.len() as u64);
        tar.append_data(&mut header, path, bytes.as_slice()).map_err(io_error)?;
    }
    tar.into_inner().map_err(io_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ldd_output_gives_library_and_loader_paths() {
        let out = "\tlinux-vdso.so.1 (0x00007ffd)\n\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f)\n\t/lib64/ld-linux-x86-64.so.2 (0x00007f)\n";
        assert_eq!(
            parse_ldd(out),
            vec![PathBuf::from("/lib/x86_64-linux-gnu/libc.so.6"), PathBuf::from("/lib64/ld-linux-x86-64.so.2")]
        );
    }

    #[test]
    fn build_context_lays_out_rootfs_at_the_linked_paths() {
        let dir = tempfile::tempdir().unwrap();
        let binary = dir.path().join("docker-registry");
        let library = dir.path().join("libc.so.6");
        std::fs::write(&binary, b"binary").unwrap();
        std::fs::write(&library, b"libc").unwrap();
        let tar_bytes = build_context(&binary, std::slice::from_ref(&library)).unwrap();
        let mut archive = tar::Archive::new(tar_bytes.as_slice());
        let entries: Vec<(String, u32)> = archive
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (e.path().unwrap().to_string_lossy().into_owned(), e.header().mode().unwrap())
            })
            .collect();
        let library_entry = format!("rootfs{}", library.display());
        for (expected, mode) in [
            ("Dockerfile", 0o644),
            ("config.yml", 0o644),
            ("rootfs/usr/bin/docker-registry", 0o755),
            (library_entry.as_str(), 0o755),
            ("rootfs/var/lib/registry/", 0o755),
            ("rootfs/var/", 0o755),
        ] {
            assert!(entries.contains(&(expected.to_string(), mode)), "{expected} missing in {entries:?}");
        }
    }
}
