//! `nassella backups list | create | restore`: the instance's restic snapshots, seen from the
//! control plane. Nothing here logs in to the server: the control plane reads the repository
//! directly, with the password derived from the master key and the storage credentials of the
//! environment (restic inherits them), exactly as `nassella apply` does when it creates the
//! repository; `create` asks the server for a backup through it ([`crate::control`]).
//!
//! A restore is immutable like every other change: the data is never written over. On the local
//! target the current data folder is moved aside, and a new instance, built with the chosen
//! snapshot, restores it onto the blank folder at boot. On a cloud target the server is shut down
//! cleanly, a new blank volume is added and attached to a new server built with the snapshot
//! (`<state>/volumes.json`, see [`crate::volumes`]), and the previous volume is kept, detached,
//! until `backups forget-volume`.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

use anyhow::{bail, Context as _, Result};
use clap::Subcommand;
use nassella_core::{Provider, Stack};
use serde::{Deserialize, Serialize};

use crate::deploy::{phase, StateDir};
use crate::Input;

/// The tag of the snapshots the server's backup keeps (warm-up snapshots are tagged otherwise).
pub const TAG: &str = "nassella";

/// `nassella backups …`.
#[derive(Debug, Subcommand)]
pub(crate) enum BackupsCommand {
    /// List this instance's snapshots in the restic repository, newest first.
    ///
    /// Only the repository is read (restic runs on this machine with the storage credentials of
    /// the environment); the server is not contacted.
    List {
        #[command(flatten)]
        input: Input,
        /// Print a JSON array of {id, short_id, time, host, tags} instead of a table (the same
        /// as `--format json`).
        #[arg(long)]
        json: bool,
        /// `json`: the JSON array on standard output (docs/cli.md).
        #[arg(long, value_enum, default_value_t)]
        format: crate::say::Format,
    },
    /// Back up now, and wait for the snapshot.
    ///
    /// A server has no login and no API, so the request goes through the backup repository:
    /// a tiny snapshot only a holder of the repository password can write. The server looks for
    /// requests every few minutes, runs its backup (maintenance page, apps stopped for the
    /// consistent pass and started again whatever happens) and writes the outcome back; this
    /// command waits for it and prints the new snapshot's id on stdout. On the local target
    /// (no timers) the same request is written and the instance's own request handler is run
    /// at once. docs/runtime.md, "Backing up on demand", has the details.
    Create {
        #[command(flatten)]
        input: Input,
        /// Stop waiting after this many minutes. The request expires then too, so a server
        /// that picks it up later does not act on it; a backup already running goes on.
        #[arg(long, value_name = "MINUTES", default_value_t = 60)]
        timeout: u64,
    },
    /// Restore a snapshot the immutable way: a new instance on a blank data volume restores it
    /// at boot.
    ///
    /// Local target: the running instance is stopped, its data folder is moved aside to
    /// `<data>.before-restore-<time>` (never deleted), and the instance is replaced with one that
    /// restores the snapshot. Cloud targets: the server is shut down cleanly, a new blank volume
    /// `<instance>-data-<n>` is created and attached to a new server that restores the snapshot
    /// at boot; the previous volume is kept, detached, until `backups forget-volume`.
    Restore {
        /// The snapshot id, or a unique prefix of it (see `nassella backups list`).
        snapshot: String,
        #[command(flatten)]
        input: Input,
        #[command(flatten)]
        shutdown: crate::Shutdown,
    },
    /// Cloud targets: stop keeping a detached data volume, once a restore is checked.
    ///
    /// Terraform forgets the volume (`terraform state rm`) and `<state>/volumes.json` drops it.
    /// The volume itself is not deleted: delete `<instance>-<name>` at the provider afterwards
    /// (Hetzner: turn its delete protection off first). The attached volume is refused.
    ForgetVolume {
        /// The volume's name in `<state>/volumes.json`: `data`, `data-2`, …
        name: String,
        #[command(flatten)]
        input: Input,
    },
}

