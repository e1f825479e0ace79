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

/// One record ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The processed bytes, as the destination will store them.
    pub data: Vec<u8>,
    /// The Kinesis partition key (empty for Firehose).
    pub partition_key: String,
    /// Provenance, for the checkpoint.
    pub ack: AckToken,
}

impl Record {
    /// Size as the service counts it against request limits: data plus partition key.
    pub fn size(&self) -> usize {
        self.data.len() + self.partition_key.len()
    }
}

/// Receives acknowledgements of stored records (the checkpoint keeper).
pub trait AckSink: Send + Sync {
    /// The record covering this range was stored, or deliberately not sent.
    fn ack(&self, token: AckToken);
}

impl AckSink for crate::checkpoint::Checkpoints {
    fn ack(&self, token: AckToken) {
        crate::checkpoint::Checkpoints::ack(self, token.fid, token.start, token.end)
    }
}

/// Cuts `data` so that data + `key_len` fits `max_size`, ending it with `terminator`, as the Java
/// agent does; returns true when it cut.
pub fn truncate_to_fit(
    data: &mut Vec<u8>,
    key_len: usize,
    max_size: usize,
    terminator: &[u8],
) -> bool {
    if data.len() + key_len <= max_size {
        return false;
    }
    let keep = max_size.saturating_sub(key_len);
    data.truncate(keep);
    let t = terminator.len().min(data.len());
    let at = data.len() - t;
    data[at..].copy_from_slice(&terminator[..t]);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_keeps_size_and_ends_with_terminator() {
        let mut d = b"0123456789".to_vec();
        assert!(!truncate_to_fit(&mut d, 2, 12, b"\n"));
        assert_eq!(d.len(), 10);
        assert!(truncate_to_fit(&mut d, 2, 8, b"\n"));
        assert_eq!(d, b"01234\n");
        let mut d = b"0123456789".to_vec();
        assert!(truncate_to_fit(&mut d, 0, 6, b"...\n"));
        assert_eq!(d, b"01...\n");
    }
}
