//! A restore that fails at boot (the repository unreachable), then the backup timer fires: no
//! snapshot of the blank volume is made, the failure is reported, the apps are not started,
//! nothing is rolled back; once the repository is back the restore completes and the site
//! serves the real data.

use std::time::{Duration, Instant};

use vm_tests::{
    guest_snapshots, guest_tree_hashes, limits, restic_password, VmStack, Volume, HELLO_HOST,
};

// Fails today, on a real bug this harness found (issue #9 stays open for it): when the restore
// fails at boot, the proxy's and apps' start jobs fail with `dependency`, and nothing starts
// them again once the restore succeeds (by its own retry or pulled in by the backup), so the
// site stays down until a reboot. Run it with `--run-ignored all` while fixing that.
#[test]
#[ignore = "known bug: apps are not started again after a restore that failed at boot succeeds (issue #9)"]
fn backup_after_a_failed_restore_makes_no_snapshot_and_the_restore_completes_later() {
    let name = "vmrestore";
    let stack = VmStack::new(name, vec![]);
    // The data the instance had: the hello app's page and a file beside it.
    let data = tempfile::tempdir().unwrap();
    let app = data.path().join("hello/data");
    std::fs::create_dir_all(&app).unwrap();
    std::fs::write(app.join("index.html"), "hello from the backup\n").unwrap();
    std::fs::write(app.join("notes.txt"), "kept across replacement\n").unwrap();
    // (No `.nassella/`: backup.sh excludes it, see excludes.txt.)
    let repo = Volume::repository_with_snapshot(&restic_password(), 256, name, data.path());
    let volume = Volume::blank("100003", 1024);

    let mut vm = stack.vm("restore-fails");
    let started = Instant::now();
    // The repository disk is not there: restic cannot open the repository.
    vm.boot(&[&volume]);
    vm.wait_for_agent(limits::AGENT);
    vm.wait_until(
        "the restore to fail on the unreachable repository",
        limits::SERVING,
        || {
            vm.sh("journalctl -b -u nassella-restore.service --no-pager")
                .contains("cannot read the backup repository")
                .then_some(())
        },
    );
    assert_ne!(vm.http_get(HELLO_HOST, "/").status, 200);

    // The backup timer fires while the repository is still away: the backup fails, reports it,
    // and starts no app.
    let early = vm
        .try_sh(
            "systemctl start nassella-backup.service",
            Duration::from_secs(900),
        )
        .expect("the agent answers");
    assert!(!early.ok(), "a backup of a volume never restored succeeded");
    // It did not even run: its start failed with the restore it requires ("inactive"), or it
    // ran and refused ("failed").
    let state = vm.unit_state("nassella-backup.service");
    assert!(
        state == "inactive" || state == "failed",
        "nassella-backup.service is {state}"
    );
    // backup.sh itself (what the unit runs) refuses a volume without the initialised marker.
    let script = vm
        .try_sh("/etc/nassella/bin/backup.sh", Duration::from_secs(900))
        .expect("the agent answers");
    let status = vm.sh("cat /var/lib/nassella/backup-status.json");
    assert!(
        !script.ok() && status.contains("\"failed\"") && status.contains("refused"),
        "backup.sh on an uninitialised volume: exit {}\n{}\nstatus: {status}",
        script.code,
        script.text
    );
    let running = vm.sh("docker ps --format '{{.Names}}'");
    assert!(
        !running.contains("hello"),
        "the backup started an app on the blank volume: {running}"
    );

    // The repository comes back and the backup timer fires before any retry of the restore
    // could have run: a backup now must not snapshot the blank volume.
    vm.attach(&repo);
    vm.wait_until("the repository disk to be mounted", limits::AGENT, || {
        vm.try_sh("mountpoint -q /srv/backup", Duration::from_secs(30))
            .filter(|o| o.ok())
    });
    let backup = vm
        .try_sh(
            "systemctl start nassella-backup.service",
            Duration::from_secs(900),
        )
        .expect("the agent answers");
    let status = vm.sh("cat /var/lib/nassella/backup-status.json 2>/dev/null || true");
    let snapshots = guest_snapshots(&vm);
    eprintln!(
        "backup after the failed restore: exit {} ({}); status: {status}; snapshots: {snapshots:?}",
        backup.code,
        backup.text.trim()
    );

    // Whatever ran, the site ends up serving the data of the backup, never an empty volume.
    vm.wait_serving(HELLO_HOST, "hello from the backup", limits::SERVING);
    eprintln!(
        "FIGURE failed restore, backup refused, repository back to serving (TCG): {:.0} s",
        started.elapsed().as_secs_f64()
    );
    let hashes = guest_tree_hashes(&vm, "/srv/data");
    assert!(
        hashes.contains("./hello/data/notes.txt"),
        "restored tree:\n{hashes}"
    );
    let expected = nassella_testkit::instance::tree_hashes(&data.path().join("hello"));
    for (rel, sum) in &expected {
        assert!(
            hashes.contains(&format!("{sum}  ./hello/{rel}")),
            "{rel} was not restored as it was ({sum}):\n{hashes}"
        );
    }
    // No snapshot of the blank volume: the newest snapshot (the backup may have run once the
    // restore it requires had put the data back; `forget` keeps one a day) holds the data.
    let newest = vm.sh(&format!(
        "docker run --rm -v /srv/backup:/srv/backup -e RESTIC_PASSWORD={} {} \\
         -r {} dump --no-lock latest /data/hello/data/notes.txt",
        restic_password(),
        nassella_testkit::images::RESTIC_IMAGE,
        vm_tests::REPOSITORY
    ));
    assert!(
        newest.contains("kept across replacement"),
        "the newest snapshot lacks the data: {:?}\n{}",
        guest_snapshots(&vm),
        vm.diagnostics()
    );
    if !backup.ok() {
        assert!(
            status.contains("failed"),
            "a failed backup is reported: {status}"
        );
    }
    vm.power_off(Duration::from_secs(180));
}
