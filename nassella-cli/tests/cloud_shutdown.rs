//! Stopping the old cloud server before its volume is detached (docs/deploy.md, "Replacing a
//! server: never lose a write"): the plan classification on hand-written `terraform show -json`
//! fixtures (tests/fixtures/*.plan.json), and the shutdown/poll/power-on sequence against a
//! **fake** provider API on 127.0.0.1 (no cloud API can be reached here). The last test runs
//! `nassella apply` end to end with a fake `terraform` script and the fake API, to check the order:
//! plan, show, shutdown, wait until off, apply the saved plan.

use std::collections::HashMap;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nassella_cli::deploy::cloud::{self, Api, Cloud, PlanEffect};

fn fixture(name: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// A plan with one change of the server and one of the attachment.
fn plan(server: &str, attachment: &str) -> String {
    format!(
        r#"{{"format_version":"1.2","resource_changes":[
            {{"address":"hcloud_server.server","type":"hcloud_server","change":{server}}},
            {{"address":"hcloud_volume_attachment.data","type":"hcloud_volume_attachment","change":{attachment}}}
        ]}}"#
    )
}

// ---------------------------------------------------------------- plan classification

#[test]
fn the_plan_summary_says_what_happens_to_the_running_apps() {
    let server = Cloud::Hetzner.server_address();
    let says = |name: &str| cloud::summarise(server, Some(Cloud::Hetzner), &fixture(name)).unwrap();
    assert!(
        says("hetzner_replace.plan.json").starts_with("the server is REPLACED"),
        "{}",
        says("hetzner_replace.plan.json")
    );
    assert_eq!(
        says("hetzner_dns_only.plan.json"),
        "the server keeps running, untouched; only hcloud_zone_rrset.host[\"cloud.example.com\"] changes"
    );
    assert!(says("hetzner_resize.plan.json").starts_with("the server is changed in place"));
    assert!(says("hetzner_first_deploy.plan.json").starts_with("a new server is created"));
    assert!(says("hetzner_destroy.plan.json").starts_with("the server is DELETED"));
    assert_eq!(
        cloud::summarise(server, Some(Cloud::Hetzner), r#"{"format_version":"1.2"}"#).unwrap(),
        "nothing changes"
    );
    assert!(cloud::summarise(server, None, "not json").is_err());
}

/// `volume_size_gb` raised: the volume is resized in place, and the server is stopped first and
/// powered on afterwards, so that its filesystem grows at boot (before the volume is mounted).
#[test]
fn a_growing_volume_restarts_the_server_so_its_filesystem_grows() {
    let p = r#"{"format_version":"1.2","resource_changes":[
        {"address":"hcloud_server.server","type":"hcloud_server","change":{"actions":["no-op"],"before":{"id":"42"}}},
        {"address":"hcloud_volume_attachment.data","type":"hcloud_volume_attachment","change":{"actions":["no-op"],"before":{"id":"9","server_id":42}}},
        {"address":"hcloud_volume.data[\"data\"]","type":"hcloud_volume","change":{"actions":["update"],"before":{"id":"7","size":20}}}
    ]}"#;
    assert_eq!(
        cloud::classify(Cloud::Hetzner, p).unwrap(),
        PlanEffect::StopFirst {
            server_id: "42".into(),
            kept: true
        }
    );
    assert!(
        cloud::summarise(Cloud::Hetzner.server_address(), Some(Cloud::Hetzner), p)
            .unwrap()
            .starts_with("the data volume grows: the server is stopped and started again")
    );
    // Only a resize counts: a restore's new volume is created, not updated.
    let created = p.replace(r#"["update"]"#, r#"["create"]"#);
    assert_eq!(
        cloud::classify(Cloud::Hetzner, &created).unwrap(),
        PlanEffect::ServerUntouched
    );
}

#[test]
fn a_replacement_stops_the_old_server_first() {
    assert_eq!(
        cloud::classify(Cloud::Hetzner, &fixture("hetzner_replace.plan.json")).unwrap(),
        PlanEffect::StopFirst {
            server_id: "42".into(),
            kept: false
        }
    );
    assert_eq!(
        cloud::classify(
            Cloud::DigitalOcean,
            &fixture("digitalocean_replace.plan.json")
        )
        .unwrap(),
        PlanEffect::StopFirst {
            server_id: "314159".into(),
            kept: false
        }
    );
    // create_before_destroy order is a replacement too.
    let p = plan(
        r#"{"actions":["create","delete"],"before":{"id":"42"}}"#,
        r#"{"actions":["no-op"],"before":{"id":"9","server_id":42}}"#,
    );
    assert_eq!(
        cloud::classify(Cloud::Hetzner, &p).unwrap(),
        PlanEffect::StopFirst {
            server_id: "42".into(),
            kept: false
        }
    );
}

#[test]
fn an_in_place_update_stops_the_server_and_keeps_it() {
    // A server type change: the hcloud provider would power it off hard; we stop it first.
    let p = plan(
        r#"{"actions":["update"],"before":{"id":"42","server_type":"cx22"},"after":{"id":"42","server_type":"cx32"}}"#,
        r#"{"actions":["no-op"],"before":{"id":"9","server_id":42}}"#,
    );
    assert_eq!(
        cloud::classify(Cloud::Hetzner, &p).unwrap(),
        PlanEffect::StopFirst {
            server_id: "42".into(),
            kept: true
        }
    );
}

