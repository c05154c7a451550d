//! The names of the known-bad behaviours ("mutants") that `cnb-artifacts conformance
//! self-check` runs the suite against, to prove that every case can fail
//! (`docs/conformance.md`, "Self-check"), which one is armed, and the few switches that cannot
//! live at a seam.
//!
//! Each [`Mutant`] is one plausible way to get the spec wrong — ignore collisions, drop labels,
//! write non-canonical JSON, follow symlinks out of the layer, set tags before the referrers
//! index… Almost all of them are applied outside the core, by the `cnb-artifacts-mutant`
//! binary (`src/bin/cnb-artifacts-mutant.rs`, `src/mutants/`, cargo feature `mutants`), at the
//! pipeline's seams ([`crate::plan::seams`] and a wrapping [`crate::publish::Target`]): the real
//! path does not go through them. The binary arms one mutant from `$CNB_ARTIFACTS_MUTANT`
//! (`arm`).
//!
//! The rest are plain switches ([`active`], [`hooks`]) at the one spot inside the core where
//! the wrong behaviour happens, because no seam sees it: reading through a link or `..`
//! (confinement, the layers dir walk, `group.toml` IDs, the opens of [`crate::input_file`]),
//! what the TOML reader does with a key or a `type` value, and what a preset reads from a file.
//! ARCHITECTURE.md ("Boundaries") lists them with why. This module imports nothing from the
//! layers above it.
//!
//! Without the feature, [`active`] is the constant `false`: every switch is off, the optimiser
//! removes the mutated branches, and the release binary holds no mutant code, no mutant name
//! and no `CNB_ARTIFACTS_MUTANT`. With the feature, the `cnb-artifacts` binary itself never arms
//! a mutant, so it behaves exactly like a build without the feature.
//!
//! No spec rules are implemented here; each mutant's doc names the rule it breaks.

pub mod hooks;

pub use hooks::*;

