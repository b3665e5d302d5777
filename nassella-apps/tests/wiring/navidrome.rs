//! The wiring of Navidrome (`nassella-apps/src/navidrome.rs`), read back from what it renders.

use super::*;

#[test]
fn navidrome_wiring() {
    assert_exact_round_trip::<Navidrome>();
    let host = "music.example.com";
    let (_, b) = render_one(Navidrome::new(host).id("music"));
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
    assert!(excluded_paths(&b).contains(&"/data/music/cache"));
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
