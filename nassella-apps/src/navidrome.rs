//! Navidrome: a music server and streamer (web player and Subsonic-compatible API).
//!
//! Deploys, per app id, one service `app` running [`IMAGE`] on port 4533, with SQLite and its
//! caches in the `data` volume at `/data`, and the library in the `music` volume at `/music`,
//! mounted **read-only** (Navidrome never writes to it).
//!
//! - `ND_BASEURL` is the public URL (share links and Subsonic clients use it).
//! - `ND_PASSWORDENCRYPTIONKEY` is a derived secret: Navidrome encrypts users' Subsonic
//!   passwords with it (the built-in default key is public). It is set from the first start and
//!   never changes, so stored passwords stay readable after a redeploy or a restore.
//! - `ND_ENABLEINSIGHTSCOLLECTOR=false`: no anonymous usage reports.
//! - The administrator is `admin`, created by Navidrome at its initial setup (the first start on
//!   an empty database, only while there is no user) from `ND_DEVAUTOCREATEADMINPASSWORD`, here
//!   the derived secret `admin-password`. Without it the first visitor would create the
//!   administrator in the browser. Later starts ignore the variable (the setup flag is set), so
//!   a password changed in the web interface stays changed.
//! - Backups: before the apps stop, `navidrome backup create` writes a consistent copy of the
//!   database into `/data/backup/navidrome_backup_<timestamp>.db` (Navidrome's own online
//!   backup, the SQLite backup API); the hook keeps the three newest.
//!   `data/cache` (transcoded audio and artwork) is a separate volume, excluded from backups.
//!
//! Sources (`reference/apps.md` §17): navidrome.org/docs/installation/docker,
//! /docs/usage/configuration/options (`ND_BASEURL`, `ND_PASSWORDENCRYPTIONKEY`,
//! `ND_ENABLEINSIGHTSCOLLECTOR`, `ND_BACKUP_PATH`, `ND_CACHEFOLDER`), /docs/usage/admin/backup;
//! github.com/navidrome/navidrome `Dockerfile` (`/app/navidrome`, `/data`, `/music`, port 4533),
//! `conf/configuration.go` (`DevAutoCreateAdminPassword`), `server/initial_setup.go`
//! (`initialSetup`: once, guarded by the `InitialSetup` property; `createInitialAdminUser`: user
//! `admin`, only when the user table is empty).

use crate::catalog_app;
use nassella_core::{
    App, AppContext, BackupHook, Contribution, Route, Secret, SecretFormat, Service, Upstream,
    Volume,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The Navidrome image: an exact release.
pub const IMAGE: &str = "deluan/navidrome:0.63.2";

/// Navidrome's HTTP port.
pub const HTTP_PORT: u16 = 4533;

/// Settings of a Navidrome app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Navidrome {
    /// The public hostname, e.g. `music.example.com`.
    pub host: String,
}

impl Navidrome {
    /// Serve Navidrome at `host`.
    #[must_use]
    pub fn new(host: impl Into<String>) -> Self {
        Self {
            host: host.into(),
        }
    }

}

#[catalog_app(
    kind = "navidrome",
    summary = "A music server and streamer (Navidrome; Subsonic-compatible)",
    example = Self::new("music.example.com")
)]
impl App for Navidrome {
    fn contribute(&self, cx: &AppContext<'_>) -> Contribution {
        let mut c = Contribution::new();
        let data = c.volume(Volume::new("data").backed_up());
        let cache = c.volume(Volume::new("cache").excluded_from_backup(
            "transcoding and artwork cache: Navidrome rebuilds it from the library",
        ));
        let music = c.volume(Volume::new("music").backed_up());
        let key = c.secret(Secret::new(
            "password-encryption-key",
            SecretFormat::Alphanumeric(32),
        ));
        let admin_password = c.secret(Secret::new(
            "admin-password",
            SecretFormat::Alphanumeric(24),
        ));

        // No health check here: the image's own applies.
        c.service(
            Service::new("app", IMAGE)
                .env("ND_BASEURL", cx.public_url(&self.host))
                .env("ND_PORT", HTTP_PORT.to_string())
                .env("ND_DATAFOLDER", "/data")
                .env("ND_CACHEFOLDER", "/data/cache")
                .env("ND_MUSICFOLDER", "/music")
                .env("ND_BACKUP_PATH", "/data/backup")
                .env("ND_ENABLEINSIGHTSCOLLECTOR", "false")
                .env("ND_PASSWORDENCRYPTIONKEY", &key)
                .env("ND_DEVAUTOCREATEADMINPASSWORD", &admin_password)
                .mount(&data, "/data")
                .mount(&cache, "/data/cache")
                .mount_read_only(&music, "/music")
                .port(HTTP_PORT),
        );
        c.route(Route::new(&self.host).proxy(Upstream::new("app", HTTP_PORT)));

        // Keep the newest three copies next to the database (restic keeps the history).
        c.backup_hook(BackupHook::new(
            "app",
            [
                "sh",
                "-c",
                "/app/navidrome backup create && ls -1t /data/backup/navidrome_backup_*.db | tail -n +4 | xargs -r rm -f --",
            ],
        ));
        c.memory_hint_mib(256);
        c
    }
}
