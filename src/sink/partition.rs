//! Partition keys: RANDOM (the Java agent's shape) and DETERMINISTIC (MD5 of the record).
//!
//! Records carry their key inline (`record::PartitionKey`); these write a key's text straight
//! into a request body, without an intermediate `String`.

use md5::{Digest, Md5};
use rand::RngExt;

use crate::java::double::write_java_double;

/// The value behind a RANDOM key: Java's `ThreadLocalRandom.nextDouble(1000000)`.
pub fn random_value() -> f64 {
    rand::rng().random_range(0.0..1_000_000.0)
}

/// Appends a RANDOM key, `String.valueOf(v)` for `v` in [0, 1e6), to `out`.
pub fn write_random_key(value: f64, out: &mut Vec<u8>) {
    write_java_double(value, out);
}

/// Appends the DETERMINISTIC key of `data`, its lowercase hex MD5 (32 bytes), to `out`.
pub fn write_deterministic_key(data: &[u8], out: &mut Vec<u8>) {
    let mut hex = [0u8; 32];
    // 16 digest bytes always fit 32 hex digits.
    let _ = hex::encode_to_slice(Md5::digest(data), &mut hex);
    out.extend_from_slice(&hex);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_keys_are_valid_and_vary() {
        let key = |v: f64| {
            let mut out = Vec::new();
            write_random_key(v, &mut out);
            String::from_utf8(out).unwrap()
        };
        let a = key(random_value());
        let b = key(random_value());
        assert_ne!(a, b);
        for k in [a, b] {
            let v: f64 = k.parse().unwrap();
            assert!((0.0..1_000_000.0).contains(&v));
            assert!(k.len() <= 256);
        }
    }

    #[test]
    fn deterministic_key_is_md5_hex_of_the_record() {
        let key = |d: &[u8]| {
            let mut out = Vec::new();
            write_deterministic_key(d, &mut out);
            String::from_utf8(out).unwrap()
        };
        assert_eq!(key(b""), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(key(b"abc"), "900150983cd24fb0d6963f7d28e17f72");
    }

    #[test]
    fn keys_are_appended_in_place() {
        let mut out = b"[".to_vec();
        write_deterministic_key(b"abc", &mut out);
        out.push(b',');
        write_random_key(483920.1837461032, &mut out);
        assert_eq!(out, b"[900150983cd24fb0d6963f7d28e17f72,483920.1837461032");
    }
}
