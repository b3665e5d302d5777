//! Renderers: a [`ValidatedStack`] in, a [`Bundle`] of bytes out. They cannot fail on content;
//! [`crate::build`] adds the checks that need the rendered output (size, parse-back).

mod caddy;
pub mod caddyfile;
mod compose;
pub mod dataurl;
pub mod firewall;
mod ignition;
pub mod scripts;
mod tfvars;
mod units;

use std::collections::BTreeMap;

pub use units::{data_device_unit, systemd_quote};

use crate::composer::ValidatedStack;
use crate::secrets::Keys;
use crate::stack::Artifact;

/// The Caddy image of the proxy.
pub const CADDY_IMAGE: &str = "caddy:2.11.4-alpine";
/// Where the server runs docker compose from.
pub const COMPOSE_BIN: &str = "/opt/bin/docker-compose";
/// The filesystem label of the data volume.
pub const DATA_LABEL: &str = "nassella-data";
/// The Ignition config's file name in a bundle.
pub const IGNITION_FILE: &str = "ignition.json";
/// The Terraform variables' file name in a bundle.
pub const TFVARS_FILE: &str = "terraform.tfvars.json";
/// Where the Ignition config puts the archive of `/etc/nassella` (mode 0600: it holds secrets).
pub const CONFIG_ARCHIVE: &str = "/etc/nassella.tar.gz";
/// Folder of a bundle holding a readable copy of every file the Ignition config writes.
pub const INSTANCE_DIR: &str = "instance";

/// Names and paths on the instance, in one place.
#[derive(Debug, Clone)]
pub struct Names {
    instance: String,
    data_root: String,
}

impl Names {
    /// Names for `v`.
    #[must_use]
    pub fn new(v: &ValidatedStack) -> Self {
        Self {
            instance: v.instance.name.clone(),
            data_root: v.instance.data_root.clone(),
        }
    }
    /// Read-only configuration root.
    #[must_use]
    pub fn config_root(&self) -> &'static str {
        "/etc/nassella"
    }
    /// Scripts.
    #[must_use]
    pub fn bin_dir(&self) -> String {
        format!("{}/bin", self.config_root())
    }
    /// The proxy's configuration folder.
    #[must_use]
    pub fn proxy_config_dir(&self) -> String {
        format!("{}/proxy", self.config_root())
    }
    /// The proxy's compose file.
    #[must_use]
    pub fn proxy_compose(&self) -> String {
        format!("{}/compose.yaml", self.proxy_config_dir())
    }
    /// Compose project of the proxy.
    #[must_use]
    pub fn proxy_project(&self) -> String {
        format!("{}-proxy", self.instance)
    }
    /// The Docker network shared by Caddy and the proxied services.
    #[must_use]
    pub fn proxy_network(&self) -> String {
        format!("{}-proxy", self.instance)
    }
    /// An app's configuration folder.
    #[must_use]
    pub fn app_dir(&self, app: &str) -> String {
        format!("{}/apps/{app}", self.config_root())
    }
    /// An app's compose file.
    #[must_use]
    pub fn app_compose(&self, app: &str) -> String {
        format!("{}/compose.yaml", self.app_dir(app))
    }
    /// An app's compose project name.
    #[must_use]
    pub fn app_project(&self, app: &str) -> String {
        format!("{}-{app}", self.instance)
    }
    /// An app's systemd unit.
    #[must_use]
    pub fn app_unit(&self, app: &str) -> String {
        format!("nassella-app@{app}.service")
    }
    /// The template all app units are instances of.
    #[must_use]
    pub fn app_unit_template(&self) -> &'static str {
        "nassella-app@.service"
    }
    /// The name Caddy uses for a proxied service on the proxy network.
    #[must_use]
    pub fn upstream_host(&self, app: &str, service: &str) -> String {
        format!("{app}-{service}")
    }
    /// A volume's folder on the data volume.
    #[must_use]
    pub fn volume_dir(&self, app: &str, volume: &str) -> String {
        format!("{}/{app}/{volume}", self.data_root)
    }
    /// restic's environment (repository, password, storage credentials; mode 0600).
    #[must_use]
    pub fn restic_env(&self) -> String {
        format!("{}/backup/restic.env", self.config_root())
    }
    /// Paths left out of backups.
    #[must_use]
    pub fn backup_excludes(&self) -> String {
        format!("{}/backup/excludes.txt", self.config_root())
    }
    /// The mount unit of the data root (systemd's path escaping; the composer allows only
    /// letters, digits, '_' and '/', so only '/' needs escaping).
    #[must_use]
    pub fn mount_unit(&self) -> String {
        format!("{}.mount", systemd_escape_path(&self.data_root))
    }
    /// The app script that units, backups and the local target use.
    #[must_use]
    pub fn app_script(&self) -> String {
        format!("{}/app.sh", self.bin_dir())
    }
}

