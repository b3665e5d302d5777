//! Jobs: deploys, plans, backups, restores and destroys, each the `nassella` CLI run for one
//! instance in a private folder. They go through the PostgreSQL queue of `nassella-jobs`
//! (shared by replicas, one job at a time per instance, heartbeats and takeover); this module is
//! the web app's [`Handler`] for it.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::{bail, Context as _, Result};
use nassella_jobs::{Handler, Job, JobError, Log, Outcome, Stream};
use serde_json::{json, Value};
use sqlx::PgPool;
use tokio::io::AsyncBufReadExt as _;
use uuid::Uuid;

use crate::crypto::SealingKey;

pub use nassella_jobs::{JobState, Queue, Worker};

/// The kinds of job the pages start.
pub const KINDS: &[&str] = &["plan", "apply", "backup", "restore", "destroy"];

/// High half of the queue's instance key: the queue keys instances by UUID, the web app's
/// instances have `BIGSERIAL` ids; `key(id)` and `instance_of_key` map one to the other.
const KEY_HIGH: u64 = u64::from_be_bytes(*b"nassella");

/// The queue's key of instance `id`.
#[must_use]
pub fn key(id: i64) -> Uuid {
    Uuid::from_u64_pair(KEY_HIGH, id as u64)
}

/// The instance id of a queue key, if it is one of ours.
#[must_use]
pub fn instance_of_key(k: Uuid) -> Option<i64> {
    let (hi, lo) = k.as_u64_pair();
    (hi == KEY_HIGH).then_some(lo as i64)
}

/// The one-line summary a job ended with (the CLI's last `==>` line), from its outcome.
#[must_use]
pub fn summary(job: &Job) -> String {
    job.outcome
        .as_ref()
        .and_then(|o| o["summary"].as_str())
        .map(str::to_owned)
        .or_else(|| job.error.clone())
        .unwrap_or_default()
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
    /// The database URL Terraform's `pg` backend reaches (the instances' states live there).
    pub database_url: String,
}

/// A prepared run: the private folder and what goes into the CLI's environment. Its `Debug`
/// shows no secret.
pub struct Prepared {
    dir: tempfile::TempDir,
    env: Vec<(String, String)>,
    master_hex: String,
    state_root: PathBuf,
    instance: i64,
}

impl std::fmt::Debug for Prepared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prepared")
            .field("dir", &self.dir.path())
            .field("env", &self.env.iter().map(|(k, _)| k).collect::<Vec<_>>())
            .field("state_root", &self.state_root)
            .finish_non_exhaustive()
    }
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
        let state_root = self
            .state_dir
            .join("instances")
            .join(instance_id.to_string());
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
        let mut master_hex = None;
        for (name, value) in secrets {
            if name == "master_key" {
                write_private(&dir.path().join("master.key"), &format!("{value}\n"))?;
                master_hex = Some(value);
            } else {
                env.push((name, value));
            }
        }
        let Some(master_hex) = master_hex else {
            bail!("the instance has no master key; set one under Secrets");
        };
        write_private(&dir.path().join("config.toml"), &text)?;
        Ok(Prepared {
            dir,
            env,
            master_hex,
            state_root,
            instance: instance_id,
        })
    }

    /// The CLI for the commands `nassella_jobs::control` does not run (backups): the same
    /// environment as its runs, Terraform's state in PostgreSQL included (a restore applies).
    fn command(&self, p: &Prepared, args: &[String], session: &str) -> tokio::process::Command {
        let backend = nassella_jobs::tfstate::Backend::new(&self.database_url, key(p.instance));
        let lock = format!("-lock-timeout={}", nassella_jobs::tfstate::LOCK_TIMEOUT);
        let mut cmd = tokio::process::Command::new(&self.cli);
        cmd.args(args)
            .arg("--config")
            .arg(p.config())
            .env("NASSELLA_STATE_DIR", &p.state_root)
            .env("TF_IN_AUTOMATION", "1")
            .env("NO_COLOR", "1")
            .env("NASSELLA_TF_BACKEND", "pg")
            .env("TF_CLI_ARGS_init", backend.init_args().join(" "))
            .env("TF_CLI_ARGS_plan", &lock)
            .env("TF_CLI_ARGS_apply", &lock)
            .env("TF_CLI_ARGS_destroy", &lock)
            .envs(backend.env(session))
            .env_remove("NASSELLA_MASTER_KEY")
            .envs(self.run_env(p))
            .stdin(Stdio::null())
            .kill_on_drop(true);
        cmd
    }

    /// The environment of every CLI run: the secrets, the master key's file, and the switch
    /// that makes this executable the CLI (its value is no word a log would hold, since every
    /// value here is redacted from the job's log).
    fn run_env(&self, p: &Prepared) -> Vec<(String, String)> {
        let mut env = p.env.clone();
        env.push((
            "NASSELLA_MASTER_KEY_FILE".into(),
            p.key().display().to_string(),
        ));
        env.push(("NASSELLA_WEB_AS_CLI".into(), "nassella-web-cli-mode".into()));
        env
    }

    /// `backups list --json` for an instance.
    ///
    /// # Errors
    /// When the CLI fails; its message is in the error.
    pub async fn list_backups(&self, instance_id: i64) -> Result<Vec<Value>> {
        let p = self.prepare(instance_id).await?;
        nassella_jobs::tfstate::prepare(&self.pool, key(instance_id)).await?;
        let out = self
            .command(
                &p,
                &["backups".into(), "list".into(), "--json".into()],
                "nassella-web-list",
            )
            .output()
            .await
            .context("running nassella")?;
        if !out.status.success() {
            bail!("{}", String::from_utf8_lossy(&out.stderr).trim());
        }
        serde_json::from_slice(&out.stdout).context("reading `backups list --json`")
    }
}

