//! The app catalog. Each app is one file: a settings struct that implements
//! [`nassella_core::App`] and [`CatalogApp`]. Registering it is one line in [`catalog`].
//!
//! A config file reaches only registered apps; a deployment written in Rust can use any type that
//! implements `App`, including apps published in other crates.

use nassella_core::App;
use schemars::JsonSchema;
use serde::de::DeserializeOwned;

pub mod actual;
pub mod audiobookshelf;
pub mod blocks;
pub mod forge;
pub mod freshrss;
pub mod ghost;
pub mod hello;
pub mod immich;
pub mod jellyfin;
pub mod linkding;
pub mod mastodon;
pub mod miniflux;
pub mod navidrome;
pub mod nextcloud;
pub mod outline;
pub mod paperless;
pub mod plausible;
pub mod synapse;
pub mod uptime_kuma;
pub mod vaultwarden;
pub mod wordpress;

pub use actual::Actual;
pub use audiobookshelf::Audiobookshelf;
pub use forge::{Forgejo, Gitea};
pub use freshrss::FreshRss;
pub use ghost::Ghost;
pub use hello::Hello;
pub use immich::Immich;
pub use jellyfin::Jellyfin;
pub use linkding::Linkding;
pub use mastodon::Mastodon;
pub use miniflux::Miniflux;
pub use navidrome::Navidrome;
pub use nextcloud::Nextcloud;
pub use outline::Outline;
pub use paperless::Paperless;
pub use plausible::Plausible;
pub use synapse::Synapse;
pub use uptime_kuma::UptimeKuma;
pub use vaultwarden::Vaultwarden;
pub use wordpress::WordPress;

/// The registered apps, sorted by kind. Adding an app: one line here.
#[must_use]
pub fn catalog() -> Vec<Entry> {
    vec![
        Entry::of::<Actual>(),
        Entry::of::<Audiobookshelf>(),
        Entry::of::<Forgejo>(),
        Entry::of::<FreshRss>(),
        Entry::of::<Ghost>(),
        Entry::of::<Gitea>(),
        Entry::of::<Hello>(),
        Entry::of::<Immich>(),
        Entry::of::<Jellyfin>(),
        Entry::of::<Linkding>(),
        Entry::of::<Mastodon>(),
        Entry::of::<Miniflux>(),
        Entry::of::<Navidrome>(),
        Entry::of::<Nextcloud>(),
        Entry::of::<Outline>(),
        Entry::of::<Paperless>(),
        Entry::of::<Plausible>(),
        Entry::of::<Synapse>(),
        Entry::of::<UptimeKuma>(),
        Entry::of::<Vaultwarden>(),
        Entry::of::<WordPress>(),
    ]
}

/// Look an app kind up in the catalog.
#[must_use]
pub fn find(kind: &str) -> Option<Entry> {
    catalog().into_iter().find(|e| e.kind == kind)
}

/// An app that can be named in a config file.
///
/// Its settings are the struct's serde fields (unknown fields are errors); the config file's
/// table key becomes its id.
pub trait CatalogApp: App + DeserializeOwned + JsonSchema + Sized + 'static {
    /// The name used in config files (`app = "nextcloud"`), also the default id.
    const KIND: &'static str;
    /// One line saying what the app is.
    const SUMMARY: &'static str;

    /// The same app under another id (so one stack can hold two of a kind).
    #[must_use]
    fn with_id(self, id: &str) -> Self;

    /// A typical instance, for the catalog's own tests and docs.
    fn example() -> Self;
}

/// Builds an app from config settings (a JSON object without the `app` key) under an id; the
/// error is serde's message, which names the offending key.
pub type FromSettings = fn(id: &str, settings: serde_json::Value) -> Result<Box<dyn App>, String>;

/// One registered app.
#[derive(Clone, Copy)]
pub struct Entry {
    /// Its kind.
    pub kind: &'static str,
    /// What it is.
    pub summary: &'static str,
    /// Build it from config settings (a JSON object without the `app` key) under `id`.
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
            from_settings: |id, settings| {
                serde_json::from_value::<T>(settings)
                    .map(|app| Box::new(app.with_id(id)) as Box<dyn App>)
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