#[test]
fn an_attachment_change_alone_stops_the_server_named_by_the_attachment() {
    // The server is not in the plan at all; the attachment's `server_id` names it.
    let p = r#"{"resource_changes":[{"address":"hcloud_volume_attachment.data","type":"hcloud_volume_attachment",
        "change":{"actions":["delete"],"before":{"id":"9","server_id":42}}}]}"#;
    assert_eq!(
        cloud::classify(Cloud::Hetzner, p).unwrap(),
        PlanEffect::StopFirst {
            server_id: "42".into(),
            kept: true
        }
    );
}

#[test]
fn a_dns_only_change_touches_no_server() {
    assert_eq!(
        cloud::classify(Cloud::Hetzner, &fixture("hetzner_dns_only.plan.json")).unwrap(),
        PlanEffect::ServerUntouched
    );
    // Nothing to do at all (no resource_changes key: Terraform omits it for an empty module).
    assert_eq!(
        cloud::classify(Cloud::Hetzner, r#"{"format_version":"1.2"}"#).unwrap(),
        PlanEffect::ServerUntouched
    );
    // The other provider's resources are not ours.
    assert_eq!(
        cloud::classify(Cloud::DigitalOcean, &fixture("hetzner_replace.plan.json")).unwrap(),
        PlanEffect::ServerUntouched
    );
}

#[test]
fn the_first_deploy_has_no_old_server_to_stop() {
    assert_eq!(
        cloud::classify(Cloud::Hetzner, &fixture("hetzner_first_deploy.plan.json")).unwrap(),
        PlanEffect::NoOldServer
    );
}

#[test]
fn a_text_that_is_not_a_plan_is_refused() {
    let e = cloud::classify(Cloud::Hetzner, "Error: no plan").unwrap_err();
    assert!(format!("{e:#}").contains("terraform show -json"), "{e:#}");
}

// ---------------------------------------------------------------- the fake provider API

/// One request the fake API received.
#[derive(Debug, Clone)]
struct Request {
    method: String,
    path: String,
    authorization: Option<String>,
    body: String,
}

/// A fake Hetzner Cloud / DigitalOcean API on 127.0.0.1 that models one server: a shutdown
/// turns it `off` after `polls_to_stop` status reads (never, when `None`), a power-on makes it
/// run again. Every request is recorded, and appended to `log` when given.
struct FakeApi {
    base: String,
    requests: Arc<Mutex<Vec<Request>>>,
}

struct ServerModel {
    cloud: Cloud,
    id: String,
    status: String,
    polls_to_stop: Option<usize>,
    polls_since_shutdown: Option<usize>,
}

impl ServerModel {
    fn answer(&mut self, r: &Request) -> (u16, String) {
        let (prefix, key) = match self.cloud {
            Cloud::Hetzner => ("/v1/servers/", "server"),
            Cloud::DigitalOcean => ("/v2/droplets/", "droplet"),
        };
        let Some(rest) = r.path.strip_prefix(prefix) else {
            return (404, r#"{"error":{"code":"not_found"}}"#.into());
        };
        let (id, action) = rest.split_once('/').unwrap_or((rest, ""));
        if id != self.id {
            return (
                404,
                r#"{"error":{"code":"not_found","message":"server not found"}}"#.into(),
            );
        }
        let running = if self.cloud == Cloud::Hetzner {
            "running"
        } else {
            "active"
        };
        let requested = match (self.cloud, r.method.as_str(), action) {
            (_, "GET", "") => {
                if let Some(n) = self.polls_since_shutdown.as_mut() {
                    *n += 1;
                    if self.polls_to_stop.is_some_and(|k| *n > k) {
                        self.status = "off".into();
                        self.polls_since_shutdown = None;
                    }
                }
                return (
                    200,
                    format!(
                        r#"{{"{key}":{{"id":{},"status":"{}"}}}}"#,
                        self.id, self.status
                    ),
                );
            }
            (Cloud::Hetzner, "POST", "actions/shutdown") => "shutdown",
            (Cloud::Hetzner, "POST", "actions/poweron") => "power_on",
            (Cloud::DigitalOcean, "POST", "actions") => {
                let v: serde_json::Value = serde_json::from_str(&r.body).unwrap_or_default();
                match v["type"].as_str() {
                    Some("shutdown") => "shutdown",
                    Some("power_on") => "power_on",
                    _ => return (422, r#"{"id":"unprocessable_entity"}"#.into()),
                }
            }
            _ => return (404, r#"{"error":{"code":"not_found"}}"#.into()),
        };
        if requested == "shutdown" {
            self.status = "stopping".into();
            self.polls_since_shutdown = Some(0);
        } else {
            self.status = running.into();
        }
        (201, r#"{"action":{"id":1,"status":"running"}}"#.into())
    }
}

impl FakeApi {
    fn start(model: ServerModel, token: &str, log: Option<PathBuf>) -> Self {
        Self::start_with(token, log, Mutex::new(model), |m, r| {
            m.lock().unwrap().answer(r)
        })
    }

    fn start_with<S: Send + Sync + 'static>(
        token: &str,
        log: Option<PathBuf>,
        state: S,
        answer: fn(&S, &Request) -> (u16, String),
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let recorded = Arc::clone(&requests);
        let token = format!("Bearer {token}");
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let Some(r) = read_request(&mut stream) else {
                    continue;
                };
                if let Some(log) = &log {
                    let mut f = std::fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(log)
                        .unwrap();
                    writeln!(f, "api {} {} {}", r.method, r.path, r.body).unwrap();
                }
                recorded.lock().unwrap().push(r.clone());
                let (code, body) = if r.authorization.as_deref() == Some(token.as_str()) {
                    answer(&state, &r)
                } else {
                    (
                        401,
                        r#"{"error":{"code":"unauthorized","message":"unable to authenticate"}}"#
                            .into(),
                    )
                };
                let _ = write!(
                    stream,
                    "HTTP/1.1 {code} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        Self { base, requests }
    }

    fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }

    fn posts(&self) -> Vec<(String, String)> {
        self.requests()
            .into_iter()
            .filter(|r| r.method == "POST")
            .map(|r| (r.path, r.body))
            .collect()
    }
}

fn read_request(stream: &mut std::net::TcpStream) -> Option<Request> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_owned();
    let path = parts.next()?.to_owned();
    let mut headers = HashMap::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
        }
    }
    let len = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    reader.read_exact(&mut body).ok()?;
    Some(Request {
        method,
        path,
        authorization: headers.get("authorization").cloned(),
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

fn model(cloud: Cloud, id: &str, status: &str, polls_to_stop: Option<usize>) -> ServerModel {
    ServerModel {
        cloud,
        id: id.into(),
        status: status.into(),
        polls_to_stop,
        polls_since_shutdown: None,
    }
}

const POLL: Duration = Duration::from_millis(10);
const TIMEOUT: Duration = Duration::from_secs(10);

fn api(cloud: Cloud, fake: &FakeApi, token: &str) -> Api {
    let prefix = if cloud == Cloud::Hetzner {
        "/v1"
    } else {
        "/v2"
    };
    Api::new(cloud, &format!("{}{prefix}", fake.base), token)
}

#[test]
fn shutdown_polls_until_off_against_a_fake_hetzner_api() {
    let fake = FakeApi::start(model(Cloud::Hetzner, "42", "running", Some(3)), "tok", None);
    api(Cloud::Hetzner, &fake, "tok")
        .stop("42", TIMEOUT, POLL)
        .unwrap();
    let r = fake.requests();
    assert!(
        r.iter()
            .all(|r| r.authorization.as_deref() == Some("Bearer tok")),
        "every request carries the bearer token: {r:?}"
    );
    let seen: Vec<_> = r
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert_eq!(
        seen[0], "GET /v1/servers/42",
        "the status is read first: {seen:?}"
    );
    assert_eq!(seen[1], "POST /v1/servers/42/actions/shutdown", "{seen:?}");
    assert_eq!(
        seen.len(),
        2 + 4,
        "polled until off (3 polls `stopping`, then `off`): {seen:?}"
    );
    assert!(
        seen[2..].iter().all(|s| s == "GET /v1/servers/42"),
        "{seen:?}"
    );
}

#[test]
fn shutdown_polls_until_off_against_a_fake_digitalocean_api() {
    let fake = FakeApi::start(
        model(Cloud::DigitalOcean, "314159", "active", Some(1)),
        "do-tok",
        None,
    );
    api(Cloud::DigitalOcean, &fake, "do-tok")
        .stop("314159", TIMEOUT, POLL)
        .unwrap();
    let posts = fake.posts();
    assert_eq!(posts.len(), 1, "{posts:?}");
    assert_eq!(posts[0].0, "/v2/droplets/314159/actions");
    let body: serde_json::Value = serde_json::from_str(&posts[0].1).unwrap();
    assert_eq!(body, serde_json::json!({"type": "shutdown"}));
    let last = fake.requests().pop().unwrap();
    assert_eq!(
        (last.method.as_str(), last.path.as_str()),
        ("GET", "/v2/droplets/314159")
    );
}

#[test]
fn a_server_that_never_turns_off_times_out_against_a_fake_hetzner_api() {
    let fake = FakeApi::start(model(Cloud::Hetzner, "42", "running", None), "tok", None);
    let e = api(Cloud::Hetzner, &fake, "tok")
        .stop("42", Duration::from_millis(300), POLL)
        .unwrap_err();
    let msg = format!("{e:#}");
    for want in [
        "42 did not power off within",
        "Nothing was applied",
        "run `nassella apply` again",
        "--shutdown-timeout <seconds>",
        "NASSELLA_SHUTDOWN_TIMEOUT",
    ] {
        assert!(msg.contains(want), "missing `{want}` in: {msg}");
    }
    assert_eq!(fake.posts().len(), 1, "one shutdown, no forced power-off");
    assert!(
        fake.requests().len() > 3,
        "it kept polling until the timeout"
    );
}

#[test]
fn a_server_already_off_gets_no_shutdown_against_a_fake_hetzner_api() {
    let fake = FakeApi::start(model(Cloud::Hetzner, "42", "off", Some(0)), "tok", None);
    api(Cloud::Hetzner, &fake, "tok")
        .stop("42", TIMEOUT, POLL)
        .unwrap();
    assert!(fake.posts().is_empty(), "{:?}", fake.posts());
}

#[test]
fn an_api_error_names_the_status_and_message_against_a_fake_hetzner_api() {
    let fake = FakeApi::start(
        model(Cloud::Hetzner, "42", "running", Some(0)),
        "right",
        None,
    );
    let e = api(Cloud::Hetzner, &fake, "wrong")
        .stop("42", TIMEOUT, POLL)
        .unwrap_err();
    let msg = format!("{e:#}");
    assert!(
        msg.contains("HTTP 401") && msg.contains("unable to authenticate"),
        "{msg}"
    );
    assert!(
        fake.posts().is_empty(),
        "nothing is shut down without a working token"
    );
    // A server that does not exist.
    let e = api(Cloud::Hetzner, &fake, "right")
        .stop("43", TIMEOUT, POLL)
        .unwrap_err();
    assert!(format!("{e:#}").contains("HTTP 404"), "{e:#}");
}

#[test]
fn power_on_after_an_in_place_change_against_a_fake_digitalocean_api() {
    let fake = FakeApi::start(model(Cloud::DigitalOcean, "7", "off", None), "t", None);
    let api = api(Cloud::DigitalOcean, &fake, "t");
    api.power_on_if_off("7", TIMEOUT, POLL).unwrap();
    let posts = fake.posts();
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0].0, "/v2/droplets/7/actions");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&posts[0].1).unwrap(),
        serde_json::json!({"type": "power_on"})
    );
    assert_eq!(api.status("7").unwrap(), "active");
    // Already running: nothing sent.
    api.power_on_if_off("7", TIMEOUT, POLL).unwrap();
    assert_eq!(fake.posts().len(), 1);
}

