# Inbound: HTTP, HTTPS (TCP, and UDP for HTTP/3), ICMP (ping and path MTU discovery), and the raw
# TCP ports apps opted into. Nothing else; there is no SSH. Outbound stays open (a Hetzner
# firewall without "out" rules allows all outbound traffic): images, ACME, backups.

resource "hcloud_firewall" "web" {
  name   = "${var.instance_name}-web"
  labels = local.labels

  rule {
    description = "HTTP (ACME challenges, redirect to HTTPS)"
    direction   = "in"
    protocol    = "tcp"
    port        = "80"
    source_ips  = local.anywhere
  }

  rule {
    description = "HTTPS"
    direction   = "in"
    protocol    = "tcp"
    port        = "443"
    source_ips  = local.anywhere
  }

  rule {
    description = "HTTP/3"
    direction   = "in"
    protocol    = "udp"
    port        = "443"
    source_ips  = local.anywhere
  }

  rule {
    description = "ICMP"
    direction   = "in"
    protocol    = "icmp"
    source_ips  = local.anywhere
  }

  dynamic "rule" {
    for_each = var.tcp_ports
    content {
      description = "App TCP port ${rule.value}"
      direction   = "in"
      protocol    = "tcp"
      port        = tostring(rule.value)
      source_ips  = local.anywhere
    }
  }
}
