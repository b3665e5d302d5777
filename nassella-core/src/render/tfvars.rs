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
    image: Option<ImageVars<'a>>,
    /// The zone whose records Terraform manages (left out when unset: no managed DNS). Every
    /// module takes it; the local target keeps the records in a zone file.
    #[serde(skip_serializing_if = "Option::is_none")]
    dns_zone: Option<&'a str>,
    dns_ttl: u32,
    /// Only for the cloud modules.
    #[serde(flatten)]
    volumes: Option<VolumeVars<'a>>,
}

/// The image of a cloud server. Unset options are left out, so the module's default (`null`: no
/// pinned image) applies.
#[derive(Serialize)]
struct ImageVars<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    image_id: Option<&'a str>,
    image_selector: &'a str,
}

/// The data volumes to keep, and the attached one (a restore adds a blank one). The local
/// target's data volume is a folder.
#[derive(Serialize)]
struct VolumeVars<'a> {
    data_volumes: &'a [String],
    active_data_volume: &'a str,
}

fn is_cloud(i: &Instance) -> bool {
    match i.provider {
        Provider::Hetzner | Provider::DigitalOcean => true,
        Provider::Local => false,
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
    let cloud = is_cloud(i);
    let vars = TfVars {
        instance_name: &i.name,
        provider_name: i.provider.as_str(),
        server_type: &i.server_type,
        location: &i.location,
        volume_size_gb: i.volume_size_gb,
        hostnames,
        tcp_ports,
        user_data_file: super::IGNITION_FILE,
        image: cloud.then(|| ImageVars {
            image_id: i.image_id.as_deref(),
            image_selector: &i.image_selector,
        }),
        dns_zone: i.dns_zone.as_deref(),
        dns_ttl: i.dns_ttl,
        volumes: cloud.then(|| VolumeVars {
            data_volumes: &i.data_volumes,
            active_data_volume: &i.active_data_volume,
        }),
    };
    let mut out = serde_json::to_vec_pretty(&vars).expect("tfvars serialize");
    out.push(b'\n');
    out
}
