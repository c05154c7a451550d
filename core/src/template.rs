//! Label and tag templates: `${name}` placeholders over a closed set of variables.
//!
//! Implements spec rules R-TPL-1..4: text with `${name}` placeholders (R-TPL-1), the closed
//! set of names (R-TPL-2), `$${` for a literal `${` while a `$` not followed by `{` is literal
//! (R-TPL-3), and errors for any other use of `${` — unknown name, unterminated placeholder,
//! empty name — each naming the byte offset of the `${` and the known names (R-TPL-4). No
//! environment, no functions, no nesting, no whitespace trimming inside `${…}`.
//!
//! Rendering a variable whose value is unknown is a [`RenderError`]; the planner turns it into
//! the R-TPL-5..7 diagnostics (which values exist in which build is its business).

use std::fmt;
use std::ops::Range;

/// The closed set of template variables (R-TPL-2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Var {
    /// `build.tag`: a tag of the app image (R-TPL-5).
    BuildTag,
    /// `build.image`: the app image reference exactly as given.
    BuildImage,
    /// `build.repository`: the app image's repository path, without the host.
    BuildRepository,
    /// `build.registry`: the app image's registry host, with `:port` when given.
    BuildRegistry,
    /// `build.digest`: the app image manifest's digest (R-TPL-6).
    BuildDigest,
    /// `buildpack.id`: the ID of the buildpack whose layer declares the artifact.
    BuildpackId,
    /// `buildpack.version`: that buildpack's version from group.toml (R-TPL-7).
    BuildpackVersion,
    /// `layer.name`: the name of the layer that declares the artifact.
    LayerName,
}

impl Var {
    /// Every variable, in the order the spec lists them.
    pub const ALL: [Var; 8] = [
        Var::BuildTag,
        Var::BuildImage,
        Var::BuildRepository,
        Var::BuildRegistry,
        Var::BuildDigest,
        Var::BuildpackId,
        Var::BuildpackVersion,
        Var::LayerName,
    ];

    /// The name as written inside `${…}`, e.g. `build.tag`.
    pub fn name(self) -> &'static str {
        match self {
            Var::BuildTag => "build.tag",
            Var::BuildImage => "build.image",
            Var::BuildRepository => "build.repository",
            Var::BuildRegistry => "build.registry",
            Var::BuildDigest => "build.digest",
            Var::BuildpackId => "buildpack.id",
            Var::BuildpackVersion => "buildpack.version",
            Var::LayerName => "layer.name",
        }
    }

    /// The variable written `name` inside `${…}`; exact, case-sensitive match.
    pub fn from_name(name: &str) -> Option<Var> {
        Var::ALL.into_iter().find(|v| v.name() == name)
    }
}

impl fmt::Display for Var {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One piece of a parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// Text copied as it is (escapes already resolved: `$${` is `${` here).
    Literal(String),
    /// A variable and the byte range of its `${…}` in the template text.
    Var(Var, Range<usize>),
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    /// The pieces, in order; rendering concatenates them.
    pub segments: Vec<Segment>,
}

/// Why a template does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// `${name}` names no variable of R-TPL-2.
    #[error("unknown variable `${{{name}}}` at offset {offset}")]
    UnknownVariable {
        /// The name as written between `${` and `}`.
        name: String,
        /// Byte offset of the `${` in the template.
        offset: usize,
    },
    /// A `${` with no closing `}`.
    #[error("unterminated `${{` at offset {offset}")]
    Unterminated {
        /// Byte offset of the `${` in the template.
        offset: usize,
    },
    /// `${}`: a variable without a name.
    #[error("empty variable name `${{}}` at offset {offset}")]
    EmptyName {
        /// Byte offset of the `${` in the template.
        offset: usize,
    },
}

impl TemplateError {
    /// Byte offset of the offending `${` in the template text.
    pub fn offset(&self) -> usize {
        match self {
            TemplateError::UnknownVariable { offset, .. }
            | TemplateError::Unterminated { offset }
            | TemplateError::EmptyName { offset } => *offset,
        }
    }

    /// `known variables: build.tag, build.image, …` (and `$${` for a literal).
    pub fn help(&self) -> String {
        let names: Vec<&str> = Var::ALL.iter().map(|v| v.name()).collect();
        let mut help = format!("known variables: {}; write `$${{` for a literal `${{`", names.join(", "));
        if let TemplateError::UnknownVariable { name, .. } = self {
            if let Some(var) = Var::from_name(name.trim()) {
                help.push_str(&format!("; no spaces are allowed inside `${{…}}`: write `${{{var}}}`"));
            } else if let Some(near) = crate::spelling::closest(name, Var::ALL.iter().map(|v| v.name())) {
                return format!("did you mean `${{{near}}}`? {help}");
            }
        }
        help
    }
}

