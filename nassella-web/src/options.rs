//! The command line and environment of `nassella-web`.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, ValueEnum};
use ipnet::IpNet;

/// Nassella's web app: tenants configure, deploy and back up their instances from a browser.
///
/// Started with no options it runs on its own: a private PostgreSQL cluster in the state folder,
/// a key for the secrets created there, and one local administrator whose first password is
/// printed once. It listens on 127.0.0.1:8080. For a shared deployment, give it a PostgreSQL
/// URL, the operator's key, and LDAP or a forward-auth proxy (Authelia); docs/web.md explains
/// each mode.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "nassella-web",
    version,
    max_term_width = 100,
    after_help = "Environment without a flag:\n  \
        NASSELLA_WEB_KEY     the operator's key itself (64 hex digits); wins over --key-file\n  \
        NASSELLA_WEB_LOG     log filter (default `info,sqlx=warn`; e.g. `debug`)\n  \
        NASSELLA_WEB_AS_CLI  set to 1: this executable is the `nassella` CLI (jobs run it so)\n\n\
        docs/web.md explains the sign-in modes, the key and the embedded default."
)]
pub struct Options {
    /// Address and port to listen on. Keep it on a loopback address unless a TLS-terminating
    /// proxy sits in front.
    #[arg(long, env = "NASSELLA_WEB_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// PostgreSQL URL (`postgres://user:password@host/db`). Without it, a private cluster is
    /// created and run in `<state-dir>/postgres` (Debian's PostgreSQL binaries) and stopped on
    /// exit. Replicas of one deployment share one database.
    #[arg(long, env = "NASSELLA_WEB_DATABASE_URL")]
    pub database_url: Option<String>,

    /// Folder for the embedded database, the generated key file and each instance's working
    /// state. Default: $XDG_STATE_HOME/nassella-web, else /var/lib/nassella-web when run as
    /// root, else ~/.local/state/nassella-web.
    #[arg(long, env = "NASSELLA_WEB_STATE_DIR")]
    pub state_dir: Option<PathBuf>,

    /// File holding the operator's key (64 hex digits, mode 0600) that seals master keys, cloud
    /// tokens and repository credentials in the database. $NASSELLA_WEB_KEY (the 64 hex digits
    /// themselves) wins over it. Without either: the embedded mode creates
    /// `<state-dir>/web.key`; with --database-url it is an error. Losing it loses every secret.
    #[arg(long, env = "NASSELLA_WEB_KEY_FILE")]
    pub key_file: Option<PathBuf>,

    /// How people sign in: `local` (the embedded mode's administrator; default without
    /// --database-url), `ldap` (a bind against --ldap-url with the user's password), or `proxy`
    /// (the Remote-User / Remote-Groups / Remote-Email headers of a forward-auth proxy such as
    /// Authelia, trusted only from --trusted-proxy addresses).
    #[arg(long, env = "NASSELLA_WEB_AUTH", value_enum)]
    pub auth: Option<AuthMode>,

    /// Addresses (CIDR, repeatable or comma-separated) whose forward-auth headers are trusted.
    /// A request from anywhere else that carries Remote-User, Remote-Groups or Remote-Email is
    /// refused (403) and logged, whatever --auth is.
    #[arg(
        long = "trusted-proxy",
        env = "NASSELLA_WEB_TRUSTED_PROXIES",
        value_delimiter = ','
    )]
    pub trusted_proxies: Vec<IpNet>,

    /// LDAP server, `ldap://host:389` (for --auth ldap).
    #[arg(long, env = "NASSELLA_WEB_LDAP_URL")]
    pub ldap_url: Option<String>,

    /// The DN a user binds as, `{user}` replaced by the escaped user name.
    #[arg(
        long,
        env = "NASSELLA_WEB_LDAP_USER_DN",
        default_value = "uid={user},ou=people,dc=example,dc=org"
    )]
    pub ldap_user_dn: String,

    /// Where the groups are searched (groupOfNames whose `member` is the user's DN).
    #[arg(
        long,
        env = "NASSELLA_WEB_LDAP_GROUP_BASE",
        default_value = "ou=groups,dc=example,dc=org"
    )]
    pub ldap_group_base: String,

    /// Prefix of the group names that grant access: a group `<prefix><tenant>-<role>` (role
    /// viewer, operator or admin) makes its members that role in that tenant, e.g.
    /// `nassella-acme-operator`. Used for LDAP groups and for Remote-Groups alike.
    #[arg(long, env = "NASSELLA_WEB_GROUP_PREFIX", default_value = "nassella-")]
    pub group_prefix: String,

    /// Send the session cookie without the Secure flag, for plain HTTP on a loopback address
    /// only (refused on any other listen address). On by default in the embedded mode.
    #[arg(long, env = "NASSELLA_WEB_INSECURE_COOKIE")]
    pub insecure_cookie: bool,

    /// Sessions end after this many hours without a request.
    #[arg(long, env = "NASSELLA_WEB_SESSION_HOURS", default_value_t = 12)]
    pub session_hours: u32,

    /// Sign-in attempts allowed per client address and per user name each minute.
    #[arg(long, env = "NASSELLA_WEB_LOGIN_PER_MINUTE", default_value_t = 10)]
    pub login_per_minute: u32,

    /// How many jobs (deploys, backups, …) this replica runs at once; one at a time per instance.
    #[arg(long, env = "NASSELLA_WEB_WORKERS", default_value_t = 4)]
    pub workers: usize,

    /// The program a job runs as the `nassella` command. Default: this executable, which acts as
    /// the `nassella` CLI when NASSELLA_WEB_AS_CLI=1 is set.
    #[arg(long, env = "NASSELLA_WEB_CLI")]
    pub cli: Option<PathBuf>,
}

/// How people sign in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AuthMode {
    /// The embedded mode's local administrator (password in the database, argon2).
    Local,
    /// A bind against an LDAP server (OpenLDAP) with the user's own password.
    Ldap,
    /// Forward-auth headers from a trusted proxy (Authelia).
    Proxy,
}

impl Options {
    /// The state folder.
    #[must_use]
    pub fn state_dir(&self) -> PathBuf {
        if let Some(d) = &self.state_dir {
            return d.clone();
        }
        if let Some(base) = std::env::var_os("XDG_STATE_HOME") {
            return PathBuf::from(base).join("nassella-web");
        }
        // Run by root, the embedded PostgreSQL runs as `postgres`, which cannot enter root's
        // home (mode 0700): keep a root service's state where services keep theirs.
        if running_as_root() {
            return PathBuf::from("/var/lib/nassella-web");
        }
        std::env::var_os("HOME")
            .map(|h| PathBuf::from(h).join(".local/state"))
            .unwrap_or_else(|| PathBuf::from("."))
            .join("nassella-web")
    }

    /// The sign-in mode in force.
    #[must_use]
    pub fn auth_mode(&self) -> AuthMode {
        self.auth.unwrap_or(if self.database_url.is_none() {
            AuthMode::Local
        } else {
            AuthMode::Ldap
        })
    }
}

/// Whether this process runs as root (the owner of `/proc/self` is the process's user).
fn running_as_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}
