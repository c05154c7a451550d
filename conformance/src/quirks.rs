//! Running the suite behind a registry quirk profile (`conformance run --registry-quirks
//! PROFILE`, `docs/conformance.md`). The runner puts a quirks proxy
//! ([`crate::provider::quirks`]) in front of its registry and gives the implementation only the
//! proxy's host; it seeds, sets up and verifies through the registry directly, so a quirk changes
//! what the implementation meets, never what is checked.
//!
//! This module owns what each profile makes correct — [`QuirkRule`], one documented constant per
//! profile, from the publisher's promises of `tests/it/fault/quirks.rs` — and the *accepted
//! refusal* ([`judge_refusal`]). Where a profile makes failing the correct answer (R-PUSH-2,
//! R-REF-1, R-REF-4), a published case whose expectations do not hold still passes when every
//! invocation that failed exited non-zero quoting the registry's answer on standard error, the
//! quirk answered at least one request of the case's namespace, and the registry shows no tag
//! moved: every tag as it was, except that a fallback tag may have gained exactly the complete
//! entries of the refused artifacts (R-PUSH-2: fallback tags only ever gain entries), and the
//! artifacts of concurrent publishers that succeeded are published exactly.

use std::collections::BTreeMap;

use super::case::IndexCheck;
use super::expect::{self, ExpectedArtifact};
use super::implementation::{tail, Exit, Invocation};
use super::outcome::{CaseResult, Finding, QuirkRefusal, QuirksSummary};
use super::registry_view::{RegistryView, Snapshot};
use super::verify::{self, VerifyError};
use crate::provider::quirks::{start_quirks_proxy, wan, ProxyError, QuirkProfile, QuirksProxy, Wan};
use cnb_artifacts_core::plan::Subject;
use cnb_artifacts_core::reference::Digest;

/// What a refusal must quote of the registry's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// This text as a whole word: an OCI error code, an HTTP status, a content type.
    Word(&'static str),
    /// The subject's fallback tag `sha256-<hex>`, which the registry resolved to the subject.
    FallbackTag,
}

impl Answer {
    /// The text to look for, for the app image `subject`.
    pub fn text(self, subject: &Subject) -> String {
        match self {
            Answer::Word(word) => word.to_string(),
            Answer::FallbackTag => subject.digest.referrers_tag(),
        }
    }
}

/// What one profile makes correct behaviour.
#[derive(Debug, PartialEq, Eq)]
pub struct QuirkRule {
    pub profile: QuirkProfile,
    /// `Some`: failing is a correct answer to the quirk, when the failure quotes this.
    /// `None`: the publisher must cope, and every case is judged as without the quirk.
    pub refusal: Option<Answer>,
    /// The implementation meets no referrers API even when the registry has one, so fallback
    /// indexes are judged (R-REF-1).
    pub hides_referrers_api: bool,
}

/// `allowlist-media-types`: every manifest whose config is not an image config, or that has an
/// `artifactType`, is refused with `400 MANIFEST_INVALID` (GitLab, Quay). No artifact of this
/// spec can be published there, so the publisher must fail at the first manifest quoting
/// `MANIFEST_INVALID`, with no tag moved (`r_push_2_allowlist_media_types_rejection_…`).
pub const ALLOWLIST_MEDIA_TYPES: QuirkRule =
    QuirkRule { profile: QuirkProfile::AllowlistMediaTypes, refusal: Some(Answer::Word("MANIFEST_INVALID")), hides_referrers_api: false };

/// `referrers-html`: the referrers API answers `200 text/html` (a login page). R-REF-1: that is
/// neither the API nor its absence; the publisher must fail before setting any tag, quoting the
/// status and content type (`text/html`), and must not fall back on its own
/// (`r_ref_1_referrers_html_is_an_error_not_a_fallback`).
pub const REFERRERS_HTML: QuirkRule =
    QuirkRule { profile: QuirkProfile::ReferrersHtml, refusal: Some(Answer::Word("text/html")), hides_referrers_api: true };

/// `sha256-tag-is-subject`: a `GET` of the fallback tag `sha256-<hex>` serves the subject, an
/// image manifest. R-REF-4: the publisher must fail naming the fallback tag (and what it holds)
/// before setting any tag (`r_ref_4_fallback_tag_resolving_to_the_subject_is_refused`).
pub const SHA256_TAG_IS_SUBJECT: QuirkRule =
    QuirkRule { profile: QuirkProfile::Sha256TagIsSubject, refusal: Some(Answer::FallbackTag), hides_referrers_api: false };

