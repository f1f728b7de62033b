# autosub as a long-lived ECS Fargate service: the same resources as
# deploy/cloudformation/ecs-service.yaml. See docs/deploy-ecs.md.

data "aws_partition" "current" {}
data "aws_region" "current" {}
data "aws_caller_identity" "current" {}

locals {
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.region
  account_id = data.aws_caller_identity.current.account_id

  create_cluster        = var.cluster_arn == ""
  cluster_arn           = local.create_cluster ? aws_ecs_cluster.this[0].arn : var.cluster_arn
  create_security_group = length(var.security_group_ids) == 0
  security_group_ids    = local.create_security_group ? [aws_security_group.task[0].id] : var.security_group_ids

  use_s3_ledger       = var.ledger_s3_bucket != ""
  create_ledger_table = var.ledger_table == "" && !local.use_s3_ledger
  ledger_table_name   = local.create_ledger_table ? aws_dynamodb_table.ledger[0].name : var.ledger_table
  ledger_table_arn    = local.create_ledger_table ? aws_dynamodb_table.ledger[0].arn : "arn:${local.partition}:dynamodb:${local.region}:${local.account_id}:table/${var.ledger_table}"
  ledger_uri          = local.use_s3_ledger ? "s3://${var.ledger_s3_bucket}/${var.ledger_s3_key}" : "dynamodb://${local.ledger_table_name}"

  # ---- the fleet: the central role assumes the member roles (deploy/terraform/fleet-member-role)
  is_fleet = length(var.accounts) > 0 || var.organizations != null
  # Without a fleet the task reconciles its own account; in a fleet only with include_own_account.
  attach_reconcile_policy = !local.is_fleet || var.include_own_account

  # The same roles `autosub iam-policy --role central` grants: the roles of the listed accounts
  # (each one's role_arn, else the role name in it; they may be outside the organisation), and,
  # when Organizations finds the accounts, the role name in any account of this organisation
  # (AssumeOrganizationMemberRoles, under its aws:ResourceOrgID condition).
  listed_member_role_arns = distinct([
    for a in var.accounts : coalesce(a.role_arn, "arn:${local.partition}:iam::${a.id}:role/${var.member_role_name}")
  ])
  organization_member_role_arns = ["arn:${local.partition}:iam::*:role/${var.member_role_name}"]

  # [fleet] rendered from the variables, appended to config_toml and stored in the module's own
  # SSM SecureString (it carries the external id); regions, ledger and lease go by environment.
  fleet_toml = join("\n", concat(
    [
      "",
      "# Written by the ecs-service Terraform module from its fleet variables.",
      "[fleet]",
      "role_name = ${jsonencode(var.member_role_name)}",
      "include_own_account = ${var.include_own_account}",
    ],
    var.external_id == null ? [] : ["external_id = ${jsonencode(var.external_id)}"],
    flatten([for a in var.accounts : concat(
      ["", "[[fleet.accounts]]", "id = ${jsonencode(a.id)}"],
      a.role_arn == null ? [] : ["role_arn = ${jsonencode(a.role_arn)}"],
      a.regions == null ? [] : ["regions = ${jsonencode(a.regions)}"],
    )]),
    var.organizations == null ? [] : [
      "",
      "[fleet.organizations]",
      "ous = ${jsonencode(var.organizations.ous)}",
      "exclude_accounts = ${jsonencode(var.organizations.exclude_accounts)}",
      length(var.organizations.tags) == 0 ? "tags = {}" : "tags = { ${join(", ", [for k, v in var.organizations.tags : "${jsonencode(k)} = ${jsonencode(v)}"])} }",
    ],
    [""],
  ))

  # ---- the lease: lets replicas (desired_count > 1) and rolling deployments never fight --------
  has_lease          = var.lease_table != ""
  create_lease_table = var.lease_table == "create"
  lease_is_ledger    = var.lease_table == "ledger"
  lease_table_name   = local.create_lease_table ? aws_dynamodb_table.lease[0].name : local.lease_is_ledger ? local.ledger_table_name : var.lease_table
  lease_table_arn    = local.create_lease_table ? aws_dynamodb_table.lease[0].arn : local.lease_is_ledger ? local.ledger_table_arn : "arn:${local.partition}:dynamodb:${local.region}:${local.account_id}:table/${var.lease_table}"

  # ---- event-driven mode: the queue autosub follows (deploy/terraform/events-queue) -----------
  # Its ARN from its URL, https://sqs.<region>.amazonaws.com/<account>/<name> (validated).
  follow_events = var.events_queue_url != ""
  events_queue_arn = join(":", concat(
    ["arn", local.partition, "sqs"],
    try(regex("^https://sqs\\.([a-z0-9-]+)\\.amazonaws\\.com(?:\\.cn)?/(\\d{12})/([\\w-]{1,80})$", var.events_queue_url), ["", "", ""]),
  ))

  # `autosub iam-policy --role central` besides the ledger, kept in central-policy.json (compared
  # with the binary's output by tests/it/deploy.rs): each statement only when it is needed, with
  # its placeholder Resource replaced.
  central_resources = {
    AssumeMemberRoles             = local.listed_member_role_arns
    AssumeOrganizationMemberRoles = local.organization_member_role_arns
    HoldTargetLeases              = [local.lease_table_arn]
    FollowEvents                  = [local.events_queue_arn]
  }
  central_sids = concat(
    length(var.accounts) > 0 ? ["AssumeMemberRoles"] : [],
    var.organizations != null ? ["AssumeOrganizationMemberRoles"] : [],
    var.organizations != null ? ["DiscoverOrganizationAccounts"] : [],
    local.has_lease ? ["HoldTargetLeases"] : [],
    local.follow_events ? ["FollowEvents"] : [],
  )
  central_policy = {
    Version = "2012-10-17"
    Statement = [
      for s in jsondecode(file("${path.module}/central-policy.json")).Statement :
      merge(s, { Resource = try(local.central_resources[s.Sid], s.Resource) })
      if contains(local.central_sids, s.Sid)
    ]
  }

  # ---- the configuration: the user's parameter, or the module's own for a fleet --------------
  render_config    = local.is_fleet
  use_ssm_config   = var.config_ssm_parameter != "" || local.render_config
  config_parameter = local.render_config ? aws_ssm_parameter.config[0].arn : var.config_ssm_parameter
  # ECS takes a name (same region) or an ARN; IAM needs the ARN.
  config_parameter_arn = startswith(local.config_parameter, "arn:") ? local.config_parameter : "arn:${local.partition}:ssm:${local.region}:${local.account_id}:parameter/${trimprefix(local.config_parameter, "/")}"

  # The reconcile policy is `autosub iam-policy --all` statement for statement (conditions
  # included), kept in reconcile-policy.json so that tests/it/deploy.rs can compare it with the
  # binary's output. The statements the generated policy scopes carry a placeholder Resource
  # there; it is replaced here (this account's log groups, the forwarders), and a placeholder
  # that survives fails the plan (see the precondition below) instead of widening a grant.
  scoped_resources = {
    ManageSubscriptionFilters  = ["arn:${local.partition}:logs:*:${local.account_id}:log-group:*"]
    ReadForwarderPolicies      = var.forwarder_arns
    ManageForwarderPermissions = var.forwarder_arns
  }
  reconcile_policy = {
    Version = "2012-10-17"
    Statement = [
      for s in jsondecode(file("${path.module}/reconcile-policy.json")).Statement :
      merge(s, { Resource = try(local.scoped_resources[s.Sid], s.Resource) })
    ]
  }

  ecs_tasks_trust = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "ecs-tasks.amazonaws.com" }
      Action    = "sts:AssumeRole"
      Condition = {
        StringEquals = { "aws:SourceAccount" = local.account_id }
        ArnLike      = { "aws:SourceArn" = "arn:${local.partition}:ecs:${local.region}:${local.account_id}:*" }
      }
    }]
  })

  container_port = 8080
  environment = concat(
    [
      { name = "AUTOSUB_LISTEN", value = "0.0.0.0:${local.container_port}" },
      { name = "AUTOSUB_LOG", value = var.log_level },
      { name = "AUTOSUB_LEDGER", value = local.ledger_uri },
    ],
    local.has_lease ? [{ name = "AUTOSUB_LEASE_TABLE", value = local.lease_table_name }] : [],
    var.schedule == "" ? [] : [{ name = "AUTOSUB_SCHEDULE", value = var.schedule }],
    length(var.regions) == 0 ? [] : [{ name = "AUTOSUB_REGIONS", value = join(",", var.regions) }],
    var.config_toml == "" || local.render_config ? [] : [{ name = "AUTOSUB_CONFIG_TOML", value = var.config_toml }],
    local.follow_events ? [{ name = "AUTOSUB_EVENTS_QUEUE_URL", value = var.events_queue_url }] : [],
  )
  secrets = local.use_ssm_config ? [{ name = "AUTOSUB_CONFIG_TOML", valueFrom = local.config_parameter }] : []
}

