//! Outline: a team wiki and knowledge base.
//!
//! Deploys, per app id:
//!
//! - `app`: [`IMAGE`] on port 3000, the only service behind the proxy. It runs its database
//!   migrations itself at every start. Attachments are stored locally (`FILE_STORAGE=local`) in
//!   the `data` volume at `/var/lib/outline/data`.
//! - `db`: [`POSTGRES_IMAGE`]; `redis`: [`REDIS_IMAGE`] (cache, job queue, collaboration
//!   pub/sub), password-protected, both on the internal `db` network.
//!
//! `app` also joins the `outbound` network: signing in with OpenID Connect needs the server to
//! call the identity provider's token and user-info endpoints, and link previews fetch pages.
//!
//! **Ownership of the attachment folder.** The image runs as `nodejs` (uid 1001); a bind mount
//! created by Docker is owned by root, so the app could not write it. `app` therefore starts as
//! root, hands the folder to uid 1001 when it is not already theirs, and execs the image's own
//! command ([`IMAGE_CMD`], `node build/server/index.js`) as 1001:1001 with `setpriv` (util-linux,
//! present in the Debian-based image). Not `yarn start`: since outline/outline #11045 (January
//! 2026) the production image is built on `node:26-slim` without yarn, so that command would exit
//! 127 on every start.
//!
//! **Sign-in.** Outline has no local passwords: a person signs in through an identity provider
//! (or an email link, which needs `smtp`). Nassella wires generic OpenID Connect from the `oidc`
//! setting; the client secret is the derived secret `oidc-client-secret`, which you register
//! with your identity provider, or the provider's own secret from the environment variable
//! `oidc.client_secret_env` names (see docs/apps/outline.md). Without `oidc` or `smtp` the wiki
//! runs, but nobody can sign in.
//!
//! Every other setting is read at every start: `URL`, `SECRET_KEY` (32 random bytes as hex, the
//! format Outline documents), `UTILS_SECRET`, the database and Redis URLs. TLS ends at Caddy,
//! which already redirects to HTTPS, so `FORCE_HTTPS=false` (Outline would otherwise redirect
//! on its own, and loop on a plain-HTTP trial instance); `PGSSLMODE=disable` because Postgres
//! is on the app's private network.
//!
//! Websockets (`/realtime` and `/collaboration`) share port 3000; Caddy upgrades them itself.
//! The proxy refuses bodies larger than `max_upload_mb` + 1 MiB, so Outline's own limit
//! (`FILE_STORAGE_UPLOAD_MAX_SIZE`) is the one users see.
//!
//! Backups: before the apps stop, `pg_dump --format=custom` writes `/dump/outline.pgdump` in the
//! backed-up `db-dump` volume. Redis persists to the `redis` volume so queued jobs survive a
//! restart, but it is excluded from backups: a restored server starts with an empty queue and
//! cache, which costs nothing but the jobs pending at backup time.
//!
//! Sources (`reference/apps.md` §14 and §X): github.com/outline/outline `.env.sample` (every
//! variable, `SECRET_KEY` format, `FORCE_HTTPS`, `PGSSLMODE`, `_FILE` variants), `Dockerfile`
//! (`USER nodejs` = 1001, `FILE_STORAGE_LOCAL_ROOT_DIR`, wget health check),
//! `server/utils/startup.ts` (migrations at start), `server/services/websockets.ts`,
//! `collaboration.ts`; `Dockerfile` at tag v1.9.2 (`FROM node:26.3.0-slim`, `CMD ["node",
//! "build/server/index.js"]`) and commit 9c3e896 "Remove yarn usage in prod (#11045)".

