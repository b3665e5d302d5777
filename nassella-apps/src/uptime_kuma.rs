//! Uptime Kuma: monitors websites and services and alerts when they go down.
//!
//! Deploys, per app id, one service `app` running [`IMAGE`] on port 3001 with SQLite in the
//! `data` volume at `/app/data` (`kuma.db`, uploaded images, certificates). Uptime Kuma does not
//! support network file systems for it; the data volume is a local block device.
//!
//! - The web interface is a socket.io (websocket) application; Caddy passes websockets through
//!   the default route, and the `Origin` check (`UPTIME_KUMA_WS_ORIGIN_CHECK`, on by default)
//!   holds because Caddy keeps the `Host` header.
//! - `UPTIME_KUMA_DB_TYPE=sqlite`: without it, 2.x asks the first visitor which database to use
//!   (SQLite or MariaDB) before anything else, and writes the answer to `data/db-config.json`.
//! - The administrator is created on the first visit (there is no environment bootstrap).
//!   "Trust proxy" and the primary base URL are settings in the web interface, stored in the
//!   database (see docs/apps/uptime-kuma.md).
//! - Monitors reach the internet through the proxy network.
//! - Backups: no hook (Uptime Kuma has no online dump); the daily backup stops the app, copies
//!   `/app/data` and starts it again.
//!
//! Sources (`reference/apps.md` §10): github.com/louislam/uptime-kuma `compose.yaml`
//! (`/app/data`, port 3001), README.md (no NFS), `server/server.js` and the server's environment
//! names (`UPTIME_KUMA_WS_ORIGIN_CHECK`), `server/setup-database.js` at 2.5.x (the setup page
//! is skipped when `UPTIME_KUMA_DB_TYPE` is set; `sqlite` keeps `kuma.db` in the data folder),
//! `extra/healthcheck` (the image's health check);
//! third-party deployments pinning 2.5.5 (2026-08).

use crate::catalog_app;
use nassella_core::{App, AppContext, Contribution, Route, Service, Upstream, Volume};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The Uptime Kuma image: an exact release of the 2 line (SQLite; the embedded MariaDB of 2.x
/// is not used).
pub const IMAGE: &str = "louislam/uptime-kuma:2.5.5";

/// Uptime Kuma's HTTP port.
pub const HTTP_PORT: u16 = 3001;

/// Settings of an Uptime Kuma app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UptimeKuma {
    /// The public hostname, e.g. `status.example.com`. Public status pages are served there too.
    pub host: String,
}

impl UptimeKuma {
    /// Serve Uptime Kuma at `host`.
    #[must_use]
    pub fn new(host: impl Into<String>) -> Self {
        Self {
            host: host.into(),
        }
    }

}

#[catalog_app(
    kind = "uptime-kuma",
    summary = "Uptime monitoring with alerts and status pages (Uptime Kuma)",
    example = Self::new("status.example.com")
)]
impl App for UptimeKuma {
    fn contribute(&self, _cx: &AppContext<'_>) -> Contribution {
        let mut c = Contribution::new();
        let data = c.volume(Volume::new("data").backed_up());
        // The image's health check (`extra/healthcheck`) applies.
        c.service(
            Service::new("app", IMAGE)
                .env("UPTIME_KUMA_DB_TYPE", "sqlite")
                .mount(&data, "/app/data")
                .port(HTTP_PORT),
        );
        c.route(Route::new(&self.host).proxy(Upstream::new("app", HTTP_PORT)));
        c.memory_hint_mib(256);
        c
    }
}
