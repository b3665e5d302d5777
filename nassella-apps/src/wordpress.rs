//! WordPress: the website and blog engine.
//!
//! Deploys, per app id:
//!
//! - `app`: [`IMAGE`] (Apache + PHP) on port 80, the only service behind the proxy. Its `html`
//!   volume at `/var/www/html` holds WordPress itself (the image copies it in on the first
//!   start; WordPress then updates itself there), `wp-config.php` and `wp-content/` (uploads,
//!   plugins, themes).
//! - `cli`: [`CLI_IMAGE`] (WP-CLI, the same PHP), idle, sharing the volume and the database
//!   settings (not the keys, which only sign what the web server hands out), so one-off jobs can
//!   run `wp` commands. It runs as uid 33, the Apache image's `www-data`, as the image's docs
//!   ask.
//! - `db`: [`MARIADB_IMAGE`], volume `db` at `/var/lib/mysql`, on the internal `db` network.
//!
//! - **Installation** is a one-off job (`install`, once per data volume): `wp core install`
//!   with `title`, `admin_user`, `admin_email` and the derived secret `admin-password`, right
//!   after the first start, so the web installer — where the first visitor would pick the
//!   administrator — is never exposed for long. It is skipped when WordPress is already
//!   installed (`wp core is-installed`).
//! - **Every start**: `wp-config.php` (written once by the image) reads the database settings and
//!   the eight authentication keys and salts from the environment on every request. They are
//!   derived secrets, so logins survive redeploys. `WORDPRESS_CONFIG_EXTRA` sets `WP_HOME` and
//!   `WP_SITEURL` to the public URL. PHP's upload limits are written into `conf.d` before Apache
//!   starts, matching `max_upload_mb`, which the proxy enforces too.
//! - Client addresses: the image's Apache `remoteip` trusts `X-Forwarded-For` from private
//!   ranges, which on the app's networks means Caddy; its `wp-config.php` honours
//!   `X-Forwarded-Proto`.
//! - Backups: before the apps stop, `mariadb-dump --single-transaction` writes
//!   `/dump/wordpress.sql` atomically into the backed-up `db-dump` volume.
//!
//! Sources (`reference/apps.md` §9 and §X): docker-library/docs `wordpress/content.md`
//! (`WORDPRESS_*` variables, `WORDPRESS_CONFIG_EXTRA`, the `cli` image and `--user 33:33`),
//! docker-library/wordpress `latest/php8.3/apache/Dockerfile`, `docker-entrypoint.sh`,
//! `wp-config-docker.php` (`getenv_docker`, `X-Forwarded-Proto`); docker-library/docs
//! `mariadb/content.md` (`MARIADB_*`, `healthcheck.sh`, `MARIADB_AUTO_UPGRADE`); WP-CLI
//! `core install` / `core is-installed`.

