//! Running Terraform inside a job: its output goes to the job's log line by line, its
//! environment carries the state backend's connection string (never its command line).

use std::path::Path;
use std::process::Stdio;

use crate::log::{copy_lines, Log, Stream};
use anyhow::{Context as _, Result};

/// Run `terraform -chdir=<dir> <args>` with `env` added, streaming its output to `log`, and
/// return its exit code. The process is killed if the returned future is dropped (a worker that
/// lost its job). Terraform is told it runs unattended (`TF_IN_AUTOMATION`, no input, no
/// colours).
///
/// # Errors
/// When Terraform cannot be started.
pub async fn run(dir: &Path, args: &[String], env: &[(String, String)], log: &Log) -> Result<i32> {
    log.info(&format!(
        "terraform {}",
        args.first().map_or("", String::as_str)
    ));
    let mut child = tokio::process::Command::new("terraform")
        .arg(format!("-chdir={}", dir.display()))
        .args(args)
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("TF_IN_AUTOMATION", "1")
        .env("TF_INPUT", "0")
        .env("TF_CLI_ARGS", "-no-color")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .context("running terraform (install Terraform >= 1.4 and put it on PATH)")?;
    let out = copy_lines(child.stdout.take(), Stream::Stdout, log.clone(), |_| {});
    let err = copy_lines(child.stderr.take(), Stream::Stderr, log.clone(), |_| {});
    let (status, (), ()) = tokio::join!(child.wait(), out, err);
    Ok(status
        .context("waiting for terraform")?
        .code()
        .unwrap_or(-1))
}
