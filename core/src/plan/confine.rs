//! File confinement (rules R-CONF-1..7): every declared file stays inside its layer directory.
//!
//! A declared path is relative, `/`-separated and has no `..` component; the layer directory
//! and its buildpack directory are real directories, not symbolic links (R-CONF-7); after
//! resolving every symlink the file must still lie inside the layer directory, and it must be
//! a regular file.
//!
//! The check resolves names, so it alone would race with a buildpack's process swapping a
//! name for a link after it. Confinement is therefore also by construction: the resolved file
//! is opened one component at a time without following any link ([`open_resolved`]), so the
//! bytes hashed are those of a file whose path lies inside the layer directory; its device and
//! inode are kept, and the publisher uploads only from a descriptor of that same file (R-PUSH-4).

use std::io;
use std::path::{Component, Path, PathBuf};

use sha2::{Digest as _, Sha256};

use crate::diagnostic::display_path;
use crate::input_file::FileIdentity;
use crate::reference::Digest;

/// Why a declared file is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfineError {
    /// The path is empty (R-CONF-1).
    #[error("file path is empty")]
    Empty,
    /// The path is absolute (R-CONF-1); the path as declared.
    #[error("file `{0}` is an absolute path")]
    Absolute(String),
    /// The path has a `..` component (R-CONF-2); the path as declared.
    #[error("file `{0}` has a `..` component")]
    ParentComponent(String),
    /// Nothing exists at the path (R-CONF-5).
    #[error("file `{path}` does not exist in layer directory `{layer_dir}`")]
    Missing {
        /// The path as declared.
        path: String,
        /// The layer directory, as shown to the user.
        layer_dir: String,
    },
    /// The path, through a link, resolves outside the layer directory (R-CONF-3).
    #[error("file `{path}` resolves to {target}, outside layer directory `{layer_dir}`")]
    Escapes {
        /// The path as declared.
        path: String,
        /// Where it resolves to.
        target: EscapedTarget,
        /// The layer directory, as shown to the user.
        layer_dir: String,
    },
    /// The path's links cannot be followed to a file (R-CONF-3).
    #[error("file `{path}` cannot be resolved: {reason}")]
    Unresolvable {
        /// The path as declared.
        path: String,
        /// Why (a link loop, a dangling link, …).
        reason: String,
    },
    /// The path is not a regular file (R-CONF-4).
    #[error("file `{path}` is a {kind}, not a regular file")]
    NotRegular {
        /// The path as declared.
        path: String,
        /// What it is instead ("directory", "named pipe", …).
        kind: &'static str,
    },
    /// The file exists but cannot be read (R-CONF-5).
    #[error("file `{path}` cannot be read: {reason}")]
    Unreadable {
        /// The path as declared.
        path: String,
        /// The operating system's reason.
        reason: String,
    },
    /// The same file is listed twice in one artifact (R-CONF-6); the path.
    #[error("file `{0}` is listed twice in one artifact")]
    Duplicate(String),
    /// `what` is `layer directory` or `buildpack directory`.
    #[error("the {what} `{dir}` is a symbolic link; it must be a real directory")]
    SymlinkedDir {
        /// `layer directory` or `buildpack directory`.
        what: &'static str,
        /// The directory, as shown to the user.
        dir: String,
    },
}

impl ConfineError {
    /// The spec rule this error enforces.
    pub fn rule(&self) -> &'static str {
        match self {
            ConfineError::Empty | ConfineError::Absolute(_) => "R-CONF-1",
            ConfineError::ParentComponent(_) => "R-CONF-2",
            ConfineError::Escapes { .. } | ConfineError::Unresolvable { .. } => "R-CONF-3",
            ConfineError::NotRegular { .. } => "R-CONF-4",
            ConfineError::Missing { .. } | ConfineError::Unreadable { .. } => "R-CONF-5",
            ConfineError::Duplicate(_) => "R-CONF-6",
            ConfineError::SymlinkedDir { .. } => "R-CONF-7",
        }
    }

    /// How to fix it, for a diagnostic's help line, when there is one general advice.
    pub fn help(&self) -> Option<&'static str> {
        match self {
            ConfineError::Empty | ConfineError::Absolute(_) | ConfineError::ParentComponent(_) => {
                Some("paths are relative to the layer directory `<layers>/<buildpack>/<layer>/` and stay inside it")
            }
            ConfineError::Escapes { .. } => Some("copy the file into the layer directory instead of linking to it"),
            ConfineError::SymlinkedDir { .. } => Some("write the layer's files into the layer directory itself"),
            _ => None,
        }
    }
}