/// `systemd-escape --path`: `/srv/my-data` → `srv-my\x2ddata`. Every byte outside
/// `[A-Za-z0-9:_.]` (and a leading `.`) becomes `\xHH`; `/` separates.
#[must_use]
pub fn systemd_escape_path(path: &str) -> String {
    let trimmed = path.trim_matches('/');
    if trimmed.is_empty() {
        return "-".into();
    }
    let mut out = String::new();
    for (i, b) in trimmed.bytes().enumerate() {
        match b {
            b'/' => out.push('-'),
            b'.' if i == 0 => out.push_str("\\x2e"),
            b if b.is_ascii_alphanumeric() || b == b':' || b == b'_' || b == b'.' => {
                out.push(b as char)
            }
            b => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out
}

/// A file the Ignition config writes on the instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceFile {
    /// Absolute path on the instance.
    pub path: String,
    /// Unix mode.
    pub mode: u32,
    /// Contents (empty for a remote file).
    pub contents: Vec<u8>,
    /// A view without secrets, when the contents hold some.
    pub view: Option<Vec<u8>>,
    /// Downloaded at first boot instead, with a verified hash.
    pub remote: Option<Artifact>,
}

impl InstanceFile {
    fn text(path: impl Into<String>, mode: u32, text: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            mode,
            contents: text.into().into_bytes(),
            view: None,
            remote: None,
        }
    }
}

/// A systemd unit the Ignition config installs, enables or masks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitSpec {
    /// Unit name.
    pub name: String,
    /// Unit file contents, if Ignition writes one.
    pub contents: Option<String>,
    /// Enabled at boot.
    pub enabled: bool,
    /// Masked (linked to /dev/null).
    pub mask: bool,
    /// Drop-ins: (file name, contents).
    pub dropins: Vec<(String, String)>,
}

/// Rendered output: relative path → bytes, sorted. Paths under `instance/` mirror the server.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Bundle {
    files: BTreeMap<String, Vec<u8>>,
    secret: std::collections::BTreeSet<String>,
}

impl Bundle {
    /// Every file, sorted by path.
    #[must_use]
    pub fn files(&self) -> &BTreeMap<String, Vec<u8>> {
        &self.files
    }
    /// One file.
    #[must_use]
    pub fn get(&self, path: &str) -> Option<&[u8]> {
        self.files.get(path).map(Vec::as_slice)
    }
    /// True for files that hold secrets (write them mode 0600).
    #[must_use]
    pub fn is_secret(&self, path: &str) -> bool {
        self.secret.contains(path)
    }
    /// The Ignition config.
    #[must_use]
    pub fn ignition(&self) -> &[u8] {
        &self.files[IGNITION_FILE]
    }
    fn insert(&mut self, path: impl Into<String>, bytes: Vec<u8>) {
        self.files.insert(path.into(), bytes);
    }
}

