//! SINGLELINE: join the lines of a (multi-line) record into one line.
//!
//! Java (`SingleLineDataConverter`): `lines = data.split("\n")`; unless `NO_TRIM` each line is
//! `trim()`-ed; `StringUtils.join(lines, delimiter) + "\n"`.
//!
//! The `ESCAPE_NEW_LINE` delimiter is the THREE characters backslash, backslash, `n`. Upstream
//! first wrote it as the Java literal `"\\n"` (two characters) and later changed it to
//! `"\\\\n"` so that `DataConverterTest.testSingleLineDataConverter` passes; that test expects
//! the Java literal `"{\\\\n\"a\": {\\\\n..."`, i.e. `{` `\` `\` `n` `"a"`. The reference
//! (the Java agent's SINGLELINE documentation) agrees, so the current agent emits `\\n`.

use super::{utf8, ConvertError, Converter};
use crate::java::split::JavaSplitter;

/// What `ESCAPE_NEW_LINE` puts between lines: backslash, backslash, `n`.
const ESCAPED_NEW_LINE: &[u8] = b"\\\\n";

/// The SINGLELINE converter.
#[derive(Debug)]
pub struct SingleLine {
    no_trim: bool,
    escape_new_line: bool,
    splitter: JavaSplitter,
}

impl SingleLine {
    /// Build from the `parseOptions` flags.
    pub fn new(no_trim: bool, escape_new_line: bool) -> Self {
        SingleLine {
            no_trim,
            escape_new_line,
            splitter: JavaSplitter::newline(),
        }
    }
}

/// Java's `String.trim()`: strip chars <= U+0020 from both ends (all ASCII, so byte-safe).
pub fn java_trim(s: &str) -> &str {
    s.trim_matches(|c: char| c <= ' ')
}

impl Converter for SingleLine {
    fn name(&self) -> &'static str {
        "SINGLELINE"
    }

    fn convert(&self, input: &[u8], out: &mut Vec<u8>) -> Result<bool, ConvertError> {
        let text = utf8::decode(input);
        out.reserve(text.len() + 1);
        for (i, line) in self.splitter.split(&text).enumerate() {
            let line = line?;
            let line = if self.no_trim {
                &line
            } else {
                java_trim(&line)
            };
            if i > 0 && self.escape_new_line {
                out.extend_from_slice(ESCAPED_NEW_LINE);
            }
            out.extend_from_slice(line.as_bytes());
        }
        out.push(b'\n');
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conv(no_trim: bool, escape: bool, input: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        assert!(SingleLine::new(no_trim, escape)
            .convert(input, &mut out)
            .unwrap());
        out
    }

    fn s(b: Vec<u8>) -> String {
        String::from_utf8(b).unwrap()
    }

    #[test]
    fn reference_examples() {
        assert_eq!(
            s(conv(
                false,
                false,
                b"  {\n    \"a\": 1,\n    \"b\": 2\n  }\n"
            )),
            "{\"a\": 1,\"b\": 2}\n"
        );
        assert_eq!(
            s(conv(false, false, b"line one\nline two\n")),
            "line oneline two\n"
        );
    }

    /// `DataConverterTest.testSingleLineDataConverter`, verbatim.
    #[test]
    fn data_converter_test_escape_new_line() {
        let data = "{\n".to_string()
            + "   \"a\": {\n"
            + "           \"b\": 1,\n"
            + "           \"c\": null,\n"
            + "           \"d\": true\n"
            + "    },\n"
            + "   \"e\": \"f\",\n"
            + "   \"g\": 2\n"
            + "     "
            + "}\n";
        // Java: "{\\\\n\"a\": {\\\\n\"b\": 1,\\\\n\"c\": null,\\\\n\"d\": true\\\\n},\\\\n\"e\": \"f\",\\\\n\"g\": 2\\\\n}\n"
        let expected =
            r#"{\\n"a": {\\n"b": 1,\\n"c": null,\\n"d": true\\n},\\n"e": "f",\\n"g": 2\\n}"#
                .to_string()
                + "\n";
        assert_eq!(s(conv(false, true, data.as_bytes())), expected);
        assert_eq!(ESCAPED_NEW_LINE.len(), 3);
    }

    /// The older `DataConverterTest` case without parse options.
    #[test]
    fn data_converter_test_plain() {
        let data = "{\n   \"a\": {\n           \"b\": 1,\n           \"c\": null,\n           \"d\": true\n    },\n   \"e\": \"f\",\n   \"g\": 2\n     }\n";
        assert_eq!(
            s(conv(false, false, data.as_bytes())),
            "{\"a\": {\"b\": 1,\"c\": null,\"d\": true},\"e\": \"f\",\"g\": 2}\n"
        );
    }

    #[test]
    fn lone_newline_and_empty_record() {
        assert_eq!(conv(false, false, b"\n"), b"\n");
        assert_eq!(conv(false, true, b"\n"), b"\n");
        assert_eq!(conv(false, false, b"\n\n\n"), b"\n");
        assert_eq!(conv(false, false, b""), b"\n");
        assert_eq!(conv(false, false, b"abc"), b"abc\n");
    }

    #[test]
    fn interior_and_leading_empty_lines_are_kept() {
        assert_eq!(s(conv(false, true, b"a\n\nb\n")), "a\\\\n\\\\nb\n");
        assert_eq!(s(conv(false, true, b"\nabc\n")), "\\\\nabc\n");
    }

    #[test]
    fn trailing_removal_happens_before_trim() {
        // "a\n  \n".split("\n") is ["a", "  "]; the second piece is trimmed to "" but kept.
        assert_eq!(s(conv(false, true, b"a\n  \n")), "a\\\\n\n");
        assert_eq!(s(conv(false, false, b"a\n  \n")), "a\n");
        assert_eq!(s(conv(true, false, b"a\n  \n")), "a  \n");
    }

    #[test]
    fn no_trim_and_crlf() {
        assert_eq!(s(conv(true, false, b"  a \n b\n")), "  a  b\n");
        assert_eq!(s(conv(false, false, b"a\r\nb\r\n")), "ab\n");
        assert_eq!(s(conv(true, false, b"a\r\nb\r\n")), "a\rb\r\n");
        assert_eq!(s(conv(true, true, b"a\r\nb\r\n")), "a\r\\\\nb\r\n");
    }

    #[test]
    fn java_trim_strips_all_controls_and_space_only() {
        assert_eq!(java_trim("\u{0}\t\r\n x \u{1f}"), "x");
        assert_eq!(java_trim("\u{a0}x\u{a0}"), "\u{a0}x\u{a0}");
        assert_eq!(java_trim("\u{7f}x"), "\u{7f}x");
    }

    #[test]
    fn invalid_utf8_becomes_replacement_chars() {
        assert_eq!(s(conv(false, false, b"a\xFF\nb\n")), "a\u{FFFD}b\n");
        assert_eq!(s(conv(false, false, b"\xED\xA0\x80\n")), "\u{FFFD}\n");
    }
}
