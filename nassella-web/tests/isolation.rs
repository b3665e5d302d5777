//! Tenant isolation: a user of tenant A walks every route of the router against tenant B's
//! objects — B's tenant name, B's ids taken from B's pages, and guessed ids — and is refused
//! with 404 (not 403: existence must not leak) every time, with none of B's names in the answer,
//! and nothing of B's changed. The cases are keyed by the router's own table
//! (`nassella_web::routes::table`): a route without a case here fails this test.

mod common;

use common::{csrf_of, Env};
use nassella_web::AuthMode;
use reqwest::StatusCode;

/// What a route reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    /// No tenant's data (sign-in, static files, health).
    Public,
    /// A tenant as a whole (`{tenant}` only).
    Tenant,
    /// An instance of a tenant (`{tenant}` and `{id}`).
    Instance,
    /// A job of a tenant (`{tenant}` and `{job}`).
    Job,
}

/// A route's case: method, path, what it reaches, the form a POST sends.
type Case = (
    &'static str,
    &'static str,
    Scope,
    &'static [(&'static str, &'static str)],
);

/// Every route, with what it reaches and the form a POST sends.
const CASES: &[Case] = &[
    ("GET", "/", Scope::Public, &[]),
    ("GET", "/healthz", Scope::Public, &[]),
    ("GET", "/static/app.js", Scope::Public, &[]),
    ("GET", "/static/style.css", Scope::Public, &[]),
    ("GET", "/login", Scope::Public, &[]),
    (
        "POST",
        "/login",
        Scope::Public,
        &[("username", "bob"), ("password", "x")],
    ),
    ("POST", "/logout", Scope::Public, &[]),
    ("GET", "/t/{tenant}", Scope::Tenant, &[]),
    ("GET", "/t/{tenant}/audit", Scope::Tenant, &[]),
    ("GET", "/t/{tenant}/instances/new", Scope::Tenant, &[]),
    (
        "POST",
        "/t/{tenant}/instances",
        Scope::Tenant,
        &[("name", "intruder"), ("provider", "local")],
    ),
    ("GET", "/t/{tenant}/instances/{id}", Scope::Instance, &[]),
    (
        "POST",
        "/t/{tenant}/instances/{id}",
        Scope::Instance,
        &[("apps.hello.host", "evil.localhost")],
    ),
    (
        "POST",
        "/t/{tenant}/instances/{id}/apps",
        Scope::Instance,
        &[("kind", "hello"), ("id", "evil")],
    ),
    (
        "POST",
        "/t/{tenant}/instances/{id}/apps/remove",
        Scope::Instance,
        &[("id", "hello")],
    ),
    (
        "POST",
        "/t/{tenant}/instances/{id}/secrets",
        Scope::Instance,
        &[("name", "HCLOUD_TOKEN"), ("value", "stolen")],
    ),
    (
        "GET",
        "/t/{tenant}/instances/{id}/preview",
        Scope::Instance,
        &[],
    ),
    (
        "POST",
        "/t/{tenant}/instances/{id}/jobs",
        Scope::Instance,
        &[("kind", "plan")],
    ),
    (
        "GET",
        "/t/{tenant}/instances/{id}/backups",
        Scope::Instance,
        &[],
    ),
    (
        "GET",
        "/t/{tenant}/instances/{id}/backups/{snapshot}/restore",
        Scope::Instance,
        &[],
    ),
    (
        "POST",
        "/t/{tenant}/instances/{id}/backups/{snapshot}/restore",
        Scope::Instance,
        &[],
    ),
    (
        "GET",
        "/t/{tenant}/instances/{id}/destroy",
        Scope::Instance,
        &[],
    ),
    (
        "POST",
        "/t/{tenant}/instances/{id}/destroy",
        Scope::Instance,
        &[("confirm", "zebra-secret")],
    ),
    ("GET", "/t/{tenant}/jobs/{job}", Scope::Job, &[]),
    ("GET", "/t/{tenant}/jobs/{job}/events", Scope::Job, &[]),
];

#[test]
fn every_route_of_the_router_has_a_case() {
    let table: Vec<(String, String)> = nassella_web::routes::table()
        .into_iter()
        .map(|r| (r.method.to_owned(), r.path.to_owned()))
        .collect();
    for (m, p) in &table {
        assert!(
            CASES.iter().any(|(cm, cp, _, _)| cm == m && cp == p),
            "route {m} {p} has no case in tests/isolation.rs: add one saying what it reaches"
        );
    }
    for (m, p, _, _) in CASES {
        assert!(
            table.iter().any(|(tm, tp)| tm == m && tp == p),
            "the case {m} {p} names no route"
        );
    }
}

