//! Benchmark: app downtime per backup (first 503 to the first 200 again, seen by a client polling
//! the hostname every 25 ms) and the backup's run time, at 100 MB and 1 GB of data, for the two
//! designs: stopping the apps for the whole restic run (`NASSELLA_BACKUP_WARMUP=0`) and the
//! default warm-up pass followed by a short stopped pass.
//!
//! `cargo bench -p instance-tests --bench backup_downtime` (sizes in MB: `NASSELLA_BENCH_SIZES=100,1000`)

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use instance_tests::{hello, TestEnv};
use nassella_testkit::instance::{http_get, show};

/// Incompressible, deterministic data: `mb` files of 1 MiB.
fn fill(dir: &std::path::Path, mb: usize, seed: u64) {
    let mut x = seed | 1;
    for i in 0..mb {
        let mut buf = vec![0u8; 1 << 20];
        for chunk in buf.chunks_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
        }
        std::fs::write(dir.join(format!("file{i:05}.bin")), buf).unwrap();
    }
}

struct Run {
    downtime: Duration,
    total: Duration,
}

fn backup(env: &TestEnv, inst: &nassella_testkit::instance::LocalInstance, warmup: bool) -> Run {
    let port = env.port;
    let stop = Arc::new(AtomicBool::new(false));
    let poller = {
        let stop = stop.clone();
        thread::spawn(move || {
            let (mut down, mut up) = (None, None);
            while !stop.load(Ordering::Relaxed) {
                let ok = http_get(port, "hello.test", "/").status == 200;
                let now = Instant::now();
                if !ok && down.is_none() {
                    down = Some(now);
                }
                if ok && down.is_some() && up.is_none() {
                    up = Some(now);
                }
                thread::sleep(Duration::from_millis(25));
            }
            (down, up)
        })
    };
    let start = Instant::now();
    let out = inst
        .script("backup.sh")
        .env("NASSELLA_BACKUP_WARMUP", if warmup { "1" } else { "0" })
        .output()
        .unwrap();
    let total = start.elapsed();
    let deadline = Instant::now() + Duration::from_secs(60);
    while http_get(port, "hello.test", "/").status != 200 && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(25));
    }
    thread::sleep(Duration::from_millis(100));
    stop.store(true, Ordering::Relaxed);
    let (down, up) = poller.join().unwrap();
    assert!(out.status.success(), "{}", show(&out));
    let downtime = match (down, up) {
        (Some(d), Some(u)) => u - d,
        _ => Duration::ZERO,
    };
    Run { downtime, total }
}

fn main() {
    let sizes: Vec<usize> = std::env::var("NASSELLA_BENCH_SIZES")
        .unwrap_or_else(|_| "100,1000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    println!("backup downtime (first 503 -> first 200) and backup.sh run time; hello app, local restic repository");
    println!(
        "{:>8}  {:<40} {:>10} {:>10}",
        "data", "design / run", "downtime", "backup"
    );
    for mb in sizes {
        for warmup in [false, true] {
            let env = TestEnv::new();
            env.init_repo();
            let inst = env.materialise(&env.stack(&env.data(), vec![hello()]));
            inst.boot();
            let dir = env.data().join("hello/data/bulk");
            std::fs::create_dir_all(&dir).unwrap();
            fill(&dir, mb, 0x9e37_79b9_7f4a_7c15 ^ mb as u64);
            let design = if warmup {
                "warm-up + short stop (default)"
            } else {
                "stop for the whole run"
            };
            let first = backup(&env, &inst, warmup);
            println!(
                "{:>6}MB  {:<40} {:>9.2}s {:>9.2}s",
                mb,
                format!("{design}, 1st"),
                first.downtime.as_secs_f64(),
                first.total.as_secs_f64()
            );
            // A day later: 1% of the data changed.
            fill(&dir.join(".."), (mb / 100).max(1), 42 + mb as u64);
            let daily = backup(&env, &inst, warmup);
            println!(
                "{:>6}MB  {:<40} {:>9.2}s {:>9.2}s",
                mb,
                format!("{design}, next day"),
                daily.downtime.as_secs_f64(),
                daily.total.as_secs_f64()
            );
        }
    }
}
