//! Forgejo and Gitea: self-hosted Git forges, one implementation with two flavours.
//!
//! Forgejo is a fork of Gitea and keeps its configuration (the `app.ini` sections, the
//! `<PREFIX>__section__KEY` environment, `/data`, port 3000, the health endpoint, the `admin`
//! command line), so [`Forge`] deploys both; a [`Flavour`] says which image, environment prefix
//! and command name. [`Forgejo`] and [`Gitea`] are the two catalog apps.
//!
//! Deploys, per app id, one service `app` running the flavour's image (the rootful image: s6
//! starts as root, fixes the owner of `/data` and runs the forge as `git`) with HTTP on port
//! 3000, SQLite, and everything else in the `data` volume at `/data` (`gitea/conf/app.ini`,
//! `git/repositories`, `gitea/` with LFS objects, attachments, avatars, indexers and the SSH host
//! keys, and `gitea/gitea.db`).
//!
//! - **The administrator** is created by a one-off job (once per data volume, after the app is
//!   healthy): `<forgejo|gitea> admin user create --admin` as the `git` user (`su-exec`, in the
//!   image), with `admin_user`, `admin_email` and the derived secret `admin-password`
//!   (`nassella secret <id> admin-password` prints it), not forced to change it. When the user
//!   exists already (a restore of a backup older than the job), the job checks that with
//!   `admin user list` and succeeds; any other failure fails the job, which reports it.
//! - **Sign-up is closed** by default (`DISABLE_REGISTRATION=true`): the forge would otherwise
//!   make the first account registered its administrator, and anyone reaching the site first could
//!   take it. With `signups_allowed`, visitors may register and each account waits for an
//!   administrator's approval (`REGISTER_MANUAL_CONFIRM`).
//! - The web installer is skipped (`INSTALL_LOCK=true`).
//! - `ROOT_URL` and `DOMAIN` come from the host; the proxy subnet is added to
//!   `REVERSE_PROXY_TRUSTED_PROXIES` (the default trusts only loopback), so client addresses in
//!   `X-Forwarded-For` are believed only from Caddy.
//! - `SECRET_KEY`, `INTERNAL_TOKEN`, `LFS_JWT_SECRET` and the OAuth2 `JWT_SECRET` are derived
//!   secrets passed as `<PREFIX>__section__KEY` variables, which the image writes into `app.ini`
//!   at every start, so a redeploy (or a restore onto a new server) keeps them. Both forges decode
//!   the two JWT secrets as unpadded base64url of exactly 32 bytes and *replace* an undecodable
//!   one with a fresh random value; 43 characters of `A-Za-z0-9` are such a string.
//! - Git over SSH only when `ssh_port` is set: the host port is published straight to the
//!   container's OpenSSH on port 22 and clone URLs use it. Otherwise `DISABLE_SSH=true` and no
//!   port is published.
//! - Backups: no hook. Both forges' docs ask for a shutdown (or a file-system snapshot) for a
//!   consistent copy, which is what the daily backup does: it stops the app, copies `/data`, and
//!   starts it again.
//!
//! Sources (`reference/apps.md` §4, §5 and §X): forgejo.org/docs/latest/admin/installation/docker,
//! `/setup/reverse-proxy`, `/config-cheat-sheet` (`REVERSE_PROXY_TRUSTED_PROXIES`,
//! `DISABLE_SSH`, `DISABLE_REGISTRATION`, `REGISTER_MANUAL_CONFIRM`, `LFS_JWT_SECRET`,
//! `[oauth2] JWT_SECRET`), `/upgrade`, `/command-line` (`admin user create`, `admin user list`),
//! `/release-schedule`; docs.gitea.com/installation/install-with-docker (image, `/data`,
//! `GITEA__section__KEY`), /administration/command-line, /administration/config-cheat-sheet,
//! /administration/backup-and-restore; github.com/go-gitea/gitea `cmd/admin_user_create.go`
//! (`--username`, `--email`, `--password`, `--admin`, `--must-change-password`),
//! `docker/root/etc/s6/gitea/setup` (app.ini template, then `environment-to-ini`),
//! `modules/generate/generate.go` (JWT secret format), `Dockerfile` (curl and su-exec present,
//! `GITEA_CUSTOM=/data/gitea`, `/data` volume); Gitea's CHANGELOG (1.25.5, 2026-03-10: security
//! fixes; 1.27.0, 2026-07: security fixes) and release notes up to 1.27.3 (2026-08-30).

use std::marker::PhantomData;

