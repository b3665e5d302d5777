//! The wiring of Nextcloud (`nassella-apps/src/nextcloud.rs`), read back from what it renders.

use super::*;

#[test]
fn nextcloud_wiring() {
    assert_exact_round_trip::<Nextcloud>();
    let host = "cloud.example.com";
    let (_, b) = render_one(Nextcloud::new(host).id("cloud"));
    let c = compose_file(&b, "cloud");

    // Proxy trust and generated URLs.
    for svc in ["app", "cron"] {
        assert_eq!(env(&c, svc, "TRUSTED_PROXIES"), Some(SUBNET), "{svc}");
        assert_eq!(env(&c, svc, "OVERWRITEHOST"), Some(host), "{svc}");
        assert_eq!(env(&c, svc, "OVERWRITEPROTOCOL"), Some("https"), "{svc}");
        assert_eq!(
            env(&c, svc, "OVERWRITECLIURL"),
            Some("https://cloud.example.com"),
            "{svc}"
        );
        assert_eq!(env(&c, svc, "REDIS_HOST"), Some("redis"), "{svc}");
        assert_eq!(
            env_view(&b, "cloud", svc)["REDIS_HOST_PASSWORD"],
            "<secret:cloud/redis-password>"
        );
    }
    assert_eq!(env(&c, "app", "NEXTCLOUD_TRUSTED_DOMAINS"), Some(host));
    assert_eq!(env(&c, "app", "APACHE_DISABLE_REWRITE_IP"), Some("1"));
    assert_eq!(env(&c, "app", "NEXTCLOUD_ADMIN_USER"), Some("admin"));
    assert_eq!(env(&c, "app", "PHP_UPLOAD_LIMIT"), Some("10G"));
    assert_eq!(env(&c, "app", "APACHE_BODY_LIMIT"), Some("0"));
    assert_eq!(env(&c, "app", "POSTGRES_HOST"), Some("db"));
    let app_env = env_view(&b, "cloud", "app");
    assert_eq!(
        app_env["NEXTCLOUD_ADMIN_PASSWORD"],
        "<secret:cloud/admin-password>"
    );
    assert_eq!(app_env["POSTGRES_PASSWORD"], "<secret:cloud/db-password>");
    assert_eq!(
        env_view(&b, "cloud", "db")["POSTGRES_PASSWORD"],
        "<secret:cloud/db-password>"
    );

    // Cron: same image, same volume, /cron.sh.
    let (app, cron) = (&c["services"]["app"], &c["services"]["cron"]);
    assert_eq!(cron["image"], app["image"]);
    assert_eq!(strings(&cron["entrypoint"]), vec!["/cron.sh"]);
    assert_eq!(cron["volumes"], app["volumes"]);
    assert_eq!(app["volumes"][0]["target"].as_str(), Some("/var/www/html"));
    assert!(
        cron["networks"].get("proxy").is_none(),
        "cron is not proxied"
    );

    // Database and cache: internal network, health checks, the app waits for both.
    assert_eq!(c["networks"]["db"]["internal"].as_bool(), Some(true));
    for svc in ["db", "redis"] {
        assert!(
            c["services"][svc]["networks"].get("db").is_some(),
            "{svc} on the db network"
        );
        assert!(
            c["services"][svc]["networks"].get("proxy").is_none(),
            "{svc} is not proxied"
        );
        assert_eq!(
            c["services"]["app"]["depends_on"][svc]["condition"].as_str(),
            Some("service_healthy")
        );
    }
    assert_eq!(
        strings(&c["services"]["db"]["healthcheck"]["test"])[1],
        "pg_isready"
    );
    let db_targets: Vec<&str> = c["services"]["db"]["volumes"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter_map(|m| m["target"].as_str())
        .collect();
    assert_eq!(db_targets, vec!["/var/lib/postgresql", "/dump"]);
    // The Redis password reaches redis-server through the env file, not the command line.
    let redis_cmd = strings(&c["services"]["redis"]["command"]).join(" ");
    assert!(
        redis_cmd.contains("--requirepass \"$$REDIS_PASSWORD\""),
        "{redis_cmd}"
    );

    // Proxy: DAV redirects, body limit, one upstream.
    let site = site_block(text(&b, CADDYFILE), host);
    assert!(
        site.contains("redir /.well-known/carddav /remote.php/dav 301"),
        "{site}"
    );
    assert!(
        site.contains("redir /.well-known/caldav /remote.php/dav 301"),
        "{site}"
    );
    assert!(
        site.contains(&format!("max_size {}", 10u64 << 30)),
        "{site}"
    );
    assert!(site.contains("reverse_proxy cloud-app:80"), "{site}");

    // Backups: a pg_dump into the backed-up db-dump volume, then the stop.
    let backup = text(&b, BACKUP_SH);
    assert!(
        backup
            .contains(" db sh -c 'pg_dump --username=nextcloud --dbname=nextcloud --format=custom"),
        "{backup}"
    );
    assert!(
        !text(&b, EXCLUDES).contains("/data/cloud/"),
        "no Nextcloud volume is excluded"
    );

    assert_secrets_hidden(
        &b,
        "cloud",
        &[
            ("db-password", SecretFormat::Alphanumeric(32)),
            ("redis-password", SecretFormat::Alphanumeric(32)),
            ("admin-password", SecretFormat::Alphanumeric(24)),
        ],
    );
}

#[test]
fn nextcloud_settings() {
    let entry = nassella_apps::find("nextcloud").unwrap();
    let app = from_entry(
        &entry,
        "cloud",
        json!({"host": "cloud.example.com", "max_upload_gb": 2, "admin_user": "root.admin"}),
    )
    .unwrap();
    let (_, b) = render_one(app);
    let c = compose_file(&b, "cloud");
    assert_eq!(env(&c, "app", "PHP_UPLOAD_LIMIT"), Some("2G"));
    assert_eq!(env(&c, "app", "NEXTCLOUD_ADMIN_USER"), Some("root.admin"));
    assert!(site_block(text(&b, CADDYFILE), "cloud.example.com").contains("max_size 2147483648"));

    // Bad settings are read, then reported by the composer at their path (App::check).
    for (bad, path) in [
        (
            json!({"host": "c.example.com", "max_upload_gb": 0}),
            "apps.cloud.max_upload_gb",
        ),
        (
            json!({"host": "c.example.com", "admin_user": "a b"}),
            "apps.cloud.admin_user",
        ),
        (
            json!({"host": "c.example.com", "admin_user": ""}),
            "apps.cloud.admin_user",
        ),
    ] {
        let app = from_entry(&entry, "cloud", bad.clone()).expect("read");
        assert_eq!(setting_problems(app), vec![path.to_owned()], "{bad}");
    }

    // A plain-HTTP trial instance: Nextcloud must not claim https.
    let (_, b) = render_on(
        instance().tls(Tls::HttpOnly),
        Named::from(Nextcloud::new("cloud.example.com")),
    );
    let c = compose_file(&b, "nextcloud");
    assert_eq!(env(&c, "app", "OVERWRITEPROTOCOL"), Some("http"));
    assert_eq!(
        env(&c, "app", "OVERWRITECLIURL"),
        Some("http://cloud.example.com")
    );
}

#[test]
fn nextcloud_builder_settings_are_checked_not_panicked_on() {
    let app = Nextcloud::new("cloud.example.com")
        .max_upload_gb(0)
        .admin_user("");
    assert_eq!(
        setting_problems(app),
        vec!["apps.nextcloud.max_upload_gb", "apps.nextcloud.admin_user"]
    );
}
