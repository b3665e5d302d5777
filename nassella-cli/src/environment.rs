//! Every environment variable the CLI reads, read one way: through clap's `env`, so each is
//! listed in `--help` (secrets with their values hidden) and a command line flag, where one
//! exists, wins over the variable. The parsed values are kept for the whole run in [`get`].
//!
//! Two kinds of variables are not here, on purpose: the ones a config names itself (an app's
//! `password_env`, read by [`crate::keys::with_env_secrets`]), whose names only the config knows,
//! and the ones Nassella only passes through to the tools it runs (restic, Terraform and Docker
//! Compose read their own; `TF_CLI_ARGS` is extended with `-no-color`, never replaced).

use std::path::PathBuf;
use std::sync::OnceLock;

use anyhow::{bail, Result};

/// The variables, as global options of every command (`--help` lists them under
/// "Environment").
#[derive(Clone, Default, clap::Args)]
pub(crate) struct Environment {
    /// Where the instances' state folders are (master key, last bundle, Terraform state):
    /// `<dir>/<instance>/`. Default: ~/.local/state/nassella.
    #[arg(
        long,
        global = true,
        env = "NASSELLA_STATE_DIR",
        value_name = "DIR",
        help_heading = "Environment"
    )]
    pub state_dir: Option<PathBuf>,

    /// The master key itself (64 hex digits), instead of a key file. Only from the environment:
    /// a command line is visible to every user of the machine.
    #[arg(
        long = "master-key",
        global = true,
        env = "NASSELLA_MASTER_KEY",
        hide_env_values = true,
        value_name = "HEX",
        help_heading = "Environment"
    )]
    pub master_key: Option<String>,

    /// Hetzner Cloud API token (also read by Terraform's provider): a cloud server is shut
    /// down through the API before its volume is detached. Only from the environment.
    #[arg(
        long = "hcloud-token",
        global = true,
        env = "HCLOUD_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN",
        help_heading = "Environment"
    )]
    pub hcloud_token: Option<String>,

    /// DigitalOcean API token (also read by Terraform's provider). Only from the environment.
    #[arg(
        long = "digitalocean-token",
        global = true,
        env = "DIGITALOCEAN_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN",
        help_heading = "Environment"
    )]
    pub digitalocean_token: Option<String>,

    /// Hetzner API base URL (a test double); default https://api.hetzner.cloud/v1.
    #[arg(
        long = "hcloud-api",
        global = true,
        env = "NASSELLA_HCLOUD_API",
        value_name = "URL",
        help_heading = "Environment"
    )]
    pub hcloud_api: Option<String>,

    /// DigitalOcean API base URL (a test double); default https://api.digitalocean.com/v2.
    #[arg(
        long = "digitalocean-api",
        global = true,
        env = "NASSELLA_DIGITALOCEAN_API",
        value_name = "URL",
        help_heading = "Environment"
    )]
    pub digitalocean_api: Option<String>,

    /// S3 access key id of the backup repository (passed to the server's restic, and to the
    /// restic this machine runs). Only from the environment.
    #[arg(
        long = "aws-access-key-id",
        global = true,
        env = "AWS_ACCESS_KEY_ID",
        hide_env_values = true,
        value_name = "ID",
        help_heading = "Environment"
    )]
    pub aws_access_key_id: Option<String>,

    /// S3 secret access key of the backup repository. Only from the environment.
    #[arg(
        long = "aws-secret-access-key",
        global = true,
        env = "AWS_SECRET_ACCESS_KEY",
        hide_env_values = true,
        value_name = "KEY",
        help_heading = "Environment"
    )]
    pub aws_secret_access_key: Option<String>,

    /// Backblaze B2 account id of the backup repository. Only from the environment.
    #[arg(
        long = "b2-account-id",
        global = true,
        env = "B2_ACCOUNT_ID",
        hide_env_values = true,
        value_name = "ID",
        help_heading = "Environment"
    )]
    pub b2_account_id: Option<String>,

    /// Backblaze B2 account key of the backup repository. Only from the environment.
    #[arg(
        long = "b2-account-key",
        global = true,
        env = "B2_ACCOUNT_KEY",
        hide_env_values = true,
        value_name = "KEY",
        help_heading = "Environment"
    )]
    pub b2_account_key: Option<String>,

    /// The Docker Compose v2 binary of the local target. Default: `docker-compose` on PATH if
    /// it is v2, else the Docker CLI plugin.
    #[arg(
        long = "compose",
        global = true,
        env = "NASSELLA_COMPOSE",
        value_name = "PATH",
        help_heading = "Environment"
    )]
    pub compose: Option<PathBuf>,

    /// Turn colour off in everything Nassella runs (Terraform gets -no-color); any non-empty
    /// value counts (https://no-color.org). Colour is off anyway when the output is not a
    /// terminal.
    #[arg(
        long = "no-color",
        global = true,
        env = "NO_COLOR",
        value_name = "ANY",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "1",
        help_heading = "Environment"
    )]
    pub no_color: Option<String>,
}

