//! Hostile configs, a bounded number per CI run (`examples/hostile.rs` runs ten thousand and
//! more): no panic, every error placed, every build parsed back with each artifact's grammar
//! holding nothing the config did not ask for, and a sample checked with the real tools.
//! See `tests/hostile_gen/mod.rs` for what is generated and checked.

#[path = "hostile_gen/mod.rs"]
mod hostile_gen;

use hostile_gen::{case, real_tools, run, Tally};

/// Cases per CI run: a few seconds.
const CASES: u64 = 400;
/// Built cases also checked with Caddy, Compose, bash and systemd-analyze.
const REAL: u64 = 3;

#[test]
fn hostile_configs_never_escape_and_every_error_is_placed() {
    let seed = 10;
    let mut tally = Tally::default();
    for n in 0..CASES {
        let c = case(seed, n);
        let o = run(&c);
        tally.add(n, &o);
        if o.built && tally.real_checked < REAL {
            tally.real_checked += 1;
            for r in real_tools(&c) {
                tally.escape_count += 1;
                tally.escapes.push(format!("case {n}: {r}"));
            }
        }
    }
    eprintln!("{}", tally.summary());
    assert_eq!(tally.panics, 0, "panics: {:#?}", tally.panic_messages);
    assert_eq!(tally.escape_count, 0, "escapes: {:#?}", tally.escapes);
    assert_eq!(
        tally.none, 0,
        "errors without a place: {:#?}",
        tally.unlocated
    );
    assert!(
        tally.built > 0,
        "no case built: the generator is too hostile to test output"
    );
    assert!(tally.path_and_line > 0);
    assert_eq!(
        tally.real_checked, REAL,
        "too few cases built to check with the real tools"
    );
}

/// The generator is hostile where it matters: these exact attacks from issue #10 are refused.
#[test]
fn the_reported_attacks_are_refused_at_their_key_and_line() {
    let cases = [
        (
            "reboot_window_start = \"Sun 04:00\\nREBOOT_STRATEGY=off\"",
            "instance.reboot_window_start",
            5,
        ),
        (
            "reboot_window_length = \"1h\\u0000\"",
            "instance.reboot_window_length",
            5,
        ),
        (
            "tls = { mode = \"acme\", email = \"admin@example.com\\\\\" }",
            "instance.tls.email",
            5,
        ),
        (
            "tls = { mode = \"acme\", email = \"{$HOME}@example.com\" }",
            "instance.tls.email",
            5,
        ),
    ];
    for (line, path, at) in cases {
        let text = format!(
            "# [backup] is mentioned here\n[instance]\nname = \"x\"\nprovider = \"local\"\n{line}\n\n[ backup ]\nrepository = \"s3:x/y\"\n\n[apps.web]\napp = \"hello\"\nhost = \"a.example.com\"\n"
        );
        let (stack, report) = nassella_cli::config::parse("c.config", &text).expect("TOML");
        assert!(!report.has_errors(), "{report}");
        let r = nassella_core::compose(&stack).expect_err(line);
        let p = r
            .problems()
            .iter()
            .find(|p| p.path == path)
            .unwrap_or_else(|| panic!("{line}: no error at {path}: {r}"));
        assert_eq!(p.origin.as_ref().map(|o| o.line), Some(at), "{p}");
        assert!(!p.to_string().contains(['\n', '\0']), "{p}");
    }
    let backup = [
        ("schedule = \"daily\\rPersistent=false\"", "backup.schedule"),
        ("schedule = \"daily\\\\\"", "backup.schedule"),
        ("schedule = \"daily\\u0000\"", "backup.schedule"),
        (
            "notify_url = \"https://x.example\\u0000\"",
            "backup.notify_url",
        ),
    ];
    for (line, path) in backup {
        let text = format!(
            "[instance]\nname = \"x\"\nprovider = \"local\"\n\n# a comment about [backup]\n[ backup ]\nrepository = \"s3:x/y\"\n{line}\n\n[apps.web]\napp = \"hello\"\nhost = \"a.example.com\"\n"
        );
        match nassella_cli::config::parse("c.config", &text) {
            Err(e) => panic!("{line}: {e}"),
            Ok((stack, _)) => {
                let r = nassella_core::compose(&stack).expect_err(line);
                let p = r
                    .problems()
                    .iter()
                    .find(|p| p.path == path)
                    .unwrap_or_else(|| panic!("{r}"));
                assert_eq!(p.origin.as_ref().map(|o| o.line), Some(8), "{p}");
            }
        }
    }
    // Retention at the top of u32 does not overflow: it builds.
    for keep in [
        "keep_daily = 4294967295\nkeep_weekly = 1",
        "keep_daily = 4294967295\nkeep_weekly = 4294967295\nkeep_monthly = 4294967295",
    ] {
        let text = format!("[instance]\nname = \"x\"\nprovider = \"local\"\n[backup]\nrepository = \"s3:x/y\"\n{keep}\n[apps.web]\napp = \"hello\"\nhost = \"a.example.com\"\n");
        let (stack, _) = nassella_cli::config::parse("c.config", &text).expect("TOML");
        let keys = nassella_core::Keys::new(nassella_core::MasterKey::insecure_test_key());
        let b = nassella_core::build(&stack, &keys).unwrap_or_else(|r| panic!("{r}"));
        let script =
            String::from_utf8_lossy(b.bundle.get("instance/etc/nassella/bin/backup.sh").unwrap())
                .into_owned();
        assert!(
            script.contains("--keep-daily 4294967295"),
            "the count is kept as given"
        );
    }
    // An unknown key in the tls table is an error naming it.
    let text = "[instance]\nname = \"x\"\ntls = { mode = \"acme\", emial = \"a@b.c\" }\n";
    let e = nassella_cli::config::parse("c.config", text).expect_err("unknown key");
    assert!(e.contains("emial") && e.contains("line 3"), "{e}");
}

/// When every app has an error, the report does not add "the stack has no apps".
#[test]
fn no_apps_is_not_reported_when_each_app_had_an_error() {
    let text = "[instance]\nname = \"x\"\nprovider = \"local\"\n[apps.web]\napp = \"hello\"\nhots = \"a.example.com\"\n";
    let (stack, report) = nassella_cli::config::parse("c.config", text).expect("TOML");
    assert!(report.has_errors());
    let more = nassella_core::compose(&stack).expect_err("no apps left");
    let all = nassella_cli::config::merge(report, &more).to_string();
    assert!(all.contains("apps.web.hots (c.config:6)"), "{all}");
    assert!(!all.contains("no apps"), "{all}");
}