#[test]
fn power_on_after_an_in_place_change_against_a_fake_hetzner_api() {
    let fake = FakeApi::start(model(Cloud::Hetzner, "42", "off", None), "t", None);
    api(Cloud::Hetzner, &fake, "t")
        .power_on_if_off("42", TIMEOUT, POLL)
        .unwrap();
    assert_eq!(
        fake.posts(),
        vec![("/v1/servers/42/actions/poweron".to_owned(), String::new())]
    );
}

#[test]
fn a_missing_token_names_the_variable() {
    for cloud in [Cloud::Hetzner, Cloud::DigitalOcean] {
        let e = Api::from_lookup(cloud, |_| None).unwrap_err();
        let msg = format!("{e:#}");
        assert!(
            msg.contains(cloud.token_var()) && msg.contains("is not set"),
            "{msg}"
        );
        let e = Api::from_lookup(cloud, |_| Some("  ".into())).unwrap_err();
        assert!(
            format!("{e:#}").contains(cloud.token_var()),
            "an empty token is missing"
        );
    }
}

#[test]
fn the_api_base_url_comes_from_the_environment_against_a_fake_hetzner_api() {
    let fake = FakeApi::start(model(Cloud::Hetzner, "42", "running", Some(0)), "tok", None);
    let base = format!("{}/v1/", fake.base);
    let api = Api::from_lookup(Cloud::Hetzner, |name| match name {
        "HCLOUD_TOKEN" => Some("tok".into()),
        "NASSELLA_HCLOUD_API" => Some(base.clone()),
        _ => None,
    })
    .unwrap();
    assert_eq!(api.status("42").unwrap(), "running");
}

