//! Errors of a request: what the user sees, and what is logged.

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

/// A failed request.
#[derive(Debug)]
pub enum AppError {
    /// Not there, or not yours: the same answer, so existence does not leak between tenants.
    NotFound,
    /// Signed in, but the role does not allow it (within the user's own tenant).
    Forbidden(&'static str),
    /// Not signed in: back to the sign-in page.
    SignIn,
    /// A request that cannot be honoured as sent (a malformed form).
    BadRequest(String),
    /// Too many attempts.
    TooMany,
    /// Anything else; logged in full, shown as a short apology.
    Internal(anyhow::Error),
}

impl<E: Into<anyhow::Error>> From<E> for AppError {
    fn from(e: E) -> Self {
        Self::Internal(e.into())
    }
}

fn page(status: StatusCode, title: &str, text: &str) -> Response {
    let esc = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
    };
    (
        status,
        Html(format!(
            "<!doctype html><html><head><meta charset=utf-8><title>{t}</title><link rel=stylesheet href=/static/style.css></head><body><main><h1>{t}</h1><p>{x}</p><p><a href=/>Back to your instances</a></p></main></body></html>",
            t = esc(title),
            x = esc(text)
        )),
    )
        .into_response()
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        match self {
            Self::NotFound => page(
                StatusCode::NOT_FOUND,
                "Not found",
                "There is nothing here, or it is not yours to see.",
            ),
            Self::Forbidden(why) => page(StatusCode::FORBIDDEN, "Not allowed", why),
            Self::SignIn => axum::response::Redirect::to("/login").into_response(),
            Self::BadRequest(why) => page(StatusCode::BAD_REQUEST, "Bad request", &why),
            Self::TooMany => page(
                StatusCode::TOO_MANY_REQUESTS,
                "Too many attempts",
                "Wait a minute, then try again.",
            ),
            Self::Internal(e) => {
                tracing::error!("request failed: {e:#}");
                page(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong",
                    "The error is in the server's log. Try again; if it persists, tell the operator.",
                )
            }
        }
    }
}

/// The result of a handler.
pub type AppResult<T> = Result<T, AppError>;
