//! `prepare-data.sh`, the cloud server's data-volume preparation, on real block devices: a loop
//! device over a sparse file stands in for the provider's volume, linked where the script looks
//! for it (the provider's `/dev/disk/by-id` glob, moved into a temporary folder). The test
//! container has no udev, so the script's closing `udevadm settle` meets a no-op `udevadm`.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use nassella_apps::Hello;
use nassella_core::{Backup, Instance, Stack};
use nassella_testkit::instance::show;

const MIB: u64 = 1 << 20;

/// A loop device over a sparse file, detached on drop.
struct LoopDevice {
    dev: String,
    file: PathBuf,
}

impl LoopDevice {
    fn new(file: PathBuf, bytes: u64) -> Option<Self> {
        std::fs::File::create(&file)
            .unwrap()
            .set_len(bytes)
            .unwrap();
        let out = Command::new("losetup")
            .args(["-f", "--show"])
            .arg(&file)
            .output()
            .ok()?;
        out.status.success().then(|| Self {
            dev: String::from_utf8_lossy(&out.stdout).trim().to_owned(),
            file,
        })
    }

    /// The provider grew the volume: a larger file, and the kernel told so.
    fn grow(&self, bytes: u64) {
        std::fs::OpenOptions::new()
            .write(true)
            .open(&self.file)
            .unwrap()
            .set_len(bytes)
            .unwrap();
        run(Command::new("losetup").args(["-c", &self.dev]));
    }

    fn filesystem_bytes(&self) -> u64 {
        let out = run(Command::new("dumpe2fs").args(["-h", &self.dev]));
        let text = String::from_utf8_lossy(&out.stdout);
        let field = |name: &str| -> u64 {
            text.lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or_else(|| panic!("no {name} in dumpe2fs output:\n{text}"))
        };
        field("Block count:") * field("Block size:")
    }

    fn blkid(&self, tag: &str) -> String {
        let out = Command::new("blkid")
            .args(["-p", "-s", tag, "-o", "value", &self.dev])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }
}

impl Drop for LoopDevice {
    fn drop(&mut self) {
        let _ = Command::new("losetup").args(["-d", &self.dev]).status();
    }
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{cmd:?}: {}", show(&out));
    out
}

