//! `ignition-validate` and the real Ignition `files` stage.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::fs::{chown, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Serialize;
use tempfile::TempDir;

use crate::fsutil::temp_dir;
use crate::process::{default_timeout, run, Captured};
use crate::tools::{ignition_binary_path, require_tool};

/// Where Ignition records `systemd.units[].enabled` (relative to the root).
const PRESET_FILE: &str = "etc/systemd/system-preset/20-ignition.preset";

/// The result file written by the files stage; it holds a boot id and a
/// timestamp, so it is left out of [`FilesStageRoot::list_files`].
const RESULT_FILE: &str = "etc/.ignition-result.json";

/// Backup and lock files that `usermod`/`useradd --root` leave next to the
/// passwd database; left out of [`FilesStageRoot::list_files`].
const SHADOW_UTILS_DEBRIS: &[&str] = &[
    "etc/passwd-",
    "etc/group-",
    "etc/shadow-",
    "etc/gshadow-",
    "etc/subuid-",
    "etc/subgid-",
    "etc/.pwd.lock",
];

/// Minimal Flatcar-like account database seeded into the temp root.
const SEED_PASSWD: &str = "\
root:x:0:0:root:/root:/bin/bash
core:x:500:500:Flatcar Admin:/home/core:/bin/bash
";
const SEED_GROUP: &str = "\
root:x:0:
wheel:x:10:root,core
sudo:x:150:core
docker:x:233:core
core:x:500:
";
const SEED_SHADOW: &str = "\
root:*:19000:0:99999:7:::
core:*:19000:0:99999:7:::
";
const SEED_GSHADOW: &str = "\
root:*::
wheel:*::root,core
sudo:*::core
docker:*::core
core:!::
";

/// Kind of a filesystem entry found under a [`FilesStageRoot`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum FileKind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link (not followed).
    Symlink,
    /// Anything else (fifo, socket, device).
    Other,
}

/// How the files stage ended; every variant means all files, users and units
/// of the config were written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StageEnding {
    /// Ignition exited 0.
    Completed,
    /// The expected last step failed: SELinux relabeling found no
    /// `/etc/selinux/config` in the temp root. The result file had already been
    /// written.
    SelinuxRelabelSkipped,
    /// The config enables an instantiated unit (`x@i.service`), after which
    /// Ignition asks systemd over D-Bus (`/run/systemd/private`) for its version,
    /// to warn if it is older than 240; there is no systemd here. All unit files
    /// and the preset file had been written; the result file and relabeling were
    /// skipped. On a real Flatcar boot systemd is running and this succeeds.
    SystemdVersionProbeUnavailable,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Seeded {
    kind: FileKind,
    mode: u32,
    uid: u32,
    gid: u32,
    contents: Vec<u8>,
}

/// A temp root that the real Ignition `files` stage has written into, returned
/// by [`ignition_files_stage`]. Keeps the temp dir alive until dropped.
///
/// Paths given to its methods are relative to the root; a leading `/` is
/// accepted (`"/etc/hostname"` and `"etc/hostname"` are the same).
#[derive(Debug)]
pub struct FilesStageRoot {
    _tmp: TempDir,
    root: PathBuf,
    log: String,
    ending: StageEnding,
    seeded: BTreeMap<String, Seeded>,
}

impl FilesStageRoot {
    /// The root directory Ignition wrote into.
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// Run the real Ignition again over this root, as it runs at the next boot when the first
    /// one failed (Flatcar reboots into Ignition): `config_json` is applied to the files the
    /// first run left. Returns how the files stage ended.
    ///
    /// # Panics
    /// When a stage fails (the message holds Ignition's log).
    pub fn run_again(&self, config_json: &[u8]) -> StageEnding {
        let run = temp_dir("nassella-ignition-rerun");
        run_stages(&ignition_binary_path(), &self.root, run.path(), config_json).1
    }

    /// Absolute host path of `rel` inside the root.
    pub fn join(&self, rel: &str) -> PathBuf {
        self.root.join(rel.trim_start_matches('/'))
    }

