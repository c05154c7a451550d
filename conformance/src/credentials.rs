//! What an implementation is handed for a case with `[auth]` (`docs/conformance.md`,
//! "Credentials"): the three credential sources of R-AUTH-1 and R-AUTH-4, each holding the
//! valid account, a wrong password or a malformed value as the case says.
//!
//! - `CNB_REGISTRY_AUTH`: `{"<host:port>": "Basic <base64 of user:password>"}`, or, malformed,
//!   `Basic user:password` in clear (R-AUTH-1 says that is an error, never a fall-through);
//! - `DOCKER_CONFIG`: a directory of the case with a `config.json` whose `auths."<host:port>"`
//!   has an `auth` member and whose `credHelpers."<host:port>"` is `cnb-conformance`;
//! - the helper `docker-credential-cnb-conformance`, a shell script in a directory put first on
//!   `PATH`, which answers `get` with `{"Username": …, "Secret": …}` for any server.
//!
//! The runner's own `DOCKER_CONFIG` for anonymous cases is here too. No credential is ever
//! printed: the recorded environment shows `CNB_REGISTRY_AUTH` redacted.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::case::{Auth, Given};
use crate::provider::auth::{self, Account, AuthKind, AuthRegistry};
use crate::provider::{Provider, ProviderError, RunningRegistry};
use crate::secrecy::{self, Secret};

/// The name of the suite's credential helper (`docker-credential-<name>`).
pub const HELPER_NAME: &str = "cnb-conformance";

/// What the recorded environment shows instead of `CNB_REGISTRY_AUTH`'s value.
pub const REDACTED: &str = "<credentials of the run, not shown (R-AUTH-2)>";

/// The credentials of a run: the account the registries accept and a wrong one.
#[derive(Debug, Clone)]
pub struct RunAccounts {
    pub valid: Account,
    pub wrong: Account,
}

impl RunAccounts {
    pub fn generate() -> RunAccounts {
        let valid = Account::generate();
        let wrong = valid.wrong();
        RunAccounts { valid, wrong }
    }

    fn pick(&self, given: Given) -> &Account {
        match given {
            Given::Valid => &self.valid,
            Given::Wrong | Given::Malformed => &self.wrong,
        }
    }
}

/// The authenticated registries of a run, started only for the kinds its cases need, and the
/// accounts they accept.
#[derive(Debug)]
pub struct AuthRegistries {
    pub accounts: RunAccounts,
    registries: BTreeMap<AuthKind, AuthRegistry>,
}

impl AuthRegistries {
    /// Starts a registry of each kind in `kinds` beside `anonymous`, sharing its storage. With
    /// an external registry none is started (its cases are skipped).
    pub async fn start(
        provider: &Provider,
        anonymous: &RunningRegistry,
        kinds: impl IntoIterator<Item = AuthKind>,
    ) -> Result<AuthRegistries, ProviderError> {
        let accounts = RunAccounts::generate();
        let mut registries = BTreeMap::new();
        if !matches!(provider, Provider::External(_)) {
            for kind in kinds.into_iter().collect::<std::collections::BTreeSet<_>>() {
                registries.insert(kind, auth::start(provider, kind, anonymous, &accounts.valid).await?);
            }
        }
        Ok(AuthRegistries { accounts, registries })
    }

    /// The `host:port` of the registry of `kind`, when one was started.
    pub fn host(&self, kind: AuthKind) -> Option<&str> {
        self.registries.get(&kind).map(|r| r.registry.host.as_str())
    }

    /// Every credential handed out so far: both passwords in all their forms and every token
    /// the token service issued.
    pub fn secrets(&self) -> Vec<Secret> {
        let mut secrets: Vec<Secret> =
            [("the password of the valid account", &self.accounts.valid), ("the wrong password", &self.accounts.wrong)]
                .into_iter()
                .map(|(what, account)| Secret { what: what.to_string(), forms: secrecy::forms(account) })
                .collect();
        for (i, token) in self.registries.values().flat_map(AuthRegistry::issued_tokens).enumerate() {
            secrets.push(Secret { what: format!("token {} the token service issued", i + 1), forms: vec![("as is", token)] });
        }
        secrets
    }
}

/// The credential sources of one invocation.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Handover {
    pub docker_config: PathBuf,
    /// The value of `CNB_REGISTRY_AUTH`, when set.
    pub registry_auth: Option<String>,
    /// A directory to put first on `PATH` (the credential helper's).
    pub path_first: Option<PathBuf>,
}