fn proxy_client(user: &str, group: &str) -> reqwest::Client {
    let mut h = reqwest::header::HeaderMap::new();
    h.insert("Remote-User", user.parse().unwrap());
    h.insert("Remote-Groups", group.parse().unwrap());
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .default_headers(h)
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_user_of_one_tenant_reaches_nothing_of_another() {
    let env = Env::new().await;
    let mut opts = env.options("isolation", AuthMode::Proxy).await;
    opts.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    let server = common::start(opts).await;
    let base = format!("http://{}", server.addr);

    // B: an instance with an app and a secret, and a job.
    let bob = proxy_client("bob", "nassella-beta-admin");
    let page = bob
        .get(format!("{base}/t/beta"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let token = csrf_of(&page);
    let r = bob
        .post(format!("{base}/t/beta/instances"))
        .form(&[
            ("_csrf", token.as_str()),
            ("name", "zebra-secret"),
            ("provider", "local"),
        ])
        .send()
        .await
        .unwrap();
    let b_page = r.headers()["location"].to_str().unwrap().to_owned();
    let b_id: i64 = b_page.rsplit('/').next().unwrap().parse().unwrap();
    let r = bob
        .post(format!("{base}{b_page}/apps"))
        .form(&[
            ("_csrf", token.as_str()),
            ("kind", "hello"),
            ("id", "hello"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let b_job = server
        .state
        .queue
        .enqueue(
            nassella_web::jobs::key(b_id),
            "plan",
            &serde_json::json!({}),
            "bob",
        )
        .await
        .unwrap();
    // B's ids as B's own pages show them.
    let html = bob
        .get(format!("{base}{b_page}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains(&b_job.to_string()), "B's page links its job");
    let before: (serde_json::Value, String) =
        sqlx::query_as("SELECT config, status FROM instances WHERE id = $1")
            .bind(b_id)
            .fetch_one(&server.state.pool)
            .await
            .unwrap();
    let secrets_before: i64 = sqlx::query_scalar("SELECT count(*) FROM secrets")
        .fetch_one(&server.state.pool)
        .await
        .unwrap();

    // A: alice, admin of acme, with an instance of her own.
    let alice = proxy_client("alice", "nassella-acme-admin");
    let page = alice
        .get(format!("{base}/t/acme"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut a_token = csrf_of(&page);
    alice
        .post(format!("{base}/t/acme/instances"))
        .form(&[
            ("_csrf", a_token.as_str()),
            ("name", "mine"),
            ("provider", "local"),
        ])
        .send()
        .await
        .unwrap();

    let guessed_job = uuid::Uuid::new_v4().to_string();
    let b_job = b_job.to_string();
    let b_id_text = b_id.to_string();
    // Guesses: ids near B's, and absurd ones; alice's own instances are hers to see.
    let own: Vec<i64> = sqlx::query_scalar(
        "SELECT i.id FROM instances i JOIN tenants t ON t.id = i.tenant_id WHERE t.slug = 'acme'",
    )
    .fetch_all(&server.state.pool)
    .await
    .unwrap();
    let guessed_ids: Vec<String> = (b_id - 3..=b_id + 5)
        .filter(|n| *n != b_id && !own.contains(n))
        .map(|n| n.to_string())
        .chain(["0".into(), "-1".into(), "99999999999".into(), "x".into()])
        .collect();
    let mut checked = 0;
    for route in nassella_web::routes::table() {
        let (_, _, scope, fields) = CASES
            .iter()
            .find(|(m, p, _, _)| *m == route.method && *p == route.path)
            .expect("checked by every_route_of_the_router_has_a_case");
        // (tenant, instance id, job id) combinations aimed at B.
        let mut targets: Vec<(String, String, String)> = match scope {
            Scope::Public => vec![("-".into(), "-".into(), "-".into())],
            Scope::Tenant => vec![("beta".into(), "-".into(), "-".into())],
            Scope::Instance | Scope::Job => vec![
                ("beta".into(), b_id_text.clone(), b_job.clone()),
                ("acme".into(), b_id_text.clone(), b_job.clone()),
            ],
        };
        if matches!(scope, Scope::Instance) {
            for g in &guessed_ids {
                targets.push(("beta".into(), g.clone(), b_job.clone()));
                targets.push(("acme".into(), g.clone(), b_job.clone()));
            }
        }
        if matches!(scope, Scope::Job) {
            targets.push(("acme".into(), "-".into(), guessed_job.clone()));
            targets.push(("beta".into(), "-".into(), guessed_job.clone()));
        }
        for (tenant, id, job) in targets {
            let url = format!(
                "{base}{}",
                route
                    .path
                    .replace("{tenant}", &tenant)
                    .replace("{id}", &id)
                    .replace("{job}", &job)
                    .replace("{snapshot}", "0123abcd0123abcd")
            );
            let resp = if route.method == "GET" {
                alice.get(&url).send().await.unwrap()
            } else {
                let mut form: Vec<(&str, &str)> = fields.to_vec();
                form.push(("_csrf", &a_token));
                alice.post(&url).form(&form).send().await.unwrap()
            };
            let status = resp.status();
            let body = resp.text().await.unwrap();
            assert!(
                !body.contains("zebra-secret"),
                "{} {url} leaks B's instance name",
                route.method
            );
            if *scope != Scope::Public {
                assert_eq!(
                    status,
                    StatusCode::NOT_FOUND,
                    "{} {url}: {body}",
                    route.method
                );
            }
            checked += 1;
        }
        if route.method == "POST" && route.path == "/logout" {
            // Signed out by the case above: the proxy's headers sign alice in again, with a new
            // session and so a new token.
            let page = alice
                .get(format!("{base}/t/acme"))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            assert!(!page.contains("zebra-secret"));
            a_token = csrf_of(&page);
        }
    }
    assert!(checked > 60, "only {checked} requests were made");

    // Nothing of B's changed, no job of B's was queued by A.
    let after: (serde_json::Value, String) =
        sqlx::query_as("SELECT config, status FROM instances WHERE id = $1")
            .bind(b_id)
            .fetch_one(&server.state.pool)
            .await
            .unwrap();
    assert_eq!(before, after);
    let secrets_after: i64 = sqlx::query_scalar("SELECT count(*) FROM secrets")
        .fetch_one(&server.state.pool)
        .await
        .unwrap();
    assert_eq!(
        secrets_after,
        secrets_before + 1,
        "only alice's own instance's master key was added"
    );
    let b_jobs = server
        .state
        .queue
        .for_instance(nassella_web::jobs::key(b_id), 100)
        .await
        .unwrap();
    assert_eq!(b_jobs.len(), 1, "only B's own job");
    server.stop().await;
}
