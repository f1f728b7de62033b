output "rule_arns" {
  description = "The forwarding rule of each region, by region."
  value       = { for r, rule in aws_cloudwatch_event_rule.forward : r => rule.arn }
}

output "role_arn" {
  description = "The role EventBridge delivers to the central bus with (null when no region forwards)."
  value       = one(aws_iam_role.forwarding[*].arn)
}
