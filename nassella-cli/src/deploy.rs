//! `nassella plan | apply | destroy`: render into the instance's state folder, make sure the
//! restic repository exists, then run Terraform on the target's module there. One state folder
//! per instance (`$NASSELLA_STATE_DIR/<instance>/`), so many control planes live side by side:
//!
//! ```text
//! <state>/master.key     every secret derives from it (created by the first build)
//! <state>/bundle/        the last rendered bundle (replaced atomically)
//! <state>/terraform/     the target's module and Terraform's state
//! <state>/instance/      local target: the materialised instance
//! <state>/data/          local target: the data volume (a folder)
//! ```
//!
//! Credentials come from the environment (`HCLOUD_TOKEN`, `DIGITALOCEAN_TOKEN`, the backup
//! storage keys), never from the command line or a file Nassella writes.

pub use crate::cloud;

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::Duration;

use anyhow::{bail, Context as _, Result};
use nassella_core::{Keys, Provider, Stack};

use cloud::{Api, Cloud, PlanEffect};

/// Print a progress line for a phase.
pub fn phase(what: &str) {
    eprintln!("==> {what}");
}

/// Paths of one instance's state folder.
#[derive(Debug, Clone)]
pub struct StateDir {
    root: PathBuf,
}

impl StateDir {
    /// The state folder of `instance`.
    #[must_use]
    pub fn of(instance: &str) -> Self {
        Self {
            root: crate::keys::state_dir(instance),
        }
    }
    /// The state folder at `root` (tests).
    #[must_use]
    pub fn at(root: PathBuf) -> Self {
        Self { root }
    }
    /// The folder itself.
    #[must_use]
    pub fn root(&self) -> &Path {
        &self.root
    }
    /// The last bundle.
    #[must_use]
    pub fn bundle(&self) -> PathBuf {
        self.root.join("bundle")
    }
    /// Terraform's working folder.
    #[must_use]
    pub fn terraform(&self) -> PathBuf {
        self.root.join("terraform")
    }
    /// The local target's data folder.
    #[must_use]
    pub fn data(&self) -> PathBuf {
        self.root.join("data")
    }
}

/// The local target keeps its data volume in the state folder unless the config names one.
pub fn adapt_for_target(stack: &mut Stack, state: &StateDir) {
    let i = stack.instance();
    if i.provider_kind() == Provider::Local && i.data_root_path() == "/srv/data" {
        let moved = i.clone().data_root(state.data().to_string_lossy());
        *stack.instance_mut() = moved;
    }
}

