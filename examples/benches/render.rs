//! Benchmark: compose + render + check a 10-app stack (catalog apps repeated under different
//! ids). Prints the time per build and the Ignition size against Hetzner's 32 KiB limit.
//!
//! `cargo bench -p examples --bench render`

use std::time::{Duration, Instant};

use nassella_apps::{Forgejo, Hello, Nextcloud, Vaultwarden};
use nassella_core::{build, Backup, Instance, Keys, MasterKey, Provider, Stack};

fn ten_apps() -> Stack {
    let mut s = Stack::new(Instance::new("bench").provider(Provider::Hetzner)).backup(Backup::new(
        "s3:s3.eu-central-003.backblazeb2.com/bench/bench",
    ));
    for i in 1..=3 {
        s = s.app_as(
            format!("cloud{i}"),
            Nextcloud::new(format!("cloud{i}.example.com")),
        );
        s = s.app_as(
            format!("vault{i}"),
            Vaultwarden::new(format!("vault{i}.example.com")),
        );
    }
    for i in 1..=2 {
        s = s.app_as(
            format!("git{i}"),
            Forgejo::new(format!("git{i}.example.com")),
        );
        s = s.app_as(
            format!("hello{i}"),
            Hello::new(format!("hello{i}.example.com")),
        );
    }
    s
}

fn main() {
    let keys = Keys::new(MasterKey::insecure_test_key());
    let stack = ten_apps();
    let b = build(&stack, &keys).expect("the bench stack builds");
    let size = b.bundle.ignition().len();
    // Warm up, then time individual builds.
    for _ in 0..5 {
        std::hint::black_box(build(&stack, &keys).unwrap());
    }
    let mut times: Vec<Duration> = (0..50)
        .map(|_| {
            let t = Instant::now();
            std::hint::black_box(build(std::hint::black_box(&stack), &keys).unwrap());
            t.elapsed()
        })
        .collect();
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "10-app stack ({} apps): compose + render + check",
        stack.app_ids().count()
    );
    println!(
        "  time per build: median {:.2} ms, min {:.2} ms, max {:.2} ms (50 runs; goal <= 50 ms)",
        ms(times[25]),
        ms(times[0]),
        ms(times[49])
    );
    println!(
        "  ignition.json: {size} bytes (Hetzner limit 32768; goal <= 32 KiB) -> {}",
        if size <= 32768 { "fits" } else { "TOO LARGE" }
    );
}
