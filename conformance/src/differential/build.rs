//! A generated build as data: the app image's tags, the buildpacks of group.toml with their
//! layers (each declared in a layer TOML's `[[additionalArtifact]]` tables or in the layer's
//! `artifacts.toml`), the files the artifacts name (confinement tricks included), and what the
//! registry holds before the publish (foreign tags, a fallback index another tool wrote).
//!
//! [`Build::write_layers`] writes the layers directory; [`Build::setup`] gives the registry
//! state as the case format's `[setup]`, so a divergence becomes a case file unchanged
//! ([`super::case_writer`]). Every byte written depends only on the build: the same build gives
//! the same tree.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::case::{ForeignImage, ForeignReferrer, Setup};

/// The app image's repository inside a namespace.
pub const APP_REPOSITORY: &str = "app";

/// The file beside the layer directories that `../secret.txt` and `link-out` reach for.
pub const SECRET_FILE: &str = "secret.txt";

/// One generated build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Build {
    /// The app image's tags, the primary first (at least one).
    pub tags: Vec<String>,
    /// `CNB_ARTIFACTS_OVERWRITE=true`.
    pub overwrite: bool,
    pub buildpacks: Vec<Buildpack>,
    /// Foreign images in the app repository under these tags, before the publish.
    pub foreign_tags: Vec<String>,
    /// Referrers of the app image another tool listed in a fallback index, by artifact type.
    pub foreign_referrers: Vec<String>,
}

/// A buildpack of group.toml and its layers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Buildpack {
    pub id: String,
    /// `None`: group.toml gives no version.
    pub version: Option<String>,
    pub layers: Vec<Layer>,
}

/// A layer and the artifacts it declares, in one form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layer {
    pub name: String,
    pub form: Form,
    pub artifacts: Vec<Artifact>,
}

/// Where a layer declares its artifacts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// `<layer>.toml`, `[[additionalArtifact]]` tables.
    LayerToml,
    /// `<layer>/artifacts.toml`, `[[artifact]]` tables.
    ArtifactsToml,
}

/// One artifact table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artifact {
    /// `files` (more than one) or `file` (one).
    pub files: Vec<ArtifactFile>,
    pub tag: Option<String>,
    pub repository: Option<String>,
    /// `type`, when given.
    pub preset: Option<String>,
    /// Label keys and values, keys unique, in the order written.
    pub labels: Vec<(String, String)>,
}

/// A path as the artifact table writes it and what the layer directory holds there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactFile {
    pub path: String,
    pub source: FileSource,
}

/// What is at an artifact file's path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileSource {
    /// A regular file with these bytes.
    Bytes(Vec<u8>),
    /// A Helm chart archive whose Chart.yaml says this name and version.
    Chart { name: String, version: String },
    /// A symbolic link to `../secret.txt`, out of the layer directory (R-CONF-3).
    LinkOut,
    /// Nothing is written for it (absolute paths, `..`, missing files).
    Absent,
}

impl Build {
    /// The directory of buildpack `id` in the layers directory.
    pub fn buildpack_dir(id: &str) -> String {
        id.replace('/', "_")
    }

    /// Every artifact, with the file that declares it (relative to the layers directory).
    pub fn declaring_files(&self) -> Vec<String> {
        let mut files = Vec::new();
        for bp in &self.buildpacks {
            for layer in bp.layers.iter().filter(|l| !l.artifacts.is_empty()) {
                files.push(layer.declaring_file(&Build::buildpack_dir(&bp.id)));
            }
        }
        files
    }

    /// How many artifacts the build declares.
    pub fn artifact_count(&self) -> usize {
        self.buildpacks.iter().flat_map(|b| &b.layers).map(|l| l.artifacts.len()).sum()
    }

