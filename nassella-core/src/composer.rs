//! The composer: asks every app for its contribution, checks each app's items and the rules that
//! span apps, and returns a [`ValidatedStack`] or a [`Report`] listing every problem.

use std::collections::{BTreeMap, BTreeSet};

use crate::app::{AppContext, Contribution};
use crate::model::{
    BackupHook, Job, Network, OneOffJob, PathAction, Route, Secret, Service, TcpPort, ValuePart,
    Volume,
};
use crate::problem::ProblemKind as P;
use crate::report::{Origin, Report};
use crate::stack::{Backup, Instance, Stack};

/// Longest app id: it prefixes container, network and unit names.
pub const MAX_APP_ID: usize = 32;
/// Longest instance name: it names the server, the volume and the restic host.
pub const MAX_INSTANCE_NAME: usize = 40;

/// One app of a validated stack.
#[derive(Debug, Clone)]
pub struct ValidatedApp {
    pub(crate) id: String,
    pub(crate) kind: String,
    pub(crate) origin: Origin,
    pub(crate) c: Contribution,
    /// Services that some route forwards to: only these join the proxy network.
    pub(crate) proxied: BTreeSet<String>,
}

impl ValidatedApp {
    /// The app's id.
    #[must_use]
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The app's catalog kind.
    #[must_use]
    pub fn kind(&self) -> &str {
        &self.kind
    }

    /// Hostnames the app serves.
    pub fn hosts(&self) -> impl Iterator<Item = &str> {
        self.c.routes.iter().map(|r| r.host.as_str())
    }

    /// Where the app was added to the stack.
    #[must_use]
    pub fn origin(&self) -> &Origin {
        &self.origin
    }

    /// Memory hint in MiB, if the app gave one.
    #[must_use]
    pub fn memory_hint_mib(&self) -> Option<u32> {
        self.c.memory_mib
    }

    /// Its services (containers), in declaration order, after the stack's image overrides.
    #[must_use]
    pub fn services(&self) -> &[Service] {
        &self.c.services
    }

    /// The service called `name`.
    #[must_use]
    pub fn service(&self, name: &str) -> Option<&Service> {
        self.c.services.iter().find(|s| s.name == name)
    }

    /// The services some route forwards to: the only ones on the proxy network.
    pub fn proxied_services(&self) -> impl Iterator<Item = &str> {
        self.proxied.iter().map(String::as_str)
    }

    /// Its volumes, each with its backup policy.
    #[must_use]
    pub fn volumes(&self) -> &[Volume] {
        &self.c.volumes
    }

    /// The volume called `name`.
    #[must_use]
    pub fn volume(&self, name: &str) -> Option<&Volume> {
        self.c.volumes.iter().find(|v| v.name == name)
    }

    /// Its private networks.
    #[must_use]
    pub fn networks(&self) -> &[Network] {
        &self.c.networks
    }

    /// The secrets it derives from the master key.
    #[must_use]
    pub fn secrets(&self) -> &[Secret] {
        &self.c.secrets
    }

    /// Its public routes.
    #[must_use]
    pub fn routes(&self) -> &[Route] {
        &self.c.routes
    }

    /// Commands run before each backup.
    #[must_use]
    pub fn backup_hooks(&self) -> &[BackupHook] {
        &self.c.backup_hooks
    }

    /// Scheduled jobs.
    #[must_use]
    pub fn jobs(&self) -> &[Job] {
        &self.c.jobs
    }

    /// Commands run once per data volume after the app is up, in order.
    #[must_use]
    pub fn one_off_jobs(&self) -> &[OneOffJob] {
        &self.c.one_off_jobs
    }

    /// Raw TCP ports published on the host.
    #[must_use]
    pub fn tcp_ports(&self) -> &[TcpPort] {
        &self.c.tcp_ports
    }
}

/// A stack that passed every check. Only [`compose`] makes one; renderers take nothing else.
#[derive(Debug, Clone)]
pub struct ValidatedStack {
    pub(crate) instance: Instance,
    /// The proxy's image, after the stack's image overrides.
    pub(crate) proxy_image: String,
    pub(crate) backup: Option<Backup>,
    pub(crate) apps: Vec<ValidatedApp>,
    pub(crate) registry: Option<crate::Registry>,
    pub(crate) warnings: Report,
}

