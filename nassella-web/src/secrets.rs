//! An instance's secrets in the database, sealed (see [`crate::crypto`]). Pages only ever see
//! their names; the values are opened only to hand them to a job's private folder.

use anyhow::{bail, Result};
use sqlx::PgPool;

use crate::crypto::{Sealed, SealingKey};

/// What a secret is for, and the environment variable a job passes it as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SecretName {
    /// Its name (an environment variable, or `master_key`).
    pub name: &'static str,
    /// Its kind, as stored.
    pub kind: &'static str,
    /// What the form says about it.
    pub help: &'static str,
}

/// The secrets an operator can enter: the cloud tokens and the restic repository's storage
/// credentials the CLI reads from its environment, and the master key.
pub const NAMES: &[SecretName] = &[
    SecretName {
        name: "master_key",
        kind: "master_key",
        help: "the instance's master key (64 hex digits); every app password is derived from it. One is made when the instance is created; enter your own only to adopt an instance deployed with the CLI",
    },
    SecretName {
        name: "HCLOUD_TOKEN",
        kind: "cloud_token",
        help: "Hetzner Cloud API token (read & write)",
    },
    SecretName {
        name: "DIGITALOCEAN_TOKEN",
        kind: "cloud_token",
        help: "DigitalOcean API token",
    },
    SecretName {
        name: "AWS_ACCESS_KEY_ID",
        kind: "repository_credential",
        help: "S3 access key id of the backup repository",
    },
    SecretName {
        name: "AWS_SECRET_ACCESS_KEY",
        kind: "repository_credential",
        help: "S3 secret key of the backup repository",
    },
    SecretName {
        name: "B2_ACCOUNT_ID",
        kind: "repository_credential",
        help: "Backblaze B2 account id of the backup repository",
    },
    SecretName {
        name: "B2_ACCOUNT_KEY",
        kind: "repository_credential",
        help: "Backblaze B2 application key of the backup repository",
    },
];

/// The entry of `name`, if it is one an operator may set.
#[must_use]
pub fn lookup(name: &str) -> Option<&'static SecretName> {
    NAMES.iter().find(|n| n.name == name)
}

/// Seal and store (or replace) the secret `name` of an instance.
///
/// # Errors
/// When the name is unknown, the master key is malformed, or the database fails.
pub async fn store(
    pool: &PgPool,
    key: &SealingKey,
    instance_id: i64,
    name: &str,
    value: &str,
) -> Result<()> {
    let Some(entry) = lookup(name) else {
        bail!("`{name}` is not a secret this app keeps");
    };
    if entry.kind == "master_key" {
        nassella_core::MasterKey::from_hex(value.trim())
            .map_err(|e| anyhow::anyhow!("the master key: {e}"))?;
    }
    let mut tx = pool.begin().await?;
    sqlx::query("DELETE FROM secrets WHERE instance_id = $1 AND name = $2")
        .bind(instance_id)
        .bind(name)
        .execute(&mut *tx)
        .await?;
    let id: i64 = sqlx::query_scalar("SELECT nextval('secrets_id_seq')")
        .fetch_one(&mut *tx)
        .await?;
    let sealed = key.seal(id, value.trim().as_bytes());
    sqlx::query(
        "INSERT INTO secrets (id, instance_id, kind, name, nonce, sealed) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(id)
    .bind(instance_id)
    .bind(entry.kind)
    .bind(name)
    .bind(&sealed.nonce)
    .bind(&sealed.sealed)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The names of an instance's secrets (never their values).
///
/// # Errors
/// On database failure.
pub async fn names(pool: &PgPool, instance_id: i64) -> Result<Vec<String>> {
    Ok(
        sqlx::query_scalar("SELECT name FROM secrets WHERE instance_id = $1 ORDER BY name")
            .bind(instance_id)
            .fetch_all(pool)
            .await?,
    )
}

/// Open every secret of an instance: (name, value). For jobs only.
///
/// # Errors
/// When a value does not open (another key) or the database fails.
pub async fn open_all(
    pool: &PgPool,
    key: &SealingKey,
    instance_id: i64,
) -> Result<Vec<(String, String)>> {
    let rows: Vec<(i64, String, Vec<u8>, Vec<u8>)> = sqlx::query_as(
        "SELECT id, name, nonce, sealed FROM secrets WHERE instance_id = $1 ORDER BY name",
    )
    .bind(instance_id)
    .fetch_all(pool)
    .await?;
    rows.into_iter()
        .map(|(id, name, nonce, sealed)| {
            let plain = key.open(id, &Sealed { nonce, sealed })?;
            Ok((name, String::from_utf8(plain)?))
        })
        .collect()
}
