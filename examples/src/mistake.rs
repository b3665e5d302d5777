//! A realistic mistake: a stack copied from the family example and edited in a hurry.
//!
//! Two apps claim the same hostname, one hostname is written with a capital letter, and the
//! backup keeps nothing. `cargo run -p examples --bin mistake -- validate` prints every problem at
//! once, each with the path in the stack and the line that declared it:
//!
//! ```text
//! error at backup.keep_daily (examples/src/mistake.rs:24:13): retention keeps nothing: keep at least one daily, weekly or monthly snapshot (keep_daily, keep_weekly, keep_monthly)
//! error at apps.cloud.routes[0].host (examples/src/mistake.rs:32:10): `Cloud.example.com` is not a valid hostname: use lowercase letters only
//! error at apps.git.routes[0].host (examples/src/mistake.rs:34:10): hostname `vault.example.com` is already served by apps.vaultwarden.routes[0].host; each hostname can be routed to one app only
//! 3 error(s), 0 warning(s)
//! ```
//!
//! (The test `mistake_report_is_exact` keeps this text true.)

use nassella_apps::{Forgejo, Nextcloud, Vaultwarden};
use nassella_core::{Backup, Instance, Retention, Stack};

/// The broken stack.
#[must_use]
pub fn stack() -> Stack {
    Stack::new(Instance::new("family"))
        .backup(
            Backup::new("s3:s3.eu-central-003.backblazeb2.com/example-backups/family").retention(
                Retention {
                    daily: 0,
                    weekly: 0,
                    monthly: 0,
                },
            ),
        )
        .app_as("cloud", Nextcloud::new("Cloud.example.com"))
        .app(Vaultwarden::new("vault.example.com"))
        .app_as("git", Forgejo::new("vault.example.com"))
}
