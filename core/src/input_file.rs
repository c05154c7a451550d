//! Opening the files the publisher reads, so that none of them can make it read something else,
//! block, or fill its memory (docs/security.md):
//!
//! - [`open_no_symlinks`] opens a path one component at a time with `openat(O_NOFOLLOW)` from
//!   the directory before it, so a symbolic link planted anywhere along the path after a check
//!   makes the open fail instead of leading elsewhere (R-CONF-3, R-CONF-7).
//! - Every open is non-blocking and followed by `fstat`: a named pipe or device is refused
//!   before anything waits on it or reads it (R-CONF-4, R-SEC-1).
//! - [`read_input`] reads a whole input file (layer TOML, group.toml, report.toml, Docker config,
//!   CA file) up to a size cap checked with `fstat` before reading and enforced while reading
//!   (R-SEC-2).
//! - [`FileIdentity`] is the device and inode of an open file: the publisher uploads only the
//!   very file it planned (R-PUSH-4).

use std::ffi::CString;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Component, Path};

/// The size cap of a layer TOML or group.toml: 8 MiB, twice the manifest limit (R-MAN-9), so a
/// label that makes a manifest too large is refused for that, not for the file it came from.
pub const TOML_CAP: u64 = 8 * 1024 * 1024;
/// The size cap of report.toml.
pub const REPORT_CAP: u64 = 1024 * 1024;
/// The size cap of a Docker config or a CA file.
pub const CONFIG_CAP: u64 = 4 * 1024 * 1024;

/// Where a file is on its file system: device and inode, taken with `fstat` on the open file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct FileIdentity {
    /// The device number (`st_dev`).
    pub dev: u64,
    /// The inode number (`st_ino`).
    pub ino: u64,
}

impl FileIdentity {
    /// The identity of the file `meta` was taken from (`fstat` of the open file).
    pub fn of(meta: &std::fs::Metadata) -> FileIdentity {
        FileIdentity { dev: meta.dev(), ino: meta.ino() }
    }
}

/// What kind of file `meta` describes, for messages ("named pipe", "device", …).
pub fn kind(meta: &std::fs::Metadata) -> &'static str {
    let t = meta.file_type();
    if t.is_file() {
        "regular file"
    } else if t.is_dir() {
        "directory"
    } else if t.is_symlink() {
        "symbolic link"
    } else if t.is_block_device() || t.is_char_device() {
        "device"
    } else if t.is_fifo() {
        "named pipe"
    } else if t.is_socket() {
        "socket"
    } else {
        "special file"
    }
}

fn c_name(name: &std::ffi::OsStr) -> io::Result<CString> {
    CString::new(name.as_bytes()).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))
}

fn openat(dir: libc::c_int, name: &std::ffi::OsStr, flags: libc::c_int) -> io::Result<OwnedFd> {
    let name = c_name(name)?;
    // SAFETY: `name` is a valid NUL-terminated string; the result is checked before use.
    let fd = unsafe { libc::openat(dir, name.as_ptr(), flags | libc::O_CLOEXEC | libc::O_NOFOLLOW) };
    if fd < 0 {
        let e = io::Error::last_os_error();
        // O_NOFOLLOW on a symbolic link fails with ELOOP (ENOTDIR with O_DIRECTORY): name the
        // cause when the entry is a link.
        if matches!(e.raw_os_error(), Some(libc::ELOOP) | Some(libc::ENOTDIR)) && is_symlink_at(dir, &name) {
            return Err(io::Error::other(format!("`{}` is a symbolic link (not followed)", name.to_string_lossy())));
        }
        return Err(e);
    }
    // SAFETY: `fd` is a fresh descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn is_symlink_at(dir: libc::c_int, name: &CString) -> bool {
    // SAFETY: `stat` is plain data that fstatat fills; `name` is NUL-terminated.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::fstatat(dir, name.as_ptr(), &mut st, libc::AT_SYMLINK_NOFOLLOW) };
    rc == 0 && (st.st_mode & libc::S_IFMT) == libc::S_IFLNK
}

/// Opens `path` for reading without following a symbolic link at any component, without
/// blocking (a named pipe opens at once), and returns it with its `fstat`. `..` components are
/// refused; a relative path starts at the working directory.
pub fn open_no_symlinks(path: &Path) -> io::Result<(File, std::fs::Metadata)> {
    walk(None, path)
}

/// Opens `root` (following symbolic links: the platform named it) as a directory, then `rel`
/// under it as [`open_no_symlinks`] does.
pub fn open_under(root: &Path, rel: &Path) -> io::Result<(File, std::fs::Metadata)> {
    use std::os::unix::fs::OpenOptionsExt;
    let dir = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_DIRECTORY | libc::O_CLOEXEC).open(root)?;
    if rel.is_absolute() {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "absolute path"));
    }
    walk(Some(OwnedFd::from(dir)), rel)
}

fn walk(mut dir: Option<OwnedFd>, path: &Path) -> io::Result<(File, std::fs::Metadata)> {
    let components: Vec<Component<'_>> = path.components().collect();
    let Some((last, dirs)) = components.split_last() else {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "empty path"));
    };
    let fd_of = |dir: &Option<OwnedFd>| dir.as_ref().map(|d| d.as_raw_fd()).unwrap_or(libc::AT_FDCWD);
    for c in dirs {
        let next = match c {
            Component::RootDir => openat(libc::AT_FDCWD, "/".as_ref(), libc::O_RDONLY | libc::O_DIRECTORY)?,
            Component::CurDir => continue,
            Component::Normal(name) => openat(fd_of(&dir), name, libc::O_RDONLY | libc::O_DIRECTORY)?,
            Component::ParentDir | Component::Prefix(_) => {
                return Err(io::Error::new(io::ErrorKind::InvalidInput, "path has a `..` component"))
            }
        };
        dir = Some(next);
    }
    let Component::Normal(name) = last else {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "path does not name a file"));
    };
    let fd = openat(fd_of(&dir), name, libc::O_RDONLY | libc::O_NONBLOCK)?;
    let file = File::from(fd);
    let meta = file.metadata()?;
    Ok((file, meta))
}

