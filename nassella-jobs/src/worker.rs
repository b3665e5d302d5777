//! Workers: claim jobs, run them through a [`Handler`], heartbeat, take over the jobs of
//! workers that stopped heartbeating (docs/web.md, "Jobs").
//!
//! The rules, all enforced by PostgreSQL so they hold across any number of replicas:
//!
//! - A queued job is claimed with `FOR UPDATE SKIP LOCKED` only if no job of its instance is
//!   running and it is the oldest queued job of its instance; the unique partial index
//!   `jobs_one_running_per_instance` makes a second concurrent claim of an instance fail rather
//!   than run (the loser simply looks again).
//! - The claiming worker updates `heartbeat_at` every `heartbeat` (database clock). A running
//!   job whose heartbeat is older than `stale_after` is taken over by any worker: `attempt` + 1,
//!   the previous attempt closed as lost, a `resumed` line in the log.
//! - Every later write of a worker (heartbeat, result) names its attempt: a worker that lost its
//!   job (cut off from the database long enough to be taken over) finds out at its next
//!   heartbeat, stops its handler, and cannot overwrite the new attempt's result.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result};
use async_trait::async_trait;
use futures_util::FutureExt as _;
use sqlx::postgres::PgListener;
use tokio::sync::{Notify, Semaphore};
use uuid::Uuid;

use crate::log::Log;
use crate::queue::{notify_log, Job, Queue, JOB_COLUMNS, QUEUE_CHANNEL};

/// What a handler returns on success: stored as the job's `outcome` (JSON).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outcome(pub serde_json::Value);

impl Outcome {
    /// An outcome with nothing to say.
    #[must_use]
    pub fn none() -> Self {
        Self(serde_json::Value::Null)
    }
}

/// Why a job failed: the message is stored as the job's `error` and shown to its user, so it
/// must say what to do next and hold no secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct JobError(pub String);

impl From<anyhow::Error> for JobError {
    fn from(e: anyhow::Error) -> Self {
        Self(format!("{e:#}"))
    }
}

/// Runs jobs: the web app implements it (dispatching on [`Job::kind`]); the crate's
/// [`crate::control`] module is the building block for `apply` / `plan` / `destroy`.
///
/// A handler may be run again for a job whose previous worker died (`job.is_resumed()`): it
/// must be safe to repeat (see docs/web.md, "Jobs").
#[async_trait]
pub trait Handler: Send + Sync + 'static {
    /// Run `job`, writing progress to `log`.
    async fn run(&self, job: &Job, log: &Log) -> Result<Outcome, JobError>;
}

/// A shared handler is a handler (the web app keeps one in its state and gives workers a clone).
#[async_trait]
impl<H: Handler> Handler for Arc<H> {
    async fn run(&self, job: &Job, log: &Log) -> Result<Outcome, JobError> {
        self.as_ref().run(job, log).await
    }
}

/// Claims and runs jobs. Several workers (in one process or many) share one queue.
#[derive(Debug, Clone)]
pub struct Worker {
    queue: Queue,
    id: String,
    heartbeat: Duration,
    stale_after: Duration,
    poll: Duration,
    max_attempts: i32,
}

/// A claimed job, and the worker it was taken from (a takeover).
struct Claim {
    job: Job,
    taken_from: Option<String>,
}

impl Worker {
    /// A worker named `id` (unique per replica: e.g. host name and process id); defaults: a
    /// heartbeat every 5 s, a job taken over after 30 s without one, a look at the queue every
    /// 5 s besides notifications, at most 3 attempts.
    #[must_use]
    pub fn new(queue: Queue, id: impl Into<String>) -> Self {
        Self {
            queue,
            id: id.into(),
            heartbeat: Duration::from_secs(5),
            stale_after: Duration::from_secs(30),
            poll: Duration::from_secs(5),
            max_attempts: 3,
        }
    }

    /// How often the running jobs' heartbeats are written.
    #[must_use]
    pub fn heartbeat_every(mut self, d: Duration) -> Self {
        self.heartbeat = d;
        self
    }

    /// How old a heartbeat may get before the job is taken over (several heartbeats, so one
    /// slow write does not hand a live job over).
    #[must_use]
    pub fn stale_after(mut self, d: Duration) -> Self {
        self.stale_after = d;
        self
    }

