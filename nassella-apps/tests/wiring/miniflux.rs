//! The wiring of Miniflux (`nassella-apps/src/miniflux.rs`), read back from what it renders.

use super::*;

#[test]
fn miniflux_wiring() {
    use nassella_apps::Miniflux;
    assert_exact_round_trip::<Miniflux>();
    let host = "rss.example.com";
    let (v, b) = render_one(Miniflux::new(host).id("rss"));
    let app = &v.apps()[0];
    let c = compose_file(&b, "rss");

    // A stable media-proxy key (Miniflux picks a random one at every start otherwise).
    let view = env_view(&b, "rss", "app");
    assert_eq!(
        view["MEDIA_PROXY_PRIVATE_KEY"],
        "<secret:rss/media-proxy-private-key>"
    );
    assert_eq!(
        view["DATABASE_URL"],
        "postgres://miniflux:<secret:rss/db-password>@db/miniflux?sslmode=disable"
    );
    assert_eq!(view["ADMIN_PASSWORD"], "<secret:rss/admin-password>");
    assert_eq!(
        env(&c, "app", "TRUSTED_REVERSE_PROXY_NETWORKS"),
        Some(SUBNET)
    );
    assert_eq!(env(&c, "app", "BASE_URL"), Some("https://rss.example.com"));
    assert_eq!(env(&c, "app", "RUN_MIGRATIONS"), Some("1"));
    assert_eq!(env(&c, "app", "CREATE_ADMIN"), Some("1"));
    assert_eq!(env(&c, "app", "ADMIN_USERNAME"), Some("admin"));
    assert!(
        app.service("app").unwrap().mounts().is_empty(),
        "the app keeps nothing"
    );
    assert_eq!(
        app.service("app")
            .unwrap()
            .health_check()
            .map(|h| h.test().join(" "))
            .as_deref(),
        Some("/usr/bin/miniflux -healthcheck auto")
    );
    assert_eq!(mount_of(app, "db", "db"), Some("/var/lib/postgresql"));
    let (service, script) = hook_script(app);
    assert_eq!(service, "db");
    assert_atomic_dump(&script, "/dump/miniflux.pgdump");

    let entry = nassella_apps::find("miniflux").unwrap();
    let bad = from_entry(
        &entry,
        "rss",
        json!({"host": host, "admin_user": "no spaces"}),
    )
    .unwrap();
    assert_eq!(setting_problems(bad), vec!["apps.rss.admin_user"]);
}
