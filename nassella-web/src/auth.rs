//! Who is asking: the forward-auth guard, sessions, CSRF, sign-in (local or LDAP) and the mapping
//! of groups to tenants and roles.
//!
//! Group mapping (LDAP groups and Authelia's Remote-Groups alike): a group named
//! `<prefix><tenant>-<role>` (prefix `nassella-` by default, role `viewer`, `operator` or
//! `admin`) makes its members that role in that tenant; the tenant is created on first sight.
//! Other groups are ignored. Memberships are replaced by the groups at every sign-in.

pub mod ldap;

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use tower_sessions::Session;

use crate::app::AppState;
use crate::error::AppError;
use crate::options::AuthMode;

/// The forward-auth headers of Authelia (and other proxies that speak its dialect).
pub const FORWARD_HEADERS: [&str; 4] = [
    "remote-user",
    "remote-groups",
    "remote-email",
    "remote-name",
];

/// A role in a tenant, from least to most.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Role {
    /// Sees the tenant's instances, configs, jobs and backups.
    Viewer,
    /// Also edits, deploys, backs up and restores.
    Operator,
    /// Also destroys instances, manages secrets and reads the audit log.
    Admin,
}

impl Role {
    /// Its name in groups and in the database.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Viewer => "viewer",
            Self::Operator => "operator",
            Self::Admin => "admin",
        }
    }

    /// From its name.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "viewer" => Some(Self::Viewer),
            "operator" => Some(Self::Operator),
            "admin" => Some(Self::Admin),
            _ => None,
        }
    }
}

/// `<prefix><tenant>-<role>` → (tenant, role); `None` for any other group. The tenant part must
/// be a valid tenant slug.
#[must_use]
pub fn parse_group(prefix: &str, group: &str) -> Option<(String, Role)> {
    let rest = group.trim().strip_prefix(prefix)?;
    let (tenant, role) = rest.rsplit_once('-')?;
    let role = Role::parse(role)?;
    valid_slug(tenant).then(|| (tenant.to_owned(), role))
}

/// A tenant slug: 2–32 of `a-z0-9-`, starting with a letter, not ending with `-`.
#[must_use]
pub fn valid_slug(s: &str) -> bool {
    let b = s.as_bytes();
    (2..=32).contains(&b.len())
        && b[0].is_ascii_lowercase()
        && b[b.len() - 1] != b'-'
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
}

/// The highest role per tenant among `groups`.
#[must_use]
pub fn memberships_of(prefix: &str, groups: &[String]) -> Vec<(String, Role)> {
    let mut best: std::collections::BTreeMap<String, Role> = Default::default();
    for g in groups {
        if let Some((t, r)) = parse_group(prefix, g) {
            let e = best.entry(t).or_insert(r);
            *e = (*e).max(r);
        }
    }
    best.into_iter().collect()
}

/// The signed-in user of a request.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CurrentUser {
    /// users.id
    pub id: i64,
    /// The name they signed in with.
    pub username: String,
}

impl<S: Send + Sync> FromRequestParts<S> for CurrentUser {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<CurrentUser>()
            .cloned()
            .ok_or(AppError::SignIn)
    }
}

impl<S: Send + Sync> axum::extract::OptionalFromRequestParts<S> for CurrentUser {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Option<Self>, Self::Rejection> {
        Ok(parts.extensions.get::<CurrentUser>().cloned())
    }
}

/// The CSRF token of the request's session, for forms.
#[derive(Debug, Clone)]
pub struct CsrfToken(pub String);

impl<S: Send + Sync> FromRequestParts<S> for CsrfToken {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let session = parts
            .extensions
            .get::<Session>()
            .cloned()
            .ok_or_else(|| AppError::Internal(anyhow::anyhow!("no session layer")))?;
        Ok(Self(csrf_token(&session).await?))
    }
}

const SESSION_USER: &str = "user";
const SESSION_CSRF: &str = "csrf";
const SESSION_PROXY: &str = "proxy_ident";

/// The session's CSRF token, made on first use.
///
/// # Errors
/// When the session store fails.
pub async fn csrf_token(session: &Session) -> Result<String, AppError> {
    if let Some(t) = session
        .get::<String>(SESSION_CSRF)
        .await
        .map_err(anyhow::Error::from)?
    {
        return Ok(t);
    }
    let t = random_token();
    session
        .insert(SESSION_CSRF, &t)
        .await
        .map_err(anyhow::Error::from)?;
    Ok(t)
}

