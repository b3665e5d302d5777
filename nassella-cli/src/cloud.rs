//! Stopping a cloud server cleanly before Terraform detaches its volume (docs/deploy.md,
//! "Replacing a server: never lose a write").
//!
//! Terraform destroys the volume attachment *before* it deletes the old server, while the server
//! still runs. So `nassella apply` on a cloud target plans to a file, reads the saved plan
//! ([`classify`]), and when the server or its attachment changes, shuts the old server down
//! through the provider API ([`Api::stop`]) before it applies exactly that plan. Plain functions,
//! testable without Terraform or a cloud account: the API base URL is overridable
//! (`NASSELLA_HCLOUD_API`, `NASSELLA_DIGITALOCEAN_API`).

use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use nassella_core::Provider;
use serde::Deserialize;
use serde_json::Value;

/// How long the old server may take to power off, unless `--shutdown-timeout` or
/// `NASSELLA_SHUTDOWN_TIMEOUT` says otherwise (seconds): longer than the apps' stop timeouts.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(600);

/// A cloud provider whose server can be stopped through its API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cloud {
    /// Hetzner Cloud (`hcloud_server`).
    Hetzner,
    /// DigitalOcean (`digitalocean_droplet`).
    DigitalOcean,
}

impl Cloud {
    /// The cloud of a provider; `None` for the local target.
    #[must_use]
    pub fn of(provider: Provider) -> Option<Self> {
        match provider {
            Provider::Hetzner => Some(Self::Hetzner),
            Provider::DigitalOcean => Some(Self::DigitalOcean),
            Provider::Local => None,
        }
    }
    /// The environment variable holding the API token (read by the Terraform provider too).
    #[must_use]
    pub fn token_var(self) -> &'static str {
        match self {
            Self::Hetzner => "HCLOUD_TOKEN",
            Self::DigitalOcean => "DIGITALOCEAN_TOKEN",
        }
    }
    /// The environment variable that overrides the API base URL (for tests).
    #[must_use]
    pub fn api_var(self) -> &'static str {
        match self {
            Self::Hetzner => "NASSELLA_HCLOUD_API",
            Self::DigitalOcean => "NASSELLA_DIGITALOCEAN_API",
        }
    }
    /// The API base URL.
    #[must_use]
    pub fn default_api(self) -> &'static str {
        match self {
            Self::Hetzner => "https://api.hetzner.cloud/v1",
            Self::DigitalOcean => "https://api.digitalocean.com/v2",
        }
    }
    /// Terraform address of the server.
    #[must_use]
    pub fn server_address(self) -> &'static str {
        match self {
            Self::Hetzner => "hcloud_server.server",
            Self::DigitalOcean => "digitalocean_droplet.server",
        }
    }
    /// Terraform address of the data volumes (one instance per name in `data_volumes`).
    #[must_use]
    pub fn volume_address(self) -> &'static str {
        match self {
            Self::Hetzner => "hcloud_volume.data",
            Self::DigitalOcean => "digitalocean_volume.data",
        }
    }
    /// Terraform address of the data volume's attachment.
    #[must_use]
    pub fn attachment_address(self) -> &'static str {
        match self {
            Self::Hetzner => "hcloud_volume_attachment.data",
            Self::DigitalOcean => "digitalocean_volume_attachment.data",
        }
    }
    /// What `nassella destroy` removes: every resource of the module except the data volumes
    /// (`prevent_destroy`) and, on DigitalOcean, the tag the volumes carry (a volume depends on
    /// it, so destroying it would destroy them). `terraform plan -destroy -target=…` also takes
    /// whatever depends on these. `snapshots/tests/terraform.rs` checks the list against the
    /// modules' resources.
    #[must_use]
    pub fn destroy_targets(self) -> &'static [&'static str] {
        match self {
            Self::Hetzner => &[
                "hcloud_volume_attachment.data",
                "hcloud_server.server",
                "hcloud_zone_rrset.host",
                "hcloud_primary_ip.ipv4",
                "hcloud_firewall.web",
            ],
            Self::DigitalOcean => &[
                "digitalocean_volume_attachment.data",
                "digitalocean_reserved_ip_assignment.ipv4",
                "digitalocean_droplet.server",
                "digitalocean_record.host",
                "digitalocean_reserved_ip.ipv4",
                "digitalocean_firewall.web",
                "digitalocean_ssh_key.inert",
                "tls_private_key.inert",
            ],
        }
    }
    /// The attachment's attribute naming its server.
    fn attachment_server_attr(self) -> &'static str {
        match self {
            Self::Hetzner => "server_id",
            Self::DigitalOcean => "droplet_id",
        }
    }
    /// The status of a running server.
    #[must_use]
    pub fn running_status(self) -> &'static str {
        match self {
            Self::Hetzner => "running",
            Self::DigitalOcean => "active",
        }
    }
    /// The server's resource path under the API base.
    fn server_path(self, id: &str) -> String {
        match self {
            Self::Hetzner => format!("/servers/{id}"),
            Self::DigitalOcean => format!("/droplets/{id}"),
        }
    }
    /// The JSON key wrapping the server in a GET answer.
    fn server_key(self) -> &'static str {
        match self {
            Self::Hetzner => "server",
            Self::DigitalOcean => "droplet",
        }
    }
    /// The provider's name in messages.
    fn name(self) -> &'static str {
        match self {
            Self::Hetzner => "Hetzner Cloud",
            Self::DigitalOcean => "DigitalOcean",
        }
    }
}

