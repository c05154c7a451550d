//! Tests of the layers dir walk (R-FILE-1..3) on temporary directories.

use std::fs;
use std::path::Path;

use rstest::rstest;

use super::read_layers_dir;
use crate::layer_toml::{Buildpack, LayerFile};

const ARTIFACT: &str = "[additionalArtifact]\nfile = \"f\"\n";

fn write(root: &Path, rel: &str, content: &str) {
    let path = root.join(rel);
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).expect("create parent");
    }
    fs::write(path, content).expect("write file");
}

fn mkdir(root: &Path, rel: &str) {
    fs::create_dir_all(root.join(rel)).expect("create dir");
}

/// `buildpack-id@version/layer` for each layer file, in order.
fn summary(files: &[LayerFile]) -> Vec<String> {
    files
        .iter()
        .map(|f| {
            let version = f.buildpack.version.as_deref().unwrap_or("?");
            format!("{}@{}/{}", f.buildpack.id, version, f.name)
        })
        .collect()
}

/// Reads `root`, failing the test on any diagnostic.
fn read_ok(root: &Path) -> Vec<LayerFile> {
    let (files, diagnostics) = read_layers_dir(root);
    assert!(diagnostics.is_empty(), "unexpected errors:\n{diagnostics}");
    files
}

/// Diagnostics of reading `root`, with `root` stripped from the paths.
fn errors(root: &Path) -> String {
    let (_, diagnostics) = read_layers_dir(root);
    let prefix = format!("{}/", root.display());
    diagnostics.to_string().replace(&prefix, "")
}

#[test]
fn r_file_1_buildpack_dir_names_map_to_ids_and_layer_dirs() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path();
    write(root, "acme_wasm/module.toml", ARTIFACT);
    let files = read_ok(root);
    assert_eq!(files.len(), 1);
    let f = &files[0];
    assert_eq!(f.buildpack, Buildpack { id: "acme/wasm".into(), version: None, dir_name: "acme_wasm".into() });
    assert_eq!(f.name, "module");
    assert_eq!(f.toml_path, root.join("acme_wasm/module.toml"));
    assert_eq!(f.layer_dir, root.join("acme_wasm/module"));
    assert_eq!(&*f.source, ARTIFACT);
    assert_eq!(f.artifacts.len(), 1);
    assert_eq!(f.location(21).to_string(), format!("{}:2:1", root.join("acme_wasm/module.toml").display()));
}

#[rstest]
#[case::plain("heroku-nodejs")]
#[case::one_slash("acme/wasm")]
#[case::nested("io.example/team/tool")]
fn r_file_1_dir_name_mapping_is_reversible(#[case] id: &str) {
    let dir = Buildpack::dir_name_of(id);
    assert!(!dir.contains('/'));
    assert_eq!(Buildpack::id_of_dir_name(&dir), id);
}

#[test]
fn r_file_2_group_toml_gives_order_versions_and_the_set_of_buildpacks() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path();
    write(
        root,
        "group.toml",
        "[[group]]\nid = \"acme/zeta\"\nversion = \"1.0.0\"\napi = \"0.10\"\n\n\
         [[group]]\nid = \"no/layers\"\nversion = \"3\"\napi = \"0.10\"\n\n\
         [[group]]\nid = \"acme/alpha\"\napi = \"0.10\"\n\n\
         [[group-extensions]]\nid = \"ext\"\nversion = \"9\"\n",
    );
    write(root, "acme_alpha/a.toml", ARTIFACT);
    write(root, "acme_zeta/z.toml", ARTIFACT);
    write(root, "unlisted/u.toml", ARTIFACT);
    write(root, "ext/e.toml", ARTIFACT);
    assert_eq!(summary(&read_ok(root)), ["acme/zeta@1.0.0/z", "acme/alpha@?/a"]);
}

#[test]
fn r_file_2_without_group_toml_every_dir_but_the_lifecycles_in_bytewise_order() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path();
    for dir in ["b", "B", "a_x", "sbom", "config", "app", ".hidden"] {
        write(root, &format!("{dir}/l.toml"), ARTIFACT);
    }
    write(root, "plan.toml", "[[entries]]\n");
    write(root, "top.toml", ARTIFACT);
    assert_eq!(summary(&read_ok(root)), ["B@?/l", "a/x@?/l", "b@?/l"]);
}

