//! Counts typed in the docs are kept true: every "`DIR/<case>/` (N cases)" and every "N cases"
//! of docs/conformance.md is checked against the directories it counts.

use std::path::Path;

use regex::Regex;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn entries(dir: &Path, ext: Option<&str>) -> usize {
    std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(Result::ok)
        .filter(|e| ext.is_none_or(|x| e.path().extension().is_some_and(|found| found == x)))
        .count()
}

#[test]
fn fixture_case_counts_in_the_docs_are_true() {
    let re = Regex::new(r"`(fixtures/[a-z/]+)/<case>/` \((\d+) cases\)").unwrap();
    let mut checked = 0;
    for doc in ["docs/reliability.md", "docs/conformance.md", "README.md"] {
        let text = std::fs::read_to_string(root().join(doc)).unwrap();
        for m in re.captures_iter(&text) {
            let actual = entries(&root().join(&m[1]), None);
            assert_eq!(m[2].parse::<usize>().unwrap(), actual, "{doc} says `{}` holds {} cases; it holds {actual}", &m[1], &m[2]);
            checked += 1;
        }
    }
    assert!(checked >= 2, "the fixture tables of docs/reliability.md were not found");
}

#[test]
fn conformance_case_counts_in_the_docs_are_true() {
    let cases = entries(&root().join("conformance/cases"), Some("toml"));
    let text = std::fs::read_to_string(root().join("docs/conformance.md")).unwrap();
    for m in Regex::new(r"\b(\d+) (?:conformance )?cases\b").unwrap().captures_iter(&text) {
        assert_eq!(m[1].parse::<usize>().unwrap(), cases, "docs/conformance.md says {} cases; conformance/cases/ holds {cases}", &m[1]);
    }
}
