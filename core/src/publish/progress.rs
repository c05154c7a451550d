//! Progress of blob uploads: an `indicatif` bar on stderr for large blobs when stderr is a
//! terminal, plain `tracing` lines otherwise. Nothing is written to stdout.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};

/// Blobs at least this large get a progress bar (8 MiB).
pub const BAR_THRESHOLD: u64 = 8 * 1024 * 1024;

/// Decides, once per publish, whether bars are drawn.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    bars: bool,
}

impl Progress {
    /// Bars when `wanted` and stderr is a terminal.
    pub fn new(wanted: bool) -> Progress {
        Progress { bars: wanted && std::io::stderr().is_terminal() }
    }

    /// The progress of one blob upload of `size` bytes, described by `what`.
    pub fn blob(&self, what: &str, size: u64) -> BlobProgress {
        tracing::info!("uploading {what} ({size} bytes)");
        if !self.bars || size < BAR_THRESHOLD {
            return BlobProgress::none();
        }
        let bar = ProgressBar::new(size);
        if let Ok(style) = ProgressStyle::with_template("{msg} {bar:30} {bytes}/{total_bytes} {bytes_per_sec}") {
            bar.set_style(style);
        }
        bar.set_message(what.to_string());
        BlobProgress { bar: Some(bar) }
    }
}

/// The bar of one upload, if any. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct BlobProgress {
    bar: Option<ProgressBar>,
}

impl BlobProgress {
    pub fn none() -> BlobProgress {
        BlobProgress { bar: None }
    }

    /// `n` more bytes were read for upload.
    pub fn advance(&self, n: u64) {
        if let Some(bar) = &self.bar {
            bar.inc(n);
        }
    }

    /// Restarts the count, for a retried upload.
    pub fn restart(&self) {
        if let Some(bar) = &self.bar {
            bar.set_position(0);
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
