//! The web app's control-plane job (nassella-jobs `control`): `nassella apply | plan | destroy`
//! run as queue jobs, Terraform's state in PostgreSQL through the `pg` backend (one schema per
//! instance), on the local target with the real Terraform, Docker engine and restic, and a
//! private PostgreSQL cluster (Debian's binaries).

use std::os::unix::fs::PermissionsExt as _;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use async_trait::async_trait;
use instance_tests::{local_target_config, TestEnv};
use nassella_jobs::control::{Action, ControlPlane, Run};
use nassella_jobs::{pg::Cluster, tfstate, Handler, Job, JobError, JobState, Log, Outcome};
use nassella_jobs::{Queue, Worker};
use nassella_testkit::images::HELLO_IMAGE;
use nassella_testkit::instance::{http_get, show};
use serde_json::json;

const KEY: &str = "0707070707070707070707070707070707070707070707070707070707070707";

/// What the web app's handler does, reduced to this test: the state base and config are
/// already on disk; the job's kind names the action.
struct Deployer {
    control: ControlPlane,
    state: PathBuf,
    config: PathBuf,
}

#[async_trait]
impl Handler for Deployer {
    async fn run(&self, job: &Job, log: &Log) -> Result<Outcome, JobError> {
        let action = match job.kind.as_str() {
            "apply" => Action::Apply,
            "plan" => Action::Plan,
            "destroy" => Action::Destroy,
            other => return Err(JobError(format!("unknown job kind {other}"))),
        };
        let run = Run {
            action,
            state_base: self.state.clone(),
            config: self.config.clone(),
            env: vec![
                ("NASSELLA_MASTER_KEY".into(), KEY.into()),
                (
                    "NASSELLA_COMPOSE".into(),
                    nassella_testkit::compose_binary_path()
                        .display()
                        .to_string(),
                ),
            ],
        };
        self.control.run(job, &run, log).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_plan_destroy_as_jobs_with_the_state_in_postgresql() {
    if !instance_tests::have_terraform() {
        return;
    }
    let env = TestEnv::new();
    let pgdir = env.path("pg");
    // The cluster runs as `postgres` under root: it must get through the test's 0700 folder.
    std::fs::set_permissions(
        pgdir.parent().unwrap(),
        std::fs::Permissions::from_mode(0o711),
    )
    .unwrap();
    let cluster = Cluster::start(&pgdir).await.unwrap();
    let url = cluster.database("web").await.unwrap();
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    let queue = Queue::new(pool.clone());
    queue.migrate().await.unwrap();

    let state = env.path("state");
    let config = env.path("cfg").join("apps.config");
    std::fs::write(&config, local_target_config(&env, HELLO_IMAGE)).unwrap();
    let inst = state.join(&env.name);
    let _stop = instance_tests::StopOnDrop {
        bin: env!("CARGO_BIN_EXE_nassella").into(),
        root: inst.join("instance"),
    };
    let handler = Deployer {
        control: ControlPlane::new(env!("CARGO_BIN_EXE_nassella"), &url, pool.clone()),
        state: state.clone(),
        config: config.clone(),
    };
    let worker = Worker::new(queue.clone(), "w");
    let running = tokio::spawn(async move { worker.run(handler, 2).await.unwrap() });
    let instance = uuid::Uuid::new_v4();
    let run = |kind: &'static str| {
        let queue = queue.clone();
        async move {
            let id = queue
                .enqueue(instance, kind, &json!({}), "admin")
                .await
                .unwrap();
            let job = queue.wait(id, Duration::from_secs(300)).await.unwrap();
            let log: Vec<String> = queue
                .logs(id, 0)
                .await
                .unwrap()
                .into_iter()
                .map(|l| l.line)
                .collect();
            (job, log.join("\n"))
        }
    };

    // apply: the app answers; Terraform's state is in the instance's schema, not in the folder.
    let (job, log) = run("apply").await;
    assert_eq!(job.state, JobState::Succeeded, "{:?}\n{log}", job.error);
    for phase in ["==> terraform init", "==> terraform apply", "==> applied"] {
        assert!(log.contains(phase), "missing {phase}:\n{log}");
    }
    assert_eq!(
        http_get(env.port, "hello.test", "/").body.trim(),
        "hello from hello"
    );
    let tf = inst.join("terraform");
    assert!(
        !tf.join("terraform.tfstate").exists(),
        "a local state file was written"
    );
    let saved = std::fs::read_to_string(tf.join(".terraform/terraform.tfstate")).unwrap();
    assert!(saved.contains("\"type\": \"pg\""), "{saved}");
    let password = std::fs::read_to_string(pgdir.join("superuser.password")).unwrap();
    assert!(
        !saved.contains(password.trim()),
        "the database password was saved by terraform init"
    );
    let tfstate = tfstate::read(&pool, instance)
        .await
        .unwrap()
        .expect("no state in PostgreSQL");
    let addresses: Vec<String> = tfstate["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            format!(
                "{}.{}",
                r["type"].as_str().unwrap(),
                r["name"].as_str().unwrap()
            )
        })
        .collect();
    assert!(
        addresses.iter().any(|a| a == "terraform_data.instance"),
        "{addresses:?}"
    );
    // Secrets never reach the log: neither the database password nor the master key.
    let all: Vec<String> = sqlx::query_scalar("SELECT line FROM job_logs")
        .fetch_all(&pool)
        .await
        .unwrap();
    let all = all.join("\n");
    assert!(!all.contains(password.trim()) && !all.contains(KEY));

    // plan: the same config changes nothing, read from the state in PostgreSQL.
    let (job, log) = run("plan").await;
    assert_eq!(job.state, JobState::Succeeded, "{:?}\n{log}", job.error);
    assert_eq!(job.outcome.unwrap()["summary"], "nothing changes", "{log}");

    // The folder alone cannot be driven by a plain `nassella` any more: it would start from an
    // empty local state and create everything again.
    let out = Command::new(env!("CARGO_BIN_EXE_nassella"))
        .args(["plan", "--config"])
        .arg(&config)
        .env("NASSELLA_STATE_DIR", &state)
        .env("NASSELLA_MASTER_KEY", KEY)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        show(&out).contains("Terraform's state of this instance is in PostgreSQL"),
        "{}",
        show(&out)
    );

    // destroy: the stack stops; no lock is left.
    let (job, log) = run("destroy").await;
    assert_eq!(job.state, JobState::Succeeded, "{:?}\n{log}", job.error);
    let locks: i64 =
        sqlx::query_scalar("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(locks, 0);
    running.abort();
    pool.close().await;
    cluster.stop().await.unwrap();
}
