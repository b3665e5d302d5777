//! Writing a bundle to disk atomically: everything goes into a fresh sibling folder first, and
//! only a complete folder is moved into place. A failed build leaves the old output untouched.

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use anyhow::{Context as _, Result};
use nassella_core::Bundle;

/// Write `bundle` to `out`, replacing what was there only once the new folder is complete.
/// Files that hold secrets are mode 0600, the folder itself 0700.
///
/// # Errors
/// Any I/O failure; `out` is then as it was before.
pub fn write_atomically(bundle: &Bundle, out: &Path) -> Result<()> {
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => ".".into(),
    };
    fs::create_dir_all(&parent).with_context(|| format!("creating {}", parent.display()))?;
    let name = out
        .file_name()
        .context("the output path needs a folder name")?
        .to_string_lossy()
        .into_owned();
    let staging = tempfile::Builder::new()
        .prefix(&format!(".{name}.new-"))
        .tempdir_in(&parent)
        .with_context(|| format!("creating a staging folder in {}", parent.display()))?;
    fs::set_permissions(staging.path(), fs::Permissions::from_mode(0o700))?;
    for (rel, bytes) in bundle.files() {
        let path = staging.path().join(rel);
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir)?;
        }
        let mode = if bundle.is_secret(rel) || is_secret_view(rel) {
            0o600
        } else {
            0o644
        };
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .with_context(|| format!("writing {}", path.display()))?;
        f.set_permissions(fs::Permissions::from_mode(mode))?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    // Swap: move the old output aside, the new one in, then delete the old one.
    let old = parent.join(format!(".{name}.old-{}", std::process::id()));
    let had_old = out.exists();
    if had_old {
        fs::rename(out, &old)
            .with_context(|| format!("moving the previous {} aside", out.display()))?;
    }
    let staged = staging.keep();
    if let Err(e) = fs::rename(&staged, out) {
        if had_old {
            let _ = fs::rename(&old, out);
        }
        let _ = fs::remove_dir_all(&staged);
        return Err(e).with_context(|| format!("moving the new output to {}", out.display()));
    }
    if had_old {
        fs::remove_dir_all(&old)
            .with_context(|| format!("removing the previous output {}", old.display()))?;
    }
    Ok(())
}

/// Env files and the registry login carry only `<secret:…>` markers in the views, but keep them
/// private all the same.
fn is_secret_view(rel: &str) -> bool {
    rel.ends_with(".env") || rel.ends_with("/docker-config/config.json")
}
