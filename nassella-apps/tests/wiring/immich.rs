//! The wiring of Immich (`nassella-apps/src/immich.rs`), read back from what it renders.

use super::*;

#[test]
fn immich_wiring() {
    use nassella_apps::Immich;
    assert_exact_round_trip::<Immich>();
    let host = "photos.example.com";
    let (v, b) = render_one(Immich::new(host).id("photos"));
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
        .filter(|v| volume_excluded(app, v.name()))
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
