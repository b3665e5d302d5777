//! One QEMU virtual machine under TCG, its disks, and the volumes that move between machines.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::agent::{Agent, Output};
use crate::image::RootImage;
use crate::qmp::Qmp;

/// Hetzner Cloud presents a volume as a SCSI disk whose udev id is `scsi-0HC_Volume_<id>`; QEMU's
/// `scsi-hd` with this vendor and product on a virtio-scsi controller gives the guest the same
/// `/dev/disk/by-id/scsi-0HC_Volume_<serial>` link, which `prepare-data.sh` waits for.
const VOLUME_VENDOR: &str = "HC";
const VOLUME_PRODUCT: &str = "Volume";

/// What kind of disk a [`Volume`] is to the guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VolumeKind {
    /// The instance's data volume: `/dev/disk/by-id/scsi-0HC_Volume_<serial>`, as on Hetzner.
    Data,
    /// The harness's backup repository disk (ext4 labelled `nassella-repo`, mounted at
    /// `/srv/backup` by a test-only unit of the harness root).
    Repository,
}

#[derive(Debug)]
struct VolumeFile {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

/// A raw disk image that can be attached to one running VM at a time and moved between VMs
/// (clone it freely: clones are the same disk).
#[derive(Debug, Clone)]
pub struct Volume {
    file: Arc<VolumeFile>,
    serial: String,
    kind: VolumeKind,
}

impl Volume {
    /// A blank (all-zero, sparse) data volume of `size_mb`, with the Hetzner-style id `serial`.
    ///
    /// # Panics
    /// When the file cannot be made.
    #[must_use]
    pub fn blank(serial: &str, size_mb: u64) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("nassella-vm-volume-")
            .tempdir()
            .unwrap();
        let path = dir.path().join(format!("{serial}.raw"));
        let f = fs::File::create(&path).unwrap();
        f.set_len(size_mb << 20).unwrap();
        Self {
            file: Arc::new(VolumeFile { _dir: dir, path }),
            serial: serial.to_owned(),
            kind: VolumeKind::Data,
        }
    }

    /// A backup repository disk: an ext4 filesystem labelled `nassella-repo` holding an empty
    /// restic repository at `repo/`, created on the host with the real `restic init` and
    /// `password`.
    ///
    /// # Panics
    /// When restic or mkfs fails.
    #[must_use]
    pub fn repository(password: &str, size_mb: u64) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("nassella-vm-repo-")
            .tempdir()
            .unwrap();
        let tree = dir.path().join("tree");
        fs::create_dir_all(&tree).unwrap();
        crate::must(
            Command::new("restic")
                .args(["init", "--quiet"])
                .env("RESTIC_REPOSITORY", tree.join("repo"))
                .env("RESTIC_PASSWORD", password),
        );
        let path = dir.path().join("repo.raw");
        crate::must(
            Command::new("mkfs.ext4")
                .args(["-q", "-F", "-L", "nassella-repo", "-d"])
                .arg(&tree)
                .arg(&path)
                .arg(format!("{size_mb}M")),
        );
        fs::remove_dir_all(&tree).unwrap();
        Self {
            file: Arc::new(VolumeFile { _dir: dir, path }),
            serial: "nassella-repo".to_owned(),
            kind: VolumeKind::Repository,
        }
    }

    /// A repository disk like [`Self::repository`] whose repository already holds one snapshot
    /// of `tree` for the instance `host`, made as `backup.sh` makes them (paths `/data`, tags
    /// `nassella` and `nassella-initialized`) with the real restic in the stand-in restic image.
    ///
    /// # Panics
    /// When restic, Docker or mkfs fails.
    #[must_use]
    pub fn repository_with_snapshot(password: &str, size_mb: u64, host: &str, tree: &Path) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("nassella-vm-repo-")
            .tempdir()
            .unwrap();
        let fs_tree = dir.path().join("tree");
        fs::create_dir_all(fs_tree.join("repo")).unwrap();
        crate::must(
            Command::new("docker")
                .args(["run", "--rm", "--hostname", host])
                .arg("-v")
                .arg(format!("{}:/data:ro", tree.display()))
                .arg("-v")
                .arg(format!("{}:/repo", fs_tree.join("repo").display()))
                .args(["-e", &format!("RESTIC_PASSWORD={password}")])
                .arg(nassella_testkit::images::RESTIC_IMAGE)
                .args(["-r", "/repo", "init", "--quiet"]),
        );
        crate::must(
            Command::new("docker")
                .args(["run", "--rm", "--hostname", host])
                .arg("-v")
                .arg(format!("{}:/data:ro", tree.display()))
                .arg("-v")
                .arg(format!("{}:/repo", fs_tree.join("repo").display()))
                .args(["-e", &format!("RESTIC_PASSWORD={password}")])
                .arg(nassella_testkit::images::RESTIC_IMAGE)
                .args(["-r", "/repo", "backup", "--quiet", "--host", host])
                .args(["--tag", "nassella,nassella-initialized", "/data"]),
        );
        let path = dir.path().join("repo.raw");
        crate::must(
            Command::new("mkfs.ext4")
                .args(["-q", "-F", "-L", "nassella-repo", "-d"])
                .arg(&fs_tree)
                .arg(&path)
                .arg(format!("{size_mb}M")),
        );
        // The repository's files belong to root in the container; remove them as root too.
        let _ = Command::new("rm").arg("-rf").arg(&fs_tree).status();
        Self {
            file: Arc::new(VolumeFile { _dir: dir, path }),
            serial: "nassella-repo".to_owned(),
            kind: VolumeKind::Repository,
        }
    }

    /// The image file on the host.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.file.path
    }

    /// Its serial (the Hetzner volume id of a data volume).
    #[must_use]
    pub fn serial(&self) -> &str {
        &self.serial
    }

    fn node(&self) -> String {
        format!("node-{}", self.serial)
    }

    fn device_id(&self) -> String {
        format!("disk-{}", self.serial)
    }

    fn qmp_device(&self) -> serde_json::Value {
        let (vendor, product) = match self.kind {
            VolumeKind::Data => (VOLUME_VENDOR, VOLUME_PRODUCT),
            VolumeKind::Repository => ("NASSELLA", "Repository"),
        };
        json!({
            "driver": "scsi-hd",
            "id": self.device_id(),
            "drive": self.node(),
            "bus": "scsi0.0",
            "vendor": vendor,
            "product": product,
            "serial": self.serial,
        })
    }
}