    /// How often the queue is read without a notification.
    #[must_use]
    pub fn poll_every(mut self, d: Duration) -> Self {
        self.poll = d;
        self
    }

    /// A job whose workers died this many times is failed instead of taken over again (it may
    /// be what kills them).
    #[must_use]
    pub fn max_attempts(mut self, n: i32) -> Self {
        self.max_attempts = n.max(1);
        self
    }

    /// This worker's name, as stored in `claimed_by`.
    #[must_use]
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Run jobs with `handler`, at most `concurrency` at once (each of a different instance),
    /// forever.
    ///
    /// # Errors
    /// When the database cannot be reached at start.
    pub async fn run<H: Handler>(&self, handler: H, concurrency: usize) -> Result<()> {
        self.run_until(handler, concurrency, std::future::pending())
            .await
    }

    /// [`Worker::run`] until `shutdown` completes; then no more jobs are claimed and the
    /// running ones are finished before it returns.
    ///
    /// # Errors
    /// When the database cannot be reached at start.
    pub async fn run_until<H: Handler>(
        &self,
        handler: H,
        concurrency: usize,
        shutdown: impl Future<Output = ()>,
    ) -> Result<()> {
        let handler = Arc::new(handler);
        let slots = Arc::new(Semaphore::new(concurrency.max(1)));
        let freed = Arc::new(Notify::new());
        let mut listener = PgListener::connect_with(self.queue.pool())
            .await
            .context("listening for new jobs")?;
        listener.listen(QUEUE_CHANNEL).await?;
        tokio::pin!(shutdown);
        let mut tasks = tokio::task::JoinSet::new();
        'outer: loop {
            let permit = tokio::select! {
                () = &mut shutdown => break 'outer,
                p = slots.clone().acquire_owned() => p.expect("the semaphore is never closed"),
            };
            match self.claim().await {
                Ok(Some(claim)) => {
                    let this = self.clone();
                    let handler = handler.clone();
                    let freed = freed.clone();
                    tasks.spawn(async move {
                        this.execute(handler.as_ref(), claim).await;
                        drop(permit);
                        freed.notify_one();
                    });
                    continue;
                }
                Ok(None) => drop(permit),
                Err(e) => {
                    drop(permit);
                    eprintln!("nassella-jobs: worker {}: claiming a job: {e:#}", self.id);
                }
            }
            // Nothing to claim now: wait for a new job, a finished one (its instance may have
            // a next job), or the poll interval (takeovers need no notification).
            tokio::select! {
                () = &mut shutdown => break 'outer,
                n = listener.recv() => {
                    // Down database: recv fails at once (it reconnects on the next call);
                    // do not spin.
                    if n.is_err() {
                        tokio::time::sleep(self.poll).await;
                    }
                }
                () = freed.notified() => {}
                () = tokio::time::sleep(self.poll) => {}
            }
            while tasks.try_join_next().is_some() {}
        }
        while tasks.join_next().await.is_some() {}
        Ok(())
    }

    /// Take over a job with a stale heartbeat, else claim the next queued one.
    async fn claim(&self) -> Result<Option<Claim>> {
        if let Some(c) = self.take_over().await? {
            return Ok(Some(c));
        }
        let mut tx = self.queue.pool().begin().await?;
        let row = sqlx::query(&format!(
            "WITH c AS (
                SELECT j.id FROM jobs j
                WHERE j.state = 'queued'
                  AND NOT EXISTS (SELECT 1 FROM jobs r WHERE r.instance_id = j.instance_id AND r.state = 'running')
                  AND NOT EXISTS (SELECT 1 FROM jobs o WHERE o.instance_id = j.instance_id AND o.state = 'queued' AND o.position < j.position)
                ORDER BY j.position
                LIMIT 1
                FOR UPDATE SKIP LOCKED)
             UPDATE jobs j SET state = 'running', attempt = j.attempt + 1, claimed_by = $1,
                    heartbeat_at = now(), started_at = coalesce(j.started_at, now())
             FROM c WHERE j.id = c.id
             RETURNING {}",
            prefixed("j")
        ))
        .bind(&self.id)
        .fetch_optional(&mut *tx)
        .await;
        let row = match row {
            Ok(r) => r,
            // Another worker claimed a job of the same instance at the same moment: the unique
            // index refused ours. Nothing ran; look again.
            Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("23505") => {
                return Ok(None)
            }
            Err(e) => return Err(e.into()),
        };
        let Some(row) = row else {
            tx.commit().await?;
            return Ok(None);
        };
        let job = Job::from_row(&row)?;
        self.record_attempt(&mut tx, &job).await?;
        notify_log(&mut tx, job.id).await?;
        tx.commit().await?;
        Ok(Some(Claim {
            job,
            taken_from: None,
        }))
    }

    /// A running job whose worker stopped heartbeating becomes ours (attempt + 1).
    async fn take_over(&self) -> Result<Option<Claim>> {
        let mut tx = self.queue.pool().begin().await?;
        let row = sqlx::query(&format!(
            "WITH c AS (
                SELECT id, claimed_by AS previous FROM jobs
                WHERE state = 'running' AND heartbeat_at < now() - make_interval(secs => $2)
                ORDER BY heartbeat_at
                LIMIT 1
                FOR UPDATE SKIP LOCKED)
             UPDATE jobs j SET attempt = j.attempt + 1, claimed_by = $1, heartbeat_at = now()
             FROM c WHERE j.id = c.id
             RETURNING {}, c.previous",
            prefixed("j")
        ))
        .bind(&self.id)
        .bind(self.stale_after.as_secs_f64())
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            tx.commit().await?;
            return Ok(None);
        };
        let job = Job::from_row(&row)?;
        let previous: Option<String> = sqlx::Row::try_get(&row, "previous")?;
        sqlx::query(
            "UPDATE job_attempts SET ended_at = clock_timestamp(), result = 'lost: no heartbeat, taken over by ' || $3
             WHERE job_id = $1 AND attempt = $2 AND ended_at IS NULL",
        )
        .bind(job.id)
        .bind(job.attempt - 1)
        .bind(&self.id)
        .execute(&mut *tx)
        .await?;
        self.record_attempt(&mut tx, &job).await?;
        notify_log(&mut tx, job.id).await?;
        tx.commit().await?;
        Ok(Some(Claim {
            job,
            taken_from: Some(previous.unwrap_or_else(|| "?".into())),
        }))
    }

    async fn record_attempt(&self, tx: &mut sqlx::PgConnection, job: &Job) -> Result<()> {
        sqlx::query("INSERT INTO job_attempts (job_id, attempt, worker) VALUES ($1, $2, $3)")
            .bind(job.id)
            .bind(job.attempt)
            .bind(&self.id)
            .execute(tx)
            .await?;
        Ok(())
    }

    /// Run a claimed job to its end (or until this worker loses it).
    async fn execute<H: Handler>(&self, handler: &H, claim: Claim) {
        let Claim { job, taken_from } = claim;
        let log = Log::open(self.queue.pool().clone(), job.id).await;
        match &taken_from {
            Some(prev) => log.info(&format!(
                "resumed: attempt {} on worker {} (worker {prev} stopped heartbeating)",
                job.attempt, self.id
            )),
            None => log.info(&format!(
                "started on worker {} (attempt {})",
                self.id, job.attempt
            )),
        }
        if job.attempt > self.max_attempts {
            let msg = format!(
                "abandoned: the workers of {} attempts stopped heartbeating while running it; queue it again once the cause is known",
                job.attempt - 1
            );
            log.info(&msg);
            log.flush().await;
            self.finish(&job, "failed", None, Some(&msg)).await;
            return;
        }
        let lost = Arc::new(Notify::new());
        // Aborted when this future ends or is dropped (a worker shut down mid-job must stop
        // heartbeating, or its job would never be taken over).
        let beat = AbortOnDrop(tokio::spawn(heartbeat(
            self.clone(),
            job.id,
            job.attempt,
            lost.clone(),
        )));
        // A panicking handler fails its job instead of leaving it to be taken over again and
        // again.
        let run = std::panic::AssertUnwindSafe(handler.run(&job, &log)).catch_unwind();
        let result = tokio::select! {
            r = run => Some(r),
            () = lost.notified() => None,
        };
        drop(beat);
        match result {
            None => {
                // The handler's future is dropped here: its child processes (spawned with
                // kill_on_drop) are killed. The new owner's attempt decides the job.
                log.info(&format!(
                    "worker {} lost this job (no heartbeat could be written in time); stopped here, another worker continues it",
                    self.id
                ));
                log.flush().await;
            }
            Some(Ok(Ok(outcome))) => {
                log.info("succeeded");
                log.flush().await;
                self.finish(&job, "succeeded", Some(&outcome.0), None).await;
            }
            Some(Ok(Err(e))) => {
                log.info(&format!("failed: {e}"));
                log.flush().await;
                self.finish(&job, "failed", None, Some(&e.0)).await;
            }
            Some(Err(panic)) => {
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                let msg = format!("failed: the job's handler panicked ({what}); this is a bug in the web app, report it");
                log.info(&msg);
                log.flush().await;
                self.finish(&job, "failed", None, Some(&msg)).await;
            }
        }
    }

    /// Record the final state, if this attempt still owns the job.
    async fn finish(
        &self,
        job: &Job,
        state: &str,
        outcome: Option<&serde_json::Value>,
        error: Option<&str>,
    ) {
        let r: Result<bool> = async {
            let mut tx = self.queue.pool().begin().await?;
            let owned = sqlx::query(
                "UPDATE jobs SET state = $4, finished_at = now(), outcome = $5, error = $6
                 WHERE id = $1 AND claimed_by = $2 AND attempt = $3 AND state = 'running'",
            )
            .bind(job.id)
            .bind(&self.id)
            .bind(job.attempt)
            .bind(state)
            .bind(outcome)
            .bind(error)
            .execute(&mut *tx)
            .await?
            .rows_affected()
                == 1;
            if owned {
                sqlx::query(
                    "UPDATE job_attempts SET ended_at = clock_timestamp(), result = $3 WHERE job_id = $1 AND attempt = $2",
                )
                .bind(job.id)
                .bind(job.attempt)
                .bind(state)
                .execute(&mut *tx)
                .await?;
                notify_log(&mut tx, job.id).await?;
                sqlx::query("SELECT pg_notify($1, $2)")
                    .bind(QUEUE_CHANNEL)
                    .bind(job.id.to_string())
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            Ok(owned)
        }
        .await;
        match r {
            Ok(true) => {}
            Ok(false) => eprintln!(
                "nassella-jobs: worker {}: job {} attempt {} was taken over meanwhile; its result ({state}) is not recorded",
                self.id, job.id, job.attempt
            ),
            // The heartbeat stops with us: another worker takes the job over and runs it again.
            Err(e) => eprintln!(
                "nassella-jobs: worker {}: recording the end of job {}: {e:#}; another worker will run it again",
                self.id, job.id
            ),
        }
    }
}

