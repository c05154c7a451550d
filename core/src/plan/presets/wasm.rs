//! The `wasm` preset (R-PRESET-2): one WebAssembly module or component, laid out as the CNCF
//! TAG Runtime "Wasm OCI Artifact" format that `wkg oci pull` (wasm-pkg-tools, through the
//! `oci-wasm` crate) reads.
//!
//! The first 8 bytes of the file decide what it is: the magic `\0asm`, then a little-endian
//! `u16` version and a `u16` layer; layer 0 with version 1 is a core module (`os` = `wasip1`),
//! layer 1 is a component (`os` = `wasip2`). The config carries the members `oci-wasm`'s
//! `WasmConfig` requires (`created`, `architecture`, `os`, `layerDigests`) and no others.

use std::io::Read;

use serde::Serialize;

use super::{only_file, refuse_media_type, PresetError, PresetInput, PresetOutput, EPOCH_ZERO};
use crate::canonical;
use crate::layer_toml::Preset;
use crate::media_types::{WASM_CONFIG, WASM_LAYER};
use crate::plan::{ConfigBlob, PlannedFile};
use crate::reference::Digest;

/// The Wasm binary magic, `\0asm`.
pub const WASM_MAGIC: [u8; 4] = *b"\0asm";

/// What a Wasm binary's header says it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WasmKind {
    /// A core module (header version 1, layer 0).
    Module,
    /// A component-model component (header layer 1, any version).
    Component,
}

impl WasmKind {
    /// The `os` member of the config: `wasip1` for modules, `wasip2` for components.
    pub fn os(self) -> &'static str {
        match self {
            WasmKind::Module => "wasip1",
            WasmKind::Component => "wasip2",
        }
    }

    /// Reads an 8-byte Wasm header; `Err` says why it is not one.
    pub fn from_header(header: &[u8]) -> Result<WasmKind, String> {
        let Some((magic, rest)) = header.split_first_chunk::<4>() else {
            return Err(format!("it is {} bytes long, shorter than the 8-byte Wasm header", header.len()));
        };
        if *magic != WASM_MAGIC {
            return Err(format!("it starts with {}, not the Wasm magic 00 61 73 6d (`\\0asm`)", hex_bytes(magic)));
        }
        let Some((fields, _)) = rest.split_first_chunk::<4>() else {
            return Err(format!("it is {} bytes long, shorter than the 8-byte Wasm header", header.len()));
        };
        let version = u16::from_le_bytes([fields[0], fields[1]]);
        let layer = u16::from_le_bytes([fields[2], fields[3]]);
        match (layer, version) {
            (0, 1) => Ok(WasmKind::Module),
            (0, v) => Err(format!("core module version {v} is not 1")),
            (1, _) => Ok(WasmKind::Component),
            (l, _) => Err(format!("header layer {l} is neither 0 (core module) nor 1 (component)")),
        }
    }
}

fn hex_bytes(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(" ")
}

/// The Wasm config blob as this spec writes it (members sorted by JCS, not by this order).
#[derive(Debug, Serialize)]
struct WasmConfig<'a> {
    architecture: &'static str,
    created: &'a str,
    #[serde(rename = "layerDigests")]
    layer_digests: [&'a Digest; 1],
    os: &'static str,
}

/// The config blob for a Wasm binary of `kind` whose layer has `digest`.
pub fn config(kind: WasmKind, digest: &Digest, created: Option<&str>) -> ConfigBlob {
    let config = WasmConfig { architecture: "wasm", created: created.unwrap_or(EPOCH_ZERO), layer_digests: [digest], os: kind.os() };
    let bytes = canonical::to_vec(&config).expect("an object of strings always has a canonical form");
    ConfigBlob { media_type: WASM_CONFIG.to_string(), bytes }
}

