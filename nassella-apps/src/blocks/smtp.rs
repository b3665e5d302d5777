//! Outgoing mail through the user's own SMTP provider: one settings table that every app sending
//! mail (invitations, password resets, notifications) takes the same way. The password is never
//! in the config file, which is meant to be committed: the config names an environment variable,
//! and `nassella` reads it when it builds the server's config (a
//! [`nassella_core::Secret::from_env`]; a missing variable is an error naming it).
//!
//! ```toml
//! [apps.vault]
//! app = "vaultwarden"
//! host = "vault.example.com"
//! smtp = { host = "smtp.example.com", from = "vault@example.com", username = "vault@example.com", password_env = "VAULT_SMTP_PASSWORD" }
//! ```

use nassella_core::{Contribution, Secret, SecretRef, SettingProblem, Value};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The name of the password secret in the app.
pub const PASSWORD_SECRET: &str = "smtp-password";

/// How an app reaches its SMTP server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Smtp {
    /// The SMTP server, e.g. `smtp.example.com`.
    pub host: String,
    /// Its port (default 587; 465 for `security = "tls"`).
    #[serde(default = "default_port")]
    pub port: u16,
    /// `starttls` (default: plain connection upgraded to TLS, port 587) or `tls` (TLS from the
    /// first byte, port 465). Unencrypted mail is not offered.
    #[serde(default)]
    pub security: SmtpSecurity,
    /// The sender address, e.g. `vault@example.com`.
    pub from: String,
    /// The login, when the server asks for one (often the sender address).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// The environment variable holding the password when `nassella` runs, e.g.
    /// `VAULT_SMTP_PASSWORD` — never the password itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_env: Option<String>,
}

/// How the SMTP connection is encrypted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SmtpSecurity {
    /// STARTTLS on a plain connection (usually port 587).
    #[default]
    Starttls,
    /// Implicit TLS (usually port 465).
    Tls,
}

fn default_port() -> u16 {
    587
}

impl Smtp {
    /// Mail through `host` (STARTTLS on port 587), sent as `from`, without a login.
    #[must_use]
    pub fn new(host: impl Into<String>, from: impl Into<String>) -> Self {
        Self {
            host: host.into(),
            port: default_port(),
            security: SmtpSecurity::Starttls,
            from: from.into(),
            username: None,
            password_env: None,
        }
    }

    /// Log in as `username` with the password in the environment variable `password_env`.
    #[must_use]
    pub fn login(mut self, username: impl Into<String>, password_env: impl Into<String>) -> Self {
        self.username = Some(username.into());
        self.password_env = Some(password_env.into());
        self
    }

    /// Implicit TLS on `port` instead of STARTTLS.
    #[must_use]
    pub fn tls(mut self, port: u16) -> Self {
        self.security = SmtpSecurity::Tls;
        self.port = port;
        self
    }

    /// The sender address split at its `@`: (local part, domain).
    #[must_use]
    pub fn from_parts(&self) -> (&str, &str) {
        self.from.split_once('@').unwrap_or((&self.from, ""))
    }

    /// Declare the password (when there is a login) and return the reference env values use.
    pub fn password(&self, c: &mut Contribution) -> Option<SecretRef> {
        self.password_env.as_ref().map(|var| {
            c.secret(Secret::from_env(PASSWORD_SECRET, var).for_setting("smtp.password_env"))
        })
    }

    /// The login under an app's own keys: `user_key` = the username and `password_key` = the
    /// password secret (declared here), each only when set.
    pub fn login_env(
        &self,
        c: &mut Contribution,
        user_key: &str,
        password_key: &str,
    ) -> Vec<(String, Value)> {
        let mut out = Vec::new();
        if let Some(user) = &self.username {
            out.push((user_key.to_owned(), Value::from(user)));
        }
        if let Some(password) = self.password(c) {
            out.push((password_key.to_owned(), Value::from(&password)));
        }
        out
    }

    /// `"true"` for implicit TLS, `"false"` for STARTTLS: how apps built on nodemailer (Ghost,
    /// Outline) spell `secure`.
    #[must_use]
    pub fn implicit_tls(&self) -> &'static str {
        match self.security {
            SmtpSecurity::Tls => "true",
            SmtpSecurity::Starttls => "false",
        }
    }

    /// What is wrong with these settings, at `smtp.<field>`.
    #[must_use]
    pub fn check(&self) -> Vec<SettingProblem> {
        let mut out = Vec::new();
        let host_ok = !self.host.is_empty()
            && self
                .host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
        if !host_ok {
            out.push(SettingProblem::new(
                "smtp.host",
                format!(
                    "`{}` is not a host name such as smtp.example.com",
                    self.host
                ),
            ));
        }
        if self.port == 0 {
            out.push(SettingProblem::new(
                "smtp.port",
                "the port must be 1 to 65535",
            ));
        }
        let (local, domain) = self.from_parts();
        if local.is_empty() || !domain.contains('.') || self.from.contains(['\'', '"', ' ', '\n']) {
            out.push(SettingProblem::new(
                "smtp.from",
                format!(
                    "`{}` is not an email address such as vault@example.com",
                    self.from
                ),
            ));
        }
        if let Some(u) = &self.username {
            if u.is_empty() || u.contains(['\'', '\n']) {
                out.push(SettingProblem::new(
                    "smtp.username",
                    "the login must not be empty or hold a `'` or a line break",
                ));
            }
        }
        match (&self.username, &self.password_env) {
            (Some(_), None) => out.push(SettingProblem::new(
                "smtp.password_env",
                "a login needs a password: name the environment variable that holds it, e.g. password_env = \"VAULT_SMTP_PASSWORD\"",
            )),
            (None, Some(_)) => out.push(SettingProblem::new(
                "smtp.username",
                "a password needs a login: set username (often the sender address)",
            )),
            _ => {}
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_checked_at_their_field() {
        assert!(Smtp::new("smtp.example.com", "a@example.com")
            .check()
            .is_empty());
        assert!(Smtp::new("smtp.example.com", "a@example.com")
            .login("a@example.com", "A_PASSWORD")
            .check()
            .is_empty());
        let fields = |s: Smtp| -> Vec<String> { s.check().into_iter().map(|p| p.field).collect() };
        assert_eq!(
            fields(Smtp::new("smtp example", "nobody")),
            ["smtp.host", "smtp.from"]
        );
        let mut half = Smtp::new("smtp.example.com", "a@example.com");
        half.username = Some("a".into());
        assert_eq!(fields(half), ["smtp.password_env"]);
    }
}
