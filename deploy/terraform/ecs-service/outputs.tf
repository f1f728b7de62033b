output "cluster_arn" {
  description = "The cluster the service runs in."
  value       = local.cluster_arn
}

output "service_arn" {
  description = "The autosub ECS service."
  value       = aws_ecs_service.this.id
}

output "service_name" {
  description = "The service's name (aws ecs update-service --force-new-deployment ...)."
  value       = aws_ecs_service.this.name
}

output "task_definition_arn" {
  description = "The task definition revision this module deployed."
  value       = aws_ecs_task_definition.this.arn
}

output "task_role_arn" {
  description = "The role autosub runs as (reconcile, ledger and central policies): the fleet-member-role module's central_role_arns (and fleet-stackset.yaml's CentralRoleArns)."
  value       = aws_iam_role.task.arn
}

output "lease_table" {
  description = "AUTOSUB_LEASE_TABLE as the task sees it (null without a lease)."
  value       = local.has_lease ? local.lease_table_name : null
}

output "execution_role_arn" {
  description = "The role ECS starts the task with."
  value       = aws_iam_role.execution.arn
}

output "reconcile_policy_arn" {
  description = "The managed reconcile policy, to attach elsewhere (e.g. a CI role running autosub plan)."
  value       = aws_iam_policy.reconcile.arn
}

output "log_group_name" {
  description = "Where the container's JSON logs go (keep it in loop_guard.log_groups)."
  value       = aws_cloudwatch_log_group.this.name
}

output "ledger" {
  description = "AUTOSUB_LEDGER as the task sees it."
  value       = local.ledger_uri
}

output "security_group_id" {
  description = "The security group the module created for the task (null when security_group_ids was given)."
  value       = local.create_security_group ? aws_security_group.task[0].id : null
}
