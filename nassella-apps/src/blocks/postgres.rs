//! A Postgres database service with its data volume, a health check and a pre-backup dump.
//!
//! [`Postgres::add_to`] declares, in the app's contribution:
//!
//! - the volume `db`, mounted where the image's major version wants it ([`data_mount`]): Postgres
//!   ≥ 18 declares its volume at `/var/lib/postgresql` (data in `18/docker`), ≤ 17 at
//!   `/var/lib/postgresql/data`. Mounting the other path silently writes into an anonymous volume.
//! - the volume `db-dump` at `/dump`, both backed up;
//! - the internal network `db` (no egress), unless the app passes one of its own
//!   ([`Postgres::network`]);
//! - the secret `db-password` (32 letters and digits, so it can sit unescaped in a URL);
//! - the service (`db` unless renamed) with `POSTGRES_DB`, `POSTGRES_USER`,
//!   `POSTGRES_PASSWORD`, and a `pg_isready` health check over TCP (the entrypoint's temporary
//!   init server listens on the socket only, so the check fails until the real server runs);
//! - the pre-backup hook: `pg_dump --format=custom` (portable across Postgres majors) into
//!   `/dump/<database>.pgdump`, or `pg_dumpall` into `/dump/<database>.sql` with
//!   [`Postgres::dump_all`], written to a `.tmp` file and renamed, so a failed dump never
//!   replaces the last good one.
//!
//! Source: docker-library/docs `postgres/content.md` (environment, Postgres ≥ 18 mount path).

use nassella_core::{
    BackupHook, Contribution, Healthcheck, Network, NetworkHandle, Secret, SecretFormat, SecretRef,
    Service, Volume,
};

/// Where Postgres ≥ 18 wants its volume.
pub const MOUNT_SINCE_18: &str = "/var/lib/postgresql";
/// Where Postgres ≤ 17 wants its volume.
pub const MOUNT_BEFORE_18: &str = "/var/lib/postgresql/data";

/// The major version in an image's tag (`postgres:17-alpine` → 17,
/// `ghcr.io/immich-app/postgres:14-vectorchord…` → 14), if the tag starts with one.
#[must_use]
pub fn major_version(image: &str) -> Option<u32> {
    let name = image.split('@').next().unwrap_or(image);
    let (_, tag) = name.rsplit_once(':')?;
    if tag.contains('/') {
        return None; // a registry port, not a tag
    }
    let digits: String = tag.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// Where the data volume goes for a Postgres major version.
#[must_use]
pub fn data_mount(major: u32) -> &'static str {
    if major >= 18 {
        MOUNT_SINCE_18
    } else {
        MOUNT_BEFORE_18
    }
}

/// A Postgres service to add to an app's contribution (see the [module](self) documentation).
#[derive(Debug, Clone)]
pub struct Postgres<'a> {
    image: &'a str,
    database: &'a str,
    user: &'a str,
    service: &'a str,
    major: Option<u32>,
    network: Option<&'a NetworkHandle>,
    initdb_args: Option<&'a str>,
    shm_size: Option<&'a str>,
    dump_args: Option<&'a str>,
    dump_all: bool,
}

/// What [`Postgres::add_to`] declared that the app's own services need.
#[derive(Debug, Clone)]
pub struct Db<'a> {
    /// The service name, the host name clients connect to (`db` unless renamed).
    pub service: &'a str,
    /// The password secret (`db-password`).
    pub password: SecretRef,
    /// The network the database is on: the internal `db` network, or the one the app passed.
    pub network: NetworkHandle,
}

impl<'a> Postgres<'a> {
    /// A service `db` running `image`, with a database `database` owned by a user of the same
    /// name. The data mount follows the major version in the image's tag ([`major_version`]);
    /// an image whose tag does not start with it (a digest) needs [`Postgres::major`].
    #[must_use]
    pub fn new(image: &'a str, database: &'a str) -> Self {
        Self {
            image,
            database,
            user: database,
            service: "db",
            major: None,
            network: None,
            initdb_args: None,
            shm_size: None,
            dump_args: None,
            dump_all: false,
        }
    }

    /// Another user name than the database's.
    #[must_use]
    pub fn user(mut self, user: &'a str) -> Self {
        self.user = user;
        self
    }

    /// Another service name than `db`.
    #[must_use]
    pub fn service(mut self, name: &'a str) -> Self {
        self.service = name;
        self
    }

    /// The image's Postgres major version, when its tag does not start with it. Without it (and
    /// without a version in the tag) the volume goes where Postgres ≥ 18 wants it.
    #[must_use]
    pub fn major(mut self, major: u32) -> Self {
        self.major = Some(major);
        self
    }

