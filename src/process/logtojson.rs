//! LOGTOJSON: parse a log line with a built-in or custom Java regex into a JSON object.
//!
//! Java (`LogToJSONDataConverter` + `ApacheLogParser` / `SysLogParser`): decode the record as
//! UTF-8, strip ONE trailing `\n`, then `pattern.matcher(line).matches()` (the whole line must
//! match; `.` does not cross line terminators, so a `\r` left before the `\n` ends up in the
//! last `(.*)` group or stops the match). If it does not match, or `groupCount()` differs from
//! the number of field names, the record is skipped (the converter returns `null`). Otherwise
//! field `i` = group `i + 1` (unmatched optional group = `null`), put into a `LinkedHashMap`
//! and printed by Jackson, plus `\n`.
//!
//! The parser class is chosen by `logFormat` alone: with any Apache format, even around a
//! custom `matchPattern`, a captured `"-"` becomes `null`; syslog formats keep it.
//! A field name listed twice keeps its first position and its last value (`LinkedHashMap`).

use crate::config::{JsonFormat, LogFormat};

use super::logformats;
use super::{utf8, ConvertError, Converter, ProcessError};
use crate::java::json::JsonWriter;
use crate::java::regex::{self, FullMatch};

const NAME: &str = "LOGTOJSON";

/// The LOGTOJSON converter.
#[derive(Debug)]
pub struct LogToJson {
    regex: FullMatch,
    /// Output keys: distinct field names in first-occurrence order.
    keys: Vec<String>,
    /// Capture group (1-based) feeding each key: the last occurrence of its name.
    groups: Vec<usize>,
    /// `groupCount()` equals the number of field names; if not, Java skips every record.
    usable: bool,
    dash_is_null: bool,
    format: JsonFormat,
}

impl LogToJson {
    /// Build from `logFormat`, `matchPattern`, `customFieldNames` and `jsonFormat`, compiling
    /// the regex once.
    pub fn new(
        log_format: LogFormat,
        match_pattern: Option<&str>,
        custom_field_names: Option<&[String]>,
        json_format: JsonFormat,
    ) -> Result<Self, ProcessError> {
        let invalid = |message: &str| ProcessError::Invalid {
            option: NAME,
            message: message.to_string(),
        };
        // `BaseLogParser`'s constructor rules (the config loader already enforces them).
        let (pattern, names): (&str, Vec<String>) = match (match_pattern, custom_field_names) {
            (Some(p), Some(names)) => (p, names.to_vec()),
            (Some(_), None) => {
                return Err(invalid(
                    "customFieldNames must be specified when matchPattern is specified",
                ))
            }
            (None, custom) => {
                let defaults = logformats::default_fields(log_format);
                match custom {
                    Some(names) if names.len() != defaults.len() => {
                        return Err(invalid(
                            "Invalid custom field names for the selected log format. \
                             Please modify the field names or specify the matchPattern",
                        ))
                    }
                    Some(names) => (logformats::pattern(log_format), names.to_vec()),
                    None => (
                        logformats::pattern(log_format),
                        defaults.iter().map(|s| s.to_string()).collect(),
                    ),
                }
            }
        };
        let regex = regex::full_match(pattern, false).map_err(|source| ProcessError::Regex {
            option: NAME,
            source,
        })?;
        let usable = regex.group_count() == names.len();
        if !usable {
            tracing::warn!(
                pattern,
                groups = regex.group_count(),
                fields = names.len(),
                "LOGTOJSON: the matchPattern has not one capturing group per customFieldNames \
                 entry, so every record will be skipped (as the Java agent does)"
            );
        }
        let mut keys: Vec<String> = Vec::with_capacity(names.len());
        let mut groups: Vec<usize> = Vec::with_capacity(names.len());
        for (i, name) in names.into_iter().enumerate() {
            match keys.iter().position(|k| *k == name) {
                Some(existing) => groups[existing] = i + 1,
                None => {
                    keys.push(name);
                    groups.push(i + 1);
                }
            }
        }
        Ok(LogToJson {
            regex,
            keys,
            groups,
            usable,
            dash_is_null: logformats::dash_is_null(log_format),
            format: json_format,
        })
    }
}

impl Converter for LogToJson {
    fn name(&self) -> &'static str {
        NAME
    }

    fn convert(&self, input: &[u8], out: &mut Vec<u8>) -> Result<bool, ConvertError> {
        if !self.usable {
            return Ok(false);
        }
        let text = utf8::decode(input);
        let line = text.strip_suffix('\n').unwrap_or(&text);
        let caps = match self.regex.captures(line) {
            Ok(Some(caps)) => caps,
            Ok(None) => return Ok(false),
            Err(e) => return Err(ConvertError::Other(e.to_string())),
        };
        out.reserve(line.len() + self.keys.len() * 16 + 4);
        let mut w = JsonWriter::new(out, self.format);
        w.begin_object();
        for (key, &group) in self.keys.iter().zip(&self.groups) {
            let value = caps
                .get(group)
                .map(|m| m.as_str())
                .filter(|v| !(self.dash_is_null && *v == "-"));
            w.field_opt_str(key, value);
        }
        w.end_object();
        w.buffer().push(b'\n');
        Ok(true)
    }
}

#[cfg(test)]
mod tests;
