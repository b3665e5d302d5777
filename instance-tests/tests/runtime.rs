//! The instance proven on the real Docker engine: the files the real Ignition writes, run the way
//! the units run them, with real Caddy, Compose v2 and restic.

use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use instance_tests::{hello, TestEnv, WebAndDb};
use nassella_testkit::instance::{http_get, must, show, tree_hashes, LocalInstance};

/// Poll until `f` holds, or panic after `secs`.
fn wait_for(secs: u64, what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(
            start.elapsed() < Duration::from_secs(secs),
            "timed out waiting for {what}"
        );
        thread::sleep(Duration::from_millis(100));
    }
}

fn restic_snapshots(env: &TestEnv) -> String {
    must(
        Command::new("restic")
            .args(["snapshots", "--json", "--tag", "nassella"])
            .env("RESTIC_REPOSITORY", env.repo())
            .env("RESTIC_PASSWORD", instance_tests::keys().restic_password()),
    )
}

fn web_and_db(id: &'static str, host: &'static str) -> Box<dyn nassella_core::App> {
    Box::new(WebAndDb { id, host })
}

#[test]
fn a_request_for_the_hostname_reaches_the_app_through_caddy() {
    let env = TestEnv::new();
    let inst = env.materialise(&env.stack(&env.data(), vec![hello()]));
    inst.boot();
    let r = http_get(env.port, "hello.test", "/");
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body.trim(), "hello from hello");
    // An unknown hostname is not routed to the app.
    assert_ne!(
        http_get(env.port, "other.test", "/").body.trim(),
        "hello from hello"
    );
    // The data lives on the data root, under <app>/<volume>.
    assert!(env.data().join("hello/data/index.html").exists());
}

#[test]
fn databases_are_unreachable_from_the_proxy_and_other_apps_and_only_caddy_publishes_ports() {
    let env = TestEnv::new();
    let inst = env.materialise(&env.stack(
        &env.data(),
        vec![web_and_db("a", "a.test"), web_and_db("b", "b.test")],
    ));
    inst.boot();
    assert_eq!(http_get(env.port, "a.test", "/").body.trim(), "web of a");
    assert_eq!(http_get(env.port, "b.test", "/").body.trim(), "web of b");

    let name = &env.name;
    let caddy = format!("{name}-proxy-caddy-1");
    let a_web = format!("{name}-a-web-1");
    let b_web = format!("{name}-b-web-1");
    let a_db = format!("{name}-a-db-1");
    let a_db_ip = must(Command::new("docker").args([
        "inspect",
        "--format",
        "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
        &a_db,
    ]));
    let a_db_ip = a_db_ip.trim();
    assert!(!a_db_ip.is_empty());
    // Debian's static busybox cannot resolve names in wget (static glibc), so resolve with its
    // own nslookup (Docker's DNS at 127.0.0.11) and fetch by address.
    let fetch = |from: &str, target: &str| {
        let addr = if target.parse::<std::net::Ipv4Addr>().is_ok() {
            target.to_owned()
        } else {
            let out = Command::new("docker")
                .args(["exec", from, "nslookup", target])
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            let found = text
                .split("Name:")
                .nth(1)
                .and_then(|rest| rest.lines().find_map(|l| l.trim().strip_prefix("Address:")))
                .map(|a| a.trim().to_owned());
            match found {
                Some(a) if out.status.success() => a,
                _ => return out,
            }
        };
        Command::new("docker")
            // busybox's own `-T` crashes this static build; `timeout` bounds the attempt.
            .args(["exec", from, "timeout", "5", "wget", "-q", "-O", "-"])
            .arg(format!("http://{addr}:5432/"))
            .output()
            .unwrap()
    };
    // The app itself reaches its database, by name.
    let ok = fetch(&a_web, "db");
    assert!(ok.status.success(), "{}", show(&ok));
    assert_eq!(String::from_utf8_lossy(&ok.stdout).trim(), "db of a");
    // Caddy and the other app reach it neither by name nor by address. (`db` from app b is b's
    // own database: what matters is that a's never answers.)
    for from in [&caddy, &b_web] {
        for target in ["db", "a-db", a_db_ip] {
            let out = fetch(from, target);
            let answer = String::from_utf8_lossy(&out.stdout).trim().to_owned();
            assert_ne!(answer, "db of a", "{from} reached a's database at {target}");
            if from == &caddy || target != "db" {
                assert!(
                    !out.status.success(),
                    "{from} reached {target}:\n{}",
                    show(&out)
                );
            }
        }
    }
    // Only Caddy publishes ports.
    let containers = inst.containers();
    assert_eq!(containers.len(), 5, "{containers:?}");
    for (n, ports) in &containers {
        if *n == caddy {
            assert!(ports.contains(&format!(":{}->80/tcp", env.port)), "{ports}");
        } else {
            assert!(!ports.contains("->"), "{n} publishes {ports}");
        }
    }
}

