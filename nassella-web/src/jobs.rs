//! Jobs: deploys, plans, backups, restores and destroys, each the `nassella` CLI run for one
//! instance in a private folder.
//!
//! TEMPORARY: the queue here is an in-process stand-in with the API of `nassella_jobs::Queue`
//! (enqueue, subscribe, one job at a time per instance, a bounded number at once); it is replaced
//! by the PostgreSQL queue of `nassella-jobs` (shared by replicas, with heartbeats) when that
//! crate lands. The [`ControlPlane`] handler stays.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use anyhow::{bail, Context as _, Result};
use futures_util::Stream;
use serde_json::Value;
use sqlx::PgPool;
use tokio::io::AsyncBufReadExt as _;
use tokio::sync::{broadcast, Semaphore};
use uuid::Uuid;

use crate::crypto::SealingKey;

/// The kinds of job and the CLI command each runs.
pub const KINDS: &[(&str, &str)] = &[
    ("plan", "plan"),
    ("apply", "apply"),
    ("backup", "backups create"),
    ("restore", "backups restore"),
    ("destroy", "destroy"),
];

/// A job as the pages see it.
#[derive(Debug, Clone)]
pub struct JobInfo {
    /// Its id.
    pub id: Uuid,
    /// The instance it works on.
    pub instance_id: i64,
    /// `plan`, `apply`, …
    pub kind: String,
    /// Arguments (a restore's snapshot).
    pub args: Value,
    /// `queued`, `running`, `succeeded` or `failed`.
    pub state: String,
    /// Who asked.
    pub requested_by: String,
    /// When it was queued.
    pub created_at: time::OffsetDateTime,
    /// The plan's one-line summary (the CLI's last `==>` line), once known.
    pub summary: Option<String>,
}

/// One event of a job's log stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogEvent {
    /// A line of output.
    Line(String),
    /// The job ended in this state.
    Done(String),
}

/// Where a running job writes its log.
#[derive(Clone)]
pub struct Log {
    queue: Queue,
    job: Uuid,
}

impl Log {
    /// Append a line.
    pub fn line(&self, text: &str) {
        let mut jobs = self.queue.inner.jobs.lock().expect("jobs lock");
        if let Some(j) = jobs.get_mut(&self.job) {
            if let Some(s) = text.strip_prefix("==> ") {
                j.info.summary = Some(s.to_owned());
            }
            j.lines.push(text.to_owned());
            let _ = j.tx.send(LogEvent::Line(text.to_owned()));
        }
    }
}

/// What runs a job.
#[async_trait::async_trait]
pub trait Handler: Send + Sync + 'static {
    /// Run `job`, writing to `log`; `Ok` with the instance's new status, or the error.
    async fn run(&self, job: &JobInfo, log: &Log) -> Result<String>;
}

struct Rec {
    info: JobInfo,
    lines: Vec<String>,
    tx: broadcast::Sender<LogEvent>,
}

struct Inner {
    jobs: Mutex<HashMap<Uuid, Rec>>,
    locks: Mutex<HashMap<i64, Arc<tokio::sync::Mutex<()>>>>,
    slots: Arc<Semaphore>,
    handler: Mutex<Option<Arc<dyn Handler>>>,
}

/// The queue (stand-in; see the module's doc).
#[derive(Clone)]
pub struct Queue {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Queue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Queue")
    }
}

impl Queue {
    /// A queue running at most `concurrency` jobs at once.
    #[must_use]
    pub fn new(concurrency: usize) -> Self {
        Self {
            inner: Arc::new(Inner {
                jobs: Mutex::new(HashMap::new()),
                locks: Mutex::new(HashMap::new()),
                slots: Arc::new(Semaphore::new(concurrency.max(1))),
                handler: Mutex::new(None),
            }),
        }
    }

    /// Start running jobs with `handler`.
    pub fn run(&self, handler: impl Handler) {
        *self.inner.handler.lock().expect("handler lock") = Some(Arc::new(handler));
    }

