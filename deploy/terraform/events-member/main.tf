# autosub event-driven mode in one account: the same rule and role as
# deploy/cloudformation/events-member.yaml, in every region of var.regions (the provider's
# per-resource region). Instantiate it once per member account with that account's provider, and
# once in the central account for its other regions. See docs/events.md, "Deploy".

data "aws_caller_identity" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id

  bus_region  = split(":", var.event_bus_arn)[3]
  bus_account = split(":", var.event_bus_arn)[4]
  # In the central account's queue region the central rule (same name, same bus) sends to the
  # queue itself; a second rule there would only collide with it.
  forwarding_regions = toset([
    for r in var.regions : r if !(local.account_id == local.bus_account && r == local.bus_region)
  ])
}

# What EventBridge assumes to deliver to the bus of another account or region (such a target
# needs a role in the sending account); one role serves every region (IAM is global).
resource "aws_iam_role" "forwarding" {
  count       = length(local.forwarding_regions) > 0 ? 1 : 0
  name_prefix = var.role_name_prefix
  description = "EventBridge forwards autosub's CloudTrail events to the central event bus"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "events.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })
  tags = var.tags
}

resource "aws_iam_role_policy" "forwarding" {
  count = length(aws_iam_role.forwarding)
  name  = "put-events-on-the-central-bus"
  role  = aws_iam_role.forwarding[0].id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid      = "PutEventsOnTheCentralBus"
      Effect   = "Allow"
      Action   = "events:PutEvents"
      Resource = var.event_bus_arn
    }]
  })
}

# rule-pattern.json is autosub_core::cloudtrail::rule_pattern of every service, as the central
# rule's (tests/it/deploy.rs compares them).
resource "aws_cloudwatch_event_rule" "forward" {
  for_each       = local.forwarding_regions
  region         = each.key
  name           = "autosub-log-source-changes"
  description    = "CloudTrail events of log sources and triggers, to the central autosub event bus (docs/events.md)"
  event_bus_name = "default"
  event_pattern  = file("${path.module}/rule-pattern.json")
  state          = "ENABLED"
  tags           = var.tags
}

resource "aws_cloudwatch_event_target" "central_bus" {
  for_each       = local.forwarding_regions
  region         = each.key
  rule           = aws_cloudwatch_event_rule.forward[each.key].name
  event_bus_name = "default"
  target_id      = "autosub-central-bus"
  arn            = var.event_bus_arn
  role_arn       = aws_iam_role.forwarding[0].arn

  # The role must be able to put events before the first one is delivered.
  depends_on = [aws_iam_role_policy.forwarding]
}
