//! What apps build on beyond services and routes: read access to a validated app, one-off jobs
//! and their units, URL-safe secrets, and settings problems reported instead of panics.

use nassella_core::{
    compose, render, App, AppContext, Backup, BackupHook, BackupPolicy, Contribution, DependsOn,
    Healthcheck, Instance, Job, Keys, MasterKey, Network, OneOffJob, Route, Secret, SecretFormat,
    Service, Stack, Upstream, Value, Volume,
};
use serde_json::Value as Json;

/// A small app that uses every kind of item once or twice.
#[derive(Debug)]
struct Full;

impl App for Full {
    fn kind(&self) -> &str {
        "full"
    }

    fn id(&self) -> &str {
        "full"
    }

    fn contribute(&self, _cx: &AppContext<'_>) -> Contribution {
        let mut c = Contribution::new();
        let data = c.volume(Volume::new("data").backed_up());
        let cache = c.volume(Volume::new("cache").excluded_from_backup("thumbnails, regenerated"));
        let db_net = c.network(Network::internal("db"));
        let pw = c.secret(Secret::new("db-password", SecretFormat::Alphanumeric(32)));
        let key = c.secret(Secret::new("signing-key", SecretFormat::Base64Url(32)));
        c.service(
            Service::new("web", "example/web:1.0")
                .env(
                    "DATABASE_URL",
                    Value::concat(["postgres://web:".into(), (&pw).into(), "@db/web".into()]),
                )
                .env("SIGNING_KEY", &key)
                .env("MODE", "production")
                .mount(&data, "/data")
                .mount_read_only(&cache, "/cache")
                .network(&db_net)
                .port(8080)
                .depends_on_healthy("db"),
        );
        c.service(
            Service::new("db", "example/db:2.0")
                .env("PASSWORD", &pw)
                .command(["db", "--fast"])
                .network(&db_net)
                .healthcheck(Healthcheck::cmd(["db-ready"])),
        );
        c.route(
            Route::new("full.example.com")
                .max_body_bytes(1 << 20)
                .redirect("/.well-known/x", "/x")
                .proxy_path("/ws", Upstream::new("web", 8080))
                .proxy(Upstream::new("web", 8080)),
        );
        c.backup_hook(BackupHook::new("db", ["db-dump", "/data/dump"]));
        c.job(Job::new("tick", "web", "hourly", ["web", "tick"]));
        c.one_off_job(OneOffJob::new("migrate", "web", ["web", "migrate"]));
        c.one_off_job(OneOffJob::new(
            "admin",
            "web",
            [
                "sh",
                "-c",
                "web create-admin --password \"$ADMIN_PASSWORD\"",
            ],
        ));
        c
    }
}

fn stack() -> Stack {
    Stack::new(Instance::new("test"))
        .backup(Backup::new("s3:s3.example.com/b/p"))
        .app(Full)
        .image_override("example/db:2.0", "mirror.example.com/db:2.0")
}

