//! The job queue: jobs and their logs in PostgreSQL, nothing else (docs/web.md, "Jobs").
//!
//! [`Queue::enqueue`] adds a job for an instance; workers ([`crate::Worker`]) claim them, one
//! at a time per instance; [`Queue::subscribe`] streams a job's log (the stored lines first,
//! then new ones as `NOTIFY` announces them).

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context as _, Result};
use futures_util::Stream;
use serde::{Deserialize, Serialize};
use sqlx::postgres::{PgListener, PgRow};
use sqlx::{PgPool, Row as _};
use time::OffsetDateTime;
use tokio::sync::{broadcast, Mutex};
use uuid::Uuid;

/// The channel that announces log lines and state changes; the payload is the job id.
pub(crate) const LOG_CHANNEL: &str = "nassella_job_logs";
/// The channel that announces new queued jobs to idle workers.
pub(crate) const QUEUE_CHANNEL: &str = "nassella_jobs";
/// How often a subscriber looks at the table even without a notification (one that was lost
/// while the listener reconnected).
const SUBSCRIBE_POLL: Duration = Duration::from_secs(2);

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    /// Waiting for a worker.
    Queued,
    /// A worker runs it (and heartbeats).
    Running,
    /// The handler finished with an outcome.
    Succeeded,
    /// The handler failed, or the job was abandoned after too many lost workers.
    Failed,
    /// Cancelled before it started.
    Cancelled,
}

impl JobState {
    /// The database spelling.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    /// Succeeded, failed or cancelled: it will not change again.
    #[must_use]
    pub fn is_final(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed | Self::Cancelled)
    }

    fn parse(s: &str) -> Result<Self> {
        Ok(match s {
            "queued" => Self::Queued,
            "running" => Self::Running,
            "succeeded" => Self::Succeeded,
            "failed" => Self::Failed,
            "cancelled" => Self::Cancelled,
            other => bail!("unknown job state `{other}` in the database"),
        })
    }
}

impl std::fmt::Display for JobState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A job as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    /// Its id.
    pub id: Uuid,
    /// The instance it acts on: no two jobs of one instance run at once.
    pub instance_id: Uuid,
    /// What to do (the handler dispatches on it, e.g. `apply`).
    pub kind: String,
    /// The handler's arguments.
    pub args: serde_json::Value,
    /// Where it is.
    pub state: JobState,
    /// How many times a worker started it: 1 the first time, more after a takeover.
    pub attempt: i32,
    /// The worker that runs (or last ran) it.
    pub claimed_by: Option<String>,
    /// The last heartbeat of that worker (database clock).
    pub heartbeat_at: Option<OffsetDateTime>,
    /// When it was queued.
    pub created_at: OffsetDateTime,
    /// When a worker first started it.
    pub started_at: Option<OffsetDateTime>,
    /// When it reached a final state.
    pub finished_at: Option<OffsetDateTime>,
    /// What the handler returned on success.
    pub outcome: Option<serde_json::Value>,
    /// Why it failed or was cancelled.
    pub error: Option<String>,
    /// Who asked for it (a user name, for the audit).
    pub requested_by: String,
}

impl Job {
    /// This run continues a job another worker started and lost (it died or was cut off).
    #[must_use]
    pub fn is_resumed(&self) -> bool {
        self.attempt > 1
    }

    pub(crate) fn from_row(r: &PgRow) -> Result<Self> {
        Ok(Self {
            id: r.try_get("id")?,
            instance_id: r.try_get("instance_id")?,
            kind: r.try_get("kind")?,
            args: r.try_get("args")?,
            state: JobState::parse(r.try_get::<&str, _>("state")?)?,
            attempt: r.try_get("attempt")?,
            claimed_by: r.try_get("claimed_by")?,
            heartbeat_at: r.try_get("heartbeat_at")?,
            created_at: r.try_get("created_at")?,
            started_at: r.try_get("started_at")?,
            finished_at: r.try_get("finished_at")?,
            outcome: r.try_get("outcome")?,
            error: r.try_get("error")?,
            requested_by: r.try_get("requested_by")?,
        })
    }
}

/// The columns of [`Job`], for `SELECT` and `RETURNING`.
pub(crate) const JOB_COLUMNS: &str = "id, instance_id, kind, args, state, attempt, claimed_by, heartbeat_at, created_at, started_at, finished_at, outcome, error, requested_by";

