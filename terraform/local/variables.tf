# The variables `nassella build` writes to terraform.tfvars.json (nassella-core/src/render/tfvars.rs),
# the same contract as the cloud modules (snapshots/tests/terraform.rs keeps them in step). The
# local target uses only some of them; the others are accepted so one tfvars file fits every module.
# Two more variables, nassella_bin and state_dir, are passed by `nassella apply` (local.tf).

# Instance

variable "instance_name" {
  type        = string
  description = "Name of the instance: names the server, its volume, IP, firewall and labels (lowercase letters, digits and '-', starting with a letter, at most 40 characters)."

  validation {
    condition     = can(regex("^[a-z]([a-z0-9-]{0,38}[a-z0-9])?$", var.instance_name))
    error_message = "The instance_name must be 1 to 40 lowercase letters, digits and '-', start with a letter and not end with '-'."
  }
}

variable "provider_name" {
  type        = string
  description = "The provider the bundle was built for; must be \"local\" for this module (guards against applying another provider's tfvars). Not called `provider`: Terraform reserves that name."

  validation {
    condition     = var.provider_name == "local"
    error_message = "These tfvars were built for another provider: use terraform/<provider>/ for them, or set provider = \"local\" in the config and rebuild."
  }
}

variable "server_type" {
  type        = string
  description = "Unused by the local target (the instance runs on this machine's Docker engine)."
}

variable "location" {
  type        = string
  description = "Unused by the local target."
}

# Image

variable "image_id" {
  type        = string
  default     = null
  description = "Unused by the local target (no image: the instance's files are materialised into a folder)."
}

variable "image_selector" {
  type        = string
  default     = "os=flatcar"
  description = "Unused by the local target."
}

# Ignition

variable "user_data_file" {
  type        = string
  description = "Path of the Ignition config (ignition.json of the bundle). A relative path is taken from the directory Terraform was started in (path.cwd, before any -chdir). A change replaces the server."

  validation {
    condition     = fileexists(startswith(var.user_data_file, "/") ? var.user_data_file : "${path.cwd}/${var.user_data_file}")
    error_message = "The user_data_file does not exist: run `nassella build` and start Terraform from the bundle folder, or give an absolute path."
  }
}

# Data volume

variable "volume_size_gb" {
  type        = number
  description = "Unused by the local target: the data volume is a folder (state_dir/data)."
}

# Network and DNS

variable "data_volumes" {
  type        = list(string)
  default     = ["data"]
  description = "Unused by the local target (its data volume is a folder)."
}

variable "active_data_volume" {
  type        = string
  default     = "data"
  description = "Unused by the local target (its data volume is a folder)."
}

variable "hostnames" {
  type        = list(string)
  description = "Public hostnames the apps answer on. Each gets an A record in dns_zone when dns_zone is set."

  validation {
    condition = alltrue([
      for h in var.hostnames : length(h) <= 253 && can(regex("^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+$", h))
    ])
    error_message = "Every hostname must be a lowercase fully qualified name such as cloud.example.com."
  }

  validation {
    condition     = length(distinct(var.hostnames)) == length(var.hostnames)
    error_message = "The hostnames must be unique."
  }
}

variable "tcp_ports" {
  type        = list(number)
  description = "Raw TCP ports that apps publish (opted in per app, e.g. Forgejo's SSH); opened in the firewall besides 80 and 443."

  validation {
    condition     = alltrue([for p in var.tcp_ports : p == floor(p) && p >= 1 && p <= 65535 && p != 80 && p != 443])
    error_message = "Every TCP port must be a whole number from 1 to 65535 other than 80 and 443 (the proxy's)."
  }
}

variable "dns_zone" {
  type        = string
  default     = null
  description = "The zone holding every hostname. The local target keeps its records in a zone file (state_dir/dns.zone) instead of at a provider; hostnames resolve through the hosts file it writes (state_dir/hosts) either way."

  validation {
    condition     = var.dns_zone == null ? true : alltrue([for h in var.hostnames : h == var.dns_zone || endswith(h, ".${var.dns_zone}")])
    error_message = "Every hostname must be the dns_zone itself or a name inside it; manage the other names' DNS by hand or pick the zone that holds them all."
  }
}

variable "dns_ttl" {
  type        = number
  default     = 300
  description = "TTL of the records in the zone file, in seconds (60 to 86400)."

  validation {
    condition     = var.dns_ttl == floor(var.dns_ttl) && var.dns_ttl >= 60 && var.dns_ttl <= 86400
    error_message = "The dns_ttl must be a whole number of seconds from 60 to 86400."
  }
}

# Local target

variable "nassella_bin" {
  type        = string
  description = "The nassella executable that materialises, starts and stops the instance (`nassella apply` passes its own path)."
}

variable "state_dir" {
  type        = string
  description = "The instance's state folder: the materialised instance lives in state_dir/instance, its data volume in the data root the bundle names."

  validation {
    condition     = startswith(var.state_dir, "/")
    error_message = "The state_dir must be an absolute path."
  }
}
