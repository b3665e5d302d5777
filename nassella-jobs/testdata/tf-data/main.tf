# The replicas test's module (nassella-jobs/tests/replicas.rs): one terraform_data per instance,
# replaced by each job (a new generation), whose creation records when it ran and sleeps, so a
# replica can be killed mid-apply with Terraform's state lock held.

variable "generation" {
  type = number
}

variable "tag" {
  description = "instance job attempt worker, for the record"
  type        = string
}

variable "record" {
  description = "the file the provisioner appends its start and end lines to"
  type        = string
}

variable "sleep" {
  type    = number
  default = 3
}

resource "terraform_data" "run" {
  input            = var.generation
  triggers_replace = [var.generation]

  provisioner "local-exec" {
    command = "echo \"start $TAG $(date +%s.%N)\" >> \"$RECORD\"; sleep $SLEEP; echo \"end $TAG $(date +%s.%N)\" >> \"$RECORD\""
    environment = {
      TAG    = var.tag
      RECORD = var.record
      SLEEP  = var.sleep
    }
  }
}

output "generation" {
  value = terraform_data.run.output
}
