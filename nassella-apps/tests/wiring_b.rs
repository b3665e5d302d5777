//! The specific wiring of the second batch of catalog apps (Plausible, Outline, Synapse, Mastodon,
//! Navidrome, Gitea, Audiobookshelf, Linkding, Actual), read back from the rendered compose files,
//! env-file views, Caddyfile, scripts and units. The catalog-wide rules are in `invariants.rs`.

mod common;

use common::*;

use nassella_apps::outline::OutlineOidc;
use nassella_apps::{
    Actual, Audiobookshelf, CatalogApp, Gitea, Linkding, Mastodon, Navidrome, Outline, Plausible,
    Synapse,
};
use nassella_core::{Bundle, MasterKey, Provider, SecretFormat};
use serde_json::{json, Value as Json};
use serde_yaml_ng::Value as Yaml;

const MIB: u64 = 1 << 20;

// ------------------------------------------------------------------ helpers

/// The JSON a site answers on `path` (a `respond` inside `handle <path>`).
fn respond_json(site: &str, path: &str) -> Json {
    let handle = site
        .find(&format!("handle {path} {{"))
        .unwrap_or_else(|| panic!("no handler for {path}:\n{site}"));
    let rest = &site[handle..];
    let respond = rest.find("respond `").expect("a respond directive") + "respond `".len();
    let end = rest[respond..].find('`').expect("closing backquote");
    let block = &rest[..respond + end];
    assert!(
        block.contains("header Content-Type application/json")
            && block.contains("header Access-Control-Allow-Origin *"),
        "{path} needs JSON with CORS *:\n{block}"
    );
    serde_json::from_str(&rest[respond..respond + end]).expect("the body is JSON")
}

fn excluded(b: &Bundle) -> Vec<&str> {
    text(b, EXCLUDES).lines().collect()
}

// ------------------------------------------------------------------ Plausible

