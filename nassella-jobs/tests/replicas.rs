//! Issue 12, item 6: two replica processes share the queue; 20 jobs over 8 instances, each a
//! real `terraform apply` with its state in PostgreSQL (the `pg` backend, one schema per
//! instance); replica A is killed with SIGKILL (its whole process group, Terraform included)
//! while one of its applies is half-way and holds Terraform's state lock.
//!
//! Asserted: every job ends succeeded; the killed job was resumed by replica B (attempt 2) after
//! the heartbeat timeout; no job ran on two replicas at once and no two jobs of one instance
//! overlapped — both as the database recorded the attempts and as the provisioners themselves
//! recorded their runs; the state lock held by the killed session was released when its
//! connection died; each instance's Terraform state holds its last job's generation.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use nassella_jobs::{tfstate, JobState};
use serde_json::json;
use uuid::Uuid;

const JOBS: usize = 20;
const INSTANCES: usize = 8;
const STALE_MS: u64 = 5000;

fn replica(db: &common::Db, id: &str, work: &Path, record: &Path) -> Child {
    let log = std::fs::File::create(work.join(format!("replica-{id}.log"))).unwrap();
    Command::new(env!("CARGO_BIN_EXE_nassella-jobs-replica"))
        .args([
            id,
            &work.display().to_string(),
            &record.display().to_string(),
            "4",
            "1000",
            &STALE_MS.to_string(),
        ])
        .env("NASSELLA_JOBS_URL", &db.url)
        // Its own process group: killing the group kills its Terraform children too.
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap()
}

fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// One provisioner run as it recorded itself: (instance, job, attempt, replica) → [start, end).
#[derive(Debug, Clone)]
struct Run {
    instance: String,
    job: String,
    replica: String,
    start: f64,
    end: Option<f64>,
}

fn runs(record: &Path) -> Vec<Run> {
    let text = std::fs::read_to_string(record).unwrap_or_default();
    let mut open: HashMap<String, Run> = HashMap::new();
    let mut done = Vec::new();
    for l in text.lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        let [what, instance, job, attempt, replica, at] = f.as_slice() else {
            panic!("bad record line {l:?}");
        };
        let key = format!("{job} {attempt}");
        let at: f64 = at.parse().unwrap();
        match *what {
            "start" => {
                open.insert(
                    key,
                    Run {
                        instance: (*instance).into(),
                        job: (*job).into(),
                        replica: (*replica).into(),
                        start: at,
                        end: None,
                    },
                );
            }
            "end" => {
                let mut r = open.remove(&key).expect("end without start");
                r.end = Some(at);
                done.push(r);
            }
            _ => panic!("bad record line {l:?}"),
        }
    }
    done.extend(open.into_values());
    done
}

/// Assert that no two intervals of one group overlap (an open one ends at `open_end`).
fn assert_disjoint<K: std::fmt::Debug + Ord>(
    what: &str,
    groups: BTreeMap<K, Vec<(f64, f64, String)>>,
) {
    for (k, mut v) in groups {
        v.sort_by(|a, b| a.0.total_cmp(&b.0));
        for p in v.windows(2) {
            assert!(
                p[0].1 <= p[1].0,
                "{what} {k:?}: {} [{}, {}] overlaps {} [{}, {}]",
                p[0].2,
                p[0].0,
                p[0].1,
                p[1].2,
                p[1].0,
                p[1].1
            );
        }
    }
}

