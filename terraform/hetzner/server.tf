# The server: Flatcar booted with the Ignition config as user data. user_data is ForceNew, so any
# change of the config replaces the server; the data lives on the volume (volume.tf).
#
# No ssh_keys: the instance has no login at all (docs/security.md). Hetzner then e-mails a root
# password that nothing on Flatcar ever sets.
#
# Replacing the server detaches the volume first (the attachment depends on the server, so
# Terraform destroys it before the server). shutdown_before_deletion only acts after that: the
# control plane powers the old server off before `terraform apply` (terraform/README.md).

resource "hcloud_server" "server" {
  name        = var.instance_name
  server_type = var.server_type
  location    = var.location
  image       = local.image
  labels      = local.labels

  # sensitive(): the config carries the apps' secrets; keep it out of plan output and logs.
  # The provider stores only its SHA-1 in the state.
  user_data = sensitive(file(local.user_data_path))

  firewall_ids             = [hcloud_firewall.web.id]
  shutdown_before_deletion = true

  public_net {
    ipv4_enabled = true
    ipv4         = hcloud_primary_ip.ipv4.id
    ipv6_enabled = false
  }
}
