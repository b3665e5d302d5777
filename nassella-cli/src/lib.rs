//! The `nassella` command line: thin glue over `nassella-core`. It reads a config file (or takes a
//! [`Stack`] from a Rust program), resolves the keys, writes the bundle atomically and reports
//! problems with their paths and lines.
//!
//! A deployment written in Rust hands its stack to [`main_with`], so it is driven by the same
//! commands: `cargo run -p examples --bin family -- build --out out/family`.

pub mod backups;
pub mod cloud;
mod commands;
pub mod config;
pub mod control;
pub mod deploy;
mod environment;
pub mod exit;
pub mod keys;
mod lifecycle;
mod load;
pub mod local;
pub mod materialise;
pub mod modules;
pub mod output;
pub mod say;
pub mod state;
pub mod volumes;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{CommandFactory as _, FromArgMatches as _, Parser, Subcommand};
use nassella_core::Stack;

use say::Format;

pub(crate) use lifecycle::deploy_stack;
pub(crate) use load::load;

/// Nassella: your web apps on an immutable Flatcar server that never drifts and never loses data.
///
/// A config file (or a Rust program) describes the server, its backups and its apps; `nassella
/// build` turns it into an Ignition config, Terraform variables and readable copies of every
/// file the server will hold. Nothing is deployed by `build`.
///
/// Exit codes: 0 success, 1 error, 2 usage error, 3 the config is invalid (nothing was
/// written), 4 `plan --detailed-exitcode` found changes. docs/cli.md is the contract.
#[derive(Debug, Parser)]
#[command(name = "nassella", version, max_term_width = 100)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Print only warnings and errors: no progress, no success lines, no Terraform progress.
    #[arg(long, short, global = true)]
    quiet: bool,
    #[command(flatten)]
    env: environment::Environment,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Render the stack into a folder: ignition.json, terraform.tfvars.json and instance/ (a
    /// readable copy of every file the server gets, secrets replaced by markers).
    ///
    /// The folder is replaced atomically, and only when the whole build succeeds.
    Build {
        #[command(flatten)]
        input: Input,
        /// Output folder (replaced as a whole, atomically). An existing one must be a folder
        /// this command wrote (it holds ignition.json) or empty; a file is refused.
        #[arg(long, default_value = "out")]
        out: PathBuf,
        /// `json`: one JSON document on standard output (docs/cli.md).
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Check the stack and print every problem, without writing anything.
    Validate {
        #[command(flatten)]
        input: Input,
        /// `json`: one JSON document on standard output (docs/cli.md).
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Build into the instance's state folder and show what Terraform would change.
    ///
    /// With --detailed-exitcode: exit 0 when nothing would change, 4 when something would.
    Plan {
        #[command(flatten)]
        input: Input,
        /// Exit 4 when the plan has changes (0 when none). Terraform's own code for this is 2,
        /// which `nassella` keeps for usage errors.
        #[arg(long)]
        detailed_exitcode: bool,
        /// `json`: one JSON document on standard output (docs/cli.md); Terraform's own output
        /// goes to standard error.
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Deploy: build into the state folder, create the restic repository if it is missing, then
    /// `terraform apply`. A second apply with the same config changes nothing.
    ///
    /// On a cloud target, a change that replaces or updates the server first shuts the old server
    /// down cleanly through the provider's API, so its volume is detached only once every app has
    /// stopped (docs/deploy.md, "Replacing a server: never lose a write").
    Apply {
        #[command(flatten)]
        input: Input,
        #[command(flatten)]
        shutdown: Shutdown,
    },
    /// Remove the server (or the local stack). The data volume is kept: cloud modules protect
    /// it with prevent_destroy, and the local target leaves its data folder alone.
    ///
    /// On a cloud target the server is shut down cleanly through the provider's API before
    /// Terraform detaches its volume; everything else the module created (server, attachment,
    /// IP, firewall, DNS records) is removed.
    Destroy {
        #[command(flatten)]
        input: Input,
        #[command(flatten)]
        shutdown: Shutdown,
        /// Local target: after the stack has stopped, also delete its data folder — every app's
        /// data on this machine; the backups in the restic repository stay. Give the instance's
        /// name to confirm. (A cloud data volume is deleted at the provider: docs/deploy.md.)
        #[arg(long, value_name = "INSTANCE")]
        delete_data: Option<String>,
    },
    /// List the instance's backups, back a local instance up now, or restore a backup onto a
    /// fresh instance.
    #[command(subcommand)]
    Backups(backups::BackupsCommand),
    /// Print a derived secret an app needs you to know (e.g. `secret cloud admin-password` for
    /// Nextcloud's first administrator); without APP and NAME, list every secret by name.
    ///
    /// The value goes to standard output alone, so it can be piped; it is derived from the
    /// instance's master key, which must exist.
    Secret {
        #[command(flatten)]
        input: Input,
        /// The app id.
        app: Option<String>,
        /// The secret's name.
        name: Option<String>,
    },
    /// The local target's runtime, called by its Terraform module.
    #[command(hide = true, subcommand)]
    Local(LocalCommand),
    /// Print the JSON Schema of the config file (for editors and review).
    Schema,
    /// List the apps a config file can name.
    Apps,
}

#[derive(Debug, Subcommand)]
enum LocalCommand {
    /// Materialise an Ignition config into a folder and start the instance on Docker.
    Up {
        /// The Ignition config.
        #[arg(long)]
        ignition: PathBuf,
        /// The folder that plays the server's root file system.
        #[arg(long)]
        root: PathBuf,
    },
    /// Stop the instance materialised in a folder (its data stays).
    Down {
        /// The folder that plays the server's root file system.
        #[arg(long)]
        root: PathBuf,
    },
}

#[derive(Debug, clap::Args)]
struct Input {
    /// The config file (TOML; see docs/config.md). Not used when a Rust program supplies the stack.
    #[arg(long, short, default_value = "config/apps.config")]
    config: PathBuf,
    /// Treat warnings as errors.
    #[arg(long)]
    strict: bool,
    /// File holding the 64-hex-digit master key every secret is derived from. Default:
    /// $NASSELLA_STATE_DIR (or ~/.local/state/nassella)/<instance>/master.key, created on first
    /// use. $NASSELLA_MASTER_KEY overrides both.
    #[arg(long, env = "NASSELLA_MASTER_KEY_FILE")]
    master_key_file: Option<PathBuf>,
}

/// How long a cloud server may take to power off before its volume is detached.
#[derive(Debug, Clone, Copy, Default, clap::Args)]
pub(crate) struct Shutdown {
    /// Cloud targets: seconds to wait for the server to power off cleanly (its apps stop, its
    /// volume is unmounted) before Terraform detaches the volume. If it is not off in time,
    /// nothing is applied and the server keeps its volume. Default: 600; the flag wins over
    /// the variable.
    #[arg(
        long,
        value_name = "SECONDS",
        env = "NASSELLA_SHUTDOWN_TIMEOUT",
        value_parser = seconds
    )]
    shutdown_timeout: Option<u64>,
}

/// A whole number of seconds, at least 1.
fn seconds(s: &str) -> Result<u64, String> {
    match s.trim().parse::<u64>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!(
            "`{s}` is not a whole number of seconds, at least 1 (--shutdown-timeout or NASSELLA_SHUTDOWN_TIMEOUT)"
        )),
    }
}

