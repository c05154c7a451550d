//! The consumer's side: finding the artifacts whose subject is an app image ([`discover()`]) and
//! downloading the files of one of them ([`pull()`]).
//!
//! A platform that starts from the app image (runwasi, a Helm deployer, a policy engine) asks
//! "which artifacts were built with this image?". The answer is the subject's referrers: the
//! referrers API when the registry answers it, else the fallback tag `sha256-<hex>` that
//! publishers write (R-REF-1, R-REF-2), in the app image's repository and in every other
//! repository the caller names (a Helm chart lives in `<app>/<chart>`, R-PRESET-4, beside its
//! own copy of the subject, R-PUSH-10). Every read is bounded: manifests and listings by the
//! 4 MiB manifest limit (`MAX_BODY` of the registry transport), blobs by the size their
//! descriptor states; every manifest and blob is checked against its digest. Entries published
//! by other tools (ORAS, cosign, …) are listed as foreign and never pulled.

pub mod discover;
pub mod error;
pub mod pull;

pub use discover::{discover, Discovered, DiscoveredFile, Discovery, Filter, ListingSource, Searched};
pub use error::ConsumeError;
pub use pull::{pull, Pulled};

use oci_client::secrets::RegistryAuth;

use crate::publish::client::{make_client_for, TransportOptions};
use crate::publish::registry_http::RegistryHttp;

/// A read-only connection to one registry.
pub struct Consumer {
    registry: String,
    client: oci_client::Client,
    auth: RegistryAuth,
    http: RegistryHttp,
}

impl Consumer {
    /// Connects to `registry` with the credentials of R-AUTH-* (no request is made yet).
    pub async fn connect(registry: &str, opts: &TransportOptions) -> Result<Consumer, ConsumeError> {
        let auth = crate::publish::auth::resolve(registry)
            .map_err(|e| ConsumeError::Connect { registry: registry.to_string(), reason: e.to_string() })?;
        crate::publish::auth::redact::register(&auth);
        let connect =
            |e: crate::publish::client::TransportError| ConsumeError::Connect { registry: registry.to_string(), reason: e.to_string() };
        let client = make_client_for(opts, &[registry]).map_err(connect)?;
        client.store_auth_if_needed(registry, &auth).await;
        let http = RegistryHttp::new(registry, opts, auth.clone()).map_err(connect)?;
        Ok(Consumer { registry: registry.to_string(), client, auth, http })
    }
}

/// `text` with every control, bidi and invisible character escaped, for printing strings a
/// registry sent (R-SEC-3, [`crate::display::controls`]).
pub fn escape(text: &str) -> String {
    crate::display::controls(text)
}
