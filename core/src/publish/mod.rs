//! Publishing a plan to a registry or an OCI image layout: transport (auth, retries, clients)
//! and the publisher core (spec rules R-PUSH-1..8, R-REF-1..5).
//!
//! [`publish`] runs the order of R-PUSH-1 against a [`Target`]: (a) build every manifest and
//! refuse any over 4 MiB, check the app image is the subject and that no tag to set holds
//! foreign content (`preflight`); (b) every blob (`blobs`), and the app image in every other
//! artifact repository ([`subject_copy`]); (c) every manifest by digest (an artifact whose every
//! tag already holds its manifest needs neither (b) nor (c): the target holds it whole);
//! (d) referrers per repository ([`referrers`]); (e) tags, last. A failure before (e) leaves
//! every tag as it was. The targets are [`RegistryTarget`] (oci-client, plus the raw requests
//! of `registry_http`) and [`LayoutTarget`].
//!
//! | module | owns |
//! | --- | --- |
//! | [`client`], [`auth`], [`retry`], [`min_rate`] | transport: clients, credentials, retries, the minimum transfer rate |
//! | [`target`] | the [`Target`] trait |
//! | [`registry_target`], `registry_http` | publishing to a registry |
//! | [`layout`] | publishing to an OCI image layout |
//! | `preflight`, `blobs`, `checked_file` | the checks before pushing; blob upload; streaming files with their check |
//! | `single_pass` | files read once: digests computed while uploading (R-PUSH-11) |
//! | [`jobs`] | how many requests of a step are in flight at once (`--jobs`) |
//! | [`subject_copy`] | the subject manifest in artifact repositories other than the app image's |
//! | [`referrers`] | referrers API probe and the fallback index |
//! | [`report`], [`progress`], [`error`] | what the publish did; progress output; errors |

pub mod auth;
pub(crate) mod auth_realm;
pub(crate) mod blobs;
pub(crate) mod checked_file;
pub mod client;
pub mod error;
pub mod jobs;
pub mod layout;
pub mod min_rate;
pub(crate) mod preflight;
pub mod progress;
pub mod referrers;
pub(crate) mod registry_http;
pub mod registry_target;
pub mod report;
pub mod retry;
pub(crate) mod single_pass;
pub mod subject_copy;
pub mod target;
pub(crate) mod token;

use std::collections::BTreeMap;

pub use error::{PublishError, TargetError};
pub use layout::LayoutTarget;
pub use preflight::{resolve_subject, resolve_subject_by_digest};
pub use referrers::{ReferrersMode, ReferrersUsed};
pub use registry_http::next_link;
pub use registry_target::RegistryTarget;
pub use report::PublishReport;
pub use target::Target;

use crate::manifest::{BuiltArtifact, MAX_MANIFEST_SIZE};
use crate::media_types::OCI_MANIFEST;
use crate::plan::{Plan, PlannedArtifact, Subject};
use progress::Progress;
use referrers::{ReferrerEntry, ReferrersOutcome};
use report::{ArtifactReport, SubjectReport};
use target::ManifestRef;

/// Files of at least this size are read once when published to a registry, their digest
/// computed while they are uploaded (R-PUSH-11, `--single-pass-min-size`). A single-pass upload
/// costs one request more than a plain one (its `PATCH` and the `PUT` that completes it are two);
/// from 64 MiB the hashing pass it saves (~36 ms at 1.8 GB/s) outweighs a round trip of up to
/// 36 ms, and at 1 GiB it is ~15% of the whole upload here (docs/performance.md).
pub const DEFAULT_SINGLE_PASS_MIN_SIZE: u64 = 64 * 1024 * 1024;

/// Choices of one publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishOptions {
    /// Replace tags that hold content this tool did not publish (R-PUSH-5).
    pub overwrite: bool,
    /// Whether to use the referrers API, the fallback tag, or probe for the API (R-REF-1); default: probe.
    pub referrers: ReferrersMode,
    /// Draw progress bars for large blobs when stderr is a terminal.
    pub progress: bool,
    /// Requests of one step in flight at once against a registry (default
    /// [`jobs::DEFAULT_JOBS`]; 0 counts as 1). An OCI image layout is written one at a time.
    pub jobs: usize,
}

impl Default for PublishOptions {
    fn default() -> Self {
        PublishOptions { overwrite: false, referrers: ReferrersMode::default(), progress: false, jobs: jobs::DEFAULT_JOBS }
    }
}

