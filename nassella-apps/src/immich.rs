//! Immich: photo and video backup with a phone app, albums, sharing, faces and smart search.
//!
//! Deploys, per app id:
//!
//! - `server`: [`SERVER_IMAGE`] on port 2283, the only service behind the proxy. Everything users
//!   upload is in the `upload` volume at `/data` (`library/`, `upload/`, `profile/`, `thumbs/`,
//!   `encoded-video/`, and `backups/` with Immich's own nightly database dumps).
//! - `machine-learning` (unless `machine_learning = false`): [`ML_IMAGE`] for faces, smart search
//!   and duplicate detection. Its models are downloaded from Hugging Face on first use into the
//!   `model-cache` volume, the one volume left out of backups.
//! - `database`: [`POSTGRES_IMAGE`], Immich's own Postgres 14 build with the VectorChord and
//!   pgvecto.rs extensions (plain Postgres does not work), with `--data-checksums` and a 128 MB
//!   `/dev/shm` as upstream's compose file sets. Postgres 14 keeps its data in
//!   `/var/lib/postgresql/data`, where the `db` volume is mounted.
//! - `redis`: [`VALKEY_IMAGE`], the job queue, kept in memory only.
//!
//! All four share the internal `backend` network; `machine-learning` also joins `outbound`
//! (model downloads), and `server` reaches the internet through the proxy network.
//!
//! - The database password is alphanumeric only: Immich builds a connection URL from it and
//!   documents that other characters break it.
//! - `IMMICH_TRUSTED_PROXIES` is the proxy subnet (Immich's default trusts every private range).
//! - `TZ` is `time_zone` (default `Etc/UTC`): Immich's environment-variable docs name it for the
//!   server, which uses it for photos whose metadata carries no time zone, for log timestamps and
//!   for its scheduled jobs. Unset, the container runs in UTC and such photos shift by the
//!   owner's offset.
//! - Uploads: the proxy accepts bodies up to `max_upload_gb` (default 50 GiB, as Immich's nginx
//!   example). Websockets and `/.well-known/immich` (the mobile app's discovery) are served by
//!   `server` at the root of the host; Immich cannot live under a sub-path.
//! - The administrator is created by a one-off job (once per data volume, after `server` is
//!   healthy) through Immich's admin sign-up endpoint, with `admin_email` and
//!   the derived secret `admin-password`. Immich would otherwise make the first account
//!   registered in the web interface its administrator; after the job, the web page offers only
//!   the login, and further accounts are made by the administrator (Immich has no open sign-up).
//! - Backups: before the apps stop, `pg_dumpall` writes `/dump/immich.sql` (atomically) into the
//!   backed-up `db-dump` volume — the dump Immich's restore guide starts from.
//!
//! Sources (`reference/apps.md` §3 and §X): github.com/immich-app/immich `docker/docker-compose.yml`
//! (release compose: images, `--data-checksums`, `shm_size`, `/data`), `docker/example.env`,
//! `docs/docs/install/environment-variables.md` (`DB_*`, `REDIS_*`, `IMMICH_TRUSTED_PROXIES`,
//! `IMMICH_MACHINE_LEARNING_*`, `MACHINE_LEARNING_CACHE_FOLDER`, `TZ`), `server/src/repositories/
//! config.repository.ts` (trusted proxies default), `server/src/services/storage.service.ts`
//! (folder checks), `server/src/controllers/auth.controller.ts` (`POST /auth/admin-sign-up`),
//! `server/src/services/auth.service.ts` (`adminSignUp`: 400 "The server already has an admin"),
//! `e2e/src/fixtures.ts` (the sign-up body: `email`, `password`, `name`), docs.immich.app `administration/reverse-proxy`,
//! `administration/backup-and-restore`; third-party deployments pinning v3.1.0 with the same
//! Postgres tag and Valkey 9 (2026-08).

