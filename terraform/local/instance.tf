# The instance: the Ignition config materialised into state_dir/instance and run on this machine's
# Docker engine. Like user_data on a cloud server, any change of the config replaces it, and
# Terraform replaces destroy-first: the old stack is stopped (its destroy provisioner) before the
# new one is materialised and started on the same data folder, so no two stacks write the data.

resource "terraform_data" "instance" {
  triggers_replace = [filesha256(local.user_data_path)]

  # Destroy-time provisioners may only use self: everything they need is kept in input.
  input = {
    bin      = var.nassella_bin
    root     = "${var.state_dir}/instance"
    ignition = local.user_data_path
  }

  provisioner "local-exec" {
    command = "'${self.input.bin}' local up --ignition '${self.input.ignition}' --root '${self.input.root}'"
  }

  provisioner "local-exec" {
    when    = destroy
    command = "'${self.input.bin}' local down --root '${self.input.root}'"
  }
}

# The local equivalent of DNS records: a hosts file mapping every hostname to this machine.
resource "terraform_data" "dns" {
  # Replaced (not updated) when the hostnames change: provisioners run only on creation.
  triggers_replace = var.hostnames

  input = {
    file  = "${var.state_dir}/hosts"
    lines = join("", [for h in var.hostnames : "127.0.0.1 ${h}\n"])
  }

  provisioner "local-exec" {
    command = "printf '%s' '${self.input.lines}' > '${self.input.file}'"
  }
}
