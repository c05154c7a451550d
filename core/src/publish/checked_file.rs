//! Streaming a planned file from disk while checking it still is what was planned (R-PUSH-4).
//!
//! Files are never read whole into memory: [`file_stream`] yields pieces of at most the
//! configured chunk size, read on Tokio's blocking pool (plain `read` calls straight into the
//! piece, no intermediate copy, no file I/O on the async workers). How much is checked on the
//! way is the [`Check`]:
//!
//! - [`Check::Digest`] (the OCI layout target, where this process is the content store): each
//!   piece is hashed, and the piece that reaches the planned size is held back until the end of
//!   the file is confirmed and the file's SHA-256 and length compared with the plan; a
//!   difference ends the stream with an error carrying a [`FileMismatch`] *instead of* that last
//!   piece, so the consumer never receives all of the bytes.
//! - [`Check::Length`] (a registry, which checks the digest itself, R-PUSH-4): only the length
//!   is checked, the same way; the upload names the planned digest, and the registry refuses
//!   bytes whose digest differs (`DIGEST_INVALID`), so the file is hashed once per publish, at
//!   planning, and the upload's CPU goes to moving bytes (docs/performance.md).
//!
//! - [`Check::Compute`] (a single-pass upload to a registry, R-PUSH-11): the digest is not
//!   known yet; each piece is hashed, the length is checked as above, and the digest of exactly
//!   the bytes yielded is put in the [`ComputedDigest`] once the end of the file is confirmed.
//!
//! Either way a file that grows past its planned size ends the stream with a [`FileMismatch`]
//! before its extra bytes are sent. Piece buffers come back to the stream when the consumer
//! drops them (`Pool`): one stream allocates two buffers however long the file, which keeps the
//! peak memory at about two chunks (allocating a fresh buffer per piece lets the allocator keep
//! freed chunks per thread). Both targets consume this stream.

use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures_util::Stream;
use sha2::{Digest as _, Sha256};

use crate::input_file::FileIdentity;
use crate::publish::error::TargetError;
use crate::publish::progress::BlobProgress;
use crate::reference::Digest;

/// A file's bytes differ from the plan; `found` says what was read instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("file changed since planning: found {found}")]
pub struct FileMismatch {
    pub found: String,
}

/// The [`FileMismatch`] inside an I/O error produced by [`file_stream`], if that is what it is.
pub fn mismatch_in(e: &io::Error) -> Option<&FileMismatch> {
    e.get_ref().and_then(|inner| inner.downcast_ref::<FileMismatch>())
}

/// The [`FileMismatch`] anywhere in `e`'s chain of sources (a streamed upload body's error
/// travels through reqwest and hyper when an upload is cut short).
pub fn mismatch_in_chain<'e>(e: &'e (dyn std::error::Error + 'static)) -> Option<&'e FileMismatch> {
    let mut next: Option<&'e (dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = next {
        if let Some(m) = s.downcast_ref::<FileMismatch>() {
            return Some(m);
        }
        if let Some(m) = s.downcast_ref::<io::Error>().and_then(mismatch_in) {
            return Some(m);
        }
        next = s.source();
    }
    None
}

/// Turns a stream error into the target error it stands for.
pub fn stream_error(path: &Path, expected: &Digest, size: u64, e: io::Error) -> TargetError {
    match mismatch_in(&e) {
        Some(m) => TargetError::FileChanged {
            path: path.to_path_buf(),
            expected: Some(expected.clone()),
            expected_size: size,
            found: m.found.clone(),
        },
        None => TargetError::ReadFile { path: path.to_path_buf(), source: e },
    }
}

/// What [`file_stream`] checks while reading; see the module documentation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// Length and SHA-256 digest, before the last piece is released.
    Digest,
    /// Length only: the consumer (a registry) checks the digest.
    Length,
    /// Length, and the digest computed into the slot (the `expected` digest is not used).
    Compute(ComputedDigest),
}

/// Where a [`Check::Compute`] stream puts the digest of the bytes it yielded, once it has
/// confirmed the end of the file.
#[derive(Debug, Clone, Default)]
pub struct ComputedDigest(Arc<std::sync::OnceLock<Digest>>);

impl ComputedDigest {
    /// The digest, once the stream reached the confirmed end of the file.
    pub fn get(&self) -> Option<Digest> {
        self.0.get().cloned()
    }
}

