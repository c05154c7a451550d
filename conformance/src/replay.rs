//! What `--keep` leaves beside each invocation's layers so that the implementation can be rerun
//! by hand, without the runner: `env`, the invocation's variables as shell assignments, and
//! `replay.sh`, which removes the variables the runner owns from the caller's environment,
//! reads `env`, changes to the invocation's working directory and runs the implementation
//! command exactly as the runner did (no shell between: the words as the runner split them).

use std::fmt::Write as _;
use std::path::Path;

use crate::implementation::{Implementation, InvocationEnv, OWNED_VARS};
use crate::rerun::shell_words;

/// Writes `env` and `replay.sh` into `dir`, the directory holding the invocation's `layers`,
/// `cwd` and `report.toml`.
pub fn write(dir: &Path, case_id: &str, implementation: &Implementation, env: &InvocationEnv, cwd: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let mut vars = String::new();
    for (name, value) in env.vars() {
        let _ = writeln!(vars, "export {name}={}", shell_words(&[value]));
    }
    // The variables may hold the credentials the case handed over: readable by the owner only.
    let mut file = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(dir.join("env"))?;
    std::io::Write::write_all(&mut file, vars.as_bytes())?;
    let words: Vec<String> = std::iter::once(implementation.program.clone()).chain(implementation.args.iter().cloned()).collect();
    let script = format!(
        "#!/bin/sh\n\
         # Reruns the implementation of conformance case {case_id} as the runner ran it: the\n\
         # variables of ./env (the layers directory, report.toml and Docker config beside this\n\
         # file), the working directory ./cwd, standard input empty. The registry the variables\n\
         # name must still answer (`conformance run --keep` leaves it running: a container stays,\n\
         # a process ends with the runner).\n\
         set -e\n\
         here=$(cd \"$(dirname \"$0\")\" && pwd)\n\
         unset {owned}\n\
         . \"$here/env\"\n\
         cd {cwd}\n\
         exec {command} </dev/null\n",
        owned = OWNED_VARS.join(" "),
        cwd = shell_words(&[cwd.display().to_string()]),
        command = shell_words(&words),
    );
    let path = dir.join("replay.sh");
    std::fs::write(&path, script)?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replay_runs_the_command_with_the_recorded_variables_in_the_recorded_directory() {
        let dir = tempfile::tempdir().unwrap();
        let cwd = dir.path().join("cwd");
        std::fs::create_dir(&cwd).unwrap();
        let env = InvocationEnv {
            layers_dir: dir.path().join("layers"),
            output_image: "127.0.0.1:1/ns/app:1.0".to_string(),
            tags: vec!["1.0".to_string()],
            digest: "sha256:00".to_string(),
            manifest_size: 1,
            manifest_media_type: "application/vnd.oci.image.manifest.v1+json".to_string(),
            report: dir.path().join("report.toml"),
            registry: "127.0.0.1:1".to_string(),
            insecure: true,
            docker_config: dir.path().join("docker"),
            registry_auth: None,
            path_first: None,
            source_date_epoch: Some("it's \"quoted\" $HOME".to_string()),
            overwrite: false,
        };
        let implementation = Implementation::parse(
            "sh -c 'pwd > seen; echo \"$SOURCE_DATE_EPOCH|$CNB_ARTIFACTS_REGISTRY|${CNB_REGISTRY_AUTH-unset}\" >> seen'",
        )
        .unwrap();
        write(dir.path(), "some-case", &implementation, &env, &cwd).unwrap();
        let out = std::process::Command::new(dir.path().join("replay.sh")).env("CNB_REGISTRY_AUTH", "inherited").output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let seen = std::fs::read_to_string(cwd.join("seen")).unwrap();
        let lines: Vec<&str> = seen.lines().collect();
        assert_eq!(std::path::Path::new(lines[0]).canonicalize().unwrap(), cwd.canonicalize().unwrap());
        assert_eq!(lines[1], "it's \"quoted\" $HOME|127.0.0.1:1|unset");
        let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(dir.path().join("env")).unwrap().permissions());
        assert_eq!(mode & 0o777, 0o600);
    }
}
