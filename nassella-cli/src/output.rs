//! Writing a bundle to disk atomically: everything goes into a fresh sibling folder first, and
//! only a complete folder is moved into place, by exchanging the two folders in one step
//! (`renameat2(RENAME_EXCHANGE)`), so there is no moment when the output folder is missing. A
//! failed build leaves the old output untouched.
//!
//! The sibling folders are named `.<out>.nassella-new-<pid>-<random>` (the new bundle; after the
//! exchange, the previous one on its way out) and `.<out>.nassella-old-<pid>-<random>` (the
//! two-rename fallback). They hold a full `ignition.json` with secrets, so a run that was killed
//! half-way leaves one behind: the next run removes each folder of exactly that shape whose
//! process is gone, and nothing else.

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};
use nassella_core::Bundle;

/// The file every bundle holds: an existing folder is replaced only if it has one (or is empty).
const BUNDLE_MARK: &str = nassella_core::render::IGNITION_FILE;

/// Refuse an output path that cannot be replaced safely, before anything is built or written:
/// a file, a symbolic link, or a folder that is not an earlier output (it would be deleted as a
/// whole). Missing and empty folders, and earlier outputs, are fine.
///
/// # Errors
/// Says what is at `out` and what to do.
pub fn check_target(out: &Path) -> Result<()> {
    if out.file_name().is_none() {
        bail!(
            "--out {} does not name a folder; nothing was written",
            out.display()
        );
    }
    let meta = match fs::symlink_metadata(out) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("reading {}", out.display())),
    };
    if meta.file_type().is_symlink() {
        bail!(
            "--out {} is a symbolic link; the output folder is replaced as a whole, so give the folder itself. Nothing was written",
            out.display()
        );
    }
    if !meta.is_dir() {
        bail!(
            "--out {} is a file, not an output folder; nothing was written. Give another path, or remove the file",
            out.display()
        );
    }
    let empty = fs::read_dir(out)
        .with_context(|| format!("reading {}", out.display()))?
        .next()
        .is_none();
    if !empty && !out.join(BUNDLE_MARK).is_file() {
        bail!(
            "--out {} is a folder that holds something else than a Nassella bundle (no {BUNDLE_MARK}); it would be replaced as a whole, so nothing was written. Give a new or empty folder",
            out.display()
        );
    }
    Ok(())
}

/// How the new folder was moved into place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Swap {
    /// There was no output before: one rename.
    Created,
    /// The two folders were exchanged in one step.
    Exchanged,
    /// The filesystem cannot exchange folders (the reason): two renames, with a moment
    /// between them when the output was missing.
    TwoRenames(String),
}

/// Write `bundle` to `out`, replacing what was there only once the new folder is complete.
/// Files that hold secrets are mode 0600, the folder itself 0700. Leftovers of killed runs next
/// to `out` are removed first.
///
/// # Errors
/// Any I/O failure, or an `out` that [`check_target`] refuses; `out` is then as it was before.
pub fn write_atomically(bundle: &Bundle, out: &Path) -> Result<Swap> {
    check_target(out)?;
    let parent = parent_of(out);
    fs::create_dir_all(&parent).with_context(|| format!("creating {}", parent.display()))?;
    let name = out
        .file_name()
        .context("the output path needs a folder name")?
        .to_string_lossy()
        .into_owned();
    remove_leftovers(&parent, &name);
    let pid = std::process::id();
    let staging = tempfile::Builder::new()
        .prefix(&format!(".{name}.nassella-new-{pid}-"))
        .rand_bytes(8)
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
    // From here the staging folder is removed by hand (it holds the old output after an
    // exchange), so the guard must not delete it first.
    let staged = staging.keep();
    let swap = swap_into_place(&staged, out, &parent, &name, rename2);
    if swap.is_err() {
        let _ = fs::remove_dir_all(&staged);
    }
    let swap = swap?;
    if let Ok(dir) = fs::File::open(&parent) {
        let _ = dir.sync_all();
    }
    if let Swap::TwoRenames(why) = &swap {
        crate::say::note(&format!(
            "note: the filesystem of {} cannot exchange two folders in one step ({why}); {} was replaced with two renames, so it was missing for a moment",
            parent.display(),
            out.display()
        ));
    }
    Ok(swap)
}

fn parent_of(out: &Path) -> PathBuf {
    match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => ".".into(),
    }
}

/// Move the complete folder `staged` to `out`: create it, or exchange it with the previous
/// output and delete that one (now at `staged`).
/// `renameat2(from, to, flags)` (relative paths from the current folder).
type Rename2 = fn(&Path, &Path, rustix::fs::RenameFlags) -> Result<(), rustix::io::Errno>;

fn rename2(
    from: &Path,
    to: &Path,
    flags: rustix::fs::RenameFlags,
) -> Result<(), rustix::io::Errno> {
    rustix::fs::renameat_with(rustix::fs::CWD, from, rustix::fs::CWD, to, flags)
}

