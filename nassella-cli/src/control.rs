//! The control channel: asking a server to act, through the backup repository.
//!
//! A server has no login and no API, but it shares the restic repository with the control plane.
//! A request is a tiny restic snapshot of the instance's host tagged [`REQUEST_TAG`]; only a
//! holder of the repository password (derived from the master key) can write or read one, since
//! restic encrypts and authenticates every snapshot. The server's `control.sh`
//! (`nassella-control.timer`, every [`CONTROL_POLL_MINUTES`] minutes) acts on each request once
//! and answers with an outcome snapshot tagged [`OUTCOME_TAG`]. Neither carries the tag
//! `nassella`, so `backups list`, the restore's choice of `latest` and retention never see them.
//!
//! The request's values are in its tags (`id=…`, `kind=…`, `created=…`, `expires=…`, times as
//! Unix seconds), so that the server's poll reads nothing but the snapshot listing; its one file
//! `request.json` holds the same values for people (`restic dump <id> request.json`). An outcome
//! has `id=<request>`, `state=started|succeeded|failed`, `time=…` and, on success,
//! `snapshot=<id>` in its tags, and `outcome.json` (`{id, state, snapshot?, error?, finished}`).
//!
//! [`request_and_wait`] is what `nassella backups create` and the web app call.

use std::io::Write as _;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context as _, Result};
pub use nassella_core::render::CONTROL_POLL_MINUTES;
use serde::{Deserialize, Serialize};

/// The tag of request snapshots.
pub const REQUEST_TAG: &str = "nassella-request";
/// The tag of outcome snapshots.
pub const OUTCOME_TAG: &str = "nassella-outcome";

/// What a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// A backup, as the daily timer runs it: the apps start again afterwards.
    Backup,
    /// A last backup before the server is replaced: the apps stay stopped and the maintenance
    /// page up afterwards (until the next boot), so no write comes after the snapshot.
    FinalBackup,
}

impl Kind {
    /// The word in the request's `kind=` tag.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Backup => "backup",
            Self::FinalBackup => "final-backup",
        }
    }
}

/// A request to the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// 32 hex digits, random.
    pub id: String,
    /// What is asked.
    pub kind: Kind,
    /// When it was made (Unix seconds, this machine's clock).
    pub created: i64,
    /// After this (Unix seconds) the server answers `failed` instead of acting.
    pub expires: i64,
}

impl Request {
    /// A new request with a random id, valid for `ttl` from now.
    ///
    /// # Errors
    /// When the system's random source cannot be read.
    pub fn new(kind: Kind, ttl: Duration) -> Result<Self> {
        let mut bytes = [0u8; 16];
        let mut f = std::fs::File::open("/dev/urandom").context("opening /dev/urandom")?;
        std::io::Read::read_exact(&mut f, &mut bytes).context("reading /dev/urandom")?;
        let created = now();
        Ok(Self {
            id: bytes.iter().map(|b| format!("{b:02x}")).collect(),
            kind,
            created,
            expires: created + i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX / 2),
        })
    }

    /// The snapshot's tags, the values the server reads.
    #[must_use]
    pub fn tags(&self) -> String {
        format!(
            "{REQUEST_TAG},id={},kind={},created={},expires={}",
            self.id,
            self.kind.as_str(),
            self.created,
            self.expires
        )
    }

    /// The snapshot's file `request.json`: the same values, times in RFC 3339.
    #[must_use]
    pub fn json(&self) -> String {
        serde_json::json!({
            "id": self.id,
            "kind": self.kind,
            "created": rfc3339(self.created),
            "expires": rfc3339(self.expires),
        })
        .to_string()
    }
}

/// Where an outcome stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum State {
    /// The server has begun acting on the request.
    Started,
    /// Done; `snapshot` names the snapshot made.
    Succeeded,
    /// Not done; `error` says why (expired, older than the volume, the backup failed…).
    Failed,
}

/// The server's answer to a request (`outcome.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    /// The request's id.
    pub id: String,
    /// Where it stands.
    pub state: State,
    /// The snapshot made (on success).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<String>,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// When the server wrote it (RFC 3339, UTC).
    #[serde(default)]
    pub finished: String,
}

/// What the wait reports, at each look at the repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// The request is in the repository.
    Written {
        /// The request.
        request: Request,
    },
    /// The server has not answered yet.
    Waiting {
        /// Since the request was written.
        elapsed: Duration,
    },
    /// The server has begun.
    Started {
        /// Since the request was written.
        elapsed: Duration,
    },
}

/// The restic repository of one instance, as the control plane reaches it.
#[derive(Debug, Clone)]
pub struct Channel {
    /// The repository (`RESTIC_REPOSITORY`).
    pub repository: String,
    /// Its password (derived from the master key).
    pub password: String,
    /// The instance name: the restic host of its snapshots.
    pub host: String,
}

/// One snapshot of the listing: id, tags, time.
#[derive(Debug, Deserialize)]
struct Listed {
    id: String,
    #[serde(default)]
    tags: Vec<String>,
}

