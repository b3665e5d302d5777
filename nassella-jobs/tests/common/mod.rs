//! Shared by the integration tests: a private PostgreSQL cluster per test.
#![allow(dead_code)]

use std::os::unix::fs::PermissionsExt as _;

use nassella_jobs::pg::Cluster;
use nassella_jobs::Queue;

/// A cluster in a temporary folder the `postgres` user can reach when the test runs as root
/// (tempfile's own folder is 0700), and a migrated queue on a database in it.
pub struct Db {
    pub queue: Queue,
    pub url: String,
    pub cluster: Cluster,
    pub dir: tempfile::TempDir,
}

pub async fn db() -> Db {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o711)).unwrap();
    let cluster = Cluster::start(&dir.path().join("pg")).await.unwrap();
    let url = cluster.database("jobs").await.unwrap();
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(20)
        .connect(&url)
        .await
        .unwrap();
    let queue = Queue::new(pool);
    queue.migrate().await.unwrap();
    Db {
        queue,
        url,
        cluster,
        dir,
    }
}

/// The text of job `id`'s stored log lines, in order.
pub async fn log_lines(queue: &Queue, id: uuid::Uuid) -> Vec<String> {
    queue
        .logs(id, 0)
        .await
        .unwrap()
        .into_iter()
        .map(|l| l.line)
        .collect()
}