/// Publishes every artifact of `plan`, with `subject` as their subject, to `target`
/// (R-PUSH-1): preflight, blobs, manifests by digest, referrers, tags.
pub async fn publish(plan: &Plan, subject: &Subject, opts: &PublishOptions, target: &impl Target) -> Result<PublishReport, PublishError> {
    publish_with(plan, subject, opts, target, &crate::plan::NoSeams).await
}

/// [`publish`], with `seams` rewriting the manifest bytes it builds ([`crate::plan::seams`]).
pub async fn publish_with(
    plan: &Plan,
    subject: &Subject,
    opts: &PublishOptions,
    target: &impl Target,
    seams: &dyn crate::plan::Seams,
) -> Result<PublishReport, PublishError> {
    // (a) preflight: nothing is pushed until every check passed; manifests over the limit are
    // refused before any request (their length does not depend on the digests in them).
    let built = build_all(plan, subject, seams)?;
    // A layout is one directory and one index.json: written one operation at a time.
    let jobs = if target.kind() == target::TargetKind::Layout { 1 } else { opts.jobs.max(1) };
    let progress = Progress::new(opts.progress);
    let app_manifest = preflight::check_subject(target, &plan.context.image, subject).await?;
    if !plan.has_pending_digests() {
        let reads = preflight::read_tags(target, plan, Some(&built), subject, opts.overwrite, jobs).await?;
        let already_tagged = reads.already_tagged(&built);
        let checked = Checked { plan, built, already_tagged, app_manifest };
        return push(target, subject, opts, checked, &single_pass::Staged::default(), &progress, jobs).await;
    }
    // Digests left to the upload (R-PUSH-11): computed now, files sent in one pass where
    // useful; the manifests are built again with them.
    let reads = preflight::read_tags(target, plan, None, subject, opts.overwrite, jobs).await?;
    let (resolved, staged) = single_pass::resolve(target, plan, &reads, &progress, jobs).await?;
    let pushed = match build_all(&resolved, subject, seams) {
        Ok(built) => {
            let already_tagged = reads.already_tagged(&built);
            let checked = Checked { plan: &resolved, built, already_tagged, app_manifest };
            push(target, subject, opts, checked, &staged, &progress, jobs).await
        }
        Err(e) => Err(e),
    };
    // Sessions left open: a failure, or a file with the same bytes as another.
    staged.cancel_all(target, jobs).await;
    pushed
}

/// What preflight established: the plan (its digests all known), its manifests, the tags that
/// already hold them, and the app image's manifest when it must be copied (R-PUSH-10).
struct Checked<'p> {
    plan: &'p Plan,
    built: Vec<BuiltArtifact>,
    already_tagged: std::collections::BTreeSet<String>,
    app_manifest: Option<target::FetchedManifest>,
}

