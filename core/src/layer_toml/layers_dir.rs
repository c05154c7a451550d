//! Finding the layer TOMLs of a build (R-FILE-1..3, R-FILE-9): which buildpack directories to
//! read (from `group.toml` when present, else every directory but the lifecycle's own), which
//! files in them are layer TOMLs, and which layer directories hold an `artifacts.toml`
//! (R-ATOML-1). Every unreadable directory or file is reported with its path; reading goes on so
//! one run reports every problem.
//!
//! Everything under the layers dir is written by buildpacks (untrusted, docs/security.md): a
//! buildpack directory or layer TOML that is a symbolic link is refused (R-FILE-8), files are
//! opened without following a link at any component below the layers dir, without blocking,
//! and within a size cap (`crate::input_file`).

use std::fs;
use std::io;
use std::path::Path;

use crate::input_file::{read_input, Follow, InputError, TOML_CAP};
use std::sync::Arc;

use crate::diagnostic::{Diagnostic, Diagnostics};

use super::artifacts_toml::{parse_artifacts_toml_partial, ARTIFACTS_TOML};
use super::error::LayerTomlError;
use super::group::parse_group_toml;
use super::{parse_layer_toml_partial, ArtifactDecl, Buildpack, DeclForm, LayerFile, Report};

/// Directories under the layers dir that the lifecycle itself owns (R-FILE-2).
const LIFECYCLE_DIRS: [&str; 3] = ["sbom", "config", "app"];
/// `*.toml` files in a buildpack directory that are not layer TOMLs (R-FILE-3).
const NOT_LAYER_TOMLS: [&str; 3] = ["launch.toml", "build.toml", "store.toml"];

/// Reads every buildpack, layer TOML and `artifacts.toml` under `layers_dir`, in a stable order
/// (buildpacks in group.toml order, else by directory name; in each, the layer TOMLs by file
/// name, then the artifacts.toml files by layer directory name). Problems are reported and
/// reading goes on, so one run reports every bad file; the planner checks what did parse.
pub fn read_layers_dir(layers_dir: &Path) -> (Vec<LayerFile>, Diagnostics) {
    let mut diagnostics = Vec::new();
    let mut layer_files = Vec::new();
    let buildpacks = buildpacks(layers_dir, &mut diagnostics);
    let mut toml_names = 0;
    for buildpack in &buildpacks {
        let buildpack_dir = layers_dir.join(&buildpack.dir_name);
        for file_name in layer_toml_names(&buildpack_dir, &mut diagnostics) {
            toml_names += 1;
            if let Some(file) = read_layer_file(layers_dir, buildpack, &buildpack_dir, &file_name, &mut diagnostics) {
                layer_files.push(file);
            }
        }
        for layer_name in artifacts_toml_layers(&buildpack_dir, &mut diagnostics) {
            toml_names += 1;
            if let Some(file) = read_artifacts_toml(layers_dir, buildpack, &buildpack_dir, &layer_name, &mut diagnostics) {
                layer_files.push(file);
            }
        }
    }
    if diagnostics.is_empty() {
        diagnostics.extend(looks_like_a_layers_dir(layers_dir, &buildpacks, toml_names));
    }
    (layer_files, Diagnostics(diagnostics).sorted())
}

/// R-FILE-9: a directory given as the layers dir that is not one (an empty directory, the
/// parent of the layers dir) is an error, not a build without artifacts. A layers dir holds
/// group.toml (the lifecycle always writes it) or at least one layer TOML; without group.toml,
/// no buildpack directory may itself hold a group.toml.
fn looks_like_a_layers_dir(layers_dir: &Path, buildpacks: &[Buildpack], toml_names: usize) -> Option<Diagnostic> {
    if fs::symlink_metadata(layers_dir.join("group.toml")).is_ok() {
        return None;
    }
    if let Some(b) = buildpacks.iter().find(|b| layers_dir.join(&b.dir_name).join("group.toml").is_file()) {
        let nested = layers_dir.join(&b.dir_name).join("group.toml");
        let nested = crate::diagnostic::display_path(&nested).to_string();
        return Some(LayerTomlError::ParentOfLayersDir { nested }.at_path(layers_dir));
    }
    (toml_names == 0).then(|| LayerTomlError::NotALayersDir.at_path(layers_dir))
}