/// The script as a Hetzner server gets it, looking for its volume under `by_id` instead.
fn prepare_script(dir: &Path, by_id: &Path) -> PathBuf {
    let stack = Stack::new(Instance::new("vol"))
        .backup(Backup::new("s3:s3.example.com/bucket/vol"))
        .app(Hello::new("hello.example.com"));
    let built =
        nassella_core::build(&stack, &instance_tests::keys()).unwrap_or_else(|r| panic!("{r}"));
    let text = String::from_utf8(
        built.bundle.files()["instance/etc/nassella/bin/prepare-data.sh"].clone(),
    )
    .unwrap();
    let glob = "/dev/disk/by-id/scsi-0HC_Volume_*";
    assert!(text.contains(glob), "the script looks for Hetzner volumes");
    let script = dir.join("prepare-data.sh");
    std::fs::write(
        &script,
        text.replace(glob, &format!("{}/scsi-0HC_Volume_*", by_id.display())),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    script
}

/// Run the script; its log (stderr) and whether it succeeded.
fn prepare(script: &Path, bin: &Path) -> (bool, String) {
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let out = Command::new(script).env("PATH", path).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A folder with a no-op `udevadm` (there is no udev in the test container).
fn no_udev(dir: &Path) -> PathBuf {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let udevadm = bin.join("udevadm");
    std::fs::write(&udevadm, "#!/bin/sh\nexit 0\n").unwrap();
    std::fs::set_permissions(&udevadm, std::fs::Permissions::from_mode(0o755)).unwrap();
    bin
}

/// A blank 64 MiB volume where the script looks for one, the script, and a `bin` for its PATH.
struct World {
    dir: tempfile::TempDir,
    volume: LoopDevice,
    script: PathBuf,
    bin: PathBuf,
}

/// `None` (the test is skipped) without loop devices, except in CI, where that fails.
fn world() -> Option<World> {
    let dir = tempfile::tempdir().unwrap();
    let Some(volume) = LoopDevice::new(dir.path().join("volume.img"), 64 * MIB) else {
        assert!(
            std::env::var_os("CI").is_none(),
            "loop devices are required in CI (losetup -f failed)"
        );
        eprintln!("skipped: no loop device available");
        return None;
    };
    let by_id = dir.path().join("by-id");
    std::fs::create_dir_all(&by_id).unwrap();
    std::os::unix::fs::symlink(&volume.dev, by_id.join("scsi-0HC_Volume_1")).unwrap();
    let script = prepare_script(dir.path(), &by_id);
    let bin = no_udev(dir.path());
    Some(World {
        dir,
        volume,
        script,
        bin,
    })
}

#[test]
fn a_blank_volume_is_formatted_once_and_a_grown_volume_keeps_its_data_and_grows() {
    let Some(World {
        dir,
        volume,
        script,
        bin,
    }) = world()
    else {
        return;
    };

    // Blank: formatted ext4 with the label the mount unit uses.
    let (ok, log) = prepare(&script, &bin);
    assert!(ok, "{log}");
    assert!(
        log.contains("is blank: creating an ext4 filesystem"),
        "{log}"
    );
    assert_eq!(volume.blkid("TYPE"), "ext4");
    assert_eq!(volume.blkid("LABEL"), nassella_core::render::DATA_LABEL);

    // The apps write data.
    let mnt = dir.path().join("mnt");
    std::fs::create_dir_all(&mnt).unwrap();
    run(Command::new("mount").arg(&volume.dev).arg(&mnt));
    std::fs::write(mnt.join("notes.txt"), "kept across the growth\n").unwrap();
    run(Command::new("umount").arg(&mnt));

    // Next boot, same size: nothing is formatted or grown.
    let before = volume.filesystem_bytes();
    let (ok, log) = prepare(&script, &bin);
    assert!(ok, "{log}");
    assert!(
        !log.contains("creating") && !log.contains("growing"),
        "{log}"
    );
    assert_eq!(volume.filesystem_bytes(), before);

    // volume_size_gb raised: the next boot grows the filesystem to the volume, data intact.
    volume.grow(256 * MIB);
    let (ok, log) = prepare(&script, &bin);
    assert!(ok, "{log}");
    assert!(log.contains("the volume has grown"), "{log}");
    let grown = volume.filesystem_bytes();
    assert!(
        grown > 250 * MIB,
        "filesystem is {} MiB after growing to 256 MiB",
        grown / MIB
    );
    run(Command::new("mount").arg(&volume.dev).arg(&mnt));
    let notes = std::fs::read_to_string(mnt.join("notes.txt"));
    run(Command::new("umount").arg(&mnt));
    assert_eq!(notes.unwrap(), "kept across the growth\n");

    // And once grown, it stays as it is.
    let (ok, log) = prepare(&script, &bin);
    assert!(ok && !log.contains("growing"), "{log}");
    assert_eq!(volume.filesystem_bytes(), grown);
}

#[test]
fn a_volume_holding_another_filesystem_is_never_touched() {
    let Some(World {
        dir: _dir,
        volume,
        script,
        bin,
    }) = world()
    else {
        return;
    };
    run(Command::new("mkfs.ext2").args(["-q", "-L", "theirs", &volume.dev]));
    let before = std::fs::read(&volume.file).unwrap();

    let (ok, log) = prepare(&script, &bin);
    assert!(!ok, "the script must fail the unit:\n{log}");
    assert!(log.contains("holds a ext2 filesystem"), "{log}");
    assert_eq!(volume.blkid("LABEL"), "theirs");
    assert!(
        std::fs::read(&volume.file).unwrap() == before,
        "the volume was written to"
    );
}

#[test]
fn a_volume_whose_probe_is_ambivalent_is_never_formatted() {
    let Some(World {
        dir,
        volume,
        script,
        bin,
    }) = world()
    else {
        return;
    };
    // An ext4 filesystem with a second signature in its unused first sector (a bfs superblock
    // at offset 0): `blkid -p` finds both and exits 8, "ambivalent". It is not blank.
    run(Command::new("mkfs.ext4").args(["-q", "-F", &volume.dev]));
    let other = dir.path().join("bfs.img");
    std::fs::File::create(&other).unwrap().set_len(MIB).unwrap();
    run(Command::new("mkfs.bfs").arg(&other));
    run(Command::new("dd")
        .arg(format!("if={}", other.display()))
        .arg(format!("of={}", volume.dev))
        .args(["bs=512", "count=1", "conv=notrunc"]));
    let probe = Command::new("blkid")
        .args(["-p", &volume.dev])
        .output()
        .unwrap();
    assert_eq!(probe.status.code(), Some(8), "{}", show(&probe));
    let before = std::fs::read(&volume.file).unwrap();

    let (ok, log) = prepare(&script, &bin);
    assert!(!ok, "the script must fail the unit:\n{log}");
    assert!(log.contains("refusing to format"), "{log}");
    assert!(
        std::fs::read(&volume.file).unwrap() == before,
        "the volume was written to:\n{log}"
    );
}

#[test]
fn the_script_waits_for_a_volume_attached_late_and_says_so() {
    let Some(World {
        dir,
        volume,
        script,
        bin,
    }) = world()
    else {
        return;
    };
    // Not attached yet: the link the provider's udev rule would create is missing.
    let link = dir.path().join("by-id/scsi-0HC_Volume_1");
    std::fs::remove_file(&link).unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    // Progress every minute is too slow for a test: the same script with a 1 s period.
    let text = std::fs::read_to_string(&script)
        .unwrap()
        .replace("PROGRESS_EVERY_S=60", "PROGRESS_EVERY_S=1");
    std::fs::write(&script, text).unwrap();
    let child = Command::new(&script)
        .env("PATH", path)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_secs(5));
    std::os::unix::fs::symlink(&volume.dev, &link).unwrap();
    let out = child.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    assert!(log.contains("still waiting for the data volume"), "{log}");
    assert!(
        log.contains("is blank: creating an ext4 filesystem"),
        "{log}"
    );
    assert_eq!(volume.blkid("LABEL"), nassella_core::render::DATA_LABEL);
}
