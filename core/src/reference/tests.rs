//! Unit tests of tag, repository, digest and image reference grammar and parsing (R-TAG-*,
//! R-REPO-*), including Docker's normalisation.

use super::*;
use rstest::rstest;

#[rstest]
#[case::simple("1.2.3", true)]
#[case::underscore_first("_x", true)]
#[case::dot_first(".x", false)]
#[case::dash_first("-x", false)]
#[case::plus("1.0.0+build", false)]
#[case::slash("a/b", false)]
#[case::max_len(&"a".repeat(128), true)]
#[case::too_long(&"a".repeat(129), false)]
#[case::empty("", false)]
fn r_tag_1_tag_grammar(#[case] tag: &str, #[case] ok: bool) {
    assert_eq!(validate_tag(tag).is_ok(), ok, "{tag}");
}

#[test]
fn r_tag_1_plus_has_its_own_error() {
    assert!(matches!(validate_tag("1.0+x"), Err(TagError::Plus { .. })));
}

#[rstest]
#[case("team/app", true)]
#[case("a__b/c-d/e.f", true)]
#[case("a---b", true)]
#[case("a___b", false)]
#[case("Team/app", false)]
#[case("team//app", false)]
#[case("/app", false)]
#[case("app/", false)]
#[case("a.-b", false)]
#[case("", false)]
fn r_repo_1_repository_grammar(#[case] path: &str, #[case] ok: bool) {
    assert_eq!(validate_repository_path(path).is_ok(), ok, "{path}");
}

#[test]
fn r_repo_1_length_limit_has_its_own_error() {
    assert_eq!(validate_repository_path(&"a".repeat(MAX_REPOSITORY_LEN)), Ok(()));
    let long = format!("a/{}", "b".repeat(MAX_REPOSITORY_LEN - 1));
    assert_eq!(validate_repository_path(&long), Err(RepositoryError::TooLong { repo: long.clone(), len: 256 }));
}

/// R-REPO-1: the 255 characters count the registry host, its port and the `/`.
#[test]
fn r_repo_1_length_limit_counts_the_host() {
    let registry = "registry.example.com:5000";
    let longest = "a".repeat(MAX_REPOSITORY_LEN - registry.len() - 1);
    assert_eq!(longest.len(), 229);
    assert_eq!(validate_repository_in(registry, &longest), Ok(()));
    let over = format!("{longest}b");
    assert_eq!(validate_repository_in(registry, &over), Err(RepositoryError::TooLong { repo: format!("{registry}/{over}"), len: 256 }));
    assert_eq!(validate_repository_in(registry, "Team/app"), Err(RepositoryError::Invalid("Team/app".to_string())));
}

#[rstest]
#[case(&format!("sha256-{}", "a".repeat(64)), true)]
#[case(&format!("sha256-{}", "A".repeat(64)), false)]
#[case(&format!("sha256-{}", "a".repeat(63)), false)]
#[case("sha256-", false)]
fn r_coll_3_referrers_tags(#[case] tag: &str, #[case] yes: bool) {
    assert_eq!(is_referrers_tag(tag), yes);
}

#[test]
fn image_refs_keep_registry_repository_and_tag() {
    let r: ImageRef = "localhost:5000/team/app:1.2.3".parse().unwrap();
    assert_eq!(r.registry, "localhost:5000");
    assert_eq!(r.repository, "team/app");
    assert_eq!(r.tag.as_deref(), Some("1.2.3"));
    assert_eq!(r.to_string(), "localhost:5000/team/app:1.2.3");
}

#[rstest]
#[case::docker_hub_official("alpine", "docker.io", "library/alpine", None)]
#[case::docker_hub_user("acme/app:1", "docker.io", "acme/app", Some("1"))]
#[case::host_with_port("localhost:5000/a/b:2", "localhost:5000", "a/b", Some("2"))]
#[case::dotted_host("reg.example.com/app", "reg.example.com", "app", None)]
#[case::ipv6_host("[::1]:5000/app:x", "[::1]:5000", "app", Some("x"))]
fn image_refs_are_normalised_like_docker(#[case] s: &str, #[case] registry: &str, #[case] repo: &str, #[case] tag: Option<&str>) {
    let r: ImageRef = s.parse().unwrap();
    assert_eq!((r.registry.as_str(), r.repository.as_str(), r.tag.as_deref()), (registry, repo, tag));
}

#[test]
fn image_refs_without_a_tag_have_none() {
    let r: ImageRef = "localhost:5000/team/app".parse().unwrap();
    assert_eq!(r.tag, None);
    let r: ImageRef = format!("localhost:5000/app@sha256:{}", "a".repeat(64)).parse().unwrap();
    assert_eq!(r.tag, None);
    assert!(r.digest.is_some());
}

#[rstest]
#[case::r_ctx_2_tag_with_plus(
    "localhost:5000/app:1.0.0+build.5",
    "image reference `localhost:5000/app:1.0.0+build.5`: tag `1.0.0+build.5` contains `+`, which tags may not contain"
)]
#[case::r_ctx_2_empty_tag("localhost:5000/app:", "image reference `localhost:5000/app:`: tag is empty")]
#[case::r_ctx_2_short_digest(
    "localhost:5000/app@sha256:abc",
    "image reference `localhost:5000/app@sha256:abc`: digest `sha256:abc` must be `sha256:` followed by 64 lowercase hex digits"
)]
#[case::r_ctx_2_uppercase_digest(&format!("r.io/app@sha256:{}", "A".repeat(64)), &format!("image reference `r.io/app@sha256:{0}`: digest `sha256:{0}` must be `sha256:` followed by 64 lowercase hex digits", "A".repeat(64)))]
#[case::r_ctx_2_uppercase_repository(
    "localhost:5000/App:1.0",
    "image reference `localhost:5000/App:1.0`: repository `App` is not a valid repository path"
)]
#[case::r_ctx_2_bad_port(
    "localhost:50a0/app:1.0",
    "image reference `localhost:50a0/app:1.0`: registry `localhost:50a0` is not a valid host[:port]"
)]
#[case::r_ctx_2_bad_host("reg_x.io/app", "image reference `reg_x.io/app`: registry `reg_x.io` is not a valid host[:port]")]
fn r_ctx_2_image_reference_errors_say_what_is_wrong(#[case] reference: &str, #[case] message: &str) {
    assert_eq!(reference.parse::<ImageRef>().unwrap_err(), message);
}

#[test]
fn digests_are_validated() {
    assert!("sha256:abc".parse::<Digest>().is_err());
    let d = Digest::of(b"{}");
    assert_eq!(d.as_str(), "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a");
    assert_eq!(d.referrers_tag(), format!("sha256-{}", d.hex()));
}
