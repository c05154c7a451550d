//! `conformance diff`: differential conformance on generated builds. Builds are drawn from a
//! seed ([`generate`]); each is published by the reference and by the implementation under
//! test ([`execute`]), each into its own namespace of one registry (`diff-<n>-r`, `diff-<n>-i`),
//! and the two outcomes are compared: exit class, tags and the digests they name, the exact
//! manifest bytes with the namespace normalised away, blob presence ([`compare`]). The first
//! divergence is shrunk to a minimal build ([`shrink`]) and written as a ready-to-commit case
//! ([`case_writer`]), which is then replayed against the reference and must PASS.
//!
//! | module | owns |
//! | --- | --- |
//! | [`build`] | a generated build as data, written as a layers directory |
//! | [`generate`] | build `i` of seed `S`, from the core's proptest strategies |
//! | [`execute`] | one side: seeding, setup, one invocation, reading the namespace back |
//! | [`compare`] | normalised registry state, the first divergence |
//! | [`shrink`] | delta reduction of a diverging build |
//! | [`case_writer`] | the shrunk build as a case of the suite's format; its replay |

pub mod build;
pub mod case_writer;
pub mod compare;
pub mod execute;
pub mod generate;
pub mod shrink;

use std::path::PathBuf;
use std::time::Duration;

use self::build::Build;
use self::compare::Divergence;
use self::execute::{Lane, Side};
use crate::implementation::{Implementation, ImplementationError};
use crate::outcome::{CaseResult, Status};
use crate::provider::{self, Provider, ProviderError};
use crate::registry_view::{RegistryView, ViewError};

/// How a differential run is carried out.
#[derive(Debug, Clone)]
pub struct Options {
    pub seed: u64,
    /// Builds `0..count` of the seed.
    pub count: u64,
    pub reference: Implementation,
    pub implementation: Implementation,
    pub provider: Provider,
    /// Per invocation.
    pub timeout: Duration,
    /// Where the case of a divergence is written (a suite directory of its own).
    pub out: PathBuf,
    /// Most candidates tried while shrinking.
    pub shrink_budget: usize,
    /// The command line that reproduces this run, written into the case.
    pub reproduce: String,
    /// On a registry named by URL, the namespaces are `<prefix>-<random>/diff-<n>-r|i`.
    pub namespace_prefix: String,
}

