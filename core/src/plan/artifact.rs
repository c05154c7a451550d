//! Planning one `[additionalArtifact]` table: templates parsed, files confined and hashed, the
//! preset applied (all checkable without a build context), then — with a context — the final
//! repository, tags and annotations rendered (rule R-PLAN-2).

use toml::Spanned;

use crate::diagnostic::Diagnostic;
use crate::layer_toml::{ArtifactDecl, LayerFile, Preset};
use crate::plan::collisions::TagClaim;
use crate::plan::confine::{self, ConfineError, Hashed};
use crate::plan::presets::{self, PresetInput, PresetOutput};
use crate::plan::render::{self, Located};
use crate::plan::{BuildContext, PlanOptions, PlannedArtifact, PlannedFile};
use crate::reference::{validate_repository_in, validate_tag, Digest};

/// What can be known of an artifact without a build context.
pub struct Checked<'a> {
    layer: &'a LayerFile,
    decl: &'a ArtifactDecl,
    tag: Option<Located>,
    repository: Option<Located>,
    labels: Vec<(Spanned<String>, Located)>,
    files: Vec<PlannedFile>,
    preset: PresetOutput,
}

/// Everything that needs no build context (R-PLAN-1): template syntax, label keys,
/// confinement, hashing, the preset. Returns every problem found.
pub fn check<'a>(
    layer: &'a LayerFile,
    decl: &'a ArtifactDecl,
    created: Option<&str>,
    opts: &PlanOptions,
) -> Result<Checked<'a>, Vec<Diagnostic>> {
    let mut errors = Vec::new();
    let mut template = |v: &Option<Spanned<String>>| match v.as_ref().map(|v| render::parse(layer, v)).transpose() {
        Ok(t) => t,
        Err(d) => {
            errors.push(d);
            None
        }
    };
    let tag = template(&decl.tag);
    let repository = template(&decl.repository);
    let mut labels = Vec::new();
    for (key, value) in &decl.labels {
        if let Err(d) = render::check_label_key(layer, key) {
            errors.push(d);
        }
        match render::parse(layer, value) {
            Ok(t) => labels.push((key.clone(), t)),
            Err(d) => errors.push(d),
        }
    }
    let mut files: Vec<PlannedFile> = Vec::new();
    let mut files_ok = true;
    // A wasm config names the files' digests (R-PRESET-2): they are needed now.
    let defer_from = opts.single_pass_min_size.filter(|_| *decl.preset.get_ref() != Preset::Wasm);
    for declared in &decl.files {
        match plan_file(layer, declared.get_ref(), &files, defer_from) {
            Ok(f) => files.push(f),
            Err(e) => {
                files_ok = false;
                errors.push(Diagnostic::at(e.rule(), layer.location(declared.span().start), e.to_string()).with_optional_help(e.help()));
            }
        }
    }
    // The preset judges the files (R-PRESET-*): it runs whenever they all hashed and the
    // keys it reads parsed, even beside other errors, so one run reports them all (R-FILE-6).
    if !files_ok || !decl.preset_inputs_complete {
        return Err(errors);
    }
    let input = PresetInput {
        preset: *decl.preset.get_ref(),
        artifact_type: decl.artifact_type.as_ref().map(|s| s.get_ref().as_str()),
        media_type: decl.media_type.as_ref().map(|s| s.get_ref().as_str()),
        files: &files,
        created,
    };
    let preset = match presets::apply(&input) {
        Ok(p) => p,
        Err(e) => {
            errors.push(Diagnostic::at(e.rule(), layer.location(decl.preset.span().start), e.to_string()).with_optional_help(e.help()));
            return Err(errors);
        }
    };
    if !errors.is_empty() || !decl.complete {
        return Err(errors);
    }
    for f in &mut files {
        f.media_type = preset.layer_media_type.clone();
    }
    Ok(Checked { layer, decl, tag, repository, labels, files, preset })
}

