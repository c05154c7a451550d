//! The in-core hooks that do more than a plain [`super::active`] test: how files are opened, and
//! what the TOML reader does with `file` beside `files` and with a `type` value. Each is the
//! identity unless its mutant is armed; without the `mutants` feature that test is the constant
//! `false` and the compiler reduces each hook to its identity.

use super::{active, Mutant};

/// Whether files are opened by their path as given, following links
/// ([`Mutant::NoConfinement`], [`Mutant::FollowsSymlinksOut`], [`Mutant::NonRegularAsEmpty`],
/// [`Mutant::FollowsSymlinkedDirs`], [`Mutant::AcceptsEscapingIds`]): those mutants read what
/// a link or `..` leads to, so the link-refusing opens of `crate::input_file` would hide them.
pub fn opens_paths_as_given() -> bool {
    [Mutant::NoConfinement, Mutant::FollowsSymlinksOut, Mutant::NonRegularAsEmpty, Mutant::FollowsSymlinkedDirs, Mutant::AcceptsEscapingIds]
        .into_iter()
        .any(active)
}

/// `file` and `files` of one table, merged ([`Mutant::MergesFileAndFiles`]); true when the
/// mutant is armed (the error is then not reported).
pub fn merges_file_and_files(files: &mut Vec<toml::Spanned<String>>) -> bool {
    if !active(Mutant::MergesFileAndFiles) {
        return false;
    }
    let mut seen = std::collections::BTreeSet::new();
    files.retain(|f| seen.insert(f.get_ref().clone()));
    true
}

/// Whether the `type` value `given` names the preset `name` ([`Mutant::CaseInsensitiveType`]).
pub fn preset_name_matches(name: &str, given: &str) -> bool {
    name == given || (active(Mutant::CaseInsensitiveType) && name.eq_ignore_ascii_case(given))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Unarmed (as in every test process), each hook is the identity.
    #[test]
    fn unarmed_hooks_are_the_identity() {
        assert!(!opens_paths_as_given());
        assert!(!preset_name_matches("wasm", "Wasm"));
        let mut files = vec![toml::Spanned::new(0..1, "a".to_string()), toml::Spanned::new(2..3, "a".to_string())];
        assert!(!merges_file_and_files(&mut files));
        assert_eq!(files.len(), 2);
    }
}
