use super::*;
use crate::config::{JsonFormat, LogFormat};
use crate::java::regex::looking_at;

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

/// The chain's outcome and output; the output buffer starts with other records' bytes, which
/// must stay as they are whatever the outcome.
fn run(chain: &Chain, record: &[u8]) -> (Outcome, String) {
    const BEFORE: &[u8] = b"{\"earlier\":\"record\"}\n";
    let mut out = BEFORE.to_vec();
    let outcome = chain.process(record, &mut out);
    let made = out
        .strip_prefix(BEFORE)
        .unwrap_or_else(|| panic!("the bytes before the output were changed: {out:?}"));
    assert!(
        outcome == Outcome::Converted || made.is_empty(),
        "{outcome:?} left {made:?} behind"
    );
    (outcome, String::from_utf8(made.to_vec()).unwrap())
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
            (Outcome::Skipped("SKIP"), String::new()),
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
fn java_only_options_are_rejected_by_name() {
    let err = Chain::new(&[ProcessingOption::UsingPluggin {
        class_name: "com.example.MyConverter".into(),
    }])
    .unwrap_err();
    let msg = err.to_string();
    assert!(matches!(
        err,
        ProcessError::JavaOnly {
            option: "USINGPLUGGIN",
            ..
        }
    ));
    assert!(msg.contains("com.example.MyConverter"), "{msg}");
    assert!(msg.contains("Java class"), "{msg}");
    assert!(msg.contains("never be supported"), "{msg}");
}

#[test]
fn every_other_option_builds() {
    let chain = Chain::new(&[
        single_line(false),
        csv(&["a"], ","),
        ProcessingOption::LogToJson {
            log_format: LogFormat::Syslog,
            match_pattern: None,
            custom_field_names: None,
            json_format: JsonFormat::PrettyPrint,
        },
        ProcessingOption::AddMetadata {
            metadata: serde_json::json!({"k": "v"}),
            timestamp: false,
            json_format: JsonFormat::Compact,
        },
        ProcessingOption::AddBrackets,
    ])
    .unwrap();
    assert_eq!(
        format!("{chain:?}"),
        r#"["SINGLELINE", "CSVTOJSON", "LOGTOJSON", "ADDMETADATA", "ADDBRACKETS"]"#
    );
}

#[test]
fn logtojson_then_addmetadata_then_addbrackets() {
    let chain = Chain::new(&[
        ProcessingOption::LogToJson {
            log_format: LogFormat::Syslog,
            match_pattern: None,
            custom_field_names: None,
            json_format: JsonFormat::Compact,
        },
        ProcessingOption::AddMetadata {
            metadata: serde_json::json!({"env": "prod"}),
            timestamp: false,
            json_format: JsonFormat::Compact,
        },
        ProcessingOption::AddBrackets,
    ])
    .unwrap();
    assert_eq!(
        run(&chain, b"Mar 12 12:01:02 server4 snort: hi\n"),
        (
            Outcome::Converted,
            "{{\"metadata\":{\"env\":\"prod\"},\"data\":\"{\\\"timestamp\\\":\\\"Mar 12 12:01:02\\\",\\\"hostname\\\":\\\"server4\\\",\\\"program\\\":\\\"snort\\\",\\\"processid\\\":null,\\\"message\\\":\\\"hi\\\"}\"}\n}"
                .into()
        )
    );
    // A line LOGTOJSON does not match is skipped by the whole chain.
    assert_eq!(
        run(&chain, b"garbage\n"),
        (Outcome::Skipped("LOGTOJSON"), String::new())
    );
}

/// `AbstractParserTest.testConvertingMultiLineDataFromRealLog` in miniature: frame
/// `pretty_printed_json` with `multiLineStartPattern` `"    \\{"` (Java `lookingAt`, the
/// first line of a record never tested) after 2 header lines, then SINGLELINE.
#[test]
fn multi_line_framing_then_singleline() {
    let input = include_str!("../../tests/fixtures/pretty_printed_json");
    let want = include_str!("../../tests/fixtures/parsed_singleline_json");
    let start = looking_at(r"    \{").unwrap();
    let mut records: Vec<String> = Vec::new();
    for line in input.split_inclusive('\n').skip(2) {
        match records.last_mut() {
            Some(record) if !start.is_match(line) => record.push_str(line),
            _ => records.push(line.to_string()),
        }
    }
    let chain = Chain::new(&[single_line(false)]).unwrap();
    let mut got = String::new();
    for record in &records {
        let (outcome, out) = run(&chain, record.as_bytes());
        assert_eq!(outcome, Outcome::Converted);
        got.push_str(&out);
    }
    assert_eq!(records.len(), 3);
    assert_eq!(got, want);
}

#[test]
fn logtojson_errors_name_the_option() {
    let err = Chain::new(&[ProcessingOption::LogToJson {
        log_format: LogFormat::CommonApacheLog,
        match_pattern: Some("([a-".into()),
        custom_field_names: Some(vec!["a".into()]),
        json_format: JsonFormat::Compact,
    }])
    .unwrap_err();
    assert!(err.to_string().starts_with("LOGTOJSON: "), "{err}");
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
        out.clear();
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

type LogConverters = (Vec<logtojson::LogToJson>, logtojson::LogToJson);

/// Every built-in log format plus a custom pattern that matches anything, COMPACT and
/// PRETTYPRINT, compiled once for all proptest cases.
fn log_converters() -> &'static [LogConverters; 2] {
    static CONVERTERS: std::sync::OnceLock<[LogConverters; 2]> = std::sync::OnceLock::new();
    CONVERTERS.get_or_init(|| {
        [JsonFormat::Compact, JsonFormat::PrettyPrint].map(|format| {
            let built_in = [
                LogFormat::CommonApacheLog,
                LogFormat::CombinedApacheLog,
                LogFormat::ApacheErrorLog,
                LogFormat::Syslog,
                LogFormat::Rfc3339Syslog,
            ]
            .map(|f| logtojson::LogToJson::new(f, None, None, format).unwrap())
            .into();
            let custom = logtojson::LogToJson::new(
                LogFormat::Syslog,
                Some(r"(?s)(.*?)(\s*)([\d\-:]+)?(.*)"),
                Some(&["a".into(), "b".into(), "c".into(), "d".into()]),
                format,
            )
            .unwrap();
            (built_in, custom)
        })
    })
}

proptest::proptest! {
    /// Arbitrary bytes (biased towards log-like text) through every new converter: no
    /// panic, UTF-8 output, valid JSON where JSON is produced, one trailing `\n`.
    #[test]
    fn new_converters_take_any_bytes(
        record in proptest::collection::vec(
            proptest::prop_oneof![
                proptest::num::u8::ANY,
                proptest::sample::select(b" -\"[]:/.0123456789aZ\n\r\t\\".to_vec()),
            ],
            0..300,
        ),
        pretty in proptest::bool::ANY,
    ) {
        let (built_in, custom) = &log_converters()[usize::from(pretty)];
        let mut out = Vec::new();
        for c in built_in {
            out.clear();
            if c.convert(&record, &mut out).unwrap() {
                let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
                proptest::prop_assert!(v.is_object());
                proptest::prop_assert!(out.ends_with(b"\n"));
            }
        }
        out.clear();
        proptest::prop_assert!(custom.convert(&record, &mut out).unwrap());
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        let decoded = utf8::decode(&record);
        let line = decoded.strip_suffix('\n').unwrap_or(&decoded);
        let joined: String = ["a", "b", "c", "d"]
            .iter()
            .map(|k| v[k].as_str().unwrap_or_default())
            .collect();
        proptest::prop_assert_eq!(joined, line);

        let format = if pretty { JsonFormat::PrettyPrint } else { JsonFormat::Compact };
        let meta = serde_json::json!({"k": [1, {"x": null}], "e": {}});
        let c = addmetadata::AddMetadata::new(&meta, true, format);
        out.clear();
        proptest::prop_assert!(c.convert(&record, &mut out).unwrap());
        proptest::prop_assert!(out.ends_with(b"\n"));
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        proptest::prop_assert_eq!(v["data"].as_str(), Some(line));
        proptest::prop_assert_eq!(&v["metadata"], &meta);

        out.clear();
        proptest::prop_assert!(addbrackets::AddBrackets.convert(&record, &mut out).unwrap());
        let mut want = b"{".to_vec();
        want.extend_from_slice(decoded.as_bytes());
        want.push(b'}');
        proptest::prop_assert_eq!(out, want);
    }
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
        out.clear();
        let outcome = chain.process(&record, &mut out);
        assert_eq!(outcome, Outcome::Converted);
        assert!(std::str::from_utf8(&out).is_ok());
    }
}
