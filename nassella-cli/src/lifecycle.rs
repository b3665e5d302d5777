//! `nassella plan | apply | destroy`: load and check the stack, build it into the instance's
//! state folder, make sure the restic repository exists, then run Terraform (the steps
//! themselves are in [`crate::deploy`]).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context as _, Result};
use nassella_core::{Report, Stack};

use crate::load::{describe, load, print_report};
use crate::say::say;
use crate::{cloud, deploy, exit, keys, output, say, volumes, Input, Shutdown};

/// plan, apply or destroy: build into the state folder, then Terraform.
pub(crate) fn run_deploy(
    input: &Input,
    given: Option<Stack>,
    action: &str,
    detailed_exitcode: bool,
    shutdown: Shutdown,
) -> Result<ExitCode> {
    let Some(stack) = load(input, given)? else {
        return Ok(ExitCode::from(exit::INVALID));
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
        shutdown.timeout()
    } else {
        cloud::DEFAULT_SHUTDOWN_TIMEOUT
    };
    let state = StateDir::of(stack.instance().name())?;
    deploy::adapt_for_target(&mut stack, &state)?;
    let volumes = volumes::adapt(&mut stack, &state)?;
    let provider = stack.instance().provider_kind();
    phase(&format!("building {} for {provider}", describe(&stack)));
    let (keys, new_key) = keys::resolve(input, stack.instance().name(), true)?;
    let keys = keys::with_env_secrets(keys, &stack);
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
    state.create()?;
    if let Some(k) = new_key {
        k.save()?;
    }
    output::write_atomically(&built.bundle, &state.bundle())?;
    say!(
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
                say!("==> applied; the state is in {}", state.root().display());
            } else {
                say!(
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
        say!("==> applied; the state is in {}", state.root().display());
        if provider == nassella_core::Provider::Local {
            show_local_addresses(&stack, &state);
        }
    }
    Ok(code)
}

/// `destroy`, and with `--delete-data` (local target only) the data folder after the stack has
/// stopped. The confirmation is checked before anything runs.
pub(crate) fn destroy(
    input: &Input,
    given: Option<Stack>,
    shutdown: Shutdown,
    delete_data: Option<&str>,
) -> Result<ExitCode> {
    let Some(mut stack) = load(input, given)? else {
        return Ok(ExitCode::from(exit::INVALID));
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
            let state = deploy::StateDir::of(&name)?;
            deploy::adapt_for_target(&mut stack, &state)?;
            let data = PathBuf::from(stack.instance().data_root_path());
            // The path comes from the config: delete only a folder an instance has run on
            // (its restore step marks it at first start), never one it merely names.
            let marker = data.join(".nassella/initialized");
            if data.exists() && !marker.is_file() {
                bail!(
                    "--delete-data: {} is not a data folder an instance has run on (it has no {}); nothing was changed. If it is meant to go, delete it yourself",
                    data.display(),
                    marker.display()
                );
            }
            Some(data)
        }
    };
    let code = deploy_stack(input, stack, "destroy", false, &[], shutdown)?;
    if let (Some(data), true) = (data, code == ExitCode::SUCCESS) {
        if data.exists() {
            deploy::phase(&format!("deleting the data folder {}", data.display()));
            std::fs::remove_dir_all(&data)
                .with_context(|| format!("deleting {}", data.display()))?;
        }
        say!("==> the data is deleted; the backups in the restic repository remain");
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
    let mut summary = None;
    if action == "plan" && (code == 0 || (code == 2 && detailed_exitcode)) {
        let json = deploy::terraform_stdout(
            dir,
            &[
                "show".into(),
                "-json".into(),
                saved.path().display().to_string(),
            ],
        )?;
        let s = deploy::cloud::summarise_plan(server, cloud, &json)?;
        say!("==> {}", s.text);
        summary = Some(s);
    }
    drop(saved);
    let result = match (action, code) {
        (_, 0) => exit::OK,
        ("plan", 2) if detailed_exitcode => exit::CHANGES,
        _ => {
            eprintln!(
                "terraform {action} failed (exit {code}); its output is above. Nothing else was changed: fix the cause and run `nassella {action}` again."
            );
            exit::ERROR
        }
    };
    if action == "plan" {
        if let Some(s) = &summary {
            say::document(
                Some("plan"),
                result,
                &Report::new(),
                serde_json::json!({
                    "changes": s.kind != deploy::cloud::SummaryKind::Nothing,
                    "summary": s,
                }),
            );
        } else {
            say::error_document(
                "plan",
                result,
                &format!("terraform plan failed (exit {code})"),
            );
        }
    }
    Ok(ExitCode::from(result))
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
            say!("    {}: {}/", app.id(), stack.instance().public_url(host));
            outside |= !host.ends_with(".localhost");
        }
    }
    if outside {
        say!(
            "    names outside .localhost resolve with the lines of {} in /etc/hosts (or `curl --resolve`)",
            state.root().join("hosts").display()
        );
    }
}
