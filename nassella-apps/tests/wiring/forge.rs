//! The wiring of Forgejo and Gitea (one implementation, two flavours) (`nassella-apps/src/forge.rs`), read back from what it renders.

use super::*;

#[test]
fn forgejo_wiring() {
    assert_exact_round_trip::<Forgejo>();
    let host = "git.example.com";
    let (_, b) = render_one(Forgejo::new(host).id("git"));
    let c = compose_file(&b, "git");
    assert!(published_ports(&c).is_empty(), "no SSH port unless asked");
    assert_eq!(env(&c, "app", "FORGEJO__server__DISABLE_SSH"), Some("true"));
    assert_eq!(env(&c, "app", "FORGEJO__server__SSH_PORT"), None);
    assert_eq!(
        env(&c, "app", "FORGEJO__server__ROOT_URL"),
        Some("https://git.example.com/")
    );
    assert_eq!(env(&c, "app", "FORGEJO__server__DOMAIN"), Some(host));
    assert_eq!(
        env(&c, "app", "FORGEJO__security__INSTALL_LOCK"),
        Some("true")
    );
    assert_eq!(
        env(
            &c,
            "app",
            "FORGEJO__security__REVERSE_PROXY_TRUSTED_PROXIES"
        ),
        Some(SUBNET)
    );
    // Sign-up closed by default: the forge makes the first account registered its
    // administrator, so a one-off job creates the administrator instead.
    assert_eq!(
        env(&c, "app", "FORGEJO__service__DISABLE_REGISTRATION"),
        Some("true")
    );
    assert_eq!(
        env(&c, "app", "FORGEJO__service__REGISTER_MANUAL_CONFIRM"),
        Some("false")
    );
    assert_eq!(env(&c, "app", "NASSELLA_ADMIN_USER"), Some("owner"));
    assert_eq!(
        env(&c, "app", "NASSELLA_ADMIN_EMAIL"),
        Some("owner@git.example.com")
    );
    let create = unit(&b, "nassella-once-git-create-admin.service");
    assert!(
        create.contains(
            "exec git app sh -c \"su-exec git forgejo admin user create --admin --username \\\"$$NASSELLA_ADMIN_USER\\\" --email \\\"$$NASSELLA_ADMIN_EMAIL\\\" --password \\\"$$NASSELLA_ADMIN_PASSWORD\\\" --must-change-password=false || "
        ),
        "{create}"
    );
    assert!(
        create.contains("admin user list | awk '{print $$2}' | grep -qxF"),
        "an existing administrator is success, anything else fails: {create}"
    );
    assert_eq!(
        c["services"]["app"]["volumes"][0]["target"].as_str(),
        Some("/data")
    );
    assert!(site_block(text(&b, CADDYFILE), host).contains("reverse_proxy git-app:3000"));

    let view = env_view(&b, "git", "app");
    for (key, name) in [
        ("FORGEJO__security__SECRET_KEY", "secret-key"),
        ("FORGEJO__security__INTERNAL_TOKEN", "internal-token"),
        ("FORGEJO__server__LFS_JWT_SECRET", "lfs-jwt-secret"),
        ("FORGEJO__oauth2__JWT_SECRET", "oauth2-jwt-secret"),
        ("NASSELLA_ADMIN_PASSWORD", "admin-password"),
    ] {
        assert_eq!(view[key], format!("<secret:git/{name}>"));
        assert_eq!(
            env(&c, "app", key),
            None,
            "{key} stays out of the compose file"
        );
    }
    // Forgejo's DecodeJwtSecret: unpadded base64url that decodes to exactly 32 bytes.
    for name in ["lfs-jwt-secret", "oauth2-jwt-secret"] {
        let s = MasterKey::insecure_test_key().derive("git", name, SecretFormat::Alphanumeric(43));
        assert!(
            s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
            "{s}"
        );
        assert_eq!(s.len() * 6 / 8, 32, "{s} does not decode to 32 bytes");
    }
    assert_secrets_hidden(
        &b,
        "git",
        &[
            ("secret-key", SecretFormat::Alphanumeric(64)),
            ("internal-token", SecretFormat::Alphanumeric(64)),
            ("lfs-jwt-secret", SecretFormat::Alphanumeric(43)),
            ("oauth2-jwt-secret", SecretFormat::Alphanumeric(43)),
            ("admin-password", SecretFormat::Alphanumeric(24)),
        ],
    );

    // With an SSH port: published straight to the container's sshd, and advertised.
    let entry = nassella_apps::find("forgejo").unwrap();
    let ssh = from_entry(&entry, "git",
        json!({"host": host, "ssh_port": 2222, "signups_allowed": true, "admin_user": "alice", "admin_email": "alice@example.org"}),
    )
    .unwrap();
    let (_, b) = render_one(ssh);
    let c = compose_file(&b, "git");
    assert_eq!(strings(&c["services"]["app"]["ports"]), vec!["2222:22/tcp"]);
    assert_eq!(
        env(&c, "app", "FORGEJO__server__DISABLE_SSH"),
        Some("false")
    );
    assert_eq!(env(&c, "app", "FORGEJO__server__SSH_PORT"), Some("2222"));
    assert_eq!(env(&c, "app", "FORGEJO__server__SSH_DOMAIN"), Some(host));
    // Open sign-up: each account waits for the administrator's approval.
    assert_eq!(
        env(&c, "app", "FORGEJO__service__DISABLE_REGISTRATION"),
        Some("false")
    );
    assert_eq!(
        env(&c, "app", "FORGEJO__service__REGISTER_MANUAL_CONFIRM"),
        Some("true")
    );
    assert_eq!(env(&c, "app", "NASSELLA_ADMIN_USER"), Some("alice"));
    assert_eq!(
        env(&c, "app", "NASSELLA_ADMIN_EMAIL"),
        Some("alice@example.org")
    );
    for (bad, field) in [
        (json!({"host": host, "admin_user": "admin"}), "admin_user"),
        (json!({"host": host, "admin_user": "-x"}), "admin_user"),
        (json!({"host": host, "admin_user": "a..b"}), "admin_user"),
        (json!({"host": host, "admin_user": "a b"}), "admin_user"),
        (
            json!({"host": host, "admin_email": "nobody"}),
            "admin_email",
        ),
        (
            json!({"host": host, "admin_email": "a\"b@x.org"}),
            "admin_email",
        ),
    ] {
        let app = from_entry(&entry, "git", bad.clone()).expect("read");
        assert_eq!(
            setting_problems(app),
            vec![format!("apps.git.{field}")],
            "{bad}"
        );
    }

    let zero = from_entry(&entry, "git", json!({"host": host, "ssh_port": 0})).expect("read");
    assert_eq!(setting_problems(zero), vec!["apps.git.ssh_port"]);
    assert_eq!(
        setting_problems(Forgejo::new(host).ssh_port(0).id("git")),
        vec!["apps.git.ssh_port"]
    );
}

#[test]
fn forgejo_ssh_ports_are_checked_by_the_composer() {
    // The proxy's 443, and two forges on one port.
    let stack = stack_of(
        instance(),
        vec![Named::from(Forgejo::new("git.example.com").ssh_port(443))],
    );
    let r = compose(&stack).expect_err("443 belongs to the proxy");
    assert!(
        r.problems()
            .iter()
            .any(|p| matches!(p.kind, ProblemKind::PortTaken { port: 443, .. })),
        "{r}"
    );

    let stack = stack_of(
        instance(),
        vec![
            Named::from(Forgejo::new("git.example.com").ssh_port(22)),
            Forgejo::new("code.example.com").ssh_port(22).id("code"),
        ],
    );
    let r = compose(&stack).expect_err("one port, two forges");
    assert!(
        r.problems()
            .iter()
            .any(|p| matches!(p.kind, ProblemKind::PortTaken { port: 22, .. })),
        "{r}"
    );
}

#[test]
fn gitea_wiring() {
    assert_exact_round_trip::<Gitea>();
    let host = "git.example.com";
    let (_, b) = render_one(Gitea::new(host).id("git"));
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
