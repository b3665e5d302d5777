//! Nassella's web app: many tenants configure, deploy and back up their instances from a browser.
//!
//! One binary (`nassella-web`) serving server-rendered HTML (askama templates, checked at compile
//! time), with live job logs over server-sent events and everything kept in PostgreSQL: tenants,
//! users and their memberships, instances (the config file's structure as JSON), sealed secrets
//! and an audit log. Jobs (deploy, plan, backups, destroy) run the `nassella` CLI for one
//! instance at a time. docs/web.md explains the modes, the key and the embedded default.

pub mod app;
pub mod audit;
pub mod auth;
pub mod crypto;
pub mod db;
pub mod error;
pub mod form;
pub mod jobs;
pub mod options;
pub mod pages;
pub mod routes;
pub mod secrets;
pub mod views;

pub use app::{build_router, AppState, Server};
/// The embedded PostgreSQL cluster (from `nassella-jobs`).
pub use nassella_jobs::pg;
pub use options::{AuthMode, Options};
