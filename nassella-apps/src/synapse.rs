//! Matrix Synapse: a Matrix homeserver (chat, federated with the rest of Matrix).
//!
//! Deploys, per app id:
//!
//! - `app`: [`IMAGE`] on port 8008 (client and federation APIs over plain HTTP behind the
//!   proxy). Its `data` volume at `/data` holds the **signing key** (`signing.key`) and the media
//!   store (`media_store/`). It joins `outbound`, because federation means calling other servers.
//! - `db`: [`POSTGRES_IMAGE`], initialised with the C locale and UTF-8 (Synapse refuses other
//!   collations), on the internal `db` network.
//!
//! **Configuration.** Synapse reads `homeserver.yaml` only (no configuration from the
//! environment), and Nassella has no config-file feature yet. The service therefore starts with
//! a wrapper (`sh -c`) that, on **every** start:
//!
//! 1. hands `/data` to uid 991 (the user the image's `start.py` drops to) when it is not
//!    already theirs — Docker creates bind-mounted folders owned by root;
//! 2. writes `/etc/synapse/homeserver.yaml` inside the container (mode 0600, owned by 991): the
//!    configuration is rendered here as JSON (a subset of YAML) from a typed value; the shell
//!    fills in the four secrets from the service's mode-0600 env file;
//! 3. **first start only**: when `/data/signing.key` is missing, runs Synapse's own key
//!    generation (`python -m synapse.app.homeserver --generate-keys`, as uid 991) — the same
//!    command the image's `migrate_config` mode uses. The key lives in the backed-up volume and
//!    is never regenerated: a new key would break federation trust;
//! 4. execs the image's `/start.py` (run mode, with `SYNAPSE_CONFIG_PATH` pointing at the file),
//!    which drops to uid 991 and starts Synapse.
//!
//! The configuration is therefore always what Nassella rendered: changing a setting and
//! redeploying changes it, and nobody edits it on the server.
//!
//! **Delegation.** User ids are `@name:<server_name>`. Federation and clients find the
//! homeserver through `https://<server_name>/.well-known/matrix/server` (`{"m.server":
//! "<host>:443"}`) and `…/client` (`{"m.homeserver": {"base_url": "https://<host>"}}`), answered
//! by Caddy with CORS `*`. When `server_name` differs from `host` (typically the apex domain),
//! the app adds a second route on `server_name` that serves only those two paths.
//!
//! **Accounts.** Registration is open **only with a registration token** (created by an admin
//! through the admin API). The administrator `admin_user` is a one-off job (once per data
//! volume, after the app is healthy): `register_new_matrix_user --admin --exists-ok` with the
//! derived `admin-password`, through the shared-secret admin API on `localhost:8008`.
//!
//! Secrets (derived, stable): `registration_shared_secret`, `macaroon_secret_key` (changing it
//! would invalidate access tokens and SSO sessions), `form_secret`, the database password and
//! the administrator's password.
//!
//! Proxy: `x_forwarded: true`, so Synapse takes the client address and scheme from Caddy's
//! headers (only the proxy network reaches port 8008). The proxy refuses bodies above
//! `max_upload_mb` + 1 MiB; Synapse's own `max_upload_size` is `max_upload_mb`.
//!
//! Backups: before the apps stop, `pg_dump --format=custom --exclude-table-data
//! e2e_one_time_keys_json` (Synapse's documented online backup; one-time keys must not be
//! reused after a restore) writes `/dump/synapse.pgdump` in the backed-up `db-dump` volume. The
//! remote-media cache is bounded by `media_retention.remote_media_lifetime` (90 days).
//!
//! Sources (`reference/apps.md` §15 and §X): github.com/element-hq/synapse `docker/start.py` (run
//! mode, `SYNAPSE_CONFIG_PATH`, uid 991 via gosu, `--generate-keys`), `docker/README.md`,
//! `docs/delegate.md`, `docs/reverse_proxy.md`, `docs/postgres.md` (C locale),
//! `docs/usage/administration/backups.md`, `docs/usage/configuration/config_documentation.md`
//! (`registration_requires_token`, `media_retention`, `max_upload_size`),
//! `synapse/_scripts/register_new_matrix_user.py` (`--exists-ok`, reads the shared secret from
//! the configuration).