/// Where a file that escapes its layer directory resolves to (R-CONF-3): relative to the layer
/// directory when the two share more than the root (`../secret`), else absolute (`/dev/null`),
/// so the message does not depend on how deep the layers dir lies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EscapedTarget {
    /// Relative to the layer directory (they share more than the root).
    Relative(String),
    /// An absolute path.
    Absolute(String),
}

impl std::fmt::Display for EscapedTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EscapedTarget::Relative(p) => write!(f, "`{p}` (relative to the layer directory)"),
            EscapedTarget::Absolute(p) => write!(f, "`{p}`"),
        }
    }
}

/// A declared file after confinement: its normalised path, where it really is, and its size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfinedFile {
    /// The path as declared, normalised (no `.` components).
    pub path: String,
    /// The file it resolved to, inside the layer directory.
    pub source: PathBuf,
    /// Its size in bytes.
    pub size: u64,
}

/// Normalises a declared path (R-CONF-1, R-CONF-2): relative, no `..`; `.` components and
/// repeated or trailing slashes are dropped. Returns the `/`-joined form.
pub fn normalise(declared: &str) -> Result<String, ConfineError> {
    if declared.is_empty() {
        return Err(ConfineError::Empty);
    }
    if declared.starts_with('/') || declared.starts_with('\\') {
        return Err(ConfineError::Absolute(declared.to_string()));
    }
    let mut parts = Vec::new();
    for c in Path::new(declared).components() {
        match c {
            Component::Normal(s) => parts.push(s.to_string_lossy().into_owned()),
            Component::CurDir => {}
            Component::ParentDir => return Err(ConfineError::ParentComponent(declared.to_string())),
            Component::RootDir | Component::Prefix(_) => return Err(ConfineError::Absolute(declared.to_string())),
        }
    }
    if parts.is_empty() {
        return Err(ConfineError::Empty);
    }
    Ok(parts.join("/"))
}

/// Resolves `declared` inside `layer_dir` (R-CONF-1..5).
pub fn confine(layer_dir: &Path, declared: &str) -> Result<ConfinedFile, ConfineError> {
    if crate::mutants::active(crate::mutants::Mutant::NoConfinement) {
        return unconfined(layer_dir, declared);
    }
    let path = normalise(declared)?;
    check_real_dirs(layer_dir)?;
    let missing = || ConfineError::Missing { path: path.clone(), layer_dir: display_path(layer_dir).to_string() };
    let root = match layer_dir.canonicalize() {
        Ok(root) => root,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(missing()),
        Err(e) => return Err(ConfineError::Unresolvable { path, reason: e.to_string() }),
    };
    let joined = root.join(&path);
    if let Err(e) = joined.symlink_metadata() {
        return Err(match e.kind() {
            io::ErrorKind::NotFound | io::ErrorKind::NotADirectory => missing(),
            _ => ConfineError::Unresolvable { path, reason: e.to_string() },
        });
    }
    let target = match joined.canonicalize() {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(ConfineError::Unresolvable { path, reason: "it is a dangling symlink".into() })
        }
        Err(e) if e.raw_os_error() == Some(40) => return Err(ConfineError::Unresolvable { path, reason: "it is a symlink loop".into() }),
        Err(e) => return Err(ConfineError::Unresolvable { path, reason: e.to_string() }),
    };
    if !target.starts_with(&root) && !crate::mutants::active(crate::mutants::Mutant::FollowsSymlinksOut) {
        return Err(ConfineError::Escapes { path, target: relative_to(&root, &target), layer_dir: display_path(layer_dir).to_string() });
    }
    let meta = target.metadata().map_err(|e| ConfineError::Unreadable { path: path.clone(), reason: e.to_string() })?;
    if !meta.is_file() {
        if crate::mutants::active(crate::mutants::Mutant::NonRegularAsEmpty) {
            return Ok(ConfinedFile { path, source: PathBuf::from("/dev/null"), size: 0 });
        }
        return Err(ConfineError::NotRegular { path, kind: crate::input_file::kind(&meta) });
    }
    Ok(ConfinedFile { path, source: target, size: meta.len() })
}

