//! Downloading the files of one artifact of an app image: exactly one artifact of this
//! specification must match the filter (foreign referrers never do); each layer is written to
//! the output directory under its `org.opencontainers.image.title`, which must be a relative
//! path that stays inside the directory; each blob is read up to the size its descriptor
//! states, hashed while it is written to a temporary file, and put in place only when its
//! digest matches.

use std::io::Write;
use std::path::{Component, Path, PathBuf};

use futures_util::StreamExt;
use oci_client::manifest::OciDescriptor;
use oci_client::Reference;
use sha2::{Digest as _, Sha256};

use super::discover::{discover, Discovered, Filter};
use super::{escape, ConsumeError, Consumer};
use crate::reference::{Digest, ImageRef};

/// The artifact pulled and the files written, in manifest order.
#[derive(Debug, Clone)]
pub struct Pulled {
    /// The artifact, as discovery listed it.
    pub artifact: Discovered,
    /// The files written, one per layer, in the manifest's layer order.
    pub files: Vec<PathBuf>,
}

/// Pulls the one artifact of `image` that `filter` selects into `out_dir` (created if missing),
/// searching the image's repository and each of `also` ([`discover`]).
pub async fn pull(consumer: &Consumer, image: &ImageRef, also: &[String], filter: &Filter, out_dir: &Path) -> Result<Pulled, ConsumeError> {
    let discovery = discover(consumer, image, also).await?;
    let mut matches: Vec<Discovered> = discovery.artifacts.into_iter().filter(|a| !a.foreign && filter.matches(a)).collect();
    let artifact = match matches.len() {
        0 => return Err(ConsumeError::NoMatch { image: image.name(), filter: filter.describe() }),
        1 => matches.remove(0),
        count => {
            let candidates = matches
                .iter()
                .map(|a| {
                    format!(
                        "{} ({}/{})",
                        a.digest,
                        escape(a.buildpack.as_deref().unwrap_or("?")),
                        escape(a.layer.as_deref().unwrap_or("?"))
                    )
                })
                .collect::<Vec<_>>()
                .join(", ");
            return Err(ConsumeError::SeveralMatches { image: image.name(), filter: filter.describe(), count, candidates });
        }
    };
    let label = format!("{}/{}@{}", consumer.registry, artifact.repository, artifact.digest);
    let write_error = |path: &Path, e: std::io::Error| ConsumeError::Write { path: path.to_path_buf(), reason: e.to_string() };
    std::fs::create_dir_all(out_dir).map_err(|e| write_error(out_dir, e))?;
    let root = out_dir.canonicalize().map_err(|e| write_error(out_dir, e))?;
    // Every title is checked before anything is downloaded.
    let mut targets = Vec::new();
    for file in &artifact.files {
        let title = file.title.as_deref().ok_or_else(|| ConsumeError::NoTitle { artifact: label.clone(), digest: escape(&file.digest) })?;
        let relative = safe_title(title).ok_or_else(|| ConsumeError::UnsafeTitle { artifact: label.clone(), title: escape(title) })?;
        targets.push(relative);
    }
    let reference = Reference::with_digest(consumer.registry.clone(), artifact.repository.clone(), artifact.digest.clone());
    let mut written = Vec::new();
    for (file, relative) in artifact.files.iter().zip(targets) {
        let target = root.join(&relative);
        let parent = target.parent().unwrap_or(&root).to_path_buf();
        std::fs::create_dir_all(&parent).map_err(|e| write_error(&parent, e))?;
        // A directory that already existed may be a link out of the output directory.
        if !parent.canonicalize().map_err(|e| write_error(&parent, e))?.starts_with(&root) {
            return Err(ConsumeError::UnsafeTitle { artifact: label.clone(), title: escape(file.title.as_deref().unwrap_or_default()) });
        }
        let what = format!("blob {} ({}) of {label}", escape(&file.digest), relative.display());
        let expected = file.digest.parse::<Digest>().map_err(|e| ConsumeError::Invalid { what: what.clone(), reason: e.to_string() })?;
        let mut temp = tempfile::NamedTempFile::new_in(&parent).map_err(|e| write_error(&parent, e))?;
        let descriptor = OciDescriptor {
            media_type: file.media_type.clone(),
            digest: file.digest.clone(),
            size: i64::try_from(file.size).unwrap_or(i64::MAX),
            ..Default::default()
        };
        let mut stream = consumer
            .client
            .pull_blob_stream(&reference, &descriptor)
            .await
            .map_err(|e| ConsumeError::Registry { what: what.clone(), reason: escape(&e.to_string()) })?
            .stream;
        let mut hasher = Sha256::new();
        let mut received: u64 = 0;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| ConsumeError::Registry { what: what.clone(), reason: escape(&e.to_string()) })?;
            received += chunk.len() as u64;
            if received > file.size {
                return Err(ConsumeError::TooLarge { what, limit: file.size });
            }
            hasher.update(&chunk);
            temp.write_all(&chunk).map_err(|e| write_error(temp.path(), e))?;
        }
        let found = Digest::from_sha256(hasher);
        if found != expected || received != file.size {
            return Err(ConsumeError::DigestMismatch {
                what,
                expected: expected.to_string(),
                found: format!("{found} ({received} bytes)"),
            });
        }
        temp.persist(&target).map_err(|e| write_error(&target, e.error))?;
        written.push(target);
    }
    Ok(Pulled { artifact, files: written })
}

/// `title` as a relative path of normal components only (no `/` at the start, no `..`, `.` or
/// empty component, no `\` or NUL); else `None`.
pub fn safe_title(title: &str) -> Option<PathBuf> {
    if title.is_empty() || title.contains(['\\', '\0']) || title.split('/').any(|c| c.is_empty() || c == "." || c == "..") {
        return None;
    }
    let path = PathBuf::from(title);
    path.components().all(|c| matches!(c, Component::Normal(_))).then_some(path)
}

#[cfg(test)]
mod tests {
    use super::safe_title;

    #[rstest::rstest]
    #[case::plain("module.wasm", true)]
    #[case::nested("chart/hello-0.1.0.tgz", true)]
    #[case::absolute("/etc/passwd", false)]
    #[case::dotdot("../x", false)]
    #[case::inner_dotdot("a/../../x", false)]
    #[case::dot("./x", false)]
    #[case::empty("", false)]
    #[case::double_slash("a//b", false)]
    #[case::trailing_slash("a/", false)]
    #[case::backslash("..\\x", false)]
    #[case::nul("a\0b", false)]
    fn titles_outside_the_directory_are_refused(#[case] title: &str, #[case] safe: bool) {
        assert_eq!(safe_title(title).is_some(), safe, "{title:?}");
    }
}
