//! The `generic` preset (R-PRESET-1): any files, the OCI empty config, declared or default
//! media types.

use super::{PresetError, PresetInput, PresetOutput};
use crate::media_types::{BUILDPACKS_ARTIFACT, OCI_EMPTY, OCTET_STREAM};
use crate::plan::ConfigBlob;

/// The bytes of the OCI empty config: `{}`.
pub const EMPTY_CONFIG_BYTES: &[u8] = b"{}";

/// The OCI empty descriptor's config blob (media type `application/vnd.oci.empty.v1+json`,
/// bytes `{}`, digest `sha256:44136fa3…caaff8a`).
pub fn empty_config() -> ConfigBlob {
    ConfigBlob { media_type: OCI_EMPTY.to_string(), bytes: EMPTY_CONFIG_BYTES.to_vec() }
}

/// Applies `generic`: declared `artifactType`/`mediaType` or the defaults.
pub(super) fn apply(input: &PresetInput<'_>) -> Result<PresetOutput, PresetError> {
    if input.files.is_empty() {
        return Err(PresetError::NoFiles);
    }
    Ok(PresetOutput {
        config: empty_config(),
        artifact_type: input.artifact_type.unwrap_or(BUILDPACKS_ARTIFACT).to_string(),
        layer_media_type: input.media_type.unwrap_or(OCTET_STREAM).to_string(),
        chart: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layer_toml::Preset;
    use crate::plan::presets::test_support::{input, LayerDir};
    use crate::plan::presets::{apply, PresetError};
    use crate::reference::Digest;
    use rstest::rstest;

    #[test]
    fn r_preset_1_empty_config_is_two_bytes_with_known_digest() {
        let config = empty_config();
        assert_eq!(config.media_type, "application/vnd.oci.empty.v1+json");
        assert_eq!(config.bytes, b"{}");
        assert_eq!(Digest::of(&config.bytes).as_str(), "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a");
    }

    #[rstest]
    #[case::defaults(None, None, "application/vnd.buildpacks.artifact.v1", "application/octet-stream")]
    #[case::declared_artifact_type(
        Some("application/vnd.acme.report.v1"),
        None,
        "application/vnd.acme.report.v1",
        "application/octet-stream"
    )]
    #[case::declared_media_type(None, Some("text/plain"), "application/vnd.buildpacks.artifact.v1", "text/plain")]
    #[case::both(Some("application/vnd.acme.sbom"), Some("application/spdx+json"), "application/vnd.acme.sbom", "application/spdx+json")]
    fn r_preset_1_types_are_declared_or_default(
        #[case] artifact_type: Option<&str>,
        #[case] media_type: Option<&str>,
        #[case] expected_artifact_type: &str,
        #[case] expected_layer_type: &str,
    ) {
        let dir = LayerDir::new();
        let files = [dir.add("a.txt", b"a"), dir.add("sub/b.txt", b"b")];
        let out = apply(&PresetInput { artifact_type, media_type, ..input(Preset::Generic, &files) }).expect("generic");
        assert_eq!(out.artifact_type, expected_artifact_type);
        assert_eq!(out.layer_media_type, expected_layer_type);
        assert_eq!(out.config, empty_config());
        assert_eq!(out.chart, None);
    }

    #[test]
    fn r_preset_1_needs_a_file() {
        let err = apply(&input(Preset::Generic, &[])).expect_err("no files");
        assert_eq!(err, PresetError::NoFiles);
        assert_eq!(err.rule(), "R-PRESET-1");
    }
}
