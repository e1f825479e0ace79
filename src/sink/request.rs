//! PutRecords and PutRecordBatch request bodies, written straight into one reusable buffer.
//!
//! The SDK builds an owned entry per record (a copy of the data, a `String` key) and then
//! serialises them; here each record's data is base64-encoded directly into the body and its
//! partition key written in place, so a request costs one buffer however many records it holds.
//! The builders take slices, not `Record`s, so they do not care how records are stored.

use super::partition::{write_deterministic_key, write_random_key};

/// The two operations whose bodies are built here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// Kinesis Data Streams `PutRecords`.
    PutRecords,
    /// Firehose `PutRecordBatch`.
    PutRecordBatch,
}

impl Api {
    /// The operation's name.
    pub fn name(self) -> &'static str {
        match self {
            Api::PutRecords => "PutRecords",
            Api::PutRecordBatch => "PutRecordBatch",
        }
    }

    /// The name its requests are signed for.
    pub fn signing_name(self) -> &'static str {
        match self {
            Api::PutRecords => "kinesis",
            Api::PutRecordBatch => "firehose",
        }
    }

    /// Its `X-Amz-Target` header.
    pub fn target(self) -> &'static str {
        match self {
            Api::PutRecords => "Kinesis_20131202.PutRecords",
            Api::PutRecordBatch => "Firehose_20150804.PutRecordBatch",
        }
    }
}