/// What a saved plan does to the server, as far as stopping it is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanEffect {
    /// Neither the server nor its volume attachment changes (nothing at all, or DNS only):
    /// apply without stopping anything.
    ServerUntouched,
    /// The server or attachment changes but there is no old server (the first deploy, or a
    /// server deleted outside Terraform): nothing to stop.
    NoOldServer,
    /// The old server must be stopped before the plan is applied.
    StopFirst {
        /// The old server's id (`change.before.id`).
        server_id: String,
        /// The server survives the apply (an in-place update, or only the attachment changes):
        /// power it on afterwards if it is still off.
        kept: bool,
    },
}

#[derive(Debug, Deserialize)]
struct Plan {
    #[serde(default)]
    resource_changes: Vec<ResourceChange>,
}

#[derive(Debug, Deserialize)]
struct ResourceChange {
    address: String,
    change: Change,
}

#[derive(Debug, Deserialize)]
struct Change {
    actions: Vec<String>,
    #[serde(default)]
    before: Option<Value>,
}

impl Change {
    fn touches(&self) -> bool {
        self.actions.iter().any(|a| a != "no-op" && a != "read")
    }
    fn deletes(&self) -> bool {
        self.actions.iter().any(|a| a == "delete")
    }
    fn before_attr(&self, name: &str) -> Option<String> {
        match self.before.as_ref()?.get(name)? {
            Value::String(s) if !s.is_empty() => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }
}

/// Read `terraform show -json <plan>` and say whether the old server must be stopped first.
///
/// The server (`hcloud_server.server` / `digitalocean_droplet.server`) or its attachment
/// (`…_volume_attachment.data`) with any action other than `no-op`/`read` — a replacement
/// (`["delete","create"]`), an in-place `update`, a deletion — means the volume will be detached
/// or the server touched: the old server, `change.before.id` of the server, is stopped first.
///
/// # Errors
/// When the text is not a Terraform JSON plan.
pub fn classify(cloud: Cloud, plan_json: &str) -> Result<PlanEffect> {
    let plan: Plan = serde_json::from_str(plan_json)
        .context("reading the plan from `terraform show -json` (not a JSON plan)")?;
    let find = |address: &str| plan.resource_changes.iter().find(|r| r.address == address);
    let server = find(cloud.server_address()).map(|r| &r.change);
    let attachment = find(cloud.attachment_address()).map(|r| &r.change);
    if !server.is_some_and(Change::touches)
        && !attachment.is_some_and(Change::touches)
        && !grows_a_volume(cloud, &plan)
    {
        return Ok(PlanEffect::ServerUntouched);
    }
    let id = server
        .and_then(|c| c.before_attr("id"))
        .or_else(|| attachment.and_then(|c| c.before_attr(cloud.attachment_server_attr())));
    Ok(match id {
        None => PlanEffect::NoOldServer,
        Some(server_id) => PlanEffect::StopFirst {
            server_id,
            kept: !server.is_some_and(Change::deletes),
        },
    })
}

/// Whether the plan resizes a data volume in place (`volume_size_gb` raised). The server is then
/// stopped and started around the apply: its filesystem is grown at boot, before the volume is
/// mounted (`prepare-data.sh`), so the space is there at once.
fn grows_a_volume(cloud: Cloud, plan: &Plan) -> bool {
    plan.resource_changes.iter().any(|r| {
        r.address
            .strip_prefix(cloud.volume_address())
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('['))
            && r.change.actions.iter().any(|a| a == "update")
    })
}

