//! The pages: one handler per route of [`crate::routes::table`]. Every handler that takes a
//! tenant checks the user's membership first and answers 404 when there is none, and every
//! object is looked up with its tenant's id, so another tenant's objects are simply not found.

use std::convert::Infallible;
use std::net::SocketAddr;

use askama::Template;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::header;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::Form;
use futures_util::StreamExt as _;
use serde::Deserialize;
use serde_json::{json, Value};
use tower_sessions::Session;
use uuid::Uuid;

use crate::app::AppState;
use crate::auth::{self, CsrfToken, CurrentUser, Role};
use crate::db::{self, Access, InstanceRow};
use crate::error::{AppError, AppResult};
use crate::jobs::{self, JobState};
use crate::views::{self, Chrome};
use crate::{audit, form, secrets};
use nassella_jobs::Job as JobInfo;

/// Path parameters; a value that does not parse (an id that is not a number) is "not found",
/// like any other object that is not there.
pub struct P<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned + Send> axum::extract::FromRequestParts<S>
    for P<T>
{
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(t)| Self(t))
            .map_err(|_| AppError::NotFound)
    }
}

fn render(t: &impl Template) -> AppResult<Response> {
    Ok(Html(t.render().map_err(anyhow::Error::from)?).into_response())
}

fn time_text(t: time::OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute()
    )
}

/// The user's access to the tenant, or 404.
async fn enter(state: &AppState, user: &CurrentUser, slug: &str) -> AppResult<Access> {
    db::access(&state.pool, user.id, slug)
        .await?
        .ok_or(AppError::NotFound)
}

fn require(access: &Access, role: Role) -> AppResult<()> {
    if access.role() >= role {
        Ok(())
    } else {
        Err(AppError::Forbidden(match role {
            Role::Admin => "This needs the admin role in this tenant.",
            _ => "This needs the operator role in this tenant.",
        }))
    }
}

async fn chrome(
    state: &AppState,
    user: &CurrentUser,
    access: Option<&Access>,
    csrf: String,
) -> AppResult<Chrome> {
    Ok(Chrome {
        user: user.username.clone(),
        csrf,
        tenants: db::tenants_of(&state.pool, user.id)
            .await?
            .into_iter()
            .map(|a| a.slug)
            .collect(),
        tenant: access.map(|a| a.slug.clone()).unwrap_or_default(),
        role: access.map(|a| a.role.clone()).unwrap_or_default(),
    })
}

async fn instance_of(state: &AppState, access: &Access, id: i64) -> AppResult<InstanceRow> {
    db::instance(&state.pool, access.tenant_id, id)
        .await?
        .ok_or(AppError::NotFound)
}

fn job_line(j: &JobInfo) -> views::JobLine {
    views::JobLine {
        id: j.id.to_string(),
        kind: j.kind.clone(),
        state: j.state.as_str().to_owned(),
        by: j.requested_by.clone(),
        at: time_text(j.created_at),
        summary: jobs::summary(j),
    }
}

// ---- public ----

/// `GET /healthz`: the database answers.
pub async fn healthz(State(state): State<AppState>) -> AppResult<&'static str> {
    sqlx::query("SELECT 1").execute(&state.pool).await?;
    Ok("ok\n")
}

/// `GET /static/app.js`
pub async fn app_js() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        include_str!("../static/app.js"),
    )
}

/// `GET /static/style.css`
pub async fn style_css() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("../static/style.css"),
    )
}

/// `GET /`: the first tenant's instances, or the sign-in page.
pub async fn home(State(state): State<AppState>, user: Option<CurrentUser>) -> AppResult<Response> {
    let Some(user) = user else {
        return Ok(Redirect::to("/login").into_response());
    };
    let tenants = db::tenants_of(&state.pool, user.id).await?;
    match tenants.first() {
        Some(t) => Ok(Redirect::to(&format!("/t/{}", t.slug)).into_response()),
        None => Err(AppError::Forbidden(
            "You belong to no tenant: ask for a group like nassella-<tenant>-viewer.",
        )),
    }
}

