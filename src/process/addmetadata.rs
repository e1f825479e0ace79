//! ADDMETADATA: wrap the record as `{"ts":...,"metadata":...,"data":"<record>"}`.
//!
//! Java (`AddMetadataConverter`): decode the record as UTF-8, strip ONE trailing `\n`, put
//! `ts` (only when `timestamp` is true: processing time, `SimpleDateFormat`
//! `yyyy-MM-dd'T'HH:mm:ss.SSS'Z'` in UTC), `metadata` (the configured value as Jackson parsed
//! it, key order kept; `null` when absent) and `data` (the line as a JSON string) into a
//! `LinkedHashMap`, print it with Jackson and append `\n`.
//!
//! Everything but `ts` and `data` is the same for every record, so the constant parts are
//! rendered once, at construction, by the Jackson-compatible writer; a record then costs two
//! copies, one timestamp and one escaped string, with no allocation.

use std::time::SystemTime;

use crate::config::JsonFormat;

use super::timestamp::{epoch_millis, write_utc_millis};
use super::{utf8, ConvertError, Converter};
use crate::java::json::{self, JsonWriter};

/// Where ADDMETADATA reads the time; injected so that tests are deterministic.
pub type Clock = fn() -> SystemTime;

/// The ADDMETADATA converter.
pub struct AddMetadata {
    timestamp: bool,
    clock: Clock,
    /// `{` and, with a timestamp, the `ts` name, up to its value.
    head: Vec<u8>,
    /// From after the `ts` value (or `{`) through `"data":`, metadata included.
    middle: Vec<u8>,
    /// After the `data` value: `}` and the record's `\n`.
    tail: Vec<u8>,
}

impl std::fmt::Debug for AddMetadata {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AddMetadata")
            .field("timestamp", &self.timestamp)
            .field("middle", &String::from_utf8_lossy(&self.middle))
            .finish_non_exhaustive()
    }
}

impl AddMetadata {
    /// Build from `metadata`, `timestamp` and `jsonFormat`, reading the system clock.
    pub fn new(metadata: &serde_json::Value, timestamp: bool, format: JsonFormat) -> Self {
        AddMetadata::with_clock(metadata, timestamp, format, SystemTime::now)
    }

    /// The same, with the time taken from `clock`.
    pub fn with_clock(
        metadata: &serde_json::Value,
        timestamp: bool,
        format: JsonFormat,
        clock: Clock,
    ) -> Self {
        // Render the whole object once with empty `ts` and `data` strings and cut it where
        // the per-record values go.
        let mut buf = Vec::new();
        let mut w = JsonWriter::new(&mut buf, format);
        w.begin_object();
        if timestamp {
            w.name("ts");
        }
        let head_end = w.buffer().len();
        if timestamp {
            w.string("");
        }
        let middle_start = w.buffer().len();
        w.name("metadata");
        w.value(metadata);
        w.name("data");
        let middle_end = w.buffer().len();
        w.string("");
        let tail_start = w.buffer().len();
        w.end_object();
        buf.push(b'\n');
        AddMetadata {
            timestamp,
            clock,
            head: buf[..head_end].to_vec(),
            middle: buf[middle_start..middle_end].to_vec(),
            tail: buf[tail_start..].to_vec(),
        }
    }
}