use crate::blocks::postgres::Postgres;
use crate::blocks::redis::Redis;
use crate::catalog_app;
use nassella_core::{
    App, AppContext, Contribution, Network, Route, Secret, SecretFormat, Service, SettingProblem,
    Upstream, Value, Volume,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::blocks::smtp::Smtp;

/// The Outline image: an exact release.
pub const IMAGE: &str = "outlinewiki/outline:1.9.2";
/// The database image: Postgres 17, following its minor releases.
pub const POSTGRES_IMAGE: &str = "postgres:17-alpine";
/// The cache and queue: Redis 8, following its minor releases.
pub const REDIS_IMAGE: &str = "redis:8-alpine";

/// The image's own command (its Dockerfile's `CMD` at the pinned tag): what `app` execs after
/// fixing the folder's owner. The image has no yarn.
pub const IMAGE_CMD: &str = "node build/server/index.js";

/// Outline's HTTP port.
pub const HTTP_PORT: u16 = 3000;
/// Where attachments are stored inside the container.
pub const DATA_DIR: &str = "/var/lib/outline/data";
/// The image's user and group.
const UID: u32 = 1001;

/// The database name and user.
const DB: &str = "outline";
/// Bytes in a MiB.
const MIB: u64 = 1024 * 1024;

/// Settings of an Outline app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Outline {
    /// The public hostname, e.g. `wiki.example.com`.
    pub host: String,
    /// The largest attachment or import, in MiB (default 250, Outline's own default).
    #[serde(default = "default_max_upload_mb")]
    #[schemars(range(min = 1))]
    pub max_upload_mb: u32,
    /// Sign-in through a generic OpenID Connect provider. Without it, nobody can sign in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oidc: Option<OutlineOidc>,
    /// Outgoing mail (sign-in links by e-mail, invitations, notifications): an SMTP server and a
    /// login whose password is read from an environment variable. With it, people can also sign
    /// in through an e-mailed link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smtp: Option<Smtp>,
}

/// A generic OpenID Connect provider for Outline's sign-in. The client secret is Nassella's
/// derived secret `oidc-client-secret` (register the client with it), or, for providers that
/// issue their own secret, the value of the environment variable `client_secret_env` names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OutlineOidc {
    /// The client id registered with the provider.
    pub client_id: String,
    /// The provider's authorization endpoint (`https://…`).
    pub auth_uri: String,
    /// The provider's token endpoint.
    pub token_uri: String,
    /// The provider's user-info endpoint.
    pub userinfo_uri: String,
    /// Where to send the browser after signing out of Outline (optional).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logout_uri: Option<String>,
    /// The label of the sign-in button (default `OpenID Connect`).
    #[serde(default = "default_display_name")]
    pub display_name: String,
    /// The claim used as the user name (default `preferred_username`).
    #[serde(default = "default_username_claim")]
    pub username_claim: String,
    /// The environment variable holding the client secret the provider issued, when it issues
    /// its own (Google, Entra ID, …); never the secret itself. Without it the secret is derived.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret_env: Option<String>,
}

fn default_max_upload_mb() -> u32 {
    250
}

fn default_display_name() -> String {
    "OpenID Connect".into()
}

fn default_username_claim() -> String {
    "preferred_username".into()
}

impl OutlineOidc {
    /// A provider with its client id and three endpoints; the other fields take their defaults.
    #[must_use]
    pub fn new(
        client_id: impl Into<String>,
        auth_uri: impl Into<String>,
        token_uri: impl Into<String>,
        userinfo_uri: impl Into<String>,
    ) -> Self {
        Self {
            client_id: client_id.into(),
            auth_uri: auth_uri.into(),
            token_uri: token_uri.into(),
            userinfo_uri: userinfo_uri.into(),
            logout_uri: None,
            display_name: default_display_name(),
            username_claim: default_username_claim(),
            client_secret_env: None,
        }
    }

    /// Use the client secret the provider issued, read from the environment variable `var`.
    #[must_use]
    pub fn client_secret_env(mut self, var: impl Into<String>) -> Self {
        self.client_secret_env = Some(var.into());
        self
    }

    /// Where to send the browser after signing out.
    #[must_use]
    pub fn logout_uri(mut self, uri: impl Into<String>) -> Self {
        self.logout_uri = Some(uri.into());
        self
    }

