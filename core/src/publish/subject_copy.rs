//! Step 2 of R-PUSH-1, second half: the subject manifest made present in every artifact
//! repository that is not the app image's (spec rule R-PUSH-10).
//!
//! Some clients copy an artifact together with its `subject` and look for the subject in the
//! artifact's own repository: Helm 4 (oras-go v2 `Copy`) fails a `helm pull` of a chart in
//! `<app repository>/<chart>` with `FindSuccessors … not found` otherwise. So, for each such
//! repository, [`copy_subject`] takes the subject manifest the preflight read from the app
//! image's repository (or reads it), makes every blob it references present by
//! cross-repository mount, asked for without a `HEAD` first (never by upload: the
//! app image's layers are not ours to copy byte by byte), pushes every child manifest of an
//! index the same way, and pushes the subject's bytes unchanged by digest. No tag is written,
//! so R-PUSH-2 holds. A blob the registry will not mount makes the copy [`Copied::Skipped`]:
//! publishing goes on, with a warning, because the artifacts are complete without it.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::media_types::{DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_INDEX, OCI_MANIFEST};
use crate::plan::{Plan, Subject};
use crate::publish::error::{PublishError, TargetError};
use crate::publish::target::{FetchedManifest, ManifestRef, Target, TargetKind};
use crate::reference::Digest;

/// How deep indexes may nest inside the subject (an index of indexes of manifests is 2).
const MAX_DEPTH: usize = 4;

/// What [`copy_subject`] did in one repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Copied {
    /// The repository is the app image's, or the target is not a registry: nothing to do.
    NotNeeded,
    /// The subject was already in the repository.
    AlreadyThere,
    /// The subject (and `manifests` manifests in all, children included) was pushed by digest.
    Pushed {
        /// How many manifests were pushed: the subject and, for an index, its children.
        manifests: usize,
    },
    /// The registry would not mount a blob of the subject; the subject stays absent.
    Skipped {
        /// Why, as the registry answered (already shown to the user as a warning).
        reason: String,
    },
}

/// Step 2's second half: [`copy_subject_known`] into every target repository of `plan`, `jobs`
/// repositories at a time; a skipped copy is a warning. `known`: the subject's manifest as the
/// preflight read it.
pub async fn copy_into_every_repository(
    target: &impl Target,
    plan: &Plan,
    subject: &Subject,
    known: Option<&FetchedManifest>,
    jobs: usize,
) -> Result<(), PublishError> {
    let repositories: BTreeSet<&str> = plan.artifacts.iter().map(|a| a.repository.as_str()).collect();
    crate::publish::jobs::in_order(repositories, jobs, |repository| async move {
        match copy_subject_known(target, &plan.context.image.repository, repository, subject, known).await? {
            Copied::Skipped { reason } => tracing::warn!(
                "the app image {} is not in {repository}, so clients that copy an artifact with its subject (Helm 4) cannot pull from there: {reason}",
                subject.digest
            ),
            copied => tracing::debug!("the app image in {repository}: {copied:?}"),
        }
        Ok::<(), PublishError>(())
    })
    .await?;
    Ok(())
}

/// Makes `subject` present in `repository` (R-PUSH-10); see the module documentation.
pub async fn copy_subject(target: &impl Target, app_repository: &str, repository: &str, subject: &Subject) -> Result<Copied, PublishError> {
    copy_subject_known(target, app_repository, repository, subject, None).await
}

