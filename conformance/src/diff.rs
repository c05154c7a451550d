//! A line-based unified diff of two small texts (expected vs found manifest JSON, or
//! expectation files before and after `regen`). Longest-common-subsequence over lines: the
//! texts are manifests of a few dozen lines, so the quadratic table is cheap.

/// Lines of context around each change.
const CONTEXT: usize = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op<'a> {
    Same(&'a str),
    Removed(&'a str),
    Added(&'a str),
}

/// `None` when the texts are equal; else a unified diff with `--- expected_name` /
/// `+++ found_name` headers and `@@` hunks.
pub fn unified(expected_name: &str, expected: &str, found_name: &str, found: &str) -> Option<String> {
    if expected == found {
        return None;
    }
    let a: Vec<&str> = expected.lines().collect();
    let b: Vec<&str> = found.lines().collect();
    let ops = lcs_ops(&a, &b);
    let mut out = format!("--- {expected_name}\n+++ {found_name}\n");
    // Positions (in `ops`) of changes, grouped into hunks with CONTEXT lines around them.
    let changed: Vec<usize> = ops.iter().enumerate().filter(|(_, op)| !matches!(op, Op::Same(_))).map(|(i, _)| i).collect();
    let mut i = 0;
    while i < changed.len() {
        let start = changed[i].saturating_sub(CONTEXT);
        let mut end = changed[i] + CONTEXT + 1;
        while i + 1 < changed.len() && changed[i + 1] <= end + CONTEXT {
            i += 1;
            end = changed[i] + CONTEXT + 1;
        }
        let end = end.min(ops.len());
        let (mut a_line, mut b_line) = (1, 1);
        for op in &ops[..start] {
            match op {
                Op::Same(_) => {
                    a_line += 1;
                    b_line += 1;
                }
                Op::Removed(_) => a_line += 1,
                Op::Added(_) => b_line += 1,
            }
        }
        let hunk = &ops[start..end];
        let a_len = hunk.iter().filter(|o| !matches!(o, Op::Added(_))).count();
        let b_len = hunk.iter().filter(|o| !matches!(o, Op::Removed(_))).count();
        // An empty side starts at line 0, as in `diff -u`.
        let (a_line, b_line) = (if a_len == 0 { a_line - 1 } else { a_line }, if b_len == 0 { b_line - 1 } else { b_line });
        out.push_str(&format!("@@ -{a_line},{a_len} +{b_line},{b_len} @@\n"));
        for op in hunk {
            let (sign, line) = match op {
                Op::Same(l) => (' ', l),
                Op::Removed(l) => ('-', l),
                Op::Added(l) => ('+', l),
            };
            out.push(sign);
            out.push_str(line);
            out.push('\n');
        }
        i += 1;
    }
    Some(out)
}

fn lcs_ops<'a>(a: &[&'a str], b: &[&'a str]) -> Vec<Op<'a>> {
    // table[i][j] = length of the LCS of a[i..] and b[j..]
    let mut table = vec![vec![0u32; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            table[i][j] = if a[i] == b[j] { table[i + 1][j + 1] + 1 } else { table[i + 1][j].max(table[i][j + 1]) };
        }
    }
    let (mut i, mut j, mut ops) = (0, 0, Vec::new());
    while i < a.len() && j < b.len() {
        if a[i] == b[j] {
            ops.push(Op::Same(a[i]));
            i += 1;
            j += 1;
        } else if table[i + 1][j] >= table[i][j + 1] {
            ops.push(Op::Removed(a[i]));
            i += 1;
        } else {
            ops.push(Op::Added(b[j]));
            j += 1;
        }
    }
    ops.extend(a[i..].iter().map(|l| Op::Removed(l)));
    ops.extend(b[j..].iter().map(|l| Op::Added(l)));
    ops
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_texts_have_no_diff() {
        assert_eq!(unified("a", "x\ny\n", "b", "x\ny\n"), None);
    }

    #[test]
    fn a_changed_line_shows_as_removed_and_added_with_context() {
        let expected = "{\n  \"a\": 1,\n  \"b\": 2,\n  \"c\": 3\n}";
        let found = "{\n  \"a\": 1,\n  \"b\": 5,\n  \"c\": 3\n}";
        let diff = unified("expected", expected, "found", found).expect("differs");
        assert_eq!(diff, "--- expected\n+++ found\n@@ -1,5 +1,5 @@\n {\n   \"a\": 1,\n-  \"b\": 2,\n+  \"b\": 5,\n   \"c\": 3\n }\n");
    }

    #[test]
    fn distant_changes_make_separate_hunks() {
        let a: Vec<String> = (0..30).map(|i| i.to_string()).collect();
        let mut b = a.clone();
        b[2] = "two".into();
        b[25] = "twenty-five".into();
        let diff = unified("e", &a.join("\n"), "f", &b.join("\n")).unwrap();
        assert_eq!(diff.matches("@@ -").count(), 2, "{diff}");
        assert!(diff.contains("-25\n+twenty-five\n"));
    }

    #[test]
    fn added_lines_at_the_end() {
        let diff = unified("e", "a", "f", "a\nb").unwrap();
        assert!(diff.ends_with("@@ -1,1 +1,2 @@\n a\n+b\n"), "{diff}");
    }
}
