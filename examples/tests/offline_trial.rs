//! The README's first command: `nassella-offline apply` on `examples/config/local.config` runs the
//! instance on the local target with the real Terraform and Docker engine, offline. The test runs
//! that config with only what would collide with other runs changed (name, ports, proxy subnet,
//! repository), so the command the README gives stays true.

use std::path::Path;
use std::process::{Command, Output};

use instance_tests::TestEnv;
use nassella_testkit::instance::{free_port, http_get, show};

const README_COMMAND: &str =
    "cargo run -p examples --bin nassella-offline -- apply --config examples/config/local.config";

fn workspace() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap()
}

fn offline(state: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nassella-offline"))
        .args(args)
        .env("NASSELLA_STATE_DIR", state)
        .output()
        .unwrap()
}

#[test]
fn the_readme_trial_runs_the_example_on_the_local_target() {
    let readme = std::fs::read_to_string(workspace().join("README.md")).unwrap();
    assert!(
        readme.contains(README_COMMAND),
        "the README's main command changed: update this test"
    );
    if !instance_tests::have_terraform() {
        return;
    }
    let env = TestEnv::new();
    let original =
        std::fs::read_to_string(workspace().join("examples/config/local.config")).unwrap();
    let mut config = String::new();
    for line in original.lines() {
        let line = match line.split_once(" = ").map(|(k, _)| k.trim()) {
            Some("name") => format!("name = \"{}\"", env.name),
            Some("http_port") => format!("http_port = {}", env.port),
            Some("https_port") => format!(
                "https_port = {}\nproxy_subnet = \"{}\"",
                free_port(),
                env.subnet()
            ),
            Some("repository") => format!("repository = \"{}\"", env.repo().display()),
            _ => line.to_owned(),
        };
        config.push_str(&line);
        config.push('\n');
    }
    assert_eq!(config.matches(&env.name).count(), 1, "{config}");
    let cfg = env.path("cfg").join("local.config");
    std::fs::write(&cfg, &config).unwrap();
    let cfg = cfg.to_str().unwrap();
    let state = env.path("state");
    let _stop = instance_tests::StopOnDrop {
        bin: env!("CARGO_BIN_EXE_nassella-offline").into(),
        root: state.join(&env.name).join("instance"),
    };

    let out = offline(&state, &["apply", "--config", cfg]);
    assert!(out.status.success(), "{}", show(&out));
    let log = String::from_utf8_lossy(&out.stderr);
    let url = format!("http://hello.localhost:{}/", env.port);
    assert!(
        log.contains(&url),
        "apply names the app's address {url}:\n{log}"
    );
    assert_eq!(
        http_get(env.port, "hello.localhost", "/").body.trim(),
        "hello from hello"
    );

    let out = offline(&state, &["destroy", "--config", cfg]);
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(http_get(env.port, "hello.localhost", "/").status, 0);
    assert!(
        state.join(&env.name).join("data/hello").is_dir(),
        "destroy keeps the data"
    );
}
