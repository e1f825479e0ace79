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
mod tests;