use crate::catalog_app;
use nassella_core::{
    App, AppContext, BackupHook, Contribution, Healthcheck, Network, OneOffJob, Route, Secret,
    SecretFormat, SecretRef, Service, SettingProblem, Upstream, Volume,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The WordPress image, only used for the first copy into the volume (WordPress updates itself
/// afterwards): 7.1.0 on PHP 8.3.
pub const IMAGE: &str = "wordpress:7.1.0-php8.3-apache";
/// WP-CLI on the same PHP.
pub const CLI_IMAGE: &str = "wordpress:cli-2.12.0-php8.3";
/// The database: MariaDB 11.4 LTS, following its patch releases.
pub const MARIADB_IMAGE: &str = "mariadb:11.4";

/// Database name and user.
const DB: &str = "wordpress";
/// The dump the pre-backup hook writes (inside `db`).
const DUMP: &str = "/dump/wordpress.sql";
/// Bytes in a MiB.
const MIB: u64 = 1024 * 1024;
/// The eight keys and salts of `wp-config.php`: (environment variable, secret name).
const KEYS: [(&str, &str); 8] = [
    ("WORDPRESS_AUTH_KEY", "auth-key"),
    ("WORDPRESS_SECURE_AUTH_KEY", "secure-auth-key"),
    ("WORDPRESS_LOGGED_IN_KEY", "logged-in-key"),
    ("WORDPRESS_NONCE_KEY", "nonce-key"),
    ("WORDPRESS_AUTH_SALT", "auth-salt"),
    ("WORDPRESS_SECURE_AUTH_SALT", "secure-auth-salt"),
    ("WORDPRESS_LOGGED_IN_SALT", "logged-in-salt"),
    ("WORDPRESS_NONCE_SALT", "nonce-salt"),
];

/// Settings of a WordPress app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WordPress {
    /// The public hostname, e.g. `www.example.com`.
    pub host: String,
    /// The administrator's e-mail address, given to WordPress at installation.
    pub admin_email: String,
    /// The administrator created at installation (default `admin`): letters, digits and
    /// `_ . @ -`. Its password is the derived secret `admin-password`.
    #[serde(default = "default_admin_user")]
    #[schemars(regex(pattern = r"^[A-Za-z0-9_.@-]{1,60}$"))]
    pub admin_user: String,
    /// The site title at installation (default `WordPress`; change it later in the dashboard).
    #[serde(default = "default_title")]
    pub title: String,
    /// The largest upload in MiB (default 64): PHP's limits and the proxy's.
    #[serde(default = "default_max_upload_mb")]
    #[schemars(range(min = 1))]
    pub max_upload_mb: u32,
}

fn default_admin_user() -> String {
    "admin".into()
}

fn default_title() -> String {
    "WordPress".into()
}

fn default_max_upload_mb() -> u32 {
    64
}

impl WordPress {
    /// Serve WordPress at `host`, administrator `admin` with e-mail `admin_email`.
    #[must_use]
    pub fn new(host: impl Into<String>, admin_email: impl Into<String>) -> Self {
        Self {
            host: host.into(),
            admin_email: admin_email.into(),
            admin_user: default_admin_user(),
            title: default_title(),
            max_upload_mb: default_max_upload_mb(),
        }
    }


    /// The administrator created at installation.
    #[must_use]
    pub fn admin_user(mut self, name: impl Into<String>) -> Self {
        self.admin_user = name.into();
        self
    }

    /// The site title at installation.
    #[must_use]
    pub fn title(mut self, title: impl Into<String>) -> Self {
        self.title = title.into();
        self
    }

    /// The largest upload in MiB (at least 1; the composer reports 0).
    #[must_use]
    pub fn max_upload_mb(mut self, mb: u32) -> Self {
        self.max_upload_mb = mb;
        self
    }
}

#[catalog_app(
    kind = "wordpress",
    summary = "Websites and blogs (WordPress with MariaDB)",
    example = Self::new("www.example.com", "admin@example.com")
)]
impl App for WordPress {
    fn check(&self) -> Vec<SettingProblem> {
        let mut out = Vec::new();
        let user_ok = (1..=60).contains(&self.admin_user.len())
            && self
                .admin_user
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_.@-".contains(&b));
        if !user_ok {
            out.push(SettingProblem::new(
                "admin_user",
                format!(
                    "admin_user `{}` must be 1 to 60 letters, digits, '_', '.', '@' or '-'",
                    self.admin_user
                ),
            ));
        }
        let email_ok = self.admin_email.len() <= 100
            && self
                .admin_email
                .split_once('@')
                .is_some_and(|(l, d)| !l.is_empty() && d.contains('.'))
            && !self
                .admin_email
                .contains(|c: char| c.is_whitespace() || "'\"<>".contains(c));
        if !email_ok {
            out.push(SettingProblem::new(
                "admin_email",
                format!(
                    "admin_email `{}` is not an e-mail address (e.g. `you@example.com`)",
                    self.admin_email
                ),
            ));
        }
        if self.title.trim().is_empty() || self.title.contains(['\n', '\r']) {
            out.push(SettingProblem::new(
                "title",
                "title must be one line of text, not empty",
            ));
        }
        if self.max_upload_mb == 0 {
            out.push(SettingProblem::new(
                "max_upload_mb",
                "max_upload_mb 0 would refuse every upload: give at least 1 (MiB)",
            ));
        }
        out
    }

