//! UTF-8 decoding that replaces malformed input exactly like Java's `new String(bytes, UTF_8)`.
//!
//! The Java agent decodes every record with `new String(bytes, off, len, UTF_8)`
//! (`ByteBuffers.toString`). Its replacement rules are not the Unicode "maximal subpart" rules
//! that `String::from_utf8_lossy` follows: an encoded surrogate (`ED A0 80`) becomes ONE U+FFFD
//! in Java but three in Rust, and `ED A0 41` becomes one U+FFFD plus `A` in Java but two U+FFFD
//! plus `A` in Rust. Because converter output must be byte-identical, the slow path below is a
//! transcription of the JDK decoder (`StringCoding.decodeUTF8_0`, identical in effect to JDK 8's
//! `UTF_8.Decoder.decode(byte[]...)`). Valid input, the hot path, is borrowed without a copy.

use std::borrow::Cow;

const REPL: char = '\u{FFFD}';

/// Decode `bytes` as UTF-8, replacing malformed sequences exactly as the JVM does.
pub fn decode(bytes: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(s) => Cow::Borrowed(s),
        Err(e) => {
            let valid = e.valid_up_to();
            let mut out = String::with_capacity(bytes.len() + 8);
            // The prefix is valid, so the JDK would have decoded it the same way.
            out.push_str(std::str::from_utf8(&bytes[..valid]).unwrap_or_default());
            decode_java_tail(&bytes[valid..], &mut out);
            Cow::Owned(out)
        }
    }
}

fn is_not_continuation(b: u8) -> bool {
    (b & 0xC0) != 0x80
}

fn is_malformed3(b1: u8, b2: u8, b3: u8) -> bool {
    (b1 == 0xE0 && (b2 & 0xE0) == 0x80) || is_not_continuation(b2) || is_not_continuation(b3)
}

fn is_malformed3_2(b1: u8, b2: u8) -> bool {
    (b1 == 0xE0 && (b2 & 0xE0) == 0x80) || is_not_continuation(b2)
}

fn is_malformed4(b2: u8, b3: u8, b4: u8) -> bool {
    is_not_continuation(b2) || is_not_continuation(b3) || is_not_continuation(b4)
}

fn is_malformed4_2(b1: u8, b2: u8) -> bool {
    (b1 == 0xF0 && !(0x90..=0xBF).contains(&b2))
        || (b1 == 0xF4 && (b2 & 0xF0) != 0x80)
        || is_not_continuation(b2)
}

/// How many bytes the JDK skips for one malformed 3- or 4-byte sequence starting at `s[0]`.
fn malformed_n(s: &[u8], nb: usize) -> usize {
    let b1 = s[0];
    let b2 = s[1];
    if nb == 3 {
        if (b1 == 0xE0 && (b2 & 0xE0) == 0x80) || is_not_continuation(b2) {
            1
        } else {
            2
        }
    } else if b1 > 0xF4
        || (b1 == 0xF0 && !(0x90..=0xBF).contains(&b2))
        || (b1 == 0xF4 && (b2 & 0xF0) != 0x80)
        || is_not_continuation(b2)
    {
        1
    } else if is_not_continuation(s[2]) {
        2
    } else {
        3
    }
}

