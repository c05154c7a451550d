//! The hooks that rewrite a value where a mutation needs it. Each is the identity unless its
//! mutant is armed ([`super::active`]); without the `mutants` feature that test is the constant
//! `false` and the compiler reduces each hook to its identity.

use std::path::{Path, PathBuf};

use super::{active, Mutant};
use crate::plan::confine::{ConfineError, ConfinedFile};
use crate::plan::BuildContext;
use crate::reference::MAX_TAG_LEN;
use crate::template::{RenderError, Segment, Template, TemplateError, Var, Vars};

/// `SOURCE_DATE_EPOCH` as planning sees it ([`Mutant::IgnoresSourceDateEpoch`],
/// [`Mutant::TimestampsAlways`]).
pub fn source_date_epoch(epoch: Option<i64>) -> Option<i64> {
    if active(Mutant::IgnoresSourceDateEpoch) {
        return None;
    }
    if active(Mutant::TimestampsAlways) && epoch.is_none() {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        return i64::try_from(now).ok();
    }
    epoch
}

/// Parses a template ([`Mutant::NoDollarEscape`], [`Mutant::LenientTemplates`]).
pub fn parse_template(text: &str) -> Result<Template, TemplateError> {
    if active(Mutant::NoDollarEscape) {
        return Template::parse(&text.replace("$${", "${"));
    }
    match Template::parse(text) {
        Err(_) if active(Mutant::LenientTemplates) => Ok(lenient_parse(text)),
        parsed => parsed,
    }
}

/// `envsubst`-like parsing: a placeholder that is unknown or unterminated is dropped.
fn lenient_parse(text: &str) -> Template {
    let mut segments = Vec::new();
    let mut rest = text;
    let mut offset = 0;
    while let Some(open) = rest.find("${") {
        segments.push(Segment::Literal(rest[..open].to_string()));
        let after = &rest[open + 2..];
        let Some(close) = after.find('}') else {
            rest = "";
            break;
        };
        if let Some(var) = Var::from_name(&after[..close]) {
            segments.push(Segment::Var(var, offset + open..offset + open + close + 3));
        }
        let consumed = open + close + 3;
        offset += consumed;
        rest = &rest[consumed..];
    }
    segments.push(Segment::Literal(rest.to_string()));
    segments.retain(|s| !matches!(s, Segment::Literal(l) if l.is_empty()));
    Template { segments }
}

/// Renders a template ([`Mutant::LenientTemplates`]: a variable without a value is empty).
pub fn render_template(template: &Template, vars: &Vars) -> Result<String, RenderError> {
    if !active(Mutant::LenientTemplates) {
        return template.render(vars);
    }
    Ok(template
        .segments
        .iter()
        .map(|s| match s {
            Segment::Literal(l) => l.as_str(),
            Segment::Var(v, _) => vars.get(*v).unwrap_or(""),
        })
        .collect())
}

/// Template variables of a build ([`Mutant::BuildRepositoryWithRegistry`]).
pub fn vars(vars: &mut Vars, ctx: &BuildContext) {
    if active(Mutant::BuildRepositoryWithRegistry) {
        vars.build_repository = Some(format!("{}/{}", ctx.image.registry, ctx.image.repository));
    }
}

/// A rendered tag before it is checked ([`Mutant::SanitisesTags`]).
pub fn tag(tag: String) -> String {
    if !active(Mutant::SanitisesTags) {
        return tag;
    }
    tag.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') { c } else { '_' }).take(MAX_TAG_LEN).collect()
}

/// A rendered repository before it is checked ([`Mutant::LowercasesRepository`]).
pub fn repository(repository: String) -> String {
    if active(Mutant::LowercasesRepository) {
        repository.to_lowercase()
    } else {
        repository
    }
}

/// Confinement replaced by plain path resolution ([`Mutant::NoConfinement`]); `None` when the
/// mutant is not armed.
pub fn unconfined(layer_dir: &Path, declared: &str) -> Option<Result<ConfinedFile, ConfineError>> {
    if !active(Mutant::NoConfinement) {
        return None;
    }
    let source = layer_dir.join(declared);
    Some(match std::fs::metadata(&source) {
        Ok(meta) if meta.is_file() => Ok(ConfinedFile { path: declared.to_string(), source, size: meta.len() }),
        Ok(_) => Err(ConfineError::NotRegular { path: declared.to_string(), kind: "special file" }),
        Err(_) => Err(ConfineError::Missing { path: declared.to_string(), layer_dir: layer_dir.display().to_string() }),
    })
}