/// How to boot a [`Vm`].
#[derive(Debug, Clone)]
pub struct VmOptions {
    /// Guest memory in MiB.
    pub memory_mb: u32,
    /// Guest CPUs.
    pub cpus: u32,
    /// Host port on 127.0.0.1 forwarded to the guest's port 80.
    pub http_port: u16,
    /// Host `127.0.0.1` port the guest reaches as `10.0.2.100:80` (QEMU `guestfwd`), e.g. a
    /// download mirror; nothing else outside the guest is reachable (`restrict=on`).
    pub guest_http_forward: Option<u16>,
}

impl Default for VmOptions {
    fn default() -> Self {
        Self {
            memory_mb: 1536,
            cpus: 2,
            http_port: nassella_testkit::instance::free_port(),
            guest_http_forward: None,
        }
    }
}

/// A QEMU virtual machine booting a [`RootImage`] with this machine's Debian kernel, under TCG
/// (nested KVM fails here), QEMU user networking with `restrict=on` and one `hostfwd` to the
/// guest's port 80 on 127.0.0.1.
///
/// The machine outlives its QEMU process: [`Vm::power_cut`] ends the process like a pulled plug
/// and [`Vm::boot`] starts the same disk again. Several VMs run at once, each with its own
/// folder, sockets and ports; a [`Volume`] moves between them with [`Vm::detach`] and
/// [`Vm::attach`]. Dropping a Vm kills its QEMU.
pub struct Vm {
    name: String,
    dir: tempfile::TempDir,
    root: RootImage,
    options: VmOptions,
    child: Option<Child>,
    qmp: Option<Mutex<Qmp>>,
    agent: Option<Mutex<Agent>>,
    attached: BTreeMap<String, Volume>,
    boots: u32,
    booted_at: Instant,
}

impl std::fmt::Debug for Vm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vm")
            .field("name", &self.name)
            .field("dir", &self.dir.path())
            .field("attached", &self.attached.keys())
            .finish_non_exhaustive()
    }
}

impl Vm {
    /// A stopped machine named `name` (for logs) with this root disk.
    ///
    /// # Panics
    /// When its folder cannot be made.
    #[must_use]
    pub fn new(name: &str, root: RootImage, options: VmOptions) -> Self {
        let dir = tempfile::Builder::new()
            .prefix(&format!("nassella-vm-{name}-"))
            .tempdir()
            .unwrap();
        Self {
            name: name.to_owned(),
            dir,
            root,
            options,
            child: None,
            qmp: None,
            agent: None,
            attached: BTreeMap::new(),
            boots: 0,
            booted_at: Instant::now(),
        }
    }

