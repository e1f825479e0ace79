//! Reading of `dataProcessingOptions` entries (`ProcessingUtilsFactory.java` and the converters).

use serde_json::Value;

use super::error::ConfigError;
use super::options::{JsonFormat, LogFormat, ProcessingOption};
use super::reader::{lookup_enum, JavaEnum, Section};

/// `DataConversionOption`: the accepted `optionName` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OptionName {
    AddMetadata,
    AddEc2Metadata,
    SingleLine,
    CsvToJson,
    LogToJson,
    AddBrackets,
    UsingPluggin,
}

impl JavaEnum for OptionName {
    const VALUES: &'static [(&'static str, Self)] = &[
        ("ADDMETADATA", OptionName::AddMetadata),
        ("ADDEC2METADATA", OptionName::AddEc2Metadata),
        ("SINGLELINE", OptionName::SingleLine),
        ("CSVTOJSON", OptionName::CsvToJson),
        ("LOGTOJSON", OptionName::LogToJson),
        ("ADDBRACKETS", OptionName::AddBrackets),
        ("USINGPLUGGIN", OptionName::UsingPluggin),
    ];
}

impl JavaEnum for JsonFormat {
    const VALUES: &'static [(&'static str, Self)] = &[
        ("COMPACT", JsonFormat::Compact),
        ("PRETTYPRINT", JsonFormat::PrettyPrint),
    ];
}

impl JavaEnum for LogFormat {
    const VALUES: &'static [(&'static str, Self)] = &[
        ("COMMONAPACHELOG", LogFormat::CommonApacheLog),
        ("COMBINEDAPACHELOG", LogFormat::CombinedApacheLog),
        ("APACHEERRORLOG", LogFormat::ApacheErrorLog),
        ("SYSLOG", LogFormat::Syslog),
        ("RFC3339SYSLOG", LogFormat::Rfc3339Syslog),
    ];
}

/// SINGLELINE `parseOptions` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ParseOption {
    NoTrim,
    EscapeNewLine,
}

impl JavaEnum for ParseOption {
    const VALUES: &'static [(&'static str, Self)] = &[
        ("NO_TRIM", ParseOption::NoTrim),
        ("ESCAPE_NEW_LINE", ParseOption::EscapeNewLine),
    ];
}

/// Number of fields each log format produces without `matchPattern`.
pub(crate) fn default_field_count(format: LogFormat) -> usize {
    match format {
        LogFormat::CommonApacheLog | LogFormat::ApacheErrorLog => 7,
        LogFormat::CombinedApacheLog => 9,
        LogFormat::Syslog | LogFormat::Rfc3339Syslog => 5,
    }
}

/// Reads one `dataProcessingOptions` entry; unread keys stay in `sec` as unknown keys.
pub(crate) fn parse(sec: &mut Section<'_>) -> Result<ProcessingOption, ConfigError> {
    let name = sec
        .enumeration::<OptionName>("optionName")?
        .ok_or_else(|| sec.missing("optionName"))?;
    Ok(match name {
        OptionName::SingleLine => single_line(sec)?,
        OptionName::CsvToJson => ProcessingOption::CsvToJson {
            field_names: sec.string_list("customFieldNames")?.ok_or_else(|| {
                sec.error(
                    "customFieldNames",
                    "Required list missing: customFieldNames",
                )
            })?,
            delimiter: sec.string("delimiter")?.unwrap_or_else(|| ",".to_string()),
            json_format: json_format(sec)?,
        },
        OptionName::LogToJson => log_to_json(sec)?,
        OptionName::AddMetadata => ProcessingOption::AddMetadata {
            // Copied verbatim, so `null` and `""` are kept as written rather than meaning "unset".
            metadata: sec.raw("metadata").cloned().unwrap_or(Value::Null),
            // Java only accepts the strings "true"/"false" here (a JSON boolean crashes it); we accept both,
            // with the same spellings as every other boolean key.
            timestamp: sec.boolean("timestamp", false)?,
            json_format: json_format(sec)?,
        },
        OptionName::AddEc2Metadata => ProcessingOption::AddEc2Metadata {
            // Required by Java although unused; optional here, but still validated when given.
            log_format: sec.enumeration::<LogFormat>("logFormat")?,
            // Java reads an int and multiplies by 1000 in int arithmetic; keep to that domain.
            metadata_ttl_secs: u64::from(sec.int_in("metadataTTL", 3600, 0, i32::MAX as u32)?),
            json_format: json_format(sec)?,
        },
        OptionName::AddBrackets => ProcessingOption::AddBrackets,
        OptionName::UsingPluggin => ProcessingOption::UsingPluggin {
            class_name: sec.required_string("className")?,
        },
    })
}

fn json_format(sec: &mut Section<'_>) -> Result<JsonFormat, ConfigError> {
    Ok(sec
        .enumeration::<JsonFormat>("jsonFormat")?
        .unwrap_or_default())
}

fn single_line(sec: &mut Section<'_>) -> Result<ProcessingOption, ConfigError> {
    let mut no_trim = false;
    let mut escape_new_line = false;
    for opt in sec.string_list("parseOptions")?.unwrap_or_default() {
        match lookup_enum::<ParseOption>(&opt) {
            Some(ParseOption::NoTrim) => no_trim = true,
            Some(ParseOption::EscapeNewLine) => escape_new_line = true,
            None => return Err(sec.enum_error::<ParseOption>("parseOptions", &opt)),
        }
    }
    Ok(ProcessingOption::SingleLine {
        no_trim,
        escape_new_line,
    })
}

fn log_to_json(sec: &mut Section<'_>) -> Result<ProcessingOption, ConfigError> {
    let log_format = sec
        .enumeration::<LogFormat>("logFormat")?
        .ok_or_else(|| sec.missing("logFormat"))?;
    let match_pattern = sec.string("matchPattern")?;
    let custom_field_names = sec.string_list("customFieldNames")?;
    match (&match_pattern, &custom_field_names) {
        (Some(_), None) => {
            return Err(sec.error(
                "customFieldNames",
                "customFieldNames must be specified when matchPattern is specified",
            ))
        }
        (None, Some(names)) if names.len() != default_field_count(log_format) => {
            return Err(sec.error(
                "customFieldNames",
                "Invalid custom field names for the selected log format. Please modify the field names or specify the matchPattern",
            ))
        }
        _ => {}
    }
    Ok(ProcessingOption::LogToJson {
        log_format,
        match_pattern,
        custom_field_names,
        json_format: json_format(sec)?,
    })
}

#[cfg(test)]
mod tests;