    /// Ignition's output (stdout and stderr) of the `fetch-offline` and
    /// `files` stages, in order.
    pub fn log(&self) -> &str {
        &self.log
    }

    /// How the stage ended (all variants are successes).
    pub fn ending(&self) -> StageEnding {
        self.ending
    }

    fn meta(&self, rel: &str) -> fs::Metadata {
        fs::symlink_metadata(self.join(rel)).unwrap_or_else(|e| {
            panic!(
                "nassella-testkit: {rel:?} not found in the Ignition root ({e}); written: {:#?}",
                self.list_files().keys().collect::<Vec<_>>()
            )
        })
    }

    /// Contents of the file `rel` (follows symlinks inside the host view).
    ///
    /// # Panics
    ///
    /// If it does not exist (listing what does).
    pub fn read(&self, rel: &str) -> Vec<u8> {
        self.meta(rel);
        fs::read(self.join(rel)).unwrap_or_else(|e| {
            panic!("nassella-testkit: reading {rel:?} in the Ignition root: {e}")
        })
    }

    /// [`Self::read`] as UTF-8 text.
    pub fn read_to_string(&self, rel: &str) -> String {
        String::from_utf8(self.read(rel))
            .unwrap_or_else(|e| panic!("nassella-testkit: {rel:?} is not UTF-8: {e}"))
    }

    /// Permission bits of `rel` (`0o7777` mask, the link itself for symlinks).
    pub fn mode(&self, rel: &str) -> u32 {
        self.meta(rel).permissions().mode() & 0o7777
    }

    /// `(uid, gid)` owning `rel` (the link itself for symlinks).
    pub fn owner(&self, rel: &str) -> (u32, u32) {
        let m = self.meta(rel);
        (m.uid(), m.gid())
    }

    /// Whether `rel` exists (without following a final symlink).
    pub fn exists(&self, rel: &str) -> bool {
        fs::symlink_metadata(self.join(rel)).is_ok()
    }

    /// Whether `rel` is a symlink.
    pub fn is_symlink(&self, rel: &str) -> bool {
        self.meta(rel).file_type().is_symlink()
    }

    /// Target of the symlink `rel`, as written (e.g. `/dev/null`).
    ///
    /// # Panics
    ///
    /// If `rel` is not a symlink.
    pub fn link_target(&self, rel: &str) -> PathBuf {
        assert!(
            self.is_symlink(rel),
            "nassella-testkit: {rel:?} is not a symlink"
        );
        fs::read_link(self.join(rel))
            .unwrap_or_else(|e| panic!("nassella-testkit: read_link {rel:?}: {e}"))
    }

    /// Every entry under the root (relative paths, no leading `/`, sorted)
    /// that Ignition created or changed, directories included.
    ///
    /// Left out: the seeded account files and directories while unchanged,
    /// `usermod` backups (`etc/passwd-` …, `etc/.pwd.lock`), and the
    /// run-specific `etc/.ignition-result.json`.
    pub fn list_files(&self) -> BTreeMap<String, FileKind> {
        let mut out = BTreeMap::new();
        let mut entries = Vec::new();
        walk(&self.root, "", &mut entries);
        for (rel, meta) in entries {
            if rel == RESULT_FILE || SHADOW_UTILS_DEBRIS.contains(&rel.as_str()) {
                continue;
            }
            if let Some(seed) = self.seeded.get(&rel) {
                if *seed == snapshot(&self.root.join(&rel), &meta) {
                    continue;
                }
            }
            out.insert(rel, kind_of(&meta));
        }
        out
    }

    /// Lines of Ignition's preset file, `etc/systemd/system-preset/20-ignition.preset`
    /// (empty if absent). Ignition writes them in Go map order, i.e. randomly.
    fn preset_lines(&self) -> Vec<String> {
        match fs::read_to_string(self.join(PRESET_FILE)) {
            Ok(text) => text.lines().map(str::to_string).collect(),
            Err(_) => Vec::new(),
        }
    }

