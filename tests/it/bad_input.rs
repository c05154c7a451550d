//! Bad input that git cannot hold well, generated into temp dirs and run through the binary's
//! `plan` (spec rules R-CONF-3..5, R-FILE-1, R-FILE-6, R-PLAN-3, R-ERR-1): a named pipe and a
//! socket where a file is declared (refused, and never opened: a pipe would block), an empty
//! file (accepted), a 1 GiB sparse file (hashed streaming: the child's peak resident memory is
//! bounded), 10,000 artifact tables (planned in bounded time; the invalid variant prints all
//! 10,000 errors) and names that are not UTF-8 (of layers, of the layers dir, of report.toml).
//! The cases git can hold are the fixtures under `fixtures/invalid/` (see `cli.rs` and
//! `layer_toml::fixture_tests`).
//!
//! Every failing case asserts the exact stderr and exit code 1; every run has a deadline, so a
//! read that blocks fails the test instead of hanging it.

use std::ffi::OsStr;
use std::fmt::Write as _;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::support::{bin, report};

const IMAGE: &str = "localhost:5000/app:1.0";
/// Long enough for a debug build on a busy 2-core machine; a blocked read never finishes.
const DEADLINE: Duration = Duration::from_secs(120);
/// sha256 of the empty file.
const EMPTY_SHA256: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
/// sha256 of 1 GiB of zero bytes.
const GIB_OF_ZEROS_SHA256: &str = "sha256:49bc20df15e412a64472421e13fe86ff1c5165e18b2afccf160d4dc19fe68a14";
const GIB: u64 = 1 << 30;
const TABLES: usize = 10_000;

/// A layers dir in a temp dir with one buildpack `acme/x` and its layer `lay`.
struct Layers {
    root: TempDir,
}

impl Layers {
    /// `layers/acme_x/lay.toml` holding `toml`, and an empty layer directory `lay/`.
    fn with_layer_toml(toml: &str) -> Layers {
        let root = tempfile::Builder::new().prefix("cnb-artifacts-bad-input-").tempdir().expect("temp dir");
        let layers = Layers { root };
        std::fs::create_dir_all(layers.layer_dir()).expect("create the layer directory");
        std::fs::write(layers.root.path().join("layers/acme_x/lay.toml"), toml).expect("write the layer TOML");
        layers
    }

    fn layers_dir(&self) -> PathBuf {
        self.root.path().join("layers")
    }

    fn layer_dir(&self) -> PathBuf {
        self.layers_dir().join("acme_x/lay")
    }

    /// `cnb-artifacts plan --layers-dir layers --image IMAGE ARGS…` run in the temp dir.
    fn plan(&self, args: &[&str]) -> Command {
        self.plan_in(OsStr::new("layers"), args)
    }

    /// `cnb-artifacts plan --layers-dir LAYERS_DIR --image IMAGE ARGS…` run in the temp dir.
    fn plan_in(&self, layers_dir: &OsStr, args: &[&str]) -> Command {
        let mut cmd = Command::new(bin());
        cmd.current_dir(self.root.path())
            .arg("plan")
            .arg("--layers-dir")
            .arg(layers_dir)
            .args(["--image", IMAGE])
            .args(args)
            .env_remove("SOURCE_DATE_EPOCH");
        cmd
    }
}

/// What a bounded run measured.
struct Measured {
    output: Output,
    /// Peak resident set size of the child alone, in KiB (`ru_maxrss` from `wait4`).
    peak_rss_kib: u64,
    elapsed: Duration,
}

