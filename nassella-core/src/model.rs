//! The items an app declares: services, volumes, networks, secrets, routes, hooks and jobs.
//!
//! Builders take the required fields in `new(..)` and offer consuming `#[must_use]` setters.
//! Entry points are `#[track_caller]`, so a problem can name the line that declared the item.

use std::collections::BTreeMap;

use crate::report::Origin;

// ---------------------------------------------------------------- volumes

/// Whether a volume's data goes into the daily backup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackupPolicy {
    /// Backed up (the default for anything that matters).
    Include,
    /// Not backed up, with the reason (caches, re-downloadable models…).
    Exclude(String),
}

/// A persistent volume, stored on the data volume at `<data root>/<app>/<name>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Volume {
    pub(crate) name: String,
    pub(crate) backup: Option<BackupPolicy>,
    pub(crate) origin: Origin,
}

impl Volume {
    /// A volume called `name`; say whether it is backed up with [`Volume::backed_up`] or
    /// [`Volume::excluded_from_backup`].
    #[track_caller]
    #[must_use]
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            backup: None,
            origin: Origin::caller(),
        }
    }

    /// Include this volume in the daily backup.
    #[must_use]
    pub fn backed_up(mut self) -> Self {
        self.backup = Some(BackupPolicy::Include);
        self
    }

    /// Leave this volume out of backups, saying why.
    #[must_use]
    pub fn excluded_from_backup(mut self, why: impl Into<String>) -> Self {
        self.backup = Some(BackupPolicy::Exclude(why.into()));
        self
    }

    /// The volume's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its backup policy, if decided.
    #[must_use]
    pub fn backup(&self) -> Option<&BackupPolicy> {
        self.backup.as_ref()
    }
}

/// A reference to a declared volume; only [`crate::Contribution::volume`] makes one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeHandle {
    pub(crate) name: String,
    pub(crate) token: usize,
}

// ---------------------------------------------------------------- networks

/// A network private to one app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Network {
    pub(crate) name: String,
    pub(crate) internal: bool,
    pub(crate) origin: Origin,
}

impl Network {
    /// A network with no route to the outside world (for databases and caches).
    #[track_caller]
    #[must_use]
    pub fn internal(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            internal: true,
            origin: Origin::caller(),
        }
    }

    /// A network whose containers may reach the internet (mail, federation, feeds…).
    #[track_caller]
    #[must_use]
    pub fn with_egress(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            internal: false,
            origin: Origin::caller(),
        }
    }

    /// The network's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// True when the network has no route to the outside world.
    #[must_use]
    pub fn is_internal(&self) -> bool {
        self.internal
    }
}

/// A reference to a declared network; only [`crate::Contribution::network`] makes one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkHandle {
    pub(crate) name: String,
    pub(crate) token: usize,
}

// ---------------------------------------------------------------- secrets

/// How a derived secret is spelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SecretFormat {
    /// `n` characters from `A-Za-z0-9` (safe in URLs, shells and YAML).
    Alphanumeric(usize),
    /// `n` random bytes as lowercase hex (`2n` characters).
    Hex(usize),
    /// `n` random bytes in standard base64 with padding.
    Base64(usize),
    /// `n` random bytes in URL-safe base64 (`A-Za-z0-9-_`) without padding: `⌈4n/3⌉` characters,
    /// what Python's `secrets.token_urlsafe(n)` and Go's `base64.RawURLEncoding` produce.
    Base64Url(usize),
}

/// A secret an app needs: derived from the stack's master key (stable across redeploys, never
/// random at render time, different for every app and name), or supplied by the user through an
/// environment variable when the stack is built (an SMTP password: something only the user
/// knows, and which must not sit in a config file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Secret {
    pub(crate) name: String,
    pub(crate) source: SecretSource,
    pub(crate) origin: Origin,
    pub(crate) setting: Option<String>,
}

/// Where a secret's value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// Derived from the master key, spelled in this format.
    Derived(SecretFormat),
    /// The value of this environment variable of the `nassella` process (checked by
    /// [`crate::build`]: unset, or holding `'` or a line break, is an error).
    Env(String),
}

impl Secret {
    /// A secret called `name`, derived from the master key in `format`.
    #[track_caller]
    #[must_use]
    pub fn new(name: impl Into<String>, format: SecretFormat) -> Self {
        Self {
            name: name.into(),
            source: SecretSource::Derived(format),
            origin: Origin::caller(),
            setting: None,
        }
    }

