//! What a publish did, for people and machines (spec rule R-REF-5: the report is how a
//! consumer finds artifacts published to other repositories than the app image's).
//!
//! [`PublishReport::to_toml`] writes the `--report-out` file: top-level `target` and `image`, a
//! `[subject]` table and one `[[artifacts]]` table per artifact in plan order, each with its
//! `[[artifacts.files]]`. [`PublishReport::summary_lines`] gives, per artifact, a human line and
//! one pasteable reference per line.
//! No timestamps: the same publish gives the same report. Keys are kebab-case, as in the
//! lifecycle's own TOML files (report.toml's `manifest-size`); JSON outputs are camelCase, as
//! in OCI's.

use serde::Serialize;

use crate::plan::{PlannedArtifact, Subject};
use crate::publish::referrers::{ReferrersOutcome, ReferrersUsed};
use crate::reference::Digest;

/// The whole publish.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct PublishReport {
    /// The registry host, or `oci-layout:<path>`.
    pub target: String,
    /// The app image reference.
    pub image: String,
    /// The app image's manifest descriptor, the subject of every artifact.
    pub subject: SubjectReport,
    /// Every artifact published, in the plan's order.
    pub artifacts: Vec<ArtifactReport>,
}

/// The app image's manifest descriptor, the subject of every artifact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct SubjectReport {
    /// The app image manifest's digest.
    pub digest: Digest,
    /// The app image manifest's size in bytes.
    pub size: u64,
    /// The app image manifest's media type.
    pub media_type: String,
}

impl From<&Subject> for SubjectReport {
    fn from(s: &Subject) -> Self {
        SubjectReport { digest: s.digest.clone(), size: s.size, media_type: s.media_type.clone() }
    }
}

/// Blob traffic of one artifact.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct BlobTally {
    /// Blobs uploaded (config and files).
    pub blobs_uploaded: u32,
    /// Bytes uploaded.
    pub bytes_uploaded: u64,
    /// Mounted from the app image's repository instead of uploaded.
    pub blobs_mounted: u32,
    /// Bytes mounted.
    pub bytes_mounted: u64,
    /// Already present in the target repository (or uploaded earlier in this run).
    pub blobs_skipped: u32,
    /// Bytes not sent because already present.
    pub bytes_skipped: u64,
}

/// One published artifact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct ArtifactReport {
    /// `buildpack/layer#index`.
    pub label: String,
    /// The buildpack ID.
    pub buildpack: String,
    /// The layer name.
    pub layer: String,
    /// The registry host.
    pub registry: String,
    /// The repository path, without the host.
    pub repository: String,
    /// The tags set, in order.
    pub tags: Vec<String>,
    /// The manifest's `artifactType`.
    pub artifact_type: String,
    /// The manifest's digest.
    pub manifest_digest: Digest,
    /// The manifest's size in bytes.
    pub manifest_size: u64,
    /// `api`, `fallback` or `layout`.
    pub referrers: ReferrersUsed,
    /// The fallback index of the artifact's repository, when one was written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fallback_index: Option<Digest>,
    /// What happened to the artifact's blobs.
    #[serde(flatten)]
    pub blobs: BlobTally,
    /// The artifact's files, in manifest order.
    pub files: Vec<FileReport>,
}

/// One file of an artifact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct FileReport {
    /// The path as declared, relative to the layer directory.
    pub path: String,
    /// The file's digest.
    pub digest: Digest,
    /// The file's size in bytes.
    pub size: u64,
    /// The layer media type.
    pub media_type: String,
}

impl ArtifactReport {
    /// The report of `artifact`, published as manifest `manifest_digest` of `manifest_size` bytes.
    pub fn new(
        artifact: &PlannedArtifact,
        manifest_digest: &Digest,
        manifest_size: u64,
        blobs: BlobTally,
        referrers: &ReferrersOutcome,
    ) -> ArtifactReport {
        ArtifactReport {
            label: artifact.label(),
            buildpack: artifact.buildpack.clone(),
            layer: artifact.layer.clone(),
            registry: artifact.registry.clone(),
            repository: artifact.repository.clone(),
            tags: artifact.tags.clone(),
            artifact_type: artifact.artifact_type.clone(),
            manifest_digest: manifest_digest.clone(),
            manifest_size,
            referrers: referrers.used,
            fallback_index: referrers.fallback_index.clone(),
            blobs,
            files: artifact
                .files
                .iter()
                .map(|f| FileReport { path: f.path.clone(), digest: f.digest.clone(), size: f.size, media_type: f.media_type.clone() })
                .collect(),
        }
    }

