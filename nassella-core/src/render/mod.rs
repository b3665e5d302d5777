//! Renderers: a [`ValidatedStack`] in, a [`Bundle`] of bytes out. They write typed values
//! ([`crate::values`]) through writers that escape or quote as a last line of defence; only a
//! secret supplied with the [`Keys`] can still be refused here. [`crate::build`] adds the checks
//! that need the rendered output (size, parse-back).

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

pub use scripts::CONTROL_OUTCOME_DAYS;
pub use units::CONTROL_POLL_MINUTES;
pub use units::{data_device_unit, systemd_quote};

use crate::composer::ValidatedStack;
use crate::report::Report;
use crate::secrets::Keys;
use crate::stack::Artifact;
use crate::values::{EnvFile, EnvFileValue, EnvName};
use crate::ProblemKind;

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

/// The secret values rendering writes, each checked against the env-file grammar: every app
/// secret (derived or supplied in the environment) and restic's environment.
pub(crate) struct Secrets {
    /// (app id, secret name) → value.
    app: BTreeMap<(String, String), EnvFileValue>,
    /// restic's env file: the real one and its view.
    restic_env: Option<(EnvFile, EnvFile)>,
    /// The registry login's password, from the environment variable `registry.password_env`.
    registry_password: Option<String>,
}

impl Secrets {
    pub(crate) fn get(&self, app: &str, name: &str) -> Option<&EnvFileValue> {
        self.app.get(&(app.to_owned(), name.to_owned()))
    }
}

/// Variables Nassella itself writes into restic's env file: a credential may not replace them.
const RESTIC_OWN: [&str; 5] = [
    "RESTIC_REPOSITORY",
    "RESTIC_REPOSITORY_FILE",
    "RESTIC_PASSWORD",
    "RESTIC_PASSWORD_FILE",
    "RESTIC_PASSWORD_COMMAND",
];

/// Check every secret input against the grammar of the file it goes into. This is why
/// [`render`] returns a `Result`: a secret supplied through the environment (an SMTP password,
/// a backup credential) is only known now, and is refused here, naming the variable and never
/// its value.
fn secrets(v: &ValidatedStack, keys: &Keys) -> Result<Secrets, Report> {
    let mut r = Report::new();
    let mut app = BTreeMap::new();
    for a in &v.apps {
        let base = format!("apps.{}", a.id);
        for s in &a.c.secrets {
            let path = crate::composer::secret_path(&base, s);
            let value = match &s.source {
                crate::SecretSource::Derived(_) => {
                    crate::composer::secret_value(keys, &a.id, s).unwrap_or_default()
                }
                crate::SecretSource::Env(var) => match keys.provided(var) {
                    None => {
                        r.error(
                            &path,
                            None,
                            ProblemKind::EnvSecretMissing { var: var.clone() },
                        );
                        continue;
                    }
                    Some(v) => v.to_owned(),
                },
            };
            match EnvFileValue::parse(&value) {
                Ok(val) if !val.as_str().is_empty() => {
                    app.insert((a.id.clone(), s.name.clone()), val);
                }
                _ => {
                    let var = match &s.source {
                        crate::SecretSource::Env(var) => var.clone(),
                        crate::SecretSource::Derived(_) => s.name.clone(),
                    };
                    r.error(&path, None, ProblemKind::EnvSecretUnusable { var });
                }
            }
        }
    }
    let restic_env = v.checked.backup.as_ref().map(|b| {
        let mut env = EnvFile::for_docker();
        let mut view = EnvFile::for_docker();
        let name = |n: &str| EnvName::parse(n).expect("a constant name");
        match EnvFileValue::parse(b.repository.as_str()) {
            Ok(repo) => {
                env.set(&name("RESTIC_REPOSITORY"), &repo);
                view.set(&name("RESTIC_REPOSITORY"), &repo);
            }
            Err(e) => r.error("backup.repository", None, ProblemKind::InvalidValue(e)),
        }
        match EnvFileValue::parse(&keys.restic_password()) {
            Ok(pw) => env.set(&name("RESTIC_PASSWORD"), &pw),
            Err(e) => r.error("backup", None, ProblemKind::InvalidValue(e)),
        }
        view.line(&name("RESTIC_PASSWORD"), "<secret:backup/restic-password>");
        for (k, val) in &keys.backup_env {
            let shown = crate::values::escape_controls(k);
            let path = format!("environment.{}", crate::values::path_key(k));
            let unusable = |reason: String| ProblemKind::BackupCredentialUnusable {
                var: shown.clone(),
                reason,
            };
            let Ok(key) = EnvName::parse(k) else {
                r.error(&path, None, unusable("it is not a variable name".into()));
                continue;
            };
            if RESTIC_OWN.contains(&k.as_str()) {
                r.error(
                    &path,
                    None,
                    unusable(
                        "Nassella sets this variable itself from the config and the master key"
                            .into(),
                    ),
                );
                continue;
            }
            match EnvFileValue::parse(val) {
                Ok(value) => {
                    env.set(&key, &value);
                    view.line(&key, &format!("<secret:backup/{k}>"));
                }
                Err(e) => r.error(&path, None, unusable(e.reason().to_owned())),
            }
        }
        (env, view)
    });
    let registry_password = v
        .registry
        .as_ref()
        .and_then(crate::Registry::password_env)
        .and_then(|var| {
            let unusable = |r: &mut Report| {
                r.error(
                    "registry.password_env",
                    None,
                    ProblemKind::EnvSecretUnusable {
                        var: var.to_owned(),
                    },
                );
            };
            match keys.provided(var) {
                None => {
                    r.error(
                        "registry.password_env",
                        None,
                        ProblemKind::EnvSecretMissing {
                            var: var.to_owned(),
                        },
                    );
                    None
                }
                // It lands in JSON (serde escapes it), but a control character is never part
                // of a real password: refuse rather than write something surprising.
                Some(pw) if pw.is_empty() || pw.contains(crate::values::is_control) => {
                    unusable(&mut r);
                    None
                }
                Some(pw) => Some(pw.to_owned()),
            }
        });
    r.locate(&v.locations);
    if r.has_errors() {
        return Err(r);
    }
    Ok(Secrets {
        app,
        restic_env,
        registry_password,
    })
}

