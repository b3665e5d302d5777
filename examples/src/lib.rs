//! Deployments written as Rust programs. Each module builds a [`nassella_core::Stack`]; each
//! binary in `src/bin/` hands it to the same commands the `nassella` CLI offers:
//!
//! ```text
//! cargo run -p examples --bin family -- build --out out/family
//! cargo run -p examples --bin mistake -- validate
//! ```

pub mod family;
pub mod mistake;
pub mod own_app;
pub mod single;

/// Every example, by name, for the snapshot tests.
#[must_use]
pub fn all() -> Vec<(&'static str, nassella_core::Stack)> {
    vec![
        ("family", family::stack()),
        ("own-app", own_app::stack()),
        ("single", single::stack()),
    ]
}