/// How an entry's partition key is written.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Key<'a> {
    /// A key made beforehand, JSON-escaped as it is written.
    Text(&'a str),
    /// RANDOM: Java's `String.valueOf(value)` (see `partition::random_value`).
    Random(f64),
    /// DETERMINISTIC: the lowercase hex MD5 of these bytes.
    Md5Of(&'a [u8]),
    /// A record's own key (never needs escaping: digits, `.`, `E`, `-` or hex).
    Record(crate::record::PartitionKey),
}

/// `{"Data":"` + `","PartitionKey":"` + `"}` + the comma between entries.
const ENTRY_OVERHEAD: usize = 9 + 18 + 2 + 1;

/// Length of the base64 text of `n` bytes (padded).
pub fn base64_len(n: usize) -> usize {
    n.div_ceil(3) * 4
}

/// Room needed for `records` entries carrying `data_bytes` of data in total: base64 of each
/// entry is padded to a multiple of 4, hence the two bytes per record.
fn entries_capacity(records: usize, data_bytes: usize) -> usize {
    base64_len(data_bytes + 2 * records) + ENTRY_OVERHEAD * records
}

/// A Kinesis `PutRecords` body being written:
/// `{"Records":[{"Data":"<base64>","PartitionKey":"<key>"},...],"StreamName":"<name>"}`.
#[derive(Debug)]
pub struct PutRecordsBody<'b, 's> {
    out: &'b mut Vec<u8>,
    stream: &'s str,
    entries: usize,
}

impl<'b, 's> PutRecordsBody<'b, 's> {
    /// Starts a body for `stream` in `out`, which is cleared first (its capacity is kept).
    pub fn new(out: &'b mut Vec<u8>, stream: &'s str) -> Self {
        out.clear();
        out.extend_from_slice(br#"{"Records":["#);
        PutRecordsBody {
            out,
            stream,
            entries: 0,
        }
    }

    /// Makes room for `records` more entries with `data_bytes` of data and `key_bytes` of keys
    /// (as written; 32 per DETERMINISTIC key, at most 24 per RANDOM key), so that writing them
    /// does not move the buffer.
    pub fn reserve(&mut self, records: usize, data_bytes: usize, key_bytes: usize) {
        let tail = br#"],"StreamName":""}"#.len() + self.stream.len();
        self.out
            .reserve(entries_capacity(records, data_bytes) + key_bytes + tail);
    }

    /// Appends one entry.
    pub fn push(&mut self, data: &[u8], key: Key<'_>) {
        if self.entries > 0 {
            self.out.push(b',');
        }
        self.out.extend_from_slice(br#"{"Data":""#);
        base64_simd::STANDARD.encode_append(data, self.out);
        self.out.extend_from_slice(br#"","PartitionKey":""#);
        match key {
            Key::Text(k) => write_json_text(self.out, k),
            Key::Random(v) => write_random_key(v, self.out),
            Key::Md5Of(d) => write_deterministic_key(d, self.out),
            Key::Record(k) => k.write_to(self.out),
        }
        self.out.extend_from_slice(br#""}"#);
        self.entries += 1;
    }

    /// Appends one entry sent to the shard that takes `hash_key` (`ExplicitHashKey`).
    pub fn push_with_hash_key(&mut self, data: &[u8], key: Key<'_>, hash_key: u128) {
        self.push(data, key);
        // Reopen the entry just closed by `push`.
        self.out.truncate(self.out.len() - 1);
        self.out.extend_from_slice(br#","ExplicitHashKey":""#);
        self.out.extend_from_slice(hash_key.to_string().as_bytes());
        self.out.extend_from_slice(br#""}"#);
    }

    /// Entries written so far.
    pub fn entries(&self) -> usize {
        self.entries
    }

    /// Closes the body; returns how many entries it holds.
    pub fn finish(self) -> usize {
        self.out.extend_from_slice(br#"],"StreamName":""#);
        write_json_text(self.out, self.stream);
        self.out.extend_from_slice(br#""}"#);
        self.entries
    }
}

/// A Firehose `PutRecordBatch` body being written:
/// `{"DeliveryStreamName":"<name>","Records":[{"Data":"<base64>"},...]}`.
#[derive(Debug)]
pub struct PutRecordBatchBody<'b> {
    out: &'b mut Vec<u8>,
    entries: usize,
}

impl<'b> PutRecordBatchBody<'b> {
    /// Starts a body for `delivery_stream` in `out`, which is cleared first (its capacity is
    /// kept).
    pub fn new(out: &'b mut Vec<u8>, delivery_stream: &str) -> Self {
        out.clear();
        out.extend_from_slice(br#"{"DeliveryStreamName":""#);
        write_json_text(out, delivery_stream);
        out.extend_from_slice(br#"","Records":["#);
        PutRecordBatchBody { out, entries: 0 }
    }

    /// Makes room for `records` more entries with `data_bytes` of data in total.
    pub fn reserve(&mut self, records: usize, data_bytes: usize) {
        self.out.reserve(entries_capacity(records, data_bytes) + 2);
    }

    /// Appends one entry.
    pub fn push(&mut self, data: &[u8]) {
        if self.entries > 0 {
            self.out.push(b',');
        }
        self.out.extend_from_slice(br#"{"Data":""#);
        base64_simd::STANDARD.encode_append(data, self.out);
        self.out.extend_from_slice(br#""}"#);
        self.entries += 1;
    }

    /// Entries written so far.
    pub fn entries(&self) -> usize {
        self.entries
    }

    /// Closes the body; returns how many entries it holds.
    pub fn finish(self) -> usize {
        self.out.extend_from_slice(b"]}");
        self.entries
    }
}

/// Appends `s` as the inside of a JSON string: `"` and `\` escaped, control characters as
/// `\n`-style or `\u00XX` escapes, everything else (UTF-8 included) as is.
fn write_json_text(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    let mut clean_from = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let short = match b {
            b'"' => b'"',
            b'\\' => b'\\',
            b'\n' => b'n',
            b'\r' => b'r',
            b'\t' => b't',
            0x08 => b'b',
            0x0c => b'f',
            0..=0x1f => 0,
            _ => continue,
        };
        out.extend_from_slice(&bytes[clean_from..i]);
        clean_from = i + 1;
        if short != 0 {
            out.extend_from_slice(&[b'\\', short]);
        } else {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.extend_from_slice(b"\\u00");
            out.extend_from_slice(&[HEX[usize::from(b >> 4)], HEX[usize::from(b & 0xf)]]);
        }
    }
    out.extend_from_slice(&bytes[clean_from..]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn decode(b64: &str) -> Vec<u8> {
        base64_simd::STANDARD.decode_to_vec(b64).unwrap()
    }

    /// (data, key) of every entry, and the stream name, read back with serde_json.
    fn read_put_records(body: &[u8]) -> (Vec<(Vec<u8>, String)>, String) {
        let v: serde_json::Value = serde_json::from_slice(body).unwrap();
        let obj = v.as_object().unwrap();
        assert_eq!(obj.len(), 2, "{v}");
        let entries = v["Records"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                assert_eq!(e.as_object().unwrap().len(), 2, "{e}");
                (
                    decode(e["Data"].as_str().unwrap()),
                    e["PartitionKey"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        (entries, v["StreamName"].as_str().unwrap().to_owned())
    }

    fn put_records(stream: &str, entries: &[(Vec<u8>, Key<'_>)]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut body = PutRecordsBody::new(&mut out, stream);
        for (d, k) in entries {
            body.push(d, *k);
        }
        assert_eq!(body.finish(), entries.len());
        out
    }

    #[test]
    fn put_records_has_the_documented_shape() {
        let body = put_records(
            "taxi",
            &[
                (b"hello\n".to_vec(), Key::Text("k1")),
                (vec![], Key::Text("")),
            ],
        );
        assert_eq!(
            String::from_utf8(body).unwrap(),
            r#"{"Records":[{"Data":"aGVsbG8K","PartitionKey":"k1"},{"Data":"","PartitionKey":""}],"StreamName":"taxi"}"#
        );
        assert_eq!(
            String::from_utf8(put_records("empty", &[])).unwrap(),
            r#"{"Records":[],"StreamName":"empty"}"#
        );
    }

    #[test]
    fn put_record_batch_has_the_documented_shape() {
        let mut out = b"left over from the last request".to_vec();
        let mut body = PutRecordBatchBody::new(&mut out, "delivery");
        body.reserve(2, 4);
        body.push(b"abc");
        body.push(b"\xff\x00");
        assert_eq!(body.entries(), 2);
        body.finish();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"DeliveryStreamName":"delivery","Records":[{"Data":"YWJj"},{"Data":"/wA="}]}"#
        );
    }

    #[test]
    fn keys_are_written_in_place() {
        let body = put_records(
            "s",
            &[
                (b"abc".to_vec(), Key::Md5Of(b"abc")),
                (b"x".to_vec(), Key::Random(483920.1837461032)),
                (b"y".to_vec(), Key::Random(1e-4)),
            ],
        );
        let (entries, _) = read_put_records(&body);
        let keys: Vec<&str> = entries.iter().map(|(_, k)| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "900150983cd24fb0d6963f7d28e17f72",
                "483920.1837461032",
                "1.0E-4"
            ]
        );
    }

    #[test]
    fn names_and_keys_are_json_escaped() {
        let nasty = "q\"b\\s/n\nr\rt\tz\u{0}\u{1f}\u{7f}é😀\u{2028}";
        let body = put_records(nasty, &[(b"d".to_vec(), Key::Text(nasty))]);
        let text = String::from_utf8(body.clone()).unwrap();
        assert!(text.contains(r#"q\"b\\s/n\nr\rt\tz\u0000\u001f"#), "{text}");
        let (entries, stream) = read_put_records(&body);
        assert_eq!(stream, nasty);
        assert_eq!(entries[0].1, nasty);

        let mut out = Vec::new();
        PutRecordBatchBody::new(&mut out, nasty).finish();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["DeliveryStreamName"], nasty);
    }

    #[test]
    fn binary_and_large_data_round_trip() {
        let all_bytes: Vec<u8> = (0..=255u8).collect();
        let large: Vec<u8> = (0..1_048_576u32).map(|i| (i * 7 + i / 13) as u8).collect();
        let entries = vec![
            (vec![], Key::Text("empty")),
            (vec![0], Key::Text("one")),
            (vec![0, 1], Key::Text("two")),
            (all_bytes.clone(), Key::Text("all")),
            (large.clone(), Key::Text("large")),
        ];
        let body = put_records("s", &entries);
        let (got, _) = read_put_records(&body);
        assert_eq!(got[0].0, b"");
        assert_eq!(got[1].0, [0]);
        assert_eq!(got[2].0, [0, 1]);
        assert_eq!(got[3].0, all_bytes);
        assert_eq!(got[4].0, large);
    }

    #[test]
    fn reserving_means_no_reallocation() {
        let data: Vec<Vec<u8>> = (0..500).map(|i| vec![b'x'; i * 7 % 301]).collect();
        let total: usize = data.iter().map(Vec::len).sum();
        let mut out = Vec::new();
        let mut body = PutRecordsBody::new(&mut out, "stream");
        body.reserve(data.len(), total, 32 * data.len());
        let before = body.out.as_ptr();
        for d in &data {
            body.push(d, Key::Md5Of(d));
        }
        body.finish();
        assert_eq!(out.as_ptr(), before);

        // The buffer is reused: a second body in it does not allocate either.
        let cap = out.capacity();
        let mut body = PutRecordBatchBody::new(&mut out, "delivery");
        body.reserve(data.len(), total);
        for d in &data {
            body.push(d);
        }
        body.finish();
        assert_eq!(out.capacity(), cap);
    }

    fn any_key() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-zA-Z0-9]{1,256}",
            any::<String>().prop_map(|s| s.chars().take(256).collect()),
            "[\"\\\\\u{0}-\u{1f}é😀]{0,20}",
        ]
    }

    proptest! {
        /// The body parses as JSON and decodes to exactly the records and keys given.
        #[test]
        fn put_records_body_decodes_to_its_input(
            stream in "[a-zA-Z0-9_.\\-]{1,128}",
            records in prop::collection::vec((prop::collection::vec(any::<u8>(), 0..600), any_key()), 0..40),
        ) {
            let entries: Vec<(Vec<u8>, Key<'_>)> =
                records.iter().map(|(d, k)| (d.clone(), Key::Text(k))).collect();
            let body = put_records(&stream, &entries);
            let (got, got_stream) = read_put_records(&body);
            prop_assert_eq!(got_stream, stream);
            prop_assert_eq!(got, records);
        }

        #[test]
        fn put_record_batch_body_decodes_to_its_input(
            stream in any::<String>(),
            records in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..600), 0..40),
        ) {
            let mut out = Vec::new();
            let mut body = PutRecordBatchBody::new(&mut out, &stream);
            for d in &records {
                body.push(d);
            }
            body.finish();
            let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
            prop_assert_eq!(v.as_object().unwrap().len(), 2);
            prop_assert_eq!(v["DeliveryStreamName"].as_str().unwrap(), stream.as_str());
            let got: Vec<Vec<u8>> = v["Records"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| decode(e["Data"].as_str().unwrap()))
                .collect();
            prop_assert_eq!(got, records);
        }

        /// What the SDK's own PutRecords serialiser sends for the same records, compared as JSON
        /// values (member order aside).
        #[test]
        fn put_records_body_matches_the_sdk_serialiser(
            stream in "[a-zA-Z0-9_.\\-]{1,128}",
            records in prop::collection::vec((prop::collection::vec(any::<u8>(), 0..300), any_key()), 1..20),
        ) {
            let entries: Vec<(Vec<u8>, Key<'_>)> =
                records.iter().map(|(d, k)| (d.clone(), Key::Text(k))).collect();
            let ours: serde_json::Value = serde_json::from_slice(&put_records(&stream, &entries)).unwrap();
            let sdk: serde_json::Value =
                serde_json::from_slice(&crate::sink::send::test_http::sdk_put_records_body(&stream, &records)).unwrap();
            prop_assert_eq!(ours, sdk);
        }
    }
}