    /// The host port forwarded to the guest's port 80.
    #[must_use]
    pub fn http_port(&self) -> u16 {
        self.options.http_port
    }

    /// Time since the last [`Self::boot`].
    #[must_use]
    pub fn since_boot(&self) -> Duration {
        self.booted_at.elapsed()
    }

    /// The serial console of the current boot (kernel, systemd, and the journal forwarded to the
    /// console).
    #[must_use]
    pub fn serial_log(&self) -> String {
        fs::read_to_string(self.serial_path()).unwrap_or_default()
    }

    fn serial_path(&self) -> PathBuf {
        self.dir.path().join(format!("serial-{}.log", self.boots))
    }

    /// Power on with `volumes` attached from the start.
    ///
    /// # Panics
    /// When QEMU does not start.
    pub fn boot(&mut self, volumes: &[&Volume]) {
        assert!(self.child.is_none(), "{}: already running", self.name);
        self.boots += 1;
        self.attached.clear();
        let qmp_sock = self.dir.path().join("qmp.sock");
        let agent_sock = self.dir.path().join("agent.sock");
        let _ = fs::remove_file(&qmp_sock);
        let _ = fs::remove_file(&agent_sock);
        let o = &self.options;
        let mut netdev = format!(
            "user,id=net0,restrict=on,hostfwd=tcp:127.0.0.1:{}-:80",
            o.http_port
        );
        if let Some(port) = o.guest_http_forward {
            netdev.push_str(&format!(
                ",guestfwd=tcp:10.0.2.100:80-cmd:socat - TCP:127.0.0.1:{port}"
            ));
        }
        let base = crate::base::base_image();
        let mut cmd = Command::new("qemu-system-x86_64");
        cmd.args(["-accel", "tcg", "-nodefaults", "-no-user-config"])
            .args(["-machine", "pc", "-cpu", "max"])
            .args(["-smp", &o.cpus.to_string(), "-m", &o.memory_mb.to_string()])
            .args(["-display", "none", "-no-reboot"])
            .arg("-kernel")
            .arg(&base.kernel)
            .arg("-initrd")
            .arg(&base.initrd)
            // apparmor=0: Debian's kernel enables AppArmor and Docker then wants
            // apparmor_parser; Flatcar runs Docker without AppArmor.
            // default_timeout_start_sec: under TCG on a loaded machine Debian's own units
            // (containerd) miss systemd's 90 s start timeout; device jobs keep their 90 s
            // (DefaultDeviceTimeoutSec, set explicitly), which the late-volume scenario is about.
            .args([
                "-append",
                "console=ttyS0 root=/dev/vda rw panic=-1 apparmor=0 systemd.journald.forward_to_console=1 \
                 systemd.show_status=false systemd.default_timeout_start_sec=900 \
                 systemd.default_device_timeout_sec=90",
            ])
            .arg("-serial")
            .arg(format!("file:{}", self.serial_path().display()))
            .arg("-drive")
            .arg(format!(
                "file={},if=none,id=root,format=raw,cache=unsafe",
                self.root.path().display()
            ))
            .args(["-device", "virtio-blk-pci,drive=root,serial=root"])
            .args(["-device", "virtio-scsi-pci,id=scsi0"])
            .args(["-netdev", &netdev, "-device", "virtio-net-pci,netdev=net0"])
            .args(["-device", "virtio-serial-pci"])
            .arg("-chardev")
            .arg(format!(
                "socket,id=agent,path={},server=on,wait=off",
                agent_sock.display()
            ))
            .args([
                "-device",
                "virtserialport,chardev=agent,name=nassella.harness",
            ])
            .arg("-qmp")
            .arg(format!("unix:{},server=on,wait=off", qmp_sock.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(
                fs::File::create(self.dir.path().join(format!("qemu-{}.err", self.boots))).unwrap(),
            );
        for v in volumes {
            cmd.arg("-blockdev").arg(format!(
                "driver=raw,node-name={},file.driver=file,file.filename={}",
                v.node(),
                v.path().display()
            ));
            let d = v.qmp_device();
            cmd.arg("-device").arg(format!(
                "scsi-hd,id={},drive={},bus=scsi0.0,vendor={},product={},serial={}",
                d["id"].as_str().unwrap(),
                d["drive"].as_str().unwrap(),
                d["vendor"].as_str().unwrap(),
                d["product"].as_str().unwrap(),
                d["serial"].as_str().unwrap()
            ));
        }
        self.booted_at = Instant::now();
        let child = cmd
            .spawn()
            .expect("qemu-system-x86_64 runs (.ci/install-tools)");
        self.child = Some(child);
        self.qmp = Some(Mutex::new(Qmp::connect(&qmp_sock)));
        self.agent = Some(Mutex::new(Agent::connect(&agent_sock)));
        for v in volumes {
            self.attached.insert(v.serial.clone(), (*v).clone());
        }
    }

    fn qmp(&self) -> std::sync::MutexGuard<'_, Qmp> {
        self.qmp
            .as_ref()
            .unwrap_or_else(|| panic!("{}: not running", self.name))
            .lock()
            .unwrap()
    }

    /// Hot-plug `volume` (QMP `blockdev-add` + `device_add scsi-hd`), as a provider attaches a
    /// volume to a running server.
    ///
    /// # Panics
    /// When QEMU refuses (e.g. another VM still holds the image: QEMU locks it).
    pub fn attach(&mut self, volume: &Volume) {
        let mut q = self.qmp();
        q.execute(
            "blockdev-add",
            json!({
                "driver": "raw",
                "node-name": volume.node(),
                "file": {"driver": "file", "filename": volume.path()},
            }),
        );
        q.execute("device_add", volume.qmp_device());
        drop(q);
        self.attached.insert(volume.serial.clone(), volume.clone());
    }

    /// Hot-unplug `volume` (`device_del`, waiting for the guest to let it go, then
    /// `blockdev-del`), as a provider detaches a volume.
    ///
    /// # Panics
    /// When it is not attached or the guest does not release it within 60 s.
    pub fn detach(&mut self, volume: &Volume) {
        assert!(
            self.attached.remove(&volume.serial).is_some(),
            "{}: {} is not attached",
            self.name,
            volume.serial
        );
        let mut q = self.qmp();
        q.execute("device_del", json!({"id": volume.device_id()}));
        let id = volume.device_id();
        q.wait_event("DEVICE_DELETED", Duration::from_secs(60), |d| {
            d["device"] == id.as_str()
        });
        q.execute("blockdev-del", json!({"node-name": volume.node()}));
    }

    /// Run `script` in the guest through the harness agent, waiting up to `timeout`; `None`
    /// when the agent did not answer (not up yet, or the guest is gone).
    pub fn try_sh(&self, script: &str, timeout: Duration) -> Option<Output> {
        let agent = self.agent.as_ref()?;
        agent.lock().unwrap().run(script, timeout)
    }

    /// Run `script` in the guest and return its output.
    ///
    /// # Panics
    /// When the agent does not answer within 10 minutes or the script exits non-zero (with the
    /// output and the guest's state).
    pub fn sh(&self, script: &str) -> String {
        match self.try_sh(script, Duration::from_secs(600)) {
            Some(o) if o.ok() => o.text,
            Some(o) => panic!(
                "{}: `{script}` exited {}:\n{}\n{}",
                self.name,
                o.code,
                o.text,
                self.diagnostics()
            ),
            None => panic!(
                "{}: no answer to `{script}`\n{}",
                self.name,
                self.diagnostics()
            ),
        }
    }

    /// Wait (up to `timeout`) for the agent to answer: the guest reached `sysinit.target`.
    ///
    /// # Panics
    /// On timeout, with the serial console.
    pub fn wait_for_agent(&self, timeout: Duration) {
        self.wait_until("the harness agent answers", timeout, || {
            self.try_sh("true", Duration::from_secs(10))
                .filter(Output::ok)
                .map(|_| ())
        });
    }

    /// Poll `check` every 2 s until it returns `Some`, for at most `timeout`.
    ///
    /// # Panics
    /// On timeout, saying what was awaited, for how long, and what the guest was doing.
    pub fn wait_until<T>(
        &self,
        what: &str,
        timeout: Duration,
        mut check: impl FnMut() -> Option<T>,
    ) -> T {
        let started = Instant::now();
        loop {
            if let Some(t) = check() {
                return t;
            }
            if let Some(status) = self.child_exit() {
                panic!(
                    "{}: QEMU exited ({status}) while waiting for {what}\n{}",
                    self.name,
                    self.diagnostics()
                );
            }
            if started.elapsed() > timeout {
                panic!(
                    "{}: waited {timeout:?} for {what} ({:?} after boot)\n{}",
                    self.name,
                    self.since_boot(),
                    self.diagnostics()
                );
            }
            std::thread::sleep(Duration::from_secs(2));
        }
    }

    fn child_exit(&self) -> Option<String> {
        // `try_wait` needs `&mut`; a process that exited shows as a closed QMP socket instead.
        let pid = self.child.as_ref()?.id();
        let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok();
        match stat {
            Some(s) if !s.contains(") Z ") => None,
            _ => Some(
                fs::read_to_string(self.dir.path().join(format!("qemu-{}.err", self.boots)))
                    .unwrap_or_default(),
            ),
        }
    }

    /// `GET path` with `Host: host` through the forwarded port (status 0 when nothing answers).
    #[must_use]
    pub fn http_get(&self, host: &str, path: &str) -> nassella_testkit::instance::Response {
        nassella_testkit::instance::http_get(self.options.http_port, host, path)
    }

    /// Wait until `GET /` on `host` answers 200 with a body containing `text`.
    ///
    /// # Panics
    /// On timeout.
    pub fn wait_serving(&self, host: &str, text: &str, timeout: Duration) {
        self.wait_until(
            &format!("http://{host}/ to answer 200 with {text:?}"),
            timeout,
            || {
                let r = self.http_get(host, "/");
                (r.status == 200 && r.body.contains(text)).then_some(())
            },
        );
    }

    /// The state of a unit (`active`, `failed`, `activating` …; `unknown` when the agent does
    /// not answer).
    #[must_use]
    pub fn unit_state(&self, unit: &str) -> String {
        self.try_sh(
            &format!("systemctl show -P ActiveState {unit}"),
            Duration::from_secs(30),
        )
        .map_or_else(|| "unknown".to_owned(), |o| o.text.trim().to_owned())
    }

    /// What the guest is doing: failed and pending units, the last journal lines (through the
    /// agent, when it answers), else the tail of the serial console.
    #[must_use]
    pub fn diagnostics(&self) -> String {
        let mut out = format!("===== {} diagnostics =====\n", self.name);
        let state = self.try_sh(
            "systemctl --no-pager list-units --failed; systemctl --no-pager list-jobs; \
             journalctl -b --no-pager -n 150 -o short-monotonic",
            Duration::from_secs(60),
        );
        match state {
            Some(o) => out.push_str(&o.text),
            None => {
                let log = self.serial_log();
                let tail: Vec<&str> = log.lines().rev().take(150).collect();
                out.push_str("(agent not answering) serial console tail:\n");
                for l in tail.into_iter().rev() {
                    out.push_str(l);
                    out.push('\n');
                }
            }
        }
        out
    }

    /// Pull the plug: QMP `quit`, no shutdown in the guest. The machine can [`Self::boot`] again.
    pub fn power_cut(&mut self) {
        if let Some(q) = self.qmp.take() {
            let _ = q.lock().unwrap().try_execute("quit", json!({}));
        }
        self.reap();
    }

    /// A clean shutdown (`systemctl poweroff` in the guest), waiting up to `timeout` for QEMU to
    /// exit.
    ///
    /// # Panics
    /// When the guest does not power off in time.
    pub fn power_off(&mut self, timeout: Duration) {
        let _ = self.try_sh("systemctl --no-block poweroff", Duration::from_secs(30));
        let started = Instant::now();
        while self.child_exit().is_none() {
            if started.elapsed() > timeout {
                let log = self.serial_log();
                self.power_cut();
                panic!(
                    "{}: no power-off within {timeout:?}; console tail:\n{}",
                    self.name,
                    log.lines().rev().take(60).collect::<Vec<_>>().join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        self.qmp = None;
        self.reap();
    }

    fn reap(&mut self) {
        self.agent = None;
        self.qmp = None;
        self.attached.clear();
        if let Some(mut c) = self.child.take() {
            let started = Instant::now();
            while c.try_wait().ok().flatten().is_none() {
                if started.elapsed() > Duration::from_secs(20) {
                    let _ = c.kill();
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

impl Drop for Vm {
    fn drop(&mut self) {
        if let Some(c) = self.child.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
        if std::thread::panicking() || std::env::var_os("NASSELLA_VM_KEEP").is_some() {
            eprintln!(
                "{}: serial console of boot {} kept in {}",
                self.name,
                self.boots,
                self.dir.path().display()
            );
            let kept = std::mem::replace(&mut self.dir, tempfile::tempdir().unwrap());
            let _ = kept.keep();
        }
    }
}