/// The self-check's [`crate::mutants::Mutant::NoConfinement`]: `declared` resolved by the
/// operating system from `layer_dir`, whatever it is (absolute, `..`, links out).
fn unconfined(layer_dir: &Path, declared: &str) -> Result<ConfinedFile, ConfineError> {
    let source = layer_dir.join(declared);
    match std::fs::metadata(&source) {
        Ok(meta) if meta.is_file() => Ok(ConfinedFile { path: declared.to_string(), source, size: meta.len() }),
        Ok(_) => Err(ConfineError::NotRegular { path: declared.to_string(), kind: "special file" }),
        Err(_) => Err(ConfineError::Missing { path: declared.to_string(), layer_dir: layer_dir.display().to_string() }),
    }
}

/// The layer directory and its buildpack directory must not be symbolic links (R-CONF-7): a
/// link would make "inside the layer directory" mean inside whatever it points to.
fn check_real_dirs(layer_dir: &Path) -> Result<(), ConfineError> {
    if crate::mutants::active(crate::mutants::Mutant::FollowsSymlinkedDirs) {
        return Ok(());
    }
    let buildpack_dir = layer_dir.parent();
    for (what, dir) in [("layer directory", Some(layer_dir)), ("buildpack directory", buildpack_dir)] {
        let Some(dir) = dir else { continue };
        if dir.symlink_metadata().is_ok_and(|m| m.is_symlink()) {
            return Err(ConfineError::SymlinkedDir { what, dir: display_path(dir).to_string() });
        }
    }
    Ok(())
}

/// `target` as a relative path from `root` (both absolute and resolved), e.g. `../secret`; or
/// absolute when the two have nothing but the root in common (e.g. `/dev/null`).
fn relative_to(root: &Path, target: &Path) -> EscapedTarget {
    let common = root.components().zip(target.components()).take_while(|(a, b)| a == b).count();
    if common <= 1 {
        return EscapedTarget::Absolute(display_path(target).to_string());
    }
    let ups = root.components().count() - common;
    let mut parts: Vec<String> = vec!["..".to_string(); ups];
    parts.extend(target.components().skip(common).map(|c| display_path(c.as_ref()).to_string()));
    EscapedTarget::Relative(parts.join("/"))
}

/// The size of the reads of [`hash_file`]: large enough that the read calls cost nothing next
/// to the hashing, small enough to stay in the CPU's cache between the read and the hash.
const HASH_READ_SIZE: usize = 256 * 1024;

/// Opens a file that [`confine`] resolved (an absolute path without links) without following
/// a link at any component and without blocking (R-CONF-3, R-CONF-4): a name swapped for a link
/// or a named pipe after the check is refused, never followed. Returns the file and its
/// `fstat`. Under the mutants that follow links or take non-regular files, the path is opened
/// as given.
pub fn open_resolved(path: &Path) -> io::Result<(std::fs::File, std::fs::Metadata)> {
    if crate::mutants::opens_paths_as_given() {
        let file = std::fs::File::open(path)?;
        let meta = file.metadata()?;
        return Ok((file, meta));
    }
    let (file, meta) = crate::input_file::open_no_symlinks(path)?;
    if !meta.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("it is now a {}, not a regular file", crate::input_file::kind(&meta)),
        ));
    }
    Ok((file, meta))
}

/// [`open_resolved`] that also requires the file to be the one planned (same device and inode):
/// the presets read a planned file's content through this.
pub fn open_planned(path: &Path, identity: FileIdentity) -> io::Result<std::fs::File> {
    let (file, meta) = open_resolved(path)?;
    if FileIdentity::of(&meta) != identity && !crate::mutants::opens_paths_as_given() {
        return Err(io::Error::other("the file was replaced since it was checked"));
    }
    Ok(file)
}

