# The data volume: everything the apps keep. It is never destroyed by Terraform
# (prevent_destroy); a replaced Droplet gets it back through a new attachment. It is not
# formatted by DigitalOcean (no initial_filesystem_*): the instance's nassella-data-prepare finds
# it by /dev/disk/by-id/scsi-0DO_Volume_*, formats it ext4 only when blank and labels it
# nassella-data, so there is one formatting path for every provider.

resource "digitalocean_volume" "data" {
  name        = local.volume_name
  region      = var.location
  size        = var.volume_size_gb
  description = "Nassella data volume of ${var.instance_name}"
  tags        = [digitalocean_tag.instance.id]

  lifecycle {
    prevent_destroy = true
  }
}

# Separate from the volume so that replacing the Droplet replaces only the attachment (never
# mixed with the Droplet's volume_ids).
resource "digitalocean_volume_attachment" "data" {
  droplet_id = digitalocean_droplet.server.id
  volume_id  = digitalocean_volume.data.id
}