#[test]
fn r_file_2_empty_group_toml_lists_no_buildpacks() {
    let tmp = tempfile::tempdir().expect("tempdir");
    write(tmp.path(), "group.toml", "");
    write(tmp.path(), "acme/l.toml", ARTIFACT);
    assert_eq!(summary(&read_ok(tmp.path())), Vec::<String>::new());
}

#[rstest]
#[case::syntax("[[group]\n", "error[R-FILE-5]: group.toml:1:9: invalid TOML: unclosed array table, expected `]`")]
#[case::not_array("group = \"acme\"\n", "error[R-FILE-2]: group.toml:1:9: `group`: expected an array of tables, found a string")]
#[case::entry_not_table("group = [\"acme\"]\n", "error[R-FILE-2]: group.toml:1:10: `group[0]`: expected a table, found a string")]
#[case::no_id("[[group]]\nversion = \"1\"\n", "error[R-FILE-2]: group.toml:1:1: `group[0]` has no `id`")]
#[case::id_integer("[[group]]\nid = 1\n", "error[R-FILE-2]: group.toml:2:6: `group[0].id`: expected a string, found an integer")]
#[case::version_integer(
    "[[group]]\nid = \"a\"\nversion = 1\n",
    "error[R-FILE-2]: group.toml:3:11: `group[0].version`: expected a string, found an integer"
)]
#[case::empty_id("[[group]]\nid = \"\"\n", "error[R-FILE-2]: group.toml:2:6: `group[0].id` is empty")]
#[case::duplicate(
    "[[group]]\nid = \"a\"\n[[group]]\nid = \"a\"\n",
    "error[R-FILE-2]: group.toml:4:6: buildpack `a` is listed twice in group.toml\n  help: list each buildpack once"
)]
fn r_file_2_malformed_group_toml_is_an_error_with_location(#[case] group: &str, #[case] expected: &str) {
    let tmp = tempfile::tempdir().expect("tempdir");
    write(tmp.path(), "group.toml", group);
    assert_eq!(errors(tmp.path()), expected);
}

#[test]
fn r_file_2_with_a_malformed_group_toml_the_layer_tomls_are_still_checked() {
    let tmp = tempfile::tempdir().expect("tempdir");
    write(tmp.path(), "group.toml", "group = 1\n");
    write(tmp.path(), "acme/l.toml", "[additionalArtifact]\nfiel = \"x\"\n");
    let text = errors(tmp.path());
    assert!(text.contains("error[R-FILE-2]: group.toml:1:9"), "{text}");
    assert!(text.contains("error[R-FIELD-9]: acme/l.toml:2:1: unknown key `fiel`"), "{text}");
}

#[test]
fn r_file_3_layer_tomls_are_sorted_and_lifecycle_files_skipped() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path();
    for name in ["b.toml", "a.toml", "B.toml", "launch.toml", "build.toml", "store.toml"] {
        write(root, &format!("bp/{name}"), ARTIFACT);
    }
    write(root, "bp/notes.txt", "not toml");
    write(root, "bp/a/inner.toml", "this is inside a layer dir = not read");
    mkdir(root, "bp/dir.toml");
    let files = read_ok(root);
    assert_eq!(summary(&files), ["bp@?/B", "bp@?/a", "bp@?/b"]);
}

#[test]
fn r_file_3_layer_tomls_without_artifacts_are_listed_with_none() {
    let tmp = tempfile::tempdir().expect("tempdir");
    write(tmp.path(), "bp/plain.toml", "[types]\nlaunch = true\n");
    let files = read_ok(tmp.path());
    assert_eq!(summary(&files), ["bp@?/plain"]);
    assert!(files[0].artifacts.is_empty());
}

#[test]
fn r_file_3_every_bad_file_is_reported_and_the_good_ones_read() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path();
    write(root, "one/bad.toml", "[additionalArtifact]\nfile = 1\n");
    write(root, "one/good.toml", ARTIFACT);
    write(root, "two/bad.toml", "[types\n");
    let (files, diagnostics) = read_layers_dir(root);
    // The bad file is kept (marked invalid) so the planner can check what did parse; the file
    // with a syntax error has nothing to check.
    assert_eq!(summary(&files), ["one@?/bad", "one@?/good", "two@?/bad"]);
    assert_eq!(files.iter().map(|f| f.valid).collect::<Vec<_>>(), [false, true, false]);
    assert!(files[2].artifacts.is_empty());
    assert!(!files[0].artifacts[0].complete);
    let rules: Vec<&str> = diagnostics.0.iter().map(|d| d.rule).collect();
    assert_eq!(rules, ["R-FIELD-9", "R-FILE-5"]);
}