async fn advisory_locks_of(pool: &sqlx::PgPool, app_prefix: &str) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
         WHERE l.locktype = 'advisory' AND l.granted AND a.application_name LIKE $1 || '%'",
    )
    .bind(app_prefix)
    .fetch_one(pool)
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_one_killed_mid_apply() {
    let began = Instant::now();
    let db = common::db().await;
    let pool = db.queue.pool().clone();
    let work = db.dir.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    let record = work.join("record");

    let instances: Vec<Uuid> = (0..INSTANCES).map(|_| Uuid::new_v4()).collect();
    let mut jobs = Vec::new();
    let mut last_generation: HashMap<Uuid, i64> = HashMap::new();
    for n in 0..JOBS {
        let inst = instances[n % INSTANCES];
        let generation = i64::try_from(n).unwrap() + 1;
        let id = db
            .queue
            .enqueue(
                inst,
                "tf-data",
                &json!({ "generation": generation }),
                "test",
            )
            .await
            .unwrap();
        jobs.push(id);
        last_generation.insert(inst, generation);
    }

    let mut a = replica(&db, "A", &work, &record);
    let mut b = replica(&db, "B", &work, &record);

    // Wait until replica A is half-way through an apply: its provisioner started, not ended.
    let deadline = Instant::now() + Duration::from_secs(60);
    let victim = loop {
        if let Some(r) = runs(&record)
            .into_iter()
            .find(|r| r.replica == "A" && r.end.is_none())
        {
            break r;
        }
        assert!(
            Instant::now() < deadline,
            "replica A never started an apply"
        );
        assert!(a.try_wait().unwrap().is_none(), "replica A exited early");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // Its Terraform session holds the state lock (a session-level advisory lock) right now.
    let held = advisory_locks_of(&pool, &format!("tf-A-{}", victim.job.replace('-', ""))).await;
    assert!(held >= 1, "the running apply holds no state lock");

    // SIGKILL to A's whole process group: the worker and its terraform children.
    let status = Command::new("kill")
        .args(["-KILL", "--", &format!("-{}", a.id())])
        .status()
        .unwrap();
    assert!(status.success());
    a.wait().unwrap();
    let killed_at = now_secs();

    // PostgreSQL notices the dead connections and drops their locks.
    let deadline = Instant::now() + Duration::from_secs(15);
    while advisory_locks_of(&pool, "tf-A-").await > 0 {
        assert!(
            Instant::now() < deadline,
            "the killed replica's state locks are still held"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Every job reaches a final state: succeeded.
    for id in &jobs {
        let left = Duration::from_secs(115).saturating_sub(began.elapsed());
        let job = db.queue.wait(*id, left).await.unwrap_or_else(|e| {
            let log = std::fs::read_to_string(work.join("replica-B.log")).unwrap_or_default();
            panic!("{e:#}\nreplica B:\n{log}")
        });
        if job.state != JobState::Succeeded {
            let lines: Vec<String> = common::log_lines(&db.queue, *id).await;
            panic!(
                "job {id} ended {}: {:?}\n{}",
                job.state,
                job.error,
                lines.join("\n")
            );
        }
    }
    let _ = b.kill();
    b.wait().unwrap();

    // The interrupted job was resumed by B: attempt 2, after the heartbeat timeout.
    let victim_id: Uuid = victim.job.parse().unwrap();
    let job = db.queue.get(victim_id).await.unwrap().unwrap();
    assert_eq!(job.attempt, 2, "{job:?}");
    assert_eq!(job.claimed_by.as_deref(), Some("B"));
    let lines: Vec<String> = common::log_lines(&db.queue, victim_id).await;
    assert!(
        lines
            .iter()
            .any(|l| l == "resumed: attempt 2 on worker B (worker A stopped heartbeating)"),
        "{lines:?}"
    );
    assert!(
        !lines
            .iter()
            .any(|l| l.contains("Error acquiring the state lock")),
        "the resumed apply found the state still locked:\n{}",
        lines.join("\n")
    );
    // Every job A had not finished went to B; none ended on A after the kill.
    let resumed: Vec<(Uuid, i32, String)> =
        sqlx::query_as("SELECT id, attempt, claimed_by FROM jobs WHERE attempt > 1")
            .fetch_all(&pool)
            .await
            .unwrap();
    for (id, attempt, by) in &resumed {
        assert_eq!((*attempt, by.as_str()), (2, "B"), "job {id}");
    }

    // No overlap, as the database recorded the attempts (a lost attempt ends when A died)…
    let attempts: Vec<(Uuid, Uuid, i32, String, f64, Option<f64>)> = sqlx::query_as(
        "SELECT j.instance_id, a.job_id, a.attempt, a.worker,
                extract(epoch FROM a.started_at)::float8, extract(epoch FROM a.ended_at)::float8
         FROM job_attempts a JOIN jobs j ON j.id = a.job_id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let mut by_instance: BTreeMap<Uuid, Vec<(f64, f64, String)>> = BTreeMap::new();
    for (inst, job, attempt, worker, start, end) in &attempts {
        let end = match (worker.as_str(), end) {
            ("A", _) => end.map_or(killed_at, |e| e.min(killed_at)),
            (_, Some(e)) => *e,
            (_, None) => panic!("attempt {attempt} of {job} on {worker} never ended"),
        };
        by_instance.entry(*inst).or_default().push((
            *start,
            end,
            format!("{job}#{attempt}@{worker}"),
        ));
    }
    assert_disjoint("attempts of instance", by_instance);
    // …and as the provisioners recorded their own runs (the killed one ended at the kill).
    let mut by_instance: BTreeMap<String, Vec<(f64, f64, String)>> = BTreeMap::new();
    let all_runs = runs(&record);
    for r in &all_runs {
        let end = r.end.unwrap_or_else(|| {
            assert_eq!(r.replica, "A", "a run of B never ended: {r:?}");
            killed_at
        });
        by_instance.entry(r.instance.clone()).or_default().push((
            r.start,
            end,
            format!("{}@{}", r.job, r.replica),
        ));
    }
    assert_disjoint("provisioner runs of instance", by_instance);
    assert!(all_runs
        .iter()
        .any(|r| r.job == victim.job && r.replica == "B"));

    // Terraform's state per instance: its last job's generation, and no lock left anywhere.
    for inst in &instances {
        let state = tfstate::read(&pool, *inst)
            .await
            .unwrap()
            .expect("no state");
        let resource = &state["resources"][0];
        assert_eq!(resource["type"], "terraform_data");
        let input = &resource["instances"][0]["attributes"]["input"];
        let value = input.get("value").unwrap_or(input);
        assert_eq!(
            value.as_i64(),
            Some(last_generation[inst]),
            "instance {inst}: {state}"
        );
    }
    let locks: i64 =
        sqlx::query_scalar("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(locks, 0);
    eprintln!(
        "replicas: {JOBS} jobs over {INSTANCES} instances, {} resumed, in {:.1?}",
        resumed.len(),
        began.elapsed()
    );
}
