//! Building a case's layers directory from its fixture, listing it for failure reports, and
//! the digest of the whole suite data (for provenance).
//!
//! A fixture is a `layers/` tree under `fixtures/cases/<name>/`. [`materialise`] copies it into
//! a fresh directory keeping symbolic links as links (confinement cases, R-CONF-3, depend on
//! them), replaces [`NAMESPACE_TOKEN`] in `*.toml` files with the case namespace, and creates
//! the case's `[[generate]]` entries: named pipes (R-CONF-4), large files, empty directories and
//! links that git holds badly.

use std::fs;
use std::io::Write;
use std::path::{Component, Path, PathBuf};

use sha2::{Digest as _, Sha256};

use super::case::{Case, Generate};
use super::{SuiteDir, NAMESPACE_TOKEN};

/// Why a layers directory cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum FixtureError {
    #[error("cannot copy {from} to {to}: {source}")]
    Copy { from: PathBuf, to: PathBuf, source: std::io::Error },
    #[error("generate entry `{path}` must be a relative path without `..`")]
    UnsafeGeneratePath { path: String },
    #[error("cannot create generated entry {path}: {source}")]
    Generate { path: PathBuf, source: std::io::Error },
    #[error("`mkfifo {path}` failed: {reason}")]
    Mkfifo { path: PathBuf, reason: String },
}

/// Copies fixture `fixture` of `case` to `<dest>/layers` and returns that path. `generate`
/// entries are created when `fixture` is the case's own fixture.
pub fn materialise(case: &Case, suite: &SuiteDir, fixture: &str, dest: &Path, namespace: &str) -> Result<PathBuf, FixtureError> {
    let from = case.layers_source(suite, fixture);
    let layers = dest.join("layers");
    copy_tree(&from, &layers, namespace)?;
    if fixture == case.fixture {
        for entry in &case.generate {
            generate(&layers, entry)?;
        }
    }
    Ok(layers)
}

fn copy_tree(from: &Path, to: &Path, namespace: &str) -> Result<(), FixtureError> {
    let err = |from: &Path, to: &Path| {
        let (from, to) = (from.to_path_buf(), to.to_path_buf());
        move |source| FixtureError::Copy { from, to, source }
    };
    fs::create_dir_all(to).map_err(err(from, to))?;
    for (rel, kind) in walk(from).map_err(err(from, to))? {
        let (src, dst) = (from.join(&rel), to.join(&rel));
        match kind {
            EntryKind::Dir => fs::create_dir_all(&dst).map_err(err(&src, &dst))?,
            EntryKind::Symlink(target) => std::os::unix::fs::symlink(&target, &dst).map_err(err(&src, &dst))?,
            EntryKind::File if dst.extension().is_some_and(|e| e == "toml") => {
                let bytes = fs::read(&src).map_err(err(&src, &dst))?;
                let bytes = match String::from_utf8(bytes) {
                    Ok(text) => text.replace(NAMESPACE_TOKEN, namespace).into_bytes(),
                    Err(e) => e.into_bytes(),
                };
                fs::write(&dst, bytes).map_err(err(&src, &dst))?;
            }
            EntryKind::File => {
                fs::copy(&src, &dst).map_err(err(&src, &dst))?;
            }
            EntryKind::Other => {}
        }
    }
    Ok(())
}

fn generate(layers: &Path, entry: &Generate) -> Result<(), FixtureError> {
    let rel = Path::new(entry.path());
    if entry.path().is_empty() || !rel.components().all(|c| matches!(c, Component::Normal(_))) {
        return Err(FixtureError::UnsafeGeneratePath { path: entry.path().to_string() });
    }
    let path = layers.join(rel);
    let io = |source| FixtureError::Generate { path: path.clone(), source };
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(io)?;
    }
    match entry {
        Generate::File { size, byte, prefix, suffix, .. } => {
            let mut file = fs::File::create(&path).map_err(io)?;
            file.write_all(prefix.as_bytes()).map_err(io)?;
            let chunk = vec![*byte; 64 * 1024];
            let mut left = *size;
            while left > 0 {
                let n = left.min(chunk.len() as u64) as usize;
                file.write_all(&chunk[..n]).map_err(io)?;
                left -= n as u64;
            }
            file.write_all(suffix.as_bytes()).map_err(io)?;
            file.flush().map_err(io)
        }
        Generate::Fifo { .. } => {
            let out = std::process::Command::new("mkfifo")
                .arg(&path)
                .output()
                .map_err(|e| FixtureError::Mkfifo { path: path.clone(), reason: e.to_string() })?;
            if out.status.success() {
                Ok(())
            } else {
                Err(FixtureError::Mkfifo { path, reason: String::from_utf8_lossy(&out.stderr).trim().to_string() })
            }
        }
        Generate::Symlink { target, .. } => std::os::unix::fs::symlink(target, &path).map_err(io),
        Generate::Dir { .. } => fs::create_dir_all(&path).map_err(io),
    }
}

