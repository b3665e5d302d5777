//! `terraform.tfvars.json`: the variables the Terraform module of the instance's provider reads
//! (`terraform/<provider>/variables.tf` declares every key written here; a test checks it).
//! It holds no secret: the Ignition config (which does) is passed as a file path.

use serde::Serialize;

use crate::composer::ValidatedStack;
use crate::stack::{Instance, Provider};

#[derive(Serialize)]
struct TfVars<'a> {
    instance_name: &'a str,
    /// Named so because Terraform reserves the variable name `provider`.
    provider_name: &'a str,
    server_type: &'a str,
    location: &'a str,
    volume_size_gb: u32,
    hostnames: Vec<&'a str>,
    tcp_ports: Vec<u16>,
    user_data_file: &'static str,
    /// Only for the cloud modules (`hetzner`, `digitalocean`), which declare the same keys.
    #[serde(flatten)]
    cloud: Option<CloudVars<'a>>,
}

/// The image, DNS and data volume settings of a cloud server. Unset options are left out, so the module's
/// default (`null`: no pinned image, no managed DNS) applies.
#[derive(Serialize)]
struct CloudVars<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    image_id: Option<&'a str>,
    image_selector: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    dns_zone: Option<&'a str>,
    dns_ttl: u32,
    /// The data volumes to keep, and the attached one (a restore adds a blank one).
    data_volumes: &'a [String],
    active_data_volume: &'a str,
}

impl<'a> CloudVars<'a> {
    fn of(i: &'a Instance) -> Option<Self> {
        match i.provider {
            Provider::Hetzner | Provider::DigitalOcean => Some(Self {
                image_id: i.image_id.as_deref(),
                image_selector: &i.image_selector,
                dns_zone: i.dns_zone.as_deref(),
                dns_ttl: i.dns_ttl,
                data_volumes: &i.data_volumes,
                active_data_volume: &i.active_data_volume,
            }),
            Provider::Local => None,
        }
    }
}

pub(super) fn tfvars(v: &ValidatedStack) -> Vec<u8> {
    let i = &v.instance;
    let mut hostnames: Vec<&str> = v.apps.iter().flat_map(|a| a.hosts()).collect();
    hostnames.sort_unstable();
    hostnames.dedup();
    let mut tcp_ports: Vec<u16> = v
        .apps
        .iter()
        .flat_map(|a| a.c.tcp_ports.iter().map(|p| p.host_port))
        .collect();
    tcp_ports.sort_unstable();
    let vars = TfVars {
        instance_name: &i.name,
        provider_name: i.provider.as_str(),
        server_type: &i.server_type,
        location: &i.location,
        volume_size_gb: i.volume_size_gb,
        hostnames,
        tcp_ports,
        user_data_file: super::IGNITION_FILE,
        cloud: CloudVars::of(i),
    };
    let mut out = serde_json::to_vec_pretty(&vars).expect("tfvars serialize");
    out.push(b'\n');
    out
}
