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
//! nothing. Records that are flat objects with fixed names (CSVTOJSON) go through
//! [`FlatObject`] instead, which escapes and lays out the names once per converter.

use super::double::java_double;

/// Output layout of JSON-producing converters (`jsonFormat`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub enum JsonFormat {
    /// `{"a":"b"}`, the default.
    #[default]
    #[serde(rename = "COMPACT")]
    Compact,
    /// Jackson's `DefaultPrettyPrinter` layout.
    #[serde(rename = "PRETTYPRINT")]
    PrettyPrint,
}

/// Escape code per byte: 0 = copy as is, `b'u'` = `\u00XX`, otherwise the escape letter.
/// Bytes >= 0x80 belong to multi-byte UTF-8 chars, which Jackson never escapes.
const ESCAPES: [u8; 256] = {
    let mut t = [0u8; 256];
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
///
/// Most strings need no escaping at all, so the work is a word-at-a-time search for the next
/// byte that does, and one copy per run between such bytes.
pub fn write_escaped(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    let mut start = 0;
    while let Some(i) = find_special(bytes, start, None) {
        append(out, &bytes[start..], i - start);
        push_escape(out, bytes[i]);
        start = i + 1;
    }
    append(out, &bytes[start..], bytes.len() - start);
}

/// [`write_escaped`] for `bytes[from..]` up to the first `stop` byte (an ASCII delimiter,
/// checked before escaping, so it may be a control char such as `\t`); returns where it stopped
/// (`bytes.len()` when there is no `stop`). Escaping and looking for the delimiter is one pass.
#[inline(always)]
fn escape_until(out: &mut Vec<u8>, bytes: &[u8], from: usize, stop: u8) -> usize {
    let mut start = from;
    while let Some(i) = find_special(bytes, start, Some(stop)) {
        append(out, &bytes[start..], i - start);
        let b = bytes[i];
        if b == stop {
            return i;
        }
        push_escape(out, b);
        start = i + 1;
    }
    let rest = bytes.get(start..).unwrap_or_default();
    append(out, rest, rest.len());
    bytes.len()
}

/// Appends `src[..len]`. A fixed-size copy is a couple of vector moves inline, where a
/// variable-size one is a call into `memcpy` that costs more than the few bytes of a typical
/// field; so when `src` has the bytes, a whole block is copied and the excess cut off again.
#[inline(always)]
fn append(out: &mut Vec<u8>, src: &[u8], len: usize) {
    let end = out.len() + len;
    if len <= 16 {
        if let Some(Ok(block)) = src.get(..16).map(<&[u8; 16]>::try_from) {
            out.extend_from_slice(block);
            out.truncate(end);
            return;
        }
        if len <= 8 {
            if let Some(Ok(block)) = src.get(..8).map(<&[u8; 8]>::try_from) {
                out.extend_from_slice(block);
                out.truncate(end);
                return;
            }
        }
    } else if len <= 32 {
        if let Some(Ok(block)) = src.get(..32).map(<&[u8; 32]>::try_from) {
            out.extend_from_slice(block);
            out.truncate(end);
            return;
        }
    }
    out.extend_from_slice(src.get(..len).unwrap_or(src));
}

fn push_escape(out: &mut Vec<u8>, b: u8) {
    match ESCAPES[usize::from(b)] {
        b'u' => out.extend_from_slice(&[
            b'\\',
            b'u',
            b'0',
            b'0',
            HEX[usize::from(b >> 4)],
            HEX[usize::from(b & 0x0F)],
        ]),
        esc => out.extend_from_slice(&[b'\\', esc]),
    }
}

const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);

/// The high bit of each zero byte of `w`, and possibly of bytes above the lowest one: a borrow
/// only starts at a byte that is rightly flagged, so the LOWEST flag is always exact, which is
/// all [`find_special`] uses.
#[inline(always)]
fn zero_flags(w: u64) -> u64 {
    w.wrapping_sub(ONES) & !w & HIGHS
}

/// Like [`zero_flags`], for the bytes Jackson escapes: `"`, `\` and below 0x20. Bytes >= 0x80
/// (UTF-8 sequences, never escaped by Jackson) are never flagged.
#[inline(always)]
fn escape_flags(w: u64) -> u64 {
    let control = w.wrapping_sub(ONES * 0x20) & !w & HIGHS;
    control | zero_flags(w ^ (ONES * u64::from(b'"'))) | zero_flags(w ^ (ONES * u64::from(b'\\')))
}

