//! `cargo run -p examples --bin own-app -- <build|validate> …`: the own-app example driven by the nassella CLI.

fn main() -> std::process::ExitCode {
    nassella_cli::main_with(Some(examples::own_app::stack()))
}
