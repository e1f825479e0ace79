//! Tailing: discover matching files, follow each one by identity, frame new bytes into records.

pub mod discover;
pub mod identity;
pub mod reader;
pub mod splitter;
pub mod tracker;

pub use discover::FilePattern;
pub use splitter::{SkipReason, Split, SplitSettings, Splitter};
pub use tracker::{StartAt, TailOutput, TailSettings, TailStats, Tailer};
