//! Nextcloud: file sync and share, calendars and contacts.
//!
//! Deploys, per app id:
//!
//! - `app`: [`IMAGE`] (Apache + PHP) on port 80, the only service behind the proxy. Its
//!   `/var/www/html` (code, `config/`, `data/`, `custom_apps/`, `themes/`) is the `html` volume.
//!   It installs itself on first start from `NEXTCLOUD_ADMIN_*`, `POSTGRES_*` and
//!   `NEXTCLOUD_TRUSTED_DOMAINS`; these are read **only at that first install**.
//! - `cron`: the same image with `entrypoint: /cron.sh` and the same volume and runtime
//!   environment: busybox crond runs `cron.php` every 5 minutes as www-data.
//! - `db`: [`POSTGRES_IMAGE`]. Postgres 18 keeps its data in `/var/lib/postgresql/18/docker` and
//!   declares the volume at `/var/lib/postgresql`, so that is where the `db` volume is mounted
//!   (mounting `/var/lib/postgresql/data` would silently write into an anonymous volume).
//! - `redis`: [`REDIS_IMAGE`] with a password, no persistence (cache, locking and sessions).
//!
//! `db` and `redis` sit on the internal `db` network (no egress); `cron` also joins `outbound`
//! (background jobs fetch calendars, app updates and federated shares); `app` reaches the
//! internet through the proxy network.
//!
//! The proxy sets `X-Forwarded-*`; Nextcloud trusts them only from the proxy subnet
//! (`TRUSTED_PROXIES`), and `OVERWRITEHOST`/`OVERWRITEPROTOCOL`/`OVERWRITECLIURL` fix the URLs it
//! generates. `APACHE_DISABLE_REWRITE_IP=1` turns off the image's `mod_remoteip` rule that takes
//! `X-Real-IP` from any private address. `/.well-known/{caldav,carddav}` redirect to
//! `/remote.php/dav`. The upload limit is enforced once, by the proxy; PHP's is raised to match
//! and Apache's (1 GiB by default) is lifted.
//!
//! Backups: before the apps stop, `pg_dump --format=custom` writes `/dump/nextcloud.pgdump` in the
//! backed-up `db-dump` volume (portable across Postgres majors); the stopped app's volumes are
//! then consistent on their own.
//!
//! Sources (`reference/apps.md` §1 and §X): github.com/nextcloud/docker — README.md,
//! `.examples/docker-compose/with-nginx-proxy/postgres/apache/compose.yaml`,
//! `proxy/uploadsize.conf`, `docker-entrypoint.sh` (install-only variables, `APACHE_DISABLE_REWRITE_IP`,
//! one-major-at-a-time upgrades), `docker-cron.sh`, `.config/redis.config.php`,
//! `.config/reverse-proxy.config.php` (runtime `TRUSTED_PROXIES`/`OVERWRITE*`); docs.nextcloud.com
//! admin manual `configuration_server/reverse_proxy_configuration`, `maintenance/backup`,
//! `installation/system_requirements` (Postgres 14–18); docker-library/docs `postgres/content.md`
//! (Postgres ≥ 18 mount path).

