variable "queue_name" {
  description = "Name of the queue (a standard queue: EventBridge rules target it); its URL is the configuration's events.queue_url (AUTOSUB_EVENTS_QUEUE_URL), the queue_url output. The dead-letter queue is <queue_name>-dlq."
  type        = string
  default     = "autosub-events"

  validation {
    condition     = can(regex("^[\\w-]{1,76}$", var.queue_name))
    error_message = "queue_name must be 1-76 letters, digits, - and _ (the dead-letter queue adds -dlq)."
  }
}

variable "message_retention_seconds" {
  description = "How long an event waits in the queue (default 4 days). An event older than that is lost, and the next scheduled pass repairs what it was about."
  type        = number
  default     = 345600

  validation {
    condition     = var.message_retention_seconds >= 60 && var.message_retention_seconds <= 1209600
    error_message = "message_retention_seconds must be 60 to 1209600 (14 days)."
  }
}

variable "max_receive_count" {
  description = "Receives after which the redrive policy moves a message to the dead-letter queue: a message autosub cannot read is handed back at once, so it gets there after this many."
  type        = number
  default     = 5

  validation {
    condition     = var.max_receive_count >= 1 && var.max_receive_count <= 1000
    error_message = "max_receive_count must be 1 to 1000."
  }
}

variable "organization_id" {
  description = "Every account of this organisation (o-...) may put events on this account's default bus (aws:PrincipalOrgID): what the events-member rules do. \"\" = none."
  type        = string
  default     = ""

  validation {
    condition     = can(regex("^(o-[a-z0-9]{10,32})?$", var.organization_id))
    error_message = "organization_id must be empty or an organisation id (o-...)."
  }
}

variable "account_ids" {
  description = "Accounts (besides the organisation's) that may put events on this account's default bus, e.g. the fleet accounts listed by hand outside the organisation."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for a in var.account_ids : can(regex("^\\d{12}$", a))])
    error_message = "account_ids must be 12-digit account ids."
  }
}

variable "tags" {
  description = "Tags for the queues and the rule."
  type        = map(string)
  default     = {}
}
