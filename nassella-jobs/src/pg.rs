//! An embedded PostgreSQL cluster: the web app's database when it is started without a database
//! URL (issue 12, item 2), and the database every test of this crate runs against.
//!
//! [`Cluster::start`] creates the cluster the first time (`initdb`) and starts it; later starts
//! find it and start it again (or adopt it, when a previous process died and left it running).
//! Debian's binaries are used: `/usr/lib/postgresql/<major>/bin`, the highest major installed
//! (`$NASSELLA_PG_BIN` overrides the folder).
//!
//! Layout of the folder given to [`Cluster::start`]:
//!
//! ```text
//! <dir>/                      the caller's; 0711 when the server runs as another user, else 0700
//! <dir>/superuser.password    0600, the caller's: the password of the `nassella` superuser
//! <dir>/data/                 PGDATA, 0700, the server user's (data/server.log is its log)
//! <dir>/run/                  0700, the server user's: the Unix socket, the only way in
//! ```
//!
//! **Who runs the server.** Debian's `initdb` refuses to run as root, and a database server
//! should not run as root anyway. As root, the server runs as the system user `postgres` (created
//! by Debian's `postgresql` package; `$NASSELLA_PG_USER` names another): `data/` and `run/` are
//! chowned to it, `<dir>` becomes 0711 so it can reach them (it cannot list `<dir>` or read the
//! password file), and every ancestor of `<dir>` must be searchable by it (a clear error says
//! which is not: `tempfile`'s 0700 folders are not). As any other user, the server runs as that
//! user and everything stays 0700.
//!
//! **Who can connect.** The server listens on no TCP port, only on the socket in `run/`, which
//! is 0700: reachable by the server user and by root (root bypasses permissions), so a web app
//! running as root or as the same user as the server reaches it; nobody else does. Each
//! connection also needs the superuser's password (SCRAM), generated from the system's random
//! source at `initdb` and kept in `superuser.password`; the URLs carry it, so treat them as
//! secrets (never log them). A web app that runs as a third user must instead be given an
//! external database URL.
//!
//! The URLs put everything in the query (`postgres:///db?host=/…/run&user=…&password=…`), a
//! form both sqlx and Go's `lib/pq` (Terraform's `pg` backend) read the same way.

use std::fmt::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{bail, Context as _, Result};
use sqlx::Connection as _;

/// The superuser every URL connects as.
pub const SUPERUSER: &str = "nassella";
/// The database [`Cluster::url`] names (created at start when missing).
pub const DEFAULT_DATABASE: &str = "nassella";
/// How long `pg_ctl` may take to start or stop the server.
const PG_CTL_TIMEOUT_SECS: &str = "60";

/// A running private PostgreSQL cluster. Dropping it stops the server (fast shutdown: open
/// transactions are rolled back, nothing committed is lost).
#[derive(Debug)]
pub struct Cluster {
    dir: PathBuf,
    bin: PathBuf,
    runas: Option<RunAs>,
    password: String,
    running: bool,
}

/// The unprivileged user the server runs as when we are root.
#[derive(Debug, Clone)]
struct RunAs {
    name: String,
    uid: u32,
    gid: u32,
}