impl ValidatedStack {
    /// The instance.
    #[must_use]
    pub fn instance(&self) -> &Instance {
        &self.instance
    }

    /// The apps, sorted by id.
    #[must_use]
    pub fn apps(&self) -> &[ValidatedApp] {
        &self.apps
    }

    /// The value of app `app`'s derived secret `name` (for the user to read, e.g. a first admin
    /// password), or `None` when the app declares no such secret.
    #[must_use]
    pub fn secret(&self, keys: &crate::Keys, app: &str, name: &str) -> Option<String> {
        let a = self.apps.iter().find(|a| a.id == app)?;
        let s = a.c.secrets.iter().find(|s| s.name == name)?;
        secret_value(keys, app, s)
    }

    /// Every secret the user supplies through the environment: (app id, secret name, variable).
    #[must_use]
    pub fn env_secrets(&self) -> Vec<(&str, &str, &str)> {
        self.apps
            .iter()
            .flat_map(|a| {
                a.c.secrets.iter().filter_map(move |s| match &s.source {
                    crate::SecretSource::Env(var) => {
                        Some((a.id.as_str(), s.name.as_str(), var.as_str()))
                    }
                    crate::SecretSource::Derived(_) => None,
                })
            })
            .collect()
    }

    /// Warnings found while composing (errors would have stopped it).
    #[must_use]
    pub fn warnings(&self) -> &Report {
        &self.warnings
    }

    /// The registry settings.
    #[must_use]
    pub fn registry(&self) -> Option<&crate::Registry> {
        self.registry.as_ref()
    }

    /// The backup settings.
    #[must_use]
    pub fn backup(&self) -> Option<&Backup> {
        self.backup.as_ref()
    }
}

/// Check a stack and everything its apps contribute.
///
/// # Errors
/// A [`Report`] with every error and warning found, when there is at least one error.
pub fn compose(stack: &Stack) -> Result<ValidatedStack, Report> {
    let mut r = Report::new();
    check_instance(&stack.instance, &mut r);
    check_backup(stack.backup.as_ref(), &mut r);
    crate::registry::check(stack.registry.as_ref(), &mut r);
    if let Some(b) = &stack.backup {
        crate::schedule::check_backup_window(b, &stack.instance.updates, &mut r);
    }
    if stack.apps.is_empty() {
        r.error("apps", None, P::NoApps);
    }

    let mut ids: BTreeMap<String, Origin> = BTreeMap::new();
    let mut hosts: BTreeMap<String, String> = BTreeMap::new();
    let mut ports: BTreeMap<u16, String> = [
        (stack.instance.http_port, "the proxy".to_owned()),
        (stack.instance.https_port, "the proxy".to_owned()),
    ]
    .into_iter()
    .collect();
    let mut apps = Vec::new();

    for sa in &stack.apps {
        let id = sa.app.id().to_owned();
        let base = format!("apps.{id}");
        let origin = &sa.origin;
        if !valid_name(&id, MAX_APP_ID) {
            r.error(
                &base,
                Some(origin),
                P::InvalidName {
                    what: "app id",
                    value: id.clone(),
                    max: MAX_APP_ID,
                },
            );
        } else if RESERVED_APP_IDS.contains(&id.as_str()) {
            r.error(&base, Some(origin), P::ReservedAppId { id: id.clone() });
        }
        if let Some(other) = ids.get(&id) {
            r.error(
                &base,
                Some(origin),
                P::DuplicateAppId {
                    id: id.clone(),
                    other: other.to_string(),
                },
            );
            continue;
        }
        ids.insert(id.clone(), origin.clone());

        for p in sa.app.check() {
            let path = if p.field.is_empty() {
                base.clone()
            } else {
                format!("{base}.{}", p.field)
            };
            r.error(path, Some(origin), P::InvalidSettings(p.message));
        }

        let cx = AppContext {
            id: &id,
            instance: &stack.instance,
        };
        let mut c = sa.app.contribute(&cx);
        for s in &mut c.services {
            if let Some((_, to)) = stack
                .image_overrides
                .iter()
                .find(|(from, _)| *from == s.image)
            {
                s.image.clone_from(to);
            }
        }
        let proxied = check_app(&base, origin, &c, &mut r);

        for (i, route) in c.routes.iter().enumerate() {
            let path = format!("{base}.routes[{i}].host");
            if let Err(reason) = valid_host(&route.host) {
                r.error(
                    &path,
                    Some(origin),
                    P::InvalidHost {
                        host: route.host.clone(),
                        reason,
                    },
                );
            } else if let Some(other) = hosts.get(&route.host) {
                r.error(
                    &path,
                    Some(origin),
                    P::DuplicateHost {
                        host: route.host.clone(),
                        other: other.clone(),
                    },
                );
            } else {
                if let Some(zone) = stack
                    .instance
                    .dns_zone
                    .as_ref()
                    .filter(|z| valid_host(z).is_ok())
                {
                    if route.host != *zone && !route.host.ends_with(&format!(".{zone}")) {
                        r.error(
                            &path,
                            Some(origin),
                            P::InvalidInstance(format!(
                                "`{}` is outside the DNS zone `{zone}` (instance.dns_zone), whose records Terraform manages: use a name in that zone, or remove dns_zone and create the records by hand",
                                route.host
                            )),
                        );
                    }
                }
                hosts.insert(route.host.clone(), path);
            }
        }
        for (i, p) in c.tcp_ports.iter().enumerate() {
            let path = format!("{base}.tcp_ports[{i}]");
            if let Some(other) = ports.get(&p.host_port) {
                r.error(
                    &path,
                    Some(origin),
                    P::PortTaken {
                        port: p.host_port,
                        other: other.clone(),
                    },
                );
            } else {
                ports.insert(p.host_port, path);
            }
        }
        apps.push(ValidatedApp {
            id,
            kind: sa.app.kind().to_owned(),
            origin: origin.clone(),
            c,
            proxied,
        });
    }

    check_memory(&stack.instance, &apps, &mut r);
    r.finish();
    if r.has_errors() {
        return Err(r);
    }
    apps.sort_by(|a, b| a.id.cmp(&b.id));
    let overridden = |image: &str| {
        stack
            .image_overrides
            .iter()
            .find(|(from, _)| from == image)
            .map_or_else(|| image.to_owned(), |(_, to)| to.clone())
    };
    let mut backup = stack.backup.clone();
    if let Some(b) = &mut backup {
        b.restic_image = overridden(&b.restic_image);
    }
    Ok(ValidatedStack {
        proxy_image: overridden(crate::render::CADDY_IMAGE),
        instance: stack.instance.clone(),
        backup,
        apps,
        registry: stack.registry.clone(),
        warnings: r,
    })
}

