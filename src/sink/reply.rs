//! Replies to PutRecords and PutRecordBatch, read without copying what is not needed.
//!
//! Only `FailedRecordCount` / `FailedPutCount` and each entry's `ErrorCode` matter; the
//! `SequenceNumber`s and `RecordId`s of stored entries are checked for presence and skipped.
//! A reply that is not what the API promises (a proxy's HTML page, a truncated body, fewer
//! entries than records) is a [`BadReply`]: the caller retries the whole request, and nothing
//! in it counts as stored.

use super::request::Api;
use super::EntryResults;
use serde::de::IgnoredAny;
use serde::Deserialize;
use std::borrow::Cow;

/// A reply that breaks the API's promise: retry the whole request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{api} reply is not what the API promises: {problem} (HTTP {status}, {len} bytes: {excerpt})"
)]
pub struct BadReply {
    /// The operation.
    pub api: &'static str,
    /// What is wrong with it.
    pub problem: String,
    /// Its HTTP status.
    pub status: u16,
    /// Its body length.
    pub len: usize,
    /// The start of its body, printable and short.
    pub excerpt: String,
}

/// An error reply (any status but 2xx): what the service, or something in between, said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceFault {
    /// The HTTP status.
    pub status: u16,
    /// The error code without its namespace (`ResourceNotFoundException`), when there is one.
    pub code: Option<String>,
    /// The service's message, or an excerpt of a body that is not an AWS error document.
    pub message: String,
    /// The reply's `Date` header (the server's clock), when present.
    pub date: Option<String>,
}

impl std::fmt::Display for ServiceFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.code {
            Some(code) => write!(f, "{code}: {} (HTTP {})", self.message, self.status),
            None => write!(f, "HTTP {}: {}", self.status, self.message),
        }
    }
}

#[derive(Deserialize)]
struct PutRecordsReply<'a> {
    #[serde(rename = "FailedRecordCount")]
    failed: Option<u64>,
    #[serde(rename = "Records", borrow)]
    entries: Option<Vec<PutRecordsEntry<'a>>>,
}

#[derive(Deserialize)]
struct PutRecordsEntry<'a> {
    #[serde(rename = "ErrorCode", borrow, default)]
    error_code: Option<Cow<'a, str>>,
    #[serde(rename = "SequenceNumber", default)]
    stored_as: Option<IgnoredAny>,
}

#[derive(Deserialize)]
struct PutRecordBatchReply<'a> {
    #[serde(rename = "FailedPutCount")]
    failed: Option<u64>,
    #[serde(rename = "RequestResponses", borrow)]
    entries: Option<Vec<PutRecordBatchEntry<'a>>>,
}

#[derive(Deserialize)]
struct PutRecordBatchEntry<'a> {
    #[serde(rename = "ErrorCode", borrow, default)]
    error_code: Option<Cow<'a, str>>,
    #[serde(rename = "RecordId", default)]
    stored_as: Option<IgnoredAny>,
}

use super::reply_scan::{scan, Entries, Names};

/// The failed count and the entries of a 2xx reply, read by `serde_json`.
fn read_with_serde(
    api: Api,
    body: &[u8],
) -> Result<(Option<u64>, Option<Entries<'_>>), serde_json::Error> {
    match api {
        Api::PutRecords => serde_json::from_slice::<PutRecordsReply<'_>>(body).map(|r| {
            let entries = r.entries.map(|v| {
                v.into_iter()
                    .map(|e| (e.error_code, e.stored_as.is_some()))
                    .collect()
            });
            (r.failed, entries)
        }),
        Api::PutRecordBatch => serde_json::from_slice::<PutRecordBatchReply<'_>>(body).map(|r| {
            let entries = r.entries.map(|v| {
                v.into_iter()
                    .map(|e| (e.error_code, e.stored_as.is_some()))
                    .collect()
            });
            (r.failed, entries)
        }),
    }
}

