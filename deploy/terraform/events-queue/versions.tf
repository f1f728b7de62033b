terraform {
  required_version = ">= 1.5"

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # v6: `data.aws_region.*.region` (v5's `name` is deprecated there).
      version = ">= 6.0"
    }
  }
}