fn swap_into_place(
    staged: &Path,
    out: &Path,
    parent: &Path,
    name: &str,
    rename2: Rename2,
) -> Result<Swap> {
    use rustix::fs::RenameFlags;
    use rustix::io::Errno;
    let refused = |e: Errno| {
        matches!(e, Errno::INVAL | Errno::NOSYS | Errno::NOTSUP).then(|| format!("renameat2: {e}"))
    };
    match rename2(staged, out, RenameFlags::NOREPLACE) {
        Ok(()) => return Ok(Swap::Created),
        Err(Errno::EXIST | Errno::NOTEMPTY) => {}
        Err(e) => match refused(e) {
            // Without renameat2 flags at all: a plain rename, which also replaces an empty
            // folder, and fails on a full one (then the two-rename path below).
            Some(_) if fs::symlink_metadata(out).is_err() => {
                fs::rename(staged, out)
                    .with_context(|| format!("moving the new output to {}", out.display()))?;
                return Ok(Swap::Created);
            }
            Some(_) => {}
            None => {
                return Err(std::io::Error::from(e))
                    .with_context(|| format!("moving the new output to {}", out.display()))
            }
        },
    }
    match rename2(staged, out, RenameFlags::EXCHANGE) {
        Ok(()) => {
            // `staged` now holds the previous output.
            fs::remove_dir_all(staged).with_context(|| {
                format!("removing the previous output, now at {}", staged.display())
            })?;
            Ok(Swap::Exchanged)
        }
        Err(e) => {
            let Some(why) = refused(e) else {
                return Err(std::io::Error::from(e))
                    .with_context(|| format!("replacing {}", out.display()));
            };
            let old = parent.join(format!(
                ".{name}.nassella-old-{}-{}",
                std::process::id(),
                staged
                    .file_name()
                    .and_then(|n| n.to_str())
                    .and_then(|n| n.rsplit('-').next())
                    .unwrap_or("x")
            ));
            fs::rename(out, &old)
                .with_context(|| format!("moving the previous {} aside", out.display()))?;
            if let Err(e) = fs::rename(staged, out) {
                let _ = fs::rename(&old, out);
                return Err(e)
                    .with_context(|| format!("moving the new output to {}", out.display()));
            }
            fs::remove_dir_all(&old)
                .with_context(|| format!("removing the previous output {}", old.display()))?;
            Ok(Swap::TwoRenames(why))
        }
    }
}

/// Remove the staging and old folders of `out` (named `name`) that runs killed half-way left in
/// `parent`: exactly `.<name>.nassella-new-<pid>-<random>` or `.<name>.nassella-old-<pid>-<random>`,
/// a real folder owned by this user, whose process `<pid>` is gone. Folders of the shape older
/// versions used (`.<name>.new-<6 letters or digits>`, `.<name>.old-<pid>`) are removed too when
/// they hold a bundle (`ignition.json`) and were not touched for an hour. Anything else stays.
/// Failures are only reported: they must not stop the build.
pub fn remove_leftovers(parent: &Path, name: &str) -> Vec<PathBuf> {
    let mut removed = Vec::new();
    let Ok(entries) = fs::read_dir(parent) else {
        return removed;
    };
    let me = rustix::process::geteuid().as_raw();
    let gone = |pid: u32| pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists();
    for e in entries.flatten() {
        let file = e.file_name();
        let Some(file) = file.to_str() else { continue };
        let Some(kind) = leftover(file, name) else {
            continue;
        };
        let path = e.path();
        let Ok(meta) = fs::symlink_metadata(&path) else {
            continue;
        };
        if !meta.is_dir() || meta.uid() != me {
            continue;
        }
        let stale = match kind {
            Leftover::Current { pid } => gone(pid),
            Leftover::Legacy { pid } => {
                let idle = meta
                    .modified()
                    .ok()
                    .and_then(|m| m.elapsed().ok())
                    .is_some_and(|d| d > std::time::Duration::from_secs(3600));
                idle && pid.is_none_or(gone) && path.join(BUNDLE_MARK).is_file()
            }
        };
        if !stale {
            continue;
        }
        match fs::remove_dir_all(&path) {
            Ok(()) => {
                crate::say::note(&format!(
                    "removed {}, left by an interrupted run",
                    path.display()
                ));
                removed.push(path);
            }
            Err(err) => crate::say::note(&format!(
                "warning: cannot remove {}, left by an interrupted run: {err}",
                path.display()
            )),
        }
    }
    removed
}

/// A folder name that a run writing output `name` uses next to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Leftover {
    /// `.<name>.nassella-new-<pid>-<random>` or `.<name>.nassella-old-<pid>-<random>`.
    Current { pid: u32 },
    /// `.<name>.new-<6 letters or digits>` (no pid) or `.<name>.old-<pid>`: older versions.
    Legacy { pid: Option<u32> },
}