/// Everything the instance gets: files and units.
#[must_use]
pub fn instance_plan(v: &ValidatedStack, keys: &Keys) -> (Vec<InstanceFile>, Vec<UnitSpec>) {
    let names = Names::new(v);
    let mut files = Vec::new();
    files.push(InstanceFile::text(
        names.proxy_compose(),
        0o644,
        compose::proxy(v, &names),
    ));
    files.push(InstanceFile::text(
        format!("{}/Caddyfile", names.proxy_config_dir()),
        0o644,
        caddy::caddyfile(v, &names),
    ));
    let s = scripts::scripts(v, &names);
    files.push(InstanceFile::text(
        format!("{}/maintenance/index.html", names.proxy_config_dir()),
        0o644,
        s.maintenance,
    ));
    for app in &v.apps {
        let (yaml, envs) = compose::app(v, app, keys, &names);
        files.push(InstanceFile::text(names.app_compose(&app.id), 0o644, yaml));
        for e in envs {
            let mut f = InstanceFile::text(
                format!("{}/{}.env", names.app_dir(&app.id), e.service),
                0o600,
                e.real,
            );
            f.view = Some(e.view.into_bytes());
            files.push(f);
        }
    }
    if let Some(p) = s.prepare_data {
        files.push(InstanceFile::text(
            format!("{}/prepare-data.sh", names.bin_dir()),
            0o755,
            p,
        ));
    }
    files.push(InstanceFile::text(
        format!("{}/app.sh", names.bin_dir()),
        0o755,
        s.app,
    ));
    files.push(InstanceFile::text(
        firewall::RULESET_PATH,
        0o644,
        firewall::ruleset(),
    ));
    files.push(InstanceFile::text(
        format!("{}/report.sh", names.bin_dir()),
        0o755,
        s.report,
    ));
    files.push(InstanceFile::text(
        format!("{}/restore.sh", names.bin_dir()),
        0o755,
        s.restore,
    ));
    if let Some(b) = s.backup {
        files.push(InstanceFile::text(
            format!("{}/backup.sh", names.bin_dir()),
            0o755,
            b,
        ));
    }
    files.push(InstanceFile::text(
        names.backup_excludes(),
        0o644,
        s.excludes,
    ));
    if let Some(b) = &v.backup {
        let mut env = format!(
            "RESTIC_REPOSITORY={}\nRESTIC_PASSWORD={}\n",
            b.repository,
            keys.restic_password()
        );
        let mut view = format!(
            "RESTIC_REPOSITORY={}\nRESTIC_PASSWORD=<secret:backup/restic-password>\n",
            b.repository
        );
        for (k, val) in &keys.backup_env {
            env.push_str(&format!("{k}={val}\n"));
            view.push_str(&format!("{k}=<secret:backup/{k}>\n"));
        }
        let mut f = InstanceFile::text(names.restic_env(), 0o600, env);
        f.view = Some(view.into_bytes());
        files.push(f);
    }
    let u = &v.instance.updates;
    files.push(InstanceFile::text("/etc/flatcar/update.conf", 0o644, format!(
        "REBOOT_STRATEGY=reboot\nLOCKSMITHD_REBOOT_WINDOW_START={}\nLOCKSMITHD_REBOOT_WINDOW_LENGTH={}\n",
        u.window_start, u.window_length
    )));
    if let Some(reg) = &v.registry {
        if let Some(m) = &reg.mirror {
            files.push(InstanceFile::text(
                crate::registry::DAEMON_JSON,
                0o644,
                crate::registry::daemon_json(m),
            ));
        }
        if let (Some(user), Some(var)) = (&reg.username, &reg.password_env) {
            // `build` refuses a stack whose variable is missing; `render` alone renders an
            // empty password rather than fail.
            let (real, view) =
                crate::registry::client_config(user, keys.provided(var).unwrap_or(""));
            let mut f = InstanceFile::text(
                format!("{}/config.json", crate::registry::CLIENT_CONFIG_DIR),
                0o600,
                real,
            );
            f.view = Some(view.into_bytes());
            files.push(f);
        }
    }
    // The compose binary is not an Ignition file: nassella-compose-install.service downloads
    // and verifies it, with retries (one failed download in Ignition fails the boot).
    files.push(InstanceFile::text(
        format!("{}/install-compose.sh", names.bin_dir()),
        0o755,
        s.install_compose,
    ));
    files.sort_by(|a, b| a.path.cmp(&b.path));
    (files, units::units(v, &names))
}

/// The shell command that unpacks the configuration archive under `root` (`/` on the server):
/// the previous tree is replaced as a whole, so the configuration is always exactly the
/// Ignition config's.
#[must_use]
pub fn unpack_command(root: &str) -> String {
    let root = root.trim_end_matches('/');
    format!(
        "rm -rf {root}/etc/nassella.new && mkdir -m 0755 {root}/etc/nassella.new && tar -xzf {root}{CONFIG_ARCHIVE} -C {root}/etc/nassella.new && rm -rf {root}/etc/nassella && mv {root}/etc/nassella.new {root}/etc/nassella"
    )
}