    /// Join the app's own network instead of declaring the internal `db` network.
    #[must_use]
    pub fn network(mut self, network: &'a NetworkHandle) -> Self {
        self.network = Some(network);
        self
    }

    /// `POSTGRES_INITDB_ARGS`, read when the data volume is initialised.
    #[must_use]
    pub fn initdb_args(mut self, args: &'a str) -> Self {
        self.initdb_args = Some(args);
        self
    }

    /// The size of `/dev/shm` (Docker's default is 64 MB).
    #[must_use]
    pub fn shm_size(mut self, size: &'a str) -> Self {
        self.shm_size = Some(size);
        self
    }

    /// Extra `pg_dump` options, after `--format=custom` (e.g. `--exclude-table-data=…`).
    #[must_use]
    pub fn dump_args(mut self, args: &'a str) -> Self {
        self.dump_args = Some(args);
        self
    }

    /// Back up with `pg_dumpall --clean --if-exists` (roles and every database, as plain SQL
    /// in `/dump/<database>.sql`) instead of `pg_dump` of the one database.
    #[must_use]
    pub fn dump_all(mut self) -> Self {
        self.dump_all = true;
        self
    }

    /// Where the data volume is mounted.
    #[must_use]
    pub fn mount_path(&self) -> &'static str {
        data_mount(
            self.major
                .or_else(|| major_version(self.image))
                .unwrap_or(18),
        )
    }

    /// The file the pre-backup hook writes, inside the service.
    #[must_use]
    pub fn dump_file(&self) -> String {
        let ext = if self.dump_all { "sql" } else { "pgdump" };
        format!("/dump/{}.{ext}", self.database)
    }

    /// Declare the volumes, network, secret, service and backup hook in `c`.
    #[track_caller]
    pub fn add_to(self, c: &mut Contribution) -> Db<'a> {
        let data = c.volume(Volume::new("db").backed_up());
        let dumps = c.volume(Volume::new("db-dump").backed_up());
        let network = match self.network {
            Some(n) => n.clone(),
            None => c.network(Network::internal("db")),
        };
        let password = c.secret(Secret::new("db-password", SecretFormat::Alphanumeric(32)));

        let mut service = Service::new(self.service, self.image)
            .env("POSTGRES_DB", self.database)
            .env("POSTGRES_USER", self.user)
            .env("POSTGRES_PASSWORD", &password);
        if let Some(args) = self.initdb_args {
            service = service.env("POSTGRES_INITDB_ARGS", args);
        }
        if let Some(size) = self.shm_size {
            service = service.shm_size(size);
        }
        c.service(
            service
                .mount(&data, self.mount_path())
                .mount(&dumps, "/dump")
                .network(&network)
                .healthcheck(Healthcheck::cmd([
                    "pg_isready",
                    "-h",
                    "127.0.0.1",
                    "-U",
                    self.user,
                    "-d",
                    self.database,
                ])),
        );

        let (user, db, dump) = (self.user, self.database, self.dump_file());
        let command = if self.dump_all {
            format!(
                "pg_dumpall --clean --if-exists --username={user} --file={dump}.tmp && mv {dump}.tmp {dump}"
            )
        } else {
            let extra = self.dump_args.map(|a| format!(" {a}")).unwrap_or_default();
            format!(
                "pg_dump --username={user} --dbname={db} --format=custom{extra} --file={dump}.tmp && mv {dump}.tmp {dump}"
            )
        };
        c.backup_hook(BackupHook::new(
            self.service,
            ["sh", "-c", command.as_str()],
        ));

        Db {
            service: self.service,
            password,
            network,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn major_versions_from_tags() {
        assert_eq!(major_version("postgres:18-alpine"), Some(18));
        assert_eq!(major_version("postgres:17"), Some(17));
        assert_eq!(
            major_version("ghcr.io/immich-app/postgres:14-vectorchord0.4.3-pgvectors0.2.0"),
            Some(14)
        );
        assert_eq!(major_version("postgres"), None);
        assert_eq!(major_version("registry:5000/postgres"), None);
        assert_eq!(major_version("postgres@sha256:abc"), None);
    }

    #[test]
    fn mount_follows_the_major() {
        assert_eq!(
            Postgres::new("postgres:18-alpine", "x").mount_path(),
            MOUNT_SINCE_18
        );
        assert_eq!(
            Postgres::new("postgres:16-alpine", "x").mount_path(),
            MOUNT_BEFORE_18
        );
        assert_eq!(
            Postgres::new("postgres@sha256:abc", "x")
                .major(17)
                .mount_path(),
            MOUNT_BEFORE_18
        );
    }
}
