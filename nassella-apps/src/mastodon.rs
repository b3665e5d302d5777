//! Mastodon: a federated social network server.
//!
//! Deploys, per app id:
//!
//! - `web`: [`IMAGE`] running Puma on port 3000 (the web app and the REST API).
//! - `streaming`: [`STREAMING_IMAGE`] on port 4000 (live timelines and notifications over
//!   websockets). The proxy routes `/api/v1/streaming` to it and everything else to `web`: two
//!   upstreams on one hostname, so both services join the proxy network.
//! - `sidekiq`: [`IMAGE`] running Sidekiq (federation delivery, media processing, mail, and
//!   Mastodon's own scheduled jobs).
//! - `db`: [`POSTGRES_IMAGE`] (with `shm_size: 256mb`, as upstream), and `redis`:
//!   [`REDIS_IMAGE`] (queues and home feeds), both password-protected on the internal `db`
//!   network.
//!
//! `web` and `sidekiq` join `outbound`: federation means fetching from and delivering to other
//! servers. `streaming` needs only the database and Redis.
//!
//! **Secrets.** `SECRET_KEY_BASE` and `OTP_SECRET` are 64 random bytes as hex (what `rails secret`
//! prints); the three `ACTIVE_RECORD_ENCRYPTION_*` keys are 32 letters and digits (what
//! `rails db:encryption:init` prints); all derived from the master key, so they survive a
//! redeploy. The **VAPID key pair** (web push) is an elliptic-curve pair that must be made by
//! Mastodon itself: on the first start `web` runs `rails mastodon:webpush:generate_vapid_key`
//! and stores the two lines in `vapid.env` in the backed-up `keys` volume (mode 0600, outside
//! the public media folder, which Rails serves). Every start of `web` and `sidekiq` reads that
//! file into the environment; it is never regenerated, since a new pair would break every
//! browser's push subscription.
//!
//! **Start of `web`** (a `sh -c` wrapper, run as root, then `setpriv` to uid 991 = the image's
//! `mastodon` user):
//!
//! 1. hands the media folder (`public/system`) and, checked on its own, the `cache` volume
//!    mounted inside it to 991 when they are not already theirs (Docker creates bind-mounted
//!    folders owned by root). The cache is excluded from backups, so after a restore it is a
//!    fresh root-owned folder under a `public/system` that 991 already owns: checking only the
//!    parent would leave it unwritable and caching remote media would fail;
//! 2. first start only: generates the VAPID pair (above);
//! 3. every start: `rails db:prepare` — on the first start it loads the schema into the empty
//!    database and seeds it; afterwards it runs pending migrations, so an image upgrade
//!    migrates itself before Puma starts;
//! 4. execs Puma.
//!
//! **The owner account** is a one-off job (once per data volume, after the app is up and
//! healthy): `tootctl accounts create <owner> --confirmed --approve --role Owner`, then its
//! password is set to the derived secret `owner-password` (`rails runner … change_password!`).
//! A repeat (after restoring a backup older than the job) finds the account and only sets the
//! password again.
//!
//! `sidekiq` waits until `web` is healthy (so the keys and the schema exist), then reads the keys
//! and execs Sidekiq as 991. `streaming` runs as the image's user.
//!
//! **Proxy.** `TRUSTED_PROXY_IP` is the proxy subnet (for Rails and the streaming server), so the
//! client address is believed only from Caddy. `RAILS_SERVE_STATIC_FILES=true`: Caddy has no
//! access to the image's assets. The proxy refuses bodies over 100 MiB (Mastodon accepts videos
//! up to 99 MB).
//!
//! **Media.** `public/system` is the `system` volume (backed up): uploads, avatars, headers.
//! Remote media that Mastodon caches under `public/system/cache` is a separate `cache` volume
//! mounted over that folder and excluded from backups (it is fetched again on demand). A daily
//! job removes cached remote media older than 7 days.
//!
//! Backups: before the apps stop, `pg_dump --format=custom` writes `/dump/mastodon.pgdump` in the
//! backed-up `db-dump` volume. Redis persists to its backed-up volume (pending deliveries,
//! scheduled posts).
//!
//! Sources (`reference/apps.md` §16 and §X): github.com/mastodon/mastodon `docker-compose.yml`
//! (commands, health checks, `shm_size`), `Dockerfile` (uid 991, `/opt/mastodon`,
//! `public/system`, tini), `.env.production.sample`, `dist/nginx.conf` (streaming location),
//! `lib/mastodon/cli/accounts.rb` (`create` options, `change_password!`),
//! `lib/tasks/mastodon.rake` (`webpush:generate_vapid_key`); docs.joinmastodon.org/admin/config,
//! /admin/setup, /admin/backups, /admin/upgrading, /admin/tootctl (`media remove`).

