//! Table-driven: bad stacks and the *whole* report each must produce (every problem, in order,
//! with its path), plus checks that every problem names where it was declared.

use nassella_core::{
    compose, App, AppContext, Backup, BackupHook, Contribution, Instance, Job, Network, OneOffJob,
    Retention, Route, Service, SettingProblem, Stack, TcpPort, Upstream, Volume, VolumeHandle,
};

type Build = Box<dyn Fn(&AppContext<'_>) -> Contribution + Send + Sync>;

/// An app whose contribution each case writes by hand.
struct Custom {
    id: &'static str,
    f: Build,
}

impl std::fmt::Debug for Custom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.id)
    }
}

impl App for Custom {
    // The kind doubles as the id: `.app(web("a", …))` adds it as `a`.
    fn kind(&self) -> &str {
        self.id
    }
    fn contribute(&self, cx: &AppContext<'_>) -> Contribution {
        (self.f)(cx)
    }
}

fn app(
    id: &'static str,
    f: impl Fn(&AppContext<'_>) -> Contribution + Send + Sync + 'static,
) -> Custom {
    Custom { id, f: Box::new(f) }
}

/// An app whose own settings check (`App::check`) reports `problems` as (field, message).
#[derive(Debug)]
struct Checked {
    inner: Custom,
    problems: Vec<(&'static str, &'static str)>,
}

impl App for Checked {
    fn kind(&self) -> &str {
        self.inner.id
    }
    fn contribute(&self, cx: &AppContext<'_>) -> Contribution {
        self.inner.contribute(cx)
    }
    fn check(&self) -> Vec<SettingProblem> {
        self.problems
            .iter()
            .map(|(field, message)| SettingProblem::new(*field, *message))
            .collect()
    }
}

/// A correct one-service app at `host`.
fn web(id: &'static str, host: &'static str) -> Custom {
    app(id, move |_| {
        let mut c = Contribution::new();
        let v = c.volume(Volume::new("data").backed_up());
        c.service(
            Service::new("web", "example/web:1.0")
                .port(80)
                .mount(&v, "/data"),
        );
        c.route(Route::new(host).proxy(Upstream::new("web", 80)));
        c
    })
}

/// [`web`] with a memory hint.
fn hungry(id: &'static str, host: &'static str, mib: u32) -> Custom {
    app(id, move |cx| {
        let mut c = web(id, host).contribute(cx);
        c.memory_hint_mib(mib);
        c
    })
}

fn base() -> Stack {
    Stack::new(Instance::new("test")).backup(Backup::new("s3:s3.example.com/bucket/test"))
}

/// (severity, path, message) of every problem, in report order.
fn problems(stack: &Stack) -> Vec<String> {
    match compose(stack) {
        Ok(v) => v
            .warnings()
            .problems()
            .iter()
            .map(|p| format!("{:?} {}: {}", p.severity, p.path, p.kind))
            .collect(),
        Err(r) => {
            for p in r.problems() {
                if p.path.starts_with("apps.") {
                    let o = p
                        .origin
                        .as_ref()
                        .unwrap_or_else(|| panic!("{p} has no origin"));
                    assert!(
                        o.file.ends_with("tests/reports.rs"),
                        "{p}: origin {o} is not where it was declared"
                    );
                }
            }
            r.problems()
                .iter()
                .map(|p| format!("{:?} {}: {}", p.severity, p.path, p.kind))
                .collect()
        }
    }
}

#[test]
fn bad_stacks_give_exactly_these_reports() {
    let first = base().app(web("a", "a.example.com"));
    let first_a = line!() - 1;
    let cases: Vec<(&str, Stack, Vec<&str>)> = vec![
        ("a good stack", base().app(web("a", "a.example.com")), vec![]),
        ("no apps", base(), vec!["Error apps: the stack has no apps: the server would only serve the maintenance page"]),
        ("no backup is only a warning", Stack::new(Instance::new("test")).app(web("a", "a.example.com")), vec![
            "Warning backup: no backup is configured: data lives only on the server's volume; add a [backup] section",
        ]),
        ("duplicate ids and hosts, bad host", first
            .app(web("a", "b.example.com"))
            .app(web("b", "a.example.com"))
            .app(web("c", "C.example.com")), vec![
            format!("Error apps.a: app id `a` is used twice (also at nassella-core/tests/reports.rs:{first_a}:24); give one of them another id").leak(),
            "Error apps.b.routes[0].host: hostname `a.example.com` is already served by apps.a.routes[0].host; each hostname can be routed to one app only",
            "Error apps.c.routes[0].host: `C.example.com` is not a valid hostname: use lowercase letters only",
        ]),
        ("instance settings", Stack::new(Instance::new("Test_1").data_root("srv/data/").proxy_subnet("8.8.8.0/24").volume_size_gb(1).data_volumes(["data", "data"], "data-2"))
            .backup(Backup::new("").retention(Retention { daily: 0, weekly: 0, monthly: 0 }).on_calendar(""))
            .app(web("a", "a.example.com")), vec![
            "Error instance.name: `Test_1` is not a valid instance name: use 1 to 40 lowercase letters, digits and '-', starting with a letter and not ending with '-'",
            "Error instance.data_root: data root `srv/data/` must be an absolute path of letters, digits, '_', '-' and '.', not `/`, without `..`, `//` or a trailing '/' (e.g. `/srv/data`)",
            "Error instance.proxy_subnet: proxy subnet `8.8.8.0/24` must be a private IPv4 network in CIDR form with a prefix of /16 to /28 (e.g. `172.31.250.0/24`)",
            "Error instance.volume_size_gb: volume size 1 GB is too small: providers start at 10 GB",
            "Error instance.data_volumes: data volumes [\"data\", \"data\"] with `data-2` attached: the names must be distinct, 1 to 20 lowercase letters, digits and '-' starting with a letter, and the attached one must be among them (the control plane keeps them in <state>/volumes.json)",
            "Error backup.repository: repository `` must be a restic repository URL of printable characters without spaces, quotes, `\\` or a leading '-', e.g. `s3:s3.eu-central-003.backblazeb2.com/bucket/path`",
            "Error backup.keep_daily: retention keeps nothing: keep at least one daily, weekly or monthly snapshot (keep_daily, keep_weekly, keep_monthly)",
            "Error backup.schedule: `` is not a systemd calendar expression (e.g. `*-*-* 03:30:00` or `daily`): it is empty",
        ]),
        ("a retired server type", Stack::new(Instance::new("test").server_type("cx22"))
            .backup(Backup::new("/srv/backups"))
            .app(web("a", "a.example.com")), vec![
            "Error instance.server_type: Hetzner Cloud no longer offers server type `cx22` (a new server could not be created): use `cx23`, its successor with the same memory",
        ]),
        ("apps that need more memory than the server has", Stack::new(Instance::new("test").server_type("cpx11"))
            .backup(Backup::new("/srv/backups"))
            .app(hungry("a", "a.example.com", 1024))
            .app(hungry("b", "b.example.com", 700))
            .app(web("c", "c.example.com")), vec![
            "Warning instance.server_type: the apps need about 2236 MiB with the host's 512 MiB (largest: a 1024 MiB, b 700 MiB) but `cpx11` has 2048 MiB: pick `cx23` or larger, or drop an app",
        ]),
        ("the same apps on a server type Nassella does not know: no memory check", Stack::new(Instance::new("test").server_type("cpx99"))
            .backup(Backup::new("/srv/backups"))
            .app(hungry("a", "a.example.com", 1_000_000)), vec![]),
        ("DNS zone and TTL", Stack::new(Instance::new("test").dns_zone("example.com").dns_ttl(30))
            .backup(Backup::new("/srv/backups"))
            .app(web("a", "a.example.com"))
            .app(web("b", "example.com"))
            .app(web("c", "c.example.org")), vec![
            "Error instance.dns_ttl: DNS TTL 30 s must be from 60 to 86400 seconds",
            "Error apps.c.routes[0].host: `c.example.org` is outside the DNS zone `example.com` (instance.dns_zone), whose records Terraform manages: use a name in that zone, or remove dns_zone and create the records by hand",
        ]),
        ("a DNS zone that is no domain name", Stack::new(Instance::new("test").dns_zone("Example.com."))
            .backup(Backup::new("/srv/backups"))
            .app(web("a", "a.example.com")), vec![
            "Error instance.dns_zone: DNS zone `Example.com.` must be a lowercase domain name such as `example.com`",
        ]),
        ("services, routes and volumes", base().app(app("x", |_| {
            let mut c = Contribution::new();
            let undecided = c.volume(Volume::new("data"));
            let net = c.network(Network::internal("db"));
            c.network(Network::internal("spare"));
            c.service(Service::new("web", "example/web").port(80).mount(&undecided, "data").network(&net).env("1BAD", "x").depends_on("cache"));
            c.service(Service::new("lonely", "example/lonely:latest"));
            c.route(Route::new("x.example.com").proxy(Upstream::new("api", 80)).proxy_path("/ws", Upstream::new("web", 81)));
            c.route(Route::new("y.example.com"));
            c.tcp_port(TcpPort::new(443, "web", 22));
            c
        })), vec![
            "Error apps.x.volumes.data: volume `data` must say whether it is backed up: `.backed_up()` or `.excluded_from_backup(\"why\")`",
            "Error apps.x.routes[0].paths[0].port: service `web` does not declare port 81 (declared: 80); add `.port(81)` to the service",
            "Error apps.x.routes[0].default.service: upstream service `api` is not declared by this app (declared: lonely, web)",
            "Error apps.x.routes[1]: route has no upstream and no response; add `.proxy(…)` or a static response",
            "Error apps.x.services.web.image: image `example/web` is not pinned: give a version tag other than `latest` (e.g. `nextcloud:31.0.8-apache`) or a digest (`@sha256:…`)",
            "Error apps.x.services.web.env.1BAD: environment variable name `1BAD` is not valid: use letters, digits and '_', not starting with a digit",
            "Error apps.x.services.web.mounts[0].target: mount target `data` must be an absolute path inside the container",
            "Error apps.x.services.web.depends_on.cache: depends on `cache`, which this app does not declare",
            "Error apps.x.services.lonely.image: image `example/lonely:latest` is not pinned: give a version tag other than `latest` (e.g. `nextcloud:31.0.8-apache`) or a digest (`@sha256:…`)",
            "Error apps.x.services.lonely.networks: service `lonely` is on no network and serves no route; attach it to a network of the app",
            "Error apps.x.tcp_ports[0]: host port 443 is already used by the proxy; pick another port",
            "Warning apps.x.networks.spare: network `spare` is declared but no service joins it",
        ]),
        ("settings an app rejects", base().app(Checked {
            inner: web("s", "s.example.com"),
            problems: vec![
                ("admin_user", "admin_user `` must be 1 to 64 letters"),
                ("", "the settings contradict each other"),
            ],
        }), vec![
            "Error apps.s.admin_user: admin_user `` must be 1 to 64 letters",
            "Error apps.s: the settings contradict each other",
        ]),
        ("hooks, jobs and one-off jobs", base().app(app("j", |_| {
            let mut c = Contribution::new();
            let v = c.volume(Volume::new("data").backed_up());
            c.service(Service::new("web", "example/web:1.0").port(80).mount(&v, "/data"));
            c.route(Route::new("j.example.com").proxy(Upstream::new("web", 80)));
            c.backup_hook(BackupHook::new("web", Vec::<String>::new()));
            c.job(Job::new("tick", "web", "hourly", Vec::<String>::new()));
            c.one_off_job(OneOffJob::new("setup", "db", ["true"]));
            c.one_off_job(OneOffJob::new("setup", "web", Vec::<String>::new()));
            c.one_off_job(OneOffJob::new("Admin", "web", ["true"]));
            c
        })), vec![
            "Error apps.j.backup_hooks[0].command: the command is empty; give the program and its arguments (exec form)",
            "Error apps.j.jobs.tick.command: the command is empty; give the program and its arguments (exec form)",
            "Error apps.j.one_off_jobs.setup.service: runs in service `db`, which this app does not declare",
            "Error apps.j.one_off_jobs.setup: one-off job `setup` is declared twice in this app; names must be unique",
            "Error apps.j.one_off_jobs.setup.command: the command is empty; give the program and its arguments (exec form)",
            "Error apps.j.one_off_jobs.Admin: `Admin` is not a valid one-off job: use 1 to 40 lowercase letters, digits and '-', starting with a letter and not ending with '-'",
        ]),
    ];
    for (name, stack, want) in cases {
        assert_eq!(problems(&stack), want, "case: {name}");
    }
}

#[test]
fn a_handle_from_another_app_is_caught() {
    // Smuggle a volume handle out of one contribution into another app.
    let mut other = Contribution::new();
    let foreign: VolumeHandle = other.volume(Volume::new("data").backed_up());
    let stack = base().app(app("thief", move |_| {
        let mut c = Contribution::new();
        c.volume(Volume::new("data").backed_up());
        c.service(
            Service::new("web", "example/web:1.0")
                .port(80)
                .mount(&foreign, "/data"),
        );
        c.route(Route::new("t.example.com").proxy(Upstream::new("web", 80)));
        c
    }));
    assert_eq!(problems(&stack), vec![
        "Error apps.thief.services.web.mounts[0]: volume `data` is declared by another app; an app can only use its own volumes",
        "Warning apps.thief.volumes.data: volume `data` is declared but no service mounts it",
    ]);
}

#[test]
fn every_problem_is_found_in_one_pass_and_errors_come_first() {
    let stack = base()
        .app(web("a", "A.example.com"))
        .app(web("b", "b.example.com"))
        .app(app("c", |_| {
            let mut c = Contribution::new();
            c.network(Network::internal("unused"));
            c.service(Service::new("web", "example/web").port(80));
            c.route(Route::new("c.example.com").proxy(Upstream::new("web", 80)));
            c
        }));
    let r = compose(&stack).unwrap_err();
    let sev: Vec<_> = r.problems().iter().map(|p| p.severity).collect();
    let mut sorted = sev.clone();
    sorted.sort();
    assert_eq!(sev, sorted);
    assert_eq!(r.problems().len(), 3, "{r}");
    assert!(r.to_string().ends_with("2 error(s), 1 warning(s)"), "{r}");
}