/// What a tree entry is, without following links.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    Dir,
    File,
    Symlink(PathBuf),
    /// A pipe, socket or device.
    Other,
}

/// Every entry under `root`, relative, sorted bytewise by path; links are not followed.
pub fn walk(root: &Path) -> std::io::Result<Vec<(PathBuf, EntryKind)>> {
    let mut out = Vec::new();
    walk_into(root, Path::new(""), &mut out)?;
    Ok(out)
}

fn walk_into(root: &Path, rel: &Path, out: &mut Vec<(PathBuf, EntryKind)>) -> std::io::Result<()> {
    let mut names: Vec<_> = fs::read_dir(root.join(rel))?.map(|e| e.map(|e| e.file_name())).collect::<Result<_, _>>()?;
    names.sort();
    for name in names {
        let rel = rel.join(name);
        let meta = fs::symlink_metadata(root.join(&rel))?;
        let kind = if meta.file_type().is_symlink() {
            EntryKind::Symlink(fs::read_link(root.join(&rel))?)
        } else if meta.is_dir() {
            EntryKind::Dir
        } else if meta.is_file() {
            EntryKind::File
        } else {
            EntryKind::Other
        };
        let is_dir = kind == EntryKind::Dir;
        out.push((rel.clone(), kind));
        if is_dir {
            walk_into(root, &rel, out)?;
        }
    }
    Ok(())
}

/// One line per entry of a layers directory, for failure reports: `path/`, `path (N bytes)`,
/// `path -> target`, `path (special file)`.
pub fn listing(layers: &Path) -> Vec<String> {
    match walk(layers) {
        Ok(entries) => entries
            .into_iter()
            .map(|(rel, kind)| {
                let shown = rel.display();
                match kind {
                    EntryKind::Dir => format!("{shown}/"),
                    EntryKind::File => {
                        let size = fs::metadata(layers.join(&rel)).map(|m| m.len()).unwrap_or(0);
                        format!("{shown} ({size} bytes)")
                    }
                    EntryKind::Symlink(target) => format!("{shown} -> {}", target.display()),
                    EntryKind::Other => format!("{shown} (special file)"),
                }
            })
            .collect(),
        Err(e) => vec![format!("(cannot list {}: {e})", layers.display())],
    }
}

/// The sha256 of the suite data: every entry of `conformance/cases/` and `fixtures/cases/`,
/// in path order, as its kind, path and content (or link target). Changes when any case,
/// expectation or fixture changes.
pub fn suite_digest(suite: &SuiteDir) -> std::io::Result<String> {
    let mut hash = Sha256::new();
    for (label, dir) in [("cases", suite.cases_dir()), ("fixtures", suite.fixtures_dir())] {
        for (rel, kind) in walk(&dir)? {
            let path = format!("{label}/{}", rel.display());
            match kind {
                EntryKind::Dir => hash.update(format!("d {path}\n")),
                EntryKind::Symlink(target) => hash.update(format!("l {path} {}\n", target.display())),
                EntryKind::File => {
                    let bytes = fs::read(dir.join(&rel))?;
                    hash.update(format!("f {path} {}\n", bytes.len()));
                    hash.update(&bytes);
                }
                EntryKind::Other => hash.update(format!("o {path}\n")),
            }
        }
    }
    Ok(format!("sha256:{}", hex::encode(hash.finalize())))
}

