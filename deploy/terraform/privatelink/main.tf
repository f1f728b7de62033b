# Datadog PrivateLink, same-region or cross-region over VPC peering (docs/privatelink.md).
# Check the result with `autosub doctor` from the VPC autosub and the Forwarder run in.

data "aws_region" "current" {}

locals {
  region   = data.aws_region.current.name
  services = { for s in var.services : s => s }
  # ap2 serves both logs intakes from one endpoint service: creating both would collide.
  ap2_logs_conflict = local.region == "ap-southeast-2" && contains(tolist(var.services), "logs_agent_intake") && contains(tolist(var.services), "logs_user_intake")
}

resource "aws_security_group" "endpoints" {
  name_prefix = "datadog-privatelink-"
  description = "Datadog PrivateLink endpoints, inbound TCP 443 from allowed_cidrs"
  vpc_id      = var.vpc_id
  tags        = var.tags

  lifecycle {
    precondition {
      condition     = contains(keys(local.endpoint_services), local.region)
      error_message = "Datadog PrivateLink endpoint services exist only in us-east-1 (datadoghq.com), ap-northeast-1 (ap1.datadoghq.com) and ap-southeast-2 (ap2.datadoghq.com); sites us3, us5, eu and gov do not offer PrivateLink. Use a provider in the site's region."
    }
    precondition {
      condition     = !local.ap2_logs_conflict
      error_message = "On ap2 both logs intakes are one endpoint service (gold.intake.ap2.datadoghq.com); choose only one of logs_agent_intake and logs_user_intake."
    }
  }
}

resource "aws_vpc_security_group_ingress_rule" "https" {
  for_each          = toset(var.allowed_cidrs)
  security_group_id = aws_security_group.endpoints.id
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = each.value
  description       = "HTTPS to the Datadog endpoints"
  tags              = var.tags
}

resource "aws_vpc_endpoint" "datadog" {
  for_each            = local.services
  vpc_id              = var.vpc_id
  vpc_endpoint_type   = "Interface"
  service_name        = "com.amazonaws.vpce.${local.region}.${local.endpoint_services[local.region][each.key]}"
  subnet_ids          = var.subnet_ids
  security_group_ids  = [aws_security_group.endpoints.id]
  private_dns_enabled = !var.cross_region
  tags                = merge(var.tags, { Name = "datadog-${each.key}" })
}

resource "aws_vpc_endpoint" "secretsmanager" {
  count               = var.secretsmanager_endpoint && !var.cross_region ? 1 : 0
  vpc_id              = var.vpc_id
  vpc_endpoint_type   = "Interface"
  service_name        = "com.amazonaws.${local.region}.secretsmanager"
  subnet_ids          = var.subnet_ids
  security_group_ids  = [aws_security_group.endpoints.id]
  private_dns_enabled = true
  tags                = merge(var.tags, { Name = "secretsmanager" })
}

resource "aws_route53_zone" "datadog" {
  for_each = var.cross_region ? local.services : {}
  name     = local.private_dns_names[local.region][each.key]
  comment  = "Datadog ${each.key} over PrivateLink, for peered VPCs"
  tags     = var.tags

  dynamic "vpc" {
    for_each = concat(
      var.associate_endpoint_vpc ? [{ vpc_id = var.vpc_id, region = local.region }] : [],
      var.associated_vpcs,
    )
    content {
      vpc_id     = vpc.value.vpc_id
      vpc_region = vpc.value.region
    }
  }
}

resource "aws_route53_record" "datadog" {
  for_each = aws_route53_zone.datadog
  zone_id  = each.value.zone_id
  name     = each.value.name
  type     = "A"

  alias {
    name                   = aws_vpc_endpoint.datadog[each.key].dns_entry[0].dns_name
    zone_id                = aws_vpc_endpoint.datadog[each.key].dns_entry[0].hosted_zone_id
    evaluate_target_health = false
  }
}
