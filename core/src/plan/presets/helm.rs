//! The `helm` preset (R-PRESET-3): one packaged chart (`helm package` output), laid out as
//! `helm push` does, so `helm pull oci://…` reads it.
//!
//! The archive is read as a stream (gzip, then tar) only until the first regular-file entry
//! named `<dir>/Chart.yaml` (exactly two path components); that entry is read up to
//! [`MAX_CHART_YAML_SIZE`] bytes and turned into the config blob by [`chart_metadata`].

use std::io::{BufReader, Read};

use super::chart_metadata::{self, MetadataError};
use super::{only_file, refuse_media_type, PresetError, PresetInput, PresetOutput};
use crate::layer_toml::Preset;
use crate::media_types::{HELM_CHART, HELM_CONFIG};
use crate::plan::{ConfigBlob, PlannedFile};

/// The largest Chart.yaml read: 1 MiB.
pub const MAX_CHART_YAML_SIZE: u64 = 1024 * 1024;

/// The gzip magic bytes.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Applies `helm`.
pub(super) fn apply(input: &PresetInput<'_>) -> Result<PresetOutput, PresetError> {
    refuse_media_type(input)?;
    let file = only_file(input, |count| PresetError::HelmFileCount { count })?;
    let (entry, yaml) = read_chart_yaml(file)?;
    let (bytes, chart) = chart_metadata::from_yaml(&yaml).map_err(|e| match e {
        MetadataError::Invalid { reason } => PresetError::ChartYamlInvalid { path: file.path.clone(), entry, reason },
        MetadataError::FieldMissing { field } => PresetError::ChartFieldMissing { path: file.path.clone(), entry, field },
    })?;
    Ok(PresetOutput {
        config: ConfigBlob { media_type: HELM_CONFIG.to_string(), bytes },
        artifact_type: input.artifact_type.unwrap_or(HELM_CONFIG).to_string(),
        layer_media_type: HELM_CHART.to_string(),
        chart: Some(chart),
    })
}

/// True for a tar entry name `<dir>/Chart.yaml`: exactly two `/`-separated components, the
/// first neither empty, `.` nor `..`.
fn is_top_level_chart_yaml(name: &[u8]) -> bool {
    let mut parts = name.split(|b| *b == b'/');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(dir), Some(b"Chart.yaml"), None) => !dir.is_empty() && dir != b"." && dir != b"..",
        _ => false,
    }
}

/// The name and bytes of the archive's top-level Chart.yaml.
fn read_chart_yaml(file: &PlannedFile) -> Result<(String, Vec<u8>), PresetError> {
    let path = &file.path;
    let io = |e: std::io::Error| PresetError::Io { preset: Preset::Helm, path: path.clone(), message: e.to_string() };
    let not_archive = |reason: String| PresetError::NotAChartArchive { path: path.clone(), reason };

    let mut reader = BufReader::new(crate::plan::confine::open_planned(&file.source, file.identity).map_err(io)?);
    let mut magic = Vec::with_capacity(2);
    reader.by_ref().take(2).read_to_end(&mut magic).map_err(io)?;
    if magic != GZIP_MAGIC {
        return Err(not_archive("it does not start with the gzip magic bytes 1f 8b".to_string()));
    }
    let gzip = flate2::read::MultiGzDecoder::new(std::io::Cursor::new(magic).chain(reader));
    let mut archive = tar::Archive::new(gzip);
    let entries = archive.entries().map_err(|e| not_archive(e.to_string()))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| not_archive(e.to_string()))?;
        let name = entry.path_bytes().into_owned();
        if !entry.header().entry_type().is_file() || !is_top_level_chart_yaml(&name) {
            continue;
        }
        let name = String::from_utf8_lossy(&name).into_owned();
        let too_large = |size| PresetError::ChartYamlTooLarge { path: path.clone(), entry: name.clone(), size };
        if entry.size() > MAX_CHART_YAML_SIZE {
            return Err(too_large(entry.size()));
        }
        let mut yaml = Vec::new();
        entry.by_ref().take(MAX_CHART_YAML_SIZE + 1).read_to_end(&mut yaml).map_err(|e| not_archive(e.to_string()))?;
        if yaml.len() as u64 > MAX_CHART_YAML_SIZE {
            return Err(too_large(yaml.len() as u64));
        }
        return Ok((name, yaml));
    }
    Err(PresetError::ChartYamlMissing { path: path.clone() })
}

#[cfg(test)]
mod tests;
