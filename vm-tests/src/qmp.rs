//! A QEMU Machine Protocol client over the VM's unix socket: commands in, answers out, events
//! kept for whoever waits for one.

use std::io::{BufRead as _, BufReader, Write as _};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// A connected QMP session (capabilities negotiated).
#[derive(Debug)]
pub struct Qmp {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
    events: Vec<Value>,
}

impl Qmp {
    /// Connect to `socket` (waiting up to 30 s for QEMU to create it) and leave negotiation mode.
    ///
    /// # Panics
    /// When QEMU does not answer.
    #[must_use]
    pub fn connect(socket: &Path) -> Self {
        let started = Instant::now();
        let stream = loop {
            match UnixStream::connect(socket) {
                Ok(s) => break s,
                Err(e) if started.elapsed() > Duration::from_secs(30) => {
                    panic!("QMP socket {}: {e}", socket.display())
                }
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        };
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        let writer = stream.try_clone().unwrap();
        let mut qmp = Self {
            reader: BufReader::new(stream),
            writer,
            events: Vec::new(),
        };
        let greeting = qmp.read_message();
        assert!(greeting.get("QMP").is_some(), "QMP greeting: {greeting}");
        qmp.execute("qmp_capabilities", json!({}));
        qmp
    }

    fn read_message(&mut self) -> Value {
        let mut line = String::new();
        let n = self
            .reader
            .read_line(&mut line)
            .unwrap_or_else(|e| panic!("reading from QMP: {e}"));
        assert!(n > 0, "QMP closed the connection");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("QMP sent {line:?}: {e}"))
    }

    /// Run `command` with `arguments`; the answer's `return` value, or the error's description.
    ///
    /// # Errors
    /// QEMU's error message.
    pub fn try_execute(&mut self, command: &str, arguments: Value) -> Result<Value, String> {
        let msg = json!({"execute": command, "arguments": arguments});
        writeln!(self.writer, "{msg}").unwrap_or_else(|e| panic!("writing to QMP: {e}"));
        loop {
            let m = self.read_message();
            if let Some(r) = m.get("return") {
                return Ok(r.clone());
            }
            if let Some(e) = m.get("error") {
                return Err(format!("{command}: {e}"));
            }
            if m.get("event").is_some() {
                self.events.push(m);
            }
        }
    }

    /// [`Self::try_execute`], panicking on an error.
    ///
    /// # Panics
    /// When QEMU answers with an error.
    pub fn execute(&mut self, command: &str, arguments: Value) -> Value {
        self.try_execute(command, arguments)
            .unwrap_or_else(|e| panic!("QMP {e}"))
    }

    /// Wait up to `timeout` for an event named `name` whose `data` satisfies `matches`.
    ///
    /// # Panics
    /// When it does not come.
    pub fn wait_event(&mut self, name: &str, timeout: Duration, matches: impl Fn(&Value) -> bool) {
        let started = Instant::now();
        loop {
            if let Some(i) = self
                .events
                .iter()
                .position(|e| e["event"] == name && matches(&e["data"]))
            {
                self.events.remove(i);
                return;
            }
            assert!(
                started.elapsed() < timeout,
                "no QMP event {name} within {timeout:?}"
            );
            // Any command makes QEMU flush pending events to us first.
            let _ = self.try_execute("query-status", json!({}));
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}
