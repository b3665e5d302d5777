//! The wiring of Linkding (`nassella-apps/src/linkding.rs`), read back from what it renders.

use super::*;

#[test]
fn linkding_wiring() {
    assert_exact_round_trip::<Linkding>();
    let host = "links.example.com";
    let (_, b) = render_one(Linkding::new(host).id("links"));
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
