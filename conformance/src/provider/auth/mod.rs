//! Registries that require credentials, for the cases of R-AUTH-1, R-AUTH-2 and R-AUTH-4:
//! CNCF Distribution with `auth: htpasswd` ([`AuthKind::Basic`]) and with `auth: token` behind
//! a token service this module runs itself ([`AuthKind::Token`], [`token`]).
//!
//! Each is a [`Variant`] of the run's anonymous registry, started by the same provider
//! (container or process), that serves the **same storage**: the implementation publishes
//! through the authenticated one, and the runner seeds, sets up and verifies through the
//! anonymous one, so its own reads need no credentials. Both accept one [`Account`], a user
//! with a password made for the run (with `"` and `\` in it, so that its JSON-escaped form
//! differs from it). Dropping an [`AuthRegistry`] removes its registry, then stops its token
//! service; drop it before the registry whose storage it serves.

pub mod token;

use serde::{Deserialize, Serialize};

use super::{Provider, ProviderError, RunningRegistry, Variant};
use token::TokenService;

/// How a registry asks for credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthKind {
    /// HTTP Basic, checked against an htpasswd file (bcrypt).
    Basic,
    /// Bearer tokens from the suite's token service ([`token`]).
    Token,
}

impl std::fmt::Display for AuthKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            AuthKind::Basic => "basic",
            AuthKind::Token => "token",
        })
    }
}

/// The one account the authenticated registries accept.
#[derive(Clone, PartialEq, Eq)]
pub struct Account {
    pub user: String,
    pub password: String,
}

impl std::fmt::Debug for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Account").field("user", &self.user).field("password", &"<redacted>").finish()
    }
}

impl Account {
    /// The account of a run: user `cnb-conformance`, a fresh random password.
    pub fn generate() -> Account {
        Account { user: "cnb-conformance".to_string(), password: format!("pw\"{:016x}\\{:08x}", fastrand::u64(..), fastrand::u32(..)) }
    }

    /// The same user with another fresh password, which the registries refuse.
    pub fn wrong(&self) -> Account {
        Account { user: self.user.clone(), password: format!("wrong\"{:016x}", fastrand::u64(..)) }
    }

    /// `user:password` in standard base64, as in `Basic` headers and Docker config `auth`.
    pub fn basic(&self) -> String {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", self.user, self.password))
    }
}

/// An authenticated registry of a run.
#[derive(Debug)]
pub struct AuthRegistry {
    pub kind: AuthKind,
    /// Declared before `token`: the registry goes first when dropped.
    pub registry: RunningRegistry,
    token: Option<TokenService>,
}

/// htpasswd's realm, named in the registry's `Basic` challenge.
const BASIC_REALM: &str = "cnb-conformance";

/// Starts a registry of `kind` with `provider` that serves the storage of `anonymous` and
/// accepts `account`.
pub async fn start(
    provider: &Provider,
    kind: AuthKind,
    anonymous: &RunningRegistry,
    account: &Account,
) -> Result<AuthRegistry, ProviderError> {
    let storage_of = anonymous.storage();
    if storage_of.is_none() {
        return Err(ProviderError::AuthRegistry { kind, reason: "the registry is not one the runner started".to_string() });
    }
    let env = |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<Vec<_>>();
    let (variant, token) = match kind {
        AuthKind::Basic => {
            let hash = bcrypt::hash(&account.password, 4)
                .map_err(|e| ProviderError::AuthRegistry { kind, reason: format!("cannot hash the password: {e}") })?;
            let variant = Variant {
                env: env(&[
                    ("REGISTRY_AUTH", "htpasswd"),
                    ("REGISTRY_AUTH_HTPASSWD_REALM", BASIC_REALM),
                    ("REGISTRY_AUTH_HTPASSWD_PATH", "{files}/htpasswd"),
                ]),
                files: vec![("htpasswd".to_string(), format!("{}:{hash}\n", account.user).into_bytes())],
                storage_of,
            };
            (variant, None)
        }
        AuthKind::Token => {
            let service = TokenService::start(account).await.map_err(|e| ProviderError::AuthRegistry { kind, reason: e.to_string() })?;
            let variant = Variant {
                env: env(&[
                    ("REGISTRY_AUTH", "token"),
                    ("REGISTRY_AUTH_TOKEN_REALM", &service.realm),
                    ("REGISTRY_AUTH_TOKEN_SERVICE", token::SERVICE),
                    ("REGISTRY_AUTH_TOKEN_ISSUER", token::ISSUER),
                    ("REGISTRY_AUTH_TOKEN_ROOTCERTBUNDLE", "{files}/token-ca.pem"),
                ]),
                files: vec![("token-ca.pem".to_string(), service.certificate_pem.clone().into_bytes())],
                storage_of,
            };
            (variant, Some(service))
        }
    };
    let registry = super::start_variant(provider, &variant).await?;
    Ok(AuthRegistry { kind, registry, token })
}

impl AuthRegistry {
    /// The tokens the token service issued so far (none for basic auth).
    pub fn issued_tokens(&self) -> Vec<String> {
        self.token.as_ref().map(TokenService::issued).unwrap_or_default()
    }
}