/// Confines and hashes one declared file; a file of at least `defer_from` bytes is only
/// confined and measured ([`PlannedFile::digest_pending`]).
fn plan_file(layer: &LayerFile, declared: &str, earlier: &[PlannedFile], defer_from: Option<u64>) -> Result<PlannedFile, ConfineError> {
    let c = confine::confine(&layer.layer_dir, declared)?;
    if earlier.iter().any(|f| f.path == c.path) {
        return Err(ConfineError::Duplicate(c.path));
    }
    let hashed = confine::hash_file_below(&c.source, defer_from)
        .map_err(|e| ConfineError::Unreadable { path: c.path.clone(), reason: e.to_string() })?;
    let (digest, size, identity, digest_pending) = match hashed {
        Hashed::Digest(digest, size, identity) => (digest, size, identity, false),
        // A placeholder until the publisher has read the file (R-PUSH-11).
        Hashed::Deferred(size, identity) => (Digest::of(b""), size, identity, true),
    };
    Ok(PlannedFile { path: c.path, source: c.source, identity, size, digest, digest_pending, media_type: String::new() })
}

impl Checked<'_> {
    /// Renders repository, tags and annotations for `ctx` (R-TPL-5..7, R-TAG-*, R-REPO-*,
    /// R-LABEL-*, R-PRESET-4); returns the artifact and the tags it claims.
    pub fn finish(self, ctx: &BuildContext, created: Option<&str>) -> Result<(PlannedArtifact, Vec<TagClaim>), Vec<Diagnostic>> {
        let Checked { layer, decl, tag, repository, labels, files, preset } = self;
        let vars = render::vars(layer, Some(ctx));
        let app_tags = ctx.all_tags();
        let mut errors = Vec::new();
        let header = layer.location(decl.span.start);
        let chart = preset.chart.as_ref();

        // Names derived from the chart pass the grammar checks of rendered ones (R-REPO-1,
        // R-TAG-1) before anything is sent; the error points at `type = "helm"`.
        let derived_at = || layer.location(decl.preset.span().start);
        let repo = match (&repository, chart) {
            (Some(t), _) => render::repository(layer, t, &vars, &ctx.image.registry).map_err(|d| errors.push(d)).ok(),
            (None, Some(c)) => {
                let derived = format!("{}/{}", ctx.image.repository, c.name);
                match validate_repository_in(&ctx.image.registry, &derived) {
                    Ok(()) => Some(derived),
                    Err(e) => {
                        let message =
                            format!("the chart name `{}` gives the default repository `{derived}`, which is invalid: {e}", c.name);
                        errors.push(Diagnostic::at("R-REPO-1", derived_at(), message).with_help(e.help()));
                        None
                    }
                }
            }
            (None, None) => Some(ctx.image.repository.clone()),
        };
        let tags = match (&tag, chart) {
            (Some(t), _) => render::tags(layer, t, &vars, &app_tags).map_err(|d| errors.extend(d)).ok(),
            (None, Some(c)) => match validate_tag(&c.tag()) {
                Ok(()) => Some(vec![c.tag()]),
                Err(e) => {
                    let message = format!("the chart version `{}` gives the default tag `{}`, which is invalid: {e}", c.version, c.tag());
                    errors.push(Diagnostic::at("R-TAG-1", derived_at(), message).with_help(e.help()));
                    None
                }
            },
            (None, None) => Some(Vec::new()),
        };
        let annotations = render::annotations(layer, decl, &labels, &vars, created).map_err(|d| errors.extend(d)).ok();
        if let (Some(chart), Some(repo), Some(tags)) = (chart, &repo, &tags) {
            if let Err(e) = presets::check_helm_target(chart, repo, tags) {
                let at = tag.as_ref().or(repository.as_ref()).map(|t| layer.location(t.span.start)).unwrap_or(header.clone());
                errors.push(Diagnostic::at(e.rule(), at, e.to_string()).with_optional_help(e.help()));
            }
        }
        let (Some(repository_path), Some(tags), Some(annotations), true) = (repo, tags, annotations, errors.is_empty()) else {
            return Err(errors);
        };
        let artifact = PlannedArtifact {
            buildpack: layer.buildpack.id.clone(),
            buildpack_version: layer.buildpack.version.clone(),
            layer: layer.name.clone(),
            form: layer.form,
            index: decl.index,
            registry: ctx.image.registry.clone(),
            repository: repository_path,
            tags,
            preset: *decl.preset.get_ref(),
            artifact_type: preset.artifact_type,
            annotations,
            config: preset.config,
            files,
            declared_at: header.clone(),
        };
        let at = tag.as_ref().map(|t| layer.location(t.span.start)).unwrap_or(header);
        let claims = artifact
            .tags
            .iter()
            .map(|t| TagClaim { repository: artifact.repository.clone(), tag: t.clone(), artifact: artifact.label(), location: at.clone() })
            .collect();
        Ok((artifact, claims))
    }
}