// ---------------------------------------------------------------- `nassella apply`, end to end

/// A fake `terraform` on PATH: logs its arguments to `$FAKE_LOG`, prints `$FAKE_PLAN_JSON` for
/// `show -json`, writes the plan file for `plan -out=…`, exits `$FAKE_APPLY_EXIT` for `apply`.
const FAKE_TERRAFORM: &str = r#"#!/bin/sh
shift # -chdir=…
echo "terraform $*" >> "$FAKE_LOG"
case "$1" in
  plan)
    for a in "$@"; do case "$a" in -out=*) echo fake-plan > "${a#-out=}";; esac; done ;;
  show)
    cat "$FAKE_PLAN_JSON" ;;
  apply)
    exit "${FAKE_APPLY_EXIT:-0}" ;;
esac
exit 0
"#;

fn hetzner_config(dir: &Path) -> PathBuf {
    // The family example without its backup (restic would try to reach the bucket).
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/config/family.config"),
    )
    .unwrap();
    let mut out = String::new();
    let mut skip = false;
    for line in text.lines() {
        if line.starts_with('[') {
            skip = line == "[backup]";
        }
        if !skip {
            out.push_str(line);
            out.push('\n');
        }
    }
    let p = dir.join("apps.config");
    std::fs::write(&p, out).unwrap();
    p
}

fn nassella_apply(
    dir: &Path,
    plan_fixture: &str,
    env: &[(&str, &str)],
) -> (std::process::Output, String) {
    nassella(dir, &["apply"], plan_fixture, env)
}

/// `nassella <args> --config <the family example on Hetzner>` with the fake `terraform` first
/// on PATH; returns the output and the log of Terraform calls and API requests.
fn nassella(
    dir: &Path,
    args: &[&str],
    plan_fixture: &str,
    env: &[(&str, &str)],
) -> (std::process::Output, String) {
    use std::os::unix::fs::PermissionsExt as _;
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let tf = bin.join("terraform");
    std::fs::write(&tf, FAKE_TERRAFORM).unwrap();
    std::fs::set_permissions(&tf, std::fs::Permissions::from_mode(0o755)).unwrap();
    let plan = dir.join("plan.json");
    std::fs::write(&plan, fixture(plan_fixture)).unwrap();
    let config = if dir.join("restore.config").exists() {
        dir.join("restore.config")
    } else {
        hetzner_config(dir)
    };
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_nassella"));
    c.args(args)
        .arg("--config")
        .arg(&config)
        .env("PATH", path)
        .env("NASSELLA_STATE_DIR", dir.join("state"))
        .env("NASSELLA_MASTER_KEY", "07".repeat(32))
        .env("RESTIC_CACHE_DIR", dir.join("restic-cache"))
        .env_remove("NASSELLA_MASTER_KEY_FILE")
        .env_remove("HCLOUD_TOKEN")
        .env_remove("NASSELLA_HCLOUD_API")
        .env_remove("NASSELLA_SHUTDOWN_TIMEOUT")
        .env("FAKE_LOG", dir.join("log"))
        .env("FAKE_PLAN_JSON", &plan);
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c.output().unwrap();
    let log = std::fs::read_to_string(dir.join("log")).unwrap_or_default();
    (out, log)
}