impl PartialEq for ComputedDigest {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for ComputedDigest {}

/// How many piece buffers a stream keeps for reuse: the one the consumer is sending and the
/// one being read.
const POOLED_BUFFERS: usize = 2;

/// The piece buffers of one stream, returned by [`Piece`]s when the consumer drops them.
#[derive(Debug, Clone, Default)]
struct Pool(Arc<Mutex<Vec<Vec<u8>>>>);

impl Pool {
    /// An empty buffer of at least `capacity` bytes: a returned one when there is one.
    fn take(&self, capacity: usize) -> Vec<u8> {
        let mut buf = self.0.lock().ok().and_then(|mut free| free.pop()).unwrap_or_default();
        buf.clear();
        buf.reserve_exact(capacity);
        buf
    }

    fn give_back(&self, buf: Vec<u8>) {
        if let Ok(mut free) = self.0.lock() {
            if free.len() < POOLED_BUFFERS {
                free.push(buf);
            }
        }
    }
}

/// One piece of the file, owning its buffer until the consumer drops it.
struct Piece {
    buf: Vec<u8>,
    pool: Pool,
}

impl AsRef<[u8]> for Piece {
    fn as_ref(&self) -> &[u8] {
        &self.buf
    }
}

impl Drop for Piece {
    fn drop(&mut self) {
        self.pool.give_back(std::mem::take(&mut self.buf));
    }
}

/// The blocking half: the open file and what was read so far.
struct Reader {
    file: std::fs::File,
    /// `None` under [`Check::Length`].
    hasher: Option<Sha256>,
    seen: u64,
    /// The planned digest (`None` under [`Check::Compute`]).
    expected: Option<Digest>,
    /// Under [`Check::Compute`]: where the digest goes, instead of being compared.
    computed: Option<ComputedDigest>,
    size: u64,
    chunk: usize,
    pool: Pool,
    /// The end of the file was confirmed and the digest checked.
    verified: bool,
}

impl Reader {
    /// The final check: the file ended after exactly the planned bytes, with the planned digest
    /// when the digest is checked here.
    fn verify(&mut self) -> io::Result<()> {
        self.verified = true;
        let found = self.hasher.take().map(Digest::from_sha256);
        if let (Some(found), Some(slot)) = (&found, &self.computed) {
            if self.seen != self.size {
                return Err(io::Error::other(FileMismatch { found: format!("{} bytes", self.seen) }));
            }
            // Set once: a reader verifies once.
            let _ = slot.0.set(found.clone());
            return Ok(());
        }
        match found {
            Some(found) if Some(&found) != self.expected.as_ref() || self.seen != self.size => {
                Err(io::Error::other(FileMismatch { found: format!("{found} ({} bytes)", self.seen) }))
            }
            None if self.seen != self.size => Err(io::Error::other(FileMismatch { found: format!("{} bytes", self.seen) })),
            _ => Ok(()),
        }
    }

