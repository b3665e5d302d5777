//! The `nassella` command line: thin glue over `nassella-core`. It reads a config file (or takes a
//! [`Stack`] from a Rust program), resolves the keys, writes the bundle atomically and reports
//! problems with their paths and lines.
//!
//! A deployment written in Rust hands its stack to [`main_with`], so it is driven by the same
//! commands: `cargo run -p examples --bin family -- build --out out/family`.

pub mod backups;
pub mod cloud;
pub mod config;
pub mod control;
pub mod deploy;
pub mod keys;
pub mod local;
pub mod materialise;
pub mod modules;
pub mod output;
pub mod volumes;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context as _, Result};
use clap::{Parser, Subcommand};
use nassella_core::{Report, Stack};

/// Nassella: your web apps on an immutable Flatcar server that never drifts and never loses data.
///
/// A config file (or a Rust program) describes the server, its backups and its apps; `nassella
/// build` turns it into an Ignition config, Terraform variables and readable copies of every
/// file the server will hold. Nothing is deployed by `build`.
#[derive(Debug, Parser)]
#[command(name = "nassella", version, max_term_width = 100)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
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
        /// Output folder (replaced as a whole).
        #[arg(long, default_value = "out")]
        out: PathBuf,
    },
    /// Check the stack and print every problem, without writing anything.
    Validate {
        #[command(flatten)]
        input: Input,
    },
    /// Build into the instance's state folder and show what Terraform would change.
    ///
    /// With --detailed-exitcode: exit 0 when nothing would change, 2 when something would.
    Plan {
        #[command(flatten)]
        input: Input,
        /// Exit 2 when the plan has changes (0 when none), like `terraform plan`.
        #[arg(long)]
        detailed_exitcode: bool,
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
    /// nothing is applied and the server keeps its volume. Default: $NASSELLA_SHUTDOWN_TIMEOUT,
    /// else 600; this flag wins over the variable.
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..))]
    shutdown_timeout: Option<u64>,
}

impl Shutdown {
    /// The flag, else `NASSELLA_SHUTDOWN_TIMEOUT`, else the default.
    pub(crate) fn timeout(self) -> Result<std::time::Duration> {
        match self.shutdown_timeout {
            Some(s) => Ok(std::time::Duration::from_secs(s)),
            None => cloud::shutdown_timeout_from_env(),
        }
    }
}