/// Writes the sources `auth` asks for, for the registry `host`, under `dir`.
pub fn hand_over(auth: &Auth, host: &str, accounts: &RunAccounts, dir: &Path) -> std::io::Result<Handover> {
    let docker_config = dir.join("docker-config");
    std::fs::create_dir_all(&docker_config)?;
    let mut config = serde_json::json!({ "auths": {} });
    if let Some(given) = auth.auths {
        config["auths"][host] = serde_json::json!({ "auth": accounts.pick(given).basic() });
    }
    let mut path_first = None;
    if let Some(given) = auth.cred_helper {
        config["credHelpers"] = serde_json::json!({ host: HELPER_NAME });
        let bin = dir.join("credential-helper");
        write_helper(&bin, accounts.pick(given))?;
        path_first = Some(bin);
    }
    std::fs::write(docker_config.join("config.json"), format!("{config:#}\n"))?;
    let registry_auth = auth.registry_auth.map(|given| {
        let account = accounts.pick(given);
        let header = match given {
            Given::Malformed => format!("Basic {}:{}", account.user, account.password),
            Given::Valid | Given::Wrong => format!("Basic {}", account.basic()),
        };
        serde_json::json!({ host: header }).to_string()
    });
    Ok(Handover { docker_config, registry_auth, path_first })
}

/// `docker-credential-cnb-conformance` in `bin`, answering with `account`.
fn write_helper(bin: &Path, account: &Account) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(bin)?;
    let answer = serde_json::json!({ "ServerURL": "", "Username": account.user, "Secret": account.password });
    std::fs::write(bin.join("answer.json"), format!("{answer}\n"))?;
    let script = bin.join(format!("docker-credential-{HELPER_NAME}"));
    std::fs::write(
        &script,
        "#!/bin/sh\n\
         # The conformance suite's credential helper: answers `get` for any server.\n\
         [ \"${1:-}\" = get ] || { echo \"docker-credential-cnb-conformance: only get is supported\" >&2; exit 1; }\n\
         cat >/dev/null\n\
         exec cat \"$(dirname \"$0\")/answer.json\"\n",
    )?;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))
}

/// `DOCKER_CONFIG` for an anonymous registry the runner started: a `config.json` with no
/// credentials.
pub fn anonymous_docker_config(work: &Path) -> std::io::Result<PathBuf> {
    let dir = work.join("docker-config");
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("config.json"), "{\"auths\":{}}\n")?;
    Ok(dir)
}

/// `DOCKER_CONFIG` for an external registry: the user's own (`$DOCKER_CONFIG` or `~/.docker`).
pub fn external_docker_config() -> PathBuf {
    std::env::var_os("DOCKER_CONFIG")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker")))
        .unwrap_or_else(|| PathBuf::from(".docker"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::auth::AuthKind;

    fn auth(registry_auth: Option<Given>, auths: Option<Given>, cred_helper: Option<Given>) -> Auth {
        Auth { registry: AuthKind::Basic, registry_auth, auths, cred_helper }
    }

    #[test]
    fn each_source_holds_what_the_case_says() {
        let dir = tempfile::tempdir().unwrap();
        let accounts = RunAccounts::generate();
        let h =
            hand_over(&auth(Some(Given::Valid), Some(Given::Wrong), Some(Given::Valid)), "127.0.0.1:5001", &accounts, dir.path()).unwrap();
        let env: serde_json::Value = serde_json::from_str(h.registry_auth.as_deref().unwrap()).unwrap();
        assert_eq!(env["127.0.0.1:5001"], format!("Basic {}", accounts.valid.basic()));
        let config: serde_json::Value = serde_json::from_slice(&std::fs::read(h.docker_config.join("config.json")).unwrap()).unwrap();
        assert_eq!(config["auths"]["127.0.0.1:5001"]["auth"], accounts.wrong.basic());
        assert_eq!(config["credHelpers"]["127.0.0.1:5001"], HELPER_NAME);
        let helper = h.path_first.unwrap().join("docker-credential-cnb-conformance");
        let out = std::process::Command::new(&helper).arg("get").stdin(std::process::Stdio::null()).output().unwrap();
        let answer: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(answer["Secret"], accounts.valid.password.as_str());
    }

    #[test]
    fn a_malformed_registry_auth_is_clear_text_and_absent_sources_stay_absent() {
        let dir = tempfile::tempdir().unwrap();
        let accounts = RunAccounts::generate();
        let h = hand_over(&auth(Some(Given::Malformed), None, None), "h:1", &accounts, dir.path()).unwrap();
        let env: serde_json::Value = serde_json::from_str(h.registry_auth.as_deref().unwrap()).unwrap();
        assert_eq!(env["h:1"], format!("Basic {}:{}", accounts.wrong.user, accounts.wrong.password));
        assert!(h.path_first.is_none());
        let config: serde_json::Value = serde_json::from_slice(&std::fs::read(h.docker_config.join("config.json")).unwrap()).unwrap();
        assert_eq!(config, serde_json::json!({ "auths": {} }));
    }
}
