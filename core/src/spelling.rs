//! Words for users: "did you mean …?" (the known word closest in spelling to one the user
//! wrote, for unknown artifact keys, R-FIELD-9, and template variables, R-TPL-4) and counted
//! nouns ("1 case", "2 cases").

/// `n` and the noun, singular for 1: `count(1, "case", "cases")` is `1 case`.
pub fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The candidate `word` was most likely meant to be: the same letters ignoring case, `-` and
/// `_`, or close in spelling (one edit for words of up to 3 characters, else two; a swap of
/// neighbouring letters counts as one edit). Ties go to the earliest candidate.
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let fold = |s: &str| -> Vec<char> { s.chars().filter(|c| *c != '_' && *c != '-').flat_map(char::to_lowercase).collect() };
    let folded = fold(word);
    let limit = if folded.len() <= 3 { 1 } else { 2 };
    candidates
        .into_iter()
        .enumerate()
        .map(|(i, k)| (edit_distance(&folded, &fold(k)), i, k))
        .filter(|(d, _, _)| *d <= limit)
        .min()
        .map(|(_, _, k)| k)
}

/// Optimal-string-alignment distance: insertions, deletions, substitutions and swaps of
/// neighbouring characters each cost one.
fn edit_distance(a: &[char], b: &[char]) -> usize {
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1).min(d[i][j - 1] + 1).min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::closest;

    #[test]
    fn counted_nouns_are_singular_for_one() {
        assert_eq!(super::count(1, "case", "cases"), "1 case");
        assert_eq!(super::count(0, "case", "cases"), "0 cases");
        assert_eq!(super::count(2, "expected failure", "expected failures"), "2 expected failures");
    }

    #[test]
    fn swaps_case_and_separators_are_near() {
        assert_eq!(closest("build.tga", ["build.tag", "build.image"]), Some("build.tag"));
        assert_eq!(closest("media_type", ["mediaType", "artifactType"]), Some("mediaType"));
        assert_eq!(closest("env.USER", ["build.tag", "layer.name"]), None);
    }
}
