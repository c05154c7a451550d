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
//! Tags are full references, as the platform named them to the exporter. Problems are
//! [`Diagnostic`]s with the file, line and column.

use std::path::Path;

use toml::Spanned;

use super::auth::normalize_registry;
use crate::diagnostic::{Diagnostic, Location};
use crate::reference::{Digest, ImageRef};

/// The rule this module enforces.
const RULE: &str = "R-CTX-1";

/// The `[image]` table of the exporter's report.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExporterReport {
    /// Full references, as the lifecycle writes them (`registry/repository:tag`).
    pub tags: Vec<String>,
    pub digest: Option<Digest>,
    pub manifest_size: Option<u64>,
    pub image_id: Option<String>,
}

#[derive(serde::Deserialize)]
struct RawReport {
    image: Option<RawImage>,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
struct RawImage {
    #[serde(default)]
    tags: Vec<Spanned<String>>,
    digest: Option<Spanned<String>>,
    image_id: Option<String>,
    manifest_size: Option<Spanned<i64>>,
}

/// Reads and checks the report at `path`.
pub fn read(path: &Path) -> Result<ExporterReport, Diagnostic> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Diagnostic::new(RULE, Some(Location::file(path)), format!("cannot read the exporter report: {e}")))?;
    parse(path, &text)
}

/// Parses the text of a report read from `path`.
pub fn parse(path: &Path, text: &str) -> Result<ExporterReport, Diagnostic> {
    let at = |offset: usize| Location::from_offset(path, text, offset);
    let raw: RawReport = toml::from_str(text).map_err(|e| {
        let location = at(e.span().map_or(0, |s| s.start));
        Diagnostic::at(RULE, location, format!("invalid exporter report: {}", e.message().trim_end()))
    })?;
    let Some(image) = raw.image else {
        return Err(Diagnostic::at(RULE, Location::file(path), "the exporter report has no [image] table")
            .with_help("pass the report.toml the lifecycle's exporter wrote (`-report`, default <layers>/report.toml)"));
    };
    let mut tags = Vec::with_capacity(image.tags.len());
    for tag in image.tags {
        if let Err(e) = tag.get_ref().parse::<ImageRef>() {
            return Err(Diagnostic::at(RULE, at(tag.span().start), format!("`{}` is not an image reference: {e}", tag.get_ref()))
                .with_help("tags in report.toml are full references such as `registry.example.com/team/app:1.2.3`"));
        }
        tags.push(tag.into_inner());
    }
    let digest = match image.digest.filter(|d| !d.get_ref().is_empty()) {
        Some(d) => Some(d.get_ref().parse::<Digest>().map_err(|e| Diagnostic::at(RULE, at(d.span().start), e))?),
        None => None,
    };
    let manifest_size = match image.manifest_size {
        Some(size) => Some(
            u64::try_from(*size.get_ref())
                .map_err(|_| Diagnostic::at(RULE, at(size.span().start), format!("manifest-size {} is negative", size.get_ref())))?,
        ),
        None => None,
    };
    let image_id = image.image_id.filter(|id| !id.is_empty());
    Ok(ExporterReport { tags, digest, manifest_size, image_id })
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

    fn parse_str(text: &str) -> Result<ExporterReport, Diagnostic> {
        parse(Path::new("report.toml"), text)
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
  future-key = true

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
        let missing = read(&dir.path().join("nope.toml")).unwrap_err();
        assert_eq!(missing.rule, "R-CTX-1");
        assert!(missing.to_string().contains("nope.toml:1:1"), "{missing}");
    }

    #[rstest]
    #[case::syntax("[image]\ntags = [\n", 2, 9, "unclosed array")]
    #[case::wrong_type("[image]\ntags = \"r.io/a:1\"\n", 2, 8, "invalid exporter report")]
    #[case::bad_digest("[image]\ntags = []\ndigest = \"sha256:abc\"\n", 3, 10, "64 lowercase hex")]
    #[case::other_algorithm("[image]\n digest = \"sha512:abc\"\n", 2, 11, "must start with `sha256:`")]
    #[case::negative_size("[image]\nmanifest-size = -1\n", 2, 17, "negative")]
    #[case::bad_tag("[image]\ntags = [\"r.io/a:1\", \"r.io/A B\"]\n", 2, 21, "not an image reference")]
    #[case::no_image_table("[build]\n", 1, 1, "no [image] table")]
    fn r_ctx_1_errors_point_at_the_problem(#[case] text: &str, #[case] line: usize, #[case] column: usize, #[case] says: &str) {
        let d = parse_str(text).unwrap_err();
        assert_eq!(d.rule, "R-CTX-1");
        assert_eq!(d.place.as_ref().and_then(|p| p.position()), Some((line, column)), "{d}");
        assert!(d.message.contains(says), "{d}");
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