resource "aws_ecs_cluster" "this" {
  count = local.create_cluster ? 1 : 0
  name  = var.name
  tags  = var.tags
}

resource "aws_security_group" "task" {
  count       = local.create_security_group ? 1 : 0
  name_prefix = "${var.name}-task-"
  description = "autosub task - no inbound, outbound to the AWS APIs and the registry"
  vpc_id      = var.vpc_id
  tags        = var.tags

  lifecycle {
    create_before_destroy = true
    precondition {
      condition     = var.vpc_id != ""
      error_message = "vpc_id is required to create the security group when security_group_ids is empty."
    }
  }
}

resource "aws_vpc_security_group_egress_rule" "task_all" {
  count             = local.create_security_group ? 1 : 0
  security_group_id = aws_security_group.task[0].id
  description       = "AWS APIs (HTTPS), the image registry, DNS"
  ip_protocol       = "-1"
  cidr_ipv4         = "0.0.0.0/0"
}

resource "aws_cloudwatch_log_group" "this" {
  name              = var.log_group_name
  retention_in_days = var.log_retention_days
  tags              = var.tags
}

# The durable record of the triggers autosub created; it tells autosub later which triggers are
# its own to clean up, hence the deletion protection.
resource "aws_dynamodb_table" "ledger" {
  count                       = local.create_ledger_table ? 1 : 0
  name                        = "${var.name}-ledger"
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "pk"
  range_key                   = "sk"
  deletion_protection_enabled = var.ledger_deletion_protection
  tags                        = var.tags

  attribute {
    name = "pk"
    type = "S"
  }
  attribute {
    name = "sk"
    type = "S"
  }
  point_in_time_recovery {
    enabled = true
  }
}

