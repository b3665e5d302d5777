//! An app that lives in its own crate, outside `nassella-apps`: it shows that anyone can publish
//! a Nassella app, and that a deployment written in Rust can use it through `nassella-core`'s
//! public API alone. It runs `traefik/whoami`, which answers HTTP with details of the request —
//! handy to check what the proxy forwards.

use nassella_core::{App, AppContext, Contribution, Route, Service, Upstream};

/// A greeter at one hostname.
#[derive(Debug, Clone)]
pub struct Greeter {
    host: String,
    name: String,
}

impl Greeter {
    /// Greet at `host`.
    #[must_use]
    pub fn new(host: impl Into<String>) -> Self {
        Self {
            host: host.into(),
            name: "greeter".into(),
        }
    }

    /// The name it answers with.
    #[must_use]
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }
}

impl App for Greeter {
    fn kind(&self) -> &str {
        "greeter"
    }

    fn contribute(&self, _cx: &AppContext<'_>) -> Contribution {
        let mut c = Contribution::new();
        c.service(
            Service::new("web", "traefik/whoami:v1.10.3")
                .env("WHOAMI_NAME", self.name.as_str())
                .env("WHOAMI_PORT_NUMBER", "8080")
                .port(8080),
        );
        c.route(Route::new(&self.host).proxy(Upstream::new("web", 8080)));
        c.memory_hint_mib(16);
        c
    }
}
