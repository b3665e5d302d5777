# No output carries a secret (neither the Ignition config nor the inert SSH key is output), so
# none is sensitive.

# For people: where the instance answers

output "ipv4" {
  description = "The stable public IPv4 address (reserved IP); it survives Droplet replacements."
  value       = digitalocean_reserved_ip.ipv4.ip_address
}

output "hostnames" {
  description = "The hostnames the apps answer on."
  value       = var.hostnames
}

output "dns_records" {
  description = "Managed A records: hostname => record name in dns_zone (empty without dns_zone)."
  value       = { for h, r in digitalocean_record.host : h => r.name }
}

output "dns_records_to_create" {
  description = "Without dns_zone: the A records to create at your DNS provider (zone file syntax)."
  value       = var.dns_zone == null ? [for h in var.hostnames : "${h}. ${var.dns_ttl} IN A ${digitalocean_reserved_ip.ipv4.ip_address}"] : []
}

# For the control plane (nassella apply)

output "server_id" {
  description = "Id of the current Droplet (the one to power off before a replacement)."
  value       = digitalocean_droplet.server.id
}

output "image_id" {
  description = "Id of the Flatcar custom image the Droplet booted from."
  value       = var.image_id
}

output "volume_id" {
  description = "Id of the attached data volume (active_data_volume)."
  value       = digitalocean_volume.data[var.active_data_volume].id
}

output "data_volumes" {
  description = "Every kept data volume: name in data_volumes => volume id (the detached ones are kept until you delete them)."
  value       = { for k, v in digitalocean_volume.data : k => v.id }
}

output "volume_device" {
  description = "Device path of the data volume on the Droplet (matches scsi-0DO_Volume_*)."
  value       = "/dev/disk/by-id/scsi-0DO_Volume_${local.volume_name}"
}
