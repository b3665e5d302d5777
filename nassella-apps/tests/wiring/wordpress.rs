//! The wiring of WordPress (`nassella-apps/src/wordpress.rs`), read back from what it renders.

use super::*;

#[test]
fn wordpress_wiring() {
    use nassella_apps::WordPress;
    assert_exact_round_trip::<WordPress>();
    let host = "www.example.com";
    let (v, b) = render_one(WordPress::new(host, "me@example.com").id("site"));
    let app = &v.apps()[0];
    let c = compose_file(&b, "site");

    // app and cli read the same database settings; the eight keys and salts (derived secrets)
    // go to the web server only.
    for svc in ["app", "cli"] {
        let view = env_view(&b, "site", svc);
        for key in [
            "AUTH_KEY",
            "SECURE_AUTH_KEY",
            "LOGGED_IN_KEY",
            "NONCE_KEY",
            "AUTH_SALT",
            "SECURE_AUTH_SALT",
            "LOGGED_IN_SALT",
            "NONCE_SALT",
        ] {
            let name = key.to_lowercase().replace('_', "-");
            let want = (svc == "app").then(|| format!("<secret:site/{name}>"));
            assert_eq!(
                view.get(&format!("WORDPRESS_{key}")),
                want.as_ref(),
                "{svc}"
            );
        }
        assert_eq!(
            view["WORDPRESS_DB_PASSWORD"], "<secret:site/db-password>",
            "{svc}"
        );
        assert_eq!(env(&c, svc, "WORDPRESS_DB_HOST"), Some("db"), "{svc}");
        assert_eq!(
            env(&c, svc, "WORDPRESS_CONFIG_EXTRA"),
            Some("define('WP_HOME', 'https://www.example.com'); define('WP_SITEURL', 'https://www.example.com');"),
            "{svc}"
        );
        assert_eq!(mount_of(app, svc, "html"), Some("/var/www/html"), "{svc}");
    }

    // Installation: a one-off job in the idle WP-CLI container, skipped once installed.
    let jobs = app.one_off_jobs();
    assert_eq!(jobs.len(), 1);
    assert_eq!((jobs[0].name(), jobs[0].service()), ("install", "cli"));
    let script = jobs[0].command().join(" ");
    assert!(
        script.starts_with("sh -c wp core is-installed || wp core install "),
        "{script}"
    );
    assert!(
        script.contains("--admin_password=\"$WP_ADMIN_PASSWORD\""),
        "{script}"
    );
    assert_eq!(
        env_view(&b, "site", "cli")["WP_ADMIN_PASSWORD"],
        "<secret:site/admin-password>"
    );
    assert_eq!(env(&c, "cli", "WP_ADMIN_EMAIL"), Some("me@example.com"));
    assert_eq!(env(&c, "cli", "WP_ADMIN_USER"), Some("admin"));
    assert_eq!(env(&c, "cli", "WP_URL"), Some("https://www.example.com"));
    assert_eq!(c["services"]["cli"]["user"].as_str(), Some("33:33"));
    assert_eq!(app.proxied_services().collect::<Vec<_>>(), ["app"]);
    assert!(text(
        &b,
        "instance/etc/systemd/system/nassella-once-site-install.service"
    )
    .contains("ConditionPathExists=!/srv/data/site/.nassella-once-install"));

    // Uploads: PHP's limits and the proxy's agree.
    assert_eq!(env(&c, "app", "PHP_UPLOAD_LIMIT"), Some("64M"));
    assert_eq!(app.routes()[0].body_limit(), Some(64 << 20));
    let start = strings(&c["services"]["app"]["command"]).join(" ");
    assert!(start.contains("/usr/local/etc/php/conf.d/nassella-uploads.ini && exec docker-entrypoint.sh apache2-foreground"), "{start}");

    assert_eq!(mount_of(app, "db", "db"), Some("/var/lib/mysql"));
    let (service, script) = hook_script(app);
    assert_eq!(service, "db");
    assert!(
        script.starts_with(
            "MYSQL_PWD=\"$MARIADB_ROOT_PASSWORD\" mariadb-dump --user=root --single-transaction "
        ),
        "{script}"
    );
    assert_atomic_dump(&script, "/dump/wordpress.sql");

    let entry = nassella_apps::find("wordpress").unwrap();
    let bad = from_entry(&entry, "site",
        json!({"host": host, "admin_email": "not an address", "admin_user": "", "title": " ", "max_upload_mb": 0}),
    )
    .unwrap();
    assert_eq!(
        setting_problems(bad),
        vec![
            "apps.site.admin_user",
            "apps.site.admin_email",
            "apps.site.title",
            "apps.site.max_upload_mb"
        ]
    );
    let err =
        from_entry(&entry, "site", json!({"host": host})).expect_err("admin_email is required");
    assert!(err.contains("admin_email"), "{err}");
}
