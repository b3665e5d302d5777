# No output carries a secret (the Ignition config is never output), so none is sensitive.

# For people: where the instance answers

output "ipv4" {
  description = "The stable public IPv4 address (primary IP); it survives server replacements."
  value       = hcloud_primary_ip.ipv4.ip_address
}

output "hostnames" {
  description = "The hostnames the apps answer on."
  value       = var.hostnames
}

output "dns_records" {
  description = "Managed A records: hostname => record name in dns_zone (empty without dns_zone)."
  value       = { for h, r in hcloud_zone_rrset.host : h => r.name }
}

output "dns_records_to_create" {
  description = "Without dns_zone: the A records to create at your DNS provider (zone file syntax)."
  value       = var.dns_zone == null ? [for h in var.hostnames : "${h}. ${var.dns_ttl} IN A ${hcloud_primary_ip.ipv4.ip_address}"] : []
}

# For the control plane (nassella apply)

output "server_id" {
  description = "Id of the current server (the one to power off before a replacement)."
  value       = hcloud_server.server.id
}

output "image_id" {
  description = "Id of the Flatcar snapshot the server booted from."
  value       = local.image
}

output "volume_id" {
  description = "Id of the attached data volume (active_data_volume)."
  value       = hcloud_volume.data[var.active_data_volume].id
}

output "data_volumes" {
  description = "Every kept data volume: name in data_volumes => volume id (the detached ones are kept until you delete them)."
  value       = { for k, v in hcloud_volume.data : k => v.id }
}

output "volume_device" {
  description = "Device path of the data volume on the server (matches scsi-0HC_Volume_*)."
  value       = hcloud_volume.data[var.active_data_volume].linux_device
}
