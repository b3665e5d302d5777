//! The materialiser: Nassella's own implementation of what Ignition's `files` stage does with the
//! configs Nassella renders, so the local target can turn `ignition.json` into a folder without
//! the Ignition binary (issue #4).
//!
//! [`materialise`] parses the config with the CoreOS `ignition-config` crate (spec 3.3.0 only,
//! unknown keys are errors) and writes into `root`:
//!
//! * every `storage.files` entry with a `data:` URL (`data:,<percent-encoded>` or
//!   `data:;base64,<base64>`, optionally `compression: "gzip"`), at `root/<path>` with its `mode`
//!   (default 0644), missing parent folders created with mode 0755. An existing node at the path
//!   is an error unless `overwrite: true` (then it is removed first), as in Ignition. A file
//!   without `contents.source` is created empty, or left alone when it exists;
//! * remote sources (`http(s)://…`, `s3://…`, …) are **not fetched**: they are listed in
//!   [`Report::skipped_remote`] with path, URL and hash, and nothing is written for them;
//! * `systemd.units`: `contents` to `root/etc/systemd/system/<name>` (0644), drop-ins to
//!   `<name>.d/<dropin>`, masks as symlinks to `/dev/null`, and `enabled` in
//!   `root/etc/systemd/system-preset/20-ignition.preset`;
//! * `passwd.users` and `kernelArguments` are recorded in the [`Report`], never applied: the
//!   folder is not a system with an account database or a kernel command line.
//!
//! Everything else Ignition knows (`storage.directories`, `links`, `filesystems`, `disks`,
//! `raid`, `luks`, `passwd.groups`, `append`, owners, config merging, …) is an error naming the
//! config path (`storage.links[0]`): Nassella's renderer never emits them, so meeting one means
//! the input is not ours.
//!
//! # What differs from the real Ignition
//!
//! * **Preset file.** Ignition builds the preset lines from a Go map, so their order is random,
//!   and groups template instances as `enable name@.service a b`. Here every unit gets its own
//!   line, `enable <name>` (then `disable <name>`), sorted: the same *set* of enabled units,
//!   deterministic bytes. A real systemd's `preset-all` only applies lines naming unit files on
//!   disk, so on a real system `enable name@a.service` would not enable the instance; the
//!   materialised folder is meant for the local target, which starts units itself.
//! * **No systemd version probe** (Ignition asks systemd over D-Bus when an instance unit is
//!   enabled) and **no SELinux relabelling**, no `/etc/.ignition-result.json`.
//! * **Users and kernel arguments** are reported, not applied (see above).
//! * **Remote files** are skipped and reported; [`Options::fetch_remote`] is reserved and
//!   currently an error. Hashes of data URLs (`verification.hash`, sha256/sha512 of the
//!   decompressed contents) are checked like Ignition does.
//! * **Ownership** is whatever the calling user gets (Ignition chowns to root); the folder is
//!   not meant to be owned by root.
//! * **Symlinks in the path** are refused: a parent inside `root` that is a symlink is an error,
//!   so nothing is ever written outside `root` (Ignition resolves such links inside its root).
//! * Parent folders get mode 0755 explicitly; Ignition's `MkdirAll(0755)` is subject to the
//!   umask (the usual 022 gives the same 0755).

use std::collections::BTreeSet;
use std::fs;
use std::io::{Read as _, Write as _};
use std::os::unix::fs::{symlink, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Component, Path, PathBuf};

use anyhow::{anyhow, bail, Context as _, Result};
use base64::Engine as _;
use ignition_config::v3_3 as ign;
use sha2::Digest as _;

/// Where systemd units go, relative to the root.
pub const UNITS_DIR: &str = "etc/systemd/system";
/// Ignition's preset file, relative to the root.
pub const PRESET_FILE: &str = "etc/systemd/system-preset/20-ignition.preset";

const DEFAULT_FILE_MODE: u32 = 0o644;
const DEFAULT_DIR_MODE: u32 = 0o755;

/// How to materialise.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    /// Fetch remote sources (`https://…`). Not implemented yet: `true` makes a config with a
    /// remote source an error. With `false` (the default) remote files are skipped and listed in
    /// [`Report::skipped_remote`].
    pub fetch_remote: bool,
}

