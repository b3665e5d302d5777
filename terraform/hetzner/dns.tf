# One A record per hostname, in an existing zone (Hetzner DNS, in the Cloud API). The records
# depend on the primary IP only, never on the server: replacing the server leaves DNS untouched,
# and changing DNS settings never touches the server.

resource "hcloud_zone_rrset" "host" {
  for_each = local.dns_records

  zone   = var.dns_zone
  name   = each.value
  type   = "A"
  ttl    = var.dns_ttl
  labels = local.labels

  records = [
    { value = hcloud_primary_ip.ipv4.ip_address, comment = "nassella ${var.instance_name}" },
  ]
}
