//! The integration tests, as one test binary (one link of the AWS SDK instead of one per file).
//!
//! `common` is the harness: kinesalite, moto (Firehose into S3), the IMDS test server, the
//! fault-injecting proxy, the `kinetail` process and the stream reader. Run one group with a
//! filter, e.g. `cargo test --release --test e2e crash::`.

mod common;

mod aggregation;
mod backlog;
mod cli;
mod cloudwatch;
mod crash;
mod errors;
mod faults;
mod files;
mod firehose;
mod imds;
mod large_requests;
mod logrotate;
mod migration;
mod processing;
mod proxy;
mod rotation_model;
mod shaping;
mod shards;
mod signing;
mod soak;
mod status_endpoint;
mod taxi;