/// `immutable-tags`: a `PUT` to a tag that exists is refused with `400 TAG_INVALID` (ECR,
/// Harbor). New tags are accepted and an unchanged re-publish writes no tag (R-PUSH-5), so most
/// publishes succeed; one that must rewrite a fallback index or move a tag fails quoting
/// `TAG_INVALID` with no tag moved, a new fallback tag holding only its complete index at most
/// (`r_push_2_immutable_tags_refusal_moves_no_tag`).
pub const IMMUTABLE_TAGS: QuirkRule =
    QuirkRule { profile: QuirkProfile::ImmutableTags, refusal: Some(Answer::Word("TAG_INVALID")), hides_referrers_api: false };

/// `conditional-412`: the first conditional (`If-Match`) `PUT` of a fallback index is refused with
/// `412`. R-REF-5: the merge starts again and the publish succeeds exactly as without the quirk;
/// no refusal is accepted (`r_ref_5_precondition_failed_restarts_the_merge`).
pub const CONDITIONAL_412: QuirkRule = QuirkRule { profile: QuirkProfile::Conditional412, refusal: None, hides_referrers_api: false };

/// `manifest-413`: manifest `PUT`s over 4096 bytes are refused with nginx's `413` page. The
/// publisher must fail at that manifest quoting `413`, with no tag moved; smaller manifests
/// publish as usual (`r_push_2_manifest_413_names_the_artifact_and_answer`).
pub const MANIFEST_413: QuirkRule =
    QuirkRule { profile: QuirkProfile::Manifest413, refusal: Some(Answer::Word("413")), hides_referrers_api: false };

/// `oci-subject-no-referrers`: manifest `PUT`s with a `subject` are answered with `OCI-Subject`,
/// but the referrers API answers 404. R-REF-1: 404 means no API, so the publisher must write the
/// fallback index and succeed as usual; no refusal is accepted
/// (`r_ref_1_oci_subject_header_without_referrers_api_writes_the_fallback`).
pub const OCI_SUBJECT_NO_REFERRERS: QuirkRule =
    QuirkRule { profile: QuirkProfile::OciSubjectNoReferrers, refusal: None, hides_referrers_api: true };

/// `wan`: every answer unchanged, only later. The publisher must cope, and every case is judged
/// as without the profile. The rule is the same for every round trip and bandwidth; the
/// profile a run met is [`QuirksProxy::profile`].
pub const WAN: QuirkRule =
    QuirkRule { profile: QuirkProfile::Wan(Wan { rtt: wan::DEFAULT_RTT, bandwidth: None }), refusal: None, hides_referrers_api: false };

/// The rule of `profile`.
pub fn rule(profile: QuirkProfile) -> &'static QuirkRule {
    match profile {
        QuirkProfile::AllowlistMediaTypes => &ALLOWLIST_MEDIA_TYPES,
        QuirkProfile::ReferrersHtml => &REFERRERS_HTML,
        QuirkProfile::Sha256TagIsSubject => &SHA256_TAG_IS_SUBJECT,
        QuirkProfile::ImmutableTags => &IMMUTABLE_TAGS,
        QuirkProfile::Conditional412 => &CONDITIONAL_412,
        QuirkProfile::Manifest413 => &MANIFEST_413,
        QuirkProfile::OciSubjectNoReferrers => &OCI_SUBJECT_NO_REFERRERS,
        QuirkProfile::Wan(_) => &WAN,
    }
}

/// The quirks proxy of a run, with its profile's rule; dropping it stops the proxy.
#[derive(Debug)]
pub struct Behind {
    pub proxy: QuirksProxy,
    pub rule: &'static QuirkRule,
}

impl Behind {
    /// Starts a proxy with `profile` in front of the registry at `upstream` (its URL).
    pub async fn start(upstream: &str, profile: QuirkProfile) -> Result<Behind, ProxyError> {
        Ok(Behind { proxy: start_quirks_proxy(upstream, profile).await?, rule: rule(profile) })
    }

