# Values derived from the variables alone (no resource): the offline tests evaluate this file with
# variables.tf and the real Terraform, without any provider.

locals {
  # The Ignition config; a relative path is taken from where Terraform was started.
  user_data_path = startswith(var.user_data_file, "/") ? var.user_data_file : "${path.cwd}/${var.user_data_file}"

  labels = {
    "nassella-instance" = var.instance_name
  }

  # Hostname => record name inside dns_zone ("@" for the zone apex); empty without dns_zone.
  dns_records = var.dns_zone == null ? {} : {
    for h in var.hostnames : h => (h == var.dns_zone ? "@" : trimsuffix(h, ".${var.dns_zone}"))
  }

  # Sources allowed by every inbound rule.
  anywhere = ["0.0.0.0/0", "::/0"]
}