/// The member names of `api`'s reply.
fn names(api: Api) -> Names {
    match api {
        Api::PutRecords => Names {
            count: "FailedRecordCount",
            entries: "Records",
            id: "SequenceNumber",
        },
        Api::PutRecordBatch => Names {
            count: "FailedPutCount",
            entries: "RequestResponses",
            id: "RecordId",
        },
    }
}

/// Reads a 2xx reply to a request of `expected` entries: per entry, None when stored and the
/// error code when rejected.
pub fn parse_success(
    api: Api,
    status: u16,
    body: &[u8],
    expected: usize,
) -> Result<EntryResults, BadReply> {
    let bad = |problem: String| BadReply {
        api: api.name(),
        problem,
        status,
        len: body.len(),
        excerpt: excerpt(body),
    };
    let Names {
        count: count_name,
        entries: entries_name,
        id: id_name,
    } = names(api);
    // The usual reply is read by the cheap scanner; anything unusual, by serde_json.
    let (failed, entries) = match scan(body, names(api)) {
        Some(read) => read,
        None => read_with_serde(api, body)
            .map_err(|e| bad(format!("not the expected JSON document ({e})")))?,
    };
    let failed = failed.ok_or_else(|| bad(format!("no {count_name}")))?;
    let entries = entries.ok_or_else(|| bad(format!("no {entries_name}")))?;
    if entries.len() != expected {
        return Err(bad(format!(
            "{} entries for {expected} records",
            entries.len()
        )));
    }
    let mut results = Vec::with_capacity(entries.len());
    for (i, (code, stored)) in entries.into_iter().enumerate() {
        match code {
            Some(code) if !code.is_empty() => results.push(Some(code.into_owned())),
            _ if stored => results.push(None),
            _ => {
                return Err(bad(format!(
                    "entry {i} has neither an ErrorCode nor a {id_name}"
                )))
            }
        }
    }
    let rejected = results.iter().filter(|r| r.is_some()).count() as u64;
    if rejected != failed {
        return Err(bad(format!(
            "{count_name} is {failed} but {rejected} entries have an ErrorCode"
        )));
    }
    Ok(results)
}

#[derive(Deserialize)]
struct ShardIdsReply<'a> {
    #[serde(rename = "Records", borrow)]
    entries: Vec<ShardIdEntry<'a>>,
}

#[derive(Deserialize)]
struct ShardIdEntry<'a> {
    #[serde(rename = "ShardId", borrow, default)]
    shard_id: Option<Cow<'a, str>>,
}

/// The shard each entry of a PutRecords reply was stored in (None for a rejected one); read
/// only for aggregated requests, whose few entries make it cheap.
pub fn shard_ids(status: u16, body: &[u8]) -> Result<Vec<Option<String>>, BadReply> {
    serde_json::from_slice::<ShardIdsReply<'_>>(body)
        .map(|r| {
            r.entries
                .into_iter()
                .map(|e| e.shard_id.map(Cow::into_owned))
                .collect()
        })
        .map_err(|e| BadReply {
            api: Api::PutRecords.name(),
            problem: format!("no shard ids ({e})"),
            status,
            len: body.len(),
            excerpt: excerpt(body),
        })
}

#[derive(Deserialize)]
struct ErrorDocument<'a> {
    #[serde(rename = "__type", alias = "code", alias = "Code", borrow, default)]
    code: Option<Cow<'a, str>>,
    #[serde(rename = "message", alias = "Message", borrow, default)]
    message: Option<Cow<'a, str>>,
}

