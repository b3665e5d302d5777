//! The whole web flow in a real headless Chromium (Debian's `chromium`, driven over WebDriver by
//! Debian's `chromium-driver`), against a real OpenLDAP `slapd`, PostgreSQL, Terraform and the
//! local target on this machine's Docker engine: sign in through LDAP, create an instance with
//! two apps, see a field error at its field, fix it, plan, deploy, see it running (and answering),
//! back it up, list the backup, restore it, destroy it. A screenshot of each page is saved under
//! the test's temp folder (its path is printed; NASSELLA_KEEP_SCREENSHOTS=<dir> copies them).

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::slapd::{ldif, Slapd};
use common::Env;
use fantoccini::{Client, ClientBuilder, Locator};
use nassella_web::AuthMode;

struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn browser() -> (Driver, Client) {
    let port = free_port();
    let child = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver (Debian package chromium-driver)");
    let driver = Driver(child);
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "chromedriver did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": "/usr/bin/chromium",
            "args": ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1280,1700"]
        }),
    );
    let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .expect("a Chromium session");
    (driver, client)
}

struct Shots {
    dir: std::path::PathBuf,
    n: u32,
}

impl Shots {
    async fn take(&mut self, c: &Client, name: &str) {
        self.n += 1;
        let png = c.screenshot().await.expect("screenshot");
        let path = self.dir.join(format!("{:02}-{name}.png", self.n));
        std::fs::write(&path, png).unwrap();
        eprintln!("screenshot: {}", path.display());
    }
}

async fn fill(c: &Client, id: &str, text: &str) {
    let e = c
        .find(Locator::Id(id))
        .await
        .unwrap_or_else(|_| panic!("#{id}"));
    e.clear().await.unwrap();
    e.send_keys(text).await.unwrap();
}

async fn click(c: &Client, id: &str) {
    c.find(Locator::Id(id))
        .await
        .unwrap_or_else(|_| panic!("#{id}"))
        .click()
        .await
        .unwrap();
}

async fn text_of(c: &Client, id: &str) -> String {
    match c.find(Locator::Id(id)).await {
        Ok(e) => e.text().await.unwrap(),
        Err(_) => panic!(
            "no #{id} on {}:\n{}",
            c.current_url().await.unwrap(),
            c.find(Locator::Css("main"))
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        ),
    }
}

