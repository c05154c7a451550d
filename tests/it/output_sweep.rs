//! One hostile name through every output path (spec rule R-SEC-3, docs/security.md "Output
//! cannot be forged"): a file name and a label that hold ESC, BEL, CR, NEL, a C1 CSI, DEL and a
//! bidi override go through `validate`, `plan` (text and JSON), `publish` (summary, logs at
//! debug level, the report), `discover` (text and JSON), `pull`, the diagnostics of an invalid
//! tag, a publish error carrying a registry's hostile answer, and the conformance runner's
//! lines quoting an implementation that prints it. No raw control, C1 or bidi character may
//! reach stdout or stderr; JSON stays valid and carries them as `\uXXXX`.

use std::path::Path;
use std::process::{Command, Output};

use cnb_artifacts_conformance::provider::quirks::{Handler, Proxy, ProxyOptions, ProxyRequest, ProxyResponse, Reply, Upstream};
use cnb_artifacts_conformance::provider::seed::seed_app_image;
use tempfile::TempDir;

use crate::support::{bin, report};

const APP: &str = "team/app";
/// The hostile text: set the terminal title, ring, return to the line start, NEL, CSI (C1)
/// clear-screen, a right-to-left override, DEL.
const HOSTILE: &str = "\u{1b}]0;pwn\u{7}\rINFO forged\u{85}\u{9b}2J\u{202e}gpj\u{7f}";
/// The same in TOML escapes.
const HOSTILE_TOML: &str = r"\u001b]0;pwn\u0007\rINFO forged\u0085\u009b2J\u202egpj\u007f";

