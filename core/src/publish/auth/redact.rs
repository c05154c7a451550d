//! Keeping credentials out of every output, even when a registry quotes them back (spec rule
//! R-AUTH-2).
//!
//! Errors and warnings quote registry answers verbatim (R-PUSH-2), and oci-client logs a token
//! server's answer at debug level. A registry or token server that echoes the request's
//! `Authorization` header (some error pages do) would so put the credentials into the output.
//! Two defences, applied at the command line's two sinks — the log writer
//! ([`RedactingStderr`]) and the final error message ([`redact`]):
//!
//! - every credential the publisher uses is [`register`]ed when a registry client is made
//!   (for `Basic`: the password and `user:password` in base64, with and without padding; for
//!   `Bearer`: the token), as is every registry token obtained for raw requests, and each is
//!   replaced by `***`;
//! - any `Basic` or `Bearer` authorization value (a scheme word followed by at least 8 token
//!   characters with a digit or mixed case, so not a word such as `authentication`) is replaced
//!   by `<scheme> ***`, which also covers the tokens oci-client obtains internally and never
//!   hands out.
//!
//! Values shorter than [`MIN_SECRET_LEN`] are not registered: replacing them would garble
//! ordinary text, and they cannot hide in it anyway.

use std::borrow::Cow;
use std::io::Write;
use std::sync::{LazyLock, RwLock};

use base64::Engine as _;
use oci_client::secrets::RegistryAuth;
use regex::Regex;

/// The shortest value treated as a secret.
pub const MIN_SECRET_LEN: usize = 8;

/// The registered secrets, longest first (so that a longer form is replaced before a part of it).
static SECRETS: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// An HTTP authorization value: `Basic` or `Bearer` and a token.
static AUTHORIZATION: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)\b(basic|bearer)(\s+)[A-Za-z0-9._~+/-]{8,}=*").expect("a valid regular expression"));

/// Registers the secrets of `auth` (see the module documentation).
pub fn register(auth: &RegistryAuth) {
    match auth {
        RegistryAuth::Anonymous => {}
        RegistryAuth::Basic(user, password) => {
            let pair = format!("{user}:{password}");
            register_secret(password);
            register_secret(&base64::engine::general_purpose::STANDARD.encode(&pair));
            register_secret(&base64::engine::general_purpose::STANDARD_NO_PAD.encode(&pair));
        }
        RegistryAuth::Bearer(token) => register_secret(token),
    }
}

/// Registers one secret value.
pub fn register_secret(secret: &str) {
    if secret.len() < MIN_SECRET_LEN {
        return;
    }
    let mut secrets = SECRETS.write().unwrap_or_else(|poisoned| poisoned.into_inner());
    if !secrets.iter().any(|s| s == secret) {
        secrets.push(secret.to_string());
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    }
}

/// `text` with every registered secret and every authorization value replaced by `***`.
pub fn redact(text: &str) -> Cow<'_, str> {
    let secrets = SECRETS.read().unwrap_or_else(|poisoned| poisoned.into_inner());
    let mut out = Cow::Borrowed(text);
    for secret in secrets.iter() {
        if out.contains(secret.as_str()) {
            out = Cow::Owned(out.replace(secret.as_str(), "***"));
        }
    }
    if AUTHORIZATION.is_match(&out) {
        let replaced = AUTHORIZATION.replace_all(&out, |c: &regex::Captures<'_>| {
            if looks_random(&c[0][c[1].len() + c[2].len()..]) {
                format!("{}{}***", &c[1], &c[2])
            } else {
                c[0].to_string()
            }
        });
        out = Cow::Owned(replaced.into_owned());
    }
    out
}

/// True for a token rather than a word: it has a digit, or both upper- and lower-case letters.
fn looks_random(token: &str) -> bool {
    token.bytes().any(|b| b.is_ascii_digit())
        || (token.bytes().any(|b| b.is_ascii_uppercase()) && token.bytes().any(|b| b.is_ascii_lowercase()))
}

/// A `tracing_subscriber` writer to standard error that [`redact`]s every log line.
#[derive(Debug, Clone, Copy, Default)]
pub struct RedactingStderr;

/// One log line's writer (see [`RedactingStderr`]).
#[derive(Debug)]
pub struct RedactingWriter(std::io::Stderr);

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for RedactingStderr {
    type Writer = RedactingWriter;
    fn make_writer(&'a self) -> Self::Writer {
        RedactingWriter(std::io::stderr())
    }
}

impl Write for RedactingWriter {
    /// Takes the whole buffer: the formatter writes each event as one buffer, so a secret is
    /// never split between two calls.
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        self.0.write_all(redact(&text).as_bytes())?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case::password("the password is pw-redact-test-1 here", "the password is *** here")]
    #[case::basic_pair("Basic dXM6cHctcmVkYWN0LXRlc3QtMQ==", "Basic ***")]
    #[case::basic_pair_unpadded("x=dXM6cHctcmVkYWN0LXRlc3QtMQ;", "x=***;")]
    #[case::unregistered_bearer("Authorization: Bearer eyJhbGciOi.payload.sig", "Authorization: Bearer ***")]
    #[case::lower_case_scheme("bearer abcdefgh12345", "bearer ***")]
    #[case::challenge_is_kept(r#"Bearer realm="https://auth.example/token""#, r#"Bearer realm="https://auth.example/token""#)]
    #[case::short_word_is_kept("Basic auth failed", "Basic auth failed")]
    #[case::plain_word_is_kept("HTTP Basic authentication failed", "HTTP Basic authentication failed")]
    #[case::plain_text("nothing secret here", "nothing secret here")]
    fn r_auth_2_secrets_and_authorization_values_are_redacted(#[case] text: &str, #[case] expected: &str) {
        register(&RegistryAuth::Basic("us".into(), "pw-redact-test-1".into()));
        assert_eq!(redact(text), expected);
    }

    #[test]
    fn r_auth_2_short_values_are_not_registered() {
        register(&RegistryAuth::Bearer("abc".into()));
        assert_eq!(redact("abc and more"), "abc and more");
    }
}