    fn contribute(&self, cx: &AppContext<'_>) -> Contribution {
        let mut c = Contribution::new();
        let html = c.volume(Volume::new("html").backed_up());
        let db_data = c.volume(Volume::new("db").backed_up());
        let dumps = c.volume(Volume::new("db-dump").backed_up());
        let db_net = c.network(Network::internal("db"));
        let db_password = c.secret(Secret::new("db-password", SecretFormat::Alphanumeric(32)));
        let root_password = c.secret(Secret::new(
            "db-root-password",
            SecretFormat::Alphanumeric(32),
        ));
        let admin_password = c.secret(Secret::new(
            "admin-password",
            SecretFormat::Alphanumeric(24),
        ));
        let keys: Vec<(&str, SecretRef)> = KEYS
            .iter()
            .map(|(var, name)| {
                (
                    *var,
                    c.secret(Secret::new(*name, SecretFormat::Alphanumeric(64))),
                )
            })
            .collect();

        let url = cx.public_url(&self.host);
        // What wp-config.php reads to reach the database; app and cli need the same view.
        let runtime = |s: Service| {
            s.env("WORDPRESS_DB_HOST", "db")
                .env("WORDPRESS_DB_NAME", DB)
                .env("WORDPRESS_DB_USER", DB)
                .env("WORDPRESS_DB_PASSWORD", &db_password)
                .env(
                    "WORDPRESS_CONFIG_EXTRA",
                    format!("define('WP_HOME', '{url}'); define('WP_SITEURL', '{url}');"),
                )
                .mount(&html, "/var/www/html")
                .network(&db_net)
        };

        // The keys sign cookies and nonces, which only the web server hands out; `wp core
        // install` needs none, so the CLI container goes without (bytes count in user data).
        let mut app = runtime(Service::new("app", IMAGE));
        for (var, secret) in &keys {
            app = app.env(*var, secret);
        }
        c.service(
            app.env("PHP_UPLOAD_LIMIT", format!("{}M", self.max_upload_mb))
                // Through the image's entrypoint, which copies WordPress in and writes
                // wp-config.php on the first start.
                .command([
                    "sh",
                    "-c",
                    "printf 'upload_max_filesize = %s\\npost_max_size = %s\\n' \"$PHP_UPLOAD_LIMIT\" \"$PHP_UPLOAD_LIMIT\" > /usr/local/etc/php/conf.d/nassella-uploads.ini && exec docker-entrypoint.sh apache2-foreground",
                ])
                .port(80)
                .depends_on_healthy("db")
                .healthcheck(
                    Healthcheck::cmd([
                        "curl",
                        "-fsS",
                        "-o",
                        "/dev/null",
                        "http://127.0.0.1/wp-includes/images/blank.gif",
                    ])
                    .start_period_s(120),
                ),
        );
        c.service(
            runtime(Service::new("cli", CLI_IMAGE))
                .user("33:33")
                .env("HOME", "/tmp")
                .env("WP_URL", url.as_str())
                .env("WP_TITLE", &self.title)
                .env("WP_ADMIN_USER", &self.admin_user)
                .env("WP_ADMIN_EMAIL", &self.admin_email)
                .env("WP_ADMIN_PASSWORD", &admin_password)
                // Idle until a job runs `wp` in it; exits at once on `compose stop`.
                .command([
                    "sh",
                    "-c",
                    "trap 'exit 0' TERM INT; while :; do sleep 3600 & wait $!; done",
                ])
                .depends_on("app"),
        );
        c.service(
            Service::new("db", MARIADB_IMAGE)
                .env("MARIADB_ROOT_PASSWORD", &root_password)
                .env("MARIADB_DATABASE", DB)
                .env("MARIADB_USER", DB)
                .env("MARIADB_PASSWORD", &db_password)
                .env("MARIADB_AUTO_UPGRADE", "1")
                .mount(&db_data, "/var/lib/mysql")
                .mount(&dumps, "/dump")
                .network(&db_net)
                .healthcheck(
                    Healthcheck::cmd(["healthcheck.sh", "--connect", "--innodb_initialized"])
                        .start_period_s(60),
                ),
        );

        c.one_off_job(OneOffJob::new(
            "install",
            "cli",
            [
                "sh",
                "-c",
                "wp core is-installed || wp core install --url=\"$WP_URL\" --title=\"$WP_TITLE\" --admin_user=\"$WP_ADMIN_USER\" --admin_password=\"$WP_ADMIN_PASSWORD\" --admin_email=\"$WP_ADMIN_EMAIL\" --skip-email",
            ],
        ));

        c.route(
            Route::new(&self.host)
                .max_body_bytes(u64::from(self.max_upload_mb) * MIB)
                .proxy(Upstream::new("app", 80)),
        );

        let dump = format!(
            "MYSQL_PWD=\"$MARIADB_ROOT_PASSWORD\" mariadb-dump --user=root --single-transaction --routines --events --databases {DB} --result-file={DUMP}.tmp && mv {DUMP}.tmp {DUMP}"
        );
        c.backup_hook(BackupHook::new("db", ["sh", "-c", dump.as_str()]));
        c.memory_hint_mib(512);
        c
    }
}
