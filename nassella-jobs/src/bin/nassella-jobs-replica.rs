//! A test replica for `tests/replicas.rs` (not shipped to users): a worker process whose
//! handler runs the real `terraform apply`, with its state in PostgreSQL through the `pg`
//! backend, on a tiny `terraform_data` module per instance (`testdata/tf-data/main.tf`).
//!
//! ```text
//! NASSELLA_JOBS_URL=postgres:///…  nassella-jobs-replica <id> <work dir> <record file> \
//!     <concurrency> <heartbeat ms> <stale ms>
//! ```
//!
//! The database URL comes from the environment, so its password is not on a command line.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context as _, Result};
use async_trait::async_trait;
use nassella_jobs::{terraform, tfstate, Handler, Job, JobError, Log, Outcome, Queue, Worker};

const MODULE: &str = include_str!("../../testdata/tf-data/main.tf");

struct TfData {
    url: String,
    pool: sqlx::PgPool,
    replica: String,
    work: PathBuf,
    record: PathBuf,
}

#[async_trait]
impl Handler for TfData {
    async fn run(&self, job: &Job, log: &Log) -> Result<Outcome, JobError> {
        let generation = job.args["generation"]
            .as_i64()
            .context("args.generation is missing")?;
        tfstate::prepare(&self.pool, job.instance_id).await?;
        let backend = tfstate::Backend::new(&self.url, job.instance_id);
        // A fresh working folder per attempt: nothing of a killed attempt is reused but the
        // state in PostgreSQL.
        let dir = self.work.join(format!("{}-{}", job.id, job.attempt));
        std::fs::create_dir_all(&dir).context("creating the working folder")?;
        std::fs::write(dir.join("main.tf"), MODULE).context("writing the module")?;
        std::fs::write(dir.join("backend.tf"), tfstate::BACKEND_TF)
            .context("writing backend.tf")?;
        let env = backend.env(&format!("tf-{}-{}", self.replica, job.id.simple()));
        let mut init = vec!["init".to_owned()];
        init.extend(backend.init_args());
        if terraform::run(&dir, &init, &env, log).await? != 0 {
            return Err(JobError(
                "terraform init failed (its output is above)".into(),
            ));
        }
        let tag = format!(
            "{} {} {} {}",
            job.instance_id, job.id, job.attempt, self.replica
        );
        let apply = vec![
            "apply".to_owned(),
            "-auto-approve".to_owned(),
            "-input=false".to_owned(),
            format!("-lock-timeout={}", tfstate::LOCK_TIMEOUT),
            format!("-var=generation={generation}"),
            format!("-var=tag={tag}"),
            format!("-var=record={}", self.record.display()),
        ];
        if terraform::run(&dir, &apply, &env, log).await? != 0 {
            return Err(JobError(
                "terraform apply failed (its output is above)".into(),
            ));
        }
        let _ = std::fs::remove_dir_all(&dir);
        Ok(Outcome(serde_json::json!({ "generation": generation })))
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [id, work, record, concurrency, heartbeat, stale] = args.as_slice() else {
        bail!("usage: nassella-jobs-replica <id> <work dir> <record file> <concurrency> <heartbeat ms> <stale ms>  (NASSELLA_JOBS_URL in the environment)");
    };
    let url = std::env::var("NASSELLA_JOBS_URL").context("NASSELLA_JOBS_URL is not set")?;
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(10)
        .connect(&url)
        .await?;
    let queue = Queue::new(pool.clone());
    queue.migrate().await?;
    let ms = |s: &str| -> Result<Duration> { Ok(Duration::from_millis(s.parse()?)) };
    let worker = Worker::new(queue, id.clone())
        .heartbeat_every(ms(heartbeat)?)
        .stale_after(ms(stale)?)
        .poll_every(Duration::from_millis(500));
    let handler = TfData {
        url,
        pool,
        replica: id.clone(),
        work: PathBuf::from(work),
        record: PathBuf::from(record),
    };
    eprintln!("replica {id}: running");
    worker.run(handler, concurrency.parse()?).await
}
