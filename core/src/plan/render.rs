//! Rendering an artifact's templates into its final repository, tags and annotations (rules
//! R-TPL-5..7, R-TAG-1..3, R-REPO-1..3, R-LABEL-1..3), with diagnostics located in the TOML.

use std::collections::BTreeMap;
use std::ops::Range;

use toml::Spanned;

use crate::diagnostic::Diagnostic;
use crate::layer_toml::{ArtifactDecl, LayerFile};
use crate::media_types as mt;
use crate::reference::{validate_repository_in, validate_tag, RepositoryError};
use crate::template::{RenderError, Template, Var, Vars};

/// A parsed template and where its text is in the TOML file.
#[derive(Debug, Clone)]
pub struct Located {
    pub template: Template,
    /// Byte offset of the template text's first character in the TOML source.
    pub start: usize,
    /// True when the text between the quotes is the decoded value itself (no escapes, no
    /// trimmed newline), so offsets in the value are offsets in the file.
    pub verbatim: bool,
    pub span: Range<usize>,
}

impl Located {
    /// Where offset `offset` of the decoded value is in the file: exact for verbatim strings,
    /// else the start of the value.
    fn location(&self, layer: &LayerFile, offset: usize) -> crate::diagnostic::Location {
        layer.location(if self.verbatim { self.start + offset } else { self.span.start })
    }
}

/// Parses a templated TOML string value; a parse error is a diagnostic at its `${` (R-TPL-4).
pub fn parse(layer: &LayerFile, value: &Spanned<String>) -> Result<Located, Diagnostic> {
    let span = value.span();
    // The span covers the quotes of a basic or literal string; the text starts after them.
    let src = layer.source.get(span.clone()).unwrap_or("");
    let quote = if src.starts_with("\"\"\"") || src.starts_with("'''") { 3 } else { usize::from(src.starts_with(['"', '\''])) };
    let verbatim = src.len() >= 2 * quote && src.get(quote..src.len() - quote) == Some(value.get_ref().as_str());
    let located = |template| Located { template, start: span.start + quote, verbatim, span: span.clone() };
    match Template::parse(value.get_ref()) {
        Ok(template) => Ok(located(template)),
        Err(e) => {
            let at = located(Template { segments: Vec::new() }).location(layer, e.offset());
            Err(Diagnostic::at("R-TPL-4", at, e.to_string()).with_help(e.help()))
        }
    }
}

/// Renders `t`; a variable without a value is a diagnostic at its `${` (R-TPL-5..7).
pub fn render(layer: &LayerFile, t: &Located, vars: &Vars) -> Result<String, Diagnostic> {
    t.template.render(vars).map_err(|RenderError { var, offset }| {
        let (rule, help) = match var {
            Var::BuildTag => ("R-TPL-5", "the app image reference has no tag; pass one (e.g. `--image app:1.0` or `--tag 1.0`)"),
            Var::BuildDigest => ("R-TPL-6", "the app image digest is unknown; pass `--digest` or `--report`"),
            Var::BuildpackVersion => ("R-TPL-7", "the buildpack's version is known only from `<layers>/group.toml`"),
            _ => ("R-TPL-2", "this variable has no value in this build"),
        };
        Diagnostic::at(rule, t.location(layer, offset), format!("`${{{var}}}` has no value in this build")).with_help(help)
    })
}

/// The tags of an artifact (R-TPL-5, R-TAG-1..3): one per app-image tag when the template uses
/// `${build.tag}`, else one; duplicates dropped, order kept.
pub fn tags(layer: &LayerFile, t: &Located, vars: &Vars, app_tags: &[String]) -> Result<Vec<String>, Vec<Diagnostic>> {
    let per_tag: Vec<Vars> = if t.template.uses(Var::BuildTag) && !app_tags.is_empty() {
        app_tags.iter().map(|tag| Vars { build_tag: Some(tag.clone()), ..vars.clone() }).collect()
    } else {
        vec![vars.clone()]
    };
    let mut out: Vec<String> = Vec::new();
    let mut errors = Vec::new();
    for v in &per_tag {
        match render(layer, t, v) {
            Ok(tag) => match validate_tag(&tag) {
                Ok(()) if !out.contains(&tag) => out.push(tag),
                Ok(()) => {}
                Err(e) => errors.push(
                    Diagnostic::at("R-TAG-1", layer.location(t.span.start), format!("tag template renders to an invalid tag: {e}"))
                        .with_help(e.help()),
                ),
            },
            Err(d) => errors.push(d),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        errors.dedup();
        Err(errors)
    }
}

/// The repository path of an artifact (R-REPO-1..3): rendered, an optional leading host that
/// must be the app image's registry is dropped, then checked against the grammar.
pub fn repository(layer: &LayerFile, t: &Located, vars: &Vars, app_registry: &str) -> Result<String, Diagnostic> {
    let rendered = render(layer, t, vars)?;
    let path = strip_registry(&rendered, app_registry).map_err(|e| repo_error(layer, t, e))?;
    validate_repository_in(app_registry, path).map_err(|e| repo_error(layer, t, e))?;
    Ok(path.to_string())
}

fn repo_error(layer: &LayerFile, t: &Located, e: RepositoryError) -> Diagnostic {
    let rule = match e {
        RepositoryError::ForeignRegistry { .. } => "R-REPO-2",
        _ => "R-REPO-1",
    };
    Diagnostic::at(rule, layer.location(t.span.start), format!("repository template renders to an invalid repository: {e}"))
        .with_help(e.help())
}

/// Drops a leading registry host (R-REPO-2): the first path component is a host when it contains
/// `.` or `:` or is `localhost`; it must then equal the app image's registry.
pub fn strip_registry<'a>(repo: &'a str, app_registry: &str) -> Result<&'a str, RepositoryError> {
    match repo.split_once('/') {
        Some((first, rest)) if first.contains(['.', ':']) || first == "localhost" => {
            if first == app_registry {
                Ok(rest)
            } else {
                Err(RepositoryError::ForeignRegistry {
                    repo: repo.to_string(),
                    host: first.to_string(),
                    expected: app_registry.to_string(),
                })
            }
        }
        _ => Ok(repo),
    }
}