/// Runs `cmd` to its end, failing the test when it takes longer than `deadline` (the child is
/// killed first). The child's own resource usage comes from `wait4`, not from the whole test
/// process's children, so other tests running at the same time do not count.
#[expect(clippy::zombie_processes, reason = "the child is reaped by `wait4`, which also gives its resource usage")]
fn run_bounded(cmd: &mut Command, deadline: Duration) -> Measured {
    let start = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("could not run {cmd:?}: {e}"));
    let drain = |mut pipe: Box<dyn Read + Send>| {
        thread::spawn(move || {
            let mut bytes = Vec::new();
            pipe.read_to_end(&mut bytes).map(|_| bytes)
        })
    };
    let stdout = drain(Box::new(child.stdout.take().expect("piped stdout")));
    let stderr = drain(Box::new(child.stderr.take().expect("piped stderr")));
    let pid = libc::pid_t::try_from(child.id()).expect("a pid fits pid_t");
    let mut status: libc::c_int = 0;
    // SAFETY: an all-zero `rusage` is a valid value of this plain C struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let mut killed = false;
    loop {
        // SAFETY: `pid` is this test's own child, which nothing else waits for (the `Child`
        // handle is never waited on); `status` and `usage` are valid for writes.
        let waited = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
        if waited == pid {
            break;
        }
        let error = std::io::Error::last_os_error();
        assert!(waited == 0 || error.kind() == std::io::ErrorKind::Interrupted, "wait4: {error}");
        if !killed && start.elapsed() > deadline {
            child.kill().expect("kill the child that ran past its deadline");
            killed = true;
        }
        thread::sleep(Duration::from_millis(10));
    }
    let elapsed = start.elapsed();
    let output = Output {
        status: ExitStatus::from_raw(status),
        stdout: stdout.join().expect("stdout reader").expect("read stdout"),
        stderr: stderr.join().expect("stderr reader").expect("read stderr"),
    };
    assert!(!killed, "killed after {deadline:?}: it blocked or is far too slow\n{}", report(cmd, &output));
    let peak_rss_kib = u64::try_from(usage.ru_maxrss).expect("ru_maxrss is not negative");
    Measured { output, peak_rss_kib, elapsed }
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Runs `cmd` and asserts exit code 1 and exactly `expected` on stderr.
fn assert_fails_with(cmd: &mut Command, expected: &str) {
    let measured = run_bounded(cmd, DEADLINE);
    let out = &measured.output;
    assert_eq!(out.status.code(), Some(1), "{}", report(cmd, out));
    let found = stderr(out);
    assert!(found == expected, "expected stderr:\n{expected}\n{}", report(cmd, out));
}

/// Runs `cmd`, asserts success and returns its JSON plan and the measurements.
fn json_plan(cmd: &mut Command) -> (serde_json::Value, Measured) {
    let measured = run_bounded(cmd.args(["--format", "json"]), DEADLINE);
    let out = &measured.output;
    assert_eq!(out.status.code(), Some(0), "{}", report(cmd, out));
    let doc = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("plan --format json printed no JSON: {e}"));
    (doc, measured)
}

const ONE_FILE: &str = "[additionalArtifact]\nfile = \"FILE\"\ntag = \"x\"\n";

fn declaring(file: &str) -> Layers {
    Layers::with_layer_toml(&ONE_FILE.replace("FILE", file))
}

#[test]
fn r_conf_4_named_pipe_is_refused_without_opening_it() {
    let layers = declaring("pipe");
    let status = Command::new("mkfifo").arg(layers.layer_dir().join("pipe")).status().expect("run mkfifo");
    assert!(status.success(), "mkfifo failed: {status}");
    // Opening a pipe without a writer blocks; the deadline turns that into a failure.
    assert_fails_with(
        &mut layers.plan(&[]),
        "error[R-CONF-4]: layers/acme_x/lay.toml:2:8: file `pipe` is a named pipe, not a regular file\n\
         1 error; nothing was published\n\
         for a rule's text, run `cnb-artifacts explain R-CONF-4`\n",
    );
}

#[test]
fn r_conf_4_socket_is_refused() {
    let layers = declaring("sock");
    let _listener = std::os::unix::net::UnixListener::bind(layers.layer_dir().join("sock")).expect("bind a socket");
    assert_fails_with(
        &mut layers.plan(&[]),
        "error[R-CONF-4]: layers/acme_x/lay.toml:2:8: file `sock` is a socket, not a regular file\n\
         1 error; nothing was published\n\
         for a rule's text, run `cnb-artifacts explain R-CONF-4`\n",
    );
}