use crate::blocks::postgres::Postgres;
use crate::blocks::redis::Redis;
use crate::catalog_app;
use nassella_core::{
    App, AppContext, Contribution, Healthcheck, Job, Network, OneOffJob, Route, Secret,
    SecretFormat, SecretRef, Service, SettingProblem, Upstream, Volume,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The Mastodon image (web and Sidekiq): an exact release.
pub const IMAGE: &str = "ghcr.io/mastodon/mastodon:v4.5.11";
/// The streaming server's image: the same release.
pub const STREAMING_IMAGE: &str = "ghcr.io/mastodon/mastodon-streaming:v4.5.11";
/// The database image: Postgres 17, following its minor releases.
pub const POSTGRES_IMAGE: &str = "postgres:17-alpine";
/// Redis 7, as in the official compose file, following its minor releases.
pub const REDIS_IMAGE: &str = "redis:7-alpine";

/// Puma's port.
pub const WEB_PORT: u16 = 3000;
/// The streaming server's port.
pub const STREAMING_PORT: u16 = 4000;
/// The path the proxy sends to the streaming server.
pub const STREAMING_PATH: &str = "/api/v1/streaming";
/// The media folder inside the image.
pub const SYSTEM_DIR: &str = "/opt/mastodon/public/system";
/// Where the generated keys live inside `web` and `sidekiq`.
pub const KEYS_DIR: &str = "/var/lib/nassella-keys";

/// The database name and user.
const DB: &str = "mastodon";
/// The image's `mastodon` user and group.
const UID: u32 = 991;
/// Largest request body: 100 MiB, above Mastodon's 99 MB video limit.
const MAX_BODY_BYTES: u64 = 100 * 1024 * 1024;

/// Settings of a Mastodon app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Mastodon {
    /// The public hostname, e.g. `social.example.com`. It is also the domain in handles
    /// (`@alice@social.example.com`) and **can never change** after the first start.
    pub host: String,
    /// The owner account created at the first start (default `owner`): 1 to 30 lowercase
    /// letters, digits and `_`. Its password is the derived secret `owner-password`.
    #[serde(default = "default_owner")]
    #[schemars(regex(pattern = r"^[a-z0-9_]{1,30}$"))]
    pub owner: String,
    /// The owner's email address (default `<owner>@<host>`; it is marked confirmed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_email: Option<String>,
}

fn default_owner() -> String {
    "owner".into()
}

/// Why `name` cannot be the owner's user name, if it cannot.
fn owner_problem(name: &str) -> Option<String> {
    let ok = (1..=30).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    (!ok).then(|| format!("owner `{name}` must be 1 to 30 lowercase letters, digits or '_'"))
}

/// Why `email` cannot be the owner's address, if it cannot.
fn email_problem(email: &str) -> Option<String> {
    let ok = email
        .split_once('@')
        .is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.'))
        && !email.contains(|c: char| c.is_whitespace() || c == '\'' || c == '"');
    (!ok).then(|| format!("owner_email `{email}` is not an email address like `alice@example.com`"))
}

impl Mastodon {
    /// Serve Mastodon at `host`, with the owner account `owner`.
    #[must_use]
    pub fn new(host: impl Into<String>) -> Self {
        Self {
            host: host.into(),
            owner: default_owner(),
            owner_email: None,
        }
    }


    /// The owner account created at the first start: 1 to 30 lowercase letters, digits or `_`
    /// (the composer reports anything else).
    #[must_use]
    pub fn owner(mut self, name: impl Into<String>) -> Self {
        self.owner = name.into();
        self
    }

    /// The owner's email address.
    #[must_use]
    pub fn owner_email(mut self, email: impl Into<String>) -> Self {
        self.owner_email = Some(email.into());
        self
    }
}

/// Drop from root to the image's user.
fn as_mastodon(command: &str) -> String {
    format!("setpriv --reuid={UID} --regid={UID} --clear-groups {command}")
}

/// The shell that reads the generated VAPID pair into the environment.
fn read_keys() -> String {
    format!(
        "[ -s {KEYS_DIR}/vapid.env ] || {{ echo 'mastodon: {KEYS_DIR}/vapid.env is missing (web creates it)' >&2; exit 1; }}\n\
         set -a\n. {KEYS_DIR}/vapid.env\nset +a\n"
    )
}

