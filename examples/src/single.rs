//! The smallest useful deployment: one password manager on one server.

use nassella_apps::Vaultwarden;
use nassella_core::{Backup, Instance, Stack, Tls};

/// Vaultwarden on a Hetzner `cx23`, backed up to Backblaze B2.
#[must_use]
pub fn stack() -> Stack {
    Stack::new(Instance::new("vault").tls(Tls::Acme {
        email: Some("admin@example.com".into()),
        staging: false,
    }))
    .backup(Backup::new(
        "s3:s3.eu-central-003.backblazeb2.com/example-backups/vault",
    ))
    .app(Vaultwarden::new("vault.example.com"))
}