#[test]
fn r_file_1_a_missing_layers_dir_is_reported_with_its_path() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let missing = tmp.path().join("nope");
    let (files, diagnostics) = read_layers_dir(&missing);
    assert!(files.is_empty());
    assert_eq!(
        diagnostics.to_string(),
        format!("error[R-FILE-1]: {}: cannot read directory: No such file or directory (os error 2)", missing.display())
    );
}

#[test]
fn r_file_5_a_layer_toml_that_is_not_utf8_is_reported_where_it_stops_being_text() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let path = tmp.path().join("bp/l.toml");
    fs::create_dir_all(tmp.path().join("bp")).expect("mkdir");
    fs::write(&path, b"[types]\nlaunch = tr\xffue\n").expect("write");
    assert_eq!(errors(tmp.path()), "error[R-FILE-5]: bp/l.toml:2:12: file is not valid UTF-8 (TOML files are UTF-8)");
}

#[cfg(unix)]
#[test]
fn r_file_8_a_layer_toml_symlink_is_reported() {
    let tmp = tempfile::tempdir().expect("tempdir");
    mkdir(tmp.path(), "bp");
    std::os::unix::fs::symlink(tmp.path().join("gone"), tmp.path().join("bp/l.toml")).expect("symlink");
    assert_eq!(
        errors(tmp.path()),
        "error[R-FILE-8]: bp/l.toml: layer TOML is a symbolic link; it must be a real file inside the layers dir\n  \
         help: a buildpack writes its directories and layer TOMLs itself; links out are not read"
    );
}

/// A name that is not UTF-8 is named by its path alone, with the bad bytes escaped: there is no
/// line or column to point at, and two such names never print alike.
#[test]
fn r_file_1_names_that_are_not_utf8_are_named_escaped_without_a_position() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path();
    for name in [&b"bp\xff"[..], b"bp\xfe"] {
        let dir = root.join(OsStr::from_bytes(name));
        fs::create_dir(&dir).expect("mkdir");
        fs::write(dir.join("l.toml"), ARTIFACT).expect("write");
    }
    write(root, "bp/ok.toml", ARTIFACT);
    fs::write(root.join("bp").join(OsStr::from_bytes(b"l\xe9.toml")), ARTIFACT).expect("write");
    let (files, _) = read_layers_dir(root);
    assert_eq!(summary(&files), ["bp@?/ok"]);
    assert_eq!(
        errors(root),
        "error[R-FILE-1]: bp/l\\xe9.toml: layer TOML name is not valid UTF-8\n\
         error[R-FILE-1]: bp\\xfe: buildpack directory name is not valid UTF-8\n\
         error[R-FILE-1]: bp\\xff: buildpack directory name is not valid UTF-8"
    );
}

/// A buildpack directory that is a symbolic link (to `/`, to the Docker config directory, …)
/// is refused, with group.toml or without (R-FILE-8): reading through it would publish what it
/// points to.
#[test]
fn r_file_8_a_symlinked_buildpack_dir_is_refused() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path().join("layers");
    write(&tmp.path().join("outside"), "l.toml", ARTIFACT);
    mkdir(&root, "ok");
    std::os::unix::fs::symlink(tmp.path().join("outside"), root.join("acme_x")).expect("symlink");
    let expected = "error[R-FILE-8]: acme_x: buildpack directory is a symbolic link; it must be a real directory inside the layers dir\n  \
                    help: a buildpack writes its directories and layer TOMLs itself; links out are not read";
    assert_eq!(errors(&root), expected);
    write(&root, "group.toml", "[[group]]\nid = \"acme/x\"\n");
    assert_eq!(errors(&root), expected.replace("buildpack directory is", "buildpack directory listed in group.toml is"));
    assert!(read_layers_dir(&root).0.is_empty());
}

