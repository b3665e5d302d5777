//! `nassella backups list | restore` against a local restic repository filled by the real
//! `restic backup`, with the password the instance would use. No Terraform, no Docker: the
//! restore tests stop before anything would be deployed. (A restore end to end through
//! Terraform belongs with the local target's tests.)

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use nassella_core::{Keys, MasterKey};

const KEY: &str = "0707070707070707070707070707070707070707070707070707070707070707";
const OTHER_KEY: &str = "0808080808080808080808080808080808080808080808080808080808080808";
const INSTANCE: &str = "bk";

struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }
    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }
    fn repo(&self) -> PathBuf {
        self.path("repo")
    }
    /// A config file for the local target (or `provider`) backing up to `repo`.
    fn config(&self, provider: &str, repo: &Path) -> PathBuf {
        let path = self.path(&format!("{provider}.config"));
        std::fs::write(
            &path,
            format!(
                "[instance]\nname = \"{INSTANCE}\"\nprovider = \"{provider}\"\ntls = {{ mode = \"http_only\" }}\n\n[backup]\nrepository = \"{}\"\n\n[apps.hello]\napp = \"hello\"\nhost = \"hello.test\"\n",
                repo.display()
            ),
        )
        .unwrap();
        path
    }
    /// The real restic on the test repository, with the instance's password.
    fn restic(&self, args: &[&str]) -> Output {
        let password = Keys::new(MasterKey::from_hex(KEY).unwrap()).restic_password();
        let out = Command::new("restic")
            .args(args)
            .env("RESTIC_REPOSITORY", self.repo())
            .env("RESTIC_PASSWORD", password)
            .env("RESTIC_CACHE_DIR", self.path("cache"))
            .env("TZ", "UTC")
            .output()
            .expect("restic is required (apt-get install restic)");
        assert!(out.status.success(), "restic {args:?}: {}", show(&out));
        out
    }
    /// A snapshot of a small folder taken at `time` (UTC), as the server's backup tags it.
    fn backup(&self, host: &str, tag: &str, time: &str, content: &str) -> String {
        let data = self.path("data-src");
        std::fs::create_dir_all(&data).unwrap();
        std::fs::write(data.join("file.txt"), content).unwrap();
        let data = data.to_string_lossy().into_owned();
        let out = self.restic(&[
            "backup", "--json", "--host", host, "--tag", tag, "--time", time, &data,
        ]);
        let text = String::from_utf8_lossy(&out.stdout);
        let summary: serde_json::Value = text
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|v| v["message_type"] == "summary")
            .unwrap_or_else(|| panic!("no summary in {text}"));
        // restic before 0.17 reports the short id here: look the full one up.
        let id = summary["snapshot_id"].as_str().unwrap().to_owned();
        let out = self.restic(&["snapshots", "--json"]);
        let all: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
        all.iter()
            .filter_map(|s| s["id"].as_str())
            .find(|full| full.starts_with(&id))
            .unwrap()
            .to_owned()
    }
    fn nassella(&self, args: &[&str], key: &str) -> Output {
        Command::new(env!("CARGO_BIN_EXE_nassella"))
            .args(args)
            .env("NASSELLA_MASTER_KEY", key)
            .env("NASSELLA_STATE_DIR", self.path("state"))
            .env("RESTIC_CACHE_DIR", self.path("cache"))
            .env_remove("NASSELLA_MASTER_KEY_FILE")
            .env_remove("HCLOUD_TOKEN")
            .output()
            .unwrap()
    }
    /// Every path under the state folder, to check that nothing changed.
    fn state_tree(&self) -> Vec<String> {
        fn walk(dir: &Path, base: &Path, out: &mut Vec<String>) {
            let Ok(entries) = std::fs::read_dir(dir) else {
                return;
            };
            for e in entries {
                let p = e.unwrap().path();
                out.push(p.strip_prefix(base).unwrap().display().to_string());
                if p.is_dir() {
                    walk(&p, base, out);
                }
            }
        }
        let mut out = Vec::new();
        let base = self.path("state");
        walk(&base, &base, &mut out);
        out.sort();
        out
    }
}

