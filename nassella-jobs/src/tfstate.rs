//! Terraform state in PostgreSQL: Terraform's built-in `pg` backend, one schema per instance
//! (docs/web.md, "Terraform state in PostgreSQL").
//!
//! **The global creation lock.** The `pg` backend locks a workspace with a session-level
//! `pg_try_advisory_lock(<row id>)`, and creating a workspace (its first run, when the
//! `states` row is missing) takes `pg_try_advisory_lock(-1)`, which is global to the database:
//! while any instance's workspace is being created, every other instance's lock attempt fails
//! ("Cannot lock workspace; already locked for workspace creation"), and every lock attempt on an
//! existing workspace briefly takes and releases -1 too. So, with many instances in one database:
//!
//! 1. [`prepare`] creates each instance's schema, `states` table, index and its `default`
//!    workspace row (an empty Terraform state) up front, serialised across replicas by a
//!    transaction-level advisory lock of our own. Terraform then never takes the creation path,
//!    and never runs DDL (`skip_schema_creation`, `skip_table_creation`, `skip_index_creation`:
//!    concurrent `CREATE … IF NOT EXISTS` can fail in PostgreSQL).
//! 2. Every locking command gets `-lock-timeout` ([`LOCK_TIMEOUT`]), so the instant another
//!    instance's lock holds -1 is waited out instead of failing, and a lock still held by a
//!    session of a dead worker (until PostgreSQL notices its connection closed) is waited for.
//!
//! The connection string (with its password) reaches Terraform only through `PG_CONN_STR` in
//! its environment ([`Backend::env`]): never on a command line (visible in `ps`) nor in
//! `.terraform/terraform.tfstate`, where `-backend-config` values are saved.

use anyhow::{Context as _, Result};
use sqlx::PgPool;
use uuid::Uuid;

/// How long a Terraform command waits for the state lock.
pub const LOCK_TIMEOUT: &str = "120s";

/// The backend block every module run with state in PostgreSQL needs (a partial configuration:
/// the rest comes from [`Backend::init_args`] and [`Backend::env`]). Write it as `backend.tf`.
pub const BACKEND_TF: &str = "# Written by nassella-jobs: Terraform's state lives in PostgreSQL (docs/web.md).\nterraform {\n  backend \"pg\" {}\n}\n";

/// A key of ours for `pg_advisory_xact_lock` (ASCII "nasstate"), far from Terraform's keys (row
/// ids from 1 up, and -1).
const PREPARE_LOCK: i64 = 0x6e61_7373_7461_7465;

/// The state of one instance: where it lives and how Terraform reaches it.
#[derive(Debug, Clone)]
pub struct Backend {
    conn_str: String,
    schema: String,
}

impl Backend {
    /// The state of `instance` in the database at `conn_str` (a `postgres://` URL Terraform's
    /// `lib/pq` reads: the embedded cluster's URLs are). Its schema is `tf_<instance hex>`.
    #[must_use]
    pub fn new(conn_str: &str, instance: Uuid) -> Self {
        Self {
            conn_str: conn_str.to_owned(),
            schema: schema_name(instance),
        }
    }

    /// The schema holding this instance's `states` table.
    #[must_use]
    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// The `terraform init` arguments: the schema and the skips (no secret in them).
    #[must_use]
    pub fn init_args(&self) -> Vec<String> {
        vec![
            "-input=false".to_owned(),
            "-reconfigure".to_owned(),
            format!("-backend-config=schema_name={}", self.schema),
            "-backend-config=skip_schema_creation=true".to_owned(),
            "-backend-config=skip_table_creation=true".to_owned(),
            "-backend-config=skip_index_creation=true".to_owned(),
        ]
    }

    /// The environment of every Terraform command: the connection string, with
    /// `application_name` set to `session` so the session (and its locks) can be told apart in
    /// `pg_stat_activity`.
    #[must_use]
    pub fn env(&self, session: &str) -> Vec<(String, String)> {
        let sep = if self.conn_str.contains('?') {
            '&'
        } else {
            '?'
        };
        let app: String = session
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .take(60)
            .collect();
        vec![(
            "PG_CONN_STR".to_owned(),
            format!("{}{sep}application_name={app}", self.conn_str),
        )]
    }
}

/// `tf_` and the instance id in hex: a valid unquoted identifier (35 characters).
#[must_use]
pub fn schema_name(instance: Uuid) -> String {
    format!("tf_{}", instance.simple())
}

/// Create the schema, table, index and `default` workspace row of `instance`'s state if missing
/// (idempotent, safe from many replicas at once). See the module documentation for why.
///
/// # Errors
/// When the database refuses.
pub async fn prepare(pool: &PgPool, instance: Uuid) -> Result<()> {
    let schema = schema_name(instance);
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(PREPARE_LOCK)
        .execute(&mut *tx)
        .await?;
    // The same objects Terraform's pg backend would create (its backend.go), so a database
    // prepared here is one Terraform recognises.
    for ddl in [
        format!("CREATE SCHEMA IF NOT EXISTS {schema}"),
        "CREATE SEQUENCE IF NOT EXISTS public.global_states_id_seq AS bigint".to_owned(),
        format!(
            "CREATE TABLE IF NOT EXISTS {schema}.states (id bigint NOT NULL DEFAULT nextval('public.global_states_id_seq') PRIMARY KEY, name text UNIQUE, data text)"
        ),
        format!("CREATE UNIQUE INDEX IF NOT EXISTS states_by_name ON {schema}.states (name)"),
    ] {
        sqlx::query(&ddl)
            .execute(&mut *tx)
            .await
            .with_context(|| format!("preparing the Terraform state schema {schema}"))?;
    }
    // The default workspace, as Terraform writes it for a new one: an empty state (format 4)
    // with its own lineage.
    let empty = serde_json::json!({
        "version": 4,
        "terraform_version": "1.4.0",
        "serial": 0,
        "lineage": Uuid::new_v4().to_string(),
        "outputs": {},
        "resources": [],
        "check_results": null,
    });
    sqlx::query(&format!(
        "INSERT INTO {schema}.states (name, data) VALUES ('default', $1) ON CONFLICT (name) DO NOTHING"
    ))
    .bind(empty.to_string())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The current state of `instance` (the `default` workspace), if any.
///
/// # Errors
/// When the database refuses or the state is not JSON.
pub async fn read(pool: &PgPool, instance: Uuid) -> Result<Option<serde_json::Value>> {
    let schema = schema_name(instance);
    let exists: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM information_schema.tables WHERE table_schema = $1 AND table_name = 'states')",
    )
    .bind(&schema)
    .fetch_one(pool)
    .await?;
    if !exists {
        return Ok(None);
    }
    let data: Option<String> = sqlx::query_scalar(&format!(
        "SELECT data FROM {schema}.states WHERE name = 'default'"
    ))
    .fetch_optional(pool)
    .await?;
    data.map(|d| serde_json::from_str(&d).context("the Terraform state is not JSON"))
        .transpose()
}
