//! Every route, in one table the router is built from. The tenant-isolation test walks this same
//! table, so a route added here without a case there fails that test.

use axum::routing::{get, post, MethodRouter};

use crate::app::AppState;
use crate::pages;

/// One route.
pub struct RouteDef {
    /// `GET` or `POST`.
    pub method: &'static str,
    /// The axum path, `{param}` for parameters.
    pub path: &'static str,
    /// Its handler.
    pub handler: MethodRouter<AppState>,
}

fn r(method: &'static str, path: &'static str, handler: MethodRouter<AppState>) -> RouteDef {
    RouteDef {
        method,
        path,
        handler,
    }
}

/// The table.
#[must_use]
pub fn table() -> Vec<RouteDef> {
    vec![
        r("GET", "/", get(pages::home)),
        r("GET", "/healthz", get(pages::healthz)),
        r("GET", "/static/app.js", get(pages::app_js)),
        r("GET", "/static/style.css", get(pages::style_css)),
        r("GET", "/login", get(pages::login_form)),
        r("POST", "/login", post(pages::login)),
        r("POST", "/logout", post(pages::logout)),
        r("GET", "/t/{tenant}", get(pages::dashboard)),
        r("GET", "/t/{tenant}/audit", get(pages::audit_log)),
        r(
            "GET",
            "/t/{tenant}/instances/new",
            get(pages::new_instance_form),
        ),
        r(
            "POST",
            "/t/{tenant}/instances",
            post(pages::create_instance),
        ),
        r("GET", "/t/{tenant}/instances/{id}", get(pages::instance)),
        r(
            "POST",
            "/t/{tenant}/instances/{id}",
            post(pages::save_instance),
        ),
        r(
            "POST",
            "/t/{tenant}/instances/{id}/apps",
            post(pages::add_app),
        ),
        r(
            "POST",
            "/t/{tenant}/instances/{id}/apps/remove",
            post(pages::remove_app),
        ),
        r(
            "POST",
            "/t/{tenant}/instances/{id}/secrets",
            post(pages::set_secret),
        ),
        r(
            "GET",
            "/t/{tenant}/instances/{id}/preview",
            get(pages::preview),
        ),
        r(
            "POST",
            "/t/{tenant}/instances/{id}/jobs",
            post(pages::start_job),
        ),
        r(
            "GET",
            "/t/{tenant}/instances/{id}/backups",
            get(pages::backups),
        ),
        r(
            "GET",
            "/t/{tenant}/instances/{id}/backups/{snapshot}/restore",
            get(pages::restore_form),
        ),
        r(
            "POST",
            "/t/{tenant}/instances/{id}/backups/{snapshot}/restore",
            post(pages::restore),
        ),
        r(
            "GET",
            "/t/{tenant}/instances/{id}/destroy",
            get(pages::destroy_form),
        ),
        r(
            "POST",
            "/t/{tenant}/instances/{id}/destroy",
            post(pages::destroy),
        ),
        r("GET", "/t/{tenant}/jobs/{job}", get(pages::job)),
        r(
            "GET",
            "/t/{tenant}/jobs/{job}/events",
            get(pages::job_events),
        ),
    ]
}
