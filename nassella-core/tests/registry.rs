//! `[registry]`: a Docker Hub mirror in daemon.json, a login in a 0600 client config, the
//! password from the environment like an SMTP password, hostile values refused.

use nassella_core::registry::{CLIENT_CONFIG_DIR, DAEMON_JSON};
use nassella_core::{
    build, App, AppContext, Backup, Contribution, Instance, Keys, MasterKey, Registry, Route,
    Service, Stack, Upstream,
};

#[derive(Debug)]
struct Web;

impl App for Web {
    fn kind(&self) -> &str {
        "web"
    }
    fn id(&self) -> &str {
        "web"
    }
    fn contribute(&self, _cx: &AppContext<'_>) -> Contribution {
        let mut c = Contribution::new();
        c.service(Service::new("web", "nginx:1.27.3").port(80));
        c.route(Route::new("web.example.com").proxy(Upstream::new("web", 80)));
        c
    }
}

fn stack(reg: Registry) -> Stack {
    Stack::new(Instance::new("family"))
        .backup(Backup::new("s3:s3.example.com/bucket/family"))
        .app(Web)
        .registry(reg)
}

const PASSWORD: &str = "hub-token-do-not-leak";

fn keys() -> Keys {
    Keys::new(MasterKey::insecure_test_key()).provide("DOCKERHUB_TOKEN", PASSWORD)
}

#[test]
fn a_mirror_and_a_login_reach_docker_and_the_password_only_the_secret_files() {
    let b = build(
        &stack(
            Registry::new()
                .mirror("https://mirror.example.com")
                .login("family-bot", "DOCKERHUB_TOKEN"),
        ),
        &keys(),
    )
    .unwrap_or_else(|r| panic!("{r}"));
    let daemon = b
        .bundle
        .get(&format!("instance{DAEMON_JSON}"))
        .expect("daemon.json");
    let v: serde_json::Value = serde_json::from_slice(daemon).unwrap();
    assert_eq!(
        v,
        serde_json::json!({ "registry-mirrors": ["https://mirror.example.com"] })
    );
    let view = String::from_utf8(
        b.bundle
            .get(&format!("instance{CLIENT_CONFIG_DIR}/config.json"))
            .expect("client config view")
            .to_vec(),
    )
    .unwrap();
    assert!(view.contains("<secret:registry/password>"), "{view}");
    // The password (and its base64 form) only in the Ignition config, a secret file.
    use base64::Engine as _;
    let encoded =
        base64::engine::general_purpose::STANDARD.encode(format!("family-bot:{PASSWORD}"));
    for (path, bytes) in b.bundle.files() {
        let text = String::from_utf8_lossy(bytes);
        if path != nassella_core::render::IGNITION_FILE {
            assert!(
                !text.contains(PASSWORD) && !text.contains(&encoded),
                "{path} leaks it"
            );
        }
    }
    assert!(b.bundle.is_secret(nassella_core::render::IGNITION_FILE));
    // The scripts use that config.
    let app_sh = String::from_utf8(
        b.bundle
            .get("instance/etc/nassella/bin/app.sh")
            .unwrap()
            .to_vec(),
    )
    .unwrap();
    assert!(app_sh.contains(r#"export DOCKER_CONFIG="$CONF/docker-config""#));
}

#[test]
fn hostile_or_incomplete_settings_are_refused_at_their_key() {
    for (reg, path, says) in [
        (
            Registry::new().mirror("https://x.com\"],\"debug\":true,\"y\":[\""),
            "registry.mirror",
            "must be an https URL",
        ),
        (
            Registry::new().mirror("http://mirror.example.com"),
            "registry.mirror",
            "https",
        ),
        (
            Registry::new().username("bot"),
            "registry.password_env",
            "needs a password",
        ),
        (
            Registry::new().login("bot\nx", "DOCKERHUB_TOKEN"),
            "registry.username",
            "user name",
        ),
        (
            Registry::new().login("bot", "NASSELLA_MASTER"),
            "registry.password_env",
            "not an environment variable name",
        ),
    ] {
        let err = build(&stack(reg), &keys()).expect_err(path).to_string();
        assert!(err.contains(path) && err.contains(says), "{path}: {err}");
    }
    // The variable is named but this process does not have it.
    let err = build(
        &stack(Registry::new().login("bot", "ANOTHER_TOKEN")),
        &keys(),
    )
    .expect_err("missing")
    .to_string();
    assert!(
        err.contains("registry.password_env") && err.contains("ANOTHER_TOKEN"),
        "{err}"
    );
}