fn mode_text(state: &AppState) -> String {
    match state.opts.auth_mode() {
        crate::AuthMode::Local => "Sign in as the local administrator (`admin`; its first password was printed when the server first started).".into(),
        crate::AuthMode::Ldap => "Sign in with your directory (LDAP) user name and password.".into(),
        crate::AuthMode::Proxy => "This server is behind a sign-in proxy; open it through the proxy.".into(),
    }
}

/// `GET /login`
pub async fn login_form(State(state): State<AppState>, csrf: CsrfToken) -> AppResult<Response> {
    render(&views::Login {
        c: Chrome {
            csrf: csrf.0,
            ..Chrome::default()
        },
        mode: mode_text(&state),
        error: String::new(),
        username: String::new(),
    })
}

/// The sign-in form.
#[derive(Debug, Deserialize)]
pub struct LoginForm {
    username: String,
    password: String,
}

/// `POST /login`: local password or LDAP bind, rate-limited per address and per name.
pub async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    session: Session,
    csrf: CsrfToken,
    Form(f): Form<LoginForm>,
) -> AppResult<Response> {
    let username = f.username.trim().to_owned();
    let fail = |why: &str, csrf: String| -> AppResult<Response> {
        let mut r = render(&views::Login {
            c: Chrome {
                csrf,
                ..Chrome::default()
            },
            mode: mode_text(&state),
            error: why.into(),
            username: username.clone(),
        })?;
        *r.status_mut() = axum::http::StatusCode::UNAUTHORIZED;
        Ok(r)
    };
    if !state.limits.allow(peer.ip(), &username) {
        tracing::warn!(peer = %peer.ip(), user = %username, "sign-in rate limit reached");
        return Err(AppError::TooMany);
    }
    let user = match state.opts.auth_mode() {
        crate::AuthMode::Local => {
            let row = db::local_user(&state.pool, &username).await?;
            let password = f.password.clone();
            let ok = tokio::task::spawn_blocking(move || match &row {
                Some((id, hash)) => auth::verify_password(&password, hash).then_some(*id),
                None => {
                    // The same work as a real check, so timing does not tell names apart.
                    let _ = auth::verify_password(&password, DUMMY_HASH);
                    None
                }
            })
            .await?;
            match ok {
                Some(id) => {
                    sqlx::query("UPDATE users SET last_login_at = now() WHERE id = $1")
                        .bind(id)
                        .execute(&state.pool)
                        .await?;
                    let u = CurrentUser {
                        id,
                        username: username.clone(),
                    };
                    audit::record(
                        &state.pool,
                        &u,
                        None,
                        "sign-in",
                        &format!("user {username}"),
                        json!({"via": "local"}),
                        Some(peer.ip()),
                    )
                    .await?;
                    u
                }
                None => {
                    tracing::info!(peer = %peer.ip(), user = %username, "failed local sign-in");
                    return fail("Wrong user name or password.", csrf.0);
                }
            }
        }
        crate::AuthMode::Ldap => {
            let Some(cfg) = state.ldap.clone() else {
                return Err(AppError::Internal(anyhow::anyhow!("--ldap-url is not set")));
            };
            match auth::ldap::authenticate(&cfg, &username, &f.password).await {
                Ok(u) => {
                    auth::sign_in_external(
                        &state,
                        "ldap",
                        &username,
                        u.email.as_deref(),
                        &u.groups,
                        peer,
                    )
                    .await?
                }
                Err(auth::ldap::LdapError::Credentials) => {
                    tracing::info!(peer = %peer.ip(), user = %username, "failed LDAP sign-in");
                    return fail("Wrong user name or password.", csrf.0);
                }
                Err(e) => {
                    tracing::error!("LDAP: {e}");
                    return fail("The directory cannot be reached; try again later.", csrf.0);
                }
            }
        }
        crate::AuthMode::Proxy => return Err(AppError::NotFound),
    };
    auth::start_session(&session, &user).await?;
    Ok(Redirect::to("/").into_response())
}

/// An argon2 hash of a random password, for the timing of unknown names.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$0gDVPlqIjxKh0Z0Z6QwN7l8gqk1r4m5hZ3X1nZ0uQ2c";

/// `POST /logout`
pub async fn logout(session: Session) -> AppResult<Response> {
    session.flush().await.map_err(anyhow::Error::from)?;
    Ok(Redirect::to("/login").into_response())
}

// ---- a tenant ----