#[test]
fn plausible_wiring() {
    assert_exact_round_trip::<Plausible>();
    let host = "stats.example.com";
    let (_, b) = render_one(Named::from(Plausible::new(host).id("stats")));
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
    assert!(!excluded(&b).iter().any(|l| l.starts_with("/data/stats")));
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

// ------------------------------------------------------------------ Outline

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
    let (_, b) = render_one(Named::from(
        Outline::new(host).oidc(outline_oidc()).id("wiki"),
    ));
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
        excluded(&b).contains(&"/data/wiki/redis"),
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
    let (_, b) = render_one(Named::from(Outline::new(host).id("wiki")));
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

// ------------------------------------------------------------------ Synapse

/// The `homeserver.yaml` the wrapper writes, parsed (it is JSON).
fn synapse_config(c: &Yaml) -> Json {
    let start = shell(c, "app", "entrypoint");
    let from = start.find("<<EOF\n").expect("a heredoc") + "<<EOF\n".len();
    let to = start[from..].find("\nEOF\n").expect("its end") + from;
    serde_json::from_str(&start[from..to]).expect("the configuration is JSON")
}

#[test]
fn synapse_wiring() {
    assert_exact_round_trip::<Synapse>();
    let (_, b) = render_one(Named::from(
        Synapse::new("matrix.example.com")
            .server_name("example.com")
            .id("chat"),
    ));
    let c = compose_file(&b, "chat");
    let caddy = text(&b, CADDYFILE);

    // Delegation on the apex host: JSON, CORS *, and nothing proxied there.
    let apex = site_block(caddy, "example.com");
    assert_eq!(
        respond_json(&apex, "/.well-known/matrix/server"),
        json!({"m.server": "matrix.example.com:443"})
    );
    assert_eq!(
        respond_json(&apex, "/.well-known/matrix/client"),
        json!({"m.homeserver": {"base_url": "https://matrix.example.com"}})
    );
    assert!(!apex.contains("reverse_proxy"), "{apex}");
    let matrix = site_block(caddy, "matrix.example.com");
    assert!(matrix.contains("reverse_proxy chat-app:8008"), "{matrix}");
    assert!(
        matrix.contains(&format!("max_size {}", 51 * MIB)),
        "{matrix}"
    );

    // The configuration written at every start.
    let config = synapse_config(&c);
    assert_eq!(config["server_name"], "example.com");
    assert_eq!(config["public_baseurl"], "https://matrix.example.com/");
    assert_eq!(config["listeners"][0]["port"], 8008);
    assert_eq!(config["listeners"][0]["x_forwarded"], true);
    assert_eq!(
        config["listeners"][0]["resources"][0]["names"],
        json!(["client", "federation"])
    );
    assert_eq!(config["database"]["name"], "psycopg2");
    assert_eq!(config["database"]["args"]["host"], "db");
    assert_eq!(
        config["database"]["args"]["password"],
        "${SYNAPSE_DB_PASSWORD}"
    );
    assert_eq!(
        config["registration_shared_secret"],
        "${SYNAPSE_REGISTRATION_SHARED_SECRET}"
    );
    assert_eq!(
        config["macaroon_secret_key"],
        "${SYNAPSE_MACAROON_SECRET_KEY}"
    );
    assert_eq!(config["form_secret"], "${SYNAPSE_FORM_SECRET}");
    assert_eq!(config["registration_requires_token"], true);
    assert_eq!(config["max_upload_size"], "50M");
    assert_eq!(config["signing_key_path"], "/data/signing.key");
    assert_eq!(config["media_store_path"], "/data/media_store");
    let view = env_view(&b, "chat", "app");
    for (var, name) in [
        ("SYNAPSE_DB_PASSWORD", "db-password"),
        (
            "SYNAPSE_REGISTRATION_SHARED_SECRET",
            "registration-shared-secret",
        ),
        ("SYNAPSE_MACAROON_SECRET_KEY", "macaroon-secret-key"),
        ("SYNAPSE_FORM_SECRET", "form-secret"),
        ("SYNAPSE_ADMIN_PASSWORD", "admin-password"),
    ] {
        assert_eq!(view[var], format!("<secret:chat/{name}>"));
    }

    // The signing key: made once by Synapse itself, as uid 991, into the backed-up volume.
    let start = shell(&c, "app", "entrypoint");
    assert!(
        start.contains("[ -s /data/signing.key ] || gosu 991:991 python -m synapse.app.homeserver --config-path /etc/synapse/homeserver.yaml --generate-keys"),
        "{start}"
    );
    let (written, keyed, started) = (
        start
            .find("cat > /etc/synapse/homeserver.yaml")
            .expect("written"),
        start.find("--generate-keys").expect("keyed"),
        start.find("exec /start.py").expect("started"),
    );
    assert!(written < keyed && keyed < started, "{start}");
    assert_eq!(
        env(&c, "app", "SYNAPSE_CONFIG_PATH"),
        Some("/etc/synapse/homeserver.yaml")
    );
    assert_eq!(mounts(&c, "app"), ["/data"]);
    assert_eq!(networks(&c, "app"), ["db", "outbound", "proxy"]);
    assert_eq!(
        env(&c, "db", "POSTGRES_INITDB_ARGS"),
        Some("--encoding=UTF-8 --lc-collate=C --lc-ctype=C")
    );
    assert_eq!(mounts(&c, "db"), ["/var/lib/postgresql/data", "/dump"]);

    // The administrator: once per data volume, harmless to repeat.
    let once = unit(&b, "nassella-once-chat-register-admin.service");
    assert!(once.contains("ConditionPathExists=!/srv/data/chat/.nassella-once-register-admin"));
    assert!(
        once.contains("exec chat app sh -c \"register_new_matrix_user -c /etc/synapse/homeserver.yaml -u \\\"$$SYNAPSE_ADMIN_USER\\\" -p \\\"$$SYNAPSE_ADMIN_PASSWORD\\\" --admin --exists-ok http://localhost:8008\""),
        "{once}"
    );
    assert_eq!(env(&c, "app", "SYNAPSE_ADMIN_USER"), Some("admin"));

    let hooks = hooks(&b, "chat");
    assert!(
        hooks[0].contains("--format=custom --exclude-table-data=e2e_one_time_keys_json --file=/dump/synapse.pgdump.tmp && mv /dump/synapse.pgdump.tmp /dump/synapse.pgdump"),
        "{hooks:?}"
    );
    assert_secrets_hidden(
        &b,
        "chat",
        &[
            ("db-password", SecretFormat::Alphanumeric(32)),
            ("registration-shared-secret", SecretFormat::Alphanumeric(48)),
            ("macaroon-secret-key", SecretFormat::Alphanumeric(48)),
            ("form-secret", SecretFormat::Alphanumeric(48)),
            ("admin-password", SecretFormat::Alphanumeric(24)),
        ],
    );
}

#[test]
fn synapse_server_name_defaults_to_the_host() {
    let (v, b) = render_one(from_json(
        "synapse",
        "synapse",
        json!({"host": "matrix.example.com", "max_upload_mb": 100}),
    ));
    let hosts: Vec<&str> = v.apps()[0].hosts().collect();
    assert_eq!(hosts, ["matrix.example.com"]);
    let site = site_block(text(&b, CADDYFILE), "matrix.example.com");
    assert_eq!(
        respond_json(&site, "/.well-known/matrix/server"),
        json!({"m.server": "matrix.example.com:443"})
    );
    assert!(site.contains("reverse_proxy synapse-app:8008"), "{site}");
    assert!(site.contains(&format!("max_size {}", 101 * MIB)), "{site}");
    let config = synapse_config(&compose_file(&b, "synapse"));
    assert_eq!(config["server_name"], "matrix.example.com");
    assert_eq!(config["max_upload_size"], "100M");

    let bad = from_json(
        "synapse",
        "synapse",
        json!({"host": "matrix.example.com", "server_name": "Example.com", "admin_user": "Admin", "max_upload_mb": 0}),
    );
    let problems = setting_problems(bad);
    assert_eq!(
        problems,
        [
            "apps.synapse.server_name",
            "apps.synapse.admin_user",
            "apps.synapse.max_upload_mb"
        ]
    );
}

// ------------------------------------------------------------------ Mastodon

#[test]
fn mastodon_wiring() {
    assert_exact_round_trip::<Mastodon>();
    let host = "social.example.com";
    let (_, b) = render_one(Named::from(Mastodon::new(host).id("social")));
    let c = compose_file(&b, "social");

    // Two upstreams on one host: the streaming path before the catch-all.
    let site = site_block(text(&b, CADDYFILE), host);
    let streaming = site
        .find("handle /api/v1/streaming* {\n\t\treverse_proxy social-streaming:4000")
        .unwrap_or_else(|| panic!("no streaming route:\n{site}"));
    let web = site
        .find("handle {\n\t\treverse_proxy social-web:3000")
        .unwrap_or_else(|| panic!("no web route:\n{site}"));
    assert!(streaming < web, "{site}");
    assert!(site.contains(&format!("max_size {}", 100 * MIB)), "{site}");
    assert_eq!(networks(&c, "web"), ["db", "outbound", "proxy"]);
    assert_eq!(networks(&c, "streaming"), ["db", "proxy"]);
    assert_eq!(networks(&c, "sidekiq"), ["db", "outbound"]);
    for svc in ["db", "redis"] {
        assert_eq!(networks(&c, svc), ["db"], "{svc}");
    }

    // Client addresses trusted only from the proxy, in all three.
    for svc in ["web", "sidekiq", "streaming"] {
        assert_eq!(env(&c, svc, "TRUSTED_PROXY_IP"), Some(SUBNET), "{svc}");
        assert_eq!(env(&c, svc, "LOCAL_DOMAIN"), Some(host), "{svc}");
        assert_eq!(
            env_view(&b, "social", svc)["DB_PASS"],
            "<secret:social/db-password>"
        );
    }
    assert_eq!(env(&c, "streaming", "PORT"), Some("4000"));
    assert_eq!(
        strings(&c["services"]["streaming"]["command"]),
        ["node", "./streaming/index.js"]
    );
    let view = env_view(&b, "social", "web");
    for (var, name) in [
        ("SECRET_KEY_BASE", "secret-key-base"),
        ("OTP_SECRET", "otp-secret"),
        ("ACTIVE_RECORD_ENCRYPTION_PRIMARY_KEY", "ar-primary-key"),
        (
            "ACTIVE_RECORD_ENCRYPTION_DETERMINISTIC_KEY",
            "ar-deterministic-key",
        ),
        (
            "ACTIVE_RECORD_ENCRYPTION_KEY_DERIVATION_SALT",
            "ar-key-derivation-salt",
        ),
    ] {
        assert_eq!(view[var], format!("<secret:social/{name}>"));
        assert_eq!(env_view(&b, "social", "sidekiq")[var], view[var]);
    }
    // `rails secret` prints 128 hex characters.
    let skb =
        MasterKey::insecure_test_key().derive("social", "secret-key-base", SecretFormat::Hex(64));
    assert_eq!(skb.len(), 128);

    // VAPID: made by Mastodon on the first start, kept in the keys volume (not the public media
    // folder), read at every start by web and sidekiq; never in Nassella's output.
    assert!(!view.contains_key("VAPID_PRIVATE_KEY"));
    let web_start = shell(&c, "web", "command");
    assert!(
        web_start.contains("if [ ! -s /var/lib/nassella-keys/vapid.env ]; then"),
        "{web_start}"
    );
    assert!(
        web_start.contains("bundle exec rails mastodon:webpush:generate_vapid_key | grep -E '^VAPID_(PRIVATE|PUBLIC)_KEY=.' > /var/lib/nassella-keys/vapid.env.tmp"),
        "{web_start}"
    );
    assert!(
        web_start
            .contains("mv /var/lib/nassella-keys/vapid.env.tmp /var/lib/nassella-keys/vapid.env"),
        "{web_start}"
    );
    // Each volume mounted under the media folder gets its own ownership check: the cache is
    // excluded from backups, so after a restore it is a fresh root-owned folder inside a parent
    // 991 already owns.
    let media_mounts: Vec<String> = mounts(&c, "web")
        .into_iter()
        .filter(|m| m.starts_with("/opt/mastodon/public/system"))
        .collect();
    assert_eq!(media_mounts.len(), 2, "{media_mounts:?}");
    for m in &media_mounts {
        assert!(
            web_start.contains(&format!(
                "[ \"$(stat -c %u {m})\" = 991 ] || chown -R 991:991 {m}\n"
            )),
            "{m} is handed to 991 on its own: {web_start}"
        );
    }
    // Then the keys into the environment, the migrations, and Puma, in that order, as 991.
    let order = [
        "chown -R 991:991 /opt/mastodon/public/system",
        ". /var/lib/nassella-keys/vapid.env",
        "setpriv --reuid=991 --regid=991 --clear-groups bundle exec rails db:prepare",
        "exec setpriv --reuid=991 --regid=991 --clear-groups bundle exec puma -C config/puma.rb",
    ];
    let at: Vec<usize> = order
        .iter()
        .map(|s| {
            web_start
                .find(s)
                .unwrap_or_else(|| panic!("{s} in {web_start}"))
        })
        .collect();
    assert!(at.windows(2).all(|w| w[0] < w[1]), "{web_start}");
    let sidekiq_start = shell(&c, "sidekiq", "command");
    assert!(sidekiq_start.contains(". /var/lib/nassella-keys/vapid.env"));
    assert!(
        !sidekiq_start.contains("generate_vapid_key"),
        "only web generates"
    );
    assert!(sidekiq_start
        .contains("exec setpriv --reuid=991 --regid=991 --clear-groups bundle exec sidekiq"));
    assert_eq!(
        c["services"]["sidekiq"]["depends_on"]["web"]["condition"].as_str(),
        Some("service_healthy"),
        "sidekiq waits for the keys and the schema"
    );

    // Media: web and sidekiq share it; the remote cache is a separate, excluded volume.
    let media = [
        "/opt/mastodon/public/system",
        "/opt/mastodon/public/system/cache",
    ];
    assert_eq!(
        mounts(&c, "web"),
        [media[0], media[1], "/var/lib/nassella-keys"]
    );
    assert_eq!(
        mounts(&c, "sidekiq"),
        [media[0], media[1], "/var/lib/nassella-keys:ro"]
    );
    assert!(excluded(&b).contains(&"/data/social/cache"));
    for kept in ["system", "keys", "db", "db-dump", "redis"] {
        assert!(
            !excluded(&b).contains(&format!("/data/social/{kept}").as_str()),
            "{kept} is backed up"
        );
    }
    assert_eq!(mounts(&c, "db"), ["/var/lib/postgresql/data", "/dump"]);
    assert_eq!(c["services"]["db"]["shm_size"].as_str(), Some("256mb"));

    // The owner: once per data volume, after the app is up.
    let once = unit(&b, "nassella-once-social-create-owner.service");
    assert!(once.contains("exec social web sh -c"), "{once}");
    assert!(
        once.contains("tootctl accounts create \\\"$$MASTODON_OWNER\\\" --email \\\"$$MASTODON_OWNER_EMAIL\\\" --confirmed --approve --role Owner"),
        "{once}"
    );
    assert!(once.contains("change_password!"), "{once}");
    let exec_start = once
        .lines()
        .find(|l| l.starts_with("ExecStart="))
        .expect("ExecStart");
    assert!(exec_start.ends_with('"'), "one line: {exec_start}");
    assert_eq!(env(&c, "web", "MASTODON_OWNER"), Some("owner"));
    assert_eq!(
        env(&c, "web", "MASTODON_OWNER_EMAIL"),
        Some("owner@social.example.com")
    );
    assert_eq!(
        view["MASTODON_OWNER_PASSWORD"],
        "<secret:social/owner-password>"
    );

    // Remote media older than a week is removed daily.
    let job = unit(&b, "nassella-job-social-media-remove.service");
    assert!(
        job.contains("exec social sidekiq sh -c \"set -a && . /var/lib/nassella-keys/vapid.env && set +a && exec setpriv --reuid=991 --regid=991 --clear-groups tootctl media remove --days 7\""),
        "{job}"
    );
    assert!(
        unit(&b, "nassella-job-social-media-remove.timer").contains("OnCalendar=*-*-* 04:30:00")
    );

    assert!(hooks(&b, "social")[0].contains("pg_dump --username=mastodon --dbname=mastodon"));
    assert_secrets_hidden(
        &b,
        "social",
        &[
            ("secret-key-base", SecretFormat::Hex(64)),
            ("otp-secret", SecretFormat::Hex(64)),
            ("ar-primary-key", SecretFormat::Alphanumeric(32)),
            ("owner-password", SecretFormat::Alphanumeric(24)),
            ("db-password", SecretFormat::Alphanumeric(32)),
            ("redis-password", SecretFormat::Alphanumeric(32)),
        ],
    );

    let bad = from_json(
        "mastodon",
        "social",
        json!({"host": host, "owner": "Admin!", "owner_email": "not-an-address"}),
    );
    assert_eq!(
        setting_problems(bad),
        ["apps.social.owner", "apps.social.owner_email"]
    );
    let (_, b) = render_one(from_json(
        "mastodon",
        "social",
        json!({"host": host, "owner": "alice", "owner_email": "alice@example.org"}),
    ));
    let c = compose_file(&b, "social");
    assert_eq!(env(&c, "web", "MASTODON_OWNER"), Some("alice"));
    assert_eq!(
        env(&c, "web", "MASTODON_OWNER_EMAIL"),
        Some("alice@example.org")
    );
}

// ------------------------------------------------------------------ Navidrome

#[test]
fn navidrome_wiring() {
    assert_exact_round_trip::<Navidrome>();
    let host = "music.example.com";
    let (_, b) = render_one(Named::from(Navidrome::new(host).id("music")));
    let c = compose_file(&b, "music");
    assert_eq!(
        env(&c, "app", "ND_BASEURL"),
        Some("https://music.example.com")
    );
    assert_eq!(env(&c, "app", "ND_ENABLEINSIGHTSCOLLECTOR"), Some("false"));
    assert_eq!(env(&c, "app", "ND_BACKUP_PATH"), Some("/data/backup"));
    assert_eq!(
        env_view(&b, "music", "app")["ND_PASSWORDENCRYPTIONKEY"],
        "<secret:music/password-encryption-key>"
    );
    // The administrator `admin`, created by Navidrome's initial setup, not by the first visitor.
    assert_eq!(
        env_view(&b, "music", "app")["ND_DEVAUTOCREATEADMINPASSWORD"],
        "<secret:music/admin-password>"
    );
    assert_eq!(mounts(&c, "app"), ["/data", "/data/cache", "/music:ro"]);
    assert!(excluded(&b).contains(&"/data/music/cache"));
    assert!(site_block(text(&b, CADDYFILE), host).contains("reverse_proxy music-app:4533"));
    assert!(hooks(&b, "music")[0].contains(
        "exec music app sh -c '/app/navidrome backup create && ls -1t /data/backup/navidrome_backup_*.db | tail -n +4 | xargs -r rm -f --'"
    ));
    assert_secrets_hidden(
        &b,
        "music",
        &[
            ("password-encryption-key", SecretFormat::Alphanumeric(32)),
            ("admin-password", SecretFormat::Alphanumeric(24)),
        ],
    );
}

// ------------------------------------------------------------------ Gitea

#[test]
fn gitea_wiring() {
    assert_exact_round_trip::<Gitea>();
    let host = "git.example.com";
    let (_, b) = render_one(Named::from(Gitea::new(host).id("git")));
    let c = compose_file(&b, "git");
    assert!(
        c["services"]["app"]["ports"].is_null(),
        "no SSH port unless asked"
    );
    assert_eq!(env(&c, "app", "GITEA__server__DISABLE_SSH"), Some("true"));
    assert_eq!(
        env(&c, "app", "GITEA__server__ROOT_URL"),
        Some("https://git.example.com/")
    );
    assert_eq!(
        env(&c, "app", "GITEA__security__INSTALL_LOCK"),
        Some("true")
    );
    assert_eq!(
        env(&c, "app", "GITEA__security__REVERSE_PROXY_TRUSTED_PROXIES"),
        Some(SUBNET)
    );
    assert_eq!(env(&c, "app", "FORGEJO__server__DOMAIN"), None);
    let view = env_view(&b, "git", "app");
    for (key, name) in [
        ("GITEA__security__SECRET_KEY", "secret-key"),
        ("GITEA__security__INTERNAL_TOKEN", "internal-token"),
        ("GITEA__server__LFS_JWT_SECRET", "lfs-jwt-secret"),
        ("GITEA__oauth2__JWT_SECRET", "oauth2-jwt-secret"),
    ] {
        assert_eq!(view[key], format!("<secret:git/{name}>"));
    }
    assert_eq!(mounts(&c, "app"), ["/data"]);
    assert!(site_block(text(&b, CADDYFILE), host).contains("reverse_proxy git-app:3000"));
    assert!(hooks(&b, "git").is_empty(), "stop-and-copy, no hook");
    // The minor line's tag, so security patch releases arrive with the next deploy.
    assert_eq!(
        c["services"]["app"]["image"].as_str(),
        Some("docker.gitea.com/gitea:1.27")
    );
    // The administrator by a one-off job with Gitea's own command, sign-up closed.
    assert_eq!(
        env(&c, "app", "GITEA__service__DISABLE_REGISTRATION"),
        Some("true")
    );
    assert_eq!(
        view["NASSELLA_ADMIN_PASSWORD"],
        "<secret:git/admin-password>"
    );
    let create = unit(&b, "nassella-once-git-create-admin.service");
    assert!(
        create.contains("su-exec git gitea admin user create --admin"),
        "{create}"
    );
    assert!(!create.contains("forgejo"), "{create}");

    let (_, b) = render_one(from_json(
        "gitea",
        "git",
        json!({"host": host, "ssh_port": 2222}),
    ));
    let c = compose_file(&b, "git");
    assert_eq!(strings(&c["services"]["app"]["ports"]), ["2222:22/tcp"]);
    assert_eq!(env(&c, "app", "GITEA__server__SSH_PORT"), Some("2222"));
    assert_eq!(
        setting_problems(from_json(
            "gitea",
            "git",
            json!({"host": host, "ssh_port": 0})
        )),
        ["apps.git.ssh_port"]
    );
}

// ------------------------------------------------------------------ Audiobookshelf

#[test]
fn audiobookshelf_wiring() {
    assert_exact_round_trip::<Audiobookshelf>();
    let host = "books.example.com";
    let (_, b) = render_one(Named::from(Audiobookshelf::new(host).id("books")));
    let c = compose_file(&b, "books");
    assert_eq!(
        mounts(&c, "app"),
        ["/config", "/metadata", "/audiobooks", "/podcasts"]
    );
    assert!(!excluded(&b).iter().any(|l| l.starts_with("/data/books")));
    assert_eq!(networks(&c, "app"), ["outbound", "proxy"]);
    let site = site_block(text(&b, CADDYFILE), host);
    assert!(site.contains(&format!("max_size {}", 5u64 << 30)), "{site}");
    assert!(site.contains("reverse_proxy books-app:80"), "{site}");
    assert!(hooks(&b, "books").is_empty());
    // The root account by a one-off job, only while the server says it is not set up.
    assert_eq!(
        env_view(&b, "books", "app")["NASSELLA_ROOT_PASSWORD"],
        "<secret:books/root-password>"
    );
    let job = unit(&b, "nassella-once-books-create-root.service");
    for part in [
        "exec books app node -e \"",
        "const c=await g('http://127.0.0.1:80/status');if((j=>j.isInit)(await c.json()))",
        "g('http://127.0.0.1:80/init',{method:'POST'",
        "body:JSON.stringify({newRoot:{username:'root',password:process.env.NASSELLA_ROOT_PASSWORD}})",
    ] {
        assert!(job.contains(part), "{part} in {job}");
    }

    let (_, b) = render_one(from_json(
        "audiobookshelf",
        "books",
        json!({"host": host, "max_upload_gb": 20}),
    ));
    assert!(site_block(text(&b, CADDYFILE), host).contains(&format!("max_size {}", 20u64 << 30)));
    assert_eq!(
        setting_problems(Named::from(
            Audiobookshelf::new(host).max_upload_gb(0).id("books")
        )),
        ["apps.books.max_upload_gb"]
    );
}

// ------------------------------------------------------------------ Linkding

#[test]
fn linkding_wiring() {
    assert_exact_round_trip::<Linkding>();
    let host = "links.example.com";
    let (_, b) = render_one(Named::from(Linkding::new(host).id("links")));
    let c = compose_file(&b, "links");
    assert_eq!(
        env(&c, "app", "LD_CSRF_TRUSTED_ORIGINS"),
        Some("https://links.example.com")
    );
    assert_eq!(env(&c, "app", "LD_SUPERUSER_NAME"), Some("admin"));
    assert_eq!(env(&c, "app", "LD_LOG_X_FORWARDED_FOR"), Some("true"));
    assert_eq!(
        env_view(&b, "links", "app")["LD_SUPERUSER_PASSWORD"],
        "<secret:links/admin-password>"
    );
    assert_eq!(mounts(&c, "app"), ["/etc/linkding/data"]);
    assert_eq!(networks(&c, "app"), ["outbound", "proxy"]);
    assert!(hooks(&b, "links")[0].contains(
        "python manage.py full_backup /etc/linkding/data/backups/linkding.zip.tmp && mv /etc/linkding/data/backups/linkding.zip.tmp /etc/linkding/data/backups/linkding.zip"
    ));
    assert_secrets_hidden(
        &b,
        "links",
        &[("admin-password", SecretFormat::Alphanumeric(24))],
    );
    assert_eq!(
        setting_problems(from_json(
            "linkding",
            "links",
            json!({"host": host, "admin_user": "two words"})
        )),
        ["apps.links.admin_user"]
    );
}

// ------------------------------------------------------------------ Actual

#[test]
fn actual_wiring() {
    assert_exact_round_trip::<Actual>();
    let host = "budget.example.com";
    let (_, b) = render_one(Named::from(Actual::new(host).id("budget")));
    let c = compose_file(&b, "budget");
    assert_eq!(env(&c, "app", "ACTUAL_TRUSTED_PROXIES"), Some(SUBNET));
    for var in [
        "ACTUAL_UPLOAD_FILE_SYNC_SIZE_LIMIT_MB",
        "ACTUAL_UPLOAD_SYNC_ENCRYPTED_FILE_SYNC_SIZE_LIMIT_MB",
        "ACTUAL_UPLOAD_FILE_SIZE_LIMIT_MB",
    ] {
        assert_eq!(env(&c, "app", var), Some("50"), "{var}");
    }
    assert_eq!(mounts(&c, "app"), ["/data"]);
    let site = site_block(text(&b, CADDYFILE), host);
    assert!(site.contains(&format!("max_size {}", 51 * MIB)), "{site}");
    assert!(site.contains("reverse_proxy budget-app:5006"), "{site}");
    // The server password by a one-off job through Actual's own bootstrap endpoint.
    assert_eq!(
        env_view(&b, "budget", "app")["NASSELLA_SERVER_PASSWORD"],
        "<secret:budget/server-password>"
    );
    let job = unit(&b, "nassella-once-budget-set-password.service");
    for part in [
        "exec budget app node -e \"",
        "g('http://127.0.0.1:5006/account/bootstrap',{method:'POST'",
        "body:JSON.stringify({password:process.env.NASSELLA_SERVER_PASSWORD})",
        "else if(s===400&&t.includes('already-bootstrapped'))",
    ] {
        assert!(job.contains(part), "{part} in {job}");
    }
    assert_eq!(
        setting_problems(from_json(
            "actual",
            "budget",
            json!({"host": host, "max_upload_mb": 0})
        )),
        ["apps.budget.max_upload_mb"]
    );
}

// ------------------------------------------------------------------ together

/// All nine compose and build together (on DigitalOcean: their Ignition config is larger than
/// Hetzner's 32 KiB of user data).
#[test]
fn batch_b_builds_together() {
    let apps: Vec<Named> = vec![
        Named::from(Plausible::example()),
        Named::from(Outline::example()),
        Named::from(Synapse::example()),
        Named::from(Mastodon::example()),
        Named::from(Navidrome::example()),
        Named::from(Gitea::example().ssh_port(2222)),
        Named::from(Audiobookshelf::example()),
        Named::from(Linkding::example()),
        Named::from(Actual::example()),
    ];
    let stack = stack_of(instance().provider(Provider::DigitalOcean), apps);
    if let Err(r) = nassella_core::build(&stack, &keys()) {
        panic!("the nine apps do not build together:\n{r}");
    }
}
