//! The contract scripts rely on (docs/cli.md), tried with the real binary: exit codes for each
//! class, the JSON documents, `--quiet`, `NO_COLOR` (in a real terminal, through `script`), the
//! variables in `--help`; and what the binary writes: nothing outside the state folder for a
//! hostile instance name, an `--out` that is a file refused before anything is written, the
//! output folder swapped without a gap, leftovers of killed runs removed (and nothing else),
//! state folders private whatever the umask, and the unpack command touching only its folder.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

const KEY: &str = "0707070707070707070707070707070707070707070707070707070707070707";

fn family_config() -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/config/family.config"),
    )
    .unwrap()
}

/// The binary in `dir`, with its own HOME and state folder, and no variable of the caller's.
fn cmd(dir: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_nassella"));
    c.args(args)
        .current_dir(dir)
        .env("HOME", dir.join("home"))
        .env("NASSELLA_STATE_DIR", dir.join("state"));
    for v in [
        "NASSELLA_MASTER_KEY",
        "NASSELLA_MASTER_KEY_FILE",
        "NO_COLOR",
        "TF_CLI_ARGS",
        // (a machine's own Terraform set-up; its warnings would be in the output)
        "TF_CLI_CONFIG_FILE",
        "HCLOUD_TOKEN",
        "DIGITALOCEAN_TOKEN",
    ] {
        c.env_remove(v);
    }
    c
}

fn run(dir: &Path, args: &[&str]) -> Output {
    cmd(dir, args).output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn show(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        text(&o.stdout),
        text(&o.stderr)
    )
}

/// Every path under `dir` (folders too), relative, sorted.
fn tree(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            out.push(p.strip_prefix(dir).unwrap().display().to_string());
            if p.is_dir() && !p.is_symlink() {
                stack.push(p);
            }
        }
    }
    out.sort();
    out
}

fn with_name(name_toml: &str) -> String {
    family_config().replace("name = \"family\"", &format!("name = {name_toml}"))
}

fn json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}):\n{}", show(o)))
}

// ------------------------------------------------------------ nothing outside the state folder

#[test]
fn a_hostile_instance_name_creates_nothing_anywhere_with_any_command() {
    let names = [
        r#""../../x""#,
        r#""/tmp/nassella-abs""#,
        r#""""#,
        r#""a/b""#,
        r#""a\u0000b""#,
        r#"".""#,
    ];
    let commands: [&[&str]; 7] = [
        &["build", "--out", "out"],
        &["validate"],
        &["plan"],
        &["apply"],
        &["destroy"],
        &["backups", "list"],
        &["secret"],
    ];
    for name in names {
        for command in commands {
            // The config sits deep in a temporary world, so `../../x` stays inside it.
            let world = tempfile::tempdir().unwrap();
            let work = world.path().join("w/o/r/k");
            std::fs::create_dir_all(&work).unwrap();
            std::fs::write(work.join("apps.config"), with_name(name)).unwrap();
            let before = tree(world.path());
            let mut args = command.to_vec();
            args.extend(["--config", "apps.config"]);
            // The state folder is deep too: `<state>/../../x` is inside the world.
            let o = cmd(world.path(), &args)
                .current_dir(&work)
                .env("NASSELLA_STATE_DIR", world.path().join("s/t/a/t/e"))
                .output()
                .unwrap();
            assert_eq!(o.status.code(), Some(3), "{name} {command:?}: {}", show(&o));
            let err = text(&o.stderr);
            // The line of `name =` (5) or of its `[instance]` table (4): the config parser's
            // choice.
            assert!(
                err.contains("error at instance.name (apps.config:5)")
                    || err.contains("error at instance.name (apps.config:4)"),
                "{name} {command:?}: the error names the key and its line:\n{err}"
            );
            assert_eq!(
                tree(world.path()),
                before,
                "{name} {command:?}: nothing was created"
            );
            assert!(!Path::new("/tmp/nassella-abs").exists());
        }
    }
}

// ------------------------------------------------------------------------------ exit codes

