//! The Terraform modules, compiled into the binary so `nassella` works from any folder: each run
//! writes the target's module into the instance's state folder and runs Terraform there.

use nassella_core::Provider;

macro_rules! module {
    ($dir:literal: $($file:literal),+ $(,)?) => {
        &[$(($file, include_str!(concat!("../../terraform/", $dir, "/", $file)))),+]
    };
}

/// The files of the module for `provider`: (file name, contents).
#[must_use]
pub fn files(provider: Provider) -> &'static [(&'static str, &'static str)] {
    match provider {
        Provider::Local => {
            module!("local": "versions.tf", "variables.tf", "locals.tf", "instance.tf", "outputs.tf")
        }
        Provider::Hetzner => {
            module!("hetzner": "versions.tf", "variables.tf", "locals.tf", "image.tf", "ip.tf", "server.tf", "volume.tf", "firewall.tf", "dns.tf", "outputs.tf")
        }
        Provider::DigitalOcean => {
            module!("digitalocean": "versions.tf", "variables.tf", "locals.tf", "ip.tf", "server.tf", "volume.tf", "firewall.tf", "dns.tf", "outputs.tf")
        }
    }
}

/// The variable that keeps Terraform's state somewhere other than the state folder's local
/// `terraform.tfstate`. Only `pg` is known: Terraform's built-in PostgreSQL backend, used by the
/// web app's jobs (nassella-jobs; docs/web.md, "Jobs"). The backend's settings come from the
/// environment and `TF_CLI_ARGS_init` (`PG_CONN_STR`, `-backend-config=schema_name=…`), so no
/// credential is written to a file or put on a command line.
pub const BACKEND_VAR: &str = "NASSELLA_TF_BACKEND";

/// The file [`write_backend`] adds to the module folder.
pub const BACKEND_FILE: &str = "backend.tf";

const PG_BACKEND: &str = "# Written by nassella because NASSELLA_TF_BACKEND=pg: Terraform's state is in PostgreSQL\n# (PG_CONN_STR and -backend-config=schema_name=…, given by the caller).\nterraform {\n  backend \"pg\" {}\n}\n";

/// Add the backend block `$NASSELLA_TF_BACKEND` names to the module folder `dir`. Without the
/// variable, a folder that has one is refused rather than silently switched back to a local
/// state file (which would start empty and make Terraform create everything again).
///
/// # Errors
/// On an unknown backend, on a folder with a backend but no variable, and on I/O failure.
pub fn write_backend(dir: &std::path::Path) -> anyhow::Result<()> {
    use anyhow::Context as _;
    let path = dir.join(BACKEND_FILE);
    match std::env::var(BACKEND_VAR).ok().filter(|v| !v.is_empty()).as_deref() {
        None if path.exists() => anyhow::bail!(
            "{} says Terraform's state of this instance is in PostgreSQL, but {BACKEND_VAR} is not set: run it from the web app's job (or set {BACKEND_VAR}=pg and PG_CONN_STR, and pass -backend-config=schema_name=… in TF_CLI_ARGS_init); nothing was changed",
            path.display()
        ),
        None => Ok(()),
        Some("pg") => {
            if std::fs::read_to_string(&path).ok().as_deref() != Some(PG_BACKEND) {
                std::fs::write(&path, PG_BACKEND)
                    .with_context(|| format!("writing {}", path.display()))?;
            }
            Ok(())
        }
        Some(other) => anyhow::bail!(
            "{BACKEND_VAR}={other}: the only backend Nassella knows is `pg` (Terraform's state in PostgreSQL); unset it to keep the state in the state folder"
        ),
    }
}
