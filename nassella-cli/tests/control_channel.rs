//! The control channel against a real restic repository (a local folder): requests written by
//! the control plane's own code ([`nassella_cli::control`]), the server's `control.sh` run for
//! real on the Docker engine (as `nassella-control.timer` runs it, with the instance's
//! `backup.sh`, Compose v2 and the locally built restic image), and the `nassella` binary
//! waiting for an outcome written by that script.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use instance_tests::{hello, TestEnv};
use nassella_cli::control::{Channel, Kind, Outcome, Request, State};
use nassella_testkit::instance::{http_get, must, show, tree_hashes, LocalInstance};

/// The master key of `instance_tests::keys()` (the public test key), for the binary.
const TEST_KEY: &str = "0707070707070707070707070707070707070707070707070707070707070707";

fn channel(env: &TestEnv) -> Channel {
    Channel {
        repository: env.repo().to_string_lossy().into_owned(),
        password: instance_tests::keys().restic_password(),
        host: env.name.clone(),
    }
}

/// This instance's snapshots carrying `tag`, oldest first.
fn snapshots(env: &TestEnv, tag: &str) -> Vec<serde_json::Value> {
    let out = must(
        Command::new("restic")
            .args(["snapshots", "--json", "--no-lock", "--host", &env.name])
            .args(["--tag", tag])
            .env("RESTIC_REPOSITORY", env.repo())
            .env("RESTIC_PASSWORD", instance_tests::keys().restic_password())
            .env("RESTIC_CACHE_DIR", env.path("host-cache")),
    );
    serde_json::from_str::<Option<Vec<serde_json::Value>>>(&out)
        .unwrap()
        .unwrap_or_default()
}

fn ids(snaps: &[serde_json::Value]) -> Vec<String> {
    snaps
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_owned())
        .collect()
}

fn now() -> i64 {
    i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap()
}

/// A request with explicit times (ids stay random).
fn request(kind: Kind, created: i64, expires: i64) -> Request {
    Request {
        created,
        expires,
        ..Request::new(kind, Duration::from_secs(1)).unwrap()
    }
}

/// The final outcome of request `id`.
fn outcome(env: &TestEnv, id: &str) -> Outcome {
    let (o, _) = channel(env).outcome(id).unwrap();
    let o = o.unwrap_or_else(|| panic!("no outcome for {id}"));
    assert_ne!(o.state, State::Started, "{o:?}");
    o
}

fn requests_done(data: &Path) -> String {
    std::fs::read_to_string(data.join(".nassella/requests-done")).unwrap_or_default()
}

/// The server's poll, as its timer runs it.
fn poll(inst: &LocalInstance) -> String {
    show(&inst.run_ok("control.sh", &[]))
}

fn booted(env: &TestEnv) -> LocalInstance {
    env.init_repo();
    let inst = env.materialise(&env.stack(&env.data(), vec![hello()]));
    inst.boot();
    inst
}

#[test]
fn a_request_is_acted_on_once_its_outcome_names_the_snapshot_and_restore_never_sees_the_channel() {
    let env = TestEnv::new();
    let inst = booted(&env);
    std::fs::write(
        env.data().join("hello/data/notes.txt"),
        "before the backup\n",
    )
    .unwrap();
    let ch = channel(&env);

    // Nothing asked: a poll changes nothing.
    let log = poll(&inst);
    assert!(snapshots(&env, "nassella").is_empty(), "{log}");

    let req = Request::new(Kind::Backup, Duration::from_secs(600)).unwrap();
    ch.write(&req).unwrap();
    let log = poll(&inst);
    let backups = ids(&snapshots(&env, "nassella"));
    assert_eq!(backups.len(), 1, "one backup made:\n{log}");
    let o = outcome(&env, &req.id);
    assert_eq!(o.state, State::Succeeded, "{o:?}\n{log}");
    assert_eq!(o.snapshot.as_deref(), Some(backups[0].as_str()));
    assert!(o.finished.ends_with('Z'), "{o:?}");
    assert!(
        snapshots(&env, "nassella-request").is_empty(),
        "an answered request is forgotten:\n{log}"
    );
    assert_eq!(
        requests_done(&env.data()),
        format!("{} succeeded\n", req.id)
    );
    assert_eq!(http_get(env.port, "hello.test", "/notes.txt").status, 200);

    // The same request again (a replayed snapshot with that id): not acted on, forgotten.
    let outcomes_before = ids(&snapshots(&env, "nassella-outcome"));
    ch.write(&req).unwrap();
    let log = poll(&inst);
    assert_eq!(
        ids(&snapshots(&env, "nassella")),
        backups,
        "no second backup:\n{log}"
    );
    assert_eq!(ids(&snapshots(&env, "nassella-outcome")), outcomes_before);
    assert!(snapshots(&env, "nassella-request").is_empty(), "{log}");

    // A request nobody has acted on yet and the unread outcomes are newer than the backup:
    // the restore's `latest` still is the backup, and a blank volume gets exactly its data.
    ch.write(&Request::new(Kind::Backup, Duration::from_secs(600)).unwrap())
        .unwrap();
    assert_eq!(snapshots(&env, "nassella-request").len(), 1);
    assert!(!snapshots(&env, "nassella-outcome").is_empty());
    let data2 = env.path("data2");
    let inst2 = env.materialise(&env.stack(&data2, vec![hello()]));
    let out = inst2.run_ok("restore.sh", &[]);
    assert_eq!(
        std::fs::read_to_string(data2.join("hello/data/notes.txt")).unwrap(),
        "before the backup\n",
        "{}",
        show(&out)
    );
    assert_eq!(tree_hashes(&data2), tree_hashes(&env.data()));
}

