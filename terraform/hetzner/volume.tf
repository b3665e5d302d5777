# The data volumes: everything the apps keep. They are never destroyed by Terraform
# (prevent_destroy) nor through the API (delete_protection); a replaced server gets the active one
# back through a new attachment. The provider does not format them: the instance's
# nassella-data-prepare finds the one attached by /dev/disk/by-id/scsi-0HC_Volume_*, formats it
# ext4 only when blank and labels it nassella-data, so there is one formatting path for every
# provider and a volume that holds data is never touched.
#
# Usually there is one, `data` (named <instance>-data). `nassella backups restore` adds a blank
# one (data-2, …) and makes it active, so the new server restores the chosen snapshot onto it;
# the previous volumes stay here, detached, until you delete them (docs/deploy.md).

resource "hcloud_volume" "data" {
  for_each = toset(var.data_volumes)

  name              = "${var.instance_name}-${each.key}"
  size              = var.volume_size_gb
  location          = var.location
  labels            = local.labels
  delete_protection = true

  lifecycle {
    prevent_destroy = true
  }
}

# Deployments made before there could be several volumes hold the volume at this address.
moved {
  from = hcloud_volume.data
  to   = hcloud_volume.data["data"]
}

# Separate from the volume so that replacing the server replaces only the attachment; only the
# active volume is attached (the server waits for exactly one).
# automount stays off: Hetzner's automount does not work on Flatcar, and the instance mounts the
# volume itself (srv-data.mount).
resource "hcloud_volume_attachment" "data" {
  volume_id = hcloud_volume.data[var.active_data_volume].id
  server_id = hcloud_server.server.id
  automount = false
}