/// What `file` is, when it has exactly one of the shapes of [`Leftover`] for output `name`.
fn leftover(file: &str, name: &str) -> Option<Leftover> {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let alnum = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric());
    let rest = file.strip_prefix('.')?.strip_prefix(name)?;
    if let Some(r) = rest
        .strip_prefix(".nassella-new-")
        .or_else(|| rest.strip_prefix(".nassella-old-"))
    {
        let (pid, random) = r.split_once('-')?;
        return (digits(pid) && alnum(random))
            .then(|| pid.parse().ok())
            .flatten()
            .map(|pid| Leftover::Current { pid });
    }
    if let Some(random) = rest.strip_prefix(".new-") {
        return (random.len() == 6 && alnum(random)).then_some(Leftover::Legacy { pid: None });
    }
    let pid = rest.strip_prefix(".old-")?;
    digits(pid)
        .then(|| pid.parse().ok())
        .flatten()
        .map(|pid| Leftover::Legacy { pid: Some(pid) })
}

/// Env files and the registry login carry only `<secret:…>` markers in the views, but keep them
/// private all the same.
fn is_secret_view(rel: &str) -> bool {
    rel.ends_with(".env") || rel.ends_with("/docker-config/config.json")
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustix::fs::RenameFlags;
    use rustix::io::Errno;

    /// A staged folder and an earlier output, each with its own `ignition.json`.
    fn world(old: bool) -> (tempfile::TempDir, PathBuf, PathBuf) {
        let t = tempfile::tempdir().unwrap();
        let out = t.path().join("out");
        if old {
            fs::create_dir(&out).unwrap();
            fs::write(out.join(BUNDLE_MARK), "old").unwrap();
        }
        let staged = t.path().join(".out.nassella-new-1-abc");
        fs::create_dir(&staged).unwrap();
        fs::write(staged.join(BUNDLE_MARK), "new").unwrap();
        (t, out, staged)
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn the_real_exchange_replaces_the_output_in_one_step() {
        let (t, out, staged) = world(true);
        let swap = swap_into_place(&staged, &out, t.path(), "out", rename2).unwrap();
        assert_eq!(swap, Swap::Exchanged);
        assert_eq!(fs::read_to_string(out.join(BUNDLE_MARK)).unwrap(), "new");
        assert_eq!(names(t.path()), ["out"]);
    }

    /// A filesystem that refuses `RENAME_EXCHANGE` (as some network and FUSE filesystems do):
    /// a stand-in for one, since every filesystem here supports it.
    fn no_exchange(from: &Path, to: &Path, flags: RenameFlags) -> Result<(), Errno> {
        if flags.contains(RenameFlags::EXCHANGE) {
            return Err(Errno::INVAL);
        }
        rename2(from, to, flags)
    }

    /// A kernel without `renameat2` at all.
    fn no_renameat2(_: &Path, _: &Path, _: RenameFlags) -> Result<(), Errno> {
        Err(Errno::NOSYS)
    }

    #[test]
    fn without_an_exchange_two_renames_replace_the_output_and_say_why() {
        let (t, out, staged) = world(true);
        let swap = swap_into_place(&staged, &out, t.path(), "out", no_exchange).unwrap();
        let Swap::TwoRenames(why) = swap else {
            panic!("{swap:?}")
        };
        assert!(why.contains("renameat2"), "{why}");
        assert_eq!(fs::read_to_string(out.join(BUNDLE_MARK)).unwrap(), "new");
        assert_eq!(names(t.path()), ["out"], "the old output is removed");

        let (t, out, staged) = world(true);
        let swap = swap_into_place(&staged, &out, t.path(), "out", no_renameat2).unwrap();
        assert!(matches!(swap, Swap::TwoRenames(_)), "{swap:?}");
        assert_eq!(fs::read_to_string(out.join(BUNDLE_MARK)).unwrap(), "new");
        assert_eq!(names(t.path()), ["out"]);

        let (t, out, staged) = world(false);
        let swap = swap_into_place(&staged, &out, t.path(), "out", no_renameat2).unwrap();
        assert_eq!(swap, Swap::Created);
        assert_eq!(names(t.path()), ["out"]);
    }

    #[test]
    fn only_leftovers_of_exactly_these_shapes_are_recognised() {
        let current = |pid| Some(Leftover::Current { pid });
        assert_eq!(
            leftover(".out.nassella-new-123-aB3xYz12", "out"),
            current(123)
        );
        assert_eq!(leftover(".out.nassella-old-9-x", "out"), current(9));
        assert_eq!(
            leftover(".out.new-aB3xYz", "out"),
            Some(Leftover::Legacy { pid: None })
        );
        assert_eq!(
            leftover(".out.old-4242", "out"),
            Some(Leftover::Legacy { pid: Some(4242) })
        );
        for other in [
            ".out.nassella-new-123-",
            ".out.nassella-new--abc",
            ".out.nassella-new-12a-abc",
            ".out.nassella-new-1-a/b",
            ".out.nassella-new-1-a.b",
            ".outx.nassella-new-1-abc",
            "out.nassella-new-1-abc",
            ".other.nassella-new-1-abc",
            ".out.new-abc12",
            ".out.new-abc1234",
            ".out.new-abc.12",
            ".out.old-",
            ".out.old-12x",
            ".out.older-12",
        ] {
            assert_eq!(leftover(other, "out"), None, "{other}");
        }
    }
}
