//! Tests of credential resolution: `CNB_REGISTRY_AUTH`, Docker config fixtures in tempdirs and
//! a fake `docker-credential-test` helper, all through an explicit [`AuthSource`].

use super::*;
use rstest::rstest;
use std::path::Path;

/// A value that must never show up in an error or in `Debug` output.
const SECRET: &str = "s3cr3t-VALUE-7f9e";

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

fn env_source(value: &str) -> AuthSource {
    AuthSource { registry_auth: Some(Secret::new(value)), ..AuthSource::default() }
}

/// A tempdir with `config.json` holding `json`, and the source reading it.
fn config_source(json: &str) -> (tempfile::TempDir, AuthSource) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.json");
    std::fs::write(&path, json).unwrap();
    let helper_path = Some(helper_dir().as_os_str().to_owned());
    let source = AuthSource { docker_config: Some(path), helper_path, ..AuthSource::default() };
    (dir, source)
}

fn basic(user: &str, pass: &str) -> RegistryAuth {
    RegistryAuth::Basic(user.into(), pass.into())
}

#[rstest]
#[case::basic("registry.example.com", &format!(r#"{{"registry.example.com": "Basic {}"}}"#, b64("ci:pw")), basic("ci", "pw"))]
#[case::basic_lowercase_scheme("registry.example.com", &format!(r#"{{"registry.example.com": "basic {}"}}"#, b64("ci:pw")), basic("ci", "pw"))]
#[case::basic_unpadded("r.io", &format!(r#"{{"r.io": "Basic {}"}}"#, b64("ab:c").trim_end_matches('=')), basic("ab", "c"))]
#[case::password_with_colon("r.io", &format!(r#"{{"r.io": "Basic {}"}}"#, b64("u:p:q")), basic("u", "p:q"))]
#[case::bearer("gcr.io", r#"{"gcr.io": "Bearer tok.en"}"#, RegistryAuth::Bearer("tok.en".into()))]
#[case::with_port("localhost:5000", r#"{"localhost:5000": "Bearer t"}"#, RegistryAuth::Bearer("t".into()))]
#[case::docker_hub_as_lifecycle_writes_it("docker.io", r#"{"index.docker.io": "Bearer hub"}"#, RegistryAuth::Bearer("hub".into()))]
#[case::key_with_scheme("r.io", r#"{"https://r.io": "Bearer t"}"#, RegistryAuth::Bearer("t".into()))]
#[case::other_registry_only("r.io", r#"{"other.io": "Bearer t"}"#, RegistryAuth::Anonymous)]
#[case::empty_object("r.io", "{}", RegistryAuth::Anonymous)]
#[case::empty_value("r.io", "", RegistryAuth::Anonymous)]
fn r_auth_1_registry_auth_env(#[case] registry: &str, #[case] env: &str, #[case] expected: RegistryAuth) {
    assert_eq!(resolve_with(registry, &env_source(env)).unwrap(), expected);
}