    /// A secret called `name` whose value the user supplies in the environment variable `var`
    /// when the stack is built (`[A-Z_][A-Z0-9_]*`, not `NASSELLA_…`).
    #[track_caller]
    #[must_use]
    pub fn from_env(name: impl Into<String>, var: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            source: SecretSource::Env(var.into()),
            origin: Origin::caller(),
            setting: None,
        }
    }

    /// Name the app setting this secret comes from, below the app (e.g. `smtp.password_env`):
    /// problems with it (a bad or unset variable) are then reported at `apps.<id>.<setting>`,
    /// the key the user wrote, rather than at the secret's internal name.
    #[must_use]
    pub fn for_setting(mut self, setting: impl Into<String>) -> Self {
        self.setting = Some(setting.into());
        self
    }

    /// The secret's name (unique within its app).
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// How a derived secret is spelled; `None` for a secret the user supplies.
    #[must_use]
    pub fn format(&self) -> Option<SecretFormat> {
        match self.source {
            SecretSource::Derived(f) => Some(f),
            SecretSource::Env(_) => None,
        }
    }

    /// Where the value comes from.
    #[must_use]
    pub fn source(&self) -> &SecretSource {
        &self.source
    }
}

/// A reference to a declared secret; only [`crate::Contribution::secret`] makes one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretRef {
    pub(crate) name: String,
    pub(crate) token: usize,
}

/// One piece of an environment value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ValuePart {
    /// Literal text.
    Text(String),
    /// The value of a secret.
    Secret(SecretRef),
}

/// An environment value: text, a secret, or a mix (`postgres://u:<secret>@db/x`). Values that
/// contain a secret are written to a mode-0600 env file instead of the compose file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Value {
    pub(crate) parts: Vec<ValuePart>,
}

impl Value {
    /// Concatenate parts: `Value::concat(["postgres://app:".into(), (&pw).into(), "@db/app".into()])`.
    #[must_use]
    pub fn concat(parts: impl IntoIterator<Item = Value>) -> Self {
        Self {
            parts: parts.into_iter().flat_map(|v| v.parts).collect(),
        }
    }

    /// True when some part is a secret.
    #[must_use]
    pub fn is_secret(&self) -> bool {
        self.parts.iter().any(|p| matches!(p, ValuePart::Secret(_)))
    }

    /// The whole value, when it holds no secret.
    #[must_use]
    pub fn text(&self) -> Option<String> {
        self.parts
            .iter()
            .map(|p| match p {
                ValuePart::Text(t) => Some(t.as_str()),
                ValuePart::Secret(_) => None,
            })
            .collect()
    }

    /// The names of the secrets in the value, in order.
    pub fn secret_names(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            ValuePart::Secret(s) => Some(s.name.as_str()),
            ValuePart::Text(_) => None,
        })
    }

    /// The value with every secret written as `<secret:NAME>`: what the value looks like without
    /// its secrets (for tests and reviews).
    #[must_use]
    pub fn redacted(&self) -> String {
        self.parts
            .iter()
            .map(|p| match p {
                ValuePart::Text(t) => t.clone(),
                ValuePart::Secret(s) => format!("<secret:{}>", s.name),
            })
            .collect()
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Self {
            parts: vec![ValuePart::Text(s.to_owned())],
        }
    }
}
impl From<String> for Value {
    fn from(s: String) -> Self {
        Self {
            parts: vec![ValuePart::Text(s)],
        }
    }
}
impl From<&String> for Value {
    fn from(s: &String) -> Self {
        Self::from(s.as_str())
    }
}
impl From<&SecretRef> for Value {
    fn from(s: &SecretRef) -> Self {
        Self {
            parts: vec![ValuePart::Secret(s.clone())],
        }
    }
}

// ---------------------------------------------------------------- services

/// A container health check (compose `healthcheck`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Healthcheck {
    pub(crate) test: Vec<String>,
    pub(crate) interval_s: u32,
    pub(crate) timeout_s: u32,
    pub(crate) retries: u32,
    pub(crate) start_period_s: u32,
}

