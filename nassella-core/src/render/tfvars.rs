//! `terraform.tfvars.json`: the variables the Terraform module of the instance's provider reads.
//! It holds no secret: the Ignition config (which does) is passed as a file path.

use serde::Serialize;

use crate::composer::ValidatedStack;

#[derive(Serialize)]
struct TfVars<'a> {
    instance_name: &'a str,
    provider: &'a str,
    server_type: &'a str,
    location: &'a str,
    volume_size_gb: u32,
    hostnames: Vec<&'a str>,
    tcp_ports: Vec<u16>,
    user_data_file: &'static str,
}

pub(super) fn tfvars(v: &ValidatedStack) -> Vec<u8> {
    let i = &v.instance;
    let mut hostnames: Vec<&str> = v.apps.iter().flat_map(|a| a.hosts()).collect();
    hostnames.sort_unstable();
    let mut tcp_ports: Vec<u16> = v
        .apps
        .iter()
        .flat_map(|a| a.c.tcp_ports.iter().map(|p| p.host_port))
        .collect();
    tcp_ports.sort_unstable();
    let vars = TfVars {
        instance_name: &i.name,
        provider: i.provider.as_str(),
        server_type: &i.server_type,
        location: &i.location,
        volume_size_gb: i.volume_size_gb,
        hostnames,
        tcp_ports,
        user_data_file: super::IGNITION_FILE,
    };
    let mut out = serde_json::to_vec_pretty(&vars).expect("tfvars serialize");
    out.push(b'\n');
    out
}
