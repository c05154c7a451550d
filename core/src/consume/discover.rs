//! Listing the artifacts whose subject is an app image: the subject's digest (read in the app
//! image's repository), then in that repository and in each extra one the caller names, its
//! referrers (referrers API, following its `Link` pages, else the fallback tag of R-REF-2),
//! each referrer's manifest (read within the 4 MiB limit and checked against its digest) and
//! the tags that point at each. Foreign entries (no `io.buildpacks.artifact.layer` annotation,
//! R-LABEL-3) are kept and marked.
//!
//! Referrers are per repository: an artifact published to another repository than the app
//! image's (a Helm chart's default `<app>/<chart>`, R-PRESET-4, or any `repository` template)
//! is listed only there, beside the copy of the subject R-PUSH-10 puts there. A registry has
//! no portable way to find those repositories, so the caller names them.

use std::collections::BTreeMap;

use oci_client::Reference;
use serde::Serialize;
use serde_json::Value;

use super::{escape, ConsumeError, Consumer};
use crate::media_types::{
    ANNOTATION_BUILDPACK_ID, ANNOTATION_LAYER, ANNOTATION_TITLE, BUILDPACKS_ARTIFACT, HELM_CONFIG, OCI_INDEX, TEST_RESULTS_CONFIG,
    WASM_CONFIG,
};
use crate::publish::referrers::{classify_probe, Probe};
use crate::publish::registry_http::{next_link, RawResponse};
use crate::reference::{is_referrers_tag, Digest, ImageRef};

/// At most this many tags of a repository are resolved to find the tags of the artifacts.
const MAX_TAGS: usize = 1000;

/// At most this many pages of a referrers API listing are read (each within the 4 MiB limit).
const MAX_PAGES: usize = 64;

/// Where the list of referrers came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ListingSource {
    /// The registry's referrers API (`GET /v2/<name>/referrers/<digest>`).
    ReferrersApi,
    /// The fallback tag `sha256-<hex>` (R-REF-2), where the API is not served.
    FallbackTag,
}

/// The referrers of one app image.
#[derive(Debug, Clone, Serialize)]
pub struct Discovery {
    /// `registry/repository`.
    pub image: String,
    /// The app image manifest's digest, the subject searched for.
    pub subject: String,
    /// Where the app image's own repository got its listing from.
    pub source: ListingSource,
    /// Every repository searched, the app image's first, with where its listing came from.
    pub repositories: Vec<Searched>,
    /// Every artifact found, in every repository searched, that matches the filter.
    pub artifacts: Vec<Discovered>,
}

/// One repository searched for referrers.
#[derive(Debug, Clone, Serialize)]
pub struct Searched {
    /// The repository path (on the app image's registry).
    pub repository: String,
    /// Where its listing came from.
    pub source: ListingSource,
    /// False when the subject is not in this repository, so nothing of this image can be listed
    /// there (every publisher copies it into each artifact repository, R-PUSH-10).
    #[serde(rename = "subjectPresent")]
    pub subject_present: bool,
}

/// One referrer and what its manifest says.
#[derive(Debug, Clone, Serialize)]
pub struct Discovered {
    /// The repository the artifact is in (on the app image's registry).
    pub repository: String,
    /// The artifact manifest's digest.
    pub digest: String,
    /// Size of the manifest.
    pub size: u64,
    /// The manifest's `artifactType`.
    #[serde(rename = "artifactType")]
    pub artifact_type: String,
    /// The buildpack ID that published it (`io.buildpacks.artifact.buildpack.id`), when annotated.
    pub buildpack: Option<String>,
    /// The layer that declared it, when annotated.
    pub layer: Option<String>,
    /// The repository's tags that point at this manifest (read from the tag list, bounded).
    pub tags: Vec<String>,
    /// True when another tool published it (no `io.buildpacks.artifact.layer`).
    pub foreign: bool,
    /// The manifest's annotations, as read.
    pub annotations: BTreeMap<String, String>,
    /// The config descriptor (its `title` is always `None`): a policy can read the config
    /// alone, e.g. the test summary of R-PRESET-5.
    pub config: Option<DiscoveredFile>,
    /// The layers: one file each.
    pub files: Vec<DiscoveredFile>,
}

/// One layer of a referrer.
#[derive(Debug, Clone, Serialize)]
pub struct DiscoveredFile {
    /// The file's path (`org.opencontainers.image.title`), when annotated.
    pub title: Option<String>,
    /// The blob's digest.
    pub digest: String,
    /// The blob's size in bytes.
    pub size: u64,
    /// The blob's media type.
    #[serde(rename = "mediaType")]
    pub media_type: String,
}

