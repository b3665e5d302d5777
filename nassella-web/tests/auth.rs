//! Sign-in, sessions, CSRF and the forward-auth guard, against a real PostgreSQL and a real
//! OpenLDAP `slapd` with a throw-away database.

mod common;

use common::slapd::{ldif, Slapd};
use common::{client, csrf_of, sign_in, Env};
use nassella_web::AuthMode;
use reqwest::StatusCode;

fn directory() -> Slapd {
    Slapd::start(&ldif(
        &[
            ("alice", "alice-pw"),
            ("bob", "bob-pw"),
            ("carol", "carol-pw"),
        ],
        &[
            ("nassella-acme-operator", &["alice"]),
            ("nassella-acme-viewer", &["alice", "bob"]),
            ("nassella-beta-admin", &["bob"]),
            ("staff", &["alice", "bob", "carol"]),
        ],
    ))
}

#[tokio::test]
async fn ldap_sign_in_maps_groups_to_tenants_and_roles() {
    let env = Env::new().await;
    let ldap = directory();
    let mut opts = env.options("ldap", AuthMode::Ldap).await;
    opts.ldap_url = Some(ldap.url.clone());
    let server = common::start(opts).await;
    let base = format!("http://{}", server.addr);

    // Wrong password, empty password, unknown user: refused, no session.
    for (u, p) in [("alice", "nope"), ("alice", ""), ("mallory", "x")] {
        let c = client();
        let r = sign_in(&c, &base, u, p).await;
        assert_ne!(
            r.status(),
            StatusCode::SEE_OTHER,
            "{u}/{p:?} must not sign in"
        );
        let r = c.get(format!("{base}/t/acme")).send().await.unwrap();
        assert_eq!(
            r.status(),
            StatusCode::SEE_OTHER,
            "no session after a failed sign-in"
        );
    }

    // alice: operator of acme (the highest of her two acme groups), nothing in beta.
    let c = client();
    let r = sign_in(&c, &base, "alice", "alice-pw").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let cookie = r
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
    let r = c.get(format!("{base}/")).send().await.unwrap();
    assert_eq!(r.headers()["location"], "/t/acme");
    let page = c
        .get(format!("{base}/t/acme"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("alice · operator"), "{page}");
    assert!(
        page.contains("New instance"),
        "operators may create instances"
    );
    let r = c.get(format!("{base}/t/beta")).send().await.unwrap();
    assert_eq!(
        r.status(),
        StatusCode::NOT_FOUND,
        "no membership: not found"
    );

    // bob: viewer of acme (cannot create), admin of beta.
    let b = client();
    assert_eq!(
        sign_in(&b, &base, "bob", "bob-pw").await.status(),
        StatusCode::SEE_OTHER
    );
    let page = b
        .get(format!("{base}/t/acme"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("bob · viewer"), "{page}");
    assert!(!page.contains("New instance"));
    let r = b
        .get(format!("{base}/t/acme/instances/new"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let page = b
        .get(format!("{base}/t/beta"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("bob · admin"), "{page}");

    // carol has no nassella group: signed in, but no tenant.
    let k = client();
    assert_eq!(
        sign_in(&k, &base, "carol", "carol-pw").await.status(),
        StatusCode::SEE_OTHER
    );
    let r = k.get(format!("{base}/")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    // Signing out ends the session.
    let page = c
        .get(format!("{base}/t/acme"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let token = csrf_of(&page);
    let r = c
        .post(format!("{base}/logout"))
        .form(&[("_csrf", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = c.get(format!("{base}/t/acme")).send().await.unwrap();
    assert_eq!(r.headers()["location"], "/login");
    server.stop().await;
}

#[tokio::test]
async fn every_post_needs_the_session_csrf_token() {
    let env = Env::new().await;
    let server = common::start(env.options("csrf", AuthMode::Local).await).await;
    let base = format!("http://{}", server.addr);
    let password = server.first_password.clone().expect("a first password");
    let c = client();
    // The sign-in form itself: no token, a wrong token → refused before the password is checked.
    let _ = c.get(format!("{base}/login")).send().await.unwrap();
    for token in [None, Some("forged")] {
        let mut form = vec![("username", "admin"), ("password", password.as_str())];
        if let Some(t) = token {
            form.push(("_csrf", t));
        }
        let r = c
            .post(format!("{base}/login"))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "token {token:?}");
    }
    assert_eq!(
        sign_in(&c, &base, "admin", &password).await.status(),
        StatusCode::SEE_OTHER
    );
    // Signed in: a POST without the token changes nothing.
    let r = c
        .post(format!("{base}/t/local/instances"))
        .form(&[("name", "web"), ("provider", "local")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let page = c
        .get(format!("{base}/t/local"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("No instances yet"), "nothing was created");
    // With it, the instance is made.
    let token = csrf_of(&page);
    let r = c
        .post(format!("{base}/t/local/instances"))
        .form(&[
            ("_csrf", token.as_str()),
            ("name", "web"),
            ("provider", "local"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    server.stop().await;
}

#[tokio::test]
async fn local_admin_password_is_argon2_and_sign_in_is_rate_limited() {
    let env = Env::new().await;
    let mut opts = env.options("local", AuthMode::Local).await;
    opts.login_per_minute = 5;
    let server = common::start(opts.clone()).await;
    let base = format!("http://{}", server.addr);
    let password = server.first_password.clone().expect("a first password");
    let hash: String =
        sqlx::query_scalar("SELECT password_hash FROM users WHERE username = 'admin'")
            .fetch_one(&server.state.pool)
            .await
            .unwrap();
    assert!(hash.starts_with("$argon2id$") && !hash.contains(&password));
    let c = client();
    for _ in 0..5 {
        assert_eq!(
            sign_in(&c, &base, "admin", "wrong").await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    // The budget is spent: even the right password waits.
    assert_eq!(
        sign_in(&c, &base, "admin", &password).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    server.stop().await;
    // A restart prints no new password: the administrator exists.
    let again = common::start(opts).await;
    assert!(again.first_password.is_none());
    again.stop().await;
}

#[tokio::test]
async fn forward_auth_headers_count_only_from_trusted_proxies() {
    let env = Env::new().await;
    // Not trusted: 127.0.0.1 is not in the list, so the headers are refused, whatever the mode.
    let mut opts = env.options("proxy", AuthMode::Proxy).await;
    opts.trusted_proxies = vec!["10.9.9.0/24".parse().unwrap()];
    let server = common::start(opts.clone()).await;
    let base = format!("http://{}", server.addr);
    let r = client()
        .get(format!("{base}/t/acme"))
        .header("Remote-User", "eve")
        .header("Remote-Groups", "nassella-acme-admin")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    for h in ["Remote-Email", "Remote-Groups"] {
        let r = client()
            .get(format!("{base}/login"))
            .header(h, "x")
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status(),
            StatusCode::FORBIDDEN,
            "{h} alone is refused too"
        );
    }
    server.stop().await;

    // Trusted: the headers say who the user is and which tenants they reach.
    opts.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    let server = common::start(opts).await;
    let base = format!("http://{}", server.addr);
    let c = client();
    let r = c
        .get(format!("{base}/t/acme"))
        .header("Remote-User", "dana")
        .header("Remote-Groups", "nassella-acme-admin,other")
        .header("Remote-Email", "dana@example.org")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.unwrap().contains("dana · admin"));
    // Without the headers nobody is signed in (the proxy decides, not a cookie).
    let r = client().get(format!("{base}/t/acme")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    server.stop().await;
}

#[tokio::test]
async fn secrets_are_sealed_at_rest_and_never_shown() {
    let env = Env::new().await;
    let server = common::start(env.options("secrets", AuthMode::Local).await).await;
    let base = format!("http://{}", server.addr);
    let c = client();
    let pw = server.first_password.clone().unwrap();
    sign_in(&c, &base, "admin", &pw).await;
    let page = c
        .get(format!("{base}/t/local"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let token = csrf_of(&page);
    let r = c
        .post(format!("{base}/t/local/instances"))
        .form(&[
            ("_csrf", token.as_str()),
            ("name", "web"),
            ("provider", "hetzner"),
        ])
        .send()
        .await
        .unwrap();
    let at = r.headers()["location"].to_str().unwrap().to_owned();
    let token_value = "hcloud-token-that-must-not-leak-0123456789";
    let r = c
        .post(format!("{base}{at}/secrets"))
        .form(&[
            ("_csrf", token.as_str()),
            ("name", "HCLOUD_TOKEN"),
            ("value", token_value),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let page = c
        .get(format!("{base}{at}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("<code>HCLOUD_TOKEN</code>"),
        "the name is listed"
    );
    assert!(!page.contains(token_value), "the value is never shown");
    let rows: Vec<(i64, Vec<u8>)> = sqlx::query_as("SELECT id, sealed FROM secrets")
        .fetch_all(&server.state.pool)
        .await
        .unwrap();
    assert_eq!(rows.len(), 2, "the master key and the token");
    for (_, sealed) in &rows {
        assert!(!sealed
            .windows(token_value.len())
            .any(|w| w == token_value.as_bytes()));
    }
    // It opens with the server's key, for a job.
    let id: i64 = at.rsplit('/').next().unwrap().parse().unwrap();
    let open = nassella_web::secrets::open_all(&server.state.pool, &server.state.key, id)
        .await
        .unwrap();
    assert!(open
        .iter()
        .any(|(n, v)| n == "HCLOUD_TOKEN" && v == token_value));
    // Audit: the name, never the value.
    let detail: Vec<String> = sqlx::query_scalar("SELECT detail::text FROM audit_log")
        .fetch_all(&server.state.pool)
        .await
        .unwrap();
    assert!(detail.iter().any(|d| d.contains("HCLOUD_TOKEN")));
    assert!(!detail.iter().any(|d| d.contains(token_value)));
    server.stop().await;
}

#[tokio::test]
async fn session_cookies_are_secure_unless_plain_http_on_loopback() {
    let env = Env::new().await;
    let mut opts = env.options("cookies", AuthMode::Local).await;
    opts.insecure_cookie = false;
    let server = common::start(opts.clone()).await;
    let r = client()
        .get(format!("http://{}/login", server.addr))
        .send()
        .await
        .unwrap();
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    for flag in ["Secure", "HttpOnly", "SameSite=Lax", "Max-Age="] {
        assert!(cookie.contains(flag), "{flag} missing in {cookie}");
    }
    server.stop().await;
    // Turning Secure off is refused anywhere but on a loopback address.
    opts.insecure_cookie = true;
    opts.listen = "0.0.0.0:0".parse().unwrap();
    let e = nassella_web::Server::start(opts)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("loopback"), "{e}");
}
