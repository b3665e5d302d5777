//! `cargo run -p examples --bin nassella-offline -- <nassella command> …`: the `nassella` command
//! for a machine that reaches no container registry. Before it runs the command, it builds the
//! images `examples/config/local.config` names — a Caddy, a restic and the hello app's busybox
//! image, from the tools `.ci/install-tools` installs — and points the local target at a Docker
//! Compose v2 binary when `docker-compose` on PATH is the old v1. Terraform's provisioners call
//! the same executable back (`… local up`), so every command is the real CLI's.

use std::process::ExitCode;

fn main() -> ExitCode {
    let command = std::env::args().nth(1).unwrap_or_default();
    if matches!(command.as_str(), "apply" | "plan" | "backups") {
        if !nassella_testkit::images::image_exists(nassella_testkit::images::CADDY_IMAGE) {
            eprintln!("==> building the stand-in images (hello, Caddy, restic) on this machine");
        }
        nassella_testkit::images::ensure_test_images();
    }
    if std::env::var_os("NASSELLA_COMPOSE").is_none() {
        // Set before any thread starts; inherited by Terraform and its provisioners.
        std::env::set_var("NASSELLA_COMPOSE", nassella_testkit::compose_binary_path());
    }
    nassella_cli::main_with(None)
}
