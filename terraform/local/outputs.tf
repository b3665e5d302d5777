output "instance_root" {
  description = "Where the instance's files were materialised (etc/nassella holds its configuration)."
  value       = terraform_data.instance.input.root
}

output "hosts_file" {
  description = "Hosts-file lines for the instance's hostnames (add them to /etc/hosts to browse the apps)."
  value       = terraform_data.dns.input.hosts_file
}

output "hostnames" {
  description = "The hostnames the instance answers on."
  value       = var.hostnames
}

output "dns_zone_file" {
  description = "The zone file holding the records of dns_zone (the local stand-in for a provider's DNS); null without dns_zone."
  value       = var.dns_zone == null ? null : terraform_data.dns.input.zone_file
}