/// `GET /t/{tenant}`: the tenant's instances.
pub async fn dashboard(
    State(state): State<AppState>,
    user: CurrentUser,
    csrf: CsrfToken,
    P(tenant): P<String>,
) -> AppResult<Response> {
    let access = enter(&state, &user, &tenant).await?;
    let instances = db::instances_of(&state.pool, access.tenant_id)
        .await?
        .into_iter()
        .map(|i| views::InstanceLine {
            apps: i.config.0["apps"]
                .as_object()
                .map(|m| m.keys().cloned().collect::<Vec<_>>().join(", "))
                .unwrap_or_default(),
            id: i.id,
            name: i.name,
            provider: i.provider,
            status: i.status,
            updated: time_text(i.updated_at),
        })
        .collect();
    render(&views::Dashboard {
        c: chrome(&state, &user, Some(&access), csrf.0).await?,
        instances,
    })
}

/// `GET /t/{tenant}/audit` (admins).
pub async fn audit_log(
    State(state): State<AppState>,
    user: CurrentUser,
    csrf: CsrfToken,
    P(tenant): P<String>,
) -> AppResult<Response> {
    let access = enter(&state, &user, &tenant).await?;
    require(&access, Role::Admin)?;
    let rows = audit::latest(&state.pool, access.tenant_id, 500)
        .await?
        .into_iter()
        .map(|e| views::AuditLine {
            at: time_text(e.at),
            who: e.username,
            action: e.action,
            object: e.object,
            detail: e.detail.0.to_string(),
        })
        .collect();
    render(&views::Audit {
        c: chrome(&state, &user, Some(&access), csrf.0).await?,
        rows,
    })
}

/// `GET /t/{tenant}/instances/new`
pub async fn new_instance_form(
    State(state): State<AppState>,
    user: CurrentUser,
    csrf: CsrfToken,
    P(tenant): P<String>,
) -> AppResult<Response> {
    let access = enter(&state, &user, &tenant).await?;
    require(&access, Role::Operator)?;
    render(&views::NewInstance {
        c: chrome(&state, &user, Some(&access), csrf.0).await?,
        name: String::new(),
        provider: "local".into(),
        error: String::new(),
    })
}

/// The new-instance form.
#[derive(Debug, Deserialize)]
pub struct NewInstanceForm {
    name: String,
    provider: String,
}

fn valid_instance_name(n: &str) -> bool {
    let b = n.as_bytes();
    (1..=25).contains(&b.len())
        && b[0].is_ascii_lowercase()
        && b[b.len() - 1] != b'-'
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
}

/// `POST /t/{tenant}/instances`: a new instance with a new master key, no apps yet.
pub async fn create_instance(
    State(state): State<AppState>,
    user: CurrentUser,
    csrf: CsrfToken,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    P(tenant): P<String>,
    Form(f): Form<NewInstanceForm>,
) -> AppResult<Response> {
    let access = enter(&state, &user, &tenant).await?;
    require(&access, Role::Operator)?;
    let name = f.name.trim().to_owned();
    let error = if !valid_instance_name(&name) {
        "Use 1 to 25 lowercase letters, digits and '-', starting with a letter and not ending with '-'."
    } else if !["local", "hetzner", "digitalocean"].contains(&f.provider.as_str()) {
        "Choose local, hetzner or digitalocean."
    } else {
        ""
    };
    let id = if error.is_empty() {
        let full = format!("{}-{name}", access.slug);
        db::create_instance(
            &state.pool,
            access.tenant_id,
            &name,
            &f.provider,
            &form::new_config(&full, &f.provider),
        )
        .await?
    } else {
        None
    };
    let Some(id) = id else {
        let error = if error.is_empty() {
            "This tenant has an instance of that name already."
        } else {
            error
        };
        let mut r = render(&views::NewInstance {
            c: chrome(&state, &user, Some(&access), csrf.0).await?,
            name,
            provider: f.provider,
            error: error.into(),
        })?;
        *r.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
        return Ok(r);
    };
    let key = nassella_core::MasterKey::from_bytes(rand_bytes());
    secrets::store(&state.pool, &state.key, id, "master_key", &key.to_hex()).await?;
    audit::record(
        &state.pool,
        &user,
        Some(access.tenant_id),
        "create-instance",
        &format!("instance {name}"),
        json!({ "provider": f.provider }),
        Some(peer.ip()),
    )
    .await?;
    Ok(Redirect::to(&format!("/t/{}/instances/{id}", access.slug)).into_response())
}

