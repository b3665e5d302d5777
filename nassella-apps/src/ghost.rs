//! Ghost: a publishing platform for blogs and newsletters.
//!
//! Deploys, per app id:
//!
//! - `ghost`: [`IMAGE`] on port 2368, the only service behind the proxy. Its `content` volume at
//!   `/var/lib/ghost/content` holds images, media, files, themes and settings.
//! - `db`: [`MYSQL_IMAGE`] (Ghost supports only MySQL 8 in production), volume `db` at
//!   `/var/lib/mysql`, on the internal `db` network.
//!
//! - Ghost is configured entirely through `section__key` environment variables: `url` is the
//!   public URL, `database__*` point at `db`. Caddy sends `X-Forwarded-For/-Proto/-Host`, which is
//!   all Ghost needs behind a proxy.
//! - Staff device verification (a code e-mailed at each login from a new device) is off unless
//!   `staff_device_verification` is set, which needs `smtp` (its password comes from an
//!   environment variable, `blocks::smtp`): with it on and no mail the owner is locked out of
//!   `/ghost` on every new browser.
//! - The owner account is created on the first visit to `/ghost`.
//! - The proxy refuses bodies over `max_upload_mb` (default 50 MiB, Ghost-CLI's nginx value).
//! - Not set up: ActivityPub (the "Network" tab; Ghost's own setup proxies it to a hosted
//!   service, and Nassella routes reach only the app's services), Tinybird analytics, a separate
//!   admin host.
//! - Backups: before the apps stop, `mysqldump --single-transaction` (consistent for InnoDB
//!   while Ghost runs) writes `/dump/ghost.sql` atomically into the backed-up `db-dump` volume.
//!
//! Sources (`reference/apps.md` §8 and §X): github.com/TryGhost/ghost-docker `compose.yml`
//! (`ghost:6-alpine`, `mysql:8.0.44`, health check), `.env.example` (SMTP required for staff
//! logins), `caddy/Caddyfile.example`, `caddy/snippets/ActivityPub`; docker-library/docs
//! `ghost/content.md` (environment configuration, content path); TryGhost/Ghost#23001 (device
//! verification on by default) and config key `security.staffDeviceVerification`.

use crate::catalog_app;
use nassella_core::{
    App, AppContext, BackupHook, Contribution, Healthcheck, Network, Route, Secret, SecretFormat,
    Service, SettingProblem, Upstream, Volume,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::blocks::smtp::Smtp;

/// The Ghost image: the 6 line (what Ghost's own compose file uses), following its minor
/// releases; Ghost migrates its database on start.
pub const IMAGE: &str = "ghost:6-alpine";
/// The database: MySQL 8.0, the exact release Ghost's compose file pins.
pub const MYSQL_IMAGE: &str = "mysql:8.0.44";

/// Ghost's HTTP port.
pub const HTTP_PORT: u16 = 2368;

/// Database name and user.
const DB: &str = "ghost";
/// The dump the pre-backup hook writes (inside `db`).
const DUMP: &str = "/dump/ghost.sql";
/// Bytes in a MiB.
const MIB: u64 = 1024 * 1024;

/// Settings of a Ghost app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Ghost {
    /// The public hostname, e.g. `blog.example.com`.
    pub host: String,
    /// The largest upload (images, media, themes) in MiB (default 50).
    #[serde(default = "default_max_upload_mb")]
    #[schemars(range(min = 1))]
    pub max_upload_mb: u32,
    /// E-mail a code at each staff login from a new device (default false). Turn it on only
    /// once Ghost can send mail, or nobody can log in from a new browser.
    #[serde(default)]
    pub staff_device_verification: bool,
    /// Outgoing mail (staff invitations, password resets, device verification codes): an SMTP
    /// server and a login whose password is read from an environment variable. Newsletters go
    /// through Mailgun, which Ghost configures in its admin. Without it, Ghost sends no mail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smtp: Option<Smtp>,
}

fn default_max_upload_mb() -> u32 {
    50
}

impl Ghost {
    /// Serve Ghost at `host` with a 50 MiB upload limit.
    #[must_use]
    pub fn new(host: impl Into<String>) -> Self {
        Self {
            host: host.into(),
            max_upload_mb: default_max_upload_mb(),
            staff_device_verification: false,
            smtp: None,
        }
    }


    /// The largest upload in MiB (at least 1; the composer reports 0).
    #[must_use]
    pub fn max_upload_mb(mut self, mb: u32) -> Self {
        self.max_upload_mb = mb;
        self
    }

