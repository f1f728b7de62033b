output "site" {
  description = "The Datadog site these endpoints serve (datadog.site in autosub.toml)."
  value       = local.sites[local.region]
}

output "endpoint_ids" {
  description = "The endpoint id of each Datadog service."
  value       = { for k, e in aws_vpc_endpoint.datadog : k => e.id }
}

output "private_dns_names" {
  description = "The name each endpoint answers for; `autosub doctor` resolves these."
  value       = { for k in keys(local.services) : k => local.private_dns_names[local.region][k] }
}

output "security_group_id" {
  description = "The endpoints' security group."
  value       = aws_security_group.endpoints.id
}
