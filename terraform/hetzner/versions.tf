# Terraform and provider versions. Terraform >= 1.9: a variable's validation refers to another
# variable (dns_zone checks hostnames). hcloud >= 1.62: zone RRSets are GA (1.56), primary IPs
# take `location` (1.58) and no longer want `assignee_type` without an assignee (1.62).

terraform {
  required_version = ">= 1.9.0, < 2.0.0"

  required_providers {
    hcloud = {
      source  = "hetznercloud/hcloud"
      version = "~> 1.62"
    }
  }
}

# The API token comes from the environment (HCLOUD_TOKEN), never from a file of this module.
