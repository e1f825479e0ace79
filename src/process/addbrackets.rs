//! ADDBRACKETS (undocumented): wrap the record in `{` and `}`.
//!
//! Java (`BracketsDataConverter`): `"{" + new String(bytes, UTF_8) + "}"`, then `getBytes()`.
//! Nothing is stripped, so a record's trailing `\n` ends up inside the braces (`{abc\n}`), and
//! the record goes through a UTF-8 decode/encode round trip: malformed bytes come out as
//! U+FFFD exactly as the JVM replaces them. `getBytes()` uses the JVM's default charset, taken
//! to be UTF-8 (the default since JDK 18, and on any UTF-8 locale before it).

use super::{utf8, ConvertError, Converter};

/// The ADDBRACKETS converter.
#[derive(Debug, Clone, Copy, Default)]
pub struct AddBrackets;

impl Converter for AddBrackets {
    fn name(&self) -> &'static str {
        "ADDBRACKETS"
    }

    fn convert(&self, input: &[u8], out: &mut Vec<u8>) -> Result<bool, ConvertError> {
        let text = utf8::decode(input);
        out.reserve(text.len() + 2);
        out.push(b'{');
        out.extend_from_slice(text.as_bytes());
        out.push(b'}');
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conv(input: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        assert!(AddBrackets.convert(input, &mut out).unwrap());
        out
    }

    /// `DataConverterTest.testBracketsDataConverter`.
    #[test]
    fn data_converter_test_brackets() {
        assert_eq!(conv(b"hello there!! :)"), b"{hello there!! :)}");
    }

    /// The Java `AddBracketsDataConverter` behaviour and `AbstractParserTest.testBuildingRecordOfConvertedData`: the newline stays inside.
    #[test]
    fn trailing_newline_stays_inside() {
        assert_eq!(conv(b"abc\n"), b"{abc\n}");
        assert_eq!(conv(b"a\r\n"), b"{a\r\n}");
        assert_eq!(conv(b"\n"), b"{\n}");
        assert_eq!(conv(b""), b"{}");
        assert_eq!(conv(b"a\nb\n"), b"{a\nb\n}");
    }

    #[test]
    fn utf8_round_trip_like_the_jvm() {
        assert_eq!(conv("é😀".as_bytes()), "{é😀}".as_bytes());
        assert_eq!(conv(b"a\xffb"), "{a\u{fffd}b}".as_bytes());
        // An encoded surrogate is ONE replacement char in Java.
        assert_eq!(conv(b"\xed\xa0\x80"), "{\u{fffd}}".as_bytes());
        assert_eq!(conv(b"\xe2\x82"), "{\u{fffd}}".as_bytes());
    }
}