#[test]
fn each_class_of_outcome_has_its_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("apps.config"), family_config()).unwrap();
    let code = |args: &[&str]| run(dir.path(), args).status.code();
    assert_eq!(code(&["validate", "--config", "apps.config"]), Some(0));
    // Usage: an unknown option, a malformed value, a secret given as an option.
    assert_eq!(code(&["build", "--bogus"]), Some(2));
    assert_eq!(code(&["validate", "--format", "yaml"]), Some(2));
    let o = run(dir.path(), &["validate", "--master-key", KEY]);
    assert_eq!(o.status.code(), Some(2), "{}", show(&o));
    assert!(
        text(&o.stderr).contains("NASSELLA_MASTER_KEY"),
        "{}",
        show(&o)
    );
    // Invalid config: a problem of the stack, and a TOML syntax error.
    std::fs::write(
        dir.path().join("bad.config"),
        family_config().replace("cloud.example.com", "Cloud.example.com"),
    )
    .unwrap();
    assert_eq!(code(&["validate", "--config", "bad.config"]), Some(3));
    std::fs::write(dir.path().join("syntax.config"), "[instance\n").unwrap();
    assert_eq!(code(&["build", "--config", "syntax.config"]), Some(3));
    // An error: no config file at all.
    assert_eq!(code(&["validate", "--config", "missing.config"]), Some(1));
}

// ------------------------------------------------------------------------------ JSON

fn assert_base(doc: &serde_json::Value, command: &str, ok: bool, exit_code: i64) {
    assert_eq!(doc["command"], command, "{doc}");
    assert_eq!(doc["ok"], ok, "{doc}");
    assert_eq!(doc["exit_code"], exit_code, "{doc}");
    assert!(doc["problems"].is_array(), "{doc}");
    assert!(doc.get("error").is_some(), "{doc}");
}

#[test]
fn validate_and_build_print_one_documented_json_document() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("apps.config"), family_config()).unwrap();
    let o = run(
        dir.path(),
        &["validate", "--config", "apps.config", "--format", "json"],
    );
    assert!(o.status.success(), "{}", show(&o));
    let doc = json(&o);
    assert_base(&doc, "validate", true, 0);
    assert_eq!(doc["instance"], "family");
    assert!(doc["ignition_bytes"].as_u64().unwrap() > 1000, "{doc}");

    let o = cmd(
        dir.path(),
        &[
            "build",
            "--config",
            "apps.config",
            "--format",
            "json",
            "--out",
            "o",
        ],
    )
    .env("NASSELLA_MASTER_KEY", KEY)
    .output()
    .unwrap();
    assert!(o.status.success(), "{}", show(&o));
    let doc = json(&o);
    assert_base(&doc, "build", true, 0);
    assert_eq!(doc["out"], "o");
    assert!(doc["files"].as_u64().unwrap() > 10, "{doc}");
    assert!(doc["ignition_limit"].as_u64().unwrap() >= doc["ignition_bytes"].as_u64().unwrap());

    // An invalid config: every problem with severity, path, file, line and message.
    std::fs::write(
        dir.path().join("bad.config"),
        family_config().replace("cloud.example.com", "Cloud.example.com"),
    )
    .unwrap();
    for command in ["validate", "build"] {
        let o = run(
            dir.path(),
            &[command, "--config", "bad.config", "--format", "json"],
        );
        assert_eq!(o.status.code(), Some(3), "{}", show(&o));
        let doc = json(&o);
        assert_base(&doc, command, false, 3);
        let p = doc["problems"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["path"] == "apps.cloud.routes[0].host")
            .unwrap_or_else(|| panic!("{doc}"));
        assert_eq!(p["severity"], "error");
        assert_eq!(p["file"], "bad.config");
        assert_eq!(p["line"], 19);
        assert!(p["message"].as_str().unwrap().contains("Cloud.example.com"));
    }

    // An error that is not the config's: still one document, with the message.
    std::fs::write(dir.path().join("file"), "").unwrap();
    let o = run(
        dir.path(),
        &[
            "build",
            "--config",
            "apps.config",
            "--format",
            "json",
            "--out",
            "file",
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    let doc = json(&o);
    assert_base(&doc, "build", false, 1);
    assert!(
        doc["error"].as_str().unwrap().contains("is a file"),
        "{doc}"
    );
}

/// A local-target config whose plan runs offline (Terraform's `terraform_data` only).
fn local_config(dir: &Path) -> PathBuf {
    let cfg = dir.join("local.config");
    std::fs::write(
        &cfg,
        format!(
            r#"[instance]
name = "contract"
provider = "local"
tls = {{ mode = "http_only" }}
http_port = 18091
https_port = 18454

[backup]
repository = "{}"

[apps.hello]
app = "hello"
host = "hello.localhost"
"#,
            dir.join("repo").display()
        ),
    )
    .unwrap();
    cfg
}

#[test]
fn plan_has_its_own_code_for_changes_a_json_summary_and_a_quiet_mode() {
    if !instance_tests::have_terraform() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let cfg = local_config(dir.path());
    let cfg = cfg.to_str().unwrap();
    let plan = |extra: &[&str]| {
        let mut args = vec!["plan", "--config", cfg];
        args.extend(extra);
        cmd(dir.path(), &args)
            .env("NASSELLA_MASTER_KEY", KEY)
            .output()
            .unwrap()
    };
    let o = plan(&["--detailed-exitcode", "--format", "json"]);
    assert_eq!(o.status.code(), Some(4), "{}", show(&o));
    let doc = json(&o);
    assert_base(&doc, "plan", true, 4);
    assert_eq!(doc["changes"], true, "{doc}");
    assert_eq!(doc["summary"]["kind"], "create", "{doc}");
    assert!(doc["summary"]["text"]
        .as_str()
        .unwrap()
        .contains("new server"));
    // Terraform's own output went to standard error, not into the document.
    assert!(text(&o.stderr).contains("Plan:"), "{}", show(&o));

    let o = plan(&["--detailed-exitcode", "--quiet"]);
    assert_eq!(o.status.code(), Some(4), "{}", show(&o));
    assert_eq!(text(&o.stdout), "", "{}", show(&o));
    assert_eq!(text(&o.stderr), "", "{}", show(&o));

    let o = plan(&[]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
}

#[test]
fn quiet_prints_nothing_on_success() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("apps.config"), family_config()).unwrap();
    for args in [
        &["validate", "--config", "apps.config", "-q"][..],
        &["build", "--config", "apps.config", "--quiet", "--out", "o"],
        &["build", "--config", "apps.config", "--quiet", "--out", "o"],
    ] {
        let o = cmd(dir.path(), args)
            .env("NASSELLA_MASTER_KEY", KEY)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", show(&o));
        assert_eq!(text(&o.stdout), "", "{args:?}");
        assert_eq!(text(&o.stderr), "", "{args:?}");
    }
    // Errors are still said.
    let o = run(
        dir.path(),
        &["validate", "-q", "--config", "missing.config"],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("no config file"));
}

