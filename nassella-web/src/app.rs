//! The application: its state, its router with the security layers, and a server that starts
//! everything (the embedded database too) and stops it again.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context as _, Result};
use axum::Router;
use sqlx::PgPool;
use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, SessionManagerLayer};
use tower_sessions_sqlx_store::PostgresStore;

use crate::auth::ldap::LdapConfig;
use crate::auth::LoginLimits;
use crate::crypto::SealingKey;
use crate::jobs::{ControlPlane, Queue, Worker};
use crate::options::{AuthMode, Options};

/// What every request can reach.
#[derive(Clone, Debug)]
pub struct AppState {
    /// The database.
    pub pool: PgPool,
    /// The operator's key.
    pub key: SealingKey,
    /// The options.
    pub opts: Arc<Options>,
    /// The job queue.
    pub queue: Queue,
    /// Runs the CLI for an instance.
    pub control: ControlPlane,
    /// Sign-in rate limits.
    pub limits: LoginLimits,
    /// LDAP, when signing in by LDAP.
    pub ldap: Option<LdapConfig>,
}

/// The router: every route of [`crate::routes::table`] behind, from the outside in: the
/// forward-auth guard, sessions, the user's identity, and the CSRF check of every POST.
pub fn build_router(state: AppState, sessions: SessionManagerLayer<PostgresStore>) -> Router {
    let mut router = Router::new();
    for def in crate::routes::table() {
        router = router.route(def.path, def.handler);
    }
    router
        .layer(axum::middleware::from_fn(crate::auth::check_csrf))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::auth::identify,
        ))
        .layer(sessions)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::auth::guard_forward_headers,
        ))
        .with_state(state)
}

/// A running server.
#[derive(Debug)]
pub struct Server {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its state.
    pub state: AppState,
    /// The embedded administrator's first password, the first time only.
    pub first_password: Option<String>,
    task: tokio::task::JoinHandle<()>,
    cluster: Option<crate::pg::Cluster>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    worker: Option<(
        tokio::sync::oneshot::Sender<()>,
        tokio::task::JoinHandle<()>,
    )>,
}

fn sealing_key(opts: &Options, state_dir: &std::path::Path, embedded: bool) -> Result<SealingKey> {
    if let Ok(hex) = std::env::var("NASSELLA_WEB_KEY") {
        return SealingKey::from_hex(&hex).context("$NASSELLA_WEB_KEY");
    }
    if let Some(f) = &opts.key_file {
        return SealingKey::from_file(f);
    }
    let default = state_dir.join("web.key");
    if default.exists() {
        return SealingKey::from_file(&default);
    }
    if embedded {
        let key = SealingKey::create_file(&default)?;
        eprintln!(
            "created the key that seals secrets at {}: back it up; without it no stored secret can be read",
            default.display()
        );
        return Ok(key);
    }
    bail!("no key to seal secrets with: set NASSELLA_WEB_KEY (64 hex digits) or --key-file (docs/web.md, \"The key\")")
}

