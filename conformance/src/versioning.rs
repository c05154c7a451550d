//! The suite's version. The cases have a version of their own, in `conformance/suite.toml`,
//! recorded in every run's provenance; each version there names the digest of its case set
//! (every case, expectation and fixture file, [`fixture::suite_digest`]), so a change to the
//! cases without a new version is caught ([`problems`]). `conformance/CHANGELOG.md` lists, per
//! version, the cases added, changed and retired; a case ID is added once and never reused,
//! even after it is retired.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;

use super::{case, fixture, SuiteDir};

/// `conformance/suite.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SuiteVersion {
    /// The current version of the cases.
    pub version: String,
    /// Every version's case-set digest, by version.
    pub digests: BTreeMap<String, String>,
}

impl SuiteVersion {
    /// Reads `conformance/suite.toml` of `suite`.
    pub fn load(suite: &SuiteDir) -> Result<SuiteVersion, String> {
        let path = suite.version_path();
        let text = std::fs::read_to_string(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
    }
}

/// The version a run records: `suite.toml`'s, with `+modified` when the suite's data is not
/// the case set that version names; `unknown` without a readable `suite.toml`.
pub fn version_of(suite: &SuiteDir, data_digest: &str) -> String {
    match SuiteVersion::load(suite) {
        Ok(v) if v.digests.get(&v.version).map(String::as_str) == Some(data_digest) => v.version,
        Ok(v) => format!("{}+modified", v.version),
        Err(_) => "unknown".to_string(),
    }
}

/// One version's entry in the changelog.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Section {
    pub version: String,
    pub added: Vec<String>,
    pub changed: Vec<String>,
    pub retired: Vec<String>,
}

/// Reads the changelog's sections, newest first: a `## VERSION` heading, then list items
/// `- added: `id`, `id` …`, `- changed: `id` — why` (one case each) and `- retired: `id` …`,
/// each continued on indented lines. Other text is prose.
pub fn parse_changelog(text: &str) -> Result<Vec<Section>, String> {
    let mut sections: Vec<Section> = Vec::new();
    let mut item: Option<(&str, String)> = None;
    let close = |item: &mut Option<(&str, String)>, sections: &mut Vec<Section>| -> Result<(), String> {
        let Some((kind, body)) = item.take() else { return Ok(()) };
        let section = sections.last_mut().ok_or_else(|| format!("`- {kind}:` before the first `## VERSION` heading"))?;
        let ids: Vec<String> = body.split('`').skip(1).step_by(2).map(str::to_string).collect();
        match kind {
            "added" => section.added.extend(ids),
            "retired" => section.retired.extend(ids),
            _ => section.changed.extend(ids.into_iter().take(1)),
        }
        Ok(())
    };
    for (n, line) in text.lines().enumerate() {
        if line.starts_with(' ') && item.is_some() {
            if let Some((_, body)) = &mut item {
                body.push_str(line);
            }
            continue;
        }
        close(&mut item, &mut sections)?;
        if let Some(heading) = line.strip_prefix("## ") {
            let version = heading.split_whitespace().next().ok_or_else(|| format!("line {}: `##` without a version", n + 1))?;
            sections.push(Section { version: version.to_string(), ..Section::default() });
        } else if let Some(rest) = line.strip_prefix("- ") {
            for kind in ["added", "changed", "retired"] {
                if let Some(body) = rest.strip_prefix(kind).and_then(|r| r.strip_prefix(':')) {
                    item = Some((kind, body.to_string()));
                }
            }
        }
    }
    close(&mut item, &mut sections)?;
    Ok(sections)
}

