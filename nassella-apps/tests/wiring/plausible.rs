//! The wiring of Plausible CE (`nassella-apps/src/plausible.rs`), read back from what it renders.

use super::*;

#[test]
fn plausible_wiring() {
    assert_exact_round_trip::<Plausible>();
    let host = "stats.example.com";
    let (_, b) = render_one(Plausible::new(host).id("stats"));
    let c = compose_file(&b, "stats");

    // Migrations at every start, then the server.
    let start = strings(&c["services"]["app"]["command"]).join(" ");
    assert!(
        start.contains(
            "/entrypoint.sh db createdb && /entrypoint.sh db migrate && exec /entrypoint.sh run"
        ),
        "{start}"
    );
    assert_eq!(
        env(&c, "app", "BASE_URL"),
        Some("https://stats.example.com")
    );
    assert_eq!(env(&c, "app", "DISABLE_REGISTRATION"), Some("invite_only"));
    assert_eq!(
        env(&c, "app", "CLICKHOUSE_DATABASE_URL"),
        Some("http://events:8123/plausible_events_db")
    );
    let view = env_view(&b, "stats", "app");
    assert_eq!(view["SECRET_KEY_BASE"], "<secret:stats/secret-key-base>");
    assert_eq!(view["TOTP_VAULT_KEY"], "<secret:stats/totp-vault-key>");
    assert_eq!(
        view["DATABASE_URL"],
        "postgres://plausible:<secret:stats/db-password>@db:5432/plausible"
    );

    // SECRET_KEY_BASE: at least 64 bytes (Plausible refuses shorter); TOTP_VAULT_KEY: base64 of
    // exactly 32 bytes (Plausible decodes it and refuses any other length).
    let master = MasterKey::insecure_test_key();
    let skb = master.derive("stats", "secret-key-base", SecretFormat::Base64(64));
    assert!(skb.len() >= 64, "{skb}");
    let totp = master.derive("stats", "totp-vault-key", SecretFormat::Base64(32));
    assert_eq!(totp.len(), 44, "{totp}");
    assert!(totp.ends_with('=') && !totp.ends_with("=="), "{totp}");

    // ClickHouse: configuration written before the image's own entrypoint, data persisted.
    let events = shell(&c, "events", "entrypoint");
    assert!(
        events.contains("cat > /etc/clickhouse-server/config.d/nassella.xml <<'XML'"),
        "{events}"
    );
    assert!(
        events.contains("<listen_host>0.0.0.0</listen_host>"),
        "{events}"
    );
    assert!(
        events.trim_end().ends_with("exec /entrypoint.sh"),
        "{events}"
    );
    assert_eq!(env(&c, "events", "CLICKHOUSE_SKIP_USER_SETUP"), Some("1"));
    assert_eq!(mounts(&c, "events"), ["/var/lib/clickhouse"]);
    // Postgres 16: the volume at …/data.
    assert_eq!(
        mounts(&c, "db"),
        ["/var/lib/postgresql/data", "/dump"],
        "Postgres ≤ 17 mount"
    );
    assert!(
        c["services"]["app"]["volumes"].is_null(),
        "app keeps no data"
    );
    assert_eq!(c["networks"]["db"]["internal"].as_bool(), Some(true));
    for svc in ["db", "events"] {
        assert_eq!(
            networks(&c, svc),
            ["db"],
            "{svc} only on the internal network"
        );
        assert_eq!(
            c["services"]["app"]["depends_on"][svc]["condition"].as_str(),
            Some("service_healthy")
        );
    }
    assert!(site_block(text(&b, CADDYFILE), host).contains("reverse_proxy stats-app:8000"));

    let hooks = hooks(&b, "stats");
    assert_eq!(hooks.len(), 1, "{hooks:?}");
    assert!(
        hooks[0].contains("exec stats db sh -c 'pg_dump --username=plausible --dbname=plausible --format=custom --file=/dump/plausible.pgdump.tmp && mv /dump/plausible.pgdump.tmp /dump/plausible.pgdump'"),
        "{}",
        hooks[0]
    );
    assert!(!excluded_paths(&b)
        .iter()
        .any(|l| l.starts_with("/data/stats")));
    assert_secrets_hidden(
        &b,
        "stats",
        &[
            ("secret-key-base", SecretFormat::Base64(64)),
            ("totp-vault-key", SecretFormat::Base64(32)),
            ("db-password", SecretFormat::Alphanumeric(32)),
        ],
    );

    let open = from_json(
        "plausible",
        "stats",
        json!({"host": host, "signups_allowed": true}),
    );
    let (_, b) = render_one(open);
    assert_eq!(
        env(&compose_file(&b, "stats"), "app", "DISABLE_REGISTRATION"),
        Some("false")
    );
}
