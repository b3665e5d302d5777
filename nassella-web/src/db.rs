//! The database: connection, migrations and the queries of tenants, users and instances. Every
//! query that reads an instance takes the tenant id too, so a wrong tenant finds nothing.

use anyhow::{Context as _, Result};
use serde_json::Value;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::types::Json;

use crate::auth::Role;

/// Connect and bring the schema up to date (this crate's migrations; those of the job queue are
/// run by nassella-jobs and share the migrations table, hence `ignore_missing`).
///
/// # Errors
/// When the database cannot be reached or a migration fails.
pub async fn connect(url: &str) -> Result<PgPool> {
    let pool = PgPoolOptions::new()
        .max_connections(20)
        .acquire_timeout(std::time::Duration::from_secs(10))
        .connect(url)
        .await
        .context("connecting to PostgreSQL")?;
    let mut m = sqlx::migrate!("./migrations");
    m.set_ignore_missing(true);
    m.run(&pool)
        .await
        .context("running nassella-web's migrations")?;
    Ok(pool)
}

/// A tenant the user may enter, with the user's role there.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Access {
    /// tenants.id
    pub tenant_id: i64,
    /// The tenant's name in URLs and groups.
    pub slug: String,
    /// The role's name.
    pub role: String,
}

impl Access {
    /// The role.
    #[must_use]
    pub fn role(&self) -> Role {
        Role::parse(&self.role).unwrap_or(Role::Viewer)
    }
}

/// An instance row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct InstanceRow {
    /// instances.id
    pub id: i64,
    /// Its tenant.
    pub tenant_id: i64,
    /// The name within the tenant.
    pub name: String,
    /// `local`, `hetzner` or `digitalocean`.
    pub provider: String,
    /// The config file's structure.
    pub config: Json<Value>,
    /// What the last job left it as.
    pub status: String,
    /// Last change of the config.
    pub updated_at: time::OffsetDateTime,
}

/// The tenants `user_id` belongs to, by slug.
///
/// # Errors
/// On database failure.
pub async fn tenants_of(pool: &PgPool, user_id: i64) -> Result<Vec<Access>> {
    Ok(sqlx::query_as::<_, Access>(
        "SELECT t.id AS tenant_id, t.slug, m.role FROM memberships m JOIN tenants t ON t.id = m.tenant_id WHERE m.user_id = $1 ORDER BY t.slug",
    )
    .bind(user_id)
    .fetch_all(pool)
    .await?)
}

/// The user's access to the tenant `slug`, or `None` (also when the tenant does not exist).
///
/// # Errors
/// On database failure.
pub async fn access(pool: &PgPool, user_id: i64, slug: &str) -> Result<Option<Access>> {
    Ok(sqlx::query_as::<_, Access>(
        "SELECT t.id AS tenant_id, t.slug, m.role FROM memberships m JOIN tenants t ON t.id = m.tenant_id WHERE m.user_id = $1 AND t.slug = $2",
    )
    .bind(user_id)
    .bind(slug)
    .fetch_optional(pool)
    .await?)
}

/// The tenant's instances by name.
///
/// # Errors
/// On database failure.
pub async fn instances_of(pool: &PgPool, tenant_id: i64) -> Result<Vec<InstanceRow>> {
    Ok(sqlx::query_as::<_, InstanceRow>(
        "SELECT id, tenant_id, name, provider, config, status, updated_at FROM instances WHERE tenant_id = $1 ORDER BY name",
    )
    .bind(tenant_id)
    .fetch_all(pool)
    .await?)
}

/// One instance of the tenant, or `None`.
///
/// # Errors
/// On database failure.
pub async fn instance(pool: &PgPool, tenant_id: i64, id: i64) -> Result<Option<InstanceRow>> {
    Ok(sqlx::query_as::<_, InstanceRow>(
        "SELECT id, tenant_id, name, provider, config, status, updated_at FROM instances WHERE tenant_id = $1 AND id = $2",
    )
    .bind(tenant_id)
    .bind(id)
    .fetch_optional(pool)
    .await?)
}

