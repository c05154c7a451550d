//! Progress of blob uploads: `indicatif` bars on stderr when stderr is a terminal, one per large
//! blob being uploaded (several at once with `--jobs`, drawn together) under a total across
//! every artifact; plain `tracing` lines otherwise. Nothing is written to stdout.

use std::io::IsTerminal;

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

/// Blobs at least this large get a progress bar (8 MiB).
pub const BAR_THRESHOLD: u64 = 8 * 1024 * 1024;

/// The bar line: message, bar, bytes, speed. At most [`MESSAGE_WIDTH`] + 58 columns (the
/// bytes as `1023.9 MiB/1023.9 MiB`, the speed as `1023.9 MiB/s`), so it fits 80 columns.
const BAR_TEMPLATE: &str = "{msg} {bar:20} {bytes}/{total_bytes} {bytes_per_sec}";
/// Columns left for the message on an 80-column terminal.
pub const MESSAGE_WIDTH: usize = 22;

/// `what` for the bar: every `sha256:` digest cut to its first 12 hex digits, then the whole
/// cut to [`MESSAGE_WIDTH`] characters (ending in `…` when cut). The log line keeps it whole.
pub fn bar_message(what: &str) -> String {
    let mut short = String::new();
    let mut rest = what;
    while let Some(i) = rest.find("sha256:") {
        let (before, after) = rest.split_at(i + "sha256:".len());
        short.push_str(before);
        let hex = after.chars().take_while(char::is_ascii_hexdigit).count();
        short.push_str(&after[..hex.min(12)]);
        rest = &after[hex..];
    }
    short.push_str(rest);
    if short.chars().count() <= MESSAGE_WIDTH {
        return short;
    }
    let mut cut: String = short.chars().take(MESSAGE_WIDTH - 1).collect();
    cut.push('…');
    cut
}

/// Decides, once per publish, whether bars are drawn, and draws them together.
#[derive(Debug, Clone)]
pub struct Progress {
    /// `Some` when bars are drawn.
    bars: Option<MultiProgress>,
}

impl Progress {
    /// Bars when `wanted` and stderr is a terminal.
    pub fn new(wanted: bool) -> Progress {
        Progress { bars: (wanted && std::io::stderr().is_terminal()).then(MultiProgress::new) }
    }

    /// The total of a blob step that may send `size` bytes across every artifact (`blobs`
    /// blobs): a bar when bars are drawn and it is large; each blob counts when it is done.
    pub fn total(&self, blobs: usize, size: u64) -> BlobProgress {
        match &self.bars {
            Some(multi) if size >= BAR_THRESHOLD => {
                BlobProgress { bar: Some(multi.add(styled(size, &format!("{blobs} blobs, all artifacts")))) }
            }
            _ => BlobProgress::none(),
        }
    }

    /// The progress of one blob upload of `size` bytes, described by `what`.
    pub fn blob(&self, what: &str, size: u64) -> BlobProgress {
        tracing::info!("uploading {what} ({size} bytes)");
        match &self.bars {
            Some(multi) if size >= BAR_THRESHOLD => BlobProgress { bar: Some(multi.add(styled(size, &bar_message(what)))) },
            _ => BlobProgress::none(),
        }
    }
}

/// A bar of `size` bytes with the bar line's style and `message`.
fn styled(size: u64, message: &str) -> ProgressBar {
    let bar = ProgressBar::new(size);
    if let Ok(style) = ProgressStyle::with_template(BAR_TEMPLATE) {
        bar.set_style(style);
    }
    bar.set_message(message.to_string());
    bar
}

/// The bar of one upload, if any. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct BlobProgress {
    bar: Option<ProgressBar>,
}

impl BlobProgress {
    /// No bar: every call is a no-op (not a terminal, or progress switched off).
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

    /// Removes the bar: the upload is done (or failed).
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bar_line_fits_80_columns() {
        let what = format!("file mywasmprogram.wasm sha256:{} of examples/wasm/wasm#0", "ab".repeat(32));
        let message = bar_message(&what);
        assert_eq!(message, "file mywasmprogram.wa…");
        // The widest rendering of the rest: bar, bytes and speed, with their spaces.
        let rest = format!(" {} {}/{} {}", "#".repeat(20), "1023.9 MiB", "1023.9 MiB", "1023.9 MiB/s");
        assert!(message.chars().count() + rest.chars().count() <= 80, "{message}{rest}");
        assert_eq!(bar_message(&format!("config sha256:{}", "0".repeat(64))), "config sha256:0000000…");
    }
}