/// One line saying what a plan means for the running apps, from `terraform show -json`:
/// whether the server (`server_address`: the cloud server, or the local target's
/// `terraform_data.instance`) is replaced, changed in place, created or left running, whether a
/// cloud data volume grows (which restarts the server), and what else changes. `nassella plan` prints it under Terraform's own plan.
///
/// # Errors
/// When the text is not a Terraform JSON plan.
pub fn summarise(server_address: &str, cloud: Option<Cloud>, plan_json: &str) -> Result<String> {
    summarise_plan(server_address, cloud, plan_json).map(|s| s.text)
}

/// What a plan does to the running apps, in one word (`kind` of `plan --format json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SummaryKind {
    /// Nothing changes.
    Nothing,
    /// The server is not touched; other resources change.
    OthersOnly,
    /// A cloud data volume grows: the server is stopped and started again.
    VolumeGrows,
    /// The server is replaced (deleted and created).
    Replace,
    /// A new server is created.
    Create,
    /// The server is deleted.
    Delete,
    /// The server is changed in place (stopped and started again).
    Update,
}

/// [`summarise`] with the kind of change and the other resources it touches.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PlanSummary {
    /// What happens to the server.
    pub kind: SummaryKind,
    /// The line `nassella plan` prints.
    pub text: String,
    /// The addresses of the other resources that change.
    pub also: Vec<String>,
}

/// [`summarise`], with the kind of change.
///
/// # Errors
/// When the text is not a Terraform JSON plan.
pub fn summarise_plan(
    server_address: &str,
    cloud: Option<Cloud>,
    plan_json: &str,
) -> Result<PlanSummary> {
    let plan: Plan = serde_json::from_str(plan_json)
        .context("reading the plan from `terraform show -json` (not a JSON plan)")?;
    let grows = cloud.is_some_and(|c| grows_a_volume(c, &plan));
    let mut others: Vec<&str> = Vec::new();
    let mut server: Option<&Change> = None;
    for r in plan.resource_changes.iter().filter(|r| r.change.touches()) {
        if r.address == server_address {
            server = Some(&r.change);
        } else {
            others.push(&r.address);
        }
    }
    let rest = if others.is_empty() {
        String::new()
    } else {
        format!("; also changes {}", others.join(", "))
    };
    let has = |a: &str| server.is_some_and(|c| c.actions.iter().any(|x| x == a));
    let (kind, text) = match server {
        None if grows => (SummaryKind::VolumeGrows, format!(
            "the data volume grows: the server is stopped and started again so that its filesystem grows at boot{rest}"
        )),
        None if others.is_empty() => (SummaryKind::Nothing, "nothing changes".to_owned()),
        None => (SummaryKind::OthersOnly, format!(
            "the server keeps running, untouched; only {} change{}",
            others.join(", "),
            if others.len() == 1 { "s" } else { "" }
        )),
        Some(_) if has("delete") && has("create") => (SummaryKind::Replace, format!(
            "the server is REPLACED: its apps stop cleanly, the data volume moves to the new server, and the apps are down until it has started{rest}"
        )),
        Some(_) if has("create") => (SummaryKind::Create, format!("a new server is created{rest}")),
        Some(_) if has("delete") => (SummaryKind::Delete, format!(
            "the server is DELETED (the data volume is kept){rest}"
        )),
        Some(_) => (SummaryKind::Update, format!(
            "the server is changed in place: it is stopped and started again{rest}"
        )),
    };
    Ok(PlanSummary {
        kind,
        text,
        also: others.iter().map(|s| (*s).to_owned()).collect(),
    })
}