/// R-CONF-4 asks for a regular file, nothing more: an empty one is a valid (empty) layer.
#[test]
fn r_conf_4_empty_file_is_planned_as_an_empty_layer() {
    let layers = declaring("empty.bin");
    std::fs::write(layers.layer_dir().join("empty.bin"), b"").expect("write an empty file");
    let (doc, _) = json_plan(&mut layers.plan(&[]));
    let file = &doc["artifacts"][0]["files"][0];
    assert_eq!(file["path"], "empty.bin");
    assert_eq!(file["size"], 0);
    assert_eq!(file["digest"], EMPTY_SHA256);
}

#[test]
fn r_preset_2_empty_file_is_not_wasm() {
    let layers = Layers::with_layer_toml("[additionalArtifact]\nfile = \"empty.wasm\"\ntype = \"wasm\"\n");
    std::fs::write(layers.layer_dir().join("empty.wasm"), b"").expect("write an empty file");
    assert_fails_with(
        &mut layers.plan(&[]),
        "error[R-PRESET-2]: layers/acme_x/lay.toml:3:8: `empty.wasm` is not a WebAssembly binary: it is 0 bytes long, shorter than the 8-byte Wasm header\n  \
         help: type = \"wasm\" expects a binary module or component starting with `\\0asm`; use type = \"generic\" for other files\n\
         1 error; nothing was published\n\
         for a rule's text, run `cnb-artifacts explain R-PRESET-2`\n",
    );
}

/// A 1 GiB file (sparse: it takes no disk) is hashed in one streaming pass: the planner's peak
/// resident memory stays far below the file's size.
#[test]
fn r_conf_large_sparse_file_is_hashed_streaming_in_bounded_memory() {
    let layers = declaring("big.bin");
    let big = std::fs::File::create(layers.layer_dir().join("big.bin")).expect("create the big file");
    big.set_len(GIB).expect("make the file 1 GiB long");
    drop(big);
    let (doc, measured) = json_plan(&mut layers.plan(&[]));
    let file = &doc["artifacts"][0]["files"][0];
    assert_eq!(file["size"], GIB);
    assert_eq!(file["digest"], GIB_OF_ZEROS_SHA256);
    let bound_kib = 256 * 1024;
    assert!(
        measured.peak_rss_kib < bound_kib,
        "planning a 1 GiB file peaked at {} KiB resident, over {bound_kib} KiB: it is not streamed",
        measured.peak_rss_kib
    );
    eprintln!("1 GiB sparse file: planned in {:?}, peak RSS {} KiB", measured.elapsed, measured.peak_rss_kib);
}

/// `[[additionalArtifact]]` `count` times, each declaring `f.bin` with `key = "t<i>"`.
fn many_tables(count: usize, key: &str) -> String {
    let mut toml = String::with_capacity(count * 48);
    for i in 0..count {
        writeln!(toml, "[[additionalArtifact]]\nfile = \"f.bin\"\n{key} = \"t{i}\"").expect("write to a String");
    }
    toml
}

#[test]
fn r_plan_3_ten_thousand_artifact_tables_are_planned_in_bounded_time() {
    let layers = Layers::with_layer_toml(&many_tables(TABLES, "tag"));
    std::fs::write(layers.layer_dir().join("f.bin"), b"x").expect("write f.bin");
    let (doc, measured) = json_plan(&mut layers.plan(&[]));
    let artifacts = doc["artifacts"].as_array().expect("an artifacts array");
    assert_eq!(artifacts.len(), TABLES);
    assert_eq!(artifacts[TABLES - 1]["index"], TABLES - 1);
    assert_eq!(artifacts[TABLES - 1]["tags"], serde_json::json!([format!("t{}", TABLES - 1)]));
    eprintln!("{TABLES} artifact tables: planned in {:?}, peak RSS {} KiB", measured.elapsed, measured.peak_rss_kib);
}