/// The buildpacks whose directories are read: group.toml's, in its order, when it exists and is
/// valid (R-FILE-2); else every buildpack directory by name. A listed buildpack without a
/// directory wrote no layers and is left out.
fn buildpacks(layers_dir: &Path, diagnostics: &mut Vec<Diagnostic>) -> Vec<Buildpack> {
    let group_path = layers_dir.join("group.toml");
    match read_regular(layers_dir, &group_path) {
        Ok(bytes) => {
            if let Some(source) = utf8_text(&group_path, bytes, diagnostics) {
                let mut report = Report::new(&group_path, &source);
                let entries = parse_group_toml(&mut report);
                if report.is_empty() {
                    let mut listed: Vec<Buildpack> = entries
                        .into_iter()
                        .map(|e| Buildpack { dir_name: Buildpack::dir_name_of(&e.id), id: e.id, version: e.version })
                        .filter(|b| listed_dir(layers_dir, b, diagnostics))
                        .collect();
                    if crate::mutants::active(crate::mutants::Mutant::ReadsUnlistedBuildpacks) {
                        let unlisted: Vec<String> = buildpack_dirs(layers_dir, diagnostics)
                            .into_iter()
                            .filter(|d| !listed.iter().any(|b| &b.dir_name == d))
                            .collect();
                        listed.extend(unlisted.into_iter().map(|dir_name| Buildpack {
                            id: Buildpack::id_of_dir_name(&dir_name),
                            version: None,
                            dir_name,
                        }));
                    }
                    return listed;
                }
                diagnostics.extend(report.into_diagnostics().0);
            }
            // The build fails on the errors above; scanning still reports the layer TOMLs' own.
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => diagnostics.push(LayerTomlError::UnreadableGroupToml { error: e.to_string() }.at_path(&group_path)),
    }
    buildpack_dirs(layers_dir, diagnostics)
        .into_iter()
        .map(|dir_name| Buildpack { id: Buildpack::id_of_dir_name(&dir_name), version: None, dir_name })
        .collect()
}

/// Names of the directories under `layers_dir` except the lifecycle's own and hidden ones,
/// sorted bytewise.
fn buildpack_dirs(layers_dir: &Path, diagnostics: &mut Vec<Diagnostic>) -> Vec<String> {
    let mut names = Vec::new();
    for (name, path) in dir_entries(layers_dir, diagnostics) {
        let lossy = name.to_string_lossy();
        let lifecycle = lossy.starts_with('.') || LIFECYCLE_DIRS.contains(&lossy.as_ref());
        if (lifecycle && !crate::mutants::active(crate::mutants::Mutant::ReadsLifecycleDirs))
            || !real_dir(&path, "buildpack directory", diagnostics)
        {
            continue;
        }
        names.extend(utf8_name(name, &path, "buildpack directory", diagnostics));
    }
    names.sort();
    names
}

/// Names of the layer TOMLs in `buildpack_dir`: regular `*.toml` files but `launch.toml`,
/// `build.toml` and `store.toml`, sorted bytewise (R-FILE-3).
fn layer_toml_names(buildpack_dir: &Path, diagnostics: &mut Vec<Diagnostic>) -> Vec<String> {
    let mut names = Vec::new();
    for (name, path) in dir_entries(buildpack_dir, diagnostics) {
        if !name.to_string_lossy().ends_with(".toml") {
            continue;
        }
        let Some(name) = utf8_name(name, &path, "layer TOML", diagnostics) else {
            continue;
        };
        if NOT_LAYER_TOMLS.contains(&name.as_str()) || name == ".toml" {
            continue;
        }
        match fs::symlink_metadata(&path) {
            Ok(meta) if meta.is_file() => names.push(name),
            Ok(meta) if meta.is_symlink() => {
                diagnostics.push(LayerTomlError::Symlinked { what: "layer TOML", expected: "file" }.at_path(&path))
            }
            Ok(_) => {}
            Err(e) => diagnostics.push(LayerTomlError::UnreadableLayerToml { error: e.to_string() }.at_path(&path)),
        }
    }
    names.sort();
    names
}

/// Names of the layer directories of `buildpack_dir` that hold an `artifacts.toml`: directories
/// not starting with `.`, whose `artifacts.toml` exists, sorted bytewise (R-ATOML-1). A link to a
/// directory is listed too, and reading through it is then refused as unreadable (R-FILE-3); an
/// `artifacts.toml` that is not a regular file is reported.
fn artifacts_toml_layers(buildpack_dir: &Path, diagnostics: &mut Vec<Diagnostic>) -> Vec<String> {
    let mut names = Vec::new();
    for (name, path) in dir_entries(buildpack_dir, diagnostics) {
        if name.to_string_lossy().starts_with('.') || !path.is_dir() {
            continue;
        }
        let file = path.join(ARTIFACTS_TOML);
        match fs::symlink_metadata(&file) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            _ => {}
        }
        if let Some(name) = utf8_name(name, &path, "layer directory", diagnostics) {
            names.push(name);
        }
    }
    names.sort();
    names
}