/// A minimal client of the provider's API: server status, shutdown, power-on.
#[derive(Debug)]
pub struct Api {
    cloud: Cloud,
    base: String,
    token: String,
    agent: ureq::Agent,
}

impl Api {
    /// A client with the token from `HCLOUD_TOKEN` / `DIGITALOCEAN_TOKEN` and the base URL from
    /// `NASSELLA_HCLOUD_API` / `NASSELLA_DIGITALOCEAN_API` (default: the provider's API).
    ///
    /// # Errors
    /// When the token variable is not set.
    pub fn from_env(cloud: Cloud) -> Result<Self> {
        Self::from_lookup(cloud, |name| crate::environment::get().var(name))
    }

    /// [`Api::from_env`] with the variables read through `var` (tests pass a map).
    ///
    /// # Errors
    /// When the token variable is not set.
    pub fn from_lookup(cloud: Cloud, var: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let lookup = var;
        let var = cloud.token_var();
        let token = lookup(var).filter(|t| !t.trim().is_empty());
        let Some(token) = token else {
            bail!(
                "{var} is not set: the server must be shut down through the {} API before its volume is detached, so nothing was changed; export {var} (the token Terraform uses) and run the same `nassella` command again",
                cloud.name()
            );
        };
        let base = lookup(cloud.api_var())
            .filter(|b| !b.trim().is_empty())
            .unwrap_or_else(|| cloud.default_api().to_owned());
        Ok(Self::new(cloud, &base, &token))
    }

