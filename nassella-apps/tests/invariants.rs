//! Invariants every registered app must keep, checked by looping over `nassella_apps::catalog()`
//! (a new app is covered without new tests), then the specific wiring of each catalog app,
//! read back from the rendered compose files, Caddyfile and scripts.

mod common;

use common::*;
use std::collections::{BTreeMap, BTreeSet};

use nassella_apps::{catalog, Entry, Forgejo, Nextcloud, Vaultwarden};
use nassella_core::composer::{image_pinned, valid_name, MAX_APP_ID};
use nassella_core::{compose, render, MasterKey, ProblemKind, SecretFormat, Tls};
use serde_json::{json, Map, Value as Json};
use serde_yaml_ng::Value as Yaml;

const DATA_ROOT: &str = "/srv/data";

// ------------------------------------------------------------------ helpers

fn services(compose: &Yaml) -> Vec<(String, &Yaml)> {
    compose["services"]
        .as_mapping()
        .expect("services is a mapping")
        .iter()
        .map(|(k, v)| (k.as_str().expect("service name").to_owned(), v))
        .collect()
}

/// Settings for `entry` built from its JSON Schema: every required property gets a value
/// (`…host…` strings get `host`). Extend the match when an app needs another kind of field.
fn settings_for(entry: &Entry, host: &str) -> Map<String, Json> {
    let schema = (entry.schema)();
    let schema = schema.as_value();
    let mut out = Map::new();
    for name in schema["required"].as_array().into_iter().flatten() {
        let name = name.as_str().expect("property name");
        let prop = &schema["properties"][name];
        let value = match prop["type"].as_str() {
            Some("string") if name.contains("host") => json!(host),
            Some("string") if name.contains("email") => json!("admin@example.com"),
            Some("boolean") => json!(false),
            Some("integer") => prop.get("minimum").cloned().unwrap_or(json!(1)),
            other => panic!(
                "{}: cannot make up required setting `{name}` of type {other:?}; teach settings_for about it",
                entry.kind
            ),
        };
        out.insert(name.to_owned(), value);
    }
    out
}

fn from_settings(entry: &Entry, id: &str, settings: &Map<String, Json>) -> Named {
    from_entry(&entry, id, Json::Object(settings.clone()))
        .unwrap_or_else(|e| panic!("{}: settings {settings:?} rejected: {e}", entry.kind))
}

/// Host ports a compose file publishes.
fn published_ports(compose: &Yaml) -> Vec<String> {
    services(compose)
        .iter()
        .flat_map(|(_, s)| strings(&s["ports"]))
        .collect()
}

// ------------------------------------------------------------------ catalog-wide invariants

#[test]
fn kinds_are_unique_sorted_and_dns_safe() {
    let kinds: Vec<&str> = catalog().iter().map(|e| e.kind).collect();
    let unique: BTreeSet<&str> = kinds.iter().copied().collect();
    assert_eq!(unique.len(), kinds.len(), "duplicate kinds in {kinds:?}");
    let mut sorted = kinds.clone();
    sorted.sort_unstable();
    assert_eq!(kinds, sorted, "the catalog is sorted by kind");
    for entry in catalog() {
        let example = (entry.example)();
        assert!(
            valid_name(entry.kind, MAX_APP_ID),
            "kind `{}` is not DNS-safe",
            entry.kind
        );
        assert_eq!(
            example.kind(),
            entry.kind,
            "the example of `{}` reports another kind",
            entry.kind
        );
        assert!(
            !entry.summary.trim().is_empty(),
            "{}: empty summary",
            entry.kind
        );
        assert!(nassella_apps::find(entry.kind).is_some());
    }
}

/// Each example composes alone with no error and no warning — so every volume has a backup
/// decision, every route reaches a declared port of a declared service, every image is pinned —
/// and the whole build (Ignition parse-back, user-data limit) succeeds.
#[test]
fn every_example_composes_and_builds_cleanly() {
    for entry in catalog() {
        let stack = stack_of(instance(), vec![example(&entry)]);
        let v = compose(&stack).unwrap_or_else(|r| panic!("{}: compose failed:\n{r}", entry.kind));
        assert!(
            v.warnings().is_empty(),
            "{}: warnings:\n{}",
            entry.kind,
            v.warnings()
        );
        if let Err(r) = nassella_core::build(&stack, &keys()) {
            panic!("{}: build failed:\n{r}", entry.kind);
        }
    }
}