    /// Send mail through this SMTP server.
    #[must_use]
    pub fn smtp(mut self, smtp: Smtp) -> Self {
        self.smtp = Some(smtp);
        self
    }

    /// E-mail verification codes for staff logins from new devices (needs [`Ghost::smtp`]).
    #[must_use]
    pub fn staff_device_verification(mut self, enabled: bool) -> Self {
        self.staff_device_verification = enabled;
        self
    }
}

#[catalog_app(
    kind = "ghost",
    summary = "Blogs and newsletters (Ghost with MySQL)",
    example = Self::new("blog.example.com")
)]
impl App for Ghost {
    fn check(&self) -> Vec<SettingProblem> {
        let mut out = Vec::new();
        if self.max_upload_mb == 0 {
            out.push(SettingProblem::new(
                "max_upload_mb",
                "max_upload_mb 0 would refuse every upload: give at least 1 (MiB)",
            ));
        }
        if self.staff_device_verification && self.smtp.is_none() {
            out.push(SettingProblem::new(
                "staff_device_verification",
                "staff device verification mails a code at each login from a new device: without smtp nobody could log in from a new browser; set smtp or turn it off",
            ));
        }
        out.extend(self.smtp.as_ref().map(Smtp::check).unwrap_or_default());
        out
    }

    fn contribute(&self, cx: &AppContext<'_>) -> Contribution {
        let mut c = Contribution::new();
        let content = c.volume(Volume::new("content").backed_up());
        let db_data = c.volume(Volume::new("db").backed_up());
        let dumps = c.volume(Volume::new("db-dump").backed_up());
        let db_net = c.network(Network::internal("db"));
        let db_password = c.secret(Secret::new("db-password", SecretFormat::Alphanumeric(32)));
        let root_password = c.secret(Secret::new(
            "db-root-password",
            SecretFormat::Alphanumeric(32),
        ));

        let mut ghost = Service::new("ghost", IMAGE);
        if let Some(m) = &self.smtp {
            ghost = ghost
                .env("mail__transport", "SMTP")
                .env("mail__from", &m.from)
                .env("mail__options__host", &m.host)
                .env("mail__options__port", m.port.to_string())
                .env("mail__options__secure", m.implicit_tls());
            for (k, v) in m.login_env(
                &mut c,
                "mail__options__auth__user",
                "mail__options__auth__pass",
            ) {
                ghost = ghost.env(k, v);
            }
        }
        c.service(
            ghost
                .env("url", cx.public_url(&self.host))
                .env("database__client", "mysql")
                .env("database__connection__host", "db")
                .env("database__connection__user", DB)
                .env("database__connection__password", &db_password)
                .env("database__connection__database", DB)
                .env(
                    "security__staffDeviceVerification",
                    if self.staff_device_verification {
                        "true"
                    } else {
                        "false"
                    },
                )
                .mount(&content, "/var/lib/ghost/content")
                .network(&db_net)
                .port(HTTP_PORT)
                .depends_on_healthy("db"),
        );
        c.service(
            Service::new("db", MYSQL_IMAGE)
                .env("MYSQL_ROOT_PASSWORD", &root_password)
                .env("MYSQL_DATABASE", DB)
                .env("MYSQL_USER", DB)
                .env("MYSQL_PASSWORD", &db_password)
                .mount(&db_data, "/var/lib/mysql")
                .mount(&dumps, "/dump")
                .network(&db_net)
                // Over TCP: the entrypoint's temporary init server does not listen on it, so
                // the check passes only once the real server runs.
                .healthcheck(
                    Healthcheck::cmd([
                        "sh",
                        "-c",
                        "MYSQL_PWD=\"$MYSQL_ROOT_PASSWORD\" mysqladmin ping --host=127.0.0.1 --user=root --silent",
                    ])
                    .start_period_s(60),
                ),
        );

        c.route(
            Route::new(&self.host)
                .max_body_bytes(u64::from(self.max_upload_mb) * MIB)
                .proxy(Upstream::new("ghost", HTTP_PORT)),
        );

        let dump = format!(
            "MYSQL_PWD=\"$MYSQL_ROOT_PASSWORD\" mysqldump --user=root --single-transaction --routines --events --databases {DB} --result-file={DUMP}.tmp && mv {DUMP}.tmp {DUMP}"
        );
        c.backup_hook(BackupHook::new("db", ["sh", "-c", dump.as_str()]));
        c.memory_hint_mib(1024);
        c
    }
}
