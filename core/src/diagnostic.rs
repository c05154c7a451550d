//! User-facing input errors: one [`Diagnostic`] per problem, carrying the file, line and
//! column it concerns (or the path alone, for a file or directory as a whole) and the spec rule
//! it enforces.
//!
//! Every module that reads user input (`layer_toml`, `template`, `plan`) reports problems as
//! diagnostics so the CLI can print *all* of them at once (spec rule R-ERR-1) in one stable,
//! greppable form: `error[R-ID]: FILE:LINE:COL: message` (or `error[R-ID]: PATH: message`)
//! followed by an optional `help:` line. Every path in a diagnostic is printed through
//! [`display_path`], which escapes bytes that are not UTF-8 instead of replacing them.

use std::fmt::{self, Write as _};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// A position in a user file, 1-based line and column (columns count characters).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The file, as the user named it (or as found under the layers dir).
    pub file: PathBuf,
    /// The line, from 1.
    pub line: usize,
    /// The column, from 1, in characters (not bytes).
    pub column: usize,
}

impl Location {
    /// The location of byte `offset` in `source` (the text of `file`). Scans `source`; to map
    /// many offsets of one text, build a [`LineIndex`] once.
    pub fn from_offset(file: &Path, source: &str, offset: usize) -> Location {
        LineIndex::new(source).location(file, source, offset)
    }

    /// The start of `file` (line 1, column 1), for a rule that places a problem with the file as
    /// a whole there (R-CTX-1). A problem that has no position in a file is a [`Place::Path`].
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
    /// Indexes the line starts of `source` (one pass).
    pub fn new(source: &str) -> LineIndex {
        let starts = std::iter::once(0).chain(source.match_indices('\n').map(|(i, _)| i + 1)).collect();
        LineIndex { starts }
    }

    /// The location of byte `offset` in `source`, the text this index was built from.
    pub fn location(&self, file: &Path, source: &str, offset: usize) -> Location {
        let offset = floor_char_boundary(source, offset.min(source.len()));
        let line = self.starts.partition_point(|&start| start <= offset).max(1);
        let line_start = self.starts[line - 1];
        // A leading byte order mark is not part of the text (R-FILE-5): columns of line 1 start
        // after it.
        let bom = usize::from(line == 1 && offset > 0 && source.starts_with(BOM));
        let column = source[line_start..offset].chars().count() + 1 - bom;
        Location { file: file.to_path_buf(), line, column }
    }
}

/// U+FEFF at the start of a file: a byte order mark, skipped by the parsers (R-FILE-5).
const BOM: char = '\u{feff}';

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", display_path(&self.file), self.line, self.column)
    }
}

/// `bytes`, the content of `file`, as text; else the location of the first byte that is not
/// UTF-8 (R-FILE-5).
pub fn utf8_text(file: &Path, bytes: Vec<u8>) -> Result<String, Location> {
    String::from_utf8(bytes).map_err(|e| {
        let valid = e.utf8_error().valid_up_to();
        Location::from_offset(file, &String::from_utf8_lossy(&e.as_bytes()[..valid]), valid)
    })
}

/// `path` for messages, unambiguously: UTF-8 text as it is, but every byte that is not UTF-8 as
/// `\xff`, a backslash as `\\` and control or invisible characters as `\n`, `\u{200b}`, … (as
/// Rust's `escape_debug` writes them), so that two different paths never print alike and a
/// name cannot break the one-line form of a diagnostic.
pub fn display_path(path: &Path) -> PathDisplay<'_> {
    PathDisplay(path)
}

/// The [`fmt::Display`] of [`display_path`].
#[derive(Debug, Clone, Copy)]
pub struct PathDisplay<'a>(&'a Path);

impl fmt::Display for PathDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for chunk in self.0.as_os_str().as_bytes().utf8_chunks() {
            for c in chunk.valid().chars() {
                match c {
                    '\'' | '"' => f.write_char(c)?,
                    _ => write!(f, "{}", c.escape_debug())?,
                }
            }
            for byte in chunk.invalid() {
                write!(f, "\\x{byte:02x}")?;
            }
        }
        Ok(())
    }
}

/// What a diagnostic is about: a position in a file, or a file or directory as a whole (one that
/// cannot be read, or whose name is not UTF-8), which has no line and column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    /// A line and column in a file.
    At(Location),
    /// A file or directory as a whole.
    Path(PathBuf),
}

impl Place {
    /// The file or directory.
    pub fn path(&self) -> &Path {
        match self {
            Place::At(location) => &location.file,
            Place::Path(path) => path,
        }
    }

    /// The file or directory, to rewrite (e.g. relative to a test's root).
    pub fn path_mut(&mut self) -> &mut PathBuf {
        match self {
            Place::At(location) => &mut location.file,
            Place::Path(path) => path,
        }
    }

    /// Line and column, when there is a position.
    pub fn position(&self) -> Option<(usize, usize)> {
        match self {
            Place::At(location) => Some((location.line, location.column)),
            Place::Path(_) => None,
        }
    }
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Place::At(location) => write!(f, "{location}"),
            Place::Path(path) => write!(f, "{}", display_path(path)),
        }
    }
}

/// One problem in the user's input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The spec rule the input breaks, e.g. `R-TAG-2`.
    pub rule: &'static str,
    /// Where the problem is; `None` for problems with command-line input.
    pub place: Option<Place>,
    /// What is wrong, in one sentence; may quote the input (escaped when printed, R-SEC-3).
    pub message: String,
    /// How to fix it, when there is a useful suggestion ("did you mean …?").
    pub help: Option<String>,
}

