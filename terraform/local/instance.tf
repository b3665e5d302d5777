# The instance: the Ignition config materialised into state_dir/instance and run on this machine's
# Docker engine. Like user_data on a cloud server, any change of the config replaces it, and
# Terraform replaces destroy-first: the old stack is stopped (its destroy provisioner) before the
# new one is materialised and started on the same data folder, so no two stacks write the data.

resource "terraform_data" "instance" {
  triggers_replace = [filesha256(local.user_data_path)]

  # Destroy-time provisioners may only use self: everything they need is kept in input.
  input = {
    bin      = var.nassella_bin
    root     = "${var.state_dir}/instance"
    ignition = local.user_data_path
  }

  # Paths reach the shell as variables, never spelled into the command: a state folder with a
  # quote, `$` or a space in its path is taken as it is.
  provisioner "local-exec" {
    command = "\"$nassella_bin\" local up --ignition \"$nassella_ignition\" --root \"$nassella_root\""
    environment = {
      nassella_bin      = self.input.bin
      nassella_ignition = self.input.ignition
      nassella_root     = self.input.root
    }
  }

  provisioner "local-exec" {
    when    = destroy
    command = "\"$nassella_bin\" local down --root \"$nassella_root\""
    environment = {
      nassella_bin  = self.input.bin
      nassella_root = self.input.root
    }
  }
}

# The local equivalent of DNS: a hosts file mapping every hostname to this machine and, when
# dns_zone is set, the zone's A records in a zone file (what a cloud module manages at the
# provider). It depends on nothing of the instance, so a change of dns_zone or dns_ttl replaces
# only this resource: the instance keeps running, as a cloud server keeps running when only its
# DNS records change.
resource "terraform_data" "dns" {
  # Replaced (not updated) when the records change: provisioners run only on creation.
  triggers_replace = [var.hostnames, var.dns_zone, var.dns_ttl]

  input = {
    hosts_file = "${var.state_dir}/hosts"
    hosts      = join("", [for h in var.hostnames : "127.0.0.1 ${h}\n"])
    zone_file  = "${var.state_dir}/dns.zone"
    zone = var.dns_zone == null ? "" : join("", concat(
      ["$ORIGIN ${var.dns_zone}.\n", "$TTL ${var.dns_ttl}\n"],
      [for h in sort(keys(local.dns_records)) : "${local.dns_records[h]} IN A 127.0.0.1\n"],
    ))
  }

  provisioner "local-exec" {
    command = "printf '%s' \"$hosts\" > \"$hosts_file\" && if [ -n \"$zone\" ]; then printf '%s' \"$zone\" > \"$zone_file\"; else rm -f \"$zone_file\"; fi"
    environment = {
      hosts      = self.input.hosts
      hosts_file = self.input.hosts_file
      zone       = self.input.zone
      zone_file  = self.input.zone_file
    }
  }
}