    /// What the run did behind the proxy, for the results.
    pub fn summary(&self, cases: &[CaseResult]) -> QuirksSummary {
        QuirksSummary {
            profile: self.proxy.profile().to_string(),
            proxy_host: self.proxy.host(),
            hits: self.proxy.hits(),
            requests: self.proxy.requests(),
            fired: self.proxy.hits() > 0,
            refusals_accepted: cases.iter().filter(|c| c.quirk.as_ref().is_some_and(|q| q.refusal.is_some())).count(),
        }
    }
}

/// One invocation of a case behind the proxy.
pub struct Attempt<'a> {
    pub invocation: &'a Invocation,
    /// Digests of the files of its layers directory: an expected artifact whose files are all
    /// among them is this invocation's (several invocations run only with concurrent publishers).
    pub files: &'a [Digest],
}

/// What one publish step of a case did behind the proxy, for [`judge_refusal`].
pub struct Observed<'a> {
    pub attempts: Vec<Attempt<'a>>,
    /// The artifacts the attempts publish when they succeed (none for an earlier publish: then
    /// nothing at all may change).
    pub expected: &'a [ExpectedArtifact],
    pub index_check: IndexCheck,
    pub before: &'a Snapshot,
    pub after: &'a Snapshot,
    /// Answers the quirk changed for the case's namespace during the attempts.
    pub hits: u64,
    /// Whether this is an earlier publish the case needs.
    pub earlier_publish: bool,
}

/// The verdict on a failed publish behind a quirk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefusalVerdict {
    /// The profile accepts no refusal, or no invocation failed: the normal findings stand.
    NotARefusal,
    Accepted(QuirkRefusal),
    /// Why the failure is not an accepted refusal; added to the normal findings.
    NotAccepted(Vec<Finding>),
}

/// Judges whether the failure of a publish under `rule` is an accepted refusal (module doc).
pub async fn judge_refusal(
    rule: &QuirkRule,
    view: &RegistryView,
    subject: &Subject,
    referrers_api: bool,
    observed: &Observed<'_>,
) -> Result<RefusalVerdict, VerifyError> {
    let Some(answer) = rule.refusal else {
        return Ok(RefusalVerdict::NotARefusal);
    };
    if observed.attempts.iter().all(|a| a.invocation.exit.success()) {
        return Ok(RefusalVerdict::NotARefusal);
    }
    let answer = answer.text(subject);
    let mut findings = Vec::new();
    if observed.hits == 0 {
        findings.push(Finding::new(
            "quirk-refusal",
            format!(
                "the publish failed, but quirk {} changed no answer for this case, so the failure is not the registry's refusal",
                rule.profile
            ),
        ));
    }
    let mut refused = vec![false; observed.attempts.len()];
    let mut quoted = None;
    for (i, attempt) in observed.attempts.iter().enumerate() {
        let inv = attempt.invocation;
        let found = inv.stderr.lines().find_map(|l| find_word(l.trim(), &answer).map(|at| excerpt(l.trim(), at, answer.len())));
        match (inv.exit, found) {
            (Exit::Code(0), _) => {}
            (Exit::Code(_), Some(found)) => {
                refused[i] = true;
                quoted.get_or_insert(found);
            }
            (exit, _) => findings.push(
                Finding::new(
                    "quirk-refusal",
                    format!("`{}` ended with {exit}; a refusal under quirk {} exits non-zero quoting the registry's answer `{answer}` on standard error", inv.command, rule.profile),
                )
                .expected_found(format!("a non-zero exit status, `{answer}` on standard error"), format!("{exit}; standard error ends: {}", tail(&inv.stderr, 3))),
            ),
        }
    }
    if !findings.is_empty() {
        return Ok(RefusalVerdict::NotAccepted(findings));
    }
    let expected = expected_after(observed, &refused, referrers_api, subject);
    let state = verify::published(view, &expected, observed.index_check, referrers_api, subject, observed.before, observed.after).await?;
    if !state.is_empty() {
        findings.push(Finding::new(
            "quirk-refusal",
            format!(
                "the publish was refused quoting `{answer}`, but the registry does not show a refused publish: no tag may move (R-PUSH-2)"
            ),
        ));
        findings.extend(state);
        return Ok(RefusalVerdict::NotAccepted(findings));
    }
    Ok(RefusalVerdict::Accepted(QuirkRefusal {
        profile: rule.profile.to_string(),
        answer,
        quoted: quoted.unwrap_or_default(),
        refused: refused.iter().filter(|r| **r).count(),
        invocations: refused.len(),
        earlier_publish: observed.earlier_publish,
    }))
}

