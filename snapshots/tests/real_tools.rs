//! Every example's artifacts checked by the programs that will consume them: the real
//! `ignition-validate`, the real Ignition `files` stage, `caddy validate` (Caddy 2.11) and
//! `docker-compose config` (Compose v2.40).

use std::collections::BTreeSet;

use nassella_core::render::{instance_plan, unpack_command, CONFIG_ARCHIVE, IGNITION_FILE};
use nassella_core::{build, compose, Artifact, Keys, MasterKey, Stack};
use nassella_testkit as kit;
use sha2::Digest as _;

fn keys() -> Keys {
    Keys::new(MasterKey::insecure_test_key())
        .backup_env("AWS_ACCESS_KEY_ID", "id")
        .backup_env("AWS_SECRET_ACCESS_KEY", "secret")
}

/// The example, pointed at a local copy of docker compose (same bytes, same published hash).
fn with_local_compose(mut stack: Stack, url: &str) -> Stack {
    let artifact = Artifact {
        url: url.to_owned(),
        hash: Artifact::docker_compose_default().hash,
    };
    let instance = stack.instance().clone().docker_compose(artifact);
    *stack.instance_mut() = instance;
    stack
}

#[test]
fn ignition_validate_accepts_every_example() {
    for (name, stack) in examples::all() {
        let b = build(&stack, &keys()).unwrap_or_else(|r| panic!("{name}: {r}"));
        kit::ignition_validate(b.bundle.ignition());
    }
}

/// Flatcar reboots into Ignition when a first boot fails; the second run applies the same config
/// over the files the first one wrote. Ignition refuses to replace a file without
/// `overwrite: true`, which would fail that boot too, and every one after it.
#[test]
fn ignition_runs_again_over_the_files_it_wrote() {
    for (name, stack) in examples::all() {
        let b = build(&stack, &keys()).unwrap_or_else(|r| panic!("{name}: {r}"));
        let root = kit::ignition_files_stage(b.bundle.ignition());
        let first = root.read(CONFIG_ARCHIVE);
        root.run_again(b.bundle.ignition());
        assert_eq!(root.read(CONFIG_ARCHIVE), first, "{name}");
    }
}

#[test]
fn caddy_validates_every_caddyfile() {
    for (name, stack) in examples::all() {
        let b = build(&stack, &keys()).unwrap_or_else(|r| panic!("{name}: {r}"));
        let caddyfile = String::from_utf8(
            b.bundle
                .get("instance/etc/nassella/proxy/Caddyfile")
                .unwrap()
                .to_vec(),
        )
        .unwrap();
        let page = b
            .bundle
            .get("instance/etc/nassella/proxy/maintenance/index.html")
            .unwrap();
        kit::caddy_validate(&caddyfile, &[("maintenance/index.html", page)]);
    }
}

/// The files stage writes exactly the planned files (bytes and modes), the units, the enabled and the masked units; then Compose v2 accepts every compose
/// file as written on that root, env files included.
#[test]
fn ignition_files_stage_writes_exactly_the_plan_and_compose_accepts_it() {
    let compose_bin = kit::compose_binary_path();
    let server = kit::serve_file_http(&compose_bin);
    for (name, stack) in examples::all() {
        let stack = with_local_compose(stack, &server.url());
        let b = build(&stack, &keys()).unwrap_or_else(|r| panic!("{name}: {r}"));
        let root = kit::ignition_files_stage(b.bundle.ignition());
        // What nassella-config.service does first at boot: unpack the configuration archive.
        let unit = root.read_to_string("etc/systemd/system/nassella-config.service");
        assert!(
            unit.contains(&unpack_command("/")),
            "{name}: the unit runs another command:\n{unit}"
        );
        let unpack = std::process::Command::new("sh")
            .arg("-c")
            .arg(unpack_command(&root.path().to_string_lossy()))
            .status()
            .unwrap();
        assert!(unpack.success());
        assert_eq!(
            root.mode(CONFIG_ARCHIVE) & 0o7777,
            0o600,
            "the archive holds secrets"
        );

        let validated = compose(&stack).unwrap();
        let (files, units) = instance_plan(&validated, &keys());
        let mut expected = BTreeSet::new();
        expected.insert(CONFIG_ARCHIVE.trim_start_matches('/').to_owned());
        for f in &files {
            let rel = f.path.trim_start_matches('/');
            expected.insert(rel.to_owned());
            assert_eq!(root.mode(rel) & 0o7777, f.mode, "{name}: mode of {rel}");
            if f.remote.is_some() {
                let digest = sha2::Sha256::digest(root.read(rel));
                let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
                assert_eq!(
                    format!("sha256-{hex}"),
                    Artifact::docker_compose_default().hash
                );
            } else {
                assert_eq!(root.read(rel), f.contents, "{name}: contents of {rel}");
            }
        }
        let mut want_enabled = BTreeSet::new();
        let mut want_masked = BTreeSet::new();
        for u in &units {
            let rel = format!("etc/systemd/system/{}", u.name);
            if let Some(c) = &u.contents {
                expected.insert(rel.clone());
                assert_eq!(root.read_to_string(&rel), *c, "{name}: unit {}", u.name);
            }
            for (d, c) in &u.dropins {
                let p = format!("etc/systemd/system/{}.d/{d}", u.name);
                assert_eq!(root.read_to_string(&p), *c);
                expected.insert(p);
            }
            if u.enabled {
                want_enabled.insert(u.name.clone());
            }
            if u.mask {
                want_masked.insert(u.name.clone());
                expected.insert(rel);
            }
        }
        assert_eq!(root.enabled_units(), want_enabled, "{name}: enabled units");
        assert_eq!(root.masked_units(), want_masked, "{name}: masked units");
        assert!(
            want_masked.contains("sshd.socket")
                && want_masked.contains("coreos-metadata-sshkeys@core.service")
        );

        // Nothing else was written: every regular file and link is planned (folders and the
        // preset file are Ignition's own bookkeeping).
        let written: BTreeSet<String> = root
            .list_files()
            .into_iter()
            .filter(|(_, k)| !matches!(k, kit::FileKind::Dir))
            .map(|(p, _)| p)
            .filter(|p| p != "etc/systemd/system-preset/20-ignition.preset")
            .filter(|p| {
                !p.starts_with("etc/passwd")
                    && !p.starts_with("etc/shadow")
                    && !p.starts_with("etc/group")
                    && !p.starts_with("etc/gshadow")
            })
            .collect();
        assert_eq!(written, expected, "{name}: files written by Ignition");
        assert!(
            root.read_to_string("etc/passwd").contains(":/sbin/nologin"),
            "{name}: core keeps a login shell"
        );

        // Compose v2 accepts every compose file exactly as it lies on the server.
        let compose_files: Vec<&str> = files
            .iter()
            .map(|f| f.path.as_str())
            .filter(|p| p.ends_with("/compose.yaml"))
            .collect();
        assert!(
            compose_files.len() >= 2,
            "{name}: proxy and app compose files"
        );
        for path in compose_files {
            let dir = std::path::Path::new(path).parent().unwrap();
            let mut inputs: Vec<(String, Vec<u8>)> = Vec::new();
            for f in files
                .iter()
                .filter(|f| std::path::Path::new(&f.path).parent() == Some(dir))
            {
                let fname = std::path::Path::new(&f.path)
                    .file_name()
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                inputs.push((fname, root.read(f.path.trim_start_matches('/'))));
            }
            let refs: Vec<(&str, &[u8])> = inputs
                .iter()
                .map(|(n, b)| (n.as_str(), b.as_slice()))
                .collect();
            kit::compose_config(&refs, "compose.yaml");
        }
    }
    // Ignition downloads nothing: one failed download there would fail the boot
    // (nassella-compose-install.service fetches compose, see instance-tests).
    assert_eq!(server.requests(), 0, "a files stage downloaded compose");
}

