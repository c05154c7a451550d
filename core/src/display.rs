//! The one way untrusted text reaches an output (docs/security.md, "Output"): file names,
//! labels, tags, references, registry answers, environment values.
//!
//! [`text`] writes a string with every control character (C0, DEL, C1), every bidirectional
//! override or isolate and every other invisible format character escaped visibly, as Rust's
//! `escape_debug` writes them (`\u{1b}`, `\r`, `\u{202e}`), and a backslash as `\\`; quotes
//! stay as they are. So no name can move the cursor, clear the screen, set a terminal title,
//! start a new log line or reorder what is shown. JSON output goes through [`json`]: `serde_json`
//! escapes C0 controls, and [`json`] escapes DEL, C1 and the invisible and bidi characters it
//! leaves raw as `\uXXXX`, so a JSON document on a terminal is as safe as text.
//!
//! A registry's error answer is shown through `publish::error::registry_body`: cut, redacted,
//! then escaped as [`text`].

use std::fmt::{self, Write as _};

/// `s` with every control or invisible character escaped (see the module documentation).
pub fn text(s: &str) -> Text<'_> {
    Text(s)
}

/// The [`fmt::Display`] of [`text`].
#[derive(Debug, Clone, Copy)]
pub struct Text<'a>(&'a str);

impl fmt::Display for Text<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.0.chars() {
            write_char(f, c)?;
        }
        Ok(())
    }
}

/// One character of [`text`].
pub fn write_char(f: &mut impl fmt::Write, c: char) -> fmt::Result {
    match c {
        '\'' | '"' => f.write_char(c),
        _ => write!(f, "{}", c.escape_debug()),
    }
}

/// A line already formatted for output (a log line) with its control and invisible characters
/// escaped as [`text`] does; backslashes are kept, since the values in it went through [`text`]
/// or `display_path` already where they are names.
pub fn controls(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    for c in line.chars() {
        match c {
            '\\' | '\'' | '"' => out.push(c),
            _ => {
                let _ = write!(out, "{}", c.escape_debug());
            }
        }
    }
    out
}

/// JSON text as `serde_json` wrote it, with every character [`text`] would escape that is not
/// escaped yet (DEL, C1, bidi and other invisible characters) written as `\uXXXX` (a surrogate
/// pair above U+FFFF). Still the same JSON: such characters only occur inside strings.
pub fn json(serialized: &str) -> String {
    let mut out = String::with_capacity(serialized.len());
    for c in serialized.chars() {
        let visible = c.is_ascii() && !c.is_ascii_control() || !c.is_ascii() && c.escape_debug().nth(1).is_none();
        if visible || c == '\n' || c == '\t' {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                let _ = write!(out, "\\u{unit:04x}");
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_control_and_bidi_characters_are_escaped_visibly() {
        let hostile = "a\u{1b}[2J\u{7}b\rc\nINFO tagged\u{85}\u{9b}\u{202e}gpj.exe\\";
        assert_eq!(text(hostile).to_string(), "a\\u{1b}[2J\\u{7}b\\rc\\nINFO tagged\\u{85}\\u{9b}\\u{202e}gpj.exe\\\\");
        assert_eq!(text("plain \"quoted\" é").to_string(), "plain \"quoted\" é");
    }

    #[test]
    fn output_json_escapes_what_serde_json_leaves_raw() {
        let value = serde_json::json!({ "k\u{202e}": "a\u{1b}b\u{7f}c\u{9b}d\u{202e}e\u{2066}f é 🦀" });
        let shown = json(&serde_json::to_string_pretty(&value).unwrap());
        assert_eq!(shown, "{\n  \"k\\u202e\": \"a\\u001bb\\u007fc\\u009bd\\u202ee\\u2066f é 🦀\"\n}");
        assert_eq!(serde_json::from_str::<serde_json::Value>(&shown).unwrap(), value);
    }
}