/// A remote file that was not fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteFile {
    /// The absolute path on the server (`/opt/bin/docker-compose`).
    pub path: String,
    /// The source URL.
    pub url: String,
    /// `verification.hash` (`sha256-…`), if any.
    pub hash: Option<String>,
    /// The mode the file would get.
    pub mode: u32,
}

/// A `passwd.users` entry, recorded but not applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// The user name.
    pub name: String,
    /// The login shell the config sets, if any.
    pub shell: Option<String>,
    /// The SSH keys the config authorises.
    pub ssh_authorized_keys: Vec<String>,
    /// Supplementary groups.
    pub groups: Vec<String>,
}

/// What [`materialise`] did, and what it recorded without applying.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Files written (server paths, e.g. `/etc/flatcar/update.conf`), in config order, unit
    /// files, drop-ins and the preset file included.
    pub written: Vec<String>,
    /// Remote files skipped (not fetched).
    pub skipped_remote: Vec<RemoteFile>,
    /// Units with `enabled: true` (instances as named, `nassella-app@cloud.service`).
    pub enabled_units: BTreeSet<String>,
    /// Units with `enabled: false`.
    pub disabled_units: BTreeSet<String>,
    /// Masked units (symlinks to `/dev/null`).
    pub masked_units: BTreeSet<String>,
    /// `passwd.users`, not applied.
    pub users: Vec<User>,
    /// `kernelArguments.shouldExist`, not applied.
    pub kernel_arguments_should_exist: Vec<String>,
    /// `kernelArguments.shouldNotExist`, not applied.
    pub kernel_arguments_should_not_exist: Vec<String>,
}

/// Apply an Ignition config's files, units and presets to the folder `root` (created if
/// missing), as Ignition's `files` stage would on a fresh server. See the module docs for what
/// is recorded instead of applied and what differs from Ignition.
///
/// # Errors
///
/// When the config is not a 3.3.0 config without unknown keys, uses a feature Nassella never
/// emits (the error names its config path, e.g. `storage.links[0]`), has an undecodable data URL
/// or a failed hash check, would replace an existing node without `overwrite`, or on I/O errors.
/// Files written before the error stay.
pub fn materialise(ignition_json: &[u8], root: &Path, options: &Options) -> Result<Report> {
    let (config, warnings) = ignition_config::Config::parse_slice(ignition_json)
        .context("parsing the Ignition config")?;
    if !warnings.is_empty() {
        let list: Vec<String> = warnings.iter().map(ToString::to_string).collect();
        bail!("the Ignition config has unknown keys: {}", list.join(", "));
    }
    let ignition_config::Config::V3_3(config) = config else {
        bail!("the Ignition config is not spec 3.3.0 (the only version Nassella renders)");
    };
    check_supported(&config)?;
    fs::create_dir_all(root).with_context(|| format!("creating {}", root.display()))?;

    let mut report = Report::default();
    let storage = config.storage.unwrap_or_default();
    for (i, file) in storage.files.unwrap_or_default().iter().enumerate() {
        let at = format!("storage.files[{i}]");
        write_file(root, file, options, &mut report)
            .with_context(|| format!("{at} ({})", file.path))?;
    }

    let units = config.systemd.and_then(|s| s.units).unwrap_or_default();
    for (i, unit) in units.iter().enumerate() {
        let at = format!("systemd.units[{i}]");
        write_unit(root, unit, &mut report).with_context(|| format!("{at} ({})", unit.name))?;
    }
    write_presets(root, &mut report).context("writing the systemd preset file")?;

    if let Some(passwd) = config.passwd {
        for u in passwd.users.unwrap_or_default() {
            report.users.push(User {
                name: u.name,
                shell: u.shell,
                ssh_authorized_keys: u.ssh_authorized_keys.unwrap_or_default(),
                groups: u.groups.unwrap_or_default(),
            });
        }
    }
    if let Some(k) = config.kernel_arguments {
        report.kernel_arguments_should_exist = k.should_exist.unwrap_or_default();
        report.kernel_arguments_should_not_exist = k.should_not_exist.unwrap_or_default();
    }
    Ok(report)
}

