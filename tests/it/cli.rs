//! The binary's command line on fixture trees: `validate` and `plan` output, exit codes, and the
//! exact error text of every bad-input fixture under `fixtures/invalid/plan/`.

use std::process::Command;

use rstest::rstest;

use crate::support::{bin, fixtures_dir, report, run, run_failing};

const IMAGE: &str = "localhost:5000/team/app:1.0.0";

fn plan_cmd(fixture: &str) -> Command {
    let mut cmd = Command::new(bin());
    cmd.current_dir(fixtures_dir().join("cli").join(fixture))
        .args(["plan", "--layers-dir", "layers", "--image", IMAGE])
        .env_remove("SOURCE_DATE_EPOCH");
    cmd
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn r_tpl_5_rfc_example_plans_wasm_tag_with_templated_label() {
    let out = run(&mut plan_cmd("rfc-example"));
    let text = stdout(&out);
    assert!(text.contains("repository:   localhost:5000/team/app\n"), "{text}");
    assert!(text.contains("tags:         wasm\n"), "{text}");
    assert!(text.contains("myLabel1 = blah1-1.0.0\n"), "{text}");
    assert!(text.contains("myLabel2 = blah2\n"), "{text}");
}

#[test]
fn r_tag_3_plan_json_expands_build_tag_per_app_tag_and_gives_manifest_digests() {
    let digest = format!("sha256:{}", "a".repeat(64));
    let mut cmd = plan_cmd("multi");
    cmd.args(["--tag", "latest", "--digest", &digest, "--manifest-size", "500", "--format", "json"]);
    let first = run(&mut cmd);
    let doc: serde_json::Value = serde_json::from_slice(&first.stdout).expect("plan --format json prints JSON");
    let artifacts = doc["artifacts"].as_array().expect("artifacts array");
    assert_eq!(artifacts.len(), 2);
    assert_eq!(artifacts[0]["tags"], serde_json::json!(["1.0.0-wasm", "latest-wasm"]));
    assert_eq!(artifacts[1]["tags"], serde_json::json!(["1.0.0-docs", "latest-docs"]));
    assert_eq!(artifacts[0]["repository"], "localhost:5000/team/app");
    assert_eq!(artifacts[0]["annotations"]["built-by"], "acme/wasm@1.2.0");
    assert_eq!(artifacts[1]["files"][1]["path"], "docs/guide.txt");
    assert_eq!(artifacts[1]["files"][1]["mediaType"], "text/plain");
    assert_eq!(doc["subject"]["digest"], digest.as_str());
    for a in artifacts {
        let d = a["manifestDigest"].as_str().expect("manifest digest when the subject is known");
        assert!(d.starts_with("sha256:") && d.len() == 71, "{d}");
    }
    // Determinism: the same inputs give byte-identical output.
    let second = run(&mut cmd);
    assert_eq!(first.stdout, second.stdout);
}

#[test]
fn r_coll_every_collision_kind_fails_with_both_sides_named() {
    let out = run_failing(&mut plan_cmd("collisions"));
    assert_eq!(out.status.code(), Some(1), "{}", report(&plan_cmd("collisions"), &out));
    let text = stderr(&out);
    for needle in [
        "error[R-COLL-1]: layers/acme_b/two.toml:2:7: artifact acme/b/two#0 would be tagged `team/app:shared`, which artifact acme/a/one#0 (declared at layers/acme_a/one.toml:2:7) is tagged too",
        "error[R-COLL-2]: layers/acme_a/one.toml:6:7: artifact acme/a/one#1 would be tagged `team/app:1.0.0`, which is a tag of the app image `team/app:1.0.0`",
        "error[R-COLL-3]: layers/acme_a/one.toml:10:7:",
        "3 errors; nothing was published",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
}

#[test]
fn r_file_5_malformed_toml_names_file_line_and_column() {
    let mut cmd = Command::new(bin());
    cmd.current_dir(fixtures_dir().join("cli/malformed")).args(["validate", "--layers-dir", "layers"]);
    let out = run_failing(&mut cmd);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).starts_with("error[R-FILE-5]: layers/acme_a/bad.toml:3:15: "), "{}", stderr(&out));
}

#[rstest]
#[case::rfc_example("rfc-example")]
#[case::multi("multi")]
fn r_plan_1_validate_accepts_valid_trees(#[case] fixture: &str) {
    let mut cmd = Command::new(bin());
    cmd.current_dir(fixtures_dir().join("cli").join(fixture)).args(["validate", "--layers-dir", "layers"]);
    let out = run(&mut cmd);
    assert!(stdout(&out).starts_with("ok: layers is valid"), "{}", stdout(&out));
}

