//! Invariants every registered app must keep, checked by looping over `nassella_apps::catalog()`:
//! a new app is covered without new tests. What only one app does is tested in
//! `tests/wiring/<app>.rs`.

mod common;

use common::*;
use std::collections::BTreeSet;

use nassella_apps::{catalog, Entry};
use nassella_core::composer::{image_pinned, valid_name, MAX_APP_ID};
use nassella_core::{compose, render, ProblemKind, SecretFormat};
use serde_json::{json, Map, Value as Json};

const DATA_ROOT: &str = "/srv/data";

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
    from_entry(entry, id, Json::Object(settings.clone()))
        .unwrap_or_else(|e| panic!("{}: settings {settings:?} rejected: {e}", entry.kind))
}

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
        let bundle = render(&v, &keys()).unwrap_or_else(|r| panic!("{r}"));
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
