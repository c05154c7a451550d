//! Conformance cases as data: one TOML file per case, `conformance/cases/<id>.toml`, and the
//! expected manifests beside it in `conformance/cases/<id>/expected/*.json`.
//!
//! A case names the spec rules it checks, the fixture (a `layers/` tree under
//! `fixtures/cases/`), the build context (app image tags and repository, `SOURCE_DATE_EPOCH`),
//! what the registry holds before the implementation runs ([`Setup`]) and what must hold
//! afterwards ([`Expect`]). [`load_all`] reads and checks every case so that a broken case is
//! reported before any registry is started. The format is documented in `docs/conformance.md`.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::SuiteDir;

/// One conformance case, as written in its TOML file.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    /// Stable identifier: lowercase letters, digits and single `-`; equals the file stem.
    pub id: String,
    pub title: String,
    /// The spec rules this case checks (`R-XXX-n`).
    pub rules: Vec<String>,
    /// Directory under `fixtures/cases/` holding a `layers/` tree.
    pub fixture: String,
    #[serde(default)]
    pub build: Build,
    /// Files the runner creates in the layers tree after copying it (things git holds badly).
    #[serde(default)]
    pub generate: Vec<Generate>,
    #[serde(default)]
    pub setup: Setup,
    /// Further fixtures published by invocations that run at the same time as the main one.
    #[serde(default)]
    pub concurrent: Vec<String>,
    /// Seconds the implementation may take per invocation (default: the run's `--timeout`).
    #[serde(default)]
    pub timeout_seconds: Option<u64>,
    /// For a rejected case: its near-miss twin, the published case whose fixture is this one's
    /// minus the defect (an implementation that rejects everything fails it).
    #[serde(default)]
    pub twin: Option<String>,
    /// For a rejected case without a twin: why none can exist.
    #[serde(default)]
    pub twin_waiver: Option<String>,
    /// Publish to a registry that requires credentials, handed over as this says.
    #[serde(default)]
    pub auth: Option<Auth>,
    pub expect: Expect,
}

/// An authenticated registry and the credentials the implementation gets for it
/// (R-AUTH-1, R-AUTH-4; `docs/conformance.md`, "Credentials").
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Auth {
    /// `basic` (htpasswd) or `token` (a token service).
    pub registry: crate::provider::auth::AuthKind,
    /// `CNB_REGISTRY_AUTH` holds an entry for the registry.
    #[serde(default)]
    pub registry_auth: Option<Given>,
    /// The Docker config's `auths` holds an entry for the registry.
    #[serde(default)]
    pub auths: Option<Given>,
    /// The Docker config's `credHelpers` names the suite's helper for the registry, which
    /// answers with these credentials.
    #[serde(default)]
    pub cred_helper: Option<Given>,
}

/// Which credentials a source holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Given {
    /// The account the registry accepts.
    Valid,
    /// The account's user with a password the registry refuses.
    Wrong,
    /// A value R-AUTH-1 calls malformed (`CNB_REGISTRY_AUTH` only): `Basic` followed by
    /// `user:password` in clear instead of base64.
    Malformed,
}

/// The build the implementation publishes artifacts for.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Build {
    /// The app image's tags; the first is the primary tag (in `CNB_OUTPUT_IMAGE`).
    #[serde(default = "default_tags")]
    pub tags: Vec<String>,
    /// The app image's repository inside the case namespace.
    #[serde(default = "default_repository")]
    pub repository: String,
    /// `SOURCE_DATE_EPOCH` for the implementation (unset when absent): decimal seconds, or a
    /// string set exactly as written (`""`: set but empty, which counts as unset, R-MAN-8).
    #[serde(default)]
    pub source_date_epoch: Option<SourceDateEpoch>,
    /// Sets `CNB_ARTIFACTS_OVERWRITE=true`: the user allows overwriting foreign tags.
    #[serde(default)]
    pub overwrite: bool,
    /// A digest handed to the implementation instead of the app image's (R-PUSH-3: the
    /// implementation must notice that the tag does not resolve to it).
    #[serde(default)]
    pub digest: Option<String>,
}

/// The value of `SOURCE_DATE_EPOCH` a case sets.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum SourceDateEpoch {
    Seconds(i64),
    Text(String),
}

