//! User-facing input errors: one [`Diagnostic`] per problem, carrying the file, line and
//! column it concerns and the spec rule it enforces.
//!
//! Every module that reads user input (`layer_toml`, `template`, `plan`) reports problems as
//! diagnostics so the CLI can print *all* of them at once (spec rule R-ERR-1) in one stable,
//! greppable form: `error[R-ID]: FILE:LINE:COL: message` followed by an optional `help:` line.

use std::fmt;
use std::path::{Path, PathBuf};

/// A position in a user file, 1-based line and column (columns count characters).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
}

impl Location {
    /// The location of byte `offset` in `source` (the text of `file`). Scans `source`; to map
    /// many offsets of one text, build a [`LineIndex`] once.
    pub fn from_offset(file: &Path, source: &str, offset: usize) -> Location {
        LineIndex::new(source).location(file, source, offset)
    }

    /// A location that names a whole file (line 1, column 1).
    pub fn file(file: &Path) -> Location {
        Location { file: file.to_path_buf(), line: 1, column: 1 }
    }
}

/// The byte offsets at which the lines of a text start, for mapping offsets to lines and
/// columns in logarithmic time (a layer TOML may hold thousands of artifact tables).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    pub fn new(source: &str) -> LineIndex {
        let starts = std::iter::once(0).chain(source.match_indices('\n').map(|(i, _)| i + 1)).collect();
        LineIndex { starts }
    }

    /// The location of byte `offset` in `source`, the text this index was built from.
    pub fn location(&self, file: &Path, source: &str, offset: usize) -> Location {
        let offset = floor_char_boundary(source, offset.min(source.len()));
        let line = self.starts.partition_point(|&start| start <= offset).max(1);
        let line_start = self.starts[line - 1];
        let column = source[line_start..offset].chars().count() + 1;
        Location { file: file.to_path_buf(), line, column }
    }
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.column)
    }
}

/// One problem in the user's input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The spec rule the input breaks, e.g. `R-TAG-2`.
    pub rule: &'static str,
    /// Where the problem is; `None` for problems with command-line input.
    pub location: Option<Location>,
    pub message: String,
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn new(rule: &'static str, location: Option<Location>, message: impl Into<String>) -> Self {
        Diagnostic { rule, location, message: message.into(), help: None }
    }

    pub fn at(rule: &'static str, location: Location, message: impl Into<String>) -> Self {
        Self::new(rule, Some(location), message)
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Sets the help line when there is one.
    pub fn with_optional_help(mut self, help: Option<impl Into<String>>) -> Self {
        self.help = help.map(Into::into);
        self
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "error[{}]: ", self.rule)?;
        if let Some(loc) = &self.location {
            write!(f, "{loc}: ")?;
        }
        write!(f, "{}", self.message)?;
        if let Some(help) = &self.help {
            write!(f, "\n  help: {help}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostic {}

/// Every diagnostic of a run, in a stable order (by file, line, column, then message).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    pub fn push(&mut self, d: Diagnostic) {
        self.0.push(d);
    }
    pub fn extend(&mut self, other: impl IntoIterator<Item = Diagnostic>) {
        self.0.extend(other);
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// Sorts into the stable reporting order and removes exact duplicates.
    pub fn sorted(mut self) -> Self {
        self.0.sort_by(|a, b| {
            let key = |d: &Diagnostic| d.location.as_ref().map(|l| (l.file.clone(), l.line, l.column));
            key(a).cmp(&key(b)).then_with(|| a.message.cmp(&b.message))
        });
        self.0.dedup();
        self
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

impl From<Diagnostic> for Diagnostics {
    fn from(d: Diagnostic) -> Self {
        Diagnostics(vec![d])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_map_to_one_based_line_and_column() {
        let src = "a = 1\nbé = 2\n";
        let loc = Location::from_offset(Path::new("f.toml"), src, 9);
        assert_eq!((loc.line, loc.column), (2, 3));
        assert_eq!(loc.to_string(), "f.toml:2:3");
    }

    #[test]
    fn line_index_agrees_with_a_plain_scan() {
        let src = "a\nbé\n\nxyz";
        let index = LineIndex::new(src);
        for offset in 0..=src.len() + 2 {
            let scanned = {
                let o = floor_char_boundary(src, offset.min(src.len()));
                let before = &src[..o];
                let ls = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
                (before.matches('\n').count() + 1, before[ls..].chars().count() + 1)
            };
            let loc = index.location(Path::new("f"), src, offset);
            assert_eq!((loc.line, loc.column), scanned, "offset {offset}");
        }
    }

    #[test]
    fn display_includes_rule_location_and_help() {
        let d = Diagnostic::at("R-TAG-2", Location::file(Path::new("x.toml")), "bad tag").with_help("use a shorter tag");
        assert_eq!(d.to_string(), "error[R-TAG-2]: x.toml:1:1: bad tag\n  help: use a shorter tag");
    }
}
