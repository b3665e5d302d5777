# Terraform and provider versions. Terraform >= 1.9: a variable's validation refers to another
# variable (dns_zone checks hostnames). tls generates the throwaway SSH key DigitalOcean demands
# for custom-image Droplets (server.tf).

terraform {
  required_version = ">= 1.9.0, < 2.0.0"

  required_providers {
    digitalocean = {
      source  = "digitalocean/digitalocean"
      version = "~> 2.40"
    }
    tls = {
      source  = "hashicorp/tls"
      version = "~> 4.0"
    }
  }
}

# The API token comes from the environment (DIGITALOCEAN_TOKEN), never from a file of this module.
