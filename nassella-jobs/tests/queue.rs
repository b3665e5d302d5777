//! The job queue on a real PostgreSQL: one job at a time per instance, many instances at once,
//! FIFO per instance, logs streamed, takeover of a dead worker's job, a worker that lost its job
//! stops and cannot overwrite the new result, cancel, migrations beside another migrator.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures_util::StreamExt as _;
use nassella_jobs::{Handler, Job, JobError, JobState, Log, Outcome, Worker};
use serde_json::json;
use uuid::Uuid;

/// One run: (instance, n, start, end).
type Ran = (Uuid, i64, Instant, Instant);

/// Sleeps `ms` (from the job's args), records when it ran, logs a line; fails when asked.
#[derive(Clone, Default)]
struct Sleeper {
    runs: Arc<Mutex<Vec<Ran>>>,
}

#[async_trait]
impl Handler for Sleeper {
    async fn run(&self, job: &Job, log: &Log) -> Result<Outcome, JobError> {
        let start = Instant::now();
        let n = job.args["n"].as_i64().unwrap_or(-1);
        log.info(&format!("job n={n} sleeping"));
        tokio::time::sleep(Duration::from_millis(job.args["ms"].as_u64().unwrap_or(0))).await;
        self.runs
            .lock()
            .unwrap()
            .push((job.instance_id, n, start, Instant::now()));
        if job.args["fail"].as_bool() == Some(true) {
            log.line(nassella_jobs::Stream::Stderr, "boom\nsecond line");
            return Err(JobError("asked to fail".into()));
        }
        Ok(Outcome(json!({ "n": n })))
    }
}

fn spawn_worker<H: Handler + Clone>(
    w: Worker,
    h: H,
    concurrency: usize,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move { w.run(h, concurrency).await.unwrap() })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_job_per_instance_many_instances_at_once_fifo_per_instance() {
    let db = common::db().await;
    let instances: Vec<Uuid> = (0..4).map(|_| Uuid::new_v4()).collect();
    let mut ids = Vec::new();
    for n in 0..16 {
        let inst = instances[n % instances.len()];
        let id = db
            .queue
            .enqueue(inst, "sleep", &json!({ "n": n, "ms": 300 }), "tester")
            .await
            .unwrap();
        ids.push(id);
    }
    let h = Sleeper::default();
    let workers: Vec<_> = (0..3)
        .map(|i| {
            spawn_worker(
                Worker::new(db.queue.clone(), format!("w{i}"))
                    .poll_every(Duration::from_millis(200)),
                h.clone(),
                4,
            )
        })
        .collect();
    for id in &ids {
        let job = db.queue.wait(*id, Duration::from_secs(60)).await.unwrap();
        assert_eq!(job.state, JobState::Succeeded, "{job:?}");
        assert_eq!(job.attempt, 1);
        assert_eq!(job.outcome, Some(json!({ "n": job.args["n"] })));
    }
    for w in workers {
        w.abort();
    }
    let runs = h.runs.lock().unwrap().clone();
    assert_eq!(runs.len(), 16);
    for inst in &instances {
        let mut mine: Vec<_> = runs.iter().filter(|r| r.0 == *inst).collect();
        mine.sort_by_key(|r| r.2);
        // FIFO: the jobs of one instance ran in the order they were queued…
        let order: Vec<i64> = mine.iter().map(|r| r.1).collect();
        let mut sorted = order.clone();
        sorted.sort_unstable();
        assert_eq!(order, sorted, "jobs of one instance out of order");
        // …and never two at once.
        for pair in mine.windows(2) {
            assert!(
                pair[0].3 <= pair[1].2,
                "two jobs of one instance overlapped: {pair:?}"
            );
        }
    }
    // Many instances at once: some moment had more than one job running.
    let most = runs
        .iter()
        .map(|a| runs.iter().filter(|b| b.2 <= a.2 && a.2 < b.3).count())
        .max()
        .unwrap();
    assert!(most >= 2, "jobs of different instances never ran together");
    // The attempts table tells the same story from the database's side.
    let open: i64 = sqlx::query_scalar("SELECT count(*) FROM job_attempts WHERE ended_at IS NULL")
        .fetch_one(db.queue.pool())
        .await
        .unwrap();
    assert_eq!(open, 0);
}

