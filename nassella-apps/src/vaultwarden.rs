//! Vaultwarden: a Bitwarden-compatible password manager.
//!
//! Deploys, per app id, one service `app` running [`IMAGE`] on port 80 with SQLite in the `data`
//! volume at `/data` (`db.sqlite3`, the token-signing `rsa_key*`, `attachments/`, `sends/`,
//! `icon_cache/`, and `config.json` written by the admin page, which overrides the environment).
//!
//! - `DOMAIN` is the public URL (required behind a proxy).
//! - Websocket notifications share port 80 at `/notifications/hub`; the route names that path
//!   explicitly (Caddy upgrades websockets on its own).
//! - The client address: Caddy sends `X-Real-IP: {remote_host}`, Vaultwarden reads `IP_HEADER`
//!   and trusts it only from the proxy subnet (`IP_HEADER_TRUSTED_PROXIES`) — this keys the
//!   login rate limits per client.
//! - `ADMIN_TOKEN` is a derived secret (plain token; see docs/apps/vaultwarden.md for switching
//!   to an Argon2 hash). Sign-ups are closed unless `signups_allowed`; the admin page can invite
//!   users while they are closed.
//! - Uploads: the proxy refuses bodies over 525 MiB, just above Vaultwarden's own 525 MB limit
//!   for attachments and Sends, so Vaultwarden's error is the one users see.
//! - Backups: before the apps stop, `/vaultwarden backup` writes a consistent copy of the SQLite
//!   database (`/data/db_<date>_<time>.sqlite3`); the hook keeps the three newest.
//!
//! Sources (`reference/apps.md` §2 and §X): github.com/dani-garcia/vaultwarden — `.env.template`,
//! `docker/Dockerfile.debian` (`ROCKET_PORT=80`, built-in HEALTHCHECK), README.md, `src/main.rs`
//! (`backup` command, 525 MB upload limits), `src/db/mod.rs` (backup file name and place),
//! `src/auth.rs` (`IP_HEADER_TRUSTED_PROXIES`); wiki `Proxy-examples`, `Using-Docker-Compose`,
//! `Enabling-admin-page`.

use crate::catalog_app;
use nassella_core::{
    App, AppContext, BackupHook, Contribution, Route, Secret, SecretFormat, Service,
    SettingProblem, Upstream, Volume,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::blocks::smtp::{Smtp, SmtpSecurity};

/// The Vaultwarden image: an exact release (1.37.2 is needed by Bitwarden clients 2026.8+).
pub const IMAGE: &str = "vaultwarden/server:1.37.2";

/// The websocket path of live sync notifications.
pub const WEBSOCKET_PATH: &str = "/notifications/hub";

/// Largest request body the proxy lets through: 525 MiB, above Vaultwarden's 525 MB limit.
const MAX_BODY_BYTES: u64 = 525 * 1024 * 1024;

/// Settings of a Vaultwarden app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Vaultwarden {
    /// The public hostname, e.g. `vault.example.com`.
    pub host: String,
    /// Let anyone who reaches the site create an account (default false). While closed, invite
    /// users from the admin page (`/admin`).
    #[serde(default)]
    pub signups_allowed: bool,
    /// Outgoing mail (invitations, email 2FA codes, emergency access): an SMTP server and a
    /// login whose password is read from an environment variable. Without it, mail is off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smtp: Option<Smtp>,
}

impl Vaultwarden {
    /// Serve Vaultwarden at `host`, sign-ups closed.
    #[must_use]
    pub fn new(host: impl Into<String>) -> Self {
        Self {
            host: host.into(),
            signups_allowed: false,
            smtp: None,
        }
    }


    /// Send mail through this SMTP server.
    #[must_use]
    pub fn smtp(mut self, smtp: Smtp) -> Self {
        self.smtp = Some(smtp);
        self
    }

    /// Allow or forbid open sign-ups.
    #[must_use]
    pub fn signups_allowed(mut self, allowed: bool) -> Self {
        self.signups_allowed = allowed;
        self
    }
}

#[catalog_app(
    kind = "vaultwarden",
    summary = "A Bitwarden-compatible password manager",
    example = Self::new("vault.example.com")
)]
impl App for Vaultwarden {
    fn check(&self) -> Vec<SettingProblem> {
        self.smtp.as_ref().map(Smtp::check).unwrap_or_default()
    }

    fn contribute(&self, cx: &AppContext<'_>) -> Contribution {
        let mut c = Contribution::new();
        let data = c.volume(Volume::new("data").backed_up());
        let admin_token = c.secret(Secret::new("admin-token", SecretFormat::Alphanumeric(48)));

        // No health check here: the image's own HEALTHCHECK (/healthcheck.sh) applies.
        let mut app = Service::new("app", IMAGE);
        if let Some(m) = &self.smtp {
            app = app
                .env("SMTP_HOST", &m.host)
                .env("SMTP_PORT", m.port.to_string())
                .env(
                    "SMTP_SECURITY",
                    match m.security {
                        SmtpSecurity::Starttls => "starttls",
                        SmtpSecurity::Tls => "force_tls",
                    },
                )
                .env("SMTP_FROM", &m.from);
            for (k, v) in m.login_env(&mut c, "SMTP_USERNAME", "SMTP_PASSWORD") {
                app = app.env(k, v);
            }
        }
        c.service(
            app.env("DOMAIN", cx.public_url(&self.host))
                .env(
                    "SIGNUPS_ALLOWED",
                    if self.signups_allowed {
                        "true"
                    } else {
                        "false"
                    },
                )
                .env("ADMIN_TOKEN", &admin_token)
                .env("IP_HEADER", "X-Real-IP")
                .env("IP_HEADER_TRUSTED_PROXIES", cx.proxy_subnet())
                .mount(&data, "/data")
                .port(80),
        );

        let upstream = Upstream::new("app", 80).header_up("X-Real-IP", "{remote_host}");
        c.route(
            Route::new(&self.host)
                .max_body_bytes(MAX_BODY_BYTES)
                .proxy_path(WEBSOCKET_PATH, upstream.clone())
                .proxy(upstream),
        );

        // Writes /data/db_<UTC date>_<time>.sqlite3 next to the database; keep the newest three
        // (restic keeps the history).
        c.backup_hook(BackupHook::new(
            "app",
            [
                "sh",
                "-c",
                "/vaultwarden backup && ls -1t /data/db_*.sqlite3 | tail -n +4 | xargs -r rm -f --",
            ],
        ));
        c.memory_hint_mib(128);
        c
    }
}
