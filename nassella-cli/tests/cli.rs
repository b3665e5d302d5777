//! The `nassella` binary: errors name file:line and path, nothing is written on error, output is
//! replaced atomically, keys are created once and kept private.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const KEY: &str = "0707070707070707070707070707070707070707070707070707070707070707";

fn family_config() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/config/family.config")
}

fn nassella(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nassella"))
        .args(args)
        .current_dir(dir)
        .env("NASSELLA_STATE_DIR", dir.join("state"))
        .env_remove("NASSELLA_MASTER_KEY")
        .env_remove("NASSELLA_MASTER_KEY_FILE")
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn build_writes_the_bundle_with_private_secrets_and_a_new_key_once() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(family_config(), dir.path().join("apps.config")).unwrap();
    let o = nassella(
        &["build", "--config", "apps.config", "--out", "out"],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("created a new master key"),
        "{}",
        stderr(&o)
    );
    let out = dir.path().join("out");
    assert_eq!(mode(&out), 0o700);
    assert_eq!(mode(&out.join("ignition.json")), 0o600);
    assert_eq!(mode(&out.join("terraform.tfvars.json")), 0o644);
    assert_eq!(
        mode(&out.join("instance/etc/nassella/apps/cloud/db.env")),
        0o600
    );
    let key = dir.path().join("state/family/master.key");
    assert_eq!(mode(&key), 0o600);
    let first = std::fs::read(out.join("ignition.json")).unwrap();

    // Second build: the same key, so byte-identical output, and no new key.
    let o = nassella(
        &["build", "--config", "apps.config", "--out", "out"],
        dir.path(),
    );
    assert!(o.status.success());
    assert!(!stderr(&o).contains("created a new master key"));
    assert_eq!(std::fs::read(out.join("ignition.json")).unwrap(), first);
    // No staging folders are left behind.
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n.to_string_lossy().starts_with(".out"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn a_bad_config_names_file_line_and_path_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("out")).unwrap();
    std::fs::write(dir.path().join("out/keep.txt"), "previous build").unwrap();
    std::fs::write(
        dir.path().join("apps.config"),
        r#"[instance]
name = "family"

[apps.cloud]
app = "nextcloud"
host = "Cloud.example.com"

[apps.chat]
app = "matrix-of-doom"

[apps.vault]
app = "vaultwarden"
hots = "vault.example.com"
"#,
    )
    .unwrap();
    let o = nassella(
        &["build", "--config", "apps.config", "--out", "out"],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(err.contains("error at apps.chat.app (apps.config:8): unknown app `matrix-of-doom`; the catalog has: "), "{err}");
    assert!(
        err.contains(
            "error at apps.vault.hots (apps.config:13): settings of `vaultwarden`: unknown field `hots`"
        ),
        "{err}"
    );
    assert!(err.contains("error at apps.cloud.routes[0].host (apps.config:4): `Cloud.example.com` is not a valid hostname"), "{err}");
    assert!(err.contains("warning at backup"), "{err}");
    assert!(err.contains("nothing was written"), "{err}");
    // The previous output is untouched and no key was created for a failed build.
    assert_eq!(
        std::fs::read_to_string(dir.path().join("out/keep.txt")).unwrap(),
        "previous build"
    );
    assert!(!dir.path().join("state").exists());
}

#[test]
fn toml_syntax_errors_name_the_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("apps.config"),
        "[instance]\nname = \"x\"\nprovider = \n",
    )
    .unwrap();
    let o = nassella(&["validate", "--config", "apps.config"], dir.path());
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains("apps.config") && err.contains("line 3"),
        "{err}"
    );
}

#[test]
fn a_missing_config_says_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let o = nassella(&["build"], dir.path());
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("no config file at config/apps.config: pass --config <file>"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn strict_turns_warnings_into_errors() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("apps.config"), "[instance]\nname = \"solo\"\n\n[apps.hello]\napp = \"hello\"\nhost = \"hello.example.com\"\n").unwrap();
    let o = nassella(&["validate", "--config", "apps.config"], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("warning at backup"));
    let o = nassella(
        &["validate", "--strict", "--config", "apps.config"],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("error at backup"), "{}", stderr(&o));
}

#[test]
fn a_key_readable_by_others_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(family_config(), dir.path().join("apps.config")).unwrap();
    let key = dir.path().join("key");
    std::fs::write(&key, KEY).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let o = nassella(
        &[
            "build",
            "--config",
            "apps.config",
            "--master-key-file",
            "key",
        ],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("chmod 600"), "{}", stderr(&o));
    assert!(!dir.path().join("out").exists());
}