impl Shutdown {
    /// The flag, else `NASSELLA_SHUTDOWN_TIMEOUT`, else the default.
    pub(crate) fn timeout(self) -> std::time::Duration {
        self.shutdown_timeout.map_or(
            cloud::DEFAULT_SHUTDOWN_TIMEOUT,
            std::time::Duration::from_secs,
        )
    }
}

/// Run the command line. With `Some(stack)`, the stack comes from a Rust program and
/// `--config` is ignored.
#[must_use]
pub fn main_with(stack: Option<Stack>) -> ExitCode {
    let mut command = Cli::command();
    // `--no-color` turns clap's own colours off too (NO_COLOR does by itself).
    if std::env::args_os().any(|a| a.to_string_lossy().starts_with("--no-color")) {
        command = command.color(clap::ColorChoice::Never);
    }
    let matches = command.clone().get_matches();
    if let Err(e) = environment::refuse_secrets_on_command_line(&matches, &command) {
        eprintln!("error: {e:#}");
        return ExitCode::from(exit::USAGE);
    }
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => e.exit(),
    };
    say::set_quiet(cli.quiet);
    environment::set(cli.env.clone());
    let json = cli.command.json_command();
    say::set_json(json);
    match run(cli, stack) {
        Ok(code) => code,
        Err(e) => {
            let code = exit::of_error(&e);
            eprintln!("error: {e:#}");
            if let Some(command) = json {
                say::error_document(command, code, &format!("{e:#}"));
            }
            ExitCode::from(code)
        }
    }
}

impl Command {
    /// The name of a command asked for `--format json`.
    fn json_command(&self) -> Option<&'static str> {
        match self {
            Self::Build {
                format: Format::Json,
                ..
            } => Some("build"),
            Self::Validate {
                format: Format::Json,
                ..
            } => Some("validate"),
            Self::Plan {
                format: Format::Json,
                ..
            } => Some("plan"),
            Self::Backups(b) if b.json() => Some("backups list"),
            _ => None,
        }
    }
}

fn run(cli: Cli, given: Option<Stack>) -> Result<ExitCode> {
    match cli.command {
        Command::Schema => {
            println!("{}", serde_json::to_string_pretty(&config::schema())?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Apps => {
            for e in nassella_apps::catalog() {
                println!("{:<14} {}", e.kind, e.summary);
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Validate { input, format: _ } => commands::validate(&input, given),
        Command::Build {
            input,
            out,
            format: _,
        } => commands::build(&input, given, &out),
        Command::Secret { input, app, name } => {
            commands::secret(&input, given, app.as_deref(), name.as_deref())
        }
        Command::Plan {
            input,
            detailed_exitcode,
            format: _,
        } => lifecycle::run_deploy(
            &input,
            given,
            "plan",
            detailed_exitcode,
            Shutdown::default(),
        ),
        Command::Apply { input, shutdown } => {
            lifecycle::run_deploy(&input, given, "apply", false, shutdown)
        }
        Command::Destroy {
            input,
            shutdown,
            delete_data,
        } => lifecycle::destroy(&input, given, shutdown, delete_data.as_deref()),
        Command::Backups(cmd) => backups::run(cmd, given),
        Command::Local(LocalCommand::Up { ignition, root }) => {
            local::up(&ignition, &root)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Local(LocalCommand::Down { root }) => {
            local::down(&root)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
