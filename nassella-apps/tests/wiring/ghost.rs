//! The wiring of Ghost (`nassella-apps/src/ghost.rs`), read back from what it renders.

use super::*;

#[test]
fn ghost_wiring() {
    use nassella_apps::Ghost;
    assert_exact_round_trip::<Ghost>();
    let host = "blog.example.com";
    let (v, b) = render_one(Ghost::new(host).id("blog"));
    let app = &v.apps()[0];
    let c = compose_file(&b, "blog");

    assert_eq!(env(&c, "ghost", "url"), Some("https://blog.example.com"));
    assert_eq!(env(&c, "ghost", "database__client"), Some("mysql"));
    assert_eq!(env(&c, "ghost", "database__connection__host"), Some("db"));
    assert_eq!(
        env(&c, "ghost", "security__staffDeviceVerification"),
        Some("false")
    );
    assert_eq!(
        env_view(&b, "blog", "ghost")["database__connection__password"],
        "<secret:blog/db-password>"
    );
    let db_env = env_view(&b, "blog", "db");
    assert_eq!(db_env["MYSQL_PASSWORD"], "<secret:blog/db-password>");
    assert_eq!(
        db_env["MYSQL_ROOT_PASSWORD"],
        "<secret:blog/db-root-password>"
    );
    assert_eq!(
        mount_of(app, "ghost", "content"),
        Some("/var/lib/ghost/content")
    );
    assert_eq!(mount_of(app, "db", "db"), Some("/var/lib/mysql"));
    assert!(app.service("db").unwrap().image().starts_with("mysql:8."));
    assert_eq!(app.routes()[0].body_limit(), Some(50 << 20));
    assert_eq!(app.proxied_services().collect::<Vec<_>>(), ["ghost"]);

    // A consistent InnoDB dump; the password comes from the environment, not the command line.
    let (service, script) = hook_script(app);
    assert_eq!(service, "db");
    assert!(
        script.starts_with(
            "MYSQL_PWD=\"$MYSQL_ROOT_PASSWORD\" mysqldump --user=root --single-transaction "
        ),
        "{script}"
    );
    assert!(!script.contains("--password"), "{script}");
    assert_atomic_dump(&script, "/dump/ghost.sql");

    let entry = nassella_apps::find("ghost").unwrap();
    let (_, b) = render_one(
        from_entry(
            &entry,
            "blog",
            json!({
                "host": host,
                "staff_device_verification": true,
                "max_upload_mb": 200,
                "smtp": {"host": "smtp.example.com", "from": "blog@example.com"}
            }),
        )
        .unwrap(),
    );
    let c = compose_file(&b, "blog");
    assert_eq!(
        env(&c, "ghost", "security__staffDeviceVerification"),
        Some("true")
    );
    assert!(site_block(text(&b, CADDYFILE), host).contains(&format!("max_size {}", 200u64 << 20)));
    let zero = from_entry(&entry, "blog", json!({"host": host, "max_upload_mb": 0})).unwrap();
    assert_eq!(setting_problems(zero), vec!["apps.blog.max_upload_mb"]);
}
