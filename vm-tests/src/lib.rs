//! The VM harness: boots the rendered instance in QEMU under real systemd and udev.
//!
//! * [`base`]: this machine's Debian kernel and initrd, and a Debian bookworm root made by
//!   `mmdebstrap` (systemd, udev, Docker, e2fsprogs, iptables/nftables, curl), cached.
//! * [`image::RootImage`]: per VM, that root with the instance's Ignition config applied by the
//!   real Ignition `files` stage (on the host, into the tree) and the stack's container images.
//! * [`vm::Vm`]: QEMU under TCG with the data volume as a hot-pluggable SCSI disk over QMP
//!   ([`vm::Volume`], moved between VMs), the backup repository on a disk of its own, user
//!   networking with `restrict=on`, and a test-only agent on a virtio-serial port.
//! * [`VmStack`]: the stack the scenarios boot (Hetzner provider, the hello app, local images).
//!
//! `docs/testing.md` ("The VM harness") says what each shim is for and what a Debian VM cannot
//! show of Flatcar.

pub mod agent;
pub mod base;
pub mod image;
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
    compose_url: String,
}

impl VmStack {
    /// The instance `name` with the hello app and `extra` apps.
    #[must_use]
    pub fn new(name: &str, extra: Vec<Box<dyn App>>) -> Self {
        ensure_test_images();
        let compose_url = nassella_testkit::instance::compose_mirror_url();
        let mut s = Stack::new(
            Instance::new(name)
                .provider(Provider::Hetzner)
                .tls(Tls::HttpOnly)
                .docker_compose(Artifact {
                    url: compose_url.clone(),
                    hash: Artifact::docker_compose_default().hash,
                }),
        )
        .backup(Backup::new(REPOSITORY).restic_image(RESTIC_IMAGE))
        .image_override(nassella_core::render::CADDY_IMAGE, CADDY_IMAGE)
        .app_at(
            Box::new(Hello::new(HELLO_HOST).image(HELLO_IMAGE)),
            nassella_core::Origin::file_line("vm-tests", 1),
        );
        for app in extra {
            s = s.app_at(app, nassella_core::Origin::file_line("vm-tests", 2));
        }
        Self {
            stack: s,
            compose_url,
        }
    }

    /// The compose mirror's URL the config names.
    #[must_use]
    pub fn compose_url(&self) -> &str {
        &self.compose_url
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
        Vm::new(name, self.root_image(), VmOptions::default())
    }
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
    pub const AGENT: Duration = Duration::from_secs(300);
    /// From the volume being there to the site serving (Docker start, image load, restore, apps).
    pub const SERVING: Duration = Duration::from_secs(600);
}