impl Healthcheck {
    /// Run `test` (exec form) inside the container.
    #[must_use]
    pub fn cmd<S: Into<String>>(test: impl IntoIterator<Item = S>) -> Self {
        Self {
            test: test.into_iter().map(Into::into).collect(),
            interval_s: 10,
            timeout_s: 5,
            retries: 5,
            start_period_s: 30,
        }
    }

    /// Seconds between checks (default 10).
    #[must_use]
    pub fn interval_s(mut self, s: u32) -> Self {
        self.interval_s = s;
        self
    }

    /// Failures before the container counts as unhealthy (default 5).
    #[must_use]
    pub fn retries(mut self, n: u32) -> Self {
        self.retries = n;
        self
    }

    /// Grace period after start, in seconds (default 30).
    #[must_use]
    pub fn start_period_s(mut self, s: u32) -> Self {
        self.start_period_s = s;
        self
    }

    /// The command (exec form) run inside the container.
    #[must_use]
    pub fn test(&self) -> &[String] {
        &self.test
    }
}

/// What a service waits for before it starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DependsOn {
    /// The other container has started.
    Started,
    /// The other container reports healthy (it needs a health check).
    Healthy,
}

/// A bind mount of a declared volume (or a sub-folder of it) into a service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    pub(crate) volume: VolumeHandle,
    pub(crate) target: String,
    pub(crate) read_only: bool,
}

impl Mount {
    /// The name of the mounted volume.
    #[must_use]
    pub fn volume(&self) -> &str {
        &self.volume.name
    }

    /// Where it appears inside the container.
    #[must_use]
    pub fn target(&self) -> &str {
        &self.target
    }

    /// True for a read-only mount.
    #[must_use]
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }
}

/// A container of an app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    pub(crate) name: String,
    pub(crate) image: String,
    pub(crate) env: BTreeMap<String, Value>,
    pub(crate) command: Option<Vec<String>>,
    pub(crate) entrypoint: Option<Vec<String>>,
    pub(crate) user: Option<String>,
    pub(crate) mounts: Vec<Mount>,
    pub(crate) networks: Vec<NetworkHandle>,
    pub(crate) ports: Vec<u16>,
    pub(crate) healthcheck: Option<Healthcheck>,
    pub(crate) depends_on: BTreeMap<String, DependsOn>,
    pub(crate) shm_size: Option<String>,
    pub(crate) origin: Origin,
}