/// Reads and parses one layer TOML; `None` (with diagnostics) when it cannot be read. A file
/// with problems is reported and kept with what did parse (see [`super::ArtifactDecl::complete`]).
fn read_layer_file(
    layers_dir: &Path,
    buildpack: &Buildpack,
    buildpack_dir: &Path,
    file_name: &str,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<LayerFile> {
    let name = file_name.strip_suffix(".toml").unwrap_or(file_name);
    let toml_path = buildpack_dir.join(file_name);
    read_declarations(layers_dir, buildpack, buildpack_dir, name, DeclForm::LayerToml, toml_path, parse_layer_toml_partial, diagnostics)
}

/// Reads and parses `<layer_name>/artifacts.toml` (R-ATOML-1); `None` (with diagnostics) when it
/// cannot be read.
fn read_artifacts_toml(
    layers_dir: &Path,
    buildpack: &Buildpack,
    buildpack_dir: &Path,
    layer_name: &str,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<LayerFile> {
    let toml_path = buildpack_dir.join(layer_name).join(ARTIFACTS_TOML);
    read_declarations(
        layers_dir,
        buildpack,
        buildpack_dir,
        layer_name,
        DeclForm::ArtifactsToml,
        toml_path,
        parse_artifacts_toml_partial,
        diagnostics,
    )
}

/// Reads the file of layer `name` at `toml_path` and parses it with `parse`.
#[allow(clippy::too_many_arguments)]
fn read_declarations(
    layers_dir: &Path,
    buildpack: &Buildpack,
    buildpack_dir: &Path,
    name: &str,
    form: DeclForm,
    toml_path: std::path::PathBuf,
    parse: fn(&Path, &str) -> (Vec<ArtifactDecl>, Diagnostics),
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<LayerFile> {
    let bytes = match read_regular(layers_dir, &toml_path) {
        Ok(bytes) => bytes,
        Err(e) => {
            diagnostics.push(LayerTomlError::UnreadableLayerToml { error: e.to_string() }.at_path(&toml_path));
            return None;
        }
    };
    let source = utf8_text(&toml_path, bytes, diagnostics)?;
    let (artifacts, errors) = parse(&toml_path, &source);
    let valid = errors.is_empty();
    diagnostics.extend(errors.0);
    Some(LayerFile {
        buildpack: buildpack.clone(),
        form,
        layer_dir: buildpack_dir.join(name),
        name: name.to_string(),
        toml_path,
        lines: Arc::new(crate::diagnostic::LineIndex::new(&source)),
        source: Arc::from(source),
        artifacts,
        valid,
    })
}

/// Reads a TOML file under `layers_dir` that must be a regular file of at most
/// [`TOML_CAP`](crate::input_file::TOML_CAP) bytes, reached without a symbolic link below the
/// layers dir: a named pipe or device is refused instead of blocking the read (R-FILE-3, R-SEC-1).
fn read_regular(layers_dir: &Path, path: &Path) -> Result<Vec<u8>, InputError> {
    let follow = if crate::mutants::opens_paths_as_given() { Follow::Links } else { Follow::NoLinksUnder(layers_dir) };
    read_input(path, follow, TOML_CAP)
}

/// Whether `path` is a real directory (not a symbolic link to one); a symbolic link is
/// reported (R-FILE-8), anything else that is not a directory is ignored.
fn real_dir(path: &Path, what: &'static str, diagnostics: &mut Vec<Diagnostic>) -> bool {
    if crate::mutants::active(crate::mutants::Mutant::FollowsSymlinkedDirs) {
        return path.is_dir();
    }
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.is_symlink() => {
            diagnostics.push(LayerTomlError::Symlinked { what, expected: "directory" }.at_path(path));
            false
        }
        Ok(meta) => meta.is_dir(),
        Err(_) => false,
    }
}

/// Whether the directory of `buildpack`, listed in group.toml, is read (R-FILE-2): a real
/// directory is; a missing one wrote no layers; a link (R-FILE-8) or anything else in its place
/// is reported.
fn listed_dir(layers_dir: &Path, buildpack: &Buildpack, diagnostics: &mut Vec<Diagnostic>) -> bool {
    let path = layers_dir.join(&buildpack.dir_name);
    let found = match fs::symlink_metadata(&path) {
        Ok(meta) if meta.is_file() => "a regular file",
        Ok(meta) if !meta.is_dir() && !meta.is_symlink() => "neither a file nor a directory",
        _ => return real_dir(&path, "buildpack directory listed in group.toml", diagnostics),
    };
    diagnostics.push(LayerTomlError::ListedNotADirectory { id: buildpack.id.clone(), found }.at_path(&path));
    false
}

/// The entries of `dir` as (file name, path); an unreadable directory or entry is reported.
fn dir_entries(dir: &Path, diagnostics: &mut Vec<Diagnostic>) -> Vec<(std::ffi::OsString, std::path::PathBuf)> {
    let read = match fs::read_dir(dir) {
        Ok(read) => read,
        Err(e) => {
            diagnostics.push(LayerTomlError::UnreadableDir { error: e.to_string() }.at_path(dir));
            return Vec::new();
        }
    };
    let mut entries = Vec::new();
    for entry in read {
        match entry {
            Ok(entry) => entries.push((entry.file_name(), entry.path())),
            Err(e) => diagnostics.push(LayerTomlError::UnreadableDir { error: e.to_string() }.at_path(dir)),
        }
    }
    entries
}

/// `name` (of the `what` at `path`) as text; a name that is not UTF-8 cannot be a buildpack ID
/// or layer name (R-FILE-1).
fn utf8_name(name: std::ffi::OsString, path: &Path, what: &'static str, diagnostics: &mut Vec<Diagnostic>) -> Option<String> {
    match name.into_string() {
        Ok(name) => Some(name),
        Err(_) => {
            diagnostics.push(LayerTomlError::NameNotUtf8 { what }.at_path(path));
            None
        }
    }
}

/// `bytes` as text; otherwise a diagnostic at the first byte that is not UTF-8 (R-FILE-5).
fn utf8_text(path: &Path, bytes: Vec<u8>, diagnostics: &mut Vec<Diagnostic>) -> Option<String> {
    crate::diagnostic::utf8_text(path, bytes).map_err(|location| diagnostics.push(LayerTomlError::NotUtf8.at_location(location))).ok()
}

#[cfg(test)]
mod tests;
