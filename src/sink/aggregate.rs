//! KPL aggregation: many user records in one Kinesis record, in the format the KPL writes and
//! the KCL (and awslabs' deaggregation modules) read back.
//!
//! `F3 89 9A C2` + protobuf `AggregatedRecord` + MD5 of the protobuf. The protobuf is written
//! with prost's field encoders straight into one buffer: the partition key table (each distinct
//! key once), then one nested `Record` per user record (key index, data).

use crate::record::{PartitionKey, Record};
use md5::{Digest, Md5};
use prost::encoding::{encode_key, encode_varint, encoded_len_varint, WireType};
use std::collections::HashMap;

/// The four bytes every aggregated record starts with.
pub const MAGIC: [u8; 4] = [0xF3, 0x89, 0x9A, 0xC2];

/// Magic and MD5 trailer: what an aggregate costs beyond its protobuf.
pub const FRAME_BYTES: usize = MAGIC.len() + 16;

/// The 128-bit hash key Kinesis maps `key` to: the MD5 of its text, big-endian.
pub fn hash_key(key: &PartitionKey) -> u128 {
    let mut buf = [0u8; 32];
    u128::from_be_bytes(Md5::digest(key.as_text(&mut buf)).into())
}

/// What `rec` adds to an aggregate at most: its nested record (tag, length, key index, data)
/// and its key as a new table entry. Exact sizes are never larger, so an aggregate planned with
/// this never exceeds its limit.
pub fn record_cost(rec: &Record) -> usize {
    let data = rec.data.len();
    // key index (tag + up to 5 bytes) + data (tag + length + bytes)
    let inner = 1 + 5 + 1 + encoded_len_varint(data as u64) + data;
    let key = rec.partition_key.len();
    1 + encoded_len_varint(inner as u64) + inner + 1 + encoded_len_varint(key as u64) + key
}

/// FxHash's mixing step over a key's bytes: the key table's map is probed once per record, and
/// SipHash (the default, built against flooding by untrusted keys: these are our own) was 4 % of
/// an aggregating flow's CPU.
#[derive(Debug, Default, Clone, Copy)]
struct KeyHasher(u64);

impl std::hash::Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(word))
                .wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
    }
}

type KeyIndex = HashMap<PartitionKey, u64, std::hash::BuildHasherDefault<KeyHasher>>;

/// Encodes aggregates, reusing its key table and scratch space between them.
#[derive(Debug, Default)]
pub struct Encoder {
    index: KeyIndex,
    keys: Vec<PartitionKey>,
    indices: Vec<u64>,
}

impl Encoder {
    /// Writes the aggregate of `records` into `out` (cleared first). With `pin` every user record
    /// also carries that explicit hash key, so that it belongs wherever the aggregate lands
    /// (used while the shard map is unknown).
    pub fn encode(&mut self, records: &[Record], pin: Option<u128>, out: &mut Vec<u8>) {
        self.encode_unsealed(records, pin, out);
        let digest = Md5::digest(&out[MAGIC.len()..]);
        out.extend_from_slice(&digest);
    }

    /// Writes the aggregate as [`Encoder::encode`] does but for its MD5 trailer, which
    /// [`seal`] appends to several aggregates at once.
    pub fn encode_unsealed(&mut self, records: &[Record], pin: Option<u128>, out: &mut Vec<u8>) {
        self.index.clear();
        self.keys.clear();
        self.indices.clear();
        for r in records {
            let next = self.keys.len() as u64;
            let i = *self.index.entry(r.partition_key).or_insert(next);
            if i == next {
                self.keys.push(r.partition_key);
            }
            self.indices.push(i);
        }
        out.clear();
        out.extend_from_slice(&MAGIC);
        let mut buf = [0u8; 32];
        for k in &self.keys {
            write_key(k.as_text(&mut buf), out);
        }
        if let Some(ehk) = pin {
            let text = ehk.to_string();
            encode_key(2, WireType::LengthDelimited, out);
            encode_varint(text.len() as u64, out);
            out.extend_from_slice(text.as_bytes());
        }
        for (r, &i) in records.iter().zip(&self.indices) {
            write_record(i, pin.is_some(), &r.data, out);
        }
    }
}

/// Appends a partition key table entry.
pub fn write_key(text: &[u8], out: &mut Vec<u8>) {
    encode_key(1, WireType::LengthDelimited, out);
    encode_varint(text.len() as u64, out);
    out.extend_from_slice(text);
}

/// The length of a nested user record's message: its key index, the explicit hash key index
/// (0) when `pinned`, and its data.
fn record_message_len(key: u64, pinned: bool, data: usize) -> usize {
    let pin = if pinned { 2 } else { 0 };
    1 + encoded_len_varint(key) + pin + 1 + encoded_len_varint(data as u64) + data
}

/// Bytes [`write_record`] appends.
pub fn record_len(key: u64, pinned: bool, data: usize) -> usize {
    let inner = record_message_len(key, pinned, data);
    1 + encoded_len_varint(inner as u64) + inner
}

/// Appends one user record: the index of its key in the table, the index of the explicit hash
/// key (the only one) when `pinned`, and `data`.
pub fn write_record(key: u64, pinned: bool, data: &[u8], out: &mut Vec<u8>) {
    encode_key(3, WireType::LengthDelimited, out);
    encode_varint(record_message_len(key, pinned, data.len()) as u64, out);
    encode_key(1, WireType::Varint, out);
    encode_varint(key, out);
    if pinned {
        encode_key(2, WireType::Varint, out);
        encode_varint(0, out);
    }
    encode_key(3, WireType::LengthDelimited, out);
    encode_varint(data.len() as u64, out);
    out.extend_from_slice(data);
}

