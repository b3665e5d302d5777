//! Shared set-up for the runtime tests and the backup-downtime benchmark: stacks that run on this
//! machine's Docker engine with locally built images, a local restic repository and a data root
//! in a temporary folder.

use std::path::{Path, PathBuf};

use nassella_apps::Hello;
use nassella_core::{
    build, App, AppContext, Artifact, Backup, BackupHook, Contribution, Instance, Keys, MasterKey,
    Network, Provider, Route, Service, Stack, Tls, Upstream, Volume,
};
use nassella_testkit::images::{ensure_test_images, CADDY_IMAGE, HELLO_IMAGE, RESTIC_IMAGE};
use nassella_testkit::instance::{compose_mirror_url, free_port, LocalInstance};

/// One test's world: a folder, a port, a name, a proxy subnet.
pub struct TestEnv {
    dir: tempfile::TempDir,
    /// The proxy's HTTP port on 127.0.0.1.
    pub port: u16,
    /// The instance name (also the restic host and the compose project prefix).
    pub name: String,
}

impl Default for TestEnv {
    fn default() -> Self {
        Self::new()
    }
}

impl TestEnv {
    /// A fresh world; builds the test images on first use.
    ///
    /// # Panics
    /// When Docker or the tools are missing.
    #[must_use]
    pub fn new() -> Self {
        ensure_test_images();
        let port = free_port();
        let dir = tempfile::Builder::new()
            .prefix("nassella-rt-")
            .tempdir()
            .expect("temp dir");
        Self {
            dir,
            port,
            name: format!("rt{port}"),
        }
    }

    /// A folder of this test.
    #[must_use]
    pub fn path(&self, rel: &str) -> PathBuf {
        let p = self.dir.path().join(rel);
        std::fs::create_dir_all(&p).expect("mkdir");
        p
    }

    /// The default data root.
    #[must_use]
    pub fn data(&self) -> PathBuf {
        self.path("data")
    }

    /// The restic repository (a local folder).
    #[must_use]
    pub fn repo(&self) -> PathBuf {
        self.dir.path().join("repo")
    }

    /// Create the restic repository, as the control plane does before the first deploy.
    ///
    /// # Panics
    /// When restic fails.
    pub fn init_repo(&self) {
        nassella_testkit::instance::must(
            std::process::Command::new("restic")
                .arg("init")
                .env("RESTIC_REPOSITORY", self.repo())
                .env("RESTIC_PASSWORD", keys().restic_password()),
        );
    }

    /// A /28 of 10.213.0.0/16 picked from the port, so parallel tests rarely share one.
    #[must_use]
    pub fn subnet(&self) -> String {
        let i = u32::from(self.port) % 4096;
        format!("10.213.{}.{}/28", i / 16, (i % 16) * 16)
    }

    /// A stack on the local target with `data` as its data root and `apps` (id, app).
    #[must_use]
    pub fn stack(&self, data: &Path, apps: Vec<(&str, Box<dyn App>)>) -> Stack {
        let subnet = self.subnet();
        let mut s = Stack::new(
            Instance::new(&self.name)
                .provider(Provider::Local)
                .tls(Tls::HttpOnly)
                .data_root(data.to_string_lossy())
                .host_ports(self.port, free_port())
                .proxy_subnet(subnet)
                .docker_compose(Artifact {
                    url: compose_mirror_url(),
                    hash: Artifact::docker_compose_default().hash,
                }),
        )
        .backup(Backup::new(self.repo().to_string_lossy()).restic_image(RESTIC_IMAGE))
        .image_override(nassella_core::render::CADDY_IMAGE, CADDY_IMAGE);
        for (id, app) in apps {
            s = s.app_at(
                id,
                app,
                nassella_core::Origin::file_line("instance-tests", 1),
            );
        }
        s
    }

    /// Render and materialise `stack`.
    ///
    /// # Panics
    /// When the stack does not build.
    #[must_use]
    pub fn materialise(&self, stack: &Stack) -> LocalInstance {
        let b = build(stack, &keys()).unwrap_or_else(|r| panic!("{r}"));
        let apps: Vec<&str> = stack.app_ids().collect();
        LocalInstance::materialise(b.bundle.ignition(), &self.name, &apps, |root| {
            nassella_core::render::unpack_command(&root.to_string_lossy())
        })
    }
}

