//! Finding the master key and the backup credentials. The key never appears on a command line:
//! it is read from a file (created once, mode 0600) or from `$NASSELLA_MASTER_KEY`.

use std::fs;
use std::io::{Read as _, Write as _};
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::PathBuf;

use anyhow::{bail, Context as _, Result};
use nassella_core::{Keys, MasterKey, Stack};

use crate::Input;

/// Backup storage credentials read from the environment and passed to the server.
pub const BACKUP_ENV: [&str; 4] = [
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "B2_ACCOUNT_ID",
    "B2_ACCOUNT_KEY",
];

/// The state folder of an instance.
#[must_use]
pub fn state_dir(instance: &str) -> PathBuf {
    let base = std::env::var_os("NASSELLA_STATE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from);
            home.join(".local/state/nassella")
        });
    base.join(instance)
}

/// The keys for `instance`. With `create`, a missing master key file is created; without it
/// (validation) a stand-in key is used, since nothing is written.
pub(crate) fn resolve(input: &Input, instance: &str, create: bool) -> Result<Keys> {
    let master = if let Ok(hex) = std::env::var("NASSELLA_MASTER_KEY") {
        MasterKey::from_hex(&hex).context("$NASSELLA_MASTER_KEY")?
    } else {
        let path = input
            .master_key_file
            .clone()
            .unwrap_or_else(|| state_dir(instance).join("master.key"));
        if path.exists() {
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
            if let Some(dir) = path.parent() {
                fs::create_dir_all(dir)?;
            }
            let mut f = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
                .with_context(|| format!("creating {}", path.display()))?;
            writeln!(f, "{}", key.to_hex())?;
            eprintln!(
                "created a new master key at {}\n  every password of every app is derived from it: back it up somewhere safe;\n  without it a new server cannot read the backups",
                path.display()
            );
            key
        } else {
            // Validation writes nothing, so a stand-in key is enough to render and check sizes.
            MasterKey::insecure_test_key()
        }
    };
    let mut keys = Keys::new(master);
    for k in BACKUP_ENV {
        if let Ok(v) = std::env::var(k) {
            keys = keys.backup_env(k, v);
        }
    }
    Ok(keys)
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
    if std::env::var_os("NASSELLA_MASTER_KEY").is_some() {
        return Ok(());
    }
    let path = input
        .master_key_file
        .clone()
        .unwrap_or_else(|| state_dir(instance).join("master.key"));
    if !path.exists() {
        bail!(
            "no master key at {}: secrets and backups derive from the key this instance was deployed with; pass --master-key-file <file> or set NASSELLA_MASTER_KEY",
            path.display()
        );
    }
    Ok(())
}