/// Declares [`Mutant`] with its kebab-case names, which the mutant files of
/// `conformance/mutants/` use in `CNB_ARTIFACTS_MUTANT=<name>`.
macro_rules! declare_mutants {
    ($($(#[doc = $doc:literal])+ $variant:ident = $name:literal,)+) => {
        /// One known-bad behaviour; at most one is armed per process.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
        pub enum Mutant {
            $($(#[doc = $doc])+ $variant,)+
        }

        impl Mutant {
            /// Every mutant, in declaration order.
            pub const ALL: &'static [Mutant] = &[$(Mutant::$variant,)+];

            /// The name used in `CNB_ARTIFACTS_MUTANT`.
            pub fn name(self) -> &'static str {
                match self {
                    $(Mutant::$variant => $name,)+
                }
            }
        }
    };
}

declare_mutants! {
    /// R-ATOML-1: `<layer>/artifacts.toml` files are not read.
    IgnoresArtifactsToml = "ignores-artifacts-toml",
    /// R-ATOML-4: `ConfigMediaType` and `ContentLayerMediaType` stay annotations and switch nothing.
    SwitchesAsLabels = "switches-as-labels",
    /// R-PRESET-5: the JUnit report is not read: the summary is all zeros, a malformed report passes.
    JunitUnread = "junit-unread",
    /// R-FIELD-9: a misspelt key in an artifact table is ignored.
    AcceptsUnknownKeys = "accepts-unknown-keys",
    /// R-FIELD-2: `file` and `files` together are merged (duplicates dropped).
    MergesFileAndFiles = "merges-file-and-files",
    /// R-FIELD-5: `type` matches `generic`, `wasm`, `helm` in any letter case.
    CaseInsensitiveType = "case-insensitive-type",
    /// R-FILE-5: a layer TOML that does not parse is skipped.
    SkipsUnparsableLayerToml = "skips-unparsable-layer-toml",
    /// R-FILE-3/R-FILE-4: a build without any artifact table is an error.
    FailsWithoutArtifacts = "fails-without-artifacts",
    /// R-FIELD-1: of `[[additionalArtifact]]`, only the first table is published.
    FirstArtifactOnly = "first-artifact-only",
    /// R-ERR-1/R-PLAN-3: the valid artifacts are published, then the errors are reported.
    PublishesValidArtifacts = "publishes-valid-artifacts",
    /// R-TPL-4..7: unknown names, unterminated placeholders and variables without a value
    /// render as empty text (like `envsubst`).
    LenientTemplates = "lenient-templates",
    /// R-TPL-3: `$${` is read as `${` (no escape).
    NoDollarEscape = "no-dollar-escape",
    /// R-TPL-2: `${build.repository}` includes the registry host.
    BuildRepositoryWithRegistry = "build-repository-with-registry",
    /// R-TPL-5/R-TAG-3: `${build.tag}` gives one tag, the primary one (no fan-out).
    PrimaryTagOnly = "primary-tag-only",
    /// R-TAG-1: invalid tag characters become `_`, long tags are cut to 128 characters.
    SanitisesTags = "sanitises-tags",
    /// R-TAG-1: tags of 128 characters are refused (off by one).
    TagLimit127 = "tag-limit-127",
    /// R-TAG-2: an artifact without `tag` is tagged `latest`.
    TagsLatestWhenUntagged = "tags-latest-when-untagged",
    /// R-REPO-1: a rendered repository is lowercased instead of checked.
    LowercasesRepository = "lowercases-repository",
    /// R-REPO-2: a leading registry host stays part of the repository path.
    KeepsRegistryHost = "keeps-registry-host",
    /// R-LABEL-1: labels are not written as annotations.
    DropsLabels = "drops-labels",
    /// R-LABEL-2: labels in the reserved `io.buildpacks.artifact.` namespace are accepted.
    AllowsReservedLabels = "allows-reserved-labels",
    /// R-LABEL-3: the reserved annotations (buildpack ID and version, layer) are not written.
    NoReservedAnnotations = "no-reserved-annotations",
    /// R-COLL-1..3: collisions are not checked.
    IgnoresCollisions = "ignores-collisions",
    /// R-COLL-1: one tag in two repositories is taken for a collision.
    CollisionsIgnoreRepository = "collisions-ignore-repository",
    /// R-CONF-1..3: any path the operating system resolves is read (absolute, `..`, links out).
    NoConfinement = "no-confinement",
    /// R-CONF-3: a symlink resolving outside the layer directory is followed.
    FollowsSymlinksOut = "follows-symlinks-out",
    /// R-CONF-7/R-FILE-8: a layer directory, buildpack directory or layer TOML that is a
    /// symbolic link is followed.
    FollowsSymlinkedDirs = "follows-symlinked-dirs",
    /// R-FILE-7: any non-empty buildpack ID of group.toml is taken, `.` and `..` included.
    AcceptsEscapingIds = "accepts-escaping-ids",
    /// R-CONF-4: a directory or named pipe is published as an empty file.
    NonRegularAsEmpty = "non-regular-as-empty",
    /// R-CONF-5: an artifact whose file is missing (or a dangling link) is skipped silently.
    SkipsMissingFiles = "skips-missing-files",
    /// R-CONF-6: a file listed twice gives two layers.
    AllowsDuplicateFiles = "allows-duplicate-files",
    /// R-CONF-2/R-MAN-5: the title keeps `.` components and repeated slashes.
    KeepsDotComponents = "keeps-dot-components",
    /// R-MAN-5: the title is the path a symlink resolves to, not the declared path.
    TitleFromTarget = "title-from-target",
    /// R-PRESET-2/R-PRESET-3: Wasm layers are `application/octet-stream`; Helm's config and
    /// chart media types are swapped.
    WrongMediaTypes = "wrong-media-types",
    /// R-FIELD-6/R-FIELD-7: `artifactType` and `mediaType` of a generic artifact are ignored.
    IgnoresDeclaredMediaTypes = "ignores-declared-media-types",
    /// R-PRESET-2: `type = "wasm"` takes any file and a declared `mediaType`.
    LenientWasm = "lenient-wasm",
    /// R-PRESET-4: a chart's repository and tags are not checked against the chart.
    IgnoresHelmRule = "ignores-helm-rule",
    /// R-PRESET-4: a chart version's `+` is kept in the tag.
    HelmTagKeepsPlus = "helm-tag-keeps-plus",
    /// R-PRESET-3: a chart goes to the app repository, not `<app repository>/<chart name>`.
    HelmChartInAppRepository = "helm-chart-in-app-repository",
    /// R-MAN-2: manifests are pretty-printed JSON, not RFC 8785.
    NonCanonicalJson = "non-canonical-json",
    /// R-MAN-6: manifests have no `subject`.
    NoSubject = "no-subject",
    /// R-MAN-4: layers are sorted by path instead of the declared order.
    SortsFiles = "sorts-files",
    /// R-MAN-4/R-PUSH-4: a file's size is taken as at most one 8 MiB piece.
    CapsFileSize = "caps-file-size",
    /// R-MAN-9/R-PUSH-6: manifests over 4 MiB are pushed.
    NoSizeLimit = "no-size-limit",
    /// R-MAN-8: `SOURCE_DATE_EPOCH` is ignored.
    IgnoresSourceDateEpoch = "ignores-source-date-epoch",
    /// R-MAN-8: without `SOURCE_DATE_EPOCH` the current time is written.
    TimestampsAlways = "timestamps-always",
    /// R-PUSH-3: the subject is not checked against the app image.
    NoSubjectCheck = "no-subject-check",
    /// R-PUSH-10: the app image is not made present in the other artifact repositories.
    NoSubjectCopy = "no-subject-copy",
    /// R-PUSH-1/R-PUSH-2: tags are set before the referrers index is written.
    TagsBeforeReferrers = "tags-before-referrers",
    /// R-PUSH-5: tags holding an artifact of this spec are treated as foreign.
    OwnArtifactsAsForeign = "own-artifacts-as-foreign",
    /// R-REF-4: the fallback index is replaced, not merged (other entries are lost).
    FallbackDropsEntries = "fallback-drops-entries",
    /// R-MAN-2: object members are sorted by their names' UTF-8 bytes (code points), not by
    /// UTF-16 code units: a name outside the BMP sorts after U+E000..U+FFFF.
    SortsKeysByUtf8 = "sorts-keys-by-utf8",
    /// R-MAN-2: U+007F is escaped as `\u007F` and control characters with upper-case hex
    /// (`\u001F`).
    UpperCaseEscapes = "upper-case-escapes",
    /// R-LABEL-3: `SOURCE_DATE_EPOCH` overrides a label that sets `org.opencontainers.image.created`.
    EpochOverridesCreatedLabel = "epoch-overrides-created-label",
    /// R-FILE-2: buildpack directories that group.toml does not list are read too.
    ReadsUnlistedBuildpacks = "reads-unlisted-buildpacks",
    /// R-FILE-2: `sbom`, `config`, `app` and dot-directories are read as buildpacks.
    ReadsLifecycleDirs = "reads-lifecycle-dirs",
    /// R-REF-4: of several entries of an existing fallback index with one digest, the last is
    /// kept instead of the first.
    KeepsLastDuplicate = "keeps-last-duplicate",
    /// R-AUTH-1: the Docker config file is consulted before `CNB_REGISTRY_AUTH`.
    DockerConfigFirst = "docker-config-first",
    /// R-AUTH-1: a malformed `CNB_REGISTRY_AUTH` is ignored and the next source is used.
    MalformedRegistryAuthFallsThrough = "malformed-registry-auth-falls-through",
    /// R-AUTH-4: the Docker config's `auths` entry is taken before its `credHelpers` helper.
    AuthsBeforeCredHelpers = "auths-before-cred-helpers",
    /// R-AUTH-2: the `Authorization` value of the credentials found is printed on stderr.
    PrintsCredentials = "prints-credentials",
}

impl Mutant {
    /// The mutant named `name`.
    pub fn from_name(name: &str) -> Option<Mutant> {
        Mutant::ALL.iter().copied().find(|m| m.name() == name)
    }
}

impl std::fmt::Display for Mutant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(feature = "mutants")]
mod armed {
    use std::sync::OnceLock;

    use super::Mutant;

    /// The environment variable naming the mutant to arm.
    pub const ENV: &str = "CNB_ARTIFACTS_MUTANT";

    pub static ARMED: OnceLock<Option<Mutant>> = OnceLock::new();

    /// `$CNB_ARTIFACTS_MUTANT` names no mutant.
    #[derive(Debug, thiserror::Error)]
    #[error("{ENV}={given} names no mutant; known: {known}")]
    pub struct UnknownMutant {
        /// The value of the variable, as given.
        pub given: String,
        /// The names of every mutant, comma-separated.
        pub known: String,
    }
}

#[cfg(feature = "mutants")]
pub use armed::{UnknownMutant, ENV};

/// Arms the mutant named by `$CNB_ARTIFACTS_MUTANT` for this process (none when unset or
/// empty); called once, by the mutant binary, before anything else.
#[cfg(feature = "mutants")]
pub fn arm() -> Result<Option<Mutant>, UnknownMutant> {
    let given = std::env::var(ENV).unwrap_or_default();
    let mutant = match given.as_str() {
        "" => None,
        name => Some(Mutant::from_name(name).ok_or_else(|| UnknownMutant {
            given: given.clone(),
            known: Mutant::ALL.iter().map(|m| m.name()).collect::<Vec<_>>().join(", "),
        })?),
    };
    let _ = armed::ARMED.set(mutant);
    Ok(mutant)
}

/// True when `mutant` is armed in this process.
#[cfg(feature = "mutants")]
pub fn active(mutant: Mutant) -> bool {
    armed::ARMED.get().copied().flatten() == Some(mutant)
}

/// Without the `mutants` feature no mutant is ever armed.
#[cfg(not(feature = "mutants"))]
#[inline(always)]
pub const fn active(_mutant: Mutant) -> bool {
    false
}

/// Without the feature, [`active`] is the constant `false` for every mutant: checked while
/// compiling, so a build without the feature cannot carry a live mutation.
#[cfg(not(feature = "mutants"))]
const _: () = {
    let mut i = 0;
    while i < Mutant::ALL.len() {
        assert!(!active(Mutant::ALL[i]), "a mutant is active without the `mutants` feature");
        i += 1;
    }
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_round_trip() {
        let mut names: Vec<&str> = Mutant::ALL.iter().map(|m| m.name()).collect();
        for m in Mutant::ALL {
            assert_eq!(Mutant::from_name(m.name()), Some(*m));
        }
        names.sort();
        names.dedup();
        assert_eq!(names.len(), Mutant::ALL.len());
        assert_eq!(Mutant::from_name("no-such-mutant"), None);
    }

    /// Every mutant has a file in conformance/mutants/ that arms it, and every file that arms a
    /// mutant names one that exists.
    #[test]
    fn every_mutant_has_a_mutant_file_and_back() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../conformance/mutants");
        let mut armed: Vec<String> = std::fs::read_dir(&dir)
            .expect("conformance/mutants")
            .filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
            .filter_map(|text| {
                let rest = text.split("CNB_ARTIFACTS_MUTANT=").nth(1)?;
                Some(rest.split_whitespace().next()?.to_string())
            })
            .collect();
        armed.sort();
        let mut known: Vec<String> = Mutant::ALL.iter().map(|m| m.name().to_string()).collect();
        known.sort();
        assert_eq!(armed, known);
    }

    /// In a test process nothing arms a mutant, so even with the feature none is active.
    #[test]
    fn no_mutant_is_active_unless_armed() {
        assert!(Mutant::ALL.iter().all(|m| !active(*m)));
    }
}
