//! Reading `<layers>/<buildpack-dir>/<layer>.toml` files and their `[additionalArtifact]` tables.
//!
//! Owns spec rules R-FILE-* (where files are, which buildpacks and layers exist, `group.toml`:
//! `layers_dir`, `group`, `layer_form`) and R-FIELD-* (the artifact table's fields and
//! their types: `artifact`, `media_type`). Both layer TOML forms parse: the current one
//! (`[types] launch/build/cache`, `[metadata]`) and the RFC's (`[layer] publish/cache`). A file
//! without an artifact table yields no artifacts and no errors beyond those the lifecycle itself
//! would report. Every error is a [`Diagnostic`] with file, line and column taken from toml's
//! spans (`error::LayerTomlError` says which rule each breaks); all errors of a file, and of
//! a layers dir, are collected rather than stopping at the first. Templates in `tag`,
//! `repository` and label values are kept as written: the planner parses and renders them.
//! The TOML reading itself (every syntax error at once, `parse_toml`; what kind of value was
//! found instead of the expected one, [`Found`]) also serves the exporter's report.toml
//! (the command line's `exporter_report`, R-CTX-1).

mod artifact;
mod artifacts_toml;
pub(crate) mod error;
mod group;
mod layer_form;
mod layers_dir;
pub(crate) mod media_type;
pub mod schema;

#[cfg(test)]
mod tests;

use std::borrow::Cow;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use toml::de::{DeTable, DeValue};
use toml::Spanned;

use crate::diagnostic::{Diagnostic, Diagnostics};

pub use artifacts_toml::{parse_artifacts_toml, ARTIFACTS_TOML};
pub use error::Found;
pub(crate) use error::LayerTomlError;
pub use layers_dir::read_layers_dir;
pub use media_type::{validate_media_type, MediaTypeError};

/// A buildpack whose directory exists under the layers dir.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Buildpack {
    /// The buildpack ID, e.g. `acme/wasm` (unescaped).
    pub id: String,
    /// From `group.toml`; `None` when there is no group.toml or it does not list the buildpack.
    pub version: Option<String>,
    /// The directory name under the layers dir: the ID with `/` replaced by `_`.
    pub dir_name: String,
}

impl Buildpack {
    /// The directory name of buildpack `id` (R-FILE-1): every `/` replaced by `_`.
    pub fn dir_name_of(id: &str) -> String {
        id.replace('/', "_")
    }

    /// The buildpack ID a directory name stands for (R-FILE-1): every `_` replaced by `/`.
    pub fn id_of_dir_name(dir_name: &str) -> String {
        dir_name.replace('_', "/")
    }
}

/// The `type` preset of an artifact (R-FIELD-5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Preset {
    /// No particular content: an empty config, `application/octet-stream` layers (R-PRESET-1).
    #[default]
    Generic,
    /// A WebAssembly component or module (R-PRESET-2).
    Wasm,
    /// A packaged Helm chart (R-PRESET-3).
    Helm,
    /// A JUnit XML test report (R-PRESET-5).
    Junit,
}

impl Preset {
    /// The name as written in `type`.
    pub fn as_str(self) -> &'static str {
        match self {
            Preset::Generic => "generic",
            Preset::Wasm => "wasm",
            Preset::Helm => "helm",
            Preset::Junit => "junit",
        }
    }
}

/// Which of the two places an artifact table was declared in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeclForm {
    /// `[additionalArtifact]` in `<layer>.toml`, current or RFC form (R-FILE-4, R-FIELD-*).
    #[default]
    LayerToml,
    /// `[[artifact]]` in `<layer>/artifacts.toml`, the RFC revision's form (R-ATOML-*).
    ArtifactsToml,
}

/// One `[additionalArtifact]` (or `[[artifact]]`) table as written, with spans (byte ranges in the layer TOML).
#[derive(Debug, Clone, PartialEq)]
pub struct ArtifactDecl {
    /// Position among the layer's artifact tables, from 0.
    pub index: usize,
    /// Span of the table (its header, or its first key when the header is not available).
    pub span: std::ops::Range<usize>,
    /// `file` (one entry) or `files`, in the order written.
    pub files: Vec<Spanned<String>>,
    /// `tag` as written (a template), when present.
    pub tag: Option<Spanned<String>>,
    /// `repository` as written (a template), when present.
    pub repository: Option<Spanned<String>>,
    /// The `type` value; when absent, [`Preset::Generic`] spanning the table.
    pub preset: Spanned<Preset>,
    /// `artifactType` as written, when present.
    pub artifact_type: Option<Spanned<String>>,
    /// `mediaType` as written (the layers' media type), when present.
    pub media_type: Option<Spanned<String>>,
    /// `[additionalArtifact.labels]`, in the order written: (key, value).
    pub labels: Vec<(Spanned<String>, Spanned<String>)>,
    /// False when the table has problems (already reported): it holds only the fields that
    /// parsed, which the planner still checks (templates, files) but plans nothing from.
    pub complete: bool,
    /// True when `file`/`files`, `type`, `artifactType` and `mediaType` parsed without error:
    /// the preset can judge the files (R-PRESET-*) even if other keys are wrong.
    pub preset_inputs_complete: bool,
}