/// Rendered labels plus the reserved annotations (R-LABEL-1..3).
pub fn annotations(
    layer: &LayerFile,
    decl: &ArtifactDecl,
    labels: &[(Spanned<String>, Located)],
    vars: &Vars,
    created: Option<&str>,
) -> Result<BTreeMap<String, String>, Vec<Diagnostic>> {
    let mut out = BTreeMap::new();
    let mut errors = Vec::new();
    for (key, value) in labels {
        match render(layer, value, vars) {
            Ok(v) => {
                out.insert(key.get_ref().clone(), v);
            }
            Err(d) => errors.push(d),
        }
    }
    out.insert(mt::ANNOTATION_BUILDPACK_ID.to_string(), layer.buildpack.id.clone());
    if let Some(v) = &layer.buildpack.version {
        out.insert(mt::ANNOTATION_BUILDPACK_VERSION.to_string(), v.clone());
    }
    out.insert(mt::ANNOTATION_LAYER.to_string(), layer.name.clone());
    if let Some(created) = created {
        out.entry(mt::ANNOTATION_CREATED.to_string()).or_insert_with(|| created.to_string());
    }
    let _ = decl;
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// Label keys may not use the reserved prefix and may not be empty (R-LABEL-2).
pub fn check_label_key(layer: &LayerFile, key: &Spanned<String>) -> Result<(), Diagnostic> {
    let k = key.get_ref();
    if k.starts_with(mt::RESERVED_PREFIX) {
        return Err(Diagnostic::at(
            "R-LABEL-2",
            layer.location(key.span().start),
            format!("label `{k}` uses the reserved prefix `{}`", mt::RESERVED_PREFIX),
        )
        .with_help("annotations under this prefix are set by the publisher; rename the label"));
    }
    Ok(())
}

/// Where `${…}` variables come from in a build (R-TPL-2).
pub fn vars(layer: &LayerFile, ctx: Option<&crate::plan::BuildContext>) -> Vars {
    let mut v = Vars {
        buildpack_id: Some(layer.buildpack.id.clone()),
        buildpack_version: layer.buildpack.version.clone(),
        layer_name: Some(layer.name.clone()),
        ..Vars::default()
    };
    if let Some(ctx) = ctx {
        v.build_tag = ctx.all_tags().into_iter().next();
        v.build_image = Some(ctx.image.to_string());
        v.build_repository = Some(ctx.image.repository.clone());
        v.build_registry = Some(ctx.image.registry.clone());
        v.build_digest = ctx.digest.as_ref().map(|d| d.to_string());
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case::r_repo_2_no_host("charts/app", "reg.io", Ok("charts/app"))]
    #[case::r_repo_2_same_host("reg.io/charts/app", "reg.io", Ok("charts/app"))]
    #[case::r_repo_2_localhost("localhost/x", "localhost", Ok("x"))]
    #[case::r_repo_2_port("localhost:5000/x", "localhost:5000", Ok("x"))]
    fn r_repo_2_registry_prefix(#[case] repo: &str, #[case] app: &str, #[case] want: Result<&str, ()>) {
        assert_eq!(strip_registry(repo, app).map_err(|_| ()), want);
    }

    #[test]
    fn r_repo_2_foreign_host_is_refused() {
        let err = strip_registry("ghcr.io/x", "reg.io").unwrap_err();
        assert!(err.to_string().contains("ghcr.io") && err.to_string().contains("reg.io"));
    }
}