    /// The registry state before the publish, as a case's `[setup]`.
    pub fn setup(&self) -> Setup {
        Setup {
            foreign_images: self
                .foreign_tags
                .iter()
                .map(|t| ForeignImage { repository: None, tag: t.clone(), spec_artifact: false })
                .collect(),
            foreign_referrers: self
                .foreign_referrers
                .iter()
                .map(|t| ForeignReferrer { repository: None, artifact_type: t.clone(), duplicate: false, raw_members: None })
                .collect(),
            publish: Vec::new(),
        }
    }

    /// Writes the layers directory at `layers` (created) and returns it.
    pub fn write_layers(&self, layers: &Path) -> std::io::Result<PathBuf> {
        fs::create_dir_all(layers)?;
        let mut group = String::new();
        for bp in &self.buildpacks {
            group.push_str(&format!("[[group]]\nid = {}\n", toml_str(&bp.id)));
            if let Some(v) = &bp.version {
                group.push_str(&format!("version = {}\n", toml_str(v)));
            }
            group.push_str("api = \"0.12\"\n\n");
        }
        fs::write(layers.join("group.toml"), group)?;
        for bp in &self.buildpacks {
            let bp_dir = layers.join(Build::buildpack_dir(&bp.id));
            fs::create_dir_all(&bp_dir)?;
            fs::write(bp_dir.join(SECRET_FILE), b"outside every layer\n")?;
            for layer in &bp.layers {
                layer.write(&bp_dir)?;
            }
        }
        Ok(layers.to_path_buf())
    }
}

impl Layer {
    /// The file that declares this layer's artifacts, relative to the layers directory.
    pub fn declaring_file(&self, bp_dir: &str) -> String {
        match self.form {
            Form::LayerToml => format!("{bp_dir}/{}.toml", self.name),
            Form::ArtifactsToml => format!("{bp_dir}/{}/artifacts.toml", self.name),
        }
    }

    fn write(&self, bp_dir: &Path) -> std::io::Result<()> {
        let dir = bp_dir.join(&self.name);
        fs::create_dir_all(&dir)?;
        let table = match self.form {
            Form::LayerToml => "additionalArtifact",
            Form::ArtifactsToml => "artifact",
        };
        let mut text = String::new();
        for a in &self.artifacts {
            text.push_str(&a.toml(table));
            for f in &a.files {
                f.write(&dir)?;
            }
        }
        let path = match self.form {
            Form::LayerToml => bp_dir.join(format!("{}.toml", self.name)),
            Form::ArtifactsToml => dir.join("artifacts.toml"),
        };
        fs::write(path, text)
    }
}

impl Artifact {
    /// The artifact as a `[[<table>]]` table.
    fn toml(&self, table: &str) -> String {
        let mut text = format!("[[{table}]]\n");
        match self.files.as_slice() {
            [one] => text.push_str(&format!("file = {}\n", toml_str(&one.path))),
            many => {
                let list: Vec<String> = many.iter().map(|f| toml_str(&f.path)).collect();
                text.push_str(&format!("files = [{}]\n", list.join(", ")));
            }
        }
        for (key, value) in [("tag", &self.tag), ("repository", &self.repository), ("type", &self.preset)] {
            if let Some(v) = value {
                text.push_str(&format!("{key} = {}\n", toml_str(v)));
            }
        }
        if !self.labels.is_empty() {
            text.push_str(&format!("[{table}.labels]\n"));
            for (k, v) in &self.labels {
                text.push_str(&format!("{} = {}\n", toml_str(k), toml_str(v)));
            }
        }
        text.push('\n');
        text
    }
}

impl ArtifactFile {
    /// Creates what the layer directory `dir` holds at this file's path, when it is a plain
    /// relative name (`./` allowed).
    fn write(&self, dir: &Path) -> std::io::Result<()> {
        let name = self.path.trim_start_matches("./");
        if name.is_empty() || name.contains('/') || name == ".." || name == "." {
            return Ok(());
        }
        let path = dir.join(name);
        match &self.source {
            FileSource::Bytes(bytes) => fs::write(path, bytes),
            FileSource::Chart { name, version } => fs::write(path, chart_tgz(name, version)?),
            FileSource::LinkOut => {
                if fs::symlink_metadata(&path).is_ok() {
                    fs::remove_file(&path)?;
                }
                std::os::unix::fs::symlink(format!("../{SECRET_FILE}"), path)
            }
            FileSource::Absent => Ok(()),
        }
    }
}

