use super::*;

/// The repository's own suite: its cases are the case set its version names, and the changelog
/// accounts for every case ID. Changing a case, an expectation or a fixture without a new
/// version (and a changelog entry) fails here, with what to do.
#[test]
fn the_repository_suite_is_versioned_and_its_changelog_accounts_for_every_case() {
    let suite = SuiteDir::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
    let ids: Vec<String> = case::load_all(&suite).expect("the cases load").into_iter().map(|c| c.id).collect();
    let problems = problems(&suite, &ids);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    let digest = fixture::suite_digest(&suite).unwrap();
    let version = SuiteVersion::load(&suite).unwrap().version;
    assert_eq!(version_of(&suite, &digest), version);
    assert_eq!(version_of(&suite, "sha256:other"), format!("{version}+modified"));
}

/// A suite in a temporary directory with the case files `ids` (content `body`).
fn suite(ids: &[&str], body: &str) -> (tempfile::TempDir, SuiteDir) {
    let dir = tempfile::tempdir().unwrap();
    for sub in ["conformance/cases", "fixtures/cases"] {
        std::fs::create_dir_all(dir.path().join(sub)).unwrap();
    }
    for id in ids {
        std::fs::write(dir.path().join(format!("conformance/cases/{id}.toml")), body).unwrap();
    }
    let suite = SuiteDir::new(dir.path());
    (dir, suite)
}

fn record(suite: &SuiteDir, versions: &[(&str, String)], changelog: &str) {
    let digests: Vec<String> = versions.iter().map(|(v, d)| format!("\"{v}\" = \"{d}\"")).collect();
    let current = versions.last().unwrap().0;
    std::fs::write(suite.version_path(), format!("version = \"{current}\"\n[digests]\n{}\n", digests.join("\n"))).unwrap();
    std::fs::write(suite.changelog_path(), changelog).unwrap();
}

fn ids(ids: &[&str]) -> Vec<String> {
    ids.iter().map(|s| s.to_string()).collect()
}

#[test]
fn a_case_change_without_a_new_version_is_caught_and_a_new_version_settles_it() {
    let (_dir, suite) = suite(&["a", "b"], "one");
    let first = fixture::suite_digest(&suite).unwrap();
    let log1 = "# Changelog\n\n## 1.0.0\n\n- added: `a`,\n  `b`\n";
    record(&suite, &[("1.0.0", first.clone())], log1);
    assert_eq!(problems(&suite, &ids(&["a", "b"])), Vec::<String>::new());
    std::fs::write(suite.cases_dir().join("b.toml"), "two").unwrap();
    let found = problems(&suite, &ids(&["a", "b"]));
    assert!(found.len() == 1 && found[0].starts_with("the cases changed since version 1.0.0"), "{found:?}");
    assert!(version_of(&suite, &fixture::suite_digest(&suite).unwrap()).ends_with("+modified"));
    // Recording the new digest under the old version is not enough: the changelog must say.
    let second = fixture::suite_digest(&suite).unwrap();
    record(&suite, &[("1.0.0", first.clone()), ("1.1.0", second.clone())], log1);
    let found = problems(&suite, &ids(&["a", "b"]));
    assert!(found.iter().any(|p| p.contains("must start with `## 1.1.0`")), "{found:?}");
    let log2 = "# Changelog\n\n## 1.1.0\n\n- changed: `b` — expects two\n\n## 1.0.0\n\n- added: `a`, `b`\n";
    record(&suite, &[("1.0.0", first), ("1.1.0", second)], log2);
    assert_eq!(problems(&suite, &ids(&["a", "b"])), Vec::<String>::new());
}

#[test]
fn a_retired_id_is_never_used_again_and_a_gone_case_must_be_retired() {
    let (_dir, suite) = suite(&["a", "b"], "x");
    let digest = fixture::suite_digest(&suite).unwrap();
    let log = "## 2.0.0\n\n- retired: `old`\n- added: `b`\n\n## 1.0.0\n\n- added: `a`, `old`, `gone`\n";
    record(&suite, &[("1.0.0", "sha256:earlier".to_string()), ("2.0.0", digest)], log);
    let found = problems(&suite, &ids(&["a", "b"]));
    assert_eq!(found, ["case `gone` (added in 1.0.0) is gone without being retired: list it under `- retired:`"]);
    let found = problems(&suite, &ids(&["a", "b", "old", "gone"]));
    assert!(found.iter().any(|p| p.contains("`old` was retired in 2.0.0 and must not be used again")), "{found:?}");
    let reused = "## 2.0.0\n\n- added: `a`\n\n## 1.0.0\n\n- added: `a`, `b`, `gone`\n";
    std::fs::write(suite.changelog_path(), reused).unwrap();
    let found = problems(&suite, &ids(&["a", "b", "gone"]));
    assert!(found.iter().any(|p| p.contains("`a` is added in 2.0.0 but was already added in 1.0.0")), "{found:?}");
}

#[test]
fn the_changelog_reads_items_over_indented_lines_and_one_id_per_change() {
    let text = "# T\n\nprose `not-an-item`\n\n## 1.1.0 (2026-12-05)\n\n- added: `x`, `y`,\n  `z`\n- changed: `a` — now also checks `b`\n- retired: `c`\n";
    let sections = parse_changelog(text).unwrap();
    assert_eq!(sections, [Section { version: "1.1.0".into(), added: ids(&["x", "y", "z"]), changed: ids(&["a"]), retired: ids(&["c"]) }]);
    assert!(parse_changelog("- added: `x`\n").is_err());
}