fn rand_bytes() -> [u8; 32] {
    use rand::RngCore as _;
    let mut b = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut b);
    b
}

#[allow(clippy::too_many_arguments)] // one page, all of whose parts differ between callers
async fn instance_page(
    state: &AppState,
    user: &CurrentUser,
    access: &Access,
    csrf: String,
    inst: &InstanceRow,
    config: &Value,
    pre: &[(String, String)],
    notice: &str,
) -> AppResult<Response> {
    let mut f = form::form_of(config);
    let (errors, warnings) = form::check(config);
    f.attach(pre);
    f.attach(&errors);
    f.warnings = warnings.iter().map(|(p, m)| format!("{p}: {m}")).collect();
    let addresses = if inst.status == "running" {
        form::stack_of(config)
            .ok()
            .and_then(|(s, _)| nassella_core::compose(&s).ok().map(|v| (s, v)))
            .map(|(s, v)| {
                v.apps()
                    .iter()
                    .flat_map(|a| {
                        a.hosts()
                            .map(|h| format!("{}: {}/", a.id(), s.instance().public_url(h)))
                            .collect::<Vec<_>>()
                    })
                    .collect()
            })
            .unwrap_or_default()
    } else {
        vec![]
    };
    let mut r = render(&views::Instance {
        c: chrome(state, user, Some(access), csrf).await?,
        id: inst.id,
        name: inst.name.clone(),
        status: inst.status.clone(),
        form: f,
        notice: notice.into(),
        catalog: nassella_apps::catalog()
            .iter()
            .map(|e| (e.kind.to_owned(), e.summary.to_owned()))
            .collect(),
        secret_names: secrets::names(&state.pool, inst.id).await?,
        secret_choices: secrets::NAMES
            .iter()
            .map(|n| (n.name.to_owned(), n.help.to_owned()))
            .collect(),
        jobs: state
            .queue
            .for_instance(jobs::key(inst.id), 20)
            .await?
            .iter()
            .map(job_line)
            .collect(),
        addresses,
    })?;
    if !pre.is_empty() {
        *r.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
    }
    Ok(r)
}

/// `GET /t/{tenant}/instances/{id}`
pub async fn instance(
    State(state): State<AppState>,
    user: CurrentUser,
    csrf: CsrfToken,
    P((tenant, id)): P<(String, i64)>,
) -> AppResult<Response> {
    let access = enter(&state, &user, &tenant).await?;
    let inst = instance_of(&state, &access, id).await?;
    let config = inst.config.0.clone();
    instance_page(&state, &user, &access, csrf.0, &inst, &config, &[], "").await
}