    /// `buildpack/layer#0 (2 files; 1.5 MiB uploaded, 0 B present; referrers: fallback)`; for
    /// an OCI image layout, `written` instead of `uploaded`.
    pub fn summary(&self, to_layout: bool) -> String {
        let b = &self.blobs;
        let mounted = if b.blobs_mounted > 0 { format!(", {} mounted", human_bytes(b.bytes_mounted)) } else { String::new() };
        format!(
            "{} ({}; {} {}{mounted}, {} present; referrers: {})",
            self.label,
            crate::spelling::count(self.files.len(), "file", "files"),
            human_bytes(b.bytes_uploaded),
            if to_layout { "written" } else { "uploaded" },
            human_bytes(b.bytes_skipped),
            self.referrers,
        )
    }

    /// Every reference the artifact can be pulled by, each valid on its own (skopeo, crane,
    /// oras): `registry/repo:tag` per tag, then `registry/repo@sha256:…`.
    pub fn references(&self) -> Vec<String> {
        let name = format!("{}/{}", self.registry, self.repository);
        self.tags.iter().map(|t| format!("{name}:{t}")).chain(std::iter::once(format!("{name}@{}", self.manifest_digest))).collect()
    }
}

impl PublishReport {
    /// The `--report-out` document.
    pub fn to_toml(&self) -> String {
        // Every field is a string, an integer or a table of them: serialisation cannot fail.
        toml::to_string(self).unwrap_or_default()
    }

    /// Per artifact: a line naming it and its traffic, then one pasteable reference per line,
    /// indented by two spaces.
    pub fn summary_lines(&self) -> Vec<String> {
        let to_layout = self.target.starts_with("oci-layout:");
        let mut lines = Vec::new();
        for a in &self.artifacts {
            lines.push(a.summary(to_layout));
            lines.extend(a.references().into_iter().map(|r| format!("  {r}")));
        }
        lines
    }
}

/// `1.5 MiB`, `512 B`.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    fn digest(c: char) -> Digest {
        format!("sha256:{}", c.to_string().repeat(64)).parse().unwrap()
    }

    fn report() -> PublishReport {
        PublishReport {
            target: "localhost:5000".into(),
            image: "localhost:5000/team/app:1.0".into(),
            subject: SubjectReport { digest: digest('a'), size: 10, media_type: "m".into() },
            artifacts: vec![ArtifactReport {
                label: "bp/layer#0".into(),
                buildpack: "bp".into(),
                layer: "layer".into(),
                registry: "localhost:5000".into(),
                repository: "team/app".into(),
                tags: vec!["wasm".into()],
                artifact_type: "application/vnd.buildpacks.artifact.v1".into(),
                manifest_digest: digest('b'),
                manifest_size: 500,
                referrers: ReferrersUsed::Fallback,
                fallback_index: Some(digest('c')),
                blobs: BlobTally { blobs_uploaded: 2, bytes_uploaded: 1536, blobs_skipped: 1, bytes_skipped: 2, ..Default::default() },
                files: vec![FileReport { path: "m.wasm".into(), digest: digest('d'), size: 1534, media_type: "application/wasm".into() }],
            }],
        }
    }

    #[test]
    fn r_ref_5_report_toml_lists_artifacts_with_repository_and_digest() {
        let text = report().to_toml();
        let back: toml::Value = toml::from_str(&text).expect("valid TOML");
        let a = &back["artifacts"][0];
        assert_eq!(a["repository"].as_str(), Some("team/app"));
        assert_eq!(a["manifest-digest"].as_str(), Some(digest('b').as_str()));
        assert_eq!(a["referrers"].as_str(), Some("fallback"));
        assert_eq!(a["fallback-index"].as_str(), Some(digest('c').as_str()));
        assert_eq!(a["bytes-uploaded"].as_integer(), Some(1536));
        assert_eq!(a["files"][0]["path"].as_str(), Some("m.wasm"));
        assert_eq!(back["subject"]["digest"].as_str(), Some(digest('a').as_str()));
        assert!(text.contains("[[artifacts]]"), "{text}");
    }

    #[test]
    fn summary_names_label_traffic_and_one_pasteable_reference_per_line() {
        let mut r = report();
        r.artifacts[0].tags.push("latest-wasm".into());
        assert_eq!(
            r.summary_lines(),
            [
                "bp/layer#0 (1 file; 1.5 KiB uploaded, 2 B present; referrers: fallback)".to_string(),
                "  localhost:5000/team/app:wasm".to_string(),
                "  localhost:5000/team/app:latest-wasm".to_string(),
                format!("  localhost:5000/team/app@{}", digest('b')),
            ]
        );
        r.target = "oci-layout:/tmp/out".into();
        assert!(r.summary_lines()[0].contains("1.5 KiB written"), "{:?}", r.summary_lines());
    }

    #[rstest]
    #[case(0, "0 B")]
    #[case(1023, "1023 B")]
    #[case(1024, "1.0 KiB")]
    #[case(8 * 1024 * 1024, "8.0 MiB")]
    fn human_bytes_units(#[case] n: u64, #[case] text: &str) {
        assert_eq!(human_bytes(n), text);
    }
}
