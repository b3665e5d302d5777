//! Run hostile configs through the config reader, the composer and the renderers and print the
//! counts: `cargo run -p nassella-cli --example hostile -- --cases 10000 [--seed N] [--real N]`.
//! `--real N` also checks the first N cases that build with Caddy, Compose, bash and
//! systemd-analyze. Exits 1 when anything panicked, escaped or was reported without a place.

#[path = "../tests/hostile_gen/mod.rs"]
mod hostile_gen;

use hostile_gen::{case, real_tools, run, Tally};

fn main() -> std::process::ExitCode {
    let mut cases = 10_000u64;
    let mut seed = 10u64;
    let mut real = 20u64;
    let args: Vec<String> = std::env::args().skip(1).collect();
    for pair in args.chunks(2) {
        let value = pair.get(1).and_then(|v| v.parse().ok());
        match (pair[0].as_str(), value) {
            ("--cases", Some(v)) => cases = v,
            ("--seed", Some(v)) => seed = v,
            ("--real", Some(v)) => real = v,
            _ => {
                eprintln!("usage: hostile [--cases N] [--seed N] [--real N]");
                return std::process::ExitCode::from(2);
            }
        }
    }
    // Panics are counted, not printed one by one.
    std::panic::set_hook(Box::new(|_| {}));
    let mut tally = Tally::default();
    let started = std::time::Instant::now();
    for n in 0..cases {
        let c = case(seed, n);
        let o = run(&c);
        tally.add(n, &o);
        if o.built && tally.real_checked < real {
            tally.real_checked += 1;
            for r in real_tools(&c) {
                tally.escape_count += 1;
                tally.escapes.push(format!("case {n}: {r}"));
            }
        }
        if (n + 1) % 1000 == 0 {
            eprintln!("… {} cases", n + 1);
        }
    }
    println!("{}", tally.summary());
    println!("seed {seed}, {:.1} s", started.elapsed().as_secs_f64());
    for p in &tally.panic_messages {
        println!("panic: {p}");
    }
    for e in &tally.escapes {
        println!("escape: {e}");
    }
    for u in &tally.line_only_samples {
        println!("line only: {u}");
    }
    for u in &tally.unlocated {
        println!("no place: {u}");
    }
    if tally.panics + tally.escape_count as u64 + tally.none as u64 > 0 {
        std::process::ExitCode::FAILURE
    } else {
        std::process::ExitCode::SUCCESS
    }
}
