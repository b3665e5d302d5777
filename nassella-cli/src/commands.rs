//! The commands that render the stack without deploying it: `validate` (nothing written),
//! `build` (the bundle into `--out`) and `secret` (a derived secret on standard output).

use std::path::Path;
use std::process::ExitCode;

use anyhow::{bail, Result};
use nassella_core::Stack;

use crate::load::{describe, finish_ok, load, print_report};
use crate::say::say;
use crate::{deploy, exit, keys, output, say, volumes, Input};

/// `nassella validate`: build with a stand-in key when there is none, write nothing.
pub(crate) fn validate(input: &Input, given: Option<Stack>) -> Result<ExitCode> {
    let Some(stack) = load(input, given)? else {
        return Ok(ExitCode::from(exit::INVALID));
    };
    let keys = keys::with_env_secrets(
        keys::resolve(input, stack.instance().name(), false)?.0,
        &stack,
    );
    match nassella_core::build(&stack, &keys) {
        Ok(b) => finish_ok(&b.warnings, input.strict, || {
            say!(
                "ok: {} is valid ({} bytes of Ignition)",
                describe(&stack),
                b.bundle.ignition().len()
            );
            say::document(
                Some("validate"),
                exit::OK,
                &b.warnings,
                serde_json::json!({
                    "instance": stack.instance().name(),
                    "ignition_bytes": b.bundle.ignition().len(),
                }),
            );
        }),
        Err(r) => Ok(print_report(&r)),
    }
}

/// `nassella build`: the bundle into `out`, replaced atomically, only when the whole build
/// succeeded; a new master key is written only then too.
pub(crate) fn build(input: &Input, given: Option<Stack>, out: &Path) -> Result<ExitCode> {
    let Some(mut stack) = load(input, given)? else {
        return Ok(ExitCode::from(exit::INVALID));
    };
    // Refused before anything is made: a file (or anything but an earlier output) at
    // --out would fail the swap after the work, or be lost.
    output::check_target(out)?;
    // The bundle is what `nassella apply` would deploy: the same data volumes.
    let state = deploy::StateDir::of(stack.instance().name())?;
    volumes::adapt(&mut stack, &state)?;
    let (keys, new_key) = keys::resolve(input, stack.instance().name(), true)?;
    let keys = keys::with_env_secrets(keys, &stack);
    match nassella_core::build(&stack, &keys) {
        Ok(b) => {
            if input.strict && !b.warnings.is_empty() {
                return Ok(print_report(&b.warnings.clone().strict()));
            }
            if let Some(k) = new_key {
                k.save()?;
            }
            output::write_atomically(&b.bundle, out)?;
            finish_ok(&b.warnings, false, || {
                let limit = stack.instance().provider_kind().user_data_limit();
                let size = b.bundle.ignition().len();
                say!(
                    "built {} into {} ({} files; Ignition {size} of {limit} bytes allowed by {})",
                    describe(&stack),
                    out.display(),
                    b.bundle.files().len(),
                    stack.instance().provider_kind()
                );
                say!(
                    "review {}/instance/ to see every file the server gets",
                    out.display()
                );
                say::document(
                    Some("build"),
                    exit::OK,
                    &b.warnings,
                    serde_json::json!({
                        "instance": stack.instance().name(),
                        "out": out.display().to_string(),
                        "files": b.bundle.files().len(),
                        "ignition_bytes": size,
                        "ignition_limit": limit,
                    }),
                );
            })
        }
        Err(r) => Ok(print_report(&r)),
    }
}

/// `nassella secret [APP NAME]`: one derived secret, or the list of them.
pub(crate) fn secret(
    input: &Input,
    given: Option<Stack>,
    app: Option<&str>,
    name: Option<&str>,
) -> Result<ExitCode> {
    let Some(stack) = load(input, given)? else {
        return Ok(ExitCode::from(exit::INVALID));
    };
    keys::require(input, stack.instance().name())?;
    let keys = keys::with_env_secrets(
        keys::resolve(input, stack.instance().name(), false)?.0,
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
            match validated.secret(&keys, app, name) {
                Some(value) => {
                    println!("{value}");
                    Ok(ExitCode::SUCCESS)
                }
                None => {
                    bail!("app `{app}` has no secret `{name}`; `nassella secret` lists them")
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
