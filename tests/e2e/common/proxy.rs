//! A small fault-injecting HTTP proxy in front of a real Kinesis-compatible (or Firehose-compatible)
//! server.
//!
//! It understands just enough HTTP/1.1 (Content-Length bodies, keep-alive towards the client, one
//! upstream connection per request) to rewrite PutRecords and PutRecordBatch calls: fail chosen
//! entries inside a 200 reply (they are removed from the forwarded request, so they are really not
//! stored), answer a whole request with an error status, drop the connection before or after
//! forwarding, delay, or answer with what the API never promises (an HTML page, a truncated or
//! cut-off body, fewer entries than records). It keeps every Put request it saw, headers and
//! body, so that tests can check their signatures.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// What to do to one PutRecords or PutRecordBatch request.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Fail every `nth` entry (1-based: entries n-1, 2n-1, ...) with this error code, inside a 200.
    FailEntries { nth: usize, code: &'static str },
    /// Answer with this status and `{"__type": code}` without forwarding.
    Status { status: u16, code: &'static str },
    /// Close the connection without forwarding or answering.
    DropBefore,
    /// Forward (so the records are stored), then close without answering.
    DropAfter,
    /// Forward after a delay.
    Delay(Duration),
    /// Answer with this status, content type and body without forwarding (a proxy's HTML page).
    Reply {
        status: u16,
        content_type: &'static str,
        body: &'static str,
    },
    /// Forward (so the records are stored), then answer 200 with the first half of the reply.
    TruncatedReply,
    /// Forward, then announce the whole reply's length, send half of it and close.
    CutOffReply,
    /// Forward, then answer 200 with the reply's last entry removed.
    MissingEntry,
    /// Answer 200 with every entry stored, without forwarding: the proxy is the server (for
    /// requests a local server refuses, such as kinesalite's 7 MiB cap on a body).
    Store,
}

/// A change to the JSON reply of an operation the proxy passes through.
pub type ReplyEdit = Box<dyn Fn(&mut serde_json::Value) + Send + Sync>;

type Edits = Arc<Vec<(&'static str, ReplyEdit)>>;

/// A Put request as the proxy received it.
#[derive(Debug, Clone)]
pub struct SeenRequest {
    /// Request line and header lines, as sent.
    pub head: Vec<String>,
    /// The body.
    pub body: Vec<u8>,
    /// When it arrived.
    pub at: std::time::SystemTime,
}

impl SeenRequest {
    /// The value of a header (the first of that name).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.iter().skip(1).find_map(|h| {
            let (k, v) = h.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}

/// What the proxy saw.
#[derive(Debug, Default, Clone)]
pub struct ProxyLog {
    /// Entries per PutRecords / PutRecordBatch request received, with the fault applied (None =
    /// passed through).
    pub requests: Vec<(usize, Option<String>)>,
    /// Entries failed inside 200 replies.
    pub failed_entries: usize,
    /// Entries stored upstream although the client was told the call failed (DropAfter and
    /// the malformed replies to forwarded requests).
    pub stored_but_unacknowledged: usize,
    /// Every Put request received, in order.
    pub seen: Vec<SeenRequest>,
    /// Every other request (STS, CloudWatch, control plane...), passed through, with the reply's
    /// body.
    pub passed: Vec<(SeenRequest, Vec<u8>)>,
}

/// The running proxy.
pub struct FaultProxy {
    /// Its port on 127.0.0.1.
    pub port: u16,
    plan: Arc<Mutex<VecDeque<Fault>>>,
    log: Arc<Mutex<ProxyLog>>,
    task: tokio::task::JoinHandle<()>,
}

impl FaultProxy {
    /// Starts a proxy to `upstream_port` on 127.0.0.1 applying `plan` to successive PutRecords
    /// (or PutRecordBatch) calls.
    pub async fn start(upstream_port: u16, plan: Vec<Fault>) -> FaultProxy {
        FaultProxy::start_editing(upstream_port, plan, Vec::new()).await
    }

    /// As [`FaultProxy::start`], and also rewrites the JSON replies of other operations: each
    /// edit applies to the replies of its operation (`DescribeStreamSummary`...).
    pub async fn start_editing(
        upstream_port: u16,
        plan: Vec<Fault>,
        edits: Vec<(&'static str, ReplyEdit)>,
    ) -> FaultProxy {
        let edits: Edits = Arc::new(edits);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let plan = Arc::new(Mutex::new(VecDeque::from(plan)));
        let log = Arc::new(Mutex::new(ProxyLog::default()));
        let (p, l, e) = (plan.clone(), log.clone(), edits.clone());
        let task = tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                let (p, l, e) = (p.clone(), l.clone(), e.clone());
                tokio::spawn(async move {
                    let _ = serve(sock, upstream_port, p, l, e).await;
                });
            }
        });
        FaultProxy {
            port,
            plan,
            log,
            task,
        }
    }

    /// Its endpoint URL.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Faults not applied yet.
    pub fn pending(&self) -> usize {
        self.plan.lock().unwrap().len()
    }

    /// A copy of what it saw.
    pub fn log(&self) -> ProxyLog {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub(super) struct Request {
    pub(super) head: Vec<String>,
    pub(super) body: Vec<u8>,
}

pub(super) async fn read_request(
    r: &mut BufReader<tokio::net::tcp::OwnedReadHalf>,
) -> std::io::Result<Option<Request>> {
    let mut head = vec![];
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).await? == 0 {
            return Ok(None);
        }
        let line = line.trim_end().to_owned();
        if line.is_empty() {
            break;
        }
        head.push(line);
    }
    let len = head
        .iter()
        .find_map(|h| {
            let (k, v) = h.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    let mut body = vec![0; len];
    r.read_exact(&mut body).await?;
    Ok(Some(Request { head, body }))
}

/// Sends one request upstream on a fresh connection and returns (status, body).
pub(super) async fn forward(
    upstream_port: u16,
    req: &Request,
    body: &[u8],
) -> std::io::Result<(u16, Vec<u8>)> {
    let mut up = TcpStream::connect(("127.0.0.1", upstream_port)).await?;
    let mut out = String::new();
    for h in &req.head {
        let name = h.split(':').next().unwrap_or("").to_ascii_lowercase();
        if name == "content-length" || name == "connection" {
            continue;
        }
        out.push_str(h);
        out.push_str("\r\n");
    }
    out.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    ));
    up.write_all(out.as_bytes()).await?;
    up.write_all(body).await?;
    let mut raw = vec![];
    up.read_to_end(&mut raw).await?;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or(std::io::ErrorKind::InvalidData)?;
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(502);
    let mut resp_body = raw[split + 4..].to_vec();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        resp_body = dechunk(&resp_body);
    }
    Ok((status, resp_body))
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = vec![];
    while let Some(i) = b.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(std::str::from_utf8(&b[..i]).unwrap_or("0").trim(), 16)
            .unwrap_or(0);
        if size == 0 {
            break;
        }
        out.extend_from_slice(&b[i + 2..i + 2 + size]);
        b = &b[i + 2 + size + 2..];
    }
    out
}