#[test]
fn a_validated_app_can_be_read_without_rendering() {
    let v = compose(&stack()).unwrap_or_else(|r| panic!("{r}"));
    let app = &v.apps()[0];

    let names: Vec<&str> = app.services().iter().map(|s| s.name()).collect();
    assert_eq!(names, ["web", "db"]);
    let web = app.service("web").expect("web");
    let db = app.service("db").expect("db");
    assert_eq!(
        db.image(),
        "mirror.example.com/db:2.0",
        "after image overrides"
    );
    assert_eq!(web.ports(), [8080]);
    assert_eq!(web.mount_target("data"), Some("/data"));
    let cache = &web.mounts()[1];
    assert_eq!(
        (cache.volume(), cache.target(), cache.is_read_only()),
        ("cache", "/cache", true)
    );
    assert_eq!(web.networks().collect::<Vec<_>>(), ["db"]);
    assert_eq!(
        web.env_keys().collect::<Vec<_>>(),
        ["DATABASE_URL", "MODE", "SIGNING_KEY"]
    );
    let url = web.env_value("DATABASE_URL").expect("set");
    assert!(url.is_secret());
    assert_eq!(url.text(), None);
    assert_eq!(url.secret_names().collect::<Vec<_>>(), ["db-password"]);
    assert_eq!(url.redacted(), "postgres://web:<secret:db-password>@db/web");
    assert_eq!(
        web.env_value("MODE").and_then(Value::text).as_deref(),
        Some("production")
    );
    assert_eq!(
        web.dependencies().collect::<Vec<_>>(),
        [("db", DependsOn::Healthy)]
    );
    assert_eq!(
        db.command_args(),
        Some(&["db".to_owned(), "--fast".to_owned()][..])
    );
    assert_eq!(db.entrypoint_args(), None);
    assert_eq!(
        db.health_check().map(Healthcheck::test),
        Some(&["db-ready".to_owned()][..])
    );
    assert_eq!(app.proxied_services().collect::<Vec<_>>(), ["web"]);

    let policies: Vec<(&str, Option<&BackupPolicy>)> = app
        .volumes()
        .iter()
        .map(|v| (v.name(), v.backup()))
        .collect();
    assert_eq!(
        policies,
        [
            ("data", Some(&BackupPolicy::Include)),
            (
                "cache",
                Some(&BackupPolicy::Exclude("thumbnails, regenerated".into()))
            )
        ]
    );
    assert!(app.volume("cache").is_some());
    assert_eq!(
        app.networks()
            .iter()
            .map(|n| (n.name(), n.is_internal()))
            .collect::<Vec<_>>(),
        [("db", true)]
    );
    assert_eq!(
        app.secrets()
            .iter()
            .map(|s| (s.name(), s.format()))
            .collect::<Vec<_>>(),
        [
            ("db-password", Some(SecretFormat::Alphanumeric(32))),
            ("signing-key", Some(SecretFormat::Base64Url(32)))
        ]
    );

    let route = &app.routes()[0];
    assert_eq!(route.host(), "full.example.com");
    assert_eq!(route.body_limit(), Some(1 << 20));
    assert_eq!(
        route.redirects().collect::<Vec<_>>(),
        [("/.well-known/x", "/x", 301)]
    );
    let ups: Vec<(Option<&str>, &str, u16)> = route
        .upstreams()
        .map(|(p, u)| (p, u.service(), u.port()))
        .collect();
    assert_eq!(ups, [(Some("/ws"), "web", 8080), (None, "web", 8080)]);

    let hook = &app.backup_hooks()[0];
    assert_eq!(
        (hook.service(), hook.command()),
        ("db", &["db-dump".to_owned(), "/data/dump".to_owned()][..])
    );
    let job = &app.jobs()[0];
    assert_eq!(
        (job.name(), job.service(), job.on_calendar()),
        ("tick", "web", "hourly")
    );
    let once: Vec<(&str, &str)> = app
        .one_off_jobs()
        .iter()
        .map(|j| (j.name(), j.service()))
        .collect();
    assert_eq!(once, [("migrate", "web"), ("admin", "web")]);
    assert!(app.tcp_ports().is_empty());
}

/// Unit file `name` from the readable copy of the instance.
fn unit(b: &nassella_core::Bundle, name: &str) -> String {
    let path = format!("instance/etc/systemd/system/{name}");
    String::from_utf8(b.get(&path).unwrap_or_else(|| panic!("no {path}")).to_vec()).expect("text")
}

fn lines(unit: &str, key: &str) -> Vec<String> {
    unit.lines()
        .filter_map(|l| l.strip_prefix(&format!("{key}=")))
        .map(str::to_owned)
        .collect()
}

