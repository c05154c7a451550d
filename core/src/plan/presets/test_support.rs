//! Test helpers for the presets and manifests: files in a tempdir, tarballs, fixtures.

use std::path::PathBuf;

use tempfile::TempDir;

use super::PresetInput;
use crate::layer_toml::Preset;
use crate::plan::PlannedFile;
use crate::reference::Digest;

/// A layer directory in a tempdir that files are written into.
pub(crate) struct LayerDir {
    dir: TempDir,
}

impl LayerDir {
    pub(crate) fn new() -> Self {
        LayerDir { dir: tempfile::tempdir().expect("tempdir") }
    }

    /// Writes `bytes` at `path` (relative, `/`-separated) and returns it as the planner would.
    pub(crate) fn add(&self, path: &str, bytes: &[u8]) -> PlannedFile {
        let source = self.dir.path().join(path);
        if let Some(parent) = source.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(&source, bytes).expect("write");
        let identity = crate::input_file::FileIdentity::of(&std::fs::metadata(&source).expect("stat"));
        PlannedFile {
            path: path.to_string(),
            source,
            identity,
            size: bytes.len() as u64,
            digest: Digest::of(bytes),
            digest_pending: false,
            media_type: String::new(),
        }
    }

    /// Copies a committed fixture (path relative to `fixtures/`) to `path`.
    pub(crate) fn add_fixture(&self, path: &str, fixture_path: &str) -> PlannedFile {
        let bytes = std::fs::read(fixture(fixture_path)).expect("fixture");
        self.add(path, &bytes)
    }
}

/// The path of a committed fixture, relative to `fixtures/`.
pub(crate) fn fixture(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures").join(path)
}

/// A preset input with nothing declared and no `SOURCE_DATE_EPOCH`.
pub(crate) fn input(preset: Preset, files: &[PlannedFile]) -> PresetInput<'_> {
    PresetInput { preset, artifact_type: None, media_type: None, files, created: None }
}

/// A gzip-compressed tar of regular files, deterministic (mode 0644, mtime 0, ustar).
pub(crate) fn tgz(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut builder = tar::Builder::new(encoder);
    for (name, bytes) in entries {
        let mut header = tar::Header::new_ustar();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_entry_type(tar::EntryType::Regular);
        builder.append_data(&mut header, name, *bytes).expect("tar entry");
    }
    builder.into_inner().expect("tar").finish().expect("gzip")
}