/// Run the command line. With `Some(stack)`, the stack comes from a Rust program and
/// `--config` is ignored.
#[must_use]
pub fn main_with(stack: Option<Stack>) -> ExitCode {
    let cli = Cli::parse();
    match run(cli, stack) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
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
        Command::Validate { input } => {
            let Some(stack) = load(&input, given)? else {
                return Ok(ExitCode::FAILURE);
            };
            let keys = keys::with_env_secrets(
                keys::resolve(&input, stack.instance().name(), false)?,
                &stack,
            );
            match nassella_core::build(&stack, &keys) {
                Ok(b) => finish_ok(&b.warnings, input.strict, || {
                    eprintln!(
                        "ok: {} is valid ({} bytes of Ignition)",
                        describe(&stack),
                        b.bundle.ignition().len()
                    );
                }),
                Err(r) => Ok(print_report(&r)),
            }
        }
        Command::Plan {
            input,
            detailed_exitcode,
        } => run_deploy(
            &input,
            given,
            "plan",
            detailed_exitcode,
            Shutdown::default(),
        ),
        Command::Apply { input, shutdown } => run_deploy(&input, given, "apply", false, shutdown),
        Command::Destroy {
            input,
            shutdown,
            delete_data,
        } => destroy(&input, given, shutdown, delete_data.as_deref()),
        Command::Backups(cmd) => backups::run(cmd, given),
        Command::Secret { input, app, name } => {
            let Some(stack) = load(&input, given)? else {
                return Ok(ExitCode::FAILURE);
            };
            keys::require(&input, stack.instance().name())?;
            let keys = keys::with_env_secrets(
                keys::resolve(&input, stack.instance().name(), false)?,
                &stack,
            );
            let validated = match nassella_core::compose(&stack) {
                Ok(v) => v,
                Err(r) => return Ok(print_report(&r)),
            };
            match (app, name) {
                (Some(app), Some(name)) => {
                    if let Some((_, _, var)) = validated
                        .env_secrets()
                        .into_iter()
                        .find(|(a, n, _)| *a == app && *n == name)
                    {
                        bail!("`{name}` of app `{app}` is not derived: you supply it in the environment variable {var}");
                    }
                    match validated.secret(&keys, &app, &name) {
                        Some(value) => {
                            println!("{value}");
                            Ok(ExitCode::SUCCESS)
                        }
                        None => {
                            bail!(
                                "app `{app}` has no secret `{name}`; `nassella secret` lists them"
                            )
                        }
                    }
                }
                (None, None) => {
                    for a in validated.apps() {
                        for s in a.secrets().iter().filter(|s| s.format().is_some()) {
                            println!("{} {}", a.id(), s.name());
                        }
                    }
                    Ok(ExitCode::SUCCESS)
                }
                _ => bail!("give both the app id and the secret's name, or neither to list them"),
            }
        }
        Command::Local(LocalCommand::Up { ignition, root }) => {
            local::up(&ignition, &root)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Local(LocalCommand::Down { root }) => {
            local::down(&root)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Build { input, out } => {
            let Some(mut stack) = load(&input, given)? else {
                return Ok(ExitCode::FAILURE);
            };
            // The bundle is what `nassella apply` would deploy: the same data volumes.
            let state = deploy::StateDir::of(stack.instance().name());
            volumes::adapt(&mut stack, &state)?;
            let keys = keys::with_env_secrets(
                keys::resolve(&input, stack.instance().name(), true)?,
                &stack,
            );
            match nassella_core::build(&stack, &keys) {
                Ok(b) => {
                    if input.strict && !b.warnings.is_empty() {
                        return Ok(print_report(&b.warnings.clone().strict()));
                    }
                    output::write_atomically(&b.bundle, &out)?;
                    finish_ok(&b.warnings, false, || {
                        let limit = stack.instance().provider_kind().user_data_limit();
                        let size = b.bundle.ignition().len();
                        eprintln!(
                            "built {} into {} ({} files; Ignition {size} of {limit} bytes allowed by {})",
                            describe(&stack), out.display(), b.bundle.files().len(), stack.instance().provider_kind()
                        );
                        eprintln!(
                            "review {}/instance/ to see every file the server gets",
                            out.display()
                        );
                    })
                }
                Err(r) => Ok(print_report(&r)),
            }
        }
    }
}

/// plan, apply or destroy: build into the state folder, then Terraform.
fn run_deploy(
    input: &Input,
    given: Option<Stack>,
    action: &str,
    detailed_exitcode: bool,
    shutdown: Shutdown,
) -> Result<ExitCode> {
    let Some(stack) = load(input, given)? else {
        return Ok(ExitCode::FAILURE);
    };
    deploy_stack(input, stack, action, detailed_exitcode, &[], shutdown)
}

/// plan, apply or destroy of a loaded (and possibly adjusted) stack; `extra` are more Terraform
/// arguments (`backups restore` forces the replacement of the local instance).
pub(crate) fn deploy_stack(
    input: &Input,
    mut stack: Stack,
    action: &str,
    detailed_exitcode: bool,
    extra: &[String],
    shutdown: Shutdown,
) -> Result<ExitCode> {
    use deploy::{phase, StateDir};
    // Read before anything is built, so a malformed value changes nothing; only where a cloud
    // server is stopped (a plan, or the local target, ignores it).
    let stops = matches!(action, "apply" | "destroy")
        && deploy::cloud::Cloud::of(stack.instance().provider_kind()).is_some();
    let timeout = if stops {
        shutdown.timeout()?
    } else {
        cloud::DEFAULT_SHUTDOWN_TIMEOUT
    };
    let state = StateDir::of(stack.instance().name());
    deploy::adapt_for_target(&mut stack, &state);
    let volumes = volumes::adapt(&mut stack, &state)?;
    let provider = stack.instance().provider_kind();
    phase(&format!("building {} for {provider}", describe(&stack)));
    let keys = keys::with_env_secrets(keys::resolve(input, stack.instance().name(), true)?, &stack);
    let built = match nassella_core::build(&stack, &keys) {
        Ok(b) if input.strict && !b.warnings.is_empty() => {
            return Ok(print_report(&b.warnings.clone().strict()))
        }
        Ok(b) => b,
        Err(r) => return Ok(print_report(&r)),
    };
    for p in built.warnings.problems() {
        eprintln!("{p}");
    }
    output::write_atomically(&built.bundle, &state.bundle())?;
    eprintln!(
        "    bundle in {} (Ignition {} bytes)",
        state.bundle().display(),
        built.bundle.ignition().len()
    );
    if action != "destroy" {
        deploy::ensure_repository(&stack, &keys)?;
    }
    let dir = deploy::write_module(&state, provider)?;
    phase("terraform init");
    if deploy::terraform(&dir, &["init".into(), "-input=false".into()])? != 0 {
        bail!("terraform init failed (its output is above); for a cloud target, the provider must be downloadable");
    }
    if let Some(cloud) = deploy::cloud::Cloud::of(provider) {
        let mut args = deploy::var_args(&state, provider);
        args.extend(extra.iter().cloned());
        let code = match action {
            "apply" => deploy::apply_cloud(&dir, cloud, &args, timeout)?,
            "destroy" => deploy::destroy_cloud(&dir, cloud, &args, timeout)?,
            _ => return plain_terraform(&dir, action, args, detailed_exitcode, Some(cloud)),
        };
        if code == ExitCode::SUCCESS {
            if action == "apply" {
                if let Some(mut v) = volumes.filter(|v| v.restoring.is_some()) {
                    // The restore is deployed: the snapshot was for this deploy only.
                    v.restoring = None;
                    v.save(&state)?;
                }
                eprintln!("==> applied; the state is in {}", state.root().display());
            } else {
                eprintln!(
                    "==> destroyed the server; the data volume is kept (prevent_destroy) and `nassella apply` attaches it to a new server. The state is in {}",
                    state.root().display()
                );
            }
        }
        return Ok(code);
    }
    let mut args = deploy::var_args(&state, provider);
    args.extend(extra.iter().cloned());
    let code = plain_terraform(&dir, action, args, detailed_exitcode, None)?;
    if code == ExitCode::SUCCESS && action == "apply" {
        eprintln!("==> applied; the state is in {}", state.root().display());
        if provider == nassella_core::Provider::Local {
            show_local_addresses(&stack, &state);
        }
    }
    Ok(code)
}

/// `destroy`, and with `--delete-data` (local target only) the data folder after the stack has
/// stopped. The confirmation is checked before anything runs.
fn destroy(
    input: &Input,
    given: Option<Stack>,
    shutdown: Shutdown,
    delete_data: Option<&str>,
) -> Result<ExitCode> {
    let Some(mut stack) = load(input, given)? else {
        return Ok(ExitCode::FAILURE);
    };
    let data = match delete_data {
        None => None,
        Some(confirm) => {
            let name = stack.instance().name().to_owned();
            if stack.instance().provider_kind() != nassella_core::Provider::Local {
                bail!(
                    "--delete-data works on the local target only; nothing was changed. A cloud data volume is protected (prevent_destroy): `nassella destroy`, then delete the volume `{name}-data` at the provider (docs/deploy.md, \"Deleting an old data volume\")"
                );
            }
            if confirm != name {
                bail!(
                    "--delete-data {confirm}: give the instance's name, `{name}`, to confirm deleting its data; nothing was changed"
                );
            }
            let state = deploy::StateDir::of(&name);
            deploy::adapt_for_target(&mut stack, &state);
            Some(PathBuf::from(stack.instance().data_root_path()))
        }
    };
    let code = deploy_stack(input, stack, "destroy", false, &[], shutdown)?;
    if let (Some(data), true) = (data, code == ExitCode::SUCCESS) {
        if data.exists() {
            deploy::phase(&format!("deleting the data folder {}", data.display()));
            std::fs::remove_dir_all(&data)
                .with_context(|| format!("deleting {}", data.display()))?;
        }
        eprintln!("==> the data is deleted; the backups in the restic repository remain");
    }
    Ok(code)
}

/// `terraform <action> <args>` as it is: plans, and every action on the local target. A plan is
/// saved, read back and summed up in one line for the running apps (about the cloud server, or
/// the local instance when `cloud` is `None`), then deleted: it holds the Ignition config in clear.
fn plain_terraform(
    dir: &Path,
    action: &str,
    var_args: Vec<String>,
    detailed_exitcode: bool,
    cloud: Option<deploy::cloud::Cloud>,
) -> Result<ExitCode> {
    let server = cloud.map_or("terraform_data.instance", |c| c.server_address());
    let mut args = vec![action.to_owned()];
    args.extend(var_args);
    let saved = deploy::SavedPlan::new(dir, "summary.tfplan");
    match action {
        "plan" => {
            args.push(format!("-out={}", saved.path().display()));
            if detailed_exitcode {
                args.push("-detailed-exitcode".into());
            }
        }
        "apply" | "destroy" => args.push("-auto-approve".into()),
        _ => {}
    }
    deploy::phase(&format!("terraform {action}"));
    let code = deploy::terraform(dir, &args)?;
    if action == "plan" && (code == 0 || code == 2) {
        let json = deploy::terraform_stdout(
            dir,
            &[
                "show".into(),
                "-json".into(),
                saved.path().display().to_string(),
            ],
        )?;
        eprintln!("==> {}", deploy::cloud::summarise(server, cloud, &json)?);
    }
    drop(saved);
    match (action, code) {
        (_, 0) => Ok(ExitCode::SUCCESS),
        ("plan", 2) if detailed_exitcode => Ok(ExitCode::from(2)),
        _ => {
            eprintln!(
                "terraform {action} failed (exit {code}); its output is above. Nothing else was changed: fix the cause and run `nassella {action}` again."
            );
            Ok(ExitCode::FAILURE)
        }
    }
}

/// Where the apps of a local instance answer, and how to reach names that are not `*.localhost`
/// (which browsers and curl resolve to this machine by themselves).
fn show_local_addresses(stack: &Stack, state: &deploy::StateDir) {
    let Ok(validated) = nassella_core::compose(stack) else {
        return;
    };
    let mut outside = false;
    for app in validated.apps() {
        for host in app.hosts() {
            eprintln!("    {}: {}/", app.id(), stack.instance().public_url(host));
            outside |= !host.ends_with(".localhost");
        }
    }
    if outside {
        eprintln!(
            "    names outside .localhost resolve with the lines of {} in /etc/hosts (or `curl --resolve`)",
            state.root().join("hosts").display()
        );
    }
}

fn describe(stack: &Stack) -> String {
    format!(
        "instance `{}` ({} apps)",
        stack.instance().name(),
        stack.app_ids().count()
    )
}

fn finish_ok(warnings: &Report, strict: bool, ok: impl FnOnce()) -> Result<ExitCode> {
    if strict && !warnings.is_empty() {
        return Ok(print_report(&warnings.clone().strict()));
    }
    for p in warnings.problems() {
        eprintln!("{p}");
    }
    ok();
    Ok(ExitCode::SUCCESS)
}

fn print_report(r: &Report) -> ExitCode {
    eprintln!("{r}");
    eprintln!("nothing was written; fix the problems above and run the command again");
    ExitCode::FAILURE
}

/// The stack from the Rust program, or from the config file. Prints config problems (with
/// those the composer finds) and returns `None` when there are errors.
fn load(input: &Input, given: Option<Stack>) -> Result<Option<Stack>> {
    if let Some(s) = given {
        return Ok(Some(s));
    }
    let text = read_config(&input.config)?;
    let name = input.config.display().to_string();
    let (stack, report) = config::parse(&name, &text).map_err(anyhow::Error::msg)?;
    if report.has_errors() {
        let mut all = report;
        let more = match nassella_core::compose(&stack) {
            Ok(v) => v.warnings().clone(),
            Err(r) => r,
        };
        for p in more.problems() {
            all.push(p.clone());
        }
        print_report(&all);
        return Ok(None);
    }
    Ok(Some(stack))
}

fn read_config(path: &Path) -> Result<String> {
    if !path.exists() {
        bail!(
            "no config file at {}: pass --config <file>, or start from examples/config/family.config (docs/config.md explains the format)",
            path.display()
        );
    }
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}
