locals {
  # Hostname => record name inside dns_zone ("@" for the zone apex); empty without dns_zone. The
  # cloud modules compute their records the same way.
  dns_records = var.dns_zone == null ? {} : {
    for h in var.hostnames : h => (h == var.dns_zone ? "@" : trimsuffix(h, ".${var.dns_zone}"))
  }

  # The Ignition config; a relative path is taken from where Terraform was started.
  user_data_path = startswith(var.user_data_file, "/") ? var.user_data_file : "${path.cwd}/${var.user_data_file}"
}
