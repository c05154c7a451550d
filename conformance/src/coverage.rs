//! Rule coverage: every MUST rule of `docs/spec.md` (a bullet `- **R-XXX-n** — …` whose text
//! says MUST) with the cases that cite it, and the rules no case cites. With
//! `--require-coverage` an uncovered MUST rule fails the run. Rules that the registry-facing
//! contract cannot check (an OCI layout on disk, credentials) are listed with the reason in
//! `conformance/coverage.toml` (`[not-applicable]`) and are not counted as uncovered.

use std::collections::BTreeMap;

use serde::Serialize;

use super::case::{Case, Expect};

/// The coverage of a set of cases.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Coverage {
    /// Whether `docs/spec.md` was found (without it nothing is known to be uncovered).
    pub spec_found: bool,
    /// Each MUST rule with the IDs of the cases citing it (possibly none).
    pub rules: BTreeMap<String, Vec<String>>,
    /// MUST rules no case cites, in spec order.
    pub uncovered: Vec<String>,
    /// Rules the cases cite that the spec does not define.
    pub unknown: Vec<String>,
    /// MUST rules the suite does not check, with the reason (`conformance/coverage.toml`).
    pub not_applicable: BTreeMap<String, String>,
}

/// `conformance/coverage.toml`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Exemptions {
    #[serde(rename = "not-applicable", default)]
    pub not_applicable: BTreeMap<String, String>,
}

impl Exemptions {
    /// Reads `path`; a missing file exempts nothing.
    pub fn load(path: &std::path::Path) -> Result<Exemptions, String> {
        match std::fs::read_to_string(path) {
            Ok(text) => toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Exemptions::default()),
            Err(e) => Err(format!("{}: {e}", path.display())),
        }
    }
}

/// The IDs of the MUST rules of a spec text, in order of appearance. A rule is a Markdown
/// bullet starting `- **R-XXX-n**`; its text runs until the next bullet, heading or blank line.
pub fn must_rules(spec: &str) -> Vec<String> {
    let mut rules = Vec::new();
    let mut current: Option<(String, String)> = None;
    let flush = |current: &mut Option<(String, String)>, rules: &mut Vec<String>| {
        if let Some((id, text)) = current.take() {
            if text.contains("MUST") && !rules.contains(&id) {
                rules.push(id);
            }
        }
    };
    for line in spec.lines() {
        let trimmed = line.trim_start();
        if let Some(id) = rule_bullet(trimmed) {
            flush(&mut current, &mut rules);
            current = Some((id, line.to_string()));
        } else if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with("- ") {
            flush(&mut current, &mut rules);
        } else if let Some((_, text)) = current.as_mut() {
            text.push(' ');
            text.push_str(trimmed);
        }
    }
    flush(&mut current, &mut rules);
    rules
}

/// The rule ID of a `- **R-XXX-n**` bullet line.
fn rule_bullet(line: &str) -> Option<String> {
    let rest = line.strip_prefix("- **")?;
    let end = rest.find("**")?;
    let id = &rest[..end];
    super::case::is_rule_id(id).then(|| id.to_string())
}

/// Which MUST rules of `spec` the `cases` cite (in `rules` or as the expected error).
pub fn compute(spec: Option<&str>, cases: &[&Case], exemptions: &Exemptions) -> Coverage {
    let mut cited: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for case in cases {
        let error_rules = match &case.expect {
            Expect::Rejected { rules, .. } => rules.as_slice(),
            Expect::Published { .. } => &[],
        };
        for rule in case.rules.iter().chain(error_rules) {
            let ids = cited.entry(rule.clone()).or_default();
            if !ids.contains(&case.id) {
                ids.push(case.id.clone());
            }
        }
    }
    let Some(spec) = spec else {
        return Coverage { spec_found: false, ..Coverage::default() };
    };
    let must = must_rules(spec);
    let all_ids: Vec<String> = spec.lines().filter_map(|l| rule_bullet(l.trim_start())).collect();
    let mut coverage = Coverage { spec_found: true, ..Coverage::default() };
    for rule in &must {
        let cases = cited.get(rule).cloned().unwrap_or_default();
        if let Some(reason) = exemptions.not_applicable.get(rule) {
            coverage.not_applicable.insert(rule.clone(), reason.clone());
        } else if cases.is_empty() {
            coverage.uncovered.push(rule.clone());
        }
        coverage.rules.insert(rule.clone(), cases);
    }
    coverage.unknown = cited.keys().filter(|r| !all_ids.contains(r)).cloned().collect();
    coverage
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: &str = "## Tags\n\n\
        - **R-TAG-1** — Every rendered tag MUST match the grammar.\n\
        - **R-TAG-2** — An artifact without `tag` is published by digest only.\n\
        - **R-TAG-3** — A template is rendered once per app tag; duplicates\n  MUST be removed.\n\
        \n- **R-COLL-1** — Two artifacts of one build MUST NOT share a tag.\n";

    #[test]
    fn must_rules_are_bullets_whose_text_says_must_even_on_a_continuation_line() {
        assert_eq!(must_rules(SPEC), ["R-TAG-1", "R-TAG-3", "R-COLL-1"]);
    }

    #[test]
    fn coverage_lists_citing_cases_uncovered_and_unknown_rules() {
        let case: Case = toml::from_str(
            "id = \"c\"\ntitle = \"t\"\nrules = [\"R-TAG-1\", \"R-NOPE-1\"]\nfixture = \"f\"\n[expect]\noutcome = \"rejected\"\nrules = [\"R-COLL-1\"]\n",
        )
        .unwrap();
        let none = Exemptions::default();
        let c = compute(Some(SPEC), &[&case], &none);
        assert_eq!(c.rules["R-TAG-1"], ["c"]);
        assert_eq!(c.rules["R-COLL-1"], ["c"]);
        assert_eq!(c.uncovered, ["R-TAG-3"]);
        assert_eq!(c.unknown, ["R-NOPE-1"]);
        assert!(!compute(None, &[&case], &none).spec_found);
        let exempt: Exemptions = toml::from_str("[not-applicable]\n\"R-TAG-3\" = \"not observable\"\n").unwrap();
        let c = compute(Some(SPEC), &[&case], &exempt);
        assert!(c.uncovered.is_empty());
        assert_eq!(c.not_applicable["R-TAG-3"], "not observable");
    }
}