/// Reads an error reply: the code from the `x-amzn-ErrorType` header or the body's `__type`,
/// the message from its `message` / `Message`. A body that is not an AWS error document (an
/// HTML page from a proxy) gives no code and an excerpt as the message.
pub fn parse_error(
    status: u16,
    error_type_header: Option<&str>,
    date: Option<&str>,
    body: &[u8],
) -> ServiceFault {
    let doc = serde_json::from_slice::<ErrorDocument<'_>>(body).ok();
    let code = error_type_header
        .filter(|h| !h.trim().is_empty())
        .or_else(|| doc.as_ref().and_then(|d| d.code.as_deref()))
        .map(sanitize_code)
        .filter(|c| !c.is_empty());
    let message = match doc.as_ref().and_then(|d| d.message.as_deref()) {
        Some(m) => printable(m, 512),
        None if body.is_empty() => "(no body)".to_owned(),
        None => excerpt(body),
    };
    ServiceFault {
        status,
        code,
        message,
        date: date.map(str::to_owned),
    }
}

/// `aws.protocols#ThrottlingException:http://internal.amazon.com/...` → `ThrottlingException`.
fn sanitize_code(raw: &str) -> String {
    let no_suffix = raw.split(':').next().unwrap_or(raw);
    let name = no_suffix.rsplit('#').next().unwrap_or(no_suffix);
    printable(name.trim(), 128)
}

/// The start of a body for a log line: at most 120 characters, control characters and runs
/// of white space as one space, cut with `…`.
pub fn excerpt(body: &[u8]) -> String {
    if body.is_empty() {
        return "(empty)".to_owned();
    }
    let head = &body[..body.len().min(480)];
    let mut text = printable(&String::from_utf8_lossy(head), 120);
    if body.len() > head.len() && !text.ends_with('…') {
        text.push('…');
    }
    text
}