/// `args` run in a pseudo-terminal (`script`), so tools that colour a terminal do; returns what
/// the terminal showed.
fn in_terminal(dir: &Path, args: &[&str], no_color: bool) -> String {
    let mut line = vec![env!("CARGO_BIN_EXE_nassella").to_owned()];
    line.extend(args.iter().map(|a| (*a).to_owned()));
    let quoted: Vec<String> = line
        .iter()
        .map(|a| format!("'{}'", a.replace('\'', r"'\''")))
        .collect();
    let mut c = Command::new("script");
    c.args(["-qec", &quoted.join(" "), "/dev/null"])
        .current_dir(dir)
        .env("HOME", dir.join("home"))
        .env("NASSELLA_STATE_DIR", dir.join("state"))
        .env("NASSELLA_MASTER_KEY", KEY)
        .env("TERM", "xterm-256color")
        .env_remove("TF_CLI_ARGS")
        .env_remove("TF_CLI_CONFIG_FILE")
        .env_remove("NASSELLA_MASTER_KEY_FILE");
    if no_color {
        c.env("NO_COLOR", "1");
    } else {
        c.env_remove("NO_COLOR");
    }
    text(&c.output().unwrap().stdout)
}

#[test]
fn no_color_turns_colour_off_in_a_terminal_too() {
    if !instance_tests::have_terraform() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let cfg = local_config(dir.path());
    let cfg = cfg.to_str().unwrap();
    // Without NO_COLOR, a terminal gets colours (clap's usage error, Terraform's plan): the
    // check below can fail.
    let usage = in_terminal(dir.path(), &["build", "--bogus"], false);
    assert!(usage.contains('\u{1b}'), "{usage:?}");
    let coloured = in_terminal(dir.path(), &["plan", "--config", cfg], false);
    assert!(coloured.contains("Plan:"), "{coloured}");
    assert!(coloured.contains('\u{1b}'), "{coloured:?}");
    for args in [&["build", "--bogus"][..], &["plan", "--config", cfg]] {
        let plain = in_terminal(dir.path(), args, true);
        assert!(!plain.contains('\u{1b}'), "{args:?}: {plain:?}");
    }
}

