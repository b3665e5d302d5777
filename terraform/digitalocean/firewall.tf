# Inbound: HTTP, HTTPS (TCP, and UDP for HTTP/3), ICMP (ping and path MTU discovery), and the raw
# TCP ports apps opted into. Nothing else; there is no SSH. A DigitalOcean firewall blocks what
# its rules do not allow in both directions, so outbound is opened explicitly (images, ACME,
# backups). It applies by tag, so the Droplet is covered from its first boot.

resource "digitalocean_firewall" "web" {
  name = "${var.instance_name}-web"
  tags = [digitalocean_tag.instance.id]

  inbound_rule {
    protocol         = "tcp"
    port_range       = "80"
    source_addresses = local.anywhere
  }

  inbound_rule {
    protocol         = "tcp"
    port_range       = "443"
    source_addresses = local.anywhere
  }

  inbound_rule {
    protocol         = "udp"
    port_range       = "443"
    source_addresses = local.anywhere
  }

  inbound_rule {
    protocol         = "icmp"
    source_addresses = local.anywhere
  }

  dynamic "inbound_rule" {
    for_each = var.tcp_ports
    content {
      protocol         = "tcp"
      port_range       = tostring(inbound_rule.value)
      source_addresses = local.anywhere
    }
  }

  outbound_rule {
    protocol              = "tcp"
    port_range            = "1-65535"
    destination_addresses = local.anywhere
  }

  outbound_rule {
    protocol              = "udp"
    port_range            = "1-65535"
    destination_addresses = local.anywhere
  }

  outbound_rule {
    protocol              = "icmp"
    destination_addresses = local.anywhere
  }
}