#[test]
fn expired_requests_and_requests_older_than_the_restore_are_answered_failed_and_not_acted_on() {
    let env = TestEnv::new();
    let inst = booted(&env);
    inst.run_ok("backup.sh", &[]);
    let ch = channel(&env);
    // Made for the old server, before the new one restored the volume.
    let before_restore = Request::new(Kind::Backup, Duration::from_secs(3600)).unwrap();
    ch.write(&before_restore).unwrap();
    std::thread::sleep(Duration::from_millis(1200));

    // The new server: a blank volume restored from the backup.
    let data2 = env.path("data2");
    let inst2 = env.materialise(&env.stack(&data2, vec![hello()]));
    inst2.run_ok("restore.sh", &[]);
    assert!(data2.join("hello").exists(), "restored");
    let t = now();
    let expired = request(Kind::Backup, t - 700, t - 100);
    ch.write(&expired).unwrap();
    let backups = ids(&snapshots(&env, "nassella"));

    let log = poll(&inst2);
    assert_eq!(
        ids(&snapshots(&env, "nassella")),
        backups,
        "no backup made:\n{log}"
    );
    let o = outcome(&env, &expired.id);
    assert_eq!(o.state, State::Failed);
    assert!(o.error.as_deref().unwrap().contains("expired"), "{o:?}");
    let o = outcome(&env, &before_restore.id);
    assert_eq!(o.state, State::Failed);
    assert!(
        o.error
            .as_deref()
            .unwrap()
            .contains("before this data volume was restored"),
        "{o:?}"
    );
    assert!(
        snapshots(&env, "nassella-request").is_empty(),
        "both forgotten:\n{log}"
    );
    // Answered once: a second poll writes nothing more.
    let outcomes = ids(&snapshots(&env, "nassella-outcome"));
    poll(&inst2);
    assert_eq!(ids(&snapshots(&env, "nassella-outcome")), outcomes);
}

#[test]
fn two_requests_at_once_are_each_acted_on_once_oldest_first() {
    let env = TestEnv::new();
    let inst = booted(&env);
    let ch = channel(&env);
    let t = now();
    // Written newest first: the order comes from their creation times.
    let second = request(Kind::Backup, t + 1, t + 600);
    let first = request(Kind::Backup, t, t + 600);
    ch.write(&second).unwrap();
    ch.write(&first).unwrap();

    let log = poll(&inst);
    assert_eq!(
        requests_done(&env.data()),
        format!("{} succeeded\n{} succeeded\n", first.id, second.id),
        "{log}"
    );
    let (a, b) = (outcome(&env, &first.id), outcome(&env, &second.id));
    assert_eq!((a.state, b.state), (State::Succeeded, State::Succeeded));
    assert_ne!(a.snapshot, b.snapshot, "one backup each");
    assert!(a.finished <= b.finished, "{a:?} {b:?}");
    // The second is the newest snapshot (retention keeps one per day, so the first one's
    // snapshot is gone: docs/runtime.md).
    assert_eq!(
        ids(&snapshots(&env, "nassella")).last(),
        b.snapshot.as_ref(),
        "{log}"
    );
    let outcomes = ids(&snapshots(&env, "nassella-outcome"));
    poll(&inst);
    assert_eq!(
        ids(&snapshots(&env, "nassella-outcome")),
        outcomes,
        "acted on once"
    );
}

