//! Media-type presets (R-PRESET-1..4): `generic`, `wasm`, `helm`; and the `created` timestamp
//! (R-MAN-8).
//!
//! A preset decides an artifact's config blob, its `artifactType` and its layer media type, and
//! checks what the preset requires of the files (one Wasm binary, one packaged chart). The
//! planner calls [`apply`] once per artifact, at plan time, and copies the result into the
//! [`crate::plan::PlannedArtifact`]; [`check_helm_target`] then checks the chart against the
//! rendered repository and tags. Each preset lives in its own submodule: `generic`, `wasm`,
//! `helm` (with `chart_metadata` for the Chart.yaml → config mapping).

pub(crate) mod chart_metadata;
pub(crate) mod generic;
pub(crate) mod helm;
pub(crate) mod junit;
pub(crate) mod wasm;

use crate::layer_toml::Preset;
use crate::plan::{ConfigBlob, PlannedFile};

/// What the planner passes to a preset.
#[derive(Debug, Clone)]
pub struct PresetInput<'a> {
    /// The preset declared (`type`).
    pub preset: Preset,
    /// `artifactType` as declared, if any.
    pub artifact_type: Option<&'a str>,
    /// `mediaType` as declared, if any.
    pub media_type: Option<&'a str>,
    /// The artifact's files, already confined and hashed (their `media_type` is not yet set).
    pub files: &'a [PlannedFile],
    /// The RFC 3339 timestamp from `SOURCE_DATE_EPOCH`, when set.
    pub created: Option<&'a str>,
}

/// Name and version of a Helm chart, read from its packaged `Chart.yaml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChartInfo {
    /// The chart's `name`.
    pub name: String,
    /// The chart's `version` (also its default tag).
    pub version: String,
}

/// What a preset decides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresetOutput {
    /// The config blob.
    pub config: ConfigBlob,
    /// The manifest's `artifactType`.
    pub artifact_type: String,
    /// The media type of every layer.
    pub layer_media_type: String,
    /// For `helm`: the chart, so the planner can apply [`check_helm_target`] and defaults.
    pub chart: Option<ChartInfo>,
}

