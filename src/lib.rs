//! kinetail: a file-tailing producer agent for Amazon Kinesis, compatible with the AWS Kinesis Agent's `agent.json`.

// Denied, not forbidden: one call, the AVX2 MD5 lanes after the CPU was checked for AVX2
// (`sink::md5_lanes`), is allowed where it is made.
#![deny(unsafe_code)]

pub mod agent;
pub mod checkpoint;
pub mod cli;
pub mod config;
pub mod ec2;
pub mod java;
pub mod lag;
pub mod log_limit;
pub mod metrics;
pub mod migrate;
pub mod once;
pub mod pipeline;
pub mod preview;
pub mod process;
pub mod record;
pub mod sink;
pub mod tail;

#[cfg(test)]
mod layout_tests;
