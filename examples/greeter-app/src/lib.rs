//! An app that lives in its own crate, outside `nassella-apps`: the worked example of
//! `docs/apps/authoring.md`, which walks through this file step by step. It shows that anyone
//! can publish a Nassella app and that a deployment written in Rust can use it beside the
//! catalog's apps.
//!
//! It runs `traefik/whoami`, which answers HTTP with its name and details of the request —
//! handy to check what the proxy forwards.

use nassella_apps::catalog_app;
use nassella_core::{App, AppContext, Contribution, Route, Service, SettingProblem, Upstream};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The image: an exact release (the composer refuses `latest` and untagged images).
pub const IMAGE: &str = "traefik/whoami:v1.10.3";

/// The port whoami listens on inside the container (`WHOAMI_PORT_NUMBER`).
pub const HTTP_PORT: u16 = 8080;

/// Settings of a greeter. The serde fields are the settings of `[apps.<id>]` in a config file;
/// the `JsonSchema` derive is their schema (`nassella schema`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Greeter {
    /// The public hostname, e.g. `hi.example.org`.
    pub host: String,
    /// The name it answers with (default `greeter`): 1 to 32 letters, digits or `-`.
    #[serde(default = "default_name")]
    pub name: String,
}

fn default_name() -> String {
    "greeter".into()
}

impl Greeter {
    /// Greet at `host` as `greeter`.
    #[must_use]
    pub fn new(host: impl Into<String>) -> Self {
        Self {
            host: host.into(),
            name: default_name(),
        }
    }

    /// The name it answers with.
    #[must_use]
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }
}

#[catalog_app(
    kind = "greeter",
    summary = "Answers HTTP with its name and the request it got (traefik/whoami)",
    example = Self::new("hi.example.org")
)]
impl App for Greeter {
    fn check(&self) -> Vec<SettingProblem> {
        let ok = (1..=32).contains(&self.name.len())
            && self
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if ok {
            return Vec::new();
        }
        vec![SettingProblem::new(
            "name",
            format!(
                "name `{}` must be 1 to 32 letters, digits or '-'",
                self.name
            ),
        )]
    }

    fn contribute(&self, _cx: &AppContext<'_>) -> Contribution {
        let mut c = Contribution::new();
        c.service(
            Service::new("web", IMAGE)
                .env("WHOAMI_NAME", self.name.as_str())
                .env("WHOAMI_PORT_NUMBER", HTTP_PORT.to_string())
                .port(HTTP_PORT),
        );
        c.route(Route::new(&self.host).proxy(Upstream::new("web", HTTP_PORT)));
        c.memory_hint_mib(16);
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nassella_apps::{CatalogApp, Entry};
    use nassella_core::{compose, render, Backup, Instance, Keys, MasterKey, Stack};

    fn stack(greeter: Greeter) -> Stack {
        Stack::new(Instance::new("test"))
            .backup(Backup::new("s3:s3.example.com/bucket/test"))
            .app_as("hi", greeter)
    }

    #[test]
    fn serves_its_host_with_its_name() {
        let v = compose(&stack(Greeter::new("hi.example.org").named("welcome"))).unwrap();
        let b = render(&v, &Keys::new(MasterKey::insecure_test_key())).unwrap();
        let file = |path: &str| String::from_utf8_lossy(b.get(path).unwrap()).into_owned();
        let compose_file = file("instance/etc/nassella/apps/hi/compose.yaml");
        assert!(
            compose_file.contains("WHOAMI_NAME: welcome"),
            "{compose_file}"
        );
        let caddyfile = file("instance/etc/nassella/proxy/Caddyfile");
        assert!(
            caddyfile.contains("reverse_proxy hi-web:8080"),
            "{caddyfile}"
        );
    }

    #[test]
    fn a_bad_name_is_reported_at_its_setting() {
        let report =
            compose(&stack(Greeter::new("hi.example.org").named("no spaces"))).unwrap_err();
        assert!(
            report.problems().iter().any(|p| p.path == "apps.hi.name"),
            "{report}"
        );
    }

    #[test]
    fn config_settings_are_read_like_the_catalog_reads_them() {
        let entry = Entry::of::<Greeter>();
        assert_eq!(entry.kind, Greeter::KIND);
        let app = (entry.from_settings)(serde_json::json!({"host": "hi.example.org"})).unwrap();
        assert_eq!(app.kind(), "greeter");
        let unknown = (entry.from_settings)(serde_json::json!({"host": "h", "colour": "red"}));
        assert!(unknown.unwrap_err().contains("colour"));
    }
}
