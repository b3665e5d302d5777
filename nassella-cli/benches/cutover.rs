//! Benchmark: cutover downtime when the local target's instance is replaced (an app setting
//! changed): from the last good answer of the old stack to the first good answer of the new one,
//! seen by a client polling every 25 ms. Images are local, so no pull happens during the cutover.
//!
//! `cargo bench -p nassella-cli --bench cutover`

use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use instance_tests::{local_target_config, TestEnv};
use nassella_testkit::images::HELLO_IMAGE;
use nassella_testkit::instance::{http_get, show};

const KEY: &str = "0707070707070707070707070707070707070707070707070707070707070707";

fn apply(state: &std::path::Path, cfg: &std::path::Path) -> Duration {
    let start = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_nassella"))
        .args(["apply", "--config"])
        .arg(cfg)
        .env("NASSELLA_STATE_DIR", state)
        .env("NASSELLA_MASTER_KEY", KEY)
        .env("NASSELLA_COMPOSE", nassella_testkit::compose_binary_path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", show(&out));
    start.elapsed()
}

fn main() {
    let env = TestEnv::new();
    let state = env.path("state");
    let cfg = env.path("cfg").join("apps.config");
    std::fs::write(&cfg, local_target_config(&env, HELLO_IMAGE)).unwrap();
    let first = apply(&state, &cfg);

    let runs = 3;
    let mut downtimes = Vec::new();
    let mut applies = Vec::new();
    for i in 0..runs {
        let tag = format!("nassella/hello:1.0-cutover{i}");
        assert!(Command::new("docker")
            .args(["tag", HELLO_IMAGE, &tag])
            .status()
            .unwrap()
            .success());
        std::fs::write(&cfg, local_target_config(&env, &tag)).unwrap();
        let port = env.port;
        let stop = Arc::new(AtomicBool::new(false));
        let poller = {
            let stop = stop.clone();
            thread::spawn(move || {
                let (mut last_good, mut gap) = (Instant::now(), Duration::ZERO);
                let mut was_down = false;
                while !stop.load(Ordering::Relaxed) {
                    let ok = http_get(port, "hello.test", "/").status == 200;
                    let now = Instant::now();
                    if ok {
                        if was_down {
                            gap = gap.max(now - last_good);
                            was_down = false;
                        }
                        last_good = now;
                    } else {
                        was_down = true;
                    }
                    thread::sleep(Duration::from_millis(25));
                }
                gap
            })
        };
        let took = apply(&state, &cfg);
        thread::sleep(Duration::from_millis(500));
        stop.store(true, Ordering::Relaxed);
        downtimes.push(poller.join().unwrap());
        applies.push(took);
        let _ = Command::new("docker").args(["rmi", &tag]).output();
    }
    let _ = Command::new(env!("CARGO_BIN_EXE_nassella"))
        .args(["destroy", "--config"])
        .arg(&cfg)
        .env("NASSELLA_STATE_DIR", &state)
        .env("NASSELLA_MASTER_KEY", KEY)
        .env("NASSELLA_COMPOSE", nassella_testkit::compose_binary_path())
        .output();
    println!(
        "local target: replacing the instance (an app setting changed), hello app, images present"
    );
    println!("  first apply: {:.2} s", first.as_secs_f64());
    for (i, (d, a)) in downtimes.iter().zip(&applies).enumerate() {
        println!(
            "  replacement {}: cutover downtime {:.2} s (goal <= 15 s), whole apply {:.2} s",
            i + 1,
            d.as_secs_f64(),
            a.as_secs_f64()
        );
    }
}
