//! The app catalog. Each app is one file: a settings struct (its serde fields are the app's
//! settings, its `JsonSchema` derive their schema) and an `impl App` block marked
//! [`#[catalog_app(kind = …, summary = …, example = …)]`](catalog_app), which writes the kind and
//! the [`CatalogApp`] impl. Registering it is one line in the [`catalog!`] list below, which
//! declares the module, re-exports the type and adds it to [`catalog()`].
//!
//! An app never knows its id: the stack entry does (`Stack::app_as("cloud", …)`, or the table
//! key `[apps.cloud]` of a config file). A config file reaches only registered apps; a
//! deployment written in Rust can use any type that implements `App`, including apps published
//! in other crates (see docs/apps/authoring.md).

// The attribute's generated code names `::nassella_apps`, inside this crate too.
extern crate self as nassella_apps;

use nassella_core::App;
use schemars::JsonSchema;
use serde::de::DeserializeOwned;

pub use nassella_apps_macros::catalog_app;

pub mod blocks;

/// Declares the catalog: for each `module => Type, …;` line, `pub mod module;`,
/// `pub use module::Type;` and the type's [`Entry`] in [`catalog()`] (sorted by kind there, so
/// the order of the lines does not matter).
macro_rules! catalog {
    ($( $module:ident => $( $ty:ident ),+ ; )*) => {
        $( pub mod $module; $( pub use $module::$ty; )+ )*

        /// The registered apps, sorted by kind.
        #[must_use]
        pub fn catalog() -> Vec<Entry> {
            let mut entries = vec![$( $( Entry::of::<$ty>(), )+ )*];
            entries.sort_by_key(|e| e.kind);
            entries
        }
    };
}

catalog! {
    actual => Actual;
    audiobookshelf => Audiobookshelf;
    forge => Forgejo, Gitea;
    freshrss => FreshRss;
    ghost => Ghost;
    hello => Hello;
    immich => Immich;
    jellyfin => Jellyfin;
    linkding => Linkding;
    mastodon => Mastodon;
    miniflux => Miniflux;
    navidrome => Navidrome;
    nextcloud => Nextcloud;
    outline => Outline;
    paperless => Paperless;
    plausible => Plausible;
    synapse => Synapse;
    uptime_kuma => UptimeKuma;
    vaultwarden => Vaultwarden;
    wordpress => WordPress;
}

/// Look an app kind up in the catalog.
#[must_use]
pub fn find(kind: &str) -> Option<Entry> {
    catalog().into_iter().find(|e| e.kind == kind)
}

/// An app that can be named in a config file. Written by [`macro@catalog_app`], not by hand.
///
/// Its settings are the struct's serde fields (unknown fields are errors); the config file's
/// table key becomes its id.
pub trait CatalogApp: App + DeserializeOwned + JsonSchema + Sized + 'static {
    /// The name used in config files (`app = "nextcloud"`), also the default id.
    const KIND: &'static str;
    /// One line saying what the app is.
    const SUMMARY: &'static str;

    /// A typical instance, for the catalog's own tests and docs.
    fn example() -> Self;
}

/// Builds an app from config settings (a JSON object without the `app` key); the error is
/// serde's message, which names the offending key.
pub type FromSettings = fn(settings: serde_json::Value) -> Result<Box<dyn App>, String>;

/// One registered app.
#[derive(Clone, Copy)]
pub struct Entry {
    /// Its kind.
    pub kind: &'static str,
    /// What it is.
    pub summary: &'static str,
    /// Build it from config settings (a JSON object without the `app` key).
    pub from_settings: FromSettings,
    /// The JSON Schema of its settings.
    pub schema: fn() -> schemars::Schema,
    /// A typical instance.
    pub example: fn() -> Box<dyn App>,
}

impl Entry {
    /// The entry of `T`.
    #[must_use]
    pub fn of<T: CatalogApp>() -> Self {
        Self {
            kind: T::KIND,
            summary: T::SUMMARY,
            from_settings: |settings| {
                serde_json::from_value::<T>(settings)
                    .map(|app| Box::new(app) as Box<dyn App>)
                    .map_err(|e| e.to_string())
            },
            schema: || schemars::schema_for!(T),
            example: || Box::new(T::example()),
        }
    }
}

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entry")
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}
