//! The implementation under test: a command, called once per publish with the environment
//! `docs/conformance.md` defines, in a fresh working directory, with a timeout.
//!
//! The command line is split like a POSIX shell would split words (quotes and backslashes; no
//! expansion, no shell). The child runs in its own process group so that a timeout or Ctrl-C
//! ends the adapter and everything it started. Spec rule R-ERR-2 is why only zero versus
//! non-zero exit status matters.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde::Serialize;

/// Environment variables the runner owns; inherited values of these are removed.
pub const OWNED_VARS: [&str; 13] = [
    "CNB_LAYERS_DIR",
    "CNB_OUTPUT_IMAGE",
    "CNB_ARTIFACTS_TAGS",
    "CNB_ARTIFACTS_DIGEST",
    "CNB_ARTIFACTS_MANIFEST_SIZE",
    "CNB_ARTIFACTS_MANIFEST_MEDIA_TYPE",
    "CNB_ARTIFACTS_REPORT",
    "CNB_ARTIFACTS_REGISTRY",
    "CNB_ARTIFACTS_INSECURE",
    "CNB_ARTIFACTS_OVERWRITE",
    "DOCKER_CONFIG",
    "CNB_REGISTRY_AUTH",
    "SOURCE_DATE_EPOCH",
];

/// Most bytes of stdout or stderr kept per invocation.
const MAX_OUTPUT: usize = 256 * 1024;

/// Why the implementation command cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ImplementationError {
    #[error("the implementation command `{given}` cannot be split into words (unbalanced quote?)")]
    Unsplittable { given: String },
    #[error("the implementation command is empty")]
    Empty,
    #[error("could not start the implementation `{command}`: {source}")]
    Spawn { command: String, source: std::io::Error },
    #[error(
        "the implementation could not be started: `{command} --version` ended with exit status {code} \
         (126: found but not executable, 127: not found){said}"
    )]
    NotStarted { command: String, code: i32, said: String },
    #[error("waiting for the implementation `{command}` failed: {source}")]
    Wait { command: String, source: std::io::Error },
    #[error(transparent)]
    Image(#[from] crate::implementation_image::ImageError),
}

/// A command to run: program and arguments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Implementation {
    pub program: String,
    pub args: Vec<String>,
    /// The command as the user wrote it.
    pub display: String,
    /// How it is started: a command of this machine, or a container of a local image
    /// ([`crate::implementation_image`]).
    pub launch: Launch,
}

/// How the implementation under test is started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Launch {
    /// `program` is a command of this machine (`--implementation`).
    #[default]
    Command,
    /// `program` is a local container image, `args` its arguments (`--implementation-image`).
    Image,
}

impl Implementation {
    /// Splits `command` into words.
    pub fn parse(command: &str) -> Result<Implementation, ImplementationError> {
        let words = shlex::split(command).ok_or_else(|| ImplementationError::Unsplittable { given: command.to_string() })?;
        let (program, args) = words.split_first().ok_or(ImplementationError::Empty)?;
        // The command runs in a temporary directory: a relative path with a `/` is resolved
        // against the directory the runner was started in; a bare name is looked up in PATH.
        let program = match std::env::current_dir() {
            Ok(cwd) if program.contains('/') && Path::new(program).is_relative() => cwd.join(program).display().to_string(),
            _ => program.clone(),
        };
        Ok(Implementation { program, args: args.to_vec(), display: command.to_string(), launch: Launch::Command })
    }

    /// Checks that the command can be started (it can be spawned, and does not exit 126 or 127,
    /// the shell's "not executable" and "not found"), and returns the first line of its
    /// `CMD ARGS --version` standard output (`unknown` when it prints none or exits non-zero).
    pub async fn probe(&self) -> Result<String, ImplementationError> {
        if self.launch == Launch::Image {
            return crate::implementation_image::probe(self).await;
        }
        let run =
            tokio::process::Command::new(&self.program).args(&self.args).arg("--version").stdin(Stdio::null()).kill_on_drop(true).output();
        let unknown = || "unknown".to_string();
        match tokio::time::timeout(Duration::from_secs(20), run).await {
            Ok(Ok(out)) if matches!(out.status.code(), Some(126 | 127)) => {
                let said = tail(String::from_utf8_lossy(&out.stderr).trim_end(), 3);
                let said = if said.is_empty() { String::new() } else { format!("; it said: {said}") };
                Err(ImplementationError::NotStarted { command: self.display.clone(), code: out.status.code().unwrap_or(127), said })
            }
            Ok(Ok(out)) if out.status.success() => {
                Ok(String::from_utf8_lossy(&out.stdout).lines().map(str::trim).find(|l| !l.is_empty()).map_or_else(unknown, str::to_string))
            }
            Ok(Ok(_)) | Err(_) => Ok(unknown()),
            Ok(Err(source)) => Err(ImplementationError::Spawn { command: self.display.clone(), source }),
        }
    }

