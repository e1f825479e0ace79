//! A streaming JSON writer whose bytes match Jackson's `ObjectMapper` output.
//!
//! The Java agent prints converter output with `new ObjectMapper().writeValueAsString(map)`
//! (`COMPACT`) or `writerWithDefaultPrettyPrinter()` (`PRETTYPRINT`). This writer reproduces:
//!
//! * Jackson's string escaping (`CharTypes.sOutputEscapes128`): `"` and `\` backslash-escaped,
//!   `\b \t \n \f \r` as two-character escapes, every other char below U+0020 as `\u00XX` with
//!   UPPERCASE hex (`CharTypes.HC = "0123456789ABCDEF"`), and nothing else: not `/`, not U+007F,
//!   not non-ASCII, not U+2028/U+2029.
//! * `DefaultPrettyPrinter`: objects use `DefaultIndenter` (system line feed `\n`, two spaces per
//!   level of object nesting), `" : "` between name and value, `{ }` when empty; arrays use
//!   `FixedSpaceIndenter` (a single space, no new lines, no extra nesting): `[ 1, 2 ]`, `[ ]`.
//!
//! The writer streams straight into the caller's buffer and keeps its nesting state in two
//! machine words (spilling to the heap only past 128 levels), so writing a record allocates
//! nothing.

use crate::config::JsonFormat;

/// Escape code per ASCII byte: 0 = copy as is, `b'u'` = `\u00XX`, otherwise the escape letter.
const ESCAPES: [u8; 128] = {
    let mut t = [0u8; 128];
    let mut i = 0;
    while i < 0x20 {
        t[i] = b'u';
        i += 1;
    }
    t[0x08] = b'b';
    t[0x09] = b't';
    t[0x0A] = b'n';
    t[0x0C] = b'f';
    t[0x0D] = b'r';
    t[b'"' as usize] = b'"';
    t[b'\\' as usize] = b'\\';
    t
};

const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// Append `s` as a quoted JSON string with Jackson's escaping.
pub fn write_string(out: &mut Vec<u8>, s: &str) {
    out.reserve(s.len() + 2);
    out.push(b'"');
    write_escaped(out, s);
    out.push(b'"');
}