#[test]
fn help_lists_every_variable_and_never_a_secret_value() {
    let dir = tempfile::tempdir().unwrap();
    let secret = "s3cr3t-value-that-must-not-show";
    for args in [&["--help"][..], &["apply", "--help"], &["build", "--help"]] {
        let mut c = cmd(dir.path(), args);
        for v in [
            "NASSELLA_MASTER_KEY",
            "HCLOUD_TOKEN",
            "DIGITALOCEAN_TOKEN",
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "B2_ACCOUNT_ID",
            "B2_ACCOUNT_KEY",
        ] {
            c.env(v, secret);
        }
        let o = c.output().unwrap();
        assert!(o.status.success(), "{}", show(&o));
        let help = text(&o.stdout);
        assert!(!help.contains(secret), "{args:?} prints a secret:\n{help}");
        for v in [
            "NASSELLA_STATE_DIR",
            "NASSELLA_MASTER_KEY",
            "HCLOUD_TOKEN",
            "DIGITALOCEAN_TOKEN",
            "NASSELLA_HCLOUD_API",
            "NASSELLA_DIGITALOCEAN_API",
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "B2_ACCOUNT_ID",
            "B2_ACCOUNT_KEY",
            "NASSELLA_COMPOSE",
            "NO_COLOR",
        ] {
            assert!(
                help.contains(&format!("[env: {v}")),
                "{args:?}: no {v} in\n{help}"
            );
        }
        if args[0] != "--help" {
            assert!(help.contains("NASSELLA_MASTER_KEY_FILE"), "{help}");
        }
        if args[0] == "apply" {
            assert!(help.contains("[env: NASSELLA_SHUTDOWN_TIMEOUT"), "{help}");
        }
    }
}

// ------------------------------------------------------------------------------ output

#[test]
fn an_out_that_is_a_file_or_a_foreign_folder_is_refused_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("apps.config"), family_config()).unwrap();
    std::fs::write(dir.path().join("notes.txt"), "mine").unwrap();
    std::fs::create_dir(dir.path().join("docs")).unwrap();
    std::fs::write(dir.path().join("docs/a.md"), "mine too").unwrap();
    std::os::unix::fs::symlink("docs", dir.path().join("link")).unwrap();
    let before = tree(dir.path());
    for (out, says) in [
        ("notes.txt", "is a file"),
        ("docs", "something else than a Nassella bundle"),
        ("link", "symbolic link"),
    ] {
        let o = run(
            dir.path(),
            &["build", "--config", "apps.config", "--out", out],
        );
        assert_eq!(o.status.code(), Some(1), "{}", show(&o));
        assert!(text(&o.stderr).contains(says), "{}", show(&o));
        // Nothing was written: no key, no staging folder, the file and folder as they were.
        assert_eq!(tree(dir.path()), before, "{out}");
    }
    assert_eq!(
        std::fs::read_to_string(dir.path().join("notes.txt")).unwrap(),
        "mine"
    );
}