    /// Reads the next piece (blocking); `Ok(None)` once the checked end of the file is reached.
    /// The piece that completes the planned size is returned only after the check passed.
    fn next_piece(&mut self) -> io::Result<Option<Piece>> {
        if self.verified {
            return Ok(None);
        }
        let mut buf = self.pool.take(self.chunk);
        (&mut self.file).take(self.chunk as u64).read_to_end(&mut buf)?;
        if buf.is_empty() {
            // The file ended (at or before the planned size).
            self.pool.give_back(buf);
            return self.verify().map(|()| None);
        }
        self.seen += buf.len() as u64;
        if self.seen > self.size {
            return Err(io::Error::other(FileMismatch { found: format!("more than {} bytes", self.size) }));
        }
        if let Some(hasher) = &mut self.hasher {
            hasher.update(&buf);
        }
        if self.seen == self.size {
            // Hold this last piece back until the file is known to end here, unchanged.
            if self.file.read(&mut [0u8; 1])? != 0 {
                return Err(io::Error::other(FileMismatch { found: format!("more than {} bytes", self.size) }));
            }
            self.verify()?;
        }
        Ok(Some(Piece { buf, pool: self.pool.clone() }))
    }
}

/// The async half: the reader travels to the blocking pool and back for each piece.
struct State {
    reader: Option<Reader>,
    progress: BlobProgress,
}

impl State {
    async fn next(&mut self) -> Option<io::Result<Bytes>> {
        let mut reader = self.reader.take()?;
        let joined = tokio::task::spawn_blocking(move || {
            let piece = reader.next_piece();
            (reader, piece)
        })
        .await;
        let (reader, piece) = match joined {
            Ok(done) => done,
            Err(e) => return Some(Err(io::Error::other(e))),
        };
        match piece {
            Ok(Some(piece)) => {
                self.progress.advance(piece.buf.len() as u64);
                self.reader = Some(reader);
                Some(Ok(Bytes::from_owner(piece)))
            }
            Ok(None) => None,
            Err(e) => Some(Err(e)),
        }
    }
}

/// Opens `path` and streams it in pieces of `chunk` bytes, checking it against `expected` (the
/// planned digest; `None` under [`Check::Compute`]) and `size` as `check` says (see the module
/// docs). A stream stops after its first error.
pub async fn file_stream(
    path: &Path,
    identity: FileIdentity,
    expected: Option<&Digest>,
    size: u64,
    chunk: usize,
    check: Check,
    progress: BlobProgress,
) -> Result<impl Stream<Item = io::Result<Bytes>> + Send + 'static, TargetError> {
    let owned = path.to_path_buf();
    let opened = tokio::task::spawn_blocking(move || crate::plan::confine::open_resolved(&owned))
        .await
        .map_err(|e| TargetError::ReadFile { path: PathBuf::from(path), source: io::Error::other(e) })?;
    let (file, meta) = opened.map_err(|source| TargetError::ReadFile { path: PathBuf::from(path), source })?;
    // The very file that was planned, or nothing: a name swapped for another file (or for a
    // link, refused by `open_resolved`) since planning never sends that file's bytes.
    let found = FileIdentity::of(&meta);
    if found != identity && !crate::mutants::opens_paths_as_given() {
        return Err(TargetError::FileChanged {
            path: PathBuf::from(path),
            expected: expected.cloned(),
            expected_size: size,
            found: format!(
                "another file (device {} inode {}, planned device {} inode {})",
                found.dev, found.ino, identity.dev, identity.ino
            ),
        });
    }
    progress.restart();
    let reader = Reader {
        file,
        hasher: (check != Check::Length).then(Sha256::new),
        seen: 0,
        expected: expected.cloned(),
        computed: match check {
            Check::Compute(slot) => Some(slot),
            Check::Digest | Check::Length => None,
        },
        size,
        chunk: chunk.max(1),
        pool: Pool::default(),
        verified: false,
    };
    let state = State { reader: Some(reader), progress };
    Ok(futures_util::stream::unfold(state, |mut st| async move { st.next().await.map(|item| (item, st)) }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::{StreamExt, TryStreamExt};

    fn ident(path: &Path) -> FileIdentity {
        FileIdentity::of(&std::fs::metadata(path).unwrap())
    }

    async fn collect(path: &Path, expected: &Digest, size: u64, chunk: usize) -> io::Result<Vec<Bytes>> {
        collect_checking(path, expected, size, chunk, Check::Digest).await
    }

    async fn collect_checking(path: &Path, expected: &Digest, size: u64, chunk: usize, check: Check) -> io::Result<Vec<Bytes>> {
        let s = file_stream(path, ident(path), Some(expected), size, chunk, check, BlobProgress::none()).await.expect("opens");
        s.try_collect().await
    }

    #[tokio::test]
    async fn r_push_4_unchanged_file_streams_in_chunks() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"0123456789").unwrap();
        let chunks = collect(&path, &Digest::of(b"0123456789"), 10, 4).await.unwrap();
        let lens: Vec<usize> = chunks.iter().map(|c| c.len()).collect();
        assert_eq!(lens, vec![4, 4, 2]);
    }