/// Read back from the rendered compose file, Caddyfile and scripts.
#[test]
fn rendered_examples_keep_the_rules() {
    for entry in catalog() {
        let kind = entry.kind;
        let (v, b) = render_one(example(&entry));
        let app = &v.apps()[0];
        let id = app.id();
        let c = compose_file(&b, id);
        let caddy = text(&b, CADDYFILE);
        assert!(!services(&c).is_empty(), "{kind}: no services");

        for (name, s) in services(&c) {
            let image = s["image"].as_str().expect("image");
            assert!(
                image_pinned(image),
                "{kind}/{name}: image `{image}` is not pinned"
            );

            // Every mount is a folder of the app's own part of the data volume.
            for m in s["volumes"].as_sequence().into_iter().flatten() {
                let source = m["source"].as_str().expect("mount source");
                assert!(
                    source.starts_with(&format!("{DATA_ROOT}/{id}/")),
                    "{kind}/{name}: mount source {source} is outside {DATA_ROOT}/{id}/"
                );
            }

            // Postgres ≥ 18 declares its volume at /var/lib/postgresql; ≤ 17 at …/data.
            if let Some(major) = postgres_major(image) {
                let want = if major >= 18 {
                    "/var/lib/postgresql"
                } else {
                    "/var/lib/postgresql/data"
                };
                let targets: Vec<&str> = s["volumes"]
                    .as_sequence()
                    .into_iter()
                    .flatten()
                    .filter_map(|m| m["target"].as_str())
                    .collect();
                assert!(
                    targets.contains(&want),
                    "{kind}/{name}: {image} needs its volume at {want}, mounts {targets:?}"
                );
            }

            // Waiting for a healthy service needs that service to have a health check.
            for (dep, cond) in s["depends_on"].as_mapping().into_iter().flatten() {
                let dep = dep.as_str().expect("dependency");
                assert!(
                    !c["services"][dep].is_null(),
                    "{kind}/{name}: depends on unknown {dep}"
                );
                if cond["condition"].as_str() == Some("service_healthy") {
                    assert!(
                        !c["services"][dep]["healthcheck"].is_null(),
                        "{kind}/{name}: waits for {dep} to be healthy, but {dep} has no health check"
                    );
                }
            }

            // Only services the proxy forwards to sit on the proxy network, under `<id>-<service>`.
            let aliases = strings(&s["networks"]["proxy"]["aliases"]);
            let on_proxy = s["networks"].get("proxy").is_some();
            let target = format!("reverse_proxy {id}-{name}:");
            assert_eq!(
                on_proxy,
                caddy.contains(&target),
                "{kind}/{name}: on the proxy network iff a route targets it"
            );
            if on_proxy {
                assert_eq!(
                    aliases,
                    vec![format!("{id}-{name}")],
                    "{kind}/{name}: proxy alias"
                );
            }
        }

        // Every upstream in the Caddyfile is a service of this app on the proxy network.
        for line in caddy
            .lines()
            .map(str::trim)
            .filter(|l| l.starts_with("reverse_proxy "))
        {
            let upstream = line["reverse_proxy ".len()..]
                .split_whitespace()
                .next()
                .expect("upstream");
            let (host, port) = upstream.rsplit_once(':').expect("host:port");
            assert!(
                port.parse::<u16>().is_ok(),
                "{kind}: bad upstream port in `{line}`"
            );
            let service = host
                .strip_prefix(&format!("{id}-"))
                .unwrap_or_else(|| panic!("{kind}: foreign upstream {upstream}"));
            assert!(
                c["services"][service]["networks"].get("proxy").is_some(),
                "{kind}: {upstream} is not on the proxy network"
            );
        }

        // Raw TCP ports are opt-in: a default example publishes none.
        assert!(
            published_ports(&c).is_empty(),
            "{kind}: the example publishes ports {:?}",
            published_ports(&c)
        );

        // Internal networks stay internal in the output.
        for (name, net) in c["networks"].as_mapping().into_iter().flatten() {
            if name.as_str() != Some("proxy") {
                assert!(
                    net["external"].is_null(),
                    "{kind}: only the proxy network is external"
                );
            }
        }

        // The app serves its hosts, and each has a site block.
        for host in app.hosts() {
            let _ = site_block(caddy, host);
        }
        let excluded = text(&b, EXCLUDES);
        assert!(
            !excluded.lines().any(|l| l == format!("/data/{id}")),
            "{kind}: the whole app is excluded from backups"
        );
    }
}

/// `Some(major)` for the official Postgres image (`postgres:18-alpine`, `docker.io/library/postgres:17`)
/// and images built on it under another owner (`…/postgres:14-…`).
fn postgres_major(image: &str) -> Option<u32> {
    let (repo, tag) = image.rsplit_once(':')?;
    let repo = repo
        .trim_start_matches("docker.io/")
        .trim_start_matches("library/");
    // Derived images keep the official layout (e.g. `ghcr.io/immich-app/postgres:14-vectorchord…`).
    if repo != "postgres" && !repo.ends_with("/postgres") {
        return None;
    }
    tag.split(['.', '-']).next()?.parse().ok()
}

/// Two copies of an app under different ids compose together, except for hostname clashes.
#[test]
fn two_copies_coexist_except_for_hostnames() {
    for entry in catalog() {
        let kind = entry.kind;
        let (a, b) = (format!("{kind}-a"), format!("{kind}-b"));
        let same = settings_for(&entry, &format!("{kind}.example.com"));

        // Same settings: only the hostnames clash.
        let stack = stack_of(
            instance(),
            vec![
                from_settings(&entry, &a, &same),
                from_settings(&entry, &b, &same),
            ],
        );
        match compose(&stack) {
            Ok(v) => assert!(
                v.apps().iter().all(|x| x.hosts().next().is_none()),
                "{kind}: two copies on the same host composed"
            ),
            Err(r) => {
                let others: Vec<_> = r
                    .problems()
                    .iter()
                    .filter(|p| !matches!(p.kind, ProblemKind::DuplicateHost { .. }))
                    .collect();
                assert!(
                    others.is_empty(),
                    "{kind}: two copies clash beyond hostnames:\n{r}"
                );
            }
        }

        // Other hostnames: no problem at all.
        let other = settings_for(&entry, &format!("{kind}-b.example.com"));
        let v = compose_clean(
            instance(),
            vec![
                from_settings(&entry, &a, &same),
                from_settings(&entry, &b, &other),
            ],
            &format!("two {kind}"),
        );
        assert_eq!(v.apps().len(), 2);
        let bundle = render(&v, &keys());
        assert_ne!(
            text(
                &bundle,
                &format!("instance/etc/nassella/apps/{a}/compose.yaml")
            ),
            text(
                &bundle,
                &format!("instance/etc/nassella/apps/{b}/compose.yaml")
            ),
        );
    }
}

/// Settings from a JSON object are accepted; unknown keys are rejected, naming the key.
#[test]
fn config_settings_round_trip() {
    for entry in catalog() {
        let kind = entry.kind;
        let settings = settings_for(&entry, &format!("{kind}.example.com"));
        let app = from_settings(&entry, "from-config", &settings);
        assert_eq!(app.app.kind(), kind);
        let v = compose_clean(instance(), vec![app], kind);
        assert_eq!(
            v.apps()[0].id(),
            "from-config",
            "{kind}: the config id is used"
        );

        let mut bad = settings.clone();
        bad.insert("no_such_setting".into(), json!(1));
        let err =
            from_entry(&entry, "x", Json::Object(bad)).expect_err("an unknown key is an error");
        assert!(
            err.contains("no_such_setting"),
            "{kind}: the error does not name the key: {err}"
        );

        let schema = (entry.schema)();
        assert_eq!(
            schema.as_value()["additionalProperties"],
            json!(false),
            "{kind}: the schema must forbid unknown keys (serde deny_unknown_fields)"
        );
    }
}

