output "role_arn" {
  description = "The member role; the central autosub assumes it as arn:<partition>:iam::<account>:role/<role_name>."
  value       = aws_iam_role.member.arn
}

output "role_name" {
  description = "The member role's name (fleet.role_name)."
  value       = aws_iam_role.member.name
}
