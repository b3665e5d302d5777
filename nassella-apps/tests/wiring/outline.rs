//! The wiring of Outline (`nassella-apps/src/outline.rs`), read back from what it renders.

use super::*;

fn outline_oidc() -> OutlineOidc {
    OutlineOidc::new(
        "wiki",
        "https://auth.example.com/authorize",
        "https://auth.example.com/token",
        "https://auth.example.com/userinfo",
    )
    .logout_uri("https://auth.example.com/logout")
}

#[test]
fn outline_wiring() {
    assert_exact_round_trip::<Outline>();
    let host = "wiki.example.com";
    let (_, b) = render_one(Outline::new(host).oidc(outline_oidc()).id("wiki"));
    let c = compose_file(&b, "wiki");

    assert_eq!(env(&c, "app", "URL"), Some("https://wiki.example.com"));
    assert_eq!(env(&c, "app", "FORCE_HTTPS"), Some("false"));
    assert_eq!(env(&c, "app", "PGSSLMODE"), Some("disable"));
    assert_eq!(env(&c, "app", "FILE_STORAGE"), Some("local"));
    assert_eq!(
        env(&c, "app", "FILE_STORAGE_UPLOAD_MAX_SIZE"),
        Some("262144000")
    );
    assert_eq!(
        env(&c, "app", "OIDC_AUTH_URI"),
        Some("https://auth.example.com/authorize")
    );
    assert_eq!(
        env(&c, "app", "OIDC_LOGOUT_URI"),
        Some("https://auth.example.com/logout")
    );
    let view = env_view(&b, "wiki", "app");
    assert_eq!(view["SECRET_KEY"], "<secret:wiki/secret-key>");
    assert_eq!(view["UTILS_SECRET"], "<secret:wiki/utils-secret>");
    assert_eq!(
        view["OIDC_CLIENT_SECRET"],
        "<secret:wiki/oidc-client-secret>"
    );
    assert_eq!(
        view["REDIS_URL"],
        "redis://:<secret:wiki/redis-password>@redis:6379"
    );
    assert_eq!(
        view["DATABASE_URL"],
        "postgres://outline:<secret:wiki/db-password>@db:5432/outline"
    );
    // SECRET_KEY: 32 bytes as hex, what `openssl rand -hex 32` prints.
    let key = MasterKey::insecure_test_key().derive("wiki", "secret-key", SecretFormat::Hex(32));
    assert!(
        key.len() == 64 && key.bytes().all(|b| b.is_ascii_hexdigit()),
        "{key}"
    );

    // Root only to give the attachment folder to uid 1001, then the normal command as 1001.
    assert_eq!(c["services"]["app"]["user"].as_str(), Some("0:0"));
    let start = shell(&c, "app", "command");
    assert!(
        start.contains(
            "[ \"$(stat -c %u /var/lib/outline/data)\" = 1001 ] || chown -R 1001:1001 /var/lib/outline/data"
        ),
        "{start}"
    );
    assert!(
        start.ends_with(
            "exec setpriv --reuid=1001 --regid=1001 --clear-groups node build/server/index.js\n"
        ),
        "starts the way the image's own CMD does (the image has no yarn): {start}"
    );
    assert!(!start.contains("yarn"), "{start}");
    assert_eq!(mounts(&c, "app"), ["/var/lib/outline/data"]);
    assert_eq!(networks(&c, "app"), ["db", "outbound", "proxy"]);
    assert_eq!(c["networks"]["outbound"]["internal"].as_bool(), None);
    assert_eq!(mounts(&c, "db"), ["/var/lib/postgresql/data", "/dump"]);
    assert_eq!(mounts(&c, "redis"), ["/data"]);
    assert!(
        excluded_paths(&b).contains(&"/data/wiki/redis"),
        "the Redis cache is excluded"
    );

    let site = site_block(text(&b, CADDYFILE), host);
    assert!(site.contains(&format!("max_size {}", 251 * MIB)), "{site}");
    assert!(site.contains("reverse_proxy wiki-app:3000"), "{site}");
    assert!(hooks(&b, "wiki")[0].contains("pg_dump --username=outline"));
    assert_secrets_hidden(
        &b,
        "wiki",
        &[
            ("secret-key", SecretFormat::Hex(32)),
            ("utils-secret", SecretFormat::Hex(32)),
            ("oidc-client-secret", SecretFormat::Alphanumeric(48)),
            ("db-password", SecretFormat::Alphanumeric(32)),
            ("redis-password", SecretFormat::Alphanumeric(32)),
        ],
    );

    // Without OIDC: no sign-in variables, no client secret.
    let (_, b) = render_one(Outline::new(host).id("wiki"));
    assert!(!env_view(&b, "wiki", "app").contains_key("OIDC_CLIENT_SECRET"));
    assert_eq!(env(&compose_file(&b, "wiki"), "app", "OIDC_AUTH_URI"), None);

    // Bad settings are reported at their paths.
    let bad = from_json(
        "outline",
        "wiki",
        json!({"host": host, "max_upload_mb": 0, "oidc": {
            "client_id": " ", "auth_uri": "auth.example.com/authorize",
            "token_uri": "https://auth.example.com/token", "userinfo_uri": "https://auth.example.com/userinfo"
        }}),
    );
    assert_eq!(
        setting_problems(bad),
        [
            "apps.wiki.max_upload_mb",
            "apps.wiki.oidc.client_id",
            "apps.wiki.oidc.auth_uri"
        ]
    );
}