    fn preset_units(&self, verb: &str) -> BTreeSet<String> {
        let mut units = BTreeSet::new();
        for line in self.preset_lines() {
            let mut words = line.split_whitespace();
            if words.next() != Some(verb) {
                continue;
            }
            let Some(unit) = words.next() else { continue };
            let instances: Vec<&str> = words.collect();
            if instances.is_empty() {
                units.insert(unit.to_string());
            } else {
                // "enable foo@.service a b" means foo@a.service and foo@b.service.
                let (stem, suffix) = unit.split_at(unit.rfind('.').unwrap_or(unit.len()));
                for inst in instances {
                    units.insert(format!("{stem}{inst}{suffix}"));
                }
            }
        }
        units
    }

    /// Units enabled by the config. Ignition 2.14 does not create `.wants`
    /// symlinks: it writes `enable <unit>` lines to
    /// `/etc/systemd/system-preset/20-ignition.preset` (instantiated units as
    /// `enable foo@.service inst1 inst2`), which systemd applies on first boot.
    /// This returns those units with instances expanded (`foo@inst1.service`),
    /// plus any unit symlinked into `/etc/systemd/system/*.wants|*.requires/`.
    pub fn enabled_units(&self) -> BTreeSet<String> {
        let mut units = self.preset_units("enable");
        for (rel, kind) in self.list_files() {
            let Some(rest) = rel.strip_prefix("etc/systemd/system/") else {
                continue;
            };
            let mut parts = rest.split('/');
            if let (Some(dir), Some(name), None) = (parts.next(), parts.next(), parts.next()) {
                if kind == FileKind::Symlink
                    && (dir.ends_with(".wants") || dir.ends_with(".requires"))
                {
                    units.insert(name.to_string());
                }
            }
        }
        units
    }

    /// Units with `enabled: false` (`disable <unit>` lines of the preset file).
    pub fn disabled_units(&self) -> BTreeSet<String> {
        self.preset_units("disable")
    }

    /// Units masked by the config: symlinks `/etc/systemd/system/<unit>` →
    /// `/dev/null`.
    pub fn masked_units(&self) -> BTreeSet<String> {
        let dir = self.join("etc/systemd/system");
        let Ok(entries) = fs::read_dir(&dir) else {
            return BTreeSet::new();
        };
        entries
            .filter_map(Result::ok)
            .filter(|e| fs::read_link(e.path()).is_ok_and(|t| t == Path::new("/dev/null")))
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect()
    }
}

fn kind_of(meta: &fs::Metadata) -> FileKind {
    let t = meta.file_type();
    if t.is_symlink() {
        FileKind::Symlink
    } else if t.is_dir() {
        FileKind::Dir
    } else if t.is_file() {
        FileKind::File
    } else {
        FileKind::Other
    }
}

fn snapshot(path: &Path, meta: &fs::Metadata) -> Seeded {
    let kind = kind_of(meta);
    let contents = match kind {
        FileKind::File => fs::read(path).unwrap_or_default(),
        FileKind::Symlink => fs::read_link(path)
            .map(|t| t.into_os_string().into_encoded_bytes())
            .unwrap_or_default(),
        _ => Vec::new(),
    };
    Seeded {
        kind,
        mode: meta.permissions().mode() & 0o7777,
        uid: meta.uid(),
        gid: meta.gid(),
        contents,
    }
}

/// Collects `(relative path, metadata)` of everything below `dir`, not
/// following symlinks.
fn walk(dir: &Path, prefix: &str, out: &mut Vec<(String, fs::Metadata)>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.filter_map(Result::ok) {
        let name = entry.file_name().to_string_lossy().into_owned();
        let rel = if prefix.is_empty() {
            name
        } else {
            format!("{prefix}/{name}")
        };
        let Ok(meta) = fs::symlink_metadata(entry.path()) else {
            continue;
        };
        let is_dir = meta.file_type().is_dir();
        out.push((rel.clone(), meta));
        if is_dir {
            walk(&entry.path(), &rel, out);
        }
    }
}

fn truncated(bytes: &[u8]) -> String {
    const MAX: usize = 20_000;
    let text = String::from_utf8_lossy(bytes);
    if text.len() <= MAX {
        text.into_owned()
    } else {
        let mut end = MAX;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}… ({} bytes in all)", &text[..end], bytes.len())
    }
}

