//! Test support: a real PostgreSQL cluster, a real OpenLDAP `slapd` with a throw-away database,
//! and a web server started in-process against them.

#![allow(dead_code)]

pub mod slapd;

use std::path::PathBuf;

use nassella_web::{AuthMode, Options, Server};

/// A temp folder, a PostgreSQL cluster in it, and a database for one server.
pub struct Env {
    pub dir: tempfile::TempDir,
    pub cluster: nassella_web::pg::Cluster,
}

impl Env {
    pub async fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("nassella-web-test-")
            .tempdir()
            .expect("temp dir");
        // The cluster belongs to `postgres` when tests run as root: it must reach the folder.
        std::process::Command::new("chmod")
            .arg("755")
            .arg(dir.path())
            .status()
            .expect("chmod");
        let cluster = nassella_web::pg::Cluster::start(&dir.path().join("pg"))
            .await
            .expect("PostgreSQL starts");
        Self { dir, cluster }
    }

    /// Options for a server on a free loopback port with its own database.
    pub async fn options(&self, db: &str, auth: AuthMode) -> Options {
        let key = self.dir.path().join(format!("{db}.key"));
        if !key.exists() {
            nassella_web::crypto::SealingKey::create_file(&key).expect("key");
        }
        Options {
            listen: "127.0.0.1:0".parse().unwrap(),
            database_url: Some(self.cluster.database(db).await.expect("database")),
            state_dir: Some(self.dir.path().join(format!("{db}-state"))),
            key_file: Some(key),
            auth: Some(auth),
            trusted_proxies: vec![],
            ldap_url: None,
            ldap_user_dn: "uid={user},ou=people,dc=example,dc=org".into(),
            ldap_group_base: "ou=groups,dc=example,dc=org".into(),
            group_prefix: "nassella-".into(),
            insecure_cookie: true,
            session_hours: 12,
            login_per_minute: 10,
            workers: 4,
            cli: Some(PathBuf::from(env!("CARGO_BIN_EXE_nassella-web"))),
        }
    }
}

pub async fn start(opts: Options) -> Server {
    Server::start(opts).await.expect("server starts")
}

/// A browser-like client: keeps cookies, does not follow redirects.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The `_csrf` value of the first form of a page.
pub fn csrf_of(html: &str) -> String {
    let at = html
        .find("name=\"_csrf\" value=\"")
        .expect("a form with a CSRF token");
    let rest = &html[at + "name=\"_csrf\" value=\"".len()..];
    rest[..rest.find('"').unwrap()].to_owned()
}

/// Sign in through the form; returns the response of the POST.
pub async fn sign_in(
    c: &reqwest::Client,
    base: &str,
    user: &str,
    password: &str,
) -> reqwest::Response {
    let page = c
        .get(format!("{base}/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let token = csrf_of(&page);
    c.post(format!("{base}/login"))
        .form(&[
            ("_csrf", token.as_str()),
            ("username", user),
            ("password", password),
        ])
        .send()
        .await
        .unwrap()
}