fn check_instance(i: &Instance, r: &mut Report) {
    let o = Some(&i.origin);
    if !valid_name(&i.name, MAX_INSTANCE_NAME) {
        r.error(
            "instance.name",
            o,
            P::InvalidName {
                what: "instance name",
                value: i.name.clone(),
                max: MAX_INSTANCE_NAME,
            },
        );
    }
    if !valid_data_root(&i.data_root) {
        r.error("instance.data_root", o, P::InvalidInstance(format!(
            "data root `{}` must be an absolute path of letters, digits, '_', '-' and '.', not `/`, without `..`, `//` or a trailing '/' (e.g. `/srv/data`)",
            i.data_root
        )));
    }
    if i.http_port == 0 || i.https_port == 0 || i.http_port == i.https_port {
        r.error("instance.host_ports", o, P::InvalidInstance(format!(
            "the proxy's host ports {} (HTTP) and {} (HTTPS) must be two different ports from 1 to 65535",
            i.http_port, i.https_port
        )));
    }
    if parse_cidr24(&i.proxy_subnet).is_none() {
        r.error("instance.proxy_subnet", o, P::InvalidInstance(format!(
            "proxy subnet `{}` must be a private IPv4 network in CIDR form with a prefix of /16 to /28 (e.g. `172.31.250.0/24`)",
            i.proxy_subnet
        )));
    }
    if i.volume_size_gb < 10 {
        r.error(
            "instance.volume_size_gb",
            o,
            P::InvalidInstance(format!(
                "volume size {} GB is too small: providers start at 10 GB",
                i.volume_size_gb
            )),
        );
    }
    for (field, v) in [("server_type", &i.server_type), ("location", &i.location)] {
        if v.is_empty()
            || !v
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            r.error(
                format!("instance.{field}"),
                o,
                P::InvalidInstance(format!(
                "{field} `{v}` must be a non-empty provider name of letters, digits, '-' and '_'"
            )),
            );
        }
    }
    let volume_name_ok = |v: &str| {
        v.len() <= 20
            && v.starts_with(|c: char| c.is_ascii_lowercase())
            && !v.ends_with('-')
            && v.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    };
    let distinct: BTreeSet<&String> = i.data_volumes.iter().collect();
    if i.data_volumes.is_empty()
        || distinct.len() != i.data_volumes.len()
        || !i.data_volumes.iter().all(|v| volume_name_ok(v))
        || !i.data_volumes.contains(&i.active_data_volume)
    {
        r.error("instance.data_volumes", o, P::InvalidInstance(format!(
            "data volumes {:?} with `{}` attached: the names must be distinct, 1 to 20 lowercase letters, digits and '-' starting with a letter, and the attached one must be among them (the control plane keeps them in <state>/volumes.json)",
            i.data_volumes, i.active_data_volume
        )));
    }
    if !(i.docker_compose.hash.starts_with("sha256-")
        || i.docker_compose.hash.starts_with("sha512-"))
    {
        r.error("instance.docker_compose.hash", o, P::InvalidInstance(
            "the docker compose download needs a verification hash `sha256-<hex>` or `sha512-<hex>`".into(),
        ));
    }
    if let Some(next) = crate::servers::successor(i.provider, &i.server_type) {
        r.error(
            "instance.server_type",
            o,
            P::InvalidInstance(format!(
                "Hetzner Cloud no longer offers server type `{}` (a new server could not be created): use `{next}`, its successor with the same memory",
                i.server_type
            )),
        );
    }
    if let Some(zone) = &i.dns_zone {
        if valid_host(zone).is_err() {
            r.error(
                "instance.dns_zone",
                o,
                P::InvalidInstance(format!(
                    "DNS zone `{zone}` must be a lowercase domain name such as `example.com`"
                )),
            );
        }
    }
    if !(60..=86_400).contains(&i.dns_ttl) {
        r.error(
            "instance.dns_ttl",
            o,
            P::InvalidInstance(format!(
                "DNS TTL {} s must be from 60 to 86400 seconds",
                i.dns_ttl
            )),
        );
    }
    if let crate::Tls::Acme { email: Some(e), .. } = &i.tls {
        if !e.contains('@') || e.chars().any(char::is_whitespace) {
            r.error(
                "instance.tls.email",
                o,
                P::InvalidInstance(format!("`{e}` is not an email address")),
            );
        }
    }
}

