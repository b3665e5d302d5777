//! A VM's root disk: the cached base tree, the container images saved from the host's Docker,
//! and the instance's Ignition config applied by the real Ignition `files` stage, made into an
//! ext4 image with `mkfs.ext4 -d` (no mount, no loop device).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use sha2::{Digest as _, Sha256};

use crate::base::{base_image, cache_root, with_lock};

/// Size of the root file system (sparse; Docker's images and containers live on it).
const ROOT_SIZE: &str = "6G";

/// A root disk image for one VM.
#[derive(Debug)]
pub struct RootImage {
    _dir: tempfile::TempDir,
    path: PathBuf,
    log: String,
}

impl RootImage {
    /// Copy the base tree, add `images` (saved with `docker save` into the harness's tarball,
    /// loaded by the guest's Docker at start), run the real Ignition `fetch-offline`/`fetch`/
    /// `files` stages with `ignition` against the tree, and make the ext4 image.
    ///
    /// # Panics
    /// When Ignition rejects the config or a tool fails.
    #[must_use]
    pub fn build(ignition: &[u8], images: &[&str]) -> Self {
        let started = Instant::now();
        let base = base_image();
        let dir = tempfile::Builder::new()
            .prefix("nassella-vm-root-")
            .tempdir()
            .unwrap();
        let tree = dir.path().join("tree");
        crate::must(Command::new("cp").arg("-a").arg(&base.root).arg(&tree));
        let harness = tree.join("var/lib/nassella-harness");
        fs::create_dir_all(&harness).unwrap();
        let tarball = saved_images(images);
        fs::copy(&tarball, harness.join("images.tar")).unwrap();
        let (log, ending) = nassella_testkit::ignition_files_stage_into(&tree, ignition);
        let path = dir.path().join("root.raw");
        crate::must(
            Command::new("mkfs.ext4")
                .args(["-q", "-F", "-L", "root", "-d"])
                .arg(&tree)
                .arg(&path)
                .arg(ROOT_SIZE),
        );
        fs::remove_dir_all(&tree).unwrap();
        eprintln!(
            "vm-tests: root image made in {:.1}s (Ignition: {ending:?})",
            started.elapsed().as_secs_f64()
        );
        Self {
            _dir: dir,
            path,
            log,
        }
    }

    /// The raw image file.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The Ignition stages' log.
    #[must_use]
    pub fn ignition_log(&self) -> &str {
        &self.log
    }
}

/// `docker save` of `images`, cached by their image ids.
fn saved_images(images: &[&str]) -> PathBuf {
    let mut h = Sha256::new();
    for tag in images {
        let id = crate::must(
            Command::new("docker").args(["image", "inspect", "--format", "{{.Id}}", tag]),
        );
        h.update(tag);
        h.update(id.trim());
    }
    let key: String = h.finalize()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let path = cache_root().join(format!("images-{key}.tar"));
    fs::create_dir_all(cache_root()).unwrap();
    with_lock(&cache_root().join("images.lock"), || {
        if path.exists() {
            return;
        }
        let tmp = path.with_extension("tar.part");
        crate::must(
            Command::new("docker")
                .arg("save")
                .arg("--output")
                .arg(&tmp)
                .args(images),
        );
        fs::rename(&tmp, &path).unwrap();
    });
    path
}
