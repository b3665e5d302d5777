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
