//! Every media type and reserved annotation key the spec names, in one place.

/// The OCI image manifest: every artifact's manifest, and an app image's.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// The OCI image index: the referrers fallback index, and a multi-platform app image.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Docker's image manifest (schema 2), accepted as an app image's.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker's manifest list, accepted as an app image's.
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// The media types an app image manifest, the `subject` of every artifact, may have (R-MAN-6,
/// R-CTX-2).
pub const SUBJECT_MEDIA_TYPES: [&str; 4] = [OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST];
/// The empty config of the generic preset, whose bytes are `{}`.
pub const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";
/// Default `artifactType` of the generic preset.
pub const BUILDPACKS_ARTIFACT: &str = "application/vnd.buildpacks.artifact.v1";
/// Default layer media type of the generic preset.
pub const OCTET_STREAM: &str = "application/octet-stream";
/// Config of the `wasm` preset (R-PRESET-2).
pub const WASM_CONFIG: &str = "application/vnd.wasm.config.v0+json";
/// Layer media type of the `wasm` preset: the component or module as built.
pub const WASM_LAYER: &str = "application/wasm";
/// Config (and `artifactType`) of the `helm` preset: Chart.yaml as JSON (R-PRESET-3).
pub const HELM_CONFIG: &str = "application/vnd.cncf.helm.config.v1+json";
/// Layer media type of the `helm` preset: the packaged chart (`.tgz`).
pub const HELM_CHART: &str = "application/vnd.cncf.helm.chart.content.v1.tar+gzip";
/// Config (and `artifactType`) of the `junit` preset: the test summary (R-PRESET-5).
pub const TEST_RESULTS_CONFIG: &str = "application/vnd.buildpacks.test-results.config.v1+json";
/// Layer media type of the `junit` preset: the JUnit XML report as written.
pub const JUNIT_XML: &str = "application/vnd.buildpacks.test-results.junit.v1+xml";

/// Layer annotation holding the file's path (R-MAN-5).
pub const ANNOTATION_TITLE: &str = "org.opencontainers.image.title";
/// Manifest annotation set from `SOURCE_DATE_EPOCH` (R-MAN-8).
pub const ANNOTATION_CREATED: &str = "org.opencontainers.image.created";
/// Prefix of the annotations this spec reserves (R-LABEL-2).
pub const RESERVED_PREFIX: &str = "io.buildpacks.artifact.";
/// Reserved annotation: the buildpack ID that declared the artifact.
pub const ANNOTATION_BUILDPACK_ID: &str = "io.buildpacks.artifact.buildpack.id";
/// Reserved annotation: the buildpack version, when known.
pub const ANNOTATION_BUILDPACK_VERSION: &str = "io.buildpacks.artifact.buildpack.version";
/// Reserved annotation: the layer name; its presence marks a manifest as published under this spec.
pub const ANNOTATION_LAYER: &str = "io.buildpacks.artifact.layer";
