//! The build-context flags shared by `plan` and `publish`: the app image reference, its tags,
//! digest and manifest descriptor, from flags or the lifecycle's report.toml (rule R-CTX-*).

use std::path::PathBuf;

use clap::Args;

use cnb_artifacts_core::diagnostic::{Diagnostic, Diagnostics};
use cnb_artifacts_core::plan::BuildContext;
use cnb_artifacts_core::reference::{validate_tag, Digest, ImageRef};

#[derive(Debug, Clone, Args)]
pub struct ContextArgs {
    /// The app image reference, e.g. `registry.example.com/team/app:1.2.3`.
    #[arg(long, env = "CNB_OUTPUT_IMAGE")]
    pub image: String,
    /// A further tag of the app image (repeatable).
    #[arg(long = "tag")]
    pub tags: Vec<String>,
    /// The app image manifest digest (`sha256:…`).
    #[arg(long)]
    pub digest: Option<String>,
    /// The app image manifest size in bytes (with --digest it fixes the subject descriptor).
    #[arg(long)]
    pub manifest_size: Option<u64>,
    /// The app image manifest media type.
    #[arg(long, default_value = cnb_artifacts_core::media_types::OCI_MANIFEST)]
    pub manifest_media_type: String,
    /// The lifecycle exporter's report.toml: app image tags, digest and manifest size.
    #[arg(long)]
    pub report: Option<PathBuf>,
}

impl ContextArgs {
    /// Validates the flags into a build context; every problem is reported.
    pub fn to_context(&self) -> Result<BuildContext, Diagnostics> {
        let mut errors = Diagnostics::default();
        let image: Option<ImageRef> = self.image.parse().map_err(|e: String| errors.push(Diagnostic::new("R-CTX-2", None, e))).ok();
        let mut tags = Vec::new();
        for t in &self.tags {
            match validate_tag(t) {
                Ok(()) => tags.push(t.clone()),
                Err(e) => errors.push(Diagnostic::new("R-CTX-2", None, format!("--tag: {e}")).with_help(e.help())),
            }
        }
        let mut digest: Option<Digest> = match &self.digest {
            Some(d) => d.parse().map_err(|e: String| errors.push(Diagnostic::new("R-CTX-2", None, format!("--digest: {e}")))).ok(),
            None => None,
        };
        let mut manifest_size = self.manifest_size;
        if let (Some(path), Some(image)) = (&self.report, &image) {
            match super::exporter_report::read(path) {
                Ok(report) => {
                    for t in report.tags_for(image) {
                        if !tags.contains(&t) {
                            tags.push(t);
                        }
                    }
                    digest = digest.or(report.digest);
                    manifest_size = manifest_size.or(report.manifest_size);
                }
                Err(d) => errors.push(d),
            }
        }
        // R-CTX-2: the subject's media type is one of R-MAN-6's, exactly.
        if !cnb_artifacts_core::media_types::SUBJECT_MEDIA_TYPES.contains(&self.manifest_media_type.as_str()) {
            errors.push(
                Diagnostic::new(
                    "R-CTX-2",
                    None,
                    format!(
                        "--manifest-media-type `{}` is not the media type of an image manifest or index",
                        cnb_artifacts_core::display::text(&self.manifest_media_type)
                    ),
                )
                .with_help(format!("use one of {}", cnb_artifacts_core::media_types::SUBJECT_MEDIA_TYPES.join(", "))),
            );
        }
        let source_date_epoch = match std::env::var("SOURCE_DATE_EPOCH") {
            // R-MAN-8: ASCII digits only (`+5` and `-1` are refused); empty counts as unset.
            Ok(v) if !v.is_empty() => Some(v.as_str())
                .filter(|v| v.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|v| v.parse::<i64>().ok())
                .ok_or(())
                .map_err(|()| {
                    errors.push(Diagnostic::new("R-MAN-8", None, format!("SOURCE_DATE_EPOCH=`{v}` is not a whole number of seconds")))
                })
                .ok(),
            Err(std::env::VarError::NotUnicode(v)) => {
                errors.push(Diagnostic::new(
                    "R-MAN-8",
                    None,
                    format!(
                        "SOURCE_DATE_EPOCH=`{}` is not a whole number of seconds (not valid UTF-8)",
                        cnb_artifacts_core::diagnostic::display_path(std::path::Path::new(&v))
                    ),
                ));
                None
            }
            _ => None,
        };
        let image = match image {
            Some(i) if errors.is_empty() => i,
            _ => return Err(errors),
        };
        let digest = digest.or_else(|| image.digest.clone());
        Ok(BuildContext {
            image,
            extra_tags: tags,
            digest,
            manifest_size,
            manifest_media_type: Some(self.manifest_media_type.clone()),
            source_date_epoch,
        })
    }
}
