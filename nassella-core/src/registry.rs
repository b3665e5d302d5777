//! Where the server pulls images from: a pull-through mirror for Docker Hub, and a login.
//!
//! Docker Hub limits anonymous pulls per source IP, and the catalog's images mostly come from
//! it: a first boot pulling many images can hit the limit. A mirror goes into Docker's
//! `daemon.json` (`registry-mirrors`); a login into a mode-0600 Docker client config that the
//! instance's scripts use through `DOCKER_CONFIG`. The password is never in the config file: it
//! is named by an environment variable (`password_env`) and read when the bundle is built, like
//! an SMTP password.

use crate::problem::ProblemKind as P;
use crate::report::{Origin, Report};

/// Docker Hub's registry key in a Docker client config.
pub const DOCKER_HUB: &str = "https://index.docker.io/v1/";
/// Docker's daemon configuration on the server.
pub const DAEMON_JSON: &str = "/etc/docker/daemon.json";
/// The Docker client configuration folder the scripts use (`DOCKER_CONFIG`).
pub const CLIENT_CONFIG_DIR: &str = "/etc/nassella/docker-config";

/// Registry settings of a stack (`[registry]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registry {
    pub(crate) mirror: Option<String>,
    pub(crate) username: Option<String>,
    pub(crate) password_env: Option<String>,
    pub(crate) origin: Origin,
}

impl Registry {
    /// No mirror, no login.
    #[track_caller]
    #[must_use]
    pub fn new() -> Self {
        Self {
            mirror: None,
            username: None,
            password_env: None,
            origin: Origin::caller(),
        }
    }

    /// Pull Docker Hub images through `url` (e.g. `https://mirror.example.com`).
    #[must_use]
    pub fn mirror(mut self, url: impl Into<String>) -> Self {
        self.mirror = Some(url.into());
        self
    }

    /// Log in to Docker Hub as `username` with the password (or access token) held by the
    /// environment variable `password_env` when the bundle is built.
    #[must_use]
    pub fn login(self, username: impl Into<String>, password_env: impl Into<String>) -> Self {
        self.username(username).password_from_env(password_env)
    }

    /// The Docker Hub user name (a login needs [`Self::password_from_env`] too).
    #[must_use]
    pub fn username(mut self, username: impl Into<String>) -> Self {
        self.username = Some(username.into());
        self
    }

    /// The environment variable holding the password (a login needs [`Self::username`] too).
    #[must_use]
    pub fn password_from_env(mut self, var: impl Into<String>) -> Self {
        self.password_env = Some(var.into());
        self
    }

    /// Where the settings were declared.
    #[must_use]
    pub fn declared_at(mut self, origin: Origin) -> Self {
        self.origin = origin;
        self
    }

    /// The environment variable holding the password, if a login is configured.
    #[must_use]
    pub fn password_env(&self) -> Option<&str> {
        self.password_env.as_deref()
    }
}

impl Default for Registry {
    fn default() -> Self {
        Self::new()
    }
}

/// `https://host[:port][/]` with a plain host name or IPv4 address: what `registry-mirrors`
/// takes, and nothing that could add a key to `daemon.json` (it is serialized by serde anyway).
fn valid_mirror(url: &str) -> bool {
    let Some(rest) = url.strip_prefix("https://") else {
        return false;
    };
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (rest, None),
    };
    let host_ok = !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    let port_ok = port.is_none_or(|p| {
        p.bytes().all(|b| b.is_ascii_digit()) && p.parse::<u16>().is_ok_and(|n| n > 0)
    });
    host_ok && port_ok
}

fn valid_env_name(v: &str) -> bool {
    v.starts_with(|c: char| c.is_ascii_uppercase() || c == '_')
        && v.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
        && !v.starts_with("NASSELLA_")
}

/// Check the settings; problems go to `r` under `registry.…`.
pub(crate) fn check(reg: Option<&Registry>, r: &mut Report) {
    let Some(reg) = reg else { return };
    let o = Some(&reg.origin);
    if let Some(m) = &reg.mirror {
        if !valid_mirror(m) {
            r.error(
                "registry.mirror",
                o,
                P::InvalidInstance(format!(
                    "mirror `{}` must be an https URL of a host and optional port, e.g. `https://mirror.example.com` or `https://10.0.0.5:5000`",
                    m.escape_debug()
                )),
            );
        }
    }
    match (&reg.username, &reg.password_env) {
        (Some(u), Some(p)) => {
            if u.is_empty()
                || u.len() > 100
                || !u
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._@+-".contains(&b))
            {
                r.error(
                    "registry.username",
                    o,
                    P::InvalidInstance(format!(
                        "user name `{}` must be 1 to 100 letters, digits and `._@+-`",
                        u.escape_debug()
                    )),
                );
            }
            if !valid_env_name(p) {
                r.error(
                    "registry.password_env",
                    o,
                    P::InvalidInstance(format!(
                        "`{}` is not an environment variable name: use `[A-Z_][A-Z0-9_]*`, not starting with NASSELLA_, e.g. `DOCKERHUB_TOKEN`",
                        p.escape_debug()
                    )),
                );
            }
        }
        (Some(_), None) => r.error(
            "registry.password_env",
            o,
            P::InvalidInstance(
                "a login needs a password: name the environment variable that holds it, e.g. password_env = \"DOCKERHUB_TOKEN\"".into(),
            ),
        ),
        (None, Some(_)) => r.error(
            "registry.username",
            o,
            P::InvalidInstance("a password needs a user name: set username".into()),
        ),
        (None, None) => {}
    }
}

/// `daemon.json` for a mirror.
pub(crate) fn daemon_json(mirror: &str) -> String {
    let v = serde_json::json!({ "registry-mirrors": [mirror] });
    serde_json::to_string_pretty(&v).expect("JSON") + "\n"
}

/// The Docker client config with the login: (real, view without the secret).
pub(crate) fn client_config(username: &str, password: &str) -> (String, String) {
    use base64::Engine as _;
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
    let make = |auth: &str| {
        let v = serde_json::json!({ "auths": { DOCKER_HUB: { "auth": auth } } });
        serde_json::to_string_pretty(&v).expect("JSON") + "\n"
    };
    (make(&auth), make("<secret:registry/password>"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirror_urls() {
        for ok in [
            "https://mirror.example.com",
            "https://mirror.example.com/",
            "https://10.0.0.5:5000",
        ] {
            assert!(valid_mirror(ok), "{ok}");
        }
        for bad in [
            "http://mirror.example.com",
            "https://",
            "https://mirror.example.com/path",
            "https://mirror.example.com:99999",
            "https://a b.com",
            "https://x.com\"],\"debug\":true,\"a\":[\"",
            "https://-x.com",
            "mirror.example.com",
        ] {
            assert!(!valid_mirror(bad), "{bad}");
        }
    }

    #[test]
    fn client_config_holds_the_login_and_the_view_does_not() {
        let (real, view) = client_config("me", "s3cret:x");
        let v: serde_json::Value = serde_json::from_str(&real).unwrap();
        // base64("me:s3cret:x")
        assert_eq!(v["auths"][DOCKER_HUB]["auth"], "bWU6czNjcmV0Ong=");
        assert!(!view.contains("bWU6") && view.contains("<secret:registry/password>"));
    }
}
