//! Running Terraform inside a job: its output goes to the job's log line by line, its
//! environment carries the state backend's connection string (never its command line).

use std::path::Path;
use std::process::Stdio;

use anyhow::{Context as _, Result};
use tokio::io::{AsyncBufReadExt as _, BufReader};

use crate::log::{Log, Stream};

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
    let out = pump(child.stdout.take(), Stream::Stdout, log.clone());
    let err = pump(child.stderr.take(), Stream::Stderr, log.clone());
    let (status, (), ()) = tokio::join!(child.wait(), out, err);
    Ok(status
        .context("waiting for terraform")?
        .code()
        .unwrap_or(-1))
}

async fn pump(pipe: Option<impl tokio::io::AsyncRead + Unpin>, stream: Stream, log: Log) {
    let Some(pipe) = pipe else { return };
    // Bytes, not `lines()`: a line that is not UTF-8 must not stop the reading (Terraform
    // would block on a full pipe).
    let mut reader = BufReader::new(pipe);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match reader.read_until(b'\n', &mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => log.line(
                stream,
                String::from_utf8_lossy(&buf).trim_end_matches(['\n', '\r']),
            ),
        }
    }
}