/// Validates an Ignition config with the real `ignition-validate`.
///
/// # Panics
///
/// If `ignition-validate` exits non-zero **or prints anything** (it exits 0
/// on warnings such as unused keys or an enabled unit without `[Install]`), with
/// its output and the config; or if the tool is not installed.
pub fn ignition_validate(config_json: &[u8]) {
    let validate = require_tool("ignition-validate");
    let tmp = temp_dir("nassella-ignition-validate");
    let file = tmp.path().join("config.ign");
    fs::write(&file, config_json).expect("nassella-testkit: writing config.ign");
    let out = run(Command::new(validate).arg(&file), default_timeout());
    if !out.status.success() || !out.stdout.trim().is_empty() || !out.stderr.trim().is_empty() {
        panic!(
            "nassella-testkit: ignition-validate {} the config\n{}\n--- config ---\n{}",
            if out.status.success() {
                "warned about"
            } else {
                "rejected"
            },
            out.both(),
            truncated(config_json)
        );
    }
}

fn is_root_user() -> bool {
    let out = run(Command::new("id").arg("-u"), default_timeout());
    out.stdout.trim() == "0"
}

fn seed_root(root: &Path) {
    let dir = |rel: &str, mode: u32, owner: u32| {
        let p = root.join(rel);
        fs::create_dir_all(&p).expect("nassella-testkit: seeding the root");
        fs::set_permissions(&p, fs::Permissions::from_mode(mode)).expect("chmod seed dir");
        chown(&p, Some(owner), Some(owner)).expect("chown seed dir");
    };
    let file = |rel: &str, contents: &str, mode: u32| {
        let p = root.join(rel);
        fs::write(&p, contents).expect("nassella-testkit: seeding the root");
        fs::set_permissions(&p, fs::Permissions::from_mode(mode)).expect("chmod seed file");
    };
    dir("", 0o755, 0);
    dir("etc", 0o755, 0);
    dir("root", 0o700, 0);
    dir("home", 0o755, 0);
    dir("home/core", 0o700, 500);
    file("etc/passwd", SEED_PASSWD, 0o644);
    file("etc/group", SEED_GROUP, 0o644);
    file("etc/shadow", SEED_SHADOW, 0o640);
    file("etc/gshadow", SEED_GSHADOW, 0o640);
}

/// Ignition log lines at an error level (EMERGENCY/ALERT/CRITICAL/ERROR).
fn error_lines(log: &str) -> Vec<&str> {
    log.lines()
        .filter(|l| {
            let level = l.split(':').next().unwrap_or("").trim();
            matches!(level, "EMERGENCY" | "ALERT" | "CRITICAL" | "ERROR")
        })
        .collect()
}

fn stage_log(name: &str, out: &Captured) -> String {
    format!(
        "===== ignition stage {name} ({}) =====\n{}\n{}",
        out.status,
        out.stdout.trim_end(),
        out.stderr.trim_end()
    )
}

