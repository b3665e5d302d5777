//! The wiring of Paperless-ngx (`nassella-apps/src/paperless.rs`), read back from what it renders.

use super::*;

#[test]
fn paperless_wiring() {
    use nassella_apps::Paperless;
    assert_exact_round_trip::<Paperless>();
    let host = "docs.example.com";
    let (v, b) = render_one(Paperless::new(host).id("docs"));
    let app = &v.apps()[0];
    let c = compose_file(&b, "docs");

    assert_eq!(
        env(&c, "webserver", "PAPERLESS_URL"),
        Some("https://docs.example.com")
    );
    assert_eq!(
        env(&c, "webserver", "PAPERLESS_PROXY_SSL_HEADER"),
        Some(r#"["HTTP_X_FORWARDED_PROTO", "https"]"#)
    );
    assert_eq!(
        env(&c, "webserver", "PAPERLESS_REDIS"),
        Some("redis://broker:6379")
    );
    assert_eq!(env(&c, "webserver", "PAPERLESS_DBHOST"), Some("db"));
    assert_eq!(env(&c, "webserver", "PAPERLESS_ADMIN_USER"), Some("admin"));
    assert_eq!(env(&c, "webserver", "PAPERLESS_OCR_LANGUAGE"), Some("eng"));
    assert_eq!(
        env(&c, "webserver", "PAPERLESS_OCR_LANGUAGES"),
        None,
        "eng is in the image"
    );
    let view = env_view(&b, "docs", "webserver");
    assert_eq!(view["PAPERLESS_SECRET_KEY"], "<secret:docs/secret-key>");
    assert_eq!(view["PAPERLESS_DBPASS"], "<secret:docs/db-password>");
    assert_eq!(
        view["PAPERLESS_ADMIN_PASSWORD"],
        "<secret:docs/admin-password>"
    );
    // The secret key: 64 random bytes, spelled like Python's secrets.token_urlsafe(64).
    let key =
        MasterKey::insecure_test_key().derive("docs", "secret-key", SecretFormat::Base64Url(64));
    assert_eq!(key.len(), 86);
    assert!(
        key.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "{key}"
    );

    assert_eq!(
        mount_of(app, "webserver", "data"),
        Some("/usr/src/paperless/data")
    );
    assert_eq!(
        mount_of(app, "webserver", "media"),
        Some("/usr/src/paperless/media")
    );
    assert_eq!(mount_of(app, "db", "db"), Some("/var/lib/postgresql"));
    assert!(volume_excluded(app, "broker") && !volume_excluded(app, "media"));
    assert_eq!(app.proxied_services().collect::<Vec<_>>(), ["webserver"]);
    assert!(app.service("tika").is_none() && app.service("gotenberg").is_none());

    let (service, script) = hook_script(app);
    assert_eq!(service, "db");
    assert!(
        script.starts_with("pg_dump --username=paperless --dbname=paperless --format=custom "),
        "{script}"
    );
    assert_atomic_dump(&script, "/dump/paperless.pgdump");

    // Office documents: Gotenberg and Tika on the internal network; extra OCR languages.
    let entry = nassella_apps::find("paperless").unwrap();
    let office = from_entry(
        &entry,
        "docs",
        json!({"host": host, "office_documents": true, "ocr_language": "deu+chi_sim+eng"}),
    )
    .unwrap();
    let (v, b) = render_one(office);
    let app = &v.apps()[0];
    let c = compose_file(&b, "docs");
    for svc in ["tika", "gotenberg"] {
        assert_eq!(
            app.service(svc).unwrap().networks().collect::<Vec<_>>(),
            ["backend"],
            "{svc}"
        );
    }
    assert_eq!(env(&c, "webserver", "PAPERLESS_TIKA_ENABLED"), Some("1"));
    assert_eq!(
        env(&c, "webserver", "PAPERLESS_TIKA_ENDPOINT"),
        Some("http://tika:9998")
    );
    assert_eq!(
        env(&c, "webserver", "PAPERLESS_TIKA_GOTENBERG_ENDPOINT"),
        Some("http://gotenberg:3000")
    );
    assert_eq!(
        env(&c, "webserver", "PAPERLESS_OCR_LANGUAGE"),
        Some("deu+chi_sim+eng")
    );
    assert_eq!(
        env(&c, "webserver", "PAPERLESS_OCR_LANGUAGES"),
        Some("chi-sim")
    );
    assert!(app
        .service("tika")
        .unwrap()
        .image()
        .starts_with("docker.io/apache/tika:3."));

    let bad = from_entry(
        &entry,
        "docs",
        json!({"host": host, "admin_user": "a b", "ocr_language": "English"}),
    )
    .unwrap();
    assert_eq!(
        setting_problems(bad),
        vec!["apps.docs.admin_user", "apps.docs.ocr_language"]
    );
}
