//! The wiring of Uptime Kuma (`nassella-apps/src/uptime_kuma.rs`), read back from what it renders.

use super::*;

#[test]
fn uptime_kuma_wiring() {
    use nassella_apps::UptimeKuma;
    assert_exact_round_trip::<UptimeKuma>();
    let host = "status.example.com";
    let (v, b) = render_one(UptimeKuma::new(host).id("status"));
    let app = &v.apps()[0];
    assert_eq!(mount_of(app, "app", "data"), Some("/app/data"));
    assert!(!volume_excluded(app, "data"));
    assert!(
        app.backup_hooks().is_empty(),
        "no online dump: the stopped copy is consistent"
    );
    assert!(site_block(text(&b, CADDYFILE), host).contains("reverse_proxy status-app:3001"));
    assert!(app.secrets().is_empty());
    // 2.x asks the first visitor for a database type unless it is set.
    let c = compose_file(&b, "status");
    assert_eq!(env(&c, "app", "UPTIME_KUMA_DB_TYPE"), Some("sqlite"));
}