#[rstest]
#[case::unknown_flag(&["plan", "--nope"])]
#[case::missing_image(&["plan", "--layers-dir", "x"])]
#[case::no_command(&[])]
fn r_err_2_usage_errors_exit_2(#[case] args: &[&str]) {
    let mut cmd = Command::new(bin());
    cmd.args(args).env_remove("CNB_LAYERS_DIR").env_remove("CNB_OUTPUT_IMAGE");
    let out = run_failing(&mut cmd);
    assert_eq!(out.status.code(), Some(2), "{}", report(&cmd, &out));
}

/// Every case under `fixtures/invalid/plan/<case>/`: `args` holds the flags after
/// `plan --layers-dir layers`, `expected.txt` the exact stderr; the exit code must be 1.
#[test]
fn r_err_1_invalid_plan_fixtures_fail_with_their_exact_errors() {
    let root = fixtures_dir().join("invalid/plan");
    let mut cases: Vec<_> = std::fs::read_dir(&root).unwrap().map(|e| e.unwrap().path()).collect();
    cases.sort();
    assert!(cases.len() >= 20, "expected at least 20 cases in {}", root.display());
    let mut failures = Vec::new();
    for case in &cases {
        let args = std::fs::read_to_string(case.join("args")).unwrap();
        let expected = std::fs::read_to_string(case.join("expected.txt")).unwrap();
        let mut cmd = Command::new(bin());
        cmd.current_dir(case).args(["plan", "--layers-dir", "layers"]).args(args.split_whitespace()).env_remove("SOURCE_DATE_EPOCH");
        let out = cmd.output().unwrap();
        if out.status.code() != Some(1) || stderr(&out) != expected {
            failures.push(format!(
                "{}: expected exit 1 and\n{expected}\n{}",
                case.file_name().unwrap().to_string_lossy(),
                report(&cmd, &out)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// Environment values that are not UTF-8 are errors naming the variable, never silently unset
/// (R-MAN-8) or a message naming neither variable nor flag; the bytes print escaped.
#[test]
fn r_man_8_environment_values_that_are_not_utf8_are_named() {
    use std::os::unix::ffi::OsStrExt;
    let bad = std::ffi::OsStr::from_bytes(b"17\xff");
    let out = plan_cmd("rfc-example").env("SOURCE_DATE_EPOCH", bad).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("SOURCE_DATE_EPOCH=`17\\xff` is not a whole number of seconds (not valid UTF-8)"), "{}", stderr(&out));

    let out = Command::new(bin())
        .current_dir(fixtures_dir().join("cli").join("rfc-example"))
        .args(["plan", "--layers-dir", "layers"])
        .env("CNB_OUTPUT_IMAGE", std::ffi::OsStr::from_bytes(b"r.example/a\x1b\xff"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(
        stderr(&out),
        "error: the variable CNB_OUTPUT_IMAGE (the default of --image) is not valid UTF-8: `r.example/a\\u{1b}\\xff`\n"
    );
}

/// A hostile buildpack's names (ESC, BEL, bidi override) reach `plan`'s text output and its
/// diagnostics escaped, never raw (R-SEC-3).
#[test]
fn r_sec_3_hostile_names_print_escaped_in_plan_and_diagnostics() {
    let dir = tempfile::tempdir().unwrap();
    let layer = dir.path().join("bp/l");
    std::fs::create_dir_all(&layer).unwrap();
    std::fs::write(layer.join("a\u{1b}[2Jb\u{202e}.txt"), b"x").unwrap();
    let toml = "[additionalArtifact]\nfile = \"a\\u001b[2Jb\\u202e.txt\"\ntag = \"t\"\n[additionalArtifact.labels]\n\"k\" = \"v\\u001b]0;title\\u0007\"\n";
    std::fs::write(dir.path().join("bp/l.toml"), toml).unwrap();
    let out = Command::new(bin()).args(["plan", "--layers-dir"]).arg(dir.path()).args(["--image", IMAGE]).output().unwrap();
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(text.contains("k = v\\u{1b}]0;title\\u{7}"), "{text}");
    assert!(text.contains("a\\u{1b}[2Jb\\u{202e}.txt  1 bytes"), "{text}");

    std::fs::write(layer.join("f"), b"f").unwrap();
    std::fs::write(dir.path().join("bp/l.toml"), "[additionalArtifact]\nfile = \"f\"\ntag = \"t\\u001b[31m\"\n").unwrap();
    let out = Command::new(bin()).args(["plan", "--layers-dir"]).arg(dir.path()).args(["--image", IMAGE]).output().unwrap();
    for (place, output) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
        assert!(!output.iter().any(|b| *b == 0x1b || *b == 0x07), "raw control bytes in {place}: {}", stderr(&out));
    }
    assert!(stderr(&out).contains("\\u{1b}[31m"), "{}", stderr(&out));
}

/// R-FILE-9: a wrong `--layers-dir` (the parent of the layers dir, an empty directory) fails
/// with a hint instead of succeeding with nothing to publish.
#[rstest]
#[case::validate_parent(&["validate", "--layers-dir", "rfc-example"], "help: did you mean `--layers-dir rfc-example/layers`?")]
#[case::plan_parent(&["plan", "--layers-dir", "rfc-example", "--image", IMAGE], "help: did you mean `--layers-dir rfc-example/layers`?")]
#[case::validate_empty(&["validate", "--layers-dir", "EMPTY"], "not a layers directory: it holds no group.toml and no layer TOML")]
fn r_file_9_a_wrong_layers_dir_is_an_error_with_a_hint(#[case] args: &[&str], #[case] needle: &str) {
    let empty = tempfile::tempdir().expect("tempdir");
    let empty_path = empty.path().display().to_string();
    let mut cmd = Command::new(bin());
    cmd.current_dir(fixtures_dir().join("cli")).args(args.iter().map(|a| if *a == "EMPTY" { empty_path.as_str() } else { a }));
    let out = run_failing(&mut cmd);
    assert_eq!(out.status.code(), Some(1), "{}", report(&cmd, &out));
    assert!(stderr(&out).contains("error[R-FILE-9]: "), "{}", report(&cmd, &out));
    assert!(stderr(&out).contains(needle), "{}", report(&cmd, &out));
}

/// Output into a reader that has closed (`cnb-artifacts conformance list | head -3`) ends the
/// command quietly: exit 0, nothing on stderr, no panic. The pipe's read end is closed before
/// the command starts, so its first write fails every time.
#[rstest]
#[case::conformance_list(&["conformance", "list"])]
#[case::validate(&["validate", "--layers-dir", "multi/layers"])]
#[case::plan(&["plan", "--layers-dir", "multi/layers", "--image", IMAGE])]
#[case::plan_json(&["plan", "--layers-dir", "multi/layers", "--image", IMAGE, "--format", "json"])]
#[case::help(&["--help"])]
fn broken_pipe_exits_quietly(#[case] args: &[&str]) {
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    let mut cmd = Command::new(bin());
    cmd.current_dir(fixtures_dir().join("cli")).args(args).stdout(writer).stderr(std::process::Stdio::piped());
    let out = cmd.output().expect("run the binary");
    assert_eq!(out.status.code(), Some(0), "{}", report(&cmd, &out));
    assert_eq!(stderr(&out), "", "{}", report(&cmd, &out));
}

/// Usage errors exit 2 before anything runs: a registry URL without a scheme, no jobs.
#[rstest]
#[case::registry_without_scheme(&["conformance", "run", "--registry", "127.0.0.1:5055"], "write `http://127.0.0.1:5055`")]
#[case::zero_jobs(&["conformance", "run", "--jobs", "0"], "must be at least 1")]
#[case::zero_jobs_self_check(&["conformance", "self-check", "--jobs", "0"], "must be at least 1")]
fn conformance_usage_errors_exit_2(#[case] args: &[&str], #[case] needle: &str) {
    let mut cmd = Command::new(bin());
    cmd.args(args);
    let out = run_failing(&mut cmd);
    assert_eq!(out.status.code(), Some(2), "{}", report(&cmd, &out));
    assert!(stderr(&out).contains(needle), "{}", report(&cmd, &out));
}

#[test]
fn every_layers_dir_flag_has_help() {
    for command in ["validate", "plan", "publish"] {
        let mut cmd = Command::new(bin());
        cmd.args([command, "--help"]);
        let out = run(&mut cmd);
        let text = stdout(&out);
        let after = text.rsplit("--layers-dir <LAYERS_DIR>").next().unwrap_or_default();
        let help = after.split("\n  -").next().unwrap_or_default();
        assert!(help.contains("The layers directory"), "{command} --help:\n{text}");
    }
}

/// `explain` prints every rule written in docs/spec.md (as it is now: the embedded copy is
/// not stale), and an unknown ID is a usage error naming the closest one.
#[test]
fn explain_prints_every_rule_of_the_spec() {
    let spec = std::fs::read_to_string(fixtures_dir().join("../docs/spec.md")).unwrap();
    let ids: Vec<String> = spec
        .lines()
        .filter_map(|l| l.strip_prefix("- **"))
        .filter_map(|rest| rest.split_once("**"))
        .map(|(id, _)| id.to_string())
        .collect();
    assert!(ids.len() >= 80, "{ids:?}");
    for id in &ids {
        let mut cmd = Command::new(bin());
        cmd.args(["explain", id]);
        let out = run(&mut cmd);
        let text = stdout(&out);
        assert!(text.starts_with(&format!("{id} (")), "{}", report(&cmd, &out));
        let first_words: String = spec.split(&format!("- **{id}** — ")).nth(1).unwrap().chars().take(40).collect();
        assert!(text.contains(&first_words), "{id}: {first_words:?} not in\n{text}");
    }
    let mut cmd = Command::new(bin());
    cmd.args(["explain", "R-FIL-6"]);
    let out = run_failing(&mut cmd);
    assert_eq!(out.status.code(), Some(2), "{}", report(&cmd, &out));
    assert!(stderr(&out).contains("did you mean `R-FILE-6`?"), "{}", report(&cmd, &out));
}

/// `plan --format json` reports input errors as JSON on stdout (camelCase like the plan), so a
/// script reading stdout gets a document either way; exit 1.
#[test]
fn r_err_1_plan_json_reports_errors_as_json() {
    let mut cmd = Command::new(bin());
    cmd.current_dir(fixtures_dir().join("invalid/plan/every-fault-in-one-run"))
        .args(["plan", "--layers-dir", "layers", "--image", IMAGE, "--format", "json"])
        .env_remove("SOURCE_DATE_EPOCH");
    let out = run_failing(&mut cmd);
    assert_eq!(out.status.code(), Some(1), "{}", report(&cmd, &out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}\n{}", report(&cmd, &out)));
    let errors = doc["errors"].as_array().expect("errors array");
    assert_eq!(errors.len(), 6, "{doc:#}");
    assert_eq!(errors[1]["rule"], "R-FIELD-9");
    assert_eq!(errors[1]["path"], "layers/acme_wasm/module.toml");
    assert_eq!((errors[1]["line"].as_u64(), errors[1]["column"].as_u64()), (Some(8), Some(1)));
    assert!(errors[1]["help"].as_str().unwrap().starts_with("did you mean `mediaType`?"), "{doc:#}");
}

/// Subject inputs say exactly what is missing (R-PUSH-3): `plan --digest` without a size, and
/// `publish --layout --digest` without a size into a layout that does not hold the app image.
#[test]
fn r_push_3_a_digest_without_size_says_what_is_missing() {
    let digest = format!("sha256:{}", "a".repeat(64));
    let mut cmd = plan_cmd("rfc-example");
    cmd.args(["--digest", &digest]);
    let out = run(&mut cmd);
    assert!(stdout(&out).contains("manifest:     (needs --manifest-size: --digest was given without it)"), "{}", report(&cmd, &out));
    assert!(stderr(&out).contains("was given without its manifest size"), "{}", report(&cmd, &out));

    let layout = tempfile::tempdir().expect("tempdir");
    let mut cmd = Command::new(bin());
    cmd.current_dir(fixtures_dir().join("cli/rfc-example"))
        .args(["publish", "--layers-dir", "layers", "--image", IMAGE, "--digest", &digest, "--layout"])
        .arg(layout.path().join("out"))
        .env_remove("SOURCE_DATE_EPOCH");
    let out = run_failing(&mut cmd);
    assert_eq!(out.status.code(), Some(1), "{}", report(&cmd, &out));
    let text = stderr(&out);
    assert!(text.contains(&format!("--digest {digest} was given without --manifest-size")), "{}", report(&cmd, &out));
    assert!(!text.contains("does not exist; pass the image digest"), "{}", report(&cmd, &out));
}

/// A registry that speaks plain HTTP where HTTPS was expected (127.0.0.2 is loopback but not
/// one of the hosts taken as plain HTTP by default): the TLS error comes with the flag that
/// fixes it.
#[test]
fn r_auth_3_tls_meeting_plain_http_hints_insecure_registry() {
    let listener = std::net::TcpListener::bind("127.0.0.2:0").expect("bind 127.0.0.2");
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        use std::io::Write;
        for mut stream in listener.incoming().flatten() {
            let _ = stream.write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n");
        }
    });
    let host = format!("127.0.0.2:{port}");
    let digest = format!("sha256:{}", "a".repeat(64));
    let mut cmd = Command::new(bin());
    cmd.current_dir(fixtures_dir().join("cli/rfc-example"))
        .args(["publish", "--layers-dir", "layers", "--image", &format!("{host}/team/app:1.0"), "--digest", &digest])
        .args(["--manifest-size", "100", "--max-attempts", "1"])
        .env_remove("SOURCE_DATE_EPOCH");
    let out = run_failing(&mut cmd);
    assert_eq!(out.status.code(), Some(3), "{}", report(&cmd, &out));
    assert!(stderr(&out).contains(&format!("pass --insecure-registry {host}")), "{}", report(&cmd, &out));
}

/// A connection refused on this machine fails at once: one error, no retry warnings (R-PUSH-7).
#[test]
fn r_push_7_refused_on_localhost_fails_fast_without_retry_warnings() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let digest = format!("sha256:{}", "a".repeat(64));
    let mut cmd = Command::new(bin());
    cmd.current_dir(fixtures_dir().join("cli/rfc-example"))
        .args(["publish", "--layers-dir", "layers", "--image", &format!("127.0.0.1:{port}/team/app:1.0"), "--digest", &digest])
        .args(["--manifest-size", "100"])
        .env_remove("SOURCE_DATE_EPOCH");
    let out = run_failing(&mut cmd);
    assert_eq!(out.status.code(), Some(3), "{}", report(&cmd, &out));
    let text = stderr(&out);
    assert!(text.contains("Connection refused"), "{}", report(&cmd, &out));
    assert!(!text.contains("retrying"), "{}", report(&cmd, &out));
}

/// R-MAN-8: `SOURCE_DATE_EPOCH` is ASCII digits only; an empty value counts as unset.
#[rstest]
#[case::plus_sign("+5", false)]
#[case::minus_sign("-1", false)]
#[case::space(" 5", false)]
#[case::digits("5", true)]
#[case::empty("", true)]
fn r_man_8_source_date_epoch_is_digits_only(#[case] value: &str, #[case] accepted: bool) {
    let mut cmd = plan_cmd("rfc-example");
    cmd.env("SOURCE_DATE_EPOCH", value);
    let out = cmd.output().expect("runs");
    assert_eq!(out.status.success(), accepted, "{}", report(&cmd, &out));
    if !accepted {
        assert!(stderr(&out).contains("R-MAN-8"), "{}", report(&cmd, &out));
    }
}

/// R-CTX-2: the subject media type given is one of the four of R-MAN-6, written exactly.
#[rstest]
#[case::oci_manifest("application/vnd.oci.image.manifest.v1+json", true)]
#[case::oci_index("application/vnd.oci.image.index.v1+json", true)]
#[case::docker_manifest("application/vnd.docker.distribution.manifest.v2+json", true)]
#[case::docker_list("application/vnd.docker.distribution.manifest.list.v2+json", true)]
#[case::artifact("application/vnd.oci.empty.v1+json", false)]
#[case::parameter("application/vnd.oci.image.manifest.v1+json; charset=utf-8", false)]
#[case::upper_case("application/vnd.OCI.image.manifest.v1+json", false)]
fn r_ctx_2_the_subject_media_type_is_one_of_four(#[case] media_type: &str, #[case] accepted: bool) {
    let mut cmd = plan_cmd("rfc-example");
    cmd.args(["--manifest-media-type", media_type]);
    let out = cmd.output().expect("runs");
    assert_eq!(out.status.success(), accepted, "{}", report(&cmd, &out));
    if !accepted {
        assert!(stderr(&out).contains(&format!("error[R-CTX-2]: --manifest-media-type `{media_type}`")), "{}", report(&cmd, &out));
    }
}

/// R-CTX-2: a reference without host is on Docker Hub, `library/` in front of one component.
#[rstest]
#[case::official("app:1.0", "docker.io library/app")]
#[case::user("acme/app:1.0", "docker.io acme/app")]
#[case::with_host("localhost:5000/acme/app:1.0", "localhost:5000 acme/app")]
fn r_ctx_2_build_registry_and_repository_without_a_host(#[case] image: &str, #[case] expected: &str) {
    let dir = tempfile::tempdir().unwrap();
    let layers = dir.path().join("layers");
    std::fs::create_dir_all(layers.join("acme_x/l")).unwrap();
    std::fs::write(layers.join("acme_x/l/f"), "x").unwrap();
    std::fs::write(
        layers.join("acme_x/l.toml"),
        "[additionalArtifact]\nfile = \"f\"\n[additionalArtifact.labels]\nwhere = \"${build.registry} ${build.repository}\"\n",
    )
    .unwrap();
    let mut cmd = Command::new(bin());
    cmd.args(["plan", "--layers-dir"]).arg(&layers).args(["--image", image]).env_remove("SOURCE_DATE_EPOCH");
    let out = stdout(&run(&mut cmd));
    assert!(out.contains(&format!("where = {expected}")), "{out}");
}
