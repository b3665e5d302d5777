locals {
  # The Ignition config; a relative path is taken from where Terraform was started.
  user_data_path = startswith(var.user_data_file, "/") ? var.user_data_file : "${path.cwd}/${var.user_data_file}"
}