/// Runs the real Ignition (`fetch-offline`, then `fetch` if it asked for
/// network, then `files`) on `config_json` against a fresh temp root and
/// returns that root for inspection.
///
/// The root is seeded like a minimal Flatcar: `/etc/passwd`, `/etc/group`,
/// `/etc/shadow`, `/etc/gshadow` with `root` and `core` (uid/gid 500, shell
/// `/bin/bash`; groups wheel 10, sudo 150, docker 233 list core), `/root`
/// (0700) and `/home/core` (0700, owned by core), so `passwd.users` changes and
/// SSH keys can be applied (Ignition runs `usermod`/`useradd --root`).
///
/// Invocation (flags found by experiment with Ignition 2.14):
///
/// ```text
/// IGNITION_CONFIG_FILE=<cfg> ignition -platform file -stage fetch-offline -root <root> \
///     -config-cache <cache> -state-file <state> -neednet <neednet> -log-to-stdout
/// # only if <neednet> was created (the config references remote resources):
/// IGNITION_CONFIG_FILE=<cfg> ignition -platform file -stage fetch -root <root> \
///     -config-cache <cache> -state-file <state> -log-to-stdout
/// ignition -platform file -stage files -root <root> -config-cache <cache> \
///     -state-file <state> -log-to-stdout
/// ```
///
/// A root without SELinux makes the stage's last step (relabeling) fail, and a
/// config enabling an instantiated unit makes Ignition ask a (here absent)
/// systemd for its version after writing every unit; both are accepted (see
/// [`StageEnding`]). Remote `http://` sources are fetched for real (see
/// [`crate::serve_file_http`]).
///
/// # Panics
///
/// With the whole log if any stage reports any other error (bad hash,
/// unreachable URL, `usermod` failure …), if not run as root, or if Ignition
/// is not installed.
pub fn ignition_files_stage(config_json: &[u8]) -> FilesStageRoot {
    let ignition = ignition_binary_path();
    require_tool("usermod");
    assert!(
        is_root_user(),
        "nassella-testkit: ignition_files_stage must run as root (Ignition chowns files)"
    );
    let tmp = temp_dir("nassella-ignition-root");
    let root = tmp.path().join("root");
    let run_dir = tmp.path().join("run");
    fs::create_dir_all(&run_dir).expect("nassella-testkit: creating run dir");
    seed_root(&root);
    let mut seeded = BTreeMap::new();
    let mut entries = Vec::new();
    walk(&root, "", &mut entries);
    for (rel, meta) in entries {
        let snap = snapshot(&root.join(&rel), &meta);
        seeded.insert(rel, snap);
    }

    let (log, ending) = run_stages(&ignition, &root, &run_dir, config_json);

    FilesStageRoot {
        _tmp: tmp,
        root,
        log,
        ending,
        seeded,
    }
}

/// Runs the real Ignition (`fetch-offline`, `fetch` if it asked for network, `files`) with
/// `config_json` against the existing tree `root`, e.g. a Debian root file system that a VM
/// will boot (the VM harness of `vm-tests`). Returns Ignition's log and how the files stage
/// ended; the accepted endings are those of [`ignition_files_stage`].
///
/// # Panics
///
/// As [`ignition_files_stage`]: any other error, not root, Ignition missing.
pub fn ignition_files_stage_into(root: &Path, config_json: &[u8]) -> (String, StageEnding) {
    let ignition = ignition_binary_path();
    require_tool("usermod");
    assert!(
        is_root_user(),
        "nassella-testkit: the Ignition files stage must run as root (Ignition chowns files)"
    );
    let tmp = temp_dir("nassella-ignition-run");
    run_stages(&ignition, root, tmp.path(), config_json)
}