    /// A client of the API at `base` (e.g. `https://api.hetzner.cloud/v1`).
    #[must_use]
    pub fn new(cloud: Cloud, base: &str, token: &str) -> Self {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(30)))
            .http_status_as_error(false)
            .build()
            .into();
        Self {
            cloud,
            base: base.trim_end_matches('/').to_owned(),
            token: token.trim().to_owned(),
            agent,
        }
    }

    fn check(&self, what: &str, resp: ureq::http::Response<ureq::Body>) -> Result<Value> {
        let status = resp.status();
        let body = resp.into_body().read_to_string().unwrap_or_default();
        if !status.is_success() {
            bail!(
                "{} API: {what} failed: HTTP {}: {}",
                self.cloud.name(),
                status.as_u16(),
                body.trim()
            );
        }
        if body.trim().is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&body)
            .with_context(|| format!("{} API: {what}: the answer is not JSON", self.cloud.name()))
    }

    /// The server's status (`running`/`active`, `off`, …).
    ///
    /// # Errors
    /// When the API cannot be reached or refuses.
    pub fn status(&self, id: &str) -> Result<String> {
        let url = format!("{}{}", self.base, self.cloud.server_path(id));
        let what = format!("reading server {id}");
        let resp = self
            .agent
            .get(&url)
            .header("Authorization", &format!("Bearer {}", self.token))
            .call()
            .with_context(|| format!("{} API: {what} ({url})", self.cloud.name()))?;
        let v = self.check(&what, resp)?;
        v.get(self.cloud.server_key())
            .and_then(|s| s.get("status"))
            .and_then(Value::as_str)
            .map(str::to_owned)
            .with_context(|| {
                format!(
                    "{} API: {what}: no {}.status in the answer",
                    self.cloud.name(),
                    self.cloud.server_key()
                )
            })
    }

    fn action(&self, id: &str, hetzner: &str, digitalocean: &str) -> Result<()> {
        let path = self.cloud.server_path(id);
        let what = format!("{hetzner} of server {id}");
        let request = |url: &str| {
            self.agent
                .post(url)
                .header("Authorization", &format!("Bearer {}", self.token))
                .header("Content-Type", "application/json")
        };
        let (url, result) = match self.cloud {
            Cloud::Hetzner => {
                let url = format!("{}{path}/actions/{hetzner}", self.base);
                let r = request(&url).send_empty();
                (url, r)
            }
            Cloud::DigitalOcean => {
                let url = format!("{}{path}/actions", self.base);
                let body = serde_json::json!({ "type": digitalocean }).to_string();
                let r = request(&url).send(body.as_str());
                (url, r)
            }
        };
        let resp = result.with_context(|| format!("{} API: {what} ({url})", self.cloud.name()))?;
        self.check(&what, resp).map(drop)
    }

    /// Ask for a graceful (ACPI) shutdown: `actions/shutdown` / `{"type":"shutdown"}`.
    ///
    /// # Errors
    /// When the API cannot be reached or refuses.
    pub fn shutdown(&self, id: &str) -> Result<()> {
        self.action(id, "shutdown", "shutdown")
    }

    /// Power the server on: `actions/poweron` / `{"type":"power_on"}`.
    ///
    /// # Errors
    /// When the API cannot be reached or refuses.
    pub fn power_on(&self, id: &str) -> Result<()> {
        self.action(id, "poweron", "power_on")
    }

    /// Poll the server every `poll` until its status is `want`; `Ok(false)` after `timeout`.
    ///
    /// # Errors
    /// When the API cannot be reached or refuses.
    pub fn wait_for(
        &self,
        id: &str,
        want: &str,
        timeout: Duration,
        poll: Duration,
    ) -> Result<bool> {
        let start = Instant::now();
        loop {
            if self.status(id)? == want {
                return Ok(true);
            }
            let elapsed = start.elapsed();
            if elapsed >= timeout {
                return Ok(false);
            }
            std::thread::sleep(poll.min(timeout - elapsed));
        }
    }

    /// Shut the server down gracefully and wait until it is off. Nothing is sent when it is
    /// already off (a second run after a stale plan).
    ///
    /// # Errors
    /// When the API fails, or the server is not off after `timeout`: then nothing must be
    /// applied (the message says what to do).
    pub fn stop(&self, id: &str, timeout: Duration, poll: Duration) -> Result<()> {
        self.stop_for(id, timeout, poll, "nassella apply")
    }

    /// [`Api::stop`] for `command` (`nassella apply`, `nassella destroy`), which the timeout
    /// message tells to run again.
    ///
    /// # Errors
    /// As [`Api::stop`].
    pub fn stop_for(
        &self,
        id: &str,
        timeout: Duration,
        poll: Duration,
        command: &str,
    ) -> Result<()> {
        crate::say::say!("==> stopping the old server {id} before its volume is detached");
        if self.status(id)? == "off" {
            crate::say::say!("    it is already off");
            return Ok(());
        }
        self.shutdown(id)?;
        crate::say::say!(
            "    shutdown requested (ACPI: the apps, the proxy and Docker stop, the volume is unmounted); waiting up to {} s for it to power off",
            timeout.as_secs()
        );
        let start = Instant::now();
        if !self.wait_for(id, "off", timeout, poll)? {
            bail!(
                "the old server {id} did not power off within {} s (an app may hang on stop). Nothing was applied: the server keeps its volume. \
                 Find what hangs (the provider console shows the server's screen), then run `{command}` again; \
                 `--shutdown-timeout <seconds>` (or NASSELLA_SHUTDOWN_TIMEOUT) gives it longer. Forcing a power-off in the provider console also works, \
                 but loses what the apps had not written yet",
                timeout.as_secs()
            );
        }
        crate::say::say!(
            "    the server is off after {} s",
            start.elapsed().as_secs()
        );
        Ok(())
    }

    /// After the plan was applied to a server that was kept: power it on if it is still off,
    /// and wait until it runs.
    ///
    /// # Errors
    /// When the API fails, or the server does not run after `timeout`.
    pub fn power_on_if_off(&self, id: &str, timeout: Duration, poll: Duration) -> Result<()> {
        if self.status(id)? != "off" {
            return Ok(());
        }
        crate::say::say!("==> powering the server {id} on again (the change left it off)");
        self.power_on(id)?;
        let running = self.cloud.running_status();
        if !self.wait_for(id, running, timeout, poll)? {
            bail!(
                "the server {id} was told to power on but is not `{running}` after {} s: check it in the provider console (the change itself was applied)",
                timeout.as_secs()
            );
        }
        crate::say::say!("    the server is {running}");
        Ok(())
    }
}
