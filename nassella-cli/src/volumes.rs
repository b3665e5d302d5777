//! The data volumes of a cloud instance, as the control plane keeps them in
//! `<state>/volumes.json` (never in the user's config):
//!
//! ```json
//! {
//!   "volumes": ["data", "data-2"],
//!   "active": "data-2",
//!   "restoring": { "snapshot": "<full id>", "previous": "data" }
//! }
//! ```
//!
//! Each name is a volume `<instance>-<name>` that Terraform keeps (`prevent_destroy`); `active` is
//! the one attached to the server. They reach Terraform as the tfvars `data_volumes` and
//! `active_data_volume` ([`nassella_core::Instance::data_volumes`]). A missing file means the one
//! volume every deployment starts with, `data`.
//!
//! `nassella backups restore` on a cloud target adds a blank volume, makes it active and records
//! the snapshot in `restoring` *before* it deploys: until one apply has succeeded, every build of
//! the instance (`nassella apply`, `plan`, `build`) carries `[backup] restore_snapshot = <that
//! id>`, so a failed restore is finished by the next `nassella apply` and never lands on the
//! latest snapshot instead. The apply that succeeds clears it, so the snapshot is in effect for
//! that deploy only.

use std::path::PathBuf;

use anyhow::{bail, Context as _, Result};
use nassella_core::{Provider, Stack, FIRST_DATA_VOLUME};
use serde::{Deserialize, Serialize};

use crate::deploy::StateDir;

/// The file name in the instance's state folder.
pub const FILE: &str = "volumes.json";

/// The data volumes of a cloud instance (see the module documentation).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Volumes {
    /// Every volume Terraform keeps, oldest first.
    pub volumes: Vec<String>,
    /// The one attached to the server.
    pub active: String,
    /// A restore onto `active` that no apply has completed yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restoring: Option<Restoring>,
}

/// A restore started by `nassella backups restore` and not applied yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Restoring {
    /// The full snapshot id the new server restores.
    pub snapshot: String,
    /// The volume that was active before (it holds the data the restore replaces).
    pub previous: String,
}

impl Default for Volumes {
    fn default() -> Self {
        Self {
            volumes: vec![FIRST_DATA_VOLUME.to_owned()],
            active: FIRST_DATA_VOLUME.to_owned(),
            restoring: None,
        }
    }
}

impl Volumes {
    /// `<state>/volumes.json`.
    #[must_use]
    pub fn path(state: &StateDir) -> PathBuf {
        state.root().join(FILE)
    }

    /// The instance's volumes; the single `data` volume when the file does not exist.
    ///
    /// # Errors
    /// When the file cannot be read or is not what this module writes.
    pub fn load(state: &StateDir) -> Result<Self> {
        let path = Self::path(state);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        let v: Self = serde_json::from_str(&text).with_context(|| {
            format!(
                "{} is not a volume list written by nassella ({{\"volumes\": [\"data\", …], \"active\": \"data\"}}); fix it by hand: it names the volumes Terraform keeps",
                path.display()
            )
        })?;
        if !v.volumes.contains(&v.active) {
            bail!(
                "{}: the active volume `{}` is not among the kept volumes {:?}; fix the file by hand",
                path.display(),
                v.active,
                v.volumes
            );
        }
        Ok(v)
    }

    /// Write the file (atomically: a temporary file renamed over it).
    ///
    /// # Errors
    /// On I/O failure.
    pub fn save(&self, state: &StateDir) -> Result<()> {
        let path = Self::path(state);
        state.create()?;
        let tmp = path.with_extension("json.tmp");
        let mut text = serde_json::to_string_pretty(self)?;
        text.push('\n');
        std::fs::write(&tmp, text).with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))?;
        Ok(())
    }

    /// The name of the next new volume: `data-<n>`, one more than the highest kept (`data` is 1).
    #[must_use]
    pub fn next_name(&self) -> String {
        let number = |v: &str| -> u32 {
            if v == FIRST_DATA_VOLUME {
                1
            } else {
                v.strip_prefix("data-")
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(0)
            }
        };
        let highest = self.volumes.iter().map(|v| number(v)).max().unwrap_or(0);
        format!("{FIRST_DATA_VOLUME}-{}", highest + 1)
    }

    /// Put the volumes into a cloud stack, and a pending restore's snapshot into its backup
    /// settings (unless the stack already names one).
    ///
    /// # Errors
    /// When a restore is pending but the config has no `[backup]`.
    pub fn apply_to(&self, stack: &mut Stack) -> Result<()> {
        let i = stack.instance().clone();
        *stack.instance_mut() = i.data_volumes(self.volumes.iter().cloned(), self.active.clone());
        if let Some(r) = &self.restoring {
            let Some(b) = stack.backup_mut() else {
                bail!(
                    "a restore of snapshot {} onto the volume `{}` is pending (<state>/{FILE}), but the config has no [backup] section: put it back and run `nassella apply` to finish the restore",
                    r.snapshot,
                    self.active
                );
            };
            if b.restore_snapshot_id().is_none() {
                eprintln!(
                    "==> finishing the restore of snapshot {} onto the new volume `{}` (started by `nassella backups restore`, not deployed yet): this build restores it; the volume `{}` is kept",
                    r.snapshot, self.active, r.previous
                );
                *b = b.clone().restore_snapshot(&r.snapshot);
            }
        }
        Ok(())
    }
}

/// For a cloud stack: read `<state>/volumes.json` and apply it ([`Volumes::apply_to`]).
/// `None` for the local target (its data volume is a folder).
///
/// # Errors
/// When the file is unreadable, or a restore is pending without a `[backup]`.
pub fn adapt(stack: &mut Stack, state: &StateDir) -> Result<Option<Volumes>> {
    if stack.instance().provider_kind() == Provider::Local {
        return Ok(None);
    }
    let v = Volumes::load(state)?;
    v.apply_to(stack)?;
    Ok(Some(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_names_count_up_from_the_first_volume() {
        let mut v = Volumes::default();
        assert_eq!(v.next_name(), "data-2");
        v.volumes = vec!["data-2".into(), "data-7".into(), "other".into()];
        assert_eq!(v.next_name(), "data-8");
    }

    #[test]
    fn the_file_round_trips_and_a_missing_file_is_the_first_volume() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::at(dir.path().join("family"));
        assert_eq!(Volumes::load(&state).unwrap(), Volumes::default());
        let v = Volumes {
            volumes: vec!["data".into(), "data-2".into()],
            active: "data-2".into(),
            restoring: Some(Restoring {
                snapshot: "ab".repeat(32),
                previous: "data".into(),
            }),
        };
        v.save(&state).unwrap();
        assert_eq!(Volumes::load(&state).unwrap(), v);
        std::fs::write(
            Volumes::path(&state),
            r#"{"volumes":["data"],"active":"data-2"}"#,
        )
        .unwrap();
        let e = Volumes::load(&state).unwrap_err();
        assert!(
            format!("{e:#}").contains("not among the kept volumes"),
            "{e:#}"
        );
    }
}
