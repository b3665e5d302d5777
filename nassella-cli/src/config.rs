//! The config file (`config/apps.config`): TOML describing the instance, its backups and apps.
//! See docs/config.md for the format; `nassella schema` prints its JSON Schema.

use std::collections::BTreeMap;

use nassella_core::values::{escape_controls, path_key, Line};
use nassella_core::{
    Backup, Instance, Origin, ProblemKind, Provider, Report, Retention, Stack, Tls, Updates,
};
use schemars::JsonSchema;
use serde::Deserialize;
use toml::Spanned;

/// The whole file.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// The server.
    pub instance: InstanceConfig,
    /// Daily backups with restic (strongly recommended).
    pub backup: Option<BackupConfig>,
    /// Where the server pulls images from: a Docker Hub mirror and/or a Docker Hub login.
    pub registry: Option<RegistryConfig>,
    /// The apps, keyed by id (DNS-safe: lowercase letters, digits, '-'). Each table names its
    /// catalog app with `app = "…"`; the other keys are that app's settings.
    #[schemars(with = "BTreeMap<String, AppTable>")]
    pub apps: BTreeMap<Spanned<String>, Spanned<toml::Table>>,
    /// Image replacements, `"caddy:2.11.4-alpine" = "registry.example.com/caddy:2.11.4-alpine"`:
    /// a mirror, or images built locally for the local target.
    #[serde(default)]
    pub images: BTreeMap<String, String>,
}

/// Only for the schema: an app table.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct AppTable {
    /// The catalog app (`nextcloud`, `vaultwarden`, …; `nassella apps` lists them).
    pub app: String,
}

/// The `[instance]` table.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InstanceConfig {
    /// Instance name: names the server, its volume and its backups (DNS-safe, ≤ 40 characters).
    pub name: String,
    /// `hetzner`, `digitalocean` or `local`.
    #[serde(default = "default_provider")]
    pub provider: Provider,
    /// Provider server type (default `cx23`).
    pub server_type: Option<String>,
    /// Provider location/region (default `fsn1`).
    pub location: Option<String>,
    /// Data volume size in GB (default 20).
    pub volume_size_gb: Option<u32>,
    /// Where the data volume is mounted (default `/srv/data`).
    pub data_root: Option<String>,
    /// Certificates: `{ mode = "acme", email = "…" }` (default), `{ mode = "internal" }` or `{ mode = "http_only" }`.
    pub tls: Option<Tls>,
    /// The proxy network's fixed subnet (default `172.31.250.0/24`).
    pub proxy_subnet: Option<String>,
    /// Start of Flatcar's weekly reboot window for updates (default `Sun 06:00`).
    pub reboot_window_start: Option<String>,
    /// Length of the reboot window (default `1h`).
    pub reboot_window_length: Option<String>,
    /// Host port of the proxy for HTTP (default 80; the local target often needs another).
    pub http_port: Option<u16>,
    /// Host port of the proxy for HTTPS (default 443).
    pub https_port: Option<u16>,
    /// The Flatcar image by id: a Hetzner snapshot id or a DigitalOcean custom image id
    /// (required on DigitalOcean; on Hetzner it wins over `image_selector`).
    pub image_id: Option<String>,
    /// Hetzner: label selector of the Flatcar snapshots, the most recent one boots (default `os=flatcar`).
    pub image_selector: Option<String>,
    /// An existing DNS zone at the provider holding every hostname: Terraform then manages an
    /// `A` record per hostname (default: no DNS management).
    pub dns_zone: Option<String>,
    /// TTL of the managed DNS records in seconds (default 300).
    pub dns_ttl: Option<u32>,
}

fn default_provider() -> Provider {
    Provider::Hetzner
}

/// The `[registry]` table.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RegistryConfig {
    /// A pull-through mirror of Docker Hub, e.g. `https://mirror.example.com` (Docker's
    /// `registry-mirrors`).
    pub mirror: Option<String>,
    /// Docker Hub user name: pulls count against this account's limit instead of the server's
    /// IP address.
    pub username: Option<String>,
    /// The environment variable that holds the Docker Hub password or access token when
    /// `nassella` builds the bundle (never the password itself).
    pub password_env: Option<String>,
}