/// Steps (b) to (e) of R-PUSH-1, after preflight passed, and the report.
async fn push(
    target: &impl Target,
    subject: &Subject,
    opts: &PublishOptions,
    checked: Checked<'_>,
    staged: &single_pass::Staged,
    progress: &Progress,
    jobs: usize,
) -> Result<PublishReport, PublishError> {
    let Checked { plan, built, already_tagged, app_manifest } = checked;
    // An artifact every tag of which already holds its manifest is in the target, blobs and all.
    let complete: Vec<bool> = plan
        .artifacts
        .iter()
        .map(|a| !a.tags.is_empty() && a.tags.iter().all(|t| already_tagged.contains(&format!("{}:{t}", a.name()))))
        .collect();

    // (b) blobs, then the subject in every other repository.
    let tallies = blobs::push_all(target, plan, &built, &complete, staged, progress, jobs).await?;
    subject_copy::copy_into_every_repository(target, plan, subject, app_manifest.as_ref(), jobs).await?;

    // (c) manifests, by digest.
    // Collected first: a lazy iterator held across the awaits would keep the future from being `Send`.
    let to_push: Vec<(&PlannedArtifact, &BuiltArtifact)> =
        plan.artifacts.iter().zip(&built).zip(&complete).filter(|(_, &complete)| !complete).map(|(pair, _)| pair).collect();
    jobs::in_order(to_push, jobs, |(artifact, b)| async move {
        target
            .push_manifest(&artifact.repository, ManifestRef::Digest(&b.manifest_digest), OCI_MANIFEST, &b.manifest_bytes)
            .await
            .map_err(|source| PublishError::ManifestRejected {
                artifact: artifact.label(),
                repository: artifact.name(),
                digest: b.manifest_digest.clone(),
                source: Box::new(source),
            })?;
        tracing::info!("pushed manifest {}@{} ({})", artifact.name(), b.manifest_digest, artifact.label());
        Ok::<(), PublishError>(())
    })
    .await?;

    // (d) referrers, per repository: one writer per repository's fallback index.
    let mut by_repository: BTreeMap<&str, Vec<ReferrerEntry>> = BTreeMap::new();
    for (artifact, b) in plan.artifacts.iter().zip(&built) {
        by_repository.entry(&artifact.repository).or_default().push(ReferrerEntry::of(b));
    }
    let recorded = jobs::in_order(&by_repository, jobs, |(repository, entries)| async move {
        let outcome = target.record_referrers(repository, subject, entries, opts.referrers).await?;
        tracing::info!("referrers of {} in {repository}: {}", subject.digest, outcome.used);
        Ok::<_, PublishError>((*repository, outcome))
    })
    .await?;
    let outcomes: BTreeMap<&str, ReferrersOutcome> = recorded.into_iter().collect();

    // (e) tags, last.
    push_tags(target, plan, &built, &already_tagged, jobs).await?;

    let artifacts = plan
        .artifacts
        .iter()
        .zip(&built)
        .zip(tallies)
        .map(|((artifact, b), tally)| {
            let outcome = &outcomes[artifact.repository.as_str()];
            ArtifactReport::new(artifact, &b.manifest_digest, b.manifest_bytes.len() as u64, tally, outcome)
        })
        .collect();
    Ok(PublishReport { target: target.describe(), image: plan.context.image.to_string(), subject: SubjectReport::from(subject), artifacts })
}

/// Step (e): sets every tag of every artifact, except those preflight found already holding
/// their manifest (`already_tagged`), `jobs` at a time in plan order. After a tag fails no other
/// starts; the error names the tags that were set, those in flight included (R-PUSH-2).
async fn push_tags(
    target: &impl Target,
    plan: &Plan,
    built: &[BuiltArtifact],
    already_tagged: &std::collections::BTreeSet<String>,
    jobs: usize,
) -> Result<(), PublishError> {
    let mut to_set = Vec::new();
    for (artifact, b) in plan.artifacts.iter().zip(built) {
        for tag in &artifact.tags {
            let reference = format!("{}:{tag}", artifact.name());
            if already_tagged.contains(&reference) {
                tracing::info!("{reference} already holds {}; not re-tagged", b.manifest_digest);
            } else {
                to_set.push((artifact, b, tag, reference));
            }
        }
    }
    let (set, failed) = jobs::until_failure(&to_set, jobs, |(artifact, b, tag, reference)| async move {
        target.push_manifest(&artifact.repository, ManifestRef::Tag(tag), OCI_MANIFEST, &b.manifest_bytes).await?;
        tracing::info!("tagged {reference}");
        Ok::<(), TargetError>(())
    })
    .await;
    let Some((i, source)) = failed else { return Ok(()) };
    let (artifact, _, _, reference) = &to_set[i];
    Err(PublishError::TagRejected {
        artifact: artifact.label(),
        reference: reference.clone(),
        source: Box::new(source),
        already_tagged: set.into_iter().map(|j| to_set[j].3.clone()).collect(),
    })
}

/// Builds every manifest; any over the 4 MiB limit fails the publish before anything is pushed
/// (R-PUSH-6).
fn build_all(plan: &Plan, subject: &Subject, seams: &dyn crate::plan::Seams) -> Result<Vec<BuiltArtifact>, PublishError> {
    plan.artifacts
        .iter()
        .map(|artifact| {
            let built = crate::manifest::build_with(artifact, subject, seams).map_err(|source| match source {
                crate::manifest::ManifestError::TooLarge { size, .. } => {
                    PublishError::ManifestTooLarge { artifact: artifact.label(), declared_at: artifact.declared_at.clone(), size }
                }
                #[allow(unreachable_patterns)]
                source => PublishError::ManifestBuild { artifact: artifact.label(), source },
            })?;
            if built.manifest_bytes.len() > MAX_MANIFEST_SIZE && seams.enforces_manifest_size_limit() {
                return Err(PublishError::ManifestTooLarge {
                    artifact: artifact.label(),
                    declared_at: artifact.declared_at.clone(),
                    size: built.manifest_bytes.len(),
                });
            }
            Ok(built)
        })
        .collect()
}
