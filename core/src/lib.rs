//! cnb-artifacts-core: additional OCI artifacts from Cloud Native Buildpacks, the product.
//!
//! This crate is what a platform embeds: no registry is started, no process supervised, no test
//! machinery linked. The conformance suite lives in `cnb-artifacts-conformance` and the command line
//! in the `cnb-artifacts` package (ARCHITECTURE.md).
//!
//! A buildpack declares, in a layer's TOML file, extra files it built; this crate plans them,
//! builds their exact OCI manifests and publishes them beside the app image. The pipeline runs
//! one way:
//!
//! | module | owns |
//! | --- | --- |
//! | [`layer_toml`] | reading layer TOML files and their `[additionalArtifact]` tables |
//! | [`template`] | `${build.tag}`-style templates |
//! | [`reference`](mod@reference) | tags, repositories, digests, image references |
//! | [`plan`] | from a layers dir + build context to the artifacts to publish; all checks; the pipeline's seams ([`plan::seams`]) |
//! | [`manifest`] | exact manifest bytes, presets, digests |
//! | [`publish`] | pushing a plan to a registry (or writing an OCI image layout) |
//! | [`diagnostic`] | user-facing input errors with file, line and column |
//! | [`spelling`] | "did you mean …?" suggestions and counted nouns |
//! | [`mutants`] | the self-check's known-bad behaviours by name, and the few switches no seam reaches (feature `mutants`; inert without it) |
//!
//! The normative rules are in `docs/spec.md`; each module names the rule IDs it implements.
//!
//! # Embedding the step in a platform
//!
//! A platform that runs the lifecycle itself can publish the artifacts without the command
//! line, right after the exporter: [`plan::plan`] reads the layers dir and checks everything
//! offline (every input problem at once, as [`diagnostic::Diagnostics`]), then
//! [`publish::publish`] pushes the plan through a [`publish::RegistryTarget`]. Credentials come
//! from the Docker config and credential helpers, as for the CLI
//! ([`publish::RegistryTarget::connect`]; use [`publish::RegistryTarget::with_auth`] to pass
//! your own). With the subject descriptor in the [`plan::BuildContext`] (digest, size and media
//! type of the app image manifest, e.g. from the exporter's `report.toml`), no request reads
//! the app image first; without it, [`publish::resolve_subject`] reads it from the registry (and checks it against a
//! digest the context names).
//!
//! ```no_run
//! use std::path::Path;
//!
//! use cnb_artifacts_core::plan::{self, BuildContext};
//! use cnb_artifacts_core::publish::client::TransportOptions;
//! use cnb_artifacts_core::publish::{self, PublishOptions, RegistryTarget};
//! use cnb_artifacts_core::reference::ImageRef;
//!
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! let image: ImageRef = "registry.example.com/team/app:1.2.3".parse()?;
//! let context = BuildContext {
//!     image,
//!     extra_tags: vec!["latest".to_string()],
//!     digest: Some("sha256:15141f3dc217214a54c9dd776b7f5101e089c66c04b283f38a29aded55b86d51".parse()?),
//!     manifest_size: Some(398),
//!     manifest_media_type: None, // the OCI image manifest
//!     source_date_epoch: None,
//! };
//!
//! // Offline: every layer TOML, template, file and collision is checked before any push.
//! let plan = plan::plan(Path::new("/layers"), &context)?;
//!
//! let target = RegistryTarget::connect(&plan.context.image.registry, &TransportOptions::default()).await?;
//! let subject = match plan.context.subject() {
//!     Some(subject) => subject,
//!     None => publish::resolve_subject(&target, &plan.context).await?,
//! };
//! let report = publish::publish(&plan, &subject, &PublishOptions::default(), &target).await?;
//! for line in report.summary_lines() {
//!     println!("{line}");
//! }
//! # Ok(())
//! # }
//! ```
//!
//! [`publish::publish`] needs a Tokio runtime (it is `async`); it pushes blobs, then manifests
//! by digest, then referrers, then tags, so a failure leaves every tag as it was. The
//! [`publish::PublishReport`] says what was uploaded, mounted or already present, and where
//! each artifact is (`to_toml` gives the CLI's `--report-out` file).

// Every public item of the core is documented (issue 11); ci/test's clippy step denies warnings.
#![warn(missing_docs)]

pub mod canonical;
pub mod consume;
pub mod diagnostic;
pub mod display;
pub mod input_file;
pub mod layer_toml;
pub mod manifest;
pub mod media_types;
pub mod mutants;
pub mod plan;
pub mod publish;
pub mod reference;
pub mod spelling;
#[cfg(any(test, feature = "strategies"))]
pub mod strategies;
pub mod template;