/// Refuse, before writing anything, every feature the materialiser does not implement.
fn check_supported(config: &ign::Config) -> Result<()> {
    fn none<T>(list: Option<&Vec<T>>, path: &str) -> Result<()> {
        match list {
            Some(items) if !items.is_empty() => bail!(
                "{path}[0]: `{path}` is not supported by the materialiser (Nassella never renders it)"
            ),
            _ => Ok(()),
        }
    }
    fn unsupported(path: &str) -> anyhow::Error {
        anyhow!("{path}: not supported by the materialiser (Nassella never renders it)")
    }

    let ig = &config.ignition;
    if let Some(c) = &ig.config {
        if c.merge.as_ref().is_some_and(|m| !m.is_empty()) {
            return Err(unsupported("ignition.config.merge[0]"));
        }
        if c.replace.as_ref().is_some_and(|r| r.source.is_some()) {
            return Err(unsupported("ignition.config.replace"));
        }
    }
    if ig
        .security
        .as_ref()
        .and_then(|s| s.tls.as_ref())
        .and_then(|t| t.certificate_authorities.as_ref())
        .is_some_and(|c| !c.is_empty())
    {
        return Err(unsupported(
            "ignition.security.tls.certificateAuthorities[0]",
        ));
    }
    if let Some(s) = &config.storage {
        none(s.directories.as_ref(), "storage.directories")?;
        none(s.links.as_ref(), "storage.links")?;
        none(s.filesystems.as_ref(), "storage.filesystems")?;
        none(s.disks.as_ref(), "storage.disks")?;
        none(s.raid.as_ref(), "storage.raid")?;
        none(s.luks.as_ref(), "storage.luks")?;
        for (i, f) in s.files.iter().flatten().enumerate() {
            let at = format!("storage.files[{i}]");
            if f.append.as_ref().is_some_and(|a| !a.is_empty()) {
                return Err(unsupported(&format!("{at}.append[0]")));
            }
            if f.user
                .as_ref()
                .is_some_and(|u| u.id.is_some() || u.name.is_some())
            {
                return Err(unsupported(&format!("{at}.user")));
            }
            if f.group
                .as_ref()
                .is_some_and(|g| g.id.is_some() || g.name.is_some())
            {
                return Err(unsupported(&format!("{at}.group")));
            }
            if let Some(h) = f.contents.as_ref().and_then(|c| c.http_headers.as_ref()) {
                if !h.is_empty() {
                    return Err(unsupported(&format!("{at}.contents.httpHeaders[0]")));
                }
            }
        }
    }
    if let Some(p) = &config.passwd {
        none(p.groups.as_ref(), "passwd.groups")?;
    }
    Ok(())
}

/// `root` joined with an absolute server path, refusing anything that could leave `root`.
fn host_path(root: &Path, path: &str) -> Result<PathBuf> {
    let p = Path::new(path);
    if !p.is_absolute() {
        bail!("path {path:?} is not absolute");
    }
    let mut out = root.to_path_buf();
    let mut parts = 0;
    for c in p.components() {
        match c {
            Component::RootDir => {}
            Component::Normal(n) => {
                out.push(n);
                parts += 1;
            }
            Component::CurDir | Component::ParentDir | Component::Prefix(_) => {
                bail!("path {path:?} has `.` or `..` components")
            }
        }
    }
    if parts == 0 {
        bail!("path {path:?} names the root itself");
    }
    Ok(out)
}

/// Create the missing parents of `path` (below `root`) with mode 0755; refuse a parent that is
/// a symlink or not a folder.
fn make_parents(root: &Path, path: &Path) -> Result<()> {
    let parent = path.parent().expect("host paths have a parent");
    let rel = parent
        .strip_prefix(root)
        .expect("host paths are under the root");
    let mut dir = root.to_path_buf();
    for c in rel.components() {
        dir.push(c);
        match fs::symlink_metadata(&dir) {
            Ok(m) if m.file_type().is_symlink() => {
                bail!("{} is a symlink; refusing to follow it", dir.display())
            }
            Ok(m) if m.is_dir() => {}
            Ok(_) => bail!("{} exists and is not a folder", dir.display()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                fs::create_dir(&dir).with_context(|| format!("creating {}", dir.display()))?;
                fs::set_permissions(&dir, fs::Permissions::from_mode(DEFAULT_DIR_MODE))
                    .with_context(|| format!("chmod {}", dir.display()))?;
            }
            Err(e) => return Err(e).with_context(|| format!("inspecting {}", dir.display())),
        }
    }
    Ok(())
}

