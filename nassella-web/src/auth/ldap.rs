//! A direct bind against an LDAP server (OpenLDAP) with the user's own password, then the names
//! of the groups (`groupOfNames`) that list the user's DN as a `member`.

use std::time::Duration;

use anyhow::{Context as _, Result};
use ldap3::{dn_escape, ldap_escape, LdapConnAsync, LdapConnSettings, Scope, SearchEntry};

/// Where and how to bind.
#[derive(Debug, Clone)]
pub struct LdapConfig {
    /// `ldap://host:port`.
    pub url: String,
    /// The user's DN with `{user}` for the escaped name.
    pub user_dn: String,
    /// Where the groups are.
    pub group_base: String,
}

/// What a successful bind tells about the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LdapUser {
    /// The bound DN.
    pub dn: String,
    /// `mail`, when the entry has one.
    pub email: Option<String>,
    /// The `cn` of every group listing the user.
    pub groups: Vec<String>,
}

/// Why a sign-in failed.
#[derive(Debug, thiserror::Error)]
pub enum LdapError {
    /// Wrong name or password (or an empty password, which LDAP would take as anonymous).
    #[error("wrong user name or password")]
    Credentials,
    /// The server could not be reached or answered otherwise.
    #[error("the directory failed: {0:#}")]
    Server(anyhow::Error),
}

/// Bind as `username` with `password` and read the user's groups. An empty password is refused
/// before anything is sent: LDAP would take it as an anonymous bind and succeed.
///
/// # Errors
/// [`LdapError::Credentials`] for a failed bind, [`LdapError::Server`] for anything else.
pub async fn authenticate(
    cfg: &LdapConfig,
    username: &str,
    password: &str,
) -> Result<LdapUser, LdapError> {
    if password.is_empty() || username.is_empty() || username.len() > 128 {
        return Err(LdapError::Credentials);
    }
    let dn = cfg.user_dn.replace("{user}", &dn_escape(username));
    let settings = LdapConnSettings::new().set_conn_timeout(Duration::from_secs(5));
    let (conn, mut ldap) = LdapConnAsync::with_settings(settings, &cfg.url)
        .await
        .with_context(|| format!("connecting to {}", cfg.url))
        .map_err(LdapError::Server)?;
    ldap3::drive!(conn);
    let bind = ldap
        .with_timeout(Duration::from_secs(5))
        .simple_bind(&dn, password)
        .await
        .context("bind")
        .map_err(LdapError::Server)?;
    // 49: invalidCredentials; 32: noSuchObject (some servers say so for an unknown DN).
    match bind.rc {
        0 => {}
        49 | 32 | 53 => return Err(LdapError::Credentials),
        _ => return Err(LdapError::Server(anyhow::anyhow!("bind answered {}", bind))),
    }
    let server = |e: ldap3::LdapError| LdapError::Server(e.into());
    let (entries, _) = ldap
        .with_timeout(Duration::from_secs(5))
        .search(&dn, Scope::Base, "(objectClass=*)", vec!["mail"])
        .await
        .map_err(server)?
        .success()
        .map_err(server)?;
    let email = entries
        .into_iter()
        .next()
        .and_then(|e| SearchEntry::construct(e).attrs.remove("mail"))
        .and_then(|mut v| v.pop());
    let filter = format!("(&(objectClass=groupOfNames)(member={}))", ldap_escape(&dn));
    let (entries, _) = ldap
        .with_timeout(Duration::from_secs(5))
        .search(&cfg.group_base, Scope::Subtree, &filter, vec!["cn"])
        .await
        .map_err(server)?
        .success()
        .map_err(server)?;
    let mut groups: Vec<String> = entries
        .into_iter()
        .flat_map(|e| {
            SearchEntry::construct(e)
                .attrs
                .remove("cn")
                .unwrap_or_default()
        })
        .collect();
    groups.sort();
    let _ = ldap.unbind().await;
    Ok(LdapUser { dn, email, groups })
}
