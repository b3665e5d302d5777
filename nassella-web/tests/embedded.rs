//! The embedded default: `nassella-web` started with no database URL runs its own PostgreSQL in
//! its state folder, creates the key file and one administrator whose password it prints once,
//! listens on loopback, and stops its database when it stops.

mod common;

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};

#[allow(clippy::zombie_processes)] // the caller waits for it (`interrupt`)
fn start(state: &std::path::Path) -> (std::process::Child, String, Option<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_nassella-web"))
        .args(["--listen", "127.0.0.1:0"])
        .env("NASSELLA_WEB_STATE_DIR", state)
        .env_remove("NASSELLA_WEB_DATABASE_URL")
        .env_remove("NASSELLA_WEB_KEY")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut password = None;
    loop {
        let line = lines.next().expect("a line before the address").unwrap();
        if let Some(rest) =
            line.strip_prefix("created the local administrator: user `admin`, password `")
        {
            password = Some(rest[..rest.find('`').unwrap()].to_owned());
        }
        if let Some(addr) = line.strip_prefix("nassella-web listens on ") {
            // Keep draining stdout so the server never blocks on it.
            std::thread::spawn(move || for _ in lines {});
            return (child, addr.trim_end_matches('/').to_owned(), password);
        }
    }
}

fn interrupt(child: &mut std::process::Child) {
    let st = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let code = child.wait().unwrap();
    assert!(code.success(), "{code}");
}

#[tokio::test]
async fn runs_on_its_own_with_a_printed_first_password() {
    let dir = tempfile::tempdir().unwrap();
    Command::new("chmod")
        .arg("755")
        .arg(dir.path())
        .status()
        .unwrap();
    let state = dir.path().join("state");
    let (mut child, base, password) = start(&state);
    let password = password.expect("the first password is printed");
    assert!(base.starts_with("http://127.0.0.1:"), "{base}");
    assert!(
        state.join("postgres").exists(),
        "the cluster lives in the state folder"
    );
    let key = state.join("web.key");
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );

    let c = common::client();
    let r = common::sign_in(&c, &base, "admin", &password).await;
    assert_eq!(r.status(), reqwest::StatusCode::SEE_OTHER);
    let page = c
        .get(format!("{base}/t/local"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("admin · admin"), "{page}");
    interrupt(&mut child);

    // Started again: the same database and administrator, no new password printed.
    let (mut child, base, again) = start(&state);
    assert_eq!(again, None, "the password is printed once only");
    let c = common::client();
    let r = common::sign_in(&c, &base, "admin", &password).await;
    assert_eq!(
        r.status(),
        reqwest::StatusCode::SEE_OTHER,
        "the first password still works"
    );
    interrupt(&mut child);
}

#[test]
fn help_explains_every_option_and_its_environment_variable() {
    let out = Command::new(env!("CARGO_BIN_EXE_nassella-web"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for var in [
        "NASSELLA_WEB_LISTEN",
        "NASSELLA_WEB_DATABASE_URL",
        "NASSELLA_WEB_STATE_DIR",
        "NASSELLA_WEB_KEY_FILE",
        "NASSELLA_WEB_KEY",
        "NASSELLA_WEB_AUTH",
        "NASSELLA_WEB_TRUSTED_PROXIES",
        "NASSELLA_WEB_LDAP_URL",
        "NASSELLA_WEB_LDAP_USER_DN",
        "NASSELLA_WEB_LDAP_GROUP_BASE",
        "NASSELLA_WEB_GROUP_PREFIX",
        "NASSELLA_WEB_INSECURE_COOKIE",
        "NASSELLA_WEB_SESSION_HOURS",
        "NASSELLA_WEB_LOGIN_PER_MINUTE",
        "NASSELLA_WEB_WORKERS",
        "NASSELLA_WEB_CLI",
        "NASSELLA_WEB_AS_CLI",
        "NASSELLA_WEB_LOG",
    ] {
        assert!(help.contains(var), "--help does not mention {var}");
    }
}