/// One line of a job's log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogLine {
    /// 1, 2, 3… within the job, across attempts.
    pub seq: i64,
    /// When it was written.
    pub at: OffsetDateTime,
    /// `stdout` or `stderr` of the job's tools, or `system` (the worker's own lines: started,
    /// resumed, finished).
    pub stream: String,
    /// The text, without its newline.
    pub line: String,
}

/// The queue: a handle on the database (cheap to clone).
#[derive(Debug, Clone)]
pub struct Queue {
    pool: PgPool,
    notices: Arc<Mutex<Option<broadcast::Sender<Uuid>>>>,
}

/// A stream of log lines ([`Queue::subscribe`]).
pub type LogStream = Pin<Box<dyn Stream<Item = Result<LogLine>> + Send>>;

impl Queue {
    /// A queue on `pool` (run [`Queue::migrate`] once at start).
    #[must_use]
    pub fn new(pool: PgPool) -> Self {
        Self {
            pool,
            notices: Arc::new(Mutex::new(None)),
        }
    }

    /// The pool.
    #[must_use]
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Apply this crate's migrations (versions `20261129100000`…). Other migrations in the same
    /// database (the web app's) are ignored, and concurrent replicas are serialised by sqlx's
    /// migration lock.
    ///
    /// # Errors
    /// When a migration fails or the database was migrated by a newer, different version.
    pub async fn migrate(&self) -> Result<()> {
        let mut m = sqlx::migrate!();
        m.set_ignore_missing(true);
        m.run(&self.pool)
            .await
            .context("migrating the jobs tables")?;
        Ok(())
    }

    /// Queue a job of `kind` for `instance`; returns its id. Idle workers are woken.
    ///
    /// # Errors
    /// When the database refuses.
    pub async fn enqueue(
        &self,
        instance: Uuid,
        kind: &str,
        args: &serde_json::Value,
        requested_by: &str,
    ) -> Result<Uuid> {
        let id = Uuid::new_v4();
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO jobs (id, instance_id, kind, args, requested_by) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id)
        .bind(instance)
        .bind(kind)
        .bind(args)
        .bind(requested_by)
        .execute(&mut *tx)
        .await
        .context("queueing a job")?;
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(QUEUE_CHANNEL)
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// The job `id`, if it exists.
    ///
    /// # Errors
    /// When the database refuses.
    pub async fn get(&self, id: Uuid) -> Result<Option<Job>> {
        let row = sqlx::query(&format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(Job::from_row).transpose()
    }

    /// The latest `limit` jobs of `instance`, newest first.
    ///
    /// # Errors
    /// When the database refuses.
    pub async fn for_instance(&self, instance: Uuid, limit: i64) -> Result<Vec<Job>> {
        let rows = sqlx::query(&format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE instance_id = $1 ORDER BY position DESC LIMIT $2"
        ))
        .bind(instance)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(Job::from_row).collect()
    }

