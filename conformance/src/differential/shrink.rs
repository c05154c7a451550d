//! Shrinking a diverging build: delta reduction over its parts. [`candidates`] lists every
//! build one step smaller (a buildpack, layer, artifact, app tag, foreign tag or referrer,
//! label or file dropped; `overwrite` cleared; a tag, repository or preset dropped; a label
//! value, file or chart made plain), biggest steps first. `shrink` keeps the first candidate
//! that still diverges the same way ([`super::compare::Divergence::kind`]) and starts over from
//! it, until no candidate does or the budget of candidates is spent.

use super::build::{Build, FileSource};
use super::compare::Divergence;
use super::DiffError;

/// Tells whether a build diverges, and how.
pub(crate) trait Oracle {
    async fn diverges(&mut self, build: &Build) -> Result<Option<Divergence>, DiffError>;
}

/// The smallest build found and its divergence, with the number of candidates tried.
#[derive(Debug, Clone)]
pub struct Shrunk {
    pub build: Build,
    pub divergence: Divergence,
    pub tried: usize,
}

/// Shrinks `build`, which diverges as `divergence`, trying at most `budget` candidates.
pub(crate) async fn shrink(build: Build, divergence: Divergence, budget: usize, oracle: &mut impl Oracle) -> Result<Shrunk, DiffError> {
    let kind = divergence.kind();
    let mut best = Shrunk { build, divergence, tried: 0 };
    'outer: loop {
        for candidate in candidates(&best.build) {
            if best.tried >= budget {
                break 'outer;
            }
            best.tried += 1;
            if let Some(d) = oracle.diverges(&candidate).await? {
                if d.kind() == kind {
                    best.build = candidate;
                    best.divergence = d;
                    continue 'outer;
                }
            }
        }
        break;
    }
    Ok(best)
}

/// Every build one step smaller than `b`, biggest steps first.
pub fn candidates(b: &Build) -> Vec<Build> {
    let mut out = Vec::new();
    let mut push = |f: &dyn Fn(&mut Build) -> bool| {
        let mut c = b.clone();
        if f(&mut c) && c != *b {
            out.push(c);
        }
    };
    for i in 0..b.buildpacks.len() {
        push(&|c: &mut Build| {
            c.buildpacks.remove(i);
            true
        });
    }
    for (i, bp) in b.buildpacks.iter().enumerate() {
        for j in 0..bp.layers.len() {
            push(&|c: &mut Build| {
                c.buildpacks[i].layers.remove(j);
                true
            });
        }
    }
    for_each_artifact(b, &mut |i, j, k| {
        push(&|c: &mut Build| {
            c.buildpacks[i].layers[j].artifacts.remove(k);
            true
        })
    });
    for t in 1..b.tags.len() {
        push(&|c: &mut Build| {
            c.tags.remove(t);
            true
        });
    }
    if b.tags.len() > 1 {
        push(&|c: &mut Build| {
            c.tags.remove(0);
            true
        });
    }
    for t in 0..b.foreign_tags.len() {
        push(&|c: &mut Build| {
            c.foreign_tags.remove(t);
            true
        });
    }
    for t in 0..b.foreign_referrers.len() {
        push(&|c: &mut Build| {
            c.foreign_referrers.remove(t);
            true
        });
    }
    push(&|c: &mut Build| std::mem::replace(&mut c.overwrite, false));
    for_each_artifact(b, &mut |i, j, k| {
        let a = &b.buildpacks[i].layers[j].artifacts[k];
        for l in 0..a.labels.len() {
            push(&|c: &mut Build| {
                c.buildpacks[i].layers[j].artifacts[k].labels.remove(l);
                true
            });
        }
        for f in 0..a.files.len().saturating_sub(1) {
            push(&|c: &mut Build| {
                c.buildpacks[i].layers[j].artifacts[k].files.remove(f + 1);
                true
            });
        }
        push(&|c: &mut Build| c.buildpacks[i].layers[j].artifacts[k].repository.take().is_some());
        push(&|c: &mut Build| c.buildpacks[i].layers[j].artifacts[k].tag.take().is_some());
        push(&|c: &mut Build| {
            let a = &mut c.buildpacks[i].layers[j].artifacts[k];
            a.preset.as_deref() == Some("generic") && a.preset.take().is_some()
        });
        for l in 0..a.labels.len() {
            push(&|c: &mut Build| {
                let value = &mut c.buildpacks[i].layers[j].artifacts[k].labels[l].1;
                *value = "v".to_string();
                true
            });
        }
        for f in 0..a.files.len() {
            push(&|c: &mut Build| {
                let file = &mut c.buildpacks[i].layers[j].artifacts[k].files[f];
                match &mut file.source {
                    FileSource::Bytes(bytes) => *bytes = b"x".to_vec(),
                    FileSource::Chart { name, version } => {
                        *name = "c".to_string();
                        *version = "1.0.0".to_string();
                    }
                    FileSource::LinkOut | FileSource::Absent => return false,
                }
                true
            });
        }
    });
    out
}