fn show(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A repository with two snapshots of the instance (the older one taken last) and two that are
/// not its own: another host, and a warm-up snapshot. Returns (newer, older) full ids.
fn two_snapshots(env: &Env) -> (String, String) {
    env.restic(&["init"]);
    let newer = env.backup(INSTANCE, "nassella", "2026-06-01 12:00:00", "june");
    let older = env.backup(INSTANCE, "nassella", "2026-05-01 10:30:00", "may");
    env.backup("another", "nassella", "2026-07-01 00:00:00", "other host");
    env.backup(
        INSTANCE,
        "nassella-warmup",
        "2026-07-02 00:00:00",
        "warm-up",
    );
    (newer, older)
}

#[test]
fn list_shows_the_instances_snapshots_newest_first_as_a_table_and_as_json() {
    let env = Env::new();
    let (newer, older) = two_snapshots(&env);
    let cfg = env.config("local", &env.repo());
    let cfg = cfg.to_str().unwrap();

    let out = env.nassella(&["backups", "list", "--config", cfg], KEY);
    assert!(out.status.success(), "{}", show(&out));
    let table = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 3, "{table}");
    assert!(lines[0].starts_with("ID"), "{table}");
    assert!(lines[1].starts_with(&newer[..8]), "{table}");
    assert!(lines[1].contains("2026-06-01 12:00:00"), "{table}");
    assert!(lines[2].starts_with(&older[..8]), "{table}");
    assert!(lines[2].contains("2026-05-01 10:30:00"), "{table}");

    let out = env.nassella(&["backups", "list", "--json", "--config", cfg], KEY);
    assert!(out.status.success(), "{}", show(&out));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let expected = serde_json::json!([
        { "id": newer, "short_id": &newer[..8], "time": "2026-06-01T12:00:00Z",
          "host": INSTANCE, "tags": ["nassella"] },
        { "id": older, "short_id": &older[..8], "time": "2026-05-01T10:30:00Z",
          "host": INSTANCE, "tags": ["nassella"] },
    ]);
    let got: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(got, expected);
    // The keys come in a fixed order, so the output can be diffed.
    let order: Vec<usize> = ["\"id\"", "\"short_id\"", "\"time\"", "\"host\"", "\"tags\""]
        .iter()
        .map(|k| text.find(k).unwrap())
        .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{text}");
    // And the same twice.
    let again = env.nassella(&["backups", "list", "--json", "--config", cfg], KEY);
    assert_eq!(String::from_utf8_lossy(&again.stdout), text);
    // `--format json`, as the other commands take it, is the same document.
    let format = env.nassella(
        &["backups", "list", "--format", "json", "--config", cfg],
        KEY,
    );
    assert!(format.status.success(), "{}", show(&format));
    assert_eq!(String::from_utf8_lossy(&format.stdout), text);
}

#[test]
fn a_missing_repository_is_an_empty_list_not_an_error() {
    let env = Env::new();
    let cfg = env.config("local", &env.path("no-repo-here"));
    let cfg = cfg.to_str().unwrap();

    let out = env.nassella(&["backups", "list", "--config", cfg], KEY);
    assert!(out.status.success(), "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no backups yet: the repository does not exist; `nassella apply` creates it"),
        "{}",
        show(&out)
    );
    assert!(out.stdout.is_empty(), "{}", show(&out));

    let out = env.nassella(&["backups", "list", "--json", "--config", cfg], KEY);
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "[]");
    assert!(!env.path("no-repo-here").exists(), "listing created it");
}

#[test]
fn a_wrong_key_shows_restics_error_and_what_to_check() {
    let env = Env::new();
    two_snapshots(&env);
    let cfg = env.config("local", &env.repo());
    let out = env.nassella(
        &["backups", "list", "--config", cfg.to_str().unwrap()],
        OTHER_KEY,
    );
    assert!(!out.status.success(), "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("wrong password"), "{err}");
    assert!(err.contains("check the repository"), "{err}");
    assert!(err.contains("master key"), "{err}");
}

#[test]
fn restore_of_an_unknown_id_lists_the_known_ones_and_changes_nothing() {
    let env = Env::new();
    let (newer, older) = two_snapshots(&env);
    let cfg = env.config("local", &env.repo());
    // A data folder the restore must not touch.
    let data = env.path(&format!("state/{INSTANCE}/data"));
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("precious.txt"), "keep me").unwrap();
    let before = env.state_tree();

    for wanted in ["deadbeef", "not-hex"] {
        let out = env.nassella(
            &[
                "backups",
                "restore",
                wanted,
                "--config",
                cfg.to_str().unwrap(),
            ],
            KEY,
        );
        assert!(!out.status.success(), "{}", show(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(&newer[..8]), "{err}");
        assert!(err.contains(&older[..8]), "{err}");
        assert_eq!(env.state_tree(), before);
        assert_eq!(
            std::fs::read_to_string(data.join("precious.txt")).unwrap(),
            "keep me"
        );
    }
}

#[test]
fn restore_on_a_cloud_target_without_a_token_changes_nothing() {
    // The cloud restore itself runs against a fake provider API in tests/cloud_shutdown.rs.
    let env = Env::new();
    let (_, older) = two_snapshots(&env);
    let cfg = env.config("hetzner", &env.repo());
    let before = env.state_tree();
    let out = env.nassella(
        &[
            "backups",
            "restore",
            &older[..6],
            "--config",
            cfg.to_str().unwrap(),
        ],
        KEY,
    );
    assert!(!out.status.success(), "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&older),
        "the prefix resolves to the full id: {err}"
    );
    assert!(
        err.contains("HCLOUD_TOKEN is not set") && err.contains("nothing was changed"),
        "{err}"
    );
    assert_eq!(
        env.state_tree(),
        before,
        "no volume recorded, nothing built"
    );
}

#[test]
fn backing_up_on_demand_needs_a_running_local_instance() {
    let env = Env::new();
    let (_, _) = two_snapshots(&env);
    let before = env.state_tree();
    let cfg = env.config("local", &env.repo());
    let out = env.nassella(
        &["backups", "create", "--config", cfg.to_str().unwrap()],
        KEY,
    );
    assert!(!out.status.success(), "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("is not running on this machine"), "{err}");
    assert_eq!(env.state_tree(), before, "nothing built, nothing changed");
    // (On a cloud target the request goes through the repository: tests/control_channel.rs.)
}