#[test]
fn a_backup_shows_the_maintenance_page_then_the_app_and_the_repository_holds_the_data() {
    let env = TestEnv::new();
    env.init_repo();
    let inst = env.materialise(&env.stack(&env.data(), vec![web_and_db("a", "a.test")]));
    inst.boot();
    std::fs::write(env.data().join("a/data/photo.jpg"), vec![7u8; 3 << 20]).unwrap();

    // Poll the hostname while the backup runs.
    let port = env.port;
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let poller = {
        let done = done.clone();
        thread::spawn(move || {
            let mut seen = Vec::new();
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                let r = http_get(port, "a.test", "/");
                if seen.last().map(|(s, _): &(u16, String)| *s) != Some(r.status) {
                    seen.push((r.status, r.body));
                }
                thread::sleep(Duration::from_millis(20));
            }
            seen
        })
    };
    let out = inst.run("backup.sh", &[]);
    thread::sleep(Duration::from_millis(200));
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let seen = poller.join().unwrap();
    assert!(out.status.success(), "{}", show(&out));
    let statuses: Vec<u16> = seen.iter().map(|(s, _)| *s).collect();
    assert!(
        statuses.contains(&503),
        "no maintenance page during the backup: {statuses:?}\n{}",
        show(&out)
    );
    let (_, page) = seen.iter().find(|(s, _)| *s == 503).unwrap();
    assert!(page.contains("Back in a moment"), "{page}");
    assert_eq!(*statuses.last().unwrap(), 200, "{statuses:?}");
    assert_eq!(http_get(port, "a.test", "/").body.trim(), "web of a");
    assert!(inst.backup_status().unwrap().contains(r#""status":"ok""#));

    // The repository holds the data: one real snapshot (the warm-up one is forgotten), and
    // the files restored from it match.
    let snaps = restic_snapshots(&env);
    assert_eq!(snaps.matches("\"short_id\"").count(), 1, "{snaps}");
    assert!(
        snaps.contains(&format!("\"hostname\":\"{}\"", env.name)),
        "{snaps}"
    );
    let dump = env.data().join("a/data/dump.txt");
    assert!(dump.exists(), "the pre-backup hook ran");
    let check = env.path("check");
    must(
        Command::new("restic")
            .args(["restore", "latest", "--tag", "nassella", "--target"])
            .arg(&check)
            .env("RESTIC_REPOSITORY", env.repo())
            .env("RESTIC_PASSWORD", instance_tests::keys().restic_password()),
    );
    assert_eq!(tree_hashes(&check.join("data")), tree_hashes(&env.data()));
}

#[test]
fn a_blank_volume_is_restored_before_the_app_starts_and_a_volume_with_data_is_never_touched() {
    let env = TestEnv::new();
    env.init_repo();
    {
        let inst = env.materialise(&env.stack(&env.data(), vec![hello()]));
        inst.boot();
        std::fs::write(
            env.data().join("hello/data/index.html"),
            "restored content\n",
        )
        .unwrap();
        std::fs::create_dir_all(env.data().join("hello/data/sub")).unwrap();
        std::fs::write(
            env.data().join("hello/data/sub/blob.bin"),
            (0..=255u8).cycle().take(1 << 20).collect::<Vec<_>>(),
        )
        .unwrap();
        inst.run_ok("backup.sh", &[]);
    }
    let before = tree_hashes(&env.data());

    // A new server on a blank volume: restore.sh runs first and brings everything back.
    let blank = env.path("blank");
    let inst = env.materialise(&env.stack(&blank, vec![hello()]));
    let out = inst.run_ok("restore.sh", &[]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("restore complete"),
        "{}",
        show(&out)
    );
    assert_eq!(tree_hashes(&blank), before, "restored tree differs");
    assert!(blank.join(".nassella/initialized").exists());
    inst.run_ok("app.sh", &["up", "proxy"]);
    inst.run_ok("app.sh", &["up", "hello"]);
    assert_eq!(
        http_get(env.port, "hello.test", "/").body,
        "restored content\n"
    );
    drop(inst);

    // A volume that already holds data (and no marker): restore refuses and changes nothing.
    let used = env.path("used");
    std::fs::create_dir_all(used.join("hello/data")).unwrap();
    std::fs::write(used.join("hello/data/index.html"), "newer data\n").unwrap();
    let used_before = tree_hashes(&used);
    let inst = env.materialise(&env.stack(&used, vec![hello()]));
    let out = inst.run_ok("restore.sh", &[]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("refusing to restore"),
        "{}",
        show(&out)
    );
    assert_eq!(tree_hashes(&used), used_before);
    // …and on the next boot it knows the volume is initialised.
    let out = inst.run_ok("restore.sh", &[]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("initialised before"),
        "{}",
        show(&out)
    );
}

#[test]
fn no_repository_or_no_snapshot_means_a_fresh_start() {
    let env = TestEnv::new();
    let inst = env.materialise(&env.stack(&env.data(), vec![hello()]));
    let out = inst.run_ok("restore.sh", &[]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no backup repository yet: fresh start"),
        "{}",
        show(&out)
    );
    drop(inst);
    // An initialised repository without snapshots of this host.
    env.init_repo();
    let fresh = env.path("fresh");
    let inst = env.materialise(&env.stack(&fresh, vec![hello()]));
    let out = inst.run_ok("restore.sh", &[]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no snapshot"),
        "{}",
        show(&out)
    );
}

/// After a failed backup: the app answers again (no maintenance page), the status file and the
/// exit code say it failed.
fn assert_recovered(
    env: &TestEnv,
    inst: &LocalInstance,
    out: &std::process::Output,
    host: &str,
    body: &str,
) {
    assert!(
        !out.status.success(),
        "the backup should have failed:\n{}",
        show(out)
    );
    wait_for(30, "the app to answer again", || {
        http_get(env.port, host, "/").status == 200
    });
    assert_eq!(http_get(env.port, host, "/").body.trim(), body);
    let status = inst.backup_status().expect("a status file");
    assert!(status.contains(r#""status":"failed""#), "{status}");
}

#[test]
fn a_missing_repository_fails_the_backup_but_the_apps_come_back() {
    let env = TestEnv::new();
    let inst = env.materialise(&env.stack(&env.data(), vec![hello()]));
    inst.boot();
    // backup.sh does not create repositories (the control plane does): nothing is there.
    let out = inst.run("backup.sh", &[]);
    assert_recovered(&env, &inst, &out, "hello.test", "hello from hello");
    assert!(inst
        .backup_status()
        .unwrap()
        .contains("restic backup failed"));
}

#[test]
fn a_read_only_repository_fails_the_backup_but_the_apps_come_back() {
    let env = TestEnv::new();
    let inst = env.materialise(&env.stack(&env.data(), vec![hello()]));
    inst.boot();
    let repo = env.repo();
    must(
        Command::new("restic")
            .arg("init")
            .env("RESTIC_REPOSITORY", &repo)
            .env("RESTIC_PASSWORD", instance_tests::keys().restic_password()),
    );
    // Root ignores file modes, so make the folder a read-only mount.
    must(Command::new("mount").args(["--bind"]).arg(&repo).arg(&repo));
    must(
        Command::new("mount")
            .args(["-o", "remount,ro,bind"])
            .arg(&repo),
    );
    // restic retries a refused write for about a minute; one pass (no warm-up) is enough here.
    let out = inst
        .script("backup.sh")
        .env("NASSELLA_BACKUP_WARMUP", "0")
        .output()
        .unwrap();
    let _ = Command::new("umount").arg(&repo).status();
    assert_recovered(&env, &inst, &out, "hello.test", "hello from hello");
}

/// A booted hello instance with an initialised repository and 64 MiB of incompressible data, so
/// that a stopped pass without warm-up takes a while.
fn instance_with_a_slow_backup(env: &TestEnv) -> LocalInstance {
    let inst = env.materialise(&env.stack(&env.data(), vec![hello()]));
    inst.boot();
    env.init_repo();
    let blob: Vec<u8> = (0..64u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(env.data().join("hello/data/blob.bin"), blob).unwrap();
    inst
}

#[test]
fn restic_killed_mid_run_fails_the_backup_but_the_apps_come_back() {
    let env = TestEnv::new();
    let inst = instance_with_a_slow_backup(&env);
    let child = inst
        .script("backup.sh")
        .env("NASSELLA_BACKUP_WARMUP", "0")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let container = format!("nassella-restic-{}-backup", env.name);
    wait_for(60, "the restic container", || {
        Command::new("docker")
            .args(["inspect", &container])
            .output()
            .is_ok_and(|o| o.status.success())
    });
    thread::sleep(Duration::from_millis(300));
    must(Command::new("docker").args(["kill", &container]));
    let out = child.wait_with_output().unwrap();
    assert_recovered(&env, &inst, &out, "hello.test", "hello from hello");
    // A kill from outside is not the stopped pass's time limit.
    let status = inst.backup_status().unwrap();
    assert!(!status.contains("time limit"), "{status}");
}

#[test]
fn a_full_data_disk_fails_the_backup_but_the_apps_come_back() {
    let env = TestEnv::new();
    let data = env.path("small");
    must(
        Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=4m", "tmpfs"])
            .arg(&data),
    );
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        }
    }
    let _unmount = Unmount(data.clone());
    let inst = env.materialise(&env.stack(&data, vec![web_and_db("a", "a.test")]));
    inst.boot();
    env.init_repo();
    // Fill the disk to the last page: the pre-backup hook cannot write its dump.
    must(Command::new("sh").arg("-c").arg(format!(
        "cd {} && i=0; while head -c 4096 /dev/zero > fill$i 2>/dev/null; do i=$((i+1)); done; ! echo probe > probe",
        data.display()
    )));
    let out = inst.run("backup.sh", &[]);
    assert_recovered(&env, &inst, &out, "a.test", "web of a");
    assert!(
        inst.backup_status()
            .unwrap()
            .contains("pre-backup hook of a failed"),
        "{}",
        inst.backup_status().unwrap()
    );
}

#[test]
fn the_metadata_firewall_loads_its_own_table_on_the_forward_hook_idempotently() {
    // The unit's own command, as rendered, run twice. It changes this machine's firewall, so
    // the test removes the table afterwards. No packet is sent to 169.254.169.254: this sandbox
    // must not send traffic there (the VM scenarios do, inside the guest), so the test reads
    // the rules back from the kernel.
    use nassella_core::render::firewall::{RULESET_PATH, TABLE, UNIT};
    let env = TestEnv::new();
    let inst = env.materialise(&env.stack(&env.data(), vec![hello()]));
    let unit = inst
        .root()
        .read_to_string(&format!("etc/systemd/system/{UNIT}"));
    let exec = unit
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .expect("ExecStart");
    // On the server the ruleset is at its absolute path; here it is under the files-stage root.
    let exec = exec.replace(
        RULESET_PATH,
        &inst.root().join(RULESET_PATH).to_string_lossy(),
    );
    struct DropTable;
    impl Drop for DropTable {
        fn drop(&mut self) {
            let _ = Command::new("nft")
                .args(["delete", "table", "inet", TABLE])
                .status();
        }
    }
    let _cleanup = DropTable;
    for _ in 0..2 {
        must(Command::new("sh").args(["-c", &exec]));
    }
    let listed = must(Command::new("nft").args(["-j", "list", "table", "inet", TABLE]));
    let json: serde_json::Value = serde_json::from_str(&listed).unwrap();
    let items = json["nftables"].as_array().unwrap();
    let chains: Vec<_> = items.iter().filter_map(|i| i.get("chain")).collect();
    assert_eq!(chains.len(), 1, "{listed}");
    assert_eq!(chains[0]["hook"], "forward", "{listed}");
    assert_eq!(chains[0]["type"], "filter", "{listed}");
    let rules: Vec<String> = items
        .iter()
        .filter_map(|i| i.get("rule"))
        .map(|r| r["expr"].to_string())
        .collect();
    assert_eq!(
        rules.len(),
        2,
        "each rule exactly once after two loads: {listed}"
    );
    assert!(
        rules[0].contains("169.254.169.254") && rules[0].contains("reject"),
        "{listed}"
    );
}

#[test]
fn the_weekly_check_passes_and_every_outcome_is_posted_to_the_notify_url() {
    use std::io::{BufRead as _, BufReader, Read as _, Write as _};
    // A local receiver for the notification: it records each POST body.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "http://127.0.0.1:{}/hook",
        listener.local_addr().unwrap().port()
    );
    let bodies = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    {
        let bodies = bodies.clone();
        thread::spawn(move || {
            for stream in listener.incoming().take(3) {
                let mut stream = stream.unwrap();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut len = 0;
                loop {
                    let mut line = String::new();
                    reader.read_line(&mut line).unwrap();
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        len = v.trim().parse().unwrap();
                    }
                    if line == "\r\n" {
                        break;
                    }
                }
                let mut body = vec![0; len];
                reader.read_exact(&mut body).unwrap();
                bodies
                    .lock()
                    .unwrap()
                    .push(String::from_utf8(body).unwrap());
                stream
                    .write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n")
                    .unwrap();
            }
        });
    }
    let env = TestEnv::new();
    env.init_repo();
    let stack = env.stack(&env.data(), vec![hello()]);
    let backup = stack.backup_settings().unwrap().clone().notify_url(&url);
    let stack = stack.backup(backup);
    let inst = env.materialise(&stack);
    inst.boot();
    inst.run_ok("backup.sh", &[]);
    let out = inst.run_ok("backup.sh", &["check"]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("ok: repository check passed"),
        "{}",
        show(&out)
    );
    wait_for(10, "three notifications", || {
        bodies.lock().unwrap().len() == 3
    });
    let bodies = bodies.lock().unwrap();
    assert!(
        bodies[0].contains(r#""kind":"restore","status":"ok""#)
            && bodies[0].contains("fresh start"),
        "{}",
        bodies[0]
    );
    assert!(
        bodies[1].contains(r#""kind":"backup","status":"ok""#)
            && bodies[1].contains("backup complete"),
        "{}",
        bodies[1]
    );
    assert!(
        bodies[2].contains("repository check passed"),
        "{}",
        bodies[2]
    );
    assert!(bodies[1].contains(&format!(r#""host":"{}""#, env.name)));
}

/// A snapshot as backup.sh made it before the `nassella-initialized` tag existed: the tree at
/// `data` backed up as `/data`, tagged only `nassella`, with the instance's host name.
fn legacy_snapshot(env: &TestEnv, data: &std::path::Path) {
    let repo = env.repo();
    must(
        Command::new("docker")
            .args(["run", "--rm", "--hostname", &env.name])
            .arg("-v")
            .arg(format!("{}:/data:ro", data.display()))
            .arg("-v")
            .arg(format!("{}:{}", repo.display(), repo.display()))
            .arg("-e")
            .arg(format!("RESTIC_REPOSITORY={}", repo.display()))
            .arg("-e")
            .arg(format!(
                "RESTIC_PASSWORD={}",
                instance_tests::keys().restic_password()
            ))
            .args([nassella_testkit::images::RESTIC_IMAGE, "backup", "--host"])
            .args([&env.name, "--tag", "nassella", "/data"]),
    );
}

#[test]
fn a_volume_that_was_never_restored_is_never_backed_up() {
    // The restore failed (or never ran): the volume is blank and has no marker. The backup
    // refuses, reports it, makes no snapshot and stops nothing.
    let env = TestEnv::new();
    env.init_repo();
    let inst = env.materialise(&env.stack(&env.data(), vec![hello()]));
    std::fs::create_dir_all(env.data().join("lost+found")).unwrap();
    let out = inst.run("backup.sh", &[]);
    assert!(!out.status.success(), "{}", show(&out));
    let status = inst.backup_status().expect("a status file");
    assert!(
        status.contains(r#""status":"failed""#) && status.contains("refused"),
        "{status}"
    );
    let snaps = restic_snapshots(&env);
    assert_eq!(snaps.trim(), "[]", "a snapshot was made: {snaps}");
    let all = must(
        Command::new("restic")
            .args(["snapshots", "--json"])
            .env("RESTIC_REPOSITORY", env.repo())
            .env("RESTIC_PASSWORD", instance_tests::keys().restic_password()),
    );
    assert_eq!(all.trim(), "[]", "not even a warm-up snapshot: {all}");
}

#[test]
fn a_restore_skips_snapshots_of_a_volume_that_was_never_restored() {
    let env = TestEnv::new();
    env.init_repo();
    // An older snapshot with the real data, then a newer one of a blank volume, both made by
    // the backup.sh of before (tag `nassella` only).
    let real = env.path("real");
    std::fs::create_dir_all(real.join("hello/data")).unwrap();
    std::fs::write(real.join("hello/data/index.html"), "the real data\n").unwrap();
    legacy_snapshot(&env, &real);
    let blank_then = env.path("blank-then");
    std::fs::create_dir_all(blank_then.join("lost+found")).unwrap();
    legacy_snapshot(&env, &blank_then);

    let blank = env.path("blank");
    let inst = env.materialise(&env.stack(&blank, vec![hello()]));
    let out = inst.run_ok("restore.sh", &[]);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("it holds no data"), "{}", show(&out));
    assert_eq!(
        std::fs::read_to_string(blank.join("hello/data/index.html")).unwrap(),
        "the real data\n",
        "{}",
        show(&out)
    );
    // Once this instance has backed up, its own (tagged) snapshot is the one a restore picks,
    // even though an untagged one is newer.
    inst.boot();
    std::fs::write(blank.join("hello/data/index.html"), "newer real data\n").unwrap();
    inst.run_ok("backup.sh", &[]);
    drop(inst);
    legacy_snapshot(&env, &blank_then);
    let again = env.path("again");
    let inst = env.materialise(&env.stack(&again, vec![hello()]));
    inst.run_ok("restore.sh", &[]);
    assert_eq!(
        std::fs::read_to_string(again.join("hello/data/index.html")).unwrap(),
        "newer real data\n"
    );
}

#[test]
fn a_backup_restarts_only_the_apps_that_were_running() {
    let env = TestEnv::new();
    env.init_repo();
    let inst = env.materialise(&env.stack(
        &env.data(),
        vec![web_and_db("a", "a.test"), web_and_db("b", "b.test")],
    ));
    inst.boot();
    inst.run_ok("app.sh", &["stop", "b"]);
    let out = inst.run("backup.sh", &[]);
    assert!(out.status.success(), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("b is not running"),
        "{}",
        show(&out)
    );
    assert_eq!(http_get(env.port, "a.test", "/").body.trim(), "web of a");
    let running: Vec<String> = inst
        .containers()
        .into_keys()
        .filter(|n| n.starts_with(&format!("{}-b-", env.name)))
        .filter(|n| {
            must(Command::new("docker").args(["inspect", "--format", "{{.State.Running}}", n]))
                .trim()
                == "true"
        })
        .collect();
    assert!(running.is_empty(), "the backup started b: {running:?}");
}

#[test]
fn a_restore_that_cannot_read_the_repository_fails_reports_and_marks_nothing() {
    let env = TestEnv::new();
    // A repository this instance's password does not open.
    must(
        Command::new("restic")
            .arg("init")
            .env("RESTIC_REPOSITORY", env.repo())
            .env("RESTIC_PASSWORD", "another password"),
    );
    let inst = env.materialise(&env.stack(&env.data(), vec![hello()]));
    let out = inst.run("restore.sh", &[]);
    assert!(!out.status.success(), "{}", show(&out));
    assert!(!env.data().join(".nassella/initialized").exists());
    let status = std::fs::read_to_string(inst.state_dir().join("restore-status.json"))
        .expect("a restore status file");
    assert!(
        status.contains(r#""status":"failed""#)
            && status.contains("cannot read the backup repository"),
        "{status}"
    );
    // …and the backup that the timer would start next refuses.
    let out = inst.run("backup.sh", &[]);
    assert!(!out.status.success(), "{}", show(&out));
    assert!(inst.backup_status().unwrap().contains("refused"));
}

#[test]
fn a_unit_failure_is_reported_once_and_its_recovery_once() {
    // What the proxy's and the apps' ExecStopPost=/ExecStartPost= lines run, with the
    // environment systemd gives them.
    let env = TestEnv::new();
    let inst = env.materialise(&env.stack(&env.data(), vec![hello()]));
    let status = || std::fs::read_to_string(inst.state_dir().join("app-hello-status.json")).ok();
    // A clean start and a clean stop say nothing.
    inst.run_ok("report.sh", &["--unit-started", "app-hello"]);
    let out = inst
        .script("report.sh")
        .args(["--unit-stopped", "app-hello"])
        .env("SERVICE_RESULT", "success")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(status(), None);
    // A failed start is reported, with systemd's reason.
    let out = inst
        .script("report.sh")
        .args(["--unit-stopped", "app-hello"])
        .env("SERVICE_RESULT", "exit-code")
        .env("EXIT_CODE", "exited")
        .env("EXIT_STATUS", "1")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", show(&out));
    let failed = status().expect("a status file");
    assert!(
        failed.contains(r#""status":"failed""#) && failed.contains("exit-code: exited 1"),
        "{failed}"
    );
    // The next successful start reports the recovery, once.
    inst.run_ok("report.sh", &["--unit-started", "app-hello"]);
    let ok = status().unwrap();
    assert!(
        ok.contains(r#""status":"ok""#) && ok.contains("up again"),
        "{ok}"
    );
    let out = inst.run_ok("report.sh", &["--unit-started", "app-hello"]);
    assert!(out.stderr.is_empty(), "{}", show(&out));
}

#[test]
fn a_stopped_pass_past_its_time_limit_is_stopped_and_the_apps_come_back() {
    let env = TestEnv::new();
    // The stopped pass outlasts a 1 s limit.
    let inst = instance_with_a_slow_backup(&env);
    let out = inst
        .script("backup.sh")
        .env("NASSELLA_BACKUP_WARMUP", "0")
        .env("NASSELLA_STOPPED_PASS_LIMIT_S", "1")
        .output()
        .unwrap();
    assert_recovered(&env, &inst, &out, "hello.test", "hello from hello");
    let status = inst.backup_status().unwrap();
    assert!(status.contains("time limit"), "{status}\n{}", show(&out));
    let left = must(Command::new("docker").args([
        "ps",
        "-aq",
        "--filter",
        &format!("name=nassella-restic-{}-backup", env.name),
    ]));
    assert!(
        left.trim().is_empty(),
        "the restic container is left: {left}"
    );
}

#[test]
fn the_compose_binary_is_installed_by_a_unit_that_retries_until_the_download_verifies() {
    use nassella_core::Artifact;
    use nassella_testkit as kit;
    let env = TestEnv::new();
    // A download server whose file is first missing (404), then wrong (hash mismatch), then right.
    let served = env.path("www").join("docker-compose");
    std::fs::write(&served, b"placeholder").unwrap();
    let server = kit::serve_file_http(&served);
    std::fs::remove_file(&served).unwrap();
    let mut stack = env.stack(&env.data(), vec![hello()]);
    let instance = stack.instance().clone().docker_compose(Artifact {
        url: server.url(),
        hash: Artifact::docker_compose_default().hash,
    });
    *stack.instance_mut() = instance;
    let inst = env.materialise(&stack);
    // Ignition does not download it any more.
    assert!(!inst.root().join("opt/bin/docker-compose").exists());

    let target = env.path("opt-bin").join("docker-compose");
    let install = || {
        let mut c = inst.script("install-compose.sh");
        c.env("NASSELLA_COMPOSE_TARGET", &target)
            .env("NASSELLA_RETRY_FIRST_S", "1")
            .stderr(std::process::Stdio::piped());
        c
    };
    let child = install().spawn().unwrap();
    wait_for(30, "a failed attempt", || server.requests() >= 1);
    std::fs::write(&served, b"not the binary").unwrap();
    wait_for(30, "a mismatching download", || server.requests() >= 2);
    let tmp = served.with_extension("tmp");
    std::fs::copy(kit::compose_binary_path(), &tmp).unwrap();
    std::fs::rename(&tmp, &served).unwrap();
    let out = child.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    assert!(
        log.contains("attempt 1: downloading") && log.contains("failed (curl exit 22)"),
        "{log}"
    );
    assert!(log.contains("not the pinned"), "{log}");
    assert!(log.contains("installed"), "{log}");
    assert_eq!(
        std::fs::read(&target).unwrap(),
        std::fs::read(kit::compose_binary_path()).unwrap()
    );
    // Next boot: verified in place, nothing downloaded.
    let before = server.requests();
    let out = install().output().unwrap();
    assert!(out.status.success(), "{}", show(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("in place and verified"));
    assert_eq!(server.requests(), before);
}