/// `POST /t/{tenant}/instances/{id}`: save the config. Fields that cannot be read (a number that
/// is not one) are shown and nothing is saved; problems the composer finds are saved with the
/// draft and shown at their fields, and block deploying until fixed.
pub async fn save_instance(
    State(state): State<AppState>,
    user: CurrentUser,
    csrf: CsrfToken,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    P((tenant, id)): P<(String, i64)>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> AppResult<Response> {
    let access = enter(&state, &user, &tenant).await?;
    require(&access, Role::Operator)?;
    let inst = instance_of(&state, &access, id).await?;
    let (mut config, unreadable) = form::apply_form(&inst.config.0, &pairs);
    // The instance's name is not a form field: it stays `<tenant>-<name>`.
    config["instance"]["name"] = inst.config.0["instance"]["name"].clone();
    if !unreadable.is_empty() {
        return instance_page(
            &state,
            &user,
            &access,
            csrf.0,
            &inst,
            &config,
            &unreadable,
            "",
        )
        .await;
    }
    let provider = config["instance"]["provider"]
        .as_str()
        .filter(|p| ["local", "hetzner", "digitalocean"].contains(p))
        .unwrap_or(&inst.provider)
        .to_owned();
    db::save_config(&state.pool, access.tenant_id, id, &provider, &config).await?;
    let (errors, _) = form::check(&config);
    audit::record(
        &state.pool,
        &user,
        Some(access.tenant_id),
        "save-config",
        &format!("instance {}", inst.name),
        json!({ "problems": errors.len() }),
        Some(peer.ip()),
    )
    .await?;
    let inst = instance_of(&state, &access, id).await?;
    let notice = if errors.is_empty() {
        "Saved."
    } else {
        "Saved as a draft."
    };
    instance_page(&state, &user, &access, csrf.0, &inst, &config, &[], notice).await
}

/// Add-an-app form.
#[derive(Debug, Deserialize)]
pub struct AddApp {
    kind: String,
    #[serde(default)]
    id: String,
}

/// `POST /t/{tenant}/instances/{id}/apps`: add a catalog app (its settings empty, to be filled).
pub async fn add_app(
    State(state): State<AppState>,
    user: CurrentUser,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    P((tenant, id)): P<(String, i64)>,
    Form(f): Form<AddApp>,
) -> AppResult<Response> {
    let access = enter(&state, &user, &tenant).await?;
    require(&access, Role::Operator)?;
    let inst = instance_of(&state, &access, id).await?;
    let Some(entry) = nassella_apps::find(&f.kind) else {
        return Err(AppError::BadRequest(format!(
            "`{}` is not in the catalog",
            f.kind
        )));
    };
    let app_id = if f.id.trim().is_empty() {
        entry.kind.to_owned()
    } else {
        f.id.trim().to_owned()
    };
    if app_id.len() > 40
        || !app_id
            .bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
    {
        return Err(AppError::BadRequest(
            "an app id is lowercase letters, digits and '-'".into(),
        ));
    }
    let mut config = inst.config.0.clone();
    if config["apps"].get(&app_id).is_some() {
        return Err(AppError::BadRequest(format!(
            "the instance has an app `{app_id}` already"
        )));
    }
    if !config["apps"].is_object() {
        config["apps"] = json!({});
    }
    config["apps"][&app_id] = json!({ "app": entry.kind });
    db::save_config(&state.pool, access.tenant_id, id, &inst.provider, &config).await?;
    audit::record(
        &state.pool,
        &user,
        Some(access.tenant_id),
        "add-app",
        &format!("instance {}", inst.name),
        json!({ "app": app_id, "kind": entry.kind }),
        Some(peer.ip()),
    )
    .await?;
    Ok(Redirect::to(&format!("/t/{}/instances/{id}#app-{app_id}", access.slug)).into_response())
}

/// Remove-an-app form.
#[derive(Debug, Deserialize)]
pub struct RemoveApp {
    id: String,
}

/// `POST /t/{tenant}/instances/{id}/apps/remove`
pub async fn remove_app(
    State(state): State<AppState>,
    user: CurrentUser,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    P((tenant, id)): P<(String, i64)>,
    Form(f): Form<RemoveApp>,
) -> AppResult<Response> {
    let access = enter(&state, &user, &tenant).await?;
    require(&access, Role::Operator)?;
    let inst = instance_of(&state, &access, id).await?;
    let mut config = inst.config.0.clone();
    if let Some(m) = config["apps"].as_object_mut() {
        m.remove(&f.id);
    }
    db::save_config(&state.pool, access.tenant_id, id, &inst.provider, &config).await?;
    audit::record(
        &state.pool,
        &user,
        Some(access.tenant_id),
        "remove-app",
        &format!("instance {}", inst.name),
        json!({ "app": f.id }),
        Some(peer.ip()),
    )
    .await?;
    Ok(Redirect::to(&format!("/t/{}/instances/{id}", access.slug)).into_response())
}

/// Set-a-secret form.
#[derive(Deserialize)]
pub struct SetSecret {
    name: String,
    value: String,
}

/// `POST /t/{tenant}/instances/{id}/secrets` (admins): the value is sealed and never shown.
pub async fn set_secret(
    State(state): State<AppState>,
    user: CurrentUser,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    P((tenant, id)): P<(String, i64)>,
    Form(f): Form<SetSecret>,
) -> AppResult<Response> {
    let access = enter(&state, &user, &tenant).await?;
    require(&access, Role::Admin)?;
    let inst = instance_of(&state, &access, id).await?;
    if f.value.trim().is_empty() {
        return Err(AppError::BadRequest("the value is empty".into()));
    }
    secrets::store(&state.pool, &state.key, id, &f.name, &f.value)
        .await
        .map_err(|e| AppError::BadRequest(e.to_string()))?;
    audit::record(
        &state.pool,
        &user,
        Some(access.tenant_id),
        "set-secret",
        &format!("instance {}", inst.name),
        json!({ "name": f.name }),
        Some(peer.ip()),
    )
    .await?;
    Ok(Redirect::to(&format!("/t/{}/instances/{id}", access.slug)).into_response())
}

/// `GET /t/{tenant}/instances/{id}/preview`: every rendered file, secrets masked.
pub async fn preview(
    State(state): State<AppState>,
    user: CurrentUser,
    csrf: CsrfToken,
    P((tenant, id)): P<(String, i64)>,
) -> AppResult<Response> {
    let access = enter(&state, &user, &tenant).await?;
    let inst = instance_of(&state, &access, id).await?;
    let c = chrome(&state, &user, Some(&access), csrf.0).await?;
    let (files, size, errors) = match form::stack_of(&inst.config.0) {
        Err(errors) => (
            vec![],
            String::new(),
            errors
                .into_iter()
                .map(|(p, m)| format!("{p}: {m}"))
                .collect(),
        ),
        Ok((stack, _)) => {
            // The views mask every secret, so the master key is not needed to show them.
            let keys = nassella_core::Keys::new(nassella_core::MasterKey::insecure_test_key());
            match nassella_core::build(&stack, &keys) {
                Err(r) => (
                    vec![],
                    String::new(),
                    r.problems()
                        .iter()
                        .map(|p| format!("{}: {}", p.path, p.kind))
                        .collect(),
                ),
                Ok(b) => {
                    let files = b
                        .bundle
                        .files()
                        .iter()
                        .filter_map(|(rel, bytes)| {
                            let path = rel.strip_prefix("instance/")?;
                            Some(views::PreviewFile {
                                path: format!("/{path}"),
                                text: String::from_utf8_lossy(bytes).into_owned(),
                            })
                        })
                        .collect();
                    let limit = stack.instance().provider_kind().user_data_limit();
                    (
                        files,
                        format!("Ignition: {} of {limit} bytes.", b.bundle.ignition().len()),
                        vec![],
                    )
                }
            }
        }
    };
    render(&views::Preview {
        c,
        id,
        name: inst.name,
        files,
        size,
        errors,
    })
}

/// Start-a-job form.
#[derive(Debug, Deserialize)]
pub struct StartJob {
    kind: String,
}

async fn enqueue(
    state: &AppState,
    user: &CurrentUser,
    access: &Access,
    inst: &InstanceRow,
    kind: &str,
    args: Value,
    peer: SocketAddr,
) -> AppResult<Response> {
    // Every job builds the config; refuse now rather than in the job's log.
    let (errors, _) = form::check(&inst.config.0);
    if !errors.is_empty() {
        return Err(AppError::BadRequest(format!(
            "the config has {} problem(s), shown at their fields on the instance's page; fix them first",
            errors.len()
        )));
    }
    let job = state
        .queue
        .enqueue(jobs::key(inst.id), kind, &args, &user.username)
        .await?;
    audit::record(
        &state.pool,
        user,
        Some(access.tenant_id),
        &format!("job-{kind}"),
        &format!("instance {}", inst.name),
        json!({ "job": job.to_string(), "args": args }),
        Some(peer.ip()),
    )
    .await?;
    Ok(Redirect::to(&format!("/t/{}/jobs/{job}", access.slug)).into_response())
}

/// `POST /t/{tenant}/instances/{id}/jobs`: plan, deploy (apply) or back up now.
pub async fn start_job(
    State(state): State<AppState>,
    user: CurrentUser,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    P((tenant, id)): P<(String, i64)>,
    Form(f): Form<StartJob>,
) -> AppResult<Response> {
    let access = enter(&state, &user, &tenant).await?;
    require(&access, Role::Operator)?;
    let inst = instance_of(&state, &access, id).await?;
    if !["plan", "apply", "backup"].contains(&f.kind.as_str()) {
        return Err(AppError::BadRequest(format!(
            "`{}` is not a job this form starts",
            f.kind
        )));
    }
    enqueue(&state, &user, &access, &inst, &f.kind, json!({}), peer).await
}

/// `GET /t/{tenant}/jobs/{job}`
pub async fn job(
    State(state): State<AppState>,
    user: CurrentUser,
    csrf: CsrfToken,
    P((tenant, job)): P<(String, String)>,
) -> AppResult<Response> {
    let access = enter(&state, &user, &tenant).await?;
    let (j, inst) = job_of(&state, &access, &job).await?;
    render(&views::Job {
        c: chrome(&state, &user, Some(&access), csrf.0).await?,
        job: job_line(&j),
        instance_id: inst.id,
        instance: inst.name,
    })
}

async fn job_of(state: &AppState, access: &Access, job: &str) -> AppResult<(JobInfo, InstanceRow)> {
    let id: Uuid = job.parse().map_err(|_| AppError::NotFound)?;
    let j = state.queue.get(id).await?.ok_or(AppError::NotFound)?;
    let instance = jobs::instance_of_key(j.instance_id).ok_or(AppError::NotFound)?;
    let inst = instance_of(state, access, instance).await?;
    Ok((j, inst))
}

/// `GET /t/{tenant}/jobs/{job}/events`: the log as server-sent events: a `line` per line (its
/// sequence number as the event id, so a reconnecting browser resumes after `Last-Event-ID`),
/// then `done` with the final state.
pub async fn job_events(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: axum::http::HeaderMap,
    P((tenant, job)): P<(String, String)>,
) -> AppResult<Response> {
    let access = enter(&state, &user, &tenant).await?;
    let (j, _) = job_of(&state, &access, &job).await?;
    let after = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<i64>().ok())
        .unwrap_or(0);
    let lines = state.queue.subscribe_after(j.id, after).await?;
    let queue = state.queue.clone();
    let id = j.id;
    let end = futures_util::stream::once(async move {
        let s = match queue.get(id).await {
            Ok(Some(j)) => j.state,
            _ => JobState::Failed,
        };
        Ok::<_, Infallible>(Event::default().event("done").data(s.as_str()))
    });
    let stream = lines
        .filter_map(|l| async move {
            match l {
                Ok(l) => Some(Ok::<_, Infallible>(
                    Event::default()
                        .event("line")
                        .id(l.seq.to_string())
                        .data(l.line.replace('\r', "")),
                )),
                Err(e) => {
                    tracing::warn!("job log stream: {e:#}");
                    None
                }
            }
        })
        .chain(end);
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response())
}

