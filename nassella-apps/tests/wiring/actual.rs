//! The wiring of Actual Budget (`nassella-apps/src/actual.rs`), read back from what it renders.

use super::*;

#[test]
fn actual_wiring() {
    assert_exact_round_trip::<Actual>();
    let host = "budget.example.com";
    let (_, b) = render_one(Actual::new(host).id("budget"));
    let c = compose_file(&b, "budget");
    assert_eq!(env(&c, "app", "ACTUAL_TRUSTED_PROXIES"), Some(SUBNET));
    for var in [
        "ACTUAL_UPLOAD_FILE_SYNC_SIZE_LIMIT_MB",
        "ACTUAL_UPLOAD_SYNC_ENCRYPTED_FILE_SYNC_SIZE_LIMIT_MB",
        "ACTUAL_UPLOAD_FILE_SIZE_LIMIT_MB",
    ] {
        assert_eq!(env(&c, "app", var), Some("50"), "{var}");
    }
    assert_eq!(mounts(&c, "app"), ["/data"]);
    let site = site_block(text(&b, CADDYFILE), host);
    assert!(site.contains(&format!("max_size {}", 51 * MIB)), "{site}");
    assert!(site.contains("reverse_proxy budget-app:5006"), "{site}");
    // The server password by a one-off job through Actual's own bootstrap endpoint.
    assert_eq!(
        env_view(&b, "budget", "app")["NASSELLA_SERVER_PASSWORD"],
        "<secret:budget/server-password>"
    );
    let job = unit(&b, "nassella-once-budget-set-password.service");
    for part in [
        "exec budget app node -e \"",
        "g('http://127.0.0.1:5006/account/bootstrap',{method:'POST'",
        "body:JSON.stringify({password:process.env.NASSELLA_SERVER_PASSWORD})",
        "else if(s===400&&t.includes('already-bootstrapped'))",
    ] {
        assert!(job.contains(part), "{part} in {job}");
    }
    assert_eq!(
        setting_problems(from_json(
            "actual",
            "budget",
            json!({"host": host, "max_upload_mb": 0})
        )),
        ["apps.budget.max_upload_mb"]
    );
}