/// Why a preset refuses an artifact. Paths are the files' declared paths (`PlannedFile.path`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PresetError {
    /// The artifact declares no file (R-PRESET-1).
    #[error("an artifact needs at least one file")]
    NoFiles,
    /// `mediaType` is declared for a preset that fixes its layer media type.
    #[error("a `mediaType` cannot be declared for type = \"{}\": its layer media type is fixed", preset.as_str())]
    MediaTypeNotAllowed {
        /// The preset.
        preset: Preset,
    },
    /// A file cannot be read while the preset inspects it.
    #[error("cannot read `{path}`: {message}")]
    Io {
        /// The preset.
        preset: Preset,
        /// The file's declared path.
        path: String,
        /// The I/O error's message.
        message: String,
    },
    /// `wasm` with other than one file (R-PRESET-2).
    #[error("type = \"wasm\" takes exactly one file, found {count}")]
    WasmFileCount {
        /// The number of files declared.
        count: usize,
    },
    /// The file is not a WebAssembly binary (R-PRESET-2).
    #[error("`{path}` is not a WebAssembly binary: {reason}")]
    NotWasm {
        /// The file's declared path.
        path: String,
        /// What is wrong (e.g. the magic number).
        reason: String,
    },
    /// `junit` with other than one file (R-PRESET-5).
    #[error("type = \"junit\" takes exactly one file (a JUnit XML report), found {count}")]
    JunitFileCount {
        /// The number of files declared.
        count: usize,
    },
    /// The file is not a JUnit XML report (R-PRESET-5).
    #[error("`{path}` is not a JUnit XML report: {reason}")]
    NotJunit {
        /// The file's declared path.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// `helm` with other than one file (R-PRESET-3).
    #[error("type = \"helm\" takes exactly one file (a packaged chart), found {count}")]
    HelmFileCount {
        /// The number of files declared.
        count: usize,
    },
    /// The file is not a gzip-compressed tar (R-PRESET-3).
    #[error("`{path}` is not a packaged Helm chart (a gzip-compressed tar): {reason}")]
    NotAChartArchive {
        /// The file's declared path.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// The archive has no top-level `<chart>/Chart.yaml` (R-PRESET-3).
    #[error("`{path}` has no `<chart>/Chart.yaml` at the top level of the archive")]
    ChartYamlMissing {
        /// The file's declared path.
        path: String,
    },
    /// Chart.yaml is over the size limit (R-PRESET-3).
    #[error("`{path}`: `{entry}` is {size} bytes, over the {} byte limit", helm::MAX_CHART_YAML_SIZE)]
    ChartYamlTooLarge {
        /// The file's declared path.
        path: String,
        /// The Chart.yaml entry in the archive.
        entry: String,
        /// Its size in bytes.
        size: u64,
    },
    /// Chart.yaml does not parse as YAML, or has the wrong shape (R-PRESET-3).
    #[error("`{path}`: `{entry}` is invalid: {reason}")]
    ChartYamlInvalid {
        /// The file's declared path.
        path: String,
        /// The Chart.yaml entry in the archive.
        entry: String,
        /// The parser's message.
        reason: String,
    },
    /// Chart.yaml lacks a required field (R-PRESET-3).
    #[error("`{path}`: `{entry}` has no `{field}`")]
    ChartFieldMissing {
        /// The file's declared path.
        path: String,
        /// The Chart.yaml entry in the archive.
        entry: String,
        /// The missing field (`name`, `version`).
        field: &'static str,
    },
    /// The rendered repository does not end with the chart's name (R-PRESET-4).
    #[error("repository `{found}` does not end with the chart name `{expected}` as its last path component")]
    HelmRepositoryMismatch {
        /// The chart's name.
        expected: String,
        /// The repository rendered.
        found: String,
    },
    /// A tag is not the chart's version (R-PRESET-4).
    #[error("tag `{found}` is not the chart's version tag `{expected}`")]
    HelmTagMismatch {
        /// The chart's version.
        expected: String,
        /// The tag rendered.
        found: String,
    },
}

impl PresetError {
    /// The spec rule the error enforces.
    pub fn rule(&self) -> &'static str {
        match self {
            PresetError::NoFiles => "R-PRESET-1",
            PresetError::MediaTypeNotAllowed { preset } | PresetError::Io { preset, .. } => rule_of(*preset),
            PresetError::WasmFileCount { .. } | PresetError::NotWasm { .. } => "R-PRESET-2",
            PresetError::HelmFileCount { .. }
            | PresetError::NotAChartArchive { .. }
            | PresetError::ChartYamlMissing { .. }
            | PresetError::ChartYamlTooLarge { .. }
            | PresetError::ChartYamlInvalid { .. }
            | PresetError::ChartFieldMissing { .. } => "R-PRESET-3",
            PresetError::HelmRepositoryMismatch { .. } | PresetError::HelmTagMismatch { .. } => "R-PRESET-4",
            PresetError::JunitFileCount { .. } | PresetError::NotJunit { .. } => "R-PRESET-5",
        }
    }

    /// A hint for the user.
    pub fn help(&self) -> Option<String> {
        let text = match self {
            PresetError::NoFiles => "declare the artifact's content with `file = \"...\"` or `files = [...]`".to_string(),
            PresetError::MediaTypeNotAllowed { preset } => format!(
                "remove `mediaType`, or use type = \"generic\" to choose layer media types; type = \"{}\" always writes its own",
                preset.as_str()
            ),
            PresetError::Io { .. } => "check that the file exists and is readable when the tool runs".to_string(),
            PresetError::WasmFileCount { .. } => {
                "publish each .wasm file as its own artifact (one [[additionalArtifact]] table each)".to_string()
            }
            PresetError::NotWasm { .. } => {
                "type = \"wasm\" expects a binary module or component starting with `\\0asm`; use type = \"generic\" for other files"
                    .to_string()
            }
            PresetError::JunitFileCount { .. } => {
                "publish each report as its own artifact, or merge them into one <testsuites>".to_string()
            }
            PresetError::NotJunit { .. } => {
                "declare the XML report your test runner writes (<testsuites> or <testsuite> with <testcase> elements)".to_string()
            }
            PresetError::HelmFileCount { .. } => {
                "publish each chart as its own artifact; declare the .tgz written by `helm package`".to_string()
            }
            PresetError::NotAChartArchive { .. } | PresetError::ChartYamlMissing { .. } => {
                "declare the .tgz written by `helm package <chart-dir>`, not the chart directory or another file".to_string()
            }
            PresetError::ChartYamlTooLarge { .. } => "Chart.yaml holds chart metadata only; move large content elsewhere".to_string(),
            PresetError::ChartYamlInvalid { .. } => {
                "fix Chart.yaml and package the chart again; `helm lint` reports most problems".to_string()
            }
            PresetError::ChartFieldMissing { field, .. } => format!("set `{field}` in Chart.yaml and package the chart again"),
            PresetError::HelmRepositoryMismatch { expected, .. } => {
                format!("Helm finds a chart at `<registry>/<path>/{expected}`; set `repository` to a path ending in `/{expected}`")
            }
            PresetError::HelmTagMismatch { expected, .. } => {
                format!("Helm finds a chart version by its tag; set `tag = \"{expected}\"` or leave `tag` unset")
            }
        };
        Some(text)
    }
}