/// Opens `path` (following symbolic links: the platform named it) without blocking, and
/// returns it with its `fstat`.
fn open_nonblocking(path: &Path) -> io::Result<(File, std::fs::Metadata)> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC).open(path)?;
    let meta = file.metadata()?;
    Ok((file, meta))
}

/// Why an input file cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// Opening or reading failed; the `io::Error` as the operating system gave it.
    #[error("{0}")]
    Io(#[from] io::Error),
    /// The path is something else than a regular file (the kind, e.g. "named pipe"); nothing was read from it.
    #[error("it is a {0}, not a regular file")]
    NotRegular(&'static str),
    /// The file is larger than the cap its caller set; nothing beyond the cap was read.
    #[error("it is larger than the limit of {cap} bytes")]
    TooLarge {
        /// The limit that was exceeded, in bytes.
        cap: u64,
    },
}

impl InputError {
    /// The `io::ErrorKind` to report this error as: the I/O error's own, else `InvalidInput`.
    pub fn kind(&self) -> io::ErrorKind {
        match self {
            InputError::Io(e) => e.kind(),
            InputError::NotRegular(_) | InputError::TooLarge { .. } => io::ErrorKind::InvalidInput,
        }
    }
}

/// An input error as an `io::Error`, for the error types that hold one.
pub fn into_io(e: InputError) -> io::Error {
    match e {
        InputError::Io(e) => e,
        other => io::Error::new(io::ErrorKind::InvalidInput, other.to_string()),
    }
}

/// How [`read_input`] opens a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Follow<'a> {
    /// The platform named the path (report.toml, Docker config, CA file): symbolic links are
    /// followed.
    Links,
    /// The path is `root` joined with a path in buildpack-written space (layer TOMLs,
    /// group.toml): `root` is followed, no component after it may be a symbolic link.
    NoLinksUnder(&'a Path),
}

/// Reads a whole regular file of at most `cap` bytes: the size is checked with `fstat` before
/// reading and again while reading (a file that grows is cut off, not read to the end).
pub fn read_input(path: &Path, follow: Follow<'_>, cap: u64) -> Result<Vec<u8>, InputError> {
    let (file, meta) = match follow {
        Follow::Links => open_nonblocking(path)?,
        Follow::NoLinksUnder(root) => match path.strip_prefix(root) {
            Ok(rel) => open_under(root, rel)?,
            Err(_) => open_no_symlinks(path)?,
        },
    };
    read_open(file, &meta, cap)
}

/// [`read_input`] on a file already open.
pub fn read_open(file: File, meta: &std::fs::Metadata, cap: u64) -> Result<Vec<u8>, InputError> {
    if !meta.is_file() {
        return Err(InputError::NotRegular(kind(meta)));
    }
    if meta.len() > cap {
        return Err(InputError::TooLarge { cap });
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(cap + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > cap {
        return Err(InputError::TooLarge { cap });
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn r_conf_7_no_component_may_be_a_symlink() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().canonicalize().unwrap();
        std::fs::create_dir(root.join("real")).unwrap();
        std::fs::write(root.join("real/f"), b"x").unwrap();
        symlink("real", root.join("link")).unwrap();
        symlink("f", root.join("real/g")).unwrap();
        assert!(open_no_symlinks(&root.join("real/f")).is_ok());
        let e = open_no_symlinks(&root.join("link/f")).unwrap_err();
        assert!(e.to_string().contains("symbolic link"), "{e}");
        assert!(open_no_symlinks(&root.join("real/g")).is_err());
        assert!(open_no_symlinks(&root.join("real/../real/f")).is_err());
        assert!(open_under(&root.join("link"), Path::new("f")).is_ok());
        assert!(open_under(&root, Path::new("link/f")).is_err());
    }

    #[test]
    fn r_sec_3_a_named_pipe_is_refused_without_blocking() {
        let tmp = tempfile::tempdir().unwrap();
        let pipe = tmp.path().join("pipe");
        let c = CString::new(pipe.as_os_str().as_bytes()).unwrap();
        // SAFETY: a valid path string.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        for follow in [Follow::Links, Follow::NoLinksUnder(tmp.path())] {
            let e = read_input(&pipe, follow, 10).unwrap_err();
            assert_eq!(e.to_string(), "it is a named pipe, not a regular file");
        }
        let e = read_input(Path::new("/dev/zero"), Follow::Links, 10).unwrap_err();
        assert_eq!(e.to_string(), "it is a device, not a regular file");
    }

    #[test]
    fn r_sec_4_the_size_cap_is_checked_before_reading() {
        let tmp = tempfile::tempdir().unwrap();
        let f = tmp.path().join("big");
        // A sparse file: its size is large, its blocks are not.
        File::create(&f).unwrap().set_len(1 << 30).unwrap();
        let e = read_input(&f, Follow::Links, TOML_CAP).unwrap_err();
        assert_eq!(e.to_string(), format!("it is larger than the limit of {TOML_CAP} bytes"));
        std::fs::write(&f, b"12345").unwrap();
        assert_eq!(read_input(&f, Follow::NoLinksUnder(tmp.path()), 5).unwrap(), b"12345");
        assert!(read_input(&f, Follow::NoLinksUnder(tmp.path()), 4).is_err());
    }
}