    #[tokio::test]
    async fn r_push_4_changed_file_ends_in_a_mismatch() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"0123456789").unwrap();
        let err = collect(&path, &Digest::of(b"0123456788"), 10, 4).await.unwrap_err();
        let m = mismatch_in(&err).expect("a mismatch");
        assert!(m.found.starts_with(Digest::of(b"0123456789").as_str()), "{}", m.found);
    }

    #[tokio::test]
    async fn r_push_4_grown_file_stops_early() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"0123456789").unwrap();
        let err = collect(&path, &Digest::of(b"0123"), 4, 4).await.unwrap_err();
        assert_eq!(mismatch_in(&err).unwrap().found, "more than 4 bytes");
    }

    #[tokio::test]
    async fn r_push_4_changed_last_piece_is_never_yielded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"0123456789").unwrap();
        let s = file_stream(&path, ident(&path), Some(&Digest::of(b"0123456788")), 10, 4, Check::Digest, BlobProgress::none())
            .await
            .expect("opens");
        let items: Vec<io::Result<Bytes>> = s.collect().await;
        let lens: Vec<Option<usize>> = items.iter().map(|i| i.as_ref().ok().map(Bytes::len)).collect();
        // The two full pieces go out; the last one (which completes the planned size) is
        // replaced by the mismatch, so a consumer never receives all 10 bytes.
        assert_eq!(lens, vec![Some(4), Some(4), None]);
        assert!(mismatch_in(items[2].as_ref().unwrap_err()).is_some());
    }

    #[tokio::test]
    async fn r_push_4_file_longer_than_planned_fails_before_the_last_planned_piece() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"0123456789").unwrap();
        let items: Vec<io::Result<Bytes>> =
            file_stream(&path, ident(&path), Some(&Digest::of(b"01234567")), 8, 4, Check::Digest, BlobProgress::none())
                .await
                .expect("opens")
                .collect()
                .await;
        assert_eq!(items.len(), 2, "one piece, then the error instead of the second");
        assert_eq!(mismatch_in(items[1].as_ref().unwrap_err()).unwrap().found, "more than 8 bytes");
    }

    #[test]
    fn r_push_4_piece_buffers_are_reused() {
        let pool = Pool::default();
        let first = pool.take(1024);
        let address = first.as_ptr();
        drop(Piece { buf: first, pool: pool.clone() });
        let second = pool.take(1024);
        assert_eq!(second.as_ptr(), address, "the dropped piece's buffer comes back");
    }

    #[tokio::test]
    async fn r_push_4_empty_file_verifies() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"").unwrap();
        assert!(collect(&path, &Digest::of(b""), 0, 4).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn r_push_4_length_check_leaves_the_digest_to_the_registry() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"0123456789").unwrap();
        // Same length, other bytes: passes through; the registry's digest check refuses them.
        let pieces = collect_checking(&path, &Digest::of(b"0123456788"), 10, 4, Check::Length).await.unwrap();
        assert_eq!(pieces.concat(), b"0123456789");
    }

    #[tokio::test]
    async fn r_push_11_compute_gives_the_digest_of_the_bytes_yielded_once_the_end_is_confirmed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"0123456789").unwrap();
        let slot = ComputedDigest::default();
        let mut s =
            Box::pin(file_stream(&path, ident(&path), None, 10, 4, Check::Compute(slot.clone()), BlobProgress::none()).await.unwrap());
        let mut sent = Vec::new();
        while let Some(piece) = s.next().await {
            sent.extend_from_slice(&piece.unwrap());
            // The digest comes with the last piece, held back until the end of the file is confirmed.
            assert_eq!(slot.get().is_some(), sent.len() == 10, "after {} bytes", sent.len());
        }
        assert_eq!(sent, b"0123456789");
        assert_eq!(slot.get(), Some(Digest::of(b"0123456789")));
        // Another length than planned: an error, and no digest.
        let slot = ComputedDigest::default();
        let err = collect_checking(&path, &Digest::of(b""), 11, 4, Check::Compute(slot.clone())).await.unwrap_err();
        assert_eq!(mismatch_in(&err).unwrap().found, "10 bytes");
        assert_eq!(slot.get(), None);
    }

    #[rstest::rstest]
    #[case::longer(9, "more than 9 bytes")]
    #[case::shorter(11, "10 bytes")]
    #[tokio::test]
    async fn r_push_4_length_check_refuses_another_length(#[case] planned: u64, #[case] found: &str) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"0123456789").unwrap();
        let err = collect_checking(&path, &Digest::of(b"x"), planned, 4, Check::Length).await.unwrap_err();
        assert_eq!(mismatch_in(&err).unwrap().found, found);
    }
}
