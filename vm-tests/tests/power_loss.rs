//! An unclean power-off (QMP `quit`, a pulled plug): on the next boot Docker restarts the
//! containers that have a restart policy by itself, before any unit ordered after it. No
//! container may reach the cloud metadata address (it serves the user data, with secrets) at
//! any moment: a stand-in listener at 169.254.169.254, one routed hop away, counts every
//! connection while a probing container tries five times a second.

use std::time::Duration;

use nassella_core::{App, AppContext, Contribution, Route, Service, Upstream};
use nassella_testkit::images::HELLO_IMAGE;
use vm_tests::{limits, restic_password, VmStack, Volume, HELLO_HOST};

/// An app whose only service serves `probe.test` and, from its first moment, keeps trying to
/// reach the metadata address.
#[derive(Debug)]
struct MetadataProbe;

const PROBE_HOST: &str = "probe.test";

impl App for MetadataProbe {
    fn kind(&self) -> &str {
        "probe"
    }
    fn contribute(&self, _cx: &AppContext<'_>) -> Contribution {
        let mut c = Contribution::new();
        c.service(
            Service::new("probe", HELLO_IMAGE)
                .command([
                    "sh",
                    "-c",
                    "trap 'exit 0' TERM; mkdir -p /tmp/www; echo probing > /tmp/www/index.html; \
                     (while :; do echo | nc -w 1 169.254.169.254 80 >/dev/null 2>&1; \
                     sleep 0.2; done) & httpd -f -p 8080 -h /tmp/www & wait",
                ])
                .port(8080),
        );
        c.route(Route::new(PROBE_HOST).proxy(Upstream::new("probe", 8080)));
        c
    }
}

fn metadata_hits(vm: &vm_tests::Vm) -> usize {
    vm.sh("cat /run/nassella-harness/metadata-hits 2>/dev/null | wc -l")
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn after_a_power_cut_no_container_reaches_the_metadata_address() {
    let stack = VmStack::new("vmpower", vec![Box::new(MetadataProbe)]);
    let repo = Volume::repository(&restic_password(), 256);
    let data = Volume::blank("100004", 1024);
    let mut vm = stack.vm("power-cut");
    vm.boot(&[&data, &repo]);
    vm.wait_serving(PROBE_HOST, "probing", limits::SERVING);
    vm.wait_serving(HELLO_HOST, "hello", limits::SERVING);
    std::thread::sleep(Duration::from_secs(10));
    assert_eq!(metadata_hits(&vm), 0, "first boot\n{}", vm.diagnostics());

    vm.power_cut();
    vm.boot(&[&data, &repo]);
    vm.wait_serving(PROBE_HOST, "probing", limits::SERVING);
    // The probe ran through the whole boot; give it some more time.
    std::thread::sleep(Duration::from_secs(20));
    let hits = metadata_hits(&vm);
    assert_eq!(
        hits,
        0,
        "containers reached the metadata address {hits} times after the power cut\n{}",
        vm.diagnostics()
    );
    // Controls, so that the count above can fail: the stand-in answers a request from the
    // host itself (not forwarded, so not filtered), and once the instance's firewall table is
    // removed the probing container reaches it within seconds.
    let direct = vm.sh("curl -s --max-time 5 http://169.254.169.254/");
    assert!(direct.contains("user data"), "{direct}");
    assert_eq!(metadata_hits(&vm), 1);
    vm.sh("nft delete table inet nassella_metadata");
    vm.wait_until(
        "the probe to reach the stand-in without the firewall",
        Duration::from_secs(120),
        || (metadata_hits(&vm) > 1).then_some(()),
    );
    vm.power_off(Duration::from_secs(180));
}