/// The `[backup]` table.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BackupConfig {
    /// restic repository, e.g. `s3:s3.eu-central-003.backblazeb2.com/my-bucket/family`.
    pub repository: String,
    /// When to back up, systemd `OnCalendar=` syntax (default `*-*-* 03:30:00`, UTC).
    pub schedule: Option<String>,
    /// Daily snapshots kept (default 7).
    pub keep_daily: Option<u32>,
    /// Weekly snapshots kept (default 4).
    pub keep_weekly: Option<u32>,
    /// Monthly snapshots kept (default 6).
    pub keep_monthly: Option<u32>,
    /// URL that receives each backup's outcome as a JSON POST.
    pub notify_url: Option<String>,
    /// Restore this snapshot (instead of the latest) when the server boots on a blank volume.
    pub restore_snapshot: Option<String>,
}

/// 1-based line of a byte offset.
fn line_of(text: &str, offset: usize) -> u32 {
    u32::try_from(
        text[..offset.min(text.len())]
            .bytes()
            .filter(|b| *b == b'\n')
            .count()
            + 1,
    )
    .unwrap_or(u32::MAX)
}

/// Deepest table nesting whose keys get their own line; deeper keys are reported at the line
/// of their nearest recorded ancestor.
const MAX_DEPTH: usize = 64;

/// The line of every key in the document, by the problem path that names it (`instance.name`,
/// `backup.schedule`, `apps.cloud.smtp.password_env`, `images."caddy:2.11.4-alpine"`), taken
/// from the TOML parser's spans: comments, spacing in headers (`[ backup ]`) and repeated text
/// cannot mislead it.
fn key_lines(file: &str, text: &str) -> BTreeMap<String, Origin> {
    fn walk(
        file: &str,
        text: &str,
        prefix: &str,
        table: &toml::de::DeTable<'_>,
        depth: usize,
        out: &mut BTreeMap<String, Origin>,
    ) {
        for (key, value) in table {
            // App ids are written as they are (the composer names `apps.<id>`); other keys are
            // quoted when they are not bare words.
            let segment = if prefix == "apps" {
                key.get_ref().to_string()
            } else {
                path_key(key.get_ref())
            };
            let path = if prefix.is_empty() {
                segment
            } else {
                format!("{prefix}.{segment}")
            };
            let origin = Origin::file_line(file, line_of(text, key.span().start));
            out.entry(path.clone()).or_insert(origin);
            if depth < MAX_DEPTH {
                walk_value(file, text, &path, value.get_ref(), depth + 1, out);
            }
        }
    }
    fn walk_value(
        file: &str,
        text: &str,
        path: &str,
        value: &toml::de::DeValue<'_>,
        depth: usize,
        out: &mut BTreeMap<String, Origin>,
    ) {
        if let Some(t) = value.as_table() {
            walk(file, text, path, t, depth, out);
        } else if let Some(items) = value.as_array() {
            for (i, item) in items.iter().enumerate() {
                let p = format!("{path}[{i}]");
                out.entry(p.clone())
                    .or_insert_with(|| Origin::file_line(file, line_of(text, item.span().start)));
                if depth < MAX_DEPTH {
                    walk_value(file, text, &p, item.get_ref(), depth + 1, out);
                }
            }
        }
    }
    let mut out = BTreeMap::new();
    // The recovering parser keeps every key it could read, so even a file with a syntax error
    // (a value nested deeper than the parser goes) names the key on the error's line.
    let (doc, _) = toml::de::DeTable::parse_recoverable(text);
    walk(file, text, "", doc.get_ref(), 0, &mut out);
    // The composer checks the two proxy ports together.
    for port in ["instance.http_port", "instance.https_port"] {
        if let Some(o) = out.get(port).cloned() {
            out.entry("instance.host_ports".into()).or_insert(o);
        }
    }
    out
}

/// Every string in an app's settings that holds a control character: no app setting needs one,
/// and a value that does could break out of the file it lands in.
fn control_characters(
    path: &str,
    value: &toml::Value,
    depth: usize,
    out: &mut Vec<(String, String)>,
) {
    match value {
        toml::Value::String(s) => {
            if let Err(e) = Line::parse(s) {
                out.push((path.to_owned(), e.reason().to_owned()));
            }
        }
        toml::Value::Array(items) if depth < MAX_DEPTH => {
            for (i, v) in items.iter().enumerate() {
                control_characters(&format!("{path}[{i}]"), v, depth + 1, out);
            }
        }
        toml::Value::Table(t) if depth < MAX_DEPTH => {
            for (k, v) in t {
                control_characters(&format!("{path}.{}", path_key(k)), v, depth + 1, out);
            }
        }
        _ => {}
    }
}