/// Reads the first 8 bytes of `file` and classifies it.
fn sniff(file: &PlannedFile) -> Result<WasmKind, PresetError> {
    let io = |e: std::io::Error| PresetError::Io { preset: Preset::Wasm, path: file.path.clone(), message: e.to_string() };
    let mut header = Vec::with_capacity(8);
    std::fs::File::open(&file.source).map_err(io)?.take(8).read_to_end(&mut header).map_err(io)?;
    match WasmKind::from_header(&header) {
        Err(_) if crate::mutants::active(crate::mutants::Mutant::LenientWasm) => Ok(WasmKind::Module),
        kind => kind.map_err(|reason| PresetError::NotWasm { path: file.path.clone(), reason }),
    }
}

/// Applies `wasm`.
pub(super) fn apply(input: &PresetInput<'_>) -> Result<PresetOutput, PresetError> {
    refuse_media_type(input)?;
    let file = only_file(input, |count| PresetError::WasmFileCount { count })?;
    let kind = sniff(file)?;
    Ok(PresetOutput {
        config: config(kind, &file.digest, input.created),
        artifact_type: input.artifact_type.unwrap_or(WASM_CONFIG).to_string(),
        layer_media_type: WASM_LAYER.to_string(),
        chart: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::presets::test_support::{fixture, input, LayerDir};
    use crate::plan::presets::{apply, PresetError};
    use rstest::rstest;

    #[rstest]
    #[case::module(b"\0asm\x01\0\0\0", Ok(WasmKind::Module))]
    #[case::module_with_sections(b"\0asm\x01\0\0\0\x01\x05", Ok(WasmKind::Module))]
    #[case::component(b"\0asm\x0d\0\x01\0", Ok(WasmKind::Component))]
    #[case::component_v1(b"\0asm\x01\0\x01\0", Ok(WasmKind::Component))]
    #[case::empty(b"", Err("it is 0 bytes long, shorter than the 8-byte Wasm header"))]
    #[case::short(b"\0asm\x01", Err("it is 5 bytes long, shorter than the 8-byte Wasm header"))]
    #[case::text(b"hello world", Err("it starts with 68 65 6c 6c, not the Wasm magic 00 61 73 6d (`\\0asm`)"))]
    #[case::module_v2(b"\0asm\x02\0\0\0", Err("core module version 2 is not 1"))]
    #[case::unknown_layer(b"\0asm\x01\0\x02\0", Err("header layer 2 is neither 0 (core module) nor 1 (component)"))]
    fn r_preset_2_header_decides_module_or_component(#[case] header: &[u8], #[case] expected: Result<WasmKind, &str>) {
        assert_eq!(WasmKind::from_header(header), expected.map_err(str::to_string));
    }

    #[test]
    fn r_preset_2_module_config_bytes() {
        let dir = LayerDir::new();
        let files = [dir.add_fixture("app.wasm", "wasm/hello-module.wasm")];
        let out = apply(&input(Preset::Wasm, &files)).expect("wasm");
        assert_eq!(out.artifact_type, "application/vnd.wasm.config.v0+json");
        assert_eq!(out.layer_media_type, "application/wasm");
        assert_eq!(out.config.media_type, "application/vnd.wasm.config.v0+json");
        assert_eq!(
            String::from_utf8(out.config.bytes.clone()).expect("UTF-8"),
            format!(r#"{{"architecture":"wasm","created":"1970-01-01T00:00:00Z","layerDigests":["{}"],"os":"wasip1"}}"#, files[0].digest)
        );
        assert_eq!(out.chart, None);
    }

    #[test]
    fn r_preset_2_component_config_uses_source_date_epoch() {
        let dir = LayerDir::new();
        let files = [dir.add_fixture("c.wasm", "wasm/empty-component.wasm")];
        let out = apply(&PresetInput { created: Some("2023-11-14T22:13:20Z"), ..input(Preset::Wasm, &files) }).expect("wasm");
        assert_eq!(
            String::from_utf8(out.config.bytes).expect("UTF-8"),
            format!(r#"{{"architecture":"wasm","created":"2023-11-14T22:13:20Z","layerDigests":["{}"],"os":"wasip2"}}"#, files[0].digest)
        );
    }

    /// The config deserialises as oci-wasm's `WasmConfig` requires: `created` parses as an RFC
    /// 3339 date-time, `architecture`/`os` are strings, `layerDigests` an array of strings.
    #[test]
    fn r_preset_2_config_has_the_members_oci_wasm_requires() {
        let digest = Digest::of(b"x");
        let config = config(WasmKind::Component, &digest, None);
        let value: serde_json::Value = serde_json::from_slice(&config.bytes).expect("JSON");
        let created = value["created"].as_str().expect("created");
        assert!(chrono::DateTime::parse_from_rfc3339(created).is_ok());
        assert_eq!(value["architecture"], "wasm");
        assert_eq!(value["os"], "wasip2");
        assert_eq!(value["layerDigests"], serde_json::json!([digest.as_str()]));
        assert_eq!(value.as_object().expect("object").len(), 4);
    }

    #[test]
    fn r_preset_2_declared_artifact_type_is_kept() {
        let dir = LayerDir::new();
        let files = [dir.add("m.wasm", b"\0asm\x01\0\0\0")];
        let out =
            apply(&PresetInput { artifact_type: Some("application/vnd.acme.plugin.v1"), ..input(Preset::Wasm, &files) }).expect("wasm");
        assert_eq!(out.artifact_type, "application/vnd.acme.plugin.v1");
        assert_eq!(out.layer_media_type, "application/wasm");
    }

    #[test]
    fn r_preset_2_refuses_a_declared_media_type() {
        let dir = LayerDir::new();
        let files = [dir.add("m.wasm", b"\0asm\x01\0\0\0")];
        let err = apply(&PresetInput { media_type: Some("application/wasm"), ..input(Preset::Wasm, &files) }).expect_err("mediaType");
        assert_eq!(err, PresetError::MediaTypeNotAllowed { preset: Preset::Wasm });
        assert_eq!(err.rule(), "R-PRESET-2");
    }

    #[rstest]
    #[case::none(0)]
    #[case::two(2)]
    fn r_preset_2_takes_exactly_one_file(#[case] count: usize) {
        let dir = LayerDir::new();
        let files: Vec<_> = (0..count).map(|i| dir.add(&format!("{i}.wasm"), b"\0asm\x01\0\0\0")).collect();
        assert_eq!(apply(&input(Preset::Wasm, &files)), Err(PresetError::WasmFileCount { count }));
    }

    #[test]
    fn r_preset_2_refuses_a_file_that_is_not_wasm() {
        let dir = LayerDir::new();
        let files = [dir.add("out/app.wasm", b"#!/bin/sh\necho hi\n")];
        let err = apply(&input(Preset::Wasm, &files)).expect_err("not wasm");
        assert!(matches!(&err, PresetError::NotWasm { path, .. } if path == "out/app.wasm"), "{err:?}");
        assert_eq!(err.rule(), "R-PRESET-2");
    }

    #[test]
    fn r_preset_2_unreadable_file_is_an_io_error() {
        let dir = LayerDir::new();
        let mut file = dir.add("m.wasm", b"\0asm\x01\0\0\0");
        file.source = file.source.with_file_name("missing.wasm");
        let err = apply(&input(Preset::Wasm, std::slice::from_ref(&file))).expect_err("missing");
        assert!(matches!(err, PresetError::Io { preset: Preset::Wasm, .. }), "{err:?}");
    }

    #[rstest]
    #[case::module("wasm/hello-module.wasm", WasmKind::Module)]
    #[case::empty_module("wasm/empty-module.wasm", WasmKind::Module)]
    #[case::component("wasm/empty-component.wasm", WasmKind::Component)]
    fn r_preset_2_fixtures_are_what_they_claim(#[case] path: &str, #[case] kind: WasmKind) {
        let bytes = std::fs::read(fixture(path)).expect("fixture");
        assert_eq!(WasmKind::from_header(&bytes[..8]), Ok(kind));
    }
}
