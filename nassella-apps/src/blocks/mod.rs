//! Building blocks: what several catalog apps declare the same way (a Postgres database, a
//! Redis or Valkey cache, the first administrator's account). Each is a small builder that adds its service, volumes,
//! network, secret and backup hook to an app's [`nassella_core::Contribution`] and returns the
//! handles the app's own services need.
//!
//! ```
//! use nassella_apps::blocks::postgres::Postgres;
//! use nassella_core::{Contribution, Service};
//!
//! let mut c = Contribution::new();
//! let db = Postgres::new("postgres:18-alpine", "notes").add_to(&mut c);
//! c.service(
//!     Service::new("app", "example/notes:1.0")
//!         .env("DB_PASSWORD", &db.password)
//!         .network(&db.network)
//!         .depends_on_healthy(db.service),
//! );
//! ```

pub mod first_admin;
pub mod postgres;
pub mod redis;
pub mod smtp;
pub mod user_name;
