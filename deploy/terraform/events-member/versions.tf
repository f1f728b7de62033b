terraform {
  required_version = ">= 1.5"

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # v6: the per-resource `region` argument puts one rule in each region from one provider.
      version = ">= 6.0"
    }
  }
}