/// Values for rendering; `None` means unknown in this build (an error if used).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Vars {
    /// Value of `build.tag`.
    pub build_tag: Option<String>,
    /// Value of `build.image`.
    pub build_image: Option<String>,
    /// Value of `build.repository`.
    pub build_repository: Option<String>,
    /// Value of `build.registry`.
    pub build_registry: Option<String>,
    /// Value of `build.digest`.
    pub build_digest: Option<String>,
    /// Value of `buildpack.id`.
    pub buildpack_id: Option<String>,
    /// Value of `buildpack.version`.
    pub buildpack_version: Option<String>,
    /// Value of `layer.name`.
    pub layer_name: Option<String>,
}

impl Vars {
    /// The value of `var`, `None` when it is unknown in this build.
    pub fn get(&self, var: Var) -> Option<&str> {
        let value = match var {
            Var::BuildTag => &self.build_tag,
            Var::BuildImage => &self.build_image,
            Var::BuildRepository => &self.build_repository,
            Var::BuildRegistry => &self.build_registry,
            Var::BuildDigest => &self.build_digest,
            Var::BuildpackId => &self.buildpack_id,
            Var::BuildpackVersion => &self.buildpack_version,
            Var::LayerName => &self.layer_name,
        };
        value.as_deref()
    }
}

/// A variable used in a template has no value in this build.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`${{{var}}}` at offset {offset} has no value in this build")]
pub struct RenderError {
    /// The variable.
    pub var: Var,
    /// Byte offset of its `${` in the template.
    pub offset: usize,
}

/// The escape of a literal `${` (R-TPL-3).
const ESCAPED_OPEN: &str = "$${";
const OPEN: &str = "${";

impl Template {
    /// Parses `text` left to right (R-TPL-1..4): `$${` is a literal `${`; `${` starts a
    /// placeholder whose name runs to the first `}`; every other character is literal.
    pub fn parse(text: &str) -> Result<Template, TemplateError> {
        let mut segments = Vec::new();
        let mut literal = String::new();
        let mut pos = 0;
        while let Some(rest) = text.get(pos..).filter(|r| !r.is_empty()) {
            if rest.starts_with(ESCAPED_OPEN) {
                literal.push_str(OPEN);
                pos += ESCAPED_OPEN.len();
            } else if rest.starts_with(OPEN) {
                let name_start = pos + OPEN.len();
                let close = text[name_start..].find('}').ok_or(TemplateError::Unterminated { offset: pos })?;
                let name = &text[name_start..name_start + close];
                if name.is_empty() {
                    return Err(TemplateError::EmptyName { offset: pos });
                }
                let var = Var::from_name(name).ok_or_else(|| TemplateError::UnknownVariable { name: name.to_string(), offset: pos })?;
                if !literal.is_empty() {
                    segments.push(Segment::Literal(std::mem::take(&mut literal)));
                }
                let end = name_start + close + 1;
                segments.push(Segment::Var(var, pos..end));
                pos = end;
            } else {
                // `rest` is non-empty, so it has a first character.
                let c = rest.chars().next().unwrap_or_default();
                literal.push(c);
                pos += c.len_utf8();
            }
        }
        if !literal.is_empty() {
            segments.push(Segment::Literal(literal));
        }
        Ok(Template { segments })
    }

    /// True when the template contains `var`.
    pub fn uses(&self, var: Var) -> bool {
        self.vars().any(|(v, _)| v == var)
    }

    /// The variables the template uses, in order, with the byte range of each `${…}`.
    pub fn vars(&self) -> impl Iterator<Item = (Var, Range<usize>)> + '_ {
        self.segments.iter().filter_map(|s| match s {
            Segment::Var(v, range) => Some((*v, range.clone())),
            Segment::Literal(_) => None,
        })
    }

    /// Concatenates the literal pieces and the values of the variables; the first variable
    /// without a value is an error.
    pub fn render(&self, vars: &Vars) -> Result<String, RenderError> {
        let mut out = String::new();
        for segment in &self.segments {
            match segment {
                Segment::Literal(text) => out.push_str(text),
                Segment::Var(var, range) => {
                    let value = vars.get(*var).ok_or(RenderError { var: *var, offset: range.start })?;
                    out.push_str(value);
                }
            }
        }
        Ok(out)
    }
}

/// Writes `literal` as template text that renders back to exactly `literal` (every `${`
/// becomes `$${`, R-TPL-3).
pub fn escape(literal: &str) -> String {
    literal.replace(OPEN, ESCAPED_OPEN)
}

/// Every variable set, for tests that render templates.
#[cfg(test)]
pub(crate) fn full_vars() -> Vars {
    Vars {
        build_tag: Some("1.2.3".into()),
        build_image: Some("registry.example.com/team/app:1.2.3".into()),
        build_repository: Some("team/app".into()),
        build_registry: Some("registry.example.com".into()),
        build_digest: Some(format!("sha256:{}", "a".repeat(64))),
        buildpack_id: Some("acme/wasm".into()),
        buildpack_version: Some("0.4.1".into()),
        layer_name: Some("module".into()),
    }
}

#[cfg(test)]
mod tests;
