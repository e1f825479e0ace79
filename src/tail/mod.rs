//! Tailing: discover matching files, follow each one by identity, frame new bytes into records.

pub mod discover;
pub mod framer;
pub mod identity;
pub mod open_files;
pub mod records;
pub mod splitter;
pub mod tailer;

pub use discover::FilePattern;
pub use splitter::{SkipReason, Span, SplitSettings, Splitter};
pub use tailer::{StartAt, TailOutput, TailSettings, TailStats, Tailer};
