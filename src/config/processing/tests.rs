use super::*;
use serde_json::{json, Map};
use std::path::Path;

const F: &str = "/f.json";

fn run(v: Value) -> (Result<ProcessingOption, String>, Vec<String>) {
    let map: Map<String, Value> = match v {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    let mut sec = Section::root(Path::new(F), &map);
    let r = parse(&mut sec).map_err(|e| e.to_string());
    (r, sec.unknown_keys())
}

fn ok(v: Value) -> ProcessingOption {
    match run(v) {
        (Ok(o), _) => o,
        (Err(e), _) => panic!("{e}"),
    }
}

fn err(v: Value) -> String {
    match run(v) {
        (Err(e), _) => e,
        (Ok(o), _) => panic!("accepted {o:?}"),
    }
}

#[test]
fn option_name_required_and_case_sensitive() {
    assert_eq!(
        err(json!({})),
        "/f.json: optionName: Required configuration value missing: optionName"
    );
    assert_eq!(
            err(json!({"optionName": "singleline"})),
            "/f.json: optionName: Value(singleline) is not legally accepted by key: optionName. Legal values are ADDMETADATA,ADDEC2METADATA,SINGLELINE,CSVTOJSON,LOGTOJSON,ADDBRACKETS,USINGPLUGGIN"
        );
}

#[test]
fn single_line_parse_options() {
    assert_eq!(
        ok(json!({"optionName": "SINGLELINE"})),
        ProcessingOption::SingleLine {
            no_trim: false,
            escape_new_line: false
        }
    );
    assert_eq!(
        ok(json!({"optionName": "SINGLELINE", "parseOptions": ["NO_TRIM", "ESCAPE_NEW_LINE"]})),
        ProcessingOption::SingleLine {
            no_trim: true,
            escape_new_line: true
        }
    );
    assert_eq!(
        ok(json!({"optionName": "SINGLELINE", "parseOptions": ["ESCAPE_NEW_LINE"]})),
        ProcessingOption::SingleLine {
            no_trim: false,
            escape_new_line: true
        }
    );
    assert_eq!(
            err(json!({"optionName": "SINGLELINE", "parseOptions": ["no_trim"]})),
            "/f.json: parseOptions: Value(no_trim) is not legally accepted by key: parseOptions. Legal values are NO_TRIM,ESCAPE_NEW_LINE"
        );
    assert!(
        err(json!({"optionName": "SINGLELINE", "parseOptions": "NO_TRIM"}))
            .contains("expected a list")
    );
}

#[test]
fn csv_to_json() {
    assert_eq!(
        err(json!({"optionName": "CSVTOJSON"})),
        "/f.json: customFieldNames: Required list missing: customFieldNames"
    );
    assert_eq!(
        ok(json!({"optionName": "CSVTOJSON", "customFieldNames": ["a", "b"]})),
        ProcessingOption::CsvToJson {
            field_names: vec!["a".into(), "b".into()],
            delimiter: ",".into(),
            json_format: JsonFormat::Compact
        }
    );
    assert_eq!(
        ok(
            json!({"optionName": "CSVTOJSON", "customFieldNames": ["a"], "delimiter": "\\t", "jsonFormat": "PRETTYPRINT"})
        ),
        ProcessingOption::CsvToJson {
            field_names: vec!["a".into()],
            delimiter: "\\t".into(),
            json_format: JsonFormat::PrettyPrint
        }
    );
    assert!(err(
        json!({"optionName": "CSVTOJSON", "customFieldNames": ["a"], "jsonFormat": "pretty"})
    )
    .ends_with("Legal values are COMPACT,PRETTYPRINT"));
}

#[test]
fn log_to_json_requirements() {
    assert_eq!(
        err(json!({"optionName": "LOGTOJSON"})),
        "/f.json: logFormat: Required configuration value missing: logFormat"
    );
    assert!(err(json!({"optionName": "LOGTOJSON", "logFormat": "apache"}))
            .ends_with("Legal values are COMMONAPACHELOG,COMBINEDAPACHELOG,APACHEERRORLOG,SYSLOG,RFC3339SYSLOG"));
    assert_eq!(
            err(json!({"optionName": "LOGTOJSON", "logFormat": "SYSLOG", "matchPattern": "^(.*)$"})),
            "/f.json: customFieldNames: customFieldNames must be specified when matchPattern is specified"
        );
    assert_eq!(
        ok(
            json!({"optionName": "LOGTOJSON", "logFormat": "SYSLOG", "matchPattern": "^(.*)$", "customFieldNames": ["m"]})
        ),
        ProcessingOption::LogToJson {
            log_format: LogFormat::Syslog,
            match_pattern: Some("^(.*)$".into()),
            custom_field_names: Some(vec!["m".into()]),
            json_format: JsonFormat::Compact
        }
    );
    assert_eq!(
        ok(json!({"optionName": "LOGTOJSON", "logFormat": "COMMONAPACHELOG"})),
        ProcessingOption::LogToJson {
            log_format: LogFormat::CommonApacheLog,
            match_pattern: None,
            custom_field_names: None,
            json_format: JsonFormat::Compact
        }
    );
}

#[test]
fn log_to_json_custom_field_counts() {
    let names = |n: usize| (0..n).map(|i| format!("c{i}")).collect::<Vec<_>>();
    for (format, count) in [
        ("COMMONAPACHELOG", 7),
        ("COMBINEDAPACHELOG", 9),
        ("APACHEERRORLOG", 7),
        ("SYSLOG", 5),
        ("RFC3339SYSLOG", 5),
    ] {
        ok(
            json!({"optionName": "LOGTOJSON", "logFormat": format, "customFieldNames": names(count)}),
        );
        for wrong in [count - 1, count + 1] {
            assert_eq!(
                    err(json!({"optionName": "LOGTOJSON", "logFormat": format, "customFieldNames": names(wrong)})),
                    "/f.json: customFieldNames: Invalid custom field names for the selected log format. Please modify the field names or specify the matchPattern"
                );
        }
    }
}

#[test]
fn add_metadata() {
    let o = ok(json!({"optionName": "ADDMETADATA", "metadata": {"z": 1, "a": {"b": "c"}}}));
    let ProcessingOption::AddMetadata {
        metadata,
        timestamp,
        json_format,
    } = o
    else {
        panic!("wrong option");
    };
    assert!(!timestamp);
    assert_eq!(json_format, JsonFormat::Compact);
    assert_eq!(
        serde_json::to_string(&metadata).unwrap(),
        r#"{"z":1,"a":{"b":"c"}}"#
    );
    for (t, expect) in [
        (json!("true"), true),
        (json!("false"), false),
        (json!(true), true),
        (json!(false), false),
        (json!("TRUE"), true),
    ] {
        let o = ok(json!({"optionName": "ADDMETADATA", "metadata": "x", "timestamp": t}));
        assert!(
            matches!(o, ProcessingOption::AddMetadata { timestamp, .. } if timestamp == expect)
        );
    }
    assert!(
        err(json!({"optionName": "ADDMETADATA", "timestamp": "sometimes"}))
            .contains("Cannot convert value to boolean")
    );
    let o = ok(json!({"optionName": "ADDMETADATA"}));
    assert!(matches!(
        o,
        ProcessingOption::AddMetadata {
            metadata: Value::Null,
            ..
        }
    ));
}

#[test]
fn add_ec2_metadata() {
    assert_eq!(
        ok(json!({"optionName": "ADDEC2METADATA"})),
        ProcessingOption::AddEc2Metadata {
            log_format: None,
            metadata_ttl_secs: 3600,
            json_format: JsonFormat::Compact
        }
    );
    assert_eq!(
        ok(
            json!({"optionName": "ADDEC2METADATA", "logFormat": "SYSLOG", "metadataTTL": "60", "jsonFormat": "PRETTYPRINT"})
        ),
        ProcessingOption::AddEc2Metadata {
            log_format: Some(LogFormat::Syslog),
            metadata_ttl_secs: 60,
            json_format: JsonFormat::PrettyPrint
        }
    );
    assert!(
        err(json!({"optionName": "ADDEC2METADATA", "metadataTTL": -1}))
            .contains("outside of valid range")
    );
    assert!(
        err(json!({"optionName": "ADDEC2METADATA", "logFormat": "x"}))
            .contains("not legally accepted")
    );
}

#[test]
fn brackets_and_plugin() {
    assert_eq!(
        ok(json!({"optionName": "ADDBRACKETS"})),
        ProcessingOption::AddBrackets
    );
    assert_eq!(
        err(json!({"optionName": "USINGPLUGGIN"})),
        "/f.json: className: Required configuration value missing: className"
    );
    assert_eq!(
        ok(json!({"optionName": "USINGPLUGGIN", "className": "com.x.Y"})),
        ProcessingOption::UsingPluggin {
            class_name: "com.x.Y".into()
        }
    );
}

#[test]
fn keys_of_other_options_are_unknown() {
    let (r, unknown) =
        run(json!({"optionName": "SINGLELINE", "delimiter": ",", "customFieldNames": ["a"]}));
    assert!(r.is_ok());
    assert_eq!(
        unknown,
        vec!["/f.json: delimiter", "/f.json: customFieldNames"]
    );
}
