//! Typed `dataProcessingOptions` entries, shared by the config loader and the processing chain.

use serde::Serialize;

pub use crate::java::json::JsonFormat;

/// `logFormat` of LOGTOJSON (and the unused one of ADDEC2METADATA).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum LogFormat {
    /// Apache common log format.
    #[serde(rename = "COMMONAPACHELOG")]
    CommonApacheLog,
    /// Apache combined log format.
    #[serde(rename = "COMBINEDAPACHELOG")]
    CombinedApacheLog,
    /// Apache error log format.
    #[serde(rename = "APACHEERRORLOG")]
    ApacheErrorLog,
    /// BSD syslog (`Mar 12 12:00:08 host prog[pid]: msg`).
    #[serde(rename = "SYSLOG")]
    Syslog,
    /// Syslog with RFC 3339 timestamps.
    #[serde(rename = "RFC3339SYSLOG")]
    Rfc3339Syslog,
}

/// One converter of a flow's `dataProcessingOptions` chain, with its parameters resolved.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "optionName")]
pub enum ProcessingOption {
    /// Join the lines of a record into one line.
    #[serde(rename = "SINGLELINE")]
    SingleLine {
        /// `parseOptions` contains `NO_TRIM`.
        #[serde(rename = "noTrim")]
        no_trim: bool,
        /// `parseOptions` contains `ESCAPE_NEW_LINE`.
        #[serde(rename = "escapeNewLine")]
        escape_new_line: bool,
    },
    /// Split a delimited line into named JSON string fields.
    #[serde(rename = "CSVTOJSON")]
    CsvToJson {
        /// `customFieldNames`, in output order.
        #[serde(rename = "customFieldNames")]
        field_names: Vec<String>,
        /// `delimiter`, a Java regular expression (default `,`).
        delimiter: String,
        #[serde(rename = "jsonFormat")]
        json_format: JsonFormat,
    },
    /// Parse a log line with a known or custom pattern into JSON.
    #[serde(rename = "LOGTOJSON")]
    LogToJson {
        #[serde(rename = "logFormat")]
        log_format: LogFormat,
        /// `matchPattern`, a Java regular expression.
        #[serde(rename = "matchPattern")]
        match_pattern: Option<String>,
        /// One field name per group of the pattern (the format's own names when absent).
        #[serde(rename = "customFieldNames")]
        custom_field_names: Option<Vec<String>>,
        #[serde(rename = "jsonFormat")]
        json_format: JsonFormat,
    },
    /// Wrap the record with a timestamp and static metadata.
    #[serde(rename = "ADDMETADATA")]
    AddMetadata {
        /// `metadata`, copied verbatim (key order kept).
        metadata: serde_json::Value,
        /// `timestamp`: add the `ts` field.
        timestamp: bool,
        #[serde(rename = "jsonFormat")]
        json_format: JsonFormat,
    },
    /// Merge EC2 instance metadata into a JSON record.
    #[serde(rename = "ADDEC2METADATA")]
    AddEc2Metadata {
        /// `logFormat` (required by the Java agent, unused).
        #[serde(rename = "logFormat")]
        log_format: Option<LogFormat>,
        /// `metadataTTL` in seconds (default 3600).
        #[serde(rename = "metadataTTL")]
        metadata_ttl_secs: u64,
        #[serde(rename = "jsonFormat")]
        json_format: JsonFormat,
    },
    /// Wrap the record bytes in `{` and `}`.
    #[serde(rename = "ADDBRACKETS")]
    AddBrackets,
    /// A Java `IDataConverter` class: never supported by kinetail.
    #[serde(rename = "USINGPLUGGIN")]
    UsingPluggin {
        #[serde(rename = "className")]
        class_name: String,
    },
}

impl ProcessingOption {
    /// The `optionName` this option was configured with.
    pub fn name(&self) -> &'static str {
        match self {
            ProcessingOption::SingleLine { .. } => "SINGLELINE",
            ProcessingOption::CsvToJson { .. } => "CSVTOJSON",
            ProcessingOption::LogToJson { .. } => "LOGTOJSON",
            ProcessingOption::AddMetadata { .. } => "ADDMETADATA",
            ProcessingOption::AddEc2Metadata { .. } => "ADDEC2METADATA",
            ProcessingOption::AddBrackets => "ADDBRACKETS",
            ProcessingOption::UsingPluggin { .. } => "USINGPLUGGIN",
        }
    }
}
