//! R-AUTH-2 as the runner checks it: no credential the implementation was handed, nor a token
//! the suite's token service issued to it, appears in anything the implementation put out.
//!
//! For a case with `[auth]`, [`findings`] searches every invocation's standard output and
//! standard error, and every regular file under its working directory and its layers
//! directory (the places the contract lets it write; symbolic links are not followed, each
//! file is read up to `MAX_FILE`, 16 MiB), for each secret in each of its [`forms`]: as is,
//! JSON-escaped, base64 of the password alone and of `user:password` (padded or not). A hit
//! is a FAIL that says which secret, in which form and where, without quoting it. [`redact`]
//! then blanks every form in the captured output, so that no report repeats a leak.

use std::path::Path;

use base64::Engine as _;

use crate::implementation::Invocation;
use crate::outcome::Finding;
use crate::provider::auth::Account;

/// Most bytes read of one file.
const MAX_FILE: u64 = 16 * 1024 * 1024;

/// What stands in the captured output where a secret was.
pub const BLANKED: &str = "[credential removed by the runner]";

/// One secret and what to call it in a finding.
#[derive(Debug, Clone)]
pub struct Secret {
    /// e.g. "the password of the valid account"
    pub what: String,
    /// Each form (name, text) to search for.
    pub forms: Vec<(&'static str, String)>,
}

/// The forms of `account`'s password: as is, JSON-escaped, base64 of the password and of
/// `user:password`, each base64 with and without padding.
pub fn forms(account: &Account) -> Vec<(&'static str, String)> {
    let padded = base64::engine::general_purpose::STANDARD;
    let json = serde_json::to_string(&account.password).unwrap_or_default();
    let pair = format!("{}:{}", account.user, account.password);
    let mut forms = vec![
        ("as is", account.password.clone()),
        ("JSON-escaped", json.trim_matches('"').to_string()),
        ("as base64 of user:password", padded.encode(&pair)),
        ("as base64 of user:password", padded.encode(&pair).trim_end_matches('=').to_string()),
        ("as base64", padded.encode(&account.password)),
        ("as base64", padded.encode(&account.password).trim_end_matches('=').to_string()),
    ];
    forms.dedup_by(|a, b| a.1 == b.1);
    forms
}

/// A finding for every secret form that appears in an invocation's output or in a file under
/// its working or layers directory.
pub fn findings(secrets: &[Secret], invocations: &[Invocation]) -> Vec<Finding> {
    let mut found = Vec::new();
    for (n, inv) in invocations.iter().enumerate() {
        let mut places: Vec<(String, Vec<u8>)> = vec![
            ("standard output".to_string(), inv.stdout.clone().into_bytes()),
            ("standard error".to_string(), inv.stderr.clone().into_bytes()),
        ];
        let layers = inv.env.get("CNB_LAYERS_DIR").map(Path::new);
        for dir in std::iter::once(inv.cwd.as_path()).chain(layers) {
            collect_files(dir, &mut places);
        }
        for secret in secrets {
            for (place, bytes) in &places {
                if let Some((form, _)) = secret.forms.iter().find(|(_, text)| contains(bytes, text.as_bytes())) {
                    found.push(Finding::new(
                        "credential-leak",
                        format!("R-AUTH-2: {} appears {form} in the {place} of invocation {}", secret.what, n + 1),
                    ));
                }
            }
        }
    }
    found
}

/// Blanks every form of every secret in the captured output of `invocations`.
pub fn redact(secrets: &[Secret], invocations: &mut [Invocation]) {
    for inv in invocations {
        for (_, text) in secrets.iter().flat_map(|s| &s.forms) {
            if !text.is_empty() {
                inv.stdout = inv.stdout.replace(text.as_str(), BLANKED);
                inv.stderr = inv.stderr.replace(text.as_str(), BLANKED);
            }
        }
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

/// Every regular file under `dir` (links not followed), as `(the file PATH, its first bytes)`.
fn collect_files(dir: &Path, into: &mut Vec<(String, Vec<u8>)>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(meta) = std::fs::symlink_metadata(&path) else { continue };
        if meta.is_dir() {
            collect_files(&path, into);
        } else if meta.is_file() {
            let mut bytes = Vec::new();
            if let Ok(file) = std::fs::File::open(&path) {
                let _ = std::io::Read::read_to_end(&mut std::io::Read::take(file, MAX_FILE), &mut bytes);
            }
            into.push((format!("file {}", path.display()), bytes));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::implementation::Exit;

    fn account() -> Account {
        Account { user: "u".to_string(), password: "p\"w\\1".to_string() }
    }

    fn invocation(stderr: &str, cwd: &Path) -> Invocation {
        Invocation {
            command: "x".into(),
            cwd: cwd.to_path_buf(),
            env: Default::default(),
            exit: Exit::Code(0),
            stdout: String::new(),
            stderr: stderr.to_string(),
            duration_ms: 0,
        }
    }

    #[test]
    fn forms_include_json_escaped_and_base64() {
        let forms: Vec<String> = forms(&account()).into_iter().map(|(_, t)| t).collect();
        assert!(forms.contains(&"p\"w\\1".to_string()));
        assert!(forms.contains(&"p\\\"w\\\\1".to_string()));
        assert!(forms.contains(&base64::engine::general_purpose::STANDARD.encode("u:p\"w\\1")));
    }

    #[test]
    fn a_secret_in_output_or_a_written_file_is_found_and_blanked() {
        let dir = tempfile::tempdir().unwrap();
        let secrets = [Secret { what: "the password".into(), forms: forms(&account()) }];
        let header = format!("Authorization: Basic {}", base64::engine::general_purpose::STANDARD.encode("u:p\"w\\1"));
        let mut invs = vec![invocation(&header, dir.path())];
        let found = findings(&secrets, &invs);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].message.contains("as base64 of user:password in the standard error"), "{}", found[0].message);
        assert!(!found[0].message.contains("p\"w"));
        std::fs::create_dir_all(dir.path().join("logs")).unwrap();
        std::fs::write(dir.path().join("logs/debug.json"), "{\"password\":\"p\\\"w\\\\1\"}").unwrap();
        let found = findings(&secrets, &[invocation("", dir.path())]);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].message.contains("JSON-escaped in the file"), "{}", found[0].message);
        redact(&secrets, &mut invs);
        assert!(invs[0].stderr.ends_with(BLANKED), "{}", invs[0].stderr);
    }

    #[test]
    fn clean_output_has_no_finding() {
        let dir = tempfile::tempdir().unwrap();
        let secrets = [Secret { what: "the password".into(), forms: forms(&account()) }];
        assert!(findings(&secrets, &[invocation("pushed 3 blobs as user u", dir.path())]).is_empty());
    }
}