fn decode_java_tail(src: &[u8], out: &mut String) {
    let sl = src.len();
    let mut sp = 0;
    while sp < sl {
        let b1 = src[sp];
        sp += 1;
        if b1 < 0x80 {
            out.push(b1 as char);
        } else if (0xC2..=0xDF).contains(&b1) {
            if sp < sl {
                let b2 = src[sp];
                if is_not_continuation(b2) {
                    out.push(REPL);
                } else {
                    sp += 1;
                    let c = (u32::from(b1 & 0x1F) << 6) | u32::from(b2 & 0x3F);
                    out.push(char::from_u32(c).unwrap_or(REPL));
                }
                continue;
            }
            out.push(REPL);
            break;
        } else if (0xE0..=0xEF).contains(&b1) {
            if sp + 1 < sl {
                let b2 = src[sp];
                let b3 = src[sp + 1];
                if is_malformed3(b1, b2, b3) {
                    out.push(REPL);
                    sp = sp - 1 + malformed_n(&src[sp - 1..], 3);
                } else {
                    sp += 2;
                    let c = (u32::from(b1 & 0x0F) << 12)
                        | (u32::from(b2 & 0x3F) << 6)
                        | u32::from(b3 & 0x3F);
                    // Surrogates (ED A0..BF xx) are rejected as one unit of three bytes.
                    out.push(char::from_u32(c).unwrap_or(REPL));
                }
                continue;
            }
            if sp < sl && is_malformed3_2(b1, src[sp]) {
                out.push(REPL);
                continue;
            }
            // A truncated but so far valid sequence at the end: one replacement for all of it.
            out.push(REPL);
            break;
        } else if (0xF0..=0xF7).contains(&b1) {
            if sp + 2 < sl {
                let (b2, b3, b4) = (src[sp], src[sp + 1], src[sp + 2]);
                let uc = (u32::from(b1 & 0x07) << 18)
                    | (u32::from(b2 & 0x3F) << 12)
                    | (u32::from(b3 & 0x3F) << 6)
                    | u32::from(b4 & 0x3F);
                if is_malformed4(b2, b3, b4) || !(0x10000..=0x10FFFF).contains(&uc) {
                    out.push(REPL);
                    sp = sp - 1 + malformed_n(&src[sp - 1..], 4);
                } else {
                    sp += 3;
                    out.push(char::from_u32(uc).unwrap_or(REPL));
                }
                continue;
            }
            if b1 > 0xF4 || (sp < sl && is_malformed4_2(b1, src[sp])) {
                out.push(REPL);
                continue;
            }
            sp += 1;
            out.push(REPL);
            if sp < sl && is_not_continuation(src[sp]) {
                continue;
            }
            break;
        } else {
            // 0x80..=0xC1 and 0xF8..=0xFF never start a sequence.
            out.push(REPL);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(b: &[u8]) -> String {
        decode(b).into_owned()
    }

    #[test]
    fn valid_input_is_borrowed() {
        assert!(matches!(decode("héllo 😀".as_bytes()), Cow::Borrowed(_)));
    }

    #[test]
    fn agrees_with_lossy_on_common_cases() {
        let cases: &[&[u8]] = &[
            b"a\xFFb",
            b"\xC3",
            b"\xC3(",
            b"\xE2\x82",
            b"\xE2\x82(",
            b"\xF0\x9F\x98",
            b"\xF0\x9F\x98(",
            b"\xF0\x9F(",
            b"\xC0\x80",
            b"\xE0\x80\x80",
            b"\xF4\x90\x80\x80",
            b"\xF5\x80\x80\x80",
            b"\x80\x80",
            b"ok\xF0",
        ];
        for c in cases {
            assert_eq!(d(c), String::from_utf8_lossy(c), "{c:?}");
        }
    }

    #[test]
    fn encoded_surrogates_follow_the_jdk() {
        assert_eq!(d(b"\xED\xA0\x80"), "\u{FFFD}");
        assert_eq!(d(b"x\xED\xA0\x80y"), "x\u{FFFD}y");
        assert_eq!(d(b"\xED\xA0A"), "\u{FFFD}A");
        assert_eq!(d(b"\xED\xA0"), "\u{FFFD}");
        // U+D7FF and U+E000 around the surrogate block are fine.
        assert_eq!(d(b"\xED\x9F\xBF\xFF"), "\u{D7FF}\u{FFFD}");
    }

    #[test]
    fn never_panics_on_any_short_input() {
        let alphabet = [
            0x00u8, 0x41, 0x80, 0x9F, 0xA0, 0xBF, 0xC2, 0xE0, 0xED, 0xF0, 0xF4, 0xF5,
        ];
        for a in alphabet {
            for b in alphabet {
                for c in alphabet {
                    for e in alphabet {
                        let _ = decode(&[a, b, c, e]);
                        let _ = decode(&[a, b, c]);
                    }
                }
            }
        }
    }
}
