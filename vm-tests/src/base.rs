//! The harness's base system: this machine's Debian kernel and initrd, and a Debian bookworm root
//! made by `mmdebstrap` with systemd, udev and Docker, plus the harness's own test-only units.
//! Built once and cached under [`cache_root`], in a folder named by a hash of everything that goes
//! into it (package list, guest files, kernel version, [`RECIPE_VERSION`]).

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use sha2::{Digest as _, Sha256};

/// Bump when the recipe changes in a way the hashed inputs do not show.
pub const RECIPE_VERSION: &str = "nassella-vm-base-1";

/// Debian packages of the root (bookworm, `--variant=minbase` plus these).
pub const PACKAGES: &[&str] = &[
    "systemd",
    "systemd-sysv",
    "udev",
    "dbus",
    "kmod",
    "iproute2",
    "procps",
    "docker.io",
    "e2fsprogs",
    "util-linux",
    "iptables",
    "nftables",
    "curl",
    "ca-certificates",
    "busybox",
    "socat",
];

/// Kernel module folders left out of the root (hardware a QEMU guest has not got).
const MODULES_LEFT_OUT: &[&str] = &[
    "kernel/drivers/gpu",
    "kernel/drivers/net/wireless",
    "kernel/drivers/media",
    "kernel/drivers/infiniband",
    "kernel/drivers/staging",
    "kernel/drivers/bluetooth",
    "kernel/drivers/iio",
    "kernel/drivers/isdn",
    "kernel/sound",
];

/// Test-only files of the harness root: `(path in the root, mode, contents)`.
const GUEST_FILES: &[(&str, u32, &str)] = &[
    (
        "usr/local/sbin/nassella-harness-agent",
        0o755,
        include_str!("../guest/nassella-harness-agent"),
    ),
    (
        "etc/systemd/system/nassella-harness-agent.service",
        0o644,
        include_str!("../guest/nassella-harness-agent.service"),
    ),
    (
        "etc/systemd/system/nassella-harness-metadata.service",
        0o644,
        include_str!("../guest/nassella-harness-metadata.service"),
    ),
    (
        "usr/local/sbin/nassella-harness-metadata-answer",
        0o755,
        include_str!("../guest/nassella-harness-metadata-answer"),
    ),
    (
        "etc/systemd/system/srv-backup.mount",
        0o644,
        include_str!("../guest/srv-backup.mount"),
    ),
    (
        "etc/systemd/system/nassella-restore.service.d/10-harness-repository.conf",
        0o644,
        include_str!("../guest/10-harness-repository.conf"),
    ),
    (
        "etc/systemd/system/nassella-backup.service.d/10-harness-repository.conf",
        0o644,
        include_str!("../guest/10-harness-repository.conf"),
    ),
    (
        "etc/systemd/system/dev-disk-by\\x2dlabel-nassella\\x2drepo.device.d/10-harness-timeout.conf",
        0o644,
        include_str!("../guest/10-harness-repository-timeout.conf"),
    ),
    (
        "etc/systemd/system/docker.service.d/10-harness-images.conf",
        0o644,
        include_str!("../guest/10-harness-images.conf"),
    ),
    (
        "etc/systemd/network/20-harness-dhcp.network",
        0o644,
        include_str!("../guest/20-harness-dhcp.network"),
    ),
    (
        "srv/backup/repo",
        0o644,
        "The backup repository disk is not mounted (test harness placeholder).\n",
    ),
    ("etc/hostname", 0o644, "nassella-vm\n"),
    // Flatcar's root is mounted by the initramfs; here the kernel mounts it read-write.
    ("etc/fstab", 0o644, "# root is mounted by the kernel (root=/dev/vda rw)\n"),
    // "uninitialized": systemd treats the boot as the first one and applies the presets
    // Ignition wrote (`/etc/systemd/system-preset/20-ignition.preset`), as on Flatcar. (An
    // empty file would not count as a first boot.)
    ("etc/machine-id", 0o444, "uninitialized\n"),
];