use crate::blocks::postgres::Postgres;
use crate::blocks::redis::Redis;
use crate::catalog_app;
use nassella_core::{
    App, AppContext, Contribution, Healthcheck, Network, Route, Secret, SecretFormat, Service,
    SettingProblem, Upstream, Volume,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::blocks::smtp::{Smtp, SmtpSecurity};

/// The Nextcloud image: an exact release. Nextcloud upgrades one major at a time, so moving to
/// a new major is a deliberate change of this line (see docs/apps/nextcloud.md).
pub const IMAGE: &str = "nextcloud:34.0.2-apache";
/// The database image: Postgres 18 (Nextcloud's recommended version), following its minor
/// releases (bug and security fixes, same on-disk format).
pub const POSTGRES_IMAGE: &str = "postgres:18-alpine";
/// The cache image: Redis 8, following its minor releases. It keeps no data.
pub const REDIS_IMAGE: &str = "redis:8-alpine";

/// The database name and user.
const DB: &str = "nextcloud";
/// Bytes in a GiB.
const GIB: u64 = 1024 * 1024 * 1024;

/// Settings of a Nextcloud app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Nextcloud {
    /// The public hostname, e.g. `cloud.example.com`.
    pub host: String,
    /// The largest upload, in GiB (default 10): the proxy refuses bigger request bodies and PHP
    /// accepts up to this size. The desktop and mobile clients upload big files in chunks.
    #[serde(default = "default_max_upload_gb")]
    #[schemars(range(min = 1))]
    pub max_upload_gb: u32,
    /// The administrator account created at the first install (default `admin`): letters,
    /// digits, `_`, `.`, `@` and `-`. Read only at the first install; its password is the
    /// derived secret `admin-password`.
    #[serde(default = "default_admin_user")]
    #[schemars(regex(pattern = r"^[A-Za-z0-9_.@-]{1,64}$"))]
    pub admin_user: String,
    /// Outgoing mail (password resets, share and activity notifications): an SMTP server and a
    /// login whose password is read from an environment variable. Without it, mail is off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smtp: Option<Smtp>,
}

fn default_max_upload_gb() -> u32 {
    10
}

fn default_admin_user() -> String {
    "admin".into()
}

/// Why `name` cannot be Nextcloud's first admin user name, if it cannot.
fn admin_user_problem(name: &str) -> Option<String> {
    crate::blocks::user_name::user_name_problem(
        "admin_user",
        name,
        64,
        crate::blocks::user_name::Letters::Any,
        "_.@-",
    )
}

impl Nextcloud {
    /// Serve Nextcloud at `host`, with a 10 GiB upload limit and the admin user `admin`.
    #[must_use]
    pub fn new(host: impl Into<String>) -> Self {
        Self {
            host: host.into(),
            max_upload_gb: default_max_upload_gb(),
            admin_user: default_admin_user(),
            smtp: None,
        }
    }


    /// The largest upload in GiB (at least 1; the composer reports 0).
    #[must_use]
    pub fn max_upload_gb(mut self, gb: u32) -> Self {
        self.max_upload_gb = gb;
        self
    }

    /// Send mail through this SMTP server.
    #[must_use]
    pub fn smtp(mut self, smtp: Smtp) -> Self {
        self.smtp = Some(smtp);
        self
    }

    /// The administrator created at the first install (ignored afterwards): 1 to 64 letters,
    /// digits, `_`, `.`, `@` and `-` (the composer reports anything else).
    #[must_use]
    pub fn admin_user(mut self, name: impl Into<String>) -> Self {
        self.admin_user = name.into();
        self
    }
}

#[catalog_app(
    kind = "nextcloud",
    summary = "Files, calendars and contacts (Nextcloud with Postgres, Redis and cron)",
    example = Self::new("cloud.example.com")
)]
impl App for Nextcloud {
    fn check(&self) -> Vec<SettingProblem> {
        let mut out = Vec::new();
        if self.max_upload_gb == 0 {
            out.push(SettingProblem::new(
                "max_upload_gb",
                "max_upload_gb 0 would refuse every upload: give at least 1 (GiB)",
            ));
        }
        if let Some(p) = admin_user_problem(&self.admin_user) {
            out.push(SettingProblem::new("admin_user", p));
        }
        out.extend(self.smtp.as_ref().map(Smtp::check).unwrap_or_default());
        out
    }

