//! The exact bytes of each artifact's manifest, and their digests (spec rules R-MAN-*).
//!
//! Serialises once, as RFC 8785 canonical JSON ([`crate::canonical`]); those bytes are what is
//! digested, written to a layout and pushed. Config blobs and media types come from the
//! presets ([`crate::plan::presets`], rules R-PRESET-*), computed at plan time.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::plan::{PlannedArtifact, Subject};
use crate::reference::Digest;
use crate::{canonical, media_types};

/// An OCI content descriptor as this spec writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Descriptor {
    /// The content's media type.
    #[serde(rename = "mediaType")]
    pub media_type: String,
    /// The digest of the content's exact bytes.
    pub digest: Digest,
    /// The content's length in bytes.
    pub size: u64,
}

/// A layer of a built artifact: the descriptor plus where its bytes come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltLayer {
    /// The layer's descriptor (media type, digest, size), as written in the manifest.
    pub descriptor: Descriptor,
    /// The file's path relative to the layer directory (its title annotation).
    pub title: String,
    /// The file the layer's bytes are streamed from.
    pub source: std::path::PathBuf,
    /// Device and inode of `source` at planning (R-PUSH-4).
    pub identity: crate::input_file::FileIdentity,
}

/// Everything needed to push one artifact: blobs to upload and the manifest bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltArtifact {
    /// The config blob's descriptor.
    pub config: Descriptor,
    /// The config blob's exact bytes (pushed as they are).
    pub config_bytes: Vec<u8>,
    /// The layers, one per file, in the declared order.
    pub layers: Vec<BuiltLayer>,
    /// The manifest's exact bytes: canonical JSON (R-MAN-2), hashed, written and pushed as they are.
    pub manifest_bytes: Vec<u8>,
    /// The digest of [`BuiltArtifact::manifest_bytes`].
    pub manifest_digest: Digest,
}

/// Why an artifact's manifest cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The manifest is over the 4 MiB limit (R-MAN-9).
    #[error("manifest of {artifact} is {size} bytes, over the 4 MiB limit")]
    TooLarge {
        /// The artifact's label (`buildpack/layer#index`).
        artifact: String,
        /// The manifest's size in bytes.
        size: usize,
    },
    /// The manifest cannot be written as canonical JSON (R-MAN-2).
    #[error("manifest of {artifact} cannot be serialised: {source}")]
    NotCanonical {
        /// The artifact's label (`buildpack/layer#index`).
        artifact: String,
        /// Why canonical serialisation failed.
        source: canonical::CanonicalError,
    },
}

impl ManifestError {
    /// The spec rule the error enforces.
    pub fn rule(&self) -> &'static str {
        match self {
            ManifestError::TooLarge { .. } => "R-MAN-9",
            ManifestError::NotCanonical { .. } => "R-MAN-2",
        }
    }

    /// A hint for the user.
    pub fn help(&self) -> Option<String> {
        match self {
            ManifestError::TooLarge { .. } => {
                Some("registries refuse manifests over 4 MiB; shorten the labels or split the files over several artifacts".to_string())
            }
            ManifestError::NotCanonical { .. } => None,
        }
    }
}

/// The largest manifest this spec allows (R-MAN-9).
pub const MAX_MANIFEST_SIZE: usize = 4 * 1024 * 1024;

/// The OCI image manifest as this spec writes it (R-MAN-1). Member order here is irrelevant:
/// the canonical form sorts members (R-MAN-2).
#[derive(Serialize)]
struct ManifestJson<'a> {
    #[serde(rename = "schemaVersion")]
    schema_version: u32,
    #[serde(rename = "mediaType")]
    media_type: &'static str,
    #[serde(rename = "artifactType")]
    artifact_type: &'a str,
    config: &'a Descriptor,
    layers: Vec<LayerJson<'a>>,
    subject: &'a Subject,
    annotations: &'a BTreeMap<String, String>,
}

/// A layer descriptor: a descriptor plus exactly the title annotation (R-MAN-3, R-MAN-5).
#[derive(Serialize)]
struct LayerJson<'a> {
    #[serde(rename = "mediaType")]
    media_type: &'a str,
    digest: &'a Digest,
    size: u64,
    annotations: BTreeMap<&'static str, &'a str>,
}

/// Builds the manifest of `artifact` with `subject` as its subject (R-MAN-1..9).
pub fn build(artifact: &PlannedArtifact, subject: &Subject) -> Result<BuiltArtifact, ManifestError> {
    build_with(artifact, subject, &crate::plan::NoSeams)
}

/// [`build`], with `seams` rewriting the manifest bytes before they are checked and hashed
/// ([`crate::plan::seams`]).
pub fn build_with(artifact: &PlannedArtifact, subject: &Subject, seams: &dyn crate::plan::Seams) -> Result<BuiltArtifact, ManifestError> {
    let config = Descriptor {
        media_type: artifact.config.media_type.clone(),
        digest: Digest::of(&artifact.config.bytes),
        size: artifact.config.bytes.len() as u64,
    };
    let layers: Vec<BuiltLayer> = artifact
        .files
        .iter()
        .map(|file| BuiltLayer {
            descriptor: Descriptor { media_type: file.media_type.clone(), digest: file.digest.clone(), size: file.size },
            title: file.path.clone(),
            source: file.source.clone(),
            identity: file.identity,
        })
        .collect();
    let manifest = ManifestJson {
        schema_version: 2,
        media_type: media_types::OCI_MANIFEST,
        artifact_type: &artifact.artifact_type,
        config: &config,
        layers: layers
            .iter()
            .map(|layer| LayerJson {
                media_type: &layer.descriptor.media_type,
                digest: &layer.descriptor.digest,
                size: layer.descriptor.size,
                annotations: BTreeMap::from([(media_types::ANNOTATION_TITLE, layer.title.as_str())]),
            })
            .collect(),
        subject,
        annotations: &artifact.annotations,
    };
    let manifest_bytes =
        canonical::to_vec(&manifest).map_err(|source| ManifestError::NotCanonical { artifact: artifact.label(), source })?;
    let manifest_bytes = seams.manifest_bytes(manifest_bytes);
    if manifest_bytes.len() > MAX_MANIFEST_SIZE && seams.enforces_manifest_size_limit() {
        return Err(ManifestError::TooLarge { artifact: artifact.label(), size: manifest_bytes.len() });
    }
    let manifest_digest = Digest::of(&manifest_bytes);
    Ok(BuiltArtifact { config, config_bytes: artifact.config.bytes.clone(), layers, manifest_bytes, manifest_digest })
}

#[cfg(test)]
mod tests;