#[test]
fn r_auth_1_registry_auth_env_wins_over_docker_config() {
    let (_dir, mut source) = config_source(&format!(r#"{{"auths": {{"r.io": {{"auth": "{}"}}}}}}"#, b64("file:pw")));
    source.registry_auth = Some(Secret::new(r#"{"r.io": "Bearer env"}"#));
    assert_eq!(resolve_with("r.io", &source).unwrap(), RegistryAuth::Bearer("env".into()));
    // no entry for the registry in the variable: fall through to the config file
    source.registry_auth = Some(Secret::new(r#"{"other.io": "Bearer env"}"#));
    assert_eq!(resolve_with("r.io", &source).unwrap(), basic("file", "pw"));
}

#[rstest]
#[case::auth_field(r#"{"auths": {"r.io": {"auth": "AUTH"}}}"#, "r.io", basic("u", "p"))]
#[case::username_password(r#"{"auths": {"r.io": {"username": "u", "password": "p"}}}"#, "r.io", basic("u", "p"))]
#[case::auth_matching_fields(r#"{"auths": {"r.io": {"auth": "AUTH", "username": "u", "password": "p"}}}"#, "r.io", basic("u", "p"))]
#[case::identity_token(r#"{"auths": {"r.io": {"identitytoken": "idt"}}}"#, "r.io", basic("<token>", "idt"))]
#[case::identity_token_with_user(r#"{"auths": {"r.io": {"username": "0000", "identitytoken": "idt"}}}"#, "r.io", basic("0000", "idt"))]
#[case::registry_token(r#"{"auths": {"r.io": {"registrytoken": "rt"}}}"#, "r.io", RegistryAuth::Bearer("rt".into()))]
#[case::key_with_scheme_and_path(r#"{"auths": {"https://r.io/v1/": {"auth": "AUTH"}}}"#, "r.io", basic("u", "p"))]
#[case::key_case(r#"{"auths": {"R.IO": {"auth": "AUTH"}}}"#, "r.io", basic("u", "p"))]
#[case::docker_hub_v1_key(r#"{"auths": {"https://index.docker.io/v1/": {"auth": "AUTH"}}}"#, "docker.io", basic("u", "p"))]
#[case::docker_hub_short_key(r#"{"auths": {"docker.io": {"auth": "AUTH"}}}"#, "index.docker.io", basic("u", "p"))]
#[case::exact_key_preferred(r#"{"auths": {"https://r.io": {"auth": "OTHER"}, "r.io": {"auth": "AUTH"}}}"#, "r.io", basic("u", "p"))]
#[case::port_must_match(r#"{"auths": {"r.io:5000": {"auth": "AUTH"}}}"#, "r.io:5001", RegistryAuth::Anonymous)]
#[case::empty_entry(r#"{"auths": {"r.io": {}}}"#, "r.io", RegistryAuth::Anonymous)]
#[case::empty_auth_string(r#"{"auths": {"r.io": {"auth": ""}}}"#, "r.io", RegistryAuth::Anonymous)]
#[case::unknown_fields_ignored(r#"{"auths": {}, "HttpHeaders": {"User-Agent": "x"}, "psFormat": "t"}"#, "r.io", RegistryAuth::Anonymous)]
#[case::no_auths(r#"{}"#, "r.io", RegistryAuth::Anonymous)]
fn r_auth_1_docker_config_auths(#[case] json: &str, #[case] registry: &str, #[case] expected: RegistryAuth) {
    let json = json.replace("AUTH", &b64("u:p")).replace("OTHER", &b64("x:y"));
    let (_dir, source) = config_source(&json);
    assert_eq!(resolve_with(registry, &source).unwrap(), expected);
}

#[test]
fn r_auth_1_missing_config_file_is_anonymous() {
    let dir = tempfile::tempdir().unwrap();
    let source = AuthSource { docker_config: Some(dir.path().join("config.json")), ..AuthSource::default() };
    assert_eq!(resolve_with("r.io", &source).unwrap(), RegistryAuth::Anonymous);
    assert_eq!(resolve_with("r.io", &AuthSource::default()).unwrap(), RegistryAuth::Anonymous);
}

#[rstest]
#[case("docker.io", "index.docker.io")]
#[case("registry-1.docker.io", "index.docker.io")]
#[case("https://index.docker.io/v1/", "index.docker.io")]
#[case("http://Localhost:5000/", "localhost:5000")]
#[case(" ghcr.io ", "ghcr.io")]
fn r_auth_1_registry_names_normalise(#[case] name: &str, #[case] normal: &str) {
    assert_eq!(normalize_registry(name), normal);
}

/// The directory of a fake `docker-credential-test` helper, written once per test process: it
/// answers for `helper.example.com`, `token.example.com` and Docker Hub's server name, says
/// "not found" for unknown servers, garbles its answer for `garbled.example.com` and fails for
/// `failing.example.com` (printing the secret, which must not reach the error).
fn helper_dir() -> &'static Path {
    static DIR: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let script = format!(
            r#"#!/bin/sh
[ "$1" = get ] || exit 9
read -r server
case "$server" in
  helper.example.com) echo '{{"ServerURL":"helper.example.com","Username":"helper-user","Secret":"{SECRET}"}}' ;;
  https://index.docker.io/v1/) echo '{{"Username":"hub-user","Secret":"hub-secret"}}' ;;
  token.example.com) echo '{{"Username":"<token>","Secret":"idt"}}' ;;
  garbled.example.com) echo 'not json {SECRET}' ;;
  failing.example.com) echo 'boom {SECRET}'; echo '{SECRET}' >&2; exit 3 ;;
  *) echo 'credentials not found in native keychain'; exit 1 ;;
esac
"#
        );
        let path = dir.path().join("docker-credential-test");
        std::fs::write(&path, script).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        // A process forked by another test thread while the file was open for writing keeps it
        // "busy" until that process execs; wait for that before any test runs the helper.
        for _ in 0..200 {
            match std::process::Command::new(&path).arg("probe").status() {
                Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy => std::thread::sleep(std::time::Duration::from_millis(10)),
                _ => break,
            }
        }
        dir
    })
    .path()
}

#[rstest]
#[case::cred_helpers(r#"{"credHelpers": {"helper.example.com": "test"}}"#, "helper.example.com", basic("helper-user", SECRET))]
#[case::cred_helpers_over_auths(
    r#"{"credHelpers": {"helper.example.com": "test"}, "auths": {"helper.example.com": {"auth": "AUTH"}}}"#,
    "helper.example.com",
    basic("helper-user", SECRET)
)]
#[case::docker_hub_asks_v1_server(r#"{"credHelpers": {"docker.io": "test"}}"#, "docker.io", basic("hub-user", "hub-secret"))]
#[case::identity_token_answer(r#"{"credHelpers": {"token.example.com": "test"}}"#, "token.example.com", basic("<token>", "idt"))]
#[case::creds_store(r#"{"credsStore": "test"}"#, "helper.example.com", basic("helper-user", SECRET))]
#[case::auths_over_creds_store(
    r#"{"credsStore": "test", "auths": {"helper.example.com": {"auth": "AUTH"}}}"#,
    "helper.example.com",
    basic("u", "p")
)]
#[case::creds_store_not_found(r#"{"credsStore": "test"}"#, "unknown.example.com", RegistryAuth::Anonymous)]
#[case::creds_store_helper_missing(r#"{"credsStore": "desktop"}"#, "helper.example.com", RegistryAuth::Anonymous)]
#[case::empty_helper_name(r#"{"credHelpers": {"helper.example.com": ""}}"#, "helper.example.com", RegistryAuth::Anonymous)]
fn r_auth_1_credential_helpers(#[case] json: &str, #[case] registry: &str, #[case] expected: RegistryAuth) {
    let (_dir, source) = config_source(&json.replace("AUTH", &b64("u:p")));
    assert_eq!(resolve_with(registry, &source).unwrap(), expected);
}

