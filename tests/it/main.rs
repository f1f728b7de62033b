//! The one integration test binary: the AWS layer, discoverers and trigger backends against moto,
//! and the built CLI end to end.

mod audit;
mod aws;
mod backends;
mod calls;
mod daemon;
mod deploy;
mod discover;
mod discover_api_gateway;
mod discover_cloudfront;
mod discover_cloudtrail;
mod discover_elb;
mod discover_elbv2;
mod discover_redshift;
mod discover_step_functions;
mod discover_vpc_flow_logs;
mod discover_wafv2;
mod docs;
mod doctor_events;
mod e2e;
mod events;
mod events_burst;
mod faults;
mod fleet;
#[path = "../support/in_process_daemon.rs"]
mod in_process_daemon;
mod layering;
mod lease;
mod ledger_stores;
mod migration;
mod on_fake;
mod organizations;
mod privatelink;
mod registry;
mod support;
