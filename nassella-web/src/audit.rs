//! The audit log: who did what, when, from where. Rows are only ever added; secrets' values never
//! enter it (only their names).

use std::net::IpAddr;

use anyhow::Result;
use sqlx::PgPool;

use crate::auth::CurrentUser;

/// Add a row.
///
/// # Errors
/// On database failure.
pub async fn record(
    pool: &PgPool,
    user: &CurrentUser,
    tenant_id: Option<i64>,
    action: &str,
    object: &str,
    detail: serde_json::Value,
    remote: Option<IpAddr>,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO audit_log (tenant_id, user_id, username, action, object, detail, remote) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(tenant_id)
    .bind(user.id)
    .bind(&user.username)
    .bind(action)
    .bind(object)
    .bind(sqlx::types::Json(detail))
    .bind(remote.map(|r| r.to_string()))
    .execute(pool)
    .await?;
    Ok(())
}

/// One row, for the audit page.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Entry {
    /// When.
    pub at: time::OffsetDateTime,
    /// Who.
    pub username: String,
    /// What.
    pub action: String,
    /// On what.
    pub object: String,
    /// More, as JSON text.
    pub detail: sqlx::types::Json<serde_json::Value>,
}

/// The tenant's latest `limit` rows, newest first.
///
/// # Errors
/// On database failure.
pub async fn latest(pool: &PgPool, tenant_id: i64, limit: i64) -> Result<Vec<Entry>> {
    Ok(sqlx::query_as::<_, Entry>(
        "SELECT at, username, action, object, detail FROM audit_log WHERE tenant_id = $1 ORDER BY at DESC, id DESC LIMIT $2",
    )
    .bind(tenant_id)
    .bind(limit)
    .fetch_all(pool)
    .await?)
}
