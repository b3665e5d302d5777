output "instance_root" {
  description = "Where the instance's files were materialised (etc/nassella holds its configuration)."
  value       = terraform_data.instance.input.root
}

output "hosts_file" {
  description = "Hosts-file lines for the instance's hostnames (add them to /etc/hosts to browse the apps)."
  value       = terraform_data.dns.input.file
}

output "hostnames" {
  description = "The hostnames the instance answers on."
  value       = var.hostnames
}