/// [`copy_subject`], with the subject's manifest already read from the app image's repository
/// (`known`, used when its digest is the subject's), so that it is not read again.
pub async fn copy_subject_known(
    target: &impl Target,
    app_repository: &str,
    repository: &str,
    subject: &Subject,
    known: Option<&FetchedManifest>,
) -> Result<Copied, PublishError> {
    if target.kind() != TargetKind::Registry || repository == app_repository {
        return Ok(Copied::NotNeeded);
    }
    let failed = |source: TargetError| PublishError::SubjectCopy {
        repository: repository.to_string(),
        digest: subject.digest.clone(),
        source: Box::new(source),
    };
    if target.fetch_manifest(repository, ManifestRef::Digest(&subject.digest)).await.map_err(failed)?.is_some() {
        return Ok(Copied::AlreadyThere);
    }
    let known = known.filter(|m| m.digest == subject.digest).cloned();
    let mut copy = Copier { target, from: app_repository, to: repository, pushed: 0, known };
    match copy.manifest(&subject.digest, Some(&subject.media_type), 0).await.map_err(failed)? {
        Ok(()) => Ok(Copied::Pushed { manifests: copy.pushed }),
        Err(reason) => Ok(Copied::Skipped { reason }),
    }
}

/// One copy in progress: `Ok(Err(reason))` from its steps means "skip", `Err` means failure.
struct Copier<'a, T> {
    target: &'a T,
    from: &'a str,
    to: &'a str,
    pushed: usize,
    /// A manifest of `from` already read (the subject's), taken instead of reading it again.
    known: Option<FetchedManifest>,
}

impl<T: Target> Copier<'_, T> {
    /// Copies the manifest `digest` (children and blobs first, then its own bytes), pushed as its
    /// `mediaType` member or, without one, as `descriptor_type`, the media type of the
    /// descriptor that named it.
    async fn manifest(&mut self, digest: &Digest, descriptor_type: Option<&str>, depth: usize) -> Result<Result<(), String>, TargetError> {
        if depth > MAX_DEPTH {
            return Ok(Err(format!("its indexes nest deeper than {MAX_DEPTH} levels")));
        }
        let known = self.known.take_if(|m| &m.digest == digest);
        let fetched = match known {
            Some(m) => Some(m),
            None => self.target.fetch_manifest(self.from, ManifestRef::Digest(digest)).await?,
        };
        let Some(m) = fetched else {
            return Ok(Err(format!("{digest} is not in {}", self.from)));
        };
        if &m.digest != digest {
            return Ok(Err(format!("{}@{digest} answered bytes with digest {}", self.from, m.digest)));
        }
        let Some(media_type) = m.media_type.clone().or_else(|| descriptor_type.map(str::to_string)) else {
            return Ok(Err(format!("{digest} has no mediaType member, and neither has its descriptor")));
        };
        match referenced(&m, &media_type) {
            Err(reason) => return Ok(Err(reason)),
            Ok(Referenced::Blobs(blobs)) => {
                // Mounted without asking first whether `to` holds it: a mount of a blob already
                // there succeeds as well, and one request is all it takes either way.
                for blob in blobs {
                    if !self.target.mount_blob(self.to, self.from, &blob).await? {
                        return Ok(Err(format!("the registry did not mount blob {blob} from {} into {}", self.from, self.to)));
                    }
                }
            }
            Ok(Referenced::Manifests(children)) => {
                for (child, child_type) in children {
                    if self.target.fetch_manifest(self.to, ManifestRef::Digest(&child)).await?.is_none() {
                        if let Err(reason) = Box::pin(self.manifest(&child, child_type.as_deref(), depth + 1)).await? {
                            return Ok(Err(reason));
                        }
                    }
                }
            }
        }
        self.target.push_manifest(self.to, ManifestRef::Digest(digest), &media_type, &m.bytes).await?;
        self.pushed += 1;
        Ok(Ok(()))
    }
}

/// What a manifest references: blobs (an image manifest) or manifests (an index), each with
/// the `mediaType` of its entry when it has one.
#[derive(Debug, PartialEq, Eq)]
enum Referenced {
    Blobs(Vec<Digest>),
    Manifests(Vec<(Digest, Option<String>)>),
}