/// The TOML parser's error, led by the key path and line it is about (the deepest key written
/// on the line the parser points at), then the parser's own rendering with the offending text;
/// control characters escaped.
fn parse_error(file: &str, text: &str, e: &toml::de::Error) -> String {
    let place = e.span().map(|span| {
        let line = line_of(text, span.start);
        let path = key_lines(file, text)
            .into_iter()
            .filter(|(_, o)| o.line == line)
            .map(|(p, _)| p)
            .max_by_key(String::len);
        match path {
            Some(p) => format!("error at {p} ({file}:{line}): {}", e.message().trim_end()),
            None => format!("error at {file}:{line}: {}", e.message().trim_end()),
        }
    });
    // Keep the line breaks of the parser's own rendering (its snippet of the file); escape
    // every other control character, and all of them in our first line (a key may hold any).
    let parser = format!("{file}: {e}")
        .split('\n')
        .map(escape_controls)
        .collect::<Vec<_>>()
        .join("\n");
    match place {
        Some(p) => format!("{}\n{parser}", escape_controls(&p)),
        None => parser,
    }
}

/// The problems of a config file that had errors, with those the composer finds in what did
/// parse — except "the stack has no apps" when the apps are missing because each had an error.
#[must_use]
pub fn merge(config: Report, composed: &Report) -> Report {
    let app_errors = config
        .problems()
        .iter()
        .any(|p| p.path.starts_with("apps.") || p.path == "apps");
    let mut all = config;
    for p in composed.problems() {
        if app_errors && p.kind == ProblemKind::NoApps {
            continue;
        }
        all.push(p.clone());
    }
    all
}

