//! `conformance regen`: recomputes each case's `[expect]` section and expected manifests
//! offline with the reference planner ([`cnb_artifacts_core::plan::plan`]) and manifest builder
//! ([`cnb_artifacts_core::manifest::build`]), for spec authors; shows a diff of what changed and writes only
//! with `--write`. Its output is reviewed by a human before it becomes the expectation: the
//! runner never uses the reference code to judge an implementation.
//!
//! The build context uses sentinel names for the registry and namespace, which are then written
//! as the `${registry}` and `${namespace}` placeholders. A case whose outcome depends on what
//! the registry holds (R-COLL-4, R-PUSH-5) cannot be computed offline and is left as written.
//! The `[expect]` section must be the last of a case file: regen replaces it.

use std::collections::BTreeSet;
use std::path::PathBuf;

use super::case::{Case, Expect, IndexCheck, SourceDateEpoch};
use super::diff;
use super::expect::{canonical_of, pretty};
use super::fixture;
use super::SuiteDir;
use cnb_artifacts_core::plan::{BuildContext, PlannedArtifact};
use cnb_artifacts_core::reference::{Digest, ImageRef};

/// The registry host written where `${registry}` belongs.
const REGISTRY_SENTINEL: &str = "registry.conformance.invalid";
/// The namespace written where `${namespace}` belongs.
const NAMESPACE_SENTINEL: &str = "conformance-namespace-sentinel";

/// What regen found for one case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CaseRegen {
    Unchanged,
    /// Files to write (path, new content) and the diff of every change.
    Changed {
        writes: Vec<(PathBuf, String)>,
        removals: Vec<PathBuf>,
        diff: String,
    },
    /// Left as written, with the reason.
    Skipped(String),
    /// The case cannot be regenerated, with the reason (e.g. the planner rejects a build the
    /// case expects to publish).
    Failed(String),
}

/// Recomputes the expectations of `case`.
pub fn regen_case(case: &Case, suite: &SuiteDir) -> CaseRegen {
    let case_path = suite.cases_dir().join(format!("{}.toml", case.id));
    let Ok(old_text) = std::fs::read_to_string(&case_path) else {
        return CaseRegen::Failed(format!("cannot read {}", case_path.display()));
    };
    let Some(cut) = expect_section_start(&old_text) else {
        return CaseRegen::Failed("no [expect] section".to_string());
    };
    let work = match tempfile::tempdir() {
        Ok(w) => w,
        Err(e) => return CaseRegen::Failed(format!("cannot create a temporary directory: {e}")),
    };
    let mut fixtures = vec![case.fixture.clone()];
    fixtures.extend(case.concurrent.iter().cloned());
    let mut artifacts = Vec::new();
    let mut rejected_rules = BTreeSet::new();
    for (i, f) in fixtures.iter().enumerate() {
        let layers = match fixture::materialise(case, suite, f, &work.path().join(i.to_string()), NAMESPACE_SENTINEL) {
            Ok(l) => l,
            Err(e) => return CaseRegen::Failed(e.to_string()),
        };
        let ctx = match context(case) {
            Ok(c) => c,
            Err(e) => return CaseRegen::Failed(e),
        };
        match cnb_artifacts_core::plan::plan(&layers, &ctx) {
            Ok(plan) => artifacts.extend(plan.artifacts),
            Err(diagnostics) => rejected_rules.extend(diagnostics.0.iter().map(|d| d.rule.to_string())),
        }
    }
    let (section, files) = if !rejected_rules.is_empty() {
        if matches!(case.expect, Expect::Published { .. }) {
            return CaseRegen::Failed(format!(
                "the reference planner rejects the build ({rejected_rules:?}) but the case expects it published"
            ));
        }
        (rejected_section(&rejected_rules, &case.expect), Vec::new())
    } else if matches!(case.expect, Expect::Rejected { .. }) {
        return CaseRegen::Skipped("the planner accepts the build: the rejection is decided at publish time against the registry".into());
    } else {
        match published_section(case, &artifacts) {
            Ok(x) => x,
            Err(e) => return CaseRegen::Failed(e),
        }
    };
    let new_text = format!("{}{section}", &old_text[..cut]);
    let mut writes = Vec::new();
    let mut diffs = String::new();
    if let Some(d) = diff::unified(&case_path.display().to_string(), &old_text, &case_path.display().to_string(), &new_text) {
        diffs.push_str(&d);
        writes.push((case_path.clone(), new_text));
    }
    let expected_dir = case.expected_dir(suite);
    let mut wanted = BTreeSet::new();
    for (name, content) in files {
        let path = expected_dir.join(&name);
        let old = std::fs::read_to_string(&path).unwrap_or_default();
        if let Some(d) = diff::unified(&path.display().to_string(), &old, &path.display().to_string(), &content) {
            diffs.push_str(&d);
            writes.push((path, content));
        }
        wanted.insert(name);
    }
    let removals: Vec<PathBuf> = std::fs::read_dir(&expected_dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .filter(|e| e.file_name().to_str().is_some_and(|n| n.ends_with(".json") && !wanted.contains(n)))
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default();
    for r in &removals {
        diffs.push_str(&format!("removed: {}\n", r.display()));
    }
    if writes.is_empty() && removals.is_empty() {
        CaseRegen::Unchanged
    } else {
        CaseRegen::Changed { writes, removals, diff: diffs }
    }
}

/// Writes what [`regen_case`] computed.
pub fn apply(change: &CaseRegen) -> std::io::Result<()> {
    if let CaseRegen::Changed { writes, removals, .. } = change {
        for (path, content) in writes {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(path, content)?;
        }
        for path in removals {
            std::fs::remove_file(path)?;
        }
    }
    Ok(())
}

/// The byte offset where the `[expect]` section (or its first `[[expect.…]]` table) starts.
fn expect_section_start(text: &str) -> Option<usize> {
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let t = line.trim_start();
        if t.starts_with("[expect]") || t.starts_with("[[expect.") {
            return Some(offset);
        }
        offset += line.len();
    }
    None
}

