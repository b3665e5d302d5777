//! Plausible Community Edition: privacy-friendly web analytics.
//!
//! Deploys, per app id:
//!
//! - `app`: [`IMAGE`] on port 8000, the only service behind the proxy. Its command runs
//!   `db createdb && db migrate` before `run` on **every** start (the official compose file does
//!   the same): both are no-ops when there is nothing to do, and an image upgrade migrates itself.
//! - `db`: [`POSTGRES_IMAGE`] (sites, users, settings). Postgres ≤ 17 keeps its volume at
//!   `/var/lib/postgresql/data`.
//! - `events`: [`CLICKHOUSE_IMAGE`] (the page views themselves). Its configuration overrides are
//!   files under `/etc/clickhouse-server/config.d/`; Nassella has no config-file feature, so a
//!   small entrypoint wrapper writes them (the same settings as the official `logs.xml`,
//!   `ipv4-only.xml` and `low-resources.xml`, plus no log files) on every start, then execs the
//!   image's own `/entrypoint.sh`. `CLICKHOUSE_SKIP_USER_SETUP=1` keeps the password-less default
//!   user reachable over the network, as the official v3 compose file does; only `app` can reach
//!   it, on the internal `db` network.
//!
//! `db` and `events` sit on the internal `db` network (no egress). `app` needs no internet for
//! its core function (no SMTP, no MaxMind download yet) and reaches the outside only through the
//! proxy network.
//!
//! Secrets: `SECRET_KEY_BASE` is 64 random bytes in base64 (88 characters; Plausible refuses
//! fewer than 64 bytes in older releases and 32 in newer ones), `TOTP_VAULT_KEY` is base64 of
//! exactly 32 bytes (Plausible decodes it and refuses any other length), and the database
//! password. All derived, so 2FA secrets encrypted with the vault key survive a redeploy.
//!
//! Client addresses: Plausible takes the visitor's address from `X-Forwarded-For` (uniques and
//! countries depend on it). Caddy replaces whatever the client sent with the real address, and
//! only the proxy network can reach port 8000.
//!
//! `/var/lib/plausible` (the image's data dir: temporary files and an optional MaxMind database
//! cache) is not persisted: nothing in it must survive a restart, and the image makes it
//! writable for its non-root user, which a bind mount would undo.
//!
//! Backups: before the apps stop, `pg_dump --format=custom` writes `/dump/plausible.pgdump` in the
//! backed-up `db-dump` volume. ClickHouse has no online dump that needs no extra configuration;
//! its files are copied while it is stopped, which the official guide also relies on.
//!
//! Sources (`reference/apps.md` §13 and §X): github.com/plausible/community-edition
//! `compose.yml`, `clickhouse/logs.xml`, `clickhouse/ipv4-only.xml`,
//! `clickhouse/low-resources.xml`, `guides/backup-restore-postgres.md`, `guides/backup-restore-clickhouse.md`;
//! github.com/plausible/analytics `Dockerfile` (`USER 999`, `DEFAULT_DATA_DIR`),
//! `config/runtime.exs` (`SECRET_KEY_BASE`, `TOTP_VAULT_KEY`, `DISABLE_REGISTRATION` values).

use crate::blocks::postgres::Postgres;
use crate::catalog_app;
use nassella_core::{
    App, AppContext, Contribution, Healthcheck, Route, Secret, SecretFormat, Service, Upstream,
    Value, Volume,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The Plausible CE image: an exact release. Take the compose file of the same tag when moving.
pub const IMAGE: &str = "ghcr.io/plausible/community-edition:v3.2.1";
/// The database image: Postgres 16, as in the official compose file, following its minor releases.
pub const POSTGRES_IMAGE: &str = "postgres:16-alpine";
/// The events database: ClickHouse 24.12, as in the official v3 compose file.
pub const CLICKHOUSE_IMAGE: &str = "clickhouse/clickhouse-server:24.12-alpine";

/// Plausible's HTTP port.
pub const HTTP_PORT: u16 = 8000;

/// The database name and user.
const DB: &str = "plausible";

/// ClickHouse overrides written into `config.d/` at every start: warnings only, to the console
/// (no log files on the data volume), system log tables trimmed, IPv4 listener (Docker's bridge
/// networks have no IPv6), and a 500 MB mark cache for small servers.
const CLICKHOUSE_CONFIG: &str = r#"<clickhouse>
    <logger>
        <level>warning</level>
        <console>true</console>
        <log remove="remove"/>
        <errorlog remove="remove"/>
    </logger>
    <listen_host>0.0.0.0</listen_host>
    <mark_cache_size>524288000</mark_cache_size>
    <query_log replace="1">
        <database>system</database>
        <table>query_log</table>
        <flush_interval_milliseconds>7500</flush_interval_milliseconds>
        <engine>
            ENGINE = MergeTree
            PARTITION BY event_date
            ORDER BY (event_time)
            TTL event_date + interval 30 day
            SETTINGS ttl_only_drop_parts=1
        </engine>
    </query_log>
    <metric_log remove="remove"/>
    <asynchronous_metric_log remove="remove"/>
    <query_thread_log remove="remove"/>
    <text_log remove="remove"/>
    <trace_log remove="remove"/>
    <session_log remove="remove"/>
    <part_log remove="remove"/>
</clickhouse>
"#;

/// Settings of a Plausible app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Plausible {
    /// The public hostname, e.g. `stats.example.com`.
    pub host: String,
    /// Let anyone register (default false). The first account (the owner) can always register;
    /// while closed, later accounts join by invitation only.
    #[serde(default)]
    pub signups_allowed: bool,
}

