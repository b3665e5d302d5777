# The local target uses only Terraform's built-in terraform_data: no provider to download, so it
# runs offline.
terraform {
  required_version = ">= 1.4.0, < 2.0.0"
}
