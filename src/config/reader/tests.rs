use super::*;
use serde_json::json;

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

const F: &str = "/etc/x/agent.json";

#[derive(Debug, Clone, Copy, PartialEq)]
enum Color {
    Red,
    Green,
}
impl JavaEnum for Color {
    const VALUES: &'static [(&'static str, Self)] = &[("RED", Color::Red), ("GREEN", Color::Green)];
}

#[test]
fn comments_are_stripped_and_positions_kept() {
    let text = "{\n // line\n \"a\": /* block */ 1,\n /* multi\n line */ \"b\": 2\n}";
    let map = parse_document(Path::new(F), text).expect("parses");
    assert_eq!(map.get("a"), Some(&json!(1)));
    assert_eq!(map.get("b"), Some(&json!(2)));
    let err = parse_document(Path::new(F), "{\n// c\n  \"a\": 1,\n  \"b\" 2\n}").unwrap_err();
    match &err {
        ConfigError::Syntax { line, column, .. } => assert_eq!((*line, *column), (4, 7)),
        other => panic!("unexpected {other:?}"),
    }
    let text = err.to_string();
    assert!(
        text.starts_with("/etc/x/agent.json:4:7: invalid JSON: expected `:`"),
        "{text}"
    );
}

#[test]
fn byte_order_mark_is_skipped() {
    let map = parse_document(Path::new(F), "\u{feff}{\"a\": 1}").expect("parses");
    assert_eq!(map.get("a"), Some(&json!(1)));
}

#[test]
fn hash_comments_are_not_json() {
    assert!(parse_document(Path::new(F), "{\n# no\n}").is_err());
}

#[test]
fn top_level_must_be_object() {
    let err = parse_document(Path::new(F), "[1]").unwrap_err();
    assert_eq!(
        err.to_string(),
        "/etc/x/agent.json: the configuration must be a JSON object, found an array"
    );
}

#[test]
fn numbers_from_json_numbers_and_strings() {
    let m = obj(json!({"a": 21, "b": "21", "c": "-3", "d": "+4", "e": 9000000000i64}));
    let mut s = Section::root(Path::new(F), &m);
    assert_eq!(s.int_in("a", 0, 0, 100).unwrap(), 21);
    assert_eq!(s.int_in("b", 0, 0, 100).unwrap(), 21);
    assert_eq!(s.long_any("c", 0).unwrap(), -3);
    assert_eq!(s.long_any("d", 0).unwrap(), 4);
    assert_eq!(s.long_any("e", 0).unwrap(), 9_000_000_000);
    assert_eq!(s.int_in("missing", 7, 0, 100).unwrap(), 7);
}

#[test]
fn bad_numbers_give_the_java_message() {
    let m = obj(
        json!({"a": "21.5", "b": 21.5, "c": "abc", "d": " 1", "e": 9000000000i64, "f": true, "g": [1], "h": 1e3}),
    );
    let mut s = Section::root(Path::new(F), &m);
    let e = |r: Result<u32, ConfigError>| r.unwrap_err().to_string();
    assert_eq!(
        e(s.int_in("a", 0, 0, 100)),
        "/etc/x/agent.json: a: Failed to convert value (21.5) to desired type (int): a"
    );
    assert!(e(s.int_in("b", 0, 0, 100))
        .ends_with("Failed to convert value (21.5) to desired type (int): b"));
    assert!(e(s.int_in("c", 0, 0, 100)).ends_with("(abc) to desired type (int): c"));
    assert!(e(s.int_in("d", 0, 0, 100)).ends_with("( 1) to desired type (int): d"));
    assert!(
        e(s.int_in("e", 0, 0, u32::MAX >> 1)).ends_with("(9000000000) to desired type (int): e")
    );
    assert!(e(s.int_in("f", 0, 0, 100)).ends_with("(true) to desired type (int): f"));
    assert!(e(s.int_in("g", 0, 0, 100)).ends_with("([1]) to desired type (int): g"));
    let h = s.long_in("h", 0, 0, 100).unwrap_err().to_string();
    assert!(h.ends_with("(1000.0) to desired type (long): h"), "{h}");
}

#[test]
fn range_errors() {
    let m = obj(json!({"a": 501, "b": "0"}));
    let mut s = Section::root(Path::new(F), &m);
    assert_eq!(
        s.int_in("a", 1, 1, 500).unwrap_err().to_string(),
        "/etc/x/agent.json: a: 'a' value 501 is outside of valid range ([1, 500])"
    );
    assert!(s
        .long_in("b", 1, 1, 500)
        .unwrap_err()
        .to_string()
        .ends_with("'b' value 0 is outside of valid range ([1, 500])"));
}