    fn contribute(&self, cx: &AppContext<'_>) -> Contribution {
        let mut c = Contribution::new();
        let html = c.volume(Volume::new("html").backed_up());
        let db = Postgres::new(POSTGRES_IMAGE, DB).add_to(&mut c);
        let db_net = db.network;
        let outbound = c.network(Network::with_egress("outbound"));
        // No persistence: cache, locking and sessions only.
        let redis_password = Redis::new(REDIS_IMAGE)
            .args(["--save", "", "--appendonly", "no"])
            .add_with_password(&mut c, &db_net);
        let admin_password = c.secret(Secret::new(
            "admin-password",
            SecretFormat::Alphanumeric(24),
        ));

        let smtp_password = self.smtp.as_ref().and_then(|m| m.password(&mut c));

        let url = cx.public_url(&self.host);
        let scheme = cx.instance.tls_mode().scheme();
        // Read on every start by the image's config/*.config.php files: app and cron need the
        // same view (cron.php uses Redis for locking and builds links from OVERWRITECLIURL).
        // Mail too (config/smtp.config.php): cron sends the notification mails.
        let mail = |mut s: Service| {
            if let Some(m) = &self.smtp {
                let (local, domain) = m.from_parts();
                s = s
                    .env("SMTP_HOST", &m.host)
                    .env("SMTP_PORT", m.port.to_string())
                    .env("MAIL_FROM_ADDRESS", local)
                    .env("MAIL_DOMAIN", domain);
                if m.security == SmtpSecurity::Tls {
                    s = s.env("SMTP_SECURE", "ssl");
                }
                if let Some(user) = &m.username {
                    s = s.env("SMTP_NAME", user);
                }
                if let Some(password) = &smtp_password {
                    s = s.env("SMTP_PASSWORD", password);
                }
            }
            s
        };
        let runtime = |s: Service| {
            mail(s)
                .env("REDIS_HOST", "redis")
                .env("REDIS_HOST_PASSWORD", &redis_password)
                .env("TRUSTED_PROXIES", cx.proxy_subnet())
                .env("OVERWRITEHOST", &self.host)
                .env("OVERWRITEPROTOCOL", scheme)
                .env("OVERWRITECLIURL", url.as_str())
                .mount(&html, "/var/www/html")
                .network(&db_net)
                .depends_on_healthy("db")
                .depends_on_healthy("redis")
        };

        c.service(
            runtime(Service::new("app", IMAGE))
                // First install only (docker-entrypoint.sh runs `occ maintenance:install` once).
                .env("NEXTCLOUD_ADMIN_USER", &self.admin_user)
                .env("NEXTCLOUD_ADMIN_PASSWORD", &admin_password)
                .env("NEXTCLOUD_TRUSTED_DOMAINS", &self.host)
                .env("POSTGRES_HOST", "db")
                .env("POSTGRES_DB", DB)
                .env("POSTGRES_USER", DB)
                .env("POSTGRES_PASSWORD", &db.password)
                // Every start.
                .env("APACHE_DISABLE_REWRITE_IP", "1")
                .env("APACHE_BODY_LIMIT", "0")
                .env("PHP_UPLOAD_LIMIT", format!("{}G", self.max_upload_gb))
                .port(80)
                // status.php answers once Apache runs; the first install can take minutes.
                .healthcheck(
                    Healthcheck::cmd([
                        "curl",
                        "-fsS",
                        "-o",
                        "/dev/null",
                        "http://localhost/status.php",
                    ])
                    .interval_s(30)
                    .start_period_s(600),
                ),
        );
        c.service(
            runtime(Service::new("cron", IMAGE))
                .entrypoint(["/cron.sh"])
                .network(&outbound)
                // Only started: the first install must not make compose wait (cron.php skips
                // its run until Nextcloud is installed).
                .depends_on("app"),
        );
        c.route(
            Route::new(&self.host)
                .redirect("/.well-known/carddav", "/remote.php/dav")
                .redirect("/.well-known/caldav", "/remote.php/dav")
                .max_body_bytes(u64::from(self.max_upload_gb) * GIB)
                .proxy(Upstream::new("app", 80)),
        );

        c.memory_hint_mib(1024);
        c
    }
}