#[test]
fn r_err_1_ten_thousand_errors_are_all_printed() {
    let layers = Layers::with_layer_toml(&many_tables(TABLES, "tga"));
    std::fs::write(layers.layer_dir().join("f.bin"), b"x").expect("write f.bin");
    let mut expected = String::new();
    for i in 0..TABLES {
        writeln!(
            expected,
            "error[R-FIELD-9]: layers/acme_x/lay.toml:{}:1: unknown key `tga` in an artifact table\n  \
             help: did you mean `tag`? valid keys: file, files, tag, repository, type, artifactType, mediaType, labels",
            3 * i + 3
        )
        .expect("write to a String");
    }
    writeln!(expected, "{TABLES} errors; nothing was published").expect("write to a String");
    writeln!(expected, "for a rule's text, run `cnb-artifacts explain R-FIELD-9`").expect("write to a String");
    assert_fails_with(&mut layers.plan(&[]), &expected);
}

/// Creates `path` (relative to `root`, raw bytes) as a directory or as a file holding `text`.
fn create(root: &Path, path: &[u8], text: Option<&str>) {
    let path = root.join(OsStr::from_bytes(path));
    match text {
        Some(text) => std::fs::write(&path, text),
        None => std::fs::create_dir_all(&path),
    }
    .unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
}

/// Buildpack directories and layer TOMLs whose names are not UTF-8 cannot be buildpack IDs or
/// layer names: each is an error naming its path alone (no line and column: the problem is not
/// inside a file), with the bad bytes escaped as `\xff`; the others are still read.
#[test]
fn r_file_1_names_that_are_not_utf8_are_reported() {
    let layers = declaring("f.bin");
    let root = layers.layers_dir();
    std::fs::write(layers.layer_dir().join("f.bin"), b"x").expect("write f.bin");
    create(&root, b"acme_\xff", None);
    create(&root, b"acme_\xff/lay.toml", Some("[additionalArtifact]\nfile = \"f.bin\"\n"));
    create(&root, b"acme_x/l\xe9.toml", Some("[additionalArtifact]\nfile = \"f.bin\"\n"));
    create(&root, b"acme_x/bad.toml", Some("[additionalArtifact]\nfile = 1\n"));
    assert_fails_with(
        &mut layers.plan(&[]),
        "error[R-FIELD-9]: layers/acme_x/bad.toml:2:8: `file`: expected a string, found an integer\n  \
         help: quote the value (without quotes, TOML reads it as a number)\n\
         error[R-FILE-1]: layers/acme_x/l\\xe9.toml: layer TOML name is not valid UTF-8\n\
         error[R-FILE-1]: layers/acme_\\xff: buildpack directory name is not valid UTF-8\n\
         3 errors; nothing was published\n\
         for a rule's text, run `cnb-artifacts explain R-FIELD-9` (rules here: R-FIELD-9, R-FILE-1)\n",
    );
}

/// A layers dir whose own name is not UTF-8 is fine, and every path printed in a diagnostic
/// (a location, a layer directory in a message) shows its bad byte the same way, escaped.
#[test]
fn r_err_1_paths_that_are_not_utf8_print_escaped_in_every_diagnostic() {
    let layers = Layers::with_layer_toml("[additionalArtifact]\nfile = \"missing.bin\"\ntag = \"x\"\n");
    create(&layers.layers_dir(), b"acme_x/bad.toml", Some("[additionalArtifact]\nfile = 1\n"));
    let renamed = OsStr::from_bytes(b"lay\xffers");
    std::fs::rename(layers.layers_dir(), layers.root.path().join(renamed)).expect("rename the layers dir");
    assert_fails_with(
        &mut layers.plan_in(renamed, &[]),
        "error[R-FIELD-9]: lay\\xffers/acme_x/bad.toml:2:8: `file`: expected a string, found an integer\n  \
         help: quote the value (without quotes, TOML reads it as a number)\n\
         error[R-CONF-5]: lay\\xffers/acme_x/lay.toml:2:8: file `missing.bin` does not exist in layer directory `lay\\xffers/acme_x/lay`\n\
         2 errors; nothing was published\n\
         for a rule's text, run `cnb-artifacts explain R-FIELD-9` (rules here: R-FIELD-9, R-CONF-5)\n",
    );
}