/// The sha256 digest, size and identity of a file [`confine`] resolved, read in one streaming
/// pass from one descriptor ([`open_resolved`]).
pub fn hash_file(path: &Path) -> io::Result<(Digest, u64, FileIdentity)> {
    let (file, meta) = open_resolved(path)?;
    let (digest, size) = hash_open(file)?;
    Ok((digest, size, FileIdentity::of(&meta)))
}

/// What [`hash_file_below`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hashed {
    /// The file's digest, size and identity.
    Digest(Digest, u64, FileIdentity),
    /// The file has at least the size given: its size and identity only, not read.
    Deferred(u64, FileIdentity),
}

/// [`hash_file`], except that a file of at least `defer_from` bytes (by the `fstat` of the
/// descriptor opened) is not read: its digest is left to the publisher, which computes it
/// while uploading the file (R-PUSH-11).
pub fn hash_file_below(path: &Path, defer_from: Option<u64>) -> io::Result<Hashed> {
    let (file, meta) = open_resolved(path)?;
    let identity = FileIdentity::of(&meta);
    if defer_from.is_some_and(|min| meta.len() >= min) {
        return Ok(Hashed::Deferred(meta.len(), identity));
    }
    let (digest, size) = hash_open(file)?;
    Ok(Hashed::Digest(digest, size, identity))
}