#[test]
fn one_off_jobs_run_once_per_data_volume_in_order_after_the_app() {
    let v = compose(&stack()).unwrap_or_else(|r| panic!("{r}"));
    let b = render(&v, &Keys::new(MasterKey::insecure_test_key()));

    let first = unit(&b, "nassella-once-full-migrate.service");
    // Docker and the metadata firewall first, like every unit that runs a container.
    let deps = "docker.service nassella-metadata-firewall.service";
    assert_eq!(
        lines(&first, "Requires"),
        [deps, "nassella-app@full.service"]
    );
    assert_eq!(lines(&first, "After"), [deps, "nassella-app@full.service"]);
    assert_eq!(lines(&first, "RequiresMountsFor"), ["/srv/data"]);
    assert_eq!(
        lines(&first, "ConditionPathExists"),
        ["!/srv/data/full/.nassella-once-migrate"]
    );
    assert_eq!(lines(&first, "Type"), ["oneshot"]);
    let exec = lines(&first, "ExecStart");
    assert_eq!(exec.len(), 1);
    assert!(exec[0].ends_with(" exec full web web migrate"), "{exec:?}");
    assert_eq!(
        lines(&first, "ExecStartPost"),
        [
            "/usr/bin/mkdir -p /srv/data/full",
            "/usr/bin/touch /srv/data/full/.nassella-once-migrate"
        ],
        "the marker is written only after the command succeeded"
    );
    assert_eq!(lines(&first, "WantedBy"), ["multi-user.target"]);

    let second = unit(&b, "nassella-once-full-admin.service");
    assert_eq!(
        lines(&second, "After"),
        [
            deps,
            "nassella-app@full.service nassella-once-full-migrate.service"
        ]
    );
    assert_eq!(
        lines(&second, "ConditionPathExists"),
        ["!/srv/data/full/.nassella-once-admin"]
    );
    // `$` is doubled for systemd, so the variable reaches the container's shell.
    let exec = lines(&second, "ExecStart").join("");
    assert!(exec.contains("$$ADMIN_PASSWORD"), "{exec}");

    // Both are enabled in the Ignition config.
    let ign: Json = serde_json::from_slice(b.ignition()).expect("JSON");
    for name in [
        "nassella-once-full-migrate.service",
        "nassella-once-full-admin.service",
    ] {
        let u = ign["systemd"]["units"]
            .as_array()
            .expect("units")
            .iter()
            .find(|u| u["name"] == name)
            .unwrap_or_else(|| panic!("{name} not in the Ignition config"));
        assert_eq!(u["enabled"], Json::Bool(true), "{name}");
    }
}

#[test]
fn an_app_without_one_off_jobs_gets_no_once_units() {
    #[derive(Debug)]
    struct Plain;
    impl App for Plain {
        fn kind(&self) -> &str {
            "plain"
        }
        fn contribute(&self, _cx: &AppContext<'_>) -> Contribution {
            let mut c = Contribution::new();
            c.service(Service::new("web", "example/web:1.0").port(80));
            c.route(Route::new("plain.example.com").proxy(Upstream::new("web", 80)));
            c
        }
    }
    let v = compose(
        &Stack::new(Instance::new("test"))
            .backup(Backup::new("s3:x/y"))
            .app(Plain),
    )
    .unwrap_or_else(|r| panic!("{r}"));
    let b = render(&v, &Keys::new(MasterKey::insecure_test_key()));
    assert!(
        !b.files().keys().any(|p| p.contains("nassella-once-")),
        "no one-off units"
    );
}

#[test]
fn url_safe_secrets_reach_env_files_unpadded() {
    let v = compose(&stack()).unwrap_or_else(|r| panic!("{r}"));
    let keys = Keys::new(MasterKey::insecure_test_key());
    let b = render(&v, &keys);
    let key = keys
        .master()
        .derive("full", "signing-key", SecretFormat::Base64Url(32));
    assert_eq!(key.len(), 43);
    assert!(!key.contains('='));
    let view = String::from_utf8(
        b.get("instance/etc/nassella/apps/full/web.env")
            .expect("env file")
            .to_vec(),
    )
    .expect("text");
    assert!(
        view.contains("SIGNING_KEY='<secret:full/signing-key>'"),
        "{view}"
    );
    for (path, bytes) in b.files() {
        if path != nassella_core::render::IGNITION_FILE {
            assert!(
                !String::from_utf8_lossy(bytes).contains(&key),
                "the secret leaks into {path}"
            );
        }
    }
}