/// The sha256 digests of every regular file in a layers tree (for "nothing was pushed" checks).
pub fn file_digests(layers: &Path) -> Vec<cnb_artifacts_core::reference::Digest> {
    let mut digests: Vec<_> = walk(layers)
        .unwrap_or_default()
        .into_iter()
        .filter(|(_, k)| *k == EntryKind::File)
        .filter_map(|(rel, _)| fs::read(layers.join(rel)).ok())
        .map(|bytes| cnb_artifacts_core::reference::Digest::of(&bytes))
        .collect();
    digests.sort();
    digests.dedup();
    digests
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::case::{parse, Case};

    fn case_with(generate: &str) -> Case {
        let text = format!(
            "id = \"x\"\ntitle = \"t\"\nrules = [\"R-CONF-4\"]\nfixture = \"f\"\n{generate}\n[expect]\noutcome = \"rejected\"\nrules = []\n"
        );
        parse(Path::new("x.toml"), &text).expect("case parses")
    }

    fn suite_with_fixture() -> (tempfile::TempDir, SuiteDir) {
        let dir = tempfile::tempdir().expect("tempdir");
        let layers = dir.path().join("fixtures/cases/f/layers/acme_a");
        fs::create_dir_all(layers.join("one")).unwrap();
        fs::write(layers.join("one.toml"), "[[additionalArtifact]]\nrepository = \"@@NAMESPACE@@/x\"\nfile = \"a\"\n").unwrap();
        fs::write(layers.join("one/a"), b"bytes").unwrap();
        std::os::unix::fs::symlink("../../../../../../etc/hostname", layers.join("one/out")).unwrap();
        fs::create_dir_all(dir.path().join("conformance/cases")).unwrap();
        let suite = SuiteDir::new(dir.path());
        (dir, suite)
    }

    #[test]
    fn r_conf_3_copies_keep_symlinks_and_substitute_the_namespace() {
        let (_keep, suite) = suite_with_fixture();
        let dest = tempfile::tempdir().unwrap();
        let layers = materialise(&case_with(""), &suite, "f", dest.path(), "ns/x").expect("copied");
        let toml = fs::read_to_string(layers.join("acme_a/one.toml")).unwrap();
        assert!(toml.contains("repository = \"ns/x/x\""), "{toml}");
        let link = fs::read_link(layers.join("acme_a/one/out")).expect("still a link");
        assert_eq!(link, Path::new("../../../../../../etc/hostname"));
        assert_eq!(fs::read(layers.join("acme_a/one/a")).unwrap(), b"bytes");
    }

    #[test]
    fn r_conf_4_generate_makes_fifos_files_and_dirs() {
        let (_keep, suite) = suite_with_fixture();
        let case = case_with(
            "[[generate]]\nkind = \"fifo\"\npath = \"acme_a/one/pipe\"\n\
             [[generate]]\nkind = \"file\"\npath = \"acme_a/one/big\"\nsize = 70000\nbyte = 7\n\
             [[generate]]\nkind = \"dir\"\npath = \"acme_a/one/empty\"\n\
             [[generate]]\nkind = \"file\"\npath = \"acme_a/one/framed\"\nsize = 3\nbyte = 97\nprefix = \"<\"\nsuffix = \">\"\n",
        );
        let dest = tempfile::tempdir().unwrap();
        let layers = materialise(&case, &suite, "f", dest.path(), "ns").expect("generated");
        use std::os::unix::fs::FileTypeExt;
        assert!(fs::symlink_metadata(layers.join("acme_a/one/pipe")).unwrap().file_type().is_fifo());
        let big = fs::read(layers.join("acme_a/one/big")).unwrap();
        assert_eq!(big.len(), 70000);
        assert!(big.iter().all(|b| *b == 7));
        assert!(layers.join("acme_a/one/empty").is_dir());
        assert_eq!(fs::read(layers.join("acme_a/one/framed")).unwrap(), b"<aaa>");
        let listing = listing(&layers);
        assert!(listing.contains(&"acme_a/one/pipe (special file)".to_string()), "{listing:?}");
        assert!(listing.contains(&"acme_a/one/big (70000 bytes)".to_string()), "{listing:?}");
    }

    #[test]
    fn generate_refuses_paths_that_leave_the_tree() {
        let (_keep, suite) = suite_with_fixture();
        let case = case_with("[[generate]]\nkind = \"dir\"\npath = \"../escape\"\n");
        let dest = tempfile::tempdir().unwrap();
        assert!(matches!(materialise(&case, &suite, "f", dest.path(), "ns"), Err(FixtureError::UnsafeGeneratePath { .. })));
    }

    #[test]
    fn suite_digest_changes_with_any_fixture_byte() {
        let (dir, suite) = suite_with_fixture();
        let before = suite_digest(&suite).unwrap();
        assert_eq!(before, suite_digest(&suite).unwrap());
        fs::write(dir.path().join("fixtures/cases/f/layers/acme_a/one/a"), b"bytez").unwrap();
        assert_ne!(before, suite_digest(&suite).unwrap());
    }
}
