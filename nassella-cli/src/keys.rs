//! Finding the master key and the backup credentials. The key never appears on a command line:
//! it is read from a file (created once, mode 0600, only after a successful build) or from
//! `$NASSELLA_MASTER_KEY`.

use std::fs;
use std::io::{Read as _, Write as _};
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::PathBuf;

use anyhow::{bail, Context as _, Result};
use nassella_core::{Keys, MasterKey, Stack};

use crate::state::StateDir;
use crate::Input;

/// Backup storage credentials read from the environment and passed to the server.
pub const BACKUP_ENV: [&str; 4] = [
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "B2_ACCOUNT_ID",
    "B2_ACCOUNT_KEY",
];

/// A master key made by this run that is not on disk yet: it is written only once the build
/// it keys has succeeded, so a failing run leaves no key behind ([`NewKey::save`]).
#[derive(Debug)]
#[must_use = "a new master key must be saved before anything built with it is written"]
pub(crate) struct NewKey {
    path: PathBuf,
    key: MasterKey,
    default_place: bool,
}

impl NewKey {
    /// Write the key (0600, never over an existing file); its folder is created private when
    /// it is the instance's state folder.
    pub(crate) fn save(self) -> Result<()> {
        if self.default_place {
            if let Some(dir) = self.path.parent() {
                crate::state::private_dir(dir)?;
            }
        } else if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .with_context(|| format!("creating {}", dir.display()))?;
        }
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&self.path)
            .with_context(|| format!("creating {}", self.path.display()))?;
        writeln!(f, "{}", self.key.to_hex())?;
        f.sync_all()?;
        crate::say::note(&format!(
            "created a new master key at {}\n  every password of every app is derived from it: back it up somewhere safe;\n  without it a new server cannot read the backups",
            self.path.display()
        ));
        Ok(())
    }
}

/// Where the master key of `instance` is read from: `--master-key-file`, else the state folder.
fn key_path(input: &Input, instance: &str) -> Result<(PathBuf, bool)> {
    Ok(match &input.master_key_file {
        Some(p) => (p.clone(), false),
        None => (StateDir::of(instance)?.master_key(), true),
    })
}

/// The keys for `instance`. With `create`, a missing master key file is made in memory and
/// returned as a [`NewKey`] to save once the build succeeded; without it (validation) a
/// stand-in key is used, since nothing is written.
pub(crate) fn resolve(
    input: &Input,
    instance: &str,
    create: bool,
) -> Result<(Keys, Option<NewKey>)> {
    let env = crate::environment::get();
    let mut new = None;
    let master = if let Some(hex) = &env.master_key {
        MasterKey::from_hex(hex).context("$NASSELLA_MASTER_KEY")?
    } else {
        let (path, default_place) = key_path(input, instance)?;
        if path.exists() {
            if create && default_place {
                // A command that writes into the state folder: make sure it is private.
                if let Some(dir) = path.parent() {
                    crate::state::private_dir(dir)?;
                }
            }
            let mode = fs::metadata(&path)?.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                bail!(
                    "{} is readable by others (mode {mode:o}); run `chmod 600 {}`",
                    path.display(),
                    path.display()
                );
            }
            let text =
                fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
            MasterKey::from_hex(&text).with_context(|| format!("{}", path.display()))?
        } else if create {
            let key = new_key()?;
            new = Some(NewKey {
                path,
                key: key.clone(),
                default_place,
            });
            key
        } else {
            // Validation writes nothing, so a stand-in key is enough to render and check sizes.
            MasterKey::insecure_test_key()
        }
    };
    let mut keys = Keys::new(master);
    for k in BACKUP_ENV {
        if let Some(v) = env.var(k) {
            keys = keys.backup_env(k, v);
        }
    }
    Ok((keys, new))
}

/// Add the secrets the stack's apps take from the environment (an SMTP password named by
/// `password_env`): each named variable this process has is passed on; a missing one is reported
/// by the build, at the app's secret.
#[must_use]
pub(crate) fn with_env_secrets(mut keys: Keys, stack: &Stack) -> Keys {
    if let Ok(v) = nassella_core::compose(stack) {
        for (_, _, var) in v.env_secrets() {
            if let Ok(value) = std::env::var(var) {
                keys = keys.provide(var, value);
            }
        }
        if let Some(var) = v.registry().and_then(nassella_core::Registry::password_env) {
            if let Ok(value) = std::env::var(var) {
                keys = keys.provide(var, value);
            }
        }
    }
    keys
}

fn new_key() -> Result<MasterKey> {
    let mut bytes = [0u8; 32];
    fs::File::open("/dev/urandom")
        .context("opening /dev/urandom")?
        .read_exact(&mut bytes)?;
    Ok(MasterKey::from_bytes(bytes))
}

/// Fail unless a real master key exists: commands that read secrets (the restic password, an
/// app's derived secret) must not fall back to `validate`'s stand-in key.
pub(crate) fn require(input: &Input, instance: &str) -> Result<()> {
    if crate::environment::get().master_key.is_some() {
        return Ok(());
    }
    let (path, _) = key_path(input, instance)?;
    if !path.exists() {
        bail!(
            "no master key at {}: secrets and backups derive from the key this instance was deployed with; pass --master-key-file <file> or set NASSELLA_MASTER_KEY",
            path.display()
        );
    }
    Ok(())
}