/// Why a differential run could not be carried through (never a divergence).
#[derive(Debug, thiserror::Error)]
pub enum DiffError {
    #[error("the registry: {0}")]
    Registry(#[from] ProviderError),
    #[error("reading the registry: {0}")]
    View(#[from] ViewError),
    #[error(transparent)]
    Implementation(#[from] ImplementationError),
    #[error("{0}")]
    Io(String),
    #[error("writing the case: {0}")]
    CaseWrite(String),
}

/// What a run found.
#[derive(Debug, Clone)]
pub struct Report {
    pub seed: u64,
    /// Builds compared.
    pub ran: u64,
    pub found: Option<Found>,
}

/// A divergence, shrunk and written.
#[derive(Debug, Clone)]
pub struct Found {
    pub build_index: u64,
    /// As first seen, on the generated build.
    pub first: Divergence,
    /// On the shrunk build.
    pub shrunk: Divergence,
    pub build: Build,
    pub tried: usize,
    pub reference: String,
    pub implementation: String,
    pub written: case_writer::Written,
    /// The reference's result on the written case (must be PASS).
    pub replay: CaseResult,
}

impl Found {
    /// The written case passes against the reference.
    pub fn ready(&self) -> bool {
        self.replay.status == Status::Pass
    }
}

/// The namespace of build `n`, side `side` (`r` or `i`): both sides' names have one length.
pub fn namespace(n: &str, side: char) -> String {
    format!("diff-{n}-{side}")
}

/// Runs the builds of `opts`, telling `say` one line per build; stops at the first divergence.
pub async fn run(opts: &Options, say: &(dyn Fn(&str) + Sync)) -> Result<Report, DiffError> {
    opts.reference.probe().await?;
    opts.implementation.probe().await?;
    let registry = provider::start(&opts.provider).await?;
    registry.health_check().await?;
    let view = RegistryView::new(&registry.host, registry.insecure)?;
    let work = tempfile::Builder::new().prefix("cnb-diff-").tempdir().map_err(|e| DiffError::Io(format!("a work directory: {e}")))?;
    let docker_config =
        crate::credentials::anonymous_docker_config(work.path()).map_err(|e| DiffError::Io(format!("a Docker config: {e}")))?;
    // On a registry named by URL, earlier runs may have used the same names: a random prefix.
    let prefix = match opts.provider {
        Provider::External(_) => format!("{}-{:08x}/", opts.namespace_prefix, fastrand::u32(..)),
        _ => String::new(),
    };
    let lane = Lane { registry: &registry, view: &view, work: work.path(), docker_config: &docker_config, timeout: opts.timeout };
    let mut oracle = Pair { lane: &lane, opts, prefix, tries: 0 };
    for n in 0..opts.count {
        let build = generate::generate(opts.seed, n);
        let (reference, other) = oracle.sides(&build, &n.to_string()).await?;
        let Some(first) = compare::compare(&reference, &other) else {
            say(&format!("build {n}: same ({})", reference.class));
            continue;
        };
        say(&format!("build {n}: DIVERGENCE: {}", first.kind()));
        say(&format!("  {first}"));
        say(&format!("shrinking (at most {} candidates)…", opts.shrink_budget));
        let shrunk = shrink::shrink(build, first.clone(), opts.shrink_budget, &mut oracle).await?;
        say(&format!("shrunk after {} candidates to {} artifact(s): {}", shrunk.tried, shrunk.build.artifact_count(), shrunk.divergence));
        let (reference, other) = oracle.sides(&shrunk.build, &format!("{n}-final")).await?;
        let id = format!("diff-{}-{n}", opts.seed);
        let provenance = case_writer::Provenance {
            reproduce: &opts.reproduce,
            build_index: n,
            reference: &opts.reference.display,
            implementation: &opts.implementation.display,
        };
        let divergence = compare::compare(&reference, &other).unwrap_or_else(|| shrunk.divergence.clone());
        let written = case_writer::write(&opts.out, &id, &shrunk.build, &reference, &other, &divergence, &provenance)?;
        let replay = case_writer::replay(&written, &opts.reference, &registry.url(), opts.timeout).await?;
        return Ok(Report {
            seed: opts.seed,
            ran: n + 1,
            found: Some(Found {
                build_index: n,
                first,
                shrunk: divergence,
                build: shrunk.build,
                tried: shrunk.tried,
                reference: reference.summary(),
                implementation: other.summary(),
                written,
                replay,
            }),
        });
    }
    Ok(Report { seed: opts.seed, ran: opts.count, found: None })
}

/// The two sides of a build on one registry; an [`shrink::Oracle`] for the shrinker.
struct Pair<'a> {
    lane: &'a Lane<'a>,
    opts: &'a Options,
    prefix: String,
    tries: usize,
}

impl Pair<'_> {
    async fn sides(&self, build: &Build, n: &str) -> Result<(Side, Side), DiffError> {
        let (r, i) = (format!("{}{}", self.prefix, namespace(n, 'r')), format!("{}{}", self.prefix, namespace(n, 'i')));
        // The two sides share nothing but the registry: they run at once.
        let (reference, other) = futures_util::future::join(
            execute::run_side(self.lane, build, &r, &self.opts.reference),
            execute::run_side(self.lane, build, &i, &self.opts.implementation),
        )
        .await;
        Ok((reference?, other?))
    }
}

impl shrink::Oracle for Pair<'_> {
    async fn diverges(&mut self, build: &Build) -> Result<Option<Divergence>, DiffError> {
        self.tries += 1;
        let (reference, other) = self.sides(build, &format!("s{}", self.tries)).await?;
        Ok(compare::compare(&reference, &other))
    }
}