/// The first character a terminal would act on or reorder, with its position; `None` when the
/// text is safe (line feeds and tabs are the only controls allowed).
fn first_unsafe(text: &str) -> Option<(usize, char)> {
    text.char_indices().find(|&(_, c)| {
        (c.is_control() && c != '\n' && c != '\t')
            || matches!(c, '\u{200e}' | '\u{200f}' | '\u{061c}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    })
}

/// Every output so far, by the command that made it.
#[derive(Default)]
struct Sweep {
    seen: Vec<(String, Output, String)>,
}

impl Sweep {
    fn run(&mut self, what: &str, cmd: &mut Command) -> Output {
        let output = cmd.output().unwrap_or_else(|e| panic!("running {what}: {e}"));
        self.seen.push((what.to_string(), output.clone(), report(cmd, &output)));
        output
    }

    /// No output of any command holds a raw unsafe character.
    fn assert_clean(&self) {
        for (what, output, described) in &self.seen {
            for (stream, bytes) in [("stdout", &output.stdout), ("stderr", &output.stderr)] {
                let text = String::from_utf8_lossy(bytes);
                if let Some((at, c)) = first_unsafe(&text) {
                    let context: String = text[at.saturating_sub(80)..].chars().take(120).collect();
                    panic!("{what}: raw {c:?} on {stream} at byte {at}: {context:?}\n{described}");
                }
            }
        }
    }
}

/// A layers dir with one artifact whose file name and label hold [`HOSTILE`], and `tag`.
fn layers(tag: &str) -> TempDir {
    let dir = tempfile::tempdir().unwrap();
    let layer = dir.path().join("examples_wasm/wasm");
    std::fs::create_dir_all(&layer).unwrap();
    std::fs::write(layer.join(format!("m{HOSTILE}.wasm")), b"\0asm\x01\0\0\0 sweep").unwrap();
    let toml = format!(
        "[additionalArtifact]\nfile = \"m{HOSTILE_TOML}.wasm\"\ntag = \"{tag}\"\n[additionalArtifact.labels]\n\"sweep\" = \"v{HOSTILE_TOML}\"\n"
    );
    std::fs::write(dir.path().join("examples_wasm/wasm.toml"), toml).unwrap();
    dir
}

fn cmd(args: &[&str]) -> Command {
    let mut cmd = Command::new(bin());
    cmd.args(args).env_remove("RUST_LOG").env_remove("CNB_REGISTRY_AUTH");
    cmd
}

fn with_layers(args: &[&str], layers: &Path, rest: &[&str]) -> Command {
    let mut c = cmd(args);
    c.arg("--layers-dir").arg(layers).args(rest);
    c
}

/// Answers every request with HTTP 400 and [`HOSTILE`] in its body.
struct HostileAnswers;

impl Handler for HostileAnswers {
    async fn handle(&self, _request: ProxyRequest, _upstream: &Upstream) -> Reply {
        Reply::Respond(ProxyResponse::new(400, "text/plain", format!("bad request {HOSTILE}\n")))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_sec_3_a_hostile_name_reaches_no_output_raw() {
    let registry = require_registry!();
    let subject = seed_app_image(&registry, APP, &["1.0".to_string()]).await.unwrap();
    let image = format!("{}/{APP}:1.0", registry.host);
    let good = layers("wasm");
    let bad = layers("t\\u001b[31m");
    let work = tempfile::tempdir().unwrap();
    let mut sweep = Sweep::default();

    let ok = |o: &Output| o.status.success();
    assert!(ok(&sweep.run("validate", &mut with_layers(&["validate"], good.path(), &[]))));
    assert!(ok(&sweep.run("plan", &mut with_layers(&["plan"], good.path(), &["--image", &image]))));
    let json = sweep.run("plan json", &mut with_layers(&["plan"], good.path(), &["--image", &image, "--format", "json"]));
    let plan: serde_json::Value = serde_json::from_slice(&json.stdout).expect("plan JSON stays valid");
    assert!(plan.to_string().contains("\u{202e}"), "the JSON carries the name, escaped: {plan}");
    sweep.run("validate, bad tag", &mut with_layers(&["validate"], bad.path(), &[]));
    assert!(!ok(&sweep.run("plan, bad tag", &mut with_layers(&["plan"], bad.path(), &["--image", &image]))));
    sweep.run("plan json, bad tag", &mut with_layers(&["plan"], bad.path(), &["--image", &image, "--format", "json"]));

    let report_out = work.path().join("report.toml");
    let published = sweep.run(
        "publish --log debug",
        with_layers(&["--log", "debug", "publish"], good.path(), &["--image", &image, "--digest", subject.digest.as_str()])
            .arg("--report-out")
            .arg(&report_out)
            .env("DOCKER_CONFIG", work.path()),
    );
    assert!(ok(&published), "{}", String::from_utf8_lossy(&published.stderr));

    let proxy = Proxy::start("http://127.0.0.1:9", HostileAnswers, ProxyOptions::default()).await.unwrap();
    let hostile_image = format!("{}/{APP}:1.0", proxy.host());
    let refused = sweep.run(
        "publish, hostile registry answer",
        with_layers(&["--log", "debug", "publish"], good.path(), &["--image", &hostile_image, "--digest", subject.digest.as_str()])
            .args(["--max-attempts", "1"])
            .env("DOCKER_CONFIG", work.path()),
    );
    assert_eq!(refused.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("bad request"), "the answer is shown, escaped");

    assert!(ok(&sweep.run("discover", &mut cmd(&["discover", &image]))));
    let found = sweep.run("discover json", &mut cmd(&["discover", &image, "--format", "json"]));
    serde_json::from_slice::<serde_json::Value>(&found.stdout).expect("discover JSON stays valid");
    sweep.run("discover, hostile registry answer", &mut cmd(&["discover", &hostile_image]));
    let out = work.path().join("pulled");
    std::fs::create_dir_all(&out).unwrap();
    sweep.run("pull", cmd(&["pull", &image, "--type", "wasm", "-o"]).arg(&out));

    // The runner quotes an implementation's output, and its results JSON keeps it escaped.
    let script = r"printf '\033]0;pwn\007\rINFO forged\302\205\302\2332J\342\200\256gpj\177\n'; printf '\033[2J\r\302\233\n' >&2; exit 0";
    let implementation = format!("sh -c {}", shlex_quote(script));
    let results = work.path().join("results.json");
    let conformance = sweep.run(
        "conformance run",
        cmd(&[
            "conformance",
            "run",
            "--registry-provider",
            "process",
            "--filter",
            "rfc-example",
            "--implementation",
            &implementation,
            "--json",
        ])
        .arg(&results),
    );
    assert_eq!(conformance.status.code(), Some(4), "the case fails: {}", String::from_utf8_lossy(&conformance.stdout));
    let written = std::fs::read_to_string(&results).unwrap();
    assert!(first_unsafe(&written).is_none(), "results JSON escapes the implementation's output");
    serde_json::from_str::<serde_json::Value>(&written).expect("results JSON stays valid");

    sweep.assert_clean();
    let report_toml = std::fs::read_to_string(&report_out).unwrap();
    assert!(report_toml.contains("[[artifacts]]"), "{report_toml}");
}

/// `text` quoted as one shell word.
fn shlex_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}
