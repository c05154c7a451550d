//! Runs every bad-input case under `fixtures/invalid/parse/<case>/`: `layers/` is read with
//! [`read_layers_dir`] and the diagnostics, printed with paths relative to the case directory,
//! must equal `expected.txt` exactly. `UPDATE_EXPECTED=1` rewrites the expected files (review
//! the diff before committing).

use std::fs;
use std::path::{Path, PathBuf};

use crate::diagnostic::Diagnostics;

use crate::layer_toml::read_layers_dir;

fn cases_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/invalid/parse")
}

/// The diagnostics of a case, printed with paths relative to `case_dir`.
fn diagnostics_of(case_dir: &Path) -> String {
    let (files, diagnostics) = read_layers_dir(&case_dir.join("layers"));
    let relative = Diagnostics(
        diagnostics
            .0
            .into_iter()
            .map(|mut d| {
                if let Some(place) = d.place.as_mut() {
                    if let Some(rel) = place.path().strip_prefix(case_dir).ok().map(Path::to_path_buf) {
                        *place.path_mut() = rel;
                    }
                }
                d
            })
            .collect(),
    );
    assert!(!relative.is_empty(), "case {} reported no errors; it read {} layer files", case_dir.display(), files.len());
    relative.to_string()
}

#[test]
fn r_file_r_field_invalid_parse_fixtures_report_exactly_the_expected_diagnostics() {
    let mut cases: Vec<PathBuf> = fs::read_dir(cases_dir())
        .expect("fixtures/invalid/parse exists")
        .map(|e| e.expect("readable entry").path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    assert!(cases.len() >= 12, "expected at least 12 cases, found {}", cases.len());
    let update = std::env::var_os("UPDATE_EXPECTED").is_some();
    let mut failures = Vec::new();
    for case in &cases {
        let found = diagnostics_of(case);
        let expected_path = case.join("expected.txt");
        if update {
            fs::write(&expected_path, format!("{found}\n")).expect("write expected.txt");
            continue;
        }
        let expected = fs::read_to_string(&expected_path).unwrap_or_default();
        if expected.trim_end() != found {
            failures.push(format!("--- {}\nexpected:\n{}\nfound:\n{}\n", case.display(), expected.trim_end(), found));
        }
    }
    assert!(failures.is_empty(), "{} case(s) differ:\n{}", failures.len(), failures.join("\n"));
}