/// A gzipped chart archive holding `chart/Chart.yaml` with `name` and `version`, fixed bytes.
fn chart_tgz(name: &str, version: &str) -> std::io::Result<Vec<u8>> {
    let yaml = format!("apiVersion: v2\nname: {}\nversion: {}\n", yaml_str(name), yaml_str(version));
    let encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut builder = tar::Builder::new(encoder);
    let mut header = tar::Header::new_ustar();
    header.set_size(yaml.len() as u64);
    header.set_mode(0o644);
    header.set_mtime(0);
    header.set_entry_type(tar::EntryType::Regular);
    builder.append_data(&mut header, "chart/Chart.yaml", yaml.as_bytes())?;
    let mut gz = builder.into_inner()?;
    gz.flush()?;
    gz.finish()
}

/// A YAML double-quoted scalar.
fn yaml_str(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_string())
}

/// A TOML basic string: `"` and `\` escaped, every control character (DEL included) as
/// `\uXXXX`, everything else as written.
pub fn toml_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '\u{7F}' => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> Build {
        Build {
            tags: vec!["1.0".into()],
            overwrite: false,
            buildpacks: vec![Buildpack {
                id: "acme/one".into(),
                version: Some("1.2.3".into()),
                layers: vec![
                    Layer {
                        name: "module".into(),
                        form: Form::LayerToml,
                        artifacts: vec![Artifact {
                            files: vec![ArtifactFile { path: "a.txt".into(), source: FileSource::Bytes(b"a".to_vec()) }],
                            tag: Some("${build.tag}-x".into()),
                            repository: None,
                            preset: None,
                            labels: vec![("k".into(), "\u{7F}\u{0}\u{1F600}\"".into())],
                        }],
                    },
                    Layer {
                        name: "data".into(),
                        form: Form::ArtifactsToml,
                        artifacts: vec![Artifact {
                            files: vec![
                                ArtifactFile { path: "link-out".into(), source: FileSource::LinkOut },
                                ArtifactFile { path: "../secret.txt".into(), source: FileSource::Absent },
                            ],
                            tag: None,
                            repository: Some("${build.repository}/sub".into()),
                            preset: Some("generic".into()),
                            labels: Vec::new(),
                        }],
                    },
                ],
            }],
            foreign_tags: vec!["wasm".into()],
            foreign_referrers: Vec::new(),
        }
    }

    #[test]
    fn both_forms_are_written_and_parse_as_toml() {
        let dir = tempfile::tempdir().unwrap();
        let layers = small().write_layers(&dir.path().join("layers")).unwrap();
        let layer_toml = fs::read_to_string(layers.join("acme_one/module.toml")).unwrap();
        let value: toml::Table = toml::from_str(&layer_toml).expect("valid TOML");
        let label = value["additionalArtifact"][0]["labels"]["k"].as_str().unwrap();
        assert_eq!(label, "\u{7F}\u{0}\u{1F600}\"");
        let atoml = fs::read_to_string(layers.join("acme_one/data/artifacts.toml")).unwrap();
        let value: toml::Table = toml::from_str(&atoml).expect("valid TOML");
        assert_eq!(value["artifact"][0]["files"].as_array().unwrap().len(), 2);
        assert_eq!(fs::read_link(layers.join("acme_one/data/link-out")).unwrap(), Path::new("../secret.txt"));
        assert!(layers.join("group.toml").is_file());
        assert_eq!(small().declaring_files(), ["acme_one/module.toml", "acme_one/data/artifacts.toml"]);
    }

    #[test]
    fn the_same_build_writes_the_same_tree() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        small().write_layers(a.path()).unwrap();
        small().write_layers(b.path()).unwrap();
        assert_eq!(crate::fixture::listing(a.path()), crate::fixture::listing(b.path()));
    }
}
