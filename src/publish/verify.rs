//! Streaming a planned file from disk while checking it still is what was planned (R-PUSH-4).
//!
//! Files are never read whole into memory: [`file_stream`] yields chunks of at most the
//! configured chunk size and hashes them on the way. When the file ends, its SHA-256 and length
//! are compared with the plan; a difference (or a file that grows past its planned size) ends
//! the stream with an error carrying a [`FileMismatch`], *before* the stream finishes, so the
//! upload is never committed. Both targets consume this stream.

use std::io;
use std::path::{Path, PathBuf};

use bytes::{Bytes, BytesMut};
use futures_util::Stream;
use sha2::{Digest as _, Sha256};
use tokio::io::AsyncReadExt;

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

/// Turns a stream error into the target error it stands for.
pub fn stream_error(path: &Path, expected: &Digest, size: u64, e: io::Error) -> TargetError {
    match mismatch_in(&e) {
        Some(m) => TargetError::FileChanged {
            path: path.to_path_buf(),
            expected: expected.clone(),
            expected_size: size,
            found: m.found.clone(),
        },
        None => TargetError::ReadFile { path: path.to_path_buf(), source: e },
    }
}

enum Phase {
    Reading,
    Done,
}

struct State {
    file: tokio::fs::File,
    hasher: Sha256,
    seen: u64,
    expected: Digest,
    size: u64,
    chunk: usize,
    progress: BlobProgress,
    phase: Phase,
}

impl State {
    /// The final check, once the file has ended.
    fn verify(&mut self) -> Option<io::Error> {
        let found = Digest::from_sha256(std::mem::take(&mut self.hasher));
        if found == self.expected && self.seen == self.size {
            None
        } else {
            Some(io::Error::other(FileMismatch { found: format!("{found} ({} bytes)", self.seen) }))
        }
    }

    /// Reads up to one chunk; `Ok(None)` at the end of the file.
    async fn read_chunk(&mut self) -> io::Result<Option<Bytes>> {
        let mut buf = BytesMut::with_capacity(self.chunk);
        while buf.len() < self.chunk {
            if self.file.read_buf(&mut buf).await? == 0 {
                break;
            }
        }
        if buf.is_empty() {
            return Ok(None);
        }
        self.seen += buf.len() as u64;
        if self.seen > self.size {
            return Err(io::Error::other(FileMismatch { found: format!("more than {} bytes", self.size) }));
        }
        self.hasher.update(&buf);
        self.progress.advance(buf.len() as u64);
        Ok(Some(buf.freeze()))
    }
}

/// Opens `path` and streams it in chunks of `chunk` bytes, checking it against `expected` and
/// `size` (see the module docs).
pub async fn file_stream(
    path: &Path,
    expected: &Digest,
    size: u64,
    chunk: usize,
    progress: BlobProgress,
) -> Result<impl Stream<Item = io::Result<Bytes>> + Send + 'static, TargetError> {
    let file = tokio::fs::File::open(path)
        .await
        .map_err(|source| TargetError::ReadFile { path: PathBuf::from(path), source })?;
    progress.restart();
    let state = State {
        file,
        hasher: Sha256::new(),
        seen: 0,
        expected: expected.clone(),
        size,
        chunk: chunk.max(1),
        progress,
        phase: Phase::Reading,
    };
    Ok(futures_util::stream::unfold(state, |mut st| async move {
        if matches!(st.phase, Phase::Done) {
            return None;
        }
        match st.read_chunk().await {
            Ok(Some(bytes)) => Some((Ok(bytes), st)),
            Ok(None) => {
                st.phase = Phase::Done;
                st.verify().map(|e| (Err(e), st))
            }
            Err(e) => {
                st.phase = Phase::Done;
                Some((Err(e), st))
            }
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::TryStreamExt;

    async fn collect(path: &Path, expected: &Digest, size: u64, chunk: usize) -> io::Result<Vec<Bytes>> {
        let s = file_stream(path, expected, size, chunk, BlobProgress::none()).await.expect("opens");
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
    async fn r_push_4_empty_file_verifies() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"").unwrap();
        assert!(collect(&path, &Digest::of(b""), 0, 4).await.unwrap().is_empty());
    }
}
