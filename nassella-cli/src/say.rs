//! What the CLI prints, and how: progress and success lines go to standard error and are
//! silenced by `--quiet`; warnings and errors are always printed; with `--format json` the one
//! JSON document of the command is the only thing on standard output (Terraform's own output is
//! moved to standard error). docs/cli.md is the contract.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

static QUIET: AtomicBool = AtomicBool::new(false);
static JSON: OnceLock<Option<&'static str>> = OnceLock::new();
static PRINTED: AtomicBool = AtomicBool::new(false);

/// Silence progress and success lines for the rest of the run.
pub(crate) fn set_quiet(quiet: bool) {
    QUIET.store(quiet, Ordering::Relaxed);
}

/// Whether `--quiet` was given.
#[must_use]
pub(crate) fn quiet() -> bool {
    QUIET.load(Ordering::Relaxed)
}

/// Standard output is reserved for the JSON document of `command` (`None`: text output).
pub(crate) fn set_json(command: Option<&'static str>) {
    let _ = JSON.set(command);
}

/// Whether standard output carries a JSON document (other tools' output must not go there).
#[must_use]
pub(crate) fn json() -> bool {
    json_command_name().is_some()
}

/// The command whose JSON document standard output carries, if any.
#[must_use]
pub(crate) fn json_command_name() -> Option<&'static str> {
    JSON.get().copied().flatten()
}

/// A note that matters even under `--quiet` (a folder made private, a key created).
pub(crate) fn note(text: &str) {
    eprintln!("{text}");
}

/// A progress or success line on standard error, unless `--quiet`.
macro_rules! say {
    ($($arg:tt)*) => {
        if !$crate::say::quiet() {
            eprintln!($($arg)*);
        }
    };
}
pub(crate) use say;

/// The output format of `validate`, `build`, `plan` and `backups list`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Lines for people (standard error), as before.
    #[default]
    Text,
    /// One JSON document on standard output (docs/cli.md has the schema).
    Json,
}

/// The problems of a report as the JSON array every `--format json` document carries:
/// `[{severity, path, file, line, message}]` (`file` and `line` are null when unknown).
#[must_use]
pub fn problems_json(r: &nassella_core::Report) -> serde_json::Value {
    r.problems()
        .iter()
        .map(|p| {
            serde_json::json!({
                "severity": match p.severity {
                    nassella_core::Severity::Error => "error",
                    nassella_core::Severity::Warning => "warning",
                },
                "path": p.path,
                "file": p.origin.as_ref().map(|o| o.file.clone()),
                "line": p.origin.as_ref().map(|o| o.line),
                "message": p.kind.to_string(),
            })
        })
        .collect()
}

/// Print the JSON document of `command` on standard output, once per run, when JSON was asked
/// for: `{command, ok, exit_code, problems, error: null}` and the command's own `fields`.
pub(crate) fn document(
    command: Option<&'static str>,
    exit_code: u8,
    problems: &nassella_core::Report,
    fields: serde_json::Value,
) {
    let Some(command) = command.or_else(json_command_name) else {
        return;
    };
    if command == "backups list" {
        return;
    }
    if !json() || PRINTED.swap(true, Ordering::Relaxed) {
        return;
    }
    let mut doc = serde_json::json!({
        "command": command,
        "ok": exit_code == crate::exit::OK || exit_code == crate::exit::CHANGES,
        "exit_code": exit_code,
        "problems": problems_json(problems),
        "error": null,
    });
    if let (Some(d), serde_json::Value::Object(more)) = (doc.as_object_mut(), fields) {
        d.extend(more);
    }
    println!(
        "{}",
        serde_json::to_string_pretty(&doc).unwrap_or_else(|_| "null".into())
    );
}

/// The JSON document of a command that ended with an error (not a config problem): `ok` false,
/// `error` the message. `backups list` prints nothing on standard output then: its document is
/// the array of snapshots.
pub(crate) fn error_document(command: &'static str, exit_code: u8, message: &str) {
    if command == "backups list" || !json() || PRINTED.swap(true, Ordering::Relaxed) {
        return;
    }
    let doc = serde_json::json!({
        "command": command,
        "ok": false,
        "exit_code": exit_code,
        "problems": [],
        "error": message,
    });
    println!(
        "{}",
        serde_json::to_string_pretty(&doc).unwrap_or_else(|_| "null".into())
    );
}