impl Channel {
    fn restic(&self) -> Command {
        let mut c = Command::new("restic");
        c.env("RESTIC_REPOSITORY", &self.repository)
            .env("RESTIC_PASSWORD", &self.password)
            .env_remove("RESTIC_REPOSITORY_FILE")
            .env_remove("RESTIC_PASSWORD_FILE")
            .env_remove("RESTIC_PASSWORD_COMMAND")
            .stdin(Stdio::null());
        c
    }

    fn run(&self, what: &str, mut cmd: Command, input: Option<&str>) -> Result<Output> {
        if input.is_some() {
            cmd.stdin(Stdio::piped());
        }
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().context(
            "running restic (install it: `apt-get install restic`, or put a restic binary on PATH)",
        )?;
        if let (Some(text), Some(mut stdin)) = (input, child.stdin.take()) {
            stdin
                .write_all(text.as_bytes())
                .with_context(|| format!("{what}: writing to restic"))?;
        }
        let out = child
            .wait_with_output()
            .with_context(|| format!("{what}: waiting for restic"))?;
        Ok(out)
    }

    /// Write `request` into the repository. A repository locked exclusively (the server's
    /// retention or a forget) is retried for up to two minutes.
    ///
    /// # Errors
    /// When restic fails otherwise, or the lock stays.
    pub fn write(&self, request: &Request) -> Result<()> {
        let start = Instant::now();
        loop {
            let mut cmd = self.restic();
            cmd.args([
                "backup",
                "--quiet",
                "--stdin",
                "--stdin-filename",
                "request.json",
            ])
            .args(["--host", &self.host, "--tag", &request.tags()]);
            let out = self.run("writing the request", cmd, Some(&request.json()))?;
            if out.status.success() {
                return Ok(());
            }
            let err = String::from_utf8_lossy(&out.stderr);
            if is_locked(out.status.code(), &err) && start.elapsed() < Duration::from_secs(120) {
                std::thread::sleep(Duration::from_secs(5));
                continue;
            }
            bail!(
                "cannot write the request into {} (restic exit {}):\n{}\ncheck the repository, the storage credentials in the environment ({}) and the master key",
                self.repository,
                exit(&out),
                err.trim_end(),
                crate::keys::BACKUP_ENV.join(", ")
            );
        }
    }

    /// The outcome snapshots of this host: (snapshot id, tags).
    fn outcomes(&self) -> Result<Vec<Listed>> {
        let mut cmd = self.restic();
        cmd.args(["snapshots", "--json", "--no-lock", "--host", &self.host])
            .args(["--tag", OUTCOME_TAG]);
        let out = self.run("looking for the outcome", cmd, None)?;
        if !out.status.success() {
            bail!(
                "cannot list the outcomes in {} (restic exit {}):\n{}",
                self.repository,
                exit(&out),
                String::from_utf8_lossy(&out.stderr).trim_end()
            );
        }
        let listed: Option<Vec<Listed>> = serde_json::from_slice(&out.stdout)
            .context("reading the output of `restic snapshots --json`")?;
        Ok(listed.unwrap_or_default())
    }

    /// The latest outcome of request `id` (a final one wins over `started`), and the snapshots
    /// holding outcomes of it.
    ///
    /// # Errors
    /// When the repository cannot be read.
    pub fn outcome(&self, id: &str) -> Result<(Option<Outcome>, Vec<String>)> {
        let wanted = format!("id={id}");
        let mine: Vec<Listed> = self
            .outcomes()?
            .into_iter()
            .filter(|s| s.tags.contains(&wanted))
            .collect();
        let ids = mine.iter().map(|s| s.id.clone()).collect();
        let state_of = |s: &Listed| {
            s.tags
                .iter()
                .find_map(|t| t.strip_prefix("state="))
                .map(str::to_owned)
        };
        let done = mine
            .iter()
            .find(|s| matches!(state_of(s).as_deref(), Some("succeeded" | "failed")));
        if let Some(snap) = done {
            let mut cmd = self.restic();
            cmd.args(["dump", "--no-lock", &snap.id, "outcome.json"]);
            let out = self.run("reading the outcome", cmd, None)?;
            if !out.status.success() {
                bail!(
                    "cannot read the outcome {} (restic exit {}):\n{}",
                    &snap.id[..8.min(snap.id.len())],
                    exit(&out),
                    String::from_utf8_lossy(&out.stderr).trim_end()
                );
            }
            let outcome: Outcome = serde_json::from_slice(&out.stdout).with_context(|| {
                format!(
                    "the outcome {} is not valid JSON: {}",
                    snap.id,
                    String::from_utf8_lossy(&out.stdout)
                )
            })?;
            if outcome.id != id {
                bail!(
                    "the outcome {} answers request {} but is tagged for {id}",
                    snap.id,
                    outcome.id
                );
            }
            return Ok((Some(outcome), ids));
        }
        if mine
            .iter()
            .any(|s| state_of(s).as_deref() == Some("started"))
        {
            return Ok((
                Some(Outcome {
                    id: id.to_owned(),
                    state: State::Started,
                    snapshot: None,
                    error: None,
                    finished: String::new(),
                }),
                ids,
            ));
        }
        Ok((None, ids))
    }