/// Everything the instance gets: files and units.
///
/// # Errors
/// A [`Report`] when a secret input does not fit its file (see [`render`]).
pub fn instance_plan(
    v: &ValidatedStack,
    keys: &Keys,
) -> Result<(Vec<InstanceFile>, Vec<UnitSpec>), Report> {
    let secrets = secrets(v, keys)?;
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
        let (yaml, envs) = compose::app(v, app, &secrets, &names);
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
    if let Some(c) = s.control {
        files.push(InstanceFile::text(
            format!("{}/control.sh", names.bin_dir()),
            0o755,
            c,
        ));
    }
    files.push(InstanceFile::text(
        names.backup_excludes(),
        0o644,
        s.excludes,
    ));
    if let Some((env, view)) = secrets.restic_env {
        let mut f = InstanceFile::text(names.restic_env(), 0o600, env.into_string());
        f.view = Some(view.into_string().into_bytes());
        files.push(f);
    }
    // Typed values only: neither can hold a line break (see `values::window`).
    let c = &v.checked;
    files.push(InstanceFile::text("/etc/flatcar/update.conf", 0o644, format!(
        "REBOOT_STRATEGY=reboot\nLOCKSMITHD_REBOOT_WINDOW_START={}\nLOCKSMITHD_REBOOT_WINDOW_LENGTH={}\n",
        c.window_start, c.window_length
    )));
    if let Some(reg) = &v.registry {
        if let Some(m) = &reg.mirror {
            files.push(InstanceFile::text(
                crate::registry::DAEMON_JSON,
                0o644,
                crate::registry::daemon_json(m),
            ));
        }
        if let (Some(user), Some(password)) = (&reg.username, &secrets.registry_password) {
            let (real, view) = crate::registry::client_config(user, password);
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
    Ok((files, units::units(v, &names)))
}

/// The shell command (for `sh -c`) that unpacks the configuration archive under `root` (`/` on
/// the server; the local target's instance folder): the previous tree is replaced as a whole, so
/// the configuration is always exactly the Ignition config's.
///
/// Every path is one shell word, single-quoted when it holds anything but `[A-Za-z0-9-_./=:@%+,]`
/// (a space, a quote, `$`, a newline), so a root such as `/home/a b/state` touches that folder
/// and no other; a relative root is made to start with `./`, so it cannot read as an option.
/// The server's unit wraps this string for systemd's `ExecStart=` with
/// `units::systemd_quote`, whose own rules (`$$`, `%%`, `\\`, `\"`) leave it byte for byte
/// as here when systemd hands it to `sh -c`.
#[must_use]
pub fn unpack_command(root: &str) -> String {
    let root = root.trim_end_matches('/');
    let root = if root.is_empty() || root.starts_with('/') {
        root.to_owned()
    } else {
        format!("./{root}")
    };
    let new = scripts::sh_quote(&format!("{root}/etc/nassella.new"));
    let live = scripts::sh_quote(&format!("{root}/etc/nassella"));
    let archive = scripts::sh_quote(&format!("{root}{CONFIG_ARCHIVE}"));
    format!(
        "rm -rf {new} && mkdir -m 0755 {new} && tar -xzf {archive} -C {new} && rm -rf {live} && mv {new} {live}"
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
///
/// # Errors
/// A [`Report`] when a secret that only `keys` holds does not fit: a secret an app takes from
/// the environment is not supplied, is empty or cannot be written to an env file, or a backup
/// credential cannot (each names the variable, never the value). Everything else was checked
/// by [`crate::compose`].
pub fn render(v: &ValidatedStack, keys: &Keys) -> Result<Bundle, Report> {
    let (files, units) = instance_plan(v, keys)?;
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
    Ok(b)
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