#[test]
fn schema_lists_every_catalog_app() {
    let dir = tempfile::tempdir().unwrap();
    let o = nassella(&["schema"], dir.path());
    assert!(o.status.success());
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let variants = v["properties"]["apps"]["additionalProperties"]["oneOf"]
        .as_array()
        .unwrap();
    let kinds: Vec<&str> = variants
        .iter()
        .map(|s| s["properties"]["app"]["const"].as_str().unwrap())
        .collect();
    let catalog: Vec<&str> = nassella_apps::catalog().iter().map(|e| e.kind).collect();
    assert_eq!(kinds, catalog);
    assert!(v["properties"]["instance"].is_object());
}

#[test]
fn the_binary_carries_every_file_of_every_terraform_module() {
    use nassella_core::Provider;
    for (provider, dir) in [
        (Provider::Local, "local"),
        (Provider::Hetzner, "hetzner"),
        (Provider::DigitalOcean, "digitalocean"),
    ] {
        let on_disk: std::collections::BTreeSet<String> = std::fs::read_dir(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../terraform")
                .join(dir),
        )
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tf"))
        .collect();
        let embedded: std::collections::BTreeSet<String> = nassella_cli::modules::files(provider)
            .iter()
            .map(|(n, _)| (*n).to_owned())
            .collect();
        assert_eq!(
            embedded, on_disk,
            "terraform/{dir}: add new files to nassella-cli/src/modules.rs"
        );
    }
}

#[test]
fn secret_prints_a_derived_secret_only_with_the_real_key() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(family_config(), dir.path().join("apps.config")).unwrap();
    // No key yet: refused (a stand-in key would print a wrong password).
    let o = nassella(
        &[
            "secret",
            "--config",
            "apps.config",
            "cloud",
            "admin-password",
        ],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("no master key"), "{}", stderr(&o));

    let key = dir.path().join("key");
    std::fs::write(&key, KEY).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let o = nassella(
        &[
            "secret",
            "--config",
            "apps.config",
            "--master-key-file",
            "key",
            "cloud",
            "admin-password",
        ],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let printed = String::from_utf8(o.stdout).unwrap();
    let master = nassella_core::MasterKey::from_hex(KEY).unwrap();
    let format = nassella_core::SecretFormat::Alphanumeric(printed.trim().len());
    assert_eq!(
        printed.trim(),
        master.derive("cloud", "admin-password", format)
    );
    assert_eq!(printed.lines().count(), 1, "only the value on stdout");

    // The list names every app's secrets; an unknown one says how to list them.
    let o = nassella(
        &[
            "secret",
            "--config",
            "apps.config",
            "--master-key-file",
            "key",
        ],
        dir.path(),
    );
    let list = String::from_utf8(o.stdout).unwrap();
    assert!(
        list.lines().any(|l| l == "cloud admin-password")
            && list.lines().any(|l| l == "vault admin-token"),
        "{list}"
    );
    let o = nassella(
        &[
            "secret",
            "--config",
            "apps.config",
            "--master-key-file",
            "key",
            "cloud",
            "nope",
        ],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("`nassella secret` lists them"));
}