/// One snapshot, as `restic snapshots --json` prints it.
#[derive(Debug, Clone, Deserialize)]
pub struct Snapshot {
    /// The full id (64 hex digits).
    pub id: String,
    /// The short id (the first 8 hex digits).
    #[serde(default)]
    pub short_id: String,
    /// When the snapshot was taken (RFC 3339, in the server's time zone).
    pub time: String,
    /// The host name it was taken on (the instance name).
    #[serde(default)]
    pub hostname: String,
    /// The backed-up paths.
    #[serde(default)]
    pub paths: Vec<String>,
    /// The tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Statistics (restic 0.17 and later).
    #[serde(default)]
    pub summary: Option<Summary>,
}

/// The statistics restic 0.17 and later store in a snapshot.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Summary {
    /// Bytes read by the backup.
    #[serde(default)]
    pub total_bytes_processed: Option<u64>,
    /// Files read by the backup.
    #[serde(default)]
    pub total_files_processed: Option<u64>,
}

/// What `--json` prints for a snapshot: a stable shape, keys in this order.
#[derive(Debug, Serialize)]
struct JsonSnapshot<'a> {
    id: &'a str,
    short_id: &'a str,
    time: String,
    host: &'a str,
    tags: &'a [String],
}

/// The snapshots of a repository, or the fact that there is no repository yet.
#[derive(Debug)]
pub enum Listing {
    /// restic says there is no repository at that location.
    NoRepository,
    /// The snapshots, newest first.
    Snapshots(Vec<Snapshot>),
}

impl BackupsCommand {
    /// Whether the command prints a JSON document (`list --json` / `--format json`).
    pub(crate) fn json(&self) -> bool {
        matches!(self, Self::List { json, format, .. } if *json || *format == crate::say::Format::Json)
    }
}

/// Run a `nassella backups` command.
pub(crate) fn run(cmd: BackupsCommand, given: Option<Stack>) -> Result<ExitCode> {
    match cmd {
        BackupsCommand::List {
            input,
            json,
            format,
        } => list(&input, given, json || format == crate::say::Format::Json),
        BackupsCommand::Create { input, timeout } => create(&input, given, timeout),
        BackupsCommand::Restore {
            snapshot,
            input,
            shutdown,
        } => restore(&input, given, &snapshot, shutdown),
        BackupsCommand::ForgetVolume { name, input } => forget_volume(&input, given, &name),
    }
}