fn for_each_artifact(b: &Build, f: &mut dyn FnMut(usize, usize, usize)) {
    for (i, bp) in b.buildpacks.iter().enumerate() {
        for (j, layer) in bp.layers.iter().enumerate() {
            for k in 0..layer.artifacts.len() {
                f(i, j, k);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::differential::generate::generate;

    /// Diverges (as a manifest difference) while some artifact has a label with key `a`.
    struct LabelA {
        asked: usize,
    }

    impl Oracle for LabelA {
        async fn diverges(&mut self, build: &Build) -> Result<Option<Divergence>, DiffError> {
            self.asked += 1;
            let has =
                build.buildpacks.iter().flat_map(|b| &b.layers).flat_map(|l| &l.artifacts).any(|a| a.labels.iter().any(|(k, _)| k == "a"));
            Ok(has.then(|| Divergence::Manifest { key: "app:x".into(), reference: String::new(), implementation: String::new() }))
        }
    }

    fn with_label_a() -> Build {
        (0..500).map(|i| generate(1, i)).find(|b| b.artifact_count() > 2 && LabelA::has(b)).expect("some build has a label `a`")
    }

    impl LabelA {
        fn has(b: &Build) -> bool {
            b.buildpacks.iter().flat_map(|b| &b.layers).flat_map(|l| &l.artifacts).any(|a| a.labels.iter().any(|(k, _)| k == "a"))
        }
    }

    #[tokio::test]
    async fn shrinking_keeps_the_divergence_and_ends_at_one_artifact_with_one_label() {
        let build = with_label_a();
        let d = Divergence::Manifest { key: "app:x".into(), reference: String::new(), implementation: String::new() };
        let mut oracle = LabelA { asked: 0 };
        let shrunk = shrink(build, d, 1000, &mut oracle).await.unwrap();
        assert!(LabelA::has(&shrunk.build));
        assert_eq!(shrunk.build.artifact_count(), 1, "{:?}", shrunk.build);
        let a = &shrunk.build.buildpacks[0].layers[0].artifacts[0];
        assert_eq!(a.labels, [("a".to_string(), "v".to_string())]);
        assert_eq!(shrunk.tried, oracle.asked);
    }

    #[tokio::test]
    async fn the_budget_bounds_the_candidates_tried() {
        let d = Divergence::Manifest { key: "app:x".into(), reference: String::new(), implementation: String::new() };
        let mut oracle = LabelA { asked: 0 };
        let shrunk = shrink(with_label_a(), d, 3, &mut oracle).await.unwrap();
        assert_eq!(oracle.asked, 3);
        assert_eq!(shrunk.tried, 3);
    }

    #[test]
    fn every_candidate_is_smaller_or_plainer() {
        let b = generate(5, 5);
        let cands = candidates(&b);
        assert!(!cands.is_empty());
        assert!(cands.iter().all(|c| *c != b));
    }
}