impl SourceDateEpoch {
    /// The variable's value as the implementation sees it.
    pub fn env_value(&self) -> String {
        match self {
            SourceDateEpoch::Seconds(s) => s.to_string(),
            SourceDateEpoch::Text(t) => t.clone(),
        }
    }

    /// The created time it stands for by R-MAN-8: none when empty; ASCII digits only.
    pub fn seconds(&self) -> Option<i64> {
        match self {
            SourceDateEpoch::Seconds(s) => Some(*s),
            SourceDateEpoch::Text(t) if t.bytes().all(|b| b.is_ascii_digit()) => t.parse().ok(),
            SourceDateEpoch::Text(_) => None,
        }
    }
}

fn default_tags() -> Vec<String> {
    vec!["1.0".to_string()]
}

fn default_repository() -> String {
    "app".to_string()
}

impl Default for Build {
    fn default() -> Self {
        Build { tags: default_tags(), repository: default_repository(), source_date_epoch: None, overwrite: false, digest: None }
    }
}

/// A file system entry the runner creates in the copied layers tree.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Generate {
    /// A regular file: `prefix`, then `size` bytes each `byte` (default 0), then `suffix`
    /// (e.g. a layer TOML with a 4 MiB label value).
    File {
        path: String,
        size: u64,
        #[serde(default)]
        byte: u8,
        #[serde(default)]
        prefix: String,
        #[serde(default)]
        suffix: String,
    },
    /// A named pipe (FIFO).
    Fifo { path: String },
    /// A symbolic link to `target` (used verbatim, may be absolute or dangling).
    Symlink { path: String, target: String },
    /// An empty directory.
    Dir { path: String },
}

impl Generate {
    pub fn path(&self) -> &str {
        match self {
            Generate::File { path, .. } | Generate::Fifo { path } | Generate::Symlink { path, .. } | Generate::Dir { path } => path,
        }
    }
}

/// What the registry holds before the implementation runs, besides the app image.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Setup {
    /// Images that are not artifacts of this spec, under tags the build will want
    /// (`@@REFERRERS_TAG@@` in a tag stands for the app image's fallback tag).
    #[serde(default)]
    pub foreign_images: Vec<ForeignImage>,
    /// Referrers of the app image written by another tool, in an existing fallback index.
    #[serde(default)]
    pub foreign_referrers: Vec<ForeignReferrer>,
    /// Earlier runs of the implementation under test (each must succeed).
    #[serde(default)]
    pub publish: Vec<PriorPublish>,
}