/// One layer TOML file and what it declares.
#[derive(Debug, Clone)]
pub struct LayerFile {
    /// The buildpack whose layer this is.
    pub buildpack: Buildpack,
    /// Which file this is: the layer TOML or the layer directory's `artifacts.toml`.
    pub form: DeclForm,
    /// The layer name: the file stem.
    pub name: String,
    /// Path of the TOML file.
    pub toml_path: PathBuf,
    /// `<buildpack-dir>/<name>/`, the directory artifact files are confined to.
    pub layer_dir: PathBuf,
    /// The TOML text, for mapping spans to lines and columns.
    pub source: Arc<str>,
    /// Line starts of `source`, built once.
    pub lines: Arc<crate::diagnostic::LineIndex>,
    /// The artifact tables of the file, in the order written.
    pub artifacts: Vec<ArtifactDecl>,
    /// False when the file has errors (already reported): it contributes no artifacts, but what
    /// did parse is still checked (R-FILE-6).
    pub valid: bool,
}

impl LayerFile {
    /// The location of byte `offset` in this file.
    pub fn location(&self, offset: usize) -> crate::diagnostic::Location {
        self.lines.location(&self.toml_path, &self.source, offset)
    }
}

/// Parses the artifact tables of one layer TOML text (`path` is used in diagnostics only).
///
/// Checks the TOML syntax (R-FILE-5), the `[types]` / `[layer]` flags (R-FILE-4) and every
/// artifact table (R-FIELD-*); returns every problem found, sorted.
pub fn parse_layer_toml(path: &Path, source: &str) -> Result<Vec<ArtifactDecl>, Diagnostics> {
    whole(parse_layer_toml_partial(path, source))
}

/// A partial parse as all or nothing: the artifact tables when there is no problem, else every
/// problem.
fn whole((artifacts, errors): (Vec<ArtifactDecl>, Diagnostics)) -> Result<Vec<ArtifactDecl>, Diagnostics> {
    if errors.is_empty() {
        Ok(artifacts)
    } else {
        Err(errors)
    }
}

/// Like [`parse_layer_toml`], but also returns the artifact tables of a file with problems
/// (incomplete ones marked so), for the planner to check what did parse (R-FILE-6). A syntax
/// error leaves nothing to check.
pub(crate) fn parse_layer_toml_partial(path: &Path, source: &str) -> (Vec<ArtifactDecl>, Diagnostics) {
    let mut report = Report::new(path, source);
    let Some(document) = parse_document(source, &mut report) else {
        return (Vec::new(), report.into_diagnostics());
    };
    layer_form::check_layer_flags(document.get_ref(), &mut report);
    let artifacts = match document.get_ref().get("additionalArtifact") {
        Some(value) => artifact::artifact_decls(value, DeclForm::LayerToml, &mut report),
        None => Vec::new(),
    };
    (artifacts, report.into_diagnostics())
}

/// Collects the problems of one TOML text, located in that text.
pub(crate) struct Report<'a> {
    path: &'a Path,
    source: &'a str,
    diagnostics: Vec<Diagnostic>,
}

impl<'a> Report<'a> {
    fn new(path: &'a Path, source: &'a str) -> Self {
        Report { path, source, diagnostics: Vec::new() }
    }

    fn source(&self) -> &'a str {
        self.source
    }

    /// What kind of value `value` (a value of this text) is, for "found …" messages.
    fn found(&self, value: &Spanned<DeValue<'_>>) -> error::Found {
        error::Found::of(value, self.source)
    }

    /// Records `error` at the start of `span`.
    fn error(&mut self, error: LayerTomlError, span: Range<usize>) {
        self.diagnostics.push(error.at(self.path, self.source, span));
    }

    /// `line:column` of byte `offset` of this text, for messages that point at a second place.
    fn location(&self, offset: usize) -> String {
        let l = crate::diagnostic::Location::from_offset(self.path, self.source, offset);
        format!("{}:{}", l.line, l.column)
    }

    fn len(&self) -> usize {
        self.diagnostics.len()
    }

    fn is_empty(&self) -> bool {
        self.diagnostics.is_empty()
    }

    fn into_diagnostics(self) -> Diagnostics {
        Diagnostics(self.diagnostics).sorted()
    }
}

/// Parses a TOML document; every syntax error goes to `report` (R-FILE-5) and makes the result
/// `None`.
fn parse_document<'i>(source: &'i str, report: &mut Report<'_>) -> Option<Spanned<DeTable<'i>>> {
    parse_toml(source)
        .map_err(|errors| {
            for SyntaxError { message, span } in errors {
                report.error(LayerTomlError::Syntax { message }, span);
            }
        })
        .ok()
}

/// A TOML syntax error: the parser's message (not normative) and the bytes it concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    /// The TOML parser's message.
    pub message: String,
    /// The bytes of the text it concerns.
    pub span: Range<usize>,
}

/// TOML text as a document with spans; else every syntax error in it, in order. Shared by
/// every reader of user TOML: layer TOMLs, group.toml (R-FILE-5) and the exporter's report.toml
/// (R-CTX-1).
pub fn parse_toml(source: &str) -> Result<Spanned<DeTable<'_>>, Vec<SyntaxError>> {
    let (document, errors) = DeTable::parse_recoverable(source);
    if errors.is_empty() {
        return Ok(document);
    }
    Err(errors.iter().map(|e| SyntaxError { message: e.message().trim_end().to_string(), span: e.span().unwrap_or(0..0) }).collect())
}

/// Entries of `table` in the order written (by the position of their keys).
fn entries_in_order<'t, 'i>(table: &'t DeTable<'i>) -> Vec<(&'t Spanned<Cow<'i, str>>, &'t Spanned<DeValue<'i>>)> {
    let mut entries: Vec<_> = table.iter().collect();
    entries.sort_by_key(|(k, _)| (k.span().start, k.span().end));
    entries
}