/// Appends to each aggregate written by [`Encoder::encode_unsealed`] its MD5 trailer, the
/// digests computed side by side.
pub fn seal(aggregates: &mut [Vec<u8>]) {
    let protobufs: Vec<&[u8]> = aggregates.iter().map(|a| &a[MAGIC.len()..]).collect();
    let digests = super::md5_lanes::digests(&protobufs);
    for (a, d) in aggregates.iter_mut().zip(digests) {
        a.extend_from_slice(&d);
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::record::AckToken;

    /// The KPL's messages, derived by prost: an independent reading of what `Encoder` writes.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct AggregatedRecord {
        #[prost(string, repeated, tag = "1")]
        pub partition_key_table: Vec<String>,
        #[prost(string, repeated, tag = "2")]
        pub explicit_hash_key_table: Vec<String>,
        #[prost(message, repeated, tag = "3")]
        pub records: Vec<UserRecord>,
    }

    /// One user record of an aggregate.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct UserRecord {
        #[prost(uint64, required, tag = "1")]
        pub partition_key_index: u64,
        #[prost(uint64, optional, tag = "2")]
        pub explicit_hash_key_index: Option<u64>,
        #[prost(bytes = "vec", required, tag = "3")]
        pub data: Vec<u8>,
    }

    /// Checks the frame and decodes an aggregate into (key, data) pairs.
    pub fn decode(agg: &[u8]) -> (AggregatedRecord, Vec<(String, Vec<u8>)>) {
        use prost::Message;
        assert_eq!(agg[..4], MAGIC);
        let (proto, digest) = agg[4..].split_at(agg.len() - 20);
        assert_eq!(Md5::digest(proto)[..], digest[..], "MD5 trailer");
        let m = AggregatedRecord::decode(proto).expect("a valid AggregatedRecord");
        let pairs = m
            .records
            .iter()
            .map(|r| {
                (
                    m.partition_key_table[r.partition_key_index as usize].clone(),
                    r.data.clone(),
                )
            })
            .collect();
        (m, pairs)
    }

    pub fn rec(data: &[u8], key: PartitionKey) -> Record {
        Record {
            data: bytes::Bytes::copy_from_slice(data),
            partition_key: key,
            ack: AckToken {
                fid: 1,
                start: 0,
                end: 1,
            },
        }
    }

    #[test]
    fn aggregates_sealed_together_are_those_encoded_one_by_one() {
        // Ten aggregates of different sizes, some pinned: two groups of lanes, the second
        // short enough to be hashed one by one.
        let mut encoder = Encoder::default();
        let (mut together, mut alone) = (Vec::new(), Vec::new());
        for n in 0..10usize {
            let records: Vec<Record> = (0..n * 7 + 1)
                .map(|i| {
                    rec(
                        &vec![(n * 31 + i) as u8; i % 90],
                        PartitionKey::md5_of(&[n as u8]),
                    )
                })
                .collect();
            let pin = (n % 3 == 0).then_some(n as u128 * 12_345);
            let mut out = Vec::new();
            encoder.encode_unsealed(&records, pin, &mut out);
            together.push(out);
            let mut out = Vec::new();
            encoder.encode(&records, pin, &mut out);
            alone.push(out);
        }
        seal(&mut together);
        assert_eq!(together, alone);
    }

    #[test]
    fn aggregates_decode_to_the_records_with_keys_deduplicated() {
        let mut scratch = Vec::new();
        let r1 = PartitionKey::random(12.5, &mut scratch);
        let records = vec![
            rec(b"first line\n", PartitionKey::md5_of(b"a")),
            rec(b"", r1),
            rec(&vec![7u8; 300], PartitionKey::md5_of(b"a")),
            rec(b"last", r1),
        ];
        let mut out = Vec::new();
        Encoder::default().encode(&records, None, &mut out);
        let (m, pairs) = decode(&out);
        assert_eq!(m.partition_key_table.len(), 2, "each distinct key once");
        assert!(m.explicit_hash_key_table.is_empty());
        let want: Vec<(String, Vec<u8>)> = records
            .iter()
            .map(|r| (r.partition_key.text(), r.data.to_vec()))
            .collect();
        assert_eq!(pairs, want);
        let cost: usize = records.iter().map(record_cost).sum();
        assert!(out.len() <= FRAME_BYTES + cost, "{} > {}", out.len(), cost);
    }

    #[test]
    fn pinned_aggregates_give_every_record_the_hash_key() {
        let records = vec![
            rec(b"x", PartitionKey::md5_of(b"x")),
            rec(b"y", PartitionKey::md5_of(b"y")),
        ];
        let mut out = Vec::new();
        let ehk = hash_key(&records[0].partition_key);
        Encoder::default().encode(&records, Some(ehk), &mut out);
        let (m, pairs) = decode(&out);
        assert_eq!(m.explicit_hash_key_table, vec![ehk.to_string()]);
        assert!(m
            .records
            .iter()
            .all(|r| r.explicit_hash_key_index == Some(0)));
        assert_eq!(pairs.len(), 2);
    }

    #[test]
    fn hash_key_is_the_md5_of_the_key_text() {
        // MD5("abc") = 900150983cd24fb0d6963f7d28e17f72
        let mut scratch = Vec::new();
        let k = PartitionKey::random(0.5, &mut scratch);
        assert_eq!(k.text(), "0.5");
        assert_eq!(
            hash_key(&k),
            u128::from_be_bytes(Md5::digest(b"0.5").into())
        );
        let k = PartitionKey::md5_of(b"abc");
        assert_eq!(
            hash_key(&k),
            u128::from_be_bytes(Md5::digest(b"900150983cd24fb0d6963f7d28e17f72").into())
        );
    }
}