    /// Runs the command once with `env` in `cwd`; `Err` only when it cannot be started.
    pub async fn run(&self, env: &InvocationEnv, cwd: &Path, timeout: Duration) -> Result<Invocation, ImplementationError> {
        if self.launch == Launch::Image {
            return crate::implementation_image::run(self, env, cwd, timeout).await;
        }
        let vars = env.vars();
        let mut command = tokio::process::Command::new(&self.program);
        command.args(&self.args).current_dir(cwd).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        command.kill_on_drop(true).process_group(0);
        for name in OWNED_VARS {
            command.env_remove(name);
        }
        command.envs(&vars);
        let started = Instant::now();
        let child = command.spawn().map_err(|source| ImplementationError::Spawn { command: self.display.clone(), source })?;
        let vars = recorded(vars);
        let mut group = GroupGuard(child.id());
        let waited = tokio::time::timeout(timeout, child.wait_with_output()).await;
        let duration = started.elapsed();
        let (exit, stdout, stderr) = match waited {
            Ok(Ok(out)) => {
                let exit = match out.status.code() {
                    Some(code) => Exit::Code(code),
                    None => Exit::Signal(std::os::unix::process::ExitStatusExt::signal(&out.status).unwrap_or(0)),
                };
                (exit, capped(&out.stdout), capped(&out.stderr))
            }
            Ok(Err(source)) => return Err(ImplementationError::Wait { command: self.display.clone(), source }),
            Err(_) => (Exit::TimedOut { after_seconds: timeout.as_secs() }, String::new(), String::new()),
        };
        // The leader exited on its own: anything left in its group is killed below only on a
        // timeout (the guard's drop); a clean exit leaves the group alone.
        if !matches!(exit, Exit::TimedOut { .. }) {
            group.0 = None;
        }
        drop(group);
        Ok(Invocation {
            command: self.display.clone(),
            cwd: cwd.to_path_buf(),
            env: vars,
            exit,
            stdout,
            stderr,
            duration_ms: duration.as_millis() as u64,
        })
    }
}

/// The environment as the results show it: `CNB_REGISTRY_AUTH`'s value is never recorded.
pub(crate) fn recorded(mut vars: BTreeMap<String, String>) -> BTreeMap<String, String> {
    if let Some(value) = vars.get_mut("CNB_REGISTRY_AUTH") {
        *value = crate::credentials::REDACTED.to_string();
    }
    vars
}

/// Kills the child's process group when dropped while it may still run (timeout, Ctrl-C).
struct GroupGuard(Option<u32>);

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if let Some(pid) = self.0.take() {
            crate::kill::sigkill(crate::kill::Victim::Group(pid));
        }
    }
}

pub(crate) fn capped(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    if text.len() <= MAX_OUTPUT {
        return text.into_owned();
    }
    let mut cut = text.len() - MAX_OUTPUT;
    while !text.is_char_boundary(cut) {
        cut += 1;
    }
    format!("[… {cut} bytes cut …]\n{}", &text[cut..])
}

/// The variables of one invocation (`docs/conformance.md`, "Environment").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvocationEnv {
    pub layers_dir: PathBuf,
    /// `host/namespace/repository:primary-tag` (no tag when the app image has none).
    pub output_image: String,
    pub tags: Vec<String>,
    pub digest: String,
    pub manifest_size: u64,
    pub manifest_media_type: String,
    pub report: PathBuf,
    pub registry: String,
    pub insecure: bool,
    pub docker_config: PathBuf,
    /// `CNB_REGISTRY_AUTH`, set only for a case with `[auth]` that asks for it.
    pub registry_auth: Option<String>,
    /// A directory put first on the inherited `PATH` (the suite's credential helper).
    pub path_first: Option<PathBuf>,
    /// `SOURCE_DATE_EPOCH` exactly as set (unset when `None`).
    pub source_date_epoch: Option<String>,
    pub overwrite: bool,
}

