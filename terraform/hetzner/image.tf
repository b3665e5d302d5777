# The Flatcar image: a pinned snapshot id, or the most recent snapshot carrying the labels.
# Hetzner has no stock Flatcar image; upload one with hcloud-upload-image (terraform/README.md).

data "hcloud_image" "flatcar" {
  count = var.image_id == null ? 1 : 0

  with_selector     = var.image_selector
  with_architecture = "x86"
  most_recent       = true
}

locals {
  image = var.image_id != null ? var.image_id : data.hcloud_image.flatcar[0].id
}
