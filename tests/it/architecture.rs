//! ARCHITECTURE.md stays true: every path it names exists, and the core's modules import only
//! downward in the order its code map lists them.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn architecture() -> String {
    std::fs::read_to_string(root().join("ARCHITECTURE.md")).expect("ARCHITECTURE.md at the root")
}

/// Backticked spans that name a path in this repository.
fn named_paths(text: &str) -> Vec<String> {
    const TOP: [&str; 8] = ["core/", "conformance/", "src/", "docs/", "fixtures/", "tests/", "ci/", "fuzz/"];
    text.split('`')
        .skip(1)
        .step_by(2)
        .filter(|span| TOP.iter().any(|top| span.starts_with(top)) && !span.contains(' '))
        .map(str::to_string)
        .collect()
}

#[test]
fn every_path_in_the_code_map_exists() {
    let text = architecture();
    let paths = named_paths(&text);
    assert!(paths.len() > 40, "the code map names its paths in backticks: {paths:?}");
    let missing: Vec<&String> = paths.iter().filter(|p| !root().join(p).exists()).collect();
    assert!(missing.is_empty(), "ARCHITECTURE.md names paths that do not exist: {missing:?}");
}

/// The core's modules in the code map's order, bottom first.
fn core_layers(text: &str) -> Vec<String> {
    let section = text.split("### `core/src/`").nth(1).expect("a core section").split("\n### ").next().unwrap();
    section
        .lines()
        .filter(|l| l.starts_with("- `core/src/"))
        .map(|l| {
            let path = l.trim_start_matches("- `core/src/").split('`').next().unwrap();
            path.trim_end_matches('/').trim_end_matches(".rs").to_string()
        })
        .collect()
}

/// `crate::<module>` in the code (not in comments) of `path`, a file or every file under a directory.
fn imports(path: &Path, found: &mut BTreeSet<String>) {
    if path.is_dir() {
        for entry in std::fs::read_dir(path).unwrap() {
            imports(&entry.unwrap().path(), found);
        }
        return;
    }
    let text = std::fs::read_to_string(path).unwrap();
    for line in text.lines().filter(|l| !l.trim_start().starts_with("//")) {
        for (i, _) in line.match_indices("crate::") {
            let module: String = line[i + 7..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            found.insert(module);
        }
    }
}

#[test]
fn core_modules_import_only_downward() {
    let layers = core_layers(&architecture());
    assert!(layers.len() >= 10, "the code map lists the core's modules: {layers:?}");
    let src = root().join("core/src");
    let mut on_disk: Vec<String> = std::fs::read_dir(&src)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap() != "lib.rs" && (p.is_dir() || !src.join(p.file_stem().unwrap()).is_dir()))
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    on_disk.sort();
    let mut listed = layers.clone();
    listed.sort();
    assert_eq!(listed, on_disk, "the code map lists every module of core/src, once");

    let mut upward = Vec::new();
    for (level, module) in layers.iter().enumerate() {
        let mut found = BTreeSet::new();
        for path in [src.join(format!("{module}.rs")), src.join(module)].iter().filter(|p| p.exists()) {
            imports(path, &mut found);
        }
        for target in found.iter().filter(|t| *t != module) {
            let Some(target_level) = layers.iter().position(|l| l == target) else { continue };
            if target_level > level {
                upward.push(format!("{module} -> {target}"));
            }
        }
    }
    assert!(upward.is_empty(), "core modules importing upward (ARCHITECTURE.md, code map order): {upward:?}");
}
