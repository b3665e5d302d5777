//! The control plane's state folders: one per instance, `$NASSELLA_STATE_DIR/<instance>/`
//! (default `~/.local/state/nassella/<instance>/`). The instance's name is the only part of the
//! path a config chooses, so it must be one plain path segment: nothing a config says can make
//! Nassella write outside the state folder. The folders hold the master key and Terraform's
//! state, so they are private (0700) whatever the umask.
//!
//! ```text
//! <state>/master.key     every secret derives from it (created by the first build)
//! <state>/bundle/        the last rendered bundle (replaced atomically)
//! <state>/terraform/     the target's module and Terraform's state
//! <state>/instance/      local target: the materialised instance
//! <state>/data/          local target: the data volume (a folder)
//! ```

use std::ffi::OsString;
use std::fs;
use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};
use std::path::{Component, Path, PathBuf};

use anyhow::{bail, Context as _, Result};

/// The folder that holds every instance's state folder: `--state-dir` / `$NASSELLA_STATE_DIR`
/// (read by the command line parser, [`crate::environment`]), else
/// `$HOME/.local/state/nassella`.
#[must_use]
pub fn base() -> PathBuf {
    crate::environment::get()
        .state_dir
        .clone()
        .filter(|v| !v.as_os_str().is_empty())
        .unwrap_or_else(|| {
            let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from);
            home.join(".local/state/nassella")
        })
}

/// Refuse an instance name that is not one plain path segment (empty, `.`, `..`, with `/` or
/// NUL, absolute). The composer refuses these long before (`instance.name`, with the line);
/// this is the last line of defence for a stack that skipped it.
///
/// # Errors
/// When the name would leave the state folder.
pub fn check_segment(name: &str) -> Result<()> {
    let mut parts = Path::new(name).components();
    let one_normal = matches!(parts.next(), Some(Component::Normal(_))) && parts.next().is_none();
    if !one_normal || name.contains(['/', '\0']) {
        bail!(
            "instance name {name:?} is not a single folder name, so it cannot name a state folder; nothing was written"
        );
    }
    Ok(())
}

/// Paths of one instance's state folder.
#[derive(Debug, Clone)]
pub struct StateDir {
    root: PathBuf,
}

impl StateDir {
    /// The state folder of `instance` (nothing is created).
    ///
    /// # Errors
    /// When `instance` is not one plain path segment ([`check_segment`]).
    pub fn of(instance: &str) -> Result<Self> {
        check_segment(instance)?;
        Ok(Self {
            root: base().join(instance),
        })
    }
    /// The state folder at `root` (tests).
    #[must_use]
    pub fn at(root: PathBuf) -> Self {
        Self { root }
    }
    /// The folder itself.
    #[must_use]
    pub fn root(&self) -> &Path {
        &self.root
    }
    /// The default master key file.
    #[must_use]
    pub fn master_key(&self) -> PathBuf {
        self.root.join("master.key")
    }
    /// The last bundle.
    #[must_use]
    pub fn bundle(&self) -> PathBuf {
        self.root.join("bundle")
    }
    /// Terraform's working folder.
    #[must_use]
    pub fn terraform(&self) -> PathBuf {
        self.root.join("terraform")
    }
    /// The local target's data folder.
    #[must_use]
    pub fn data(&self) -> PathBuf {
        self.root.join("data")
    }

    /// Create the state folder (and any missing parent) mode 0700, whatever the umask; an
    /// existing one that others can read is tightened to 0700, with a note.
    ///
    /// # Errors
    /// On I/O failure.
    pub fn create(&self) -> Result<()> {
        private_dir(&self.root)
    }
}

/// Create `dir` and its missing parents mode 0700 (the umask only removes bits, so the mode is
/// set again afterwards); an existing `dir` that group or others can use is tightened to 0700
/// with a note on standard error. Existing parents are left as they are.
///
/// # Errors
/// On I/O failure, or when `dir` exists and is not a folder.
pub fn private_dir(dir: &Path) -> Result<()> {
    let mut missing: Vec<OsString> = Vec::new();
    let mut at = dir.to_path_buf();
    while !at.as_os_str().is_empty() && fs::symlink_metadata(&at).is_err() {
        missing.push(at.as_os_str().to_owned());
        if !at.pop() {
            break;
        }
    }
    for d in missing.iter().rev() {
        match fs::DirBuilder::new().mode(0o700).create(d) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => {
                return Err(e).with_context(|| format!("creating {}", Path::new(d).display()))
            }
        }
        fs::set_permissions(d, fs::Permissions::from_mode(0o700))
            .with_context(|| format!("making {} private", Path::new(d).display()))?;
    }
    let meta = fs::metadata(dir).with_context(|| format!("reading {}", dir.display()))?;
    if !meta.is_dir() {
        bail!("{} exists and is not a folder", dir.display());
    }
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).with_context(|| {
            format!(
                "{} is open to others (mode {mode:o}) and cannot be made private; run `chmod 700 {}`",
                dir.display(),
                dir.display()
            )
        })?;
        crate::say::note(&format!(
            "note: {} was open to others (mode {mode:o}); it holds keys and state, so it is now 0700",
            dir.display()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_one_plain_segment_names_a_state_folder() {
        for bad in ["", ".", "..", "../../x", "/etc", "a/b", "a\0b", "a/", "./a"] {
            assert!(check_segment(bad).is_err(), "{bad:?}");
        }
        for good in ["family", "a.b", "x-1"] {
            check_segment(good).unwrap();
        }
    }

    #[test]
    fn state_folders_are_private_whatever_the_mode_before() {
        let t = tempfile::tempdir().unwrap();
        let deep = t.path().join("a/b/c");
        private_dir(&deep).unwrap();
        for d in [t.path().join("a"), t.path().join("a/b"), deep.clone()] {
            let m = fs::metadata(&d).unwrap().permissions().mode() & 0o777;
            assert_eq!(m, 0o700, "{}", d.display());
        }
        fs::set_permissions(&deep, fs::Permissions::from_mode(0o755)).unwrap();
        private_dir(&deep).unwrap();
        let m = fs::metadata(&deep).unwrap().permissions().mode() & 0o777;
        assert_eq!(m, 0o700);
        fs::write(t.path().join("f"), "").unwrap();
        assert!(private_dir(&t.path().join("f")).is_err());
    }
}