# The target leases: short-lived items, nothing worth protecting.
resource "aws_dynamodb_table" "lease" {
  count        = local.create_lease_table ? 1 : 0
  name         = "${var.name}-lease"
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "pk"
  range_key    = "sk"
  tags         = var.tags

  attribute {
    name = "pk"
    type = "S"
  }
  attribute {
    name = "sk"
    type = "S"
  }
}

# For a fleet: config_toml plus the rendered [fleet], which holds the external id, hence a
# SecureString (the aws/ssm key, which the execution role may use without a grant).
resource "aws_ssm_parameter" "config" {
  count       = local.render_config ? 1 : 0
  name        = "/${var.name}/config"
  description = "autosub configuration (config_toml and the module's fleet variables)"
  type        = "SecureString"
  value       = "${var.config_toml}\n${local.fleet_toml}"
  tags        = var.tags

  lifecycle {
    precondition {
      condition     = var.config_ssm_parameter == "" && var.config_toml != ""
      error_message = "With accounts or organizations, pass the configuration as config_toml (not config_ssm_parameter): the module stores it with the rendered [fleet] in its own SSM parameter."
    }
    precondition {
      condition     = !can(regex("(?m)^\\s*\\[\\[?\\s*fleet[\\].]", var.config_toml))
      error_message = "Leave [fleet] out of config_toml: the module writes it from accounts, organizations, member_role_name, external_id and include_own_account."
    }
  }
}

