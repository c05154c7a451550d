//! What a run starts before its first case: the implementation's `--version` probe, the
//! registry and its health check, the quirks proxy in front of it, the authenticated registries
//! the `[auth]` cases need, the work directory and the Docker config, and the run's provenance
//! (with the suite's version from `conformance/suite.toml`, [`super::versioning`]).

use std::path::PathBuf;

use super::credentials::{self, AuthRegistries};
use super::fixture;
use super::provenance::{self, Provenance};
use super::quirks::Behind;
use super::registry_view::RegistryView;
use super::runner::{RunError, RunOptions};
use super::selection::Selected;
use super::{versioning, SuiteDir};
use crate::provider::{self, Provider, RunningRegistry, HEALTH_CHECK_REPO};

/// What a run starts before its first case; dropped, it stops them (the proxy and the
/// authenticated registries before the registry whose storage they serve).
pub(crate) struct Started {
    pub(crate) behind: Option<Behind>,
    pub(crate) auth: AuthRegistries,
    pub(crate) registry: RunningRegistry,
    pub(crate) work: tempfile::TempDir,
    pub(crate) provenance: Provenance,
    pub(crate) view: RegistryView,
    pub(crate) registry_referrers_api: bool,
    pub(crate) referrers_api: bool,
    pub(crate) docker_config: PathBuf,
    pub(crate) run_prefix: Option<String>,
}

/// Starts everything the run needs before its first case, in that order.
pub(crate) async fn start(suite: &SuiteDir, selected: &[Selected], opts: &RunOptions) -> Result<Started, RunError> {
    let implementation_version = opts.implementation.probe().await?;
    let registry =
        provider::start(&opts.provider).await.map_err(|source| RunError::RegistryStart { provider: opts.provider.clone(), source })?;
    registry.health_check().await.map_err(|source| RunError::HealthCheck { host: registry.host.clone(), source })?;
    let behind = match opts.quirks {
        Some(profile) => Some(Behind::start(&registry.url(), profile).await.map_err(|source| RunError::QuirksProxy { profile, source })?),
        None => None,
    };
    let auth_kinds = selected.iter().filter(|s| !s.disabled).filter_map(|s| s.case.auth.as_ref().map(|a| a.registry));
    let auth = AuthRegistries::start(&opts.provider, &registry, auth_kinds)
        .await
        .map_err(|source| RunError::AuthRegistry { provider: opts.provider.clone(), source })?;
    let work = tempfile::Builder::new().prefix("cnb-conformance-").tempdir().map_err(RunError::WorkDir)?;
    let docker_config = match &opts.provider {
        Provider::External(_) => credentials::external_docker_config(),
        _ => credentials::anonymous_docker_config(work.path()).map_err(RunError::WorkDir)?,
    };
    let run_prefix = matches!(opts.provider, Provider::External(_)).then(|| format!("{}-{:08x}", opts.namespace_prefix, fastrand::u32(..)));
    let view = RegistryView::new(&registry.host, registry.insecure)?;
    let hidden = behind.as_ref().is_some_and(|b| b.rule.hides_referrers_api);
    let registry_referrers_api = view.has_referrers_api(HEALTH_CHECK_REPO).await?;
    let referrers_api = registry_referrers_api && !hidden;
    let suite_data_digest = fixture::suite_digest(suite).unwrap_or_else(|e| format!("unknown ({e})"));
    let provenance = Provenance {
        suite_version: versioning::version_of(suite, &suite_data_digest),
        runner_version: super::RUNNER_VERSION.to_string(),
        suite_commit: provenance::git_commit(suite.root()),
        suite_data_digest,
        implementation: opts.implementation.display.clone(),
        implementation_version,
        registry_provider: opts.provider.to_string(),
        registry_version: match &registry.version {
            Some(version) => version.clone(),
            None => registry.announced_version().await.unwrap_or_else(|| "unknown".to_string()),
        },
        registry_host: registry.host.clone(),
        registry_referrers_api: referrers_api,
        registry_quirks: opts.quirks.map(|p| p.to_string()),
        date: provenance::now(),
    };
    Ok(Started { behind, auth, registry, work, provenance, view, registry_referrers_api, referrers_api, docker_config, run_prefix })
}