/// Every way resolution can fail, each with the secret somewhere in its input.
fn failures() -> Vec<(&'static str, AuthError)> {
    let env = |value: String| resolve_with("r.io", &env_source(&value)).unwrap_err();
    let config = |json: String, registry: &str| {
        let (_dir, source) = config_source(&json);
        resolve_with(registry, &source).unwrap_err()
    };
    vec![
        ("env not json", env(format!(r#"{{"r.io": "Basic {SECRET}"#))),
        ("env wrong type", env(format!(r#"{{"r.io": ["{SECRET}"]}}"#))),
        ("env unknown scheme", env(format!(r#"{{"r.io": "Token {SECRET}"}}"#))),
        ("env bad base64", env(format!(r#"{{"r.io": "Basic {SECRET}!"}}"#))),
        ("env no colon", env(format!(r#"{{"r.io": "Basic {}"}}"#, b64(SECRET)))),
        ("env no credential", env(r#"{"r.io": "Bearer"}"#.to_string())),
        ("config not json", config(format!(r#"{{"auths": {{"r.io": {{"auth": "{SECRET}""#), "r.io")),
        ("config wrong type", config(format!(r#"{{"auths": {{"r.io": {{"auth": ["{SECRET}"]}}}}}}"#), "r.io")),
        ("config bad auth", config(format!(r#"{{"auths": {{"r.io": {{"auth": "{SECRET}"}}}}}}"#), "r.io")),
        (
            "config mismatch",
            config(
                format!(r#"{{"auths": {{"r.io": {{"auth": "{}", "username": "u", "password": "{SECRET}"}}}}}}"#, b64("u:other")),
                "r.io",
            ),
        ),
        ("helper missing", config(r#"{"credHelpers": {"r.io": "nothere"}}"#.to_string(), "r.io")),
        ("helper fails", config(r#"{"credHelpers": {"failing.example.com": "test"}}"#.to_string(), "failing.example.com")),
        ("helper garbles", config(r#"{"credHelpers": {"garbled.example.com": "test"}}"#.to_string(), "garbled.example.com")),
    ]
}

#[test]
fn r_auth_2_secrets_never_appear_in_errors() {
    for (case, err) in failures() {
        let shown = format!("{err}\n{err:?}");
        assert!(!shown.contains(SECRET), "{case}: secret leaked in {shown}");
        assert!(!shown.contains(&b64(SECRET)), "{case}: encoded secret leaked in {shown}");
    }
}

#[test]
fn r_auth_2_errors_name_the_source_and_key() {
    let errors: BTreeMap<&str, String> = failures().into_iter().map(|(case, e)| (case, e.to_string())).collect();
    assert!(errors["env unknown scheme"].contains("CNB_REGISTRY_AUTH entry `r.io`"), "{}", errors["env unknown scheme"]);
    assert!(errors["env not json"].contains("line 1"), "{}", errors["env not json"]);
    assert!(errors["config bad auth"].contains("config.json") && errors["config bad auth"].contains("auths.\"r.io\".auth"));
    assert!(errors["config mismatch"].contains("auths.\"r.io\""));
    assert!(errors["config wrong type"].contains("wrong type") && errors["config wrong type"].contains("line 1"));
    assert!(errors["helper missing"].contains("docker-credential-nothere") && errors["helper missing"].contains("credHelpers.\"r.io\""));
    assert!(errors["helper fails"].contains("exit status: 3"), "{}", errors["helper fails"]);
}

#[test]
fn r_auth_2_secrets_are_redacted_in_debug_output() {
    let s = Secret::new(SECRET);
    assert_eq!(format!("{s:?} {s}"), "*** ***");
    assert_eq!(s.expose(), SECRET);
    let source = env_source(&format!(r#"{{"r.io": "Bearer {SECRET}"}}"#));
    assert!(!format!("{source:?}").contains(SECRET));
    let auth = resolve_with("r.io", &source).unwrap();
    assert!(!format!("{auth:?}").contains(SECRET));
    let auth = resolve_with("r.io", &env_source(&format!(r#"{{"r.io": "Basic {}"}}"#, b64(&format!("u:{SECRET}"))))).unwrap();
    assert!(!format!("{auth:?}").contains(SECRET));
}