use crate::blocks::postgres::Postgres;
use crate::catalog_app;
use nassella_core::composer::valid_host;
use nassella_core::{
    App, AppContext, Contribution, Network, OneOffJob, Route, Secret, SecretFormat, Service,
    SettingProblem, Upstream, Volume,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

/// The Synapse image: an exact release (Synapse releases every two weeks; read the upgrade
/// notes before moving).
pub const IMAGE: &str = "matrixdotorg/synapse:v1.157.1";
/// The database image: Postgres 17, following its minor releases.
pub const POSTGRES_IMAGE: &str = "postgres:17-alpine";

/// Synapse's HTTP port (client and federation).
pub const HTTP_PORT: u16 = 8008;
/// Where the wrapper writes the configuration inside the container.
pub const CONFIG_PATH: &str = "/etc/synapse/homeserver.yaml";
/// The delegation document for other servers.
pub const WELL_KNOWN_SERVER: &str = "/.well-known/matrix/server";
/// The delegation document for clients.
pub const WELL_KNOWN_CLIENT: &str = "/.well-known/matrix/client";

/// The database name and user.
const DB: &str = "synapse";
/// The user the image's start script runs Synapse as.
const UID: u32 = 991;
/// Bytes in a MiB.
const MIB: u64 = 1024 * 1024;

/// Settings of a Synapse app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Synapse {
    /// The hostname that serves the homeserver, e.g. `matrix.example.com`.
    pub host: String,
    /// The Matrix server name, the part after `:` in user ids (`@alice:example.com`); default
    /// `host`. **It can never change** after the first start. When it differs from `host`, this
    /// app serves the delegation files on it, so no other app may serve that hostname.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_name: Option<String>,
    /// The administrator registered after the first start (default `admin`): the local part of
    /// `@admin:<server_name>`, 1 to 64 lowercase letters, digits, `.`, `_`, `=` and `-`. Its
    /// password is the derived secret `admin-password`.
    #[serde(default = "default_admin_user")]
    #[schemars(regex(pattern = r"^[a-z0-9._=-]{1,64}$"))]
    pub admin_user: String,
    /// The largest media upload, in MiB (default 50, Synapse's default).
    #[serde(default = "default_max_upload_mb")]
    #[schemars(range(min = 1))]
    pub max_upload_mb: u32,
}

fn default_max_upload_mb() -> u32 {
    50
}

fn default_admin_user() -> String {
    "admin".into()
}

/// Why `name` cannot be a server name, if it cannot.
fn server_name_problem(name: &str) -> Option<String> {
    valid_host(name)
        .err()
        .map(|why| format!("server_name `{name}` is not a valid hostname: {why}"))
}

/// Why `name` cannot be the administrator's Matrix local part, if it cannot.
fn admin_user_problem(name: &str) -> Option<String> {
    crate::blocks::user_name::user_name_problem(
        "admin_user",
        name,
        64,
        crate::blocks::user_name::Letters::Lowercase,
        "._=-",
    )
}

impl Synapse {
    /// Serve Synapse at `host`, with `host` as the server name and a 50 MiB upload limit.
    #[must_use]
    pub fn new(host: impl Into<String>) -> Self {
        Self {
            host: host.into(),
            server_name: None,
            admin_user: default_admin_user(),
            max_upload_mb: default_max_upload_mb(),
        }
    }


    /// The Matrix server name (e.g. the apex domain `example.com`), delegated to `host` (a
    /// valid hostname; the composer reports anything else).
    #[must_use]
    pub fn server_name(mut self, name: impl Into<String>) -> Self {
        self.server_name = Some(name.into());
        self
    }

    /// The administrator's local part (the composer reports an invalid one).
    #[must_use]
    pub fn admin_user(mut self, name: impl Into<String>) -> Self {
        self.admin_user = name.into();
        self
    }

    /// The largest media upload in MiB (at least 1; the composer reports 0).
    #[must_use]
    pub fn max_upload_mb(mut self, mb: u32) -> Self {
        self.max_upload_mb = mb;
        self
    }

    /// The Matrix server name in effect.
    #[must_use]
    pub fn effective_server_name(&self) -> &str {
        self.server_name.as_deref().unwrap_or(&self.host)
    }

    /// `homeserver.yaml`, as JSON (valid YAML). Secrets are `${VAR}` references the wrapper's
    /// shell fills in from the environment.
    fn homeserver_config(&self, public_url: &str) -> serde_json::Value {
        json!({
            "server_name": self.effective_server_name(),
            "public_baseurl": format!("{public_url}/"),
            "report_stats": false,
            "signing_key_path": "/data/signing.key",
            "media_store_path": "/data/media_store",
            "listeners": [{
                "port": HTTP_PORT,
                "type": "http",
                "tls": false,
                "bind_addresses": ["0.0.0.0"],
                "x_forwarded": true,
                "resources": [{"names": ["client", "federation"], "compress": false}],
            }],
            "database": {
                "name": "psycopg2",
                "args": {
                    "host": "db",
                    "port": 5432,
                    "dbname": DB,
                    "user": DB,
                    "password": "${SYNAPSE_DB_PASSWORD}",
                    "cp_min": 5,
                    "cp_max": 10,
                },
            },
            "registration_shared_secret": "${SYNAPSE_REGISTRATION_SHARED_SECRET}",
            "macaroon_secret_key": "${SYNAPSE_MACAROON_SECRET_KEY}",
            "form_secret": "${SYNAPSE_FORM_SECRET}",
            "enable_registration": true,
            "registration_requires_token": true,
            "max_upload_size": format!("{}M", self.max_upload_mb),
            "media_retention": {"remote_media_lifetime": "90d"},
            "trusted_key_servers": [{"server_name": "matrix.org"}],
            "suppress_key_server_warning": true,
        })
    }
}

