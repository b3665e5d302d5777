//! `cargo run -p examples --bin mistake -- <build|validate> …`: the mistake example driven by the nassella CLI.

fn main() -> std::process::ExitCode {
    nassella_cli::main_with(Some(examples::mistake::stack()))
}
