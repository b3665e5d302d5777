//! Nassella's core: turns a [`Stack`] of [`App`]s into the files that make an immutable Flatcar
//! server — an Ignition config (spec 3.3.0), compose files, a Caddyfile, systemd units, scripts
//! and Terraform variables.
//!
//! Pure: no file system, no processes, no network. The pipeline:
//!
//! ```text
//! Stack ─compose()→ ValidatedStack ─render()→ Bundle
//!          └→ Report (every problem, each with a path like apps.cloud.routes[0].host)
//! ```
//!
//! [`build`] runs the whole pipeline and checks the output (it parses back, it fits the
//! provider's user-data limit).

pub mod app;
pub mod composer;
pub mod model;
mod problem;
pub mod registry;
pub mod render;
pub mod report;
pub mod schedule;
pub mod secrets;
pub mod servers;
pub mod stack;

pub use app::{App, AppContext, Contribution, SettingProblem};
pub use composer::{compose, ValidatedApp, ValidatedStack};
pub use model::{
    BackupHook, BackupPolicy, DependsOn, Healthcheck, Job, Mount, Network, NetworkHandle,
    OneOffJob, Route, Secret, SecretFormat, SecretRef, SecretSource, Service, TcpPort, Upstream,
    Value, Volume, VolumeHandle,
};
pub use problem::ProblemKind;
pub use registry::Registry;
pub use render::{render, Bundle};
pub use report::{Origin, Problem, Report, Severity};
pub use secrets::{Keys, MasterKey};
pub use stack::{
    Artifact, Backup, Instance, Provider, Retention, Stack, Tls, Updates, FIRST_DATA_VOLUME,
};

/// The result of a successful build: the bundle and any warnings.
#[derive(Debug, Clone)]
pub struct Build {
    /// Every rendered artifact.
    pub bundle: Bundle,
    /// Warnings (a `--strict` caller treats them as errors).
    pub warnings: Report,
}

/// Compose, render and check a stack.
///
/// # Errors
/// A [`Report`] of every problem found, when there is at least one error.
pub fn build(stack: &Stack, keys: &Keys) -> Result<Build, Report> {
    let validated = compose(stack)?;
    let mut report = validated.warnings().clone();
    for (app, secret, var) in validated.env_secrets() {
        let path = format!("apps.{app}.secrets.{secret}");
        match keys.provided(var) {
            None => report.error(
                path,
                None,
                ProblemKind::EnvSecretMissing {
                    var: var.to_owned(),
                },
            ),
            Some(v) if v.contains(['\'', '\n', '\r']) || v.is_empty() => report.error(
                path,
                None,
                ProblemKind::EnvSecretUnusable {
                    var: var.to_owned(),
                },
            ),
            Some(_) => {}
        }
    }
    if let Some(var) = validated.registry().and_then(Registry::password_env) {
        match keys.provided(var) {
            None => report.error(
                "registry.password_env",
                None,
                ProblemKind::EnvSecretMissing {
                    var: var.to_owned(),
                },
            ),
            Some(v) if v.is_empty() || v.contains(['\n', '\r']) => report.error(
                "registry.password_env",
                None,
                ProblemKind::EnvSecretUnusable {
                    var: var.to_owned(),
                },
            ),
            Some(_) => {}
        }
    }
    if report.has_errors() {
        return Err(report);
    }
    let bundle = render(&validated, keys);
    let ign = bundle.ignition();
    if let Err(e) = render::parse_ignition(ign) {
        report.error("output.ignition", None, ProblemKind::IgnitionRoundTrip(e));
    }
    let provider = validated.instance().provider_kind();
    if ign.len() > provider.user_data_limit() {
        report.error(
            "output.ignition",
            None,
            ProblemKind::UserDataTooLarge {
                size: ign.len(),
                limit: provider.user_data_limit(),
                provider: provider.to_string(),
            },
        );
    }
    if report.has_errors() {
        return Err(report);
    }
    Ok(Build {
        bundle,
        warnings: report,
    })
}
