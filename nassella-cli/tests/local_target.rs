//! The control plane end to end on the local target, with the real Terraform (only its built-in
//! `terraform_data`, so it runs offline), the real Docker engine and restic.

use std::path::Path;
use std::process::{Command, Output};

use instance_tests::{local_target_config, TestEnv};
use nassella_testkit::images::HELLO_IMAGE;
use nassella_testkit::instance::{http_get, show, tree_hashes};

const KEY: &str = "0707070707070707070707070707070707070707070707070707070707070707";

fn nassella(state: &Path, args: &[&str], config: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nassella"))
        .args(args)
        .arg("--config")
        .arg(config)
        .env("NASSELLA_STATE_DIR", state)
        .env("NASSELLA_MASTER_KEY", KEY)
        .env("NASSELLA_COMPOSE", nassella_testkit::compose_binary_path())
        .output()
        .unwrap()
}

fn ok(out: Output) -> Output {
    assert!(out.status.success(), "{}", show(&out));
    out
}

#[test]
fn apply_twice_replace_and_destroy_on_the_local_target() {
    if !instance_tests::have_terraform() {
        return;
    }
    let env = TestEnv::new();
    let state = env.path("state");
    let cfg = env.path("cfg").join("apps.config");
    let config = local_target_config(&env, HELLO_IMAGE);
    std::fs::write(&cfg, &config).unwrap();
    let inst = state.join(&env.name);
    let _stop = instance_tests::StopOnDrop {
        bin: env!("CARGO_BIN_EXE_nassella").into(),
        root: inst.join("instance"),
    };

    // apply: the repository is created, the app answers through Caddy.
    let out = ok(nassella(&state, &["apply"], &cfg));
    let log = String::from_utf8_lossy(&out.stderr);
    for phase in [
        "==> building",
        "==> restic repository",
        "==> terraform init",
        "==> terraform apply",
        "==> applied",
    ] {
        assert!(log.contains(phase), "missing progress line {phase}:\n{log}");
    }
    assert_eq!(
        http_get(env.port, "hello.test", "/").body.trim(),
        "hello from hello"
    );
    assert!(env.repo().join("config").exists(), "restic init ran");
    let ignition = std::fs::read(inst.join("bundle/ignition.json")).unwrap();
    assert_eq!(
        std::fs::read_to_string(inst.join("hosts")).unwrap(),
        "127.0.0.1 hello.test\n"
    );

    // apply again: no change at all.
    let out = nassella(&state, &["plan", "--detailed-exitcode"], &cfg);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(show(&out).contains("==> nothing changes"), "{}", show(&out));
    assert!(
        !inst.join("terraform/summary.tfplan").exists(),
        "the saved plan (secrets in clear) is deleted"
    );
    ok(nassella(&state, &["apply"], &cfg));
    assert_eq!(
        std::fs::read(inst.join("bundle/ignition.json")).unwrap(),
        ignition,
        "same config, same bytes"
    );
    let log = std::fs::read_to_string(inst.join("local.log")).unwrap();
    assert_eq!(
        log.lines().count(),
        1,
        "a second apply restarted nothing:\n{log}"
    );

    // Only DNS changes (dns_zone, dns_ttl; locally a zone file instead of a provider's records):
    // Terraform replaces the DNS resource alone, the instance keeps running untouched.
    let with_dns = config.replace(
        "[backup]",
        "dns_zone = \"hello.test\"\ndns_ttl = 60\n\n[backup]",
    );
    std::fs::write(&cfg, &with_dns).unwrap();
    let out = nassella(&state, &["plan", "--detailed-exitcode"], &cfg);
    assert_eq!(out.status.code(), Some(4), "{}", show(&out));
    let plan = show(&out);
    assert!(
        plan.contains("terraform_data.dns must be replaced")
            && !plan.contains("terraform_data.instance must be replaced")
            && plan.contains("Plan: 1 to add, 0 to change, 1 to destroy.")
            && plan.contains(
                "==> the server keeps running, untouched; only terraform_data.dns changes"
            ),
        "a DNS-only change must touch only the DNS resource:\n{plan}"
    );
    ok(nassella(&state, &["apply"], &cfg));
    assert_eq!(
        std::fs::read(inst.join("bundle/ignition.json")).unwrap(),
        ignition,
        "DNS settings are not part of the instance"
    );
    assert_eq!(
        std::fs::read_to_string(inst.join("dns.zone")).unwrap(),
        "$ORIGIN hello.test.\n$TTL 60\n@ IN A 127.0.0.1\n"
    );
    let log = std::fs::read_to_string(inst.join("local.log")).unwrap();
    assert_eq!(
        log.lines().count(),
        1,
        "a DNS change restarted the instance:\n{log}"
    );
    assert_eq!(
        http_get(env.port, "hello.test", "/").body.trim(),
        "hello from hello"
    );

    // A changed app setting replaces the instance: the old stack stops before the new one
    // starts on the same data, which survives byte for byte.
    std::fs::write(
        inst.join("data/hello/data/notes.txt"),
        "written before the replacement\n",
    )
    .unwrap();
    let before = tree_hashes(&inst.join("data"));
    let retagged = "nassella/hello:1.0-retagged";
    assert!(Command::new("docker")
        .args(["tag", HELLO_IMAGE, retagged])
        .status()
        .unwrap()
        .success());
    std::fs::write(&cfg, local_target_config(&env, retagged)).unwrap();
    let out = nassella(&state, &["plan", "--detailed-exitcode"], &cfg);
    assert_eq!(out.status.code(), Some(4), "{}", show(&out));
    assert!(
        show(&out).contains("==> the server is REPLACED"),
        "{}",
        show(&out)
    );
    ok(nassella(&state, &["apply"], &cfg));
    let log = std::fs::read_to_string(inst.join("local.log")).unwrap();
    let steps: Vec<&str> = log.lines().map(|l| l.split(' ').nth(1).unwrap()).collect();
    assert_eq!(steps, ["up", "down", "up"], "{log}");
    assert_eq!(
        tree_hashes(&inst.join("data")),
        before,
        "data changed across the replacement"
    );
    assert_eq!(
        http_get(env.port, "hello.test", "/notes.txt").body,
        "written before the replacement\n"
    );

    // Backups: made on demand (the local target has no timers), listed, and restored the
    // immutable way: the data folder moves aside, a new instance restores the snapshot onto a
    // blank one before the app starts. (Retention keeps one snapshot per day, so a second
    // backup today would replace this one.)
    let notes = inst.join("data/hello/data/notes.txt");
    std::fs::write(&notes, "backed up\n").unwrap();
    ok(nassella(&state, &["backups", "create"], &cfg));
    std::fs::write(&notes, "changed after the backup\n").unwrap();
    let out = ok(nassella(&state, &["backups", "list", "--json"], &cfg));
    let listed: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    let id = listed[0]["short_id"].as_str().unwrap().to_owned();
    ok(nassella(&state, &["backups", "restore", &id], &cfg));
    assert_eq!(
        http_get(env.port, "hello.test", "/notes.txt").body,
        "backed up\n",
        "the snapshot is restored"
    );
    let aside: Vec<_> = std::fs::read_dir(&inst)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("data.before-restore-")
        })
        .collect();
    assert_eq!(aside.len(), 1, "the previous data is kept aside");
    assert_eq!(
        std::fs::read_to_string(aside[0].path().join("hello/data/notes.txt")).unwrap(),
        "changed after the backup\n"
    );
    let before = tree_hashes(&inst.join("data"));

    // destroy: the stack goes, the data stays.
    ok(nassella(&state, &["destroy"], &cfg));
    assert_eq!(
        http_get(env.port, "hello.test", "/").status,
        0,
        "nothing listens any more"
    );
    assert_eq!(tree_hashes(&inst.join("data")), before);

    // Deleting the data must be asked for by the instance's name; a wrong name changes nothing.
    let out = nassella(&state, &["destroy", "--delete-data", "other"], &cfg);
    assert!(!out.status.success(), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains(&format!("give the instance's name, `{}`", env.name)),
        "{}",
        show(&out)
    );
    assert_eq!(tree_hashes(&inst.join("data")), before);
    ok(nassella(
        &state,
        &["destroy", "--delete-data", &env.name],
        &cfg,
    ));
    assert!(!inst.join("data").exists(), "the data folder is deleted");
    assert!(env.repo().join("config").exists(), "the backups stay");
    let _ = Command::new("docker").args(["rmi", retagged]).status();
}

