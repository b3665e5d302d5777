# The data volume: everything the apps keep. It is never destroyed by Terraform (prevent_destroy)
# nor through the API (delete_protection); a replaced server gets it back through a new
# attachment. The provider does not format it: the instance's nassella-data-prepare finds it by
# /dev/disk/by-id/scsi-0HC_Volume_*, formats it ext4 only when blank and labels it nassella-data,
# so there is one formatting path for every provider and a volume that holds data is never touched.

resource "hcloud_volume" "data" {
  name              = "${var.instance_name}-data"
  size              = var.volume_size_gb
  location          = var.location
  labels            = local.labels
  delete_protection = true

  lifecycle {
    prevent_destroy = true
  }
}

# Separate from the volume so that replacing the server replaces only the attachment.
# automount stays off: Hetzner's automount does not work on Flatcar, and the instance mounts the
# volume itself (srv-data.mount).
resource "hcloud_volume_attachment" "data" {
  volume_id = hcloud_volume.data.id
  server_id = hcloud_server.server.id
  automount = false
}
