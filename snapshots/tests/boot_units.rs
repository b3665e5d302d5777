//! The boot chain's rules, read from every example's rendered units: what each unit requires,
//! waits for and retries. (`real_tools.rs` has systemd's own `verify` of the same files; the VM
//! scenarios boot them.)

use std::collections::BTreeMap;

use nassella_core::render::firewall;
use nassella_core::{build, Keys, MasterKey};

fn keys() -> Keys {
    Keys::new(MasterKey::insecure_test_key())
        .backup_env("AWS_ACCESS_KEY_ID", "id")
        .backup_env("AWS_SECRET_ACCESS_KEY", "secret")
}

/// A unit file: (section, key) → every value given, list directives split on whitespace.
type Unit = BTreeMap<(String, String), Vec<String>>;

fn parse(text: &str) -> Unit {
    let mut out = Unit::new();
    let mut section = String::new();
    for line in text.lines() {
        if let Some(s) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            s.clone_into(&mut section);
        } else if let Some((k, v)) = line.split_once('=') {
            let e = out.entry((section.clone(), k.to_owned())).or_default();
            if matches!(
                k,
                "Requires" | "After" | "Before" | "Wants" | "RequiredBy" | "WantedBy"
            ) {
                e.extend(v.split_whitespace().map(str::to_owned));
            } else {
                e.push(v.to_owned());
            }
        }
    }
    out
}

fn get<'a>(u: &'a Unit, section: &str, key: &str) -> &'a [String] {
    u.get(&(section.to_owned(), key.to_owned()))
        .map_or(&[], Vec::as_slice)
}

/// Every example's units and drop-ins, by file name under /etc/systemd/system.
fn units() -> Vec<(String, BTreeMap<String, Unit>)> {
    examples::all()
        .into_iter()
        .map(|(name, stack)| {
            let b = build(&stack, &keys()).unwrap_or_else(|r| panic!("{name}: {r}"));
            let units = b
                .bundle
                .files()
                .iter()
                .filter_map(|(path, bytes)| {
                    let rel = path.strip_prefix("instance/etc/systemd/system/")?;
                    Some((
                        rel.to_owned(),
                        parse(std::str::from_utf8(bytes).expect("utf-8")),
                    ))
                })
                .collect();
            (name.to_owned(), units)
        })
        .collect()
}

/// The scripts that start containers (`docker run`, `compose up`, `compose exec`).
fn runs_containers(u: &Unit) -> bool {
    get(u, "Service", "ExecStart").iter().any(|e| {
        ["/app.sh", "/restore.sh", "/backup.sh"]
            .iter()
            .any(|s| e.contains(s))
    })
}

#[test]
fn every_unit_that_runs_a_container_requires_the_metadata_firewall() {
    for (name, units) in units() {
        let mut checked = 0;
        for (file, u) in &units {
            if !runs_containers(u) {
                continue;
            }
            checked += 1;
            for dep in [firewall::UNIT, "docker.service"] {
                assert!(
                    get(u, "Unit", "Requires").iter().any(|r| r == dep),
                    "{name}: {file} does not require {dep}"
                );
                assert!(
                    get(u, "Unit", "After").iter().any(|r| r == dep),
                    "{name}: {file} is not ordered after {dep}"
                );
            }
        }
        assert!(checked >= 3, "{name}: only {checked} container units found");
        // Docker itself starts only once the rules are loaded, so containers it restarts on its
        // own after an unclean shutdown are covered too.
        let dropin = &units["docker.service.d/10-nassella-metadata-firewall.conf"];
        assert_eq!(get(dropin, "Unit", "Requires"), [firewall::UNIT]);
        assert_eq!(get(dropin, "Unit", "After"), [firewall::UNIT]);
        let fw = &units[firewall::UNIT];
        assert!(get(fw, "Unit", "Before").contains(&"docker.service".to_owned()));
        assert!(get(fw, "Install", "RequiredBy").contains(&"docker.service".to_owned()));
        assert_eq!(get(fw, "Unit", "DefaultDependencies"), ["no"]);
        assert_eq!(
            get(fw, "Service", "ExecStart"),
            [format!("/usr/sbin/nft -f {}", firewall::RULESET_PATH)]
        );
    }
}

#[test]
fn the_backup_requires_a_successful_restore() {
    for (name, units) in units() {
        let Some(u) = units.get("nassella-backup.service") else {
            continue;
        };
        assert!(
            get(u, "Unit", "Requires").contains(&"nassella-restore.service".to_owned()),
            "{name}"
        );
        assert!(
            get(u, "Unit", "After").contains(&"nassella-restore.service".to_owned()),
            "{name}"
        );
    }
}

#[test]
fn the_data_volume_can_appear_at_any_time() {
    // The device unit's name, from systemd's own escaping of the mount's What=.
    let mut checked = 0;
    for (name, units) in units() {
        let Some((mount_file, mount)) = units.iter().find(|(f, _)| f.ends_with(".mount")) else {
            continue; // the local target has no volume
        };
        checked += 1;
        let what = &get(mount, "Mount", "What")[0];
        let out = std::process::Command::new("systemd-escape")
            .args(["--path", "--suffix=device", what])
            .output()
            .expect("systemd-escape");
        assert!(out.status.success());
        let device = String::from_utf8(out.stdout).unwrap().trim().to_owned();
        // No device job timeout (DefaultDeviceTimeoutSec would fail the mount after 90 s).
        let dropin = units
            .get(&format!("{device}.d/10-nassella-no-timeout.conf"))
            .unwrap_or_else(|| panic!("{name}: no drop-in for {device} ({mount_file})"));
        assert_eq!(get(dropin, "Unit", "JobRunningTimeoutSec"), ["infinity"]);
        // The script that waits for the volume has no start timeout and is retried for ever.
        let prepare = &units["nassella-data-prepare.service"];
        assert_eq!(get(prepare, "Service", "TimeoutStartSec"), ["infinity"]);
        assert_eq!(get(prepare, "Service", "Restart"), ["on-failure"]);
        assert_eq!(get(prepare, "Unit", "StartLimitIntervalSec"), ["0"]);
    }
    assert!(checked > 0, "no example with a data volume");
}

#[test]
fn restore_proxy_and_apps_are_retried_for_ever_and_report() {
    for (name, units) in units() {
        for file in [
            "nassella-restore.service",
            "nassella-proxy.service",
            "nassella-app@.service",
        ] {
            let u = &units[file];
            assert_eq!(
                get(u, "Service", "Restart"),
                ["on-failure"],
                "{name}: {file}"
            );
            assert_eq!(get(u, "Service", "RestartSec"), ["10s"], "{name}: {file}");
            assert_eq!(
                get(u, "Service", "RestartMaxDelaySec"),
                ["10min"],
                "{name}: {file}"
            );
            assert_eq!(
                get(u, "Unit", "StartLimitIntervalSec"),
                ["0"],
                "{name}: {file}"
            );
        }
        for (file, kind) in [
            ("nassella-proxy.service", "proxy"),
            ("nassella-app@.service", "app-%i"),
        ] {
            let u = &units[file];
            assert_eq!(
                get(u, "Service", "ExecStopPost"),
                [format!(
                    "-/etc/nassella/bin/report.sh --unit-stopped {kind}"
                )],
                "{name}: {file}"
            );
        }
    }
}
