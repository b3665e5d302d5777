//! The compose binary's download fails at first boot — a 404, a cut transfer, wrong bytes — and
//! the boot still completes: the download is retried (with back-off) until it succeeds, without
//! a reboot.

use std::time::{Duration, Instant};

use vm_tests::{limits, restic_password, Failure, VmStack, Volume, HELLO_HOST};

#[test]
fn failed_downloads_at_first_boot_are_retried_and_the_site_serves() {
    let failures = vec![
        Failure::Status(404),
        Failure::CutTransfer,
        Failure::WrongBytes,
    ];
    let stack = VmStack::with_download_failures("vmdownload", vec![], failures.clone());
    let repo = Volume::repository(&restic_password(), 256);
    let data = Volume::blank("100005", 1024);
    let mut vm = stack.vm("download");
    let started = Instant::now();
    vm.boot(&[&data, &repo]);
    vm.wait_serving(HELLO_HOST, "hello", limits::SERVING);
    eprintln!(
        "FIGURE boot to serving with {} failed downloads (TCG): {:.0} s",
        failures.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        stack.mirror().requests() > failures.len(),
        "{} requests",
        stack.mirror().requests()
    );
    assert_eq!(vm_tests::journal_boots(&vm), 1, "the guest rebooted");
    let log = vm.sh("journalctl -b --no-pager | grep nassella-compose-install || true");
    assert!(log.contains("retrying"), "{log}");
    vm.power_off(Duration::from_secs(180));
}