/// `GET /t/{tenant}/instances/{id}/backups`
pub async fn backups(
    State(state): State<AppState>,
    user: CurrentUser,
    csrf: CsrfToken,
    P((tenant, id)): P<(String, i64)>,
) -> AppResult<Response> {
    let access = enter(&state, &user, &tenant).await?;
    let inst = instance_of(&state, &access, id).await?;
    let (backups, error) = if inst.config.0.get("backup").is_none() {
        (
            vec![],
            "The instance has no backup repository: set one in its config.".to_owned(),
        )
    } else {
        match state.control.list_backups(id).await {
            Ok(list) => (
                list.iter()
                    .map(|s| views::BackupLine {
                        id: s["id"].as_str().unwrap_or_default().to_owned(),
                        short_id: s["short_id"].as_str().unwrap_or_default().to_owned(),
                        time: s["time"].as_str().unwrap_or_default().to_owned(),
                        tags: s["tags"]
                            .as_array()
                            .map(|t| {
                                t.iter()
                                    .filter_map(Value::as_str)
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            })
                            .unwrap_or_default(),
                    })
                    .collect(),
                String::new(),
            ),
            Err(e) => (vec![], format!("The backups cannot be listed: {e:#}")),
        }
    };
    render(&views::Backups {
        c: chrome(&state, &user, Some(&access), csrf.0).await?,
        id,
        name: inst.name,
        backups,
        error,
    })
}

