//! Helpers shared by the catalog's integration tests (`invariants.rs`, `wiring_b.rs`): build a
//! stack of apps on a test instance, compose and render it cleanly, and read the rendered files
//! back (compose YAML, env-file views, Caddyfile sites, backup hooks, units).
//!
//! Each test file uses a part of them, hence `dead_code` is allowed here.

#![allow(dead_code)]

use std::collections::BTreeMap;

use nassella_apps::{CatalogApp, Entry};
use nassella_core::{
    compose, render, App, Backup, Bundle, Instance, Keys, MasterKey, Origin, ProblemKind,
    SecretFormat, Stack, ValidatedStack,
};
use serde_json::Value as Json;
use serde_yaml_ng::Value as Yaml;

/// Not the default subnet, so a test sees the value flow from the instance into the apps.
pub const SUBNET: &str = "10.77.0.0/24";
/// The proxy's Caddyfile in a bundle.
pub const CADDYFILE: &str = "instance/etc/nassella/proxy/Caddyfile";
/// The backup script in a bundle.
pub const BACKUP_SH: &str = "instance/etc/nassella/bin/backup.sh";
/// The backup exclusions in a bundle.
pub const EXCLUDES: &str = "instance/etc/nassella/backup/excludes.txt";
/// The systemd units in a bundle.
pub const UNITS: &str = "instance/etc/systemd/system";

/// The test instance: a server type large enough for any app (the memory check is tested in
/// nassella-core's reports, not here).
pub fn instance() -> Instance {
    Instance::new("test")
        .proxy_subnet(SUBNET)
        .server_type("cx53")
}

/// A stack entry: an app and the id the stack gives it (the app itself has none). From any app
/// under its kind, or with [`NamedExt::id`] under another id.
#[derive(Debug)]
pub struct Named {
    pub id: String,
    pub app: Box<dyn App>,
}

impl<T: App + 'static> From<T> for Named {
    fn from(app: T) -> Self {
        Self {
            id: app.kind().to_owned(),
            app: Box::new(app),
        }
    }
}

/// The example of `entry` under its kind.
pub fn example(entry: &Entry) -> Named {
    Named {
        id: entry.kind.to_owned(),
        app: (entry.example)(),
    }
}

/// `app.id("cloud")`: the app as a stack entry under another id than its kind.
pub trait NamedExt: App + Sized + 'static {
    fn id(self, id: &str) -> Named {
        Named {
            id: id.to_owned(),
            app: Box::new(self),
        }
    }
}

impl<T: App + 'static> NamedExt for T {}

pub fn stack_of(instance: Instance, apps: Vec<Named>) -> Stack {
    let mut stack = Stack::new(instance).backup(Backup::new("s3:s3.example.com/b/p"));
    for (i, Named { id, app }) in apps.into_iter().enumerate() {
        let line = u32::try_from(i + 1).expect("few apps");
        stack = stack.app_at(id, app, Origin::file_line("test", line));
    }
    stack
}

pub fn keys() -> Keys {
    Keys::new(MasterKey::insecure_test_key())
}

/// Compose `apps`; fail the test with the whole report on any error or warning.
pub fn compose_clean(instance: Instance, apps: Vec<Named>, what: &str) -> ValidatedStack {
    let stack = stack_of(instance, apps);
    let v = compose(&stack).unwrap_or_else(|r| panic!("{what}: compose failed:\n{r}"));
    assert!(
        v.warnings().is_empty(),
        "{what}: compose warned:\n{}",
        v.warnings()
    );
    v
}

pub fn render_one(app: impl Into<Named>) -> (ValidatedStack, Bundle) {
    render_on(instance(), app)
}

pub fn render_on(instance: Instance, app: impl Into<Named>) -> (ValidatedStack, Bundle) {
    let app = app.into();
    let what = format!("{} `{}`", app.app.kind(), app.id);
    let v = compose_clean(instance, vec![app], &what);
    let b = render(&v, &keys()).unwrap_or_else(|r| panic!("{what}: {r}"));
    (v, b)
}

