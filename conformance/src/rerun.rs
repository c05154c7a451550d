//! Running cases again: the one-line command printed for every FAIL and ERROR, which reruns just
//! that case with `--keep` against the same implementation, registry choice and quirk profile
//! ([`RerunCommand`]); and what `--rerun-failed RESULTS` takes from earlier results: the cases
//! to run and, unless given again, the implementation, registry and quirk profile
//! ([`EarlierRun`], [`EarlierRun::choose`]).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::outcome::Status;
use crate::provenance::Provenance;
use crate::provider::quirks::QuirkProfile;
use crate::provider::Provider;
use crate::runner::RunOptions;
use crate::SuiteDir;

/// The parts of a run's command line that a rerun of one case repeats.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RerunCommand {
    words: Vec<String>,
}

/// The default `--timeout` and `--namespace-prefix`, left out of a rerun command.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
const DEFAULT_PREFIX: &str = "cnb-conformance";

impl RerunCommand {
    /// The command line of `program` (this binary) that repeats the run `opts` over `suite`;
    /// `--suite-dir` is named unless the suite is the current directory, so the command works
    /// wherever it is pasted.
    pub fn new(program: &str, suite: &SuiteDir, opts: &RunOptions) -> RerunCommand {
        let mut words = vec![program.to_string(), "conformance".into(), "run".into()];
        let here = std::env::current_dir().ok().and_then(|d| d.canonicalize().ok());
        let root = suite.root().canonicalize().unwrap_or_else(|_| suite.root().to_path_buf());
        if here.as_deref() != Some(root.as_path()) {
            words.extend(["--suite-dir".to_string(), root.display().to_string()]);
        }
        words.extend(["--implementation".to_string(), opts.implementation.display.clone()]);
        match &opts.provider {
            Provider::External(url) => words.extend(["--registry".to_string(), url.to_string()]),
            other => words.extend(["--registry-provider".to_string(), other.to_string()]),
        }
        if matches!(opts.provider, Provider::External(_)) && opts.namespace_prefix != DEFAULT_PREFIX {
            words.extend(["--namespace-prefix".to_string(), opts.namespace_prefix.clone()]);
        }
        if opts.timeout != DEFAULT_TIMEOUT {
            words.extend(["--timeout".to_string(), opts.timeout.as_secs().to_string()]);
        }
        if let Some(profile) = opts.quirks {
            words.extend(["--registry-quirks".to_string(), profile.to_string()]);
        }
        RerunCommand { words }
    }

    /// The command, quoted for a POSIX shell, that reruns only `case_id` and keeps what it made.
    pub fn for_case(&self, case_id: &str) -> String {
        let mut words = self.words.clone();
        words.extend(["--filter".to_string(), case_id.to_string(), "--keep".to_string()]);
        shell_words(&words)
    }
}

/// `words` joined into one POSIX shell command line, each quoted when it needs it (a word
/// with a NUL byte, which no command line can carry, is dropped).
pub fn shell_words(words: &[String]) -> String {
    words.iter().filter_map(|w| shlex::try_quote(w).ok()).collect::<Vec<_>>().join(" ")
}

/// Why earlier results cannot be read.
#[derive(Debug, thiserror::Error)]
#[error("cannot read earlier results {path}: {reason}")]
pub struct EarlierError {
    pub path: PathBuf,
    pub reason: String,
}

/// What a `--json` results file says about its run, for `--rerun-failed`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EarlierRun {
    pub path: PathBuf,
    /// The cases that failed, errored or were not run (interrupted), in the file's order.
    pub ids: Vec<String>,
    pub implementation: Option<String>,
    /// `container`, `process` or the registry URL.
    pub registry: Option<String>,
    pub quirks: Option<String>,
}

#[derive(Deserialize)]
struct ResultsFile {
    provenance: Option<Provenance>,
    cases: Vec<ResultsCase>,
}

#[derive(Deserialize)]
struct ResultsCase {
    id: String,
    status: Status,
}

/// What a rerun uses, each with where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chosen {
    pub implementation: Option<String>,
    pub registry: Option<String>,
    pub quirks: Option<QuirkProfile>,
    /// One line saying which of them came from the earlier results.
    pub note: String,
}

impl EarlierRun {
    /// Reads the JSON results at `path`.
    pub fn read(path: &Path) -> Result<EarlierRun, EarlierError> {
        let err = |reason: String| EarlierError { path: path.to_path_buf(), reason };
        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        let results: ResultsFile = serde_json::from_str(&text).map_err(|e| err(e.to_string()))?;
        let ids =
            results.cases.into_iter().filter(|c| matches!(c.status, Status::Fail | Status::Error | Status::NotRun)).map(|c| c.id).collect();
        let p = results.provenance;
        Ok(EarlierRun {
            path: path.to_path_buf(),
            ids,
            implementation: p.as_ref().map(|p| p.implementation.clone()),
            registry: p.as_ref().map(|p| p.registry_provider.clone()),
            quirks: p.and_then(|p| p.registry_quirks),
        })
    }

    /// The implementation, registry and quirk profile of the rerun: each as given on the command
    /// line, else as the earlier results recorded it.
    pub fn choose(
        &self,
        implementation: Option<&str>,
        registry: Option<&str>,
        quirks: Option<QuirkProfile>,
    ) -> Result<Chosen, EarlierError> {
        let file = self.path.display();
        let mut said = Vec::new();
        let mut pick = |what: &str, given: Option<&str>, recorded: Option<&str>| -> Option<String> {
            match (given, recorded) {
                (Some(given), _) => {
                    said.push(format!("{what} {given} (given)"));
                    Some(given.to_string())
                }
                (None, Some(recorded)) => {
                    said.push(format!("{what} {recorded} (from {file})"));
                    Some(recorded.to_string())
                }
                (None, None) => None,
            }
        };
        let implementation = pick("implementation", implementation, self.implementation.as_deref());
        let registry = pick("registry", registry, self.registry.as_deref());
        let given_quirks = quirks.map(|q| q.to_string());
        let quirks = match pick("registry quirks", given_quirks.as_deref(), self.quirks.as_deref()) {
            Some(name) => Some(name.parse::<QuirkProfile>().map_err(|e| EarlierError { path: self.path.clone(), reason: e.to_string() })?),
            None => {
                said.push(format!("no registry quirks (as in {file})"));
                None
            }
        };
        let note = format!("rerunning {} of {file}: {}", cases(self.ids.len()), said.join(", "));
        Ok(Chosen { implementation, registry, quirks, note })
    }
}

fn cases(n: usize) -> String {
    cnb_artifacts_core::spelling::count(n, "case that failed, errored or did not run", "cases that failed, errored or did not run")
}

#[cfg(test)]
#[path = "rerun_tests.rs"]
mod tests;