/// Units enabled in the harness root: `(wants folder, unit)`.
const ENABLED: &[(&str, &str)] = &[
    ("sysinit.target.wants", "nassella-harness-agent.service"),
    ("sysinit.target.wants", "nassella-harness-metadata.service"),
    (
        "dev-disk-by\\x2dlabel-nassella\\x2drepo.device.wants",
        "srv-backup.mount",
    ),
    ("multi-user.target.wants", "systemd-networkd.service"),
    (
        "network-online.target.wants",
        "systemd-networkd-wait-online.service",
    ),
];

/// The `core` user of Flatcar (uid/gid 500), which the instance's config changes (its shell).
const CORE_PASSWD: &str = "core:x:500:500:Flatcar Admin:/home/core:/bin/bash\n";
const CORE_GROUP: &str = "core:x:500:\n";
const CORE_SHADOW: &str = "core:*:19000:0:99999:7:::\n";

/// The kernel and a cached root tree ready to be copied per VM.
#[derive(Debug)]
pub struct BaseImage {
    /// This machine's kernel (`/boot/vmlinuz-<version>`).
    pub kernel: PathBuf,
    /// Its initrd (`/boot/initrd.img-<version>`); it carries virtio_blk, virtio_scsi and ext4.
    pub initrd: PathBuf,
    /// The root tree (read-only use: copy it).
    pub root: PathBuf,
    /// How long building it took (zero when it came from the cache).
    pub built_in: Duration,
}