    /// The label of the sign-in button.
    #[must_use]
    pub fn display_name(mut self, name: impl Into<String>) -> Self {
        self.display_name = name.into();
        self
    }
}

/// Why `uri` cannot be the OpenID Connect endpoint `field`, if it cannot.
fn url_problem(field: &str, uri: &str) -> Option<String> {
    let ok = (uri.starts_with("https://") || uri.starts_with("http://"))
        && uri.len() > "https://".len()
        && !uri.contains(char::is_whitespace);
    (!ok).then(|| format!("oidc.{field} `{uri}` must be an absolute http(s) URL, e.g. `https://auth.example.com/…`"))
}

impl Outline {
    /// Serve Outline at `host` with a 250 MiB upload limit and no sign-in provider yet.
    #[must_use]
    pub fn new(host: impl Into<String>) -> Self {
        Self {
            host: host.into(),
            max_upload_mb: default_max_upload_mb(),
            oidc: None,
            smtp: None,
        }
    }


    /// The largest upload in MiB (at least 1; the composer reports 0).
    #[must_use]
    pub fn max_upload_mb(mut self, mb: u32) -> Self {
        self.max_upload_mb = mb;
        self
    }

    /// Send mail through this SMTP server.
    #[must_use]
    pub fn smtp(mut self, smtp: Smtp) -> Self {
        self.smtp = Some(smtp);
        self
    }

    /// Sign in through this OpenID Connect provider.
    #[must_use]
    pub fn oidc(mut self, oidc: OutlineOidc) -> Self {
        self.oidc = Some(oidc);
        self
    }
}

#[catalog_app(
    kind = "outline",
    summary = "A team wiki and knowledge base (Outline with Postgres and Redis; OpenID Connect sign-in)",
    example = Self::new("wiki.example.com").oidc(
            OutlineOidc::new(
                "outline",
                "https://auth.example.com/api/oidc/authorization",
                "https://auth.example.com/api/oidc/token",
                "https://auth.example.com/api/oidc/userinfo",
            )
            .display_name("Example SSO"),
        )
)]
impl App for Outline {
    fn check(&self) -> Vec<SettingProblem> {
        let mut out = Vec::new();
        if self.max_upload_mb == 0 {
            out.push(SettingProblem::new(
                "max_upload_mb",
                "max_upload_mb 0 would refuse every upload: give at least 1 (MiB)",
            ));
        }
        if let Some(oidc) = &self.oidc {
            if oidc.client_id.trim().is_empty() {
                out.push(SettingProblem::new(
                    "oidc.client_id",
                    "oidc.client_id is empty: give the client id registered with the identity provider",
                ));
            }
            let uris = [
                ("auth_uri", Some(&oidc.auth_uri)),
                ("token_uri", Some(&oidc.token_uri)),
                ("userinfo_uri", Some(&oidc.userinfo_uri)),
                ("logout_uri", oidc.logout_uri.as_ref()),
            ];
            for (field, uri) in uris {
                if let Some(p) = uri.and_then(|u| url_problem(field, u)) {
                    out.push(SettingProblem::new(format!("oidc.{field}"), p));
                }
            }
        }
        out.extend(self.smtp.as_ref().map(Smtp::check).unwrap_or_default());
        out
    }