/// Append the body of a JSON string (no quotes) with Jackson's escaping.
pub fn write_escaped(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        // Bytes >= 0x80 belong to multi-byte UTF-8 chars, which Jackson never escapes.
        if b >= 0x80 {
            continue;
        }
        let esc = ESCAPES[b as usize];
        if esc == 0 {
            continue;
        }
        out.extend_from_slice(&bytes[start..i]);
        if esc == b'u' {
            out.extend_from_slice(b"\\u00");
            out.push(HEX[usize::from(b >> 4)]);
            out.push(HEX[usize::from(b & 0x0F)]);
        } else {
            out.push(b'\\');
            out.push(esc);
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
}

/// Append `{"name":value,...}` for string-or-null fields, in the given order, with no newline.
pub fn write_object<'a, I>(out: &mut Vec<u8>, format: JsonFormat, fields: I)
where
    I: IntoIterator<Item = (&'a str, Option<&'a str>)>,
{
    let mut w = JsonWriter::new(out, format);
    w.begin_object();
    for (name, value) in fields {
        w.field_opt_str(name, value);
    }
    w.end_object();
}

/// Java's `Double.toString(d)`, as Jackson prints a `Double`.
///
/// The shortest decimal that reads back as `d` (Rust's `{:e}`, the JDK 19+ algorithm), laid
/// out as Java does: plain `123.45` / `0.001` / `1.0` when `1e-3 <= |d| < 1e7`, otherwise
/// `1.2345E-7` / `1.0E10`. JDK 18 and older occasionally print one more digit (JDK-4511638).
pub fn java_double(d: f64) -> String {
    if d.is_nan() {
        return "NaN".into();
    }
    if d.is_infinite() {
        return if d > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    if d == 0.0 {
        return if d.is_sign_negative() { "-0.0" } else { "0.0" }.into();
    }
    // `{:e}` gives the shortest round-trip digits: `-1.2345e-7`, `1e22`.
    let mut sci = format!("{:e}", d.abs());
    if !sci.contains('.') {
        // Java always prints two significant digits and then takes the two-digit decimal
        // nearest the exact value, which only differs from `D.0` for subnormals
        // (`Double.MIN_VALUE` is `4.9E-324`, not `5.0E-324`).
        let two = format!("{:.1e}", d.abs());
        if two.parse::<f64>().ok() == Some(d.abs()) {
            sci = two;
        }
    }
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let mut digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    while digits.len() > 1 && digits.ends_with('0') {
        digits.pop();
    }
    let mut out = String::with_capacity(digits.len() + 8);
    if d < 0.0 {
        out.push('-');
    }
    if (-3..7).contains(&exp) {
        if exp < 0 {
            out.push_str("0.");
            for _ in 0..(-exp - 1) {
                out.push('0');
            }
            out.push_str(&digits);
        } else {
            let int_len = exp as usize + 1;
            if digits.len() <= int_len {
                out.push_str(&digits);
                for _ in digits.len()..int_len {
                    out.push('0');
                }
                out.push_str(".0");
            } else {
                out.push_str(&digits[..int_len]);
                out.push('.');
                out.push_str(&digits[int_len..]);
            }
        }
    } else {
        out.push_str(&digits[..1]);
        out.push('.');
        out.push_str(if digits.len() > 1 { &digits[1..] } else { "0" });
        out.push('E');
        out.push_str(&exp.to_string());
    }
    out
}

/// Streaming Jackson-compatible JSON writer over a caller-owned buffer.
///
/// Calls must be well nested (`begin_*`/`end_*` in pairs, a `name` before each value inside an
/// object); misuse produces malformed JSON but never panics.
pub struct JsonWriter<'a> {
    out: &'a mut Vec<u8>,
    pretty: bool,
    /// Open containers, objects and arrays alike.
    depth: usize,
    /// Open objects only: `DefaultPrettyPrinter` indents by this, arrays being inline.
    object_nesting: usize,
    /// Bit `d` set = the container at depth `d + 1` already has an entry (needs a separator).
    nonempty: u128,
    /// The same flags for depths beyond 128; empty (unallocated) in any realistic document.
    nonempty_spill: Vec<bool>,
    /// A field name was just written: the next value follows it without a separator.
    after_name: bool,
}

impl<'a> JsonWriter<'a> {
    /// Start writing at the end of `out` (which is not cleared).
    pub fn new(out: &'a mut Vec<u8>, format: JsonFormat) -> Self {
        JsonWriter {
            out,
            pretty: format == JsonFormat::PrettyPrint,
            depth: 0,
            object_nesting: 0,
            nonempty: 0,
            nonempty_spill: Vec::new(),
            after_name: false,
        }
    }

    /// The buffer being written to.
    pub fn buffer(&mut self) -> &mut Vec<u8> {
        self.out
    }

    fn take_nonempty(&mut self) -> bool {
        // Reads and sets the "has entries" flag of the innermost open container.
        let Some(level) = self.depth.checked_sub(1) else {
            return false;
        };
        if level < 128 {
            let bit = 1u128 << level;
            let was = self.nonempty & bit != 0;
            self.nonempty |= bit;
            was
        } else {
            match self.nonempty_spill.get_mut(level - 128) {
                Some(flag) => std::mem::replace(flag, true),
                None => false,
            }
        }
    }

    fn push_level(&mut self) {
        let level = self.depth;
        self.depth += 1;
        if level < 128 {
            self.nonempty &= !(1u128 << level);
        } else {
            self.nonempty_spill.truncate(level - 128);
            self.nonempty_spill.push(false);
        }
    }

    /// Pops the innermost container, returning whether it had entries.
    fn pop_level(&mut self) -> bool {
        let Some(level) = self.depth.checked_sub(1) else {
            return false;
        };
        self.depth = level;
        if level < 128 {
            self.nonempty & (1u128 << level) != 0
        } else {
            self.nonempty_spill.pop().unwrap_or(false)
        }
    }

    fn newline_indent(&mut self) {
        self.out.push(b'\n');
        for _ in 0..self.object_nesting {
            self.out.extend_from_slice(b"  ");
        }
    }

    /// Separator logic before any value: nothing after a name or at the root, else array rules.
    fn before_value(&mut self) {
        if std::mem::take(&mut self.after_name) || self.depth == 0 {
            return;
        }
        // Inside an array (`FixedSpaceIndenter`): "[ a, b ]".
        if self.take_nonempty() {
            self.out.push(b',');
        }
        if self.pretty {
            self.out.push(b' ');
        }
    }

    /// `{`.
    pub fn begin_object(&mut self) {
        self.before_value();
        self.out.push(b'{');
        self.push_level();
        self.object_nesting += 1;
    }

    /// `}`; pretty: on its own line, or `{ }` when empty.
    pub fn end_object(&mut self) {
        self.after_name = false;
        let had_entries = self.pop_level();
        self.object_nesting = self.object_nesting.saturating_sub(1);
        if self.pretty {
            if had_entries {
                self.newline_indent();
            } else {
                self.out.push(b' ');
            }
        }
        self.out.push(b'}');
    }

    /// `[`.
    pub fn begin_array(&mut self) {
        self.before_value();
        self.out.push(b'[');
        self.push_level();
    }

    /// `]`; pretty: ` ]` (also for an empty array: `[ ]`).
    pub fn end_array(&mut self) {
        self.after_name = false;
        self.pop_level();
        if self.pretty {
            self.out.push(b' ');
        }
        self.out.push(b']');
    }

    /// A field name inside an object, with the separator and indentation before it.
    pub fn name(&mut self, name: &str) {
        if self.take_nonempty() {
            self.out.push(b',');
        }
        if self.pretty {
            self.newline_indent();
        }
        write_string(self.out, name);
        if self.pretty {
            self.out.extend_from_slice(b" : ");
        } else {
            self.out.push(b':');
        }
        self.after_name = true;
    }

    /// A string value.
    pub fn string(&mut self, value: &str) {
        self.before_value();
        write_string(self.out, value);
    }

    /// `null`.
    pub fn null(&mut self) {
        self.before_value();
        self.out.extend_from_slice(b"null");
    }

    /// `true` / `false`.
    pub fn bool(&mut self, value: bool) {
        self.before_value();
        self.out
            .extend_from_slice(if value { b"true" } else { b"false" });
    }

    /// A value already serialized by the caller (e.g. a number), copied verbatim.
    pub fn raw_value(&mut self, json: &str) {
        self.before_value();
        self.out.extend_from_slice(json.as_bytes());
    }

    /// `"name":"value"`.
    pub fn field_str(&mut self, name: &str, value: &str) {
        self.name(name);
        self.string(value);
    }

    /// `"name":null`.
    pub fn field_null(&mut self, name: &str) {
        self.name(name);
        self.null();
    }

    /// `"name":"value"`, or `"name":null` for `None` (a Java map entry holding `null`).
    pub fn field_opt_str(&mut self, name: &str, value: Option<&str>) {
        self.name(name);
        match value {
            Some(v) => self.string(v),
            None => self.null(),
        }
    }

    /// `"name":<json>` with `json` copied verbatim (the caller owns its layout).
    pub fn field_raw_json(&mut self, name: &str, json: &str) {
        self.name(name);
        self.raw_value(json);
    }

    /// Any `serde_json::Value`, laid out by this writer (objects keep their key order).
    ///
    /// Numbers print as Jackson prints what it parsed them into: integers as Java's
    /// `Integer`/`Long`, floating-point numbers as `Double.toString` (see [`java_double`]).
    pub fn value(&mut self, value: &serde_json::Value) {
        use serde_json::Value;
        match value {
            Value::Null => self.null(),
            Value::Bool(b) => self.bool(*b),
            Value::Number(n) => match (n.is_f64(), n.as_f64()) {
                (true, Some(f)) => self.raw_value(&java_double(f)),
                _ => self.raw_value(&n.to_string()),
            },
            Value::String(s) => self.string(s),
            Value::Array(items) => {
                self.begin_array();
                for item in items {
                    self.value(item);
                }
                self.end_array();
            }
            Value::Object(map) => {
                self.begin_object();
                for (k, v) in map {
                    self.name(k);
                    self.value(v);
                }
                self.end_object();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn esc(s: &str) -> String {
        let mut out = Vec::new();
        write_string(&mut out, s);
        String::from_utf8(out).unwrap()
    }

    fn render(format: JsonFormat, f: impl FnOnce(&mut JsonWriter<'_>)) -> String {
        let mut out = Vec::new();
        let mut w = JsonWriter::new(&mut out, format);
        f(&mut w);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn escapes_quote_backslash_and_short_control_escapes() {
        assert_eq!(esc(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(
            esc("\u{8}\t\n\u{c}\r"),
            r#""\b\t\n\f\r""#,
            "Jackson's five two-character escapes"
        );
    }

    #[test]
    fn escapes_every_other_control_char_as_uppercase_u00xx() {
        for c in 0u8..0x20 {
            let got = esc(&(c as char).to_string());
            let want = match c {
                0x08 => "\"\\b\"".to_string(),
                0x09 => "\"\\t\"".to_string(),
                0x0A => "\"\\n\"".to_string(),
                0x0C => "\"\\f\"".to_string(),
                0x0D => "\"\\r\"".to_string(),
                _ => format!("\"\\u00{c:02X}\""),
            };
            assert_eq!(got, want, "char {c:#04x}");
        }
        assert_eq!(esc("\u{1f}\u{1b}\u{0}"), r#""\u001F\u001B\u0000""#);
    }

    #[test]
    fn leaves_slash_del_and_non_ascii_alone() {
        assert_eq!(
            esc("/\u{7f}é€😀\u{2028}\u{85}"),
            "\"/\u{7f}é€😀\u{2028}\u{85}\""
        );
    }

    #[test]
    fn compact_object() {
        let mut out = Vec::new();
        write_object(
            &mut out,
            JsonFormat::Compact,
            [("a", Some("b")), ("c", None)],
        );
        assert_eq!(out, br#"{"a":"b","c":null}"#);
    }

    #[test]
    fn pretty_object_matches_default_pretty_printer() {
        let mut out = Vec::new();
        write_object(
            &mut out,
            JsonFormat::PrettyPrint,
            [("a", Some("b")), ("c", None)],
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\n  \"a\" : \"b\",\n  \"c\" : null\n}"
        );
    }

    #[test]
    fn empty_containers() {
        let mut out = Vec::new();
        write_object(&mut out, JsonFormat::PrettyPrint, []);
        assert_eq!(out, b"{ }");
        out.clear();
        write_object(&mut out, JsonFormat::Compact, []);
        assert_eq!(out, b"{}");
        let arr = render(JsonFormat::PrettyPrint, |w| {
            w.begin_array();
            w.end_array();
        });
        assert_eq!(arr, "[ ]");
        let arr = render(JsonFormat::Compact, |w| {
            w.begin_array();
            w.end_array();
        });
        assert_eq!(arr, "[]");
    }

    #[test]
    fn pretty_nesting_like_jackson() {
        // What `writerWithDefaultPrettyPrinter()` prints for
        // {"metadata":{"key":"value","foo":{"bar":"bas"},"list":[1,"x",{"k":null}],"e":[],"o":{}},"data":"d"}
        let v: serde_json::Value = serde_json::from_str(
            r#"{"metadata":{"key":"value","foo":{"bar":"bas"},"list":[1,"x",{"k":null}],"e":[],"o":{}},"data":"d"}"#,
        )
        .unwrap();
        let got = render(JsonFormat::PrettyPrint, |w| w.value(&v));
        let want = "{\n  \"metadata\" : {\n    \"key\" : \"value\",\n    \"foo\" : {\n      \"bar\" : \"bas\"\n    },\n    \"list\" : [ 1, \"x\", {\n      \"k\" : null\n    } ],\n    \"e\" : [ ],\n    \"o\" : { }\n  },\n  \"data\" : \"d\"\n}";
        assert_eq!(got, want);
    }

    #[test]
    fn compact_nesting_round_trips_through_serde() {
        let src = r#"{"a":[1,2,[true,false,null],{"b":"c\n"}],"d":{},"e":[]}"#;
        let v: serde_json::Value = serde_json::from_str(src).unwrap();
        assert_eq!(render(JsonFormat::Compact, |w| w.value(&v)), src);
    }

    #[test]
    fn root_array_of_objects_pretty() {
        let got = render(JsonFormat::PrettyPrint, |w| {
            w.begin_array();
            w.begin_object();
            w.field_str("a", "1");
            w.end_object();
            w.begin_object();
            w.end_object();
            w.end_array();
        });
        assert_eq!(got, "[ {\n  \"a\" : \"1\"\n}, { } ]");
    }

    #[test]
    fn raw_json_field_and_escaped_names() {
        let got = render(JsonFormat::Compact, |w| {
            w.begin_object();
            w.field_raw_json("n\"1", "42");
            w.field_null("t\tab");
            w.end_object();
        });
        assert_eq!(got, r#"{"n\"1":42,"t\tab":null}"#);
    }

    #[test]
    fn deep_nesting_beyond_the_inline_bitmap() {
        let depth = 300;
        let got = render(JsonFormat::Compact, |w| {
            for _ in 0..depth {
                w.begin_array();
                w.null();
            }
            for _ in 0..depth {
                w.end_array();
            }
        });
        let want = "[null,".repeat(depth - 1) + "[null" + &"]".repeat(depth);
        assert_eq!(got, want);
    }

    #[test]
    fn misuse_does_not_panic() {
        let _ = render(JsonFormat::PrettyPrint, |w| {
            w.end_object();
            w.end_array();
            w.name("x");
            w.end_object();
        });
    }

    /// Values checked against `Double.toString` on OpenJDK 17.
    #[test]
    fn doubles_print_like_java() {
        for (d, want) in [
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (1.0, "1.0"),
            (100.0, "100.0"),
            (1.5, "1.5"),
            (-2.25, "-2.25"),
            (0.1, "0.1"),
            (0.001, "0.001"),
            (0.0001, "1.0E-4"),
            (0.0025, "0.0025"),
            (1.5e-7, "1.5E-7"),
            (9_999_999.0, "9999999.0"),
            (9_999_999.5, "9999999.5"),
            (1e7, "1.0E7"),
            (1e10, "1.0E10"),
            (123_456_789_012.5, "1.234567890125E11"),
            (4.35, "4.35"),
            (5e-324, "4.9E-324"),
            (1.797_693_134_862_315_7e308, "1.7976931348623157E308"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "Infinity"),
            (f64::NEG_INFINITY, "-Infinity"),
        ] {
            assert_eq!(java_double(d), want, "{d:e}");
        }
        // JDK 19+ prints the shortest form; JDK 17 prints 9.999999999999999E22 here.
        assert_eq!(java_double(1e23), "1.0E23");
    }

    #[test]
    fn value_prints_numbers_as_jackson_reads_them() {
        let v: serde_json::Value = serde_json::from_str(
            r#"[1, 0, 1.0, 1E2, 2.5e-3, 1e10, 9223372036854775807, -9223372036854775808]"#,
        )
        .unwrap();
        assert_eq!(
            render(JsonFormat::Compact, |w| w.value(&v)),
            "[1,0,1.0,100.0,0.0025,1.0E10,9223372036854775807,-9223372036854775808]"
        );
    }
}
