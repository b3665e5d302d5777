//! Jellyfin: a media server for films, series and music, with apps for TVs and phones.
//!
//! Deploys, per app id, one service `app` running [`IMAGE`] on port 8096 with three volumes:
//!
//! - `config` at `/config`: the SQLite library database, users, settings (`config/*.xml`),
//!   plugins, downloaded metadata and artwork, and Jellyfin's own backups (`data/backups`).
//! - `cache` at `/cache`: transcoding output and resized images, regenerated on demand, so it is
//!   left out of backups.
//! - `media` at `/media`, read-only: the library. Add it in the setup wizard as `/media/…`.
//!
//! - **Known proxies**: Jellyfin believes `X-Forwarded-For`/`-Proto` only from addresses listed
//!   in `KnownProxies` of `config/network.xml`, which has no environment variable. Without it
//!   every client looks like Caddy — a local-network address — which defeats the per-user
//!   "allow remote connections" switch. So the container starts through a short shell step that
//!   sets `KnownProxies` to the proxy subnet (replacing the list, in the file Jellyfin wrote or a
//!   new minimal one), then `exec`s the image's own command. Nassella owns that one setting.
//! - `JELLYFIN_PublishedServerUrl` is the public URL (what clients are told).
//! - Websockets (`/socket`) go through the default route.
//! - The administrator is created by the setup wizard on the first visit.
//! - Backups: no hook. Jellyfin's docs ask for a stopped server for a consistent copy of
//!   `/config`, which is what the daily backup does; the built-in 10.11 backups (Dashboard →
//!   Backups) land in `/config/data/backups` and are backed up too.
//!
//! Sources (`reference/apps.md` §6 and §X): jellyfin.org/docs `general/installation/container`,
//! `post-install/networking/reverse-proxy` (known proxies, caddy), `administration/backup-and-
//! restore`, `administration/hardware-selection`; github.com/jellyfin/jellyfin-packaging
//! `docker/Dockerfile` (entrypoint, `JELLYFIN_*` paths, health check);
//! github.com/jellyfin/jellyfin `Jellyfin.Server/Extensions/ApiServiceCollectionExtensions.cs`
//! (`AddProxyAddresses`: IPs and subnets in `KnownProxies`).

use crate::catalog_app;
use nassella_core::{App, AppContext, Contribution, Route, Service, Upstream, Volume};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The Jellyfin image: an exact release of the 10.11 line (10.11 migrated the library
/// database; later majors can need the same care, see docs/apps/jellyfin.md).
pub const IMAGE: &str = "jellyfin/jellyfin:10.11.11";

/// Jellyfin's HTTP port.
pub const HTTP_PORT: u16 = 8096;

/// Settings of a Jellyfin app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Jellyfin {
    /// The public hostname, e.g. `media.example.com`.
    pub host: String,
    /// Include the `media` volume in the daily backup (default true). Turn it off for media you
    /// can get again: the backup storage then holds only Jellyfin's own data.
    #[serde(default = "yes")]
    pub backup_media: bool,
}

fn yes() -> bool {
    true
}

impl Jellyfin {
    /// Serve Jellyfin at `host`, media backed up.
    #[must_use]
    pub fn new(host: impl Into<String>) -> Self {
        Self {
            host: host.into(),
            backup_media: true,
        }
    }


    /// Back the media up or not.
    #[must_use]
    pub fn backup_media(mut self, backup: bool) -> Self {
        self.backup_media = backup;
        self
    }
}

/// The shell step before Jellyfin starts: `KnownProxies` in `network.xml` becomes exactly
/// `$KNOWN_PROXY` (deleting the list in either form Jellyfin writes — `<KnownProxies />` or a
/// multi-line element — and the one-line form written here), then the image's entrypoint runs.
/// A failed edit is logged and does not keep Jellyfin from starting.
const START: &str = r#"f=/config/config/network.xml
p="<KnownProxies><string>$KNOWN_PROXY</string></KnownProxies>"
if [ -s "$f" ]; then
  sed -i -e '/<KnownProxies *\/>/d' -e '/<KnownProxies>.*<\/KnownProxies>/d' -e '/<KnownProxies>/,/<\/KnownProxies>/d' -e "s#</NetworkConfiguration>#  $p\n</NetworkConfiguration>#" "$f"
else
  mkdir -p /config/config && printf '<?xml version="1.0" encoding="utf-8"?>\n<NetworkConfiguration xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema">\n  %s\n</NetworkConfiguration>\n' "$p" > "$f"
fi || echo "nassella: could not set KnownProxies in $f" >&2
exec /jellyfin/jellyfin --ffmpeg /usr/lib/jellyfin-ffmpeg/ffmpeg"#;

#[catalog_app(
    kind = "jellyfin",
    summary = "A media server for films, series and music (Jellyfin)",
    example = Self::new("media.example.com")
)]
impl App for Jellyfin {
    fn contribute(&self, cx: &AppContext<'_>) -> Contribution {
        let mut c = Contribution::new();
        let config = c.volume(Volume::new("config").backed_up());
        let cache = c.volume(Volume::new("cache").excluded_from_backup(
            "transcoding output and resized images, which Jellyfin regenerates on demand",
        ));
        let media = c.volume(if self.backup_media {
            Volume::new("media").backed_up()
        } else {
            Volume::new("media")
                .excluded_from_backup("media the owner can get again (backup_media = false)")
        });

        // The image's health check (`curl …/health`) applies.
        c.service(
            Service::new("app", IMAGE)
                .entrypoint(["/bin/sh", "-c", START])
                .env("KNOWN_PROXY", cx.proxy_subnet())
                .env("JELLYFIN_PublishedServerUrl", cx.public_url(&self.host))
                .mount(&config, "/config")
                .mount(&cache, "/cache")
                .mount_read_only(&media, "/media")
                .port(HTTP_PORT),
        );
        c.route(Route::new(&self.host).proxy(Upstream::new("app", HTTP_PORT)));
        c.memory_hint_mib(2048);
        c
    }
}
