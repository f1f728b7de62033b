# ---- container -------------------------------------------------------------------------------

variable "image" {
  description = "The autosub image built from deploy/docker/Dockerfile, e.g. 123456789012.dkr.ecr.us-east-1.amazonaws.com/autosub:0.1.0 (pin a tag or digest)."
  type        = string
}

variable "cpu_architecture" {
  description = "The architecture the image was built for: X86_64 or ARM64 (Graviton, cheaper)."
  type        = string
  default     = "X86_64"

  validation {
    condition     = contains(["X86_64", "ARM64"], var.cpu_architecture)
    error_message = "cpu_architecture must be X86_64 or ARM64."
  }
}

variable "cpu" {
  description = "Task CPU units (256 = 0.25 vCPU). Must be a valid Fargate pair with memory."
  type        = number
  default     = 256
}

variable "memory" {
  description = "Task memory in MiB (256 CPU allows 512, 1024 or 2048)."
  type        = number
  default     = 512
}

variable "desired_count" {
  description = "Running tasks: 1, or 0 to pause. More than 1 needs lease_table: without a lease two replicas would reconcile the same targets at once, so the module refuses it."
  type        = number
  default     = 1

  validation {
    condition     = var.desired_count >= 0 && floor(var.desired_count) == var.desired_count
    error_message = "desired_count must be a whole number, 0 or more."
  }
}

variable "name" {
  description = "Name of the ECS service, the task definition family, the created cluster and the roles' prefix."
  type        = string
  default     = "autosub"
}

variable "tags" {
  description = "Tags for every resource the module creates."
  type        = map(string)
  default     = {}
}

# ---- configuration ---------------------------------------------------------------------------

variable "config_ssm_parameter" {
  description = "Name (/autosub/config) or ARN of the SSM String or SecureString parameter holding the whole autosub TOML configuration; injected as AUTOSUB_CONFIG_TOML through the container's secrets. Exactly one of config_ssm_parameter and config_toml must be set."
  type        = string
  default     = ""
}

variable "config_kms_key_arn" {
  description = "ARN of the customer managed KMS key the SecureString is encrypted with (grants kms:Decrypt to the execution role). Empty for String parameters or the aws/ssm key."
  type        = string
  default     = ""
}

variable "config_toml" {
  description = "The TOML configuration as plain text, passed as the AUTOSUB_CONFIG_TOML environment variable (visible in the task definition: prefer config_ssm_parameter)."
  type        = string
  default     = ""
}

variable "schedule" {
  description = "AUTOSUB_SCHEDULE, a cron expression with seconds (\"0 */15 * * * *\" = every 15 minutes). Empty = the configuration's schedule."
  type        = string
  default     = ""
}

variable "regions" {
  description = "AUTOSUB_REGIONS: the regions to reconcile in every account, or [\"all\"] for every region enabled in each. Empty = the configuration's."
  type        = list(string)
  default     = []
}

variable "log_level" {
  description = "AUTOSUB_LOG, the tracing filter (info, debug, autosub_engine=debug,warn, ...)."
  type        = string
  default     = "info"
}

# ---- permissions and ledger ------------------------------------------------------------------

variable "forwarder_arns" {
  description = "The forwarder Lambda ARNs the task may change the resource policy of: the Resource list of the ManageForwarderPermissions statement that `autosub iam-policy` prints for your configuration (a forwarder configured by name is in this account: arn:aws:lambda:<region>:<this account>:function:<name>). AddPermission and RemovePermission are granted for the logs and s3 service principals only (lambda:Principal)."
  type        = list(string)

  validation {
    condition     = length(var.forwarder_arns) > 0
    error_message = "forwarder_arns must name at least one forwarder."
  }
}

variable "ledger_table" {
  description = "Name of an existing DynamoDB ledger table (partition key pk, sort key sk, both strings). Empty and ledger_s3_bucket empty = create a PAY_PER_REQUEST table."
  type        = string
  default     = ""
}

variable "ledger_s3_bucket" {
  description = "An existing bucket to keep the ledger in, as the object ledger_s3_key, instead of DynamoDB (AUTOSUB_LEDGER=s3://<bucket>/<key>). The task's disk does not survive, so a file ledger is not offered."
  type        = string
  default     = ""
}

variable "ledger_s3_key" {
  description = "The ledger object's key in ledger_s3_bucket. One object per service: two services writing the same object would overwrite each other's records."
  type        = string
  default     = "autosub/ledger.json"

  validation {
    condition     = !startswith(var.ledger_s3_key, "/")
    error_message = "ledger_s3_key must not start with /."
  }
}

variable "ledger_deletion_protection" {
  description = "Deletion protection on the ledger table the module creates: the ledger is what tells autosub which triggers are its own to clean up."
  type        = bool
  default     = true
}

# ---- network and cluster ---------------------------------------------------------------------

variable "cluster_arn" {
  description = "ARN of an existing ECS cluster. Empty = create one."
  type        = string
  default     = ""
}

variable "subnet_ids" {
  description = "Subnets for the task. They need a route to the AWS APIs and the image registry: a NAT gateway, VPC endpoints, or public subnets with assign_public_ip."
  type        = list(string)
}

