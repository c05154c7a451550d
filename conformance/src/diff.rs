//! A line-based unified diff of two small texts (expected vs found manifest JSON, or
//! expectation files before and after `regen`), written by the `similar` crate.

use similar::TextDiff;

/// Lines of context around each change.
const CONTEXT: usize = 3;

/// `None` when the texts are equal; else a unified diff with `--- expected_name` /
/// `+++ found_name` headers and `@@` hunks.
pub fn unified(expected_name: &str, expected: &str, found_name: &str, found: &str) -> Option<String> {
    // A missing newline at the end is not a difference worth showing: manifests have none.
    let (expected, found) = (terminated(expected), terminated(found));
    if expected == found {
        return None;
    }
    let diff = TextDiff::from_lines(&expected, &found);
    Some(diff.unified_diff().context_radius(CONTEXT).header(expected_name, found_name).to_string())
}

fn terminated(text: &str) -> std::borrow::Cow<'_, str> {
    if text.ends_with('\n') {
        text.into()
    } else {
        format!("{text}\n").into()
    }
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
        assert!(diff.ends_with("@@ -1 +1,2 @@\n a\n+b\n"), "{diff}");
    }
}