/// Make sure the restic repository exists: `restic cat config`, and `restic init` only when
/// restic says there is no repository (exit 10; restic before 0.17: exit 1 with its message).
///
/// # Errors
/// When restic cannot be run, or the repository cannot be read for another reason.
pub fn ensure_repository(stack: &Stack, keys: &Keys) -> Result<()> {
    let Some(b) = stack.backup_settings() else {
        eprintln!("warning: no backup is configured; skipping the restic repository");
        return Ok(());
    };
    phase(&format!("restic repository {}", b.repository()));
    let restic = |args: &[&str]| {
        let mut c = Command::new("restic");
        c.args(args)
            .env("RESTIC_REPOSITORY", b.repository())
            .env("RESTIC_PASSWORD", keys.restic_password())
            .stdin(Stdio::null());
        c
    };
    let out = restic(&["cat", "config"]).output().context(
        "running restic (install it: `apt-get install restic`, or put a restic binary on PATH)",
    )?;
    if out.status.success() {
        eprintln!("    the repository exists");
        return Ok(());
    }
    let err = String::from_utf8_lossy(&out.stderr);
    let missing = is_missing_repository(out.status.code(), &err);
    if !missing {
        bail!(
            "cannot read the restic repository {} (restic exit {:?}):\n{err}\ncheck the repository URL and the storage credentials in the environment",
            b.repository(),
            out.status.code()
        );
    }
    eprintln!("    no repository yet: creating it");
    let out = restic(&["init"]).output().context("running restic init")?;
    if !out.status.success() {
        bail!(
            "restic init failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

/// restic >= 0.17 exits 10 when there is no repository; older ones exit 1 and say so.
#[must_use]
pub fn is_missing_repository(code: Option<i32>, stderr: &str) -> bool {
    code == Some(10)
        || (code == Some(1) && stderr.contains("Is there a repository at the following location?"))
}

/// Write the target's module into the state folder (with the backend block
/// `$NASSELLA_TF_BACKEND` names: [`crate::modules::write_backend`]).
///
/// # Errors
/// On I/O failure.
pub fn write_module(state: &StateDir, provider: Provider) -> Result<PathBuf> {
    let dir = state.terraform();
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    for (name, text) in crate::modules::files(provider) {
        let path = dir.join(name);
        if std::fs::read_to_string(&path).ok().as_deref() != Some(*text) {
            std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        }
    }
    crate::modules::write_backend(&dir)?;
    Ok(dir)
}

/// Run Terraform in `dir`, its output streamed to the user. Returns the exit code.
///
/// # Errors
/// When Terraform cannot be started.
pub fn terraform(dir: &Path, args: &[String]) -> Result<i32> {
    let status = Command::new("terraform")
        .arg(format!("-chdir={}", dir.display()))
        .args(args)
        .envs(plain_output())
        .stdin(Stdio::null())
        .status()
        .context("running terraform (install Terraform >= 1.4 and put it on PATH)")?;
    Ok(status.code().unwrap_or(1))
}

/// `TF_CLI_ARGS` with `-no-color` added when the output is not a terminal (a log file, CI), so
/// Terraform's messages are not strewn with colour codes there. A user's own `TF_CLI_ARGS` stay.
fn plain_output() -> Option<(&'static str, String)> {
    if std::io::stdout().is_terminal() {
        return None;
    }
    let mut args = std::env::var("TF_CLI_ARGS").unwrap_or_default();
    if !args.split_whitespace().any(|a| a == "-no-color") {
        if !args.is_empty() {
            args.push(' ');
        }
        args.push_str("-no-color");
    }
    Some(("TF_CLI_ARGS", args))
}

/// The `-var…` arguments of a plan or apply.
#[must_use]
pub fn var_args(state: &StateDir, provider: Provider) -> Vec<String> {
    let bundle = state.bundle();
    let mut v = vec![
        "-input=false".to_owned(),
        format!(
            "-var-file={}",
            bundle.join(nassella_core::render::TFVARS_FILE).display()
        ),
        format!(
            "-var=user_data_file={}",
            bundle.join(nassella_core::render::IGNITION_FILE).display()
        ),
    ];
    if provider == Provider::Local {
        let exe =
            std::env::current_exe().map_or_else(|_| "nassella".into(), |p| p.display().to_string());
        v.push(format!("-var=nassella_bin={exe}"));
        v.push(format!("-var=state_dir={}", state.root().display()));
    }
    v
}

/// Run Terraform in `dir` and capture its standard output (its errors still go to the user).
///
/// # Errors
/// When Terraform cannot be started or fails.
pub fn terraform_stdout(dir: &Path, args: &[String]) -> Result<String> {
    let out = Command::new("terraform")
        .arg(format!("-chdir={}", dir.display()))
        .args(args)
        .envs(plain_output())
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .context("running terraform (install Terraform >= 1.4 and put it on PATH)")?;
    if !out.status.success() {
        bail!(
            "terraform {} failed (exit {}); its output is above",
            args.first().map_or("", String::as_str),
            out.status.code().unwrap_or(1)
        );
    }
    String::from_utf8(out.stdout).context("terraform printed something that is not UTF-8")
}

/// A saved Terraform plan file in the module folder, removed when this value is dropped however
/// the command ends: it holds the Ignition config in clear (the apps' secrets), and it is stale
/// after any apply. A leftover of an interrupted run is removed first.
#[derive(Debug)]
pub struct SavedPlan(PathBuf);

impl SavedPlan {
    /// `dir/name`, cleared.
    #[must_use]
    pub fn new(dir: &Path, name: &str) -> Self {
        let path = dir.join(name);
        let _ = std::fs::remove_file(&path);
        Self(path)
    }

    /// Where Terraform writes the plan.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for SavedPlan {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// `nassella apply` on a cloud target: plan to `tfplan`, read it, stop the old server through
/// the provider API when the server or its volume attachment changes, apply exactly the saved
/// plan, and power a kept server on again (docs/deploy.md, "Replacing a server").
/// `plan_args` are the `-var…` arguments (and any extra ones); `timeout` bounds the shutdown.
///
/// # Errors
/// When Terraform cannot be run, or the provider API fails.
pub fn apply_cloud(
    dir: &Path,
    cloud: Cloud,
    plan_args: &[String],
    timeout: Duration,
) -> Result<ExitCode> {
    run_cloud(dir, cloud, plan_args, timeout, Verb::Apply)
}

/// `nassella destroy` on a cloud target: the same sequence as [`apply_cloud`] on a destroy plan
/// (`terraform plan -destroy -target=…`) that names every resource of the module but the data
/// volumes ([`Cloud::destroy_targets`]): a bare `terraform destroy` would fail on their
/// `prevent_destroy`, and would detach the volume from a running server. The server is shut
/// down through the provider API first, then the saved plan is applied.
///
/// # Errors
/// When Terraform cannot be run, or the provider API fails.
pub fn destroy_cloud(
    dir: &Path,
    cloud: Cloud,
    plan_args: &[String],
    timeout: Duration,
) -> Result<ExitCode> {
    run_cloud(dir, cloud, plan_args, timeout, Verb::Destroy)
}

/// Which command runs the sequence (for its plan and its messages).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verb {
    Apply,
    Destroy,
}

impl Verb {
    fn command(self) -> &'static str {
        match self {
            Self::Apply => "nassella apply",
            Self::Destroy => "nassella destroy",
        }
    }
}

fn run_cloud(
    dir: &Path,
    cloud: Cloud,
    plan_args: &[String],
    timeout: Duration,
    verb: Verb,
) -> Result<ExitCode> {
    const POLL: Duration = Duration::from_secs(3);
    let command = verb.command();
    let saved = SavedPlan::new(dir, "tfplan");
    let plan_file = saved.path().to_owned();
    let mut args = vec!["plan".to_owned()];
    if verb == Verb::Destroy {
        phase("terraform plan -destroy (everything but the data volumes)");
        args.push("-destroy".to_owned());
        args.extend(
            cloud
                .destroy_targets()
                .iter()
                .map(|t| format!("-target={t}")),
        );
    } else {
        phase("terraform plan");
    }
    args.push(format!("-out={}", plan_file.display()));
    args.extend(plan_args.iter().cloned());
    let code = terraform(dir, &args)?;
    if code != 0 {
        eprintln!(
            "terraform plan failed (exit {code}); its output is above. Nothing was changed: fix the cause and run `{command}` again."
        );
        return Ok(ExitCode::FAILURE);
    }
    let plan = plan_file.display().to_string();
    let json = terraform_stdout(dir, &["show".into(), "-json".into(), plan.clone()])?;
    let effect = cloud::classify(cloud, &json)?;
    let kept = match &effect {
        PlanEffect::ServerUntouched => {
            eprintln!("    the server and its volume attachment are not touched: no stop needed");
            None
        }
        PlanEffect::NoOldServer => {
            eprintln!("    no old server to stop (a new one is created)");
            None
        }
        PlanEffect::StopFirst { server_id, kept } => {
            let api = Api::from_env(cloud)?;
            api.stop_for(server_id, timeout, POLL, command)?;
            kept.then(|| (api, server_id.clone()))
        }
    };
    phase("terraform apply (the saved plan)");
    let code = terraform(dir, &["apply".into(), "-input=false".into(), plan])?;
    if code != 0 {
        let off = if matches!(effect, PlanEffect::StopFirst { .. }) {
            " The old server was shut down and stays off until the next apply."
        } else {
            ""
        };
        eprintln!(
            "terraform apply failed (exit {code}); its output is above.{off} If Terraform says the saved plan is stale, the state changed since the plan: run `{command}` again. Otherwise fix the cause (terraform/README.md lists the failure modes) and run `{command}` again: the volume and the IP are kept."
        );
        return Ok(ExitCode::FAILURE);
    }
    if let Some((api, id)) = kept {
        api.power_on_if_off(&id, timeout, POLL)?;
    }
    Ok(ExitCode::SUCCESS)
}
