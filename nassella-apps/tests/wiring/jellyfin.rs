//! The wiring of Jellyfin (`nassella-apps/src/jellyfin.rs`), read back from what it renders.

use super::*;

#[test]
fn jellyfin_wiring() {
    use nassella_apps::Jellyfin;
    assert_exact_round_trip::<Jellyfin>();
    let host = "media.example.com";
    let (v, b) = render_one(Jellyfin::new(host).id("tv"));
    let app = &v.apps()[0];
    let c = compose_file(&b, "tv");

    // The cache is regenerable and left out; config and media are kept; media is read-only.
    assert!(volume_excluded(app, "cache"));
    assert!(!volume_excluded(app, "config") && !volume_excluded(app, "media"));
    assert!(text(&b, EXCLUDES).lines().any(|l| l == "/data/tv/cache"));
    let mounts: Vec<(&str, &str, bool)> = app
        .service("app")
        .unwrap()
        .mounts()
        .iter()
        .map(|m| (m.volume(), m.target(), m.is_read_only()))
        .collect();
    assert_eq!(
        mounts,
        [
            ("config", "/config", false),
            ("cache", "/cache", false),
            ("media", "/media", true)
        ]
    );

    // Known proxies: the proxy subnet is written into network.xml, then Jellyfin starts as the
    // image would start it.
    assert_eq!(env(&c, "app", "KNOWN_PROXY"), Some(SUBNET));
    let start = strings(&c["services"]["app"]["entrypoint"]);
    assert_eq!(start[..2], ["/bin/sh", "-c"]);
    assert!(
        start[2].contains("/config/config/network.xml"),
        "{}",
        start[2]
    );
    assert!(
        start[2].contains("<KnownProxies><string>$$KNOWN_PROXY</string></KnownProxies>"),
        "{}",
        start[2]
    );
    assert!(
        start[2].ends_with("exec /jellyfin/jellyfin --ffmpeg /usr/lib/jellyfin-ffmpeg/ffmpeg"),
        "{}",
        start[2]
    );
    assert_eq!(
        env(&c, "app", "JELLYFIN_PublishedServerUrl"),
        Some("https://media.example.com")
    );
    assert!(site_block(text(&b, CADDYFILE), host).contains("reverse_proxy tv-app:8096"));
    assert!(
        app.backup_hooks().is_empty(),
        "a stopped copy is Jellyfin's documented backup"
    );

    // Media that can be fetched again can stay out of the backup.
    let entry = nassella_apps::find("jellyfin").unwrap();
    let (v, b) =
        render_one(from_entry(&entry, "tv", json!({"host": host, "backup_media": false})).unwrap());
    assert!(volume_excluded(&v.apps()[0], "media"));
    assert!(text(&b, EXCLUDES).lines().any(|l| l == "/data/tv/media"));
}