/// The keys every runtime test uses (the public test key).
#[must_use]
pub fn keys() -> Keys {
    Keys::new(MasterKey::insecure_test_key())
}

/// The hello test app at `hello.test`.
#[must_use]
pub fn hello() -> (&'static str, Box<dyn App>) {
    (
        "hello",
        Box::new(Hello::new("hello.test").image(HELLO_IMAGE)),
    )
}

/// A two-service app for isolation and hook tests: `web` (public) and `db` (busybox httpd on
/// port 5432, on the app's internal network), with a pre-backup hook writing `/data/dump.txt`.
#[derive(Debug)]
pub struct WebAndDb {
    /// Hostname.
    pub host: &'static str,
}

impl App for WebAndDb {
    fn kind(&self) -> &str {
        "web-and-db"
    }
    fn contribute(&self, cx: &AppContext<'_>) -> Contribution {
        let mut c = Contribution::new();
        let data = c.volume(Volume::new("data").backed_up());
        let db_data = c.volume(Volume::new("db").backed_up());
        let net = c.network(Network::internal("db"));
        let serve = |dir: &str, port: u16, text: &str| {
            format!("trap 'exit 0' TERM; echo '{text}' > {dir}/index.html; httpd -f -p {port} -h {dir} & wait")
        };
        c.service(
            Service::new("web", HELLO_IMAGE)
                .command([
                    "sh",
                    "-c",
                    &serve("/data", 8080, &format!("web of {}", cx.id)),
                ])
                .mount(&data, "/data")
                .network(&net)
                .port(8080),
        );
        c.service(
            Service::new("db", HELLO_IMAGE)
                .command([
                    "sh",
                    "-c",
                    &serve("/var/lib/db", 5432, &format!("db of {}", cx.id)),
                ])
                .mount(&db_data, "/var/lib/db")
                .network(&net)
                .port(5432),
        );
        c.backup_hook(BackupHook::new(
            "web",
            [
                "sh",
                "-c",
                "cp /etc/passwd /data/dump.tmp && mv /data/dump.tmp /data/dump.txt",
            ],
        ));
        c.route(Route::new(self.host).proxy(Upstream::new("web", 8080)));
        c
    }
}

/// A config file for the local target: the hello app (with `hello_image`) on this test's port,
/// subnet and repository, with the locally built images.
#[must_use]
pub fn local_target_config(env: &TestEnv, hello_image: &str) -> String {
    format!(
        r#"[instance]
name = "{name}"
provider = "local"
tls = {{ mode = "http_only" }}
http_port = {port}
https_port = {https}
proxy_subnet = "{subnet}"

[backup]
repository = "{repo}"

[images]
"caddy:2.11.4-alpine" = "{caddy}"
"restic/restic:0.19.1" = "{restic}"

[apps.hello]
app = "hello"
host = "hello.test"
image = "{hello_image}"
"#,
        name = env.name,
        port = env.port,
        https = free_port(),
        subnet = env.subnet(),
        repo = env.repo().display(),
        caddy = CADDY_IMAGE,
        restic = RESTIC_IMAGE,
    )
}

/// Whether the real `terraform` can run here. Outside CI a test without it is skipped (and says
/// so); in CI (`$CI` set) its absence fails the test.
///
/// # Panics
/// In CI, when terraform is missing.
#[must_use]
pub fn have_terraform() -> bool {
    if std::process::Command::new("terraform")
        .arg("version")
        .output()
        .is_ok()
    {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "terraform is required in CI"
    );
    eprintln!("skipped: terraform is not installed");
    false
}

/// Stops a local-target instance when dropped, so a test that fails half-way leaves no stack
/// running (`nassella local down` on `<state>/<instance>/instance`; nothing if already down).
pub struct StopOnDrop {
    /// The `nassella` executable (or a binary that forwards to its CLI).
    pub bin: PathBuf,
    /// The instance's materialised root.
    pub root: PathBuf,
}

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        if self.root.join("etc/nassella").exists() {
            let _ = std::process::Command::new(&self.bin)
                .args(["local", "down", "--root"])
                .arg(&self.root)
                .env("NASSELLA_COMPOSE", nassella_testkit::compose_binary_path())
                .output();
        }
    }
}
