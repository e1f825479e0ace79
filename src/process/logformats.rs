//! The built-in `logFormat`s of LOGTOJSON: Java regexes and default field names.
//!
//! The patterns are assembled exactly as the Java agent's `PatternConstants` assembles them
//! (grok-style building blocks), so that they are the same Java regexes character for
//! character; they go through [`super::regex`] like a user's `matchPattern`. The Apache
//! formats get a trailing `.*` (`ApacheLogParser`), so extra trailing fields are tolerated;
//! the error log and syslog patterns end in a `(.*)` message group instead.

use crate::config::LogFormat;

// Building blocks. Macros rather than consts because `concat!` only takes literals.
macro_rules! int {
    () => {
        "(?:[+-]?(?:[0-9]+))"
    };
}
macro_rules! posint {
    () => {
        "(?:[1-9][0-9]*)"
    };
}
macro_rules! nonnegint {
    () => {
        "(?:[0-9]+)"
    };
}
macro_rules! anydata {
    () => {
        ".*"
    };
}
macro_rules! word {
    () => {
        r"\w+"
    };
}
macro_rules! noquote {
    () => {
        r#"[^"]+"#
    };
}
macro_rules! ip {
    () => {
        r"(?:[\d\.]+)"
    };
}
macro_rules! hostname {
    () => {
        r"(?:[\w\-]+)(?:\.(?:[\w\-]+))*(?:\.?|\b)"
    };
}
macro_rules! iporhost {
    () => {
        concat!("(?:", hostname!(), "|", ip!(), ")")
    };
}
macro_rules! urihost {
    () => {
        concat!("(?:", iporhost!(), "(?::", posint!(), ")?)")
    };
}
macro_rules! user {
    () => {
        "(?:[a-zA-Z0-9._-]+)"
    };
}
macro_rules! monthday {
    () => {
        "(?:(?:0[1-9])|(?:[12][0-9])|(?:3[01])|[1-9])"
    };
}
macro_rules! day {
    () => {
        "(?:Mon(?:day)?|Tue(?:sday)?|Wed(?:nesday)?|Thu(?:rsday)?|Fri(?:day)?|Sat(?:urday)?|Sun(?:day)?)"
    };
}
macro_rules! month {
    () => {
        r"\b(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|Jun(?:e)?|Jul(?:y)?|Aug(?:ust)?|Sep(?:tember)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\b"
    };
}
macro_rules! year {
    () => {
        r"(?:[1-9]\d*)"
    };
}
macro_rules! hour {
    () => {
        "(?:2[0123]|[01]?[0-9])"
    };
}
macro_rules! minute {
    () => {
        "(?:[0-5][0-9])"
    };
}
macro_rules! second {
    () => {
        r"(?:(?:[0-5]?[0-9]|60)(?:[:\.,][0-9]+)?)"
    };
}
macro_rules! time {
    () => {
        concat!("(?:", hour!(), ":", minute!(), ":", second!(), ")")
    };
}
macro_rules! httpdate {
    () => {
        concat!(
            "(?:",
            monthday!(),
            "/",
            month!(),
            "/",
            year!(),
            ":",
            time!(),
            r"\s",
            int!(),
            ")"
        )
    };
}
macro_rules! apache_error_log_timestamp {
    () => {
        concat!(
            "(?:",
            day!(),
            r"\s+",
            month!(),
            r"\s+",
            monthday!(),
            r"\s+",
            time!(),
            r"\s+",
            year!(),
            ")"
        )
    };
}
macro_rules! syslog_timestamp {
    () => {
        concat!("(?:", month!(), r"\s+", monthday!(), r"\s+", time!(), ")")
    };
}
macro_rules! rfc3339 {
    () => {
        r"(?:\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?)(?:Z|(?:[-+]\d{2}:\d{2}))"
    };
}
macro_rules! syslog_facility {
    () => {
        concat!("<", nonnegint!(), ".", nonnegint!(), ">")
    };
}
macro_rules! prog {
    () => {
        r"([\w\._/%-]+)"
    };
}
macro_rules! syslog_prog {
    () => {
        concat!(prog!(), r"(?:\[(", posint!(), r")\])?")
    };
}
macro_rules! common_apache_log {
    () => {
        concat!(
            "^(",
            iporhost!(),
            ") (",
            user!(),
            ") (",
            user!(),
            r") \[(",
            httpdate!(),
            r")\] ",
            "\"(",
            noquote!(),
            ")\" (",
            int!(),
            r"|\-) (",
            int!(),
            r"|\-)"
        )
    };
}
macro_rules! combined_apache_log {
    () => {
        concat!(
            common_apache_log!(),
            " \"(",
            noquote!(),
            ")\" \"(",
            noquote!(),
            ")\""
        )
    };
}
macro_rules! syslog_tail {
    () => {
        concat!(
            ") (?:",
            syslog_facility!(),
            " )?(",
            user!(),
            ") ",
            syslog_prog!(),
            ": (",
            anydata!(),
            ")"
        )
    };
}