/// Which artifacts to keep: every given condition must hold.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// A preset name (`generic`, `wasm`, `helm`) or an exact `artifactType`.
    pub artifact_type: Option<String>,
    /// An exact buildpack ID (`io.buildpacks.artifact.buildpack.id`).
    pub buildpack: Option<String>,
    /// Annotations the manifest must carry, as exact (key, value) pairs.
    pub annotations: Vec<(String, String)>,
}

impl Filter {
    /// Whether `artifact` passes every condition.
    pub fn matches(&self, artifact: &Discovered) -> bool {
        let wanted_type = self.artifact_type.as_deref().map(|t| match t {
            "generic" => BUILDPACKS_ARTIFACT,
            "wasm" => WASM_CONFIG,
            "helm" => HELM_CONFIG,
            "junit" => TEST_RESULTS_CONFIG,
            other => other,
        });
        wanted_type.is_none_or(|t| artifact.artifact_type == t)
            && self.buildpack.as_deref().is_none_or(|b| artifact.buildpack.as_deref() == Some(b))
            && self.annotations.iter().all(|(k, v)| artifact.annotations.get(k) == Some(v))
    }

    /// The conditions as written on the command line, for messages.
    pub fn describe(&self) -> String {
        let mut parts: Vec<String> = Vec::new();
        parts.extend(self.artifact_type.iter().map(|t| format!("--type {t}")));
        parts.extend(self.buildpack.iter().map(|b| format!("--buildpack {b}")));
        parts.extend(self.annotations.iter().map(|(k, v)| format!("--annotation {k}={v}")));
        if parts.is_empty() {
            "no filter".into()
        } else {
            escape(&parts.join(" "))
        }
    }
}

/// Lists the referrers of `image` (a tag or digest reference) in its repository and in each of
/// `also` (repositories of the same registry, e.g. `team/app/hello` for a chart); a repository
/// named twice is searched once.
pub async fn discover(consumer: &Consumer, image: &ImageRef, also: &[String]) -> Result<Discovery, ConsumeError> {
    let subject = match &image.digest {
        Some(d) => d.clone(),
        None => {
            let tag = image.tag.as_deref().unwrap_or("latest");
            let reference = format!("{}:{tag}", image.name());
            let answer = manifest(consumer, &image.repository, tag, &reference).await?;
            Digest::of(&answer.body)
        }
    };
    let mut repositories: Vec<Searched> = Vec::new();
    let mut artifacts = Vec::new();
    for repository in std::iter::once(&image.repository).chain(also) {
        if repositories.iter().any(|r| &r.repository == repository) {
            continue;
        }
        let (source, listing) = referrers(consumer, repository, &subject).await?;
        let subject_present =
            repository == &image.repository || !listing.is_empty() || has_manifest(consumer, repository, &subject).await?;
        if !subject_present {
            tracing::warn!(
                "{}/{}: the subject {subject} is not in this repository, so no artifact of it is published there",
                consumer.registry,
                escape(repository)
            );
        }
        let mut found = Vec::new();
        for entry in listing {
            found.push(referrer(consumer, repository, &entry).await?);
        }
        tags_of(consumer, repository, &mut found).await?;
        artifacts.extend(found);
        repositories.push(Searched { repository: repository.clone(), source, subject_present });
    }
    let source = repositories[0].source;
    Ok(Discovery { image: image.name(), subject: subject.to_string(), source, repositories, artifacts })
}

/// Whether `repository` holds the manifest `digest`.
async fn has_manifest(consumer: &Consumer, repository: &str, digest: &Digest) -> Result<bool, ConsumeError> {
    let what = format!("{}/{repository}@{digest}", consumer.registry);
    match manifest(consumer, repository, digest.as_str(), &what).await {
        Ok(_) => Ok(true),
        Err(ConsumeError::NotFound { .. }) => Ok(false),
        Err(e) => Err(e),
    }
}

/// A referrer as listed: digest and manifest size.
struct Listed {
    digest: Digest,
    size: u64,
}