/// What the Ignition config writes: the files under `/etc/nassella` packed into one archive at
/// [`CONFIG_ARCHIVE`] (a single gzip stream compresses the compose files, scripts and env files
/// together far better than one data URL each), and every other file as it is.
#[must_use]
pub fn ignition_files(files: &[InstanceFile]) -> Vec<InstanceFile> {
    let prefix = "/etc/nassella/";
    let mut out: Vec<InstanceFile> = files
        .iter()
        .filter(|f| !f.path.starts_with(prefix))
        .cloned()
        .collect();
    let mut tar = tar::Builder::new(Vec::new());
    tar.mode(tar::HeaderMode::Deterministic);
    let mut dirs = std::collections::BTreeSet::new();
    for f in files.iter().filter(|f| f.path.starts_with(prefix)) {
        let rel = &f.path[prefix.len()..];
        // Explicit folders (0755) so the tree does not depend on tar's umask.
        let mut acc = String::new();
        for part in rel
            .split('/')
            .rev()
            .skip(1)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
        {
            acc.push_str(part);
            acc.push('/');
            if dirs.insert(acc.clone()) {
                let mut h = tar::Header::new_ustar();
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(0o755);
                h.set_size(0);
                h.set_mtime(0);
                h.set_uid(0);
                h.set_gid(0);
                h.set_cksum();
                tar.append_data(&mut h, &acc, std::io::empty())
                    .expect("writing to memory");
            }
        }
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_mode(f.mode);
        h.set_size(f.contents.len() as u64);
        h.set_mtime(0);
        h.set_uid(0);
        h.set_gid(0);
        h.set_cksum();
        tar.append_data(&mut h, rel, f.contents.as_slice())
            .expect("writing to memory");
    }
    let archive = tar.into_inner().expect("writing to memory");
    let mut gz = flate2::GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), flate2::Compression::best());
    std::io::Write::write_all(&mut gz, &archive).expect("writing to memory");
    let mut packed = InstanceFile::text(CONFIG_ARCHIVE, 0o600, "");
    packed.contents = gz.finish().expect("writing to memory");
    out.push(packed);
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

/// Render every artifact of a validated stack.
#[must_use]
pub fn render(v: &ValidatedStack, keys: &Keys) -> Bundle {
    let (files, units) = instance_plan(v, keys);
    let mut b = Bundle::default();
    b.insert(
        IGNITION_FILE,
        ignition::config(&ignition_files(&files), &units),
    );
    b.secret.insert(IGNITION_FILE.into());
    b.insert(TFVARS_FILE, tfvars::tfvars(v));
    for f in &files {
        let path = format!("{INSTANCE_DIR}{}", f.path);
        match (&f.remote, &f.view) {
            (Some(a), _) => b.insert(
                format!("{path}.url"),
                format!("{}\n{}\n", a.url, a.hash).into_bytes(),
            ),
            (None, Some(view)) => b.insert(path, view.clone()),
            (None, None) => b.insert(path, f.contents.clone()),
        }
    }
    for u in &units {
        if let Some(c) = &u.contents {
            b.insert(
                format!("{INSTANCE_DIR}/etc/systemd/system/{}", u.name),
                c.clone().into_bytes(),
            );
        }
        for (n, c) in &u.dropins {
            b.insert(
                format!("{INSTANCE_DIR}/etc/systemd/system/{}.d/{n}", u.name),
                c.clone().into_bytes(),
            );
        }
    }
    b
}

/// Parse a rendered Ignition config back; unknown keys are errors.
///
/// # Errors
/// The parser's message.
pub fn parse_ignition(bytes: &[u8]) -> Result<(), String> {
    ignition::parse_back(bytes)
}

#[cfg(test)]
mod tests {
    use super::systemd_escape_path;

    #[test]
    fn systemd_path_escaping_matches_systemd_escape() {
        // Expected values from `systemd-escape --path`.
        assert_eq!(systemd_escape_path("/srv/data"), "srv-data");
        assert_eq!(systemd_escape_path("/srv/my-data"), "srv-my\\x2ddata");
        assert_eq!(systemd_escape_path("/mnt/.hidden/x.y"), "mnt-.hidden-x.y");
        assert_eq!(systemd_escape_path("/.data"), "\\x2edata");
        assert_eq!(systemd_escape_path("/"), "-");
    }
}
