# A reserved IPv4 that outlives every Droplet: a replaced Droplet gets the same address, so DNS
# never changes. Droplets from custom images have no anchor IP; DigitalOcean maps the reserved IP
# straight onto the Droplet's public IPv4, so Flatcar needs no network setup for it.

resource "digitalocean_reserved_ip" "ipv4" {
  region = var.location
}

resource "digitalocean_reserved_ip_assignment" "ipv4" {
  ip_address = digitalocean_reserved_ip.ipv4.ip_address
  droplet_id = digitalocean_droplet.server.id
}