impl Diagnostic {
    /// A problem of rule `rule` at `location`, or of command-line input when `None`.
    pub fn new(rule: &'static str, location: Option<Location>, message: impl Into<String>) -> Self {
        Diagnostic { rule, place: location.map(Place::At), message: message.into(), help: None }
    }

    /// A problem of rule `rule` at `location` in a file.
    pub fn at(rule: &'static str, location: Location, message: impl Into<String>) -> Self {
        Self::new(rule, Some(location), message)
    }

    /// A problem with the file or directory `path` as a whole, which has no line and column.
    pub fn at_path(rule: &'static str, path: &Path, message: impl Into<String>) -> Self {
        Diagnostic { rule, place: Some(Place::Path(path.to_path_buf())), message: message.into(), help: None }
    }

    /// Adds the help line.
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
        if let Some(place) = &self.place {
            write!(f, "{place}: ")?;
        }
        // Messages quote what a buildpack wrote (tags, labels, keys): every control character
        // but the message's own line breaks is escaped (R-SEC-3).
        let escaped = |s: &str| s.split('\n').map(crate::display::controls).collect::<Vec<_>>().join("\n");
        write!(f, "{}", escaped(&self.message))?;
        if let Some(help) = &self.help {
            write!(f, "\n  help: {}", escaped(help))?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostic {}

/// Every diagnostic of a run, in a stable order (by file, line, column, then message; a path's
/// own problems before those at positions in it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    /// Adds one diagnostic, or every one of several (e.g. all the problems of one file).
    pub fn push(&mut self, d: impl Into<Diagnostics>) {
        self.0.extend(d.into().0);
    }
    /// Adds every diagnostic of `other`, in its order ([`Diagnostics::sorted`] orders them for reporting).
    pub fn extend(&mut self, other: impl IntoIterator<Item = Diagnostic>) {
        self.0.extend(other);
    }
    /// Whether there is no problem at all.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// Sorts into the stable reporting order and removes exact duplicates.
    pub fn sorted(mut self) -> Self {
        self.0.sort_by(|a, b| {
            let key = |d: &Diagnostic| d.place.as_ref().map(|p| (p.path().to_path_buf(), p.position()));
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

    /// R-FILE-5: a leading byte order mark is skipped and not counted as a column of line 1.
    #[test]
    fn r_file_5_a_leading_byte_order_mark_is_not_a_column() {
        let src = "\u{feff}a = [\nb = 1\n";
        let at = |offset| {
            let loc = Location::from_offset(Path::new("f.toml"), src, offset);
            (loc.line, loc.column)
        };
        assert_eq!(at(0), (1, 1));
        assert_eq!(at(3), (1, 1), "`a` is the first column");
        assert_eq!(at(7), (1, 5), "`[`");
        assert_eq!(at(9), (2, 1), "line 2 is not affected");
        // A U+FEFF later on is an ordinary character.
        let later = "a\u{feff}b";
        assert_eq!(Location::from_offset(Path::new("f"), later, 4).column, 3);
    }

    #[test]
    fn paths_print_with_bytes_that_are_not_utf8_escaped() {
        use std::ffi::OsStr;
        let path = |bytes: &[u8]| display_path(Path::new(OsStr::from_bytes(bytes))).to_string();
        assert_eq!(path(b"layers/acme_\xff/l\xe9.toml"), r"layers/acme_\xff/l\xe9.toml");
        assert_eq!(path("layers/ünï/it's \"x\".toml".as_bytes()), "layers/ünï/it's \"x\".toml");
        // A name that reads like an escape, a newline and an invisible space are escaped too.
        assert_eq!(path(br"a\xff"), r"a\\xff");
        assert_eq!(path("a\nb\u{200b}c".as_bytes()), r"a\nb\u{200b}c");
        assert_ne!(path(b"\xff"), path("\u{fffd}".as_bytes()));
    }

    #[test]
    fn a_path_as_a_whole_has_no_line_and_column_and_sorts_first() {
        let whole = Diagnostic::at_path("R-FILE-3", Path::new("b/l.toml"), "cannot read layer TOML");
        assert_eq!(whole.to_string(), "error[R-FILE-3]: b/l.toml: cannot read layer TOML");
        let inside = Diagnostic::at("R-FIELD-9", Location::file(Path::new("b/l.toml")), "x");
        let before = Diagnostic::at("R-FIELD-9", Location::file(Path::new("a.toml")), "y");
        let sorted = Diagnostics(vec![inside.clone(), whole.clone(), before.clone()]).sorted();
        assert_eq!(sorted.0, [before, whole, inside]);
    }

    #[test]
    fn text_that_is_not_utf8_is_located_at_its_first_bad_byte() {
        let file = Path::new("f.toml");
        assert_eq!(utf8_text(file, b"a = 1\n".to_vec()), Ok("a = 1\n".to_string()));
        let location = utf8_text(file, b"a = 1\nb\xc3\xa9 = \"\xff\"\n".to_vec()).unwrap_err();
        assert_eq!(location.to_string(), "f.toml:2:7");
    }

    #[test]
    fn display_includes_rule_location_and_help() {
        let d = Diagnostic::at("R-TAG-2", Location::file(Path::new("x.toml")), "bad tag").with_help("use a shorter tag");
        assert_eq!(d.to_string(), "error[R-TAG-2]: x.toml:1:1: bad tag\n  help: use a shorter tag");
    }
}
