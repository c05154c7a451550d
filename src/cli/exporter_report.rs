//! Reading the lifecycle exporter's `report.toml` (spec rule R-CTX-1): the app image's tags,
//! digest and manifest size, which give the build context its `build.tag` and `build.digest`
//! and the artifacts their `subject`.
//!
//! The exporter writes (CNB platform spec, `report.toml`):
//!
//! ```toml
//! [image]
//! tags = ["registry.example.com/team/app:1.2.3", "registry.example.com/team/app:latest"]
//! digest = "sha256:…"        # when exported to a registry
//! image-id = "sha256:…"      # when exported to a daemon
//! manifest-size = 1083
//!
//! [build]                    # and other tables: ignored here
//! ```
//!
//! Tags are full references, as the platform named them to the exporter. The report is read
//! like a layer TOML (with spans, through `layer_toml`'s TOML reader) and checked key by key, so
//! every problem of the file is reported at once, each a [`Diagnostic`] at the file, line and
//! column of the offending value.

use std::ops::Range;
use std::path::Path;

use toml::de::DeValue;
use toml::Spanned;

use cnb_artifacts_core::diagnostic::{Diagnostic, Diagnostics, LineIndex, Location};
use cnb_artifacts_core::layer_toml::Found;
use cnb_artifacts_core::layer_toml::{parse_toml, SyntaxError};
use cnb_artifacts_core::publish::auth::normalize_registry;
use cnb_artifacts_core::reference::{Digest, ImageRef};

/// The rule this module enforces.
const RULE: &str = "R-CTX-1";

/// The keys of `[image]` the exporter writes (R-CTX-1); any other is an error.
const IMAGE_KEYS: [&str; 4] = ["tags", "digest", "image-id", "manifest-size"];

/// The `[image]` table of the exporter's report.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExporterReport {
    /// Full references, as the lifecycle writes them (`registry/repository:tag`).
    pub tags: Vec<String>,
    pub digest: Option<Digest>,
    pub manifest_size: Option<u64>,
    pub image_id: Option<String>,
}