/// `COMMONAPACHELOG`: `PatternConstants.COMMON_APACHE_LOG + ".*"`.
pub const COMMON_APACHE_LOG: &str = concat!(common_apache_log!(), ".*");

/// `COMBINEDAPACHELOG`: `PatternConstants.COMBINED_APACHE_LOG + ".*"`.
pub const COMBINED_APACHE_LOG: &str = concat!(combined_apache_log!(), ".*");

/// `APACHEERRORLOG`: `PatternConstants.APACHE_ERROR_LOG`.
pub const APACHE_ERROR_LOG: &str = concat!(
    r"^\[(",
    apache_error_log_timestamp!(),
    r")\] \[(?:(",
    word!(),
    "):)?(",
    word!(),
    r")\] \[pid (",
    nonnegint!(),
    ")(?::tid (",
    nonnegint!(),
    r"))?\] \[client (",
    urihost!(),
    r")\] (",
    anydata!(),
    ")"
);

/// `SYSLOG`: `PatternConstants.SYSLOG_BASE`.
pub const SYSLOG: &str = concat!("^(", syslog_timestamp!(), syslog_tail!());

/// `RFC3339SYSLOG`: `PatternConstants.RFC3339_SYSLOG_BASE`.
pub const RFC3339_SYSLOG: &str = concat!("^(", rfc3339!(), syslog_tail!());

/// `ApacheLogParser.COMMON_LOG_FIELDS`.
pub const COMMON_FIELDS: &[&str] = &[
    "host", "ident", "authuser", "datetime", "request", "response", "bytes",
];

/// `ApacheLogParser.COMBINED_LOG_FIELDS`.
pub const COMBINED_FIELDS: &[&str] = &[
    "host", "ident", "authuser", "datetime", "request", "response", "bytes", "referer", "agent",
];

/// `ApacheLogParser.ERROR_LOG_FIELDS`.
pub const ERROR_FIELDS: &[&str] = &[
    "timestamp",
    "module",
    "severity",
    "processid",
    "threadid",
    "client",
    "message",
];

/// `SysLogParser.SYSLOG_FIELDS` (both syslog formats).
pub const SYSLOG_FIELDS: &[&str] = &["timestamp", "hostname", "program", "processid", "message"];

/// The built-in Java regex of a log format.
pub fn pattern(format: LogFormat) -> &'static str {
    match format {
        LogFormat::CommonApacheLog => COMMON_APACHE_LOG,
        LogFormat::CombinedApacheLog => COMBINED_APACHE_LOG,
        LogFormat::ApacheErrorLog => APACHE_ERROR_LOG,
        LogFormat::Syslog => SYSLOG,
        LogFormat::Rfc3339Syslog => RFC3339_SYSLOG,
    }
}

/// The default output field names of a log format.
pub fn default_fields(format: LogFormat) -> &'static [&'static str] {
    match format {
        LogFormat::CommonApacheLog => COMMON_FIELDS,
        LogFormat::CombinedApacheLog => COMBINED_FIELDS,
        LogFormat::ApacheErrorLog => ERROR_FIELDS,
        LogFormat::Syslog | LogFormat::Rfc3339Syslog => SYSLOG_FIELDS,
    }
}