impl Cluster {
    /// Creates (initdb, first time only) and starts a private PostgreSQL cluster whose data
    /// lives in `dir`; it listens on a Unix socket inside `dir` and nowhere else. Idempotent
    /// across restarts: the data is kept, and a server left running by a process that died is
    /// adopted. See the module documentation for the layout and who may connect.
    ///
    /// # Errors
    /// When the binaries are missing, `dir` cannot be prepared (or reached by the server user),
    /// `initdb` or `pg_ctl start` fail (their output is in the error; the server's log is
    /// `dir/data/server.log`).
    pub async fn start(dir: &Path) -> Result<Cluster> {
        let bin = bin_dir()?;
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let dir = dir
            .canonicalize()
            .with_context(|| format!("resolving {}", dir.display()))?;
        let runas = run_as().await?;
        let socket = dir.join("run").join(".s.PGSQL.5432");
        // sockaddr_un holds 108 bytes with the final NUL.
        if socket.as_os_str().len() > 107 {
            bail!(
                "the PostgreSQL socket path {} is longer than the 107 bytes Unix sockets allow: choose a shorter state folder",
                socket.display()
            );
        }
        let mode = if runas.is_some() { 0o711 } else { 0o700 };
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(mode))
            .with_context(|| format!("setting the mode of {}", dir.display()))?;
        if let Some(r) = &runas {
            check_reachable(&dir, r)?;
        }
        let run = dir.join("run");
        make_private_dir(&run, runas.as_ref())?;
        let mut cluster = Cluster {
            password: String::new(),
            dir,
            bin,
            runas,
            running: false,
        };
        if cluster.data_dir().join("PG_VERSION").exists() {
            cluster.password = read_password(&cluster.password_file())?;
        } else {
            cluster.initdb().await?;
        }
        cluster.write_settings()?;
        cluster.pg_ctl_start().await?;
        cluster.running = true;
        cluster
            .database(DEFAULT_DATABASE)
            .await
            .context("creating the default database")?;
        Ok(cluster)
    }

    /// A connection URL for sqlx (and `lib/pq`) to the default database (`nassella`). It holds
    /// the password: never log it.
    #[must_use]
    pub fn url(&self) -> String {
        self.url_for(DEFAULT_DATABASE)
    }

    /// Creates the database `name` if missing and returns its URL (tests make one per test).
    /// `name` is 1–63 of `a-z`, `0-9`, `_`, starting with a letter or `_`.
    ///
    /// # Errors
    /// On a bad name, or when the server refuses.
    pub async fn database(&self, name: &str) -> Result<String> {
        let valid = !name.is_empty()
            && name.len() <= 63
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            && !name.as_bytes()[0].is_ascii_digit();
        if !valid {
            bail!(
                "database name `{name}`: use 1 to 63 of a-z, 0-9 and _, not starting with a digit"
            );
        }
        let mut conn = sqlx::PgConnection::connect(&self.url_for("postgres"))
            .await
            .with_context(|| format!("connecting to the cluster in {}", self.dir.display()))?;
        let exists: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
                .bind(name)
                .fetch_one(&mut conn)
                .await?;
        if !exists {
            // The name is validated above: quoting it is enough.
            match sqlx::query(&format!("CREATE DATABASE \"{name}\""))
                .execute(&mut conn)
                .await
            {
                Ok(_) => {}
                // Created meanwhile by someone else: fine. (duplicate_database, or the unique
                // index of pg_database when both commit at once.)
                Err(sqlx::Error::Database(e))
                    if matches!(e.code().as_deref(), Some("42P04" | "23505")) => {}
                Err(e) => return Err(e).with_context(|| format!("creating database {name}")),
            }
        }
        conn.close().await.ok();
        Ok(self.url_for(name))
    }

    /// Stops the server (fast shutdown) and waits for it.
    ///
    /// # Errors
    /// When `pg_ctl stop` fails.
    pub async fn stop(mut self) -> Result<()> {
        self.running = false;
        let out = self
            .command("pg_ctl")
            .args(["stop", "-m", "fast", "-w", "-t", PG_CTL_TIMEOUT_SECS, "-D"])
            .arg(self.data_dir())
            .output()
            .await
            .context("running pg_ctl stop")?;
        if !out.status.success() {
            bail!(
                "pg_ctl stop failed: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(())
    }

    /// The folder holding the Unix socket (libpq's and sqlx's `host`).
    #[must_use]
    pub fn socket_dir(&self) -> PathBuf {
        self.dir.join("run")
    }

    /// PGDATA.
    #[must_use]
    pub fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn password_file(&self) -> PathBuf {
        self.dir.join("superuser.password")
    }

    fn url_for(&self, db: &str) -> String {
        let mut q = String::new();
        for (k, v) in [
            ("host", self.socket_dir().to_string_lossy().into_owned()),
            ("user", SUPERUSER.to_owned()),
            ("password", self.password.clone()),
            ("sslmode", "disable".to_owned()),
        ] {
            let _ = write!(
                q,
                "{}{k}={}",
                if q.is_empty() { "" } else { "&" },
                encode(&v)
            );
        }
        format!("postgres:///{db}?{q}")
    }

    /// A command from the PostgreSQL binaries, run as the server user.
    fn command(&self, program: &str) -> tokio::process::Command {
        let (exe, prefix) = self.program(program);
        let mut c = tokio::process::Command::new(exe);
        c.args(prefix)
            // A cwd the server user can enter (ours may be /root), and no PG* settings of ours.
            .current_dir(&self.dir)
            .env_remove("PGDATA")
            .env_remove("PGHOST")
            .env_remove("PGPORT")
            .stdin(Stdio::null())
            .kill_on_drop(true);
        c
    }

    /// How to run `program` of the PostgreSQL binaries as the server user: the executable and
    /// its first arguments (`setpriv … -- <program>` under root).
    fn program(&self, program: &str) -> (PathBuf, Vec<std::ffi::OsString>) {
        let exe = self.bin.join(program);
        match &self.runas {
            Some(r) => (
                PathBuf::from("setpriv"),
                vec![
                    format!("--reuid={}", r.uid).into(),
                    format!("--regid={}", r.gid).into(),
                    "--init-groups".into(),
                    "--".into(),
                    exe.into(),
                ],
            ),
            None => (exe, Vec::new()),
        }
    }

    /// `initdb` into `data.init`, renamed to `data` once complete, so a half-made cluster is
    /// never mistaken for one (it is removed and made again).
    async fn initdb(&mut self) -> Result<()> {
        let staging = self.dir.join("data.init");
        if staging.exists() {
            std::fs::remove_dir_all(&staging)
                .with_context(|| format!("removing the unfinished {}", staging.display()))?;
        }
        make_private_dir(&staging, self.runas.as_ref())?;
        // Two v4 UUIDs: 244 bits from the system's random source, in hex (no quoting issues).
        self.password = format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        write_private(&self.password_file(), &self.password, None)?;
        // initdb reads the password from a file the server user can read: in run/ (0700, its
        // own), removed right after.
        let pwfile = self.socket_dir().join("initdb.pw");
        write_private(&pwfile, &self.password, self.runas.as_ref())?;
        let out = self
            .command("initdb")
            .arg("-D")
            .arg(&staging)
            .args([
                "-U",
                SUPERUSER,
                "--auth=scram-sha-256",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
            ])
            .arg(format!("--pwfile={}", pwfile.display()))
            .output()
            .await;
        let _ = std::fs::remove_file(&pwfile);
        let out = out.context("running initdb")?;
        if !out.status.success() {
            bail!(
                "initdb failed:\n{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let conf = staging.join("postgresql.conf");
        let mut text = std::fs::read_to_string(&conf)?;
        text.push_str("\n# Nassella: the socket folder and listen addresses, rewritten at each start.\ninclude_if_exists = 'nassella.conf'\n");
        std::fs::write(&conf, text)?;
        std::fs::rename(&staging, self.data_dir()).context("moving the new cluster in place")?;
        Ok(())
    }

    /// `data/nassella.conf`: settings that depend on where the folder is now.
    fn write_settings(&self) -> Result<()> {
        let socket = self.socket_dir().to_string_lossy().replace('\'', "''");
        let text = format!(
            "# Written by nassella-jobs at each start; edits are lost.\nlisten_addresses = ''\nunix_socket_directories = '{socket}'\nunix_socket_permissions = 0700\n"
        );
        write_private(
            &self.data_dir().join("nassella.conf"),
            &text,
            self.runas.as_ref(),
        )
    }

    async fn pg_ctl_start(&self) -> Result<()> {
        let status = self
            .command("pg_ctl")
            .arg("status")
            .arg("-D")
            .arg(self.data_dir())
            .output()
            .await
            .context("running pg_ctl status")?;
        if status.status.success() {
            // Left running by a process that died: adopt it (its settings are ours).
            return self.wait_ready().await;
        }
        let out = self
            .command("pg_ctl")
            .args(["start", "-w", "-t", PG_CTL_TIMEOUT_SECS, "-D"])
            .arg(self.data_dir())
            .arg("-l")
            .arg(self.data_dir().join("server.log"))
            // pg_ctl's server outlives this command: do not tie it to our pipes.
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .await
            .context("running pg_ctl start")?;
        if !out.status.success() {
            let log =
                std::fs::read_to_string(self.data_dir().join("server.log")).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(15).collect();
            bail!(
                "pg_ctl start failed: {}\nlast lines of {}:\n{}",
                String::from_utf8_lossy(&out.stderr),
                self.data_dir().join("server.log").display(),
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
        self.wait_ready().await
    }

    /// Connect until the server answers (it may still be recovering after a crash).
    async fn wait_ready(&self) -> Result<()> {
        let mut last = None;
        for _ in 0..120 {
            match sqlx::PgConnection::connect(&self.url_for("postgres")).await {
                Ok(c) => {
                    c.close().await.ok();
                    return Ok(());
                }
                Err(e) => last = Some(e),
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        Err(last.map_or_else(|| anyhow::anyhow!("no answer"), anyhow::Error::from)).context(
            format!(
                "the PostgreSQL server in {} does not accept connections",
                self.dir.display()
            ),
        )
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if !self.running {
            return;
        }
        let (exe, prefix) = self.program("pg_ctl");
        let mut c = std::process::Command::new(exe);
        c.args(prefix);
        let _ = c
            .args(["stop", "-m", "fast", "-w", "-t", PG_CTL_TIMEOUT_SECS, "-D"])
            .arg(self.data_dir())
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// `$NASSELLA_PG_BIN`, else the `bin` folder of the highest PostgreSQL major under
/// `/usr/lib/postgresql`.
fn bin_dir() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("NASSELLA_PG_BIN") {
        let p = PathBuf::from(p);
        if !p.join("initdb").exists() {
            bail!("$NASSELLA_PG_BIN is {} but holds no initdb", p.display());
        }
        return Ok(p);
    }
    let root = Path::new("/usr/lib/postgresql");
    let best = std::fs::read_dir(root)
        .ok()
        .into_iter()
        .flatten()
        .filter_map(|e| {
            let e = e.ok()?;
            let major: u32 = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((major, bin))
        })
        .max_by_key(|(m, _)| *m);
    match best {
        Some((_, bin)) => Ok(bin),
        None => bail!(
            "no PostgreSQL server binaries under /usr/lib/postgresql: install them (`apt-get install postgresql`, or run .ci/install-tools), or set NASSELLA_PG_BIN to a folder holding initdb and pg_ctl"
        ),
    }
}

/// As root: the user the server runs as (`$NASSELLA_PG_USER`, default `postgres`).
async fn run_as() -> Result<Option<RunAs>> {
    if current_uid().await? != 0 {
        return Ok(None);
    }
    let name = std::env::var("NASSELLA_PG_USER").unwrap_or_else(|_| "postgres".to_owned());
    let id = |flag: &'static str| {
        let name = name.clone();
        async move {
            let out = tokio::process::Command::new("id")
                .arg(flag)
                .arg(&name)
                .output()
                .await
                .context("running id")?;
            if !out.status.success() {
                bail!(
                    "running as root, the embedded PostgreSQL runs as the system user `{name}` (initdb refuses root), and there is none: install Debian's `postgresql` package (it creates `postgres`) or set NASSELLA_PG_USER to an unprivileged user"
                );
            }
            String::from_utf8_lossy(&out.stdout)
                .trim()
                .parse::<u32>()
                .context("reading the output of id")
        }
    };
    let uid = id("-u").await?;
    let gid = id("-g").await?;
    if uid == 0 {
        bail!("NASSELLA_PG_USER `{name}` is root: name an unprivileged user");
    }
    Ok(Some(RunAs { name, uid, gid }))
}

/// Our effective uid, from `/proc/self/status` (no libc call: the workspace forbids `unsafe`).
async fn current_uid() -> Result<u32> {
    let status = tokio::fs::read_to_string("/proc/self/status")
        .await
        .context("reading /proc/self/status")?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1))
        .and_then(|euid| euid.parse().ok())
        .context("no effective uid in /proc/self/status")
}

/// Every ancestor of `dir` must let the server user through (search permission).
fn check_reachable(dir: &Path, r: &RunAs) -> Result<()> {
    use std::os::unix::fs::MetadataExt as _;
    for a in dir.ancestors().skip(1) {
        let m = std::fs::metadata(a).with_context(|| format!("reading {}", a.display()))?;
        let mode = m.mode();
        let ok = if m.uid() == r.uid {
            mode & 0o100 != 0
        } else if m.gid() == r.gid {
            mode & 0o010 != 0
        } else {
            mode & 0o001 != 0
        };
        if !ok {
            bail!(
                "the embedded PostgreSQL runs as `{}`, which cannot enter {} (mode {:o}) on the way to {}: allow it (`chmod o+x {}`) or choose a state folder under one it can reach",
                r.name,
                a.display(),
                mode & 0o7777,
                dir.display(),
                a.display()
            );
        }
    }
    Ok(())
}

/// A 0700 folder owned by the server user.
fn make_private_dir(path: &Path, runas: Option<&RunAs>) -> Result<()> {
    std::fs::create_dir_all(path).with_context(|| format!("creating {}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700))
        .with_context(|| format!("setting the mode of {}", path.display()))?;
    if let Some(r) = runas {
        std::os::unix::fs::chown(path, Some(r.uid), Some(r.gid))
            .with_context(|| format!("giving {} to {}", path.display(), r.name))?;
    }
    Ok(())
}

/// A 0600 file (created 0600, never wider), owned by `runas` when given.
fn write_private(path: &Path, text: &str, runas: Option<&RunAs>) -> Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let _ = std::fs::remove_file(path);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    f.write_all(text.as_bytes())?;
    if let Some(r) = runas {
        std::os::unix::fs::chown(path, Some(r.uid), Some(r.gid))
            .with_context(|| format!("giving {} to {}", path.display(), r.name))?;
    }
    Ok(())
}

fn read_password(path: &Path) -> Result<String> {
    let text = std::fs::read_to_string(path).with_context(|| {
        format!(
            "reading {} (the cluster's superuser password; without it the data folder next to it cannot be opened)",
            path.display()
        )
    })?;
    Ok(text.trim().to_owned())
}

/// Percent-encode a query value (everything but unreserved characters).
fn encode(v: &str) -> String {
    let mut s = String::with_capacity(v.len());
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            s.push(b as char);
        } else {
            let _ = write!(s, "%{b:02X}");
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::encode;

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(encode("/tmp/a b/run"), "%2Ftmp%2Fa%20b%2Frun");
        assert_eq!(encode("abc-_.~"), "abc-_.~");
        assert_eq!(encode("p&w=d"), "p%26w%3Dd");
    }
}