/// Remove whatever is at `path` (not following a symlink).
fn remove_node(path: &Path) -> Result<()> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => {
            fs::remove_dir_all(path).with_context(|| format!("removing {}", path.display()))
        }
        Ok(_) => fs::remove_file(path).with_context(|| format!("removing {}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("inspecting {}", path.display())),
    }
}

/// Write `bytes` to a new file at `path` with `mode` (never wider than `mode` while writing).
fn create_file(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    f.write_all(bytes)
        .with_context(|| format!("writing {}", path.display()))?;
    f.set_permissions(fs::Permissions::from_mode(mode))
        .with_context(|| format!("chmod {}", path.display()))?;
    Ok(())
}

fn file_mode(mode: Option<i64>) -> Result<u32> {
    match mode {
        None => Ok(DEFAULT_FILE_MODE),
        Some(m) => u32::try_from(m)
            .ok()
            .filter(|m| *m <= 0o7777)
            .ok_or_else(|| anyhow!("mode {m} is not a permission mode (0 to 0o7777)")),
    }
}

fn is_remote(source: &str) -> bool {
    ["http://", "https://", "tftp://", "s3://", "gs://", "arn:"]
        .iter()
        .any(|s| source.starts_with(s))
}

fn write_file(root: &Path, file: &ign::File, options: &Options, report: &mut Report) -> Result<()> {
    let path = host_path(root, &file.path)?;
    let mode = file_mode(file.mode)?;
    let overwrite = file.overwrite.unwrap_or(false);
    let contents = file.contents.as_ref();
    let source = contents.and_then(|c| c.source.as_deref());

    if let Some(src) = source.filter(|s| is_remote(s)) {
        if options.fetch_remote {
            bail!("fetching remote sources ({src}) is not implemented yet");
        }
        report.skipped_remote.push(RemoteFile {
            path: file.path.clone(),
            url: src.to_owned(),
            hash: contents
                .and_then(|c| c.verification.as_ref())
                .and_then(|v| v.hash.clone()),
            mode,
        });
        return Ok(());
    }

    make_parents(root, &path)?;
    let exists = fs::symlink_metadata(&path).is_ok();
    let Some(src) = source else {
        if overwrite {
            bail!("overwrite needs contents.source");
        }
        // Ignition: no source → an empty file, or leave an existing file alone.
        if !exists {
            create_file(&path, b"", mode)?;
            report.written.push(file.path.clone());
        }
        return Ok(());
    };
    let c = contents.expect("a source implies contents");
    let bytes = decode_source(src, c.compression.as_deref()).context("contents.source")?;
    if let Some(hash) = c.verification.as_ref().and_then(|v| v.hash.as_deref()) {
        verify(&bytes, hash).context("contents.verification.hash")?;
    }
    if exists {
        if !overwrite {
            bail!(
                "{} already exists and `overwrite` is not true (Ignition fails the boot here)",
                path.display()
            );
        }
        remove_node(&path)?;
    }
    create_file(&path, &bytes, mode)?;
    report.written.push(file.path.clone());
    Ok(())
}

/// The bytes of a `data:` URL, decompressed.
fn decode_source(src: &str, compression: Option<&str>) -> Result<Vec<u8>> {
    let rest = src
        .strip_prefix("data:")
        .ok_or_else(|| anyhow!("unsupported source scheme in {:?}", truncate(src)))?;
    let (header, data) = rest
        .split_once(',')
        .ok_or_else(|| anyhow!("data URL without a comma: {:?}", truncate(src)))?;
    let raw = percent_decode(data)?;
    let raw = if header.ends_with(";base64") {
        let text: Vec<u8> = raw
            .into_iter()
            .filter(|b| !b.is_ascii_whitespace())
            .collect();
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .context("invalid base64 in the data URL")?
    } else {
        raw
    };
    match compression {
        None | Some("") => Ok(raw),
        Some("gzip") => {
            let mut out = Vec::new();
            flate2::read::MultiGzDecoder::new(raw.as_slice())
                .read_to_end(&mut out)
                .context("invalid gzip data")?;
            Ok(out)
        }
        Some(other) => bail!("unsupported compression {other:?} (only gzip)"),
    }
}

