//! Shared by the integration tests that need a minimal valid app.

use nassella_core::{App, AppContext, Contribution, Route, Service, Upstream};

/// One public web service at `web.example.com`.
#[derive(Debug)]
pub struct Web;

impl App for Web {
    fn kind(&self) -> &str {
        "web"
    }
    fn contribute(&self, _cx: &AppContext<'_>) -> Contribution {
        let mut c = Contribution::new();
        c.service(Service::new("web", "nginx:1.27.3").port(80));
        c.route(Route::new("web.example.com").proxy(Upstream::new("web", 80)));
        c
    }
}