/// 32 random bytes as URL-safe base64.
#[must_use]
pub fn random_token() -> String {
    use base64::Engine as _;
    use rand::RngCore as _;
    let mut b = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut b);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

/// Is `ip` one of the trusted proxies?
#[must_use]
pub fn trusted(proxies: &[IpNet], ip: IpAddr) -> bool {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    proxies.iter().any(|n| n.contains(&ip))
}

fn has_forward_headers(h: &HeaderMap) -> bool {
    FORWARD_HEADERS.iter().any(|n| h.contains_key(*n))
}

/// Refuse (403, logged) any request that carries forward-auth headers from an address that is
/// not a trusted proxy: only the proxy may say who the user is.
pub async fn guard_forward_headers(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
    next: Next,
) -> Response {
    if has_forward_headers(req.headers()) && !trusted(&state.opts.trusted_proxies, peer.ip()) {
        tracing::warn!(
            peer = %peer.ip(),
            path = %req.uri().path(),
            "refused a request with forward-auth headers from an untrusted address"
        );
        return (
            StatusCode::FORBIDDEN,
            "forward-auth headers are accepted from the configured proxies only\n",
        )
            .into_response();
    }
    next.run(req).await
}

/// Put the signed-in user (from the session, or from a trusted proxy's headers) into the
/// request's extensions.
pub async fn identify(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    mut req: Request,
    next: Next,
) -> Result<Response, AppError> {
    let session = req
        .extensions()
        .get::<Session>()
        .cloned()
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("no session layer")))?;
    let mut user: Option<CurrentUser> = None;
    if state.opts.auth_mode() == AuthMode::Proxy {
        // guard_forward_headers already refused untrusted senders of these headers.
        if let Some(name) = header(req.headers(), "remote-user") {
            let groups = header(req.headers(), "remote-groups").unwrap_or_default();
            let email = header(req.headers(), "remote-email");
            let ident = format!("{name}\n{groups}\n{}", email.as_deref().unwrap_or(""));
            let cached = session
                .get::<(String, CurrentUser)>(SESSION_PROXY)
                .await
                .map_err(anyhow::Error::from)?
                .filter(|(i, _)| *i == ident);
            user = Some(match cached {
                Some((_, u)) => u,
                None => {
                    let groups: Vec<String> = groups
                        .split(',')
                        .map(|g| g.trim().to_owned())
                        .filter(|g| !g.is_empty())
                        .collect();
                    let u =
                        sign_in_external(&state, "proxy", &name, email.as_deref(), &groups, peer)
                            .await?;
                    session
                        .insert(SESSION_PROXY, (&ident, &u))
                        .await
                        .map_err(anyhow::Error::from)?;
                    u
                }
            });
        }
    } else {
        user = session
            .get::<CurrentUser>(SESSION_USER)
            .await
            .map_err(anyhow::Error::from)?;
    }
    if let Some(u) = user {
        req.extensions_mut().insert(u);
    }
    Ok(next.run(req).await)
}

fn header(h: &HeaderMap, name: &str) -> Option<String> {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

/// Every POST must carry the session's CSRF token: the form field `_csrf`, or the
/// `X-CSRF-Token` header. This layer sits in front of every route, so no form can forget it.
pub async fn check_csrf(req: Request, next: Next) -> Result<Response, AppError> {
    if req.method() != Method::POST {
        return Ok(next.run(req).await);
    }
    let session = req
        .extensions()
        .get::<Session>()
        .cloned()
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("no session layer")))?;
    let expected = session
        .get::<String>(SESSION_CSRF)
        .await
        .map_err(anyhow::Error::from)?;
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20)
        .await
        .map_err(|_| AppError::BadRequest("the form is too large (1 MiB at most)".into()))?;
    let given = parts
        .headers
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| {
            form_urlencoded_pairs(&bytes)
                .into_iter()
                .find(|(k, _)| k == "_csrf")
                .map(|(_, v)| v)
        });
    let ok = match (expected, given) {
        (Some(e), Some(g)) => {
            use subtle::ConstantTimeEq as _;
            e.len() == g.len() && bool::from(e.as_bytes().ct_eq(g.as_bytes()))
        }
        _ => false,
    };
    if !ok {
        tracing::warn!(path = %parts.uri.path(), "refused a POST without a valid CSRF token");
        return Err(AppError::Forbidden(
            "The form has expired or did not come from this site. Reload the page and try again.",
        ));
    }
    Ok(next
        .run(Request::from_parts(parts, axum::body::Body::from(bytes)))
        .await)
}

