//! The config file (`config/apps.config`): TOML describing the instance, its backups and apps.
//! See docs/config.md for the format; `nassella schema` prints its JSON Schema.

use std::collections::BTreeMap;

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

/// Read a config file's text into a stack. Problems that are the file's own (unknown app,
/// settings that do not fit) come back in the report; the stack holds every app that parsed.
///
/// # Errors
/// The TOML parser's message (it names line and column) when the text is not a config file.
pub fn parse(file: &str, text: &str) -> Result<(Stack, Report), String> {
    let cfg: ConfigFile = toml::from_str(text).map_err(|e| format!("{file}: {e}"))?;
    let mut report = Report::new();
    let at = |needle: &str| {
        let off = text.find(needle).unwrap_or(0);
        Origin::file_line(file, line_of(text, off))
    };

    let i = cfg.instance;
    let mut instance = Instance::new(i.name)
        .provider(i.provider)
        .declared_at(at("[instance]"));
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
            .declared_at(at("[backup]"))
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
        match (entry.from_settings)(&id, settings) {
            Ok(app) => stack = stack.app_at(app, origin),
            Err(e) => {
                // Point at the offending key when serde names one.
                let key = e
                    .strip_prefix("unknown field `")
                    .or_else(|| e.strip_prefix("invalid type: "))
                    .and_then(|rest| rest.split('`').next())
                    .filter(|k| table.contains_key(*k));
                let (path, origin) = match key {
                    Some(k) => {
                        let start = text[..].find(&format!("[apps.{id}]")).unwrap_or(0);
                        let at_key = text[start..]
                            .find(&format!("\n{k}"))
                            .map_or(start, |o| start + o + 1);
                        (
                            format!("{path}.{k}"),
                            Origin::file_line(file, line_of(text, at_key)),
                        )
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
