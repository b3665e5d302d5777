//! Host side of the harness's test-only command channel: a virtio-serial port served in the guest
//! by `nassella-harness-agent` (see `guest/`). It is part of the harness root, never of an
//! instance's Ignition config.

use std::io::{BufRead as _, BufReader, ErrorKind, Write as _};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use base64::Engine as _;

/// What a guest command printed (stdout and stderr together) and its exit code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// Exit code (124 when the guest's 600 s limit killed it).
    pub code: i32,
    /// Its output.
    pub text: String,
}

impl Output {
    /// Whether it exited 0.
    #[must_use]
    pub fn ok(&self) -> bool {
        self.code == 0
    }
}

/// A connection to the agent's port.
#[derive(Debug)]
pub struct Agent {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
    next_id: u64,
}

impl Agent {
    /// Connect to the chardev socket QEMU serves.
    ///
    /// # Panics
    /// When the socket cannot be reached within 30 s.
    #[must_use]
    pub fn connect(socket: &Path) -> Self {
        let started = Instant::now();
        let stream = loop {
            match UnixStream::connect(socket) {
                Ok(s) => break s,
                Err(e) if started.elapsed() > Duration::from_secs(30) => {
                    panic!("agent socket {}: {e}", socket.display())
                }
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        };
        let writer = stream.try_clone().unwrap();
        Self {
            reader: BufReader::new(stream),
            writer,
            next_id: 1,
        }
    }

    /// Run `script` with bash in the guest; `None` when no answer came within `timeout` (the
    /// agent not started yet, or the guest busy or gone). A late answer to an abandoned request is
    /// recognised by its id and skipped.
    pub fn run(&mut self, script: &str, timeout: Duration) -> Option<Output> {
        let id = self.next_id;
        self.next_id += 1;
        let b64 = base64::engine::general_purpose::STANDARD;
        let line = format!("{id} {}\n", b64.encode(script));
        if self.writer.write_all(line.as_bytes()).is_err() {
            return None;
        }
        let deadline = Instant::now() + timeout;
        let mut buf = String::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            self.reader
                .get_ref()
                .set_read_timeout(Some(left.min(Duration::from_secs(5))))
                .unwrap();
            match self.reader.read_line(&mut buf) {
                Ok(0) => return None,
                Ok(_) if buf.ends_with('\n') => {
                    let line = std::mem::take(&mut buf);
                    let mut parts = line.split_whitespace();
                    let (Some(got), Some(text), code) = (parts.next(), parts.next(), parts.next())
                    else {
                        // An empty output has no base64 word: "<id>  <code>".
                        continue;
                    };
                    let (text, code) = match code {
                        Some(c) => (text, c),
                        None => ("", text),
                    };
                    if got != id.to_string() {
                        continue;
                    }
                    let text =
                        String::from_utf8_lossy(&b64.decode(text).unwrap_or_default()).into_owned();
                    return Some(Output {
                        code: code.parse().unwrap_or(-1),
                        text,
                    });
                }
                Ok(_) => {}
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(_) => return None,
            }
        }
    }
}
