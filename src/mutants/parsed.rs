//! Mutations of the declarations as read from the layers dir
//! ([`cnb_artifacts_core::plan::Seams::parsed`]), before planning checks them: templates
//! rewritten into what a wrong reading of them would give, label keys disguised, duplicate files
//! and a chart's declared names set aside (and put back by [`super::plan`]), tables or errors
//! dropped.
//!
//! Templates are rewritten through the one template parser
//! ([`cnb_artifacts_core::template::Template::parse`]): a mutant changes the text the planner
//! then reads, never how it reads it.

use cnb_artifacts_core::diagnostic::{Diagnostics, Place};
use cnb_artifacts_core::layer_toml::{ArtifactDecl, DeclForm, LayerFile, Preset, ARTIFACTS_TOML};
use cnb_artifacts_core::media_types::RESERVED_PREFIX;
use cnb_artifacts_core::mutants::{active, Mutant};
use cnb_artifacts_core::plan::confine::normalise;
use cnb_artifacts_core::plan::{template_vars, BuildContext};
use cnb_artifacts_core::reference::MAX_TAG_LEN;
use cnb_artifacts_core::template::{escape, Segment, Template, TemplateError, Var, Vars};
use toml::Spanned;

/// Where a label key goes that [`Mutant::AllowsReservedLabels`] lets through: in front of the
/// key while planning checks it, removed again on the plan ([`super::plan`]).
pub const DISGUISE: &str = "mutant.disguised/";

/// Rewrites what was read (`ctx` is `None` for `validate`).
pub fn parsed(layers: &mut Vec<LayerFile>, errors: &mut Diagnostics, ctx: Option<&BuildContext>) {
    if active(Mutant::IgnoresArtifactsToml) {
        layers.retain(|l| l.form != DeclForm::ArtifactsToml);
        errors.0.retain(|d| !d.place.as_ref().is_some_and(|p| in_file_named(p, ARTIFACTS_TOML)));
    }
    if active(Mutant::AcceptsUnknownKeys) {
        accept_unknown_keys(layers, errors);
    }
    for layer in layers.iter_mut() {
        let vars = template_vars(layer, ctx);
        for decl in &mut layer.artifacts {
            rewrite_templates(decl, &vars, ctx.is_some());
            if active(Mutant::AllowsReservedLabels) {
                for (key, _) in &mut decl.labels {
                    if key.get_ref().starts_with(RESERVED_PREFIX) {
                        *key = Spanned::new(key.span(), format!("{DISGUISE}{}", key.get_ref()));
                    }
                }
            }
            if active(Mutant::IgnoresHelmRule) && *decl.preset.get_ref() == Preset::Helm {
                // The names derived from the chart pass Helm's rule; [`super::plan`] puts the
                // declared ones back.
                decl.tag = None;
                decl.repository = None;
            }
            if active(Mutant::AllowsDuplicateFiles) {
                let mut seen = Vec::new();
                decl.files.retain(|f| {
                    let path = normalise(f.get_ref()).unwrap_or_else(|_| f.get_ref().clone());
                    let first = !seen.contains(&path);
                    seen.push(path);
                    first
                });
            }
        }
    }
}

fn in_file_named(place: &Place, name: &str) -> bool {
    let path = match place {
        Place::At(location) => &location.file,
        Place::Path(path) => path,
    };
    path.file_name().is_some_and(|n| n == name)
}

/// R-FIELD-9: the unknown-key errors dropped; a file left without errors is taken as whole.
fn accept_unknown_keys(layers: &mut [LayerFile], errors: &mut Diagnostics) {
    errors.0.retain(|d| d.rule != "R-FIELD-9");
    for layer in layers {
        let clean = !errors.0.iter().any(|d| matches!(&d.place, Some(Place::At(l)) if l.file == layer.toml_path));
        if clean {
            layer.valid = true;
            for decl in &mut layer.artifacts {
                decl.complete = true;
                decl.preset_inputs_complete = true;
            }
        }
    }
}

/// The template mutations of one table: tag, repository and label values.
fn rewrite_templates(decl: &mut ArtifactDecl, vars: &Vars, in_build: bool) {
    let edit = |value: &mut Spanned<String>, f: &dyn Fn(&str) -> String| {
        let rewritten = f(value.get_ref());
        if &rewritten != value.get_ref() {
            *value = Spanned::new(value.span(), rewritten);
        }
    };
    let any = |text: &str| any_template(text, vars, in_build);
    if let Some(tag) = &mut decl.tag {
        edit(tag, &|t| tag_template(&any(t)));
    }
    if let Some(repository) = &mut decl.repository {
        edit(repository, &|t| repository_template(&any(t)));
    }
    for (_, value) in &mut decl.labels {
        edit(value, &any);
    }
}