/// R-FILE-2: a listed buildpack whose path is a regular file is an error naming the path; an
/// unlisted one is ignored, and a listed one that is missing wrote no layers.
#[test]
fn r_file_2_a_listed_buildpack_path_that_is_a_file_is_an_error() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path();
    write(root, "group.toml", "[[group]]\nid = \"acme/x\"\n[[group]]\nid = \"acme/gone\"\n[[group]]\nid = \"acme/y\"\n");
    write(root, "acme_x", "not a directory");
    write(root, "acme_y/l.toml", ARTIFACT);
    write(root, "acme_z", "not listed");
    assert_eq!(
        errors(root),
        "error[R-FILE-2]: acme_x: buildpack `acme/x` is listed in group.toml, but its path is a regular file, not a directory\n  \
         help: the lifecycle creates a directory for each buildpack of group.toml; remove what is in its place"
    );
    assert_eq!(summary(&read_layers_dir(root).0), ["acme/y@?/l"], "the other buildpacks are still read");
    fs::remove_file(root.join("acme_x")).expect("remove");
    assert_eq!(summary(&read_ok(root)), ["acme/y@?/l"]);
}

/// group.toml IDs follow the buildpack spec's grammar (R-FILE-7): `.` and `..` would make the
/// layers dir itself, or its parent, a buildpack directory.
#[rstest]
#[case::dot_dot("..", "it would name the layers dir or its parent")]
#[case::dot(".", "it would name the layers dir or its parent")]
#[case::backslash("a\\\\b", "only letters, digits, `.`, `/` and `-` are allowed")]
#[case::underscore("a_b", "only letters, digits, `.`, `/` and `-` are allowed")]
#[case::lifecycle("sbom", "it is a directory of the lifecycle")]
fn r_file_7_escaping_buildpack_ids_are_refused(#[case] id: &str, #[case] reason: &str) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path().join("layers");
    write(tmp.path(), "l.toml", ARTIFACT);
    write(&root, "x.toml", ARTIFACT);
    write(&root, "group.toml", &format!("[[group]]\nid = \"{id}\"\n"));
    let (files, diagnostics) = read_layers_dir(&root);
    let text = diagnostics.to_string();
    assert!(text.contains("[R-FILE-7]") && text.contains(reason), "{text}");
    assert!(files.iter().all(|f| f.buildpack.id != id), "{:?}", summary(&files));
}

#[test]
fn r_file_7_ids_with_dots_and_slashes_inside_are_buildpack_ids() {
    let tmp = tempfile::tempdir().expect("tempdir");
    write(tmp.path(), "group.toml", "[[group]]\nid = \"acme/a..b\"\nversion = \"1\"\n");
    write(tmp.path(), "acme_a..b/l.toml", ARTIFACT);
    assert_eq!(summary(&read_ok(tmp.path())), ["acme/a..b@1/l"]);
}

#[test]
fn r_sec_3_a_fifo_or_huge_layer_toml_is_refused_without_blocking_or_reading_it() {
    let tmp = tempfile::tempdir().expect("tempdir");
    mkdir(tmp.path(), "bp");
    fs::File::create(tmp.path().join("bp/big.toml")).expect("create").set_len(1 << 30).expect("sparse");
    assert_eq!(errors(tmp.path()), "error[R-FILE-3]: bp/big.toml: cannot read layer TOML: it is larger than the limit of 8388608 bytes");
}

#[rstest]
#[case::empty(&[], "not a layers directory: it holds no group.toml and no layer TOML")]
#[case::only_other_files(&["notes.txt", "bp/readme.md"], "not a layers directory: it holds no group.toml and no layer TOML")]
#[case::parent_of_layers_dir(&["layers/group.toml", "layers/bp/lay.toml"], "but `ROOT/layers/group.toml` does")]
fn r_file_9_a_directory_that_is_not_a_layers_dir_is_an_error(#[case] files: &[&str], #[case] message: &str) {
    let tmp = tempfile::tempdir().expect("tempdir");
    for f in files {
        write(tmp.path(), f, "");
    }
    let (_, diagnostics) = read_layers_dir(tmp.path());
    let text = diagnostics.to_string().replace(&tmp.path().display().to_string(), "ROOT");
    assert_eq!(diagnostics.0.iter().map(|d| d.rule).collect::<Vec<_>>(), ["R-FILE-9"], "{text}");
    assert!(text.contains(message), "{text}");
}

#[rstest]
#[case::group_toml_alone(&["group.toml"])]
#[case::layer_toml_without_group_toml(&["bp/lay.toml"])]
#[case::lifecycle_dirs_beside_group_toml(&["group.toml", "sbom/x.toml", "config/metadata.toml"])]
fn r_file_9_a_layers_dir_without_artifacts_is_fine(#[case] files: &[&str]) {
    let tmp = tempfile::tempdir().expect("tempdir");
    for f in files {
        write(tmp.path(), f, "");
    }
    read_ok(tmp.path());
}