/// A password the user supplies (SMTP) comes from the environment variable the config names:
/// without it nothing is written and the error names the app's secret and the variable; with it
/// the value reaches the server's private env file (mode 0600) and never the readable views.
#[test]
fn an_smtp_password_comes_from_the_environment_never_from_the_config() {
    let dir = tempfile::tempdir().unwrap();
    let config = std::fs::read_to_string(family_config()).unwrap().replace(
        "host = \"vault.example.com\"",
        "host = \"vault.example.com\"\nsmtp = { host = \"smtp.example.com\", from = \"vault@example.com\", username = \"vault@example.com\", password_env = \"VAULT_SMTP_PASSWORD\" }",
    );
    std::fs::write(dir.path().join("apps.config"), &config).unwrap();
    let build = |password: Option<&str>| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_nassella"));
        c.args(["build", "--config", "apps.config", "--out", "out"])
            .current_dir(dir.path())
            .env("NASSELLA_STATE_DIR", dir.path().join("state"))
            .env_remove("NASSELLA_MASTER_KEY")
            .env_remove("VAULT_SMTP_PASSWORD");
        if let Some(p) = password {
            c.env("VAULT_SMTP_PASSWORD", p);
        }
        c.output().unwrap()
    };

    let o = build(None);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("apps.vault.secrets.smtp-password")
            && stderr(&o).contains("VAULT_SMTP_PASSWORD is not set"),
        "{}",
        stderr(&o)
    );
    assert!(!dir.path().join("out").exists(), "nothing written");

    let o = build(Some("it's"));
    assert!(!o.status.success());
    assert!(stderr(&o).contains("holds a `'`"), "{}", stderr(&o));

    let password = "s3cret-Mail-passw0rd";
    let o = build(Some(password));
    assert!(o.status.success(), "{}", stderr(&o));
    let out = dir.path().join("out");
    let env_file = out.join("instance/etc/nassella/apps/vault/app.env");
    assert_eq!(mode(&env_file), 0o600);
    let view = std::fs::read_to_string(&env_file).unwrap();
    assert!(
        view.contains("SMTP_PASSWORD='<secret:vault/smtp-password>'"),
        "{view}"
    );
    let mut views = String::new();
    for entry in walk(&out.join("instance")) {
        views.push_str(&std::fs::read_to_string(entry).unwrap_or_default());
    }
    assert!(!views.contains(password), "the password leaked into a view");
    assert!(!config.contains(password));
    // The server gets it: materialise the Ignition config and unpack /etc/nassella as the first
    // unit does.
    let root = dir.path().join("root");
    std::fs::create_dir_all(&root).unwrap();
    nassella_cli::materialise::materialise(
        &std::fs::read(out.join("ignition.json")).unwrap(),
        &root,
        &nassella_cli::materialise::Options::default(),
    )
    .unwrap();
    let unpack = nassella_core::render::unpack_command(&root.to_string_lossy());
    assert!(Command::new("sh")
        .arg("-c")
        .arg(&unpack)
        .status()
        .unwrap()
        .success());
    let served = root.join("etc/nassella/apps/vault/app.env");
    assert_eq!(mode(&served), 0o600);
    assert!(
        std::fs::read_to_string(&served)
            .unwrap()
            .contains(&format!("SMTP_PASSWORD='{password}'")),
        "the server's env file holds the password"
    );
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// `[registry]`: the Docker Hub password comes from the variable `password_env` names, like an
/// SMTP password; a hostile mirror is refused at its key and line.
#[test]
fn a_registry_password_comes_from_the_environment_and_a_bad_mirror_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let base = std::fs::read_to_string(family_config()).unwrap();
    let build = |mirror: &str, password: Option<&str>| {
        let config = format!(
            "{base}\n[registry]\nmirror = \"{mirror}\"\nusername = \"family-bot\"\npassword_env = \"HUB_TOKEN\"\n"
        );
        std::fs::write(dir.path().join("reg.config"), &config).unwrap();
        let _ = std::fs::remove_dir_all(dir.path().join("out"));
        let mut c = Command::new(env!("CARGO_BIN_EXE_nassella"));
        c.args(["build", "--config", "reg.config", "--out", "out"])
            .current_dir(dir.path())
            .env("NASSELLA_STATE_DIR", dir.path().join("state"))
            .env_remove("NASSELLA_MASTER_KEY")
            .env_remove("HUB_TOKEN");
        if let Some(p) = password {
            c.env("HUB_TOKEN", p);
        }
        c.output().unwrap()
    };
    let o = build("https://mirror.example.com", None);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("registry.password_env") && stderr(&o).contains("HUB_TOKEN"),
        "{}",
        stderr(&o)
    );
    assert!(!dir.path().join("out").exists(), "nothing written");

    let o = build(
        "https://mirror.example.com\\\"], \\\"debug\\\": [\\\"",
        Some("tok"),
    );
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("registry.mirror") && stderr(&o).contains("reg.config:"),
        "{}",
        stderr(&o)
    );
    assert!(!dir.path().join("out").exists(), "nothing written");

    let password = "hub-Token-0123456789";
    let o = build("https://mirror.example.com", Some(password));
    assert!(o.status.success(), "{}", stderr(&o));
    let out = dir.path().join("out/instance");
    let daemon = std::fs::read_to_string(out.join("etc/docker/daemon.json")).unwrap();
    assert!(
        daemon.contains("\"https://mirror.example.com\""),
        "{daemon}"
    );
    let client = out.join("etc/nassella/docker-config/config.json");
    assert_eq!(mode(&client), 0o600);
    let mut views = String::new();
    for entry in walk(&out) {
        views.push_str(&std::fs::read_to_string(entry).unwrap_or_default());
    }
    assert!(!views.contains(password), "the password leaked into a view");
}