#[async_trait::async_trait]
impl Handler for ControlPlane {
    async fn run(&self, job: &Job, log: &Log) -> Result<Outcome, JobError> {
        let instance = instance_of_key(job.instance_id)
            .ok_or_else(|| JobError("this job is not for a web app instance".into()))?;
        let args: Vec<String> = match job.kind.as_str() {
            "plan" => vec!["plan".into()],
            "apply" => vec!["apply".into()],
            "destroy" => vec!["destroy".into()],
            "backup" => vec!["backups".into(), "create".into()],
            "restore" => {
                let snap = job.args["snapshot"].as_str().unwrap_or_default();
                if snap.is_empty() || !snap.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(JobError("a restore needs a snapshot id".into()));
                }
                vec!["backups".into(), "restore".into(), snap.to_owned()]
            }
            other => return Err(JobError(format!("unknown job kind `{other}`"))),
        };
        if job.is_resumed() {
            // Every command is safe to run again: the CLI converges (apply, destroy), a backup
            // is one more snapshot, a restore recorded its plan before deploying it.
            log.info("resuming: the previous worker stopped; running the command again");
        }
        let p = self.prepare(instance).await?;
        log.redact(p.master_hex.trim());
        let action = match job.kind.as_str() {
            "plan" => Some(nassella_jobs::control::Action::Plan),
            "apply" => Some(nassella_jobs::control::Action::Apply),
            "destroy" => Some(nassella_jobs::control::Action::Destroy),
            _ => None,
        };
        if let Some(action) = action {
            // The command line's flow with Terraform's state in PostgreSQL (nassella-jobs).
            let control = nassella_jobs::control::ControlPlane::new(
                &self.cli,
                &self.database_url,
                self.pool.clone(),
            );
            let run = nassella_jobs::control::Run {
                action,
                state_base: p.state_root.clone(),
                config: p.config(),
                env: self.run_env(&p),
            };
            let outcome = control.run(job, &run, log).await?;
            self.after(job, instance).await?;
            return Ok(outcome);
        }
        log.info(&format!("$ nassella {}", args.join(" ")));
        nassella_jobs::tfstate::prepare(&self.pool, job.instance_id).await?;
        for (_, v) in self.run_env(&p) {
            log.redact(&v);
        }
        let session = format!("nassella-{}-{}", job.id.simple(), job.attempt);
        let mut child = self
            .command(&p, &args, &session)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("starting nassella")?;
        let out = child.stdout.take().expect("piped");
        let err = child.stderr.take().expect("piped");
        let last = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let pump = |r: Box<dyn tokio::io::AsyncRead + Unpin + Send>, stream: Stream| {
            let log = log.clone();
            let last = last.clone();
            async move {
                let mut lines = tokio::io::BufReader::new(r).lines();
                while let Ok(Some(l)) = lines.next_line().await {
                    if let Some(s) = l.strip_prefix("==> ") {
                        *last.lock().expect("summary lock") = s.to_owned();
                    }
                    log.line(stream, &l);
                }
            }
        };
        let (status, (), ()) = tokio::join!(
            child.wait(),
            pump(Box::new(out), Stream::Stdout),
            pump(Box::new(err), Stream::Stderr)
        );
        let status = status.context("waiting for nassella")?;
        log.flush().await;
        if !status.success() {
            return Err(JobError(format!(
                "nassella {} failed ({status}); its output is above",
                args.join(" ")
            )));
        }
        let new_status = self.after(job, instance).await?;
        let summary = last.lock().expect("summary lock").clone();
        Ok(Outcome(json!({ "summary": summary, "status": new_status })))
    }
}

impl ControlPlane {
    /// Record what a successful job left the instance as.
    async fn after(&self, job: &Job, instance: i64) -> Result<Option<&'static str>> {
        let new_status = match job.kind.as_str() {
            "apply" | "restore" => Some("running"),
            "destroy" => Some("destroyed"),
            _ => None,
        };
        if let Some(s) = new_status {
            crate::db::set_status(&self.pool, instance, s).await?;
        }
        Ok(new_status)
    }
}