#[catalog_app(
    kind = "synapse",
    summary = "A Matrix homeserver (Synapse with Postgres; .well-known delegation on the server name)",
    example = Self::new("matrix.example.com").server_name("example.com")
)]
impl App for Synapse {
    fn check(&self) -> Vec<SettingProblem> {
        let mut out = Vec::new();
        if let Some(p) = self.server_name.as_deref().and_then(server_name_problem) {
            out.push(SettingProblem::new("server_name", p));
        }
        if let Some(p) = admin_user_problem(&self.admin_user) {
            out.push(SettingProblem::new("admin_user", p));
        }
        if self.max_upload_mb == 0 {
            out.push(SettingProblem::new(
                "max_upload_mb",
                "max_upload_mb 0 would refuse every upload: give at least 1 (MiB)",
            ));
        }
        out
    }

    fn contribute(&self, cx: &AppContext<'_>) -> Contribution {
        let mut c = Contribution::new();
        let data = c.volume(Volume::new("data").backed_up());
        let db = Postgres::new(POSTGRES_IMAGE, DB)
            .initdb_args("--encoding=UTF-8 --lc-collate=C --lc-ctype=C")
            .dump_args("--exclude-table-data=e2e_one_time_keys_json")
            .add_to(&mut c);
        let db_net = db.network;
        let outbound = c.network(Network::with_egress("outbound"));
        let registration = c.secret(Secret::new(
            "registration-shared-secret",
            SecretFormat::Alphanumeric(48),
        ));
        let macaroon = c.secret(Secret::new(
            "macaroon-secret-key",
            SecretFormat::Alphanumeric(48),
        ));
        let form = c.secret(Secret::new("form-secret", SecretFormat::Alphanumeric(48)));
        let admin_password = c.secret(Secret::new(
            "admin-password",
            SecretFormat::Alphanumeric(24),
        ));

        let public_url = cx.public_url(&self.host);
        let config = serde_json::to_string_pretty(&self.homeserver_config(&public_url))
            .expect("a JSON value always serializes");
        // The heredoc is unquoted so the shell fills in ${SYNAPSE_*}; the rest of the JSON holds
        // no `$`, backslash or backquote (hostnames are letters, digits, '-' and '.').
        let start = format!(
            "set -e\n\
             [ \"$(stat -c %u /data)\" = {UID} ] || chown -R {UID}:{UID} /data\n\
             mkdir -p /etc/synapse\n\
             umask 077\n\
             cat > {CONFIG_PATH} <<EOF\n{config}\nEOF\n\
             umask 022\n\
             chown {UID}:{UID} {CONFIG_PATH}\n\
             [ -s /data/signing.key ] || gosu {UID}:{UID} python -m synapse.app.homeserver --config-path {CONFIG_PATH} --generate-keys\n\
             exec /start.py\n"
        );
        // No health check here: the image's own (`curl …/health`) applies.
        c.service(
            Service::new("app", IMAGE)
                .entrypoint(["sh", "-c", start.as_str()])
                .env("SYNAPSE_CONFIG_PATH", CONFIG_PATH)
                .env("SYNAPSE_DB_PASSWORD", &db.password)
                .env("SYNAPSE_REGISTRATION_SHARED_SECRET", &registration)
                .env("SYNAPSE_MACAROON_SECRET_KEY", &macaroon)
                .env("SYNAPSE_FORM_SECRET", &form)
                // Read by the one-off job below.
                .env("SYNAPSE_ADMIN_USER", &self.admin_user)
                .env("SYNAPSE_ADMIN_PASSWORD", &admin_password)
                .mount(&data, "/data")
                .network(&db_net)
                .network(&outbound)
                .port(HTTP_PORT)
                .depends_on_healthy("db"),
        );

        let server = json!({ "m.server": format!("{}:443", self.host) }).to_string();
        let client = json!({ "m.homeserver": { "base_url": public_url } }).to_string();
        let max_body = u64::from(self.max_upload_mb) * MIB + MIB;
        let main = Route::new(&self.host)
            .max_body_bytes(max_body)
            .proxy(Upstream::new("app", HTTP_PORT));
        let server_name = self.effective_server_name();
        if server_name == self.host {
            c.route(
                main.respond_json(WELL_KNOWN_SERVER, server)
                    .respond_json(WELL_KNOWN_CLIENT, client),
            );
        } else {
            c.route(main);
            c.route(
                Route::new(server_name)
                    .respond_json(WELL_KNOWN_SERVER, server)
                    .respond_json(WELL_KNOWN_CLIENT, client),
            );
        }

        // First start of a data volume: the administrator, through the shared-secret admin API
        // (`--exists-ok` makes a repeat after a restore harmless).
        c.one_off_job(OneOffJob::new(
            "register-admin",
            "app",
            [
                "sh",
                "-c",
                &format!(
                    "register_new_matrix_user -c {CONFIG_PATH} -u \"$SYNAPSE_ADMIN_USER\" -p \"$SYNAPSE_ADMIN_PASSWORD\" --admin --exists-ok http://localhost:{HTTP_PORT}"
                ),
            ],
        ));
        c.memory_hint_mib(1024);
        c
    }
}
