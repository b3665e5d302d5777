//! The VM harness: boots the rendered instance in QEMU under real systemd and udev.
//!
//! * [`base`]: this machine's Debian kernel and initrd, and a Debian bookworm root made by
//!   `mmdebstrap` (systemd, udev, Docker, e2fsprogs, iptables/nftables, curl), cached.
//! * [`image::RootImage`]: per VM, that root with the instance's Ignition config applied by the
//!   real Ignition `files` stage (on the host, into the tree) and the stack's container images.
//! * [`vm::Vm`]: QEMU under TCG with the data volume as a hot-pluggable SCSI disk over QMP
//!   ([`vm::Volume`], moved between VMs), the backup repository on a disk of its own, user
//!   networking with `restrict=on`, and a test-only agent on a virtio-serial port.
//! * [`VmStack`]: the stack the scenarios boot (Hetzner provider, the hello app, local images),
//!   and [`Mirror`], the compose download the guest reaches (failing on request).
//!
//! `docs/testing.md` ("The VM harness") says what each shim is for and what a Debian VM cannot
//! show of Flatcar.

pub mod agent;
pub mod base;
pub mod image;
pub mod mirror;
pub mod qmp;
pub mod vm;

use std::process::Command;
use std::time::Duration;

use nassella_apps::Hello;
use nassella_core::{
    build, App, Artifact, Backup, Instance, Keys, MasterKey, Provider, Stack, Tls,
};
use nassella_testkit::images::{ensure_test_images, CADDY_IMAGE, HELLO_IMAGE, RESTIC_IMAGE};

pub use image::RootImage;
pub use mirror::{Failure, Mirror};
pub use vm::{Vm, VmOptions, Volume};

/// Where the repository disk is mounted in the guest, and the instance's repository on it.
pub const REPOSITORY: &str = "/srv/backup/repo";

/// The hello app's host name.
pub const HELLO_HOST: &str = "hello.test";

/// Run a host command; its stdout.
///
/// # Panics
/// When it fails, with its output.
pub fn must(cmd: &mut Command) -> String {
    nassella_testkit::instance::must(cmd)
}

/// The keys every VM test uses (the public test key).
#[must_use]
pub fn keys() -> Keys {
    Keys::new(MasterKey::insecure_test_key())
}

/// The stack the scenarios boot: a Hetzner instance (so the units wait for
/// `/dev/disk/by-id/scsi-0HC_Volume_*` and the metadata firewall is in), HTTP only, the backup
/// repository at [`REPOSITORY`], the locally built Caddy/restic/hello images, the compose binary
/// from a mirror on this machine.
#[derive(Debug)]
pub struct VmStack {
    /// The stack.
    pub stack: Stack,
    mirror: Mirror,
}

/// The compose binary's URL in the config: the [`Mirror`] the guest reaches through QEMU's
/// `guestfwd` (the only address outside the guest it can reach).
pub const COMPOSE_URL: &str = "http://10.0.2.100/docker-compose-linux-x86_64";

impl VmStack {
    /// The instance `name` with the hello app and `extra` apps; the compose download works.
    #[must_use]
    pub fn new(name: &str, extra: Vec<Box<dyn App>>) -> Self {
        Self::with_download_failures(name, extra, vec![])
    }

    /// [`Self::new`], with the compose mirror failing its first requests as `failures` says.
    #[must_use]
    pub fn with_download_failures(
        name: &str,
        extra: Vec<Box<dyn App>>,
        failures: Vec<Failure>,
    ) -> Self {
        ensure_test_images();
        let mirror = Mirror::start(&nassella_testkit::compose_binary_path(), failures);
        let mut s = Stack::new(
            Instance::new(name)
                .provider(Provider::Hetzner)
                .tls(Tls::HttpOnly)
                .docker_compose(Artifact {
                    url: COMPOSE_URL.to_owned(),
                    hash: Artifact::docker_compose_default().hash,
                }),
        )
        .backup(Backup::new(REPOSITORY).restic_image(RESTIC_IMAGE))
        .image_override(nassella_core::render::CADDY_IMAGE, CADDY_IMAGE)
        .app_at(
            "hello",
            Box::new(Hello::new(HELLO_HOST).image(HELLO_IMAGE)),
            nassella_core::Origin::file_line("vm-tests", 1),
        );
        for app in extra {
            // Each extra app under its kind, as `Stack::app` adds it.
            let id = app.kind().to_owned();
            s = s.app_at(id, app, nassella_core::Origin::file_line("vm-tests", 2));
        }
        Self { stack: s, mirror }
    }

