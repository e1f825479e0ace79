//! kinetail: a file-tailing producer agent for Amazon Kinesis, compatible with the AWS Kinesis Agent's `agent.json`.

#![forbid(unsafe_code)]

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