#[test]
fn leftovers_of_killed_runs_are_removed_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("apps.config"), family_config()).unwrap();
    // A killed run's staging folder (its process is gone: no pid is that high) with a full
    // ignition.json, and its old folder.
    let dead = dir.path().join(".out.nassella-new-4000000000-aB3dE6gH");
    std::fs::create_dir(&dead).unwrap();
    std::fs::write(dead.join("ignition.json"), "{\"secret\":1}").unwrap();
    let old = dir.path().join(".out.nassella-old-4000000001-zz9");
    std::fs::create_dir(&old).unwrap();
    // What must stay: a running build's staging folder (this process is alive), a folder of
    // another output, look-alikes, a file of that shape.
    let live = dir
        .path()
        .join(format!(".out.nassella-new-{}-abc", std::process::id()));
    let keep = [
        live,
        dir.path().join(".other.nassella-new-4000000000-abc"),
        dir.path().join(".out.nassella-new-4000000000-a.b"),
        dir.path().join(".out.new-abc123"),
        dir.path().join("out.nassella-new-4000000000-abc"),
    ];
    for k in &keep {
        std::fs::create_dir(k).unwrap();
        std::fs::write(k.join("ignition.json"), "keep").unwrap();
    }
    let file = dir.path().join(".out.nassella-old-4000000002-abc");
    std::fs::write(&file, "keep").unwrap();
    // What older versions left: removed when they hold a bundle and are an hour old; a fresh
    // one (perhaps an older version's build running now) and one without a bundle stay.
    let aged = |p: &Path| {
        assert!(Command::new("touch")
            .args(["-d", "2 hours ago"])
            .arg(p)
            .status()
            .unwrap()
            .success());
    };
    let legacy_new = dir.path().join(".out.new-Ab3dE6");
    let legacy_old = dir.path().join(".out.old-4000000003");
    for l in [&legacy_new, &legacy_old] {
        std::fs::create_dir(l).unwrap();
        std::fs::write(l.join("ignition.json"), "{\"secret\":1}").unwrap();
        aged(l);
    }
    let legacy_fresh = dir.path().join(".out.new-Fresh1");
    std::fs::create_dir(&legacy_fresh).unwrap();
    std::fs::write(legacy_fresh.join("ignition.json"), "keep").unwrap();
    let legacy_other = dir.path().join(".out.new-Other1");
    std::fs::create_dir(&legacy_other).unwrap();
    std::fs::write(legacy_other.join("notes"), "keep").unwrap();
    aged(&legacy_other);
    let o = cmd(
        dir.path(),
        &["build", "--config", "apps.config", "--out", "out"],
    )
    .env("NASSELLA_MASTER_KEY", KEY)
    .output()
    .unwrap();
    assert!(o.status.success(), "{}", show(&o));
    assert!(!dead.exists() && !old.exists(), "{}", show(&o));
    assert!(!legacy_new.exists() && !legacy_old.exists(), "{}", show(&o));
    assert!(
        text(&o.stderr).contains("left by an interrupted run"),
        "{}",
        show(&o)
    );
    for k in keep.iter().chain([&file, &legacy_fresh, &legacy_other]) {
        assert!(k.exists(), "{} was removed", k.display());
    }
    assert!(dir.path().join("out/ignition.json").is_file());
}

