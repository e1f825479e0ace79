//! Partition keys: RANDOM (the Java agent's shape) and DETERMINISTIC (MD5 of the record).

use md5::{Digest, Md5};
use rand::RngExt;

/// A random key shaped like Java's `String.valueOf(ThreadLocalRandom.nextDouble(1000000))`.
pub fn random_key() -> String {
    let v: f64 = rand::rng().random_range(0.0..1_000_000.0);
    java_double_to_string(v)
}

/// Lowercase hex MD5 of the record data.
///
/// Deliberate fix: the Java agent hashes the whole backing array of the record's buffer, which
/// for unconverted records is its 5 MiB read buffer; kinetail hashes the record itself.
pub fn deterministic_key(data: &[u8]) -> String {
    hex::encode(Md5::digest(data))
}

/// Java's `Double.toString` for finite non-negative values below 10^7 (the range of the keys).
pub fn java_double_to_string(v: f64) -> String {
    if v != 0.0 && v < 1e-3 {
        // Java switches to computerized scientific notation below 10^-3.
        let s = format!("{v:E}");
        let (mantissa, exp) = s.split_once('E').unwrap_or((&s, "0"));
        if mantissa.contains('.') {
            format!("{mantissa}E{exp}")
        } else {
            format!("{mantissa}.0E{exp}")
        }
    } else {
        let s = format!("{v}");
        if s.contains('.') {
            s
        } else {
            format!("{s}.0")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_double_formatting() {
        assert_eq!(
            java_double_to_string(483920.1837461032),
            "483920.1837461032"
        );
        assert_eq!(java_double_to_string(5.0), "5.0");
        assert_eq!(java_double_to_string(0.0), "0.0");
        assert_eq!(java_double_to_string(0.5), "0.5");
        assert_eq!(java_double_to_string(0.001), "0.001");
        assert_eq!(java_double_to_string(1.2345e-4), "1.2345E-4");
        assert_eq!(java_double_to_string(1e-4), "1.0E-4");
    }

    #[test]
    fn random_keys_are_valid_and_vary() {
        let a = random_key();
        let b = random_key();
        assert_ne!(a, b);
        for k in [a, b] {
            let v: f64 = k.parse().unwrap();
            assert!((0.0..1_000_000.0).contains(&v));
            assert!(k.len() <= 256);
        }
    }

    #[test]
    fn deterministic_key_is_md5_hex_of_the_record() {
        assert_eq!(deterministic_key(b""), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(
            deterministic_key(b"abc"),
            "900150983cd24fb0d6963f7d28e17f72"
        );
    }
}