/// A fake Hetzner API whose server 42 runs (and powers off after `off_after` status reads), with
/// the token `tok`, logging requests to `log`; and the base URL to give `NASSELLA_HCLOUD_API`.
fn fake_hetzner(off_after: Option<usize>, log: Option<PathBuf>) -> (FakeApi, String) {
    let fake = FakeApi::start(
        model(Cloud::Hetzner, "42", "running", off_after),
        "tok",
        log,
    );
    let api = format!("{}/v1", fake.base);
    (fake, api)
}

/// The log without the API's status reads, for comparing orders.
fn steps(log: &str) -> Vec<String> {
    log.lines()
        .filter(|l| !l.starts_with("api GET"))
        .map(|l| match l.strip_prefix("api POST") {
            Some(rest) => format!("api POST{rest}"),
            None => l.split_whitespace().take(2).collect::<Vec<_>>().join(" "),
        })
        .collect()
}

#[test]
fn apply_stops_the_old_server_before_the_saved_plan_against_a_fake_hetzner_api() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let (_fake, api) = fake_hetzner(Some(2), Some(log));
    let (out, log) = nassella_apply(
        dir.path(),
        "hetzner_replace.plan.json",
        &[("HCLOUD_TOKEN", "tok"), ("NASSELLA_HCLOUD_API", &api)],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}\n{log}");
    assert_eq!(
        steps(&log),
        [
            "terraform init",
            "terraform plan",
            "terraform show",
            "api POST /v1/servers/42/actions/shutdown ",
            "terraform apply",
        ],
        "{log}"
    );
    let plan_file = dir.path().join("state/family/terraform/tfplan");
    assert!(
        log.contains(&format!("-out={}", plan_file.display()))
            && log.contains(&format!("apply -input=false {}", plan_file.display())),
        "plan to <state>/terraform/tfplan and apply exactly that file: {log}"
    );
    assert!(
        log.contains("-var-file="),
        "the plan gets the var args: {log}"
    );
    assert!(
        !plan_file.exists(),
        "the saved plan (it holds the secrets) is removed"
    );
    let status_reads = log.lines().filter(|l| l.starts_with("api GET")).count();
    assert_eq!(
        status_reads,
        1 + 3,
        "read once, then polled until off: {log}"
    );
    assert!(
        err.contains("==> stopping the old server 42 before its volume is detached"),
        "{err}"
    );
    assert!(err.contains("==> applied"), "{err}");
}

#[test]
fn apply_with_a_dns_only_plan_stops_nothing_and_needs_no_token() {
    let dir = tempfile::tempdir().unwrap();
    let (out, log) = nassella_apply(dir.path(), "hetzner_dns_only.plan.json", &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}\n{log}");
    assert_eq!(
        steps(&log),
        [
            "terraform init",
            "terraform plan",
            "terraform show",
            "terraform apply"
        ]
    );
    assert!(err.contains("no stop needed"), "{err}");
}

#[test]
fn apply_without_a_token_applies_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (out, log) = nassella_apply(dir.path(), "hetzner_replace.plan.json", &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("HCLOUD_TOKEN is not set"), "{err}");
    assert!(!log.contains("terraform apply"), "nothing applied: {log}");
}

#[test]
fn apply_times_out_and_applies_nothing_against_a_fake_hetzner_api() {
    let dir = tempfile::tempdir().unwrap();
    let (fake, api) = fake_hetzner(None, None);
    let (out, log) = nassella_apply(
        dir.path(),
        "hetzner_replace.plan.json",
        &[
            ("HCLOUD_TOKEN", "tok"),
            ("NASSELLA_HCLOUD_API", &api),
            ("NASSELLA_SHUTDOWN_TIMEOUT", "1"),
        ],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("did not power off within 1 s"), "{err}");
    assert!(!log.contains("terraform apply"), "nothing applied: {log}");
    assert_eq!(
        fake.posts().len(),
        1,
        "one graceful shutdown, nothing forced"
    );
}

#[test]
fn a_failed_apply_says_to_run_again_against_a_fake_hetzner_api() {
    let dir = tempfile::tempdir().unwrap();
    let (_fake, api) = fake_hetzner(Some(0), None);
    let (out, _) = nassella_apply(
        dir.path(),
        "hetzner_replace.plan.json",
        &[
            ("HCLOUD_TOKEN", "tok"),
            ("NASSELLA_HCLOUD_API", &api),
            ("FAKE_APPLY_EXIT", "1"),
        ],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("saved plan is stale") && err.contains("run `nassella apply` again"),
        "{err}"
    );
}

