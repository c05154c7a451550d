//! Counts typed in the docs are kept true: every "`DIR/<case>/` (N cases)", every "N cases" of
//! docs/conformance.md and every "`tests/it/X.rs` (N tests)" is checked against what it counts;
//! and the spec's cross-references name rules and sections that exist.

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

/// "`tests/it/X.rs` (N tests)": N is the number of test functions in the file.
#[test]
fn test_counts_in_the_docs_are_true() {
    let re = Regex::new(r"`(tests/it/[a-z_/]+\.rs)` \((\d+) tests\)").unwrap();
    let test_attribute = Regex::new(r"(?m)^\s*#\[(?:test|tokio::test[^\]]*|rstest)\]").unwrap();
    let mut checked = 0;
    for doc in ["docs/reliability.md", "docs/security.md", "docs/conformance.md", "README.md"] {
        let text = std::fs::read_to_string(root().join(doc)).unwrap();
        for m in re.captures_iter(&text) {
            let source = std::fs::read_to_string(root().join(&m[1])).unwrap();
            let actual = test_attribute.find_iter(&source).count();
            assert_eq!(m[2].parse::<usize>().unwrap(), actual, "{doc} says `{}` holds {} tests; it holds {actual}", &m[1], &m[2]);
            checked += 1;
        }
    }
    assert!(checked >= 1, "the test counts of docs/reliability.md were not found");
}

#[test]
fn conformance_case_counts_in_the_docs_are_true() {
    let cases = entries(&root().join("conformance/cases"), Some("toml"));
    let text = std::fs::read_to_string(root().join("docs/conformance.md")).unwrap();
    for m in Regex::new(r"\b(\d+) (?:conformance )?cases\b").unwrap().captures_iter(&text) {
        assert_eq!(m[1].parse::<usize>().unwrap(), cases, "docs/conformance.md says {} cases; conformance/cases/ holds {cases}", &m[1]);
    }
}

/// Every rule the spec defines: the IDs of its `- **R-XXX-n** —` bullets.
fn defined_rules(spec: &str) -> std::collections::BTreeSet<String> {
    Regex::new(r"(?m)^- \*\*(R-[A-Z]+-\d+)\*\* —").unwrap().captures_iter(spec).map(|m| m[1].to_string()).collect()
}

/// The spec's cross-references are true: every rule ID it (or the contract, the README, the
/// other docs) cites is defined, both ends of every range `R-XXX-a..b` are, every family
/// `R-XXX-*` has a rule, and every `§ Section` names a heading of the spec.
#[test]
fn spec_cross_references_name_rules_and_sections_that_exist() {
    let spec = std::fs::read_to_string(root().join("docs/spec.md")).unwrap();
    let defined = defined_rules(&spec);
    assert!(defined.len() > 50, "the spec's rules were not found");
    let headings: Vec<String> = Regex::new(r"(?m)^#+ (.+)$").unwrap().captures_iter(&spec).map(|m| m[1].trim().to_string()).collect();
    let cited = Regex::new(r"\bR-([A-Z]+)-(\d+)(?:\.\.(\d+))?").unwrap();
    let family = Regex::new(r"\bR-([A-Z]+)-\*").unwrap();
    let section = Regex::new(r"§\s?([A-Z][A-Za-z]+)").unwrap();
    let mut broken = Vec::new();
    for doc in ["docs/spec.md", "docs/conformance.md", "docs/security.md", "docs/reliability.md", "README.md", "ARCHITECTURE.md"] {
        let text = std::fs::read_to_string(root().join(doc)).unwrap();
        for m in cited.captures_iter(&text) {
            for n in [Some(&m[2]), m.get(3).map(|x| x.as_str())].into_iter().flatten() {
                let id = format!("R-{}-{n}", &m[1]);
                if !defined.contains(&id) {
                    broken.push(format!("{doc}: `{}` cites {id}, which the spec does not define", &m[0]));
                }
            }
        }
        for m in family.captures_iter(&text) {
            if !defined.iter().any(|id| id.starts_with(&format!("R-{}-", &m[1]))) {
                broken.push(format!("{doc}: the family `{}` has no rule", &m[0]));
            }
        }
        for m in section.captures_iter(&text) {
            if !headings.iter().any(|h| h.starts_with(&m[1])) {
                broken.push(format!("{doc}: `{}` names no heading of the spec", &m[0]));
            }
        }
    }
    assert!(broken.is_empty(), "{}", broken.join("\n"));
}