/// A file that is not a regular file, published as an empty one ([`Mutant::NonRegularAsEmpty`]);
/// `None` when the mutant is not armed.
pub fn non_regular_as_empty(path: &str) -> Option<ConfinedFile> {
    active(Mutant::NonRegularAsEmpty).then(|| ConfinedFile { path: path.to_string(), source: PathBuf::from("/dev/null"), size: 0 })
}

/// The title of a planned file ([`Mutant::KeepsDotComponents`], [`Mutant::TitleFromTarget`]):
/// `normalised` unless a mutant says otherwise.
pub fn file_title(declared: &str, normalised: String, source: &Path, layer_dir: &Path) -> String {
    if active(Mutant::KeepsDotComponents) {
        return declared.to_string();
    }
    if active(Mutant::TitleFromTarget) {
        let root = layer_dir.canonicalize().unwrap_or_else(|_| layer_dir.to_path_buf());
        if let Ok(relative) = source.strip_prefix(&root) {
            return relative.to_string_lossy().into_owned();
        }
    }
    normalised
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

/// The exact manifest bytes ([`Mutant::NonCanonicalJson`], [`Mutant::NoSubject`],
/// [`Mutant::SortsKeysByUtf8`], [`Mutant::UpperCaseEscapes`]).
pub fn manifest_bytes(bytes: Vec<u8>) -> Vec<u8> {
    if active(Mutant::SortsKeysByUtf8) {
        return serde_json::from_slice::<serde_json::Value>(&bytes).ok().and_then(|v| utf8_ordered(&v).ok()).unwrap_or(bytes);
    }
    if active(Mutant::UpperCaseEscapes) {
        return upper_case_escapes(&bytes);
    }
    let pretty = active(Mutant::NonCanonicalJson);
    let no_subject = active(Mutant::NoSubject);
    if !pretty && !no_subject {
        return bytes;
    }
    let Ok(mut value) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
        return bytes;
    };
    if no_subject {
        if let Some(object) = value.as_object_mut() {
            object.remove("subject");
        }
    }
    let rewritten = if pretty { serde_json::to_vec_pretty(&value).ok() } else { crate::canonical::to_vec(&value).ok() };
    rewritten.unwrap_or(bytes)
}

/// Compact JSON with object members in the order of their names' UTF-8 bytes.
fn utf8_ordered(value: &serde_json::Value) -> Result<Vec<u8>, serde_json::Error> {
    use serde_json::Value;
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
                out.extend(crate::canonical::to_vec(k).map_err(|e| match e {
                    crate::canonical::CanonicalError::Unrepresentable(e) => e,
                })?);
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

    /// Unarmed (as in every test process), each hook is the identity.
    #[test]
    fn unarmed_hooks_are_the_identity() {
        assert_eq!(source_date_epoch(None), None);
        assert_eq!(source_date_epoch(Some(7)), Some(7));
        assert_eq!(tag("a+b".to_string()), "a+b");
        assert_eq!(repository("Modules/Hello".to_string()), "Modules/Hello");
        assert!(unconfined(Path::new("/"), "etc/hostname").is_none());
        assert!(non_regular_as_empty("pipe").is_none());
        assert_eq!(file_title("./a//b", "a/b".to_string(), Path::new("/x/a/b"), Path::new("/x")), "a/b");
        assert!(!preset_name_matches("wasm", "Wasm"));
        assert_eq!(manifest_bytes(b"{\"a\":1}".to_vec()), b"{\"a\":1}");
        assert!(parse_template("${nope}").is_err());
        let mut files = vec![toml::Spanned::new(0..1, "a".to_string()), toml::Spanned::new(2..3, "a".to_string())];
        assert!(!merges_file_and_files(&mut files));
        assert_eq!(files.len(), 2);
    }

    #[test]
    fn lenient_parse_drops_what_it_does_not_understand() {
        let vars = Vars { build_tag: Some("1.0".into()), ..Vars::default() };
        let render = |text: &str| lenient_parse(text).render(&vars).expect("renders");
        assert_eq!(render("v${build.tga}"), "v");
        assert_eq!(render("x-${build.tag"), "x-");
        assert_eq!(render("a${build.tag}b${nope}c"), "a1.0bc");
        assert_eq!(render("plain"), "plain");
    }
}
