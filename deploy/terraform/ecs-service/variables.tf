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
  description = "Running tasks: 1, or 0 to pause. Two replicas would reconcile the same estate at once; that needs the lease of issue 5, so the module refuses more than 1 until then."
  type        = number
  default     = 1

  validation {
    condition     = contains([0, 1], var.desired_count)
    error_message = "desired_count must be 0 or 1 until autosub has a lease (issue 5)."
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
  description = "AUTOSUB_REGIONS: the regions to reconcile. Empty = the configuration's."
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
  description = "The forwarder Lambda ARNs the task may change the resource policy of: the Resource list of the ManageForwarderPermissions statement that `autosub iam-policy` prints for your configuration (a forwarder configured by name is arn:aws:lambda:<region>:*:function:<name>)."
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
