//! Java's `Double.toString`, as Jackson prints a `Double` and as the Java agent formats its
//! random partition keys.

/// Java's `Double.toString(d)`, as Jackson prints a `Double` (see [`write_java_double`]).
pub fn java_double(d: f64) -> String {
    let mut out = Vec::with_capacity(24);
    write_java_double(d, &mut out);
    // Only ASCII is ever written.
    String::from_utf8_lossy(&out).into_owned()
}

/// Appends Java's `Double.toString(d)` to `out` without allocating anything else, so that random
/// partition keys can be written straight into a request body.
///
/// The shortest decimal that reads back as `d` (Rust's `{:e}`, the JDK 19+ algorithm), laid
/// out as Java does: plain `123.45` / `0.001` / `1.0` when `1e-3 <= |d| < 1e7`, otherwise
/// `1.2345E-7` / `1.0E10`. JDK 18 and older occasionally print one more digit (JDK-4511638).
pub fn write_java_double(d: f64, out: &mut Vec<u8>) {
    // Where Java prints plain decimals, `ryu` prints the same shortest digits the same way
    // (`483920.1837461032`, `0.001`, `500000.0`), at a fraction of the cost of `{:e}`: every
    // random partition key goes through here.
    if (1e-3..1e7).contains(&d.abs()) {
        let mut buf = ryu::Buffer::new();
        out.extend_from_slice(buf.format_finite(d).as_bytes());
        return;
    }
    write_general(d, out);
}

/// [`write_java_double`] for every value, through `{:e}`.
fn write_general(d: f64, out: &mut Vec<u8>) {
    use std::fmt::Write as _;
    if d.is_nan() {
        out.extend_from_slice(b"NaN");
        return;
    }
    if d.is_infinite() {
        out.extend_from_slice(if d > 0.0 { b"Infinity" } else { b"-Infinity" });
        return;
    }
    if d == 0.0 {
        out.extend_from_slice(if d.is_sign_negative() {
            b"-0.0"
        } else {
            b"0.0"
        });
        return;
    }
    // `{:e}` gives the shortest round-trip digits: `1.2345e-7`, `1e22`.
    let mut sci = StackText::default();
    let _ = write!(sci, "{:e}", d.abs());
    let mut two = StackText::default();
    let mut text = sci.as_bytes();
    if !text.contains(&b'.') {
        // Java always prints two significant digits and then takes the two-digit decimal
        // nearest the exact value, which only differs from `D.0` for subnormals
        // (`Double.MIN_VALUE` is `4.9E-324`, not `5.0E-324`).
        let _ = write!(two, "{:.1e}", d.abs());
        if two.parse() == Some(d.abs()) {
            text = two.as_bytes();
        }
    }
    let (mantissa, exp) = match text.iter().position(|&c| c == b'e') {
        Some(i) => (&text[..i], &text[i + 1..]),
        None => (text, &b"0"[..]),
    };
    let exp: i32 = std::str::from_utf8(exp)
        .ok()
        .and_then(|e| e.parse().ok())
        .unwrap_or(0);
    let mut digit_buf = [0u8; 32];
    let mut n = 0;
    for &c in mantissa.iter().filter(|c| c.is_ascii_digit()) {
        if n < digit_buf.len() {
            digit_buf[n] = c;
            n += 1;
        }
    }
    while n > 1 && digit_buf[n - 1] == b'0' {
        n -= 1;
    }
    let digits = &digit_buf[..n];
    if d < 0.0 {
        out.push(b'-');
    }
    if (-3..7).contains(&exp) {
        if exp < 0 {
            out.extend_from_slice(b"0.");
            out.extend(std::iter::repeat_n(b'0', (-exp - 1) as usize));
            out.extend_from_slice(digits);
        } else {
            let int_len = exp as usize + 1;
            if digits.len() <= int_len {
                out.extend_from_slice(digits);
                out.extend(std::iter::repeat_n(b'0', int_len - digits.len()));
                out.extend_from_slice(b".0");
            } else {
                out.extend_from_slice(&digits[..int_len]);
                out.push(b'.');
                out.extend_from_slice(&digits[int_len..]);
            }
        }
    } else {
        out.push(digits[0]);
        out.push(b'.');
        out.extend_from_slice(if digits.len() > 1 { &digits[1..] } else { b"0" });
        out.push(b'E');
        let mut e = StackText::default();
        let _ = write!(e, "{exp}");
        out.extend_from_slice(e.as_bytes());
    }
}

/// A few formatted characters on the stack (the longest `{:e}` of an `f64` is 23).
struct StackText {
    buf: [u8; 40],
    len: usize,
}

impl Default for StackText {
    fn default() -> Self {
        StackText {
            buf: [0; 40],
            len: 0,
        }
    }
}

impl StackText {
    fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    fn parse(&self) -> Option<f64> {
        std::str::from_utf8(self.as_bytes()).ok()?.parse().ok()
    }
}

impl std::fmt::Write for StackText {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        if end > self.buf.len() {
            return Err(std::fmt::Error);
        }
        self.buf[self.len..end].copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    proptest::proptest! {
        /// The `ryu` fast path prints what the general path prints, over the whole plain range.
        #[test]
        fn fast_path_agrees_with_the_general_one(
            bits in 0x3F50_624D_D2F1_A9FCu64..0x4163_12D0_0000_0000u64,
            negative: bool,
            key in 0.0f64..1_000_000.0,
        ) {
            for d in [f64::from_bits(bits), key] {
                let d = if negative { -d } else { d };
                let (mut fast, mut general) = (Vec::new(), Vec::new());
                write_java_double(d, &mut fast);
                write_general(d, &mut general);
                proptest::prop_assert_eq!(
                    String::from_utf8_lossy(&fast),
                    String::from_utf8_lossy(&general)
                );
            }
        }
    }

    /// The shapes of the random partition keys (`nextDouble(1e6)`), small values included.
    #[test]
    fn partition_key_shapes() {
        assert_eq!(java_double(483920.1837461032), "483920.1837461032");
        assert_eq!(java_double(5.0), "5.0");
        assert_eq!(java_double(0.0), "0.0");
        assert_eq!(java_double(0.5), "0.5");
        assert_eq!(java_double(0.001), "0.001");
        assert_eq!(java_double(1.2345e-4), "1.2345E-4");
        assert_eq!(java_double(1e-4), "1.0E-4");
    }

    /// The String-building implementation this file had before `write_java_double`, kept as
    /// the oracle for the allocation-free one.
    fn reference(d: f64) -> String {
        if d.is_nan() {
            return "NaN".into();
        }
        if d.is_infinite() {
            return if d > 0.0 { "Infinity" } else { "-Infinity" }.into();
        }
        if d == 0.0 {
            return if d.is_sign_negative() { "-0.0" } else { "0.0" }.into();
        }
        let mut sci = format!("{:e}", d.abs());
        if !sci.contains('.') {
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
        let mut out = String::new();
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

    #[test]
    fn writing_appends_to_what_is_there() {
        let mut out = b"key=".to_vec();
        write_java_double(-1.5e-7, &mut out);
        write_java_double(2.0, &mut out);
        assert_eq!(out, b"key=-1.5E-72.0");
    }

    proptest::proptest! {
        #[test]
        fn allocation_free_writer_matches_the_reference(bits in proptest::prelude::any::<u64>()) {
            let d = f64::from_bits(bits);
            proptest::prop_assert_eq!(java_double(d), reference(d));
        }

        #[test]
        fn partition_key_range_matches_the_reference(d in 0.0f64..1_000_000.0) {
            proptest::prop_assert_eq!(java_double(d), reference(d));
        }
    }
}