use crate::blocks::first_admin;
use crate::blocks::postgres::Postgres;
use crate::blocks::redis::Redis;
use crate::blocks::user_name::email_problem;
use crate::catalog_app;
use nassella_core::{
    App, AppContext, Contribution, Network, OneOffJob, Route, Secret, SecretFormat, Service,
    SettingProblem, Upstream, Volume,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The Immich server image: an exact release. Server and machine learning always move together,
/// and Immich never supports going back (see docs/apps/immich.md).
pub const SERVER_IMAGE: &str = "ghcr.io/immich-app/immich-server:v3.1.0";
/// The machine-learning image, the same release as the server.
pub const ML_IMAGE: &str = "ghcr.io/immich-app/immich-machine-learning:v3.1.0";
/// Immich's Postgres 14 with VectorChord and pgvecto.rs, the tag of Immich's release compose.
pub const POSTGRES_IMAGE: &str = "ghcr.io/immich-app/postgres:14-vectorchord0.4.3-pgvectors0.2.0";
/// The job queue: Valkey 9 (Immich's release compose), following its minor releases.
pub const VALKEY_IMAGE: &str = "docker.io/valkey/valkey:9-alpine";

/// Immich's HTTP port.
pub const HTTP_PORT: u16 = 2283;

/// The one-off job that creates the administrator: Immich's own `POST /api/auth/admin-sign-up`
/// (what the web page of the first visit calls), from inside `server` with the Node.js of the
/// image. It answers 400 "The server already has an admin" once one exists (a restore of a
/// backup older than the job), which is success here; anything else fails the job.
fn create_admin() -> String {
    first_admin::node_script(
        "immich",
        None,
        "http://127.0.0.1:2283/api/auth/admin-sign-up",
        "{email:process.env.NASSELLA_ADMIN_EMAIL,password:process.env.NASSELLA_ADMIN_PASSWORD,name:'Administrator'}",
        "s===400&&t.includes('already has an admin')",
    )
}

/// Database name; the user is `postgres`, as in Immich's compose file.
const DB: &str = "immich";
const DB_USER: &str = "postgres";
/// Bytes in a GiB.
const GIB: u64 = 1024 * 1024 * 1024;

/// Settings of an Immich app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Immich {
    /// The public hostname, e.g. `photos.example.com` (Immich needs a host of its own).
    pub host: String,
    /// Run the machine-learning service (default true): faces, smart search, duplicates. It
    /// needs about 3 GiB more memory; without it Immich still backs up and shows everything.
    #[serde(default = "yes")]
    pub machine_learning: bool,
    /// The largest upload, in GiB (default 50): the proxy refuses bigger request bodies.
    #[serde(default = "default_max_upload_gb")]
    #[schemars(range(min = 1))]
    pub max_upload_gb: u32,
    /// The time zone of the photos' place, as an IANA name (default `Etc/UTC`), e.g.
    /// `Europe/Berlin`. Immich uses it for photos whose metadata has no time zone (most cameras
    /// write none), for its log timestamps and for its nightly jobs.
    #[serde(default = "default_time_zone")]
    pub time_zone: String,
    /// The administrator's email address, which is also the login (default `admin@<host>`). The
    /// account is created at the first start; its password is the derived secret
    /// `admin-password`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin_email: Option<String>,
}

fn default_time_zone() -> String {
    "Etc/UTC".into()
}

/// Why `tz` cannot be an IANA time zone name, if it cannot: 1 to 64 characters of letters,
/// digits, `_`, `+`, `-` in `/`-separated parts, none empty, none `.` or `..`, starting with a
/// letter (`Europe/Berlin`, `America/Argentina/Buenos_Aires`, `Etc/GMT+2`).
pub(crate) fn time_zone_problem(tz: &str) -> Option<String> {
    let ok = (1..=64).contains(&tz.len())
        && tz.starts_with(|c: char| c.is_ascii_alphabetic())
        && tz.split('/').all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_+-".contains(&b))
        });
    (!ok).then(|| {
        format!(
            "time_zone `{tz}` is not a time zone name like `Europe/Berlin` or `Etc/UTC` (IANA names: letters, digits, '_', '+', '-' in parts separated by '/')"
        )
    })
}

fn yes() -> bool {
    true
}

fn default_max_upload_gb() -> u32 {
    50
}

impl Immich {
    /// Serve Immich at `host`, with machine learning and a 50 GiB upload limit.
    #[must_use]
    pub fn new(host: impl Into<String>) -> Self {
        Self {
            host: host.into(),
            machine_learning: true,
            max_upload_gb: default_max_upload_gb(),
            time_zone: default_time_zone(),
            admin_email: None,
        }
    }


    /// Run the machine-learning service or not.
    #[must_use]
    pub fn machine_learning(mut self, enabled: bool) -> Self {
        self.machine_learning = enabled;
        self
    }

    /// The time zone for photos without one in their metadata (an IANA name, e.g.
    /// `Europe/Berlin`).
    #[must_use]
    pub fn time_zone(mut self, tz: impl Into<String>) -> Self {
        self.time_zone = tz.into();
        self
    }

