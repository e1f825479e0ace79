//! Record converters (`dataProcessingOptions`) and the chain that runs them.
//!
//! Semantics of the Java agent (`AgentDataConverterChain` + `AbstractParser#buildRecord`):
//! converters run in list order on the raw bytes of one record (trailing `\n` included); a
//! converter returning `null` skips the record (nothing is sent, the file offset still moves
//! past it); a converter throwing makes the whole record fall back to its ORIGINAL raw bytes.
//! Output must be byte-identical to the Java agent's: decoding, splitting, regexes and JSON come
//! from [`crate::java`], which mimics the JVM.
//!
//! Converters: [`singleline`], [`csvtojson`], [`logtojson`] (patterns in [`logformats`]),
//! [`addmetadata`], [`addbrackets`], [`addec2metadata`] (metadata from [`crate::ec2`]). USINGPLUGGIN
//! (a Java class loaded into the agent) never will be.

pub mod addbrackets;
pub mod addec2metadata;
pub mod addmetadata;
pub mod csvtojson;
pub mod logformats;
pub mod logtojson;
pub mod singleline;
pub mod timestamp;

use std::cell::RefCell;

use crate::config::ProcessingOption;

use crate::java::regex::RegexError;
use crate::java::split::SplitError;
use crate::java::utf8;

/// One converter of a chain.
pub trait Converter: Send + Sync {
    /// The `optionName` it implements, for messages.
    fn name(&self) -> &'static str;

    /// Convert `input` (one record) by appending the result to `out`, which may already hold
    /// other records (write only past its end); `Ok(false)` means "skip this record".
    fn convert(&self, input: &[u8], out: &mut Vec<u8>) -> Result<bool, ConvertError>;

    /// Waits up to `timeout` for what the converter needs from outside (instance metadata),
    /// less when `stopped` turns true; called once per flow before the first record, off the
    /// async runtime.
    fn wait_ready(&self, _timeout: std::time::Duration, _stopped: &dyn Fn() -> bool) {}
}

/// Why a converter failed on one record (the record is then sent raw).
#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    /// The delimiter / pattern search gave up.
    #[error(transparent)]
    Split(#[from] SplitError),
    /// Anything else a converter reports.
    #[error("{0}")]
    Other(String),
}

/// A `dataProcessingOptions` list that cannot be turned into a chain.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    /// A regular expression of the option does not compile.
    #[error("{option}: {source}")]
    Regex {
        /// The `optionName`.
        option: &'static str,
        /// The pattern, position and problem.
        #[source]
        source: RegexError,
    },
    /// The option's parameters contradict each other (the Java agent fails at start-up too).
    #[error("{option}: {message}")]
    Invalid {
        /// The `optionName`.
        option: &'static str,
        /// What is wrong, in the Java agent's words where it has any.
        message: String,
    },
    /// The option is not implemented (yet).
    #[error("dataProcessingOptions: {0} is not supported")]
    Unsupported(&'static str),
    /// The option refreshes data in the background and the chain was built outside a tokio
    /// runtime (a bug of the caller, not of the configuration).
    #[error("{option} needs a tokio runtime to refresh its data; build the chain inside one")]
    NoRuntime {
        /// The `optionName`.
        option: &'static str,
    },
    /// The option loads Java code into the Java agent's JVM, which kinetail can never do.
    #[error(
        "dataProcessingOptions: {option} loads the Java class {class_name:?} into the Java \
         agent's JVM; kinetail runs no Java code, so this option can never be supported"
    )]
    JavaOnly {
        /// The `optionName`.
        option: &'static str,
        /// `className`.
        class_name: String,
    },
}

/// What to do with one record after the chain ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The chain is empty: send the record as it is.
    Unchanged,
    /// Send the bytes written to `out`.
    Converted,
    /// A converter (named) skipped the record: send nothing, but the checkpoint still advances past it.
    Skipped(&'static str),
    /// A converter failed: send the ORIGINAL raw record and count a processing error.
    Failed(String),
}

/// The converters of one flow, in configuration order.
pub struct Chain {
    converters: Vec<Box<dyn Converter>>,
}

impl std::fmt::Debug for Chain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.converters.iter().map(|c| c.name()))
            .finish()
    }
}

