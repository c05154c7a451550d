//! Unit tests of `implementation_image`: what is asked of the engine, without one (the runs
//! themselves are in `tests/it/conformance_image.rs`).

use super::*;

#[test]
fn image_words_split_like_a_command_and_display_as_the_flag() {
    let i = Implementation::parse_image("cnb/lifecycle:0.20 publish '--flag two'").expect("splits");
    assert_eq!(i.launch, Launch::Image);
    assert_eq!(i.program, "cnb/lifecycle:0.20", "an image is not a path: never resolved against the directory");
    assert_eq!(i.args, ["publish", "--flag two"]);
    assert_eq!(i.display, "--implementation-image \"cnb/lifecycle:0.20 publish '--flag two'\"");
    assert_eq!(shlex::split(&i.display).unwrap(), ["--implementation-image", "cnb/lifecycle:0.20 publish '--flag two'"]);
    assert!(matches!(Implementation::parse_image("  "), Err(ImplementationError::Empty)));
    assert!(matches!(Implementation::parse_image("img 'x"), Err(ImplementationError::Unsplittable { .. })));
}

fn env(dir: &Path) -> InvocationEnv {
    InvocationEnv {
        layers_dir: dir.join("layers"),
        output_image: "127.0.0.1:5000/case/app:1.0".into(),
        tags: vec!["1.0".into()],
        digest: format!("sha256:{}", "a".repeat(64)),
        manifest_size: 42,
        manifest_media_type: "application/vnd.oci.image.manifest.v1+json".into(),
        report: dir.join("report.toml"),
        registry: "127.0.0.1:5000".into(),
        insecure: true,
        docker_config: dir.join("docker-config"),
        registry_auth: None,
        path_first: Some(dir.join("helper")),
        source_date_epoch: None,
        overwrite: false,
    }
}

#[test]
fn mounts_keep_paths_and_write_only_layers_and_cwd() {
    let dir = tempfile::tempdir().unwrap();
    let root = std::fs::canonicalize(dir.path()).unwrap();
    for sub in ["layers", "cwd", "docker-config", "helper"] {
        std::fs::create_dir(root.join(sub)).unwrap();
    }
    std::fs::write(root.join("report.toml"), "").unwrap();
    let got: Vec<(String, bool)> = mounts(&env(&root), &root.join("cwd"))
        .into_iter()
        .map(|m| {
            assert_eq!(m.typ, Some(MountType::BIND));
            assert_eq!(m.source, m.target, "mounted where it is on this machine");
            (m.target.unwrap(), m.read_only.unwrap())
        })
        .collect();
    let at = |sub: &str| root.join(sub).display().to_string();
    assert_eq!(
        got,
        [(at("layers"), false), (at("cwd"), false), (at("report.toml"), true), (at("docker-config"), true), (at("helper"), true)]
    );
}

#[test]
fn mounts_leave_out_missing_paths_and_repeat_none() {
    let dir = tempfile::tempdir().unwrap();
    let root = std::fs::canonicalize(dir.path()).unwrap();
    std::fs::create_dir(root.join("layers")).unwrap();
    let e = InvocationEnv { path_first: None, ..env(&root) };
    let targets: Vec<String> = mounts(&e, &root.join("layers")).into_iter().filter_map(|m| m.target).collect();
    assert_eq!(targets, [root.join("layers").display().to_string()]);
}

#[test]
fn an_entrypoint_the_engine_cannot_run_counts_as_docker_run_says() {
    let err = |message: &str| DockerError::DockerResponseServerError { status_code: 400, message: message.to_string() };
    let missing = "failed to create task: OCI runtime create failed: exec: \"/adapter\": stat /adapter: no such file or directory";
    assert_eq!(not_started(&err(missing)), Some(127));
    assert_eq!(not_started(&err("exec: \"lifecycle\": executable file not found in $PATH")), Some(127));
    assert_eq!(not_started(&err("exec /adapter: permission denied")), Some(126));
    assert_eq!(not_started(&err("cannot allocate memory")), None);
}

#[test]
fn container_ids_show_short() {
    assert_eq!(short("0123456789abcdef"), "0123456789ab");
    assert_eq!(short("abc"), "abc");
}