/// `ApacheLogParser` (every Apache format, even with a custom `matchPattern`) turns a captured
/// `"-"` into `null`; `SysLogParser` keeps it.
pub fn dash_is_null(format: LogFormat) -> bool {
    matches!(
        format,
        LogFormat::CommonApacheLog | LogFormat::CombinedApacheLog | LogFormat::ApacheErrorLog
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [LogFormat; 5] = [
        LogFormat::CommonApacheLog,
        LogFormat::CombinedApacheLog,
        LogFormat::ApacheErrorLog,
        LogFormat::Syslog,
        LogFormat::Rfc3339Syslog,
    ];

    /// The patterns as a JVM prints the concatenations of the Java agent's `PatternConstants`.
    #[test]
    fn patterns_are_the_java_strings() {
        assert_eq!(
            COMMON_APACHE_LOG,
            r#"^((?:(?:[\w\-]+)(?:\.(?:[\w\-]+))*(?:\.?|\b)|(?:[\d\.]+))) ((?:[a-zA-Z0-9._-]+)) ((?:[a-zA-Z0-9._-]+)) \[((?:(?:(?:0[1-9])|(?:[12][0-9])|(?:3[01])|[1-9])/\b(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|Jun(?:e)?|Jul(?:y)?|Aug(?:ust)?|Sep(?:tember)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\b/(?:[1-9]\d*):(?:(?:2[0123]|[01]?[0-9]):(?:[0-5][0-9]):(?:(?:[0-5]?[0-9]|60)(?:[:\.,][0-9]+)?))\s(?:[+-]?(?:[0-9]+))))\] "([^"]+)" ((?:[+-]?(?:[0-9]+))|\-) ((?:[+-]?(?:[0-9]+))|\-).*"#
        );
        assert_eq!(
            COMBINED_APACHE_LOG,
            r#"^((?:(?:[\w\-]+)(?:\.(?:[\w\-]+))*(?:\.?|\b)|(?:[\d\.]+))) ((?:[a-zA-Z0-9._-]+)) ((?:[a-zA-Z0-9._-]+)) \[((?:(?:(?:0[1-9])|(?:[12][0-9])|(?:3[01])|[1-9])/\b(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|Jun(?:e)?|Jul(?:y)?|Aug(?:ust)?|Sep(?:tember)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\b/(?:[1-9]\d*):(?:(?:2[0123]|[01]?[0-9]):(?:[0-5][0-9]):(?:(?:[0-5]?[0-9]|60)(?:[:\.,][0-9]+)?))\s(?:[+-]?(?:[0-9]+))))\] "([^"]+)" ((?:[+-]?(?:[0-9]+))|\-) ((?:[+-]?(?:[0-9]+))|\-) "([^"]+)" "([^"]+)".*"#
        );
        assert_eq!(
            APACHE_ERROR_LOG,
            r#"^\[((?:(?:Mon(?:day)?|Tue(?:sday)?|Wed(?:nesday)?|Thu(?:rsday)?|Fri(?:day)?|Sat(?:urday)?|Sun(?:day)?)\s+\b(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|Jun(?:e)?|Jul(?:y)?|Aug(?:ust)?|Sep(?:tember)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\b\s+(?:(?:0[1-9])|(?:[12][0-9])|(?:3[01])|[1-9])\s+(?:(?:2[0123]|[01]?[0-9]):(?:[0-5][0-9]):(?:(?:[0-5]?[0-9]|60)(?:[:\.,][0-9]+)?))\s+(?:[1-9]\d*)))\] \[(?:(\w+):)?(\w+)\] \[pid ((?:[0-9]+))(?::tid ((?:[0-9]+)))?\] \[client ((?:(?:(?:[\w\-]+)(?:\.(?:[\w\-]+))*(?:\.?|\b)|(?:[\d\.]+))(?::(?:[1-9][0-9]*))?))\] (.*)"#
        );
        assert_eq!(
            SYSLOG,
            r#"^((?:\b(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|Jun(?:e)?|Jul(?:y)?|Aug(?:ust)?|Sep(?:tember)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\b\s+(?:(?:0[1-9])|(?:[12][0-9])|(?:3[01])|[1-9])\s+(?:(?:2[0123]|[01]?[0-9]):(?:[0-5][0-9]):(?:(?:[0-5]?[0-9]|60)(?:[:\.,][0-9]+)?)))) (?:<(?:[0-9]+).(?:[0-9]+)> )?((?:[a-zA-Z0-9._-]+)) ([\w\._/%-]+)(?:\[((?:[1-9][0-9]*))\])?: (.*)"#
        );
        assert_eq!(
            RFC3339_SYSLOG,
            r#"^((?:\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?)(?:Z|(?:[-+]\d{2}:\d{2}))) (?:<(?:[0-9]+).(?:[0-9]+)> )?((?:[a-zA-Z0-9._-]+)) ([\w\._/%-]+)(?:\[((?:[1-9][0-9]*))\])?: (.*)"#
        );
    }

    #[test]
    fn every_pattern_compiles_with_one_group_per_default_field() {
        for format in ALL {
            let re = crate::java::regex::full_match(pattern(format), false).unwrap();
            assert_eq!(re.group_count(), default_fields(format).len(), "{format:?}");
        }
    }

    #[test]
    fn dash_rule_follows_the_parser_class() {
        assert!(dash_is_null(LogFormat::CommonApacheLog));
        assert!(dash_is_null(LogFormat::CombinedApacheLog));
        assert!(dash_is_null(LogFormat::ApacheErrorLog));
        assert!(!dash_is_null(LogFormat::Syslog));
        assert!(!dash_is_null(LogFormat::Rfc3339Syslog));
    }
}