use crate::catalog_app;
use nassella_core::{
    App, AppContext, Contribution, Healthcheck, OneOffJob, Route, Secret, SecretFormat, Service,
    SettingProblem, TcpPort, Upstream, Volume,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::blocks::smtp::{Smtp, SmtpSecurity};
use crate::blocks::user_name::{email_problem, user_name_problem, Letters};

/// The HTTP port of both.
pub const HTTP_PORT: u16 = 3000;

/// What tells the two forges apart.
pub trait Flavour:
    std::fmt::Debug + Clone + Copy + PartialEq + Eq + Send + Sync + JsonSchema + 'static
{
    /// The catalog kind (`forgejo`, `gitea`).
    const KIND: &'static str;
    /// The catalog summary.
    const SUMMARY: &'static str;
    /// The image.
    const IMAGE: &'static str;
    /// The prefix of the `<PREFIX>__section__KEY` variables the image's `environment-to-ini`
    /// writes into `app.ini`.
    const ENV_PREFIX: &'static str;
    /// The command-line program in the image.
    const COMMAND: &'static str;
    /// The host of [`crate::CatalogApp::example`].
    const EXAMPLE_HOST: &'static str;
}

/// The Forgejo flavour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, JsonSchema)]
#[schemars(rename = "Forgejo")]
pub enum ForgejoFlavour {}

/// The Gitea flavour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, JsonSchema)]
#[schemars(rename = "Gitea")]
pub enum GiteaFlavour {}

impl Flavour for ForgejoFlavour {
    const KIND: &'static str = "forgejo";
    const SUMMARY: &'static str =
        "A self-hosted Git forge (Forgejo with SQLite; optional git over SSH)";
    /// The 15 LTS line (supported to 2027-07), following its minor and patch releases (each
    /// deploy pulls the tag afresh). Major upgrades need manual steps, so moving to 16+ is a
    /// deliberate change here.
    const IMAGE: &'static str = "codeberg.org/forgejo/forgejo:15";
    const ENV_PREFIX: &'static str = "FORGEJO";
    const COMMAND: &'static str = "forgejo";
    const EXAMPLE_HOST: &'static str = "git.example.com";
}

impl Flavour for GiteaFlavour {
    const KIND: &'static str = "gitea";
    const SUMMARY: &'static str =
        "A self-hosted Git forge (Gitea with SQLite; optional git over SSH)";
    /// The 1.27 line, following its patch releases: Gitea publishes security fixes as patch
    /// releases of the current minor line only (1.25.4 missed 1.25.5's), so the minor tag brings
    /// them with the next deploy. A new minor line is a deliberate change here.
    const IMAGE: &'static str = "docker.gitea.com/gitea:1.27";
    const ENV_PREFIX: &'static str = "GITEA";
    const COMMAND: &'static str = "gitea";
    const EXAMPLE_HOST: &'static str = "gitea.example.com";
}

/// Settings of a Forgejo app.
pub type Forgejo = Forge<ForgejoFlavour>;
/// Settings of a Gitea app.
pub type Gitea = Forge<GiteaFlavour>;

/// Settings of a Gitea-family forge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "{F}")]
pub struct Forge<F: Flavour> {
    /// The public hostname, e.g. `git.example.com`. SSH clone URLs use it too.
    pub host: String,
    /// Publish git over SSH on this host port (e.g. 22 or 2222). Without it SSH is disabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub ssh_port: Option<u16>,
    /// Let visitors register (default false); each new account then waits for an
    /// administrator's approval. The administrator is created at the first start either way.
    #[serde(default)]
    pub signups_allowed: bool,
    /// The administrator created at the first start (default `owner`): 1 to 40 letters, digits,
    /// `-`, `_` or `.`, starting and ending with a letter or digit. Its password is the derived
    /// secret `admin-password`.
    #[serde(default = "default_admin_user")]
    pub admin_user: String,
    /// The administrator's email address (default `<admin_user>@<host>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin_email: Option<String>,
    /// Outgoing mail (account confirmation, password resets, notifications): an SMTP server and a
    /// login whose password is read from an environment variable. Without it, mail is off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smtp: Option<Smtp>,
    #[serde(skip)]
    flavour: PhantomData<F>,
}

fn default_admin_user() -> String {
    "owner".into()
}

fn bool_str(b: bool) -> &'static str {
    if b {
        "true"
    } else {
        "false"
    }
}

