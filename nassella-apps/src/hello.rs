//! A tiny test app: answers HTTP with its name and serves what is in its data volume. Tests run
//! it from a locally built image (busybox `httpd`), so it needs no registry.

use crate::catalog_app;
use nassella_core::{App, AppContext, Contribution, Healthcheck, Route, Service, Upstream, Volume};
use schemars::JsonSchema;
use serde::Deserialize;

/// Settings of the hello test app.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Hello {
    /// The public hostname.
    pub host: String,
    /// The image (built locally by the tests; see docs/testing.md).
    #[serde(default = "default_image")]
    pub image: String,
}

fn default_image() -> String {
    "nassella/hello:1.0".into()
}

impl Hello {
    /// Serve `host`.
    #[must_use]
    pub fn new(host: impl Into<String>) -> Self {
        Self {
            host: host.into(),
            image: default_image(),
        }
    }


    /// Use another image.
    #[must_use]
    pub fn image(mut self, image: impl Into<String>) -> Self {
        self.image = image.into();
        self
    }
}

#[catalog_app(
    kind = "hello",
    summary = "A tiny test app that answers HTTP with its name",
    example = Self::new("hello.example.com")
)]
impl App for Hello {
    fn contribute(&self, cx: &AppContext<'_>) -> Contribution {
        let mut c = Contribution::new();
        let data = c.volume(Volume::new("data").backed_up());
        // Writes its name into the web root once, then serves the volume. The shell is PID 1 and
        // exits on SIGTERM, so `compose stop` is immediate instead of waiting 10 s for a kill.
        let script = format!(
            "trap 'exit 0' TERM; [ -e /data/index.html ] || echo 'hello from {}' > /data/index.html; httpd -f -p 8080 -h /data & wait",
            cx.id
        );
        c.service(
            Service::new("web", &self.image)
                .command(["sh", "-c", script.as_str()])
                .mount(&data, "/data")
                .port(8080)
                .healthcheck(
                    Healthcheck::cmd(["wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/"])
                        .start_period_s(5)
                        .interval_s(2),
                ),
        );
        c.route(Route::new(&self.host).proxy(Upstream::new("web", 8080)));
        c.memory_hint_mib(8);
        c
    }
}
