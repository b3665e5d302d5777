//! The exit codes of `nassella`, a contract scripts rely on (docs/cli.md).

/// Success (and `plan --detailed-exitcode`: nothing would change).
pub const OK: u8 = 0;
/// An error: a tool failed, a file could not be written, a missing credential… The message on
/// standard error says what to do.
pub const ERROR: u8 = 1;
/// The command line is wrong (clap's own code): an unknown option, a malformed value, a secret
/// given as an option instead of its variable.
pub const USAGE: u8 = 2;
/// The config (or the Rust stack) is invalid: every problem is printed with its path and line,
/// and nothing was written.
pub const INVALID: u8 = 3;
/// `plan --detailed-exitcode`: the plan has changes.
pub const CHANGES: u8 = 4;

/// The config cannot be read as a config (a TOML syntax error): exits [`INVALID`].
#[derive(Debug)]
pub struct Invalid(pub String);

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Invalid {}

/// The exit code of an error that ended a command.
#[must_use]
pub fn of_error(e: &anyhow::Error) -> u8 {
    if e.chain().any(|c| c.is::<Invalid>()) {
        INVALID
    } else {
        ERROR
    }
}
