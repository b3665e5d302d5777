//! The specific wiring of each catalog app, one module per app (named like the app's file in
//! `nassella-apps/src/`), read back from the rendered compose files, env-file views, Caddyfile,
//! scripts and units. The rules every registered app keeps are in `invariants.rs`, which loops
//! over the catalog: a new app is covered there without a line here, and adds its own module
//! here for what only it does.

#[path = "../common/mod.rs"]
mod common;

use common::*;
use std::collections::BTreeMap;

use nassella_apps::outline::OutlineOidc;
use nassella_apps::*;
use nassella_core::{compose, MasterKey, ProblemKind, Provider, SecretFormat, Tls};
use serde_json::{json, Value as Json};
use serde_yaml_ng::Value as Yaml;

mod actual;
mod audiobookshelf;
mod forge;
mod freshrss;
mod ghost;
mod immich;
mod jellyfin;
mod linkding;
mod mastodon;
mod miniflux;
mod navidrome;
mod nextcloud;
mod outline;
mod paperless;
mod plausible;
mod synapse;
mod together;
mod uptime_kuma;
mod vaultwarden;
mod wordpress;
