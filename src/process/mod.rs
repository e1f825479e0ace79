//! Record converters (`dataProcessingOptions`) and the chain that runs them.
//!
//! Semantics of the Java agent (`AgentDataConverterChain` + `AbstractParser#buildRecord`):
//! converters run in list order on the raw bytes of one record (trailing `\n` included); a
//! converter returning `null` skips the record (nothing is sent, the file offset still moves
//! past it); a converter throwing makes the whole record fall back to its ORIGINAL raw bytes.
//! Output must be byte-identical to the Java agent's, which is why decoding ([`utf8`]),
//! splitting ([`java_split`]), regexes ([`regex`]) and JSON ([`json`]) each mimic the JVM.

pub mod csvtojson;
pub mod java_split;
pub mod json;
pub mod regex;
pub mod singleline;
pub mod utf8;

use std::cell::RefCell;

use crate::config::ProcessingOption;

use self::java_split::SplitError;
pub use self::regex::RegexError;

/// One converter of a chain.
pub trait Converter: Send + Sync {
    /// The `optionName` it implements, for messages.
    fn name(&self) -> &'static str;

    /// Convert `input` (one record) by appending the result to `out`, which the caller has
    /// cleared; `Ok(false)` means "skip this record".
    fn convert(&self, input: &[u8], out: &mut Vec<u8>) -> Result<bool, ConvertError>;
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
    /// The option is not implemented (yet).
    #[error("dataProcessingOptions: {0} is not supported")]
    Unsupported(&'static str),
}

/// What to do with one record after the chain ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The chain is empty: send the record as it is.
    Unchanged,
    /// Send the bytes written to `out`.
    Converted,
    /// A converter skipped the record: send nothing, but the checkpoint still advances past it.
    Skipped,
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
    /// Build the chain, compiling every regex once.
    pub fn new(options: &[ProcessingOption]) -> Result<Chain, ProcessError> {
        let mut converters: Vec<Box<dyn Converter>> = Vec::with_capacity(options.len());
        for option in options {
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
                    csvtojson::CsvToJson::new(field_names, delimiter, *json_format).map_err(
                        |source| ProcessError::Regex {
                            option: option.name(),
                            source,
                        },
                    )?,
                ),
                other => return Err(ProcessError::Unsupported(other.name())),
            };
            converters.push(converter);
        }
        let chain = Chain { converters };
        tracing::debug!(chain = ?chain, "using data converter chain");
        Ok(chain)
    }

    /// A chain of already built converters.
    pub fn from_converters(converters: Vec<Box<dyn Converter>>) -> Chain {
        Chain { converters }
    }

    /// No converters: every record is sent unchanged.
    pub fn is_empty(&self) -> bool {
        self.converters.is_empty()
    }

    /// Run the chain on one record (raw bytes including its trailing `\n` when present).
    ///
    /// `out` is cleared first; on [`Outcome::Converted`] it holds the bytes to send.
    pub fn process(&self, record: &[u8], out: &mut Vec<u8>) -> Outcome {
        out.clear();
        match self.converters.as_slice() {
            [] => Outcome::Unchanged,
            [only] => finish(only.as_ref(), only.convert(record, out), out),
            _ => {
                let outcome = SCRATCH.with(|cell| match cell.try_borrow_mut() {
                    Ok(mut scratch) => {
                        let outcome = self.run(record, out, &mut scratch);
                        scratch.clear();
                        if scratch.capacity() > SCRATCH_KEEP {
                            *scratch = Vec::new();
                        }
                        outcome
                    }
                    // Only reachable if a converter re-entered a chain on this thread.
                    Err(_) => self.run(record, out, &mut Vec::new()),
                });
                if outcome != Outcome::Converted {
                    // An earlier step may have left its output in `out`.
                    out.clear();
                }
                outcome
            }
        }
    }

    /// Two or more converters, ping-ponging between `out` and `scratch` so that the last one
    /// writes straight into `out`.
    fn run(&self, record: &[u8], out: &mut Vec<u8>, scratch: &mut Vec<u8>) -> Outcome {
        let n = self.converters.len();
        let (mut dst, mut src) = if n % 2 == 1 {
            (out, scratch)
        } else {
            (scratch, out)
        };
        let mut input: &[u8] = record;
        for (i, converter) in self.converters.iter().enumerate() {
            dst.clear();
            match converter.convert(input, dst) {
                Ok(true) => {}
                other => return finish(converter.as_ref(), other, dst),
            }
            if i + 1 < n {
                std::mem::swap(&mut dst, &mut src);
                input = src.as_slice();
            }
        }
        Outcome::Converted
    }
}

