//! A rejection counts only for the right reason: the implementation's output must name what a
//! correct error names (R-ERR-1). A rejected case lists, in `[expect]`, the layer TOML files
//! (`error_files`, relative to the layers directory), the tags (`error_tags`) and the
//! credential sources (`error_sources`, such as `CNB_REGISTRY_AUTH`, R-AUTH-2) its error is
//! about; [`missing`] says which of them an invocation's output does not name.
//!
//! The matching rule (written for implementers in `docs/conformance.md`, "What a rejection must
//! name"): the runner searches standard output and standard error, each on its own. A file
//! `F` is named when `F`, `./F` or `<CNB_LAYERS_DIR>/F` occurs as a whole path: the character
//! before it is not a letter, digit, `_`, `-`, `.` or `/`, and the character after it is not a
//! letter, digit, `_`, `-` or `/`, nor a `.` followed by a letter or digit. A tag `T` is named
//! when `T` occurs with none of a letter, digit, `_`, `-`, `.`, `/`, `#` or `@` before it, and
//! after it none of a letter, digit, `_`, `-`, `/`, `#` or `@`, nor a `.` followed by one of
//! those or a `.`. A credential source is named like a tag. Letter case matters. Rule IDs (`R-COLL-1`) are never required.

use std::path::Path;

use super::ending;
use super::implementation::{Exit, Invocation};
use super::outcome::Finding;

/// What a rejection's output must name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Named<'a> {
    /// A layer TOML file, relative to the layers directory, `/`-separated.
    File(&'a str),
    Tag(&'a str),
    /// A credential source: an environment variable such as `CNB_REGISTRY_AUTH`.
    Source(&'a str),
}

impl std::fmt::Display for Named<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Named::File(path) => write!(f, "the file {path}"),
            Named::Tag(tag) => write!(f, "the tag {tag}"),
            Named::Source(source) => write!(f, "the credential source {source}"),
        }
    }
}

/// The entries of `wanted` that neither `stdout` nor `stderr` names; `layers_dir` is the
/// `CNB_LAYERS_DIR` the invocation was given.
pub fn missing<'a>(wanted: &[Named<'a>], layers_dir: &Path, stdout: &str, stderr: &str) -> Vec<Named<'a>> {
    wanted.iter().filter(|w| !names(w, layers_dir, stdout) && !names(w, layers_dir, stderr)).copied().collect()
}

/// A finding per invocation that was rejected cleanly (non-zero, no crash, no timeout) but
/// whose output does not name everything in `wanted`: "rejected, but the output does not
/// name …". Invocations come with the layers directory each was given.
pub fn findings<'a>(wanted: &[Named<'_>], invocations: impl Iterator<Item = (&'a Invocation, &'a Path)>) -> Vec<Finding> {
    invocations
        .filter(|(inv, _)| matches!(inv.exit, Exit::Code(c) if c != 0) && ending::crash(inv).is_none())
        .filter_map(|(inv, layers)| {
            let absent = missing(wanted, layers, &inv.stdout, &inv.stderr);
            (!absent.is_empty()).then(|| {
                let list: Vec<String> = absent.iter().map(Named::to_string).collect();
                Finding::new("error-names", format!("rejected, but the output does not name {}", list.join(", nor ")))
                    .expected_found(wanted.iter().map(Named::to_string).collect::<Vec<_>>().join("; "), "see stdout and stderr below")
            })
        })
        .collect()
}

fn names(wanted: &Named<'_>, layers_dir: &Path, output: &str) -> bool {
    match wanted {
        Named::File(rel) => {
            let mut forms = vec![rel.to_string(), format!("./{rel}"), format!("{}/{rel}", layers_dir.display())];
            if let Ok(canonical) = layers_dir.canonicalize() {
                forms.push(format!("{}/{rel}", canonical.display()));
            }
            forms.iter().any(|form| occurs(output, form, is_path_char, |b| is_path_char(b) && b != b'.'))
        }
        Named::Tag(word) | Named::Source(word) => occurs(output, word, joins_tag, |b| joins_tag(b) && b != b'.'),
    }
}

fn is_path_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'/')
}

/// A tag character, or one that makes the word part of a path or reference other than as its
/// tag (`examples/wasm/wasm#0` does not name the tag `wasm`).
fn joins_tag(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'/' | b'#' | b'@')
}