/// An instance by id alone: for jobs, which were checked when they were queued.
///
/// # Errors
/// On database failure.
pub async fn instance_by_id(pool: &PgPool, id: i64) -> Result<Option<InstanceRow>> {
    Ok(sqlx::query_as::<_, InstanceRow>(
        "SELECT id, tenant_id, name, provider, config, status, updated_at FROM instances WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(pool)
    .await?)
}

/// Create an instance; `None` when the tenant already has one of that name.
///
/// # Errors
/// On database failure.
pub async fn create_instance(
    pool: &PgPool,
    tenant_id: i64,
    name: &str,
    provider: &str,
    config: &Value,
) -> Result<Option<i64>> {
    Ok(sqlx::query_scalar::<_, i64>(
        "INSERT INTO instances (tenant_id, name, provider, config) VALUES ($1, $2, $3, $4) ON CONFLICT (tenant_id, name) DO NOTHING RETURNING id",
    )
    .bind(tenant_id)
    .bind(name)
    .bind(provider)
    .bind(Json(config))
    .fetch_optional(pool)
    .await?)
}

/// Replace an instance's config.
///
/// # Errors
/// On database failure.
pub async fn save_config(
    pool: &PgPool,
    tenant_id: i64,
    id: i64,
    provider: &str,
    config: &Value,
) -> Result<()> {
    sqlx::query(
        "UPDATE instances SET config = $3, provider = $4, updated_at = now() WHERE tenant_id = $1 AND id = $2",
    )
    .bind(tenant_id)
    .bind(id)
    .bind(Json(config))
    .bind(provider)
    .execute(pool)
    .await?;
    Ok(())
}

/// Record what a job left the instance as.
///
/// # Errors
/// On database failure.
pub async fn set_status(pool: &PgPool, id: i64, status: &str) -> Result<()> {
    sqlx::query("UPDATE instances SET status = $2 WHERE id = $1")
        .bind(id)
        .bind(status)
        .execute(pool)
        .await?;
    Ok(())
}

/// Record a user who signed in through LDAP or a proxy, and replace their memberships by
/// `memberships` (tenants created on first sight). Returns the user's id.
///
/// # Errors
/// On database failure.
pub async fn upsert_external_user(
    pool: &PgPool,
    source: &str,
    username: &str,
    email: Option<&str>,
    memberships: &[(String, Role)],
) -> Result<i64> {
    let mut tx = pool.begin().await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO users (username, email, source, last_login_at) VALUES ($1, $2, $3, now())
         ON CONFLICT (username) DO UPDATE SET email = EXCLUDED.email, last_login_at = now()
         RETURNING id",
    )
    .bind(username)
    .bind(email)
    .bind(source)
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query("DELETE FROM memberships WHERE user_id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    for (slug, role) in memberships {
        let tenant: i64 = sqlx::query_scalar(
            "INSERT INTO tenants (slug) VALUES ($1) ON CONFLICT (slug) DO UPDATE SET slug = EXCLUDED.slug RETURNING id",
        )
        .bind(slug)
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query("INSERT INTO memberships (tenant_id, user_id, role) VALUES ($1, $2, $3)")
            .bind(tenant)
            .bind(id)
            .bind(role.as_str())
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(id)
}

/// The embedded mode's administrator: created with a random password, admin of the tenant
/// `local`, the first time. Returns the new password (to be printed once), or `None` when the
/// administrator exists already.
///
/// # Errors
/// On database failure.
pub async fn ensure_local_admin(pool: &PgPool) -> Result<Option<String>> {
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM users WHERE source = 'local')")
            .fetch_one(pool)
            .await?;
    if exists {
        return Ok(None);
    }
    let password = crate::auth::random_token()[..20].to_owned();
    let hash = crate::auth::hash_password(&password)?;
    let mut tx = pool.begin().await?;
    let user: i64 = sqlx::query_scalar(
        "INSERT INTO users (username, source, password_hash) VALUES ('admin', 'local', $1) RETURNING id",
    )
    .bind(&hash)
    .fetch_one(&mut *tx)
    .await?;
    let tenant: i64 = sqlx::query_scalar(
        "INSERT INTO tenants (slug) VALUES ('local') ON CONFLICT (slug) DO UPDATE SET slug = EXCLUDED.slug RETURNING id",
    )
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query("INSERT INTO memberships (tenant_id, user_id, role) VALUES ($1, $2, 'admin')")
        .bind(tenant)
        .bind(user)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(Some(password))
}

/// A local user's id and password hash.
///
/// # Errors
/// On database failure.
pub async fn local_user(pool: &PgPool, username: &str) -> Result<Option<(i64, String)>> {
    Ok(sqlx::query_as::<_, (i64, String)>(
        "SELECT id, password_hash FROM users WHERE username = $1 AND source = 'local' AND password_hash IS NOT NULL",
    )
    .bind(username)
    .fetch_optional(pool)
    .await?)
}