/// `backups create`: a request through the control channel ([`crate::control`]), and the wait
/// for its outcome. The local target runs the instance's `control.sh` itself, as a server's
/// timer would.
fn create(input: &Input, given: Option<Stack>, timeout_minutes: u64) -> Result<ExitCode> {
    use crate::control::{self, Progress, CONTROL_POLL_MINUTES};
    let Some((stack, restic)) = open(input, given)? else {
        return Ok(ExitCode::from(crate::exit::INVALID));
    };
    if timeout_minutes == 0 {
        bail!("--timeout must be at least 1 minute");
    }
    let local = stack.instance().provider_kind() == Provider::Local;
    let channel = control::Channel {
        repository: restic.repository.clone(),
        password: restic.password.clone(),
        host: restic.host.clone(),
    };
    let mut wait = control::Wait {
        timeout: std::time::Duration::from_secs(timeout_minutes * 60),
        ..control::Wait::default()
    };
    let root = StateDir::of(stack.instance().name())?
        .root()
        .join("instance");
    let mut between: Box<dyn FnMut() -> Result<()>> = if local {
        if !root.join("etc/nassella/bin/control.sh").exists() {
            bail!(
                "instance `{}` is not running on this machine ({} holds no instance with a control channel): `nassella apply` first",
                restic.host,
                root.display()
            );
        }
        // The handler has run by the time we look: no need to wait between looks.
        wait.every = std::time::Duration::from_secs(1);
        let root = root.clone();
        Box::new(move || crate::local::control(&root))
    } else {
        Box::new(|| Ok(()))
    };
    phase(&format!(
        "asking instance `{}` to back up, through {}",
        restic.host, restic.repository
    ));
    let mut last_line = String::new();
    let mut progress = |p: &Progress| {
        let line = match p {
            Progress::Written { request } => format!(
                "    request {} written (expires in {timeout_minutes} min)",
                &request.id[..8]
            ),
            Progress::Waiting { elapsed } if !local => format!(
                "    {}: the server has not picked it up yet (it looks every {CONTROL_POLL_MINUTES} min)",
                control::human(*elapsed)
            ),
            Progress::Waiting { .. } => return,
            Progress::Started { elapsed } => {
                format!("    {}: backing up…", control::human(*elapsed))
            }
        };
        // One line per change of state, and one per minute at most while it lasts.
        let state = line.split(": ").nth(1).unwrap_or(&line).to_owned();
        if state != last_line
            || matches!(p, Progress::Waiting { elapsed } | Progress::Started { elapsed } if elapsed.as_secs() % 60 < wait.every.as_secs())
        {
            crate::say::say!("{line}");
            last_line = state;
        }
    };
    let outcome = control::request_and_wait(
        &channel,
        control::Kind::Backup,
        wait,
        &mut progress,
        &mut *between,
    )?;
    match (outcome.state, outcome.snapshot) {
        (control::State::Succeeded, Some(snapshot)) => {
            crate::say::say!(
                "==> backed up: snapshot {} (`nassella backups list` shows it)",
                &snapshot[..8.min(snapshot.len())]
            );
            println!("{snapshot}");
            Ok(ExitCode::SUCCESS)
        }
        (_, _) => {
            eprintln!(
                "error: the backup did not happen: {}",
                outcome
                    .error
                    .as_deref()
                    .unwrap_or("the server gave no reason")
            );
            Ok(ExitCode::FAILURE)
        }
    }
}

/// The stack and the restic repository and password, or `None` after config problems.
fn open(input: &Input, given: Option<Stack>) -> Result<Option<(Stack, Restic)>> {
    let Some(stack) = crate::load(input, given)? else {
        return Ok(None);
    };
    let instance = stack.instance().name().to_owned();
    let Some(backup) = stack.backup_settings() else {
        bail!("the config has no [backup] section, so instance `{instance}` has no backups");
    };
    crate::keys::require(input, &instance)?;
    let (keys, _) = crate::keys::resolve(input, &instance, false)?;
    let restic = Restic {
        repository: backup.repository().to_owned(),
        password: keys.restic_password(),
        host: instance,
    };
    Ok(Some((stack, restic)))
}

/// How to reach the repository.
struct Restic {
    repository: String,
    password: String,
    host: String,
}

impl Restic {
    /// `restic snapshots --json --host <instance> --tag nassella`, sorted newest first.
    fn snapshots(&self) -> Result<Listing> {
        let out = Command::new("restic")
            .args(["snapshots", "--json", "--no-lock", "--host", &self.host])
            .args(["--tag", TAG])
            .env("RESTIC_REPOSITORY", &self.repository)
            .env("RESTIC_PASSWORD", &self.password)
            // The password above is the one; a password file or command of the user's shell
            // would conflict with it.
            .env_remove("RESTIC_REPOSITORY_FILE")
            .env_remove("RESTIC_PASSWORD_FILE")
            .env_remove("RESTIC_PASSWORD_COMMAND")
            .stdin(Stdio::null())
            .output()
            .context(
                "running restic (install it: `apt-get install restic`, or put a restic binary on PATH)",
            )?;
        let err = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() {
            if crate::deploy::is_missing_repository(out.status.code(), &err) {
                return Ok(Listing::NoRepository);
            }
            bail!(
                "cannot list the snapshots in {} (restic exit {}):\n{}\ncheck the repository in the config, the storage credentials in the environment ({}), and that the master key is the one this instance was deployed with (another key gives \"wrong password\")",
                self.repository,
                out.status.code().map_or_else(|| "by a signal".to_owned(), |c| c.to_string()),
                err.trim_end(),
                crate::keys::BACKUP_ENV.join(", ")
            );
        }
        let snapshots: Option<Vec<Snapshot>> = serde_json::from_slice(&out.stdout)
            .with_context(|| format!("reading the output of `restic snapshots --json` ({err})"))?;
        let mut snapshots = snapshots.unwrap_or_default();
        sort_newest_first(&mut snapshots)?;
        Ok(Listing::Snapshots(snapshots))
    }
}

