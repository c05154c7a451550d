//! cnb-artifacts: additional OCI artifacts from Cloud Native Buildpacks.
//!
//! A buildpack declares, in a layer's TOML file, extra files it built; this crate plans them,
//! builds their exact OCI manifests and publishes them beside the app image. The pipeline runs
//! one way:
//!
//! | module | owns |
//! | --- | --- |
//! | [`layer_toml`] | reading layer TOML files and their `[additionalArtifact]` tables |
//! | [`template`] | `${build.tag}`-style templates |
//! | [`reference`] | tags, repositories, digests, image references |
//! | [`plan`] | from a layers dir + build context to the artifacts to publish; all checks |
//! | [`manifest`] | exact manifest bytes, presets, digests |
//! | [`diagnostic`] | user-facing input errors with file, line and column |
//!
//! The normative rules are in `docs/spec.md`; each module names the rule IDs it implements.

pub mod cli;
pub mod conformance;
pub mod diagnostic;
pub mod layer_toml;
pub mod manifest;
pub mod plan;
pub mod publish;
pub mod reference;
pub mod registry;
pub mod template;