/// Index of the first byte at or after `from` that Jackson escapes or that is `stop`.
#[inline(always)]
fn find_special(bytes: &[u8], from: usize, stop: Option<u8>) -> Option<usize> {
    let hay = bytes.get(from..)?;
    let stop_word = stop.map(|b| ONES * u64::from(b));
    let mut words = hay.chunks_exact(8);
    let mut at = from;
    for word in words.by_ref() {
        let mut w = [0u8; 8];
        w.copy_from_slice(word);
        let w = u64::from_le_bytes(w);
        let mut flags = escape_flags(w);
        if let Some(sw) = stop_word {
            flags |= zero_flags(w ^ sw);
        }
        if flags != 0 {
            return Some(at + (flags.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    words
        .remainder()
        .iter()
        .position(|&b| ESCAPES[usize::from(b)] != 0 || Some(b) == stop)
        .map(|i| at + i)
}

/// An object at the top level whose member names are known in advance and written in order
/// (a converter's record): each name, with the separator and indentation before it, is escaped
/// and laid out once, so a member costs one copy besides its value.
#[derive(Debug, Clone)]
pub struct FlatObject {
    heads: Vec<Head>,
    close: &'static [u8],
    fixed_len: usize,
}

/// What comes between two values: `"` closing the previous value when it is a string (not for
/// the first member), separator, indentation, name, `:`, and `"` opening this value when it is
/// a string. Padded so that [`append`] can copy any part of it as one block.
#[derive(Debug, Clone)]
struct Head {
    bytes: Box<[u8]>,
    /// Without the padding.
    len: usize,
    /// 1 when it starts with the closing quote of the previous value.
    lead: usize,
}

impl FlatObject {
    pub fn new<S: AsRef<str>>(names: &[S], format: JsonFormat) -> Self {
        let pretty = format == JsonFormat::PrettyPrint;
        let heads: Vec<Head> = names
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let mut bytes = Vec::new();
                if i > 0 {
                    bytes.extend_from_slice(b"\",");
                }
                if pretty {
                    bytes.extend_from_slice(b"\n  ");
                }
                bytes.extend_from_slice(JsonName::new(name.as_ref()).bytes(format));
                bytes.push(b'"');
                let len = bytes.len();
                bytes.resize(len + 32, b' ');
                Head {
                    bytes: bytes.into(),
                    len,
                    lead: usize::from(i > 0),
                }
            })
            .collect();
        let close: &'static [u8] = match (pretty, heads.is_empty()) {
            (true, true) => b" }",
            (true, false) => b"\n}",
            (false, _) => b"}",
        };
        // `null` or quotes per member, the braces, and room for the block copies' excess.
        let fixed_len = heads.iter().map(|h| h.len + 4).sum::<usize>() + close.len() + 2 + 64;
        FlatObject {
            heads,
            close,
            fixed_len,
        }
    }

    /// Number of members.
    pub fn len(&self) -> usize {
        self.heads.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heads.is_empty()
    }

    /// Start a record (`{`) at the end of `out`, with room for `value_len` bytes of values.
    pub fn writer<'a>(&'a self, out: &'a mut Vec<u8>, value_len: usize) -> FlatWriter<'a> {
        out.reserve(self.fixed_len + value_len);
        out.push(b'{');
        FlatWriter {
            object: self,
            out,
            next: 0,
            open_string: false,
        }
    }
}

/// One record of a [`FlatObject`]: exactly one value per member, in order, then [`Self::finish`].
/// Misuse produces malformed JSON but never panics.
pub struct FlatWriter<'a> {
    object: &'a FlatObject,
    out: &'a mut Vec<u8>,
    next: usize,
    /// The previous value is a string whose closing quote is still to be written.
    open_string: bool,
}

impl FlatWriter<'_> {
    /// Members still without a value.
    pub fn remaining(&self) -> usize {
        self.object.heads.len().saturating_sub(self.next)
    }

    #[inline(always)]
    fn head(&mut self, string: bool) {
        if let Some(head) = self.object.heads.get(self.next) {
            let start = if self.open_string { 0 } else { head.lead };
            let end = head.len - usize::from(!string);
            if let Some(part) = head.bytes.get(start..) {
                append(self.out, part, end.saturating_sub(start));
            }
        }
        self.next += 1;
        self.open_string = string;
    }

    /// A string value.
    pub fn string(&mut self, value: &str) {
        self.head(true);
        write_escaped(self.out, value);
    }

    /// `null`.
    #[inline]
    pub fn null(&mut self) {
        self.head(false);
        self.out.extend_from_slice(b"null");
    }

    /// The string value `text[from..]` up to the first `stop` (an ASCII byte); returns where
    /// it ended (`text.len()` when there is no `stop`). A delimited column is so escaped while
    /// its end is looked for, in one pass.
    #[inline]
    pub fn delimited(&mut self, text: &str, from: usize, stop: u8) -> usize {
        self.head(true);
        escape_until(self.out, text.as_bytes(), from, stop)
    }

    /// `}` (after the closing quote of a last string value).
    pub fn finish(self) {
        if self.open_string {
            self.out.push(b'"');
        }
        self.out.extend_from_slice(self.object.close);
    }
}

/// A field name escaped once, ahead of time, with what follows it in each layout:
/// `"name":` (compact) and `"name" : ` (pretty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonName {
    compact: Box<[u8]>,
    pretty: Box<[u8]>,
}