/// The digests `m` references. Layers with `urls` (non-distributable) are not in the registry
/// and are left out. `Err` names why the manifest cannot be copied.
fn referenced(m: &FetchedManifest, media_type: &str) -> Result<Referenced, String> {
    let v: Value = serde_json::from_slice(&m.bytes).map_err(|e| format!("{} is not JSON: {e}", m.digest))?;
    let digest_of = |d: &Value| -> Result<Digest, String> {
        d.get("digest")
            .and_then(Value::as_str)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("{} has a descriptor without a valid digest", m.digest))
    };
    let list = |key: &str| v.get(key).and_then(Value::as_array).cloned().unwrap_or_default();
    match media_type {
        OCI_MANIFEST | DOCKER_MANIFEST => {
            let config = v.get("config").ok_or_else(|| format!("{} has no config", m.digest))?;
            let mut blobs = vec![digest_of(config)?];
            for layer in list("layers").iter().filter(|l| l.get("urls").is_none()) {
                blobs.push(digest_of(layer)?);
            }
            Ok(Referenced::Blobs(blobs))
        }
        OCI_INDEX | DOCKER_MANIFEST_LIST => {
            let entry = |e: &Value| Ok((digest_of(e)?, e.get("mediaType").and_then(Value::as_str).map(str::to_string)));
            Ok(Referenced::Manifests(list("manifests").iter().map(entry).collect::<Result<_, String>>()?))
        }
        other => Err(format!("{} is a {other}, which this publisher does not copy", m.digest)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    fn fetched(json: &str) -> FetchedManifest {
        FetchedManifest::new(json.as_bytes().to_vec())
    }

    fn d(c: char) -> String {
        format!("sha256:{}", c.to_string().repeat(64))
    }

    #[test]
    fn r_push_10_image_manifest_references_config_and_distributable_layers() {
        let m = fetched(&format!(
            r#"{{"mediaType":"{OCI_MANIFEST}","config":{{"digest":"{}"}},"layers":[{{"digest":"{}"}},{{"digest":"{}","urls":["https://x"]}}]}}"#,
            d('a'),
            d('b'),
            d('c')
        ));
        let got = referenced(&m, OCI_MANIFEST).unwrap();
        assert_eq!(got, Referenced::Blobs(vec![d('a').parse().unwrap(), d('b').parse().unwrap()]));
    }

    #[test]
    fn r_push_10_index_references_its_manifests() {
        let m = fetched(&format!(
            r#"{{"mediaType":"{OCI_INDEX}","manifests":[{{"digest":"{}"}},{{"mediaType":"{OCI_MANIFEST}","digest":"{}"}}]}}"#,
            d('a'),
            d('b')
        ));
        assert_eq!(
            referenced(&m, OCI_INDEX).unwrap(),
            Referenced::Manifests(vec![(d('a').parse().unwrap(), None), (d('b').parse().unwrap(), Some(OCI_MANIFEST.to_string()))])
        );
    }

    #[rstest]
    #[case::not_json("nope", OCI_MANIFEST, "is not JSON")]
    #[case::no_config(r#"{"layers":[]}"#, OCI_MANIFEST, "has no config")]
    #[case::bad_digest(r#"{"config":{"digest":"md5:1"}}"#, OCI_MANIFEST, "without a valid digest")]
    #[case::other_type("{}", "application/vnd.example+json", "which this publisher does not copy")]
    fn r_push_10_uncopyable_manifests_say_why(#[case] json: &str, #[case] media_type: &str, #[case] reason: &str) {
        let err = referenced(&fetched(json), media_type).unwrap_err();
        assert!(err.contains(reason), "{err}");
    }

    use crate::publish::progress::BlobProgress;
    use crate::publish::referrers::{ReferrerEntry, ReferrersMode, ReferrersOutcome};
    use crate::publish::target::BlobSource;
    use std::sync::Mutex;

    /// A registry holding only the app image `app` in `app`; it mounts blobs when `mounts`, and
    /// records what is pushed.
    struct FakeRegistry {
        app: FetchedManifest,
        mounts: bool,
        pushed: Mutex<Vec<String>>,
    }

    impl FakeRegistry {
        fn new(app: FetchedManifest, mounts: bool) -> Self {
            FakeRegistry { app, mounts, pushed: Mutex::new(Vec::new()) }
        }

        fn pushed(&self) -> Vec<String> {
            self.pushed.lock().unwrap().clone()
        }
    }

    impl Target for FakeRegistry {
        fn kind(&self) -> TargetKind {
            TargetKind::Registry
        }
        fn describe(&self) -> String {
            "fake".into()
        }
        async fn fetch_manifest(&self, repository: &str, r: ManifestRef<'_>) -> Result<Option<FetchedManifest>, TargetError> {
            Ok((repository == "app" && r == ManifestRef::Digest(&self.app.digest)).then(|| self.app.clone()))
        }
        async fn blob_exists(&self, _: &str, _: &Digest) -> Result<bool, TargetError> {
            Ok(false)
        }
        async fn mount_blob(&self, _: &str, _: &str, _: &Digest) -> Result<bool, TargetError> {
            Ok(self.mounts)
        }
        async fn push_blob(&self, _: &str, d: &Digest, _: BlobSource<'_>, _: &BlobProgress) -> Result<(), TargetError> {
            self.pushed.lock().unwrap().push(format!("blob {d}"));
            Ok(())
        }
        async fn push_manifest(&self, repo: &str, r: ManifestRef<'_>, media_type: &str, _: &[u8]) -> Result<(), TargetError> {
            self.pushed.lock().unwrap().push(format!("manifest {} as {media_type}", r.in_repository(repo)));
            Ok(())
        }
        async fn record_referrers(
            &self,
            _: &str,
            _: &Subject,
            _: &[ReferrerEntry],
            _: ReferrersMode,
        ) -> Result<ReferrersOutcome, PublishError> {
            unreachable!("not called by copy_subject")
        }
    }

    /// A registry that holds the app image but refuses every mount (Amazon ECR has no
    /// cross-repository mount): the copy is skipped, nothing is pushed.
    #[tokio::test]
    async fn r_push_10_refused_mount_skips_the_copy_and_pushes_nothing() {
        let app = fetched(&format!(r#"{{"mediaType":"{OCI_MANIFEST}","config":{{"digest":"{}"}},"layers":[]}}"#, d('a')));
        let subject = Subject { digest: app.digest.clone(), size: app.bytes.len() as u64, media_type: OCI_MANIFEST.into() };
        let target = FakeRegistry::new(app, false);
        let copied = copy_subject(&target, "app", "app/chart", &subject).await.unwrap();
        let Copied::Skipped { reason } = copied else { panic!("expected a skip, got {copied:?}") };
        assert!(reason.contains(&format!("did not mount blob {} from app into app/chart", d('a'))), "{reason}");
        assert!(target.pushed().is_empty(), "pushed {:?}", target.pushed());
    }

    /// R-PUSH-10: a subject manifest without `mediaType` is pushed with the subject's media type
    /// (the descriptor that named it), its bytes unchanged.
    #[tokio::test]
    async fn r_push_10_a_subject_without_media_type_is_pushed_as_its_descriptor_says() {
        let app = fetched(&format!(r#"{{"schemaVersion":2,"config":{{"digest":"{}"}},"layers":[]}}"#, d('a')));
        assert_eq!(app.media_type, None);
        let subject = Subject { digest: app.digest.clone(), size: app.bytes.len() as u64, media_type: OCI_MANIFEST.into() };
        let target = FakeRegistry::new(app, true);
        let copied = copy_subject(&target, "app", "app/chart", &subject).await.unwrap();
        assert_eq!(copied, Copied::Pushed { manifests: 1 });
        assert_eq!(target.pushed(), [format!("manifest app/chart@{} as {OCI_MANIFEST}", subject.digest)]);
    }
}
