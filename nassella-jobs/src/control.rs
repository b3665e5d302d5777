//! The control-plane job: `nassella plan | apply | destroy` of one instance, exactly the
//! command line's flow (build into the state folder, make sure the restic repository exists,
//! Terraform), with Terraform's state in PostgreSQL: the `pg` backend, one schema per instance
//! ([`crate::tfstate`]). The web app's [`crate::Handler`] materialises the instance's state
//! folder and config, then calls [`ControlPlane::run`].
//!
//! **Why a child process.** The flow runs as the `nassella` binary (the CLI's own `main`, over
//! the same library functions), one process per job, rather than as library calls inside the
//! web app: the local target's Terraform module calls back the binary that ran Terraform
//! (`nassella local up`), which must be `nassella`, not the web app; the CLI reports progress on
//! its standard error, which is per process, so each job's log gets its own lines and nothing
//! else; and a job a worker loses (docs/web.md, "Jobs") is stopped by killing its process,
//! Terraform included, which a library call on a blocking thread could not offer.
//!
//! **Where the state goes.** `NASSELLA_TF_BACKEND=pg` makes the CLI add `backend "pg" {}` to
//! the module folder (nassella-cli `modules::write_backend`); `TF_CLI_ARGS_init` names the
//! instance's schema (and skips Terraform's own DDL); `PG_CONN_STR`, in the environment only,
//! carries the connection string; `TF_CLI_ARGS_plan|apply|destroy` add `-lock-timeout`.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use crate::log::{copy_lines, Log, Stream};
use crate::tfstate;
use crate::{Job, JobError, Outcome};
use anyhow::Context as _;
use sqlx::PgPool;

/// What to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// `nassella plan`: what would change (the outcome holds the one-line summary).
    Plan,
    /// `nassella apply`: deploy.
    Apply,
    /// `nassella destroy`: remove the server (the data volume stays).
    Destroy,
}

impl Action {
    /// The subcommand.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Plan => "plan",
            Self::Apply => "apply",
            Self::Destroy => "destroy",
        }
    }
}

/// One run, as the web app's handler prepared it.
#[derive(Debug, Clone)]
pub struct Run {
    /// What to run.
    pub action: Action,
    /// `NASSELLA_STATE_DIR` for the run: the instance's state folder is `<state_base>/<instance
    /// name>`, with its `master.key` (0600) materialised by the caller. Terraform's state is
    /// not in it.
    pub state_base: PathBuf,
    /// The instance's config file (docs/config.md), written by the caller.
    pub config: PathBuf,
    /// More environment for the run: cloud tokens, backup storage keys (names as in
    /// docs/deploy.md). Every value is also hidden from the log.
    pub env: Vec<(String, String)>,
}

/// Runs the command line's flow for jobs, with Terraform's state in one PostgreSQL database.
#[derive(Debug, Clone)]
pub struct ControlPlane {
    nassella: PathBuf,
    database_url: String,
    pool: PgPool,
}

impl ControlPlane {
    /// `nassella` is the CLI binary to run; `database_url` the database that holds the
    /// Terraform states (a `postgres://` URL Terraform's `lib/pq` reads, as the embedded
    /// cluster's are), and `pool` a pool on it.
    #[must_use]
    pub fn new(nassella: impl Into<PathBuf>, database_url: &str, pool: PgPool) -> Self {
        Self {
            nassella: nassella.into(),
            database_url: database_url.to_owned(),
            pool,
        }
    }