    /// Queue a job; it runs once the instance's previous jobs are done.
    ///
    /// # Errors
    /// Never in the stand-in.
    pub async fn enqueue(
        &self,
        instance_id: i64,
        kind: &str,
        args: Value,
        requested_by: &str,
    ) -> Result<Uuid> {
        let id = Uuid::new_v4();
        let (tx, _) = broadcast::channel(1024);
        let info = JobInfo {
            id,
            instance_id,
            kind: kind.to_owned(),
            args,
            state: "queued".into(),
            requested_by: requested_by.to_owned(),
            created_at: time::OffsetDateTime::now_utc(),
            summary: None,
        };
        self.inner.jobs.lock().expect("jobs lock").insert(
            id,
            Rec {
                info: info.clone(),
                lines: vec![],
                tx,
            },
        );
        let lock = self
            .inner
            .locks
            .lock()
            .expect("locks lock")
            .entry(instance_id)
            .or_default()
            .clone();
        let q = self.clone();
        tokio::spawn(async move {
            let _instance = lock.lock().await;
            let _slot = q.inner.slots.clone().acquire_owned().await;
            q.set_state(id, "running");
            let handler = q.inner.handler.lock().expect("handler lock").clone();
            let log = Log {
                queue: q.clone(),
                job: id,
            };
            let outcome = match handler {
                Some(h) => h.run(&info, &log).await,
                None => Err(anyhow::anyhow!("this replica runs no jobs")),
            };
            match outcome {
                Ok(_) => q.finish(id, "succeeded"),
                Err(e) => {
                    log.line(&format!("error: {e:#}"));
                    q.finish(id, "failed");
                }
            }
        });
        Ok(id)
    }

    fn set_state(&self, id: Uuid, state: &str) {
        if let Some(j) = self.inner.jobs.lock().expect("jobs lock").get_mut(&id) {
            j.info.state = state.to_owned();
        }
    }

    fn finish(&self, id: Uuid, state: &str) {
        if let Some(j) = self.inner.jobs.lock().expect("jobs lock").get_mut(&id) {
            j.info.state = state.to_owned();
            let _ = j.tx.send(LogEvent::Done(state.to_owned()));
        }
    }

    /// A job.
    #[must_use]
    pub fn get(&self, id: Uuid) -> Option<JobInfo> {
        self.inner
            .jobs
            .lock()
            .expect("jobs lock")
            .get(&id)
            .map(|r| r.info.clone())
    }

    /// An instance's jobs, newest first.
    #[must_use]
    pub fn of_instance(&self, instance_id: i64) -> Vec<JobInfo> {
        let mut v: Vec<JobInfo> = self
            .inner
            .jobs
            .lock()
            .expect("jobs lock")
            .values()
            .filter(|r| r.info.instance_id == instance_id)
            .map(|r| r.info.clone())
            .collect();
        v.sort_by(|a, b| b.created_at.cmp(&a.created_at));
        v
    }

    /// The job's log: the lines so far, then the new ones as they come, then its end.
    #[must_use]
    pub fn subscribe(&self, id: Uuid) -> Pin<Box<dyn Stream<Item = LogEvent> + Send>> {
        let (past, rx, done) = {
            let jobs = self.inner.jobs.lock().expect("jobs lock");
            let Some(j) = jobs.get(&id) else {
                return Box::pin(futures_util::stream::empty());
            };
            let done = matches!(j.info.state.as_str(), "succeeded" | "failed")
                .then(|| j.info.state.clone());
            (j.lines.clone(), j.tx.subscribe(), done)
        };
        let past = futures_util::stream::iter(past.into_iter().map(LogEvent::Line));
        if let Some(state) = done {
            return Box::pin(past.chain(futures_util::stream::once(async move {
                LogEvent::Done(state)
            })));
        }
        use futures_util::StreamExt as _;
        let live = tokio_stream::wrappers::BroadcastStream::new(rx)
            .filter_map(|r| async move { r.ok() })
            .scan(false, |ended, ev| {
                let out = if *ended { None } else { Some(ev.clone()) };
                *ended = matches!(ev, LogEvent::Done(_));
                async move { out }
            });
        Box::pin(past.chain(live))
    }
}

/// The handler that runs the `nassella` CLI for an instance: its state folder lives in
/// `<state>/instances/<id>/`, and each run gets a private 0700 folder with the config file and
/// the master key, deleted when the run ends; the other secrets are passed in the environment.
#[derive(Clone, Debug)]
pub struct ControlPlane {
    /// The database.
    pub pool: PgPool,
    /// The operator's key.
    pub key: SealingKey,
    /// The web app's state folder.
    pub state_dir: PathBuf,
    /// The `nassella` program (with NASSELLA_WEB_AS_CLI=1 when it is this executable).
    pub cli: PathBuf,
}

/// A prepared run: the private folder and what goes into the CLI's environment.
#[derive(Debug)]
pub struct Prepared {
    dir: tempfile::TempDir,
    env: Vec<(String, String)>,
    state_root: PathBuf,
}

impl Prepared {
    fn config(&self) -> PathBuf {
        self.dir.path().join("config.toml")
    }
    fn key(&self) -> PathBuf {
        self.dir.path().join("master.key")
    }
}

fn write_private(path: &Path, text: &str) -> Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    f.write_all(text.as_bytes())?;
    Ok(())
}

