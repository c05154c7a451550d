//! Shared helpers of the integration tests: a fresh registry per test, the built binary,
//! fixtures copied into temp dirs, and running commands with a full report on failure.
//!
//! Registries: `CNB_ARTIFACTS_TEST_REGISTRY` = `container` | `process` | a URL picks the
//! provider; unset, [`cnb_artifacts_conformance::provider::detect_default`] does. When no provider is
//! available the test is skipped with `SKIPPED: <test>: no registry (<reason>)` on stderr,
//! except under `CI`, where it panics: CI never skips. Each test gets its own registry and
//! drops it at its end (a shared static would never be dropped, so never cleaned up).

#![allow(dead_code)] // each test module uses a different subset

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use cnb_artifacts_conformance::provider::{self, Provider, RunningRegistry};

pub mod measured;
use tempfile::TempDir;

/// A registry for one test.
pub type Registry = RunningRegistry;

/// Environment variable choosing the registry provider of the tests.
pub const REGISTRY_ENV: &str = "CNB_ARTIFACTS_TEST_REGISTRY";

/// Starts a fresh registry for the test `test` from the provider `$CNB_ARTIFACTS_TEST_REGISTRY`
/// names, or else the default one. `None` (after printing why) when no provider is available
/// outside CI. Panics when a named provider is unavailable or fails to start, when the
/// variable is invalid, or under CI when no provider is available.
pub async fn registry(test: &str) -> Option<Registry> {
    let provider = match std::env::var(REGISTRY_ENV) {
        Ok(value) if !value.is_empty() => value.parse::<Provider>().unwrap_or_else(|err| panic!("{test}: ${REGISTRY_ENV}: {err}")),
        _ => match provider::detect_default() {
            Ok(provider) => provider,
            Err(reason) => return skip(test, &reason),
        },
    };
    Some(start(test, &provider).await)
}

/// Starts a fresh registry of `provider` for the test `test`; `None` (after printing why) when
/// the provider is unavailable here outside CI (under CI that panics).
pub async fn registry_of(test: &str, provider: &Provider) -> Option<Registry> {
    if !provider_available(test, provider) {
        return None;
    }
    Some(start(test, provider).await)
}

/// True when `provider` can run here; else says why `test` is skipped (panics under CI).
pub fn provider_available(test: &str, provider: &Provider) -> bool {
    match provider.check_available() {
        Ok(()) => true,
        Err(reason) => skip(test, &reason).is_some(),
    }
}

async fn start(test: &str, provider: &Provider) -> Registry {
    match provider::start(provider).await {
        Ok(registry) => registry,
        Err(err) => panic!("{test}: starting a `{provider}` registry failed: {err}"),
    }
}

/// Says why `test` is skipped, or panics under CI, where nothing may be skipped.
fn skip(test: &str, reason: &dyn std::fmt::Display) -> Option<Registry> {
    if std::env::var_os("CI").is_some() {
        panic!("{test}: no registry under CI, where tests must never be skipped: {reason}");
    }
    // Straight to stderr, past the test harness's capture, so a skip is always seen.
    let _ = writeln!(std::io::stderr(), "SKIPPED: {test}: no registry ({reason})");
    None
}

/// Starts a fresh registry for the enclosing test, or returns from it (skipped) when none is
/// available; see [`registry`]. `require_registry!(&provider)` asks for one provider
/// ([`registry_of`]). Use in `async` tests returning `()`. (`main.rs` declares
/// `#[macro_use] mod support;` first, so every test module can call it.)
macro_rules! require_registry {
    () => {
        match $crate::support::registry(&test_name!()).await {
            Some(registry) => registry,
            None => return,
        }
    };
    ($provider:expr) => {
        match $crate::support::registry_of(&test_name!(), $provider).await {
            Some(registry) => registry,
            None => return,
        }
    };
}

/// The path of the enclosing function, e.g. `it::registry::process_provider_cleans_up`.
macro_rules! test_name {
    () => {{
        fn here() {}
        let name = std::any::type_name_of_val(&here).replace("::{{closure}}", "");
        name.strip_suffix("::here").unwrap_or(&name).to_string()
    }};
}

/// The built `cnb-artifacts` binary.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_cnb-artifacts"))
}

/// The root of the repository's `fixtures/` tree.
pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// A temp dir holding a copy of `fixtures/<name>` (the directory's contents, not the directory).
pub fn copy_fixture(name: &str) -> TempDir {
    let source = fixtures_dir().join(name);
    assert!(source.is_dir(), "no fixture directory {}", source.display());
    let dir = tempfile::Builder::new().prefix("cnb-artifacts-fixture-").tempdir().expect("creating a temp dir");
    copy_tree(&source, dir.path());
    dir
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap_or_else(|e| panic!("creating {}: {e}", to.display()));
    let mut entries: Vec<_> = std::fs::read_dir(from)
        .unwrap_or_else(|e| panic!("reading {}: {e}", from.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        let target = to.join(path.file_name().expect("an entry has a name"));
        if path.is_dir() {
            copy_tree(&path, &target);
        } else {
            std::fs::copy(&path, &target).unwrap_or_else(|e| panic!("copying {}: {e}", path.display()));
        }
    }
}

/// Every file and directory under `root`, one relative path a line, sorted, with file sizes.
pub fn tree(root: &Path) -> String {
    fn walk(root: &Path, dir: &Path, lines: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let relative = path.strip_prefix(root).unwrap_or(&path).display().to_string();
            if path.is_dir() {
                lines.push(format!("{relative}/"));
                walk(root, &path, lines);
            } else {
                let size = entry.metadata().map(|m| m.len()).unwrap_or(0);
                lines.push(format!("{relative} ({size} bytes)"));
            }
        }
    }
    let mut lines = Vec::new();
    walk(root, root, &mut lines);
    lines.sort();
    lines.join("\n")
}

/// Runs `cmd` and returns its output; panics with [`report`] unless it succeeded.
pub fn run(cmd: &mut Command) -> Output {
    let output = cmd.output().unwrap_or_else(|e| panic!("could not run {cmd:?}: {e}"));
    if !output.status.success() {
        panic!("command failed\n{}", report(cmd, &output));
    }
    output
}

/// Runs `cmd` and returns its output; panics with [`report`] if it succeeded.
pub fn run_failing(cmd: &mut Command) -> Output {
    let output = cmd.output().unwrap_or_else(|e| panic!("could not run {cmd:?}: {e}"));
    if output.status.success() {
        panic!("command succeeded but should have failed\n{}", report(cmd, &output));
    }
    output
}

/// Everything needed to reproduce a run: command, working dir and its tree, status, output.
pub fn report(cmd: &Command, output: &Output) -> String {
    let (cwd, listing) = match cmd.get_current_dir() {
        Some(dir) => (dir.display().to_string(), tree(dir)),
        None => ("(not set: the test's own)".to_string(), "(not listed)".to_string()),
    };
    let envs: Vec<String> = cmd
        .get_envs()
        .map(|(k, v)| format!("{}={}", k.to_string_lossy(), v.map(|v| v.to_string_lossy().into_owned()).unwrap_or_default()))
        .collect();
    format!(
        "--- command\n{cmd:?}\n--- env set\n{}\n--- cwd\n{}\n--- tree of cwd\n{}\n--- status\n{}\n--- stdout\n{}\n--- stderr\n{}",
        envs.join("\n"),
        cwd,
        listing,
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    )
}
