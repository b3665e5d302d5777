//! The wiring of FreshRSS (`nassella-apps/src/freshrss.rs`), read back from what it renders.

use super::*;

#[test]
fn freshrss_wiring() {
    use nassella_apps::FreshRss;
    assert_exact_round_trip::<FreshRss>();
    let host = "feeds.example.com";
    let (v, b) = render_one(FreshRss::new(host).admin_user("alice").id("feeds"));
    let app = &v.apps()[0];
    let c = compose_file(&b, "feeds");

    assert_eq!(env(&c, "app", "TRUSTED_PROXY"), Some(SUBNET));
    assert_eq!(env(&c, "app", "CRON_MIN"), Some("3,33"));
    // The install step skips an installed FreshRSS, so the base URL is applied at every start,
    // before Apache starts the way the image's CMD does.
    assert_eq!(
        env(&c, "app", "FRESHRSS_BASE_URL"),
        Some("https://feeds.example.com")
    );
    let start = shell(&c, "app", "command");
    let order = [
        "php ./cli/reconfigure.php --base-url \"$FRESHRSS_BASE_URL\"\n",
        "./cli/access-permissions.sh\n",
        "[ -z \"$CRON_MIN\" ] || cron\n",
        "exec apache2 -D FOREGROUND\n",
    ];
    let at: Vec<usize> = order
        .iter()
        .map(|s| start.find(s).unwrap_or_else(|| panic!("{s} in {start}")))
        .collect();
    assert!(at.windows(2).all(|w| w[0] < w[1]), "{start}");
    assert!(
        c["services"]["app"]["entrypoint"].is_null(),
        "the image's entrypoint installs first"
    );
    assert_eq!(
        env(&c, "app", "FRESHRSS_INSTALL"),
        Some("--api-enabled --base-url https://feeds.example.com --db-type sqlite --default-user alice --language en")
    );
    assert_eq!(
        env_view(&b, "feeds", "app")["FRESHRSS_USER"],
        "--user alice --language en --password <secret:feeds/admin-password> --api-password <secret:feeds/api-password>"
    );
    assert_eq!(mount_of(app, "app", "data"), Some("/var/www/FreshRSS/data"));
    assert_eq!(
        mount_of(app, "app", "extensions"),
        Some("/var/www/FreshRSS/extensions")
    );
    let hooks = app.backup_hooks();
    assert_eq!(hooks.len(), 1);
    assert_eq!(
        hooks[0].command(),
        ["php", "/var/www/FreshRSS/cli/db-backup.php"]
    );

    let entry = nassella_apps::find("freshrss").unwrap();
    let bad = from_entry(&entry, "feeds", json!({"host": host, "admin_user": "-x"})).unwrap();
    assert_eq!(setting_problems(bad), vec!["apps.feeds.admin_user"]);
}
