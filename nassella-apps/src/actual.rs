//! Actual Budget: a personal finance and budgeting app (the sync server and its web client).
//!
//! Deploys, per app id, one service `app` running [`IMAGE`] on port 5006. Its `data` volume at
//! `/data` holds `server-files/` (the account database: the server password, sessions, file
//! index) and `user-files/` (the budget files clients sync).
//!
//! - The server password is set by a one-off job (once per data volume, after the app is up):
//!   Actual's own `POST /account/bootstrap` (what the first-visit page calls) with the derived
//!   secret `server-password`, from inside `app` with the image's Node.js. Otherwise whoever
//!   opened a fresh site first would choose it. Actual answers 400 `already-bootstrapped` once a
//!   password exists, which the job takes as done. (Multi-user mode needs OpenID Connect and is
//!   not set up.)
//! - `ACTUAL_TRUSTED_PROXIES` is the proxy subnet (the default trusts every private range), so
//!   the client address in `X-Forwarded-For` is believed only from Caddy.
//! - Uploads: budget files and their sync messages are uploaded whole. The three upload limits
//!   (`ACTUAL_UPLOAD_FILE_SYNC_SIZE_LIMIT_MB`, `…_SYNC_ENCRYPTED_FILE_SYNC_SIZE_LIMIT_MB`,
//!   `…_FILE_SIZE_LIMIT_MB`) are all `max_upload_mb`, and the proxy refuses bodies just above
//!   that, so Actual's own error is the one users see.
//! - The web client needs a secure context (HTTPS) for anything but `localhost`, which Caddy
//!   provides.
//! - Backups: Actual has no dump command; the daily backup stops it, which leaves its SQLite
//!   files consistent, copies `/data`, and starts it again.
//!
//! Sources (`reference/apps.md` §20): github.com/actualbudget/actual
//! `packages/sync-server/docker-compose.yml` (`/data`, port 5006, upload variables),
//! `packages/sync-server/docker/*.Dockerfile` (runs as root, tini),
//! `packages/sync-server/src/load-config.js` (`ACTUAL_TRUSTED_PROXIES` and its default, upload
//! limits), `packages/sync-server/src/app-account.js` (`POST /bootstrap` under `/account`),
//! `packages/sync-server/src/account-db.js` (`bootstrap`: `already-bootstrapped`);
//! actualbudget.org/docs/config.

use crate::blocks::first_admin;
use crate::catalog_app;
use nassella_core::{
    App, AppContext, Contribution, OneOffJob, Route, Secret, SecretFormat, Service, SettingProblem,
    Upstream, Volume,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The Actual server image: an exact (CalVer) release.
pub const IMAGE: &str = "actualbudget/actual-server:26.8.1";

/// Actual's HTTP port.
pub const HTTP_PORT: u16 = 5006;

/// Bytes in a MiB.
const MIB: u64 = 1024 * 1024;

/// Settings of an Actual Budget app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Actual {
    /// The public hostname, e.g. `budget.example.com`.
    pub host: String,
    /// The largest budget file or sync upload, in MiB (default 50).
    #[serde(default = "default_max_upload_mb")]
    #[schemars(range(min = 1))]
    pub max_upload_mb: u32,
}

fn default_max_upload_mb() -> u32 {
    50
}

impl Actual {
    /// Serve Actual at `host` with a 50 MiB upload limit.
    #[must_use]
    pub fn new(host: impl Into<String>) -> Self {
        Self {
            host: host.into(),
            max_upload_mb: default_max_upload_mb(),
        }
    }


    /// The largest upload in MiB (at least 1; the composer reports 0).
    #[must_use]
    pub fn max_upload_mb(mut self, mb: u32) -> Self {
        self.max_upload_mb = mb;
        self
    }
}

#[catalog_app(
    kind = "actual",
    summary = "Personal budgeting (Actual Budget's sync server and web app)",
    example = Self::new("budget.example.com")
)]
impl App for Actual {
    fn check(&self) -> Vec<SettingProblem> {
        if self.max_upload_mb == 0 {
            vec![SettingProblem::new(
                "max_upload_mb",
                "max_upload_mb 0 would refuse every upload: give at least 1 (MiB)",
            )]
        } else {
            Vec::new()
        }
    }

    fn contribute(&self, cx: &AppContext<'_>) -> Contribution {
        let mut c = Contribution::new();
        let data = c.volume(Volume::new("data").backed_up());
        let mb = self.max_upload_mb.to_string();
        let password = c.secret(Secret::new(
            "server-password",
            SecretFormat::Alphanumeric(24),
        ));

        c.service(
            Service::new("app", IMAGE)
                .env("ACTUAL_PORT", HTTP_PORT.to_string())
                .env("ACTUAL_TRUSTED_PROXIES", cx.proxy_subnet())
                .env("ACTUAL_UPLOAD_FILE_SYNC_SIZE_LIMIT_MB", mb.as_str())
                .env(
                    "ACTUAL_UPLOAD_SYNC_ENCRYPTED_FILE_SYNC_SIZE_LIMIT_MB",
                    mb.as_str(),
                )
                .env("ACTUAL_UPLOAD_FILE_SIZE_LIMIT_MB", mb.as_str())
                // For the one-off job that sets the server password.
                .env("NASSELLA_SERVER_PASSWORD", &password)
                .mount(&data, "/data")
                .port(HTTP_PORT),
        );
        c.route(
            Route::new(&self.host)
                .max_body_bytes(u64::from(self.max_upload_mb) * MIB + MIB)
                .proxy(Upstream::new("app", HTTP_PORT)),
        );
        let bootstrap = first_admin::node_script(
            "actual",
            None,
            "http://127.0.0.1:5006/account/bootstrap",
            "{password:process.env.NASSELLA_SERVER_PASSWORD}",
            "s===400&&t.includes('already-bootstrapped')",
        );
        c.one_off_job(OneOffJob::new(
            "set-password",
            "app",
            ["node", "-e", bootstrap.as_str()],
        ));
        c.memory_hint_mib(256);
        c
    }
}