/// Mutations of every template.
fn any_template(text: &str, vars: &Vars, in_build: bool) -> String {
    if active(Mutant::NoDollarEscape) {
        // R-TPL-3: `$${` read as `${`.
        return text.replace("$${", "${");
    }
    if active(Mutant::BuildRepositoryWithRegistry) {
        // R-TPL-2: `${build.repository}` with the registry host in front.
        return map_segments(text, &escape, &|var| match var {
            Var::BuildRepository => format!("${{{}}}/${{{}}}", Var::BuildRegistry, Var::BuildRepository),
            other => format!("${{{other}}}"),
        });
    }
    if active(Mutant::LenientTemplates) {
        // R-TPL-4..7, like `envsubst`: what does not parse or has no value is empty.
        let parsable = drop_unparsable(text);
        return map_segments(&parsable, &escape, &|var| match vars.get(var) {
            None if in_build => String::new(),
            _ => format!("${{{var}}}"),
        });
    }
    text.to_string()
}

/// Mutations of a tag template ([`Mutant::SanitisesTags`], R-TAG-1): every character a tag may
/// not hold becomes `_`, and a tag without variables is cut to the longest allowed.
fn tag_template(text: &str) -> String {
    if !active(Mutant::SanitisesTags) {
        return text.to_string();
    }
    let sanitise = |literal: &str| -> String {
        literal.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') { c } else { '_' }).collect()
    };
    let sanitised = map_segments(text, &sanitise, &|var| format!("${{{var}}}"));
    match Template::parse(&sanitised) {
        Ok(t) if t.vars().next().is_none() => sanitised.chars().take(MAX_TAG_LEN).collect(),
        _ => sanitised,
    }
}

/// Mutations of a repository template: lowercased ([`Mutant::LowercasesRepository`], R-REPO-1),
/// or with the app image's registry in front, so the planner's removal of a leading host
/// removes that one and keeps the declared host ([`Mutant::KeepsRegistryHost`], R-REPO-2).
fn repository_template(text: &str) -> String {
    if active(Mutant::LowercasesRepository) {
        return map_segments(text, &|l| escape(&l.to_lowercase()), &|var| format!("${{{var}}}"));
    }
    if active(Mutant::KeepsRegistryHost) {
        return format!("${{{}}}/{text}", Var::BuildRegistry);
    }
    text.to_string()
}

/// `text` with each literal piece through `literal` and each variable through `var`; a text
/// that does not parse is kept.
fn map_segments(text: &str, literal: &dyn Fn(&str) -> String, var: &dyn Fn(Var) -> String) -> String {
    let Ok(template) = Template::parse(text) else { return text.to_string() };
    template
        .segments
        .iter()
        .map(|s| match s {
            Segment::Literal(l) => literal(l),
            Segment::Var(v, _) => var(*v),
        })
        .collect()
}

/// `text` without the placeholders that make it fail to parse: an unterminated `${` cuts the
/// rest, an unknown or empty name is removed with its `${…}`.
fn drop_unparsable(text: &str) -> String {
    let mut text = text.to_string();
    // Each round removes at least the two bytes of a `${`.
    for _ in 0..=text.len() {
        match Template::parse(&text) {
            Ok(_) => break,
            Err(TemplateError::Unterminated { offset }) => text.truncate(offset),
            Err(e) => {
                let start = e.offset();
                let end = text[start..].find('}').map_or(text.len(), |close| start + close + 1);
                text.replace_range(start..end, "");
            }
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drop_unparsable_keeps_what_parses() {
        assert_eq!(drop_unparsable("v${build.tga}"), "v");
        assert_eq!(drop_unparsable("x-${build.tag"), "x-");
        assert_eq!(drop_unparsable("a${build.tag}b${nope}c${}"), "a${build.tag}bc");
        assert_eq!(drop_unparsable("plain $${x}"), "plain $${x}");
    }

    #[test]
    fn map_segments_keeps_escapes() {
        let same = map_segments("a$${b}${build.tag}", &escape, &|v| format!("${{{v}}}"));
        assert_eq!(same, "a$${b}${build.tag}");
    }
}
