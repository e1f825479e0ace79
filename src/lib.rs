//! kinetail: a file-tailing producer agent for Amazon Kinesis, compatible with the AWS Kinesis Agent's `agent.json`.

pub mod agent;
pub mod checkpoint;
pub mod config;
pub mod metrics;
pub mod pipeline;
pub mod preview;
pub mod process;
pub mod record;
pub mod sink;
pub mod tail;