pub fn text<'a>(b: &'a Bundle, path: &str) -> &'a str {
    let bytes = b
        .get(path)
        .unwrap_or_else(|| panic!("the bundle has no {path}"));
    std::str::from_utf8(bytes).expect("text file")
}

pub fn compose_file(b: &Bundle, id: &str) -> Yaml {
    let path = format!("instance/etc/nassella/apps/{id}/compose.yaml");
    serde_yaml_ng::from_str(text(b, &path)).unwrap_or_else(|e| panic!("{path} is not YAML: {e}"))
}

pub fn env<'a>(compose: &'a Yaml, service: &str, key: &str) -> Option<&'a str> {
    compose["services"][service]["environment"][key].as_str()
}

pub fn strings(v: &Yaml) -> Vec<String> {
    v.as_sequence()
        .map(|s| {
            s.iter()
                .map(|x| x.as_str().expect("string item").to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// The env-file view of a service: `KEY='value'` lines with secrets as `<secret:app/name>`.
pub fn env_view(b: &Bundle, id: &str, service: &str) -> BTreeMap<String, String> {
    text(b, &format!("instance/etc/nassella/apps/{id}/{service}.env"))
        .lines()
        .map(|l| {
            let (k, v) = l.split_once('=').expect("KEY=value");
            (k.to_owned(), v.trim_matches('\'').to_owned())
        })
        .collect()
}

/// The body of the Caddyfile site block for `host` (sites are top-level blocks).
pub fn site_block(caddyfile: &str, host: &str) -> String {
    let start = caddyfile
        .lines()
        .position(|l| l == format!("{host} {{") || l == format!("http://{host} {{"))
        .unwrap_or_else(|| panic!("no site for {host} in:\n{caddyfile}"));
    caddyfile
        .lines()
        .skip(start)
        .take_while(|l| *l != "}")
        .collect::<Vec<_>>()
        .join("\n")
}

/// An app's example, written out as config settings and read back, renders byte for byte the
/// same as the example itself.
pub fn assert_exact_round_trip<T: CatalogApp + serde::Serialize>() {
    let settings = serde_json::to_value(T::example()).expect("settings serialize");
    let entry = Entry::of::<T>();
    let from_config = (entry.from_settings)(settings.clone()).expect("settings accepted");
    let (_, direct) = render_one(T::example());
    let (_, via_config) = render_one(Named {
        id: T::KIND.to_owned(),
        app: from_config,
    });
    assert_eq!(
        direct,
        via_config,
        "{}: settings {settings} do not round-trip",
        T::KIND
    );
}

/// No rendered file other than the Ignition config holds the value of a derived secret.
pub fn assert_secrets_hidden(b: &Bundle, id: &str, secrets: &[(&str, SecretFormat)]) {
    for (name, format) in secrets {
        let value = MasterKey::insecure_test_key().derive(id, name, *format);
        for (path, bytes) in b.files() {
            if path == nassella_core::render::IGNITION_FILE {
                continue;
            }
            let s = String::from_utf8_lossy(bytes);
            assert!(!s.contains(&value), "secret {id}/{name} leaks into {path}");
        }
    }
}

/// The paths of the `InvalidSettings` errors composing `app` alone reports; each names the line
/// that added the app.
pub fn setting_problems(app: impl Into<Named>) -> Vec<String> {
    let r = compose(&stack_of(instance(), vec![app.into()])).expect_err("bad settings are errors");
    r.problems()
        .iter()
        .filter(|p| matches!(p.kind, ProblemKind::InvalidSettings(_)))
        .map(|p| {
            assert_eq!(p.origin, Some(Origin::file_line("test", 1)), "{p}");
            p.path.clone()
        })
        .collect()
}

/// The targets a service mounts, in order, with `:ro` for read-only mounts.
pub fn mounts(c: &Yaml, service: &str) -> Vec<String> {
    c["services"][service]["volumes"]
        .as_sequence()
        .into_iter()
        .flatten()
        .map(|m| {
            let target = m["target"].as_str().expect("target").to_owned();
            if m["read_only"].as_bool() == Some(true) {
                format!("{target}:ro")
            } else {
                target
            }
        })
        .collect()
}

/// The app networks a service joins (and `proxy` when a route targets it).
pub fn networks(c: &Yaml, service: &str) -> Vec<String> {
    c["services"][service]["networks"]
        .as_mapping()
        .map(|m| {
            m.keys()
                .map(|k| k.as_str().expect("name").to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// A service's shell wrapper (`sh -c SCRIPT` as command or entrypoint), with compose's `$$`
/// turned back into the `$` the container sees.
pub fn shell(c: &Yaml, service: &str, field: &str) -> String {
    let argv = strings(&c["services"][service][field]);
    assert_eq!(argv[..2], ["sh", "-c"], "{service} {field}: {argv:?}");
    argv[2].replace("$$", "$")
}

/// The settings of `kind` from JSON, read as a config file would, as the stack entry `id`.
pub fn from_json(kind: &str, id: &str, settings: Json) -> Named {
    from_entry(
        &nassella_apps::find(kind).expect("registered"),
        id,
        settings,
    )
    .unwrap_or_else(|e| panic!("{kind}: rejected: {e}"))
}

/// The settings of `entry` from JSON, as the stack entry `id` (what `[apps.<id>]` gives).
pub fn from_entry(entry: &Entry, id: &str, settings: Json) -> Result<Named, String> {
    (entry.from_settings)(settings).map(|app| Named {
        id: id.to_owned(),
        app,
    })
}

/// Every pre-backup hook line of the backup script for app `id`.
pub fn hooks<'a>(b: &'a Bundle, id: &str) -> Vec<&'a str> {
    let needle = format!("app.sh\" exec {id} ");
    text(b, BACKUP_SH)
        .lines()
        .filter(|l| l.contains(&needle))
        .collect()
}

pub fn unit<'a>(b: &'a Bundle, name: &str) -> &'a str {
    text(b, &format!("{UNITS}/{name}"))
}

/// Bytes in a MiB.
pub const MIB: u64 = 1 << 20;

pub fn services(compose: &Yaml) -> Vec<(String, &Yaml)> {
    compose["services"]
        .as_mapping()
        .expect("services is a mapping")
        .iter()
        .map(|(k, v)| (k.as_str().expect("service name").to_owned(), v))
        .collect()
}

/// Host ports a compose file publishes.
pub fn published_ports(compose: &Yaml) -> Vec<String> {
    services(compose)
        .iter()
        .flat_map(|(_, s)| strings(&s["ports"]))
        .collect()
}

/// The single `BackupHook` of `app`, as (service, the shell script it runs).
pub fn hook_script(app: &nassella_core::ValidatedApp) -> (String, String) {
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
pub fn assert_atomic_dump(script: &str, file: &str) {
    assert!(
        script.contains(&format!("{file}.tmp"))
            && script.ends_with(&format!("&& mv {file}.tmp {file}")),
        "the dump is not written atomically: {script}"
    );
}

/// Where `service` mounts `volume`, read back from the validated app.
pub fn mount_of<'a>(
    app: &'a nassella_core::ValidatedApp,
    service: &str,
    volume: &str,
) -> Option<&'a str> {
    app.service(service)
        .unwrap_or_else(|| panic!("no service {service}"))
        .mount_target(volume)
}

pub fn excluded_paths(b: &Bundle) -> Vec<&str> {
    text(b, EXCLUDES).lines().collect()
}

pub fn volume_excluded(app: &nassella_core::ValidatedApp, volume: &str) -> bool {
    matches!(
        app.volume(volume).and_then(|v| v.backup()),
        Some(nassella_core::BackupPolicy::Exclude(_))
    )
}
