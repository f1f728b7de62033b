# The autosub member role for one account: the same trust and policy as
# deploy/cloudformation/fleet-member-role.yaml. Instantiate it once per member account with that
# account's provider (see docs/fleet.md).

data "aws_partition" "current" {}
data "aws_caller_identity" "current" {}

locals {
  partition  = data.aws_partition.current.partition
  account_id = data.aws_caller_identity.current.account_id

  # The policy is `autosub iam-policy --role member --all` statement for statement (conditions
  # included), kept in member-policy.json so that tests/it/deploy.rs can compare it with the
  # binary's output. The statements the generated policy scopes carry a placeholder Resource
  # there; it is replaced here (scoped to this account), and a placeholder that survives fails
  # the plan instead of widening a grant.
  scoped_resources = {
    ManageSubscriptionFilters  = ["arn:${local.partition}:logs:*:${local.account_id}:log-group:*"]
    ReadForwarderPolicies      = ["arn:${local.partition}:lambda:*:${local.account_id}:function:${var.forwarder_function_name}"]
    ManageForwarderPermissions = ["arn:${local.partition}:lambda:*:${local.account_id}:function:${var.forwarder_function_name}"]
  }
  member_policy = {
    Version = "2012-10-17"
    Statement = [
      for s in jsondecode(file("${path.module}/member-policy.json")).Statement :
      merge(s, { Resource = try(local.scoped_resources[s.Sid], s.Resource) })
    ]
  }

  # Only the central task roles, never an account's root, and only with the external id. A role
  # ARN principal is kept by IAM as the role's unique id: a re-created central role is not
  # trusted until this is applied again.
  trust = {
    Version = "2012-10-17"
    Statement = [{
      Sid       = "CentralAutosubOnly"
      Effect    = "Allow"
      Principal = { AWS = var.central_role_arns }
      Action    = "sts:AssumeRole"
      Condition = { StringEquals = { "sts:ExternalId" = var.external_id } }
    }]
  }
}

resource "aws_iam_role" "member" {
  name                 = var.role_name
  description          = "autosub member role (discovery and trigger backends; assumed by the central autosub)"
  assume_role_policy   = jsonencode(local.trust)
  max_session_duration = 3600
  tags                 = var.tags
}

resource "aws_iam_role_policy" "member" {
  name   = "autosub-member"
  role   = aws_iam_role.member.id
  policy = jsonencode(local.member_policy)

  lifecycle {
    precondition {
      # Not on jsonencode's output: it writes "<" as \u003c.
      condition     = !anytrue([for r in flatten(local.member_policy.Statement[*].Resource) : strcontains(r, "<")])
      error_message = "member-policy.json has a statement with a placeholder Resource that main.tf does not scope (local.scoped_resources)."
    }
  }
}
