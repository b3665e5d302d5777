//! The `nassella` command.

fn main() -> std::process::ExitCode {
    nassella_cli::main_with(None)
}