impl Setup {
    pub fn is_empty(&self) -> bool {
        self.foreign_images.is_empty() && self.foreign_referrers.is_empty() && self.publish.is_empty()
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ForeignImage {
    /// Repository inside the case namespace (default: the app repository).
    #[serde(default)]
    pub repository: Option<String>,
    pub tag: String,
    /// Makes the image look like an artifact of this spec (it carries `io.buildpacks.artifact.layer`).
    #[serde(default)]
    pub spec_artifact: bool,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ForeignReferrer {
    /// Repository inside the case namespace (default: the app repository).
    #[serde(default)]
    pub repository: Option<String>,
    pub artifact_type: String,
    /// The index lists this referrer twice, the second time with another annotation
    /// (R-REF-4 keeps the first of several entries with one digest).
    #[serde(default)]
    pub duplicate: bool,
    /// JSON text added as further members of the entry, as written (`"a": 1, "a": 2`), for an
    /// index that is not I-JSON (R-REF-4).
    #[serde(default)]
    pub raw_members: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PriorPublish {
    /// Fixture to publish (default: the case's own).
    #[serde(default)]
    pub fixture: Option<String>,
}

/// What must hold after the implementation ran.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(tag = "outcome", rename_all = "lowercase", deny_unknown_fields)]
pub enum Expect {
    /// Exit 0; exactly these manifests under these tags; the fallback indexes list them.
    Published {
        #[serde(default)]
        manifests: Vec<ExpectedManifest>,
        /// How the fallback indexes are judged (default: exactly).
        #[serde(default)]
        fallback_index: IndexCheck,
    },
    /// Non-zero exit; no tag new, moved or gone. `rules` name the error expected.
    Rejected {
        rules: Vec<String>,
        /// The failure comes after blobs may be pushed (R-PUSH-2 lets them remain): do not
        /// check that no fixture file became a blob.
        #[serde(default)]
        blobs_may_remain: bool,
        /// Layer TOML files (relative to the layers directory) the error must name
        /// ([`super::error_names`]); for a collision, both sides.
        #[serde(default)]
        error_files: Vec<String>,
        /// Tags the error must name (a registry conflict; `@@REFERRERS_TAG@@` is the app
        /// image's fallback tag).
        #[serde(default)]
        error_tags: Vec<String>,
        /// Credential sources the error must name (`CNB_REGISTRY_AUTH`, R-AUTH-2).
        #[serde(default)]
        error_sources: Vec<String>,
    },
}

/// How strictly a fallback index is compared.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum IndexCheck {
    /// Exactly the merge of what was there before with every expected manifest (R-REF-3, R-REF-4).
    #[default]
    Exact,
    /// Concurrent publishers on a registry that ignores `If-Match` may lose each other's
    /// entries (R-REF-5): the index must be exactly the merge of what was there before with
    /// the expected manifests it lists, and list at least one of them.
    AllowLostEntries,
}

/// One artifact manifest the implementation must publish.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedManifest {
    /// File under `<id>/expected/`, JSON with `${registry}` and `${namespace}` placeholders.
    pub file: String,
    /// Repository inside the case namespace (default: the app repository).
    #[serde(default)]
    pub repository: Option<String>,
    /// Tags that must point at the manifest; empty for an artifact published by digest only.
    #[serde(default)]
    pub tags: Vec<String>,
    /// The literal digest, for manifests whose bytes do not depend on registry or namespace.
    #[serde(default)]
    pub digest: Option<String>,
}

/// Why the cases cannot be loaded.
#[derive(Debug, thiserror::Error)]
pub enum CaseError {
    #[error("cannot read the cases directory {path}: {source}")]
    DirUnreadable { path: PathBuf, source: std::io::Error },
    #[error("cannot read case file {path}: {source}")]
    Unreadable { path: PathBuf, source: std::io::Error },
    #[error("case file {path} is invalid: {message}")]
    Invalid { path: PathBuf, message: String },
}

impl Case {
    /// `expected/` beside the case file.
    pub fn expected_dir(&self, suite: &SuiteDir) -> PathBuf {
        suite.cases_dir().join(&self.id).join("expected")
    }

    /// The fixture's `layers/` tree.
    pub fn layers_source(&self, suite: &SuiteDir, fixture: &str) -> PathBuf {
        suite.fixtures_dir().join(fixture).join("layers")
    }

    /// Every fixture the case uses: its own, the concurrent ones, the prior publishes'.
    pub fn fixtures(&self) -> BTreeSet<&str> {
        let mut all: BTreeSet<&str> = BTreeSet::from([self.fixture.as_str()]);
        all.extend(self.concurrent.iter().map(String::as_str));
        all.extend(self.setup.publish.iter().filter_map(|p| p.fixture.as_deref()));
        all
    }

    /// A repository inside the namespace, defaulting to the app repository.
    pub fn repository<'a>(&'a self, given: Option<&'a str>) -> &'a str {
        given.unwrap_or(&self.build.repository)
    }

    /// Checks what serde cannot: the ID, rule IDs, tags, and that files the case names exist.
    fn check(&self, path: &Path, suite: &SuiteDir) -> Vec<String> {
        let mut problems = Vec::new();
        let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
        if self.id != stem {
            problems.push(format!("id `{}` differs from the file name `{stem}.toml`", self.id));
        }
        if !is_case_id(&self.id) {
            problems.push(format!("id `{}` must be lowercase letters and digits joined by single `-`", self.id));
        }
        let expected_rules = match &self.expect {
            Expect::Rejected { rules, .. } => rules.as_slice(),
            Expect::Published { .. } => &[],
        };
        if let Expect::Rejected { error_files, error_tags, error_sources, .. } = &self.expect {
            if error_files.is_empty() && error_tags.is_empty() && error_sources.is_empty() {
                problems.push(
                    "a rejected case must say what its error names: set `error_files`, `error_tags` or `error_sources` in [expect]"
                        .to_string(),
                );
            }
            for file in error_files {
                if Path::new(file).is_absolute() || file.split('/').any(|c| c.is_empty() || c == "." || c == "..") {
                    problems.push(format!("error_files entry `{file}` must be a plain path relative to the layers directory"));
                }
            }
        } else if self.twin.is_some() || self.twin_waiver.is_some() {
            problems.push("`twin` and `twin_waiver` belong to rejected cases".to_string());
        }
        for rule in self.rules.iter().chain(expected_rules) {
            if !is_rule_id(rule) {
                problems.push(format!("`{rule}` is not a rule ID like R-TAG-1"));
            }
        }
        if self.rules.is_empty() {
            problems.push("`rules` is empty: name the spec rules the case checks".to_string());
        }
        if let Some(auth) = &self.auth {
            if auth.auths == Some(Given::Malformed) || auth.cred_helper == Some(Given::Malformed) {
                problems.push("[auth] `malformed` is only for `registry_auth`".to_string());
            }
            if !self.concurrent.is_empty() || !self.setup.publish.is_empty() {
                problems.push("[auth] cases publish once: no `concurrent` fixtures or `[[setup.publish]]`".to_string());
            }
        }
        if let Some(d) = &self.build.digest {
            if d.parse::<cnb_artifacts_core::reference::Digest>().is_err() {
                problems.push(format!("[build] digest `{d}` is not a sha256 digest"));
            }
        }
        if self.build.tags.iter().any(|t| cnb_artifacts_core::reference::validate_tag(t).is_err()) {
            problems.push(format!("[build] tags {:?} holds an invalid tag", self.build.tags));
        }
        for fixture in self.fixtures() {
            if !self.layers_source(suite, fixture).is_dir() {
                problems.push(format!("fixture `{fixture}` has no directory {}", self.layers_source(suite, fixture).display()));
            }
        }
        if let Expect::Published { manifests, .. } = &self.expect {
            for m in manifests {
                let file = self.expected_dir(suite).join(&m.file);
                if !file.is_file() {
                    problems.push(format!("expected manifest {} does not exist", file.display()));
                }
                if let Some(d) = &m.digest {
                    if d.parse::<cnb_artifacts_core::reference::Digest>().is_err() {
                        problems.push(format!("`{d}` is not a sha256 digest"));
                    }
                }
            }
        }
        problems
    }
}

/// Each `twin` must name a published case of the suite; `(file name, problem)`.
fn twin_problems(cases: &[Case]) -> Vec<(String, String)> {
    cases
        .iter()
        .filter_map(|c| {
            let twin = c.twin.as_deref()?;
            let published = cases.iter().any(|t| t.id == twin && matches!(t.expect, Expect::Published { .. }));
            (!published).then(|| (format!("{}.toml", c.id), format!("twin `{twin}` is not a published case of the suite")))
        })
        .collect()
}

/// `[a-z0-9]+(-[a-z0-9]+)*`: usable as a repository path component.
pub fn is_case_id(id: &str) -> bool {
    !id.is_empty() && id.split('-').all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()))
}