impl JsonName {
    pub fn new(name: &str) -> Self {
        let mut quoted = Vec::with_capacity(name.len() + 5);
        write_string(&mut quoted, name);
        let mut compact = quoted.clone();
        compact.push(b':');
        quoted.extend_from_slice(b" : ");
        JsonName {
            compact: compact.into(),
            pretty: quoted.into(),
        }
    }

    /// The bytes written for `name` and its separator, in `format`.
    pub fn bytes(&self, format: JsonFormat) -> &[u8] {
        match format {
            JsonFormat::Compact => &self.compact,
            JsonFormat::PrettyPrint => &self.pretty,
        }
    }
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
        self.before_name();
        write_string(self.out, name);
        if self.pretty {
            self.out.extend_from_slice(b" : ");
        } else {
            self.out.push(b':');
        }
        self.after_name = true;
    }

    /// [`Self::name`] for a name escaped ahead of time: one copy, no escaping per record.
    pub fn json_name(&mut self, name: &JsonName) {
        self.before_name();
        self.out.extend_from_slice(if self.pretty {
            &name.pretty
        } else {
            &name.compact
        });
        self.after_name = true;
    }

    fn before_name(&mut self) {
        if self.take_nonempty() {
            self.out.push(b',');
        }
        if self.pretty {
            self.newline_indent();
        }
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
    use proptest::prelude::*;

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

    /// Jackson's escaping rules, one char at a time.
    fn reference_escape(s: &str) -> String {
        let mut out = String::new();
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\u{8}' => out.push_str("\\b"),
                '\t' => out.push_str("\\t"),
                '\n' => out.push_str("\\n"),
                '\u{c}' => out.push_str("\\f"),
                '\r' => out.push_str("\\r"),
                c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04X}", u32::from(c))),
                c => out.push(c),
            }
        }
        out
    }

    proptest! {
        #[test]
        fn escaper_agrees_with_reference(
            s in prop_oneof![
                prop::string::string_regex("[\\x00-\\x7F]{0,70}").unwrap(),
                prop::string::string_regex("(.|[\"\\\\\\x00-\\x1F]){0,70}").unwrap(),
                prop::collection::vec(
                    prop::sample::select(vec!['a', '"', '\\', '\n', '\u{1f}', '\u{7f}', 'é', '😀', ' ']),
                    0..70,
                ).prop_map(|v| v.into_iter().collect::<String>()),
            ],
            prefix in 0usize..4,
        ) {
            let mut out = b"x".repeat(prefix);
            write_escaped(&mut out, &s);
            let mut want = "x".repeat(prefix);
            want.push_str(&reference_escape(&s));
            prop_assert_eq!(String::from_utf8(out).unwrap(), want);
        }
    }

    #[test]
    fn json_name_is_the_escaped_name_and_separator() {
        let n = JsonName::new("a\"b\tc");
        assert_eq!(n.bytes(JsonFormat::Compact), br#""a\"b\tc":"#);
        assert_eq!(n.bytes(JsonFormat::PrettyPrint), br#""a\"b\tc" : "#);
        for format in [JsonFormat::Compact, JsonFormat::PrettyPrint] {
            let by_str = render(format, |w| {
                w.begin_object();
                w.name("a\"b\tc");
                w.null();
                w.field_str("k", "v");
                w.end_object();
            });
            let by_name = render(format, |w| {
                w.begin_object();
                w.json_name(&n);
                w.null();
                w.json_name(&JsonName::new("k"));
                w.string("v");
                w.end_object();
            });
            assert_eq!(by_str, by_name);
        }
    }

    proptest! {
        /// The pre-laid-out writer against the general one, member by member.
        #[test]
        fn flat_object_agrees_with_json_writer(
            members in prop::collection::vec(
                (
                    prop::string::string_regex("(.|[\"\\\\\\x00-\\x1F]){0,40}").unwrap(),
                    prop::option::of(prop::string::string_regex("(.|[\"\\\\\\x00-\\x1F]){0,40}").unwrap()),
                ),
                0..8,
            ),
            pretty in any::<bool>(),
            delimited in any::<bool>(),
        ) {
            let format = if pretty { JsonFormat::PrettyPrint } else { JsonFormat::Compact };
            let names: Vec<&str> = members.iter().map(|(n, _)| n.as_str()).collect();
            let object = FlatObject::new(&names, format);
            let mut got = b"prefix".to_vec();
            let mut w = object.writer(&mut got, 0);
            for (_, value) in &members {
                match value {
                    // Through the delimited path: the value followed by a delimiter and more.
                    Some(v) if delimited && !v.contains(';') => {
                        let text = format!("skipped;{v};more");
                        prop_assert_eq!(w.delimited(&text, 8, b';'), 8 + v.len());
                    }
                    Some(v) => w.string(v),
                    None => w.null(),
                }
            }
            w.finish();
            let mut want = b"prefix".to_vec();
            write_object(&mut want, format, members.iter().map(|(n, v)| (n.as_str(), v.as_deref())));
            prop_assert_eq!(String::from_utf8(got).unwrap(), String::from_utf8(want).unwrap());
        }
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