impl ControlPlane {
    /// Materialise an instance for one CLI run.
    ///
    /// # Errors
    /// When the instance is gone, has errors, has no master key, or on I/O failure.
    pub async fn prepare(&self, instance_id: i64) -> Result<Prepared> {
        let inst = crate::db::instance_by_id(&self.pool, instance_id)
            .await?
            .context("the instance no longer exists")?;
        let (errors, _) = crate::form::check(&inst.config.0);
        if !errors.is_empty() {
            bail!(
                "the instance's config has {} problem(s); fix them on its page first",
                errors.len()
            );
        }
        let text = crate::form::to_toml(&inst.config.0).map_err(anyhow::Error::msg)?;
        let secrets = crate::secrets::open_all(&self.pool, &self.key, instance_id).await?;
        let state_root = self.state_dir.join("instances").join(instance_id.to_string());
        std::fs::create_dir_all(&state_root)?;
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&state_root, std::fs::Permissions::from_mode(0o700))?;
        }
        // tempfile makes the folder 0700.
        let dir = tempfile::Builder::new()
            .prefix("nassella-web-job-")
            .tempdir()?;
        let mut env = vec![];
        let mut has_key = false;
        for (name, value) in secrets {
            if name == "master_key" {
                write_private(&dir.path().join("master.key"), &format!("{value}\n"))?;
                has_key = true;
            } else {
                env.push((name, value));
            }
        }
        if !has_key {
            bail!("the instance has no master key; set one under Secrets");
        }
        write_private(&dir.path().join("config.toml"), &text)?;
        Ok(Prepared {
            dir,
            env,
            state_root,
        })
    }

    fn command(&self, p: &Prepared, args: &[String]) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(&self.cli);
        cmd.args(args)
            .arg("--config")
            .arg(p.config())
            .arg("--master-key-file")
            .arg(p.key())
            .env("NASSELLA_WEB_AS_CLI", "1")
            .env("NASSELLA_STATE_DIR", &p.state_root)
            .env("TF_IN_AUTOMATION", "1")
            .env_remove("NASSELLA_MASTER_KEY")
            .envs(p.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .kill_on_drop(true);
        cmd
    }

    /// `backups list --json` for an instance.
    ///
    /// # Errors
    /// When the CLI fails; its message is in the error.
    pub async fn list_backups(&self, instance_id: i64) -> Result<Vec<Value>> {
        let p = self.prepare(instance_id).await?;
        let out = self
            .command(&p, &["backups".into(), "list".into(), "--json".into()])
            .output()
            .await
            .context("running nassella")?;
        if !out.status.success() {
            bail!("{}", String::from_utf8_lossy(&out.stderr).trim());
        }
        Ok(serde_json::from_slice(&out.stdout).context("reading `backups list --json`")?)
    }
}

#[async_trait::async_trait]
impl Handler for ControlPlane {
    async fn run(&self, job: &JobInfo, log: &Log) -> Result<String> {
        let mut args: Vec<String> = match job.kind.as_str() {
            "plan" => vec!["plan".into()],
            "apply" => vec!["apply".into()],
            "destroy" => vec!["destroy".into()],
            "backup" => vec!["backups".into(), "create".into()],
            "restore" => {
                let snap = job.args["snapshot"].as_str().unwrap_or_default();
                if snap.is_empty() || !snap.bytes().all(|b| b.is_ascii_hexdigit()) {
                    bail!("a restore needs a snapshot id");
                }
                vec!["backups".into(), "restore".into(), snap.to_owned()]
            }
            other => bail!("unknown job kind `{other}`"),
        };
        if job.kind == "destroy" && job.args["delete_data"].as_bool() == Some(true) {
            // Not offered by the pages; kept explicit for the day it is.
            args.push("--delete-data".into());
        }
        log.line(&format!("$ nassella {}", args.join(" ")));
        let p = self.prepare(job.instance_id).await?;
        let mut child = self
            .command(&p, &args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("starting nassella")?;
        let out = child.stdout.take().expect("piped");
        let err = child.stderr.take().expect("piped");
        let pump = |r: Box<dyn tokio::io::AsyncRead + Unpin + Send>| {
            let log = log.clone();
            async move {
                let mut lines = tokio::io::BufReader::new(r).lines();
                while let Ok(Some(l)) = lines.next_line().await {
                    log.line(&l);
                }
            }
        };
        let (status, (), ()) = tokio::join!(child.wait(), pump(Box::new(out)), pump(Box::new(err)));
        let status = status?;
        if !status.success() {
            bail!("nassella {} failed ({status})", args.join(" "));
        }
        let new_status = match job.kind.as_str() {
            "apply" | "restore" => Some("running"),
            "destroy" => Some("destroyed"),
            _ => None,
        };
        if let Some(s) = new_status {
            crate::db::set_status(&self.pool, job.instance_id, s).await?;
        }
        Ok(new_status.unwrap_or("unchanged").to_owned())
    }
}