impl Service {
    /// A service called `name` running the pinned `image` (`repo:tag` or `repo@sha256:…`).
    #[track_caller]
    #[must_use]
    pub fn new(name: impl Into<String>, image: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            image: image.into(),
            env: BTreeMap::new(),
            command: None,
            entrypoint: None,
            user: None,
            mounts: Vec::new(),
            networks: Vec::new(),
            ports: Vec::new(),
            healthcheck: None,
            depends_on: BTreeMap::new(),
            shm_size: None,
            origin: Origin::caller(),
        }
    }

    /// Set an environment variable (text, a secret, or a mix).
    #[must_use]
    pub fn env(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.env.insert(key.into(), value.into());
        self
    }

    /// Replace the image's command.
    #[must_use]
    pub fn command<S: Into<String>>(mut self, argv: impl IntoIterator<Item = S>) -> Self {
        self.command = Some(argv.into_iter().map(Into::into).collect());
        self
    }

    /// Replace the image's entrypoint.
    #[must_use]
    pub fn entrypoint<S: Into<String>>(mut self, argv: impl IntoIterator<Item = S>) -> Self {
        self.entrypoint = Some(argv.into_iter().map(Into::into).collect());
        self
    }

    /// Run as `uid[:gid]`.
    #[must_use]
    pub fn user(mut self, user: impl Into<String>) -> Self {
        self.user = Some(user.into());
        self
    }

    /// Mount a volume read-write at `target`.
    #[must_use]
    pub fn mount(mut self, volume: &VolumeHandle, target: impl Into<String>) -> Self {
        self.mounts.push(Mount {
            volume: volume.clone(),
            target: target.into(),
            read_only: false,
        });
        self
    }

    /// Mount a volume read-only at `target`.
    #[must_use]
    pub fn mount_read_only(mut self, volume: &VolumeHandle, target: impl Into<String>) -> Self {
        self.mounts.push(Mount {
            volume: volume.clone(),
            target: target.into(),
            read_only: true,
        });
        self
    }

    /// Join one of the app's networks.
    #[must_use]
    pub fn network(mut self, network: &NetworkHandle) -> Self {
        self.networks.push(network.clone());
        self
    }

    /// Declare a port the service listens on (routes may only target declared ports).
    #[must_use]
    pub fn port(mut self, port: u16) -> Self {
        self.ports.push(port);
        self
    }

    /// Set the health check.
    #[must_use]
    pub fn healthcheck(mut self, hc: Healthcheck) -> Self {
        self.healthcheck = Some(hc);
        self
    }

    /// Start after `service` has started.
    #[must_use]
    pub fn depends_on(mut self, service: impl Into<String>) -> Self {
        self.depends_on.insert(service.into(), DependsOn::Started);
        self
    }

    /// Start after `service` reports healthy.
    #[must_use]
    pub fn depends_on_healthy(mut self, service: impl Into<String>) -> Self {
        self.depends_on.insert(service.into(), DependsOn::Healthy);
        self
    }

    /// Size of `/dev/shm` (e.g. `"128mb"` for Postgres variants that need more).
    #[must_use]
    pub fn shm_size(mut self, size: impl Into<String>) -> Self {
        self.shm_size = Some(size.into());
        self
    }

    /// The service's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The image reference.
    #[must_use]
    pub fn image(&self) -> &str {
        &self.image
    }

    /// The ports the service declares.
    #[must_use]
    pub fn ports(&self) -> &[u16] {
        &self.ports
    }

    /// Its volume mounts, in order.
    #[must_use]
    pub fn mounts(&self) -> &[Mount] {
        &self.mounts
    }

    /// The target of the mount of `volume`, if the service mounts it.
    #[must_use]
    pub fn mount_target(&self, volume: &str) -> Option<&str> {
        self.mounts
            .iter()
            .find(|m| m.volume.name == volume)
            .map(|m| m.target.as_str())
    }

    /// The names of the app networks it joins (the proxy network is added by the composer).
    pub fn networks(&self) -> impl Iterator<Item = &str> {
        self.networks.iter().map(|n| n.name.as_str())
    }

    /// The names of its environment variables, sorted.
    pub fn env_keys(&self) -> impl Iterator<Item = &str> {
        self.env.keys().map(String::as_str)
    }

    /// The value of environment variable `key`.
    #[must_use]
    pub fn env_value(&self, key: &str) -> Option<&Value> {
        self.env.get(key)
    }

    /// The command replacing the image's, if any.
    #[must_use]
    pub fn command_args(&self) -> Option<&[String]> {
        self.command.as_deref()
    }

    /// The entrypoint replacing the image's, if any.
    #[must_use]
    pub fn entrypoint_args(&self) -> Option<&[String]> {
        self.entrypoint.as_deref()
    }

    /// Its health check, if it sets one (the image's own may apply otherwise).
    #[must_use]
    pub fn health_check(&self) -> Option<&Healthcheck> {
        self.healthcheck.as_ref()
    }

    /// The services it waits for, and for what.
    pub fn dependencies(&self) -> impl Iterator<Item = (&str, DependsOn)> {
        self.depends_on.iter().map(|(k, d)| (k.as_str(), *d))
    }
}

// ---------------------------------------------------------------- routes

/// A service and port that the proxy forwards to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    pub(crate) service: String,
    pub(crate) port: u16,
    pub(crate) headers_up: BTreeMap<String, String>,
}

impl Upstream {
    /// Forward to `service:port` of the same app.
    #[must_use]
    pub fn new(service: impl Into<String>, port: u16) -> Self {
        Self {
            service: service.into(),
            port,
            headers_up: BTreeMap::new(),
        }
    }

    /// Set a request header for the upstream, e.g. `("X-Real-IP", "{remote_host}")`.
    #[must_use]
    pub fn header_up(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers_up.insert(name.into(), value.into());
        self
    }

    /// The service forwarded to.
    #[must_use]
    pub fn service(&self) -> &str {
        &self.service
    }

    /// The port forwarded to.
    #[must_use]
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The request headers set for the upstream.
    #[must_use]
    pub fn headers(&self) -> &BTreeMap<String, String> {
        &self.headers_up
    }
}