/// The ids of the options that hold secrets: refused on the command line.
const SECRETS: [&str; 7] = [
    "master_key",
    "hcloud_token",
    "digitalocean_token",
    "aws_access_key_id",
    "aws_secret_access_key",
    "b2_account_id",
    "b2_account_key",
];

static ENV: OnceLock<Environment> = OnceLock::new();

/// The values of this run (all unset when the CLI did not parse them, e.g. in a library test).
pub(crate) fn get() -> &'static Environment {
    ENV.get_or_init(Environment::default)
}

/// Keep the parsed values for the run (first call wins).
pub(crate) fn set(env: Environment) {
    let _ = ENV.set(env);
}

/// Refuse a secret given as a command line option: it would be visible to every user of the
/// machine (`ps`) and kept in shell histories.
///
/// # Errors
/// Names the option and the variable to use instead.
pub(crate) fn refuse_secrets_on_command_line(
    m: &clap::ArgMatches,
    cmd: &clap::Command,
) -> Result<()> {
    for id in SECRETS {
        if m.try_contains_id(id).unwrap_or(false)
            && m.value_source(id) == Some(clap::parser::ValueSource::CommandLine)
        {
            let var = cmd
                .get_arguments()
                .find(|a| a.get_id() == id)
                .and_then(|a| a.get_env())
                .map_or_else(String::new, |v| v.to_string_lossy().into_owned());
            bail!("--{} is taken from the environment only ({var}): a command line is visible to every user of this machine", id.replace('_', "-"));
        }
    }
    if let Some((name, sub)) = m.subcommand() {
        if let Some(c) = cmd.find_subcommand(name) {
            refuse_secrets_on_command_line(sub, c)?;
        }
    }
    Ok(())
}

/// Names which variables are set, never a secret's value.
impl std::fmt::Debug for Environment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let set = |v: &Option<String>| if v.is_some() { "<set>" } else { "<unset>" };
        f.debug_struct("Environment")
            .field("state_dir", &self.state_dir)
            .field("master_key", &set(&self.master_key))
            .field("hcloud_token", &set(&self.hcloud_token))
            .field("digitalocean_token", &set(&self.digitalocean_token))
            .field("hcloud_api", &self.hcloud_api)
            .field("digitalocean_api", &self.digitalocean_api)
            .field("aws_access_key_id", &set(&self.aws_access_key_id))
            .field("aws_secret_access_key", &set(&self.aws_secret_access_key))
            .field("b2_account_id", &set(&self.b2_account_id))
            .field("b2_account_key", &set(&self.b2_account_key))
            .field("compose", &self.compose)
            .field("no_color", &self.no_color)
            .finish()
    }
}

impl Environment {
    /// The value of one of the variables above by its name (cloud API clients look theirs up
    /// by the provider's variable names).
    #[must_use]
    pub(crate) fn var(&self, name: &str) -> Option<String> {
        let v = match name {
            "HCLOUD_TOKEN" => &self.hcloud_token,
            "DIGITALOCEAN_TOKEN" => &self.digitalocean_token,
            "NASSELLA_HCLOUD_API" => &self.hcloud_api,
            "NASSELLA_DIGITALOCEAN_API" => &self.digitalocean_api,
            "AWS_ACCESS_KEY_ID" => &self.aws_access_key_id,
            "AWS_SECRET_ACCESS_KEY" => &self.aws_secret_access_key,
            "B2_ACCOUNT_ID" => &self.b2_account_id,
            "B2_ACCOUNT_KEY" => &self.b2_account_key,
            "NASSELLA_MASTER_KEY" => &self.master_key,
            _ => return None,
        };
        v.clone()
    }

    /// Whether colour is off (`NO_COLOR` set and not empty, or `--no-color`).
    #[must_use]
    pub(crate) fn no_color(&self) -> bool {
        self.no_color.as_deref().is_some_and(|v| !v.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_shows_a_secret() {
        let e = Environment {
            master_key: Some("00ff-secret".into()),
            hcloud_token: Some("tok-secret".into()),
            aws_secret_access_key: Some("aws-secret".into()),
            ..Environment::default()
        };
        let shown = format!("{e:?}");
        assert!(!shown.contains("secret\""), "{shown}");
        assert!(!shown.contains("-secret"), "{shown}");
        assert!(shown.contains("master_key: \"<set>\""), "{shown}");
    }
}
