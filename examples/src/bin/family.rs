//! `cargo run -p examples --bin family -- <build|validate> …`: the family example driven by the nassella CLI.

fn main() -> std::process::ExitCode {
    nassella_cli::main_with(Some(examples::family::stack()))
}