/// A state folder whose path has a space, a quote and a `$` (with the data in a plain folder the
/// config names): every command Nassella and its Terraform module run takes the path as it is,
/// and nothing outside it is touched (a folder an unquoted path would name is kept).
#[test]
fn a_state_folder_with_a_space_a_quote_and_a_dollar_in_its_path_is_taken_as_it_is() {
    if !instance_tests::have_terraform() {
        return;
    }
    let env = TestEnv::new();
    let base = env.path("states");
    let state = base.join("st ate'$HOME");
    // What `rm -rf <base>/st ate'…` unquoted would remove.
    let canary = base.join("st");
    std::fs::create_dir_all(canary.join("etc/nassella")).unwrap();
    std::fs::write(canary.join("etc/nassella/keep"), "keep").unwrap();
    let cfg = env.path("cfg").join("apps.config");
    let config = local_target_config(&env, HELLO_IMAGE).replace(
        "[backup]",
        &format!("data_root = \"{}\"\n\n[backup]", env.data().display()),
    );
    std::fs::write(&cfg, &config).unwrap();
    let inst = state.join(&env.name);
    let _stop = instance_tests::StopOnDrop {
        bin: env!("CARGO_BIN_EXE_nassella").into(),
        root: inst.join("instance"),
    };
    let before = tree_hashes(&base.join("st"));
    ok(nassella(&state, &["apply"], &cfg));
    assert_eq!(
        http_get(env.port, "hello.test", "/").body.trim(),
        "hello from hello"
    );
    assert!(inst.join("instance/etc/nassella").is_dir());
    assert_eq!(
        std::fs::read_to_string(inst.join("hosts")).unwrap(),
        "127.0.0.1 hello.test\n"
    );
    ok(nassella(&state, &["destroy"], &cfg));
    assert_eq!(http_get(env.port, "hello.test", "/").status, 0);
    assert_eq!(
        tree_hashes(&canary),
        before,
        "the look-alike folder is untouched"
    );
    let names: Vec<String> = std::fs::read_dir(&base)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names.len(),
        2,
        "only the state folder and the canary: {names:?}"
    );
}