/// What the registry must show after the attempts, as artifacts for [`verify::published`]:
/// those of attempts that succeeded, as expected; those of refused attempts listed in the found
/// fallback index of their repository, without tags (they were pushed by digest, their entries
/// were added, no tag moved). With an exact index check, a repository's refused artifacts are
/// listed all or none.
fn expected_after(observed: &Observed<'_>, refused: &[bool], referrers_api: bool, subject: &Subject) -> Vec<ExpectedArtifact> {
    let referrers_tag = subject.digest.referrers_tag();
    let mut out = Vec::new();
    let mut refused_by_repo: BTreeMap<&str, Vec<&ExpectedArtifact>> = BTreeMap::new();
    for artifact in observed.expected {
        let owners = owners(artifact, &observed.attempts);
        if owners.iter().any(|&i| !refused[i]) {
            out.push(artifact.clone());
        } else if !referrers_api {
            refused_by_repo.entry(&artifact.repo).or_default().push(artifact);
        }
    }
    for (repo, artifacts) in refused_by_repo {
        let listed = observed.after.get(repo, &referrers_tag).map(|f| expect::index_digests(&f.bytes)).unwrap_or_default();
        let is_listed = |a: &&ExpectedArtifact| listed.contains(&a.digest.to_string());
        let gained: Vec<&ExpectedArtifact> = match observed.index_check {
            IndexCheck::Exact if artifacts.iter().any(is_listed) => artifacts,
            IndexCheck::Exact => Vec::new(),
            IndexCheck::AllowLostEntries => artifacts.into_iter().filter(is_listed).collect(),
        };
        out.extend(gained.into_iter().map(|a| ExpectedArtifact { tags: Vec::new(), ..a.clone() }));
    }
    out
}