/// One problem with the exporter's report (each breaks R-CTX-1).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExporterReportError {
    #[error("cannot read the exporter report: {error}")]
    Unreadable { error: String },
    #[error("the exporter report is not valid UTF-8 (TOML files are UTF-8)")]
    NotUtf8,
    #[error("invalid exporter report: {message}")]
    Syntax { message: String },
    #[error("the exporter report has no [image] table")]
    NoImageTable,
    /// `key` is the dotted path of the value, e.g. `image.tags[2]`.
    #[error("`{key}` must be {expected}, found {found}")]
    WrongType { key: String, expected: &'static str, found: Found },
    #[error("`{value}` is not an image reference: {reason}")]
    NotAReference { value: String, reason: String },
    #[error("{reason}")]
    InvalidDigest { reason: String },
    /// A key of `[image]` the exporter does not write (a typo would drop its value silently).
    #[error("unknown key `image.{key}` in the exporter report")]
    UnknownKey { key: String, suggestion: Option<&'static str> },
    /// `written` is the integer as written.
    #[error("`image.manifest-size` must be a number of bytes, found {written}")]
    InvalidSize { written: String },
}

impl ExporterReportError {
    /// What to do about it, where there is something useful to say.
    pub fn help(&self) -> Option<String> {
        let help = match self {
            ExporterReportError::UnknownKey { suggestion, .. } => {
                let valid = format!("the keys of [image] are {}", IMAGE_KEYS.join(", "));
                return Some(match suggestion {
                    Some(s) => format!("did you mean `{s}`? {valid}"),
                    None => valid,
                });
            }
            ExporterReportError::NoImageTable => {
                Some("pass the report.toml the lifecycle's exporter wrote (`-report`, default <layers>/report.toml)")
            }
            ExporterReportError::NotAReference { .. } => {
                Some("tags in report.toml are full references such as `registry.example.com/team/app:1.2.3`")
            }
            ExporterReportError::WrongType { key, found: Found::String, .. } if key == "image.manifest-size" => {
                Some("write the number without quotes, e.g. `manifest-size = 1083`")
            }
            ExporterReportError::WrongType { key, .. } if key == "image.tags" => {
                Some("write `tags = [\"registry.example.com/team/app:1.2.3\"]`")
            }
            _ => None,
        };
        help.map(str::to_string)
    }

    /// This problem as a diagnostic at `location`.
    pub fn at(&self, location: Location) -> Diagnostic {
        Diagnostic::at(RULE, location, self.to_string()).with_optional_help(self.help())
    }
}

/// Reads and checks the report at `path`; every problem in it is reported.
pub fn read(path: &Path) -> Result<ExporterReport, Diagnostics> {
    // R-CTX-1 places a report that cannot be read at line 1, column 1.
    let bytes = cnb_artifacts_core::input_file::read_input(
        path,
        cnb_artifacts_core::input_file::Follow::Links,
        cnb_artifacts_core::input_file::REPORT_CAP,
    )
    .map_err(|e| ExporterReportError::Unreadable { error: e.to_string() }.at(Location::file(path)))?;
    let text = cnb_artifacts_core::diagnostic::utf8_text(path, bytes).map_err(|location| ExporterReportError::NotUtf8.at(location))?;
    parse(path, &text)
}

/// Parses the text of a report read from `path`; every problem in it is reported, in order.
pub fn parse(path: &Path, text: &str) -> Result<ExporterReport, Diagnostics> {
    let mut check = Check { path, text, lines: LineIndex::new(text), problems: Vec::new() };
    let document = match parse_toml(text) {
        Ok(document) => document,
        Err(errors) => {
            for SyntaxError { message, span } in errors {
                check.problem(ExporterReportError::Syntax { message }, span);
            }
            return Err(check.into_diagnostics());
        }
    };
    let Some(image) = document.get_ref().get("image") else {
        return Err(ExporterReportError::NoImageTable.at(Location::file(path)).into());
    };
    let DeValue::Table(table) = image.get_ref() else {
        check.wrong_type("image".into(), "a table", image);
        return Err(check.into_diagnostics());
    };
    let mut keys: Vec<_> = table.iter().map(|(k, _)| k).collect();
    keys.sort_by_key(|k| k.span().start);
    for key in keys.into_iter().filter(|k| !IMAGE_KEYS.contains(&k.get_ref().as_ref())) {
        let suggestion = cnb_artifacts_core::spelling::closest(key.get_ref(), IMAGE_KEYS);
        check.problem(ExporterReportError::UnknownKey { key: key.get_ref().to_string(), suggestion }, key.span());
    }
    let report = ExporterReport {
        tags: table.get("tags").map(|v| check.tags(v)).unwrap_or_default(),
        digest: table.get("digest").and_then(|v| check.digest(v)),
        manifest_size: table.get("manifest-size").and_then(|v| check.manifest_size(v)),
        image_id: table.get("image-id").and_then(|v| check.string("image.image-id", "a string", v)).filter(|id| !id.is_empty()),
    };
    if check.problems.is_empty() {
        Ok(report)
    } else {
        Err(check.into_diagnostics())
    }
}

/// The values of one report's `[image]` table, checked one by one; problems are collected.
struct Check<'a> {
    path: &'a Path,
    text: &'a str,
    lines: LineIndex,
    problems: Vec<Diagnostic>,
}

