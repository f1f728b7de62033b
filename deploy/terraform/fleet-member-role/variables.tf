variable "role_name" {
  description = "Name of the member role: the central configuration's fleet.role_name."
  type        = string
  default     = "autosub"

  validation {
    condition     = can(regex("^[\\w+=,.@-]{1,64}$", var.role_name))
    error_message = "role_name must be an IAM role name (1-64 letters, digits and +=,.@_-)."
  }
}

variable "forwarder_function_name" {
  description = "The forwarder Lambda's name in this account (in every region); the role may read and change the resource policy of that function only."
  type        = string
  default     = "datadog-forwarder"

  validation {
    condition     = can(regex("^[\\w-]{1,64}$", var.forwarder_function_name))
    error_message = "forwarder_function_name must be a Lambda function name (1-64 letters, digits, - and _)."
  }
}

variable "central_role_arns" {
  description = "The central autosub task role (the ecs-service module's task_role_arn output), the only principal the member role trusts; one per service in the regional topology. They must exist before this role is created (IAM checks a trust policy's principals)."
  type        = list(string)

  validation {
    condition     = length(var.central_role_arns) > 0 && alltrue([for arn in var.central_role_arns : can(regex("^arn:aws[a-z-]*:iam::\\d{12}:role/.+$", arn))])
    error_message = "central_role_arns must be one or more role ARNs, arn:<partition>:iam::<account>:role/<name>."
  }
}

variable "external_id" {
  description = "The external id the central role passes (fleet.external_id); the role cannot be assumed without it."
  type        = string
  sensitive   = true

  validation {
    condition     = length(var.external_id) >= 2 && length(var.external_id) <= 1224 && can(regex("^[\\w+=,.@:/-]+$", var.external_id))
    error_message = "external_id must be 2-1224 letters, digits and +=,.@:/_- (STS's rule)."
  }
}

variable "tags" {
  description = "Tags for the role."
  type        = map(string)
  default     = {}
}