/// The apps' memory hints plus the host's own share against the server type's memory, when both
/// are known: a warning, since hints are rough and apps may fit anyway.
fn check_memory(i: &Instance, apps: &[ValidatedApp], r: &mut Report) {
    use crate::servers;
    let Some(have) = servers::memory_mib(i.provider, &i.server_type) else {
        return;
    };
    let mut hinted: Vec<(&str, u32)> = apps
        .iter()
        .filter_map(|a| Some((a.id.as_str(), a.c.memory_mib?)))
        .collect();
    let need = servers::BASE_MEMORY_MIB + hinted.iter().map(|(_, m)| m).sum::<u32>();
    if need <= have {
        return;
    }
    hinted.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let biggest: Vec<String> = hinted
        .iter()
        .take(3)
        .map(|(id, m)| format!("{id} {m} MiB"))
        .collect();
    let pick = servers::smallest_with(i.provider, need).map_or_else(
        || "a server type with more memory".to_owned(),
        |t| format!("`{t}` or larger"),
    );
    r.warn(
        "instance.server_type",
        Some(&i.origin),
        P::InvalidInstance(format!(
            "the apps need about {need} MiB with the host's {} MiB (largest: {}) but `{}` has {have} MiB: pick {pick}, or drop an app",
            servers::BASE_MEMORY_MIB,
            biggest.join(", "),
            i.server_type
        )),
    );
}

/// The value of `app`'s secret `s`: derived from the master key, or supplied in the environment
/// (`None` when it was not supplied; [`crate::build`] reports that before rendering).
pub(crate) fn secret_value(keys: &crate::Keys, app: &str, s: &Secret) -> Option<String> {
    match &s.source {
        crate::SecretSource::Derived(f) => Some(keys.master().derive(app, &s.name, *f)),
        crate::SecretSource::Env(var) => keys.provided(var).map(str::to_owned),
    }
}