/// Write the heartbeat of (job, attempt) until aborted; notify `lost` when the job is no longer
/// ours, or when no heartbeat could be written for `stale_after` (someone may have taken it).
async fn heartbeat(w: Worker, job: Uuid, attempt: i32, lost: Arc<Notify>) {
    let mut last_ok = tokio::time::Instant::now();
    loop {
        tokio::time::sleep(w.heartbeat).await;
        let r = sqlx::query(
            "UPDATE jobs SET heartbeat_at = now() WHERE id = $1 AND claimed_by = $2 AND attempt = $3 AND state = 'running'",
        )
        .bind(job)
        .bind(&w.id)
        .bind(attempt)
        .execute(w.queue.pool())
        .await;
        match r {
            Ok(r) if r.rows_affected() == 1 => last_ok = tokio::time::Instant::now(),
            Ok(_) => {
                lost.notify_one();
                return;
            }
            Err(e) => {
                eprintln!(
                    "nassella-jobs: worker {}: heartbeat of job {job}: {e:#}",
                    w.id
                );
                if last_ok.elapsed() >= w.stale_after {
                    lost.notify_one();
                    return;
                }
            }
        }
    }
}

/// Aborts a task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// [`JOB_COLUMNS`] qualified with a table alias.
fn prefixed(alias: &str) -> String {
    JOB_COLUMNS
        .split(", ")
        .map(|c| format!("{alias}.{c}"))
        .collect::<Vec<_>>()
        .join(", ")
}
