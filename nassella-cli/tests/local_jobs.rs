//! Apps' one-off jobs on the local target, on the real Docker engine: `nassella local up` runs
//! them as a server's units do — after the app is up, in declaration order, once per data volume
//! (markers), with no marker for a job that failed.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use instance_tests::{keys, TestEnv};
use nassella_core::{
    build, App, AppContext, Contribution, OneOffJob, Route, Service, Upstream, Volume,
};
use nassella_testkit::images::HELLO_IMAGE;
use nassella_testkit::instance::show;

/// A busybox app whose one-off jobs append lines to `/data/jobs.log` on its data volume:
/// `seed` (declared first; quoting that systemd would otherwise expand, and the service's environment) then `index`, which
/// exits 3 after writing its line when `index_fails`.
#[derive(Debug)]
struct Appender {
    index_fails: bool,
}

impl App for Appender {
    fn kind(&self) -> &str {
        "appender"
    }
    fn contribute(&self, _cx: &AppContext<'_>) -> Contribution {
        let mut c = Contribution::new();
        let data = c.volume(Volume::new("data").backed_up());
        c.service(
            Service::new("web", HELLO_IMAGE)
                .command([
                    "sh",
                    "-c",
                    "trap 'exit 0' TERM; httpd -f -p 8080 -h /data & wait",
                ])
                .env("WHERE", "in-container")
                .mount(&data, "/data")
                .port(8080),
        );
        c.one_off_job(OneOffJob::new(
            "seed",
            "web",
            [
                "sh",
                "-c",
                "printf '%s\\n' \"seed $WHERE\" >> /data/jobs.log",
            ],
        ));
        let fail = if self.index_fails { "; exit 3" } else { "" };
        c.one_off_job(OneOffJob::new(
            "index",
            "web",
            ["sh", "-c", &format!("echo index >> /data/jobs.log{fail}")],
        ));
        c.route(Route::new("jobs.test").proxy(Upstream::new("web", 8080)));
        c
    }
}

/// Stops the stack materialised in `root` at the end, whatever happened.
struct Instance {
    root: PathBuf,
}

impl Instance {
    fn local(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_nassella"))
            .arg("local")
            .args(args)
            .arg("--root")
            .arg(&self.root)
            .env("NASSELLA_COMPOSE", nassella_testkit::compose_binary_path())
            .output()
            .unwrap()
    }

    /// `nassella local up` of `app` on the data root `data`.
    fn up(&self, env: &TestEnv, data: &Path, app: Appender) -> Output {
        let stack = env.stack(data, vec![("jobs", Box::new(app))]);
        let built = build(&stack, &keys()).unwrap_or_else(|r| panic!("{r}"));
        let ignition = env.path("bundle").join("ignition.json");
        std::fs::write(&ignition, built.bundle.ignition()).unwrap();
        let ignition = ignition.to_string_lossy().into_owned();
        self.local(&["up", "--ignition", &ignition])
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.local(&["down"]);
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn local_up_runs_one_off_jobs_once_per_data_volume_in_order() {
    let env = TestEnv::new();
    let inst = Instance {
        root: env.path("state").join("instance"),
    };
    let marker = |data: &Path, job: &str| data.join(format!("jobs/.nassella-once-{job}"));

    // First start: both jobs run once the app is up, in declaration order, and leave markers.
    let data = env.path("data");
    let out = inst.up(&env, &data, Appender { index_fails: false });
    assert!(out.status.success(), "{}", show(&out));
    let log = data.join("jobs/data/jobs.log");
    assert_eq!(read(&log), "seed in-container\nindex\n");
    assert!(marker(&data, "seed").exists() && marker(&data, "index").exists());

    // Again on the same data: nothing runs.
    let out = inst.up(&env, &data, Appender { index_fails: false });
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(read(&log), "seed in-container\nindex\n", "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("nassella-once-jobs-index.service ran before"),
        "{}",
        show(&out)
    );

    // A fresh data volume where `index` fails: `up` fails and names the job; no marker for it.
    let _ = inst.local(&["down"]);
    let data = env.path("data-failing");
    let out = inst.up(&env, &data, Appender { index_fails: true });
    assert!(!out.status.success(), "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("one-off job nassella-once-jobs-index.service failed")
            && err.contains("apply again"),
        "{}",
        show(&out)
    );
    assert!(marker(&data, "seed").exists());
    assert!(
        !marker(&data, "index").exists(),
        "no marker for a failed job"
    );

    // Fixed: the next `up` runs only the job that has not succeeded yet.
    let out = inst.up(&env, &data, Appender { index_fails: false });
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(
        read(&data.join("jobs/data/jobs.log")),
        "seed in-container\nindex\nindex\n"
    );
    assert!(marker(&data, "index").exists());
}