fn check_backup(b: Option<&Backup>, r: &mut Report) {
    let Some(b) = b else {
        r.warn("backup", None, P::InvalidBackup(
            "no backup is configured: data lives only on the server's volume; add a [backup] section".into(),
        ));
        return;
    };
    let o = Some(&b.origin);
    if b.repository.trim().is_empty()
        || b.repository.chars().any(|c| c.is_whitespace() || c == '\'')
    {
        r.error("backup.repository", o, P::InvalidBackup(format!(
            "repository `{}` must be a restic repository URL without spaces or quotes, e.g. `s3:s3.eu-central-003.backblazeb2.com/bucket/path`",
            b.repository
        )));
    }
    if b.retention.daily + b.retention.weekly + b.retention.monthly == 0 {
        r.error(
            "backup.retention",
            o,
            P::InvalidBackup(
                "retention keeps nothing: keep at least one daily, weekly or monthly snapshot"
                    .into(),
            ),
        );
    }
    if b.on_calendar.trim().is_empty() || b.on_calendar.contains(['\n', '\'', '"']) {
        r.error(
            "backup.on_calendar",
            o,
            P::InvalidBackup(format!(
                "`{}` is not a systemd calendar expression (e.g. `*-*-* 03:30:00` or `daily`)",
                b.on_calendar
            )),
        );
    }
    if let Some(url) = &b.notify_url {
        if !(url.starts_with("https://") || url.starts_with("http://"))
            || url.contains(['\'', '"', ' '])
        {
            r.error(
                "backup.notify_url",
                o,
                P::InvalidBackup(format!(
                    "notify URL `{url}` must be an http(s) URL without quotes or spaces"
                )),
            );
        }
    }
    if !image_pinned(&b.restic_image) {
        r.error(
            "backup.restic_image",
            o,
            P::UnpinnedImage {
                image: b.restic_image.clone(),
            },
        );
    }
    if let Some(id) = &b.restore_snapshot {
        if id.is_empty() || !id.bytes().all(|c| c.is_ascii_hexdigit()) {
            r.error(
                "backup.restore_snapshot",
                o,
                P::InvalidBackup(format!(
                    "snapshot id `{id}` must be hex digits (see `nassella backups list`)"
                )),
            );
        }
    }
}

