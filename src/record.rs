//! The unit that flows from tailing to the sink: processed bytes plus where they came from.

use crate::checkpoint::TrackedFileId;

/// The byte range of a tracked file that a record covers; acknowledged when the record is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AckToken {
    /// Which tracked file the bytes were read from.
    pub fid: TrackedFileId,
    /// First byte covered.
    pub start: u64,
    /// Just past the last byte covered.
    pub end: u64,
}

/// The longest text of a Java `double` (`-1.2345678901234567E-308`).
pub const RANDOM_KEY_MAX: usize = 24;

/// A record's Kinesis partition key, kept inline, so a record costs no `String` for its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PartitionKey {
    /// Firehose records have none.
    None,
    /// RANDOM: Java's `String.valueOf(value)` for a value in [0, 1e6), as
    /// `ThreadLocalRandom.nextDouble(1000000)`; formatted once, when the record is made.
    Random {
        /// The text, in its first `len` bytes.
        text: [u8; RANDOM_KEY_MAX],
        /// Length of the text.
        len: u8,
    },
    /// DETERMINISTIC: the lowercase hex (32 bytes) of this MD5 digest of the record.
    Md5([u8; 16]),
    /// RANDOM, not drawn yet: the sender draws it, from the keys of the shard it chooses for the
    /// record (`sink::route`), so that a key is not formatted twice.
    Undrawn,
}

impl PartitionKey {
    /// A RANDOM key for `value`; `scratch` is a reusable buffer to format it in.
    pub fn random(value: f64, scratch: &mut Vec<u8>) -> PartitionKey {
        scratch.clear();
        crate::java::double::write_java_double(value, scratch);
        let len = scratch.len().min(RANDOM_KEY_MAX);
        let mut text = [0u8; RANDOM_KEY_MAX];
        text[..len].copy_from_slice(&scratch[..len]);
        PartitionKey::Random {
            text,
            len: len as u8,
        }
    }

    /// A RANDOM key drawn now.
    pub fn draw() -> PartitionKey {
        PartitionKey::random(crate::sink::partition::random_value(), &mut Vec::new())
    }

    /// True for a RANDOM key, drawn or not.
    pub fn is_random(&self) -> bool {
        matches!(self, PartitionKey::Random { .. } | PartitionKey::Undrawn)
    }

    /// The DETERMINISTIC key of `data`.
    pub fn md5_of(data: &[u8]) -> PartitionKey {
        use md5::{Digest, Md5};
        PartitionKey::Md5(Md5::digest(data).into())
    }

    /// Bytes of the key's text, as the service counts them against record and request limits.
    pub fn len(&self) -> usize {
        match self {
            PartitionKey::None => 0,
            PartitionKey::Random { len, .. } => usize::from(*len),
            PartitionKey::Md5(_) => 32,
            // The longest it can be drawn as.
            PartitionKey::Undrawn => RANDOM_KEY_MAX,
        }
    }

    /// True for a record without a key (Firehose).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The key's text, in `buf` or in the key itself (an undrawn key is drawn into `buf`: the
    /// sender draws every key before it is written, so this is only a safe default).
    pub fn as_text<'a>(&'a self, buf: &'a mut [u8; 32]) -> &'a [u8] {
        match self {
            PartitionKey::None => &[],
            PartitionKey::Random { text, len } => &text[..usize::from(*len)],
            PartitionKey::Undrawn => {
                let drawn = PartitionKey::draw();
                let text = drawn.as_text(&mut [0; 32]).to_vec();
                buf[..text.len()].copy_from_slice(&text);
                &buf[..text.len()]
            }
            PartitionKey::Md5(digest) => {
                // 16 digest bytes always fit 32 hex digits.
                let _ = hex::encode_to_slice(digest, buf);
                &buf[..]
            }
        }
    }

    /// Appends the key's text to `out`.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        let mut buf = [0u8; 32];
        out.extend_from_slice(self.as_text(&mut buf));
    }

    /// The key's text (for logs and tests; the send path writes it in place).
    pub fn text(&self) -> String {
        let mut out = Vec::with_capacity(32);
        self.write_to(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    }
}

