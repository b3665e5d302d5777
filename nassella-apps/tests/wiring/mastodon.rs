//! The wiring of Mastodon (`nassella-apps/src/mastodon.rs`), read back from what it renders.

use super::*;

#[test]
fn mastodon_wiring() {
    assert_exact_round_trip::<Mastodon>();
    let host = "social.example.com";
    let (_, b) = render_one(Mastodon::new(host).id("social"));
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
    assert!(excluded_paths(&b).contains(&"/data/social/cache"));
    for kept in ["system", "keys", "db", "db-dump", "redis"] {
        assert!(
            !excluded_paths(&b).contains(&format!("/data/social/{kept}").as_str()),
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