#[test]
fn apply_of_an_in_place_resize_powers_the_server_on_again_against_a_fake_hetzner_api() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let (_fake, api) = fake_hetzner(Some(0), Some(log));
    let (out, log) = nassella_apply(
        dir.path(),
        "hetzner_resize.plan.json",
        &[("HCLOUD_TOKEN", "tok"), ("NASSELLA_HCLOUD_API", &api)],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}\n{log}");
    assert_eq!(
        steps(&log),
        [
            "terraform init",
            "terraform plan",
            "terraform show",
            "api POST /v1/servers/42/actions/shutdown ",
            "terraform apply",
            "api POST /v1/servers/42/actions/poweron ",
        ],
        "{log}"
    );
    assert!(err.contains("==> powering the server 42 on again"), "{err}");
}

// ---------------------------------------------------------------- `--shutdown-timeout`

#[test]
fn the_shutdown_timeout_flag_wins_over_the_variable_against_a_fake_hetzner_api() {
    let dir = tempfile::tempdir().unwrap();
    let (fake, api) = fake_hetzner(None, None);
    let started = std::time::Instant::now();
    let (out, log) = nassella(
        dir.path(),
        &["apply", "--shutdown-timeout", "1"],
        "hetzner_replace.plan.json",
        &[
            ("HCLOUD_TOKEN", "tok"),
            ("NASSELLA_HCLOUD_API", &api),
            // The flag wins: without it this run would wait ten minutes.
            ("NASSELLA_SHUTDOWN_TIMEOUT", "600"),
        ],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("did not power off within 1 s"), "{err}");
    assert!(!log.contains("terraform apply"), "nothing applied: {log}");
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "gave up after the flag's second, not the variable's ten minutes"
    );
    assert_eq!(
        fake.posts().len(),
        1,
        "one graceful shutdown, nothing forced"
    );
}

#[test]
fn a_shutdown_timeout_that_is_not_a_positive_number_is_refused_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    for bad in ["0", "ten"] {
        let (out, log) = nassella(
            dir.path(),
            &["destroy", "--shutdown-timeout", bad],
            "hetzner_destroy.plan.json",
            &[],
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{bad}: {err}");
        assert!(err.contains("--shutdown-timeout"), "{bad}: {err}");
        assert!(log.is_empty(), "{bad}: terraform was not run: {log}");
    }
    // The variable is checked before anything runs too.
    let (out, log) = nassella(
        dir.path(),
        &["apply"],
        "hetzner_replace.plan.json",
        &[("NASSELLA_SHUTDOWN_TIMEOUT", "ten")],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "a usage error: {err}");
    assert!(
        err.contains("`ten` is not a whole number of seconds")
            && err.contains("NASSELLA_SHUTDOWN_TIMEOUT"),
        "{err}"
    );
    assert!(log.is_empty(), "terraform was not run: {log}");
    // A plan stops nothing, so it does not read the variable.
    let (out, log) = nassella(
        dir.path(),
        &["plan"],
        "hetzner_replace.plan.json",
        &[("NASSELLA_SHUTDOWN_TIMEOUT", "ten")],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(log.contains("terraform plan"), "{log}");
}

#[test]
fn apply_destroy_and_restore_explain_the_shutdown_timeout_in_their_help() {
    for cmd in [
        &["apply", "--help"][..],
        &["destroy", "--help"],
        &["backups", "restore", "--help"],
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_nassella"))
            .args(cmd)
            .output()
            .unwrap();
        let help = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{cmd:?}");
        for want in [
            "--shutdown-timeout <SECONDS>",
            "power off cleanly",
            "NASSELLA_SHUTDOWN_TIMEOUT",
            "flag wins",
        ] {
            assert!(help.contains(want), "{cmd:?}: no `{want}` in:\n{help}");
        }
    }
}

// ---------------------------------------------------------------- `nassella destroy`

#[test]
fn a_destroy_plan_stops_the_server_and_keeps_nothing_running() {
    assert_eq!(
        cloud::classify(Cloud::Hetzner, &fixture("hetzner_destroy.plan.json")).unwrap(),
        PlanEffect::StopFirst {
            server_id: "42".into(),
            kept: false
        }
    );
    let p = r#"{"resource_changes":[
        {"address":"digitalocean_droplet.server","change":{"actions":["delete"],"before":{"id":"314159"}}},
        {"address":"digitalocean_volume_attachment.data","change":{"actions":["delete"],"before":{"id":"x","droplet_id":314159}}}]}"#;
    assert_eq!(
        cloud::classify(Cloud::DigitalOcean, p).unwrap(),
        PlanEffect::StopFirst {
            server_id: "314159".into(),
            kept: false
        }
    );
}

#[test]
fn destroy_stops_the_server_before_the_saved_destroy_plan_against_a_fake_hetzner_api() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let (fake, api) = fake_hetzner(Some(2), Some(log));
    let (out, log) = nassella(
        dir.path(),
        &["destroy"],
        "hetzner_destroy.plan.json",
        &[("HCLOUD_TOKEN", "tok"), ("NASSELLA_HCLOUD_API", &api)],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}\n{log}");
    assert_eq!(
        steps(&log),
        [
            "terraform init",
            "terraform plan",
            "terraform show",
            "api POST /v1/servers/42/actions/shutdown ",
            "terraform apply",
        ],
        "no bare `terraform destroy`: plan, stop, then apply the saved plan: {log}"
    );
    let plan_line = log
        .lines()
        .find(|l| l.starts_with("terraform plan"))
        .unwrap();
    let plan_file = dir.path().join("state/family/terraform/tfplan");
    assert!(
        plan_line.contains(" -destroy ")
            && plan_line.contains(&format!("-out={}", plan_file.display())),
        "{plan_line}"
    );
    for target in [
        "hcloud_server.server",
        "hcloud_volume_attachment.data",
        "hcloud_primary_ip.ipv4",
        "hcloud_firewall.web",
        "hcloud_zone_rrset.host",
    ] {
        assert!(
            plan_line.contains(&format!("-target={target}")),
            "{target}: {plan_line}"
        );
    }
    assert!(
        !plan_line.contains("-target=hcloud_volume.data"),
        "the data volume is never targeted (prevent_destroy): {plan_line}"
    );
    assert!(
        log.contains(&format!("apply -input=false {}", plan_file.display())),
        "{log}"
    );
    assert!(!plan_file.exists(), "the saved plan is removed");
    assert!(
        err.contains("==> stopping the old server 42 before its volume is detached"),
        "{err}"
    );
    assert!(err.contains("the data volume is kept"), "{err}");
    assert!(
        !fake.posts().iter().any(|(p, _)| p.contains("poweron")),
        "a destroyed server is not powered on again"
    );
}