thread_local! {
    /// Second buffer for chains of two or more converters, reused across records.
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Scratch buffers above this are released after use so one huge record does not pin memory.
const SCRATCH_KEEP: usize = 4 << 20;

impl Chain {
    /// Build the chain, compiling every regex once; ADDEC2METADATA starts its metadata
    /// refresh on the current tokio runtime, so a chain with it is built inside one.
    pub fn new(options: &[ProcessingOption]) -> Result<Chain, ProcessError> {
        let mut converters: Vec<Box<dyn Converter>> = Vec::with_capacity(options.len());
        for option in options {
            converters.push(build(option)?);
        }
        let chain = Chain { converters };
        tracing::debug!(chain = ?chain, "using data converter chain");
        Ok(chain)
    }

    /// Checks that a chain can be built (patterns compile, parameters agree) without side
    /// effects: ADDEC2METADATA, which starts fetching instance metadata, is not instantiated.
    pub fn validate(options: &[ProcessingOption]) -> Result<(), ProcessError> {
        for option in options {
            if !matches!(option, ProcessingOption::AddEc2Metadata { .. }) {
                build(option)?;
            }
        }
        Ok(())
    }

    /// A chain of already built converters.
    pub fn from_converters(converters: Vec<Box<dyn Converter>>) -> Chain {
        Chain { converters }
    }

    /// Waits (bounded) until every converter has what it needs, e.g. the first instance metadata.
    /// Waits up to `timeout` for every converter's outside data, or until `stopped` is true.
    pub fn wait_ready(&self, timeout: std::time::Duration, stopped: &dyn Fn() -> bool) {
        for c in &self.converters {
            c.wait_ready(timeout, stopped);
        }
    }

    /// No converters: every record is sent unchanged.
    pub fn is_empty(&self) -> bool {
        self.converters.is_empty()
    }

    /// Runs the chain on one record (raw bytes including its trailing `\n` when present),
    /// appending what it makes to `out`.
    ///
    /// On [`Outcome::Converted`] the bytes past `out`'s former length are the record to send;
    /// on any other outcome `out` is left as it was. Appending lets a caller convert straight
    /// into the buffer the record is sent from, rather than copying it there.
    pub fn process(&self, record: &[u8], out: &mut Vec<u8>) -> Outcome {
        let base = out.len();
        let outcome = match self.converters.as_slice() {
            [] => Outcome::Unchanged,
            [only] => finish(only.as_ref(), only.convert(record, out)),
            _ => SCRATCH.with(|cell| match cell.try_borrow_mut() {
                Ok(mut scratch) => {
                    let outcome = self.run(record, out, base, &mut scratch);
                    scratch.clear();
                    if scratch.capacity() > SCRATCH_KEEP {
                        *scratch = Vec::new();
                    }
                    outcome
                }
                // Only reachable if a converter re-entered a chain on this thread.
                Err(_) => self.run(record, out, base, &mut Vec::new()),
            }),
        };
        if outcome != Outcome::Converted {
            // A converter may have written part of its output, or an earlier step its own.
            out.truncate(base);
        }
        outcome
    }

    /// Two or more converters, ping-ponging between `out` (past `base`) and `scratch` so that
    /// the last one writes straight into `out`.
    fn run(&self, record: &[u8], out: &mut Vec<u8>, base: usize, scratch: &mut Vec<u8>) -> Outcome {
        let n = self.converters.len();
        // (buffer, where its content starts)
        let (mut dst, mut src) = if n % 2 == 1 {
            ((out, base), (scratch, 0))
        } else {
            ((scratch, 0), (out, base))
        };
        for (i, converter) in self.converters.iter().enumerate() {
            dst.0.truncate(dst.1);
            let input: &[u8] = if i == 0 { record } else { &src.0[src.1..] };
            match converter.convert(input, dst.0) {
                Ok(true) => {}
                other => return finish(converter.as_ref(), other),
            }
            if i + 1 < n {
                std::mem::swap(&mut dst, &mut src);
            }
        }
        Outcome::Converted
    }
}

/// Builds the converter of one option.
fn build(option: &ProcessingOption) -> Result<Box<dyn Converter>, ProcessError> {
    let converter: Box<dyn Converter> = match option {
        ProcessingOption::SingleLine {
            no_trim,
            escape_new_line,
        } => Box::new(singleline::SingleLine::new(*no_trim, *escape_new_line)),
        ProcessingOption::CsvToJson {
            field_names,
            delimiter,
            json_format,
        } => Box::new(
            csvtojson::CsvToJson::new(field_names, delimiter, *json_format).map_err(|source| {
                ProcessError::Regex {
                    option: option.name(),
                    source,
                }
            })?,
        ),
        ProcessingOption::LogToJson {
            log_format,
            match_pattern,
            custom_field_names,
            json_format,
        } => Box::new(logtojson::LogToJson::new(
            *log_format,
            match_pattern.as_deref(),
            custom_field_names.as_deref(),
            *json_format,
        )?),
        ProcessingOption::AddMetadata {
            metadata,
            timestamp,
            json_format,
        } => Box::new(addmetadata::AddMetadata::new(
            metadata,
            *timestamp,
            *json_format,
        )),
        ProcessingOption::AddBrackets => Box::new(addbrackets::AddBrackets),
        ProcessingOption::AddEc2Metadata {
            metadata_ttl_secs,
            json_format,
            ..
        } => {
            // Like `tokio::spawn`, from the runtime the caller is in: `run` builds chains
            // inside its runtime, `preview` enters a small one of its own.
            let runtime =
                tokio::runtime::Handle::try_current().map_err(|_| ProcessError::NoRuntime {
                    option: option.name(),
                })?;
            Box::new(addec2metadata::AddEc2Metadata::new(
                std::time::Duration::from_secs(*metadata_ttl_secs),
                *json_format,
                &runtime,
            ))
        }
        ProcessingOption::UsingPluggin { class_name } => {
            return Err(ProcessError::JavaOnly {
                option: option.name(),
                class_name: class_name.clone(),
            })
        }
    };
    Ok(converter)
}

/// Outcome of the converter that ended the chain (the last one, or one that skipped/failed).
fn finish(converter: &dyn Converter, result: Result<bool, ConvertError>) -> Outcome {
    match result {
        Ok(true) => Outcome::Converted,
        Ok(false) => Outcome::Skipped(converter.name()),
        Err(e) => Outcome::Failed(format!(
            "Unable to convert data by {}: {e}",
            converter.name()
        )),
    }
}

#[cfg(test)]
mod tests;