/// Wait on a job page until the job has ended; panics with its log when it failed.
async fn job_done(c: &Client, limit: Duration) -> String {
    let deadline = Instant::now() + limit;
    loop {
        let state = text_of(c, "job-state").await;
        if state == "succeeded" {
            return text_of(c, "log").await;
        }
        if state == "failed" || Instant::now() > deadline {
            panic!("job {state}:\n{}", text_of(c, "log").await);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = vec![];
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() && !p.is_symlink() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

fn http_get(port: u16, host: &str) -> String {
    use std::io::{Read as _, Write as _};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_configure_deploy_back_up_and_restore_in_a_browser() {
    if !instance_tests::have_terraform() {
        eprintln!("skipped: terraform is missing");
        return;
    }
    nassella_testkit::images::ensure_test_images();
    // Inherited by the jobs' CLI and by Terraform's provisioners calling it back.
    std::env::set_var("NASSELLA_COMPOSE", nassella_testkit::compose_binary_path());
    std::env::set_var("NASSELLA_WEB_AS_CLI", "1");

    let env = Env::new().await;
    let ldap = Slapd::start(&ldif(
        &[("alice", "alice-pw")],
        &[("nassella-acme-admin", &["alice"])],
    ));
    let mut opts = env.options("browser", AuthMode::Ldap).await;
    opts.ldap_url = Some(ldap.url.clone());
    let state_dir = opts.state_dir.clone().unwrap();
    let server = common::start(opts).await;
    let base = format!("http://{}", server.addr);
    let mut shots = Shots {
        dir: env.dir.path().join("screenshots"),
        n: 0,
    };
    std::fs::create_dir_all(&shots.dir).unwrap();
    eprintln!("screenshots go to {}", shots.dir.display());
    let (_driver, c) = browser().await;

    // Sign in through LDAP.
    c.goto(&format!("{base}/")).await.unwrap();
    shots.take(&c, "sign-in").await;
    fill(&c, "username", "alice").await;
    fill(&c, "password", "alice-pw").await;
    click(&c, "signin").await;
    assert!(c.current_url().await.unwrap().path().ends_with("/t/acme"));
    shots.take(&c, "dashboard-empty").await;

    // A new local instance with two apps.
    click(&c, "new-instance").await;
    fill(&c, "name", "shop").await;
    shots.take(&c, "new-instance").await;
    click(&c, "create").await;
    let url = c.current_url().await.unwrap();
    let id: i64 = url.path().rsplit('/').next().unwrap().parse().unwrap();
    let _stop = instance_tests::StopOnDrop {
        bin: env!("CARGO_BIN_EXE_nassella-web").into(),
        root: state_dir
            .join("instances")
            .join(id.to_string())
            .join("acme-shop")
            .join("instance"),
    };
    for app in ["hello", "greet"] {
        c.find(Locator::Id("add-kind"))
            .await
            .unwrap()
            .select_by_value("hello")
            .await
            .unwrap();
        fill(&c, "add-id", app).await;
        click(&c, "add-app").await;
    }
    let (http, https) = (free_port(), free_port());
    fill(&c, "f-instance-http_port", &http.to_string()).await;
    fill(&c, "f-instance-https_port", &https.to_string()).await;
    fill(
        &c,
        "f-backup-repository",
        &env.dir.path().join("repo").display().to_string(),
    )
    .await;
    fill(
        &c,
        "f-images",
        "caddy:2.11.4-alpine = nassella-test/caddy:2.11-r2\nrestic/restic:0.19.1 = nassella-test/restic:debian",
    )
    .await;
    fill(&c, "f-apps-hello-host", "hello.localhost").await;
    // A mistake: a hostname with capitals.
    fill(&c, "f-apps-greet-host", "Greet.localhost").await;
    click(&c, "save").await;
    let err = c
        .find(Locator::Css(
            r#".field-error[data-field="apps.greet.host"]"#,
        ))
        .await
        .expect("the composer's error shown at the greet app's host field")
        .text()
        .await
        .unwrap();
    assert!(
        err.contains("Greet.localhost") && err.contains("apps.greet.routes[0].host"),
        "{err}"
    );
    assert!(
        c.find(Locator::Css("#deploy[disabled]")).await.is_ok(),
        "deploy waits for a fix"
    );
    shots.take(&c, "field-error").await;

    // Fixed.
    fill(&c, "f-apps-greet-host", "greet.localhost").await;
    click(&c, "save").await;
    assert!(c
        .find_all(Locator::Css(".field-error"))
        .await
        .unwrap()
        .is_empty());
    assert!(c.source().await.unwrap().contains("Saved."));
    shots.take(&c, "fixed").await;

    // Preview every file, then plan.
    click(&c, "preview").await;
    let src = c.source().await.unwrap();
    assert!(src.contains("Caddyfile"), "the rendered files are listed");
    assert!(
        src.contains("&lt;secret:") || src.contains("<secret:"),
        "secrets are masked"
    );
    shots.take(&c, "preview").await;
    click(&c, "plan").await;
    job_done(&c, Duration::from_secs(300)).await;
    let summary = text_of(&c, "summary").await;
    assert!(!summary.is_empty(), "the plan's summary line is shown");
    shots.take(&c, "plan").await;

    // Deploy, with the live log.
    click(&c, "deploy").await;
    let log = job_done(&c, Duration::from_secs(600)).await;
    assert!(log.contains("==> applied"), "{log}");
    shots.take(&c, "deployed-log").await;
    c.goto(&format!("{base}/t/acme/instances/{id}"))
        .await
        .unwrap();
    assert_eq!(text_of(&c, "status").await, "running");
    assert!(http_get(http, "hello.localhost").contains("hello from hello"));
    assert!(http_get(http, "greet.localhost").contains("hello from greet"));
    shots.take(&c, "running").await;
    // Terraform's state is in PostgreSQL (the instance's own schema), not in the state folder.
    let schema = nassella_jobs::tfstate::schema_name(nassella_web::jobs::key(id));
    let state: String = sqlx::query_scalar(&format!(
        "SELECT data FROM {schema}.states WHERE name = 'default'"
    ))
    .fetch_one(&server.state.pool)
    .await
    .expect("the instance's Terraform state in its schema");
    assert!(state.contains("terraform_data"), "{state}");
    let folder = state_dir
        .join("instances")
        .join(id.to_string())
        .join("acme-shop");
    let local_states: Vec<_> = walk(&folder)
        .into_iter()
        .filter(|p| p.ends_with("terraform.tfstate"))
        .collect();
    assert!(
        local_states.iter().all(|p| !std::fs::read_to_string(p)
            .unwrap_or_default()
            .contains("terraform_data.instance")),
        "{local_states:?}"
    );

    // Back up now, list it.
    click(&c, "backups").await;
    assert!(c.find(Locator::Id("no-backups")).await.is_ok());
    click(&c, "backup-now").await;
    job_done(&c, Duration::from_secs(300)).await;
    shots.take(&c, "backup-log").await;
    c.goto(&format!("{base}/t/acme/instances/{id}/backups"))
        .await
        .unwrap();
    let rows = c
        .find_all(Locator::Css("#backup-list tbody tr"))
        .await
        .unwrap();
    assert_eq!(rows.len(), 1, "one backup listed");
    shots.take(&c, "backups").await;

    // Restore it: the plan first.
    c.find(Locator::Css("a.restore"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let plan = text_of(&c, "restore-plan").await;
    assert!(plan.contains("before-restore"), "{plan}");
    shots.take(&c, "restore-plan").await;
    click(&c, "restore").await;
    job_done(&c, Duration::from_secs(600)).await;
    shots.take(&c, "restored-log").await;
    assert!(http_get(http, "hello.localhost").contains("hello from hello"));

    // Destroy, with the name typed.
    c.goto(&format!("{base}/t/acme/instances/{id}/destroy"))
        .await
        .unwrap();
    assert!(
        c.find(Locator::Css("#destroy-confirm[disabled]"))
            .await
            .is_ok(),
        "disabled until typed"
    );
    fill(&c, "confirm", "shop").await;
    shots.take(&c, "destroy").await;
    click(&c, "destroy-confirm").await;
    job_done(&c, Duration::from_secs(300)).await;
    c.goto(&format!("{base}/t/acme")).await.unwrap();
    assert!(c.source().await.unwrap().contains("destroyed"));
    shots.take(&c, "dashboard-destroyed").await;

    if let Ok(keep) = std::env::var("NASSELLA_KEEP_SCREENSHOTS") {
        std::fs::create_dir_all(&keep).unwrap();
        for e in std::fs::read_dir(&shots.dir).unwrap() {
            let e = e.unwrap();
            std::fs::copy(e.path(), std::path::Path::new(&keep).join(e.file_name())).unwrap();
        }
    }
    c.close().await.unwrap();
    server.stop().await;
}
