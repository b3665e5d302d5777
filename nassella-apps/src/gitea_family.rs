//! What Forgejo and Gitea share: Forgejo is a fork of Gitea and keeps its configuration (the
//! `app.ini` sections, the `<PREFIX>__section__KEY` environment, `/data`, port 3000, the health
//! endpoint), so both apps deploy the same service; `forgejo.rs` and `gitea.rs` keep their
//! image, environment prefix, settings struct and docs.
//!
//! - The web installer is skipped (`INSTALL_LOCK=true`); the first account registered becomes
//!   the administrator. While `signups_allowed`, later accounts wait for an administrator's
//!   approval (`REGISTER_MANUAL_CONFIRM`).
//! - `ROOT_URL` and `DOMAIN` come from the host; the proxy subnet is added to
//!   `REVERSE_PROXY_TRUSTED_PROXIES`.
//! - `SECRET_KEY`, `INTERNAL_TOKEN`, `LFS_JWT_SECRET` and the OAuth2 `JWT_SECRET` are derived
//!   secrets; the JWT secrets are 43 characters of `A-Za-z0-9`, i.e. unpadded base64url of 32
//!   bytes, what `DecodeJwtSecret` requires.
//! - Git over SSH only when `ssh_port` is set (host port → the container's OpenSSH on 22);
//!   otherwise `DISABLE_SSH=true`.

use nassella_core::{
    AppContext, Contribution, Healthcheck, Route, Secret, SecretFormat, Service, SettingProblem,
    TcpPort, Upstream, Volume,
};

use crate::blocks::smtp::{Smtp, SmtpSecurity};

/// The HTTP port of both.
pub(crate) const HTTP_PORT: u16 = 3000;

/// One Gitea-family forge: the settings both apps have, plus what tells them apart.
pub(crate) struct Forge<'a> {
    /// The image.
    pub image: &'a str,
    /// The environment prefix the image's `environment-to-ini` reads (`FORGEJO`, `GITEA`).
    pub env_prefix: &'a str,
    /// The public hostname.
    pub host: &'a str,
    /// The host port of git over SSH, if any.
    pub ssh_port: Option<u16>,
    /// Whether visitors may register.
    pub signups_allowed: bool,
    /// Outgoing mail, if any.
    pub smtp: Option<&'a Smtp>,
}

/// The settings problems of `ssh_port` and `smtp`.
pub(crate) fn check(ssh_port: Option<u16>, smtp: Option<&Smtp>) -> Vec<SettingProblem> {
    let mut out = match ssh_port {
        Some(0) => vec![SettingProblem::new(
            "ssh_port",
            "ssh_port 0 is not a port: use 1 to 65535 (e.g. 22 or 2222)",
        )],
        _ => Vec::new(),
    };
    out.extend(smtp.map(Smtp::check).unwrap_or_default());
    out
}

fn bool_str(b: bool) -> &'static str {
    if b {
        "true"
    } else {
        "false"
    }
}

impl Forge<'_> {
    /// The service `app`, its volume, secrets, route and optional SSH port.
    #[track_caller]
    pub(crate) fn contribute(&self, cx: &AppContext<'_>) -> Contribution {
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

        let p = self.env_prefix;
        let mut app = Service::new("app", self.image)
            .env(format!("{p}__server__DOMAIN"), self.host)
            .env(
                format!("{p}__server__ROOT_URL"),
                format!("{}/", cx.public_url(self.host)),
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
        app = match self.smtp {
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
                    .env(format!("{p}__server__SSH_DOMAIN"), self.host)
                    .env(format!("{p}__server__SSH_PORT"), port.to_string())
            }
            None => app.env(format!("{p}__server__DISABLE_SSH"), "true"),
        };
        c.service(app);
        c.route(Route::new(self.host).proxy(Upstream::new("app", HTTP_PORT)));
        c.memory_hint_mib(512);
        c
    }
}