/// The referrers listing of `subject`: the API's answer, else the fallback tag's index (none
/// when the tag does not exist).
async fn referrers(consumer: &Consumer, repository: &str, subject: &Digest) -> Result<(ListingSource, Vec<Listed>), ConsumeError> {
    let what = format!("referrers of {}/{repository}@{subject}", consumer.registry);
    let answer = consumer.http.referrers(repository, subject.as_str()).await.map_err(|e| registry(&what, e))?;
    match classify_probe(answer.status, answer.content_type.as_deref(), &answer.body) {
        Ok(Probe::Supported) => {
            let mut all = listed(&what, &answer.body)?;
            let mut next = next_page(&what, &consumer.registry, repository, subject, answer.link.as_deref())?;
            let mut pages = 1;
            while let Some(query) = next {
                pages += 1;
                if pages > MAX_PAGES {
                    return Err(ConsumeError::Invalid { what, reason: format!("more than {MAX_PAGES} pages") });
                }
                let page =
                    consumer.http.referrers_page(repository, subject.as_str(), Some(&query)).await.map_err(|e| registry(&what, e))?;
                if !page.is_success() {
                    return Err(ConsumeError::Registry { what, reason: escape(&page.to_error().to_string()) });
                }
                all.extend(listed(&what, &page.body)?);
                next = next_page(&what, &consumer.registry, repository, subject, page.link.as_deref())?;
            }
            Ok((ListingSource::ReferrersApi, all))
        }
        Ok(Probe::Unsupported) => {
            let tag = subject.referrers_tag();
            let what = format!("fallback index {}/{repository}:{tag}", consumer.registry);
            let answer = consumer.http.get_manifest(repository, &tag).await.map_err(|e| registry(&what, e))?;
            match answer.status {
                404 => Ok((ListingSource::FallbackTag, Vec::new())),
                200..=299 => Ok((ListingSource::FallbackTag, listed(&what, &answer.body)?)),
                _ => Err(ConsumeError::Registry { what, reason: escape(&answer.to_error().to_string()) }),
            }
        }
        Err(reason) => Err(ConsumeError::Registry { what, reason: escape(&reason) }),
    }
}

/// The query of the next page a referrers answer's `Link` header names (`<url>; rel="next"`,
/// distribution spec "Listing Referrers"), or `None` on the last page. The link must name this
/// very listing on this registry (a relative URL, or an absolute one on the registry's host):
/// only its query is taken, so the credentials go nowhere else.
fn next_page(what: &str, registry: &str, repository: &str, subject: &Digest, link: Option<&str>) -> Result<Option<String>, ConsumeError> {
    let Some(url) = link.and_then(next_link) else { return Ok(None) };
    let invalid = |reason: String| ConsumeError::Invalid { what: what.to_string(), reason };
    let path_and_query = match url.split_once("://") {
        Some((_, rest)) => {
            let (host, path) = rest.split_once('/').map(|(h, p)| (h, format!("/{p}"))).unwrap_or((rest, "/".into()));
            if !host.eq_ignore_ascii_case(registry) {
                return Err(invalid(format!("the next page is on another host: {}", escape(url))));
            }
            path
        }
        None => url.to_string(),
    };
    let (path, query) = path_and_query.split_once('?').unwrap_or((&path_and_query, ""));
    if path != format!("/v2/{repository}/referrers/{subject}") {
        return Err(invalid(format!("the next page is not this listing: {}", escape(url))));
    }
    Ok((!query.is_empty()).then(|| query.to_string()))
}

/// The `manifests` of an OCI image index.
fn listed(what: &str, body: &[u8]) -> Result<Vec<Listed>, ConsumeError> {
    let invalid = |reason: String| ConsumeError::Invalid { what: what.to_string(), reason };
    let index: Value = serde_json::from_slice(body).map_err(|e| invalid(e.to_string()))?;
    if index.get("mediaType").and_then(Value::as_str).is_some_and(|m| m != OCI_INDEX) {
        return Err(invalid("not an OCI image index".into()));
    }
    let manifests = index.get("manifests").and_then(Value::as_array).ok_or_else(|| invalid("no `manifests` array".into()))?;
    manifests
        .iter()
        .map(|m| {
            let digest = m.get("digest").and_then(Value::as_str).and_then(|d| d.parse().ok());
            let size = m.get("size").and_then(Value::as_u64);
            match (digest, size) {
                (Some(digest), Some(size)) => Ok(Listed { digest, size }),
                _ => Err(invalid(format!("an entry without a valid digest and size: {}", escape(&m.to_string())))),
            }
        })
        .collect()
}