/// A fixed response served by the proxy itself (e.g. Matrix `.well-known` delegation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticResponse {
    pub(crate) path: String,
    pub(crate) status: u16,
    pub(crate) content_type: String,
    pub(crate) body: String,
    pub(crate) cors_any: bool,
}

/// What a path-matched handler of a route does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathAction {
    /// Forward to an upstream.
    Proxy(Upstream),
    /// Answer with a fixed body.
    Respond(StaticResponse),
}

/// A permanent redirect of one path on a route's host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redirect {
    pub(crate) from: String,
    pub(crate) to: String,
    pub(crate) status: u16,
}

/// A public hostname served by the proxy, with its handlers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub(crate) host: String,
    pub(crate) redirects: Vec<Redirect>,
    pub(crate) paths: Vec<(String, PathAction)>,
    pub(crate) default: Option<PathAction>,
    pub(crate) max_body_bytes: Option<u64>,
    pub(crate) origin: Origin,
}

impl Route {
    /// A route for `host` (a full DNS name such as `cloud.example.com`).
    #[track_caller]
    #[must_use]
    pub fn new(host: impl Into<String>) -> Self {
        Self {
            host: host.into(),
            redirects: Vec::new(),
            paths: Vec::new(),
            default: None,
            max_body_bytes: None,
            origin: Origin::caller(),
        }
    }

    /// Forward every request that no other handler takes to `upstream`.
    #[must_use]
    pub fn proxy(mut self, upstream: Upstream) -> Self {
        self.default = Some(PathAction::Proxy(upstream));
        self
    }

    /// Forward requests under `path` (a prefix like `/api/v1/streaming`) to `upstream`.
    #[must_use]
    pub fn proxy_path(mut self, path: impl Into<String>, upstream: Upstream) -> Self {
        self.paths.push((path.into(), PathAction::Proxy(upstream)));
        self
    }

    /// Answer `path` (exact) with a fixed JSON body, readable from any origin (CORS `*`).
    #[must_use]
    pub fn respond_json(mut self, path: impl Into<String>, body: impl Into<String>) -> Self {
        let path = path.into();
        self.paths.push((
            path.clone(),
            PathAction::Respond(StaticResponse {
                path,
                status: 200,
                content_type: "application/json".into(),
                body: body.into(),
                cors_any: true,
            }),
        ));
        self
    }

    /// Permanently redirect `from` (exact path) to `to` (HTTP 301).
    #[must_use]
    pub fn redirect(mut self, from: impl Into<String>, to: impl Into<String>) -> Self {
        self.redirects.push(Redirect {
            from: from.into(),
            to: to.into(),
            status: 301,
        });
        self
    }

    /// Refuse request bodies larger than `bytes` (uploads); without it the proxy sets no limit.
    #[must_use]
    pub fn max_body_bytes(mut self, bytes: u64) -> Self {
        self.max_body_bytes = Some(bytes);
        self
    }

    /// The hostname.
    #[must_use]
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The largest request body the proxy accepts, if limited.
    #[must_use]
    pub fn body_limit(&self) -> Option<u64> {
        self.max_body_bytes
    }

    /// Every upstream of the route with the path prefix it serves (`None` for the catch-all).
    pub fn upstreams(&self) -> impl Iterator<Item = (Option<&str>, &Upstream)> {
        let paths = self.paths.iter().filter_map(|(p, a)| match a {
            PathAction::Proxy(u) => Some((Some(p.as_str()), u)),
            PathAction::Respond(_) => None,
        });
        let default = self.default.iter().filter_map(|a| match a {
            PathAction::Proxy(u) => Some((None, u)),
            PathAction::Respond(_) => None,
        });
        paths.chain(default)
    }

    /// The redirects: (from, to, status).
    pub fn redirects(&self) -> impl Iterator<Item = (&str, &str, u16)> {
        self.redirects
            .iter()
            .map(|r| (r.from.as_str(), r.to.as_str(), r.status))
    }
}

// ---------------------------------------------------------------- hooks, jobs, ports

/// A command run inside a running service before the backup stops the app (e.g. `pg_dump`
/// into a backed-up volume), so the copy is consistent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupHook {
    pub(crate) service: String,
    pub(crate) command: Vec<String>,
    pub(crate) origin: Origin,
}

