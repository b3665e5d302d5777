//! A Redis or Valkey service: a cache, lock store or job queue on the app's internal network.
//!
//! Without a password ([`Redis::add_to`]) the image's command runs (or `<server> <args…>` when
//! [`Redis::args`] are given) and the health check is `<cli> ping`. With one
//! ([`Redis::add_with_password`]) the block declares the secret `redis-password` (32 letters
//! and digits) and runs the server through the image's entrypoint (which drops root and owns
//! `/data`) with `--requirepass "$REDIS_PASSWORD"`: the `$` reaches the container's shell
//! unexpanded by compose, so the password stays in the 0600 env file. The health check then
//! authenticates and waits for `PONG`.
//!
//! Data is kept only if the app gives a volume ([`Redis::data`]), mounted at `/data`; whether
//! it is backed up is the app's choice.

use nassella_core::{
    Contribution, Healthcheck, NetworkHandle, Secret, SecretFormat, SecretRef, Service, Volume,
};

/// A Redis or Valkey service to add to an app's contribution (see the [module](self)
/// documentation).
#[derive(Debug, Clone)]
pub struct Redis<'a> {
    image: &'a str,
    service: &'a str,
    server: &'static str,
    cli: &'static str,
    args: Vec<&'a str>,
    data: Option<Volume>,
}

impl<'a> Redis<'a> {
    /// A service `redis` running the Redis `image`.
    #[must_use]
    pub fn new(image: &'a str) -> Self {
        Self {
            image,
            service: "redis",
            server: "redis-server",
            cli: "redis-cli",
            args: Vec::new(),
            data: None,
        }
    }

    /// A service `redis` running the Valkey `image` (`valkey-server`, `valkey-cli`).
    #[must_use]
    pub fn valkey(image: &'a str) -> Self {
        Self {
            server: "valkey-server",
            cli: "valkey-cli",
            ..Self::new(image)
        }
    }

    /// Another service name than `redis`.
    #[must_use]
    pub fn service(mut self, name: &'a str) -> Self {
        self.service = name;
        self
    }

    /// Server options (e.g. `["--save", "", "--appendonly", "no"]`).
    #[must_use]
    pub fn args(mut self, args: impl IntoIterator<Item = &'a str>) -> Self {
        self.args.extend(args);
        self
    }

    /// Keep the server's data in `volume`, mounted at `/data`.
    #[must_use]
    pub fn data(mut self, volume: Volume) -> Self {
        self.data = Some(volume);
        self
    }

    /// Declare the service, without a password, on `network`.
    #[track_caller]
    pub fn add_to(self, c: &mut Contribution, network: &NetworkHandle) {
        let mut service = Service::new(self.service, self.image);
        if !self.args.is_empty() {
            service =
                service.command(std::iter::once(self.server).chain(self.args.iter().copied()));
        }
        if let Some(volume) = self.data.clone() {
            service = service.mount(&c.volume(volume), "/data");
        }
        c.service(
            service
                .network(network)
                .healthcheck(Healthcheck::cmd([self.cli, "ping"]).start_period_s(10)),
        );
    }

    /// Declare the secret `redis-password` and the service requiring it, on `network`; the
    /// password is returned for the clients.
    #[track_caller]
    pub fn add_with_password(self, c: &mut Contribution, network: &NetworkHandle) -> SecretRef {
        let password = c.secret(Secret::new(
            "redis-password",
            SecretFormat::Alphanumeric(32),
        ));
        let mut start = format!(
            "exec docker-entrypoint.sh {} --requirepass \"$REDIS_PASSWORD\"",
            self.server
        );
        for arg in &self.args {
            start.push(' ');
            start.push_str(&shell_word(arg));
        }
        let mut service = Service::new(self.service, self.image)
            .env("REDIS_PASSWORD", &password)
            .command(["sh", "-c", start.as_str()]);
        if let Some(volume) = self.data.clone() {
            service = service.mount(&c.volume(volume), "/data");
        }
        let ping = format!(
            "{} --no-auth-warning -a \"$REDIS_PASSWORD\" ping | grep -q PONG",
            self.cli
        );
        c.service(
            service
                .network(network)
                .healthcheck(Healthcheck::cmd(["sh", "-c", ping.as_str()]).start_period_s(10)),
        );
        password
    }
}

/// `arg` as one shell word: as is when it holds only safe characters, else single-quoted.
fn shell_word(arg: &str) -> String {
    let safe = !arg.is_empty()
        && arg
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+@%".contains(&b));
    if safe {
        arg.to_owned()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::shell_word;

    #[test]
    fn shell_words() {
        assert_eq!(shell_word("--save"), "--save");
        assert_eq!(shell_word(""), "''");
        assert_eq!(shell_word("a b"), "'a b'");
        assert_eq!(shell_word("it's"), r"'it'\''s'");
    }
}
