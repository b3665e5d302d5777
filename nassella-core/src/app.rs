//! The [`App`] trait and the [`Contribution`] an app returns.
//!
//! An app is an ordinary Rust value (its settings). Asked by the composer, it returns a
//! `Contribution`: services, networks, volumes, routes, secrets, backup hooks and jobs. It mutates
//! no shared state; the composer stamps each item with the app's id and checks cross-app rules.
//!
//! Whatever an app passes on — images, environment names and values, commands, schedules, route
//! paths, headers — is checked by the composer against the grammar of the file it lands in (the
//! types of [`crate::values`]), exactly as for the catalog's apps, and a value that does not fit
//! is a problem at its path, never a broken file. An app may use the same types in
//! [`App::check`] to report a setting early (`Hostname::parse(&self.host)`), and should name the
//! setting a user-supplied secret comes from with [`crate::Secret::for_setting`].

use std::fmt::Debug;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::model::{
    BackupHook, Job, Network, NetworkHandle, OneOffJob, Route, Secret, SecretRef, Service, TcpPort,
    Volume, VolumeHandle,
};
use crate::stack::Instance;

/// A deployable application. Object-safe: a stack holds `Box<dyn App>`.
///
/// ```
/// use nassella_core::{App, AppContext, Contribution, Route, Service, Upstream, Volume};
///
/// #[derive(Debug)]
/// struct Hello { host: String }
///
/// impl App for Hello {
///     fn kind(&self) -> &str { "hello" }
///     fn contribute(&self, _cx: &AppContext<'_>) -> Contribution {
///         let mut c = Contribution::new();
///         let data = c.volume(Volume::new("data").backed_up());
///         c.service(Service::new("web", "example/hello:1.0").port(8080).mount(&data, "/data"));
///         c.route(Route::new(&self.host).proxy(Upstream::new("web", 8080)));
///         c
///     }
/// }
/// ```
pub trait App: Debug + Send + Sync {
    /// The catalog name of this kind of app, e.g. `nextcloud`. It is also the app's id in a
    /// stack unless the stack entry names another ([`Stack::app_as`](crate::Stack::app_as)):
    /// the id belongs to the stack, not to the app, so an app never stores one.
    fn kind(&self) -> &str;

    /// Everything the app needs, as a value. Called even when [`App::check`] reports problems
    /// (so every problem is found in one pass): it must not panic on settings `check` rejects.
    fn contribute(&self, cx: &AppContext<'_>) -> Contribution;

    /// Problems with the app's own settings (an empty administrator name, a zero upload limit…).
    /// The composer reports each as an error at `apps.<id>.<field>`, at the place the app was
    /// added to the stack. Rules that span apps (hostnames, ports) belong to the composer, not
    /// here. Defaults to none.
    fn check(&self) -> Vec<SettingProblem> {
        Vec::new()
    }
}

/// A setting of an app that cannot be deployed as given, from [`App::check`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingProblem {
    /// The setting's path below the app, e.g. `admin_user` or `smtp.port`.
    pub field: String,
    /// What is wrong and what is allowed, e.g. "admin_user `` must be 1 to 64 letters, …".
    pub message: String,
}

impl SettingProblem {
    /// A problem with setting `field`.
    #[must_use]
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// What an app may know about where it is deployed.
#[derive(Debug, Clone, Copy)]
pub struct AppContext<'a> {
    /// The app's id in the stack.
    pub id: &'a str,
    /// The instance it runs on.
    pub instance: &'a Instance,
}

impl AppContext<'_> {
    /// The proxy network's subnet in CIDR form: what an app must trust as its reverse proxy.
    #[must_use]
    pub fn proxy_subnet(&self) -> &str {
        &self.instance.proxy_subnet
    }

    /// `https://<host>` (or `http://` when the instance serves plain HTTP).
    #[must_use]
    pub fn public_url(&self, host: &str) -> String {
        format!("{}://{host}", self.instance.tls.scheme())
    }
}

/// What one app contributes to a stack.
#[derive(Debug, Clone)]
pub struct Contribution {
    /// Identifies this contribution's handles, so one passed to another app is caught.
    pub(crate) token: usize,
    pub(crate) services: Vec<Service>,
    pub(crate) networks: Vec<Network>,
    pub(crate) volumes: Vec<Volume>,
    pub(crate) routes: Vec<Route>,
    pub(crate) secrets: Vec<Secret>,
    pub(crate) backup_hooks: Vec<BackupHook>,
    pub(crate) jobs: Vec<Job>,
    pub(crate) one_off_jobs: Vec<OneOffJob>,
    pub(crate) tcp_ports: Vec<TcpPort>,
    pub(crate) memory_mib: Option<u32>,
}

impl Contribution {
    /// An empty contribution.
    #[must_use]
    pub fn new() -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(1);
        Self {
            token: NEXT.fetch_add(1, Ordering::Relaxed),
            services: Vec::new(),
            networks: Vec::new(),
            volumes: Vec::new(),
            routes: Vec::new(),
            secrets: Vec::new(),
            backup_hooks: Vec::new(),
            jobs: Vec::new(),
            one_off_jobs: Vec::new(),
            tcp_ports: Vec::new(),
            memory_mib: None,
        }
    }

    /// Declare a persistent volume, stored at `<data root>/<app>/<name>`; mount it with the handle.
    pub fn volume(&mut self, volume: Volume) -> VolumeHandle {
        let handle = VolumeHandle {
            name: volume.name.clone(),
            token: self.token(),
        };
        self.volumes.push(volume);
        handle
    }

    /// Declare a network private to this app; attach services to it with the handle.
    pub fn network(&mut self, network: Network) -> NetworkHandle {
        let handle = NetworkHandle {
            name: network.name.clone(),
            token: self.token(),
        };
        self.networks.push(network);
        handle
    }

    /// Declare a secret derived from the stack's master key; use it in env values.
    pub fn secret(&mut self, secret: Secret) -> SecretRef {
        let r = SecretRef {
            name: secret.name.clone(),
            token: self.token(),
        };
        self.secrets.push(secret);
        r
    }

    /// Add a service (a container).
    pub fn service(&mut self, service: Service) {
        self.services.push(service);
    }

    /// Add a public route (a hostname served by the proxy).
    pub fn route(&mut self, route: Route) {
        self.routes.push(route);
    }

    /// Add a command run inside a service before each backup (e.g. a database dump).
    pub fn backup_hook(&mut self, hook: BackupHook) {
        self.backup_hooks.push(hook);
    }

    /// Add a scheduled job.
    pub fn job(&mut self, job: Job) {
        self.jobs.push(job);
    }

    /// Add a command run once per data volume after the app is up (first-run bootstrap such as
    /// creating the administrator). One-off jobs of an app run in the order they are added.
    pub fn one_off_job(&mut self, job: OneOffJob) {
        self.one_off_jobs.push(job);
    }

    /// Publish a raw TCP port on the host (only when the user opted in, e.g. git over SSH).
    pub fn tcp_port(&mut self, port: TcpPort) {
        self.tcp_ports.push(port);
    }

    /// How much memory the app needs, roughly, in MiB (a hint for sizing the server).
    pub fn memory_hint_mib(&mut self, mib: u32) {
        self.memory_mib = Some(mib);
    }

    fn token(&self) -> usize {
        self.token
    }
}

impl Default for Contribution {
    fn default() -> Self {
        Self::new()
    }
}