/// Where built images are cached: `$NASSELLA_VM_CACHE`, else `$XDG_CACHE_HOME/nassella-vm`, else
/// `~/.cache/nassella-vm`.
#[must_use]
pub fn cache_root() -> PathBuf {
    if let Some(dir) = std::env::var_os("NASSELLA_VM_CACHE") {
        return PathBuf::from(dir);
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("nassella-vm")
}

/// The newest kernel in `/boot` with its initrd and modules.
fn host_kernel() -> (String, PathBuf, PathBuf) {
    let mut versions: Vec<String> = fs::read_dir("/boot")
        .map(|d| {
            d.filter_map(Result::ok)
                .filter_map(|e| {
                    e.file_name()
                        .to_str()
                        .and_then(|n| n.strip_prefix("vmlinuz-"))
                        .map(str::to_owned)
                })
                .collect()
        })
        .unwrap_or_default();
    versions.sort();
    let version = versions
        .into_iter()
        .rev()
        .find(|v| {
            Path::new(&format!("/boot/initrd.img-{v}")).exists()
                && Path::new(&format!("/lib/modules/{v}")).exists()
        })
        .expect("no Debian kernel with initrd and modules in /boot: install linux-image-amd64 (.ci/install-tools)");
    let kernel = PathBuf::from(format!("/boot/vmlinuz-{version}"));
    let initrd = PathBuf::from(format!("/boot/initrd.img-{version}"));
    (version, kernel, initrd)
}

fn recipe_key(kernel_version: &str) -> String {
    let mut h = Sha256::new();
    h.update(RECIPE_VERSION);
    h.update(kernel_version);
    for p in PACKAGES {
        h.update(p);
        h.update([0]);
    }
    for m in MODULES_LEFT_OUT {
        h.update(m);
        h.update([0]);
    }
    for (path, mode, text) in GUEST_FILES {
        h.update(path);
        h.update(mode.to_le_bytes());
        h.update(text);
    }
    for (dir, unit) in ENABLED {
        h.update(dir);
        h.update(unit);
    }
    let digest = h.finalize();
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// The base image, built on first use in this process (and cached across processes and runs).
///
/// # Panics
/// When `mmdebstrap` fails or the kernel is missing.
pub fn base_image() -> &'static BaseImage {
    static BASE: OnceLock<BaseImage> = OnceLock::new();
    BASE.get_or_init(build_or_reuse)
}

fn build_or_reuse() -> BaseImage {
    let (version, kernel, initrd) = host_kernel();
    let dir = cache_root().join(format!("base-{}", recipe_key(&version)));
    let root = dir.join("root");
    let done = dir.join("complete");
    let started = Instant::now();
    fs::create_dir_all(cache_root()).expect("creating the VM cache folder");
    with_lock(&cache_root().join("base.lock"), || {
        if done.exists() {
            return;
        }
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("creating the base image folder");
        eprintln!(
            "vm-tests: building the Debian root for the VM harness in {} (cached for later runs)",
            dir.display()
        );
        let out = Command::new("mmdebstrap")
            .args(["--variant=minbase", "--quiet"])
            .arg(format!("--include={}", PACKAGES.join(",")))
            .args(["bookworm"])
            .arg(&root)
            .output()
            .expect("mmdebstrap runs (install it: .ci/install-tools)");
        assert!(
            out.status.success(),
            "mmdebstrap failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        customise(&root, &version);
        fs::write(&done, format!("{RECIPE_VERSION}\n")).expect("marking the base image complete");
        // Older recipes' roots are of no further use (about 1 GB each).
        if let Ok(entries) = fs::read_dir(cache_root()) {
            for e in entries.filter_map(Result::ok) {
                let name = e.file_name().to_string_lossy().into_owned();
                if name.starts_with("base-") && e.path() != dir {
                    let _ = fs::remove_dir_all(e.path());
                }
            }
        }
    });
    let built_in = if done.exists() && started.elapsed() > Duration::from_secs(5) {
        started.elapsed()
    } else {
        Duration::ZERO
    };
    BaseImage {
        kernel,
        initrd,
        root,
        built_in,
    }
}

/// Kernel modules, the `core` user, and the harness's test-only files and enabled units.
fn customise(root: &Path, kernel_version: &str) {
    let modules = root.join("usr/lib/modules");
    fs::create_dir_all(&modules).unwrap();
    crate::must(
        Command::new("cp")
            .arg("-a")
            .arg(format!("/lib/modules/{kernel_version}"))
            .arg(&modules),
    );
    for rel in MODULES_LEFT_OUT {
        let _ = fs::remove_dir_all(modules.join(kernel_version).join(rel));
    }
    for (file, line) in [
        ("etc/passwd", CORE_PASSWD),
        ("etc/group", CORE_GROUP),
        ("etc/shadow", CORE_SHADOW),
    ] {
        let path = root.join(file);
        let mut text = fs::read_to_string(&path).unwrap();
        text.push_str(line);
        fs::write(&path, text).unwrap();
    }
    let home = root.join("home/core");
    fs::create_dir_all(&home).unwrap();
    std::os::unix::fs::chown(&home, Some(500), Some(500)).unwrap();
    for (rel, mode, text) in GUEST_FILES {
        let path = root.join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        let _ = fs::remove_file(&path);
        fs::write(&path, text).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(*mode)).unwrap();
    }
    for (wants, unit) in ENABLED {
        let dir = root.join("etc/systemd/system").join(wants);
        fs::create_dir_all(&dir).unwrap();
        let target = [
            "etc/systemd/system",
            "usr/lib/systemd/system",
            "lib/systemd/system",
        ]
        .iter()
        .map(|d| Path::new("/").join(d).join(unit))
        .find(|p| root.join(p.strip_prefix("/").unwrap()).exists())
        .unwrap_or_else(|| panic!("unit {unit} not found in the harness root"));
        let link = dir.join(unit);
        let _ = fs::remove_file(&link);
        symlink(target, link).unwrap();
    }
}

/// Runs `f` holding a lock folder (processes of one test run build the cache once).
pub(crate) fn with_lock(lock: &Path, f: impl FnOnce()) {
    let started = Instant::now();
    loop {
        match fs::create_dir(lock) {
            Ok(()) => break,
            Err(_)
                if fs::metadata(lock)
                    .and_then(|m| m.modified())
                    .is_ok_and(|t| t.elapsed().is_ok_and(|age| age.as_secs() > 1200)) =>
            {
                let _ = fs::remove_dir(lock);
            }
            Err(_) if started.elapsed() > Duration::from_secs(1500) => panic!(
                "waited 25 minutes for {} to disappear (a crashed build? remove it)",
                lock.display()
            ),
            Err(_) => std::thread::sleep(Duration::from_millis(500)),
        }
    }
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    let _ = fs::remove_dir(lock);
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
}