impl<F: Flavour> Forge<F> {
    /// Serve the forge at `host`, without SSH, sign-up closed, administrator `owner`.
    #[must_use]
    pub fn new(host: impl Into<String>) -> Self {
        Self {
            host: host.into(),
            ssh_port: None,
            signups_allowed: false,
            admin_user: default_admin_user(),
            admin_email: None,
            smtp: None,
            flavour: PhantomData,
        }
    }

    /// Publish git over SSH on host port `port` (1 to 65535; the composer reports 0).
    #[must_use]
    pub fn ssh_port(mut self, port: u16) -> Self {
        self.ssh_port = Some(port);
        self
    }

    /// Send mail through this SMTP server.
    #[must_use]
    pub fn smtp(mut self, smtp: Smtp) -> Self {
        self.smtp = Some(smtp);
        self
    }

    /// Allow registration (each account waits for approval) or forbid it.
    #[must_use]
    pub fn signups_allowed(mut self, allowed: bool) -> Self {
        self.signups_allowed = allowed;
        self
    }

    /// The administrator created at the first start.
    #[must_use]
    pub fn admin_user(mut self, name: impl Into<String>) -> Self {
        self.admin_user = name.into();
        self
    }

    /// The administrator's email address.
    #[must_use]
    pub fn admin_email(mut self, email: impl Into<String>) -> Self {
        self.admin_email = Some(email.into());
        self
    }

    fn admin_email_or_default(&self) -> String {
        self.admin_email
            .clone()
            .unwrap_or_else(|| format!("{}@{}", self.admin_user, self.host))
    }
}

/// Why `name` cannot be a Gitea/Forgejo user name, if it cannot (`IsValidUsername`: letters,
/// digits, `-`, `_`, `.`; no special character first, last or twice in a row). `admin` and a
/// few others are reserved words in both.
fn forge_user_problem(name: &str) -> Option<String> {
    if let Some(p) = user_name_problem("admin_user", name, 40, Letters::Any, "-_.") {
        return Some(p);
    }
    let special = |b: u8| b"-_.".contains(&b);
    let bytes = name.as_bytes();
    let edges = special(bytes[0]) || special(bytes[bytes.len() - 1]);
    let doubled = bytes.windows(2).any(|w| special(w[0]) && special(w[1]));
    if edges || doubled {
        return Some(format!(
            "admin_user `{name}` must start and end with a letter or digit, without two of '-', '_', '.' in a row"
        ));
    }
    const RESERVED: [&str; 6] = ["admin", "api", "user", "org", "explore", "ghost"];
    RESERVED
        .contains(&name.to_ascii_lowercase().as_str())
        .then(|| {
            format!("admin_user `{name}` is reserved by the forge: choose another, e.g. `owner`")
        })
}

/// The one-off job that creates the administrator, as `git`; one line (it ends up in a systemd
/// `ExecStart=`). An existing user of that name (a restore older than the job) is success.
fn create_admin(command: &str) -> String {
    format!(
        "su-exec git {command} admin user create --admin --username \"$NASSELLA_ADMIN_USER\" --email \"$NASSELLA_ADMIN_EMAIL\" --password \"$NASSELLA_ADMIN_PASSWORD\" --must-change-password=false || {{ su-exec git {command} admin user list | awk '{{print $2}}' | grep -qxF \"$NASSELLA_ADMIN_USER\" && echo '{command}: the administrator exists already' >&2; }}"
    )
}

#[catalog_app(
    kind = F::KIND,
    summary = F::SUMMARY,
    example = Self::new(F::EXAMPLE_HOST)
)]
impl<F: Flavour> App for Forge<F> {
    fn check(&self) -> Vec<SettingProblem> {
        let mut out = Vec::new();
        if self.ssh_port == Some(0) {
            out.push(SettingProblem::new(
                "ssh_port",
                "ssh_port 0 is not a port: use 1 to 65535 (e.g. 22 or 2222)",
            ));
        }
        if let Some(p) = forge_user_problem(&self.admin_user) {
            out.push(SettingProblem::new("admin_user", p));
        }
        // The default (`<admin_user>@<host>`) is as good as its parts, which are checked.
        if let Some(p) = self
            .admin_email
            .as_deref()
            .and_then(|e| email_problem("admin_email", e))
        {
            out.push(SettingProblem::new("admin_email", p));
        }
        out.extend(self.smtp.as_ref().map(Smtp::check).unwrap_or_default());
        out
    }

