//! What can be wrong with a layers dir, a layer TOML or `group.toml`, and which spec rule each
//! problem breaks (R-FILE-*, R-FIELD-*). Each error becomes a [`Diagnostic`] at the span of the
//! offending key or value.

use std::ops::Range;
use std::path::Path;

use toml::de::DeValue;
use toml::Spanned;

use crate::diagnostic::{Diagnostic, Location};

use super::media_type::MediaTypeError;

/// The keys an `[additionalArtifact]` table may hold (R-FIELD-9), in the order the spec lists them.
pub const ARTIFACT_KEYS: [&str; 8] = ["file", "files", "tag", "repository", "type", "artifactType", "mediaType", "labels"];

/// One problem in the user's layers dir.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LayerTomlError {
    #[error("cannot read directory: {error}")]
    UnreadableDir { error: String },
    /// The layers dir holds neither group.toml nor any layer TOML (R-FILE-9).
    #[error("not a layers directory: it holds no group.toml and no layer TOML")]
    NotALayersDir,
    /// The layers dir has no group.toml, but a directory under it does (R-FILE-9).
    #[error("not a layers directory: it holds no group.toml, but `{nested}` does")]
    ParentOfLayersDir { nested: String },
    /// `what` is `buildpack directory` or `layer TOML`.
    #[error("{what} name is not valid UTF-8")]
    NameNotUtf8 { what: &'static str },
    #[error("cannot read group.toml: {error}")]
    UnreadableGroupToml { error: String },
    #[error("cannot read layer TOML: {error}")]
    UnreadableLayerToml { error: String },
    #[error("file is not valid UTF-8 (TOML files are UTF-8)")]
    NotUtf8,
    #[error("invalid TOML: {message}")]
    Syntax { message: String },
    #[error("`{key}`: expected {expected}, found {found}")]
    GroupWrongType { key: String, expected: &'static str, found: Found },
    #[error("`group[{index}]` has no `id`")]
    GroupEntryWithoutId { index: usize },
    #[error("`group[{index}].id` is empty")]
    GroupEntryEmptyId { index: usize },
    /// A buildpack listed in group.toml whose path exists but is not a directory (R-FILE-2).
    #[error("buildpack `{id}` is listed in group.toml, but its path is {found}, not a directory")]
    ListedNotADirectory { id: String, found: &'static str },
    #[error("buildpack `{id}` is listed twice in group.toml")]
    GroupDuplicateId { id: String },
    #[error("`group[{index}].id` `{id}` is not a buildpack ID: {reason}")]
    GroupInvalidId { index: usize, id: String, reason: &'static str },
    /// `what` is `buildpack directory` or `layer TOML`.
    #[error("{what} is a symbolic link; it must be a real {expected} inside the layers dir")]
    Symlinked { what: &'static str, expected: &'static str },
    #[error("`[{table}]` key `{key}`: expected a boolean, found {found}")]
    LayerFlagWrongType { table: &'static str, key: String, found: Found },
    #[error("`{table}`: expected a table, found {found}")]
    LayerTableWrongType { table: &'static str, found: Found },
    /// `key` is `additionalArtifact` (layer TOML) or `artifact` (artifacts.toml).
    #[error("`{key}`: expected a table or an array of tables, found {found}")]
    ArtifactsWrongType { key: &'static str, found: Found },
    #[error("`{key}[{index}]`: expected a table, found {found}")]
    ArtifactEntryWrongType { key: &'static str, index: usize, found: Found },
    #[error("unknown top-level key `{key}` in artifacts.toml")]
    ArtifactsTomlUnknownKey { key: String },
    #[error("`labels`: expected a table or an array of tables, found {found}")]
    LabelTablesWrongType { found: Found },
    #[error("label `{key}` is set twice (first at {first})")]
    DuplicateLabel { key: String, first: String },
    #[error("`{key}` value `{value}` is not a valid media type: {reason}")]
    SwitchInvalidMediaType { key: &'static str, value: String, reason: MediaTypeError },
    #[error("`{switch}` = `{value}` conflicts with {other}")]
    SwitchConflict { switch: &'static str, value: String, other: String },
    #[error("`file` and `files` are both set; use exactly one")]
    FileAndFiles,
    #[error("artifact has neither `file` nor `files`")]
    NoFile,
    #[error("`files` is empty")]
    EmptyFiles,
    #[error("`{key}`: expected a string, found {found}")]
    NotAString { key: String, found: Found },
    #[error("`files`: expected an array of strings, found {found}")]
    FilesNotAnArray { found: Found },
    #[error("unknown key `{key}` in an artifact table")]
    UnknownKey { key: String, suggestion: Option<&'static str> },
    #[error("unknown artifact type `{value}`")]
    UnknownPreset { value: String },
    #[error("`{key}` value `{value}` is not a valid media type: {reason}")]
    InvalidMediaType { key: &'static str, value: String, reason: MediaTypeError },
    #[error("`labels`: expected a table, found {found}")]
    LabelsWrongType { found: Found },
    #[error("label `{key}`: expected a string, found {found}")]
    LabelWrongType { key: String, found: Found },
    #[error("label key is empty")]
    EmptyLabelKey,
}

const FILE_HELP: &str = "write `file = \"NAME\"` for one file or `files = [\"A\", \"B\"]` for several, \
                         paths relative to the layer directory";

impl LayerTomlError {
    /// The spec rule the problem breaks.
    pub fn rule(&self) -> &'static str {
        use LayerTomlError::*;
        match self {
            UnreadableDir { .. } | NameNotUtf8 { .. } => "R-FILE-1",
            UnreadableGroupToml { .. }
            | GroupWrongType { .. }
            | GroupEntryWithoutId { .. }
            | GroupEntryEmptyId { .. }
            | GroupDuplicateId { .. }
            | ListedNotADirectory { .. } => "R-FILE-2",
            GroupInvalidId { .. } => "R-FILE-7",
            Symlinked { .. } => "R-FILE-8",
            UnreadableLayerToml { .. } => "R-FILE-3",
            NotALayersDir | ParentOfLayersDir { .. } => "R-FILE-9",
            LayerFlagWrongType { .. } | LayerTableWrongType { .. } => "R-FILE-4",
            NotUtf8 | Syntax { .. } => "R-FILE-5",
            ArtifactsWrongType { key: "artifact", .. }
            | ArtifactEntryWrongType { key: "artifact", .. }
            | ArtifactsTomlUnknownKey { .. } => "R-ATOML-2",
            ArtifactsWrongType { .. } | ArtifactEntryWrongType { .. } => "R-FIELD-1",
            LabelTablesWrongType { .. } | DuplicateLabel { .. } => "R-ATOML-3",
            SwitchInvalidMediaType { .. } => "R-ATOML-4",
            SwitchConflict { .. } => "R-ATOML-5",
            FileAndFiles | NoFile | EmptyFiles => "R-FIELD-2",
            UnknownPreset { .. } => "R-FIELD-5",
            InvalidMediaType { key: "mediaType", .. } => "R-FIELD-7",
            InvalidMediaType { .. } => "R-FIELD-6",
            LabelsWrongType { .. } | LabelWrongType { .. } | EmptyLabelKey => "R-FIELD-8",
            NotAString { .. } | FilesNotAnArray { .. } | UnknownKey { .. } => "R-FIELD-9",
        }
    }

    /// What to do about it, where there is something useful to say.
    pub fn help(&self) -> Option<String> {
        use LayerTomlError::*;
        match self {
            ArtifactsWrongType { key: "artifact", .. } | ArtifactEntryWrongType { key: "artifact", .. } => {
                Some("write a `[[artifact]]` table for each artifact".into())
            }
            ArtifactsTomlUnknownKey { key } => Some(match key.as_str() {
                "artifacts" | "additionalArtifact" | "Artifact" => "did you mean `artifact`? write `[[artifact]]` tables".into(),
                _ => "an artifacts.toml holds only `[[artifact]]` tables".into(),
            }),
            LabelTablesWrongType { .. } => Some(
                "write `[artifact.labels]` followed by `name = \"value\"` lines, or one or more \
                 `[[artifact.labels]]` tables"
                    .into(),
            ),
            DuplicateLabel { .. } => Some("set each label once".into()),
            SwitchInvalidMediaType { .. } => Some(
                "write `type/subtype` in lowercase letters, digits and `!#$&-^_.+`, e.g. \
                 `application/vnd.example.thing.v1+json`, without parameters"
                    .into(),
            ),
            SwitchConflict { .. } => Some(
                "set the media type once: either the label or the artifact key, and with `type = \
                 \"wasm\"` or `\"helm\"` only the preset's own media types"
                    .into(),
            ),
            Syntax { message } if message.contains("string values must be quoted") => Some(
                "quote string values, e.g. `tag = \"wasm\"` (the RFC's examples write them unquoted, \
                 which is not valid TOML)"
                    .into(),
            ),
            ArtifactsWrongType { .. } | ArtifactEntryWrongType { .. } => Some(
                "write `[additionalArtifact]` for one artifact or a `[[additionalArtifact]]` \
                 table for each of several"
                    .into(),
            ),
            FileAndFiles | NoFile | EmptyFiles => Some(FILE_HELP.into()),
            GroupInvalidId { .. } => Some(
                "a buildpack ID is letters, digits, `.`, `/` and `-`, is not `.` or `..`, and is not \
                 `app`, `config` or `sbom`"
                    .into(),
            ),
            Symlinked { .. } => Some("a buildpack writes its directories and layer TOMLs itself; links out are not read".into()),
            UnknownKey { suggestion, .. } => {
                let valid = format!("valid keys: {}", ARTIFACT_KEYS.join(", "));
                Some(match suggestion {
                    Some(s) => format!("did you mean `{s}`? {valid}"),
                    None => valid,
                })
            }
            UnknownPreset { .. } => Some("valid types: generic, wasm, helm, junit".into()),
            InvalidMediaType { .. } => Some(
                "write `type/subtype` in lowercase letters, digits and `!#$&-^_.+`, e.g. \
                 `application/vnd.example.thing.v1+json`, without parameters"
                    .into(),
            ),
            NotAString { key, found } => not_a_string_help(key, *found),
            FilesNotAnArray { .. } => Some("write `files = [\"A\", \"B\"]`, or `file = \"A\"` for one file".into()),
            LabelsWrongType { found: Found::ArrayOfTables } => Some(
                "write `[additionalArtifact.labels]` with single brackets: the labels of an \
                 artifact are one table"
                    .into(),
            ),
            LabelsWrongType { .. } => Some(
                "write the labels as a table: `[additionalArtifact.labels]` followed by \
                 `name = \"value\"` lines"
                    .into(),
            ),
            LabelWrongType { found, .. } => label_value_help(*found),
            LayerFlagWrongType { found: Found::String, .. } => Some("write `true` or `false`, without quotes".into()),
            LayerFlagWrongType { .. } => Some("write `true` or `false`".into()),
            GroupDuplicateId { .. } => Some("list each buildpack once".into()),
            ListedNotADirectory { .. } => {
                Some("the lifecycle creates a directory for each buildpack of group.toml; remove what is in its place".into())
            }
            NotALayersDir => Some(
                "pass the build's layers directory (`--layers-dir` or `$CNB_LAYERS_DIR`, `/layers` in \
                 a build): the one holding group.toml and a directory per buildpack"
                    .into(),
            ),
            ParentOfLayersDir { nested } => {
                let dir = nested.strip_suffix("/group.toml").unwrap_or(nested);
                Some(format!("did you mean `--layers-dir {dir}`?"))
            }
            _ => None,
        }
    }

    /// This error as a diagnostic at byte range `span` of `source` (the text of `file`).
    pub fn at(&self, file: &Path, source: &str, span: Range<usize>) -> Diagnostic {
        self.at_location(Location::from_offset(file, source, span.start))
    }

    /// This error as a diagnostic at `location`.
    pub fn at_location(&self, location: Location) -> Diagnostic {
        Diagnostic::at(self.rule(), location, self.to_string()).with_optional_help(self.help())
    }

    /// This error as a diagnostic about the whole of `path` (no line and column: a file or
    /// directory that cannot be read, a name that is not UTF-8).
    pub fn at_path(&self, path: &Path) -> Diagnostic {
        Diagnostic::at_path(self.rule(), path, self.to_string()).with_optional_help(self.help())
    }
}

/// What kind of TOML value was found where another was expected, as written: tables and
/// arrays of tables are told apart by how they were made, since the fix differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Found {
    /// A string.
    String,
    /// An integer.
    Integer,
    /// A float.
    Float,
    /// A boolean.
    Boolean,
    /// An offset or local date-time, date or time.
    Datetime,
    /// An array written as a value, `[…]`.
    Array,
    /// An array of tables, made by `[[…]]` headers.
    ArrayOfTables,
    /// `{ … }`.
    InlineTable,
    /// A table made by a `[…]` header.
    Table,
    /// A table made by a dotted key, `a.b = …`.
    DottedKeyTable,
}

impl Found {
    /// The kind of `value`, whose span lies in `source`.
    pub fn of(value: &Spanned<DeValue<'_>>, source: &str) -> Found {
        let written = source.get(value.span()).unwrap_or_default();
        match value.get_ref() {
            DeValue::String(_) => Found::String,
            DeValue::Integer(_) => Found::Integer,
            DeValue::Float(_) => Found::Float,
            DeValue::Boolean(_) => Found::Boolean,
            DeValue::Datetime(_) => Found::Datetime,
            // `[[x]]` starts an inline array only when its first element is an array.
            DeValue::Array(items) if written.starts_with("[[") && items.first().is_some_and(|i| i.get_ref().is_table()) => {
                Found::ArrayOfTables
            }
            DeValue::Array(_) => Found::Array,
            DeValue::Table(_) if written.starts_with('{') => Found::InlineTable,
            DeValue::Table(_) if written.starts_with('[') => Found::Table,
            DeValue::Table(_) => Found::DottedKeyTable,
        }
    }
}

impl std::fmt::Display for Found {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Found::String => "a string",
            Found::Integer => "an integer",
            Found::Float => "a float",
            Found::Boolean => "a boolean",
            Found::Datetime => "a datetime",
            Found::Array => "an array",
            Found::ArrayOfTables => "an array of tables",
            Found::InlineTable => "an inline table",
            Found::Table | Found::DottedKeyTable => "a table",
        })
    }
}

/// "quote the value (why it is not a string)" for a number, boolean or datetime.
fn quote_help(found: Found) -> Option<&'static str> {
    Some(match found {
        Found::Integer | Found::Float => "quote the value (without quotes, TOML reads it as a number)",
        Found::Boolean => "quote the value (without quotes, `true` and `false` are booleans)",
        Found::Datetime => "quote the value (without quotes, TOML reads a date or time as a datetime)",
        _ => return None,
    })
}

/// The help for artifact key `key` (`tag`, `files[2]`, …) holding `found` instead of a string
/// (R-FIELD-9): quoting fixes a number but not an array or a table; keys with another form for
/// several values, or a fixed set of values, say so.
fn not_a_string_help(key: &str, found: Found) -> Option<String> {
    if let Some(quote) = quote_help(found) {
        return Some(quote.into());
    }
    if key.starts_with("files[") {
        return (found != Found::String).then(|| {
            format!(
                "each element of `files` is one string, not {found}: write each path in \
                 quotes, `files = [\"A\", \"B\"]`"
            )
        });
    }
    let fix = match found {
        Found::Array => {
            let note = match key {
                "file" => "; for several files write `files = [\"A\", \"B\"]`",
                "tag" => {
                    "; for one tag per app image tag, write `${build.tag}` in it, e.g. \
                     `tag = \"${build.tag}-wasm\"`"
                }
                "type" => ": one of generic, wasm, helm, junit",
                _ => "",
            };
            return Some(format!("`{key}` takes one string, not an array{note}"));
        }
        Found::InlineTable => format!("write `{key} = \"…\"`"),
        Found::Table | Found::ArrayOfTables => {
            format!("write `{key} = \"…\"` in the artifact table instead of a `[…]` header")
        }
        Found::DottedKeyTable => {
            format!("the dotted key `{key}.…` makes a table; write `{key} = \"…\"`")
        }
        _ => return None,
    };
    Some(format!("`{key}` takes a string, not {found}: {fix}"))
}

/// The help for a label value that is `found` instead of a string (R-FIELD-8).
fn label_value_help(found: Found) -> Option<String> {
    if let Some(quote) = quote_help(found) {
        return Some(format!("label values are string templates: {quote}"));
    }
    Some(
        match found {
            Found::Array | Found::ArrayOfTables => "label values are single strings, not arrays; join several values into one string",
            Found::DottedKeyTable => {
                "an unquoted dotted key makes a nested table; quote label keys that contain dots: \
             `\"org.example.key\" = \"value\"`"
            }
            Found::InlineTable | Found::Table => {
                "label values are strings, not tables: write `\"name\" = \"value\"` lines under \
             `[additionalArtifact.labels]`"
            }
            _ => return None,
        }
        .into(),
    )
}

/// The valid artifact key `key` was most likely meant to be ([`crate::spelling::closest`]).
pub(super) fn suggest_artifact_key(key: &str) -> Option<&'static str> {
    crate::spelling::closest(key, ARTIFACT_KEYS)
}
