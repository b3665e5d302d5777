//! The embedded PostgreSQL cluster against Debian's real binaries: created once, reachable only
//! through its socket with the password, stopped, started again with its data.

use std::os::unix::fs::PermissionsExt as _;

use nassella_jobs::pg::Cluster;
use sqlx::Connection as _;

/// A state folder the `postgres` user can reach when the test runs as root (tempfile's own
/// folder is 0700).
fn state_dir() -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    std::fs::set_permissions(t.path(), std::fs::Permissions::from_mode(0o711)).unwrap();
    t
}

#[tokio::test]
async fn start_connect_stop_start_keeps_data() {
    let t = state_dir();
    let dir = t.path().join("pg");
    let cluster = Cluster::start(&dir).await.unwrap();
    let url = cluster.database("keep").await.unwrap();
    assert!(url.starts_with("postgres:///keep?host="), "{url}");
    let mut c = sqlx::PgConnection::connect(&url).await.unwrap();
    sqlx::query("CREATE TABLE t (v text)")
        .execute(&mut c)
        .await
        .unwrap();
    sqlx::query("INSERT INTO t VALUES ('kept')")
        .execute(&mut c)
        .await
        .unwrap();
    c.close().await.unwrap();
    // No TCP listener: the only way in is the socket in dir/run.
    let listen: String = {
        let mut c = sqlx::PgConnection::connect(&cluster.url()).await.unwrap();
        sqlx::query_scalar("SHOW listen_addresses")
            .fetch_one(&mut c)
            .await
            .unwrap()
    };
    assert_eq!(listen, "");
    assert!(dir.join("run/.s.PGSQL.5432").exists());
    cluster.stop().await.unwrap();
    assert!(
        sqlx::PgConnection::connect(&url).await.is_err(),
        "the server still answers after stop"
    );

    // Started again: the same cluster (no second initdb), the row is there, and asking for the
    // database again is harmless.
    let cluster = Cluster::start(&dir).await.unwrap();
    let again = cluster.database("keep").await.unwrap();
    assert_eq!(again, url);
    let mut c = sqlx::PgConnection::connect(&again).await.unwrap();
    let v: String = sqlx::query_scalar("SELECT v FROM t")
        .fetch_one(&mut c)
        .await
        .unwrap();
    assert_eq!(v, "kept");
    c.close().await.unwrap();
    drop(cluster); // Drop stops it too.
    assert!(sqlx::PgConnection::connect(&url).await.is_err());
}

#[tokio::test]
async fn a_wrong_password_is_refused_and_files_are_private() {
    let t = state_dir();
    let dir = t.path().join("pg");
    let cluster = Cluster::start(&dir).await.unwrap();
    let url = cluster.url();
    let password = std::fs::read_to_string(dir.join("superuser.password")).unwrap();
    assert!(password.len() >= 64);
    let wrong = url.replace(password.trim(), "not-the-password");
    assert_ne!(wrong, url);
    let err = sqlx::PgConnection::connect(&wrong).await.unwrap_err();
    assert!(
        err.to_string().contains("password authentication failed"),
        "{err}"
    );
    let mode = |p: &str| std::fs::metadata(dir.join(p)).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode("superuser.password"), 0o600);
    assert_eq!(mode("data"), 0o700);
    assert_eq!(mode("run"), 0o700);
    assert!(!dir.join("run/initdb.pw").exists());
    cluster.stop().await.unwrap();
}

#[tokio::test]
async fn a_server_left_running_is_adopted() {
    let t = state_dir();
    let dir = t.path().join("pg");
    let first = Cluster::start(&dir).await.unwrap();
    let url = first.database("adopt").await.unwrap();
    // The process that started it "dies" without stopping it.
    std::mem::forget(first);
    let second = Cluster::start(&dir).await.unwrap();
    let mut c = sqlx::PgConnection::connect(&url).await.unwrap();
    c.ping().await.unwrap();
    c.close().await.unwrap();
    second.stop().await.unwrap();
}

#[tokio::test]
async fn bad_database_names_are_refused() {
    let t = state_dir();
    let cluster = Cluster::start(&t.path().join("pg")).await.unwrap();
    for bad in ["", "Upper", "1abc", "a\"b", "a;drop", &"x".repeat(64)] {
        let err = cluster.database(bad).await.unwrap_err();
        assert!(err.to_string().contains("database name"), "{bad}: {err}");
    }
    cluster.stop().await.unwrap();
}

/// As a normal user the cluster runs as that user, with everything 0700. Run as root, the test
/// runs itself again as `nobody` (Debian's unprivileged user) to cover that path.
#[tokio::test]
async fn as_a_normal_user_too() {
    use std::os::unix::fs::MetadataExt as _;
    let me = std::fs::metadata("/proc/self").unwrap().uid();
    if me == 0 {
        let out = std::process::Command::new("setpriv")
            .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"])
            .arg(std::env::current_exe().unwrap())
            .args(["--exact", "as_a_normal_user_too", "--nocapture"])
            .env("TMPDIR", "/tmp")
            .env("HOME", "/tmp")
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "as nobody:\n{text}");
        assert!(
            text.contains("1 passed"),
            "the test did not run as nobody:\n{text}"
        );
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("pg");
    let cluster = Cluster::start(&dir).await.unwrap();
    let mut c = sqlx::PgConnection::connect(&cluster.url()).await.unwrap();
    let user: String = sqlx::query_scalar("SELECT current_user")
        .fetch_one(&mut c)
        .await
        .unwrap();
    assert_eq!(user, "nassella");
    c.close().await.unwrap();
    for p in ["", "data", "run"] {
        let m = std::fs::metadata(dir.join(p)).unwrap();
        assert_eq!(m.uid(), me, "{p} is not ours");
        assert_eq!(m.mode() & 0o777, 0o700, "{p}");
    }
    cluster.stop().await.unwrap();
}