# ---- what ECS itself needs to start the task: pull the image, write logs, read the config ------

resource "aws_iam_role" "execution" {
  name_prefix        = "${var.name}-exec-"
  description        = "autosub task execution role (image pull, logs, configuration parameter)"
  assume_role_policy = local.ecs_tasks_trust
  tags               = var.tags
}

resource "aws_iam_role_policy_attachment" "execution" {
  role       = aws_iam_role.execution.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
}

resource "aws_iam_role_policy" "read_config" {
  count = local.use_ssm_config ? 1 : 0
  name  = "read-config"
  role  = aws_iam_role.execution.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = concat(
      [{
        Sid      = "ReadConfigParameter"
        Effect   = "Allow"
        Action   = "ssm:GetParameters"
        Resource = local.config_parameter_arn
      }],
      var.config_kms_key_arn == "" ? [] : [{
        Sid      = "DecryptConfigParameter"
        Effect   = "Allow"
        Action   = "kms:Decrypt"
        Resource = var.config_kms_key_arn
      }],
    )
  })
}

# ---- what autosub itself calls: the reconcile policy and the ledger policy ---------------------

resource "aws_iam_role" "task" {
  name_prefix        = "${var.name}-task-"
  description        = "autosub task role (reconcile, ledger and central policies)"
  assume_role_policy = local.ecs_tasks_trust
  tags               = var.tags
}

resource "aws_iam_policy" "reconcile" {
  name_prefix = "${var.name}-reconcile-"
  description = "autosub reconcile policy (autosub iam-policy --all)"
  policy      = jsonencode(local.reconcile_policy)
  tags        = var.tags

  lifecycle {
    precondition {
      # Not on jsonencode's output: it writes "<" as \u003c.
      condition     = !anytrue([for r in flatten(local.reconcile_policy.Statement[*].Resource) : strcontains(r, "<")])
      error_message = "reconcile-policy.json has a statement with a placeholder Resource that main.tf does not scope (local.scoped_resources)."
    }
  }
}

resource "aws_iam_role_policy_attachment" "reconcile" {
  count      = local.attach_reconcile_policy ? 1 : 0
  role       = aws_iam_role.task.name
  policy_arn = aws_iam_policy.reconcile.arn
}

# Apart from the reconcile policy: it depends on where the ledger lives, not on what autosub
# reconciles. The two documents are encoded separately (their statements differ in shape).
resource "aws_iam_role_policy" "ledger" {
  name = "autosub-ledger"
  role = aws_iam_role.task.id
  policy = local.use_s3_ledger ? jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid      = "LedgerObject"
        Effect   = "Allow"
        Action   = ["s3:GetObject", "s3:PutObject"]
        Resource = "arn:${local.partition}:s3:::${var.ledger_s3_bucket}/${var.ledger_s3_key}"
      },
      # Without s3:ListBucket a missing object reads as 403 AccessDenied instead of 404
      # NoSuchKey, so a first start (no ledger yet) would look like a permission error.
      {
        Sid       = "LedgerObjectExists"
        Effect    = "Allow"
        Action    = "s3:ListBucket"
        Resource  = "arn:${local.partition}:s3:::${var.ledger_s3_bucket}"
        Condition = { StringEquals = { "s3:prefix" = var.ledger_s3_key } }
      },
    ]
    }) : jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid      = "LedgerTable"
      Effect   = "Allow"
      Action   = ["dynamodb:BatchWriteItem", "dynamodb:Query"]
      Resource = local.ledger_table_arn
    }]
  })

  lifecycle {
    precondition {
      condition     = var.ledger_table == "" || var.ledger_s3_bucket == ""
      error_message = "Set at most one of ledger_table and ledger_s3_bucket."
    }
  }
}