/// One record ready to send.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// The processed bytes, as the destination will store them: a slice of the arena its chunk
    /// of records was written into (no allocation per record).
    pub data: bytes::Bytes,
    /// The Kinesis partition key (none for Firehose).
    pub partition_key: PartitionKey,
    /// Provenance, for the checkpoint.
    pub ack: AckToken,
}

impl Record {
    /// Moves the data out of its chunk's arena into a buffer of its own, so that a record kept
    /// for a retry does not keep the rest of its chunk in memory.
    pub fn detach(&mut self) {
        self.data = bytes::Bytes::copy_from_slice(&self.data);
    }

    /// Size as the service counts it against request limits: data plus partition key.
    pub fn size(&self) -> usize {
        self.data.len() + self.partition_key.len()
    }
}

/// Receives acknowledgements of stored records (the checkpoint keeper).
pub trait AckSink: Send + Sync {
    /// The record covering this range was stored, or deliberately not sent.
    fn ack(&self, token: AckToken);

    /// The records of one request were stored: one call per request rather than per record.
    fn ack_many(&self, tokens: &[AckToken]) {
        for t in tokens {
            self.ack(*t);
        }
    }
}

impl AckSink for crate::checkpoint::Checkpoints {
    fn ack(&self, token: AckToken) {
        crate::checkpoint::Checkpoints::ack(self, token.fid, token.start, token.end)
    }

    fn ack_many(&self, tokens: &[AckToken]) {
        crate::checkpoint::Checkpoints::ack_many(
            self,
            tokens.iter().map(|t| (t.fid, t.start, t.end)),
        )
    }
}

/// Cuts the record `buf[from..]` (the last one written into an arena) so that it and `key_len`
/// fit `max_size`, ending it with `terminator`, as the Java agent does; returns true when it cut.
pub fn truncate_to_fit(
    buf: &mut Vec<u8>,
    from: usize,
    key_len: usize,
    max_size: usize,
    terminator: &[u8],
) -> bool {
    let len = buf.len() - from;
    if len + key_len <= max_size {
        return false;
    }
    let keep = max_size.saturating_sub(key_len);
    buf.truncate(from + keep);
    let t = terminator.len().min(keep);
    let at = buf.len() - t;
    buf[at..].copy_from_slice(&terminator[..t]);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_measure_and_write_the_text_the_java_agent_sends() {
        let mut scratch = Vec::new();
        let k = PartitionKey::random(483920.1837461032, &mut scratch);
        assert_eq!(k.text(), "483920.1837461032");
        assert_eq!(k.len(), 17);
        let k = PartitionKey::random(1.2345e-4, &mut scratch);
        assert_eq!((k.text().as_str(), k.len()), ("1.2345E-4", 9));
        let k = PartitionKey::md5_of(b"hello\n");
        assert_eq!(k.text(), "b1946ac92492d2347c6235b4d2611184");
        assert_eq!(k.len(), 32);
        assert_eq!(
            (PartitionKey::None.text().as_str(), PartitionKey::None.len()),
            ("", 0)
        );
    }

    #[test]
    fn truncation_keeps_size_and_ends_with_terminator() {
        let mut d = b"0123456789".to_vec();
        assert!(!truncate_to_fit(&mut d, 0, 2, 12, b"\n"));
        assert_eq!(d.len(), 10);
        assert!(truncate_to_fit(&mut d, 0, 2, 8, b"\n"));
        assert_eq!(d, b"01234\n");
        let mut d = b"0123456789".to_vec();
        assert!(truncate_to_fit(&mut d, 0, 0, 6, b"...\n"));
        assert_eq!(d, b"01...\n");
        // Only the last record of an arena is cut; the ones before it stay as they were.
        let mut arena = b"earlier record\n0123456789".to_vec();
        assert!(truncate_to_fit(&mut arena, 15, 2, 8, b"\n"));
        assert_eq!(arena, b"earlier record\n01234\n");
        let mut arena = b"ab0123".to_vec();
        assert!(truncate_to_fit(&mut arena, 2, 0, 2, b"...\n"));
        assert_eq!(arena, b"ab..");
    }
}