/// Everything wrong with the suite's versioning, given the IDs of its cases: the case set is
/// not the one its version names, the changelog does not list exactly the versions of
/// `suite.toml` (newest first, the current one on top), a case was never added, or an ID is
/// added twice or reused after it was retired.
pub fn problems(suite: &SuiteDir, case_ids: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    let version = match SuiteVersion::load(suite) {
        Ok(v) => v,
        Err(e) => return vec![e],
    };
    let digest = match fixture::suite_digest(suite) {
        Ok(d) => d,
        Err(e) => return vec![format!("cannot digest the suite's cases: {e}")],
    };
    match version.digests.get(&version.version) {
        Some(recorded) if *recorded == digest => {}
        Some(recorded) => out.push(format!(
            "the cases changed since version {v} (its case set is {recorded}, the cases now are {digest}): give the suite a \
             new version in conformance/suite.toml with `digests.\"NEW\" = \"{digest}\"`, and list what was added, \
             changed or retired under `## NEW` in conformance/CHANGELOG.md",
            v = version.version
        )),
        None => out.push(format!(
            "conformance/suite.toml names no digest for its version {}: add `\"{}\" = \"{digest}\"` under [digests]",
            version.version, version.version
        )),
    }
    let mut seen_digests = BTreeMap::new();
    for (v, d) in &version.digests {
        if let Some(other) = seen_digests.insert(d, v) {
            out.push(format!("versions {other} and {v} name the same case set {d}: a new version needs changed cases"));
        }
    }
    let text = match std::fs::read_to_string(suite.changelog_path()) {
        Ok(t) => t,
        Err(e) => {
            out.push(format!("cannot read {}: {e}", suite.changelog_path().display()));
            return out;
        }
    };
    let sections = match parse_changelog(&text) {
        Ok(s) => s,
        Err(e) => {
            out.push(format!("conformance/CHANGELOG.md: {e}"));
            return out;
        }
    };
    if sections.first().map(|s| s.version.as_str()) != Some(version.version.as_str()) {
        out.push(format!("conformance/CHANGELOG.md must start with `## {}`, the suite's version", version.version));
    }
    let listed: BTreeSet<&str> = sections.iter().map(|s| s.version.as_str()).collect();
    let recorded: BTreeSet<&str> = version.digests.keys().map(String::as_str).collect();
    if listed != recorded || listed.len() != sections.len() {
        out.push(format!("conformance/CHANGELOG.md has the versions {listed:?} (each once), conformance/suite.toml {recorded:?}"));
    }
    out.extend(id_problems(&sections, case_ids));
    out
}

/// Case IDs against the changelog: each current case added exactly once, never reused after it
/// was retired, changed and retired only after being added.
fn id_problems(sections: &[Section], case_ids: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    let mut added: BTreeMap<&str, &str> = BTreeMap::new();
    let mut retired: BTreeMap<&str, &str> = BTreeMap::new();
    // Oldest first.
    for s in sections.iter().rev() {
        for id in &s.added {
            if let Some(earlier) = added.insert(id, &s.version) {
                out.push(format!("case ID `{id}` is added in {} but was already added in {earlier}: IDs are never reused", s.version));
            }
            if !case::is_case_id(id) {
                out.push(format!("`{id}` (added in {}) is not a case ID", s.version));
            }
        }
        for id in s.changed.iter().chain(&s.retired) {
            if !added.contains_key(id.as_str()) {
                out.push(format!("case `{id}` is changed or retired in {} but no earlier version added it", s.version));
            }
        }
        for id in &s.retired {
            retired.insert(id, &s.version);
        }
    }
    for id in case_ids {
        if let Some(version) = retired.get(id.as_str()) {
            out.push(format!("case ID `{id}` was retired in {version} and must not be used again: choose a new ID"));
        } else if !added.contains_key(id.as_str()) {
            out.push(format!("case `{id}` is in no `- added:` list of conformance/CHANGELOG.md"));
        }
    }
    for (id, version) in &added {
        if !retired.contains_key(id) && !case_ids.iter().any(|c| c == id) {
            out.push(format!("case `{id}` (added in {version}) is gone without being retired: list it under `- retired:`"));
        }
    }
    out
}

#[cfg(test)]
#[path = "versioning_tests.rs"]
mod tests;
