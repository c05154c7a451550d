//! Proptest strategies for the inputs the core reads, shared by its own property tests and by
//! the conformance suite's differential runs (`cnb-artifacts conformance diff`), which generate
//! whole builds from them. Compiled only for the core's tests and with the cargo feature
//! `strategies` (which pulls in proptest), so the core's normal dependency tree has no proptest.
//!
//! No spec rules live here; the generated values are chosen to exercise R-TPL-1..4 (templates
//! with every variable and escape), R-LABEL-1 (labels with non-BMP, control and DEL characters)
//! and R-REPO-1/R-TAG-1 (Helm chart names and versions the derived names come from).

use proptest::prelude::*;

use crate::template::{escape, Var, Vars};

/// A piece of a generated template: literal text (already unescaped) or a variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// Text that renders as itself once escaped with [`escape`].
    Literal(String),
    /// `${name}` of one variable.
    Var(Var),
}

/// A template piece: literal text rich in `$`, `{` and `}` (so escapes are exercised), or a
/// variable of the closed set.
pub fn template_piece() -> impl Strategy<Value = Piece> {
    prop_oneof!["([$}{a-z. é]|\\$\\{){0,8}".prop_map(Piece::Literal), proptest::sample::select(Var::ALL.to_vec()).prop_map(Piece::Var),]
}

/// Template text for `pieces` and the text it renders to when each variable renders as
/// `value(var)`: literals escaped, two literals kept apart where they would meet as `$` + `{`.
pub fn template_text(pieces: &[Piece], value: impl Fn(Var) -> String) -> (String, String) {
    let mut text = String::new();
    let mut rendered = String::new();
    for p in pieces {
        match p {
            Piece::Literal(l) => {
                // Escaping applies to a whole string: `$` then `{` from two literals would be
                // an unescaped `${`.
                if text.ends_with('$') && l.starts_with('{') {
                    text.push(' ');
                    rendered.push(' ');
                }
                text.push_str(&escape(l));
                rendered.push_str(l);
            }
            Piece::Var(v) => {
                if text.ends_with('$') {
                    text.push(' ');
                    rendered.push(' ');
                }
                text.push_str(&format!("${{{}}}", v.name()));
                rendered.push_str(&value(*v));
            }
        }
    }
    (text, rendered)
}

/// Values for rendering, each known or not, rich in template syntax.
pub fn vars() -> impl Strategy<Value = Vars> {
    let v = || proptest::option::of("[$}{a-z0-9./:]{0,6}");
    (v(), v(), v(), v(), v(), v(), v(), v()).prop_map(|(a, b, c, d, e, f, g, h)| Vars {
        build_tag: a,
        build_image: b,
        build_repository: c,
        build_registry: d,
        build_digest: e,
        buildpack_id: f,
        buildpack_version: g,
        layer_name: h,
    })
}

/// Label text: plain ASCII mixed with characters outside the Basic Multilingual Plane, C0
/// control characters, DEL and the JSON escapes' characters (`"`, `\`).
pub fn label_text() -> impl Strategy<Value = String> {
    let ch = prop_oneof![
        4 => proptest::char::range('a', 'z'),
        1 => proptest::sample::select(vec!['\u{1F600}', '\u{10348}', '\u{1D11E}', '\u{10FFFF}']),
        1 => proptest::sample::select(vec!['\u{0}', '\u{1}', '\t', '\n', '\u{1B}', '\u{1F}']),
        1 => Just('\u{7F}'),
        1 => proptest::sample::select(vec!['"', '\\', '/', 'é', '\u{2028}']),
    ];
    proptest::collection::vec(ch, 0..8).prop_map(|chars| chars.into_iter().collect())
}

/// A Helm chart name as a Chart.yaml may say it: mostly in the repository grammar, sometimes
/// not (upper case, `+`, `/`), sometimes far too long.
pub fn chart_name() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9._/+-]{1,40}|[a-z]{200,260}"
}

/// A Helm chart version as a Chart.yaml may say it: SemVer-ish with `+` build metadata, or
/// characters and lengths the tag grammar refuses.
pub fn chart_version() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9._/+-]{1,20}|[0-9]{120,140}"
}

#[cfg(test)]
mod tests;
