//! Fuzz target `reference`: arbitrary text as an image reference, tag, repository path and
//! digest (rules R-CTX-2, R-TAG-1, R-REPO-1, R-COLL-3). Never a panic; beyond that:
//!
//! - a parsed [`ImageRef`] prints to a reference that parses back to the same value;
//! - an accepted tag is 1..=128 ASCII characters and makes a valid reference with an accepted
//!   repository (`localhost:5000/<repository>:<tag>`), so the publisher can address every
//!   artifact the planner accepts;
//! - a parsed [`Digest`] prints as its input and its referrers tag is one (R-COLL-3).

#![no_main]

use cnb_artifacts_core::reference::{
    is_referrers_tag, validate_repository_path, validate_tag, Digest, ImageRef, MAX_TAG_LEN,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    if let Ok(image) = text.parse::<ImageRef>() {
        let printed = image.to_string();
        let again: ImageRef = printed.parse().unwrap_or_else(|e| {
            panic!("{text:?} printed as {printed:?}, which does not parse: {e}")
        });
        assert_eq!(again, image, "{text:?} printed as {printed:?}");
        let _ = image.name();
    }

    let tag_ok = match validate_tag(text) {
        Ok(()) => {
            assert!(
                !text.is_empty() && text.len() <= MAX_TAG_LEN && text.is_ascii(),
                "accepted tag {text:?}"
            );
            true
        }
        Err(e) => {
            let _ = (e.to_string(), e.help());
            false
        }
    };
    let _ = is_referrers_tag(text);

    let repository_ok = match validate_repository_path(text) {
        Ok(()) => true,
        Err(e) => {
            let _ = (e.to_string(), e.help());
            false
        }
    };
    let tag = if tag_ok { text } else { "t" };
    let repository = if repository_ok { text } else { "r" };
    let reference = format!("localhost:5000/{repository}:{tag}");
    if let Err(e) = reference.parse::<ImageRef>() {
        panic!(
            "accepted tag {tag:?} and repository {repository:?} make {reference:?}, refused: {e}"
        );
    }

    if let Ok(digest) = text.parse::<Digest>() {
        assert_eq!(digest.as_str(), text);
        assert_eq!(digest.hex().len(), 64);
        assert!(is_referrers_tag(&digest.referrers_tag()));
    }
});
