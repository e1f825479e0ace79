//! Lenient value reading with the Java agent's rules (`Configuration.java`, `BooleanConverter.java`).
//!
//! One [`Section`] wraps one JSON object (the top level, a flow, a processing option). Every read
//! marks its key as known, so whatever is left afterwards is an unknown key worth reporting.

use std::collections::HashSet;
use std::path::Path;

use json_comments::CommentSettings;
use serde_json::{Map, Value};

use super::error::ConfigError;

/// Parses one configuration document: C-style comments allowed (Jackson `ALLOW_COMMENTS`), top level must be an object.
pub(crate) fn parse_document(path: &Path, text: &str) -> Result<Map<String, Value>, ConfigError> {
    // `#` comments are not accepted by Jackson's ALLOW_COMMENTS, so only the C styles are stripped;
    // stripping replaces comments by blanks, which keeps serde_json's line/column positions right.
    // Jackson skips a UTF-8 byte-order mark; serde_json would reject it.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let reader = CommentSettings::c_style().strip_comments(text.as_bytes());
    let value: Value =
        serde_json::from_reader(reader).map_err(|e| ConfigError::syntax(path.to_path_buf(), &e))?;
    match value {
        Value::Object(map) => Ok(map),
        other => Err(ConfigError::Document {
            path: path.to_path_buf(),
            message: format!(
                "the configuration must be a JSON object, found {}",
                kind(&other)
            ),
        }),
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// An enum read by its exact (case-sensitive) Java constant name.
pub(crate) trait JavaEnum: Sized + Copy + 'static {
    /// Every constant with its Java spelling, in Java declaration order.
    const VALUES: &'static [(&'static str, Self)];
}

/// Width of a Java integral key: decides which values overflow.
#[derive(Debug, Clone, Copy)]
enum Width {
    /// `Integer`.
    Int,
    /// `Long`.
    Long,
}

impl Width {
    fn name(self) -> &'static str {
        match self {
            Width::Int => "int",
            Width::Long => "long",
        }
    }

    fn parse(self, text: &str) -> Option<i64> {
        // Rust's integer parsing matches Integer.parseInt/Long.parseLong: optional sign, ASCII digits only.
        match self {
            Width::Int => text.parse::<i32>().ok().map(i64::from),
            Width::Long => text.parse::<i64>().ok(),
        }
    }
}

/// One JSON object being read, with the file and key path used to prefix errors.
pub(crate) struct Section<'a> {
    file: &'a Path,
    path: String,
    map: &'a Map<String, Value>,
    used: HashSet<&'a str>,
}

impl<'a> Section<'a> {
    /// A top-level section of `file`.
    pub(crate) fn root(file: &'a Path, map: &'a Map<String, Value>) -> Self {
        Self::new(file, String::new(), map)
    }

    fn new(file: &'a Path, path: String, map: &'a Map<String, Value>) -> Self {
        Section {
            file,
            path,
            map,
            used: HashSet::new(),
        }
    }