impl Check<'_> {
    fn problem(&mut self, problem: ExporterReportError, span: Range<usize>) {
        let location = self.lines.location(self.path, self.text, span.start);
        self.problems.push(problem.at(location));
    }

    fn wrong_type(&mut self, key: String, expected: &'static str, value: &Spanned<DeValue<'_>>) {
        let found = Found::of(value, self.text);
        self.problem(ExporterReportError::WrongType { key, expected, found }, value.span());
    }

    /// A string value, or a type error.
    fn string(&mut self, key: &str, expected: &'static str, value: &Spanned<DeValue<'_>>) -> Option<String> {
        match value.get_ref() {
            DeValue::String(s) => Some(s.to_string()),
            _ => {
                self.wrong_type(key.to_string(), expected, value);
                None
            }
        }
    }

    /// `tags`: an array of image references; the valid ones are kept.
    fn tags(&mut self, value: &Spanned<DeValue<'_>>) -> Vec<String> {
        let DeValue::Array(items) = value.get_ref() else {
            self.wrong_type("image.tags".into(), "an array of image references", value);
            return Vec::new();
        };
        let mut tags = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let Some(tag) = self.string(&format!("image.tags[{i}]"), "a string (an image reference)", item) else { continue };
            match tag.parse::<ImageRef>() {
                Ok(_) => tags.push(tag),
                Err(reason) => self.problem(ExporterReportError::NotAReference { value: tag, reason }, item.span()),
            }
        }
        tags
    }

    /// `digest`: `sha256:` and 64 lowercase hex digits; empty means none.
    fn digest(&mut self, value: &Spanned<DeValue<'_>>) -> Option<Digest> {
        let digest = self.string("image.digest", "a string (`sha256:` and 64 hex digits)", value)?;
        if digest.is_empty() {
            return None;
        }
        digest.parse().map_err(|reason| self.problem(ExporterReportError::InvalidDigest { reason }, value.span())).ok()
    }

    /// `manifest-size`: a non-negative integer.
    fn manifest_size(&mut self, value: &Spanned<DeValue<'_>>) -> Option<u64> {
        let DeValue::Integer(n) = value.get_ref() else {
            self.wrong_type("image.manifest-size".into(), "an integer number of bytes", value);
            return None;
        };
        let written = self.text.get(value.span()).unwrap_or(n.as_str()).to_string();
        u64::from_str_radix(n.as_str(), n.radix())
            .map_err(|_| self.problem(ExporterReportError::InvalidSize { written }, value.span()))
            .ok()
    }

    fn into_diagnostics(self) -> Diagnostics {
        Diagnostics(self.problems).sorted()
    }
}

impl ExporterReport {
    /// The tags of the report's references that name the same registry and repository as
    /// `image`, in report order without duplicates. A reference without tag or digest has the
    /// tag `latest`; a digest-only reference has none. Registry names compare as in R-AUTH-1
    /// (case-insensitive, Docker Hub's names equal).
    pub fn tags_for(&self, image: &ImageRef) -> Vec<String> {
        let registry = normalize_registry(&image.registry);
        let mut tags: Vec<String> = Vec::new();
        for full in &self.tags {
            let Ok(r) = full.parse::<ImageRef>() else {
                continue;
            };
            if normalize_registry(&r.registry) != registry || r.repository != image.repository {
                continue;
            }
            let tag = match (&r.tag, &r.digest) {
                (Some(tag), _) => tag.as_str(),
                (None, None) => "latest",
                (None, Some(_)) => continue,
            };
            if !tags.iter().any(|t| t == tag) {
                tags.push(tag.to_string());
            }
        }
        tags
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    const DIGEST: &str = "sha256:a15790640a6690aa1730c38cf0a440e2aa44aaca9b0e8931a9f2b0d7cc90fd65";

    fn parse_str(text: &str) -> Result<ExporterReport, Diagnostics> {
        parse(Path::new("report.toml"), text)
    }

    /// The diagnostics of `text`, as printed; the test fails if it parses.
    fn errors(text: &str) -> String {
        match parse_str(text) {
            Ok(report) => panic!("expected errors, parsed {report:?}"),
            Err(d) => d.to_string(),
        }
    }

    #[test]
    fn r_ctx_1_reads_a_lifecycle_report() {
        let text = format!(
            r#"[build]
[[build.bom]]
name = "dep"
[build.bom.metadata]
version = "1"

[image]
  tags = ["localhost:5000/team/app:1.2.3", "localhost:5000/team/app:latest"]
  digest = "{DIGEST}"
  manifest-size = 528

[run-image]
  image = "run/name:foo"
"#
        );
        let report = parse_str(&text).unwrap();
        assert_eq!(
            report,
            ExporterReport {
                tags: vec!["localhost:5000/team/app:1.2.3".into(), "localhost:5000/team/app:latest".into()],
                digest: Some(DIGEST.parse().unwrap()),
                manifest_size: Some(528),
                image_id: None,
            }
        );
    }

    #[test]
    fn r_ctx_1_reads_a_daemon_export_report() {
        let report = parse_str("[image]\ntags = [\"app\"]\nimage-id = \"5b90f9c0e189\"\n").unwrap();
        assert_eq!(report.image_id.as_deref(), Some("5b90f9c0e189"));
        assert_eq!((report.digest, report.manifest_size), (None, None));
    }

    #[test]
    fn r_ctx_1_reads_the_file_from_disk() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("report.toml");
        std::fs::write(&path, format!("[image]\ntags = [\"r.io/a:1\"]\ndigest = \"{DIGEST}\"\n")).unwrap();
        assert_eq!(read(&path).unwrap().tags, ["r.io/a:1"]);
        // R-CTX-1 places a report that cannot be read at line 1, column 1.
        let missing = read(&dir.path().join("nope.toml")).unwrap_err().to_string();
        assert!(missing.starts_with("error[R-CTX-1]: "), "{missing}");
        assert!(missing.contains("nope.toml:1:1: cannot read the exporter report: "), "{missing}");
    }

