//! The single error type of configuration loading.

use std::path::PathBuf;

/// Why a configuration could not be loaded; every variant names the file, and the key where there is one.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file (or the `agent.d` directory) could not be read.
    #[error("{}: cannot read configuration: {source}", path.display())]
    Io {
        /// The file, or the `agent.d` directory.
        path: PathBuf,
        source: std::io::Error,
    },
    /// The file is not valid JSON (after comments are removed).
    #[error("{}:{line}:{column}: invalid JSON: {message}", path.display())]
    Syntax {
        path: PathBuf,
        /// 1-based line of the error.
        line: usize,
        /// 1-based column of the error.
        column: usize,
        /// Parser message without its position suffix.
        message: String,
    },
    /// The document is JSON but its top level is not an object.
    #[error("{}: {message}", path.display())]
    Document { path: PathBuf, message: String },
    /// A key has a value the agent does not accept.
    #[error("{}: {key}: {message}", path.display())]
    Invalid {
        /// File that holds the key.
        path: PathBuf,
        /// Key path such as `flows[1].maxBufferSizeRecords`.
        key: String,
        /// The Java agent's message where it has one.
        message: String,
    },
}

impl ConfigError {
    /// Builds a syntax error from serde_json, keeping line and column apart from the message.
    pub(crate) fn syntax(path: PathBuf, err: &serde_json::Error) -> Self {
        let full = err.to_string();
        // serde_json appends " at line L column C"; we print the position ourselves.
        let suffix = format!(" at line {} column {}", err.line(), err.column());
        let message = full.strip_suffix(&suffix).unwrap_or(&full).to_string();
        ConfigError::Syntax {
            path,
            line: err.line(),
            column: err.column(),
            message,
        }
    }
}
