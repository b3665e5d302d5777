//! Every kind of problem the composer and the output checks can report, grouped by topic.
//!
//! Each message says what is wrong and what is allowed, so a user can fix it without reading code.

use thiserror::Error;

/// What is wrong with a stack. Wrapped in a [`crate::Problem`] that says where.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ProblemKind {
    // ---- names and ids ----
    /// An id (instance, app, service, volume, network, secret) is not DNS-safe.
    #[error("`{value}` is not a valid {what}: use 1 to {max} lowercase letters, digits and '-', starting with a letter and not ending with '-'")]
    InvalidName {
        /// What kind of name.
        what: &'static str,
        /// The rejected value.
        value: String,
        /// Longest allowed.
        max: usize,
    },
    /// An app id is reserved for Nassella's own use.
    #[error("app id `{id}` is reserved for Nassella's own use; choose another id")]
    ReservedAppId {
        /// The id.
        id: String,
    },
    /// Two apps share an id.
    #[error("app id `{id}` is used twice (also at {other}); give one of them another id")]
    DuplicateAppId {
        /// The id.
        id: String,
        /// The other declaration.
        other: String,
    },
    /// Two items of one kind share a name inside an app.
    #[error("{what} `{name}` is declared twice in this app; names must be unique")]
    DuplicateName {
        /// Service, volume, network, secret…
        what: &'static str,
        /// The name.
        name: String,
    },
    /// The stack has no apps.
    #[error("the stack has no apps: the server would only serve the maintenance page")]
    NoApps,

    /// A config file names an app the catalog does not have.
    #[error("unknown app `{kind}`; the catalog has: {known}")]
    UnknownApp {
        /// The name given.
        kind: String,
        /// What exists.
        known: String,
    },
    /// An app's settings do not fit its type.
    #[error("{0}")]
    InvalidSettings(String),

    // ---- hosts and routes ----
    /// A hostname is not a valid DNS name.
    #[error("`{host}` is not a valid hostname: {reason}")]
    InvalidHost {
        /// The hostname.
        host: String,
        /// Why.
        reason: &'static str,
    },
    /// Two routes claim the same hostname.
    #[error("hostname `{host}` is already served by {other}; each hostname can be routed to one app only")]
    DuplicateHost {
        /// The hostname.
        host: String,
        /// The path of the other route.
        other: String,
    },
    /// A route has nothing to do for requests that match no path.
    #[error("route has no upstream and no response; add `.proxy(…)` or a static response")]
    EmptyRoute,
    /// A route path does not start with '/'.
    #[error("path `{path}` must start with '/'")]
    InvalidRoutePath {
        /// The path.
        path: String,
    },
    /// A route points at a service the app does not declare.
    #[error("upstream service `{service}` is not declared by this app (declared: {declared})")]
    UnknownService {
        /// The missing service.
        service: String,
        /// What the app declares.
        declared: String,
    },
    /// A route points at a port the service does not declare.
    #[error("service `{service}` does not declare port {port} (declared: {declared}); add `.port({port})` to the service")]
    UndeclaredPort {
        /// The service.
        service: String,
        /// The port.
        port: u16,
        /// What it declares.
        declared: String,
    },

    // ---- services ----
    /// An image reference is not pinned.
    #[error("image `{image}` is not pinned: give a version tag other than `latest` (e.g. `nextcloud:31.0.8-apache`) or a digest (`@sha256:…`)")]
    UnpinnedImage {
        /// The image reference.
        image: String,
    },
    /// A `depends_on` names an unknown service.
    #[error("depends on `{service}`, which this app does not declare")]
    UnknownDependency {
        /// The service named.
        service: String,
    },
    /// A mount target is not an absolute path.
    #[error("mount target `{target}` must be an absolute path inside the container")]
    RelativeMountTarget {
        /// The target.
        target: String,
    },
    /// An item belongs to another app (a handle was passed across apps).
    #[error("{what} `{name}` is declared by another app; an app can only use its own {what}s")]
    ForeignHandle {
        /// Volume, network or secret.
        what: &'static str,
        /// Its name.
        name: String,
    },
    /// A secret supplied by the user names an unusable environment variable.
    #[error("`{var}` cannot carry a secret: name an environment variable of capitals, digits and '_' (not starting with a digit, not NASSELLA_…), e.g. `VAULT_SMTP_PASSWORD`")]
    InvalidEnvSecretName {
        /// The variable.
        var: String,
    },
    /// A secret the user supplies is not in the environment.
    #[error("the environment variable {var} is not set: export it before running nassella (its value goes into the server's config, never into the config file)")]
    EnvSecretMissing {
        /// The variable.
        var: String,
    },
    /// A secret the user supplies cannot be written to an env file.
    #[error("the value of {var} is empty or holds a `'` or a line break, which the server's env file cannot carry: use another value")]
    EnvSecretUnusable {
        /// The variable.
        var: String,
    },
    /// An environment variable name is not valid.
    #[error("environment variable name `{name}` is not valid: use letters, digits and '_', not starting with a digit")]
    InvalidEnvName {
        /// The name.
        name: String,
    },
    /// A value holding a secret also holds a quote or a line break, which its env file cannot carry.
    #[error("the value of `{name}` holds a secret and a `'` or a line break; values with secrets may not contain either")]
    InvalidEnvValue {
        /// The variable.
        name: String,
    },
    /// A service declares no networks and serves no route, so it could not talk to anything.
    #[error("service `{service}` is on no network and serves no route; attach it to a network of the app")]
    IsolatedService {
        /// The service.
        service: String,
    },

    // ---- volumes and backups ----
    /// A volume says neither that it is backed up nor why it is excluded.
    #[error("volume `{volume}` must say whether it is backed up: `.backed_up()` or `.excluded_from_backup(\"why\")`")]
    BackupUndecided {
        /// The volume.
        volume: String,
    },
    /// A volume is declared but mounted by no service.
    #[error("volume `{volume}` is declared but no service mounts it")]
    UnusedVolume {
        /// The volume.
        volume: String,
    },
    /// A network is declared but used by no service.
    #[error("network `{network}` is declared but no service joins it")]
    UnusedNetwork {
        /// The network.
        network: String,
    },
    /// A backup hook or job runs in a service the app does not declare.
    #[error("runs in service `{service}`, which this app does not declare")]
    UnknownHookService {
        /// The service.
        service: String,
    },
    /// A backup hook or job has no command.
    #[error("the command is empty; give the program and its arguments (exec form)")]
    EmptyCommand,
    /// The backup settings are unusable.
    #[error("{0}")]
    InvalidBackup(String),

    // ---- ports ----
    /// A host port is claimed twice, or is one the proxy owns.
    #[error("host port {port} is already used by {other}; pick another port")]
    PortTaken {
        /// The port.
        port: u16,
        /// Who has it.
        other: String,
    },

    // ---- instance ----
    /// An instance setting is unusable.
    #[error("{0}")]
    InvalidInstance(String),

    // ---- values ----
    /// A value does not fit the grammar of the file it lands in (see [`crate::values`]).
    #[error("{0}")]
    InvalidValue(crate::values::InvalidValue),
    /// A backup credential from the environment cannot be written to restic's env file. Names
    /// the variable, never its value.
    #[error("the environment variable {var} cannot be used as a backup credential: {reason}; fix its value (it is not shown here) and run again")]
    BackupCredentialUnusable {
        /// The variable.
        var: String,
        /// Why (never quoting the value).
        reason: String,
    },
    /// A derived secret is longer than Nassella derives.
    #[error("secret `{name}` asks for {len} characters or bytes; at most {max} are derived")]
    SecretTooLong {
        /// The secret.
        name: String,
        /// What was asked.
        len: usize,
        /// The limit.
        max: usize,
    },

    // ---- output ----
    /// The Ignition config does not fit the provider's user-data limit.
    #[error("the Ignition config is {size} bytes but {provider} accepts at most {limit} bytes of user data; remove apps or split them across instances")]
    UserDataTooLarge {
        /// Rendered size.
        size: usize,
        /// The limit.
        limit: usize,
        /// Provider name.
        provider: String,
    },
    /// The rendered Ignition config failed to parse back (a bug in Nassella).
    #[error("the rendered Ignition config does not parse back as spec 3.3.0: {0} (this is a bug in Nassella; please report it)")]
    IgnitionRoundTrip(String),
}
