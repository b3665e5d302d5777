//! A tiny HTTP/1.1 server handing out one file, for the Ignition files stage.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// A file server on `127.0.0.1` started by [`serve_file_http`]; it answers
/// `GET` (and `HEAD`) of **any** path with the file's bytes and stops when
/// dropped.
#[derive(Debug)]
pub struct LocalHttpServer {
    addr: SocketAddr,
    file_name: String,
    stop: Arc<AtomicBool>,
    requests: Arc<AtomicUsize>,
    accept_thread: Option<JoinHandle<()>>,
}

impl LocalHttpServer {
    /// URL of the served file: `http://127.0.0.1:PORT/<file name>`.
    pub fn url(&self) -> String {
        format!("{}/{}", self.base_url(), self.file_name)
    }

    /// `http://127.0.0.1:PORT` (any path below it serves the same file).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The socket address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// How many requests have been received so far (any method).
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

impl Drop for LocalHttpServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.accept_thread.take() {
            let _ = t.join();
        }
    }
}

/// Serves the file at `path` over HTTP/1.1 on `127.0.0.1:0` from a background
/// thread (std only). Each `GET` re-opens the file and sends it with
/// `Content-Length`; the connection is then closed. Missing file → 404.
///
/// # Panics
///
/// If `path` is not a readable file or the socket cannot be bound.
pub fn serve_file_http(path: &Path) -> LocalHttpServer {
    assert!(
        path.is_file(),
        "nassella-testkit: serve_file_http: {} is not a file",
        path.display()
    );
    let listener = TcpListener::bind("127.0.0.1:0")
        .unwrap_or_else(|e| panic!("nassella-testkit: binding 127.0.0.1:0: {e}"));
    listener
        .set_nonblocking(true)
        .expect("nassella-testkit: set_nonblocking");
    let addr = listener.local_addr().expect("nassella-testkit: local_addr");
    let file_name = path
        .file_name()
        .and_then(|n| n.to_str())
        .filter(|n| {
            n.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b))
        })
        .unwrap_or("file")
        .to_string();
    let stop = Arc::new(AtomicBool::new(false));
    let requests = Arc::new(AtomicUsize::new(0));
    let file = path.to_path_buf();
    let accept_thread = {
        let stop = Arc::clone(&stop);
        let requests = Arc::clone(&requests);
        thread::Builder::new()
            .name(format!("serve-file-{}", addr.port()))
            .spawn(move || accept_loop(&listener, &file, &stop, &requests))
            .expect("nassella-testkit: spawning the HTTP server thread")
    };
    LocalHttpServer {
        addr,
        file_name,
        stop,
        requests,
        accept_thread: Some(accept_thread),
    }
}

fn accept_loop(
    listener: &TcpListener,
    file: &Path,
    stop: &AtomicBool,
    requests: &Arc<AtomicUsize>,
) {
    while !stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, _)) => {
                let file = file.to_path_buf();
                let requests = Arc::clone(requests);
                thread::spawn(move || {
                    let _ = handle(stream, &file, &requests);
                });
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                thread::sleep(Duration::from_millis(5));
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => thread::sleep(Duration::from_millis(50)),
        }
    }
}

fn handle(stream: TcpStream, file: &PathBuf, requests: &AtomicUsize) -> io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    // Skip the headers up to the blank line.
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" || line == "\n" {
            break;
        }
    }
    requests.fetch_add(1, Ordering::SeqCst);
    let method = request_line.split_whitespace().next().unwrap_or("");
    let mut out = io::BufWriter::new(stream);
    match method {
        "GET" | "HEAD" => match File::open(file) {
            Ok(mut f) => {
                let len = f.metadata()?.len();
                write!(
                    out,
                    "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n\
                     Content-Length: {len}\r\nConnection: close\r\n\r\n"
                )?;
                if method == "GET" {
                    io::copy(&mut f, &mut out)?;
                }
            }
            Err(_) => write!(
                out,
                "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            )?,
        },
        _ => write!(
            out,
            "HTTP/1.1 405 Method Not Allowed\r\nAllow: GET, HEAD\r\nContent-Length: 0\r\n\
             Connection: close\r\n\r\n"
        )?,
    }
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn raw_request(addr: SocketAddr, request: &str) -> Vec<u8> {
        let mut s = TcpStream::connect(addr).unwrap();
        s.write_all(request.as_bytes()).unwrap();
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).unwrap();
        buf
    }

    #[test]
    fn serves_the_file_at_any_path_and_stops_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("artifact.bin");
        std::fs::write(&path, b"hello artifact").unwrap();
        let server = serve_file_http(&path);
        assert!(server.url().ends_with("/artifact.bin"), "{}", server.url());
        let addr = server.addr();

        let resp = raw_request(addr, "GET /whatever/path HTTP/1.1\r\nHost: x\r\n\r\n");
        let text = String::from_utf8(resp).unwrap();
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
        assert!(text.contains("Content-Length: 14\r\n"), "{text}");
        assert!(text.ends_with("\r\n\r\nhello artifact"), "{text}");

        let head = raw_request(addr, "HEAD / HTTP/1.1\r\n\r\n");
        let head = String::from_utf8(head).unwrap();
        assert!(
            head.contains("Content-Length: 14\r\n") && head.ends_with("\r\n\r\n"),
            "{head}"
        );

        let post = raw_request(addr, "POST / HTTP/1.1\r\n\r\n");
        assert!(String::from_utf8(post).unwrap().starts_with("HTTP/1.1 405"));
        assert_eq!(server.requests(), 3);

        drop(server);
        assert!(
            TcpStream::connect(addr).is_err(),
            "server still listening after drop"
        );
    }
}