/// Read a config file's text into a stack. Problems that are the file's own (unknown app,
/// settings that do not fit) come back in the report; the stack holds every app that parsed.
/// Every key's line is recorded in the stack ([`Stack::locate`]), so each problem the composer
/// finds later names the line of the key it is about.
///
/// # Errors
/// The TOML parser's message (it names line and column) when the text is not a config file,
/// with control characters escaped.
pub fn parse(file: &str, text: &str) -> Result<(Stack, Report), String> {
    let cfg: ConfigFile = toml::from_str(text).map_err(|e| parse_error(file, text, &e))?;
    let mut report = Report::new();
    let lines = key_lines(file, text);
    let at = |path: &str| {
        lines
            .get(path)
            .cloned()
            .unwrap_or_else(|| Origin::file_line(file, 1))
    };

    let i = cfg.instance;
    let mut instance = Instance::new(i.name)
        .provider(i.provider)
        .declared_at(at("instance"));
    if let Some(v) = i.server_type {
        instance = instance.server_type(v);
    }
    if let Some(v) = i.location {
        instance = instance.location(v);
    }
    if let Some(v) = i.volume_size_gb {
        instance = instance.volume_size_gb(v);
    }
    if let Some(v) = i.data_root {
        instance = instance.data_root(v);
    }
    if let Some(v) = i.tls {
        instance = instance.tls(v);
    }
    if i.http_port.is_some() || i.https_port.is_some() {
        instance = instance.host_ports(i.http_port.unwrap_or(80), i.https_port.unwrap_or(443));
    }
    if let Some(v) = i.proxy_subnet {
        instance = instance.proxy_subnet(v);
    }
    if let Some(v) = i.image_id {
        instance = instance.image_id(v);
    }
    if let Some(v) = i.image_selector {
        instance = instance.image_selector(v);
    }
    if let Some(v) = i.dns_zone {
        instance = instance.dns_zone(v);
    }
    if let Some(v) = i.dns_ttl {
        instance = instance.dns_ttl(v);
    }
    if i.reboot_window_start.is_some() || i.reboot_window_length.is_some() {
        let d = Updates::default();
        instance = instance.updates(Updates {
            window_start: i.reboot_window_start.unwrap_or(d.window_start),
            window_length: i.reboot_window_length.unwrap_or(d.window_length),
        });
    }
    let mut stack = Stack::new(instance);
    for (path, origin) in &lines {
        stack = stack.locate(path.clone(), origin.clone());
    }
    for (from, to) in cfg.images {
        stack = stack.image_override(from, to);
    }

    if let Some(r) = cfg.registry {
        let mut registry = nassella_core::Registry::new().declared_at(at("[registry]"));
        if let Some(m) = r.mirror {
            registry = registry.mirror(m);
        }
        if let Some(u) = r.username {
            registry = registry.username(u);
        }
        if let Some(p) = r.password_env {
            registry = registry.password_from_env(p);
        }
        stack = stack.registry(registry);
    }

    if let Some(b) = cfg.backup {
        let d = Retention::default();
        let mut backup = Backup::new(b.repository)
            .declared_at(at("backup"))
            .retention(Retention {
                daily: b.keep_daily.unwrap_or(d.daily),
                weekly: b.keep_weekly.unwrap_or(d.weekly),
                monthly: b.keep_monthly.unwrap_or(d.monthly),
            });
        if let Some(s) = b.schedule {
            backup = backup.on_calendar(s);
        }
        if let Some(u) = b.notify_url {
            backup = backup.notify_url(u);
        }
        if let Some(s) = b.restore_snapshot {
            backup = backup.restore_snapshot(s);
        }
        stack = stack.backup(backup);
    }

    let catalog = nassella_apps::catalog();
    for (id, table) in cfg.apps {
        let origin = Origin::file_line(file, line_of(text, id.span().start));
        let id = id.into_inner();
        let mut table = table.into_inner();
        let path = format!("apps.{id}");
        let mut controls = Vec::new();
        for (k, v) in &table {
            control_characters(&format!("{path}.{}", path_key(k)), v, 0, &mut controls);
        }
        for (p, why) in controls {
            let o = nassella_core::report::locate_in(&lines, &p).unwrap_or(origin.clone());
            report.error(p, Some(&o), ProblemKind::InvalidSettings(why));
        }
        let Some(kind) = table.remove("app") else {
            report.error(
                &path,
                Some(&origin),
                ProblemKind::InvalidSettings(
                    "missing `app = \"…\"`: name the catalog app (see `nassella apps`)".into(),
                ),
            );
            continue;
        };
        let Some(kind) = kind.as_str().map(str::to_owned) else {
            report.error(
                format!("{path}.app"),
                Some(&origin),
                ProblemKind::InvalidSettings("`app` must be a string".into()),
            );
            continue;
        };
        let Some(entry) = catalog.iter().find(|e| e.kind == kind) else {
            report.error(
                format!("{path}.app"),
                Some(&origin),
                ProblemKind::UnknownApp {
                    kind,
                    known: catalog
                        .iter()
                        .map(|e| e.kind)
                        .collect::<Vec<_>>()
                        .join(", "),
                },
            );
            continue;
        };
        let settings = serde_json::to_value(&table).expect("TOML tables convert to JSON");
        match (entry.from_settings)(settings) {
            Ok(app) => stack = stack.app_at(id.as_str(), app, origin),
            Err(e) => {
                // Point at the offending key when serde names one.
                let key = e
                    .strip_prefix("unknown field `")
                    .or_else(|| e.strip_prefix("invalid type: "))
                    .and_then(|rest| rest.split('`').next())
                    .filter(|k| table.contains_key(*k));
                let (path, origin) = match key {
                    Some(k) => {
                        let p = format!("{path}.{}", path_key(k));
                        let o = lines.get(&p).cloned().unwrap_or(origin);
                        (p, o)
                    }
                    None => (path, origin),
                };
                report.error(
                    &path,
                    Some(&origin),
                    ProblemKind::InvalidSettings(format!("settings of `{kind}`: {e}")),
                );
            }
        }
    }
    Ok((stack, report))
}

/// The JSON Schema of the config file, with each catalog app's settings.
#[must_use]
pub fn schema() -> serde_json::Value {
    let mut root =
        serde_json::to_value(schemars::schema_for!(ConfigFile)).expect("schema serializes");
    let variants: Vec<serde_json::Value> = nassella_apps::catalog()
        .iter()
        .map(|e| {
            let mut s = serde_json::to_value((e.schema)()).expect("schema serializes");
            if let Some(obj) = s.as_object_mut() {
                obj.remove("$schema");
                obj.insert("description".into(), e.summary.into());
                let props = obj
                    .entry("properties")
                    .or_insert_with(|| serde_json::json!({}));
                props["app"] = serde_json::json!({ "const": e.kind });
                let req = obj
                    .entry("required")
                    .or_insert_with(|| serde_json::json!([]));
                if let Some(a) = req.as_array_mut() {
                    a.insert(0, "app".into());
                }
            }
            s
        })
        .collect();
    root["properties"]["apps"]["additionalProperties"] = serde_json::json!({ "oneOf": variants });
    root
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_one_based() {
        assert_eq!(line_of("a\nb\nc", 0), 1);
        assert_eq!(line_of("a\nb\nc", 2), 2);
        assert_eq!(line_of("a\nb\nc", 4), 3);
    }
}