impl Converter for AddMetadata {
    fn name(&self) -> &'static str {
        "ADDMETADATA"
    }

    fn convert(&self, input: &[u8], out: &mut Vec<u8>) -> Result<bool, ConvertError> {
        let text = utf8::decode(input);
        let line = text.strip_suffix('\n').unwrap_or(&text);
        out.reserve(self.head.len() + 26 + self.middle.len() + line.len() + 2 + self.tail.len());
        out.extend_from_slice(&self.head);
        if self.timestamp {
            out.push(b'"');
            write_utc_millis(epoch_millis((self.clock)()), out);
            out.push(b'"');
        }
        out.extend_from_slice(&self.middle);
        json::write_string(out, line);
        out.extend_from_slice(&self.tail);
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::time::{Duration, UNIX_EPOCH};

    /// 2024-02-29T23:59:58.007Z.
    fn fixed_clock() -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(1_709_251_198_007)
    }

    fn conv(meta: &serde_json::Value, ts: bool, format: JsonFormat, input: &[u8]) -> String {
        let c = AddMetadata::with_clock(meta, ts, format, fixed_clock);
        let mut out = Vec::new();
        assert!(c.convert(input, &mut out).unwrap());
        String::from_utf8(out).unwrap()
    }

    /// `DataConverterTest.testAddMetadataConverter` (its `HashMap` iterates `foo` first).
    #[test]
    fn data_converter_test_add_metadata() {
        let meta = json!({"foo": {"bar": "bas"}, "key": "value"});
        assert_eq!(
            conv(&meta, false, JsonFormat::Compact, b"This is the data"),
            "{\"metadata\":{\"foo\":{\"bar\":\"bas\"},\"key\":\"value\"},\"data\":\"This is the data\"}\n"
        );
    }

    /// The ADDMETADATA example of the Java agent's documentation: key order as configured, one `\n` stripped, `ts` first.
    #[test]
    fn reference_example_with_timestamp() {
        let meta = json!({"key": "value", "foo": {"bar": "bas"}});
        assert_eq!(
            conv(&meta, true, JsonFormat::Compact, b"This is the data\n"),
            "{\"ts\":\"2024-02-29T23:59:58.007Z\",\"metadata\":{\"key\":\"value\",\"foo\":{\"bar\":\"bas\"}},\"data\":\"This is the data\"}\n"
        );
    }

    #[test]
    fn pretty_print_nests_metadata_like_jackson() {
        let meta = json!({"key": "value", "foo": {"bar": "bas", "n": [1, 2.5, {"x": null}], "e": {}, "a": []}});
        assert_eq!(
            conv(&meta, true, JsonFormat::PrettyPrint, b"line\n"),
            "{\n  \"ts\" : \"2024-02-29T23:59:58.007Z\",\n  \"metadata\" : {\n    \"key\" : \"value\",\n    \"foo\" : {\n      \"bar\" : \"bas\",\n      \"n\" : [ 1, 2.5, {\n        \"x\" : null\n      } ],\n      \"e\" : { },\n      \"a\" : [ ]\n    }\n  },\n  \"data\" : \"line\"\n}\n"
        );
        assert_eq!(
            conv(&json!({}), false, JsonFormat::PrettyPrint, b"x"),
            "{\n  \"metadata\" : { },\n  \"data\" : \"x\"\n}\n"
        );
    }

    #[test]
    fn metadata_of_any_type_is_copied() {
        for (meta, want) in [
            (json!(null), "null"),
            (json!("s\"q"), "\"s\\\"q\""),
            (json!(42), "42"),
            (json!(-7), "-7"),
            (json!(true), "true"),
            (json!(1.5), "1.5"),
            (json!(1e10), "1.0E10"),
            (json!(0.0001), "1.0E-4"),
            (json!([]), "[]"),
            (json!([1, "a", null]), "[1,\"a\",null]"),
        ] {
            assert_eq!(
                conv(&meta, false, JsonFormat::Compact, b"d"),
                format!("{{\"metadata\":{want},\"data\":\"d\"}}\n"),
                "{meta}"
            );
        }
    }

    #[test]
    fn data_is_escaped_and_only_one_newline_is_stripped() {
        let meta = json!(null);
        assert_eq!(
            conv(&meta, false, JsonFormat::Compact, b"a\tb\"c\\\r\n\n"),
            "{\"metadata\":null,\"data\":\"a\\tb\\\"c\\\\\\r\\n\"}\n"
        );
        assert_eq!(
            conv(&meta, false, JsonFormat::Compact, b"\n"),
            "{\"metadata\":null,\"data\":\"\"}\n"
        );
        assert_eq!(
            conv(&meta, false, JsonFormat::Compact, b""),
            "{\"metadata\":null,\"data\":\"\"}\n"
        );
        assert_eq!(
            conv(&meta, false, JsonFormat::Compact, b"caf\xc3\xa9 \xff\x01"),
            "{\"metadata\":null,\"data\":\"caf\u{e9} \u{fffd}\\u0001\"}\n"
        );
    }

    #[test]
    fn the_system_clock_is_used_by_default() {
        let c = AddMetadata::new(&json!(null), true, JsonFormat::Compact);
        let mut out = Vec::new();
        assert!(c.convert(b"x", &mut out).unwrap());
        let s = String::from_utf8(out).unwrap();
        // {"ts":"yyyy-MM-ddTHH:mm:ss.SSSZ",...
        assert_eq!(s.as_bytes()[7 + 10], b'T', "{s}");
        assert!(s.starts_with("{\"ts\":\"20"), "{s}");
        assert_eq!(&s[7 + 23..7 + 25], "Z\"", "{s}");
    }

    #[test]
    fn reuses_the_output_buffer() {
        let c = AddMetadata::with_clock(&json!({"a": 1}), true, JsonFormat::Compact, fixed_clock);
        let mut out = Vec::with_capacity(1024);
        let ptr = out.as_ptr();
        for _ in 0..100 {
            out.clear();
            assert!(c.convert(b"some line\n", &mut out).unwrap());
        }
        assert_eq!(out.as_ptr(), ptr);
        assert_eq!(
            out,
            b"{\"ts\":\"2024-02-29T23:59:58.007Z\",\"metadata\":{\"a\":1},\"data\":\"some line\"}\n"
        );
    }

    /// Run every record of a recording made by `oracle/addmetadata_cases.py`.
    fn check_oracle_recording(jsonl: &str) -> usize {
        let mut failures = Vec::new();
        let mut n = 0;
        for line in jsonl.lines().filter(|l| !l.is_empty()) {
            let case: serde_json::Value = serde_json::from_str(line).unwrap();
            let meta: serde_json::Value =
                serde_json::from_str(case["metadata"].as_str().unwrap()).unwrap();
            let format = if case["pretty"].as_bool().unwrap() {
                JsonFormat::PrettyPrint
            } else {
                JsonFormat::Compact
            };
            let timestamp = case["timestamp"].as_bool().unwrap();
            let got = conv(
                &meta,
                timestamp,
                format,
                case["input"].as_str().unwrap().as_bytes(),
            );
            if Some(got.as_str()) != case["out"].as_str() {
                failures.push(format!("{line}\n  got {got:?}"));
            }
            n += 1;
        }
        assert!(
            failures.is_empty(),
            "{} differ:\n{}",
            failures.len(),
            failures.join("\n")
        );
        n
    }

    /// Random nested metadata and records, printed by Jackson on a JVM.
    #[test]
    fn agrees_with_jackson() {
        let n = check_oracle_recording(include_str!(
            "../../tests/fixtures/addmetadata_oracle.jsonl"
        ));
        assert!(n >= 150, "{n}");
    }

    /// A bigger recording: `KINETAIL_ADDMETADATA_ORACLE=/tmp/big.jsonl cargo test -- --ignored`.
    #[test]
    #[ignore = "needs a recording made with oracle/addmetadata_cases.py"]
    fn agrees_with_a_jackson_recording_named_by_the_environment() {
        let path =
            std::env::var("KINETAIL_ADDMETADATA_ORACLE").expect("KINETAIL_ADDMETADATA_ORACLE");
        let n = check_oracle_recording(&std::fs::read_to_string(path).unwrap());
        eprintln!("{n} records agree");
    }
}
