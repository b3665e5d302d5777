//! Forgejo: a self-hosted Git forge.
//!
//! Deploys, per app id, one service `app` running [`IMAGE`] (HTTP on port 3000) with SQLite and
//! everything else in the `data` volume at `/data` (`gitea/conf/app.ini`, `git/repositories`,
//! `gitea/` with LFS objects, attachments, avatars, indexers and the SSH host keys, and
//! `gitea/gitea.db`).
//!
//! - The web installer is skipped (`INSTALL_LOCK=true`); the first account registered becomes
//!   the administrator (see docs/apps/forgejo.md). While `signups_allowed`, later accounts wait
//!   for an administrator's approval (`REGISTER_MANUAL_CONFIRM`).
//! - `ROOT_URL` and `DOMAIN` come from the host; the proxy subnet is added to
//!   `REVERSE_PROXY_TRUSTED_PROXIES` (the default trusts only loopback), so client addresses in
//!   `X-Forwarded-For` are believed only from Caddy.
//! - `SECRET_KEY`, `INTERNAL_TOKEN`, `LFS_JWT_SECRET` and the OAuth2 `JWT_SECRET` are derived
//!   secrets passed as `FORGEJO__section__KEY` variables, so a redeploy (or a restore onto a new
//!   server) keeps them. Forgejo decodes the two JWT secrets as unpadded base64url of exactly 32
//!   bytes and *replaces* an undecodable one with a fresh random value on every start; 43
//!   characters of `A-Za-z0-9` are such a string.
//! - Git over SSH only when `ssh_port` is set: the host port is published straight to the
//!   container's OpenSSH on port 22 and clone URLs use it. Otherwise `DISABLE_SSH=true` and no
//!   port is published.
//! - Backups: no hook. Forgejo's docs ask for a shutdown (or a file-system snapshot) for a
//!   consistent copy, which is what the daily backup does: it stops the app, copies `/data`, and
//!   starts it again.
//!
//! Sources (`reference/apps.md` §4 and §X): forgejo.org/docs/latest/admin/installation/docker,
//! `/setup/reverse-proxy`, `/config-cheat-sheet` (`REVERSE_PROXY_TRUSTED_PROXIES`,
//! `DISABLE_SSH`, `REGISTER_MANUAL_CONFIRM`, `LFS_JWT_SECRET`, `[oauth2] JWT_SECRET`),
//! `/upgrade`, `/command-line`, `/release-schedule`; Forgejo source `docker/root/etc/s6/gitea/setup`
//! (app.ini template, then `environment-to-ini`), `modules/generate/generate.go` (JWT secret
//! format), `Dockerfile` (curl present, `/data` volume).

use crate::gitea_family::{self, Forge};
use nassella_core::{App, AppContext, Contribution, SettingProblem};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::blocks::smtp::Smtp;

/// The Forgejo image: the 15 LTS line (supported to 2027-07), following its minor and patch
/// releases. Major upgrades need manual steps, so moving to 16+ is a deliberate change here.
pub const IMAGE: &str = "codeberg.org/forgejo/forgejo:15";

/// Forgejo's HTTP port.
pub const HTTP_PORT: u16 = gitea_family::HTTP_PORT;
/// The prefix of the `FORGEJO__section__KEY` variables the image writes into `app.ini`.
const ENV_PREFIX: &str = "FORGEJO";

/// Settings of a Forgejo app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Forgejo {
    /// The public hostname, e.g. `git.example.com`. SSH clone URLs use it too.
    pub host: String,
    /// Publish git over SSH on this host port (e.g. 22 or 2222). Without it SSH is disabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub ssh_port: Option<u16>,
    /// Let visitors register (default true). The first account becomes the administrator;
    /// later ones wait for an administrator's approval.
    #[serde(default = "yes")]
    pub signups_allowed: bool,
    /// Outgoing mail (account confirmation, password resets, notifications): an SMTP server and a
    /// login whose password is read from an environment variable. Without it, mail is off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smtp: Option<Smtp>,
    #[serde(skip)]
    id: Option<String>,
}

fn yes() -> bool {
    true
}

impl Forgejo {
    /// Serve Forgejo at `host`, without SSH, sign-ups open (with approval after the first).
    #[must_use]
    pub fn new(host: impl Into<String>) -> Self {
        Self {
            host: host.into(),
            ssh_port: None,
            signups_allowed: true,
            smtp: None,
            id: None,
        }
    }

    /// Use another id than `forgejo`.
    #[must_use]
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
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

    /// Allow or forbid registration.
    #[must_use]
    pub fn signups_allowed(mut self, allowed: bool) -> Self {
        self.signups_allowed = allowed;
        self
    }
}

impl App for Forgejo {
    fn kind(&self) -> &str {
        "forgejo"
    }

    fn id(&self) -> &str {
        self.id.as_deref().unwrap_or("forgejo")
    }

    fn check(&self) -> Vec<SettingProblem> {
        gitea_family::check(self.ssh_port, self.smtp.as_ref())
    }

    fn contribute(&self, cx: &AppContext<'_>) -> Contribution {
        Forge {
            image: IMAGE,
            env_prefix: ENV_PREFIX,
            host: &self.host,
            ssh_port: self.ssh_port,
            smtp: self.smtp.as_ref(),
            signups_allowed: self.signups_allowed,
        }
        .contribute(cx)
    }
}

impl crate::CatalogApp for Forgejo {
    const KIND: &'static str = "forgejo";
    const SUMMARY: &'static str =
        "A self-hosted Git forge (Forgejo with SQLite; optional git over SSH)";

    fn with_id(self, id: &str) -> Self {
        self.id(id)
    }

    fn example() -> Self {
        Self::new("git.example.com")
    }
}