impl InvocationEnv {
    /// The variables, sorted by name.
    pub fn vars(&self) -> BTreeMap<String, String> {
        let mut vars = BTreeMap::new();
        let mut set = |k: &str, v: String| {
            vars.insert(k.to_string(), v);
        };
        set("CNB_LAYERS_DIR", self.layers_dir.display().to_string());
        set("CNB_OUTPUT_IMAGE", self.output_image.clone());
        set("CNB_ARTIFACTS_TAGS", self.tags.join(" "));
        set("CNB_ARTIFACTS_DIGEST", self.digest.clone());
        set("CNB_ARTIFACTS_MANIFEST_SIZE", self.manifest_size.to_string());
        set("CNB_ARTIFACTS_MANIFEST_MEDIA_TYPE", self.manifest_media_type.clone());
        set("CNB_ARTIFACTS_REPORT", self.report.display().to_string());
        set("CNB_ARTIFACTS_REGISTRY", self.registry.clone());
        set("CNB_ARTIFACTS_INSECURE", self.insecure.to_string());
        set("DOCKER_CONFIG", self.docker_config.display().to_string());
        if let Some(value) = &self.registry_auth {
            set("CNB_REGISTRY_AUTH", value.clone());
        }
        if let Some(dir) = &self.path_first {
            let inherited = std::env::var_os("PATH").unwrap_or_default();
            let joined = std::env::join_paths(std::iter::once(dir.clone()).chain(std::env::split_paths(&inherited)))
                .map_or_else(|_| dir.display().to_string(), |p| p.to_string_lossy().into_owned());
            set("PATH", joined);
        }
        if let Some(epoch) = &self.source_date_epoch {
            set("SOURCE_DATE_EPOCH", epoch.clone());
        }
        if self.overwrite {
            set("CNB_ARTIFACTS_OVERWRITE", "true".to_string());
        }
        vars
    }

    /// The `report.toml` the lifecycle exporter would have written for the app image.
    pub fn report_toml(&self) -> String {
        let name = self.output_image.rsplit_once(':').filter(|(_, t)| !t.contains('/')).map_or(self.output_image.as_str(), |(n, _)| n);
        let refs: Vec<String> = self.tags.iter().map(|t| toml_string(&format!("{name}:{t}"))).collect();
        format!("[image]\ntags = [{}]\ndigest = {}\nmanifest-size = {}\n", refs.join(", "), toml_string(&self.digest), self.manifest_size)
    }
}

fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// How an invocation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", rename_all_fields = "camelCase")]
pub enum Exit {
    Code(i32),
    Signal(i32),
    TimedOut { after_seconds: u64 },
}

impl Exit {
    pub fn success(&self) -> bool {
        *self == Exit::Code(0)
    }
}

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Exit::Code(c) => write!(f, "exit status {c}"),
            Exit::Signal(s) => match signal_name(*s) {
                Some(name) => write!(f, "signal {s} ({name})"),
                None => write!(f, "signal {s}"),
            },
            Exit::TimedOut { after_seconds } => {
                write!(f, "timed out after {after_seconds} s (killed)")
            }
        }
    }
}

/// The name of the common signals a process ends by.
fn signal_name(signal: i32) -> Option<&'static str> {
    Some(match signal {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGILL => "SIGILL",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGTERM => "SIGTERM",
        _ => return None,
    })
}

/// One run of the implementation, everything needed to reproduce it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Invocation {
    pub command: String,
    pub cwd: PathBuf,
    pub env: BTreeMap<String, String>,
    pub exit: Exit,
    pub stdout: String,
    pub stderr: String,
    pub duration_ms: u64,
}

impl Invocation {
    /// The rule IDs (`R-XXX-n`) the implementation's output mentions, sorted.
    pub fn mentioned_rules(&self) -> Vec<String> {
        let re = regex::Regex::new(r"\bR-[A-Z]+-[0-9]+\b").expect("a fixed valid pattern");
        let mut rules: Vec<String> = re.find_iter(&self.stderr).chain(re.find_iter(&self.stdout)).map(|m| m.as_str().to_string()).collect();
        rules.sort();
        rules.dedup();
        rules
    }
}

