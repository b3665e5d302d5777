# The data volumes: everything the apps keep. They are never destroyed by Terraform
# (prevent_destroy); a replaced Droplet gets the active one back through a new attachment. They
# are not formatted by DigitalOcean (no initial_filesystem_*): the instance's nassella-data-prepare
# finds the one attached by /dev/disk/by-id/scsi-0DO_Volume_*, formats it ext4 only when blank and
# labels it nassella-data, so there is one formatting path for every provider.
#
# Usually there is one, `data` (named <instance>-data). `nassella backups restore` adds a blank
# one (data-2, …) and makes it active, so the new Droplet restores the chosen snapshot onto it;
# the previous volumes stay here, detached, until you delete them (docs/deploy.md).

resource "digitalocean_volume" "data" {
  for_each = toset(var.data_volumes)

  name        = "${var.instance_name}-${each.key}"
  region      = var.location
  size        = var.volume_size_gb
  description = "Nassella data volume of ${var.instance_name}"
  tags        = [digitalocean_tag.instance.id]

  lifecycle {
    prevent_destroy = true
  }
}

# Deployments made before there could be several volumes hold the volume at this address.
moved {
  from = digitalocean_volume.data
  to   = digitalocean_volume.data["data"]
}

# Separate from the volume so that replacing the Droplet replaces only the attachment (never
# mixed with the Droplet's volume_ids); only the active volume is attached (the Droplet waits for
# exactly one).
resource "digitalocean_volume_attachment" "data" {
  droplet_id = digitalocean_droplet.server.id
  volume_id  = digitalocean_volume.data[var.active_data_volume].id
}