impl Plausible {
    /// Serve Plausible at `host`, registration by invitation only.
    #[must_use]
    pub fn new(host: impl Into<String>) -> Self {
        Self {
            host: host.into(),
            signups_allowed: false,
        }
    }


    /// Allow open registration, or keep it to invitations.
    #[must_use]
    pub fn signups_allowed(mut self, allowed: bool) -> Self {
        self.signups_allowed = allowed;
        self
    }
}

#[catalog_app(
    kind = "plausible",
    summary = "Privacy-friendly web analytics (Plausible CE with Postgres and ClickHouse)",
    example = Self::new("stats.example.com")
)]
impl App for Plausible {
    fn contribute(&self, cx: &AppContext<'_>) -> Contribution {
        let mut c = Contribution::new();
        let events = c.volume(Volume::new("events").backed_up());
        let db = Postgres::new(POSTGRES_IMAGE, DB).add_to(&mut c);
        let db_net = db.network;
        let secret_key_base = c.secret(Secret::new("secret-key-base", SecretFormat::Base64(64)));
        let totp_vault_key = c.secret(Secret::new("totp-vault-key", SecretFormat::Base64(32)));

        c.service(
            Service::new("app", IMAGE)
                // Every start: create and migrate both databases (no-ops when done), then run.
                .command([
                    "sh",
                    "-c",
                    "/entrypoint.sh db createdb && /entrypoint.sh db migrate && exec /entrypoint.sh run",
                ])
                .env("BASE_URL", cx.public_url(&self.host))
                .env("HTTP_PORT", HTTP_PORT.to_string())
                .env("SECRET_KEY_BASE", &secret_key_base)
                .env("TOTP_VAULT_KEY", &totp_vault_key)
                .env(
                    "DATABASE_URL",
                    Value::concat([
                        format!("postgres://{DB}:").into(),
                        (&db.password).into(),
                        format!("@db:5432/{DB}").into(),
                    ]),
                )
                .env(
                    "CLICKHOUSE_DATABASE_URL",
                    "http://events:8123/plausible_events_db",
                )
                .env(
                    "DISABLE_REGISTRATION",
                    if self.signups_allowed {
                        "false"
                    } else {
                        "invite_only"
                    },
                )
                .network(&db_net)
                .port(HTTP_PORT)
                .healthcheck(
                    Healthcheck::cmd([
                        "wget",
                        "-q",
                        "-O",
                        "/dev/null",
                        "http://127.0.0.1:8000/api/health",
                    ])
                    .interval_s(30)
                    .start_period_s(300),
                )
                .depends_on_healthy("db")
                .depends_on_healthy("events"),
        );
        let events_start = format!(
            "set -e\ncat > /etc/clickhouse-server/config.d/nassella.xml <<'XML'\n{CLICKHOUSE_CONFIG}XML\nexec /entrypoint.sh\n"
        );
        c.service(
            Service::new("events", CLICKHOUSE_IMAGE)
                // The image's entrypoint starts as root, fixes the data dir's owner, and drops to
                // the clickhouse user; the wrapper only adds the configuration before it.
                .entrypoint(["sh", "-c", events_start.as_str()])
                .env("CLICKHOUSE_SKIP_USER_SETUP", "1")
                .mount(&events, "/var/lib/clickhouse")
                .network(&db_net)
                .healthcheck(Healthcheck::cmd([
                    "wget",
                    "--no-verbose",
                    "--tries=1",
                    "-O",
                    "/dev/null",
                    "http://127.0.0.1:8123/ping",
                ])),
        );

        c.route(Route::new(&self.host).proxy(Upstream::new("app", HTTP_PORT)));

        c.memory_hint_mib(2048);
        c
    }
}
