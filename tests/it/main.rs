//! The one integration test binary: the AWS layer, discoverers and trigger backends against moto,
//! and the built CLI end to end.

mod aws;
mod backends;
mod discover;
mod e2e;
mod support;
