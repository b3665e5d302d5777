//! FreshRSS: a feed reader with multiple users and an API for mobile apps.
//!
//! Deploys, per app id, one service `app` running [`IMAGE`] (Apache + PHP, Debian) on port 80
//! with SQLite. Volumes: `data` at `/var/www/FreshRSS/data` (`config.php`, every user's
//! `db.sqlite`, caches, logs) and `extensions` at `/var/www/FreshRSS/extensions`.
//!
//! - **First run only**: the image's entrypoint installs FreshRSS from `FRESHRSS_INSTALL` (base
//!   URL, SQLite, the API on, `admin_user` as the default user) and creates `admin_user` from
//!   `FRESHRSS_USER` with the derived secrets `admin-password` and `api-password` (the latter
//!   for mobile apps over the Google Reader / Fever APIs). Both steps leave an existing
//!   installation and user alone.
//! - **Every start**: `FRESHRSS_INSTALL` is ignored once FreshRSS is installed, and with it the
//!   base URL, so the service's command (run by the image's entrypoint after its own set-up)
//!   first applies the current one with `cli/reconfigure.php --base-url` from `FRESHRSS_BASE_URL`,
//!   re-applies the image's file permissions (the rewrite leaves `config.php` owned by root), and
//!   then execs Apache exactly as the image's `CMD` does ([`START`]). A hostname change therefore
//!   takes effect on the next deploy.
//! - **Every start**: `TRUSTED_PROXY` is the proxy subnet, so Apache's `mod_remoteip` takes the
//!   client address from Caddy's `X-Forwarded-For` and from nobody else (it also gates
//!   `Remote-User` headers). `CRON_MIN=3,33` runs the feed refresh inside the container twice an
//!   hour (FreshRSS' recommended built-in cron).
//! - Backups: before the apps stop, `cli/db-backup.php` writes a consistent copy of each user's
//!   database to `data/users/<user>/backup.sqlite` (restorable with `cli/db-restore.php`). It runs
//!   as root like every hook; the entrypoint gives the files back to `www-data` when the app
//!   restarts right after the backup.
//!
//! Sources (`reference/apps.md` §12): github.com/FreshRSS/FreshRSS `Docker/README.md`,
//! `Docker/entrypoint.sh` (`FRESHRSS_INSTALL`/`FRESHRSS_USER` word-split, exit code 3 when
//! present, `CRON_MIN`, group permissions), `Docker/freshrss/docker-compose.yml`
//! (`TRUSTED_PROXY`, `cli/health.php`), `cli/README.md`, `cli/do-install.php`,
//! `cli/create-user.php`, `cli/db-backup.php`, `cli/reconfigure.php` (`--base-url`),
//! `cli/access-permissions.sh`, `Docker/Dockerfile` (`ENTRYPOINT`, `CMD`),
//! `app/Controllers/userController.php` (user name rule); third-party deployments pinning 1.29.1 (2026-09).

use crate::catalog_app;
use nassella_core::{
    App, AppContext, BackupHook, Contribution, Healthcheck, Route, Secret, SecretFormat, Service,
    SettingProblem, Upstream, Value, Volume,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The FreshRSS image: an exact release of the Debian image (OpenID Connect works only there).
pub const IMAGE: &str = "freshrss/freshrss:1.29.1";

/// The service's command: apply the base URL, then the image's own `CMD` (cron when `CRON_MIN`
/// is set, then Apache in the foreground; no OpenID Connect). Run by the image's entrypoint,
/// which installs FreshRSS first.
pub const START: &str = "set -e\n\
    php ./cli/reconfigure.php --base-url \"$FRESHRSS_BASE_URL\"\n\
    ./cli/access-permissions.sh\n\
    [ -z \"$CRON_MIN\" ] || cron\n\
    . /etc/apache2/envvars\n\
    exec apache2 -D FOREGROUND\n";

/// Minutes of each hour at which the built-in cron refreshes feeds.
pub const CRON_MIN: &str = "3,33";

/// Settings of a FreshRSS app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FreshRss {
    /// The public hostname, e.g. `feeds.example.com`.
    pub host: String,
    /// The administrator created at the first run (default `admin`): a letter, digit or `_`,
    /// then up to 38 letters, digits and `_ . @ -`. Its passwords are the derived secrets
    /// `admin-password` (web) and `api-password` (mobile apps).
    #[serde(default = "default_admin_user")]
    #[schemars(regex(pattern = r"^[A-Za-z0-9_][A-Za-z0-9_.@-]{0,38}$"))]
    pub admin_user: String,
}

fn default_admin_user() -> String {
    "admin".into()
}

impl FreshRss {
    /// Serve FreshRSS at `host` with the administrator `admin`.
    #[must_use]
    pub fn new(host: impl Into<String>) -> Self {
        Self {
            host: host.into(),
            admin_user: default_admin_user(),
        }
    }


    /// The administrator created at the first run.
    #[must_use]
    pub fn admin_user(mut self, name: impl Into<String>) -> Self {
        self.admin_user = name.into();
        self
    }
}

#[catalog_app(
    kind = "freshrss",
    summary = "A multi-user feed reader with a mobile API (FreshRSS)",
    example = Self::new("feeds.example.com")
)]
impl App for FreshRss {
    fn check(&self) -> Vec<SettingProblem> {
        let name = self.admin_user.as_bytes();
        let ok = (1..=39).contains(&name.len())
            && (name[0].is_ascii_alphanumeric() || name[0] == b'_')
            && name
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || b"_.@-".contains(b));
        if ok {
            return Vec::new();
        }
        vec![SettingProblem::new(
            "admin_user",
            format!(
                "admin_user `{}` must be 1 to 39 letters, digits, '_', '.', '@' or '-', starting with a letter, digit or '_'",
                self.admin_user
            ),
        )]
    }

    fn contribute(&self, cx: &AppContext<'_>) -> Contribution {
        let mut c = Contribution::new();
        let data = c.volume(Volume::new("data").backed_up());
        let extensions = c.volume(Volume::new("extensions").backed_up());
        let admin_password = c.secret(Secret::new(
            "admin-password",
            SecretFormat::Alphanumeric(24),
        ));
        let api_password = c.secret(Secret::new("api-password", SecretFormat::Alphanumeric(24)));
        let user = &self.admin_user;

        c.service(
            Service::new("app", IMAGE)
                // First run only (the entrypoint word-splits both; every part is one word).
                .env(
                    "FRESHRSS_INSTALL",
                    format!(
                        "--api-enabled --base-url {} --db-type sqlite --default-user {user} --language en",
                        cx.public_url(&self.host)
                    ),
                )
                .env(
                    "FRESHRSS_USER",
                    Value::concat([
                        format!("--user {user} --language en --password ").into(),
                        (&admin_password).into(),
                        " --api-password ".into(),
                        (&api_password).into(),
                    ]),
                )
                // Every start.
                .command(["sh", "-c", START])
                .env("FRESHRSS_BASE_URL", cx.public_url(&self.host))
                .env("TRUSTED_PROXY", cx.proxy_subnet())
                .env("CRON_MIN", CRON_MIN)
                .mount(&data, "/var/www/FreshRSS/data")
                .mount(&extensions, "/var/www/FreshRSS/extensions")
                .port(80)
                .healthcheck(Healthcheck::cmd(["cli/health.php"]).start_period_s(60)),
        );
        c.route(Route::new(&self.host).proxy(Upstream::new("app", 80)));
        c.backup_hook(BackupHook::new(
            "app",
            ["php", "/var/www/FreshRSS/cli/db-backup.php"],
        ));
        c.memory_hint_mib(256);
        c
    }
}