// ------------------------------------------------------------------ per-app wiring

#[test]
fn nextcloud_wiring() {
    assert_exact_round_trip::<Nextcloud>();
    let host = "cloud.example.com";
    let (_, b) = render_one(Named::from(Nextcloud::new(host).id("cloud")));
    let c = compose_file(&b, "cloud");

    // Proxy trust and generated URLs.
    for svc in ["app", "cron"] {
        assert_eq!(env(&c, svc, "TRUSTED_PROXIES"), Some(SUBNET), "{svc}");
        assert_eq!(env(&c, svc, "OVERWRITEHOST"), Some(host), "{svc}");
        assert_eq!(env(&c, svc, "OVERWRITEPROTOCOL"), Some("https"), "{svc}");
        assert_eq!(
            env(&c, svc, "OVERWRITECLIURL"),
            Some("https://cloud.example.com"),
            "{svc}"
        );
        assert_eq!(env(&c, svc, "REDIS_HOST"), Some("redis"), "{svc}");
        assert_eq!(
            env_view(&b, "cloud", svc)["REDIS_HOST_PASSWORD"],
            "<secret:cloud/redis-password>"
        );
    }
    assert_eq!(env(&c, "app", "NEXTCLOUD_TRUSTED_DOMAINS"), Some(host));
    assert_eq!(env(&c, "app", "APACHE_DISABLE_REWRITE_IP"), Some("1"));
    assert_eq!(env(&c, "app", "NEXTCLOUD_ADMIN_USER"), Some("admin"));
    assert_eq!(env(&c, "app", "PHP_UPLOAD_LIMIT"), Some("10G"));
    assert_eq!(env(&c, "app", "APACHE_BODY_LIMIT"), Some("0"));
    assert_eq!(env(&c, "app", "POSTGRES_HOST"), Some("db"));
    let app_env = env_view(&b, "cloud", "app");
    assert_eq!(
        app_env["NEXTCLOUD_ADMIN_PASSWORD"],
        "<secret:cloud/admin-password>"
    );
    assert_eq!(app_env["POSTGRES_PASSWORD"], "<secret:cloud/db-password>");
    assert_eq!(
        env_view(&b, "cloud", "db")["POSTGRES_PASSWORD"],
        "<secret:cloud/db-password>"
    );

    // Cron: same image, same volume, /cron.sh.
    let (app, cron) = (&c["services"]["app"], &c["services"]["cron"]);
    assert_eq!(cron["image"], app["image"]);
    assert_eq!(strings(&cron["entrypoint"]), vec!["/cron.sh"]);
    assert_eq!(cron["volumes"], app["volumes"]);
    assert_eq!(app["volumes"][0]["target"].as_str(), Some("/var/www/html"));
    assert!(
        cron["networks"].get("proxy").is_none(),
        "cron is not proxied"
    );

    // Database and cache: internal network, health checks, the app waits for both.
    assert_eq!(c["networks"]["db"]["internal"].as_bool(), Some(true));
    for svc in ["db", "redis"] {
        assert!(
            c["services"][svc]["networks"].get("db").is_some(),
            "{svc} on the db network"
        );
        assert!(
            c["services"][svc]["networks"].get("proxy").is_none(),
            "{svc} is not proxied"
        );
        assert_eq!(
            c["services"]["app"]["depends_on"][svc]["condition"].as_str(),
            Some("service_healthy")
        );
    }
    assert_eq!(
        strings(&c["services"]["db"]["healthcheck"]["test"])[1],
        "pg_isready"
    );
    let db_targets: Vec<&str> = c["services"]["db"]["volumes"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter_map(|m| m["target"].as_str())
        .collect();
    assert_eq!(db_targets, vec!["/var/lib/postgresql", "/dump"]);
    // The Redis password reaches redis-server through the env file, not the command line.
    let redis_cmd = strings(&c["services"]["redis"]["command"]).join(" ");
    assert!(
        redis_cmd.contains("--requirepass \"$$REDIS_PASSWORD\""),
        "{redis_cmd}"
    );

    // Proxy: DAV redirects, body limit, one upstream.
    let site = site_block(text(&b, CADDYFILE), host);
    assert!(
        site.contains("redir /.well-known/carddav /remote.php/dav 301"),
        "{site}"
    );
    assert!(
        site.contains("redir /.well-known/caldav /remote.php/dav 301"),
        "{site}"
    );
    assert!(
        site.contains(&format!("max_size {}", 10u64 << 30)),
        "{site}"
    );
    assert!(site.contains("reverse_proxy cloud-app:80"), "{site}");

    // Backups: a pg_dump into the backed-up db-dump volume, then the stop.
    let backup = text(&b, BACKUP_SH);
    assert!(
        backup
            .contains(" db sh -c 'pg_dump --username=nextcloud --dbname=nextcloud --format=custom"),
        "{backup}"
    );
    assert!(
        !text(&b, EXCLUDES).contains("/data/cloud/"),
        "no Nextcloud volume is excluded"
    );

    assert_secrets_hidden(
        &b,
        "cloud",
        &[
            ("db-password", SecretFormat::Alphanumeric(32)),
            ("redis-password", SecretFormat::Alphanumeric(32)),
            ("admin-password", SecretFormat::Alphanumeric(24)),
        ],
    );
}

#[test]
fn nextcloud_settings() {
    let entry = nassella_apps::find("nextcloud").unwrap();
    let app = from_entry(
        &entry,
        "cloud",
        json!({"host": "cloud.example.com", "max_upload_gb": 2, "admin_user": "root.admin"}),
    )
    .unwrap();
    let (_, b) = render_one(app);
    let c = compose_file(&b, "cloud");
    assert_eq!(env(&c, "app", "PHP_UPLOAD_LIMIT"), Some("2G"));
    assert_eq!(env(&c, "app", "NEXTCLOUD_ADMIN_USER"), Some("root.admin"));
    assert!(site_block(text(&b, CADDYFILE), "cloud.example.com").contains("max_size 2147483648"));

    // Bad settings are read, then reported by the composer at their path (App::check).
    for (bad, path) in [
        (
            json!({"host": "c.example.com", "max_upload_gb": 0}),
            "apps.cloud.max_upload_gb",
        ),
        (
            json!({"host": "c.example.com", "admin_user": "a b"}),
            "apps.cloud.admin_user",
        ),
        (
            json!({"host": "c.example.com", "admin_user": ""}),
            "apps.cloud.admin_user",
        ),
    ] {
        let app = from_entry(&entry, "cloud", bad.clone()).expect("read");
        assert_eq!(setting_problems(app), vec![path.to_owned()], "{bad}");
    }

    // A plain-HTTP trial instance: Nextcloud must not claim https.
    let (_, b) = render_on(
        instance().tls(Tls::HttpOnly),
        Named::from(Nextcloud::new("cloud.example.com")),
    );
    let c = compose_file(&b, "nextcloud");
    assert_eq!(env(&c, "app", "OVERWRITEPROTOCOL"), Some("http"));
    assert_eq!(
        env(&c, "app", "OVERWRITECLIURL"),
        Some("http://cloud.example.com")
    );
}

#[test]
fn nextcloud_builder_settings_are_checked_not_panicked_on() {
    let app = Nextcloud::new("cloud.example.com")
        .max_upload_gb(0)
        .admin_user("");
    assert_eq!(
        setting_problems(Named::from(app)),
        vec!["apps.nextcloud.max_upload_gb", "apps.nextcloud.admin_user"]
    );
}

#[test]
fn vaultwarden_wiring() {
    assert_exact_round_trip::<Vaultwarden>();
    let host = "vault.example.com";
    let (_, b) = render_one(Named::from(Vaultwarden::new(host).id("vault")));
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

#[test]
fn forgejo_wiring() {
    assert_exact_round_trip::<Forgejo>();
    let host = "git.example.com";
    let (_, b) = render_one(Named::from(Forgejo::new(host).id("git")));
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
        setting_problems(Named::from(Forgejo::new(host).ssh_port(0).id("git"))),
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
            Named::from(Forgejo::new("code.example.com").ssh_port(22).id("code")),
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
fn all_three_together() {
    let v = compose_clean(
        instance(),
        vec![
            Named::from(Nextcloud::new("cloud.example.com").id("cloud")),
            Named::from(Vaultwarden::new("vault.example.com").id("vault")),
            Named::from(Forgejo::new("git.example.com").ssh_port(22).id("git")),
        ],
        "family stack",
    );
    let ids: Vec<&str> = v.apps().iter().map(|a| a.id()).collect();
    assert_eq!(ids, ["cloud", "git", "vault"]);
    let stack = stack_of(
        instance(),
        vec![
            Named::from(Nextcloud::new("cloud.example.com").id("cloud")),
            Named::from(Vaultwarden::new("vault.example.com").id("vault")),
            Named::from(Forgejo::new("git.example.com").ssh_port(22).id("git")),
        ],
    );
    if let Err(r) = nassella_core::build(&stack, &keys()) {
        panic!("the three apps do not build together:\n{r}");
    }
}

// ------------------------------------------------------------------ invariants of the app extensions

/// No rendered file other than the Ignition config holds the value of any secret an app
/// derives: secrets reach containers through mode-0600 env files only (never compose files,
/// commands, unit files or scripts), including secrets used by one-off jobs and hooks.
#[test]
fn derived_secrets_stay_in_the_ignition_config() {
    for entry in catalog() {
        let (v, b) = render_one(example(&entry));
        let app = &v.apps()[0];
        let secrets: Vec<(&str, SecretFormat)> = app
            .secrets()
            .iter()
            .filter_map(|s| Some((s.name(), s.format()?)))
            .collect();
        assert_secrets_hidden(&b, app.id(), &secrets);
    }
}

/// Every volume left out of backups says why in words, for the person reading the output.
#[test]
fn exclusions_from_backup_give_a_reason() {
    for entry in catalog() {
        let (v, _) = render_one(example(&entry));
        for vol in v.apps()[0].volumes() {
            if let Some(nassella_core::BackupPolicy::Exclude(why)) = vol.backup() {
                assert!(
                    why.split_whitespace().count() >= 3,
                    "{}: volume `{}` is excluded with reason {why:?}; say what it holds and why losing it is fine",
                    entry.kind,
                    vol.name()
                );
            }
        }
    }
}

/// Each one-off job becomes an enabled unit that runs after the app, in the job's service, and
/// is guarded by a marker file in the app's own part of the data volume.
#[test]
fn one_off_jobs_become_guarded_units() {
    for entry in catalog() {
        let (v, b) = render_one(example(&entry));
        let app = &v.apps()[0];
        let id = app.id();
        for job in app.one_off_jobs() {
            let name = format!("nassella-once-{id}-{}.service", job.name());
            let unit = text(&b, &format!("instance/etc/systemd/system/{name}"));
            let marker = format!("{DATA_ROOT}/{id}/.nassella-once-{}", job.name());
            assert!(
                unit.contains(&format!("ConditionPathExists=!{marker}\n")),
                "{}: {name} is not guarded by {marker}:\n{unit}",
                entry.kind
            );
            assert!(
                unit.contains(&format!("ExecStartPost=/usr/bin/touch {marker}\n")),
                "{}: {name} does not write {marker}:\n{unit}",
                entry.kind
            );
            assert!(
                unit.contains(&format!("Requires=nassella-app@{id}.service\n")),
                "{}: {name} does not run after the app:\n{unit}",
                entry.kind
            );
            assert!(
                unit.contains(&format!(" exec {id} {} ", job.service())),
                "{}: {name} does not run in `{}`:\n{unit}",
                entry.kind,
                job.service()
            );
        }
    }
}

// ------------------------------------------------------------------ wiring of the media, publishing and reading apps

/// The single `BackupHook` of `app`, as (service, the shell script it runs).
fn hook_script(app: &nassella_core::ValidatedApp) -> (String, String) {
    let hooks = app.backup_hooks();
    assert_eq!(hooks.len(), 1, "{}: one pre-backup hook", app.id());
    let cmd = hooks[0].command();
    let script = match cmd {
        [sh, c, script] if sh == "sh" && c == "-c" => script.clone(),
        other => other.join(" "),
    };
    (hooks[0].service().to_owned(), script)
}

/// A dump written to `file` through a temporary file renamed into place.
fn assert_atomic_dump(script: &str, file: &str) {
    assert!(
        script.contains(&format!("{file}.tmp"))
            && script.ends_with(&format!("&& mv {file}.tmp {file}")),
        "the dump is not written atomically: {script}"
    );
}

/// Where `service` mounts `volume`, read back from the validated app.
fn mount_of<'a>(
    app: &'a nassella_core::ValidatedApp,
    service: &str,
    volume: &str,
) -> Option<&'a str> {
    app.service(service)
        .unwrap_or_else(|| panic!("no service {service}"))
        .mount_target(volume)
}

fn excluded(app: &nassella_core::ValidatedApp, volume: &str) -> bool {
    matches!(
        app.volume(volume).and_then(|v| v.backup()),
        Some(nassella_core::BackupPolicy::Exclude(_))
    )
}

#[test]
fn immich_wiring() {
    use nassella_apps::Immich;
    assert_exact_round_trip::<Immich>();
    let host = "photos.example.com";
    let (v, b) = render_one(Named::from(Immich::new(host).id("photos")));
    let app = &v.apps()[0];
    let c = compose_file(&b, "photos");

    // The database password is letters and digits only (Immich puts it into a URL unescaped).
    let pw = app
        .secrets()
        .iter()
        .find(|s| s.name() == "db-password")
        .expect("db-password");
    let format = pw.format().expect("derived");
    assert!(matches!(format, SecretFormat::Alphanumeric(n) if n >= 24));
    let value = MasterKey::insecure_test_key().derive("photos", "db-password", format);
    assert!(value.bytes().all(|b| b.is_ascii_alphanumeric()), "{value}");
    assert_eq!(
        env_view(&b, "photos", "server")["DB_PASSWORD"],
        "<secret:photos/db-password>"
    );
    assert_eq!(
        env_view(&b, "photos", "database")["POSTGRES_PASSWORD"],
        "<secret:photos/db-password>"
    );

    assert_eq!(env(&c, "server", "DB_HOSTNAME"), Some("database"));
    assert_eq!(env(&c, "server", "REDIS_HOSTNAME"), Some("redis"));
    assert_eq!(env(&c, "server", "IMMICH_TRUSTED_PROXIES"), Some(SUBNET));
    // Photos without a time zone in their metadata are read in this one.
    assert_eq!(env(&c, "server", "TZ"), Some("Etc/UTC"));
    // The administrator by a one-off job through Immich's admin sign-up, from inside `server`.
    assert_eq!(
        env(&c, "server", "NASSELLA_ADMIN_EMAIL"),
        Some("admin@photos.example.com")
    );
    assert_eq!(
        env_view(&b, "photos", "server")["NASSELLA_ADMIN_PASSWORD"],
        "<secret:photos/admin-password>"
    );
    let job = &app.one_off_jobs()[0];
    assert_eq!((job.name(), job.service()), ("create-admin", "server"));
    assert_eq!(job.command()[..2], ["node", "-e"]);
    let js = &job.command()[2];
    for part in [
        "g('http://127.0.0.1:2283/api/auth/admin-sign-up'",
        "email:process.env.NASSELLA_ADMIN_EMAIL,password:process.env.NASSELLA_ADMIN_PASSWORD",
        "else if(s===400&&t.includes('already has an admin'))",
        "process.exit(1)",
    ] {
        assert!(js.contains(part), "{part} in {js}");
    }
    assert_eq!(
        env(&c, "server", "IMMICH_MACHINE_LEARNING_ENABLED"),
        Some("true")
    );
    assert_eq!(
        env(&c, "server", "IMMICH_MACHINE_LEARNING_URL"),
        Some("http://machine-learning:3003")
    );
    assert_eq!(mount_of(app, "server", "upload"), Some("/data"));

    // Immich's own Postgres build, Postgres 14 layout, checksums and a bigger /dev/shm.
    let db = app.service("database").expect("database");
    assert!(
        db.image()
            .starts_with("ghcr.io/immich-app/postgres:14-vectorchord"),
        "{}",
        db.image()
    );
    assert_eq!(
        mount_of(app, "database", "db"),
        Some("/var/lib/postgresql/data")
    );
    assert_eq!(
        env(&c, "database", "POSTGRES_INITDB_ARGS"),
        Some("--data-checksums")
    );
    assert_eq!(
        c["services"]["database"]["shm_size"].as_str(),
        Some("128mb")
    );

    // Networks: only the server is proxied; machine learning alone gets a way out.
    assert_eq!(app.proxied_services().collect::<Vec<_>>(), ["server"]);
    let nets: BTreeMap<&str, bool> = app
        .networks()
        .iter()
        .map(|n| (n.name(), n.is_internal()))
        .collect();
    assert_eq!(
        nets,
        BTreeMap::from([("backend", true), ("outbound", false)])
    );
    assert_eq!(
        app.service("machine-learning")
            .unwrap()
            .networks()
            .collect::<Vec<_>>(),
        ["backend", "outbound"]
    );

    // The model cache is the one volume left out of backups.
    assert_eq!(
        mount_of(app, "machine-learning", "model-cache"),
        Some("/cache")
    );
    let excluded_vols: Vec<&str> = app
        .volumes()
        .iter()
        .filter(|v| excluded(app, v.name()))
        .map(|v| v.name())
        .collect();
    assert_eq!(excluded_vols, ["model-cache"]);
    assert!(text(&b, EXCLUDES)
        .lines()
        .any(|l| l == "/data/photos/model-cache"));

    // Large uploads, one upstream at the root.
    let route = &app.routes()[0];
    assert_eq!(route.body_limit(), Some(50 << 30));
    let ups: Vec<(Option<&str>, &str, u16)> = route
        .upstreams()
        .map(|(p, u)| (p, u.service(), u.port()))
        .collect();
    assert_eq!(ups, [(None, "server", 2283)]);

    // A pg_dumpall into the backed-up dump volume.
    let (service, script) = hook_script(app);
    assert_eq!(service, "database");
    assert!(
        script.starts_with("pg_dumpall --clean --if-exists --username=postgres "),
        "{script}"
    );
    assert_atomic_dump(&script, "/dump/immich.sql");
    assert_eq!(mount_of(app, "database", "db-dump"), Some("/dump"));
    assert_eq!(app.memory_hint_mib(), Some(6144));

    // Without machine learning: no ML service, no cache, less memory.
    let entry = nassella_apps::find("immich").unwrap();
    let lean = from_entry(
        &entry,
        "photos",
        json!({"host": host, "machine_learning": false, "max_upload_gb": 5}),
    )
    .unwrap();
    let (v, b) = render_one(lean);
    let app = &v.apps()[0];
    assert!(app.service("machine-learning").is_none());
    assert!(app.volume("model-cache").is_none());
    assert_eq!(
        env(
            &compose_file(&b, "photos"),
            "server",
            "IMMICH_MACHINE_LEARNING_ENABLED"
        ),
        Some("false")
    );
    assert_eq!(app.routes()[0].body_limit(), Some(5 << 30));
    assert_eq!(app.memory_hint_mib(), Some(2048));

    let zero = from_entry(&entry, "photos", json!({"host": host, "max_upload_gb": 0})).unwrap();
    assert_eq!(setting_problems(zero), vec!["apps.photos.max_upload_gb"]);
    let berlin = from_entry(
        &entry,
        "photos",
        json!({"host": host, "time_zone": "Europe/Berlin", "admin_email": "me@example.org"}),
    )
    .unwrap();
    let (_, b) = render_one(berlin);
    let c = compose_file(&b, "photos");
    assert_eq!(env(&c, "server", "TZ"), Some("Europe/Berlin"));
    assert_eq!(
        env(&c, "server", "NASSELLA_ADMIN_EMAIL"),
        Some("me@example.org")
    );
    for bad in [
        "",
        "Europe/",
        "/etc/passwd",
        "Europe/../x",
        "A\nB",
        "Europe Berlin",
        "9/x",
    ] {
        let app = from_entry(&entry, "photos", json!({"host": host, "time_zone": bad})).unwrap();
        assert_eq!(
            setting_problems(app),
            vec!["apps.photos.time_zone"],
            "{bad:?}"
        );
    }
}

#[test]
fn jellyfin_wiring() {
    use nassella_apps::Jellyfin;
    assert_exact_round_trip::<Jellyfin>();
    let host = "media.example.com";
    let (v, b) = render_one(Named::from(Jellyfin::new(host).id("tv")));
    let app = &v.apps()[0];
    let c = compose_file(&b, "tv");

    // The cache is regenerable and left out; config and media are kept; media is read-only.
    assert!(excluded(app, "cache"));
    assert!(!excluded(app, "config") && !excluded(app, "media"));
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
    assert!(excluded(&v.apps()[0], "media"));
    assert!(text(&b, EXCLUDES).lines().any(|l| l == "/data/tv/media"));
}

#[test]
fn paperless_wiring() {
    use nassella_apps::Paperless;
    assert_exact_round_trip::<Paperless>();
    let host = "docs.example.com";
    let (v, b) = render_one(Named::from(Paperless::new(host).id("docs")));
    let app = &v.apps()[0];
    let c = compose_file(&b, "docs");

    assert_eq!(
        env(&c, "webserver", "PAPERLESS_URL"),
        Some("https://docs.example.com")
    );
    assert_eq!(
        env(&c, "webserver", "PAPERLESS_PROXY_SSL_HEADER"),
        Some(r#"["HTTP_X_FORWARDED_PROTO", "https"]"#)
    );
    assert_eq!(
        env(&c, "webserver", "PAPERLESS_REDIS"),
        Some("redis://broker:6379")
    );
    assert_eq!(env(&c, "webserver", "PAPERLESS_DBHOST"), Some("db"));
    assert_eq!(env(&c, "webserver", "PAPERLESS_ADMIN_USER"), Some("admin"));
    assert_eq!(env(&c, "webserver", "PAPERLESS_OCR_LANGUAGE"), Some("eng"));
    assert_eq!(
        env(&c, "webserver", "PAPERLESS_OCR_LANGUAGES"),
        None,
        "eng is in the image"
    );
    let view = env_view(&b, "docs", "webserver");
    assert_eq!(view["PAPERLESS_SECRET_KEY"], "<secret:docs/secret-key>");
    assert_eq!(view["PAPERLESS_DBPASS"], "<secret:docs/db-password>");
    assert_eq!(
        view["PAPERLESS_ADMIN_PASSWORD"],
        "<secret:docs/admin-password>"
    );
    // The secret key: 64 random bytes, spelled like Python's secrets.token_urlsafe(64).
    let key =
        MasterKey::insecure_test_key().derive("docs", "secret-key", SecretFormat::Base64Url(64));
    assert_eq!(key.len(), 86);
    assert!(
        key.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "{key}"
    );

    assert_eq!(
        mount_of(app, "webserver", "data"),
        Some("/usr/src/paperless/data")
    );
    assert_eq!(
        mount_of(app, "webserver", "media"),
        Some("/usr/src/paperless/media")
    );
    assert_eq!(mount_of(app, "db", "db"), Some("/var/lib/postgresql"));
    assert!(excluded(app, "broker") && !excluded(app, "media"));
    assert_eq!(app.proxied_services().collect::<Vec<_>>(), ["webserver"]);
    assert!(app.service("tika").is_none() && app.service("gotenberg").is_none());

    let (service, script) = hook_script(app);
    assert_eq!(service, "db");
    assert!(
        script.starts_with("pg_dump --username=paperless --dbname=paperless --format=custom "),
        "{script}"
    );
    assert_atomic_dump(&script, "/dump/paperless.pgdump");

    // Office documents: Gotenberg and Tika on the internal network; extra OCR languages.
    let entry = nassella_apps::find("paperless").unwrap();
    let office = from_entry(
        &entry,
        "docs",
        json!({"host": host, "office_documents": true, "ocr_language": "deu+chi_sim+eng"}),
    )
    .unwrap();
    let (v, b) = render_one(office);
    let app = &v.apps()[0];
    let c = compose_file(&b, "docs");
    for svc in ["tika", "gotenberg"] {
        assert_eq!(
            app.service(svc).unwrap().networks().collect::<Vec<_>>(),
            ["backend"],
            "{svc}"
        );
    }
    assert_eq!(env(&c, "webserver", "PAPERLESS_TIKA_ENABLED"), Some("1"));
    assert_eq!(
        env(&c, "webserver", "PAPERLESS_TIKA_ENDPOINT"),
        Some("http://tika:9998")
    );
    assert_eq!(
        env(&c, "webserver", "PAPERLESS_TIKA_GOTENBERG_ENDPOINT"),
        Some("http://gotenberg:3000")
    );
    assert_eq!(
        env(&c, "webserver", "PAPERLESS_OCR_LANGUAGE"),
        Some("deu+chi_sim+eng")
    );
    assert_eq!(
        env(&c, "webserver", "PAPERLESS_OCR_LANGUAGES"),
        Some("chi-sim")
    );
    assert!(app
        .service("tika")
        .unwrap()
        .image()
        .starts_with("docker.io/apache/tika:3."));

    let bad = from_entry(
        &entry,
        "docs",
        json!({"host": host, "admin_user": "a b", "ocr_language": "English"}),
    )
    .unwrap();
    assert_eq!(
        setting_problems(bad),
        vec!["apps.docs.admin_user", "apps.docs.ocr_language"]
    );
}

#[test]
fn ghost_wiring() {
    use nassella_apps::Ghost;
    assert_exact_round_trip::<Ghost>();
    let host = "blog.example.com";
    let (v, b) = render_one(Named::from(Ghost::new(host).id("blog")));
    let app = &v.apps()[0];
    let c = compose_file(&b, "blog");

    assert_eq!(env(&c, "ghost", "url"), Some("https://blog.example.com"));
    assert_eq!(env(&c, "ghost", "database__client"), Some("mysql"));
    assert_eq!(env(&c, "ghost", "database__connection__host"), Some("db"));
    assert_eq!(
        env(&c, "ghost", "security__staffDeviceVerification"),
        Some("false")
    );
    assert_eq!(
        env_view(&b, "blog", "ghost")["database__connection__password"],
        "<secret:blog/db-password>"
    );
    let db_env = env_view(&b, "blog", "db");
    assert_eq!(db_env["MYSQL_PASSWORD"], "<secret:blog/db-password>");
    assert_eq!(
        db_env["MYSQL_ROOT_PASSWORD"],
        "<secret:blog/db-root-password>"
    );
    assert_eq!(
        mount_of(app, "ghost", "content"),
        Some("/var/lib/ghost/content")
    );
    assert_eq!(mount_of(app, "db", "db"), Some("/var/lib/mysql"));
    assert!(app.service("db").unwrap().image().starts_with("mysql:8."));
    assert_eq!(app.routes()[0].body_limit(), Some(50 << 20));
    assert_eq!(app.proxied_services().collect::<Vec<_>>(), ["ghost"]);

    // A consistent InnoDB dump; the password comes from the environment, not the command line.
    let (service, script) = hook_script(app);
    assert_eq!(service, "db");
    assert!(
        script.starts_with(
            "MYSQL_PWD=\"$MYSQL_ROOT_PASSWORD\" mysqldump --user=root --single-transaction "
        ),
        "{script}"
    );
    assert!(!script.contains("--password"), "{script}");
    assert_atomic_dump(&script, "/dump/ghost.sql");

    let entry = nassella_apps::find("ghost").unwrap();
    let (_, b) = render_one(
        from_entry(
            &entry,
            "blog",
            json!({
                "host": host,
                "staff_device_verification": true,
                "max_upload_mb": 200,
                "smtp": {"host": "smtp.example.com", "from": "blog@example.com"}
            }),
        )
        .unwrap(),
    );
    let c = compose_file(&b, "blog");
    assert_eq!(
        env(&c, "ghost", "security__staffDeviceVerification"),
        Some("true")
    );
    assert!(site_block(text(&b, CADDYFILE), host).contains(&format!("max_size {}", 200u64 << 20)));
    let zero = from_entry(&entry, "blog", json!({"host": host, "max_upload_mb": 0})).unwrap();
    assert_eq!(setting_problems(zero), vec!["apps.blog.max_upload_mb"]);
}

#[test]
fn wordpress_wiring() {
    use nassella_apps::WordPress;
    assert_exact_round_trip::<WordPress>();
    let host = "www.example.com";
    let (v, b) = render_one(Named::from(
        WordPress::new(host, "me@example.com").id("site"),
    ));
    let app = &v.apps()[0];
    let c = compose_file(&b, "site");

    // app and cli read the same database settings; the eight keys and salts (derived secrets)
    // go to the web server only.
    for svc in ["app", "cli"] {
        let view = env_view(&b, "site", svc);
        for key in [
            "AUTH_KEY",
            "SECURE_AUTH_KEY",
            "LOGGED_IN_KEY",
            "NONCE_KEY",
            "AUTH_SALT",
            "SECURE_AUTH_SALT",
            "LOGGED_IN_SALT",
            "NONCE_SALT",
        ] {
            let name = key.to_lowercase().replace('_', "-");
            let want = (svc == "app").then(|| format!("<secret:site/{name}>"));
            assert_eq!(
                view.get(&format!("WORDPRESS_{key}")),
                want.as_ref(),
                "{svc}"
            );
        }
        assert_eq!(
            view["WORDPRESS_DB_PASSWORD"], "<secret:site/db-password>",
            "{svc}"
        );
        assert_eq!(env(&c, svc, "WORDPRESS_DB_HOST"), Some("db"), "{svc}");
        assert_eq!(
            env(&c, svc, "WORDPRESS_CONFIG_EXTRA"),
            Some("define('WP_HOME', 'https://www.example.com'); define('WP_SITEURL', 'https://www.example.com');"),
            "{svc}"
        );
        assert_eq!(mount_of(app, svc, "html"), Some("/var/www/html"), "{svc}");
    }

    // Installation: a one-off job in the idle WP-CLI container, skipped once installed.
    let jobs = app.one_off_jobs();
    assert_eq!(jobs.len(), 1);
    assert_eq!((jobs[0].name(), jobs[0].service()), ("install", "cli"));
    let script = jobs[0].command().join(" ");
    assert!(
        script.starts_with("sh -c wp core is-installed || wp core install "),
        "{script}"
    );
    assert!(
        script.contains("--admin_password=\"$WP_ADMIN_PASSWORD\""),
        "{script}"
    );
    assert_eq!(
        env_view(&b, "site", "cli")["WP_ADMIN_PASSWORD"],
        "<secret:site/admin-password>"
    );
    assert_eq!(env(&c, "cli", "WP_ADMIN_EMAIL"), Some("me@example.com"));
    assert_eq!(env(&c, "cli", "WP_ADMIN_USER"), Some("admin"));
    assert_eq!(env(&c, "cli", "WP_URL"), Some("https://www.example.com"));
    assert_eq!(c["services"]["cli"]["user"].as_str(), Some("33:33"));
    assert_eq!(app.proxied_services().collect::<Vec<_>>(), ["app"]);
    assert!(text(
        &b,
        "instance/etc/systemd/system/nassella-once-site-install.service"
    )
    .contains("ConditionPathExists=!/srv/data/site/.nassella-once-install"));

    // Uploads: PHP's limits and the proxy's agree.
    assert_eq!(env(&c, "app", "PHP_UPLOAD_LIMIT"), Some("64M"));
    assert_eq!(app.routes()[0].body_limit(), Some(64 << 20));
    let start = strings(&c["services"]["app"]["command"]).join(" ");
    assert!(start.contains("/usr/local/etc/php/conf.d/nassella-uploads.ini && exec docker-entrypoint.sh apache2-foreground"), "{start}");

    assert_eq!(mount_of(app, "db", "db"), Some("/var/lib/mysql"));
    let (service, script) = hook_script(app);
    assert_eq!(service, "db");
    assert!(
        script.starts_with(
            "MYSQL_PWD=\"$MARIADB_ROOT_PASSWORD\" mariadb-dump --user=root --single-transaction "
        ),
        "{script}"
    );
    assert_atomic_dump(&script, "/dump/wordpress.sql");

    let entry = nassella_apps::find("wordpress").unwrap();
    let bad = from_entry(&entry, "site",
        json!({"host": host, "admin_email": "not an address", "admin_user": "", "title": " ", "max_upload_mb": 0}),
    )
    .unwrap();
    assert_eq!(
        setting_problems(bad),
        vec![
            "apps.site.admin_user",
            "apps.site.admin_email",
            "apps.site.title",
            "apps.site.max_upload_mb"
        ]
    );
    let err =
        from_entry(&entry, "site", json!({"host": host})).expect_err("admin_email is required");
    assert!(err.contains("admin_email"), "{err}");
}

#[test]
fn uptime_kuma_wiring() {
    use nassella_apps::UptimeKuma;
    assert_exact_round_trip::<UptimeKuma>();
    let host = "status.example.com";
    let (v, b) = render_one(Named::from(UptimeKuma::new(host).id("status")));
    let app = &v.apps()[0];
    assert_eq!(mount_of(app, "app", "data"), Some("/app/data"));
    assert!(!excluded(app, "data"));
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

#[test]
fn miniflux_wiring() {
    use nassella_apps::Miniflux;
    assert_exact_round_trip::<Miniflux>();
    let host = "rss.example.com";
    let (v, b) = render_one(Named::from(Miniflux::new(host).id("rss")));
    let app = &v.apps()[0];
    let c = compose_file(&b, "rss");

    // A stable media-proxy key (Miniflux picks a random one at every start otherwise).
    let view = env_view(&b, "rss", "app");
    assert_eq!(
        view["MEDIA_PROXY_PRIVATE_KEY"],
        "<secret:rss/media-proxy-private-key>"
    );
    assert_eq!(
        view["DATABASE_URL"],
        "postgres://miniflux:<secret:rss/db-password>@db/miniflux?sslmode=disable"
    );
    assert_eq!(view["ADMIN_PASSWORD"], "<secret:rss/admin-password>");
    assert_eq!(
        env(&c, "app", "TRUSTED_REVERSE_PROXY_NETWORKS"),
        Some(SUBNET)
    );
    assert_eq!(env(&c, "app", "BASE_URL"), Some("https://rss.example.com"));
    assert_eq!(env(&c, "app", "RUN_MIGRATIONS"), Some("1"));
    assert_eq!(env(&c, "app", "CREATE_ADMIN"), Some("1"));
    assert_eq!(env(&c, "app", "ADMIN_USERNAME"), Some("admin"));
    assert!(
        app.service("app").unwrap().mounts().is_empty(),
        "the app keeps nothing"
    );
    assert_eq!(
        app.service("app")
            .unwrap()
            .health_check()
            .map(|h| h.test().join(" "))
            .as_deref(),
        Some("/usr/bin/miniflux -healthcheck auto")
    );
    assert_eq!(mount_of(app, "db", "db"), Some("/var/lib/postgresql"));
    let (service, script) = hook_script(app);
    assert_eq!(service, "db");
    assert_atomic_dump(&script, "/dump/miniflux.pgdump");

    let entry = nassella_apps::find("miniflux").unwrap();
    let bad = from_entry(
        &entry,
        "rss",
        json!({"host": host, "admin_user": "no spaces"}),
    )
    .unwrap();
    assert_eq!(setting_problems(bad), vec!["apps.rss.admin_user"]);
}

#[test]
fn freshrss_wiring() {
    use nassella_apps::FreshRss;
    assert_exact_round_trip::<FreshRss>();
    let host = "feeds.example.com";
    let (v, b) = render_one(Named::from(
        FreshRss::new(host).admin_user("alice").id("feeds"),
    ));
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