#[test]
fn the_output_folder_is_never_missing_while_builds_replace_it() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("apps.config"), family_config()).unwrap();
    let build = || {
        let o = cmd(
            dir.path(),
            &["build", "--config", "apps.config", "--out", "out", "-q"],
        )
        .env("NASSELLA_MASTER_KEY", KEY)
        .output()
        .unwrap();
        assert!(o.status.success(), "{}", show(&o));
    };
    build();
    let stop = Arc::new(AtomicBool::new(false));
    let watched = dir.path().join("out/ignition.json");
    let watcher = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let (mut looks, mut missing) = (0u64, 0u64);
            while !stop.load(Ordering::Relaxed) {
                looks += 1;
                if std::fs::symlink_metadata(&watched).is_err() {
                    missing += 1;
                }
            }
            (looks, missing)
        })
    };
    for _ in 0..8 {
        build();
    }
    stop.store(true, Ordering::Relaxed);
    let (looks, missing) = watcher.join().unwrap();
    assert!(looks > 1000, "the watcher looked {looks} times");
    assert_eq!(
        missing, 0,
        "out/ignition.json was missing {missing} of {looks} times"
    );
    let left: Vec<_> = tree(dir.path())
        .into_iter()
        .filter(|p| p.starts_with(".out"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn state_folders_are_private_whatever_the_umask() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("apps.config"), family_config()).unwrap();
    let bin = env!("CARGO_BIN_EXE_nassella");
    let build = |out: &str| {
        Command::new("sh")
            .args([
                "-c",
                &format!("umask 000 && exec '{bin}' build --config apps.config --out {out}"),
            ])
            .current_dir(dir.path())
            .env("NASSELLA_STATE_DIR", dir.path().join("state"))
            .env_remove("NASSELLA_MASTER_KEY")
            .env_remove("NASSELLA_MASTER_KEY_FILE")
            .output()
            .unwrap()
    };
    let o = build("out");
    assert!(o.status.success(), "{}", show(&o));
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir.path().join("state")), 0o700);
    assert_eq!(mode(&dir.path().join("state/family")), 0o700);
    assert_eq!(mode(&dir.path().join("state/family/master.key")), 0o600);
    // An existing state folder open to others is tightened, and the user is told.
    std::fs::set_permissions(
        dir.path().join("state/family"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    let o = build("out2");
    assert!(o.status.success(), "{}", show(&o));
    assert_eq!(
        mode(&dir.path().join("state/family")),
        0o700,
        "{}",
        show(&o)
    );
    assert!(text(&o.stderr).contains("now 0700"), "{}", show(&o));
}

// ------------------------------------------------------------------------------ unpack

#[test]
fn the_unpack_command_touches_only_its_own_folder_whatever_the_path() {
    let world = tempfile::tempdir().unwrap();
    let w = world.path();
    // Folders an unquoted command would hit: `<w>/a` and `b/…` (relative to the shell's folder).
    for canary in ["a/etc/nassella", "b/etc/nassella", "a/etc/nassella.new"] {
        std::fs::create_dir_all(w.join(canary)).unwrap();
        std::fs::write(w.join(canary).join("canary"), "keep").unwrap();
    }
    // The archive: one file, `hello`.
    let src = w.join("src");
    std::fs::create_dir(&src).unwrap();
    std::fs::write(src.join("hello"), "new config").unwrap();
    for name in ["a b", "a b'c", "a $HOME b", "a\nb", "a \"b\" `c`"] {
        let root = w.join(name);
        std::fs::create_dir_all(root.join("etc/nassella")).unwrap();
        std::fs::write(root.join("etc/nassella/stale"), "old").unwrap();
        let tar = Command::new("tar")
            .arg("-czf")
            .arg(root.join("etc/nassella.tar.gz"))
            .args(["-C"])
            .arg(&src)
            .arg("hello")
            .status()
            .unwrap();
        assert!(tar.success());
        let before: Vec<String> = tree(w)
            .into_iter()
            .filter(|p| !p.starts_with(name))
            .collect();
        let command = nassella_core::render::unpack_command(root.to_str().unwrap());
        let st = Command::new("sh")
            .args(["-c", &command])
            .current_dir(w)
            .status()
            .unwrap();
        assert!(st.success(), "{name:?}: {command}");
        assert_eq!(
            std::fs::read_to_string(root.join("etc/nassella/hello")).unwrap(),
            "new config",
            "{name:?}"
        );
        assert!(!root.join("etc/nassella/stale").exists(), "{name:?}");
        assert!(!root.join("etc/nassella.new").exists(), "{name:?}");
        let after: Vec<String> = tree(w)
            .into_iter()
            .filter(|p| !p.starts_with(name))
            .collect();
        assert_eq!(before, after, "{name:?}: only its own folder was touched");
    }
    // The server's root is `/`: the command is the plain one the unit has always run.
    assert_eq!(
        nassella_core::render::unpack_command("/"),
        "rm -rf /etc/nassella.new && mkdir -m 0755 /etc/nassella.new && tar -xzf /etc/nassella.tar.gz -C /etc/nassella.new && rm -rf /etc/nassella && mv /etc/nassella.new /etc/nassella"
    );
}

#[test]
fn a_local_data_folder_in_a_state_folder_with_a_space_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = local_config(dir.path());
    let o = cmd(dir.path(), &["plan", "--config", cfg.to_str().unwrap()])
        .env("NASSELLA_STATE_DIR", dir.path().join("st ate"))
        .env("NASSELLA_MASTER_KEY", KEY)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    let err = text(&o.stderr);
    assert!(
        err.contains("keeps its data in the state folder") && err.contains("NASSELLA_STATE_DIR"),
        "{err}"
    );
    assert!(!dir.path().join("st ate").exists(), "nothing was written");
}

#[test]
fn delete_data_never_deletes_a_folder_no_instance_has_run_on() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = local_config(dir.path());
    // A config that names someone's folder as its data root.
    let precious = dir.path().join("precious");
    std::fs::create_dir(&precious).unwrap();
    std::fs::write(precious.join("thesis.tex"), "years of work").unwrap();
    let named = std::fs::read_to_string(&cfg).unwrap().replace(
        "[backup]",
        &format!("data_root = \"{}\"\n\n[backup]", precious.display()),
    );
    std::fs::write(&cfg, named).unwrap();
    let o = cmd(
        dir.path(),
        &[
            "destroy",
            "--delete-data",
            "contract",
            "--config",
            cfg.to_str().unwrap(),
        ],
    )
    .env("NASSELLA_MASTER_KEY", KEY)
    .output()
    .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    assert!(
        text(&o.stderr).contains("is not a data folder an instance has run on"),
        "{}",
        show(&o)
    );
    assert_eq!(
        std::fs::read_to_string(precious.join("thesis.tex")).unwrap(),
        "years of work"
    );
    assert!(!dir.path().join("state").exists(), "nothing ran");
}
