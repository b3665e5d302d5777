# The variables `nassella build` writes to terraform.tfvars.json (nassella-core/src/render/tfvars.rs).
# Every key it writes for any provider is declared here, so the same file is accepted by either
# cloud module; a test in snapshots/tests/terraform.rs keeps the two in step.

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
  description = "The provider the bundle was built for; must be \"hetzner\" for this module (guards against applying another provider's tfvars). Not called `provider`: Terraform reserves that name."

  validation {
    condition     = var.provider_name == "hetzner"
    error_message = "These tfvars were built for another provider: use terraform/<provider>/ for them, or set provider = \"hetzner\" in the config and rebuild."
  }
}

variable "server_type" {
  type        = string
  description = "Hetzner Cloud server type (e.g. cx23, cpx22). x86 only: the instance installs the x86-64 docker compose binary."

  validation {
    condition     = can(regex("^[a-z0-9-]+$", var.server_type)) && !startswith(var.server_type, "cax")
    error_message = "The server_type must be a Hetzner x86 server type such as cx23 or cpx22 (ARM cax types are not supported yet)."
  }
}

variable "location" {
  type        = string
  description = "Hetzner Cloud location of the server, its volume and its primary IP (e.g. fsn1, nbg1, hel1, ash, hil, sin). Changing it would move the volume: Terraform refuses (prevent_destroy)."

  validation {
    condition     = can(regex("^[a-z0-9-]+$", var.location))
    error_message = "The location must be a Hetzner location name such as fsn1."
  }
}

# Image

variable "image_id" {
  type        = string
  default     = null
  description = "Id of the Flatcar snapshot to boot. When null, the most recent x86 snapshot matching image_selector is used."

  validation {
    condition     = var.image_id == null ? true : can(regex("^[0-9]+$", var.image_id))
    error_message = "The image_id must be the numeric id of a Hetzner snapshot."
  }
}

variable "image_selector" {
  type        = string
  default     = "os=flatcar"
  description = "Label selector of the Flatcar snapshots (e.g. uploaded with hcloud-upload-image --labels os=flatcar); the most recent match boots. A newer match replaces the server on the next apply. Ignored when image_id is set."

  validation {
    condition     = length(trimspace(var.image_selector)) > 0
    error_message = "The image_selector must not be empty (e.g. os=flatcar)."
  }
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
  description = "Size of the data volume in GB (10 to 10240). Can grow in place; it never shrinks."

  validation {
    condition     = var.volume_size_gb == floor(var.volume_size_gb) && var.volume_size_gb >= 10 && var.volume_size_gb <= 10240
    error_message = "The volume_size_gb must be a whole number from 10 to 10240."
  }
}

variable "data_volumes" {
  type        = list(string)
  default     = ["data"]
  description = "Names of the data volumes to keep (each is the volume <instance_name>-<name>, protected by prevent_destroy). Written by the control plane from <state>/volumes.json: a restore adds a blank volume and keeps the previous ones until you delete them. Removing a name here makes the plan fail (prevent_destroy)."

  validation {
    condition     = length(var.data_volumes) > 0 && length(distinct(var.data_volumes)) == length(var.data_volumes) && alltrue([for v in var.data_volumes : can(regex("^[a-z]([a-z0-9-]{0,18}[a-z0-9])?$", v))])
    error_message = "The data_volumes must be distinct names of 1 to 20 lowercase letters, digits and '-', starting with a letter (e.g. [\"data\", \"data-2\"])."
  }
}

variable "active_data_volume" {
  type        = string
  default     = "data"
  description = "The one of data_volumes attached to the server (the server waits for exactly one data volume). Changing it replaces the attachment: the control plane stops the server first."

  validation {
    condition     = contains(var.data_volumes, var.active_data_volume)
    error_message = "The active_data_volume must be one of data_volumes."
  }
}

# Network and DNS

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
  description = "An existing Hetzner DNS zone (e.g. example.com) holding every hostname: Terraform manages one A record per hostname in it. When null, no DNS is managed and the output dns_records_to_create lists what to create by hand."

  validation {
    condition     = var.dns_zone == null ? true : alltrue([for h in var.hostnames : h == var.dns_zone || endswith(h, ".${var.dns_zone}")])
    error_message = "Every hostname must be the dns_zone itself or a name inside it; manage the other names' DNS by hand or pick the zone that holds them all."
  }
}

variable "dns_ttl" {
  type        = number
  default     = 300
  description = "TTL of the managed DNS records, in seconds (60 to 86400)."

  validation {
    condition     = var.dns_ttl == floor(var.dns_ttl) && var.dns_ttl >= 60 && var.dns_ttl <= 86400
    error_message = "The dns_ttl must be a whole number of seconds from 60 to 86400."
  }
}