    fn contribute(&self, cx: &AppContext<'_>) -> Contribution {
        let mut c = Contribution::new();
        let data = c.volume(Volume::new("data").backed_up());
        let secret_key = c.secret(Secret::new("secret-key", SecretFormat::Alphanumeric(64)));
        let internal_token = c.secret(Secret::new(
            "internal-token",
            SecretFormat::Alphanumeric(64),
        ));
        // 43 base64url characters = 32 bytes, what DecodeJwtSecret requires.
        let lfs_jwt = c.secret(Secret::new(
            "lfs-jwt-secret",
            SecretFormat::Alphanumeric(43),
        ));
        let oauth2_jwt = c.secret(Secret::new(
            "oauth2-jwt-secret",
            SecretFormat::Alphanumeric(43),
        ));
        let admin_password = c.secret(Secret::new(
            "admin-password",
            SecretFormat::Alphanumeric(24),
        ));

        let p = F::ENV_PREFIX;
        let mut app = Service::new("app", F::IMAGE)
            .env(format!("{p}__server__DOMAIN"), &self.host)
            .env(
                format!("{p}__server__ROOT_URL"),
                format!("{}/", cx.public_url(&self.host)),
            )
            .env(format!("{p}__server__HTTP_PORT"), HTTP_PORT.to_string())
            .env(format!("{p}__server__LFS_START_SERVER"), "true")
            .env(format!("{p}__server__LFS_JWT_SECRET"), &lfs_jwt)
            .env(format!("{p}__oauth2__JWT_SECRET"), &oauth2_jwt)
            .env(format!("{p}__security__INSTALL_LOCK"), "true")
            .env(format!("{p}__security__SECRET_KEY"), &secret_key)
            .env(format!("{p}__security__INTERNAL_TOKEN"), &internal_token)
            .env(
                format!("{p}__security__REVERSE_PROXY_TRUSTED_PROXIES"),
                cx.proxy_subnet(),
            )
            .env(format!("{p}__database__DB_TYPE"), "sqlite3")
            .env(format!("{p}__database__PATH"), "/data/gitea/gitea.db")
            .env(
                format!("{p}__service__DISABLE_REGISTRATION"),
                bool_str(!self.signups_allowed),
            )
            .env(
                format!("{p}__service__REGISTER_MANUAL_CONFIRM"),
                bool_str(self.signups_allowed),
            )
            // For the one-off job only (not `<PREFIX>__…`, so not written into app.ini).
            .env("NASSELLA_ADMIN_USER", &self.admin_user)
            .env("NASSELLA_ADMIN_EMAIL", self.admin_email_or_default())
            .env("NASSELLA_ADMIN_PASSWORD", &admin_password)
            .mount(&data, "/data")
            .port(HTTP_PORT)
            .healthcheck(
                Healthcheck::cmd([
                    "curl",
                    "-fsS",
                    "-o",
                    "/dev/null",
                    "http://127.0.0.1:3000/api/healthz",
                ])
                .start_period_s(60),
            );
        // app.ini keeps what was set before, so both states are written explicitly.
        app = match &self.smtp {
            Some(m) => {
                app = app
                    .env(format!("{p}__mailer__ENABLED"), "true")
                    .env(
                        format!("{p}__mailer__PROTOCOL"),
                        match m.security {
                            SmtpSecurity::Starttls => "smtp+starttls",
                            SmtpSecurity::Tls => "smtps",
                        },
                    )
                    .env(format!("{p}__mailer__SMTP_ADDR"), &m.host)
                    .env(format!("{p}__mailer__SMTP_PORT"), m.port.to_string())
                    .env(format!("{p}__mailer__FROM"), &m.from);
                for (k, v) in m.login_env(
                    &mut c,
                    &format!("{p}__mailer__USER"),
                    &format!("{p}__mailer__PASSWD"),
                ) {
                    app = app.env(k, v);
                }
                app
            }
            None => app.env(format!("{p}__mailer__ENABLED"), "false"),
        };
        app = match self.ssh_port {
            Some(port) => {
                c.tcp_port(TcpPort::new(port, "app", 22));
                app.env(format!("{p}__server__DISABLE_SSH"), "false")
                    .env(format!("{p}__server__SSH_DOMAIN"), &self.host)
                    .env(format!("{p}__server__SSH_PORT"), port.to_string())
            }
            None => app.env(format!("{p}__server__DISABLE_SSH"), "true"),
        };
        c.service(app);
        c.route(Route::new(&self.host).proxy(Upstream::new("app", HTTP_PORT)));
        let create = create_admin(F::COMMAND);
        c.one_off_job(OneOffJob::new(
            "create-admin",
            "app",
            ["sh", "-c", create.as_str()],
        ));
        c.memory_hint_mib(512);
        c
    }
}