    /// Forget outcome snapshots once read (the server forgets unread ones after a week).
    ///
    /// # Errors
    /// When restic fails (the server cleans up later, so callers may only warn).
    pub fn acknowledge(&self, snapshots: &[String]) -> Result<()> {
        if snapshots.is_empty() {
            return Ok(());
        }
        let mut cmd = self.restic();
        cmd.arg("forget").args(snapshots);
        let out = self.run("forgetting the outcome", cmd, None)?;
        if !out.status.success() {
            bail!(
                "cannot forget the outcome (restic exit {}): {}",
                exit(&out),
                String::from_utf8_lossy(&out.stderr).trim_end()
            );
        }
        Ok(())
    }
}

/// How [`request_and_wait`] waits.
#[derive(Debug, Clone, Copy)]
pub struct Wait {
    /// Give up after this long; the request expires then too, so a server that comes back
    /// later does not act on it.
    pub timeout: Duration,
    /// How often to look for the outcome. Each look lists the repository's snapshots (a few
    /// storage requests, docs/runtime.md), so not too often.
    pub every: Duration,
}

impl Default for Wait {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(60 * 60),
            every: Duration::from_secs(30),
        }
    }
}

/// Write a `kind` request and wait for its outcome, calling `progress` after each look.
/// `between` runs after the request is written and after each look (the local target runs the
/// server's script there; a cloud target passes a no-op).
///
/// Returns the final outcome (`Succeeded` or `Failed`); a timeout is an error that says whether
/// the server had started.
///
/// # Errors
/// When the repository cannot be written or read, or on timeout.
pub fn request_and_wait(
    channel: &Channel,
    kind: Kind,
    wait: Wait,
    progress: &mut dyn FnMut(&Progress),
    between: &mut dyn FnMut() -> Result<()>,
) -> Result<Outcome> {
    let request = Request::new(kind, wait.timeout)?;
    channel.write(&request)?;
    progress(&Progress::Written {
        request: request.clone(),
    });
    let start = Instant::now();
    let mut started = false;
    loop {
        between()?;
        let (outcome, snapshots) = channel.outcome(&request.id)?;
        let elapsed = start.elapsed();
        match outcome {
            Some(o) if o.state != State::Started => {
                if let Err(e) = channel.acknowledge(&snapshots) {
                    eprintln!("warning: {e:#} (the server forgets it within a week)");
                }
                return Ok(o);
            }
            Some(_) => {
                started = true;
                progress(&Progress::Started { elapsed });
            }
            None => progress(&Progress::Waiting { elapsed }),
        }
        if elapsed >= wait.timeout {
            if started {
                bail!(
                    "timed out after {} while the server was backing up (request {}); the backup goes on, and `nassella backups list` shows its snapshot once it is done",
                    human(elapsed),
                    request.id
                );
            }
            bail!(
                "timed out after {}: the server has not picked up request {} (it looks every {CONTROL_POLL_MINUTES} min); the request has expired, so it will not act on it later.\nIs the server running? Its provider's console shows it; `nassella apply` replaces a server that is gone",
                human(elapsed),
                request.id
            );
        }
        std::thread::sleep(wait.every.min(wait.timeout.saturating_sub(elapsed)));
    }
}

/// "1 min 05 s", "42 s".
#[must_use]
pub fn human(d: Duration) -> String {
    let s = d.as_secs();
    if s < 60 {
        format!("{s} s")
    } else {
        format!("{} min {:02} s", s / 60, s % 60)
    }
}

fn is_locked(code: Option<i32>, err: &str) -> bool {
    code == Some(11)
        || err.contains("repository is already locked")
        || err.contains("unable to create lock")
}

fn exit(out: &Output) -> String {
    out.status
        .code()
        .map_or_else(|| "by a signal".to_owned(), |c| c.to_string())
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0))
}

fn rfc3339(secs: i64) -> String {
    let (y, mo, d, h, mi, s) = crate::backups::civil(secs);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_carries_its_values_in_tags_and_json() {
        let r = Request {
            id: "0123456789abcdef0123456789abcdef".into(),
            kind: Kind::FinalBackup,
            created: 1_795_960_800,
            expires: 1_795_964_400,
        };
        assert_eq!(
            r.tags(),
            "nassella-request,id=0123456789abcdef0123456789abcdef,kind=final-backup,created=1795960800,expires=1795964400"
        );
        assert_eq!(
            r.json(),
            r#"{"created":"2026-11-29T14:00:00Z","expires":"2026-11-29T15:00:00Z","id":"0123456789abcdef0123456789abcdef","kind":"final-backup"}"#
        );
    }

    #[test]
    fn new_requests_have_distinct_random_ids_and_expire_after_the_ttl() {
        let a = Request::new(Kind::Backup, Duration::from_secs(600)).unwrap();
        let b = Request::new(Kind::Backup, Duration::from_secs(600)).unwrap();
        assert_ne!(a.id, b.id);
        assert_eq!(a.id.len(), 32);
        assert!(a.id.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(a.expires - a.created, 600);
    }
}