/// The `fetch-offline`, `fetch` (when needed) and `files` stages of the real Ignition on `root`,
/// with its state in `run_dir`: the log, and how the files stage ended.
fn run_stages(
    ignition: &Path,
    root: &Path,
    run_dir: &Path,
    config_json: &[u8],
) -> (String, StageEnding) {
    let config = run_dir.join("config.ign");
    let cache = run_dir.join("config-cache.json");
    let state = run_dir.join("state");
    let neednet = run_dir.join("neednet");
    fs::write(&config, config_json).expect("nassella-testkit: writing config.ign");

    // usermod and useradd live in /usr/sbin, which a non-login PATH may lack.
    let path = std::env::var("PATH").unwrap_or_default();
    let path = format!("{path}:/usr/sbin:/sbin");
    let stage = |name: &str| {
        let mut cmd = Command::new(ignition);
        cmd.args(["-platform", "file", "-stage", name, "-root"])
            .arg(root)
            .arg("-config-cache")
            .arg(&cache)
            .arg("-state-file")
            .arg(&state)
            .arg("-log-to-stdout")
            .env("PATH", &path)
            .env("IGNITION_CONFIG_FILE", &config)
            .current_dir(run_dir);
        if name == "fetch-offline" {
            cmd.arg("-neednet").arg(&neednet);
        }
        run(&mut cmd, default_timeout())
    };

    let mut log = String::new();
    let fail = |log: &str, why: &str| -> ! {
        panic!(
            "nassella-testkit: Ignition failed: {why}\n{log}\n--- config ---\n{}",
            truncated(config_json)
        )
    };

    // fetch-offline parses the config and writes the cache; when the config
    // references any remote resource (e.g. an http:// file source) it creates
    // the neednet flag instead of finishing, and the boot runs `fetch` next.
    for name in ["fetch-offline", "fetch"] {
        if name == "fetch" && !neednet.exists() {
            break;
        }
        let out = stage(name);
        log.push_str(&stage_log(name, &out));
        log.push('\n');
        if !out.status.success() || !error_lines(&out.stdout).is_empty() {
            fail(
                &log,
                &format!(
                    "stage {name} failed:\n{}",
                    error_lines(&out.stdout).join("\n")
                ),
            );
        }
    }

    let out = stage("files");
    log.push_str(&stage_log("files", &out));
    log.push('\n');
    let errors = error_lines(&out.stdout);
    let ending = if out.status.success() && errors.is_empty() {
        StageEnding::Completed
    } else if let [only] = errors.as_slice() {
        let started = out.stdout.matches("[started]  setting preset").count();
        let finished = out.stdout.matches("[finished] setting preset").count();
        if only.contains(
            "Ignition failed: failed to handle relabeling: failed to open /etc/selinux/config:",
        ) {
            StageEnding::SelinuxRelabelSkipped
        } else if only
            .contains("Ignition failed: failed to create units: dial unix /run/systemd/private:")
            && started > 0
            && started == finished
        {
            StageEnding::SystemdVersionProbeUnavailable
        } else {
            fail(&log, only)
        }
    } else {
        fail(
            &log,
            &format!("stage files reported errors:\n{}", errors.join("\n")),
        )
    };

    (log, ending)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::serve_file_http;
    use sha2::{Digest, Sha256, Sha512};

    const UNIT: &str = "[Unit]\nDescription=hello\n[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n";

    fn minimal_config() -> String {
        let unit = serde_json_string(UNIT);
        format!(
            r#"{{
  "ignition": {{ "version": "3.3.0" }},
  "passwd": {{ "users": [ {{ "name": "core", "shell": "/bin/sh",
                             "sshAuthorizedKeys": ["ssh-ed25519 AAAAC3Nza test@example"] }} ] }},
  "storage": {{
    "files": [ {{ "path": "/etc/nassella/hello.txt", "mode": 416,
                  "contents": {{ "source": "data:,hello%20world%0A" }} }} ],
    "links": [ {{ "path": "/etc/nassella/current", "target": "/etc/nassella/hello.txt" }} ],
    "directories": [ {{ "path": "/var/lib/nassella", "mode": 448 }} ]
  }},
  "systemd": {{ "units": [
    {{ "name": "hello.service", "enabled": true, "contents": {unit} }},
    {{ "name": "update-engine.service", "mask": true }}
  ] }}
}}"#
        )
    }

    /// JSON string literal for `s` (only the escapes the test strings need).
    fn serde_json_string(s: &str) -> String {
        format!(
            "\"{}\"",
            s.replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\n', "\\n")
        )
    }

    /// `data:` URL of `s`, percent-encoding everything but ASCII alphanumerics.
    fn data_url(s: &str) -> String {
        let mut out = String::from("data:,");
        for b in s.bytes() {
            if b.is_ascii_alphanumeric() {
                out.push(b as char);
            } else {
                out.push_str(&format!("%{b:02X}"));
            }
        }
        out
    }

    fn remote_file_config(url: &str, hash: &str) -> String {
        format!(
            r#"{{"ignition":{{"version":"3.3.0"}},"storage":{{"files":[{{"path":"/opt/bin/artifact","mode":493,
               "contents":{{"source":"{url}","verification":{{"hash":"{hash}"}}}}}}]}}}}"#
        )
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn validate_accepts_minimal_config() {
        ignition_validate(minimal_config().as_bytes());
    }

    #[test]
    #[should_panic(expected = "path not absolute")]
    fn validate_rejects_relative_path() {
        ignition_validate(
            br#"{"ignition":{"version":"3.3.0"},"storage":{"files":[{"path":"etc/x","contents":{"source":"data:,x"}}]}}"#,
        );
    }

    #[test]
    #[should_panic(expected = "warned about")]
    fn validate_panics_on_warning() {
        // Exit status 0, but a warning: enabled unit without [Install].
        ignition_validate(
            br#"{"ignition":{"version":"3.3.0"},"systemd":{"units":[{"name":"a.service","enabled":true,"contents":"[Service]\nExecStart=/bin/true\n"}]}}"#,
        );
    }

    #[test]
    #[should_panic(expected = "unsupported config version")]
    fn validate_rejects_spec_3_4_0() {
        // Ignition 2.14 knows 3.4.0 only as 3.4.0-experimental.
        ignition_validate(br#"{"ignition":{"version":"3.4.0"}}"#);
    }

    #[test]
    fn files_stage_applies_minimal_config() {
        let root = ignition_files_stage(minimal_config().as_bytes());
        assert_eq!(
            root.ending(),
            StageEnding::SelinuxRelabelSkipped,
            "{}",
            root.log()
        );

        assert_eq!(root.read("/etc/nassella/hello.txt"), b"hello world\n");
        assert_eq!(root.mode("etc/nassella/hello.txt"), 0o640);
        assert_eq!(root.owner("etc/nassella/hello.txt"), (0, 0));
        assert!(root.is_symlink("etc/nassella/current"));
        assert_eq!(
            root.link_target("etc/nassella/current"),
            Path::new("/etc/nassella/hello.txt")
        );
        assert_eq!(root.mode("var/lib/nassella"), 0o700);
        assert_eq!(
            root.read_to_string("etc/systemd/system/hello.service"),
            UNIT
        );
        assert_eq!(
            root.read_to_string("etc/systemd/system-preset/20-ignition.preset"),
            "enable hello.service\n"
        );
        assert!(root
            .read_to_string("etc/passwd")
            .contains("core:x:500:500:Flatcar Admin:/home/core:/bin/sh\n"));
        assert_eq!(
            root.read_to_string("home/core/.ssh/authorized_keys.d/ignition"),
            "ssh-ed25519 AAAAC3Nza test@example\n"
        );
        assert_eq!(
            root.owner("home/core/.ssh/authorized_keys.d/ignition"),
            (500, 500)
        );

        assert_eq!(
            root.enabled_units(),
            BTreeSet::from(["hello.service".to_string()])
        );
        assert_eq!(
            root.masked_units(),
            BTreeSet::from(["update-engine.service".to_string()])
        );
        assert!(root.disabled_units().is_empty());

        let listed = root.list_files();
        let expected: BTreeMap<String, FileKind> = [
            ("etc/nassella", FileKind::Dir),
            ("etc/nassella/current", FileKind::Symlink),
            ("etc/nassella/hello.txt", FileKind::File),
            ("etc/passwd", FileKind::File),
            ("etc/systemd", FileKind::Dir),
            ("etc/systemd/system", FileKind::Dir),
            ("etc/systemd/system/hello.service", FileKind::File),
            (
                "etc/systemd/system/update-engine.service",
                FileKind::Symlink,
            ),
            ("etc/systemd/system-preset", FileKind::Dir),
            (
                "etc/systemd/system-preset/20-ignition.preset",
                FileKind::File,
            ),
            ("home/core/.ssh", FileKind::Dir),
            ("home/core/.ssh/authorized_keys.d", FileKind::Dir),
            ("home/core/.ssh/authorized_keys.d/ignition", FileKind::File),
            ("var", FileKind::Dir),
            ("var/lib", FileKind::Dir),
            ("var/lib/nassella", FileKind::Dir),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        assert_eq!(listed, expected, "{}", root.log());
        assert!(root.log().contains("Stage: files"));
    }

    #[test]
    fn files_stage_creates_new_user_and_disables_unit() {
        let root = ignition_files_stage(
            br#"{"ignition":{"version":"3.3.0"},
                "passwd":{"users":[{"name":"nassella","uid":1001,"groups":["docker"],"noCreateHome":true}]},
                "systemd":{"units":[{"name":"sshd.socket","enabled":false}]}}"#,
        );
        assert!(root
            .read_to_string("etc/passwd")
            .contains("nassella:x:1001:"));
        assert!(root
            .read_to_string("etc/group")
            .contains("docker:x:233:core,nassella\n"));
        assert_eq!(
            root.disabled_units(),
            BTreeSet::from(["sshd.socket".to_string()])
        );
        assert!(root.enabled_units().is_empty());
    }

    #[test]
    fn files_stage_enables_template_instance_via_preset() {
        let config = format!(
            r#"{{"ignition":{{"version":"3.3.0"}},
                "storage":{{"files":[{{"path":"/etc/systemd/system/nassella-app@.service","mode":420,
                  "contents":{{"source":"{}"}}}}]}},
                "systemd":{{"units":[{{"name":"nassella-app@cloud.service","enabled":true}},
                                     {{"name":"nassella-app@blog.service","enabled":true}}]}}}}"#,
            data_url(UNIT)
        );
        ignition_validate(config.as_bytes());
        let root = ignition_files_stage(config.as_bytes());
        // Without a running systemd (containers, CI) Ignition's version probe
        // fails after everything is written; with one, the stage runs on.
        assert!(
            matches!(
                root.ending(),
                StageEnding::SystemdVersionProbeUnavailable | StageEnding::SelinuxRelabelSkipped
            ),
            "{}",
            root.log()
        );
        assert_eq!(
            root.read_to_string("etc/systemd/system/nassella-app@.service"),
            UNIT
        );
        assert_eq!(
            root.read_to_string("etc/systemd/system-preset/20-ignition.preset"),
            "enable nassella-app@.service cloud blog\n"
        );
        assert_eq!(
            root.enabled_units(),
            BTreeSet::from([
                "nassella-app@blog.service".to_string(),
                "nassella-app@cloud.service".to_string()
            ])
        );
        // No instance unit file and no .wants symlink are written.
        assert!(!root.exists("etc/systemd/system/nassella-app@cloud.service"));
        assert!(!root.exists("etc/systemd/system/multi-user.target.wants"));
    }

    #[test]
    fn files_stage_fetches_remote_file_with_sha256_and_sha512() {
        let dir = tempfile::tempdir().unwrap();
        let payload: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let path = dir.path().join("artifact");
        fs::write(&path, &payload).unwrap();
        let server = serve_file_http(&path);
        for hash in [
            format!("sha256-{}", hex(&Sha256::digest(&payload))),
            format!("sha512-{}", hex(&Sha512::digest(&payload))),
        ] {
            let config = remote_file_config(&server.url(), &hash);
            ignition_validate(config.as_bytes());
            let root = ignition_files_stage(config.as_bytes());
            assert_eq!(root.read("opt/bin/artifact"), payload, "{hash}");
            assert_eq!(root.mode("opt/bin/artifact"), 0o755);
        }
        assert!(server.requests() >= 2);
    }

    #[test]
    #[should_panic(expected = "hash verification failed")]
    fn files_stage_panics_on_hash_mismatch() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("artifact");
        fs::write(&path, b"real bytes").unwrap();
        let server = serve_file_http(&path);
        let wrong = format!("sha256-{}", hex(&Sha256::digest(b"other bytes")));
        ignition_files_stage(remote_file_config(&server.url(), &wrong).as_bytes());
    }

    #[test]
    fn files_stage_downloads_the_real_compose_binary() {
        let bin = crate::tools::compose_binary_path();
        let server = serve_file_http(&bin);
        let config = remote_file_config(
            &server.url(),
            &format!("sha256-{}", crate::tools::COMPOSE_LINUX_X86_64_SHA256),
        );
        let root = ignition_files_stage(config.as_bytes());
        let got = Sha256::digest(fs::read(root.join("opt/bin/artifact")).unwrap());
        assert_eq!(hex(&got), crate::tools::COMPOSE_LINUX_X86_64_SHA256);
    }

    #[test]
    #[should_panic(expected = "stage fetch-offline failed")]
    fn files_stage_panics_on_unparseable_config() {
        ignition_files_stage(b"{not json");
    }
}