fn context(case: &Case) -> Result<BuildContext, String> {
    let subject = crate::provider::seed::app_image().subject();
    let mut reference = format!("{REGISTRY_SENTINEL}/{NAMESPACE_SENTINEL}/{}", case.build.repository);
    if let Some(tag) = case.build.tags.first() {
        reference.push(':');
        reference.push_str(tag);
    }
    let image: ImageRef = reference.parse()?;
    Ok(BuildContext {
        image,
        extra_tags: case.build.tags.iter().skip(1).cloned().collect(),
        digest: Some(subject.digest),
        manifest_size: Some(subject.size),
        manifest_media_type: Some(subject.media_type),
        source_date_epoch: case.build.source_date_epoch.as_ref().and_then(SourceDateEpoch::seconds),
    })
}

/// The `[expect]` section of a rejected case: the planner's rules; what the error must name
/// (`error_files`, `error_tags`, `error_sources`) is kept from `old`, since only the case author
/// knows it.
fn rejected_section(rules: &BTreeSet<String>, old: &Expect) -> String {
    let list = |items: &mut dyn Iterator<Item = &String>| items.map(|r| format!("\"{r}\"")).collect::<Vec<_>>().join(", ");
    let mut section = format!("[expect]\noutcome = \"rejected\"\nrules = [{}]\n", list(&mut rules.iter()));
    if let Expect::Rejected { error_files, error_tags, error_sources, .. } = old {
        if !error_files.is_empty() {
            section.push_str(&format!("error_files = [{}]\n", list(&mut error_files.iter())));
        }
        if !error_tags.is_empty() {
            section.push_str(&format!("error_tags = [{}]\n", list(&mut error_tags.iter())));
        }
        if !error_sources.is_empty() {
            section.push_str(&format!("error_sources = [{}]\n", list(&mut error_sources.iter())));
        }
    }
    section
}

/// The `[expect]` section and the expected-manifest files for planned `artifacts`.
fn published_section(case: &Case, artifacts: &[PlannedArtifact]) -> Result<(String, Vec<(String, String)>), String> {
    let subject = crate::provider::seed::app_image().subject();
    let mut section = "[expect]\noutcome = \"published\"\n".to_string();
    if let Expect::Published { fallback_index: IndexCheck::AllowLostEntries, .. } = case.expect {
        section.push_str("fallback_index = \"allow-lost-entries\"\n");
    }
    let mut files = Vec::new();
    for a in artifacts {
        let built = cnb_artifacts_core::manifest::build(a, &subject).map_err(|e| e.to_string())?;
        let form = match a.form {
            cnb_artifacts_core::layer_toml::DeclForm::LayerToml => "",
            cnb_artifacts_core::layer_toml::DeclForm::ArtifactsToml => "artifacts.",
        };
        let name = format!("{}.{}.{form}{}.json", a.buildpack.replace('/', "_"), a.layer, a.index);
        let text = String::from_utf8_lossy(&built.manifest_bytes).into_owned();
        let depends_on_names = text.contains(REGISTRY_SENTINEL) || text.contains(NAMESPACE_SENTINEL);
        let pretty_text =
            pretty(&built.manifest_bytes).replace(REGISTRY_SENTINEL, "${registry}").replace(NAMESPACE_SENTINEL, "${namespace}");
        // The file must canonicalise back to the built bytes when names are literal.
        if !depends_on_names && canonical_of(&pretty_text).ok().as_deref() != Some(built.manifest_bytes.as_slice()) {
            return Err(format!("the manifest of {} does not round-trip through its pretty form", a.label()));
        }
        let repo = a.repository.strip_prefix(&format!("{NAMESPACE_SENTINEL}/")).unwrap_or(&a.repository);
        section.push_str(&format!("\n[[expect.manifests]]\nfile = \"{name}\"\n"));
        if repo != case.build.repository {
            section.push_str(&format!("repository = \"{repo}\"\n"));
        }
        let tags: Vec<String> = a.tags.iter().map(|t| format!("\"{t}\"")).collect();
        section.push_str(&format!("tags = [{}]\n", tags.join(", ")));
        if !depends_on_names {
            section.push_str(&format!("digest = \"{}\"\n", Digest::of(&built.manifest_bytes)));
        }
        files.push((name, pretty_text + "\n"));
    }
    Ok((section, files))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_expect_section_starts_at_its_first_table() {
        let text = "id = \"x\"\n[build]\ntags = [\"1\"]\n[[expect.manifests]]\nfile = \"a\"\n[expect]\n";
        assert_eq!(expect_section_start(text), text.find("[[expect."));
        assert_eq!(expect_section_start("id = 1\n"), None);
    }

    #[test]
    fn rejected_sections_list_sorted_rules() {
        let rules: BTreeSet<String> = ["R-COLL-1".to_string(), "R-CONF-2".to_string()].into();
        assert_eq!(
            rejected_section(&rules, &Expect::Published { manifests: Vec::new(), fallback_index: Default::default() }),
            "[expect]\noutcome = \"rejected\"\nrules = [\"R-COLL-1\", \"R-CONF-2\"]\n"
        );
    }
}