    #[test]
    fn r_ctx_1_a_report_that_is_not_utf8_is_located_at_its_first_bad_byte() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("report.toml");
        std::fs::write(&path, b"[image]\ntags = [\"r.io/\xffa:1\"]\n").unwrap();
        let text = read(&path).unwrap_err().to_string();
        assert!(text.ends_with("report.toml:2:15: the exporter report is not valid UTF-8 (TOML files are UTF-8)"), "{text}");
    }

    #[rstest]
    #[case::syntax("[image]\ntags = [\n", "2:9: invalid exporter report: unclosed array, expected `]`")]
    #[case::duplicate_key("[image]\nmanifest-size = 1\nmanifest-size = 2\n", "3:1: invalid exporter report: duplicate key")]
    #[case::image_not_a_table("image = \"r.io/a:1\"\n", "1:9: `image` must be a table, found a string")]
    #[case::tags_not_an_array(
        "[image]\ntags = \"r.io/a:1\"\n",
        "2:8: `image.tags` must be an array of image references, found a string\n  help: write `tags = [\"registry.example.com/team/app:1.2.3\"]`"
    )]
    #[case::tag_not_a_string(
        "[image]\ntags = [\"r.io/a:1\", { name = \"b\" }]\n",
        "2:21: `image.tags[1]` must be a string (an image reference), found an inline table"
    )]
    #[case::bad_tag(
        "[image]\ntags = [\"r.io/a:1\", \"r.io/A B\"]\n",
        "2:21: `r.io/A B` is not an image reference: image reference `r.io/A B`: repository `A B` is not a valid repository path\n  help: tags in report.toml are full references such as `registry.example.com/team/app:1.2.3`"
    )]
    #[case::digest_not_a_string(
        "[image]\ndigest = 1\n",
        "2:10: `image.digest` must be a string (`sha256:` and 64 hex digits), found an integer"
    )]
    #[case::bad_digest(
        "[image]\ntags = []\ndigest = \"sha256:abc\"\n",
        "3:10: digest `sha256:abc` must be `sha256:` followed by 64 lowercase hex digits"
    )]
    #[case::other_algorithm("[image]\n digest = \"sha512:abc\"\n", "2:11: digest `sha512:abc` must start with `sha256:`")]
    #[case::image_id_not_a_string("[image]\nimage-id = true\n", "2:12: `image.image-id` must be a string, found a boolean")]
    #[case::size_a_string(
        "[image]\nmanifest-size = \"528\"\n",
        "2:17: `image.manifest-size` must be an integer number of bytes, found a string\n  help: write the number without quotes, e.g. `manifest-size = 1083`"
    )]
    #[case::size_a_float(
        "[image]\nmanifest-size = 5.0e2\n",
        "2:17: `image.manifest-size` must be an integer number of bytes, found a float"
    )]
    #[case::unknown_key_with_a_near_miss(
        "[image]\nmanifest_size = 528\n",
        "2:1: unknown key `image.manifest_size` in the exporter report\n  help: did you mean `manifest-size`? the keys of [image] are tags, digest, image-id, manifest-size"
    )]
    #[case::negative_size("[image]\nmanifest-size = -1\n", "2:17: `image.manifest-size` must be a number of bytes, found -1")]
    #[case::no_image_table(
        "[build]\n",
        "1:1: the exporter report has no [image] table\n  help: pass the report.toml the lifecycle's exporter wrote (`-report`, default <layers>/report.toml)"
    )]
    fn r_ctx_1_errors_point_at_the_problem_and_say_what_is_wrong(#[case] text: &str, #[case] expected: &str) {
        assert_eq!(errors(text), format!("error[R-CTX-1]: report.toml:{expected}"));
    }

    #[test]
    fn r_ctx_1_every_problem_of_the_report_is_reported_at_once_in_order() {
        let text = "[image]\nmanifest-size = \"1\"\ndigest = \"sha256:abc\"\ntags = [1, \"r.io/A\", \"r.io/a:1\"]\nimage-id = []\n";
        let d = parse_str(text).unwrap_err();
        let summary: Vec<String> =
            d.0.iter().map(|d| format!("{} {}", d.place.as_ref().map(|p| p.to_string()).unwrap_or_default(), d.message)).collect();
        assert_eq!(
            summary,
            [
                "report.toml:2:17 `image.manifest-size` must be an integer number of bytes, found a string",
                "report.toml:3:10 digest `sha256:abc` must be `sha256:` followed by 64 lowercase hex digits",
                "report.toml:4:9 `image.tags[0]` must be a string (an image reference), found an integer",
                "report.toml:4:12 `r.io/A` is not an image reference: image reference `r.io/A`: repository `A` is not a valid repository path",
                "report.toml:5:12 `image.image-id` must be a string, found an array",
            ]
        );
    }

    #[test]
    fn r_ctx_1_every_syntax_error_is_reported() {
        let text = errors("[image]\ntags = [\"a\" \"b\"]\n[image]\n");
        assert!(text.lines().filter(|l| l.starts_with("error[R-CTX-1]: report.toml:")).count() >= 2, "{text}");
    }

    fn report(tags: &[&str]) -> ExporterReport {
        ExporterReport { tags: tags.iter().map(|t| t.to_string()).collect(), ..Default::default() }
    }

    #[rstest]
    #[case::same_repository(&["localhost:5000/team/app:1.2.3", "localhost:5000/team/app:latest"], "localhost:5000/team/app:1.2.3", &["1.2.3", "latest"])]
    #[case::other_repository_left_out(&["r.io/team/app:1", "r.io/team/other:2", "q.io/team/app:3"], "r.io/team/app", &["1"])]
    #[case::no_tag_is_latest(&["r.io/team/app"], "r.io/team/app:9", &["latest"])]
    #[case::digest_only_has_no_tag(&["r.io/team/app@sha256:a15790640a6690aa1730c38cf0a440e2aa44aaca9b0e8931a9f2b0d7cc90fd65"], "r.io/team/app", &[])]
    #[case::duplicates_once(&["r.io/app:1", "r.io/app:1"], "r.io/app", &["1"])]
    #[case::docker_hub_names_agree(&["index.docker.io/library/app:1", "docker.io/library/app:2", "app:3"], "docker.io/library/app", &["1", "2", "3"])]
    #[case::registry_case(&["R.IO/app:1"], "r.io/app", &["1"])]
    fn r_ctx_1_tags_for_the_app_image(#[case] tags: &[&str], #[case] image: &str, #[case] expected: &[&str]) {
        let image: ImageRef = image.parse().unwrap();
        assert_eq!(report(tags).tags_for(&image), expected);
    }
}