#[tokio::test]
async fn a_failed_job_keeps_its_error_and_its_log_streams_to_the_end() {
    let db = common::db().await;
    let inst = Uuid::new_v4();
    let id = db
        .queue
        .enqueue(
            inst,
            "sleep",
            &json!({ "n": 1, "ms": 800, "fail": true }),
            "ann",
        )
        .await
        .unwrap();
    // Subscribed before the job runs: lines arrive live, then the stream ends.
    let mut stream = db.queue.subscribe(id).await.unwrap();
    let worker = spawn_worker(Worker::new(db.queue.clone(), "w"), Sleeper::default(), 1);
    let mut lines = Vec::new();
    let collected = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(l) = stream.next().await {
            lines.push(l.unwrap());
        }
    })
    .await;
    assert!(collected.is_ok(), "the stream did not end: {lines:?}");
    worker.abort();
    let job = db.queue.get(id).await.unwrap().unwrap();
    assert_eq!(job.state, JobState::Failed);
    assert_eq!(job.error.as_deref(), Some("asked to fail"));
    assert_eq!(job.requested_by, "ann");
    let text: Vec<(&str, &str)> = lines
        .iter()
        .map(|l| (l.stream.as_str(), l.line.as_str()))
        .collect();
    assert_eq!(
        text,
        [
            ("system", "started on worker w (attempt 1)"),
            ("system", "job n=1 sleeping"),
            ("stderr", "boom"),
            ("stderr", "second line"),
            ("system", "failed: asked to fail"),
        ]
    );
    let seqs: Vec<i64> = lines.iter().map(|l| l.seq).collect();
    assert_eq!(seqs, [1, 2, 3, 4, 5]);
    // A late subscriber gets the stored lines, from where it asks.
    let replay: Vec<_> = db
        .queue
        .subscribe_after(id, 3)
        .await
        .unwrap()
        .map(|l| l.unwrap().seq)
        .collect()
        .await;
    assert_eq!(replay, [4, 5]);
}

/// Blocks until dropped; counts starts and drops.
#[derive(Clone, Default)]
struct Forever {
    started: Arc<Mutex<Vec<String>>>,
    dropped: Arc<Mutex<u32>>,
}

struct OnDrop(Arc<Mutex<u32>>);
impl Drop for OnDrop {
    fn drop(&mut self) {
        *self.0.lock().unwrap() += 1;
    }
}