    /// The compose download mirror.
    #[must_use]
    pub fn mirror(&self) -> &Mirror {
        &self.mirror
    }

    /// The rendered Ignition config.
    ///
    /// # Panics
    /// When the stack does not build.
    #[must_use]
    pub fn ignition(&self) -> Vec<u8> {
        let b = build(&self.stack, &keys()).unwrap_or_else(|r| panic!("{r}"));
        b.bundle.ignition().to_vec()
    }

    /// A root image of this instance.
    #[must_use]
    pub fn root_image(&self) -> RootImage {
        RootImage::build(&self.ignition(), &[HELLO_IMAGE, CADDY_IMAGE, RESTIC_IMAGE])
    }

    /// A stopped VM of this instance named `name`.
    #[must_use]
    pub fn vm(&self, name: &str) -> Vm {
        Vm::new(
            name,
            self.root_image(),
            VmOptions {
                guest_http_forward: Some(self.mirror.port()),
                ..VmOptions::default()
            },
        )
    }
}

/// sha256 of every file under `dir` in the guest, except Nassella's own state (`.nassella`)
/// and `lost+found`: `"<hash>  <path>"` lines, sorted.
#[must_use]
pub fn guest_tree_hashes(vm: &Vm, dir: &str) -> String {
    vm.sh(&format!(
        "cd {dir} && find . -path ./.nassella -prune -o -path ./lost+found -prune -o -type f -print0 \
         | sort -z | xargs -0 -r sha256sum"
    ))
}

/// The snapshots of the repository disk mounted in the guest, listed by the real restic in the
/// stand-in image: `"<short id> <tags>"` lines.
#[must_use]
pub fn guest_snapshots(vm: &Vm) -> Vec<String> {
    let out = vm.sh(&format!(
        "docker run --rm -v /srv/backup:/srv/backup -e RESTIC_PASSWORD={} {RESTIC_IMAGE} \
         -r {REPOSITORY} snapshots --json --no-lock",
        restic_password()
    ));
    let v: serde_json::Value = serde_json::from_str(out.trim())
        .unwrap_or_else(|e| panic!("restic snapshots --json: {e}: {out}"));
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|s| format!("{} {}", s["short_id"].as_str().unwrap_or("?"), s["tags"]))
                .collect()
        })
        .unwrap_or_default()
}

/// How many boots the guest's journal knows (`journalctl --list-boots`, header left out). QEMU
/// runs with `-no-reboot`, so a reboot would also end the VM, which every wait reports.
#[must_use]
pub fn journal_boots(vm: &Vm) -> usize {
    vm.sh("journalctl --list-boots --no-pager | grep -cE '^ *-?[0-9]+ +[0-9a-f]{32} ' || true")
        .trim()
        .parse()
        .unwrap_or(0)
}

/// The restic password of the test keys (for the repository disk).
#[must_use]
pub fn restic_password() -> String {
    keys().restic_password()
}

/// Generous bounds for TCG on a loaded 2-core machine.
pub mod limits {
    use super::Duration;

    /// Boot to the agent answering.
    pub const AGENT: Duration = Duration::from_secs(900);
    /// From the volume being there to the site serving (Docker start, image load, restore, apps).
    /// Measured 345 s with one other VM running and a load average of 18 on 2 cores.
    pub const SERVING: Duration = Duration::from_secs(1500);
}
