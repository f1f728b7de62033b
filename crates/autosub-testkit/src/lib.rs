//! Dev-only test support for autosub: a `moto_server` launcher, estate seeders, and an
//! in-memory fake AWS with quotas and fault injection ([`fake`]).
//!
//! Never a dependency of production crates. Typical use in a test:
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let moto = autosub_testkit::MotoServer::start()?;
//! let sdk = moto.sdk_config("us-east-1");
//! let estate = autosub_testkit::seed_demo_estate(&sdk, autosub_testkit::MOTO_DEFAULT_ACCOUNT).await?;
//! assert_eq!(estate.forwarder_name, "datadog-forwarder");
//! # Ok(()) }
//! ```
//!
//! The demo estate (account 123456789012 unless told otherwise):
//! - us-east-1 functions `datadog-forwarder` (resource policy grants `logs.amazonaws.com` for
//!   `log-group:*:*`, no s3 grant), `checkout-api`, `payments-worker`, `image-resizer` (custom
//!   log group `/custom/image-resizer`), `orders-api` (adopted filter
//!   `DD_LOG_SUBSCRIPTION_FILTER_orders` to the forwarder), `audit-sink` (both filter slots taken
//!   by filters to `siem-shipper`), `siem-shipper`, `nightly-report` (no log group);
//!   eu-west-1 function `datadog-forwarder` (no resource policy).
//! - Buckets with access logging: `demo-app-assets` and `demo-app-uploads` → `demo-access-logs`
//!   (which carries foreign queue, topic and Lambda notifications), `demo-conflict-src` →
//!   `demo-conflict-logs` (a foreign queue rule `legacy-ingest` with no key filter overlaps
//!   anything autosub would add), and in eu-west-1 `demo-eu-site` → `demo-eu-logs`.

pub mod demo;
pub mod estate;
pub mod events;
pub mod fake;
pub mod moto;
mod moto_account;
pub mod sts_gate;

pub use demo::{DemoEstate, seed_demo_estate};
pub use estate::{Clients, SeedError};
pub use moto::{MOTO_DEFAULT_ACCOUNT, MotoError, MotoServer, RecordedRequest, sdk_config_for};
pub use sts_gate::StsGate;