impl BackupHook {
    /// Run `command` (exec form) in `service`.
    #[track_caller]
    #[must_use]
    pub fn new<S: Into<String>>(
        service: impl Into<String>,
        command: impl IntoIterator<Item = S>,
    ) -> Self {
        Self {
            service: service.into(),
            command: command.into_iter().map(Into::into).collect(),
            origin: Origin::caller(),
        }
    }

    /// The service it runs in.
    #[must_use]
    pub fn service(&self) -> &str {
        &self.service
    }

    /// The command (exec form).
    #[must_use]
    pub fn command(&self) -> &[String] {
        &self.command
    }
}

/// A command run on a schedule inside a running service (a systemd timer on the instance).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub(crate) name: String,
    pub(crate) service: String,
    pub(crate) on_calendar: String,
    pub(crate) command: Vec<String>,
    pub(crate) origin: Origin,
}

impl Job {
    /// Run `command` in `service` at each systemd `OnCalendar=` time (e.g. `*:0/5`).
    #[track_caller]
    #[must_use]
    pub fn new<S: Into<String>>(
        name: impl Into<String>,
        service: impl Into<String>,
        on_calendar: impl Into<String>,
        command: impl IntoIterator<Item = S>,
    ) -> Self {
        Self {
            name: name.into(),
            service: service.into(),
            on_calendar: on_calendar.into(),
            command: command.into_iter().map(Into::into).collect(),
            origin: Origin::caller(),
        }
    }

    /// The job's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The service it runs in.
    #[must_use]
    pub fn service(&self) -> &str {
        &self.service
    }

    /// When it runs (systemd `OnCalendar=`).
    #[must_use]
    pub fn on_calendar(&self) -> &str {
        &self.on_calendar
    }

    /// The command (exec form).
    #[must_use]
    pub fn command(&self) -> &[String] {
        &self.command
    }
}

/// A command run **once per data volume**, inside a running service, after the app is up: the
/// first-run bootstrap an image does not do by itself (creating the first administrator,
/// installing the site, setting up a database).
///
/// On the server it is a oneshot unit ordered after the app's unit. It runs at boot until it
/// succeeds once, then leaves a marker file `<data root>/<app>/.nassella-once-<name>` on the data
/// volume, so it never runs again for that data — not on a redeploy, and not on a server restored
/// from a backup taken after it ran. A failed run is retried at the next boot. Write commands
/// that are harmless to repeat anyway (a restore of a backup taken before the marker existed runs
/// them again). Secrets reach the command through the service's environment
/// (`sh -c '… "$ADMIN_PASSWORD"'`), never through its arguments, which are readable in the unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OneOffJob {
    pub(crate) name: String,
    pub(crate) service: String,
    pub(crate) command: Vec<String>,
    pub(crate) origin: Origin,
}

impl OneOffJob {
    /// Run `command` (exec form) once in `service`.
    #[track_caller]
    #[must_use]
    pub fn new<S: Into<String>>(
        name: impl Into<String>,
        service: impl Into<String>,
        command: impl IntoIterator<Item = S>,
    ) -> Self {
        Self {
            name: name.into(),
            service: service.into(),
            command: command.into_iter().map(Into::into).collect(),
            origin: Origin::caller(),
        }
    }

    /// The job's name (it names the unit and the marker file).
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The service it runs in.
    #[must_use]
    pub fn service(&self) -> &str {
        &self.service
    }

    /// The command (exec form).
    #[must_use]
    pub fn command(&self) -> &[String] {
        &self.command
    }
}

/// A raw TCP port published on the host, straight to a service (bypassing the proxy).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpPort {
    pub(crate) host_port: u16,
    pub(crate) service: String,
    pub(crate) container_port: u16,
    pub(crate) origin: Origin,
}

impl TcpPort {
    /// Publish `host_port` on the server, forwarded to `service:container_port`.
    #[track_caller]
    #[must_use]
    pub fn new(host_port: u16, service: impl Into<String>, container_port: u16) -> Self {
        Self {
            host_port,
            service: service.into(),
            container_port,
            origin: Origin::caller(),
        }
    }

    /// The port published on the server.
    #[must_use]
    pub fn host_port(&self) -> u16 {
        self.host_port
    }

    /// The service it reaches.
    #[must_use]
    pub fn service(&self) -> &str {
        &self.service
    }

    /// The port inside the service.
    #[must_use]
    pub fn container_port(&self) -> u16 {
        self.container_port
    }
}
