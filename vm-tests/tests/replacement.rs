//! Replacement: the data volume of a serving instance moves to a new server. VM 1's apps are
//! stopped and it is shut down (as the control plane does before it detaches the volume), VM 2
//! — already running, waiting for its volume — gets it attached and serves the same data, file
//! for file, without a restore and without a reboot.

use std::time::{Duration, Instant};

use vm_tests::{guest_tree_hashes, limits, restic_password, VmStack, Volume, HELLO_HOST};

#[test]
fn the_volume_moved_to_a_new_vm_serves_the_same_data() {
    let stack = VmStack::new("vmmove", vec![]);
    let repo = Volume::repository(&restic_password(), 256);
    let data = Volume::blank("100006", 1024);
    let mut old = stack.vm("replace-old");
    let mut new = stack.vm("replace-new");
    old.boot(&[&data, &repo]);
    old.wait_serving(HELLO_HOST, "hello", limits::SERVING);
    // The instance's data grows while it serves.
    old.sh(
        "printf 'written on the old server\\n' > /srv/data/hello/data/index.html && \
         head -c 3000000 /dev/urandom > /srv/data/hello/data/blob.bin && sync",
    );
    old.wait_serving(HELLO_HOST, "written on the old server", limits::SERVING);

    // The new server boots while the old one still serves (two VMs at once).
    new.boot(&[]);
    new.wait_for_agent(limits::AGENT);

    old.sh("systemctl stop 'nassella-app@*.service' nassella-proxy.service");
    let before = guest_tree_hashes(&old, "/srv/data");
    assert!(before.contains("blob.bin"), "{before}");
    old.power_off(Duration::from_secs(300));

    let moved = Instant::now();
    new.attach(&data);
    new.wait_serving(HELLO_HOST, "written on the old server", limits::SERVING);
    eprintln!(
        "FIGURE replacement: volume attached to the running new VM to serving (TCG): {:.0} s",
        moved.elapsed().as_secs_f64()
    );
    let after = guest_tree_hashes(&new, "/srv/data");
    assert_eq!(before, after, "the data changed on the way");
    assert_eq!(vm_tests::journal_boots(&new), 1, "the new VM rebooted");
    new.power_off(Duration::from_secs(180));
}
