# autosub event-driven mode, the central part: the same resources as
# deploy/cloudformation/events-queue.yaml. Apply it in the central account (where autosub runs),
# with a provider in the queue's region. See docs/events.md, "Deploy".

data "aws_partition" "current" {}
data "aws_region" "current" {}
data "aws_caller_identity" "current" {}

locals {
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.region
  account_id = data.aws_caller_identity.current.account_id

  # The bus the member rules (the events-member module) forward to.
  event_bus_arn = "arn:${local.partition}:events:${local.region}:${local.account_id}:event-bus/default"
}

# Where a message that cannot be read, or whose target keeps failing, ends up; kept for the
# longest time SQS allows, to be looked at (and redriven) by hand.
resource "aws_sqs_queue" "dead_letter" {
  name                      = "${var.queue_name}-dlq"
  sqs_managed_sse_enabled   = true
  message_retention_seconds = 1209600
  tags                      = var.tags
}

# The queue autosub follows. SQS-managed SSE: EventBridge can send to it without a KMS key
# policy. Long polling by default, as autosub receives; autosub sets each message's visibility
# itself (hidden 60 s, renewed while its pass runs), so the queue's default is not used.
resource "aws_sqs_queue" "events" {
  name                      = var.queue_name
  sqs_managed_sse_enabled   = true
  message_retention_seconds = var.message_retention_seconds
  receive_wait_time_seconds = 20
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.dead_letter.arn
    maxReceiveCount     = var.max_receive_count
  })
  tags = var.tags
}

# Only this module's queue may dead-letter into the dead-letter queue.
resource "aws_sqs_queue_redrive_allow_policy" "dead_letter" {
  queue_url = aws_sqs_queue.dead_letter.id
  redrive_allow_policy = jsonencode({
    redrivePermission = "byQueue"
    sourceQueueArns   = [aws_sqs_queue.events.arn]
  })
}

# EventBridge may send to the queue only from the central rule; nobody may use it without TLS.
resource "aws_sqs_queue_policy" "events" {
  queue_url = aws_sqs_queue.events.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "CentralRuleOnly"
        Effect    = "Allow"
        Principal = { Service = "events.amazonaws.com" }
        Action    = "sqs:SendMessage"
        Resource  = aws_sqs_queue.events.arn
        Condition = { ArnEquals = { "aws:SourceArn" = aws_cloudwatch_event_rule.central.arn } }
      },
      {
        Sid       = "TlsOnly"
        Effect    = "Deny"
        Principal = "*"
        Action    = "sqs:*"
        Resource  = aws_sqs_queue.events.arn
        Condition = { Bool = { "aws:SecureTransport" = "false" } }
      },
    ]
  })
}

# The one rule that reaches the queue: on this account's default bus, where this account's own
# events in this region arrive and where the member rules forward theirs. rule-pattern.json is
# autosub_core::cloudtrail::rule_pattern of every service (tests/it/deploy.rs compares them).
resource "aws_cloudwatch_event_rule" "central" {
  name           = "autosub-log-source-changes"
  description    = "CloudTrail events of log sources and triggers, to the autosub queue (docs/events.md)"
  event_bus_name = "default"
  event_pattern  = file("${path.module}/rule-pattern.json")
  state          = "ENABLED"
  tags           = var.tags
}

resource "aws_cloudwatch_event_target" "queue" {
  rule           = aws_cloudwatch_event_rule.central.name
  event_bus_name = "default"
  target_id      = "autosub-queue"
  arn            = aws_sqs_queue.events.arn
}

# Lets the member rules forward: every account of the organisation, and the accounts listed.
# Each is a statement of its own in the default bus's policy (other statements stay).
resource "aws_cloudwatch_event_permission" "organization" {
  count          = var.organization_id == "" ? 0 : 1
  event_bus_name = "default"
  statement_id   = "autosub-organization"
  action         = "events:PutEvents"
  principal      = "*"

  condition {
    key   = "aws:PrincipalOrgID"
    type  = "StringEquals"
    value = var.organization_id
  }
}

resource "aws_cloudwatch_event_permission" "account" {
  for_each       = toset(var.account_ids)
  event_bus_name = "default"
  statement_id   = "autosub-account-${each.key}"
  action         = "events:PutEvents"
  principal      = each.key
}