impl Server {
    /// Start: the database (embedded or given), the key, the local administrator in the local
    /// mode, the job runner and the HTTP listener.
    ///
    /// # Errors
    /// When any of them cannot be set up; the message says what to do.
    pub async fn start(opts: Options) -> Result<Self> {
        let state_dir = opts.state_dir();
        std::fs::create_dir_all(&state_dir)
            .with_context(|| format!("creating the state folder {}", state_dir.display()))?;
        let embedded = opts.database_url.is_none();
        let loopback = opts.listen.ip().is_loopback();
        if opts.insecure_cookie && !loopback {
            bail!(
                "--insecure-cookie is for plain HTTP on a loopback address only; {} is not one",
                opts.listen
            );
        }
        let secure_cookie = !(opts.insecure_cookie || (embedded && loopback));
        let mode = opts.auth_mode();
        if mode == AuthMode::Proxy && opts.trusted_proxies.is_empty() {
            bail!("--auth proxy needs --trusted-proxy (the proxy's addresses as CIDRs)");
        }
        let ldap = match mode {
            AuthMode::Ldap => Some(LdapConfig {
                url: opts
                    .ldap_url
                    .clone()
                    .context("--auth ldap needs --ldap-url (ldap://host:389)")?,
                user_dn: opts.ldap_user_dn.clone(),
                group_base: opts.ldap_group_base.clone(),
            }),
            _ => None,
        };
        let key = sealing_key(&opts, &state_dir, embedded)?;
        let (cluster, url) = match &opts.database_url {
            Some(u) => (None, u.clone()),
            None => {
                let dir = state_dir.join("postgres");
                let c = crate::pg::Cluster::start(&dir).await?;
                let url = c.database("nassella_web").await?;
                (Some(c), url)
            }
        };
        let pool = crate::db::connect(&url).await?;
        let first_password = if mode == AuthMode::Local {
            crate::db::ensure_local_admin(&pool).await?
        } else {
            None
        };
        let store = PostgresStore::new(pool.clone());
        store
            .migrate()
            .await
            .context("creating the session table")?;
        let sessions = SessionManagerLayer::new(store)
            .with_name("nassella_session")
            .with_secure(secure_cookie)
            .with_http_only(true)
            .with_same_site(SameSite::Lax)
            .with_expiry(Expiry::OnInactivity(time::Duration::hours(i64::from(
                opts.session_hours.max(1),
            ))));
        let cli: PathBuf = match &opts.cli {
            Some(p) => p.clone(),
            None => std::env::current_exe().context("finding this executable")?,
        };
        let control = ControlPlane {
            pool: pool.clone(),
            key: key.clone(),
            state_dir: state_dir.clone(),
            cli,
            database_url: url.clone(),
        };
        let queue = Queue::new(pool.clone());
        queue
            .migrate()
            .await
            .context("running the job queue's migrations")?;
        let worker_id = format!(
            "{}-{}",
            std::fs::read_to_string("/etc/hostname")
                .unwrap_or_default()
                .trim(),
            std::process::id()
        );
        let worker = Worker::new(queue.clone(), worker_id);
        let (stop_worker, worker_stopped) = tokio::sync::oneshot::channel::<()>();
        let workers = opts.workers;
        let handler = control.clone();
        let worker_task = tokio::spawn(async move {
            let stop = async {
                let _ = worker_stopped.await;
            };
            if let Err(e) = worker.run_until(handler, workers, stop).await {
                tracing::error!("the job worker stopped: {e:#}");
            }
        });
        let state = AppState {
            pool,
            key,
            limits: LoginLimits::new(opts.login_per_minute),
            opts: Arc::new(opts.clone()),
            queue,
            control,
            ldap,
        };
        let app = build_router(state.clone(), sessions);
        let listener = tokio::net::TcpListener::bind(opts.listen)
            .await
            .with_context(|| format!("listening on {}", opts.listen))?;
        let addr = listener.local_addr()?;
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let serve = axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(async {
                let _ = rx.await;
            });
            if let Err(e) = serve.await {
                tracing::error!("server: {e}");
            }
        });
        Ok(Self {
            addr,
            state,
            first_password,
            task,
            cluster,
            shutdown: Some(tx),
            worker: Some((stop_worker, worker_task)),
        })
    }

    /// Wait until the server stops (it does not, unless shut down).
    ///
    /// # Errors
    /// When the server task panicked.
    pub async fn wait(&mut self) -> Result<()> {
        (&mut self.task).await?;
        Ok(())
    }

    /// Stop listening, close the database, stop the embedded cluster.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), &mut self.task).await;
        if let Some((stop, task)) = self.worker.take() {
            let _ = stop.send(());
            // Running jobs finish first; a job cut off here is taken over by another replica
            // (or by this one at its next start) once its heartbeat is stale.
            if tokio::time::timeout(std::time::Duration::from_secs(30), task)
                .await
                .is_err()
            {
                tracing::warn!("jobs still running at stop; another replica will take them over");
            }
        }
        self.state.pool.close().await;
        if let Some(c) = self.cluster.take() {
            if let Err(e) = c.stop().await {
                tracing::warn!("stopping the embedded PostgreSQL: {e:#}");
            }
        }
    }
}