    /// The file this section comes from.
    pub(crate) fn file(&self) -> &'a Path {
        self.file
    }

    /// Full key path of `key` inside this section, e.g. `flows[0].initialPosition`.
    pub(crate) fn key_path(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_string()
        } else if key.is_empty() {
            self.path.clone()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    /// An error about `key` (or about the section itself when `key` is empty).
    pub(crate) fn error(&self, key: &str, message: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            path: self.file.to_path_buf(),
            key: self.key_path(key),
            message: message.into(),
        }
    }

    /// Keys of this section that no read asked for, as `"<file>: <key path>"`, in document order.
    pub(crate) fn unknown_keys(&self) -> Vec<String> {
        self.map
            .keys()
            .filter(|k| !self.used.contains(k.as_str()))
            .map(|k| format!("{}: {}", self.file.display(), self.key_path(k)))
            .collect()
    }

    /// Marks `key` as known and returns its value verbatim, even `null`.
    pub(crate) fn raw(&mut self, key: &str) -> Option<&'a Value> {
        let (k, v) = self.map.get_key_value(key)?;
        self.used.insert(k.as_str());
        Some(v)
    }

    /// Marks `key` as known without interpreting it (keys the Java agent reads but ignores here).
    pub(crate) fn ignore(&mut self, key: &str) -> bool {
        self.raw(key).is_some_and(|v| !is_unset(v))
    }

    /// Marks `key` as known; `null` and `""` count as unset.
    fn value(&mut self, key: &str) -> Option<&'a Value> {
        self.raw(key).filter(|v| !is_unset(v))
    }

    /// A string key; numbers and booleans are taken as their text, like Java's `toString()`.
    pub(crate) fn string(&mut self, key: &str) -> Result<Option<String>, ConfigError> {
        match self.value(key) {
            None => Ok(None),
            Some(v) => scalar_text(v)
                .map(Some)
                .ok_or_else(|| self.convert_error(key, v, "string")),
        }
    }

    /// A string key that must be present.
    pub(crate) fn required_string(&mut self, key: &str) -> Result<String, ConfigError> {
        self.string(key)?.ok_or_else(|| self.missing(key))
    }

    /// The Java "Required configuration value missing" error.
    pub(crate) fn missing(&self, key: &str) -> ConfigError {
        self.error(key, format!("Required configuration value missing: {key}"))
    }

    /// A Java `Integer` key, non-negative in kinetail, validated against `[lo, hi]`.
    pub(crate) fn int_in(
        &mut self,
        key: &str,
        default: u32,
        lo: u32,
        hi: u32,
    ) -> Result<u32, ConfigError> {
        let v = self.integral(
            key,
            Width::Int,
            i64::from(default),
            i64::from(lo),
            i64::from(hi),
        )?;
        u32::try_from(v).map_err(|_| self.range_error(key, v, i64::from(lo), i64::from(hi)))
    }

    /// A Java `Long` key, non-negative in kinetail, validated against `[lo, hi]`.
    pub(crate) fn long_in(
        &mut self,
        key: &str,
        default: u64,
        lo: u64,
        hi: u64,
    ) -> Result<u64, ConfigError> {
        let lo = i64::try_from(lo).unwrap_or(i64::MAX);
        let hi = i64::try_from(hi).unwrap_or(i64::MAX);
        let default = i64::try_from(default).unwrap_or(i64::MAX);
        let v = self.integral(key, Width::Long, default, lo, hi)?;
        u64::try_from(v).map_err(|_| self.range_error(key, v, lo, hi))
    }

    /// A Java `Long` key accepting any value (e.g. `-1` meaning infinite).
    pub(crate) fn long_any(&mut self, key: &str, default: i64) -> Result<i64, ConfigError> {
        self.integral(key, Width::Long, default, i64::MIN, i64::MAX)
    }

    fn integral(
        &mut self,
        key: &str,
        width: Width,
        default: i64,
        lo: i64,
        hi: i64,
    ) -> Result<i64, ConfigError> {
        let Some(v) = self.value(key) else {
            return Ok(default);
        };
        // JSON numbers and strings alike go through their text, as Java converts via toString():
        // 21.5, 1e3 and out-of-range integers therefore fail the same way "21.5" does.
        let parsed = match v {
            Value::Number(n) => width.parse(&n.to_string()),
            Value::String(s) => width.parse(s),
            _ => None,
        };
        let n = parsed.ok_or_else(|| self.convert_error(key, v, width.name()))?;
        if n < lo || n > hi {
            return Err(self.range_error(key, n, lo, hi));
        }
        Ok(n)
    }

    /// The Java range message.
    pub(crate) fn range_error(
        &self,
        key: &str,
        value: impl std::fmt::Display,
        lo: i64,
        hi: i64,
    ) -> ConfigError {
        self.error(
            key,
            format!("'{key}' value {value} is outside of valid range ([{lo}, {hi}])"),
        )
    }

    fn convert_error(&self, key: &str, value: &Value, type_name: &str) -> ConfigError {
        let text = scalar_text(value).unwrap_or_else(|| value.to_string());
        self.error(
            key,
            format!("Failed to convert value ({text}) to desired type ({type_name}): {key}"),
        )
    }

    /// A boolean key with `BooleanConverter` spellings.
    pub(crate) fn boolean(&mut self, key: &str, default: bool) -> Result<bool, ConfigError> {
        match self.value(key) {
            None => Ok(default),
            Some(Value::Bool(b)) => Ok(*b),
            Some(v) => {
                let text = scalar_text(v).unwrap_or_else(|| v.to_string());
                parse_bool(&text).ok_or_else(|| {
                    self.error(key, format!("Cannot convert value to boolean: {text}"))
                })
            }
        }
    }

    /// An enum key read by exact Java constant name.
    pub(crate) fn enumeration<E: JavaEnum>(&mut self, key: &str) -> Result<Option<E>, ConfigError> {
        match self.string(key)? {
            None => Ok(None),
            Some(s) => lookup_enum::<E>(&s)
                .map(Some)
                .ok_or_else(|| self.enum_error::<E>(key, &s)),
        }
    }

    /// The Java "not legally accepted" message for `value`.
    pub(crate) fn enum_error<E: JavaEnum>(&self, key: &str, value: &str) -> ConfigError {
        let legal: Vec<&str> = E::VALUES.iter().map(|(name, _)| *name).collect();
        self.error(
            key,
            format!(
                "Value({value}) is not legally accepted by key: {key}. Legal values are {}",
                legal.join(",")
            ),
        )
    }

    /// A list of strings; items that are numbers or booleans are taken as their text.
    pub(crate) fn string_list(&mut self, key: &str) -> Result<Option<Vec<String>>, ConfigError> {
        let Some(v) = self.value(key) else {
            return Ok(None);
        };
        let Value::Array(items) = v else {
            return Err(self.error(key, format!("expected a list, found {}", kind(v))));
        };
        items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                scalar_text(item).ok_or_else(|| {
                    self.error(
                        &format!("{key}[{i}]"),
                        format!("expected a string, found {}", kind(item)),
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }

    /// A list of objects, each returned as a child section (e.g. `flows[2]`).
    pub(crate) fn sections(&mut self, key: &str) -> Result<Vec<Section<'a>>, ConfigError> {
        let Some(v) = self.value(key) else {
            return Ok(Vec::new());
        };
        let Value::Array(items) = v else {
            return Err(self.error(
                key,
                format!("expected a list of objects, found {}", kind(v)),
            ));
        };
        items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let child = self.key_path(&format!("{key}[{i}]"));
                match item {
                    Value::Object(map) => Ok(Section::new(self.file, child, map)),
                    other => Err(ConfigError::Invalid {
                        path: self.file.to_path_buf(),
                        key: child,
                        message: format!("expected an object, found {}", kind(other)),
                    }),
                }
            })
            .collect()
    }
}

/// `null` and `""` both mean "use the default".
fn is_unset(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        _ => false,
    }
}

/// Text of a scalar as Java's `toString()` would give it; `None` for arrays, objects and null.
fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// `BooleanConverter`: case-insensitive, no trimming.
pub(crate) fn parse_bool(text: &str) -> Option<bool> {
    match text.to_lowercase().as_str() {
        "true" | "yes" | "t" | "y" | "1" => Some(true),
        "false" | "no" | "f" | "n" | "0" => Some(false),
        _ => None,
    }
}

/// Finds the constant spelled exactly `name`.
pub(crate) fn lookup_enum<E: JavaEnum>(name: &str) -> Option<E> {
    E::VALUES.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
}

#[cfg(test)]
mod tests {
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
        const VALUES: &'static [(&'static str, Self)] =
            &[("RED", Color::Red), ("GREEN", Color::Green)];
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
        assert!(e(s.int_in("e", 0, 0, u32::MAX >> 1))
            .ends_with("(9000000000) to desired type (int): e"));
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
        let m =
            obj(json!({"l": ["a", 1, true], "bad": "x", "badItem": ["a", {}], "o": [{"k": 1}, 2]}));
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
}
