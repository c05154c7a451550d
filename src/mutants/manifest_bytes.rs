//! Mutations of a manifest's exact bytes ([`cnb_artifacts_core::plan::Seams::manifest_bytes`]),
//! before they are hashed: the ways to get RFC 8785 or the `subject` wrong (R-MAN-2, R-MAN-6).

use cnb_artifacts_core::canonical;
use cnb_artifacts_core::mutants::{active, Mutant};
use serde_json::Value;

/// The manifest bytes ([`Mutant::NonCanonicalJson`], [`Mutant::NoSubject`],
/// [`Mutant::SortsKeysByUtf8`], [`Mutant::UpperCaseEscapes`]).
pub fn manifest_bytes(bytes: Vec<u8>) -> Vec<u8> {
    if active(Mutant::SortsKeysByUtf8) {
        return serde_json::from_slice::<Value>(&bytes).ok().and_then(|v| utf8_ordered(&v).ok()).unwrap_or(bytes);
    }
    if active(Mutant::UpperCaseEscapes) {
        return upper_case_escapes(&bytes);
    }
    let pretty = active(Mutant::NonCanonicalJson);
    let no_subject = active(Mutant::NoSubject);
    if !pretty && !no_subject {
        return bytes;
    }
    let Ok(mut value) = serde_json::from_slice::<Value>(&bytes) else {
        return bytes;
    };
    if no_subject {
        if let Some(object) = value.as_object_mut() {
            object.remove("subject");
        }
    }
    let rewritten = if pretty { serde_json::to_vec_pretty(&value).ok() } else { canonical::to_vec(&value).ok() };
    rewritten.unwrap_or(bytes)
}

/// Compact JSON with object members in the order of their names' UTF-8 bytes.
fn utf8_ordered(value: &Value) -> Result<Vec<u8>, serde_json::Error> {
    let mut out = Vec::new();
    match value {
        Value::Object(map) => {
            let mut members: Vec<(&String, &Value)> = map.iter().collect();
            members.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push(b'{');
            for (i, (k, v)) in members.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend(canonical::to_vec(k).map_err(|canonical::CanonicalError::Unrepresentable(e)| e)?);
                out.push(b':');
                out.extend(utf8_ordered(v)?);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend(utf8_ordered(v)?);
            }
            out.push(b']');
        }
        other => out.extend(serde_json::to_vec(other)?),
    }
    Ok(out)
}

/// `bytes` with U+007F escaped as `\u007F` and every `\u00xx` escape in upper-case hex.
fn upper_case_escapes(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == 0x7f {
            out.extend_from_slice(b"\\u007F");
            i += 1;
        } else if bytes[i..].starts_with(b"\\u00") && i + 6 <= bytes.len() {
            out.extend_from_slice(b"\\u00");
            out.extend(bytes[i + 4..i + 6].iter().map(u8::to_ascii_uppercase));
            i += 6;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Unarmed (as in every test process), the bytes are kept.
    #[test]
    fn unarmed_bytes_are_kept() {
        assert_eq!(manifest_bytes(b"{\"a\":1}".to_vec()), b"{\"a\":1}");
    }

    #[test]
    fn upper_case_escapes_rewrites_escapes_and_del() {
        assert_eq!(upper_case_escapes(b"\"\\u001f\x7f\""), b"\"\\u001F\\u007F\"");
    }
}