/// Check one app's own items; returns the services that routes forward to.
fn check_app(base: &str, origin: &Origin, c: &Contribution, r: &mut Report) -> BTreeSet<String> {
    let at = Some(origin);
    let mut seen = BTreeSet::new();
    let declared_services: BTreeMap<&str, &crate::Service> =
        c.services.iter().map(|s| (s.name.as_str(), s)).collect();
    let service_list = || {
        declared_services
            .keys()
            .copied()
            .collect::<Vec<_>>()
            .join(", ")
    };

    let mut names = |what: &'static str, name: &str, path: String, o: &Origin, r: &mut Report| {
        if !valid_name(name, 40) {
            r.error(
                &path,
                Some(o),
                P::InvalidName {
                    what,
                    value: name.to_owned(),
                    max: 40,
                },
            );
        }
        if !seen.insert((what, name.to_owned())) {
            r.error(
                &path,
                Some(o),
                P::DuplicateName {
                    what,
                    name: name.to_owned(),
                },
            );
        }
    };
    for v in &c.volumes {
        let path = format!("{base}.volumes.{}", v.name);
        names("volume", &v.name, path.clone(), &v.origin, r);
        if v.backup.is_none() {
            r.error(
                &path,
                Some(&v.origin),
                P::BackupUndecided {
                    volume: v.name.clone(),
                },
            );
        }
    }
    for n in &c.networks {
        names(
            "network",
            &n.name,
            format!("{base}.networks.{}", n.name),
            &n.origin,
            r,
        );
    }
    for s in &c.secrets {
        names(
            "secret",
            &s.name,
            format!("{base}.secrets.{}", s.name),
            &s.origin,
            r,
        );
        if let crate::SecretSource::Env(var) = &s.source {
            let valid = var
                .bytes()
                .next()
                .is_some_and(|b| b.is_ascii_uppercase() || b == b'_')
                && var
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
                && !var.starts_with("NASSELLA_");
            if !valid {
                r.error(
                    format!("{base}.secrets.{}", s.name),
                    Some(&s.origin),
                    P::InvalidEnvSecretName { var: var.clone() },
                );
            }
        }
    }
    for s in &c.services {
        names(
            "service",
            &s.name,
            format!("{base}.services.{}", s.name),
            &s.origin,
            r,
        );
    }

    // Routes: which services are proxied, and do the upstreams exist?
    let mut proxied = BTreeSet::new();
    for (i, route) in c.routes.iter().enumerate() {
        let rpath = format!("{base}.routes[{i}]");
        if route.default.is_none() && route.paths.is_empty() {
            r.error(&rpath, at, P::EmptyRoute);
        }
        for (j, red) in route.redirects.iter().enumerate() {
            if !red.from.starts_with('/') || red.from.contains(char::is_whitespace) {
                r.error(
                    format!("{rpath}.redirects[{j}].from"),
                    at,
                    P::InvalidRoutePath {
                        path: red.from.clone(),
                    },
                );
            }
        }
        let actions = route
            .paths
            .iter()
            .enumerate()
            .map(|(j, (p, a))| (format!("{rpath}.paths[{j}]"), Some(p), a));
        let default = route
            .default
            .iter()
            .map(|a| (format!("{rpath}.default"), None, a));
        for (apath, p, action) in actions.chain(default) {
            if let Some(p) = p {
                if !p.starts_with('/') || p.contains(char::is_whitespace) {
                    r.error(
                        format!("{apath}.path"),
                        at,
                        P::InvalidRoutePath { path: p.clone() },
                    );
                }
            }
            let PathAction::Proxy(up) = action else {
                continue;
            };
            match declared_services.get(up.service.as_str()) {
                None => r.error(
                    format!("{apath}.service"),
                    at,
                    P::UnknownService {
                        service: up.service.clone(),
                        declared: service_list(),
                    },
                ),
                Some(s) if !s.ports.contains(&up.port) => r.error(
                    format!("{apath}.port"),
                    at,
                    P::UndeclaredPort {
                        service: up.service.clone(),
                        port: up.port,
                        declared: list_ports(&s.ports),
                    },
                ),
                Some(_) => {
                    proxied.insert(up.service.clone());
                }
            }
        }
    }

    let volumes: BTreeSet<&str> = c.volumes.iter().map(|v| v.name.as_str()).collect();
    let networks: BTreeSet<&str> = c.networks.iter().map(|n| n.name.as_str()).collect();
    let secrets: BTreeSet<&str> = c.secrets.iter().map(|s| s.name.as_str()).collect();
    let mut used_volumes = BTreeSet::new();
    let mut used_networks = BTreeSet::new();
    for s in &c.services {
        let sp = format!("{base}.services.{}", s.name);
        let so = Some(&s.origin);
        if !image_pinned(&s.image) {
            r.error(
                format!("{sp}.image"),
                so,
                P::UnpinnedImage {
                    image: s.image.clone(),
                },
            );
        }
        for (k, v) in &s.env {
            if !valid_env_name(k) {
                r.error(
                    format!("{sp}.env.{k}"),
                    so,
                    P::InvalidEnvName { name: k.clone() },
                );
            }
            for part in &v.parts {
                if let (ValuePart::Text(t), true) = (part, v.is_secret()) {
                    if t.contains(['\'', '\n']) {
                        r.error(
                            format!("{sp}.env.{k}"),
                            so,
                            P::InvalidEnvValue { name: k.clone() },
                        );
                    }
                }
                if let ValuePart::Secret(sr) = part {
                    if sr.token != c.token || !secrets.contains(sr.name.as_str()) {
                        r.error(
                            format!("{sp}.env.{k}"),
                            so,
                            P::ForeignHandle {
                                what: "secret",
                                name: sr.name.clone(),
                            },
                        );
                    }
                }
            }
        }
        for (j, m) in s.mounts.iter().enumerate() {
            if m.volume.token != c.token || !volumes.contains(m.volume.name.as_str()) {
                r.error(
                    format!("{sp}.mounts[{j}]"),
                    so,
                    P::ForeignHandle {
                        what: "volume",
                        name: m.volume.name.clone(),
                    },
                );
            } else {
                used_volumes.insert(m.volume.name.as_str());
            }
            if !m.target.starts_with('/') {
                r.error(
                    format!("{sp}.mounts[{j}].target"),
                    so,
                    P::RelativeMountTarget {
                        target: m.target.clone(),
                    },
                );
            }
        }
        for n in &s.networks {
            if n.token != c.token || !networks.contains(n.name.as_str()) {
                r.error(
                    format!("{sp}.networks"),
                    so,
                    P::ForeignHandle {
                        what: "network",
                        name: n.name.clone(),
                    },
                );
            } else {
                used_networks.insert(n.name.as_str());
            }
        }
        for dep in s.depends_on.keys() {
            if !declared_services.contains_key(dep.as_str()) {
                r.error(
                    format!("{sp}.depends_on.{dep}"),
                    so,
                    P::UnknownDependency {
                        service: dep.clone(),
                    },
                );
            }
        }
        if s.networks.is_empty() && !proxied.contains(&s.name) {
            r.error(
                format!("{sp}.networks"),
                so,
                P::IsolatedService {
                    service: s.name.clone(),
                },
            );
        }
    }
    for v in &c.volumes {
        if !used_volumes.contains(v.name.as_str()) {
            r.warn(
                format!("{base}.volumes.{}", v.name),
                Some(&v.origin),
                P::UnusedVolume {
                    volume: v.name.clone(),
                },
            );
        }
    }
    for n in &c.networks {
        if !used_networks.contains(n.name.as_str()) {
            r.warn(
                format!("{base}.networks.{}", n.name),
                Some(&n.origin),
                P::UnusedNetwork {
                    network: n.name.clone(),
                },
            );
        }
    }
    for (i, h) in c.backup_hooks.iter().enumerate() {
        if !declared_services.contains_key(h.service.as_str()) {
            r.error(
                format!("{base}.backup_hooks[{i}].service"),
                Some(&h.origin),
                P::UnknownHookService {
                    service: h.service.clone(),
                },
            );
        }
        if h.command.is_empty() {
            r.error(
                format!("{base}.backup_hooks[{i}].command"),
                Some(&h.origin),
                P::EmptyCommand,
            );
        }
    }
    for j in &c.jobs {
        let jp = format!("{base}.jobs.{}", j.name);
        names("job", &j.name, jp.clone(), &j.origin, r);
        if !declared_services.contains_key(j.service.as_str()) {
            r.error(
                format!("{jp}.service"),
                Some(&j.origin),
                P::UnknownHookService {
                    service: j.service.clone(),
                },
            );
        }
        if j.on_calendar.trim().is_empty() || j.on_calendar.contains(['\n', '\'', '"']) {
            r.error(
                format!("{jp}.on_calendar"),
                Some(&j.origin),
                P::InvalidBackup(format!(
                    "`{}` is not a systemd calendar expression",
                    j.on_calendar
                )),
            );
        }
        if j.command.is_empty() {
            r.error(format!("{jp}.command"), Some(&j.origin), P::EmptyCommand);
        }
    }
    for j in &c.one_off_jobs {
        let jp = format!("{base}.one_off_jobs.{}", j.name);
        names("one-off job", &j.name, jp.clone(), &j.origin, r);
        if !declared_services.contains_key(j.service.as_str()) {
            r.error(
                format!("{jp}.service"),
                Some(&j.origin),
                P::UnknownHookService {
                    service: j.service.clone(),
                },
            );
        }
        if j.command.is_empty() {
            r.error(format!("{jp}.command"), Some(&j.origin), P::EmptyCommand);
        }
    }
    for (i, p) in c.tcp_ports.iter().enumerate() {
        if !declared_services.contains_key(p.service.as_str()) {
            r.error(
                format!("{base}.tcp_ports[{i}].service"),
                Some(&p.origin),
                P::UnknownService {
                    service: p.service.clone(),
                    declared: service_list(),
                },
            );
        }
    }
    proxied
}

