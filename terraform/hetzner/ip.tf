# A primary IPv4 that outlives every server: a replaced server gets the same address, so DNS never
# changes. auto_delete = false keeps it when the server it is assigned to is deleted.

resource "hcloud_primary_ip" "ipv4" {
  name        = "${var.instance_name}-ipv4"
  type        = "ipv4"
  location    = var.location
  auto_delete = false
  labels      = local.labels
}