/// The attempts `artifact` belongs to: those given every file it holds (all, when none is).
fn owners(artifact: &ExpectedArtifact, attempts: &[Attempt<'_>]) -> Vec<usize> {
    let manifest: serde_json::Value = serde_json::from_slice(&artifact.bytes).unwrap_or_default();
    let layers: Vec<&str> = manifest
        .get("layers")
        .and_then(|l| l.as_array())
        .into_iter()
        .flatten()
        .filter_map(|d| d.get("digest").and_then(|d| d.as_str()))
        .collect();
    let holds = |a: &Attempt<'_>| layers.iter().all(|l| a.files.iter().any(|f| f.as_str() == *l));
    let found: Vec<usize> = attempts.iter().enumerate().filter(|(_, a)| holds(a)).map(|(i, _)| i).collect();
    if found.is_empty() {
        (0..attempts.len()).collect()
    } else {
        found
    }
}

/// Where `word` occurs in `line` not as part of a longer word (so `413` is not found inside a
/// digest).
fn find_word(line: &str, word: &str) -> Option<usize> {
    let is_word = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
    line.match_indices(word)
        .map(|(at, _)| at)
        .find(|&at| !is_word(line[..at].chars().next_back()) && !is_word(line[at + word.len()..].chars().next()))
}

/// The part of `line` around the `len` bytes at `at`: up to [`AROUND`] characters each side.
fn excerpt(line: &str, at: usize, len: usize) -> String {
    let start = line[..at].char_indices().rev().nth(AROUND - 1).map_or(0, |(i, _)| i);
    let end = line[at + len..].char_indices().nth(AROUND).map_or(line.len(), |(i, _)| at + len + i);
    let (before, after) = (if start > 0 { "…" } else { "" }, if end < line.len() { "…" } else { "" });
    format!("{before}{}{after}", &line[start..end])
}

/// Characters quoted on each side of a registry's answer.
const AROUND: usize = 80;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry_view::ServedManifest;
    use rstest::rstest;

    #[test]
    fn every_profile_has_its_own_rule() {
        for profile in QuirkProfile::ALL {
            assert_eq!(rule(profile).profile, profile);
        }
        let wan = "wan:rtt=20ms,bw=1MiB".parse().unwrap();
        assert_eq!(rule(wan), &WAN);
        assert_eq!(rule(wan).refusal, None);
    }

    #[rstest]
    #[case("error: … answered 413 Request Entity Too Large", "413", true)]
    #[case("manifest sha256:0a413b… rejected", "413", false)]
    #[case("HTTP 400: {\"errors\":[{\"code\":\"MANIFEST_INVALID\"}]}", "MANIFEST_INVALID", true)]
    #[case("code TAG_INVALIDATED", "TAG_INVALID", false)]
    #[case("content type text/html: <!DOCTYPE html>", "text/html", true)]
    fn answers_are_found_as_whole_words(#[case] line: &str, #[case] word: &str, #[case] found: bool) {
        assert_eq!(find_word(line, word).is_some(), found);
    }

    #[test]
    fn long_lines_are_quoted_around_the_answer() {
        let line = format!("{}: HTTP 400 TAG_INVALID, {}", "é".repeat(200), "x".repeat(200));
        let at = find_word(&line, "TAG_INVALID").unwrap();
        let quoted = excerpt(&line, at, "TAG_INVALID".len());
        assert!(quoted.starts_with('…') && quoted.ends_with('…') && quoted.contains("HTTP 400 TAG_INVALID"), "{quoted}");
        assert_eq!(quoted.chars().count(), 2 * AROUND + "TAG_INVALID".len() + 2);
        assert_eq!(excerpt("a 413 b", 2, 3), "a 413 b");
    }

    fn artifact(repo: &str, layer: &Digest) -> ExpectedArtifact {
        let bytes = format!(r#"{{"layers":[{{"digest":"{layer}"}}],"repo":"{repo}"}}"#).into_bytes();
        ExpectedArtifact { file: format!("{repo}.json"), repo: repo.into(), tags: vec!["t".into()], digest: Digest::of(&bytes), bytes }
    }

    fn invocation(code: i32) -> Invocation {
        Invocation {
            command: "impl".into(),
            cwd: "/".into(),
            env: BTreeMap::new(),
            exit: Exit::Code(code),
            stdout: String::new(),
            stderr: String::new(),
            duration_ms: 0,
        }
    }

    /// With concurrent publishers, an artifact is the attempt's whose files it holds; a refused
    /// attempt's artifacts are expected untagged only when the found fallback index lists them.
    #[test]
    fn refused_artifacts_count_only_as_index_entries() {
        let (fa, fb) = (Digest::of(b"a"), Digest::of(b"b"));
        let (a, b) = (artifact("ns/app", &fa), artifact("ns/app", &fb));
        let expected = [a.clone(), b.clone()];
        let (ok, failed) = (invocation(0), invocation(3));
        let (files_a, files_b) = ([fa], [fb]);
        let attempts = vec![Attempt { invocation: &ok, files: &files_a }, Attempt { invocation: &failed, files: &files_b }];
        assert_eq!(owners(&b, &attempts), [1]);
        let subject = crate::provider::seed::app_image().subject();
        let index = expect::fallback_index("ns/app", None, &[&a, &b]).unwrap();
        let mut after = Snapshot::default();
        let fetched = ServedManifest { digest: Digest::of(&index), bytes: index, content_type: String::new() };
        after.repos.entry("ns/app".into()).or_default().insert(subject.digest.referrers_tag(), fetched);
        let before = Snapshot::default();
        let observed = |check| Observed {
            attempts: vec![Attempt { invocation: &ok, files: &files_a }, Attempt { invocation: &failed, files: &files_b }],
            expected: &expected,
            index_check: check,
            before: &before,
            after: &after,
            hits: 1,
            earlier_publish: false,
        };
        let got = expected_after(&observed(IndexCheck::AllowLostEntries), &[false, true], false, &subject);
        assert_eq!(got, [a.clone(), ExpectedArtifact { tags: vec![], ..b.clone() }]);
        assert_eq!(expected_after(&observed(IndexCheck::Exact), &[false, true], true, &subject), [a]);
    }

    #[test]
    fn refusals_describe_who_refused() {
        let r = QuirkRefusal {
            profile: "immutable-tags".into(),
            answer: "TAG_INVALID".into(),
            quoted: "error: TAG_INVALID".into(),
            refused: 2,
            invocations: 3,
            earlier_publish: false,
        };
        assert_eq!(r.describe(), "2 of 3 publishers refused under quirk immutable-tags: error: TAG_INVALID");
        assert!(QuirkRefusal { earlier_publish: true, ..r }.describe().starts_with("an earlier publish the case needs was refused"));
    }
}