fn percent_decode(s: &str) -> Result<Vec<u8>> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| anyhow!("invalid percent-escape at byte {i} of the data URL"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Ok(out)
}

fn verify(bytes: &[u8], hash: &str) -> Result<()> {
    let (kind, want) = hash
        .split_once('-')
        .ok_or_else(|| anyhow!("hash {hash:?} is not <type>-<hex>"))?;
    let got: String = match kind {
        "sha256" => hex(&sha2::Sha256::digest(bytes)),
        "sha512" => hex(&sha2::Sha512::digest(bytes)),
        _ => bail!("unsupported hash type {kind:?} (sha256 or sha512)"),
    };
    if !got.eq_ignore_ascii_case(want) {
        bail!("hash mismatch: expected {hash}, contents have {kind}-{got}");
    }
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn truncate(s: &str) -> String {
    s.chars().take(40).collect()
}

/// A unit or drop-in name: one path component.
fn check_name(name: &str, what: &str) -> Result<()> {
    if name.is_empty() || name == "." || name == ".." || name.contains('/') || name.contains('\0') {
        bail!("{what} name {name:?} is not a file name");
    }
    Ok(())
}

/// Replace `path` with `contents` (0644), as Ignition does for unit files and drop-ins.
fn write_unit_file(root: &Path, rel: &str, contents: &str, report: &mut Report) -> Result<()> {
    let path = host_path(root, rel)?;
    make_parents(root, &path)?;
    remove_node(&path)?;
    create_file(&path, contents.as_bytes(), DEFAULT_FILE_MODE)?;
    report.written.push(rel.to_owned());
    Ok(())
}

fn write_unit(root: &Path, unit: &ign::Unit, report: &mut Report) -> Result<()> {
    check_name(&unit.name, "unit")?;
    for (j, d) in unit.dropins.iter().flatten().enumerate() {
        check_name(&d.name, "drop-in").with_context(|| format!("dropins[{j}]"))?;
        // Ignition skips drop-ins (and units) without contents.
        if let Some(c) = d.contents.as_deref().filter(|c| !c.is_empty()) {
            let rel = format!("/{UNITS_DIR}/{}.d/{}", unit.name, d.name);
            write_unit_file(root, &rel, c, report).with_context(|| format!("dropins[{j}]"))?;
        }
    }
    if let Some(c) = unit.contents.as_deref().filter(|c| !c.is_empty()) {
        write_unit_file(root, &format!("/{UNITS_DIR}/{}", unit.name), c, report)?;
    }
    match unit.enabled {
        Some(true) => {
            report.enabled_units.insert(unit.name.clone());
        }
        Some(false) => {
            report.disabled_units.insert(unit.name.clone());
        }
        None => {}
    }
    if unit.mask == Some(true) {
        let path = host_path(root, &format!("/{UNITS_DIR}/{}", unit.name))?;
        make_parents(root, &path)?;
        remove_node(&path)?;
        symlink("/dev/null", &path).with_context(|| format!("masking {}", path.display()))?;
        report.masked_units.insert(unit.name.clone());
    }
    Ok(())
}

/// Append `enable <unit>` / `disable <unit>` lines, sorted, to the preset file (created 0644),
/// as Ignition appends its lines.
fn write_presets(root: &Path, report: &mut Report) -> Result<()> {
    if report.enabled_units.is_empty() && report.disabled_units.is_empty() {
        return Ok(());
    }
    let mut text = String::new();
    for u in &report.enabled_units {
        text.push_str(&format!("enable {u}\n"));
    }
    for u in &report.disabled_units {
        text.push_str(&format!("disable {u}\n"));
    }
    let path = host_path(root, &format!("/{PRESET_FILE}"))?;
    make_parents(root, &path)?;
    let mut f = fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(DEFAULT_FILE_MODE)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    f.write_all(text.as_bytes())
        .with_context(|| format!("writing {}", path.display()))?;
    report.written.push(format!("/{PRESET_FILE}"));
    Ok(())
}
