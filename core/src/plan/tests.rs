//! Names the planner derives rather than renders — a Helm chart's default repository
//! (`<app repository>/<chart name>`) and default tag (its version) — pass the same grammar
//! checks as rendered ones (R-REPO-1, R-TAG-1), so that no plan can fail at the registry on
//! grammar after a first tag was set.

use std::path::Path;

use proptest::prelude::*;

use crate::plan::presets::test_support::tgz;
use crate::plan::{plan, BuildContext};
use crate::reference::{validate_repository_in, validate_tag};

/// A layers dir with one Helm chart artifact whose Chart.yaml says `name` and `version`.
fn helm_layers(dir: &Path, name: &str, version: &str) {
    let layer = dir.join("examples_charts/chart");
    std::fs::create_dir_all(&layer).unwrap();
    let yaml = format!("apiVersion: v2\nname: {name:?}\nversion: {version:?}\n");
    std::fs::write(layer.join("c.tgz"), tgz(&[("c/Chart.yaml", yaml.as_bytes())])).unwrap();
    std::fs::write(dir.join("examples_charts/chart.toml"), "[additionalArtifact]\ntype = \"helm\"\nfile = \"c.tgz\"\n").unwrap();
}

fn context(image: &str) -> BuildContext {
    BuildContext {
        image: image.parse().unwrap(),
        extra_tags: Vec::new(),
        digest: None,
        manifest_size: None,
        manifest_media_type: None,
        source_date_epoch: None,
    }
}

fn plan_chart(name: &str, version: &str) -> Result<crate::plan::Plan, crate::diagnostic::Diagnostics> {
    let dir = tempfile::tempdir().unwrap();
    helm_layers(dir.path(), name, version);
    plan(dir.path(), &context("registry.example.com/team/app:1.0"))
}

#[test]
fn a_chart_name_outside_the_repository_grammar_is_an_input_error() {
    let err = plan_chart("Hello", "0.1.0").expect_err("team/app/Hello is no repository path");
    let text = err.to_string();
    assert!(text.contains("R-REPO-1") && text.contains("team/app/Hello"), "{text}");
    assert!(text.contains("examples_charts/chart.toml:2:8"), "names the file, line and column of `type`: {text}");
}

#[test]
fn a_chart_version_outside_the_tag_grammar_is_an_input_error() {
    let err = plan_chart("hello", "a/b").expect_err("a/b is no tag");
    let text = err.to_string();
    assert!(text.contains("R-TAG-1") && text.contains("a/b"), "{text}");
}

#[test]
fn a_valid_chart_plans_to_its_derived_names() {
    let plan = plan_chart("hello", "1.2.3+build.4").expect("plans");
    assert_eq!(plan.artifacts[0].repository, "team/app/hello");
    assert_eq!(plan.artifacts[0].tags, ["1.2.3_build.4"]);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Whatever a chart says, a plan that succeeds names only repositories and tags the
    /// registry's grammar accepts: the registry never refuses one after a first tag was set.
    #[test]
    fn every_planned_name_passes_the_registry_grammar(
        name in crate::strategies::chart_name(),
        version in crate::strategies::chart_version(),
    ) {
        if let Ok(plan) = plan_chart(&name, &version) {
            for artifact in &plan.artifacts {
                prop_assert!(validate_repository_in(&plan.context.image.registry, &artifact.repository).is_ok(), "{}", artifact.repository);
                for tag in &artifact.tags {
                    prop_assert!(validate_tag(tag).is_ok(), "{tag}");
                }
            }
        }
    }
}