    /// The administrator's email address (the login).
    #[must_use]
    pub fn admin_email(mut self, email: impl Into<String>) -> Self {
        self.admin_email = Some(email.into());
        self
    }

    fn admin_email_or_default(&self) -> String {
        self.admin_email
            .clone()
            .unwrap_or_else(|| format!("admin@{}", self.host))
    }

    /// The largest upload in GiB (at least 1; the composer reports 0).
    #[must_use]
    pub fn max_upload_gb(mut self, gb: u32) -> Self {
        self.max_upload_gb = gb;
        self
    }
}

#[catalog_app(
    kind = "immich",
    summary = "Photo and video backup (Immich with machine learning, Postgres and Valkey)",
    example = Self::new("photos.example.com")
)]
impl App for Immich {
    fn check(&self) -> Vec<SettingProblem> {
        let mut out = Vec::new();
        if self.max_upload_gb == 0 {
            out.push(SettingProblem::new(
                "max_upload_gb",
                "max_upload_gb 0 would refuse every upload: give at least 1 (GiB)",
            ));
        }
        if let Some(p) = time_zone_problem(&self.time_zone) {
            out.push(SettingProblem::new("time_zone", p));
        }
        if let Some(p) = self
            .admin_email
            .as_deref()
            .and_then(|e| email_problem("admin_email", e))
        {
            out.push(SettingProblem::new("admin_email", p));
        }
        out
    }

    fn contribute(&self, cx: &AppContext<'_>) -> Contribution {
        let mut c = Contribution::new();
        let upload = c.volume(Volume::new("upload").backed_up());
        let backend = c.network(Network::internal("backend"));
        // The block's password is alphanumeric: Immich puts it into a connection URL unescaped.
        let db = Postgres::new(POSTGRES_IMAGE, DB)
            .user(DB_USER)
            .service("database")
            .initdb_args("--data-checksums")
            .shm_size("128mb")
            .dump_all()
            .network(&backend)
            .add_to(&mut c);

        let admin_password = c.secret(Secret::new(
            "admin-password",
            SecretFormat::Alphanumeric(24),
        ));
        let mut server = Service::new("server", SERVER_IMAGE)
            .env("DB_HOSTNAME", "database")
            .env("DB_USERNAME", DB_USER)
            .env("DB_DATABASE_NAME", DB)
            .env("DB_PASSWORD", &db.password)
            .env("REDIS_HOSTNAME", "redis")
            .env("IMMICH_TRUSTED_PROXIES", cx.proxy_subnet())
            .env("TZ", &self.time_zone)
            // For the one-off job that creates the administrator.
            .env("NASSELLA_ADMIN_EMAIL", self.admin_email_or_default())
            .env("NASSELLA_ADMIN_PASSWORD", &admin_password)
            .mount(&upload, "/data")
            .network(&backend)
            .port(HTTP_PORT)
            // The image's own health check (`immich-healthcheck`) applies.
            .depends_on_healthy("database")
            .depends_on_healthy("redis");
        if self.machine_learning {
            let models = c.volume(Volume::new("model-cache").excluded_from_backup(
                "machine-learning models, downloaded again from Hugging Face when missing",
            ));
            let outbound = c.network(Network::with_egress("outbound"));
            server = server.env("IMMICH_MACHINE_LEARNING_ENABLED", "true").env(
                "IMMICH_MACHINE_LEARNING_URL",
                "http://machine-learning:3003",
            );
            c.service(
                Service::new("machine-learning", ML_IMAGE)
                    .env("MACHINE_LEARNING_CACHE_FOLDER", "/cache")
                    .mount(&models, "/cache")
                    .network(&backend)
                    .network(&outbound),
            );
        } else {
            server = server.env("IMMICH_MACHINE_LEARNING_ENABLED", "false");
        }
        c.service(server);
        // A queue, not a store: no snapshots (append-only files are off by default).
        Redis::valkey(VALKEY_IMAGE)
            .args(["--save", ""])
            .add_to(&mut c, &backend);

        c.route(
            Route::new(&self.host)
                .max_body_bytes(u64::from(self.max_upload_gb) * GIB)
                .proxy(Upstream::new("server", HTTP_PORT)),
        );

        c.one_off_job(OneOffJob::new(
            "create-admin",
            "server",
            ["node", "-e", create_admin().as_str()],
        ));

        c.memory_hint_mib(if self.machine_learning { 6144 } else { 2048 });
        c
    }
}