/// The pairs of an `application/x-www-form-urlencoded` body.
#[must_use]
pub fn form_urlencoded_pairs(bytes: &[u8]) -> Vec<(String, String)> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(bytes).unwrap_or_default()
}

/// Rate limits of the sign-in form: per client address and per user name.
#[derive(Clone)]
pub struct LoginLimits {
    by_ip: Arc<DefaultKeyedRateLimiter<IpAddr>>,
    by_user: Arc<DefaultKeyedRateLimiter<String>>,
}

impl std::fmt::Debug for LoginLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LoginLimits")
    }
}

impl LoginLimits {
    /// `per_minute` attempts per address and per user name.
    #[must_use]
    pub fn new(per_minute: u32) -> Self {
        let q = Quota::per_minute(NonZeroU32::new(per_minute.max(1)).expect("at least 1"));
        Self {
            by_ip: Arc::new(RateLimiter::keyed(q)),
            by_user: Arc::new(RateLimiter::keyed(q)),
        }
    }

    /// May this attempt go ahead? Both budgets are charged.
    #[must_use]
    pub fn allow(&self, ip: IpAddr, user: &str) -> bool {
        let a = self.by_ip.check_key(&ip).is_ok();
        let b = self.by_user.check_key(&user.to_lowercase()).is_ok();
        a && b
    }
}

/// Record a sign-in by LDAP or a proxy: the user row, and memberships replaced by `groups`.
///
/// # Errors
/// On database failure.
pub async fn sign_in_external(
    state: &AppState,
    source: &str,
    username: &str,
    email: Option<&str>,
    groups: &[String],
    peer: SocketAddr,
) -> Result<CurrentUser, AppError> {
    let wanted = memberships_of(&state.opts.group_prefix, groups);
    let id = crate::db::upsert_external_user(&state.pool, source, username, email, &wanted).await?;
    let user = CurrentUser {
        id,
        username: username.to_owned(),
    };
    crate::audit::record(
        &state.pool,
        &user,
        None,
        "sign-in",
        &format!("user {username}"),
        serde_json::json!({ "via": source, "tenants": wanted.iter().map(|(t, r)| format!("{t}:{}", r.as_str())).collect::<Vec<_>>() }),
        Some(peer.ip()),
    )
    .await?;
    Ok(user)
}

/// Make `user` the session's user: a new session id (no fixation), a new CSRF token.
///
/// # Errors
/// When the session store fails.
pub async fn start_session(session: &Session, user: &CurrentUser) -> Result<(), AppError> {
    session.cycle_id().await.map_err(anyhow::Error::from)?;
    session
        .insert(SESSION_USER, user)
        .await
        .map_err(anyhow::Error::from)?;
    session
        .insert(SESSION_CSRF, random_token())
        .await
        .map_err(anyhow::Error::from)?;
    Ok(())
}

/// Hash a password with argon2id and a random salt.
///
/// # Errors
/// Never in practice.
pub fn hash_password(password: &str) -> anyhow::Result<String> {
    use argon2::password_hash::{PasswordHasher as _, SaltString};
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    Ok(argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| anyhow::anyhow!("hashing: {e}"))?
        .to_string())
}

/// Does `password` match the stored argon2 `hash`?
#[must_use]
pub fn verify_password(password: &str, hash: &str) -> bool {
    use argon2::password_hash::{PasswordHash, PasswordVerifier as _};
    PasswordHash::new(hash).is_ok_and(|h| {
        argon2::Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_map_to_tenants_and_their_highest_role() {
        let g = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            memberships_of(
                "nassella-",
                &g(&[
                    "nassella-acme-viewer",
                    "nassella-acme-operator",
                    "nassella-big-co-admin",
                    "staff",
                    "nassella-x-root",
                    "nassella-Bad-admin",
                ])
            ),
            vec![
                ("acme".to_owned(), Role::Operator),
                ("big-co".to_owned(), Role::Admin)
            ]
        );
    }

    #[test]
    fn proxies_match_by_cidr_also_for_mapped_v6() {
        let nets: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        assert!(trusted(&nets, "10.1.2.3".parse().unwrap()));
        assert!(trusted(&nets, "::ffff:10.1.2.3".parse().unwrap()));
        assert!(!trusted(&nets, "127.0.0.1".parse().unwrap()));
    }

    #[test]
    fn passwords_verify_against_their_hash_only() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("correct horsE", &h));
    }
}