# The fleet, the lease and the events queue: assuming the member roles, listing the
# organisation's accounts, holding target leases, following the queue (`autosub iam-policy
# --role central`, the ledger aside).
resource "aws_iam_role_policy" "central" {
  count  = length(local.central_sids) > 0 ? 1 : 0
  name   = "autosub-central"
  role   = aws_iam_role.task.id
  policy = jsonencode(local.central_policy)

  lifecycle {
    precondition {
      condition     = !anytrue([for r in flatten(local.central_policy.Statement[*].Resource) : strcontains(r, "<")])
      error_message = "central-policy.json has a statement with a placeholder Resource that main.tf does not replace (local.central_resources)."
    }
    precondition {
      condition     = !local.lease_is_ledger || !local.use_s3_ledger
      error_message = "lease_table = \"ledger\" needs the ledger in DynamoDB (ledger_s3_bucket empty)."
    }
  }
}

# ---- the task and the service ------------------------------------------------------------------

resource "aws_ecs_task_definition" "this" {
  family                   = var.name
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.cpu
  memory                   = var.memory
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.task.arn
  tags                     = var.tags

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = var.cpu_architecture
  }

  container_definitions = jsonencode([{
    name      = "autosub"
    image     = var.image
    essential = true
    command   = ["run"]
    # The image has no shell and autosub writes nothing to disk (the ledger is remote).
    readonlyRootFilesystem = true
    portMappings           = [{ name = "http", containerPort = local.container_port, protocol = "tcp" }]
    environment            = local.environment
    secrets                = local.secrets
    # The binary is its own probe (the image has no curl): it GETs /healthz on
    # AUTOSUB_LISTEN's port and exits 0 or 1.
    healthCheck = {
      command     = ["CMD", "/usr/local/bin/autosub", "healthcheck"]
      interval    = 30
      timeout     = 5
      retries     = 3
      startPeriod = 60
    }
    # On SIGTERM autosub finishes the change in flight and exits within ~25 s.
    stopTimeout = 30
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.this.name
        awslogs-region        = local.region
        awslogs-stream-prefix = "autosub"
      }
    }
  }])

  lifecycle {
    precondition {
      condition     = (var.config_ssm_parameter == "") != (var.config_toml == "")
      error_message = "Set exactly one of config_ssm_parameter (recommended) and config_toml."
    }
  }
}

resource "aws_ecs_service" "this" {
  name             = var.name
  cluster          = local.cluster_arn
  task_definition  = aws_ecs_task_definition.this.arn
  desired_count    = var.desired_count
  launch_type      = "FARGATE"
  platform_version = "LATEST"
  # Without a lease, stop the old task before starting the new one: two tasks must never
  # reconcile at the same time. With one, roll: the new tasks start first and wait for the
  # leases the old ones hold to be released or to expire.
  deployment_minimum_healthy_percent = local.has_lease ? 100 : 0
  deployment_maximum_percent         = local.has_lease ? 200 : 100
  enable_ecs_managed_tags            = true
  propagate_tags                     = "SERVICE"
  tags                               = var.tags

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  network_configuration {
    subnets          = var.subnet_ids
    security_groups  = local.security_group_ids
    assign_public_ip = var.assign_public_ip
  }

  # The task must be able to reach its ledger, lease, member roles, queue and AWS from its first
  # pass.
  depends_on = [aws_iam_role_policy.ledger, aws_iam_role_policy.central, aws_iam_role_policy_attachment.reconcile]

  lifecycle {
    precondition {
      condition     = var.desired_count <= 1 || local.has_lease
      error_message = "desired_count above 1 needs lease_table: without a lease two tasks would reconcile the same targets."
    }
  }
}
