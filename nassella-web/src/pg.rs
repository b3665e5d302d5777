//! TEMPORARY stand-in for `nassella_jobs::pg` (same API) until that crate lands: a private
//! PostgreSQL cluster from Debian's binaries in a folder, reached over a Unix socket only.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context as _, Result};

/// A running cluster; stopped by [`Cluster::stop`] or when dropped.
#[derive(Debug)]
pub struct Cluster {
    bin: PathBuf,
    data: PathBuf,
    socket: PathBuf,
    user: Option<&'static str>,
    stopped: bool,
}

fn bin_dir() -> Result<PathBuf> {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .context("no PostgreSQL under /usr/lib/postgresql: run `bash .ci/install-tools`")?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let v = e.file_name().to_string_lossy().parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((v, bin))
        })
        .collect();
    found.sort();
    found
        .pop()
        .map(|(_, b)| b)
        .context("no initdb under /usr/lib/postgresql/*/bin: run `bash .ci/install-tools`")
}

impl Cluster {
    /// Create the cluster in `dir` if it is new, and start it.
    ///
    /// # Errors
    /// When PostgreSQL is missing or does not start.
    pub async fn start(dir: &Path) -> Result<Self> {
        let dir = dir.to_path_buf();
        tokio::task::spawn_blocking(move || Self::start_blocking(&dir)).await?
    }

    fn start_blocking(dir: &Path) -> Result<Self> {
        let bin = bin_dir()?;
        std::fs::create_dir_all(dir)?;
        let dir = dir.canonicalize()?;
        // PostgreSQL refuses to run as root: then the cluster belongs to the `postgres` user.
        let user = (nix_is_root()).then_some("postgres");
        let data = dir.join("data");
        let socket = dir.join("socket");
        std::fs::create_dir_all(&socket)?;
        if let Some(u) = user {
            chown(&dir, u)?;
            chown(&socket, u)?;
        }
        let c = Self {
            bin,
            data,
            socket,
            user,
            stopped: false,
        };
        if !c.data.join("PG_VERSION").exists() {
            c.run(
                "initdb",
                &[
                    "-D",
                    &c.data.display().to_string(),
                    "-U",
                    "nassella",
                    "--auth=trust",
                    "-E",
                    "UTF8",
                    "--no-sync",
                ],
            )?;
        }
        let opts = format!(
            "-c listen_addresses='' -c unix_socket_directories='{}' -c fsync=on -c max_connections=200",
            c.socket.display()
        );
        c.run(
            "pg_ctl",
            &[
                "-D",
                &c.data.display().to_string(),
                "-o",
                &opts,
                "-l",
                &dir.join("postgres.log").display().to_string(),
                "-w",
                "start",
            ],
        )?;
        Ok(c)
    }

    fn run(&self, prog: &str, args: &[&str]) -> Result<()> {
        let path = self.bin.join(prog);
        let mut cmd = match self.user {
            Some(u) => {
                let mut c = Command::new("runuser");
                c.args(["-u", u, "--"]).arg(&path);
                c
            }
            None => Command::new(&path),
        };
        let out = cmd.args(args).output().with_context(|| format!("running {prog}"))?;
        if !out.status.success() {
            bail!(
                "{prog} failed: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(())
    }

    /// The URL of the `postgres` database.
    #[must_use]
    pub fn url(&self) -> String {
        format!(
            "postgres://nassella@localhost/postgres?host={}",
            self.socket.display()
        )
    }

    /// The URL of database `name`, created when missing.
    ///
    /// # Errors
    /// When it cannot be created.
    pub async fn database(&self, name: &str) -> Result<String> {
        let exists = Command::new(self.bin.join("psql"))
            .args(["-h", &self.socket.display().to_string(), "-U", "nassella", "-d", "postgres", "-tAc"])
            .arg(format!("SELECT 1 FROM pg_database WHERE datname = '{name}'"))
            .output()?;
        if String::from_utf8_lossy(&exists.stdout).trim() != "1" {
            let out = Command::new(self.bin.join("createdb"))
                .args(["-h", &self.socket.display().to_string(), "-U", "nassella", name])
                .output()?;
            if !out.status.success() {
                bail!("createdb {name}: {}", String::from_utf8_lossy(&out.stderr));
            }
        }
        Ok(format!(
            "postgres://nassella@localhost/{name}?host={}",
            self.socket.display()
        ))
    }

    /// Stop the cluster (fast shutdown).
    ///
    /// # Errors
    /// Never in the stand-in.
    pub async fn stop(mut self) -> Result<()> {
        tokio::task::spawn_blocking(move || self.stop_blocking()).await?;
        Ok(())
    }

    fn stop_blocking(&mut self) {
        if !self.stopped {
            self.stopped = true;
            let _ = self.run(
                "pg_ctl",
                &["-D", &self.data.display().to_string(), "-m", "fast", "-w", "stop"],
            );
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop_blocking();
    }
}

fn nix_is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn chown(path: &Path, user: &str) -> Result<()> {
    let st = Command::new("chown").arg("-R").arg(user).arg(path).status()?;
    if !st.success() {
        bail!("chown {user} {}", path.display());
    }
    Ok(())
}
