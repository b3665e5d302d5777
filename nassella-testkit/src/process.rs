//! Running a child process with captured output and a timeout.

use std::io::Read;
use std::process::{Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// What a finished child process printed.
pub(crate) struct Captured {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Captured {
    /// Both streams, labelled, for panic messages.
    pub fn both(&self) -> String {
        format!(
            "exit status: {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.status,
            self.stdout.trim_end(),
            self.stderr.trim_end()
        )
    }
}

/// Timeout for one tool run: `NASSELLA_TESTKIT_TIMEOUT_SECS`, default 300 s.
pub(crate) fn default_timeout() -> Duration {
    let secs = std::env::var("NASSELLA_TESTKIT_TIMEOUT_SECS")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .unwrap_or(300);
    Duration::from_secs(secs)
}

/// Runs `cmd` with stdin closed, capturing stdout and stderr; kills it and
/// panics if it runs longer than `timeout`. Panics if it cannot be started.
pub(crate) fn run(cmd: &mut Command, timeout: Duration) -> Captured {
    let desc = format!("{cmd:?}");
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("nassella-testkit: failed to start {desc}: {e}"));
    let mut out = child.stdout.take().expect("stdout is piped");
    let mut err = child.stderr.take().expect("stderr is piped");
    let out_reader = thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = out.read_to_end(&mut buf);
        buf
    });
    let err_reader = thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = err.read_to_end(&mut buf);
        buf
    });
    let start = Instant::now();
    let mut timed_out = false;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if start.elapsed() > timeout => {
                timed_out = true;
                let _ = child.kill();
                break child
                    .wait()
                    .unwrap_or_else(|e| panic!("nassella-testkit: waiting for {desc}: {e}"));
            }
            Ok(None) => thread::sleep(Duration::from_millis(20)),
            Err(e) => panic!("nassella-testkit: waiting for {desc}: {e}"),
        }
    };
    let stdout = String::from_utf8_lossy(&out_reader.join().unwrap_or_default()).into_owned();
    let stderr = String::from_utf8_lossy(&err_reader.join().unwrap_or_default()).into_owned();
    let captured = Captured {
        status,
        stdout,
        stderr,
    };
    if timed_out {
        panic!(
            "nassella-testkit: {desc} did not finish within {timeout:?} and was killed \
             (set NASSELLA_TESTKIT_TIMEOUT_SECS to change)\n{}",
            captured.both()
        );
    }
    captured
}