/// The exporter's report.toml is named on the command line, and its name need not be UTF-8:
/// every problem in it is still reported, each at its line and column, the path escaped.
#[test]
fn r_ctx_1_a_report_whose_name_is_not_utf8_is_named_escaped() {
    let layers = declaring("f.bin");
    std::fs::write(layers.layer_dir().join("f.bin"), b"x").expect("write f.bin");
    let report = b"rep\xffort.toml";
    create(layers.root.path(), report, Some("[image]\ntags = [\"localhost:5000/app:1.0\"]\nmanifest-size = \"528\"\ndigest = 1\n"));
    let mut cmd = layers.plan(&[]);
    cmd.arg("--report").arg(OsStr::from_bytes(report));
    assert_fails_with(
        &mut cmd,
        "error[R-CTX-1]: rep\\xffort.toml:3:17: `image.manifest-size` must be an integer number of bytes, found a string\n  \
         help: write the number without quotes, e.g. `manifest-size = 1083`\n\
         error[R-CTX-1]: rep\\xffort.toml:4:10: `image.digest` must be a string (`sha256:` and 64 hex digits), found an integer\n\
         2 errors; nothing was published\n\
         for a rule's text, run `cnb-artifacts explain R-CTX-1`\n",
    );
}

/// A declared name is UTF-8 (TOML strings are), but a symlink may lead to a file whose name is
/// not: inside the layer directory that is fine, outside it is named in the error, its bad bytes
/// escaped.
#[test]
fn r_conf_3_symlinks_to_names_that_are_not_utf8() {
    let layers = Layers::with_layer_toml(
        "[[additionalArtifact]]\nfile = \"inside\"\ntag = \"a\"\n\n[[additionalArtifact]]\nfile = \"outside\"\ntag = \"b\"\n",
    );
    let dir = layers.layer_dir();
    create(&dir, b"data\xfe.bin", Some("x"));
    create(&layers.layers_dir(), b"acme_x/secret\xfe", Some("s"));
    std::os::unix::fs::symlink(OsStr::from_bytes(b"data\xfe.bin"), dir.join("inside")).expect("symlink inside");
    std::os::unix::fs::symlink(OsStr::from_bytes(b"../secret\xfe"), dir.join("outside")).expect("symlink outside");
    assert_fails_with(
        &mut layers.plan(&[]),
        "error[R-CONF-3]: layers/acme_x/lay.toml:6:8: file `outside` resolves to `../secret\\xfe` (relative to the layer directory), outside layer directory `layers/acme_x/lay`\n  \
         help: copy the file into the layer directory instead of linking to it\n\
         1 error; nothing was published\n\
         for a rule's text, run `cnb-artifacts explain R-CONF-3`\n",
    );
    std::fs::remove_file(dir.join("outside")).expect("remove the outside link");
    std::fs::write(layers.layers_dir().join("acme_x/lay.toml"), "[additionalArtifact]\nfile = \"inside\"\ntag = \"a\"\n")
        .expect("rewrite the layer TOML");
    let (doc, _) = json_plan(&mut layers.plan(&[]));
    assert_eq!(doc["artifacts"][0]["files"][0]["path"], "inside");
    assert_eq!(doc["artifacts"][0]["files"][0]["size"], 1);
}

/// A named pipe where group.toml belongs must not hang the run (R-FILE-2 wants a readable file).
#[test]
fn r_file_2_group_toml_named_pipe_does_not_block() {
    let layers = declaring("f.bin");
    std::fs::write(layers.layer_dir().join("f.bin"), b"x").expect("write f.bin");
    let status = Command::new("mkfifo").arg(layers.layers_dir().join("group.toml")).status().expect("run mkfifo");
    assert!(status.success(), "mkfifo failed: {status}");
    let mut cmd = layers.plan(&[]);
    let measured = run_bounded(&mut cmd, Duration::from_secs(20));
    assert_eq!(measured.output.status.code(), Some(1), "{}", report(&cmd, &measured.output));
    assert!(stderr(&measured.output).starts_with("error[R-FILE-2]: layers/group.toml"), "{}", report(&cmd, &measured.output));
}
