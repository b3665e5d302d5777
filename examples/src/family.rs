//! A family's server: files and calendars, passwords and code, on one Hetzner machine.

use nassella_apps::{Forgejo, Nextcloud, Vaultwarden};
use nassella_core::{Backup, Instance, Retention, Stack, Tls};

/// Nextcloud, Vaultwarden and Forgejo (with git over SSH on port 2222), backed up nightly.
#[must_use]
pub fn stack() -> Stack {
    Stack::new(
        Instance::new("family")
            .server_type("cx33")
            .location("nbg1")
            .volume_size_gb(100)
            .tls(Tls::Acme {
                email: Some("admin@example.com".into()),
                staging: false,
            }),
    )
    .backup(
        Backup::new("s3:s3.eu-central-003.backblazeb2.com/example-backups/family").retention(
            Retention {
                daily: 7,
                weekly: 5,
                monthly: 12,
            },
        ),
    )
    .app_as("cloud", Nextcloud::new("cloud.example.com"))
    .app_as("vault", Vaultwarden::new("vault.example.com"))
    .app_as("git", Forgejo::new("git.example.com").ssh_port(2222))
}
