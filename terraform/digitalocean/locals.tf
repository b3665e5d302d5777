# Values derived from the variables alone (no resource): the offline tests evaluate this file with
# variables.tf and the real Terraform, without any provider.

locals {
  # The Ignition config; a relative path is taken from where Terraform was started.
  user_data_path = startswith(var.user_data_file, "/") ? var.user_data_file : "${path.cwd}/${var.user_data_file}"

  # The tag that puts the Droplet behind the firewall from its first boot.
  tag = "nassella-${var.instance_name}"

  # Hostname => record name inside dns_zone ("@" for the zone apex); empty without dns_zone.
  dns_records = var.dns_zone == null ? {} : {
    for h in var.hostnames : h => (h == var.dns_zone ? "@" : trimsuffix(h, ".${var.dns_zone}"))
  }

  # DigitalOcean names the volume's device after the volume (known before apply): the attached one.
  volume_name = "${var.instance_name}-${var.active_data_volume}"

  # Addresses allowed by every inbound rule, and every outbound one.
  anywhere = ["0.0.0.0/0", "::/0"]
}
