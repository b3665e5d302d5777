//! The download mirror a VM reaches as `http://10.0.2.100/` (QEMU `guestfwd`): serves one file
//! (the compose binary) from this machine, and can fail its first requests the ways a real
//! download fails (an HTTP error status, a cut transfer, wrong bytes).

use std::io::{BufRead as _, BufReader, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How one request fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Answer with this status and no body (e.g. 404, 429, 403, 503).
    Status(u16),
    /// Announce the whole length, send half, close.
    CutTransfer,
    /// Send other bytes of the same length (a hash mismatch).
    WrongBytes,
}

/// A running mirror; stops when dropped.
#[derive(Debug)]
pub struct Mirror {
    port: u16,
    requests: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl Mirror {
    /// Serve `file` on 127.0.0.1 (any path); the first requests fail as `failures` says, in order.
    ///
    /// # Panics
    /// When the socket cannot be bound.
    #[must_use]
    pub fn start(file: &Path, failures: Vec<Failure>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let failures = Arc::new(Mutex::new(failures.into_iter()));
        let file: PathBuf = file.to_owned();
        {
            let (requests, stop) = (Arc::clone(&requests), Arc::clone(&stop));
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    match listener.accept() {
                        Ok((s, _)) => {
                            requests.fetch_add(1, Ordering::SeqCst);
                            let how = failures.lock().unwrap().next();
                            let file = file.clone();
                            std::thread::spawn(move || {
                                let _ = serve(s, &file, how);
                            });
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(20)),
                    }
                }
            });
        }
        Self {
            port,
            requests,
            stop,
        }
    }

    /// The port on 127.0.0.1.
    #[must_use]
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Requests received so far.
    #[must_use]
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

impl Drop for Mirror {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn serve(stream: TcpStream, file: &Path, how: Option<Failure>) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line.trim().is_empty() {
            break;
        }
    }
    let mut out = stream;
    let body = std::fs::read(file)?;
    match how {
        Some(Failure::Status(code)) => {
            write!(
                out,
                "HTTP/1.1 {code} Refused by the test\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            )?;
        }
        Some(Failure::CutTransfer) => {
            write!(
                out,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            )?;
            out.write_all(&body[..body.len() / 2])?;
        }
        Some(Failure::WrongBytes) => {
            write!(
                out,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            )?;
            out.write_all(&vec![b'x'; body.len()])?;
        }
        None => {
            write!(
                out,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            )?;
            out.write_all(&body)?;
        }
    }
    out.flush()
}
