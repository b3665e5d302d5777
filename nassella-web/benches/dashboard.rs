//! Load: `wrk` against one tenant's dashboard while the database holds 100 instances across 10
//! tenants; 50 connections. Prints requests/s and the latency percentiles (goal: p99 ≤ 50 ms on a
//! 2-core machine).
//!
//! `cargo bench -p nassella-web --bench dashboard` (needs `wrk` and PostgreSQL: `.ci/install-tools`).
//! WRK_DURATION (default 15s) and WRK_CONNECTIONS (default 50) change the run.

#[path = "../tests/common/mod.rs"]
mod common;

use std::process::Command;

use nassella_web::AuthMode;

fn main() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(run());
}

async fn run() {
    if Command::new("wrk").arg("--version").output().is_err() {
        eprintln!("wrk is missing: bash .ci/install-tools");
        std::process::exit(1);
    }
    let env = common::Env::new().await;
    let server = common::start(env.options("load", AuthMode::Local).await).await;
    let pool = &server.state.pool;
    let base = format!("http://{}", server.addr);

    // 10 tenants × 10 instances, each with two apps; the administrator belongs to all of them.
    for t in 0..10 {
        let slug = format!("tenant{t}");
        let tenant: i64 = sqlx::query_scalar("INSERT INTO tenants (slug) VALUES ($1) RETURNING id")
            .bind(&slug)
            .fetch_one(pool)
            .await
            .unwrap();
        sqlx::query("INSERT INTO memberships (tenant_id, user_id, role) SELECT $1, id, 'operator' FROM users WHERE username = 'admin'")
            .bind(tenant)
            .execute(pool)
            .await
            .unwrap();
        for i in 0..10 {
            let name = format!("shop{i}");
            let mut config = nassella_web::form::new_config(&format!("{slug}-{name}"), "local");
            config["apps"] = serde_json::json!({
                "hello": { "app": "hello", "host": format!("{name}.{slug}.localhost") },
                "greet": { "app": "hello", "host": format!("greet.{name}.{slug}.localhost") },
            });
            nassella_web::db::create_instance(pool, tenant, &name, "local", &config)
                .await
                .unwrap()
                .unwrap();
        }
    }
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM instances")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(count, 100);

    let c = common::client();
    let r = common::sign_in(
        &c,
        &base,
        "admin",
        server.first_password.as_deref().unwrap(),
    )
    .await;
    let cookie = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("nassella_session="))
        .and_then(|v| v.split(';').next())
        .expect("a session cookie")
        .to_owned();
    let url = format!("{base}/t/tenant3");
    let page = c.get(&url).send().await.unwrap().text().await.unwrap();
    assert_eq!(
        page.matches("/t/tenant3/instances/").count(),
        10,
        "the dashboard lists the tenant's 10 instances"
    );

    let duration = std::env::var("WRK_DURATION").unwrap_or_else(|_| "15s".into());
    let conns = std::env::var("WRK_CONNECTIONS").unwrap_or_else(|_| "50".into());
    println!("wrk -t2 -c{conns} -d{duration} --latency {url}  (100 instances across 10 tenants)");
    let out = tokio::process::Command::new("wrk")
        .args([
            "-t2",
            &format!("-c{conns}"),
            &format!("-d{duration}"),
            "--latency",
            "-H",
        ])
        .arg(format!("Cookie: {cookie}"))
        .arg(&url)
        .output()
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    println!("{text}");
    let field = |label: &str| {
        text.lines()
            .find(|l| l.trim_start().starts_with(label))
            .map(|l| l.trim_start()[label.len()..].trim().to_owned())
            .unwrap_or_else(|| "?".into())
    };
    let non2xx = field("Non-2xx or 3xx responses:");
    println!(
        "dashboard: {} requests/s, p50 {}, p99 {}{}",
        field("Requests/sec:"),
        field("50%"),
        field("99%"),
        if non2xx == "?" {
            String::new()
        } else {
            format!(", {non2xx} non-2xx answers (a failure)")
        }
    );
    server.stop().await;
}