/// Reads one referrer's manifest in `repository`, checked against its descriptor.
async fn referrer(consumer: &Consumer, repository: &str, entry: &Listed) -> Result<Discovered, ConsumeError> {
    let what = format!("{}/{repository}@{}", consumer.registry, entry.digest);
    let answer = manifest(consumer, repository, entry.digest.as_str(), &what).await?;
    let found = Digest::of(&answer.body);
    if found != entry.digest {
        return Err(ConsumeError::DigestMismatch { what, expected: entry.digest.to_string(), found: found.to_string() });
    }
    if answer.body.len() as u64 != entry.size {
        return Err(ConsumeError::Invalid { what, reason: format!("{} bytes, the listing says {}", answer.body.len(), entry.size) });
    }
    let manifest: Value =
        serde_json::from_slice(&answer.body).map_err(|e| ConsumeError::Invalid { what: what.clone(), reason: e.to_string() })?;
    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_string);
    let annotations: BTreeMap<String, String> = manifest
        .get("annotations")
        .and_then(Value::as_object)
        .map(|a| a.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string()))).collect())
        .unwrap_or_default();
    let artifact_type =
        text(manifest.get("artifactType")).or_else(|| text(manifest.get("config").and_then(|c| c.get("mediaType")))).unwrap_or_default();
    let descriptor = |l: &Value| DiscoveredFile {
        title: text(l.get("annotations").and_then(|a| a.get(ANNOTATION_TITLE))),
        digest: text(l.get("digest")).unwrap_or_default(),
        size: l.get("size").and_then(Value::as_u64).unwrap_or(0),
        media_type: text(l.get("mediaType")).unwrap_or_default(),
    };
    let config = manifest.get("config").filter(|c| c.is_object()).map(descriptor).map(|c| DiscoveredFile { title: None, ..c });
    let files = manifest.get("layers").and_then(Value::as_array).map(|layers| layers.iter().map(descriptor).collect()).unwrap_or_default();
    Ok(Discovered {
        repository: repository.to_string(),
        digest: entry.digest.to_string(),
        size: entry.size,
        artifact_type,
        buildpack: annotations.get(ANNOTATION_BUILDPACK_ID).cloned(),
        layer: annotations.get(ANNOTATION_LAYER).cloned(),
        tags: Vec::new(),
        foreign: !annotations.contains_key(ANNOTATION_LAYER),
        annotations,
        config,
        files,
    })
}

/// Fills in the tags of `artifacts`: every tag of the repository but the referrers tags, up
/// to [`MAX_TAGS`], resolved to a digest.
async fn tags_of(consumer: &Consumer, repository: &str, artifacts: &mut [Discovered]) -> Result<(), ConsumeError> {
    if artifacts.is_empty() {
        return Ok(());
    }
    let what = format!("tags of {}/{repository}", consumer.registry);
    let reference = Reference::with_tag(consumer.registry.clone(), repository.to_string(), "latest".into());
    let tags = consumer
        .client
        .list_tags(&reference, &consumer.auth, None, None)
        .await
        .map_err(|e| ConsumeError::Registry { what: what.clone(), reason: escape(&e.to_string()) })?
        .tags;
    if tags.len() > MAX_TAGS {
        tracing::warn!("{what}: {} tags, only the first {MAX_TAGS} are resolved", tags.len());
    }
    for tag in tags.iter().filter(|t| !is_referrers_tag(t)).take(MAX_TAGS) {
        let answer = consumer.http.get_manifest(repository, tag).await.map_err(|e| registry(&what, e))?;
        if !answer.is_success() {
            continue;
        }
        let digest = Digest::of(&answer.body).to_string();
        for a in artifacts.iter_mut().filter(|a| a.digest == digest) {
            a.tags.push(tag.clone());
        }
    }
    Ok(())
}

/// `GET` a manifest; 404 is [`ConsumeError::NotFound`].
async fn manifest(consumer: &Consumer, repository: &str, reference: &str, what: &str) -> Result<RawResponse, ConsumeError> {
    let answer = consumer.http.get_manifest(repository, reference).await.map_err(|e| registry(what, e))?;
    match answer.status {
        200..=299 => Ok(answer),
        404 => Err(ConsumeError::NotFound { reference: escape(what) }),
        _ => Err(ConsumeError::Registry { what: what.to_string(), reason: escape(&answer.to_error().to_string()) }),
    }
}

fn registry(what: &str, e: impl std::fmt::Display) -> ConsumeError {
    ConsumeError::Registry { what: what.to_string(), reason: escape(&crate::publish::auth::redact::redact(&e.to_string())) }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SUBJECT: &str = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

    fn next(link: &str) -> Result<Option<String>, String> {
        let subject: Digest = SUBJECT.parse().unwrap();
        next_page("listing", "reg.example:5000", "team/app", &subject, Some(link)).map_err(|e| e.to_string())
    }

    #[test]
    fn the_next_page_is_taken_only_from_this_listing_on_this_registry() {
        let path = format!("/v2/team/app/referrers/{SUBJECT}");
        assert_eq!(next(&format!("<{path}?n=10&last=x>; rel=\"next\"")), Ok(Some("n=10&last=x".into())));
        assert_eq!(next(&format!("<https://reg.example:5000{path}?page=2>; rel=next")), Ok(Some("page=2".into())));
        assert_eq!(next(&format!("<{path}?page=0>; rel=\"prev\"")), Ok(None), "only rel=next is followed");
        assert!(next(&format!("<https://elsewhere.example{path}?page=2>; rel=\"next\"")).unwrap_err().contains("another host"));
        assert!(next("</v2/team/other/referrers/x?page=2>; rel=\"next\"").unwrap_err().contains("not this listing"));
    }
}
