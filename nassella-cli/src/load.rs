//! Loading the stack (from the config file, or from a Rust program) and checking it before
//! anything else runs; printing its problems (text, or the JSON document) with the exit code of
//! an invalid stack.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{bail, Context as _, Result};
use nassella_core::{Report, Stack};

use crate::{config, exit, say, Input};

/// `instance `family` (3 apps)`, for progress and success lines.
pub(crate) fn describe(stack: &Stack) -> String {
    format!(
        "instance `{}` ({} apps)",
        stack.instance().name(),
        stack.app_ids().count()
    )
}

/// End a command that built the stack: with `strict`, warnings are errors (exit 3); otherwise
/// they are printed and `ok` says what was done.
pub(crate) fn finish_ok(warnings: &Report, strict: bool, ok: impl FnOnce()) -> Result<ExitCode> {
    if strict && !warnings.is_empty() {
        return Ok(print_report(&warnings.clone().strict()));
    }
    for p in warnings.problems() {
        eprintln!("{p}");
    }
    ok();
    Ok(ExitCode::SUCCESS)
}

/// Print the problems of an invalid stack (text on standard error, and the JSON document when
/// asked for); the command then ends with [`exit::INVALID`].
pub(crate) fn print_report(r: &Report) -> ExitCode {
    eprintln!("{r}");
    eprintln!("nothing was written; fix the problems above and run the command again");
    say::document(
        say::json_command_name(),
        exit::INVALID,
        r,
        serde_json::json!({}),
    );
    ExitCode::from(exit::INVALID)
}

/// The stack from the Rust program, or from the config file, checked by the composer before
/// anything else runs: a command never creates a file (not even the master key) for a stack
/// with errors. Prints the problems and returns `None` when there are errors.
pub(crate) fn load(input: &Input, given: Option<Stack>) -> Result<Option<Stack>> {
    if let Some(s) = given {
        return Ok(checked(s));
    }
    let text = read_config(&input.config)?;
    let name = input.config.display().to_string();
    let (stack, report) = config::parse(&name, &text).map_err(exit::Invalid)?;
    let composed = nassella_core::compose(&stack);
    if !report.has_errors() && composed.is_ok() {
        return Ok(Some(stack));
    }
    let more = match composed {
        Ok(v) => v.warnings().clone(),
        Err(r) => r,
    };
    print_report(&config::merge(report, &more));
    Ok(None)
}

/// `stack` when the composer finds no error in it; its problems are printed otherwise. The
/// state folder is named after the instance, so a name the composer refuses never reaches a
/// path.
fn checked(stack: Stack) -> Option<Stack> {
    match nassella_core::compose(&stack) {
        Ok(_) => Some(stack),
        Err(r) => {
            print_report(&r);
            None
        }
    }
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
