//! `cnb-artifacts explain R-XXX-n`: a rule's text from docs/spec.md, embedded at build time, as
//! `rustc --explain` prints an error code's. Every input error names its rule, and the error
//! report ends by pointing here.

use super::exit;

/// docs/spec.md as it was when this binary was built.
pub const SPEC: &str = include_str!("../../docs/spec.md");

/// One rule of the spec: its ID, the headings it sits under and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub id: String,
    /// `Publishing › Blobs`.
    pub section: String,
    /// The rule's paragraph (and its nested list), dedented, the leading `- **ID** — ` removed.
    pub text: String,
}

/// Every rule of `spec` in the order written: a list item starting `- **R-FAMILY-n** —`,
/// running to the next rule, heading or unindented paragraph.
pub fn rules(spec: &str) -> Vec<Rule> {
    let mut rules: Vec<Rule> = Vec::new();
    let mut headings: [&str; 2] = ["", ""];
    let mut current: Option<Rule> = None;
    let mut blank = false;
    for line in spec.lines() {
        let starts_rule = line.strip_prefix("- **").and_then(|rest| rest.split_once("**")).filter(|(id, _)| is_rule_id(id));
        let ends = line.starts_with('#') || starts_rule.is_some() || (blank && !line.is_empty() && !line.starts_with(' '));
        if ends {
            rules.extend(current.take());
        }
        if let Some(h) = line.strip_prefix("## ") {
            headings = [h.trim(), ""];
        } else if let Some(h) = line.strip_prefix("### ") {
            headings[1] = h.trim();
        }
        if let Some((id, rest)) = starts_rule {
            let section = headings.iter().filter(|h| !h.is_empty()).copied().collect::<Vec<_>>().join(" › ");
            let text = rest.trim_start().trim_start_matches('—').trim_start().to_string();
            current = Some(Rule { id: id.to_string(), section, text });
        } else if let Some(rule) = current.as_mut() {
            rule.text.push('\n');
            rule.text.push_str(line.strip_prefix("  ").unwrap_or(line));
        }
        blank = line.trim().is_empty();
    }
    rules.extend(current);
    for rule in &mut rules {
        rule.text = rule.text.trim_end().to_string();
    }
    rules
}

/// `R-FAMILY-n`: `R-`, capital letters, `-`, digits.
fn is_rule_id(s: &str) -> bool {
    let Some(rest) = s.strip_prefix("R-") else { return false };
    let Some((family, n)) = rest.split_once('-') else { return false };
    !family.is_empty() && family.bytes().all(|b| b.is_ascii_uppercase()) && !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())
}

/// Prints the rule `id` (any case); an unknown ID is a usage error with the closest one.
pub fn explain(id: &str) -> u8 {
    let all = rules(SPEC);
    let wanted = id.trim().to_ascii_uppercase();
    match all.iter().find(|r| r.id == wanted) {
        Some(rule) => {
            println!("{} ({})\n\n{}", rule.id, rule.section, rule.text);
            exit::OK
        }
        None => {
            let near = cnb_artifacts_core::spelling::closest(&wanted, all.iter().map(|r| r.id.as_str()));
            let hint = near.map(|n| format!("; did you mean `{n}`?")).unwrap_or_default();
            eprintln!("error: no rule `{id}` in docs/spec.md{hint}");
            eprintln!("  help: rule IDs look like R-FILE-6; `cnb-artifacts explain --list` lists them all");
            exit::USAGE
        }
    }
}

/// Prints every rule ID with the first line of its text.
pub fn list() -> u8 {
    for rule in rules(SPEC) {
        let first = rule.text.lines().next().unwrap_or_default();
        println!("{:<12} {first}", rule.id);
    }
    exit::OK
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_id_written_in_the_spec_is_explained() {
        let written: Vec<&str> = SPEC
            .match_indices("**R-")
            .filter_map(|(i, _)| SPEC[i + 2..].split_once("**").map(|(id, _)| id))
            .filter(|id| is_rule_id(id))
            .collect();
        let explained: Vec<String> = rules(SPEC).into_iter().map(|r| r.id).collect();
        assert_eq!(written, explained);
        assert!(written.len() >= 80, "{}", written.len());
    }

    #[test]
    fn a_rule_runs_to_the_next_and_keeps_its_nested_list() {
        let all = rules(SPEC);
        let push_4 = all.iter().find(|r| r.id == "R-PUSH-4").unwrap();
        assert!(push_4.text.starts_with("For each blob of each artifact"), "{}", push_4.text);
        assert!(push_4.text.contains("\n1. a blob already made present"), "{}", push_4.text);
        assert!(!push_4.text.contains("R-PUSH-5**"), "{}", push_4.text);
        assert_eq!(push_4.section, "Publishing › Blobs");
        let file_9 = all.iter().find(|r| r.id == "R-FILE-9").unwrap();
        assert!(file_9.text.ends_with("The error is reported only when the\nlayers dir has no other error."), "{}", file_9.text);
    }
}