#[test]
fn a_request_left_while_the_server_is_down_is_acted_on_when_it_is_back() {
    let env = TestEnv::new();
    let inst = booted(&env);
    // The server goes down (apps and proxy stopped, no poll)…
    inst.run_ok("app.sh", &["down", "hello"]);
    inst.run_ok("app.sh", &["down", "proxy"]);
    let req = Request::new(Kind::Backup, Duration::from_secs(600)).unwrap();
    channel(&env).write(&req).unwrap();
    std::thread::sleep(Duration::from_secs(2));
    // …and boots again: the volume was initialised before, so the request is not older than it.
    inst.boot();
    let log = poll(&inst);
    let o = outcome(&env, &req.id);
    assert_eq!(o.state, State::Succeeded, "{o:?}\n{log}");
    assert_eq!(
        ids(&snapshots(&env, "nassella")).last(),
        o.snapshot.as_ref()
    );
    assert_eq!(http_get(env.port, "hello.test", "/").status, 200);
}

#[test]
fn a_final_backup_leaves_the_apps_stopped_and_nothing_backs_up_after_it() {
    let env = TestEnv::new();
    let inst = booted(&env);
    let ch = channel(&env);
    let fin = Request::new(Kind::FinalBackup, Duration::from_secs(600)).unwrap();
    ch.write(&fin).unwrap();
    let log = poll(&inst);
    let o = outcome(&env, &fin.id);
    assert_eq!(o.state, State::Succeeded, "{o:?}\n{log}");
    let snap = o.snapshot.unwrap();
    let r = http_get(env.port, "hello.test", "/");
    assert_eq!(r.status, 503, "the maintenance page stays up: {r:?}\n{log}");

    // Later: a backup request fails, the daily backup does nothing, a final-backup request is
    // answered with the same snapshot; the apps stay stopped throughout.
    let again = Request::new(Kind::Backup, Duration::from_secs(600)).unwrap();
    ch.write(&again).unwrap();
    poll(&inst);
    let o = outcome(&env, &again.id);
    assert_eq!(o.state, State::Failed);
    assert!(o.error.unwrap().contains("final backup"));
    let out = inst.run_ok("backup.sh", &[]);
    assert!(show(&out).contains("skipped"), "{}", show(&out));
    let fin2 = Request::new(Kind::FinalBackup, Duration::from_secs(600)).unwrap();
    ch.write(&fin2).unwrap();
    poll(&inst);
    assert_eq!(
        outcome(&env, &fin2.id).snapshot.as_deref(),
        Some(snap.as_str())
    );
    assert_eq!(ids(&snapshots(&env, "nassella")), vec![snap]);
    assert_eq!(http_get(env.port, "hello.test", "/").status, 503);
}

/// A Hetzner config for this test's instance, backing up to its repository (no provider token
/// is needed to back up).
fn hetzner_config(env: &TestEnv) -> std::path::PathBuf {
    let cfg = env.path("cfg").join("hetzner.config");
    std::fs::write(
        &cfg,
        format!(
            "[instance]\nname = \"{}\"\nprovider = \"hetzner\"\ntls = {{ mode = \"http_only\" }}\n\n[backup]\nrepository = \"{}\"\n\n[apps.hello]\napp = \"hello\"\nhost = \"hello.test\"\n",
            env.name,
            env.repo().display()
        ),
    )
    .unwrap();
    cfg
}

/// The real `nassella` binary with `args` and `--config cfg`, the test master key and state.
fn nassella(env: &TestEnv, cfg: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_nassella"));
    c.args(args)
        .arg("--config")
        .arg(cfg)
        .env("NASSELLA_MASTER_KEY", TEST_KEY)
        .env("NASSELLA_STATE_DIR", env.path("state"))
        .env("RESTIC_CACHE_DIR", env.path("cli-cache"))
        .env_remove("NASSELLA_MASTER_KEY_FILE")
        .env_remove("HCLOUD_TOKEN");
    c
}

