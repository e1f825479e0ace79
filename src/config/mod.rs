//! `agent.json` loading with the Java Kinesis Agent's leniency rules, validation and typed results.
//!
//! Deliberate differences from the Java agent (all stricter or safer, none changes a valid config):
//! * `agent.d` holds only `*.json` regular files, merged in file-name order; a broken one is an error.
//! * `null` and `""` always mean "use the default" (Java returns a present `null` as is).
//! * Numbers in strings are decimal only (Java's Guava converter also takes `0x..` and octal).
//! * Keys Java leaves unvalidated are still rejected when negative, or zero where Java would crash.
//! * Relative `filePattern`s are resolved once against the current directory.
//! * ADDMETADATA `timestamp` also takes a JSON boolean; ADDEC2METADATA does not require `logFormat`.
//! * The default `checkpointFile` is `/var/lib/kinetail/checkpoints` (Java's is on a tmpfs).

mod agent;
mod error;
mod flow;
pub mod java_checkpoints;
mod loader;
/// Typed `dataProcessingOptions` entries shared with the processing chain.
pub mod options;
mod pattern;
mod processing;
mod reader;
mod secrets;
mod unsupported;

pub use agent::{default_max_sending_threads, AgentConfig, Secret, DEFAULT_CHECKPOINT_FILE};
pub use error::ConfigError;
pub use flow::{
    AggregationOption, Destination, FlowConfig, InitialPosition, PartitionKeyOption,
    DEFAULT_AGGREGATION_MAX_SIZE_BYTES, FIREHOSE_MAX_BUFFER_SIZE_BYTES,
    FIREHOSE_MAX_RECORD_SIZE_BYTES, KINESIS_MAX_BUFFER_SIZE_BYTES, KINESIS_MAX_RECORD_SIZE_BYTES,
    MAX_BUFFER_SIZE_RECORDS,
};
pub use loader::{load, load_with_agent_d, parse_str};
pub use options::{JsonFormat, LogFormat, ProcessingOption};

#[cfg(test)]
mod tests;