#[test]
fn every_boolean_spelling() {
    for t in [
        "true", "TRUE", "True", "yes", "YES", "Yes", "t", "T", "y", "Y", "1",
    ] {
        assert_eq!(parse_bool(t), Some(true), "{t}");
    }
    for f in [
        "false", "FALSE", "False", "no", "NO", "No", "f", "F", "n", "N", "0",
    ] {
        assert_eq!(parse_bool(f), Some(false), "{f}");
    }
    for bad in ["", " true", "on", "off", "2", "yess", "1.0"] {
        assert_eq!(parse_bool(bad), None, "{bad}");
    }
    let m = obj(
        json!({"a": true, "b": false, "c": 1, "d": 0, "e": "Y", "f": 2, "g": "maybe", "h": null, "i": ""}),
    );
    let mut s = Section::root(Path::new(F), &m);
    assert!(s.boolean("a", false).unwrap());
    assert!(!s.boolean("b", true).unwrap());
    assert!(s.boolean("c", false).unwrap());
    assert!(!s.boolean("d", true).unwrap());
    assert!(s.boolean("e", false).unwrap());
    assert_eq!(
        s.boolean("f", false).unwrap_err().to_string(),
        "/etc/x/agent.json: f: Cannot convert value to boolean: 2"
    );
    assert!(s
        .boolean("g", false)
        .unwrap_err()
        .to_string()
        .ends_with("Cannot convert value to boolean: maybe"));
    assert!(s.boolean("h", true).unwrap());
    assert!(s.boolean("i", true).unwrap());
}

#[test]
fn null_and_empty_are_unset() {
    let m = obj(json!({"a": null, "b": "", "c": " "}));
    let mut s = Section::root(Path::new(F), &m);
    assert_eq!(s.string("a").unwrap(), None);
    assert_eq!(s.string("b").unwrap(), None);
    assert_eq!(s.string("c").unwrap(), Some(" ".to_string()));
    assert!(s.unknown_keys().is_empty());
}

#[test]
fn strings_accept_scalars_only() {
    let m = obj(json!({"n": 12, "b": false, "o": {"x": 1}}));
    let mut s = Section::root(Path::new(F), &m);
    assert_eq!(s.string("n").unwrap().as_deref(), Some("12"));
    assert_eq!(s.string("b").unwrap().as_deref(), Some("false"));
    assert!(s
        .string("o")
        .unwrap_err()
        .to_string()
        .contains("to desired type (string): o"));
}

#[test]
fn enums_are_case_sensitive() {
    let m = obj(json!({"a": "GREEN", "b": "green", "c": 3}));
    let mut s = Section::root(Path::new(F), &m);
    assert_eq!(s.enumeration::<Color>("a").unwrap(), Some(Color::Green));
    assert_eq!(
            s.enumeration::<Color>("b").unwrap_err().to_string(),
            "/etc/x/agent.json: b: Value(green) is not legally accepted by key: b. Legal values are RED,GREEN"
        );
    assert!(s.enumeration::<Color>("c").is_err());
    assert_eq!(s.enumeration::<Color>("z").unwrap(), None);
    assert_eq!(lookup_enum::<Color>("RED"), Some(Color::Red));
}

#[test]
fn lists_and_sections() {
    let m = obj(json!({"l": ["a", 1, true], "bad": "x", "badItem": ["a", {}], "o": [{"k": 1}, 2]}));
    let mut s = Section::root(Path::new(F), &m);
    assert_eq!(
        s.string_list("l").unwrap(),
        Some(vec!["a".into(), "1".into(), "true".into()])
    );
    assert!(s
        .string_list("bad")
        .unwrap_err()
        .to_string()
        .ends_with("bad: expected a list, found a string"));
    assert!(s
        .string_list("badItem")
        .unwrap_err()
        .to_string()
        .contains("badItem[1]: expected a string"));
    let err = s
        .sections("o")
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert_eq!(
        err,
        "/etc/x/agent.json: o[1]: expected an object, found a number"
    );
    assert!(s.sections("none").unwrap().is_empty());
}

#[test]
fn unknown_keys_are_what_was_not_read() {
    let m = obj(
        json!({"known": 1, "cloudwatch": {"emitMetrics": false}, "initialPostion": "x", "flows": [{"a": 1, "b": 2}]}),
    );
    let mut s = Section::root(Path::new(F), &m);
    s.int_in("known", 0, 0, 10).unwrap();
    let mut flows = s.sections("flows").unwrap();
    flows[0].ignore("a");
    assert_eq!(
        s.unknown_keys(),
        vec![
            "/etc/x/agent.json: cloudwatch",
            "/etc/x/agent.json: initialPostion"
        ]
    );
    assert_eq!(
        flows[0].unknown_keys(),
        vec!["/etc/x/agent.json: flows[0].b"]
    );
    assert_eq!(flows[0].key_path("c"), "flows[0].c");
}

proptest::proptest! {
    #[test]
    fn reading_never_panics(v in proptest::prelude::any::<String>(), n in proptest::prelude::any::<i64>()) {
        let m = obj(json!({"s": v, "n": n}));
        let mut s = Section::root(Path::new(F), &m);
        let _ = s.int_in("s", 0, 0, 10);
        let _ = s.long_in("n", 0, 0, u64::MAX);
        let _ = s.boolean("s", false);
        let _ = s.enumeration::<Color>("s");
        let _ = s.int_in("n", 0, 0, u32::MAX);
    }

    #[test]
    fn decimal_strings_parse_like_numbers(n in proptest::prelude::any::<i32>()) {
        let m = obj(json!({"s": n.to_string(), "n": n}));
        let mut s = Section::root(Path::new(F), &m);
        let a = s.long_any("s", 0).unwrap();
        let b = s.long_any("n", 0).unwrap();
        proptest::prop_assert_eq!(a, i64::from(n));
        proptest::prop_assert_eq!(b, i64::from(n));
    }
}
