output "queue_url" {
  description = "The configuration's events.queue_url (AUTOSUB_EVENTS_QUEUE_URL; the ecs-service module's events_queue_url)."
  value       = aws_sqs_queue.events.url
}

output "queue_arn" {
  description = "The queue autosub follows (the FollowEvents statement of autosub iam-policy)."
  value       = aws_sqs_queue.events.arn
}

output "dead_letter_queue_url" {
  description = "Where unreadable and repeatedly failing messages end up."
  value       = aws_sqs_queue.dead_letter.url
}

output "dead_letter_queue_arn" {
  description = "The dead-letter queue's ARN."
  value       = aws_sqs_queue.dead_letter.arn
}

output "event_bus_arn" {
  description = "The bus the member rules forward to (the events-member module's event_bus_arn)."
  value       = local.event_bus_arn
}

output "rule_arn" {
  description = "The central rule, the only sender the queue policy allows."
  value       = aws_cloudwatch_event_rule.central.arn
}