fn rule_of(preset: Preset) -> &'static str {
    match preset {
        Preset::Generic => "R-PRESET-1",
        Preset::Wasm => "R-PRESET-2",
        Preset::Helm => "R-PRESET-3",
        Preset::Junit => "R-PRESET-5",
    }
}

/// Applies the preset (R-PRESET-1..3).
pub fn apply(input: &PresetInput<'_>) -> Result<PresetOutput, PresetError> {
    match input.preset {
        Preset::Generic => generic::apply(input),
        Preset::Wasm => wasm::apply(input),
        Preset::Helm => helm::apply(input),
        Preset::Junit => junit::apply(input),
    }
}

/// The single file of a preset that takes exactly one, or `count_error(n)`.
pub(crate) fn only_file<'a>(input: &PresetInput<'a>, count_error: fn(usize) -> PresetError) -> Result<&'a PlannedFile, PresetError> {
    match input.files {
        [file] => Ok(file),
        files => Err(count_error(files.len())),
    }
}

/// Refuses a declared `mediaType` for presets whose layer media type is fixed.
pub(crate) fn refuse_media_type(input: &PresetInput<'_>) -> Result<(), PresetError> {
    match input.media_type {
        Some(_) if !crate::mutants::active(crate::mutants::Mutant::LenientWasm) => {
            Err(PresetError::MediaTypeNotAllowed { preset: input.preset })
        }
        _ => Ok(()),
    }
}

impl ChartInfo {
    /// The tag Helm pushes a chart under: the version with `+` written as `_` (R-PRESET-4).
    pub fn tag(&self) -> String {
        self.version.replace('+', "_")
    }
}

/// Helm's rule (R-PRESET-4): the repository path ends with the chart name (as its last
/// component) and every tag is the chart version (with `+` as `_`).
pub fn check_helm_target(chart: &ChartInfo, repository: &str, tags: &[String]) -> Result<(), PresetError> {
    let last = repository.rsplit('/').next().unwrap_or(repository);
    if last != chart.name {
        return Err(PresetError::HelmRepositoryMismatch { expected: chart.name.clone(), found: repository.to_string() });
    }
    let expected = chart.tag();
    match tags.iter().find(|t| **t != expected) {
        Some(found) => Err(PresetError::HelmTagMismatch { expected, found: found.clone() }),
        None => Ok(()),
    }
}

/// The `created` value written when `SOURCE_DATE_EPOCH` is not set and a preset's config
/// requires one (the Wasm config, R-PRESET-2).
pub const EPOCH_ZERO: &str = "1970-01-01T00:00:00Z";

/// The largest `SOURCE_DATE_EPOCH` accepted: 9999-12-31T23:59:59Z.
pub const MAX_SOURCE_DATE_EPOCH: i64 = 253_402_300_799;

/// `SOURCE_DATE_EPOCH` seconds as the RFC 3339 UTC timestamp the spec writes (R-MAN-8),
/// e.g. `2023-11-14T22:13:20Z`; `None` when out of range (below 0 or after year 9999).
pub fn created_timestamp(epoch: i64) -> Option<String> {
    if !(0..=MAX_SOURCE_DATE_EPOCH).contains(&epoch) {
        return None;
    }
    let time = chrono::DateTime::from_timestamp(epoch, 0)?;
    Some(time.format("%Y-%m-%dT%H:%M:%SZ").to_string())
}