    fn contribute(&self, cx: &AppContext<'_>) -> Contribution {
        let mut c = Contribution::new();
        let data = c.volume(Volume::new("data").backed_up());
        let db = Postgres::new(POSTGRES_IMAGE, DB).add_to(&mut c);
        let db_net = db.network;
        let outbound = c.network(Network::with_egress("outbound"));
        // Through the image's entrypoint; default RDB snapshots, so the queue survives a restart.
        let redis_password = Redis::new(REDIS_IMAGE)
            .args(["--appendonly", "no"])
            .data(Volume::new("redis").excluded_from_backup(
                "cache and job queue: a restored server starts with them empty, losing only the jobs pending at backup time",
            ))
            .add_with_password(&mut c, &db_net);
        let secret_key = c.secret(Secret::new("secret-key", SecretFormat::Hex(32)));
        let utils_secret = c.secret(Secret::new("utils-secret", SecretFormat::Hex(32)));

        let max_upload = u64::from(self.max_upload_mb) * MIB;
        // Starts as root only to give the bind-mounted attachment folder to the image's user.
        let start = format!(
            "set -e\n[ \"$(stat -c %u {DATA_DIR})\" = {UID} ] || chown -R {UID}:{UID} {DATA_DIR}\nexec setpriv --reuid={UID} --regid={UID} --clear-groups {IMAGE_CMD}\n"
        );
        let mut app = Service::new("app", IMAGE)
            .user("0:0")
            .command(["sh", "-c", start.as_str()])
            .env("HOME", "/home/nodejs")
            .env("NODE_ENV", "production")
            .env("URL", cx.public_url(&self.host))
            .env("PORT", HTTP_PORT.to_string())
            .env("FORCE_HTTPS", "false")
            .env("WEB_CONCURRENCY", "1")
            .env("ENABLE_UPDATES", "false")
            .env("SECRET_KEY", &secret_key)
            .env("UTILS_SECRET", &utils_secret)
            .env(
                "DATABASE_URL",
                Value::concat([
                    format!("postgres://{DB}:").into(),
                    (&db.password).into(),
                    format!("@db:5432/{DB}").into(),
                ]),
            )
            .env("PGSSLMODE", "disable")
            .env(
                "REDIS_URL",
                Value::concat([
                    "redis://:".into(),
                    (&redis_password).into(),
                    "@redis:6379".into(),
                ]),
            )
            .env("FILE_STORAGE", "local")
            .env("FILE_STORAGE_LOCAL_ROOT_DIR", DATA_DIR)
            .env("FILE_STORAGE_UPLOAD_MAX_SIZE", max_upload.to_string())
            .mount(&data, DATA_DIR)
            .network(&db_net)
            .network(&outbound)
            .port(HTTP_PORT)
            .depends_on_healthy("db")
            .depends_on_healthy("redis");
        if let Some(oidc) = &self.oidc {
            let client_secret = c.secret(match &oidc.client_secret_env {
                Some(var) => Secret::from_env("oidc-client-secret", var)
                    .for_setting("oidc.client_secret_env"),
                None => Secret::new("oidc-client-secret", SecretFormat::Alphanumeric(48)),
            });
            app = app
                .env("OIDC_CLIENT_ID", &oidc.client_id)
                .env("OIDC_CLIENT_SECRET", &client_secret)
                .env("OIDC_AUTH_URI", &oidc.auth_uri)
                .env("OIDC_TOKEN_URI", &oidc.token_uri)
                .env("OIDC_USERINFO_URI", &oidc.userinfo_uri)
                .env("OIDC_DISPLAY_NAME", &oidc.display_name)
                .env("OIDC_USERNAME_CLAIM", &oidc.username_claim)
                .env("OIDC_SCOPES", "openid profile email");
            if let Some(logout) = &oidc.logout_uri {
                app = app.env("OIDC_LOGOUT_URI", logout);
            }
        }
        if let Some(m) = &self.smtp {
            app = app
                .env("SMTP_HOST", &m.host)
                .env("SMTP_PORT", m.port.to_string())
                .env("SMTP_FROM_EMAIL", &m.from)
                // true: TLS from the first byte; false: STARTTLS when the server offers it.
                .env("SMTP_SECURE", m.implicit_tls());
            for (k, v) in m.login_env(&mut c, "SMTP_USERNAME", "SMTP_PASSWORD") {
                app = app.env(k, v);
            }
        }
        // No health check here: the image's own (`wget …/_health`) applies.
        c.service(app);

        c.route(
            Route::new(&self.host)
                .max_body_bytes(max_upload + MIB)
                .proxy(Upstream::new("app", HTTP_PORT)),
        );

        c.memory_hint_mib(1024);
        c
    }
}
