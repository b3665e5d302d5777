//! First boot of an instance in a VM: a blank Hetzner-style volume, attached at boot or minutes
//! later (a separate Terraform step after the server exists), is formatted, mounted, restored
//! (here: a fresh start, the repository is empty) and served, without a reboot.

use std::time::{Duration, Instant};

use vm_tests::{limits, restic_password, VmStack, Volume, HELLO_HOST};

/// The boot is the machine's only one: QEMU runs with `-no-reboot`, so a reboot would end the
/// process; the journal is asked too.
fn assert_single_boot(vm: &vm_tests::Vm) {
    assert_eq!(
        vm_tests::journal_boots(vm),
        1,
        "the guest rebooted:\n{}",
        vm.diagnostics()
    );
}

#[test]
fn blank_volume_attached_at_boot_is_served() {
    let stack = VmStack::new("vmfirst", vec![]);
    let repo = Volume::repository(&restic_password(), 256);
    let data = Volume::blank("100001", 1024);
    let mut vm = stack.vm("first-boot");
    let started = Instant::now();
    vm.boot(&[&data, &repo]);
    vm.wait_serving(HELLO_HOST, "hello", limits::SERVING);
    eprintln!(
        "FIGURE boot to serving on a blank volume (TCG): {:.0} s",
        started.elapsed().as_secs_f64()
    );
    assert_single_boot(&vm);
    let fs = vm.sh("blkid -o export /dev/disk/by-id/scsi-0HC_Volume_100001");
    assert!(
        fs.contains("LABEL=nassella-data") && fs.contains("TYPE=ext4"),
        "{fs}"
    );
    let marker = vm.sh("cat /srv/data/.nassella/initialized");
    assert!(marker.contains("fresh start"), "{marker}");
    // Flatcar's /usr is read-only: nothing the boot ran may have written below it. (The images'
    // tarball was copied into the root when the image was made, after the base tree.)
    let changed = vm.sh("find /usr -xdev -newer /var/lib/nassella-harness/images.tar | head");
    assert!(changed.trim().is_empty(), "written below /usr: {changed}");
    vm.power_off(Duration::from_secs(180));
}

#[test]
fn blank_volume_attached_three_minutes_after_boot_is_served_without_reboot() {
    let stack = VmStack::new("vmlate", vec![]);
    let repo = Volume::repository(&restic_password(), 256);
    let data = Volume::blank("100002", 1024);
    let mut vm = stack.vm("late-volume");
    vm.boot(&[&repo]);
    vm.wait_for_agent(limits::AGENT);
    // Past systemd's 90 s device timeout and well into the boot's waiting.
    let attach_at = Duration::from_secs(180);
    std::thread::sleep(attach_at.saturating_sub(vm.since_boot()));
    assert_eq!(
        vm.http_get(HELLO_HOST, "/").status,
        0,
        "nothing can serve before the volume exists"
    );
    let attached = Instant::now();
    vm.attach(&data);
    vm.wait_serving(HELLO_HOST, "hello", limits::SERVING);
    eprintln!(
        "FIGURE volume attached {:.0} s after boot to serving (TCG): {:.0} s",
        attach_at.as_secs_f64(),
        attached.elapsed().as_secs_f64()
    );
    assert_single_boot(&vm);
    vm.power_off(Duration::from_secs(180));
}