/// Sort by time (newest first), then by id; fill in missing short ids.
fn sort_newest_first(snapshots: &mut [Snapshot]) -> Result<()> {
    let mut keyed = Vec::with_capacity(snapshots.len());
    for s in snapshots.iter() {
        let t = parse_rfc3339(&s.time).with_context(|| {
            format!(
                "snapshot {}: unreadable time `{}` from restic",
                s.id, s.time
            )
        })?;
        keyed.push(t);
    }
    let mut order: Vec<usize> = (0..snapshots.len()).collect();
    order.sort_by(|&a, &b| {
        keyed[b]
            .cmp(&keyed[a])
            .then_with(|| snapshots[a].id.cmp(&snapshots[b].id))
    });
    let sorted: Vec<Snapshot> = order.iter().map(|&i| snapshots[i].clone()).collect();
    for (slot, mut s) in snapshots.iter_mut().zip(sorted) {
        if s.short_id.is_empty() {
            s.short_id = s.id.chars().take(8).collect();
        }
        *slot = s;
    }
    Ok(())
}

const NO_REPOSITORY: &str =
    "no backups yet: the repository does not exist; `nassella apply` creates it";

fn list(input: &Input, given: Option<Stack>, json: bool) -> Result<ExitCode> {
    let Some((_, restic)) = open(input, given)? else {
        return Ok(ExitCode::from(crate::exit::INVALID));
    };
    let listing = restic.snapshots()?;
    let missing = matches!(listing, Listing::NoRepository);
    let snapshots = match listing {
        Listing::NoRepository => {
            crate::say::say!("{NO_REPOSITORY} ({})", restic.repository);
            Vec::new()
        }
        Listing::Snapshots(s) => s,
    };
    if json {
        println!("{}", to_json(&snapshots)?);
    } else if snapshots.is_empty() {
        if !missing {
            crate::say::say!(
                "no snapshot of instance `{}` tagged {TAG} in {}",
                restic.host,
                restic.repository
            );
        }
    } else {
        print!("{}", table(&snapshots));
    }
    Ok(ExitCode::SUCCESS)
}