variable "security_group_ids" {
  description = "Security groups for the task. Empty = create one in vpc_id with no inbound rule and all outbound (the task only calls out; its health check runs inside the container)."
  type        = list(string)
  default     = []
}

variable "vpc_id" {
  description = "The VPC of subnet_ids; required when security_group_ids is empty."
  type        = string
  default     = ""
}

variable "assign_public_ip" {
  description = "Give the task a public IP: only for public subnets without a NAT gateway."
  type        = bool
  default     = false
}

# ---- logs ------------------------------------------------------------------------------------

variable "log_group_name" {
  description = "Log group of the container's JSON logs. Keep it in the configuration's loop_guard.log_groups (the example config guards /ecs/autosub)."
  type        = string
  default     = "/ecs/autosub"
}

variable "log_retention_days" {
  description = "Days CloudWatch Logs keeps the container's logs."
  type        = number
  default     = 30
}

# ---- fleet and lease -------------------------------------------------------------------------

variable "accounts" {
  description = "For a fleet: accounts to reconcile by assuming a role in each (fleet.accounts). role_arn defaults to arn:<partition>:iam::<id>:role/<member_role_name>, and the task role may assume exactly these roles, inside the organisation or not; regions overrides var.regions for the account. With accounts or organizations, the configuration is config_toml plus the rendered [fleet], stored in the module's own SSM SecureString."
  type = list(object({
    id       = string
    role_arn = optional(string)
    regions  = optional(list(string))
  }))
  default = []

  validation {
    condition     = alltrue([for a in var.accounts : can(regex("^\\d{12}$", a.id))])
    error_message = "Every accounts[].id must be a 12-digit account id."
  }
  validation {
    condition     = alltrue([for a in var.accounts : a.role_arn == null || can(regex("^arn:aws[a-z-]*:iam::${a.id}:role/.+$", a.role_arn))])
    error_message = "An accounts[].role_arn must be a role in that account (arn:<partition>:iam::<id>:role/<name>)."
  }
}

variable "organizations" {
  description = "For a fleet: find the accounts in AWS Organizations ([fleet.organizations]): under ous (ou-... or r-...; empty = all), carrying every tag in tags (\"*\" = any value), minus exclude_accounts. Grants the Organizations reads and sts:AssumeRole on member_role_name in any account of this organisation (aws:ResourceOrgID); run in the management account or a delegated administrator account. null = off."
  type = object({
    ous              = optional(list(string), [])
    tags             = optional(map(string), {})
    exclude_accounts = optional(list(string), [])
  })
  default = null
}

variable "member_role_name" {
  description = "The member role's name in every account (fleet.role_name; the fleet-member-role module's role_name)."
  type        = string
  default     = "autosub"

  validation {
    condition     = can(regex("^[\\w+=,.@-]{1,64}$", var.member_role_name))
    error_message = "member_role_name must be an IAM role name (1-64 letters, digits and +=,.@_-)."
  }
}

variable "external_id" {
  description = "The external id passed when assuming the member roles (fleet.external_id), which their trust policy requires. Stored only in the module's SSM SecureString."
  type        = string
  default     = null
  sensitive   = true

  validation {
    condition     = var.external_id == null || (length(coalesce(var.external_id, "-")) >= 2 && length(coalesce(var.external_id, "-")) <= 1224 && can(regex("^[\\w+=,.@:/-]+$", coalesce(var.external_id, "-"))))
    error_message = "external_id must be 2-1224 letters, digits and +=,.@:/_- (STS's rule)."
  }
}

variable "include_own_account" {
  description = "For a fleet: also reconcile this (the central) account with the task's own credentials (fleet.include_own_account), which attaches the reconcile policy to the task role. Without a fleet the policy is always attached."
  type        = bool
  default     = false
}

variable "lease_table" {
  description = "The target lease (AUTOSUB_LEASE_TABLE), which lets desired_count exceed 1 and deployments start the new task before stopping the old one. \"\" = no lease (one task); \"create\" = a new table <name>-lease; \"ledger\" = the ledger's DynamoDB table; otherwise the name of an existing table with string keys pk and sk. In this region, which must be the first of the configuration's regions."
  type        = string
  default     = ""

  validation {
    condition     = can(regex("^[\\w.-]{0,255}$", var.lease_table))
    error_message = "lease_table must be empty, create, ledger or a DynamoDB table name."
  }
}

# ---- event-driven mode -----------------------------------------------------------------------

variable "events_queue_url" {
  description = "Event-driven mode: the queue autosub run follows (the events-queue module's queue_url), passed as AUTOSUB_EVENTS_QUEUE_URL. The task role may receive, delete and hand back messages of that queue only (FollowEvents). \"\" = off."
  type        = string
  default     = ""

  validation {
    condition     = can(regex("^(https://sqs\\.[a-z0-9-]+\\.amazonaws\\.com(\\.cn)?/\\d{12}/[\\w-]{1,80})?$", var.events_queue_url))
    error_message = "events_queue_url must be empty or https://sqs.<region>.amazonaws.com/<account>/<queue name>."
  }
}