fn list_ports(ports: &[u16]) -> String {
    if ports.is_empty() {
        "none".into()
    } else {
        ports
            .iter()
            .map(u16::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Names an app may not take: the proxy's compose project and config folder use it.
pub const RESERVED_APP_IDS: [&str; 1] = ["proxy"];

/// An absolute path the scripts and systemd can use as is.
fn valid_data_root(p: &str) -> bool {
    p.starts_with('/')
        && p.len() > 1
        && !p.ends_with('/')
        && !p.contains("//")
        && p.split('/').all(|c| c != "." && c != "..")
        && p.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/_-.".contains(&b))
}

/// A DNS-safe name: lowercase letters, digits and '-', starting with a letter, not ending with '-'.
#[must_use]
pub fn valid_name(s: &str, max: usize) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && !s.ends_with('-')
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Check a public hostname; returns why it is not valid.
///
/// # Errors
/// A short reason, such as "uppercase letters are not allowed".
pub fn valid_host(h: &str) -> Result<(), &'static str> {
    if h.is_empty() {
        return Err("it is empty");
    }
    if h.len() > 253 {
        return Err("it is longer than 253 characters");
    }
    if h.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err("use lowercase letters only");
    }
    if h.contains("://") || h.contains('/') {
        return Err("give the bare hostname, without scheme or path (e.g. `cloud.example.com`)");
    }
    if !h.contains('.') {
        return Err("it needs at least two labels (e.g. `cloud.example.com`)");
    }
    for label in h.split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err("each dot-separated label must be 1 to 63 characters");
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err("a label cannot start or end with '-'");
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err("only letters, digits, '-' and '.' are allowed");
        }
    }
    Ok(())
}