#[test]
fn destroy_without_a_token_destroys_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (out, log) = nassella(dir.path(), &["destroy"], "hetzner_destroy.plan.json", &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("HCLOUD_TOKEN is not set") && err.contains("nothing was changed"),
        "{err}"
    );
    assert!(!log.contains("terraform apply"), "nothing applied: {log}");
    assert!(!log.contains("terraform destroy"), "{log}");
}

#[test]
fn destroy_times_out_and_destroys_nothing_against_a_fake_hetzner_api() {
    let dir = tempfile::tempdir().unwrap();
    let (_fake, api) = fake_hetzner(None, None);
    let (out, log) = nassella(
        dir.path(),
        &["destroy", "--shutdown-timeout", "1"],
        "hetzner_destroy.plan.json",
        &[("HCLOUD_TOKEN", "tok"), ("NASSELLA_HCLOUD_API", &api)],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("did not power off within 1 s")
            && err.contains("run `nassella destroy` again"),
        "{err}"
    );
    assert!(!log.contains("terraform apply"), "nothing applied: {log}");
}

// ---------------------------------------------------------------- cloud `backups restore`

/// A restic repository (the real restic, a local folder) with one snapshot of instance `bk`, as
/// the server's backup tags it, and a Hetzner config backing up there: `nassella()` uses it.
/// Returns the snapshot's full id.
fn restore_setup(dir: &Path) -> String {
    use nassella_core::{Keys, MasterKey};
    let repo = dir.join("repo");
    let password = Keys::new(MasterKey::from_hex(&"07".repeat(32)).unwrap()).restic_password();
    let restic = |args: &[&str]| {
        let out = std::process::Command::new("restic")
            .args(args)
            .env("RESTIC_REPOSITORY", &repo)
            .env("RESTIC_PASSWORD", &password)
            .env("RESTIC_CACHE_DIR", dir.join("restic-cache"))
            .output()
            .expect("restic is required (apt-get install restic)");
        assert!(
            out.status.success(),
            "restic {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    restic(&["init"]);
    let src = dir.join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("file.txt"), "old data").unwrap();
    restic(&[
        "backup",
        "--host",
        "bk",
        "--tag",
        "nassella",
        src.to_str().unwrap(),
    ]);
    let all: Vec<serde_json::Value> =
        serde_json::from_slice(&restic(&["snapshots", "--json"])).unwrap();
    std::fs::write(
        dir.join("restore.config"),
        format!(
            "[instance]\nname = \"bk\"\nprovider = \"hetzner\"\ntls = {{ mode = \"http_only\" }}\n\n[backup]\nrepository = \"{}\"\n\n[apps.hello]\napp = \"hello\"\nhost = \"hello.example.com\"\n",
            repo.display()
        ),
    )
    .unwrap();
    all[0]["id"].as_str().unwrap().to_owned()
}

fn volumes_json(dir: &Path) -> serde_json::Value {
    let p = dir.join("state/bk/volumes.json");
    serde_json::from_str(
        &std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display())),
    )
    .unwrap()
}