fn valid_snapshot(s: &str) -> bool {
    (8..=64).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn restore_plan(inst: &InstanceRow, snapshot: &str) -> Vec<String> {
    let short = &snapshot[..8.min(snapshot.len())];
    if inst.provider == "local" {
        vec![
            format!("Stop the running instance `{}`.", inst.name),
            "Move its data folder aside to `<data>.before-restore-<time>` (kept, never deleted).".into(),
            format!("Replace the instance with one that restores snapshot {short} onto a blank data folder when it starts."),
            "Start the apps on the restored data.".into(),
        ]
    } else {
        vec![
            format!("Shut the server of `{}` down cleanly through the provider's API.", inst.name),
            "Create a new blank data volume and make it the active one; the previous volume is kept, detached.".into(),
            format!("Create a new server that restores snapshot {short} onto the new volume at its first boot."),
        ]
    }
}

/// `GET /t/{tenant}/instances/{id}/backups/{snapshot}/restore`: the plan, then the button.
pub async fn restore_form(
    State(state): State<AppState>,
    user: CurrentUser,
    csrf: CsrfToken,
    P((tenant, id, snapshot)): P<(String, i64, String)>,
) -> AppResult<Response> {
    let access = enter(&state, &user, &tenant).await?;
    require(&access, Role::Operator)?;
    let inst = instance_of(&state, &access, id).await?;
    if !valid_snapshot(&snapshot) {
        return Err(AppError::NotFound);
    }
    render(&views::Restore {
        c: chrome(&state, &user, Some(&access), csrf.0).await?,
        id,
        plan: restore_plan(&inst, &snapshot),
        name: inst.name,
        snapshot,
    })
}

/// `POST /t/{tenant}/instances/{id}/backups/{snapshot}/restore`
pub async fn restore(
    State(state): State<AppState>,
    user: CurrentUser,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    P((tenant, id, snapshot)): P<(String, i64, String)>,
) -> AppResult<Response> {
    let access = enter(&state, &user, &tenant).await?;
    require(&access, Role::Operator)?;
    let inst = instance_of(&state, &access, id).await?;
    if !valid_snapshot(&snapshot) {
        return Err(AppError::NotFound);
    }
    enqueue(
        &state,
        &user,
        &access,
        &inst,
        "restore",
        json!({ "snapshot": snapshot }),
        peer,
    )
    .await
}

fn destroy_plan(inst: &InstanceRow) -> Vec<String> {
    if inst.provider == "local" {
        vec![
            format!(
                "Stop the local instance `{}` and remove its containers.",
                inst.name
            ),
            "Keep its data folder and its backups; deploying again brings it back with its data."
                .into(),
        ]
    } else {
        vec![
            format!("Shut the server of `{}` down cleanly, then delete it, its address and firewall.", inst.name),
            "Keep the data volume (delete protection) and the backups; deploying again attaches the volume to a new server.".into(),
        ]
    }
}

/// `GET /t/{tenant}/instances/{id}/destroy` (admins)
pub async fn destroy_form(
    State(state): State<AppState>,
    user: CurrentUser,
    csrf: CsrfToken,
    P((tenant, id)): P<(String, i64)>,
) -> AppResult<Response> {
    let access = enter(&state, &user, &tenant).await?;
    require(&access, Role::Admin)?;
    let inst = instance_of(&state, &access, id).await?;
    render(&views::Destroy {
        c: chrome(&state, &user, Some(&access), csrf.0).await?,
        id,
        plan: destroy_plan(&inst),
        name: inst.name,
        error: String::new(),
    })
}

/// Destroy confirmation.
#[derive(Debug, Deserialize)]
pub struct ConfirmDestroy {
    #[serde(default)]
    confirm: String,
}

/// `POST /t/{tenant}/instances/{id}/destroy`: only with the instance's name typed.
pub async fn destroy(
    State(state): State<AppState>,
    user: CurrentUser,
    csrf: CsrfToken,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    P((tenant, id)): P<(String, i64)>,
    Form(f): Form<ConfirmDestroy>,
) -> AppResult<Response> {
    let access = enter(&state, &user, &tenant).await?;
    require(&access, Role::Admin)?;
    let inst = instance_of(&state, &access, id).await?;
    if f.confirm.trim() != inst.name {
        let mut r = render(&views::Destroy {
            c: chrome(&state, &user, Some(&access), csrf.0).await?,
            id,
            plan: destroy_plan(&inst),
            error: format!(
                "Type `{}` exactly to confirm; nothing was changed.",
                inst.name
            ),
            name: inst.name,
        })?;
        *r.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
        return Ok(r);
    }
    enqueue(&state, &user, &access, &inst, "destroy", json!({}), peer).await
}