/// An image is pinned when it has a digest, or a tag other than `latest`.
#[must_use]
pub fn image_pinned(image: &str) -> bool {
    if image.contains(char::is_whitespace) || image.is_empty() {
        return false;
    }
    if let Some((_, digest)) = image.split_once('@') {
        return digest.starts_with("sha256:") && digest.len() == 71;
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    match last.split_once(':') {
        Some((_, tag)) => !tag.is_empty() && tag != "latest",
        None => false,
    }
}

fn valid_env_name(k: &str) -> bool {
    !k.is_empty()
        && !k.starts_with(|c: char| c.is_ascii_digit())
        && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Parse `a.b.c.d/n` with 16 ≤ n ≤ 28 in a private range; returns (network address, prefix).
pub(crate) fn parse_cidr24(s: &str) -> Option<([u8; 4], u8)> {
    let (addr, prefix) = s.split_once('/')?;
    let prefix: u8 = prefix.parse().ok()?;
    if !(16..=28).contains(&prefix) {
        return None;
    }
    let octets: Vec<u8> = addr
        .split('.')
        .map(str::parse)
        .collect::<Result<_, _>>()
        .ok()?;
    let o: [u8; 4] = octets.try_into().ok()?;
    let private =
        o[0] == 10 || (o[0] == 172 && (16..=31).contains(&o[1])) || (o[0] == 192 && o[1] == 168);
    let bits = u32::from_be_bytes(o);
    let mask = u32::MAX << (32 - prefix);
    (private && bits & !mask == 0).then_some((o, prefix))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_hosts_images_and_subnets() {
        assert!(valid_name("cloud-2", 32));
        for bad in ["", "2cloud", "Cloud", "cloud-", "cl_oud", &"a".repeat(33)] {
            assert!(!valid_name(bad, 32), "{bad}");
        }
        assert!(valid_host("cloud.example.com").is_ok());
        for bad in [
            "Cloud.example.com",
            "https://x.com",
            "localhost",
            "a..b",
            "-a.b",
            "a_b.com",
        ] {
            assert!(valid_host(bad).is_err(), "{bad}");
        }
        assert!(image_pinned("nextcloud:31.0.8-apache"));
        assert!(image_pinned("registry:5000/x/y:1.2"));
        assert!(image_pinned(&format!("x/y@sha256:{}", "a".repeat(64))));
        for bad in ["nextcloud", "nextcloud:latest", "registry:5000/x/y", "x:"] {
            assert!(!image_pinned(bad), "{bad}");
        }
        assert_eq!(
            parse_cidr24("172.31.250.0/24"),
            Some(([172, 31, 250, 0], 24))
        );
        for bad in [
            "8.8.8.0/24",
            "172.31.250.1/24",
            "10.0.0.0/8",
            "10.0.0.0",
            "10.0.0.0/29",
        ] {
            assert_eq!(parse_cidr24(bad), None, "{bad}");
        }
    }
}