/// `R-<UPPER>-<digits>`, e.g. `R-TPL-3`.
pub fn is_rule_id(rule: &str) -> bool {
    let Some(rest) = rule.strip_prefix("R-") else {
        return false;
    };
    let Some((family, number)) = rest.rsplit_once('-') else {
        return false;
    };
    !family.is_empty() && family.bytes().all(|b| b.is_ascii_uppercase()) && !number.is_empty() && number.bytes().all(|b| b.is_ascii_digit())
}

/// Parses one case file.
pub fn parse(path: &Path, text: &str) -> Result<Case, CaseError> {
    toml::from_str(text).map_err(|e| CaseError::Invalid { path: path.to_path_buf(), message: e.to_string() })
}

/// Reads every `*.toml` under the suite's cases directory, sorted by ID; every broken case is
/// reported (not just the first).
pub fn load_all(suite: &SuiteDir) -> Result<Vec<Case>, Vec<CaseError>> {
    let dir = suite.cases_dir();
    let entries = fs::read_dir(&dir).map_err(|source| vec![CaseError::DirUnreadable { path: dir.clone(), source }])?;
    let mut paths: Vec<PathBuf> =
        entries.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.extension().is_some_and(|x| x == "toml") && p.is_file()).collect();
    paths.sort();
    let mut cases = Vec::new();
    let mut errors = Vec::new();
    for path in paths {
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(source) => {
                errors.push(CaseError::Unreadable { path, source });
                continue;
            }
        };
        match parse(&path, &text) {
            Ok(case) => {
                let problems = case.check(&path, suite);
                if problems.is_empty() {
                    cases.push(case);
                } else {
                    errors.push(CaseError::Invalid { path, message: problems.join("; ") });
                }
            }
            Err(e) => errors.push(e),
        }
    }
    errors.extend(twin_problems(&cases).into_iter().map(|(path, message)| CaseError::Invalid { path: dir.join(path), message }));
    if errors.is_empty() {
        Ok(cases)
    } else {
        Err(errors)
    }
}