/// The wrapper of `web`; see the module documentation.
fn web_start() -> String {
    let generate = as_mastodon("bundle exec rails mastodon:webpush:generate_vapid_key");
    let prepare = as_mastodon("bundle exec rails db:prepare");
    let puma = as_mastodon("bundle exec puma -C config/puma.rb");
    format!(
        "set -e\n\
         [ \"$(stat -c %u {SYSTEM_DIR})\" = {UID} ] || chown -R {UID}:{UID} {SYSTEM_DIR}\n\
         [ \"$(stat -c %u {SYSTEM_DIR}/cache)\" = {UID} ] || chown -R {UID}:{UID} {SYSTEM_DIR}/cache\n\
         umask 077\n\
         if [ ! -s {KEYS_DIR}/vapid.env ]; then\n\
         \x20 {generate} | grep -E '^VAPID_(PRIVATE|PUBLIC)_KEY=.' > {KEYS_DIR}/vapid.env.tmp\n\
         \x20 [ \"$(grep -c . {KEYS_DIR}/vapid.env.tmp)\" = 2 ]\n\
         \x20 mv {KEYS_DIR}/vapid.env.tmp {KEYS_DIR}/vapid.env\n\
         fi\n\
         umask 022\n\
         {keys}\
         {prepare}\n\
         exec {puma}\n",
        keys = read_keys(),
    )
}

/// The one-off job that creates the owner: `tootctl` makes the account (confirmed, approved,
/// role Owner; it fails harmlessly when the account exists), then its password becomes the
/// derived secret. Run as 991 with the keys in the environment, like the services. One line:
/// the command ends up in a systemd `ExecStart=`.
fn create_owner() -> String {
    let create = as_mastodon(
        "tootctl accounts create \"$MASTODON_OWNER\" --email \"$MASTODON_OWNER_EMAIL\" --confirmed --approve --role Owner",
    );
    let password = as_mastodon(
        "bundle exec rails runner 'Account.find_local(ENV.fetch(\"MASTODON_OWNER\")).user.change_password!(ENV.fetch(\"MASTODON_OWNER_PASSWORD\"))'",
    );
    format!(
        "set -e; set -a; . {KEYS_DIR}/vapid.env; set +a; {create} || echo 'mastodon: the owner account exists already' >&2; {password}"
    )
}

/// The wrapper of `sidekiq`.
fn sidekiq_start() -> String {
    format!(
        "set -e\n{keys}exec {sidekiq}\n",
        keys = read_keys(),
        sidekiq = as_mastodon("bundle exec sidekiq"),
    )
}

#[catalog_app(
    kind = "mastodon",
    summary = "A federated social network server (Mastodon web, streaming and Sidekiq with Postgres and Redis)",
    example = Self::new("social.example.com")
)]
impl App for Mastodon {
    fn check(&self) -> Vec<SettingProblem> {
        let mut out = Vec::new();
        if let Some(p) = owner_problem(&self.owner) {
            out.push(SettingProblem::new("owner", p));
        }
        if let Some(p) = self.owner_email.as_deref().and_then(email_problem) {
            out.push(SettingProblem::new("owner_email", p));
        }
        out
    }

