# One A record per hostname, in an existing DigitalOcean domain. The records depend on the
# reserved IP only, never on the Droplet: replacing the Droplet leaves DNS untouched, and changing
# DNS settings never touches the Droplet.

resource "digitalocean_record" "host" {
  for_each = local.dns_records

  domain = var.dns_zone
  type   = "A"
  name   = each.value
  value  = digitalocean_reserved_ip.ipv4.ip_address
  ttl    = var.dns_ttl
}
