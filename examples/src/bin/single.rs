//! `cargo run -p examples --bin single -- <build|validate> …`: the single example driven by the nassella CLI.

fn main() -> std::process::ExitCode {
    nassella_cli::main_with(Some(examples::single::stack()))
}