/// A rejected case `id` citing `rules`, titled `title`, for unit tests elsewhere.
#[cfg(test)]
pub(crate) fn for_tests(id: &str, rules: &[&str], title: &str) -> Case {
    let rules: Vec<String> = rules.iter().map(|r| format!("\"{r}\"")).collect();
    let text = format!(
        "id = \"{id}\"\ntitle = {}\nrules = [{}]\nfixture = \"f\"\n[expect]\noutcome = \"rejected\"\nrules = []\n",
        toml::Value::String(title.to_string()),
        rules.join(", ")
    );
    toml::from_str(&text).expect("a valid case")
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("rfc-example", true)]
    #[case("coll-1-two-artifacts", true)]
    #[case("a", true)]
    #[case("Upper", false)]
    #[case("double--dash", false)]
    #[case("-lead", false)]
    #[case("under_score", false)]
    #[case("", false)]
    fn case_ids_are_repository_components(#[case] id: &str, #[case] ok: bool) {
        assert_eq!(is_case_id(id), ok, "{id}");
    }

    #[rstest]
    #[case("R-TPL-1", true)]
    #[case("R-PUSH-12", true)]
    #[case("R-tpl-1", false)]
    #[case("R-TPL-", false)]
    #[case("TPL-1", false)]
    #[case("R--1", false)]
    fn rule_ids(#[case] rule: &str, #[case] ok: bool) {
        assert_eq!(is_rule_id(rule), ok, "{rule}");
    }

    #[test]
    fn a_published_case_parses_with_defaults() {
        let text = r#"
            id = "x"
            title = "t"
            rules = ["R-TAG-1"]
            fixture = "f"
            [[expect.manifests]]
            file = "a.json"
            tags = ["wasm"]
            [expect]
            outcome = "published"
        "#;
        // `[[expect.manifests]]` before `[expect]` is valid TOML; both orders must parse.
        let case = parse(Path::new("x.toml"), text).expect("parses");
        assert_eq!(case.build, Build::default());
        assert_eq!(case.build.tags, ["1.0"]);
        let Expect::Published { manifests, fallback_index } = &case.expect else { panic!("published") };
        assert_eq!(*fallback_index, IndexCheck::Exact);
        assert_eq!(manifests[0].tags, ["wasm"]);
        assert_eq!(case.repository(manifests[0].repository.as_deref()), "app");
    }

    #[test]
    fn unknown_keys_are_errors() {
        let text = "id = \"x\"\ntitle = \"t\"\nrules = []\nfixture = \"f\"\ncolour = 1\n[expect]\noutcome = \"rejected\"\nrules = []\n";
        assert!(matches!(parse(Path::new("x.toml"), text), Err(CaseError::Invalid { .. })));
    }

    #[test]
    fn generate_entries_parse_by_kind() {
        let text = r#"
            id = "x"
            title = "t"
            rules = ["R-CONF-4"]
            fixture = "f"
            [[generate]]
            kind = "fifo"
            path = "a/b/pipe"
            [[generate]]
            kind = "file"
            path = "a/b/big"
            size = 10
            [expect]
            outcome = "rejected"
            rules = ["R-CONF-4"]
        "#;
        let case = parse(Path::new("x.toml"), text).expect("parses");
        assert_eq!(case.generate[0], Generate::Fifo { path: "a/b/pipe".into() });
        assert_eq!(
            case.generate[1],
            Generate::File { path: "a/b/big".into(), size: 10, byte: 0, prefix: String::new(), suffix: String::new() }
        );
    }
}