    fn contribute(&self, cx: &AppContext<'_>) -> Contribution {
        let mut c = Contribution::new();
        let system = c.volume(Volume::new("system").backed_up());
        let cache = c.volume(Volume::new("cache").excluded_from_backup(
            "remote media cached from other servers: fetched again on demand",
        ));
        let keys = c.volume(Volume::new("keys").backed_up());
        let db = Postgres::new(POSTGRES_IMAGE, DB)
            .shm_size("256mb")
            .add_to(&mut c);
        let db_net = db.network;
        let outbound = c.network(Network::with_egress("outbound"));
        // Through the image's entrypoint; default RDB snapshots.
        let redis_password = Redis::new(REDIS_IMAGE)
            .data(Volume::new("redis").backed_up())
            .add_with_password(&mut c, &db_net);
        let secret_key_base = c.secret(Secret::new("secret-key-base", SecretFormat::Hex(64)));
        let otp_secret = c.secret(Secret::new("otp-secret", SecretFormat::Hex(64)));
        let ar_keys: Vec<(&str, SecretRef)> = [
            ("ACTIVE_RECORD_ENCRYPTION_PRIMARY_KEY", "ar-primary-key"),
            (
                "ACTIVE_RECORD_ENCRYPTION_DETERMINISTIC_KEY",
                "ar-deterministic-key",
            ),
            (
                "ACTIVE_RECORD_ENCRYPTION_KEY_DERIVATION_SALT",
                "ar-key-derivation-salt",
            ),
        ]
        .into_iter()
        .map(|(var, name)| {
            (
                var,
                c.secret(Secret::new(name, SecretFormat::Alphanumeric(32))),
            )
        })
        .collect();
        let owner_password = c.secret(Secret::new(
            "owner-password",
            SecretFormat::Alphanumeric(24),
        ));

        // What the database and Redis clients of all three services need.
        let backend = |s: Service| {
            s.env("DB_HOST", "db")
                .env("DB_PORT", "5432")
                .env("DB_NAME", DB)
                .env("DB_USER", DB)
                .env("DB_PASS", &db.password)
                .env("REDIS_HOST", "redis")
                .env("REDIS_PORT", "6379")
                .env("REDIS_PASSWORD", &redis_password)
                .env("LOCAL_DOMAIN", &self.host)
                .env("TRUSTED_PROXY_IP", cx.proxy_subnet())
                .network(&db_net)
                .depends_on_healthy("db")
                .depends_on_healthy("redis")
        };
        // What the Rails app (web and sidekiq) needs on top.
        let rails = |s: Service| {
            let mut s = backend(s)
                .user("0:0")
                .env("HOME", "/opt/mastodon")
                .env("RAILS_ENV", "production")
                .env("RAILS_SERVE_STATIC_FILES", "true")
                .env("SECRET_KEY_BASE", &secret_key_base)
                .env("OTP_SECRET", &otp_secret)
                .mount(&system, SYSTEM_DIR)
                .mount(&cache, format!("{SYSTEM_DIR}/cache"))
                .network(&outbound);
            for (var, secret) in &ar_keys {
                s = s.env(*var, secret);
            }
            s
        };

        let web_start = web_start();
        c.service(
            rails(Service::new("web", IMAGE))
                .command(["sh", "-c", web_start.as_str()])
                .env("MASTODON_OWNER", &self.owner)
                .env(
                    "MASTODON_OWNER_EMAIL",
                    self.owner_email
                        .clone()
                        .unwrap_or_else(|| format!("{}@{}", self.owner, self.host)),
                )
                .env("MASTODON_OWNER_PASSWORD", &owner_password)
                .mount(&keys, KEYS_DIR)
                .port(WEB_PORT)
                // The first start loads the schema before Puma listens: allow 15 minutes.
                .healthcheck(
                    Healthcheck::cmd([
                        "sh",
                        "-c",
                        "curl -s --noproxy localhost localhost:3000/health | grep -q OK",
                    ])
                    .interval_s(30)
                    .start_period_s(900),
                ),
        );
        let sidekiq_start = sidekiq_start();
        c.service(
            rails(Service::new("sidekiq", IMAGE))
                .command(["sh", "-c", sidekiq_start.as_str()])
                .mount_read_only(&keys, KEYS_DIR)
                // The keys and the schema exist once web is healthy.
                .depends_on_healthy("web"),
        );
        c.service(
            backend(Service::new("streaming", STREAMING_IMAGE))
                .command(["node", "./streaming/index.js"])
                .env("NODE_ENV", "production")
                .env("BIND", "0.0.0.0")
                .env("PORT", STREAMING_PORT.to_string())
                .port(STREAMING_PORT),
        );

        c.route(
            Route::new(&self.host)
                .max_body_bytes(MAX_BODY_BYTES)
                .proxy_path(STREAMING_PATH, Upstream::new("streaming", STREAMING_PORT))
                .proxy(Upstream::new("web", WEB_PORT)),
        );

        // No `$` or `%` (systemd would expand them): the keys are read by `.` into the env.
        let media_remove = format!(
            "set -a && . {KEYS_DIR}/vapid.env && set +a && exec {}",
            as_mastodon("tootctl media remove --days 7")
        );
        c.job(Job::new(
            "media-remove",
            "sidekiq",
            "*-*-* 04:30:00",
            ["sh", "-c", media_remove.as_str()],
        ));
        let create_owner = create_owner();
        c.one_off_job(OneOffJob::new(
            "create-owner",
            "web",
            ["sh", "-c", create_owner.as_str()],
        ));
        c.memory_hint_mib(3072);
        c
    }
}
