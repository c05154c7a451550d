//! Unit tests of the messages and help for values of the wrong TOML type (R-FIELD-8, R-FIELD-9):
//! the help must fit what was found (a number is quoted, an array or a table is not), and say
//! where a key has another form for several values.

use std::path::Path;

use rstest::rstest;

use crate::layer_toml::parse_layer_toml;

/// The diagnostics of an artifact table holding `file = "a"` and then `tail`, as printed.
fn errors_after_file(tail: &str) -> String {
    let source = format!("[additionalArtifact]\nfile = \"a\"\n{tail}");
    match parse_layer_toml(Path::new("l.toml"), &source) {
        Ok(a) => panic!("expected errors, parsed {} artifacts", a.len()),
        Err(d) => d.to_string(),
    }
}

#[rstest]
#[case::integer("tag = 7\n", "an integer", "quote the value (without quotes, TOML reads it as a number)")]
#[case::float("tag = inf\n", "a float", "quote the value (without quotes, TOML reads it as a number)")]
#[case::boolean("tag = false\n", "a boolean", "quote the value (without quotes, `true` and `false` are booleans)")]
#[case::datetime("tag = 07:32:00\n", "a datetime", "quote the value (without quotes, TOML reads a date or time as a datetime)")]
#[case::array(
    "tag = [\"a\", \"b\"]\n",
    "an array",
    "`tag` takes one string, not an array; for one tag per app image tag, write `${build.tag}` in it, e.g. `tag = \"${build.tag}-wasm\"`"
)]
#[case::inline_table("tag = { name = \"a\" }\n", "an inline table", "`tag` takes a string, not an inline table: write `tag = \"…\"`")]
#[case::dotted_key(
    "tag.name = \"a\"\n",
    "a table",
    "`tag` takes a string, not a table: the dotted key `tag.…` makes a table; write `tag = \"…\"`"
)]
#[case::table_header(
    "[additionalArtifact.tag]\nname = \"a\"\n",
    "a table",
    "`tag` takes a string, not a table: write `tag = \"…\"` in the artifact table instead of a `[…]` header"
)]
fn r_field_9_help_fits_the_kind_of_value_found(#[case] tail: &str, #[case] found: &str, #[case] help: &str) {
    let text = errors_after_file(tail);
    let expected_start = "error[R-FIELD-9]: l.toml:3:";
    assert!(text.starts_with(expected_start), "{text}");
    assert!(text.contains(&format!(": `tag`: expected a string, found {found}\n")), "{text}");
    assert!(text.ends_with(&format!("\n  help: {help}")), "{text}");
}

#[rstest]
#[case::file_array(
    "[additionalArtifact]\nfile = [\"a\", \"b\"]\n",
    "l.toml:2:8: `file`: expected a string, found an array\n  help: `file` takes one string, not an array; for several files write `files = [\"A\", \"B\"]`"
)]
#[case::repository_array(
    "[additionalArtifact]\nfile = \"a\"\nrepository = [\"a\"]\n",
    "l.toml:3:14: `repository`: expected a string, found an array\n  help: `repository` takes one string, not an array"
)]
#[case::files_element_array(
    "[additionalArtifact]\nfiles = [\"a\", [\"b\"]]\n",
    "l.toml:2:15: `files[1]`: expected a string, found an array\n  help: each element of `files` is one string, not an array: write each path in quotes, `files = [\"A\", \"B\"]`"
)]
#[case::files_element_inline_table(
    "[additionalArtifact]\nfiles = [{ path = \"a\" }]\n",
    "l.toml:2:10: `files[0]`: expected a string, found an inline table\n  help: each element of `files` is one string, not an inline table: write each path in quotes, `files = [\"A\", \"B\"]`"
)]
#[case::media_type_array_of_tables(
    "[[additionalArtifact]]\nfile = \"a\"\n[[additionalArtifact.mediaType]]\nx = 1\n",
    "l.toml:3:1: `mediaType`: expected a string, found an array of tables\n  help: `mediaType` takes a string, not an array of tables: write `mediaType = \"…\"` in the artifact table instead of a `[…]` header"
)]
#[case::files_inline_table(
    "[additionalArtifact]\nfiles = { a = \"b\" }\n",
    "l.toml:2:9: `files`: expected an array of strings, found an inline table\n  help: write `files = [\"A\", \"B\"]`, or `file = \"A\"` for one file"
)]
fn r_field_9_wrong_types_of_other_keys(#[case] source: &str, #[case] expected: &str) {
    let text = match parse_layer_toml(Path::new("l.toml"), source) {
        Ok(a) => panic!("expected errors, parsed {} artifacts", a.len()),
        Err(d) => d.to_string(),
    };
    assert_eq!(text, format!("error[R-FIELD-9]: {expected}"));
}

const LABEL_TABLE_HELP: &str =
    "label values are strings, not tables: write `\"name\" = \"value\"` lines under `[additionalArtifact.labels]`";

#[rstest]
#[case::boolean(
    "[additionalArtifact.labels]\nx = true\n",
    "4:5: label `x`: expected a string, found a boolean",
    "label values are string templates: quote the value (without quotes, `true` and `false` are booleans)"
)]
#[case::array(
    "[additionalArtifact.labels]\nx = [\"a\", \"b\"]\n",
    "4:5: label `x`: expected a string, found an array",
    "label values are single strings, not arrays; join several values into one string"
)]
#[case::inline_table(
    "[additionalArtifact.labels]\nx = { y = \"a\" }\n",
    "4:5: label `x`: expected a string, found an inline table",
    LABEL_TABLE_HELP
)]
#[case::table_header("[additionalArtifact.labels.x]\ny = \"a\"\n", "3:1: label `x`: expected a string, found a table", LABEL_TABLE_HELP)]
#[case::labels_array_of_tables(
    "[[additionalArtifact.labels]]\ny = \"a\"\n",
    "3:1: `labels`: expected a table, found an array of tables",
    "write `[additionalArtifact.labels]` with single brackets: the labels of an artifact are one table"
)]
#[case::labels_string(
    "labels = \"a=b\"\n",
    "3:10: `labels`: expected a table, found a string",
    "write the labels as a table: `[additionalArtifact.labels]` followed by `name = \"value\"` lines"
)]
fn r_field_8_label_help_fits_the_kind_of_value_found(#[case] tail: &str, #[case] message: &str, #[case] help: &str) {
    assert_eq!(errors_after_file(tail), format!("error[R-FIELD-8]: l.toml:{message}\n  help: {help}"));
}
