//! Miniflux: a minimalist feed reader.
//!
//! Deploys, per app id:
//!
//! - `app`: [`IMAGE`] on port 8080, the only service behind the proxy. It keeps nothing on disk.
//! - `db`: [`POSTGRES_IMAGE`], volume `db` at `/var/lib/postgresql` (Postgres ≥ 18), on the
//!   internal `db` network. Everything Miniflux knows is in this database.
//!
//! - Every start: `RUN_MIGRATIONS=1` migrates the schema, and `CREATE_ADMIN=1` creates
//!   `admin_user` with the derived secret `admin-password` if no such user exists (an existing
//!   user's password is never changed).
//! - `BASE_URL` is the public URL. `TRUSTED_REVERSE_PROXY_NETWORKS` is the proxy subnet, so
//!   Miniflux believes `X-Forwarded-For`/`-Proto` only from Caddy (and sets secure cookies).
//! - `MEDIA_PROXY_PRIVATE_KEY` is a derived secret: Miniflux signs the URLs of the media it
//!   proxies with it, and would pick a new random key at every start without it, breaking
//!   every proxied image URL already handed out.
//! - Feeds are refreshed by Miniflux's own scheduler; the app reaches the internet through the
//!   proxy network.
//! - Backups: before the apps stop, `pg_dump --format=custom` writes `/dump/miniflux.pgdump`
//!   atomically into the backed-up `db-dump` volume.
//!
//! Sources (`reference/apps.md` §11 and §X): github.com/miniflux/v2
//! `contrib/docker-compose/caddy.yml` (`postgres` at `/var/lib/postgresql`, `pg_isready`),
//! `packaging/docker/alpine/Dockerfile` (`LISTEN_ADDR=0.0.0.0:8080`), `internal/config/options.go`
//! and `parser.go` (`RUN_MIGRATIONS`, `CREATE_ADMIN`, `ADMIN_*`, `BASE_URL`,
//! `TRUSTED_REVERSE_PROXY_NETWORKS`, `MEDIA_PROXY_PRIVATE_KEY`), `miniflux.1` (`-healthcheck`);
//! docker-library/docs `postgres/content.md` (Postgres ≥ 18 path).

use crate::blocks::postgres::Postgres;
use crate::catalog_app;
use nassella_core::{
    App, AppContext, Contribution, Healthcheck, Route, Secret, SecretFormat, Service,
    SettingProblem, Upstream, Value,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The Miniflux image: an exact release (Miniflux migrates its schema on start).
pub const IMAGE: &str = "miniflux/miniflux:2.3.3";
/// The database image: Postgres 18, following its minor releases.
pub const POSTGRES_IMAGE: &str = "postgres:18-alpine";

/// Miniflux's HTTP port.
pub const HTTP_PORT: u16 = 8080;

/// Database name and user.
const DB: &str = "miniflux";

/// Settings of a Miniflux app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Miniflux {
    /// The public hostname, e.g. `rss.example.com`.
    pub host: String,
    /// The administrator created if missing (default `admin`): letters, digits and `_ . @ -`.
    /// Its password is the derived secret `admin-password`.
    #[serde(default = "default_admin_user")]
    #[schemars(regex(pattern = r"^[A-Za-z0-9_.@-]{1,64}$"))]
    pub admin_user: String,
}

fn default_admin_user() -> String {
    "admin".into()
}

impl Miniflux {
    /// Serve Miniflux at `host` with the administrator `admin`.
    #[must_use]
    pub fn new(host: impl Into<String>) -> Self {
        Self {
            host: host.into(),
            admin_user: default_admin_user(),
        }
    }


    /// The administrator created if missing.
    #[must_use]
    pub fn admin_user(mut self, name: impl Into<String>) -> Self {
        self.admin_user = name.into();
        self
    }
}

#[catalog_app(
    kind = "miniflux",
    summary = "A minimalist feed reader (Miniflux with Postgres)",
    example = Self::new("rss.example.com")
)]
impl App for Miniflux {
    fn check(&self) -> Vec<SettingProblem> {
        crate::blocks::user_name::user_name_problem(
            "admin_user",
            &self.admin_user,
            64,
            crate::blocks::user_name::Letters::Any,
            "_.@-",
        )
        .map(|p| SettingProblem::new("admin_user", p))
        .into_iter()
        .collect()
    }

    fn contribute(&self, cx: &AppContext<'_>) -> Contribution {
        let mut c = Contribution::new();
        // The block's password is alphanumeric: it sits in DATABASE_URL unescaped.
        let db = Postgres::new(POSTGRES_IMAGE, DB).add_to(&mut c);
        let db_net = db.network;
        let admin_password = c.secret(Secret::new(
            "admin-password",
            SecretFormat::Alphanumeric(24),
        ));
        let media_key = c.secret(Secret::new(
            "media-proxy-private-key",
            SecretFormat::Base64Url(32),
        ));

        c.service(
            Service::new("app", IMAGE)
                .env("LISTEN_ADDR", "0.0.0.0:8080")
                .env("BASE_URL", cx.public_url(&self.host))
                .env(
                    "DATABASE_URL",
                    Value::concat([
                        format!("postgres://{DB}:").into(),
                        (&db.password).into(),
                        format!("@db/{DB}?sslmode=disable").into(),
                    ]),
                )
                .env("RUN_MIGRATIONS", "1")
                .env("CREATE_ADMIN", "1")
                .env("ADMIN_USERNAME", &self.admin_user)
                .env("ADMIN_PASSWORD", &admin_password)
                .env("MEDIA_PROXY_PRIVATE_KEY", &media_key)
                .env("TRUSTED_REVERSE_PROXY_NETWORKS", cx.proxy_subnet())
                .network(&db_net)
                .port(HTTP_PORT)
                .depends_on_healthy("db")
                .healthcheck(
                    Healthcheck::cmd(["/usr/bin/miniflux", "-healthcheck", "auto"])
                        .start_period_s(30),
                ),
        );

        c.route(Route::new(&self.host).proxy(Upstream::new("app", HTTP_PORT)));

        c.memory_hint_mib(256);
        c
    }
}