fn bundle_tfvars(dir: &Path) -> serde_json::Value {
    let p = dir.join("state/bk/bundle/terraform.tfvars.json");
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

/// Whether any file of the last bundle names `text` (the restore script names the snapshot).
fn bundle_mentions(dir: &Path, text: &str) -> bool {
    fn walk(p: &Path, text: &str) -> bool {
        if p.is_dir() {
            std::fs::read_dir(p)
                .unwrap()
                .any(|e| walk(&e.unwrap().path(), text))
        } else {
            std::fs::read_to_string(p).is_ok_and(|t| t.contains(text))
        }
    }
    walk(&dir.join("state/bk/bundle"), text)
}

#[test]
fn a_cloud_restore_attaches_a_new_blank_volume_to_a_new_server_against_a_fake_hetzner_api() {
    let dir = tempfile::tempdir().unwrap();
    let id = restore_setup(dir.path());
    let log = dir.path().join("log");
    let (_fake, api) = fake_hetzner(Some(1), Some(log));
    let env = [
        ("HCLOUD_TOKEN", "tok"),
        ("NASSELLA_HCLOUD_API", api.as_str()),
    ];
    let (out, log) = nassella(
        dir.path(),
        &["backups", "restore", &id[..8]],
        "hetzner_replace.plan.json",
        &env,
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}\n{log}");
    assert_eq!(
        steps(&log),
        [
            "terraform init",
            "terraform plan",
            "terraform show",
            "api POST /v1/servers/42/actions/shutdown ",
            "terraform apply",
        ],
        "the old server is stopped before its volume is detached: {log}"
    );
    assert_eq!(
        volumes_json(dir.path()),
        serde_json::json!({"volumes": ["data", "data-2"], "active": "data-2"}),
        "the new volume is active, the old one kept; the restore is done"
    );
    let tfvars = bundle_tfvars(dir.path());
    assert_eq!(
        tfvars["data_volumes"],
        serde_json::json!(["data", "data-2"])
    );
    assert_eq!(tfvars["active_data_volume"], "data-2");
    assert!(
        bundle_mentions(dir.path(), &id),
        "the new server restores that snapshot"
    );
    for want in [
        "onto a new, blank volume `bk-data-2`",
        "`bk-data` (the current data) is detached and kept",
        "nassella backups forget-volume data",
    ] {
        assert!(err.contains(want), "no `{want}` in:\n{err}");
    }

    // The snapshot was for that deploy only: the next apply builds without it, and keeps both
    // volumes with the new one attached.
    let (out, log) = nassella(dir.path(), &["apply"], "hetzner_dns_only.plan.json", &env);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}\n{log}");
    assert!(!bundle_mentions(dir.path(), &id), "no snapshot any more");
    assert!(!err.contains("finishing the restore"), "{err}");
    let tfvars = bundle_tfvars(dir.path());
    assert_eq!(
        tfvars["data_volumes"],
        serde_json::json!(["data", "data-2"])
    );
    assert_eq!(tfvars["active_data_volume"], "data-2");
}

#[test]
fn a_cloud_restore_that_times_out_is_finished_by_the_next_apply_against_a_fake_hetzner_api() {
    let dir = tempfile::tempdir().unwrap();
    let id = restore_setup(dir.path());
    let stuck = FakeApi::start(model(Cloud::Hetzner, "42", "running", None), "tok", None);
    let api = format!("{}/v1", stuck.base);
    let (out, log) = nassella(
        dir.path(),
        &["backups", "restore", &id, "--shutdown-timeout", "1"],
        "hetzner_replace.plan.json",
        &[("HCLOUD_TOKEN", "tok"), ("NASSELLA_HCLOUD_API", &api)],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(!log.contains("terraform apply"), "nothing applied: {log}");
    assert!(
        err.contains("did not power off within 1 s")
            && err.contains("`bk-data` keeps the previous data")
            && err.contains("run `nassella apply`"),
        "{err}"
    );
    assert_eq!(
        volumes_json(dir.path()),
        serde_json::json!({"volumes": ["data", "data-2"], "active": "data-2",
            "restoring": {"snapshot": id, "previous": "data"}}),
        "the pending restore is recorded"
    );
    // The same restore again reuses the new volume (no third one).
    let (out, _) = nassella(
        dir.path(),
        &["backups", "restore", &id, "--shutdown-timeout", "1"],
        "hetzner_replace.plan.json",
        &[("HCLOUD_TOKEN", "tok"), ("NASSELLA_HCLOUD_API", &api)],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("resuming the restore"), "{err}");
    assert_eq!(
        volumes_json(dir.path())["volumes"],
        serde_json::json!(["data", "data-2"])
    );
    // While it is pending, the old volume cannot be forgotten.
    let (out, _) = nassella(
        dir.path(),
        &["backups", "forget-volume", "data"],
        "hetzner_dns_only.plan.json",
        &[],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("not deployed yet"),
        "{err}"
    );

    // A plain apply finishes it: same snapshot, same new volume.
    let (_fake, api) = fake_hetzner(Some(0), None);
    let (out, log) = nassella(
        dir.path(),
        &["apply"],
        "hetzner_replace.plan.json",
        &[("HCLOUD_TOKEN", "tok"), ("NASSELLA_HCLOUD_API", &api)],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}\n{log}");
    assert!(
        err.contains(&format!("finishing the restore of snapshot {id}")),
        "{err}"
    );
    assert!(
        bundle_mentions(dir.path(), &id),
        "the snapshot is still chosen"
    );
    assert_eq!(bundle_tfvars(dir.path())["active_data_volume"], "data-2");
    assert_eq!(
        volumes_json(dir.path()),
        serde_json::json!({"volumes": ["data", "data-2"], "active": "data-2"})
    );

    // Then the old volume can be forgotten; the attached one and unknown ones cannot.
    for (name, refusal) in [
        ("data-2", "is the attached volume"),
        ("data-9", "keeps no volume"),
    ] {
        let (out, _) = nassella(
            dir.path(),
            &["backups", "forget-volume", name],
            "hetzner_dns_only.plan.json",
            &[],
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && err.contains(refusal),
            "{name}: {err}"
        );
    }
    std::fs::remove_file(dir.path().join("log")).unwrap();
    let (out, log) = nassella(
        dir.path(),
        &["backups", "forget-volume", "data"],
        "hetzner_dns_only.plan.json",
        &[],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}\n{log}");
    assert_eq!(
        log.trim(),
        "terraform state rm hcloud_volume.data[\"data\"]",
        "Terraform forgets the volume; nothing else runs"
    );
    assert_eq!(
        volumes_json(dir.path()),
        serde_json::json!({"volumes": ["data-2"], "active": "data-2"})
    );
    assert!(
        err.contains("hcloud volume disable-protection bk-data delete"),
        "{err}"
    );
}