/// Until `f` holds, or panic after `secs`.
fn wait_for(secs: u64, what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(
            start.elapsed() < Duration::from_secs(secs),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

#[test]
fn backups_create_on_a_cloud_target_waits_for_the_outcome_the_server_script_writes() {
    let env = TestEnv::new();
    let inst = booted(&env);
    let cfg = hetzner_config(&env);
    let mut child = nassella(&env, &cfg, &["backups", "create", "--timeout", "5"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Its progress, line by line; the server's timer fires once it says it is waiting.
    let (waiting_tx, waiting) = std::sync::mpsc::channel();
    let stderr_reader = {
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            let mut all = String::new();
            for line in std::io::BufRead::lines(std::io::BufReader::new(stderr)) {
                let line = line.unwrap();
                if line.contains("the server has not picked it up yet (it looks every 5 min)") {
                    let _ = waiting_tx.send(());
                }
                all.push_str(&line);
                all.push('\n');
            }
            all
        })
    };
    let said = waiting.recv_timeout(Duration::from_secs(120));
    assert!(
        said.is_ok() && !snapshots(&env, "nassella-request").is_empty(),
        "no request written, or no progress"
    );
    let log = poll(&inst);
    let out = child.wait_with_output().unwrap();
    let stderr = stderr_reader.join().unwrap();
    assert!(out.status.success(), "{stderr}\n{}\n{log}", show(&out));
    let made = ids(&snapshots(&env, "nassella"));
    assert_eq!(made.len(), 1);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), made[0]);
    assert!(
        stderr.contains(&format!("backed up: snapshot {}", &made[0][..8])),
        "{stderr}"
    );
    assert!(
        snapshots(&env, "nassella-outcome").is_empty(),
        "the outcome is forgotten once read"
    );
    // `backups list` shows the backup only.
    let out = nassella(&env, &cfg, &["backups", "list", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", show(&out));
    let listed: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(ids(&listed), made);
}

#[test]
fn a_server_stopped_during_the_backup_answers_interrupted_and_never_runs_it_twice() {
    use std::os::unix::process::CommandExt as _;
    let env = TestEnv::new();
    let inst = booted(&env);
    let req = Request::new(Kind::Backup, Duration::from_secs(600)).unwrap();
    channel(&env).write(&req).unwrap();
    // The poll runs in a process group of its own, so that the stop reaches every process of
    // it, as systemd's stop of the unit does.
    let mut poll_run = inst.script("control.sh");
    poll_run
        .process_group(0)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = poll_run.spawn().unwrap();
    wait_for(120, "the `started` outcome", || {
        channel(&env).outcome(&req.id).unwrap().0.is_some()
    });
    let group = format!("-{}", child.id());
    assert!(Command::new("kill")
        .args(["-TERM", "--", &group])
        .status()
        .unwrap()
        .success());
    let _ = child.wait();
    // As systemd's stop does, wait for every process of the run to end (backup.sh's trap
    // starts the apps again first).
    wait_for(120, "the stopped run's processes to end", || {
        !Command::new("kill")
            .args(["-0", "--", &group])
            .stderr(Stdio::null())
            .status()
            .unwrap()
            .success()
    });
    assert!(
        requests_done(&env.data()).contains(&format!("{} started", req.id)),
        "{}",
        requests_done(&env.data())
    );
    let backups = ids(&snapshots(&env, "nassella"));

    // The server is back: the request is answered, not run again.
    let log = poll(&inst);
    let (o, _) = channel(&env).outcome(&req.id).unwrap();
    let o = o.unwrap();
    assert_ne!(o.state, State::Started, "{o:?}\n{log}");
    assert_eq!(o.state, State::Failed, "{o:?}\n{log}");
    assert!(o.error.as_deref().unwrap().contains("interrupted"), "{o:?}");
    assert_eq!(
        ids(&snapshots(&env, "nassella")),
        backups,
        "no second run:\n{log}"
    );
    assert!(snapshots(&env, "nassella-request").is_empty(), "{log}");
    // backup.sh's trap started the app again (or it was never stopped).
    wait_for(60, "the app to answer", || {
        http_get(env.port, "hello.test", "/").status == 200
    });
}

#[test]
fn backups_create_times_out_when_no_server_answers_and_its_request_expires() {
    let env = TestEnv::new();
    env.init_repo();
    let cfg = hetzner_config(&env);
    let start = Instant::now();
    let out = nassella(&env, &cfg, &["backups", "create", "--timeout", "1"])
        .output()
        .unwrap();
    assert!(!out.status.success(), "{}", show(&out));
    assert!(start.elapsed() >= Duration::from_secs(60));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("the server has not picked up request") && err.contains("has expired"),
        "{err}"
    );
    // The request it left has expired: a server that comes back later answers it `failed`.
    let left = snapshots(&env, "nassella-request");
    assert_eq!(left.len(), 1);
    let tags: Vec<&str> = left[0]["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    let expires: i64 = tags
        .iter()
        .find_map(|t| t.strip_prefix("expires="))
        .unwrap()
        .parse()
        .unwrap();
    assert!(expires <= now(), "{tags:?}");
}