    /// Cancel a job that has not started; returns whether it was cancelled (a running or
    /// finished job is left alone: a Terraform run is not interrupted half-way).
    ///
    /// # Errors
    /// When the database refuses.
    pub async fn cancel(&self, id: Uuid, by: &str) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "UPDATE jobs SET state = 'cancelled', finished_at = now(), error = $2 WHERE id = $1 AND state = 'queued'",
        )
        .bind(id)
        .bind(format!("cancelled by {by} before it started"))
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        notify_log(&mut tx, id).await?;
        tx.commit().await?;
        Ok(done)
    }

    /// The stored lines of job `id` after `after_seq` (0 for all), in order.
    ///
    /// # Errors
    /// When the database refuses.
    pub async fn logs(&self, id: Uuid, after_seq: i64) -> Result<Vec<LogLine>> {
        let rows = sqlx::query(
            "SELECT seq, at, stream, line FROM job_logs WHERE job_id = $1 AND seq > $2 ORDER BY seq",
        )
        .bind(id)
        .bind(after_seq)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(LogLine {
                    seq: r.try_get("seq")?,
                    at: r.try_get("at")?,
                    stream: r.try_get("stream")?,
                    line: r.try_get("line")?,
                })
            })
            .collect()
    }

    /// The log of job `id` as a stream: every stored line first, then each new line as it is
    /// written (on any replica); the stream ends once the job is final and every line was sent.
    /// For server-sent events: one event per line, `seq` as the event id (a reconnecting
    /// browser sends it back as `Last-Event-ID`: use [`Queue::subscribe_after`]).
    ///
    /// # Errors
    /// When the job does not exist or the listener cannot connect.
    pub async fn subscribe(&self, id: Uuid) -> Result<LogStream> {
        self.subscribe_after(id, 0).await
    }

    /// [`Queue::subscribe`] from the line after `after_seq`.
    ///
    /// # Errors
    /// When the job does not exist or the listener cannot connect.
    pub async fn subscribe_after(&self, id: Uuid, after_seq: i64) -> Result<LogStream> {
        if self.get(id).await?.is_none() {
            bail!("no job {id}");
        }
        let rx = self.notices().await?.subscribe();
        let state = SubState {
            queue: self.clone(),
            id,
            last: after_seq,
            rx,
            pending: std::collections::VecDeque::new(),
            done: false,
        };
        let s = futures_util::stream::unfold(state, |mut st| async move {
            loop {
                if let Some(l) = st.pending.pop_front() {
                    st.last = l.seq;
                    return Some((Ok(l), st));
                }
                if st.done {
                    return None;
                }
                // Read the state before the lines: a line written before the job became final
                // is then always read.
                let final_state = match st.queue.get(st.id).await {
                    Ok(j) => j.is_none_or(|j| j.state.is_final()),
                    Err(e) => {
                        st.done = true;
                        return Some((Err(e), st));
                    }
                };
                match st.queue.logs(st.id, st.last).await {
                    Ok(lines) => st.pending.extend(lines),
                    Err(e) => {
                        st.done = true;
                        return Some((Err(e), st));
                    }
                }
                if final_state {
                    st.done = true;
                    continue;
                }
                if !st.pending.is_empty() {
                    continue;
                }
                // Wait for a notice about this job (or poll).
                let deadline = tokio::time::sleep(SUBSCRIBE_POLL);
                tokio::pin!(deadline);
                loop {
                    tokio::select! {
                        () = &mut deadline => break,
                        n = st.rx.recv() => match n {
                            Ok(j) if j == st.id => break,
                            Ok(_) => {}
                            Err(broadcast::error::RecvError::Lagged(_)) => break,
                            Err(broadcast::error::RecvError::Closed) => {
                                tokio::time::sleep(SUBSCRIBE_POLL).await;
                                break;
                            }
                        },
                    }
                }
            }
        });
        Ok(Box::pin(s))
    }

    /// Wait until job `id` is final and return it (tests, and callers without a stream).
    ///
    /// # Errors
    /// When the job does not exist, or `timeout` passes first.
    pub async fn wait(&self, id: Uuid, timeout: Duration) -> Result<Job> {
        let end = tokio::time::Instant::now() + timeout;
        loop {
            let job = self
                .get(id)
                .await?
                .with_context(|| format!("no job {id}"))?;
            if job.state.is_final() {
                return Ok(job);
            }
            if tokio::time::Instant::now() >= end {
                bail!("job {id} is still {} after {timeout:?}", job.state);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// One listener per queue (not per subscriber): it fans the notices out.
    async fn notices(&self) -> Result<broadcast::Sender<Uuid>> {
        let mut slot = self.notices.lock().await;
        if let Some(tx) = slot.as_ref() {
            return Ok(tx.clone());
        }
        let mut listener = PgListener::connect_with(&self.pool)
            .await
            .context("listening for job logs")?;
        listener.listen(LOG_CHANNEL).await?;
        let (tx, _) = broadcast::channel(1024);
        let sender = tx.clone();
        tokio::spawn(async move {
            loop {
                // recv reconnects by itself after a lost connection (notices sent meanwhile are
                // lost: subscribers poll too).
                match listener.recv().await {
                    Ok(n) => {
                        if let Ok(id) = n.payload().parse::<Uuid>() {
                            if sender.send(id).is_err() && sender.receiver_count() == 0 {
                                // Nobody listens now; keep the connection for the next one.
                            }
                        }
                    }
                    Err(_) => tokio::time::sleep(Duration::from_secs(1)).await,
                }
            }
        });
        *slot = Some(tx.clone());
        Ok(tx)
    }
}

struct SubState {
    queue: Queue,
    id: Uuid,
    last: i64,
    rx: broadcast::Receiver<Uuid>,
    pending: std::collections::VecDeque<LogLine>,
    done: bool,
}

/// Announce new lines (or a state change) of job `id` when `tx` commits.
pub(crate) async fn notify_log(tx: &mut sqlx::PgConnection, id: Uuid) -> Result<()> {
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(LOG_CHANNEL)
        .bind(id.to_string())
        .execute(tx)
        .await?;
    Ok(())
}