/// `needle` occurs in `hay` with no `joins_before` byte before it and, after it, no
/// `joins_after` byte nor a `.` followed by a byte that `joins_after` accepts or is a `.`.
fn occurs(hay: &str, needle: &str, joins_before: fn(u8) -> bool, joins_after: impl Fn(u8) -> bool) -> bool {
    let bytes = hay.as_bytes();
    hay.match_indices(needle).any(|(at, _)| {
        let before_ok = at == 0 || !joins_before(bytes[at - 1]);
        let end = at + needle.len();
        let after_ok = match (bytes.get(end), bytes.get(end + 1)) {
            (None, _) => true,
            (Some(b'.'), Some(&next)) => !(joins_after(next) || next == b'.'),
            (Some(&b), _) => !joins_after(b),
        };
        before_ok && after_ok
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    const LAYERS: &str = "/tmp/run/case/main/layers";

    #[rstest]
    #[case::relative("error[R-COLL-1]: examples_wasm/one.toml:3:7: collision", true)]
    #[case::absolute("error: /tmp/run/case/main/layers/examples_wasm/one.toml:3:7: collision", true)]
    #[case::dot_slash("error: ./examples_wasm/one.toml: bad", true)]
    #[case::quoted("error: in `examples_wasm/one.toml`, line 3", true)]
    #[case::sentence_end("error: bad tag in examples_wasm/one.toml.", true)]
    #[case::other_absolute_dir("error: /elsewhere/examples_wasm/one.toml:3:7", false)]
    #[case::longer_name("error: examples_wasm/one.toml.bak:3:7", false)]
    #[case::prefixed_dir("error: my_examples_wasm/one.toml:3:7", false)]
    #[case::basename_only("error: one.toml:3:7", false)]
    #[case::other_file("error: examples_wasm/two.toml:3:7", false)]
    #[case::generic("error: not implemented", false)]
    fn files_are_named_as_whole_paths(#[case] output: &str, #[case] named: bool) {
        let wanted = [Named::File("examples_wasm/one.toml")];
        assert_eq!(missing(&wanted, Path::new(LAYERS), "", output).is_empty(), named, "{output}");
        assert_eq!(missing(&wanted, Path::new(LAYERS), output, "").is_empty(), named, "stdout: {output}");
    }

    #[rstest]
    #[case::reference("error: registry/case/app:wasm (wanted by examples/wasm) holds an image", true)]
    #[case::quoted("tag `wasm` is taken", true)]
    #[case::sentence_end("tag wasm.", true)]
    #[case::longer("tag wasm-1 is taken", false)]
    #[case::suffix("tag mywasm is taken", false)]
    #[case::dotted("tag wasm.1 is taken", false)]
    #[case::path_component("wanted by examples/wasm/wasm#0", false)]
    #[case::digest_reference("app@wasm", false)]
    fn tags_are_named_as_whole_words(#[case] output: &str, #[case] named: bool) {
        assert_eq!(missing(&[Named::Tag("wasm")], Path::new(LAYERS), "", output).is_empty(), named, "{output}");
    }

    #[rstest]
    #[case::quoted("error: `CNB_REGISTRY_AUTH` entry `127.0.0.1:5000` is not `Basic …`", true)]
    #[case::plain("CNB_REGISTRY_AUTH is not a JSON object", true)]
    #[case::longer("CNB_REGISTRY_AUTH_FILE is unset", false)]
    #[case::absent("error: bad credentials", false)]
    fn sources_are_named_as_whole_words(#[case] output: &str, #[case] named: bool) {
        assert_eq!(missing(&[Named::Source("CNB_REGISTRY_AUTH")], Path::new(LAYERS), output, "").is_empty(), named, "{output}");
    }

    #[test]
    fn every_missing_name_is_reported() {
        let wanted = [Named::File("a/one.toml"), Named::File("a/two.toml"), Named::Tag("shared")];
        let found = missing(&wanted, Path::new(LAYERS), "", "a/two.toml:3:7: shared");
        assert_eq!(found, [Named::File("a/one.toml")]);
        assert_eq!(found[0].to_string(), "the file a/one.toml");
    }
}
