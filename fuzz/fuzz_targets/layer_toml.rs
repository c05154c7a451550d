//! Fuzz target `layer_toml`: arbitrary bytes as a layer TOML (rules R-FILE-4, R-FILE-5,
//! R-FIELD-*). Bytes that are not UTF-8 are read lossily, as the text the parser would get
//! after the layers-dir reader's UTF-8 check; every input must give artifacts or diagnostics,
//! never a panic.
//!
//! Checked beyond "no panic": every span the parser hands the planner lies on character
//! boundaries of the source (the planner slices the source with them), every diagnostic has a
//! location inside the file, and printing the diagnostics works.

#![no_main]

use std::path::Path;

use cnb_artifacts_core::layer_toml::parse_layer_toml;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let source = String::from_utf8_lossy(data);
    let path = Path::new("layers/acme_fuzz/layer.toml");
    match parse_layer_toml(path, &source) {
        Ok(artifacts) => {
            for decl in &artifacts {
                let spans = std::iter::once(decl.span.clone())
                    .chain(decl.files.iter().map(|f| f.span()))
                    .chain(decl.tag.iter().map(|t| t.span()))
                    .chain(decl.repository.iter().map(|t| t.span()))
                    .chain(std::iter::once(decl.preset.span()))
                    .chain(decl.artifact_type.iter().map(|t| t.span()))
                    .chain(decl.media_type.iter().map(|t| t.span()))
                    .chain(decl.labels.iter().flat_map(|(k, v)| [k.span(), v.span()]));
                for span in spans {
                    assert!(
                        source.get(span.clone()).is_some(),
                        "span {span:?} is not a slice of the source"
                    );
                }
            }
        }
        Err(diagnostics) => {
            assert!(!diagnostics.is_empty(), "an error without diagnostics");
            let lines = source.matches('\n').count() + 1;
            for d in &diagnostics.0 {
                let (line, column) = d
                    .place
                    .as_ref()
                    .and_then(|p| p.position())
                    .expect("layer TOML diagnostics have a position in the file");
                assert!(line >= 1 && line <= lines, "line {line} of {lines}");
                assert!(column >= 1, "column {column}");
            }
            let _ = diagnostics.to_string();
        }
    }
});