/// The `--json` output: an array, newest first, each object's keys in a fixed order.
fn to_json(snapshots: &[Snapshot]) -> Result<String> {
    let rows = snapshots
        .iter()
        .map(|s| {
            Ok(JsonSnapshot {
                id: &s.id,
                short_id: &s.short_id,
                time: utc(&s.time, 'T', "Z")?,
                host: &s.hostname,
                tags: &s.tags,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(serde_json::to_string_pretty(&rows)?)
}

/// The table: short id, time in UTC, size and files (restic 0.17+ records them), paths.
fn table(snapshots: &[Snapshot]) -> String {
    let mut rows = vec![[
        "ID".to_owned(),
        "TIME (UTC)".to_owned(),
        "SIZE".to_owned(),
        "FILES".to_owned(),
        "PATHS".to_owned(),
    ]];
    for s in snapshots {
        let summary = s.summary.clone().unwrap_or_default();
        rows.push([
            s.short_id.clone(),
            utc(&s.time, ' ', "").unwrap_or_else(|_| s.time.clone()),
            summary
                .total_bytes_processed
                .map_or_else(|| "-".to_owned(), human_size),
            summary
                .total_files_processed
                .map_or_else(|| "-".to_owned(), |n| n.to_string()),
            s.paths.join(","),
        ]);
    }
    let mut widths = [0usize; 5];
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    for r in &rows {
        let line = format!(
            "{:<w0$}  {:<w1$}  {:>w2$}  {:>w3$}  {}",
            r[0],
            r[1],
            r[2],
            r[3],
            r[4],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2],
            w3 = widths[3],
        );
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    #[allow(clippy::cast_precision_loss)]
    let mut v = bytes as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

/// The snapshot whose id (or short id) starts with `wanted`.
fn find<'a>(snapshots: &'a [Snapshot], wanted: &str, restic: &Restic) -> Result<&'a Snapshot> {
    let wanted = wanted.trim().to_ascii_lowercase();
    let known = || {
        snapshots
            .iter()
            .map(|s| s.short_id.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    if snapshots.is_empty() {
        bail!(
            "there is no snapshot `{wanted}`: the repository {} has no snapshot of instance `{}` yet",
            restic.repository,
            restic.host
        );
    }
    if wanted.is_empty() || !wanted.bytes().all(|c| c.is_ascii_hexdigit()) {
        bail!(
            "`{wanted}` is not a snapshot id (hex digits); the snapshots of instance `{}` are: {}",
            restic.host,
            known()
        );
    }
    let hits: Vec<&Snapshot> = snapshots
        .iter()
        .filter(|s| s.id.starts_with(&wanted) || s.short_id.starts_with(&wanted))
        .collect();
    match hits.as_slice() {
        [one] => Ok(one),
        [] => bail!(
            "no snapshot `{wanted}` of instance `{}` in {}; the snapshots are: {} (newest first; see `nassella backups list`)",
            restic.host,
            restic.repository,
            known()
        ),
        many => bail!(
            "`{wanted}` matches {} snapshots ({}); give more digits",
            many.len(),
            many.iter()
                .map(|s| s.short_id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn restore(
    input: &Input,
    given: Option<Stack>,
    wanted: &str,
    shutdown: crate::Shutdown,
) -> Result<ExitCode> {
    let Some((mut stack, restic)) = open(input, given)? else {
        return Ok(ExitCode::from(crate::exit::INVALID));
    };
    let snapshots = match restic.snapshots()? {
        Listing::NoRepository => bail!(
            "nothing to restore: the repository {} does not exist (`nassella apply` creates it, and the server's daily backup fills it)",
            restic.repository
        ),
        Listing::Snapshots(s) => s,
    };
    let snap = find(&snapshots, wanted, &restic)?.clone();
    let when = utc(&snap.time, ' ', " UTC").unwrap_or_else(|_| snap.time.clone());
    crate::say::say!(
        "snapshot {} of instance `{}`, taken {when}",
        snap.id,
        restic.host
    );

    if stack.instance().provider_kind() != Provider::Local {
        return restore_cloud(input, stack, &snap, shutdown);
    }

    let state = StateDir::of(stack.instance().name())?;
    crate::deploy::adapt_for_target(&mut stack, &state)?;
    let data = PathBuf::from(stack.instance().data_root_path());
    let aside = aside_path(&data, &timestamp());
    if aside.exists() {
        bail!(
            "{} already exists; wait a second and run the restore again",
            aside.display()
        );
    }
    let root = state.root().join("instance");
    if root.join("etc/nassella").exists() {
        phase("stopping the running instance, so nothing writes to its data");
        crate::local::down(&root)?;
    }
    if data.exists() {
        phase(&format!(
            "moving the current data aside to {}",
            aside.display()
        ));
        std::fs::rename(&data, &aside).with_context(|| {
            format!(
                "moving {} to {} (the instance is stopped; `nassella apply` starts it again on its data)",
                data.display(),
                aside.display()
            )
        })?;
    }
    std::fs::create_dir_all(&data).with_context(|| format!("creating {}", data.display()))?;

    let backup = stack
        .backup_settings()
        .cloned()
        .context("no backup settings")?
        .restore_snapshot(&snap.id);
    let stack = stack.backup(backup);
    let result = crate::deploy_stack(
        input,
        stack,
        "apply",
        false,
        &["-replace=terraform_data.instance".to_owned()],
        shutdown,
    );
    let moved = if aside.exists() {
        format!("the previous data is kept in {}", aside.display())
    } else {
        "there was no previous data folder".to_owned()
    };
    if result.as_ref().is_ok_and(|c| *c == ExitCode::SUCCESS) {
        crate::say::say!(
            "==> restored snapshot {} into {}; {moved} (delete it once you have checked the restore)",
            snap.short_id,
            data.display()
        );
    } else {
        eprintln!(
            "the restore did not complete; {moved}. To go back: `nassella destroy`, move it back to {}, then `nassella apply`",
            data.display()
        );
    }
    result
}

/// A cloud restore: a new blank volume, made the active one, and a new server built with the
/// snapshot, after the old server is shut down cleanly; the previous volume is kept, detached.
/// The plan is recorded in `<state>/volumes.json` before anything is deployed, so a failure is
/// finished by `nassella apply` (docs/runtime.md, "Backups from the control plane").
fn restore_cloud(
    input: &Input,
    stack: Stack,
    snap: &Snapshot,
    shutdown: crate::Shutdown,
) -> Result<ExitCode> {
    use crate::volumes::{Restoring, Volumes};
    let instance = stack.instance().name().to_owned();
    if let Some(cloud) = crate::cloud::Cloud::of(stack.instance().provider_kind()) {
        // The old server is shut down through the API: without the token (or with a malformed
        // timeout), record nothing.
        crate::cloud::Api::from_env(cloud)?;
        shutdown.timeout();
    }
    let state = StateDir::of(&instance)?;
    let mut volumes = Volumes::load(&state)?;
    let previous = match &volumes.restoring {
        Some(r) if r.snapshot == snap.id => {
            crate::say::say!(
                "    resuming the restore of this snapshot onto `{instance}-{}` started earlier",
                volumes.active
            );
            r.previous.clone()
        }
        pending => {
            if let Some(r) = pending {
                eprintln!(
                    "    an unfinished restore of snapshot {} onto `{instance}-{}` is replaced by this one; that volume is kept too (it may hold part of that restore)",
                    r.snapshot, volumes.active
                );
            }
            let previous = pending
                .as_ref()
                .map_or_else(|| volumes.active.clone(), |r| r.previous.clone());
            let new = volumes.next_name();
            volumes.volumes.push(new.clone());
            volumes.active = new;
            volumes.restoring = Some(Restoring {
                snapshot: snap.id.clone(),
                previous: previous.clone(),
            });
            volumes.save(&state)?;
            previous
        }
    };
    let new = volumes.active.clone();
    phase(&format!(
        "restoring snapshot {} onto a new, blank volume `{instance}-{new}`",
        snap.short_id
    ));
    crate::say::say!(
        "    the server is shut down cleanly first; the volume `{instance}-{previous}` (the current data) is detached and kept; a new server restores the snapshot onto `{instance}-{new}` at its first boot, before any app starts"
    );
    crate::say::say!(
        "    recorded in {}: until this is deployed, `nassella apply` finishes it",
        Volumes::path(&state).display()
    );
    let backup = stack
        .backup_settings()
        .cloned()
        .context("no backup settings")?
        .restore_snapshot(&snap.id);
    let stack = stack.backup(backup);
    let result = crate::deploy_stack(input, stack, "apply", false, &[], shutdown);
    if result.as_ref().is_ok_and(|c| *c == ExitCode::SUCCESS) {
        crate::say::say!(
            "==> deployed: the new server restores snapshot {} onto `{instance}-{new}` as it boots (watch the apps come back; `nassella backups list` shows the next backup tomorrow).\n\
             The previous volume `{instance}-{previous}` is kept, detached, and still protected. Once you have checked the restore: `nassella backups forget-volume {previous}`, then delete it at the provider (docs/deploy.md, \"Deleting an old data volume\")",
            snap.short_id,
        );
    } else {
        eprintln!(
            "the restore is not deployed yet; the volume `{instance}-{previous}` keeps the previous data. \
             Fix the cause above and run `nassella apply` (or this command again): it finishes the restore onto `{instance}-{new}`. \
             To give the restore up instead, set \"active\": \"{previous}\" and remove \"restoring\" in {}, then run `nassella apply`",
            Volumes::path(&state).display()
        );
    }
    result
}

/// `nassella backups forget-volume <name>`: Terraform forgets a detached volume, and so does
/// `<state>/volumes.json`; the provider's volume is left for the user to delete.
fn forget_volume(input: &Input, given: Option<Stack>, name: &str) -> Result<ExitCode> {
    use crate::volumes::Volumes;
    let Some(stack) = crate::load(input, given)? else {
        return Ok(ExitCode::from(crate::exit::INVALID));
    };
    let instance = stack.instance().name().to_owned();
    let provider = stack.instance().provider_kind();
    let Some(cloud) = crate::cloud::Cloud::of(provider) else {
        bail!("instance `{instance}` runs on the local target, whose data volume is a folder: there is no volume to forget (a restore moved the old data folder aside; delete that folder yourself)");
    };
    let state = StateDir::of(&instance)?;
    let mut volumes = Volumes::load(&state)?;
    if !volumes.volumes.iter().any(|v| v == name) {
        bail!(
            "instance `{instance}` keeps no volume `{name}`; it keeps {:?} ({})",
            volumes.volumes,
            Volumes::path(&state).display()
        );
    }
    if volumes.active == name {
        bail!("`{instance}-{name}` is the attached volume: it holds the instance's current data and cannot be forgotten");
    }
    if let Some(r) = volumes.restoring.as_ref().filter(|r| r.previous == name) {
        bail!(
            "the restore of snapshot {} is not deployed yet and `{instance}-{name}` holds the data it replaces: run `nassella apply` to finish the restore, check it, then forget the volume",
            r.snapshot
        );
    }
    let dir = crate::deploy::write_module(&state, provider)?;
    let address = format!("{}[\"{name}\"]", cloud.volume_address());
    phase(&format!("terraform state rm {address}"));
    let code = crate::deploy::terraform(&dir, &["state".into(), "rm".into(), address.clone()])?;
    if code != 0 {
        bail!(
            "terraform state rm {address} failed (exit {code}; its output is above); nothing was changed in {}",
            Volumes::path(&state).display()
        );
    }
    volumes.volumes.retain(|v| v != name);
    volumes.save(&state)?;
    let delete = match cloud {
        crate::cloud::Cloud::Hetzner => format!(
            "`hcloud volume disable-protection {instance}-{name} delete && hcloud volume delete {instance}-{name}` (or the Hetzner console: Volumes, turn protection off, delete)"
        ),
        crate::cloud::Cloud::DigitalOcean => format!(
            "`doctl compute volume delete <id of {instance}-{name}>` (or the DigitalOcean console: Volumes, delete)"
        ),
    };
    crate::say::say!(
        "==> Terraform no longer keeps `{instance}-{name}`; the volume itself still exists (and is billed). Delete it at the provider: {delete}"
    );
    Ok(ExitCode::SUCCESS)
}

/// `<data>.before-restore-<timestamp>`, next to the data folder.
fn aside_path(data: &Path, stamp: &str) -> PathBuf {
    let mut name: OsString = data.as_os_str().to_owned();
    name.push(format!(".before-restore-{stamp}"));
    PathBuf::from(name)
}

/// Now in UTC, as `20261126T042030Z`.
fn timestamp() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let (y, mo, d, h, mi, s) = civil(i64::try_from(now.as_secs()).unwrap_or(0));
    format!("{y:04}{mo:02}{d:02}T{h:02}{mi:02}{s:02}Z")
}

/// An RFC 3339 time from restic, in UTC to the second: `2026-11-26<sep>04:20:30<suffix>`.
fn utc(time: &str, sep: char, suffix: &str) -> Result<String> {
    let (secs, _) = parse_rfc3339(time).with_context(|| format!("unreadable time `{time}`"))?;
    let (y, mo, d, h, mi, s) = civil(secs);
    Ok(format!(
        "{y:04}-{mo:02}-{d:02}{sep}{h:02}:{mi:02}:{s:02}{suffix}"
    ))
}

/// Seconds since the Unix epoch and nanoseconds of `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`.
fn parse_rfc3339(s: &str) -> Option<(i64, u32)> {
    let b = s.as_bytes();
    let num = |from: usize, len: usize| -> Option<i64> {
        let part = s.get(from..from + len)?;
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let (year, month, day) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    let (hour, minute, second) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return None;
    }
    let mut rest = &s[19..];
    let mut nanos = 0u32;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let kept = &frac[..digits.min(9)];
        nanos = kept.parse::<u32>().ok()? * 10u32.pow(9 - u32::try_from(kept.len()).ok()?);
        rest = &frac[digits..];
    }
    let offset = match rest.as_bytes() {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let digit = |c: &u8| c.is_ascii_digit().then(|| i64::from(c - b'0'));
            let secs = (digit(h1)? * 10 + digit(h2)?) * 3600 + (digit(m1)? * 10 + digit(m2)?) * 60;
            if *sign == b'+' {
                secs
            } else {
                -secs
            }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    Some((
        days * 86_400 + hour * 3600 + minute * 60 + second - offset,
        nanos,
    ))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// (year, month, day, hour, minute, second) in UTC of seconds since the Unix epoch.
pub(crate) fn civil(secs: i64) -> (i64, i64, i64, i64, i64, i64) {
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d, sod / 3600, sod % 3600 / 60, sod % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_from_restic_become_utc() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some((0, 0)));
        assert_eq!(
            utc("2026-11-26T05:20:30.123456789+01:00", 'T', "Z").unwrap(),
            "2026-11-26T04:20:30Z"
        );
        assert_eq!(
            utc("2024-03-01T00:30:00-02:30", ' ', "").unwrap(),
            "2024-03-01 03:00:00"
        );
        // Across a leap day and a year boundary.
        assert_eq!(
            utc("2025-01-01T00:59:59.5+01:00", 'T', "Z").unwrap(),
            "2024-12-31T23:59:59Z"
        );
        assert_eq!(
            parse_rfc3339("2026-11-26T04:20:30.5Z"),
            Some((
                parse_rfc3339("2026-11-26T04:20:30Z").unwrap().0,
                500_000_000
            ))
        );
        for bad in [
            "",
            "2026-11-26",
            "2026-13-01T00:00:00Z",
            "2026-11-26T04:20:30",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
        for secs in [0, 951_782_400, 1_709_251_200, 4_102_444_799] {
            let (y, mo, d, h, mi, s) = civil(secs);
            let back =
                parse_rfc3339(&format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")).unwrap();
            assert_eq!(back.0, secs);
        }
    }

    #[test]
    fn sizes_are_human() {
        assert_eq!(human_size(512), "512 B");
        assert_eq!(human_size(1536), "1.5 KiB");
        assert_eq!(human_size(3 * 1024 * 1024 * 1024), "3.0 GiB");
    }

    #[test]
    fn the_aside_folder_sits_next_to_the_data() {
        assert_eq!(
            aside_path(Path::new("/s/family/data"), "20261126T042030Z"),
            Path::new("/s/family/data.before-restore-20261126T042030Z")
        );
    }

    #[test]
    fn restic_0_17_summaries_fill_size_and_files() {
        let json = r#"[{"id":"aa11","short_id":"aa11","time":"2026-11-26T04:20:30Z","hostname":"h","paths":["/data"],"tags":["nassella"],
            "summary":{"total_bytes_processed":2048,"total_files_processed":3}},
            {"id":"bb22","time":"2026-11-27T04:20:30Z","hostname":"h","paths":["/data"]}]"#;
        let mut s: Vec<Snapshot> = serde_json::from_str(json).unwrap();
        sort_newest_first(&mut s).unwrap();
        assert_eq!(s[0].short_id, "bb22");
        let t = table(&s);
        assert!(t.contains("2.0 KiB"), "{t}");
        assert!(t.lines().nth(1).unwrap().contains(" - "), "{t}");
    }
}