#[test]
fn ignition_json_is_the_file_ignition_reads() {
    // The bundle's Ignition file is what `build` checked: compact JSON, no nulls, spec 3.3.0.
    for (name, stack) in examples::all() {
        let b = build(&stack, &keys()).unwrap();
        let v: serde_json::Value =
            serde_json::from_slice(b.bundle.get(IGNITION_FILE).unwrap()).unwrap();
        assert_eq!(v["ignition"]["version"], "3.3.0", "{name}");
        assert!(
            !String::from_utf8_lossy(b.bundle.ignition()).contains(":null"),
            "{name}: null field"
        );
        assert_eq!(
            v["kernelArguments"]["shouldNotExist"][0],
            "flatcar.autologin"
        );
    }
}

/// systemd's own checker reads every unit of every example: unknown keys, bad values and broken
/// dependencies would show up here. The only complaints allowed are that the instance's scripts
/// do not exist on this machine.
#[test]
fn systemd_analyze_verify_accepts_every_unit() {
    if std::process::Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_err()
    {
        assert!(
            std::env::var_os("CI").is_none(),
            "systemd-analyze is required in CI"
        );
        eprintln!("skipped: systemd-analyze is not installed");
        return;
    }
    // `RestartSteps=` and `RestartMaxDelaySec=` (the retry back-off) came with systemd 254;
    // Flatcar ships 257. An older systemd-analyze (Debian bookworm's 252) names them unknown,
    // and only them; a current one must accept them.
    let version = String::from_utf8(
        std::process::Command::new("systemd-analyze")
            .arg("--version")
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let major: u32 = version
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("cannot read the version of: {version}"));
    let newer_keys = |l: &str| {
        major < 254
            && l.contains("Unknown key")
            && (l.contains("'RestartSteps'") || l.contains("'RestartMaxDelaySec'"))
    };
    for (name, stack) in examples::all() {
        let b = build(&stack, &keys()).unwrap_or_else(|r| panic!("{name}: {r}"));
        let dir = tempfile::tempdir().unwrap();
        let mut units = Vec::new();
        for (path, bytes) in b.bundle.files() {
            let Some(unit) = path.strip_prefix("instance/etc/systemd/system/") else {
                continue;
            };
            if unit.contains('/') {
                continue; // drop-ins are checked with their unit by systemd on the server
            }
            std::fs::write(dir.path().join(unit), bytes).unwrap();
            units.push(dir.path().join(unit));
        }
        assert!(units.len() > 5, "{name}");
        let out = std::process::Command::new("systemd-analyze")
            .args(["verify", "--man=no"])
            .args(&units)
            .output()
            .unwrap();
        let complaints: Vec<String> = String::from_utf8_lossy(&out.stderr)
            .lines()
            .filter(|l| {
                !(l.contains("Command /etc/nassella/bin/") && l.contains("is not executable"))
            })
            .filter(|l| !newer_keys(l))
            .map(str::to_owned)
            .collect();
        assert!(
            complaints.is_empty(),
            "{name}: systemd-analyze verify:\n{}",
            complaints.join("\n")
        );
    }
}
