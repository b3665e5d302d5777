//! The wiring of Synapse (`nassella-apps/src/synapse.rs`), read back from what it renders.

use super::*;

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
    let (_, b) = render_one(
        Synapse::new("matrix.example.com")
            .server_name("example.com")
            .id("chat"),
    );
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
