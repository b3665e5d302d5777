# The Droplet: Flatcar (a custom image) booted with the Ignition config as user data. user_data is
# ForceNew, so any change of the config replaces the Droplet; the data lives on the volume
# (volume.tf).
#
# Replacing the Droplet detaches the volume first (the attachment depends on the Droplet, so
# Terraform destroys it before the Droplet). graceful_shutdown only acts after that: the control
# plane powers the old Droplet off before `terraform apply` (terraform/README.md).

resource "digitalocean_tag" "instance" {
  name = local.tag
}

# DigitalOcean refuses to create a Droplet from a custom image without an SSH key. This key is
# inert: nobody needs its private half, and the instance never installs it (the Ignition config
# masks sshd and coreos-metadata-sshkeys@core; docs/security.md). It stays the same across
# replacements, so it never causes one.
resource "tls_private_key" "inert" {
  algorithm = "ED25519"
}

resource "digitalocean_ssh_key" "inert" {
  name       = "${var.instance_name}-inert"
  public_key = tls_private_key.inert.public_key_openssh
}

resource "digitalocean_droplet" "server" {
  name   = var.instance_name
  region = var.location
  size   = var.server_type
  image  = var.image_id
  tags   = [digitalocean_tag.instance.id]

  # sensitive(): the config carries the apps' secrets; keep it out of plan output and logs.
  # The provider stores only a hash of it in the state.
  user_data = sensitive(file(local.user_data_path))

  ssh_keys = [digitalocean_ssh_key.inert.fingerprint]

  # Custom images get no IPv6 and no automatic monitoring; the Droplet agent does not run on Flatcar.
  ipv6              = false
  monitoring        = false
  droplet_agent     = false
  backups           = false
  graceful_shutdown = true
}
