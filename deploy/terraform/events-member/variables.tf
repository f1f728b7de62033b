variable "event_bus_arn" {
  description = "The central account's default bus in the queue's region: the events-queue module's event_bus_arn output."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:events:[a-z0-9-]+:\\d{12}:event-bus/default$", var.event_bus_arn))
    error_message = "event_bus_arn must be arn:<partition>:events:<queue region>:<central account>:event-bus/default."
  }
}

variable "regions" {
  description = "The regions to put the rule in: every region autosub reconciles in this account, plus us-east-1 (CloudTrail records CloudFront's calls there, whatever the region). In the central account the queue's own region is skipped: the central rule is there."
  type        = list(string)

  validation {
    condition     = length(var.regions) > 0 && alltrue([for r in var.regions : can(regex("^[a-z]{2}(-[a-z]+)+-\\d$", r))])
    error_message = "regions must be one or more region codes such as us-east-1."
  }
}

variable "role_name_prefix" {
  description = "Prefix of the forwarding role's name (IAM makes it unique)."
  type        = string
  default     = "autosub-events-"
}

variable "tags" {
  description = "Tags for the role and the rules."
  type        = map(string)
  default     = {}
}
