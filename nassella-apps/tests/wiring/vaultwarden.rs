//! The wiring of Vaultwarden (`nassella-apps/src/vaultwarden.rs`), read back from what it renders.

use super::*;

#[test]
fn vaultwarden_wiring() {
    assert_exact_round_trip::<Vaultwarden>();
    let host = "vault.example.com";
    let (_, b) = render_one(Vaultwarden::new(host).id("vault"));
    let c = compose_file(&b, "vault");
    assert_eq!(env(&c, "app", "DOMAIN"), Some("https://vault.example.com"));
    assert_eq!(env(&c, "app", "SIGNUPS_ALLOWED"), Some("false"));
    assert_eq!(env(&c, "app", "IP_HEADER"), Some("X-Real-IP"));
    assert_eq!(env(&c, "app", "IP_HEADER_TRUSTED_PROXIES"), Some(SUBNET));
    assert_eq!(
        env(&c, "app", "ADMIN_TOKEN"),
        None,
        "the token is not in the compose file"
    );
    assert_eq!(
        env_view(&b, "vault", "app")["ADMIN_TOKEN"],
        "<secret:vault/admin-token>"
    );
    assert_eq!(
        c["services"]["app"]["volumes"][0]["target"].as_str(),
        Some("/data")
    );

    // The websocket path, on the same port, with the client address for the rate limits.
    let site = site_block(text(&b, CADDYFILE), host);
    let ws = site
        .find("handle /notifications/hub*")
        .unwrap_or_else(|| panic!("no websocket route:\n{site}"));
    let default = site.find("\thandle {").expect("default handler");
    assert!(
        ws < default,
        "the websocket path comes before the catch-all:\n{site}"
    );
    assert_eq!(
        site.matches("reverse_proxy vault-app:80").count(),
        2,
        "{site}"
    );
    assert_eq!(
        site.matches("header_up X-Real-IP {remote_host}").count(),
        2,
        "{site}"
    );
    assert!(
        site.contains(&format!("max_size {}", 525u64 << 20)),
        "{site}"
    );

    let backup = text(&b, BACKUP_SH);
    assert!(
        backup.contains(" app sh -c '/vaultwarden backup &&"),
        "{backup}"
    );
    assert_secrets_hidden(
        &b,
        "vault",
        &[("admin-token", SecretFormat::Alphanumeric(48))],
    );

    let open = from_entry(
        &nassella_apps::find("vaultwarden").unwrap(),
        "vault",
        json!({"host": host, "signups_allowed": true}),
    )
    .unwrap();
    let (_, b) = render_one(open);
    assert_eq!(
        env(&compose_file(&b, "vault"), "app", "SIGNUPS_ALLOWED"),
        Some("true")
    );
}
