//! A job's log as the handler writes it: lines go to `job_logs` in batches, each batch announced
//! with `NOTIFY` so every replica's subscribers see it at once.

use std::sync::{Arc, RwLock};

use sqlx::PgPool;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

/// The longest line stored; longer ones are cut (a runaway tool must not fill the database).
const MAX_LINE: usize = 8 * 1024;
/// Lines written in one statement at most.
const BATCH: usize = 256;

/// Which output a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// A tool's standard output.
    Stdout,
    /// A tool's standard error.
    Stderr,
    /// The worker or the handler itself (started, resumed, phases, result).
    System,
}

impl Stream {
    fn as_str(self) -> &'static str {
        match self {
            Self::Stdout => "stdout",
            Self::Stderr => "stderr",
            Self::System => "system",
        }
    }
}

enum Msg {
    Line(Stream, String),
    Flush(oneshot::Sender<()>),
}

/// The log of one job attempt. Cheap to clone; writing never blocks or fails (a line that cannot
/// be stored is reported on the worker's standard error), so it can be fed from synchronous code
/// too (a thread reading a child's pipe).
#[derive(Debug, Clone)]
pub struct Log {
    job: Uuid,
    tx: mpsc::UnboundedSender<Msg>,
    secrets: Arc<RwLock<Vec<String>>>,
}

impl std::fmt::Debug for Msg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Msg")
    }
}

impl Log {
    /// A log appending to job `job`'s lines after the ones stored.
    pub(crate) async fn open(pool: PgPool, job: Uuid) -> Self {
        let next: i64 =
            sqlx::query_scalar("SELECT coalesce(max(seq), 0) + 1 FROM job_logs WHERE job_id = $1")
                .bind(job)
                .fetch_one(&pool)
                .await
                .unwrap_or(1);
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(writer(pool, job, next, rx));
        Self {
            job,
            tx,
            secrets: Arc::default(),
        }
    }

    /// The job this log belongs to.
    #[must_use]
    pub fn job(&self) -> Uuid {
        self.job
    }

    /// Never show `secret` in this log: every later line has it replaced by `********`. Register
    /// a secret before running anything that might print it. Values shorter than 4 characters
    /// are ignored (they would mask ordinary words, and are no secret worth the name).
    pub fn redact(&self, secret: &str) {
        if secret.len() >= 4 {
            if let Ok(mut s) = self.secrets.write() {
                s.push(secret.to_owned());
            }
        }
    }

    /// Write `text` (one line, or several separated by newlines) to `stream`.
    pub fn line(&self, stream: Stream, text: &str) {
        for l in text.lines() {
            let _ = self.tx.send(Msg::Line(stream, self.clean(l)));
        }
    }

    /// A line of the worker or handler itself.
    pub fn info(&self, text: &str) {
        self.line(Stream::System, text);
    }

    /// Wait until every line written so far is stored.
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Msg::Flush(done)).is_ok() {
            let _ = wait.await;
        }
    }

    fn clean(&self, line: &str) -> String {
        let mut s = line.replace('\0', "\u{fffd}");
        if let Ok(secrets) = self.secrets.read() {
            for secret in secrets.iter() {
                if s.contains(secret.as_str()) {
                    s = s.replace(secret.as_str(), "********");
                }
            }
        }
        if s.len() > MAX_LINE {
            let mut cut = MAX_LINE;
            while !s.is_char_boundary(cut) {
                cut -= 1;
            }
            s.truncate(cut);
            s.push_str(" [line cut]");
        }
        s
    }
}

async fn writer(pool: PgPool, job: Uuid, mut next: i64, mut rx: mpsc::UnboundedReceiver<Msg>) {
    while let Some(first) = rx.recv().await {
        let mut lines = Vec::new();
        let mut flushes = Vec::new();
        let mut next_msg = Some(first);
        while let Some(m) = next_msg.take() {
            match m {
                Msg::Line(s, l) => lines.push((s, l)),
                Msg::Flush(f) => flushes.push(f),
            }
            if lines.len() < BATCH {
                next_msg = rx.try_recv().ok();
            }
        }
        if !lines.is_empty() {
            let seqs: Vec<i64> = (next..).take(lines.len()).collect();
            let streams: Vec<&str> = lines.iter().map(|(s, _)| s.as_str()).collect();
            let texts: Vec<&str> = lines.iter().map(|(_, l)| l.as_str()).collect();
            let stored = store(&pool, job, &seqs, &streams, &texts).await;
            match stored {
                Ok(()) => next += i64::try_from(lines.len()).unwrap_or(0),
                Err(e) => eprintln!(
                    "nassella-jobs: {} log lines of job {job} could not be stored: {e:#}",
                    lines.len()
                ),
            }
        }
        for f in flushes {
            let _ = f.send(());
        }
    }
}

async fn store(
    pool: &PgPool,
    job: Uuid,
    seqs: &[i64],
    streams: &[&str],
    texts: &[&str],
) -> anyhow::Result<()> {
    let mut tx = pool.begin().await?;
    sqlx::query(
        "INSERT INTO job_logs (job_id, seq, stream, line) SELECT $1, s, st, l FROM UNNEST($2::bigint[], $3::text[], $4::text[]) AS u(s, st, l)",
    )
    .bind(job)
    .bind(seqs)
    .bind(streams)
    .bind(texts)
    .execute(&mut *tx)
    .await?;
    crate::queue::notify_log(&mut tx, job).await?;
    tx.commit().await?;
    Ok(())
}

/// Copy a child's pipe to `log`, line by line, calling `each` on every line too. Bytes, not
/// `lines()`: a line that is not UTF-8 must not stop the reading (the child would block on a
/// full pipe).
pub(crate) async fn copy_lines(
    pipe: Option<impl tokio::io::AsyncRead + Unpin>,
    stream: Stream,
    log: Log,
    mut each: impl FnMut(&str),
) {
    use tokio::io::AsyncBufReadExt as _;
    let Some(pipe) = pipe else { return };
    let mut reader = tokio::io::BufReader::new(pipe);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match reader.read_until(b'\n', &mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {
                let line = String::from_utf8_lossy(&buf);
                let line = line.trim_end_matches(['\n', '\r']);
                log.line(stream, line);
                each(line);
            }
        }
    }
}