    /// Run `run` for `job`'s instance, its output in `log`. Safe to repeat after a lost worker
    /// (the flow is idempotent: the same config builds the same bundle, and Terraform converges
    /// on it; docs/web.md, "What resuming means for a Terraform run").
    ///
    /// # Errors
    /// When the state cannot be prepared, `nassella` cannot be started, or it fails (the error
    /// names its exit code; the reason is in the log).
    pub async fn run(&self, job: &Job, run: &Run, log: &Log) -> Result<Outcome, JobError> {
        tfstate::prepare(&self.pool, job.instance_id).await?;
        let backend = tfstate::Backend::new(&self.database_url, job.instance_id);
        for secret in secrets_of(&self.database_url) {
            log.redact(&secret);
        }
        for (_, v) in &run.env {
            log.redact(v);
        }
        let lock = format!("-lock-timeout={}", tfstate::LOCK_TIMEOUT);
        let mut cmd = tokio::process::Command::new(&self.nassella);
        cmd.arg(run.action.as_str())
            .arg("--config")
            .arg(&run.config)
            .envs(run.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .envs(backend.env(&format!("nassella-{}-{}", job.id.simple(), job.attempt)))
            .env("NASSELLA_STATE_DIR", &run.state_base)
            .env("NASSELLA_TF_BACKEND", "pg")
            .env("TF_CLI_ARGS_init", backend.init_args().join(" "))
            .env("TF_CLI_ARGS_plan", &lock)
            .env("TF_CLI_ARGS_apply", &lock)
            .env("TF_CLI_ARGS_destroy", &lock)
            .env("TF_IN_AUTOMATION", "1")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        log.info(&format!(
            "nassella {} (instance {}, Terraform state in schema {})",
            run.action.as_str(),
            job.instance_id,
            backend.schema()
        ));
        let mut child = cmd
            .spawn()
            .with_context(|| format!("running {}", self.nassella.display()))?;
        // The last `==> ` line (the CLI's phases, and a plan's one-line summary) is the
        // run's summary.
        let summary = std::sync::Mutex::new(None::<String>);
        let note = |line: &str| {
            if let Some(s) = line.strip_prefix("==> ") {
                if let Ok(mut slot) = summary.lock() {
                    *slot = Some(s.to_owned());
                }
            }
        };
        let out = copy_lines(child.stdout.take(), Stream::Stdout, log.clone(), note);
        let err = copy_lines(child.stderr.take(), Stream::Stderr, log.clone(), note);
        let (status, (), ()) = tokio::join!(child.wait(), out, err);
        let code = status.context("waiting for nassella")?.code().unwrap_or(-1);
        let summary = summary.into_inner().ok().flatten();
        if code != 0 {
            return Err(JobError(format!(
                "nassella {} failed (exit {code}); the log above says why{}",
                run.action.as_str(),
                summary.map_or(String::new(), |s| format!(": {s}"))
            )));
        }
        Ok(Outcome(serde_json::json!({
            "action": run.action.as_str(),
            "summary": summary,
        })))
    }
}

/// The password of a `postgres://` URL, in its user-info or its query.
fn secrets_of(url: &str) -> Vec<String> {
    let mut found = Vec::new();
    if let Some(rest) = url.split_once("://").map(|(_, r)| r) {
        let authority = rest.split(['/', '?']).next().unwrap_or("");
        if let Some((info, _)) = authority.rsplit_once('@') {
            if let Some((_, pw)) = info.split_once(':') {
                found.push(pw.to_owned());
            }
        }
        if let Some((_, query)) = rest.split_once('?') {
            for kv in query.split('&') {
                if let Some(pw) = kv.strip_prefix("password=") {
                    found.push(pw.to_owned());
                }
            }
        }
    }
    found
}

/// `nassella` next to the running program, else on `PATH`.
#[must_use]
pub fn default_nassella() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.join("nassella")))
        .filter(|p| p.exists())
        .unwrap_or_else(|| Path::new("nassella").to_owned())
}

#[cfg(test)]
mod tests {
    use super::secrets_of;

    #[test]
    fn passwords_are_found_in_both_url_forms() {
        assert_eq!(
            secrets_of("postgres:///db?host=%2Frun&user=u&password=s3cret&sslmode=disable"),
            ["s3cret"]
        );
        assert_eq!(
            secrets_of("postgres://u:hunter22@db.example/x"),
            ["hunter22"]
        );
        assert!(secrets_of("postgres://u@db.example/x").is_empty());
    }
}