/// Outcome of the converter that ended the chain (the last one, or one that skipped/failed).
fn finish(
    converter: &dyn Converter,
    result: Result<bool, ConvertError>,
    out: &mut Vec<u8>,
) -> Outcome {
    match result {
        Ok(true) => Outcome::Converted,
        Ok(false) => {
            out.clear();
            Outcome::Skipped
        }
        Err(e) => {
            out.clear();
            Outcome::Failed(format!(
                "Unable to convert data by {}: {e}",
                converter.name()
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{JsonFormat, LogFormat};

    fn single_line(escape: bool) -> ProcessingOption {
        ProcessingOption::SingleLine {
            no_trim: false,
            escape_new_line: escape,
        }
    }

    fn csv(fields: &[&str], delimiter: &str) -> ProcessingOption {
        ProcessingOption::CsvToJson {
            field_names: fields.iter().map(|s| s.to_string()).collect(),
            delimiter: delimiter.to_string(),
            json_format: JsonFormat::Compact,
        }
    }

    fn run(chain: &Chain, record: &[u8]) -> (Outcome, String) {
        let mut out = b"stale".to_vec();
        let outcome = chain.process(record, &mut out);
        (outcome, String::from_utf8(out).unwrap())
    }

    /// Test double: appends a tag, or skips, or fails.
    struct Fake(&'static str);

    impl Converter for Fake {
        fn name(&self) -> &'static str {
            self.0
        }

        fn convert(&self, input: &[u8], out: &mut Vec<u8>) -> Result<bool, ConvertError> {
            match self.0 {
                "SKIP" => Ok(false),
                "FAIL" => Err(ConvertError::Other("boom".into())),
                tag => {
                    out.extend_from_slice(input);
                    out.extend_from_slice(tag.as_bytes());
                    Ok(true)
                }
            }
        }
    }

    fn fakes(tags: &[&'static str]) -> Chain {
        Chain::from_converters(
            tags.iter()
                .map(|t| Box::new(Fake(t)) as Box<dyn Converter>)
                .collect(),
        )
    }

    #[test]
    fn empty_chain_leaves_records_unchanged() {
        let chain = Chain::new(&[]).unwrap();
        assert!(chain.is_empty());
        assert_eq!(run(&chain, b"abc\n"), (Outcome::Unchanged, String::new()));
    }

    #[test]
    fn single_converter() {
        let chain = Chain::new(&[csv(&["a", "b"], ",")]).unwrap();
        assert!(!chain.is_empty());
        assert_eq!(
            run(&chain, b"1,2\n"),
            (Outcome::Converted, "{\"a\":\"1\",\"b\":\"2\"}\n".into())
        );
    }

    #[test]
    fn converters_run_in_order_with_even_and_odd_lengths() {
        for n in 1..=5 {
            let tags = ["1", "2", "3", "4", "5"];
            let chain = fakes(&tags[..n]);
            let want: String = "x".to_string() + &tags[..n].concat();
            assert_eq!(run(&chain, b"x"), (Outcome::Converted, want), "n = {n}");
        }
    }

    #[test]
    fn singleline_then_csvtojson() {
        let chain = Chain::new(&[single_line(false), csv(&["a", "b", "c"], ",")]).unwrap();
        assert_eq!(
            run(&chain, b"  1,\n  2,3\n"),
            (
                Outcome::Converted,
                "{\"a\":\"1\",\"b\":\"2\",\"c\":\"3\"}\n".into()
            )
        );
        let chain =
            Chain::new(&[single_line(false), single_line(true), csv(&["a", "b"], ",")]).unwrap();
        assert_eq!(
            run(&chain, b"1,\n2\n"),
            (Outcome::Converted, "{\"a\":\"1\",\"b\":\"2\"}\n".into())
        );
    }

    #[test]
    fn skip_stops_the_chain() {
        for tags in [
            &["SKIP"][..],
            &["1", "SKIP", "2"],
            &["1", "SKIP"],
            &["SKIP", "FAIL"],
        ] {
            assert_eq!(
                run(&fakes(tags), b"x"),
                (Outcome::Skipped, String::new()),
                "{tags:?}"
            );
        }
    }

    #[test]
    fn failure_stops_the_chain_and_names_the_converter() {
        for tags in [
            &["FAIL"][..],
            &["1", "FAIL", "2"],
            &["1", "2", "FAIL"],
            &["FAIL", "SKIP"],
        ] {
            let (outcome, out) = run(&fakes(tags), b"x");
            assert_eq!(
                outcome,
                Outcome::Failed("Unable to convert data by FAIL: boom".into()),
                "{tags:?}"
            );
            assert!(out.is_empty());
        }
    }

    #[test]
    fn unsupported_options_are_rejected_by_name() {
        let err = Chain::new(&[
            single_line(false),
            ProcessingOption::LogToJson {
                log_format: LogFormat::Syslog,
                match_pattern: None,
                custom_field_names: None,
                json_format: JsonFormat::Compact,
            },
        ])
        .unwrap_err();
        assert!(
            matches!(err, ProcessError::Unsupported("LOGTOJSON")),
            "{err}"
        );
        let err = Chain::new(&[ProcessingOption::AddBrackets]).unwrap_err();
        assert!(matches!(err, ProcessError::Unsupported("ADDBRACKETS")));
    }

    #[test]
    fn bad_delimiter_names_option_pattern_and_position() {
        let err = Chain::new(&[csv(&["a"], "a(b")]).unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("CSVTOJSON: "), "{msg}");
        assert!(msg.contains("\"a(b\""), "{msg}");
        match err {
            ProcessError::Regex { option, source } => {
                assert_eq!(option, "CSVTOJSON");
                assert!(source.position.is_some());
            }
            other => panic!("{other}"),
        }
    }

    #[test]
    fn output_buffer_is_reused_across_records() {
        let chain = Chain::new(&[single_line(false), csv(&["a", "b", "c"], ",")]).unwrap();
        let mut out = Vec::with_capacity(4096);
        let ptr = out.as_ptr();
        for i in 0..1000 {
            let record = format!("{i},x,\n y\n");
            assert_eq!(
                chain.process(record.as_bytes(), &mut out),
                Outcome::Converted
            );
            assert_eq!(
                out,
                format!("{{\"a\":\"{i}\",\"b\":\"x\",\"c\":\"y\"}}\n").as_bytes()
            );
        }
        assert_eq!(out.as_ptr(), ptr, "no reallocation of the caller's buffer");
    }

    #[test]
    fn any_bytes_never_panic() {
        let chain = Chain::new(&[
            single_line(true),
            csv(&["a", "b", "c"], "|"),
            csv(&["x"], r"\s*"),
        ])
        .unwrap();
        let mut out = Vec::new();
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        for len in 0..400 {
            let record: Vec<u8> = (0..len)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    seed as u8
                })
                .collect();
            let outcome = chain.process(&record, &mut out);
            assert_eq!(outcome, Outcome::Converted);
            assert!(std::str::from_utf8(&out).is_ok());
        }
    }
}
