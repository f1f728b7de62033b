variable "vpc_id" {
  description = "The VPC that holds the endpoints, in the Datadog site's region (the provider's region)."
  type        = string
}

variable "subnet_ids" {
  description = "Subnets for the endpoint network interfaces, one per availability zone."
  type        = list(string)
}

variable "allowed_cidrs" {
  description = "CIDR blocks allowed to connect to the endpoints on TCP 443 (this VPC's and, cross-region, every peered VPC's)."
  type        = list(string)
}

variable "services" {
  description = "Datadog services to create endpoints for (the names of datadog.privatelink.services in autosub.toml)."
  type        = set(string)
  default     = ["logs_user_intake", "api"]
  validation {
    condition = alltrue([for s in var.services : contains([
      "logs_agent_intake", "logs_user_intake", "api", "metrics", "containers", "process",
      "profiling", "traces", "database_monitoring", "remote_configuration",
    ], s)])
    error_message = "Each service must be one of logs_agent_intake, logs_user_intake, api, metrics, containers, process, profiling, traces, database_monitoring, remote_configuration."
  }
}

variable "cross_region" {
  description = "false: endpoints with private DNS for this VPC (same region). true: endpoints without private DNS and one private hosted zone per service name, associated with associated_vpcs (VPCs in other regions over peering)."
  type        = bool
  default     = false
}

variable "associated_vpcs" {
  description = "Cross-region only: the VPCs (usually peered, in other regions) whose resolvers answer the service names with the endpoints' private addresses."
  type = list(object({
    vpc_id = string
    region = string
  }))
  default = []
}

variable "associate_endpoint_vpc" {
  description = "Cross-region only: also associate the private hosted zones with vpc_id (its endpoints have no private DNS)."
  type        = bool
  default     = true
}

variable "secretsmanager_endpoint" {
  description = "Same region only: also create a Secrets Manager endpoint (private DNS) for DD_API_KEY_SECRET_ARN secrets in this region."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