#[async_trait]
impl Handler for Forever {
    async fn run(&self, job: &Job, _log: &Log) -> Result<Outcome, JobError> {
        self.started
            .lock()
            .unwrap()
            .push(job.claimed_by.clone().unwrap_or_default());
        if job.is_resumed() {
            return Ok(Outcome(json!("resumed and done")));
        }
        let _guard = OnDrop(self.dropped.clone());
        std::future::pending::<()>().await;
        unreachable!()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_dead_workers_job_is_taken_over_after_the_timeout() {
    let db = common::db().await;
    let id = db
        .queue
        .enqueue(Uuid::new_v4(), "forever", &json!({}), "bob")
        .await
        .unwrap();
    let h = Forever::default();
    let fast = |name: &str| {
        Worker::new(db.queue.clone(), name)
            .heartbeat_every(Duration::from_millis(300))
            .stale_after(Duration::from_secs(2))
            .poll_every(Duration::from_millis(200))
    };
    let a = spawn_worker(fast("a"), h.clone(), 1);
    while h.started.lock().unwrap().is_empty() {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Worker a dies: its task (heartbeats included) is gone.
    a.abort();
    let died = Instant::now();
    let b = spawn_worker(fast("b"), h.clone(), 1);
    let job = db.queue.wait(id, Duration::from_secs(30)).await.unwrap();
    b.abort();
    assert_eq!(job.state, JobState::Succeeded);
    assert_eq!(job.attempt, 2);
    assert_eq!(job.claimed_by.as_deref(), Some("b"));
    assert!(
        died.elapsed() >= Duration::from_secs(2),
        "taken over before the heartbeat was stale"
    );
    let attempts: Vec<(i32, String, Option<String>)> = sqlx::query_as(
        "SELECT attempt, worker, result FROM job_attempts WHERE job_id = $1 ORDER BY attempt",
    )
    .bind(id)
    .fetch_all(db.queue.pool())
    .await
    .unwrap();
    assert_eq!(
        attempts,
        [
            (
                1,
                "a".into(),
                Some("lost: no heartbeat, taken over by b".into())
            ),
            (2, "b".into(), Some("succeeded".into())),
        ]
    );
    let log: Vec<String> = common::log_lines(&db.queue, id).await;
    assert!(
        log.iter()
            .any(|l| l == "resumed: attempt 2 on worker b (worker a stopped heartbeating)"),
        "{log:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_worker_that_lost_its_job_stops_it_and_cannot_overwrite_the_result() {
    let db = common::db().await;
    let id = db
        .queue
        .enqueue(Uuid::new_v4(), "forever", &json!({}), "bob")
        .await
        .unwrap();
    let h = Forever::default();
    let a = spawn_worker(
        Worker::new(db.queue.clone(), "a").heartbeat_every(Duration::from_millis(200)),
        h.clone(),
        1,
    );
    while h.started.lock().unwrap().is_empty() {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Someone else took it over (as after a network partition) and finished it.
    sqlx::query("UPDATE jobs SET claimed_by = 'other', attempt = 2 WHERE id = $1")
        .bind(id)
        .execute(db.queue.pool())
        .await
        .unwrap();
    let end = Instant::now() + Duration::from_secs(10);
    while *h.dropped.lock().unwrap() == 0 {
        assert!(
            Instant::now() < end,
            "the lost job's handler was not stopped"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // It says so in the log (written just after the handler stopped)…
    loop {
        let log = common::log_lines(&db.queue, id).await;
        if log.iter().any(|l| l.starts_with("worker a lost this job")) {
            break;
        }
        assert!(Instant::now() < end, "no `lost` line: {log:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // …and wrote no result over the new owner's: the job is still the other's, running.
    tokio::time::sleep(Duration::from_millis(500)).await;
    a.abort();
    let job = db.queue.get(id).await.unwrap().unwrap();
    assert_eq!(job.state, JobState::Running, "worker a wrote a result");
    assert_eq!(job.claimed_by.as_deref(), Some("other"));
}

#[tokio::test]
async fn only_queued_jobs_can_be_cancelled() {
    let db = common::db().await;
    let id = db
        .queue
        .enqueue(Uuid::new_v4(), "sleep", &json!({}), "bob")
        .await
        .unwrap();
    assert!(db.queue.cancel(id, "carol").await.unwrap());
    let job = db.queue.get(id).await.unwrap().unwrap();
    assert_eq!(job.state, JobState::Cancelled);
    assert_eq!(
        job.error.as_deref(),
        Some("cancelled by carol before it started")
    );
    // Final: a second cancel changes nothing, and no worker picks it up.
    assert!(!db.queue.cancel(id, "carol").await.unwrap());
    let h = Sleeper::default();
    let w = spawn_worker(Worker::new(db.queue.clone(), "w"), h.clone(), 1);
    tokio::time::sleep(Duration::from_millis(800)).await;
    w.abort();
    assert!(h.runs.lock().unwrap().is_empty());
}

#[tokio::test]
async fn migrations_run_beside_another_migrator_and_twice() {
    let db = common::db().await;
    // Another crate's migration in the same database (as the web app's), then ours again:
    // neither complains about the other's versions.
    sqlx::query("INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) VALUES (20261129200000, 'web', true, '\\x00', 0)")
        .execute(db.queue.pool())
        .await
        .unwrap();
    db.queue.migrate().await.unwrap();
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations")
        .fetch_one(db.queue.pool())
        .await
        .unwrap();
    assert_eq!(n, 2);
}

/// Panics.
#[derive(Clone)]
struct Panics;

#[async_trait]
impl Handler for Panics {
    async fn run(&self, _job: &Job, _log: &Log) -> Result<Outcome, JobError> {
        panic!("wrong turn")
    }
}

#[tokio::test]
async fn a_panicking_handler_fails_its_job_once() {
    let db = common::db().await;
    let id = db
        .queue
        .enqueue(Uuid::new_v4(), "x", &json!({}), "bob")
        .await
        .unwrap();
    let w = spawn_worker(Worker::new(db.queue.clone(), "w"), Panics, 1);
    let job = db.queue.wait(id, Duration::from_secs(20)).await.unwrap();
    w.abort();
    assert_eq!(job.state, JobState::Failed);
    assert_eq!(job.attempt, 1);
    assert!(
        job.error
            .as_deref()
            .unwrap()
            .contains("handler panicked (wrong turn)"),
        "{job:?}"
    );
}