pub(super) async fn respond(
    w: &mut tokio::net::tcp::OwnedWriteHalf,
    status: u16,
    body: &[u8],
) -> std::io::Result<()> {
    respond_as(w, status, "application/x-amz-json-1.1", body, body.len()).await
}

/// Answers with `body` under a `Content-Length` of `announced` (more than the body to cut a
/// reply off).
async fn respond_as(
    w: &mut tokio::net::tcp::OwnedWriteHalf,
    status: u16,
    content_type: &str,
    body: &[u8],
    announced: usize,
) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\nContent-Length: {announced}\r\nx-amzn-RequestId: proxy\r\n\r\n"
    );
    w.write_all(head.as_bytes()).await?;
    w.write_all(body).await
}

async fn serve(
    sock: TcpStream,
    upstream_port: u16,
    plan: Arc<Mutex<VecDeque<Fault>>>,
    log: Arc<Mutex<ProxyLog>>,
    edits: Edits,
) -> std::io::Result<()> {
    let (r, mut w) = sock.into_split();
    let mut r = BufReader::new(r);
    while let Some(req) = read_request(&mut r).await? {
        let arrived = std::time::SystemTime::now();
        let target = req.head.iter().find_map(|h| {
            let (name, value) = h.split_once(':')?;
            name.eq_ignore_ascii_case("x-amz-target")
                .then(|| value.trim().rsplit('.').next().unwrap_or("").to_owned())
        });
        // The reply's failure count and entry list are named differently by the two services.
        let (failed_key, entries_key) = match target.as_deref() {
            Some("PutRecords") => ("FailedRecordCount", "Records"),
            Some("PutRecordBatch") => ("FailedPutCount", "RequestResponses"),
            other => {
                let (status, mut body) = forward(upstream_port, &req, &req.body).await?;
                if let Some((_, edit)) = edits.iter().find(|(t, _)| Some(*t) == other) {
                    if let Ok(mut json) = serde_json::from_slice::<serde_json::Value>(&body) {
                        edit(&mut json);
                        body = json.to_string().into_bytes();
                    }
                }
                log.lock().unwrap().passed.push((
                    SeenRequest {
                        head: req.head.clone(),
                        body: req.body.clone(),
                        at: arrived,
                    },
                    body.clone(),
                ));
                respond(&mut w, status, &body).await?;
                continue;
            }
        };
        let mut json: serde_json::Value = serde_json::from_slice(&req.body).unwrap_or_default();
        let entries = json["Records"].as_array().map_or(0, Vec::len);
        let fault = plan.lock().unwrap().pop_front();
        {
            let mut log = log.lock().unwrap();
            log.requests
                .push((entries, fault.as_ref().map(|f| format!("{f:?}"))));
            log.seen.push(SeenRequest {
                head: req.head.clone(),
                body: req.body.clone(),
                at: arrived,
            });
        }
        match fault {
            None => {
                let (status, body) = forward(upstream_port, &req, &req.body).await?;
                respond(&mut w, status, &body).await?;
            }
            Some(Fault::Delay(d)) => {
                tokio::time::sleep(d).await;
                let (status, body) = forward(upstream_port, &req, &req.body).await?;
                respond(&mut w, status, &body).await?;
            }
            Some(Fault::Status { status, code }) => {
                let body =
                    serde_json::json!({ "__type": code, "message": "injected by the test proxy" });
                respond(&mut w, status, body.to_string().as_bytes()).await?;
            }
            Some(Fault::DropBefore) => return Ok(()),
            Some(Fault::Store) => {
                let stored: Vec<serde_json::Value> = (0..entries)
                    .map(|i| serde_json::json!({"SequenceNumber": i.to_string(), "ShardId": "shardId-000000000000", "RecordId": i.to_string()}))
                    .collect();
                let out = serde_json::json!({ failed_key: 0, entries_key: stored });
                respond(&mut w, 200, out.to_string().as_bytes()).await?;
            }
            Some(Fault::DropAfter) => {
                let _ = forward(upstream_port, &req, &req.body).await?;
                log.lock().unwrap().stored_but_unacknowledged += entries;
                return Ok(());
            }
            Some(Fault::Reply {
                status,
                content_type,
                body,
            }) => {
                respond_as(&mut w, status, content_type, body.as_bytes(), body.len()).await?;
            }
            Some(Fault::TruncatedReply) => {
                let (status, body) = forward(upstream_port, &req, &req.body).await?;
                log.lock().unwrap().stored_but_unacknowledged += entries;
                respond(&mut w, status, &body[..body.len() / 2]).await?;
            }
            Some(Fault::CutOffReply) => {
                let (status, body) = forward(upstream_port, &req, &req.body).await?;
                log.lock().unwrap().stored_but_unacknowledged += entries;
                let half = &body[..body.len() / 2];
                respond_as(
                    &mut w,
                    status,
                    "application/x-amz-json-1.1",
                    half,
                    body.len(),
                )
                .await?;
                return Ok(());
            }
            Some(Fault::MissingEntry) => {
                let (status, body) = forward(upstream_port, &req, &req.body).await?;
                log.lock().unwrap().stored_but_unacknowledged += entries;
                let mut reply: serde_json::Value =
                    serde_json::from_slice(&body).unwrap_or_default();
                if let Some(list) = reply[entries_key].as_array_mut() {
                    list.pop();
                }
                respond(&mut w, status, reply.to_string().as_bytes()).await?;
            }
            Some(Fault::FailEntries { nth, code }) => {
                let records = json["Records"].as_array().cloned().unwrap_or_default();
                let failing: Vec<bool> = (0..records.len())
                    .map(|i| (i + 1) % nth.max(1) == 0)
                    .collect();
                json["Records"] = records
                    .iter()
                    .zip(&failing)
                    .filter(|(_, f)| !**f)
                    .map(|(r, _)| r.clone())
                    .collect();
                let n_failed = failing.iter().filter(|f| **f).count();
                let (status, body) = if n_failed == records.len() {
                    let nothing = serde_json::json!({ failed_key: 0, entries_key: [] });
                    (200, nothing.to_string().into_bytes())
                } else {
                    forward(upstream_port, &req, json.to_string().as_bytes()).await?
                };
                if status != 200 {
                    respond(&mut w, status, &body).await?;
                    continue;
                }
                let reply: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                let mut stored = reply[entries_key]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                    .into_iter();
                let merged: Vec<serde_json::Value> = failing
                    .iter()
                    .map(|f| {
                        if *f {
                            serde_json::json!({ "ErrorCode": code, "ErrorMessage": "injected by the test proxy" })
                        } else {
                            stored.next().unwrap_or_default()
                        }
                    })
                    .collect();
                let prior = reply[failed_key].as_u64().unwrap_or(0);
                let out =
                    serde_json::json!({ failed_key: prior + n_failed as u64, entries_key: merged });
                log.lock().unwrap().failed_entries += n_failed;
                respond(&mut w, 200, out.to_string().as_bytes()).await?;
            }
        }
    }
    Ok(())
}