/// The digest and length of what remains to read of `file`, in one streaming pass.
fn hash_open(file: std::fs::File) -> io::Result<(Digest, u64)> {
    // `io::copy` from a `BufReader` reads into the reader's own buffer: one read per block.
    let mut file = io::BufReader::with_capacity(HASH_READ_SIZE, file);
    let mut hasher = Sha256::new();
    let size = io::copy(&mut file, &mut hasher)?;
    Ok((Digest::from_sha256(hasher), size))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;
    use std::os::unix::fs::symlink;

    fn layer() -> (tempfile::TempDir, PathBuf) {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("layer");
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        std::fs::write(dir.join("a.wasm"), b"\0asm").unwrap();
        std::fs::write(dir.join("sub/b.txt"), b"b").unwrap();
        std::fs::write(tmp.path().join("secret"), b"s").unwrap();
        symlink("sub/b.txt", dir.join("inside-link")).unwrap();
        symlink("../secret", dir.join("outside-link")).unwrap();
        symlink("/etc/passwd", dir.join("absolute-link")).unwrap();
        symlink("loop2", dir.join("loop1")).unwrap();
        symlink("loop1", dir.join("loop2")).unwrap();
        symlink("nowhere", dir.join("dangling")).unwrap();
        (tmp, dir)
    }

    #[rstest]
    #[case::plain("a.wasm", "a.wasm")]
    #[case::nested("sub/b.txt", "sub/b.txt")]
    #[case::dot_components("./sub/./b.txt", "sub/b.txt")]
    #[case::inside_symlink("inside-link", "inside-link")]
    fn r_conf_accepts_paths_inside_the_layer(#[case] declared: &str, #[case] normalised: &str) {
        let (_tmp, dir) = layer();
        let f = confine(&dir, declared).unwrap();
        assert_eq!(f.path, normalised);
        assert!(f.source.starts_with(dir.canonicalize().unwrap()));
    }

    #[rstest]
    #[case::r_conf_1_absolute("/etc/passwd", "R-CONF-1")]
    #[case::r_conf_1_empty("", "R-CONF-1")]
    #[case::r_conf_1_only_dots("./.", "R-CONF-1")]
    #[case::r_conf_2_parent("../secret", "R-CONF-2")]
    #[case::r_conf_2_inner_parent("sub/../a.wasm", "R-CONF-2")]
    #[case::r_conf_3_outside_symlink("outside-link", "R-CONF-3")]
    #[case::r_conf_3_absolute_symlink("absolute-link", "R-CONF-3")]
    #[case::r_conf_3_loop("loop1", "R-CONF-3")]
    #[case::r_conf_3_dangling("dangling", "R-CONF-3")]
    #[case::r_conf_4_directory("sub", "R-CONF-4")]
    #[case::r_conf_5_missing("nope.wasm", "R-CONF-5")]
    #[case::r_conf_5_missing_under_file("a.wasm/x", "R-CONF-5")]
    fn r_conf_refuses(#[case] declared: &str, #[case] rule: &str) {
        let (_tmp, dir) = layer();
        let err = confine(&dir, declared).unwrap_err();
        assert_eq!(err.rule(), rule, "{err}");
    }

    #[test]
    fn r_conf_4_device_files_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        symlink("/dev/null", tmp.path().join("null")).unwrap();
        // /dev/null is outside the layer: the escape is reported first.
        assert_eq!(confine(tmp.path(), "null").unwrap_err().rule(), "R-CONF-3");
    }

    #[test]
    fn r_conf_3_targets_outside_every_shared_directory_are_named_absolutely() {
        let tmp = tempfile::tempdir().unwrap();
        symlink("/dev/null", tmp.path().join("null")).unwrap();
        let err = confine(tmp.path(), "null").unwrap_err();
        let ConfineError::Escapes { target, .. } = &err else { panic!("{err}") };
        assert_eq!(target, &EscapedTarget::Absolute("/dev/null".into()));
        assert!(err.to_string().contains("resolves to `/dev/null`, outside"), "{err}");
        let (_tmp, dir) = layer();
        let err = confine(&dir, "outside-link").unwrap_err();
        assert!(err.to_string().contains("resolves to `../secret` (relative to the layer directory), outside"), "{err}");
    }

    #[test]
    fn r_conf_5_missing_layer_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let err = confine(&tmp.path().join("absent"), "a").unwrap_err();
        assert_eq!(err.rule(), "R-CONF-5");
    }

    /// A layer directory or buildpack directory that is a symbolic link (`lay -> /`) is refused
    /// even though the file is "inside" what it points to (R-CONF-7).
    #[test]
    fn r_conf_7_symlinked_layer_and_buildpack_dirs_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(tmp.path().join("bp")).unwrap();
        symlink("/", tmp.path().join("bp/lay")).unwrap();
        let err = confine(&tmp.path().join("bp/lay"), "etc/passwd").unwrap_err();
        assert_eq!(err.rule(), "R-CONF-7", "{err}");
        assert!(err.to_string().contains("layer directory"), "{err}");
        std::fs::create_dir_all(tmp.path().join("real/lay")).unwrap();
        std::fs::write(tmp.path().join("real/lay/f"), b"f").unwrap();
        symlink(tmp.path().join("real"), tmp.path().join("linked")).unwrap();
        let err = confine(&tmp.path().join("linked/lay"), "f").unwrap_err();
        assert_eq!(err.rule(), "R-CONF-7", "{err}");
        assert!(err.to_string().contains("buildpack directory"), "{err}");
    }

    /// A planned file swapped for a link to a secret after the check: the open refuses the
    /// link instead of following it, and a swap for another regular file changes the identity.
    #[test]
    fn r_push_4_a_file_swapped_after_planning_is_never_read() {
        let (_tmp, dir) = layer();
        let planned = confine(&dir, "a.wasm").unwrap();
        let (_, _, identity) = hash_file(&planned.source).unwrap();
        // The planned file stays alive under another name, so its inode is not reused.
        std::fs::rename(&planned.source, dir.join("a.old")).unwrap();
        symlink("../secret", &planned.source).unwrap();
        let e = hash_file(&planned.source).unwrap_err();
        assert!(e.to_string().contains("symbolic link"), "{e}");
        assert!(open_planned(&planned.source, identity).is_err());
        std::fs::remove_file(&planned.source).unwrap();
        std::fs::write(&planned.source, b"\0asm").unwrap();
        let e = open_planned(&planned.source, identity).unwrap_err();
        assert!(e.to_string().contains("replaced"), "{e}");
    }

    #[test]
    fn hashing_streams_the_file() {
        let (_tmp, dir) = layer();
        let (digest, size, _) = hash_file(&dir.join("sub/b.txt").canonicalize().unwrap()).unwrap();
        assert_eq!(size, 1);
        assert_eq!(digest, Digest::of(b"b"));
    }
}