/// `s` on one line, without control characters, cut to `max` characters.
fn printable(s: &str, max: usize) -> String {
    let mut out = String::with_capacity(s.len().min(max * 2));
    let mut count = 0;
    let mut space = false;
    for c in s.chars() {
        if c.is_whitespace() || c.is_control() {
            space = !out.is_empty();
            continue;
        }
        if count + usize::from(space) >= max {
            out.push('…');
            return out;
        }
        if space {
            out.push(' ');
            count += 1;
            space = false;
        }
        out.push(c);
        count += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const OK_2: &str = r#"{"FailedRecordCount":0,"Records":[{"SequenceNumber":"4959","ShardId":"shardId-000000000000"},{"SequenceNumber":"4960","ShardId":"shardId-000000000001"}]}"#;

    /// A JSON value of the kinds replies hold, rendered with the given spacing.
    fn value_text(kind: u8, text: &str) -> String {
        match kind % 7 {
            0..=2 => format!("\"{text}\""),
            3 => text.len().to_string(),
            4 => "null".into(),
            5 => ["true", "false", "0", "01", "-1", "1.5", "{}", "[]"][text.len() % 8].into(),
            _ => format!("\"{text}\\n\""),
        }
    }

    fn arb_reply() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let keys = prop::sample::select(vec![
            "ErrorCode",
            "ErrorMessage",
            "SequenceNumber",
            "ShardId",
            "RecordId",
        ]);
        let member = (keys, any::<u8>(), "[ -~]{0,6}");
        let entry = prop::collection::vec(member, 0..4);
        let top = prop::sample::select(vec![
            "FailedRecordCount",
            "FailedPutCount",
            "EncryptionType",
            "Records",
            "RequestResponses",
        ]);
        (
            prop::collection::vec((top, any::<u8>(), "[ -~]{0,4}"), 0..4),
            prop::collection::vec(entry, 0..5),
            prop::sample::select(vec!["", " ", "\n  ", "\t"]),
        )
            .prop_map(|(tops, entries, ws)| {
                let entries: Vec<String> = entries
                    .iter()
                    .map(|members| {
                        let m: Vec<String> = members
                            .iter()
                            .map(|(k, kind, text)| {
                                format!("\"{k}\":{ws}{}", value_text(*kind, text))
                            })
                            .collect();
                        format!("{{{ws}{}{ws}}}", m.join(","))
                    })
                    .collect();
                let array = format!("[{ws}{}{ws}]", entries.join(&format!(",{ws}")));
                let members: Vec<String> = tops
                    .iter()
                    .map(|(k, kind, text)| {
                        let v = match (*k, kind % 3) {
                            ("Records" | "RequestResponses", 0 | 1) => array.clone(),
                            ("FailedRecordCount" | "FailedPutCount", 0 | 1) => {
                                (kind % 4).to_string()
                            }
                            _ => value_text(*kind, text),
                        };
                        format!("\"{k}\"{ws}:{v}")
                    })
                    .collect();
                format!("{ws}{{{}}}{ws}", members.join(","))
            })
    }

    proptest::proptest! {
        /// Whatever the cheap scanner accepts, serde_json reads the same way; truncated and
        /// corrupted replies included.
        #[test]
        fn the_scanner_reads_what_serde_reads(
            reply in arb_reply(),
            cut in proptest::prelude::any::<proptest::sample::Index>(),
            flip in proptest::prelude::any::<(proptest::sample::Index, u8)>(),
        ) {
            let whole = reply.as_bytes().to_vec();
            let truncated = whole[..cut.index(whole.len() + 1)].to_vec();
            let mut flipped = whole.clone();
            if !flipped.is_empty() {
                let i = flip.0.index(flipped.len());
                flipped[i] = flip.1;
            }
            for body in [whole, truncated, flipped] {
                for api in [Api::PutRecords, Api::PutRecordBatch] {
                    if let Some(fast) = scan(&body, names(api)) {
                        let slow = read_with_serde(api, &body);
                        proptest::prop_assert!(
                            slow.as_ref().is_ok_and(|s| *s == fast),
                            "{:?}: scanner {:?}, serde {:?}",
                            String::from_utf8_lossy(&body),
                            fast,
                            slow.map_err(|e| e.to_string())
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn compact_entries_in_either_order_and_anything_else_member_by_member() {
        let read = |entries: &str| -> Option<Vec<(Option<String>, bool)>> {
            let body = format!(r#"{{"FailedRecordCount":0,"Records":[{entries}]}}"#);
            scan(body.as_bytes(), names(Api::PutRecords)).map(|(_, e)| {
                e.unwrap()
                    .into_iter()
                    .map(|(c, s)| (c.map(Cow::into_owned), s))
                    .collect()
            })
        };
        let stored = Some(vec![(None, true)]);
        assert_eq!(
            read(r#"{"SequenceNumber":"49","ShardId":"shardId-1"}"#),
            stored
        );
        // kinesalite's order.
        assert_eq!(
            read(r#"{"ShardId":"shardId-1","SequenceNumber":"49"}"#),
            stored
        );
        assert_eq!(read(r#"{"SequenceNumber":"49"}"#), stored);
        assert_eq!(
            read(r#"{"ShardId":"shardId-1"}"#),
            Some(vec![(None, false)])
        );
        assert_eq!(read(r#"{ "SequenceNumber":"49","ShardId":"s"}"#), stored);
        assert_eq!(read(r#"{"SequenceNumber":"49","Extra":1}"#), stored);
        assert_eq!(
            read(r#"{"SequenceNumber":"49","SequenceNumber":"50"}"#),
            None
        );
        assert_eq!(read(r#"{"SequenceNumber":"4\u0039"}"#), None);
        assert_eq!(read(r#"{"SequenceNumber":"49","ShardId":"s""#), None);
    }

    #[test]
    fn usual_replies_take_the_scanner() {
        let partial = r#"{"FailedRecordCount":1,"EncryptionType":"NONE","Records":[
            {"SequenceNumber":"1","ShardId":"s"},
            {"ErrorCode":"ProvisionedThroughputExceededException","ErrorMessage":"Rate exceeded for shard s"}]}"#;
        let firehose =
            r#"{"Encrypted":false,"FailedPutCount":0,"RequestResponses":[{"RecordId":"a"}]}"#;
        assert_eq!(
            scan(OK_2.as_bytes(), names(Api::PutRecords)),
            Some((Some(0), Some(vec![(None, true), (None, true)])))
        );
        assert_eq!(
            scan(partial.as_bytes(), names(Api::PutRecords)),
            Some((
                Some(1),
                Some(vec![
                    (None, true),
                    (Some("ProvisionedThroughputExceededException".into()), false)
                ])
            ))
        );
        assert_eq!(
            scan(firehose.as_bytes(), names(Api::PutRecordBatch)),
            Some((Some(0), Some(vec![(None, true)])))
        );
        // An escape is left to serde_json.
        assert_eq!(
            scan(
                br#"{"FailedRecordCount":0,"X":"a\"b","Records":[]}"#,
                names(Api::PutRecords)
            ),
            None
        );
    }

    #[test]
    fn stored_and_rejected_entries() {
        assert_eq!(
            parse_success(Api::PutRecords, 200, OK_2.as_bytes(), 2),
            Ok(vec![None, None])
        );
        let partial = r#"{"FailedRecordCount":1,"EncryptionType":"NONE","Records":[
            {"SequenceNumber":"1","ShardId":"s"},
            {"ErrorCode":"ProvisionedThroughputExceededException","ErrorMessage":"Rate exceeded for shard \"s\""}]}"#;
        assert_eq!(
            parse_success(Api::PutRecords, 200, partial.as_bytes(), 2),
            Ok(vec![
                None,
                Some("ProvisionedThroughputExceededException".into())
            ])
        );
        let firehose = r#"{"Encrypted":false,"FailedPutCount":1,"RequestResponses":[
            {"ErrorCode":"ServiceUnavailableException","ErrorMessage":"Slow down."},{"RecordId":"abc"}]}"#;
        assert_eq!(
            parse_success(Api::PutRecordBatch, 200, firehose.as_bytes(), 2),
            Ok(vec![Some("ServiceUnavailableException".into()), None])
        );
    }

    /// Nothing of a reply that is not what the API promises counts as stored.
    #[test]
    fn malformed_replies_are_errors_never_success() {
        let html = b"<html><head><title>502 Bad Gateway</title></head>\r\n<body><center><h1>502 Bad Gateway</h1></center></body></html>";
        let cases: Vec<(&[u8], &str)> = vec![
            (html, "not the expected JSON"),
            (b"", "not the expected JSON"),
            (&OK_2.as_bytes()[..OK_2.len() / 2], "not the expected JSON"),
            (&OK_2.as_bytes()[..OK_2.len() - 1], "not the expected JSON"),
            (b"null", "not the expected JSON"),
            (b"[]", "not the expected JSON"),
            (br#"{"FailedRecordCount":0}"#, "no Records"),
            (br#"{"Records":[{"SequenceNumber":"1"},{"SequenceNumber":"2"}]}"#, "no FailedRecordCount"),
            (br#"{"FailedRecordCount":0,"Records":[{"SequenceNumber":"1"}]}"#, "1 entries for 2 records"),
            (br#"{"FailedRecordCount":0,"Records":[{"SequenceNumber":"1"},{},{"SequenceNumber":"3"}]}"#, "3 entries for 2 records"),
            (br#"{"FailedRecordCount":0,"Records":[{"SequenceNumber":"1"},{}]}"#, "entry 1 has neither"),
            (br#"{"FailedRecordCount":0,"Records":[{"SequenceNumber":"1"},{"ShardId":"s","ErrorCode":null}]}"#, "entry 1 has neither"),
            (br#"{"FailedRecordCount":1,"Records":[{"SequenceNumber":"1"},{"SequenceNumber":"2"}]}"#, "FailedRecordCount is 1 but 0"),
            (br#"{"FailedRecordCount":0,"Records":[{"SequenceNumber":"1"},{"ErrorCode":"X"}]}"#, "FailedRecordCount is 0 but 1"),
            (br#"{"FailedRecordCount":"0","Records":[]}"#, "not the expected JSON"),
            (br#"{"FailedRecordCount":0,"Records":[1,2]}"#, "not the expected JSON"),
            (br#"{"FailedRecordCount":0,"Records":[{"SequenceNumber":"1"},{"SequenceNumber":"2"}]} trailing"#, "not the expected JSON"),
        ];
        for (body, want) in cases {
            let err = parse_success(Api::PutRecords, 200, body, 2).unwrap_err();
            let msg = err.to_string();
            assert!(msg.contains(want), "{msg}");
            assert!(
                msg.starts_with("PutRecords reply is not what the API promises"),
                "{msg}"
            );
            assert!(!msg.contains('\n') && !msg.contains('\r'), "{msg}");
        }
        let err = parse_success(Api::PutRecords, 200, html, 2).unwrap_err();
        assert!(
            err.excerpt
                .starts_with("<html><head><title>502 Bad Gateway"),
            "{err}"
        );
        // Firehose names its fields differently: a PutRecords reply is not a PutRecordBatch one.
        assert!(parse_success(Api::PutRecordBatch, 200, OK_2.as_bytes(), 2).is_err());
    }

    #[test]
    fn every_truncation_of_a_reply_is_an_error() {
        for cut in 0..OK_2.len() {
            assert!(
                parse_success(Api::PutRecords, 200, &OK_2.as_bytes()[..cut], 2).is_err(),
                "{}",
                &OK_2[..cut]
            );
        }
    }

    #[test]
    fn error_codes_come_from_the_header_or_the_type() {
        let f = parse_error(
            400,
            Some("ResourceNotFoundException:http://internal.amazon.com/coral/com.amazon.coral.service/"),
            None,
            br#"{"__type":"Other","message":"Stream x not found"}"#,
        );
        assert_eq!(f.code.as_deref(), Some("ResourceNotFoundException"));
        assert_eq!(f.message, "Stream x not found");
        let f = parse_error(
            400,
            None,
            Some("Mon, 30 Nov 2026 15:00:00 GMT"),
            br#"{"__type":"com.amazonaws.kinesis.v20131202#ProvisionedThroughputExceededException","Message":"Rate exceeded"}"#,
        );
        assert_eq!(
            f.code.as_deref(),
            Some("ProvisionedThroughputExceededException")
        );
        assert_eq!(f.message, "Rate exceeded");
        assert_eq!(f.date.as_deref(), Some("Mon, 30 Nov 2026 15:00:00 GMT"));
        assert_eq!(
            f.to_string(),
            "ProvisionedThroughputExceededException: Rate exceeded (HTTP 400)"
        );
    }

    #[test]
    fn an_html_error_page_has_no_code_and_a_short_excerpt() {
        let page = format!(
            "<html>\n<head><title>502 Bad Gateway</title></head>\n<body>{}</body></html>",
            "x".repeat(5000)
        );
        let f = parse_error(502, None, None, page.as_bytes());
        assert_eq!(f.code, None);
        assert!(
            f.message.starts_with("<html> <head><title>502"),
            "{}",
            f.message
        );
        assert!(f.message.chars().count() <= 121, "{}", f.message);
        assert!(f.message.ends_with('…'));
        assert_eq!(parse_error(503, None, None, b"").message, "(no body)");
        assert_eq!(parse_error(500, Some("  "), None, b"{}").code, None);
    }

    #[test]
    fn excerpts_are_printable_and_short() {
        assert_eq!(excerpt(b"a\x00b\r\n\tc  d"), "a b c d");
        assert_eq!(excerpt(b""), "(empty)");
        assert_eq!(excerpt(b"\xff\xfeok"), "\u{fffd}\u{fffd}ok");
        let long = excerpt(&[b'y'; 10_000]);
        assert_eq!(long.chars().count(), 121);
    }
}