/// The last `n` lines of `text`.
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[test]
    fn exits_read_after_ended_with() {
        assert_eq!(format!("ended with {}", Exit::Signal(11)), "ended with signal 11 (SIGSEGV)");
        assert_eq!(format!("ended with {}", Exit::Signal(64)), "ended with signal 64");
        assert_eq!(format!("ended with {}", Exit::Code(3)), "ended with exit status 3");
    }

    #[rstest]
    #[case("impl.sh", "impl.sh", &[])]
    #[case("/bin/lifecycle publish --flag", "/bin/lifecycle", &["publish", "--flag"])]
    #[case("lifecycle", "lifecycle", &[])]
    #[case("run 'two words' \"and more\"", "run", &["two words", "and more"])]
    #[case("a\\ b c", "a b", &["c"])]
    fn commands_split_like_a_shell(#[case] given: &str, #[case] program: &str, #[case] args: &[&str]) {
        let i = Implementation::parse(given).expect("splits");
        assert_eq!(i.program, program);
        assert_eq!(i.args, args);
        assert_eq!(i.display, given);
    }

    #[test]
    fn relative_paths_are_resolved_against_the_runner_directory() {
        let i = Implementation::parse("adapters/impl.sh --x").expect("splits");
        assert!(Path::new(&i.program).is_absolute(), "{}", i.program);
        assert!(i.program.ends_with("/adapters/impl.sh"));
        assert_eq!(i.display, "adapters/impl.sh --x");
    }

    #[rstest]
    #[case("")]
    #[case("   ")]
    fn empty_commands_are_refused(#[case] given: &str) {
        assert!(matches!(Implementation::parse(given), Err(ImplementationError::Empty)));
    }

    #[test]
    fn unbalanced_quotes_are_refused() {
        assert!(matches!(Implementation::parse("a 'b"), Err(ImplementationError::Unsplittable { .. })));
    }

    fn env() -> InvocationEnv {
        InvocationEnv {
            layers_dir: "/tmp/l".into(),
            output_image: "127.0.0.1:5000/case/app:1.0".into(),
            tags: vec!["1.0".into(), "latest".into()],
            digest: format!("sha256:{}", "a".repeat(64)),
            manifest_size: 42,
            manifest_media_type: "application/vnd.oci.image.manifest.v1+json".into(),
            report: "/tmp/report.toml".into(),
            registry: "127.0.0.1:5000".into(),
            insecure: true,
            docker_config: "/tmp/docker".into(),
            registry_auth: None,
            path_first: None,
            source_date_epoch: None,
            overwrite: false,
        }
    }

    #[test]
    fn optional_variables_are_set_only_when_asked() {
        let vars = env().vars();
        assert_eq!(vars["CNB_ARTIFACTS_TAGS"], "1.0 latest");
        assert_eq!(vars["CNB_ARTIFACTS_INSECURE"], "true");
        assert!(!vars.contains_key("SOURCE_DATE_EPOCH"));
        assert!(!vars.contains_key("CNB_ARTIFACTS_OVERWRITE"));
        let vars = InvocationEnv { source_date_epoch: Some("1700000000".into()), overwrite: true, ..env() }.vars();
        assert_eq!(vars["SOURCE_DATE_EPOCH"], "1700000000");
        assert_eq!(vars["CNB_ARTIFACTS_OVERWRITE"], "true");
    }

    #[test]
    fn report_toml_lists_full_references() {
        let report: toml::Value = toml::from_str(&env().report_toml()).expect("valid TOML");
        let tags: Vec<&str> = report["image"]["tags"].as_array().unwrap().iter().map(|t| t.as_str().unwrap()).collect();
        assert_eq!(tags, ["127.0.0.1:5000/case/app:1.0", "127.0.0.1:5000/case/app:latest"]);
        assert_eq!(report["image"]["manifest-size"].as_integer(), Some(42));
    }

    #[tokio::test]
    async fn runs_with_the_environment_and_reports_exit_and_output() {
        let dir = tempfile::tempdir().unwrap();
        let i = Implementation::parse("sh -c 'echo \"$CNB_OUTPUT_IMAGE\"; echo error[R-COLL-1] >&2; exit 3'").unwrap();
        let out = i.run(&env(), dir.path(), Duration::from_secs(10)).await.expect("runs");
        assert_eq!(out.exit, Exit::Code(3));
        assert_eq!(out.stdout.trim(), "127.0.0.1:5000/case/app:1.0");
        assert_eq!(out.mentioned_rules(), ["R-COLL-1"]);
    }

    #[tokio::test]
    async fn registry_auth_is_handed_over_but_never_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let i = Implementation::parse("sh -c 'echo \"$CNB_REGISTRY_AUTH\"'").unwrap();
        let env = InvocationEnv { registry_auth: Some("{\"h\":\"Basic eDp5\"}".into()), ..env() };
        let out = i.run(&env, dir.path(), Duration::from_secs(10)).await.expect("runs");
        assert_eq!(out.stdout.trim(), "{\"h\":\"Basic eDp5\"}");
        assert_eq!(out.env["CNB_REGISTRY_AUTH"], crate::credentials::REDACTED);
    }

    #[tokio::test]
    async fn a_hanging_implementation_times_out() {
        let dir = tempfile::tempdir().unwrap();
        let i = Implementation::parse("sh -c 'sleep 30'").unwrap();
        let started = Instant::now();
        let out = i.run(&env(), dir.path(), Duration::from_millis(300)).await.expect("runs");
        assert_eq!(out.exit, Exit::TimedOut { after_seconds: 0 });
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[tokio::test]
    async fn a_missing_script_behind_env_cannot_be_started() {
        let i = Implementation::parse("env X=1 /nonexistent/adapter.sh").unwrap();
        let err = i.probe().await.unwrap_err();
        assert!(matches!(err, ImplementationError::NotStarted { code: 127, .. }), "{err}");
        assert!(err.to_string().contains("could not be started"), "{err}");
    }

    #[tokio::test]
    async fn a_missing_program_is_a_spawn_error() {
        let dir = tempfile::tempdir().unwrap();
        let i = Implementation::parse("/nonexistent/implementation").unwrap();
        assert!(matches!(i.run(&env(), dir.path(), Duration::from_secs(1)).await, Err(ImplementationError::Spawn { .. })));
    }
}