#[cfg(test)]
pub(crate) mod test_support;

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case::epoch_zero(0, Some("1970-01-01T00:00:00Z"))]
    #[case::example(1_700_000_000, Some("2023-11-14T22:13:20Z"))]
    #[case::leap_day(951_782_400, Some("2000-02-29T00:00:00Z"))]
    #[case::last_second(MAX_SOURCE_DATE_EPOCH, Some("9999-12-31T23:59:59Z"))]
    #[case::after_9999(MAX_SOURCE_DATE_EPOCH + 1, None)]
    #[case::negative(-1, None)]
    fn r_man_8_created_timestamp(#[case] epoch: i64, #[case] expected: Option<&str>) {
        assert_eq!(created_timestamp(epoch).as_deref(), expected);
    }

    fn chart(version: &str) -> ChartInfo {
        ChartInfo { name: "hello".into(), version: version.into() }
    }

    #[rstest]
    #[case::plain("0.1.0", "0.1.0")]
    #[case::build_metadata("0.2.0+build.7", "0.2.0_build.7")]
    #[case::several_plus("1.0.0-rc.1+a+b", "1.0.0-rc.1_a_b")]
    fn r_preset_4_chart_tag_writes_plus_as_underscore(#[case] version: &str, #[case] tag: &str) {
        assert_eq!(chart(version).tag(), tag);
    }

    #[rstest]
    #[case::bare_name("hello", &[], None)]
    #[case::nested_path("charts/hello", &["0.2.0_build.7"], None)]
    #[case::other_name("charts/hello-chart", &[], Some(PresetError::HelmRepositoryMismatch {
        expected: "hello".into(), found: "charts/hello-chart".into() }))]
    #[case::name_not_last("hello/charts", &[], Some(PresetError::HelmRepositoryMismatch {
        expected: "hello".into(), found: "hello/charts".into() }))]
    #[case::plus_kept("charts/hello", &["0.2.0+build.7"], Some(PresetError::HelmTagMismatch {
        expected: "0.2.0_build.7".into(), found: "0.2.0+build.7".into() }))]
    #[case::second_tag_wrong("charts/hello", &["0.2.0_build.7", "latest"], Some(PresetError::HelmTagMismatch {
        expected: "0.2.0_build.7".into(), found: "latest".into() }))]
    fn r_preset_4_check_helm_target(#[case] repo: &str, #[case] tags: &[&str], #[case] expected: Option<PresetError>) {
        let tags: Vec<String> = tags.iter().map(|t| t.to_string()).collect();
        let result = check_helm_target(&chart("0.2.0+build.7"), repo, &tags);
        assert_eq!(result.err(), expected);
        if let Some(e) = expected {
            assert_eq!(e.rule(), "R-PRESET-4");
            assert!(e.help().expect("help").contains("hello") || e.help().expect("help").contains("0.2.0_build.7"));
        }
    }

    #[test]
    fn every_error_names_a_preset_rule_and_a_help() {
        let errors = [
            PresetError::NoFiles,
            PresetError::MediaTypeNotAllowed { preset: Preset::Wasm },
            PresetError::Io { preset: Preset::Helm, path: "a".into(), message: "gone".into() },
            PresetError::WasmFileCount { count: 2 },
            PresetError::NotWasm { path: "a".into(), reason: "r".into() },
            PresetError::HelmFileCount { count: 0 },
            PresetError::NotAChartArchive { path: "a".into(), reason: "r".into() },
            PresetError::ChartYamlMissing { path: "a".into() },
            PresetError::ChartYamlTooLarge { path: "a".into(), entry: "c/Chart.yaml".into(), size: 2 },
            PresetError::ChartYamlInvalid { path: "a".into(), entry: "c/Chart.yaml".into(), reason: "r".into() },
            PresetError::ChartFieldMissing { path: "a".into(), entry: "c/Chart.yaml".into(), field: "name" },
        ];
        let rules: Vec<&str> = errors.iter().map(PresetError::rule).collect();
        assert_eq!(
            rules,
            [
                "R-PRESET-1",
                "R-PRESET-2",
                "R-PRESET-3",
                "R-PRESET-2",
                "R-PRESET-2",
                "R-PRESET-3",
                "R-PRESET-3",
                "R-PRESET-3",
                "R-PRESET-3",
                "R-PRESET-3",
                "R-PRESET-3"
            ]
        );
        assert!(errors.iter().all(|e| e.help().is_some_and(|h| !h.is_empty())));
    }
}
