//! Per-service slices of the demo estate, seeded by `seed_demo_estate`.

pub mod api_gateway;
pub mod cloudfront;
pub mod elb;
pub mod elbv2;
pub mod redshift;
pub mod step_functions;
pub mod wafv2;
