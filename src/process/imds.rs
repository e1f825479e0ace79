//! A small blocking client for the EC2 instance metadata service (IMDS), for ADDEC2METADATA.
//!
//! IMDS is plain HTTP/1.1 on a link-local address, so this speaks HTTP itself over
//! `std::net::TcpStream` rather than pulling an HTTP stack into the agent: one short-lived
//! connection per request (`Connection: close`), `Content-Length`, chunked and read-to-EOF
//! bodies, bounded header and body sizes, connect and read timeouts, one retry.
//!
//! Sessions follow the AWS SDKs: IMDSv2 (`PUT /latest/api/token`, then GETs carrying the token,
//! which is reused until shortly before it expires), falling back to IMDSv1 (GETs without a
//! token) when the token request is refused with 403/404/405 or fails at the connection level,
//! as happens behind proxies that block PUT. The token is a credential: it never appears in a
//! log line, an error or a `Debug` output.
//!
//! Instead of the Java agent's EC2 `DescribeTags` call (which needs credentials and the
//! `ec2:DescribeTags` permission), instance tags come from IMDS itself
//! (`/latest/meta-data/tags/instance/`, available when the instance allows tags in metadata).

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant, SystemTime};

/// The IMDS address on every EC2 instance.
pub const DEFAULT_ENDPOINT: &str = "http://169.254.169.254";
/// The IMDS address in `IPv6` endpoint mode (Nitro instances).
pub const DEFAULT_ENDPOINT_IPV6: &str = "http://[fd00:ec2::254]";
/// Environment variable overriding the endpoint, as in the AWS SDKs.
pub const ENDPOINT_ENV: &str = "AWS_EC2_METADATA_SERVICE_ENDPOINT";
/// Environment variable choosing `IPv4` (default) or `IPv6` endpoint mode, as in the AWS SDKs.
pub const ENDPOINT_MODE_ENV: &str = "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE";
/// Environment variable that disables IMDS when `true`, as in the AWS SDKs.
pub const DISABLED_ENV: &str = "AWS_EC2_METADATA_DISABLED";

/// Path of the IMDSv2 session token.
pub const TOKEN_PATH: &str = "/latest/api/token";
/// Path of the instance identity document.
pub const IDENTITY_PATH: &str = "/latest/dynamic/instance-identity/document";
/// Path listing the instance's tag keys (one per line).
pub const TAGS_PATH: &str = "/latest/meta-data/tags/instance/";

/// Request header asking for a token lifetime (PUT) and reply header giving it.
const TOKEN_TTL_HEADER: &str = "X-aws-ec2-metadata-token-ttl-seconds";
/// Request header carrying the token on GETs.
const TOKEN_HEADER: &str = "X-aws-ec2-metadata-token";
/// The longest lifetime IMDS grants, in seconds (what the SDKs ask for).
const TOKEN_TTL_SECS: u64 = 21_600;
/// A token is replaced this long before it expires (at most half its lifetime), so that a
/// request in flight never carries an expired one.
const TOKEN_REFRESH_MARGIN: Duration = Duration::from_secs(60);

/// Default connect timeout (per address).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// Default read timeout (between bytes; a whole reply gets three times this).
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(1);

/// Status line plus headers larger than this are refused.
const MAX_HEAD: usize = 16 * 1024;
/// Bodies larger than this are refused (an identity document is about 500 bytes).
const MAX_BODY: usize = 1024 * 1024;
/// Interim (1xx) replies skipped before giving up.
const MAX_INTERIM: usize = 4;
/// Tag keys fetched at most, which bounds one refresh against a misbehaving server
/// (EC2 allows 50 tags per resource).
const MAX_TAGS: usize = 1000;
/// After IMDSv2 failed, IMDSv1 is used this long before a token is tried again, so that a
/// proxy blocking PUT costs one failed token request per refresh rather than one per GET.
const V1_FALLBACK_FOR: Duration = Duration::from_secs(300);
/// Pause before the single retry, long enough for a restarting proxy, short enough not to matter.
const RETRY_PAUSE: Duration = Duration::from_millis(50);

/// Why IMDS could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ImdsError {
    /// The endpoint URL cannot be used.
    #[error("invalid IMDS endpoint {url:?}: {reason}")]
    Endpoint {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// `AWS_EC2_METADATA_DISABLED` is `true`.
    #[error("IMDS is disabled by {DISABLED_ENV}")]
    Disabled,
    /// No TCP connection could be made.
    #[error("cannot connect to IMDS at {endpoint}: {source}")]
    Connect {
        /// The endpoint URL.
        endpoint: String,
        /// The last connection error.
        #[source]
        source: io::Error,
    },
    /// The server did not answer in time.
    #[error("timeout waiting for IMDS at {endpoint} ({method} {path})")]
    Timeout {
        /// The endpoint URL.
        endpoint: String,
        /// The request method.
        method: &'static str,
        /// The request path.
        path: String,
    },
    /// The connection failed after it was made.
    #[error("I/O error talking to IMDS at {endpoint}: {source}")]
    Io {
        /// The endpoint URL.
        endpoint: String,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// The reply is not acceptable HTTP/1.x.
    #[error("malformed reply from IMDS at {endpoint}: {reason}")]
    Protocol {
        /// The endpoint URL.
        endpoint: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The server answered with an unexpected status.
    #[error("IMDS answered HTTP {status} to {method} {path}")]
    Status {
        /// The request method.
        method: &'static str,
        /// The request path.
        path: String,
        /// The HTTP status code.
        status: u16,
    },
    /// The identity document is not a JSON object.
    #[error("invalid instance identity document: {0}")]
    Document(String),
    /// An earlier error, repeated by its message (errors holding `io::Error` cannot be cloned).
    #[error("{0}")]
    Repeated(String),
}

impl ImdsError {
    /// A failure of the connection itself, as opposed to an answer of the server.
    pub fn is_transport(&self) -> bool {
        matches!(
            self,
            ImdsError::Connect { .. }
                | ImdsError::Timeout { .. }
                | ImdsError::Io { .. }
                | ImdsError::Protocol { .. }
        )
    }

    /// Worth one more try: the connection failed or the server had a transient problem.
    fn is_retryable(&self) -> bool {
        self.is_transport()
    }
}

/// The fields of the instance identity document that ADDEC2METADATA uses.
///
/// A field missing from the document (or not a string) is `None`, as the Java agent's
/// `InstanceInfo` getters return `null`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IdentityDocument {
    /// `privateIp`.
    pub private_ip: Option<String>,
    /// `availabilityZone`.
    pub availability_zone: Option<String>,
    /// `instanceId`.
    pub instance_id: Option<String>,
    /// `instanceType`.
    pub instance_type: Option<String>,
    /// `accountId`.
    pub account_id: Option<String>,
    /// `imageId` (published as `amiId`).
    pub image_id: Option<String>,
    /// `region`.
    pub region: Option<String>,
}

impl IdentityDocument {
    /// Parse the JSON document IMDS serves.
    pub fn parse(body: &[u8]) -> Result<IdentityDocument, ImdsError> {
        let value: serde_json::Value =
            serde_json::from_slice(body).map_err(|e| ImdsError::Document(e.to_string()))?;
        let serde_json::Value::Object(map) = value else {
            return Err(ImdsError::Document("not a JSON object".into()));
        };
        let field = |name: &str| map.get(name).and_then(|v| v.as_str()).map(str::to_owned);
        Ok(IdentityDocument {
            private_ip: field("privateIp"),
            availability_zone: field("availabilityZone"),
            instance_id: field("instanceId"),
            instance_type: field("instanceType"),
            account_id: field("accountId"),
            image_id: field("imageId"),
            region: field("region"),
        })
    }
}

/// One fetch of everything ADDEC2METADATA publishes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ec2Metadata {
    /// The instance identity document.
    pub identity: IdentityDocument,
    /// Instance tags as IMDS lists them (keys not yet lower-cased); `Some(empty)` when the
    /// instance has none or does not expose them, `None` when fetching them failed.
    pub tags: Option<Vec<(String, String)>>,
    /// When the fetch started (`metadataTimestamp`).
    pub fetched_at: SystemTime,
}

/// Where and how to reach IMDS, from the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImdsConfig {
    /// Use IMDS at this endpoint URL.
    Endpoint(String),
    /// IMDS is disabled.
    Disabled,
}

impl ImdsConfig {
    /// Read the AWS SDK variables through `lookup` (normally `std::env::var`).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> ImdsConfig {
        let set = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        if set(DISABLED_ENV).is_some_and(|v| v.trim().eq_ignore_ascii_case("true")) {
            return ImdsConfig::Disabled;
        }
        if let Some(url) = set(ENDPOINT_ENV) {
            return ImdsConfig::Endpoint(url.trim().to_owned());
        }
        let ipv6 = set(ENDPOINT_MODE_ENV).is_some_and(|m| m.trim().eq_ignore_ascii_case("ipv6"));
        ImdsConfig::Endpoint(
            if ipv6 {
                DEFAULT_ENDPOINT_IPV6
            } else {
                DEFAULT_ENDPOINT
            }
            .to_owned(),
        )
    }

    /// Read the process environment.
    pub fn from_env() -> ImdsConfig {
        ImdsConfig::from_lookup(|name| std::env::var(name).ok())
    }
}

/// A parsed `http://host[:port][/prefix]` endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Endpoint {
    /// Host name or address, without IPv6 brackets.
    host: String,
    port: u16,
    /// `Host` header value.
    authority: String,
    /// Path prefix without a trailing `/` (usually empty).
    prefix: String,
    /// The URL for messages.
    url: String,
}

impl Endpoint {
    fn parse(url: &str) -> Result<Endpoint, ImdsError> {
        let bad = |reason| ImdsError::Endpoint {
            url: url.to_owned(),
            reason,
        };
        let url_trimmed = url.trim();
        let rest = match url_trimmed.get(..7) {
            Some(scheme) if scheme.eq_ignore_ascii_case("http://") => &url_trimmed[7..],
            _ if url_trimmed
                .get(..8)
                .is_some_and(|s| s.eq_ignore_ascii_case("https://")) =>
            {
                return Err(bad("https is not supported (IMDS is plain http)"))
            }
            _ => return Err(bad("must start with http://")),
        };
        if rest
            .chars()
            .any(|c| c.is_control() || c.is_whitespace() || matches!(c, '?' | '#'))
        {
            return Err(bad(
                "must not contain spaces, control characters, '?' or '#'",
            ));
        }
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        if authority.contains('@') {
            return Err(bad("user information is not supported"));
        }
        let parse_port = |p: &str| p.parse::<u16>().ok().filter(|&p| p != 0);
        let (host, port) = if let Some(inner) = authority.strip_prefix('[') {
            let Some((host, tail)) = inner.split_once(']') else {
                return Err(bad("unclosed '[' in the host"));
            };
            let port = match tail {
                "" => 80,
                _ => tail
                    .strip_prefix(':')
                    .and_then(parse_port)
                    .ok_or_else(|| bad("invalid port"))?,
            };
            (host, port)
        } else {
            match authority.rsplit_once(':') {
                Some((host, port)) => (host, parse_port(port).ok_or_else(|| bad("invalid port"))?),
                None => (authority, 80),
            }
        };
        if host.is_empty() {
            return Err(bad("no host"));
        }
        Ok(Endpoint {
            host: host.to_owned(),
            port,
            authority: authority.to_owned(),
            prefix: path.trim_end_matches('/').to_owned(),
            url: format!("http://{authority}{}", path.trim_end_matches('/')),
        })
    }
}

/// An IMDSv2 session token. Its `Debug` output hides the value.
struct Token {
    value: String,
    /// When to ask for a new one.
    refresh_at: Instant,
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Token")
            .field("value", &"<redacted>")
            .field("refresh_at", &self.refresh_at)
            .finish()
    }
}

/// One HTTP reply.
#[derive(Debug)]
struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A blocking IMDS client (IMDSv2 with IMDSv1 fallback).
#[derive(Debug)]
pub struct ImdsClient {
    endpoint: Endpoint,
    connect_timeout: Duration,
    read_timeout: Duration,
    token: Option<Token>,
    /// IMDSv1 is in use until then.
    v1_until: Option<Instant>,
}

impl ImdsClient {
    /// A client for the endpoint named by the environment (see [`ImdsConfig`]).
    pub fn from_env() -> Result<ImdsClient, ImdsError> {
        match ImdsConfig::from_env() {
            ImdsConfig::Disabled => Err(ImdsError::Disabled),
            ImdsConfig::Endpoint(url) => ImdsClient::new(&url),
        }
    }

    /// A client for `endpoint` (`http://host[:port]`), with the default timeouts.
    pub fn new(endpoint: &str) -> Result<ImdsClient, ImdsError> {
        Ok(ImdsClient {
            endpoint: Endpoint::parse(endpoint)?,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            read_timeout: DEFAULT_READ_TIMEOUT,
            token: None,
            v1_until: None,
        })
    }

    /// Replace the connect and read timeouts (each at least 1 ms).
    pub fn with_timeouts(mut self, connect: Duration, read: Duration) -> ImdsClient {
        self.connect_timeout = connect.max(Duration::from_millis(1));
        self.read_timeout = read.max(Duration::from_millis(1));
        self
    }

    /// The endpoint URL.
    pub fn endpoint(&self) -> &str {
        &self.endpoint.url
    }

    /// Fetch the identity document and the tags; a failure to get the tags is logged and
    /// leaves [`Ec2Metadata::tags`] `None` rather than failing the whole fetch.
    pub fn fetch(&mut self) -> Result<Ec2Metadata, ImdsError> {
        let fetched_at = SystemTime::now();
        let identity = self.identity_document()?;
        let tags = match self.instance_tags() {
            Ok(tags) => Some(tags),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the instance tags from IMDS");
                None
            }
        };
        Ok(Ec2Metadata {
            identity,
            tags,
            fetched_at,
        })
    }

    /// Fetch and parse the instance identity document.
    pub fn identity_document(&mut self) -> Result<IdentityDocument, ImdsError> {
        match self.get(IDENTITY_PATH)? {
            Some(body) => IdentityDocument::parse(&body),
            None => Err(ImdsError::Status {
                method: "GET",
                path: IDENTITY_PATH.to_owned(),
                status: 404,
            }),
        }
    }

    /// The instance tags in IMDS order; empty when IMDS does not expose tags (404).
    ///
    /// A key whose value has disappeared since the listing (404) is left out.
    pub fn instance_tags(&mut self) -> Result<Vec<(String, String)>, ImdsError> {
        let Some(list) = self.get(TAGS_PATH)? else {
            return Ok(Vec::new());
        };
        let list = String::from_utf8_lossy(&list).into_owned();
        let mut tags = Vec::new();
        for key in list
            .split('\n')
            .map(|k| k.trim_end_matches('\r'))
            .filter(|k| !k.is_empty())
            .take(MAX_TAGS)
        {
            let path = format!("{TAGS_PATH}{}", percent_encode(key));
            if let Some(value) = self.get(&path)? {
                tags.push((key.to_owned(), String::from_utf8_lossy(&value).into_owned()));
            }
        }
        Ok(tags)
    }

    /// GET a metadata path: `Some(body)` on 200, `None` on 404, an error otherwise.
    ///
    /// Uses a session token when IMDSv2 is available; a token the server rejects (401) is
    /// replaced once.
    pub fn get(&mut self, path: &str) -> Result<Option<Vec<u8>>, ImdsError> {
        let mut renewed = false;
        loop {
            let token = self.token()?;
            let headers: Vec<(&str, &str)> = match token.as_deref() {
                Some(t) => vec![(TOKEN_HEADER, t)],
                None => Vec::new(),
            };
            let reply = self.send_with_retry("GET", path, &headers)?;
            match reply.status {
                200 => return Ok(Some(reply.body)),
                404 => return Ok(None),
                401 if token.is_some() && !renewed => {
                    tracing::debug!(
                        path,
                        "IMDS rejected the session token; requesting a new one"
                    );
                    self.token = None;
                    renewed = true;
                }
                status => {
                    return Err(ImdsError::Status {
                        method: "GET",
                        path: path.to_owned(),
                        status,
                    })
                }
            }
        }
    }

    /// The current session token, a new one, or `None` to use IMDSv1.
    fn token(&mut self) -> Result<Option<String>, ImdsError> {
        if let Some(token) = &self.token {
            if Instant::now() < token.refresh_at {
                return Ok(Some(token.value.clone()));
            }
        }
        self.token = None;
        if self.v1_until.is_some_and(|until| Instant::now() < until) {
            return Ok(None);
        }
        let ttl = TOKEN_TTL_SECS.to_string();
        let reply = match self.send_with_retry("PUT", TOKEN_PATH, &[(TOKEN_TTL_HEADER, &ttl)]) {
            Ok(reply) => reply,
            Err(e) if e.is_transport() => {
                tracing::debug!(error = %e, "IMDSv2 token request failed; trying IMDSv1");
                self.v1_until = Some(Instant::now() + V1_FALLBACK_FOR);
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        match reply.status {
            200 => {}
            403..=405 => {
                tracing::debug!(
                    status = reply.status,
                    "IMDSv2 token request refused; using IMDSv1"
                );
                self.v1_until = Some(Instant::now() + V1_FALLBACK_FOR);
                return Ok(None);
            }
            status => {
                return Err(ImdsError::Status {
                    method: "PUT",
                    path: TOKEN_PATH.to_owned(),
                    status,
                })
            }
        }
        let value = std::str::from_utf8(&reply.body)
            .ok()
            .map(str::trim)
            .filter(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_graphic()))
            .ok_or_else(|| self.protocol("the session token is empty or not printable ASCII"))?
            .to_owned();
        let lifetime = reply
            .header(TOKEN_TTL_HEADER)
            .and_then(|v| v.trim().parse::<u64>().ok())
            .filter(|&s| s > 0)
            .map_or(TOKEN_TTL_SECS, |s| s.min(TOKEN_TTL_SECS));
        let lifetime = Duration::from_secs(lifetime);
        let margin = TOKEN_REFRESH_MARGIN.min(lifetime / 2);
        self.v1_until = None;
        self.token = Some(Token {
            value: value.clone(),
            refresh_at: Instant::now() + (lifetime - margin),
        });
        Ok(Some(value))
    }

    fn protocol(&self, reason: impl Into<String>) -> ImdsError {
        ImdsError::Protocol {
            endpoint: self.endpoint.url.clone(),
            reason: reason.into(),
        }
    }

    /// One request, retried once after a connection failure or a 5xx reply.
    fn send_with_retry(
        &self,
        method: &'static str,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Result<Response, ImdsError> {
        match self.send(method, path, headers) {
            Ok(reply) if reply.status < 500 => Ok(reply),
            Err(e) if !e.is_retryable() => Err(e),
            first => {
                tracing::debug!(
                    method,
                    path,
                    result = %match &first {
                        Ok(r) => format!("HTTP {}", r.status),
                        Err(e) => e.to_string(),
                    },
                    "retrying IMDS request"
                );
                std::thread::sleep(RETRY_PAUSE);
                self.send(method, path, headers)
            }
        }
    }

    /// One request on a new connection.
    fn send(
        &self,
        method: &'static str,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Result<Response, ImdsError> {
        let mut stream = self.connect()?;
        let io_err = |source: io::Error| -> ImdsError {
            if matches!(
                source.kind(),
                io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
            ) {
                ImdsError::Timeout {
                    endpoint: self.endpoint.url.clone(),
                    method,
                    path: path.to_owned(),
                }
            } else {
                ImdsError::Io {
                    endpoint: self.endpoint.url.clone(),
                    source,
                }
            }
        };
        let mut request = format!(
            "{method} {}{path} HTTP/1.1\r\nHost: {}\r\nUser-Agent: kinetail/{}\r\nAccept: */*\r\nConnection: close\r\n",
            self.endpoint.prefix,
            self.endpoint.authority,
            env!("CARGO_PKG_VERSION"),
        );
        for (name, value) in headers {
            request.push_str(name);
            request.push_str(": ");
            request.push_str(value);
            request.push_str("\r\n");
        }
        if method != "GET" {
            request.push_str("Content-Length: 0\r\n");
        }
        request.push_str("\r\n");
        stream
            .set_write_timeout(Some(self.read_timeout))
            .map_err(io_err)?;
        stream.write_all(request.as_bytes()).map_err(io_err)?;
        let mut conn = Conn {
            stream,
            buf: Vec::new(),
            pos: 0,
            deadline: Instant::now() + self.read_timeout.saturating_mul(3),
            read_timeout: self.read_timeout,
        };
        read_response(&mut conn).map_err(|e| match e {
            ReadError::Io(source) => io_err(source),
            ReadError::Protocol(reason) => self.protocol(reason),
        })
    }

    fn connect(&self) -> Result<TcpStream, ImdsError> {
        let connect_err = |source| ImdsError::Connect {
            endpoint: self.endpoint.url.clone(),
            source,
        };
        let addrs = (self.endpoint.host.as_str(), self.endpoint.port)
            .to_socket_addrs()
            .map_err(connect_err)?;
        let mut last = None;
        for addr in addrs {
            match TcpStream::connect_timeout(&addr, self.connect_timeout) {
                Ok(stream) => {
                    // Requests are written in one piece; waiting for more would only add latency.
                    let _ = stream.set_nodelay(true);
                    return Ok(stream);
                }
                Err(e) => last = Some(e),
            }
        }
        Err(connect_err(last.unwrap_or_else(|| {
            io::Error::new(io::ErrorKind::NotFound, "the host has no address")
        })))
    }
}

/// Percent-encode everything but RFC 3986 unreserved characters (tag keys may hold spaces).
fn percent_encode(s: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0F)]));
        }
    }
    out
}

enum ReadError {
    Io(io::Error),
    Protocol(String),
}

impl From<io::Error> for ReadError {
    fn from(e: io::Error) -> Self {
        ReadError::Io(e)
    }
}

fn protocol<T>(reason: impl Into<String>) -> Result<T, ReadError> {
    Err(ReadError::Protocol(reason.into()))
}

/// A buffered reader over one connection with a deadline for the whole reply.
struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    pos: usize,
    deadline: Instant,
    read_timeout: Duration,
}

impl Conn {
    /// Read more bytes; `false` at end of stream.
    fn fill(&mut self) -> Result<bool, ReadError> {
        if self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        }
        loop {
            let left = self.deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(io::Error::from(io::ErrorKind::TimedOut).into());
            }
            // A zero read timeout would be refused, hence the floor.
            let wait = left.min(self.read_timeout).max(Duration::from_millis(1));
            self.stream.set_read_timeout(Some(wait))?;
            let mut chunk = [0u8; 4096];
            match self.stream.read(&mut chunk) {
                Ok(0) => return Ok(false),
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    return Ok(true);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// One line without its `\r\n` / `\n`, charged against `budget`.
    fn line(&mut self, budget: &mut usize) -> Result<String, ReadError> {
        let mut scanned = self.pos;
        loop {
            if let Some(i) = memchr::memchr(b'\n', &self.buf[scanned..]) {
                let end = scanned + i;
                let used = end + 1 - self.pos;
                if used > *budget {
                    return protocol("header section too large");
                }
                *budget -= used;
                let mut line = &self.buf[self.pos..end];
                if let Some(stripped) = line.strip_suffix(b"\r") {
                    line = stripped;
                }
                let line = String::from_utf8_lossy(line).into_owned();
                self.pos = end + 1;
                return Ok(line);
            }
            scanned = self.buf.len();
            if scanned - self.pos > *budget {
                return protocol("header section too large");
            }
            if !self.fill()? {
                return protocol("connection closed in the middle of a line");
            }
        }
    }

    /// Exactly `n` bytes appended to `out`.
    fn take(&mut self, n: usize, out: &mut Vec<u8>) -> Result<(), ReadError> {
        let mut left = n;
        while left > 0 {
            if self.pos == self.buf.len() && !self.fill()? {
                return protocol("connection closed before the end of the body");
            }
            let k = left.min(self.buf.len() - self.pos);
            out.extend_from_slice(&self.buf[self.pos..self.pos + k]);
            self.pos += k;
            left -= k;
        }
        Ok(())
    }

    /// Everything up to the end of the stream, at most `max` bytes.
    fn rest(&mut self, max: usize, out: &mut Vec<u8>) -> Result<(), ReadError> {
        loop {
            out.extend_from_slice(&self.buf[self.pos..]);
            self.pos = self.buf.len();
            if out.len() > max {
                return protocol("body too large");
            }
            if !self.fill()? {
                return Ok(());
            }
        }
    }
}

fn read_response(conn: &mut Conn) -> Result<Response, ReadError> {
    let mut budget = MAX_HEAD;
    for _ in 0..=MAX_INTERIM {
        let status_line = conn.line(&mut budget)?;
        let mut parts = status_line.split_ascii_whitespace();
        let version = parts.next().unwrap_or_default();
        if !version.starts_with("HTTP/1.") {
            return protocol(format!(
                "not an HTTP/1.x status line: {:?}",
                truncate(&status_line, 64)
            ));
        }
        let status = match parts.next().map(|s| (s.len(), s.parse::<u16>())) {
            Some((3, Ok(s))) if (100..=999).contains(&s) => s,
            _ => return protocol(format!("bad status line: {:?}", truncate(&status_line, 64))),
        };
        let mut headers = Vec::new();
        loop {
            let line = conn.line(&mut budget)?;
            if line.is_empty() {
                break;
            }
            let Some((name, value)) = line.split_once(':') else {
                return protocol("header line without ':'");
            };
            headers.push((name.trim().to_owned(), value.trim().to_owned()));
        }
        if (100..200).contains(&status) {
            continue;
        }
        let mut response = Response {
            status,
            headers,
            body: Vec::new(),
        };
        read_body(conn, &mut response)?;
        return Ok(response);
    }
    protocol("too many interim (1xx) replies")
}

fn read_body(conn: &mut Conn, response: &mut Response) -> Result<(), ReadError> {
    if matches!(response.status, 204 | 304) {
        return Ok(());
    }
    let chunked = response
        .header("Transfer-Encoding")
        .and_then(|te| te.rsplit(',').next())
        .is_some_and(|last| last.trim().eq_ignore_ascii_case("chunked"));
    let mut body = Vec::new();
    if chunked {
        let mut budget = MAX_HEAD;
        loop {
            let line = conn.line(&mut budget)?;
            let size = line.split(';').next().unwrap_or_default().trim();
            let Ok(size) = usize::from_str_radix(size, 16) else {
                return protocol("bad chunk size");
            };
            if size == 0 {
                // Trailers, ended by an empty line; a server that just closes is tolerated.
                loop {
                    match conn.line(&mut budget) {
                        Ok(line) if line.is_empty() => break,
                        Ok(_) => {}
                        Err(ReadError::Protocol(_)) if conn.pos == conn.buf.len() => break,
                        Err(e) => return Err(e),
                    }
                }
                break;
            }
            if size > MAX_BODY.saturating_sub(body.len()) {
                return protocol("body too large");
            }
            conn.take(size, &mut body)?;
            if !conn.line(&mut budget)?.is_empty() {
                return protocol("chunk not followed by CRLF");
            }
        }
    } else if let Some(length) = response.header("Content-Length") {
        let Ok(length) = length.parse::<usize>() else {
            return protocol("bad Content-Length");
        };
        let conflicting = response
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("Content-Length"))
            .any(|(_, v)| v.parse::<usize>().ok() != Some(length));
        if conflicting {
            return protocol("conflicting Content-Length headers");
        }
        if length > MAX_BODY {
            return protocol("body too large");
        }
        conn.take(length, &mut body)?;
    } else {
        conn.rest(MAX_BODY, &mut body)?;
    }
    response.body = body;
    Ok(())
}

fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// An in-process HTTP server for the IMDS tests (this module's and ADDEC2METADATA's).
#[cfg(test)]
pub(crate) mod test_server {
    use std::collections::HashSet;
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    /// One request as received.
    #[derive(Debug, Clone)]
    pub struct Request {
        pub method: String,
        pub path: String,
        pub headers: Vec<(String, String)>,
    }

    impl Request {
        pub fn header(&self, name: &str) -> Option<&str> {
            self.headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        }
    }

    /// What to send back.
    pub enum Reply {
        /// Status, extra headers, body (sent with Content-Length).
        Normal(u16, Vec<(String, String)>, Vec<u8>),
        /// Status and body sent chunked, one chunk per element.
        Chunked(u16, Vec<Vec<u8>>),
        /// These exact bytes, then close.
        Raw(Vec<u8>),
        /// Close without answering.
        Close,
        /// Keep the connection open without answering until the server stops.
        Hang,
    }

    /// A reply with a body.
    pub fn ok(body: &str) -> Reply {
        Reply::Normal(200, Vec::new(), body.as_bytes().to_vec())
    }

    /// An empty reply with `status`.
    pub fn status(status: u16) -> Reply {
        Reply::Normal(status, Vec::new(), Vec::new())
    }

    type Handler = dyn Fn(&Request) -> Reply + Send + Sync;

    /// A server on 127.0.0.1 answering with `handler`; stopped when dropped.
    pub struct Server {
        pub port: u16,
        pub requests: Arc<Mutex<Vec<Request>>>,
        stop: Arc<AtomicBool>,
    }

    impl Server {
        pub fn start(handler: impl Fn(&Request) -> Reply + Send + Sync + 'static) -> Server {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let port = listener.local_addr().unwrap().port();
            let requests = Arc::new(Mutex::new(Vec::new()));
            let stop = Arc::new(AtomicBool::new(false));
            let handler: Arc<Handler> = Arc::new(handler);
            let (reqs, stopping) = (requests.clone(), stop.clone());
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stopping.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let (handler, reqs, stopping) =
                        (handler.clone(), reqs.clone(), stopping.clone());
                    std::thread::spawn(move || serve(stream, &*handler, &reqs, &stopping));
                }
            });
            Server {
                port,
                requests,
                stop,
            }
        }

        pub fn url(&self) -> String {
            format!("http://127.0.0.1:{}", self.port)
        }

        pub fn requests(&self) -> Vec<Request> {
            self.requests.lock().unwrap().clone()
        }

        /// `METHOD path` of every request, in order.
        pub fn log(&self) -> Vec<String> {
            self.requests()
                .iter()
                .map(|r| format!("{} {}", r.method, r.path))
                .collect()
        }
    }

    impl Drop for Server {
        fn drop(&mut self) {
            self.stop.store(true, Ordering::SeqCst);
            // Wake the accept loop so that it sees the flag.
            let _ = TcpStream::connect(("127.0.0.1", self.port));
        }
    }

    fn serve(
        stream: TcpStream,
        handler: &Handler,
        requests: &Mutex<Vec<Request>>,
        stop: &AtomicBool,
    ) {
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or_default().to_owned();
        let path = parts.next().unwrap_or_default().to_owned();
        let mut headers = Vec::new();
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                break;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((n, v)) = h.split_once(':') {
                headers.push((n.trim().to_owned(), v.trim().to_owned()));
            }
        }
        let request = Request {
            method,
            path,
            headers,
        };
        requests.lock().unwrap().push(request.clone());
        let mut stream = stream;
        match handler(&request) {
            Reply::Normal(status, extra, body) => {
                let mut head = format!("HTTP/1.1 {status} X\r\nContent-Length: {}\r\n", body.len());
                for (n, v) in extra {
                    head.push_str(&format!("{n}: {v}\r\n"));
                }
                head.push_str("Connection: close\r\n\r\n");
                let _ = stream.write_all(head.as_bytes());
                let _ = stream.write_all(&body);
            }
            Reply::Chunked(status, chunks) => {
                let mut out = format!("HTTP/1.1 {status} X\r\nTransfer-Encoding: chunked\r\n\r\n")
                    .into_bytes();
                for c in chunks {
                    out.extend_from_slice(format!("{:x};ext=1\r\n", c.len()).as_bytes());
                    out.extend_from_slice(&c);
                    out.extend_from_slice(b"\r\n");
                }
                out.extend_from_slice(b"0\r\nX-Trailer: t\r\n\r\n");
                let _ = stream.write_all(&out);
            }
            Reply::Raw(bytes) => {
                let _ = stream.write_all(&bytes);
            }
            Reply::Close => {}
            Reply::Hang => {
                let mut sink = [0u8; 64];
                let _ = stream.set_read_timeout(Some(Duration::from_millis(20)));
                while !stop.load(Ordering::SeqCst) {
                    if let Ok(0) = stream.read(&mut sink) {
                        break;
                    }
                }
            }
        }
        let _ = stream.flush();
    }

    /// A fake IMDS: `v2` requires tokens (401 without), `v1` refuses PUT with `put_status`.
    pub struct Imds {
        pub v2: bool,
        pub put_status: u16,
        /// Tags as `(key, value)`; `None` = the tags path answers 404.
        pub tags: Option<Vec<(&'static str, &'static str)>>,
        /// Tokens issued so far; clearing it revokes them.
        pub tokens: Arc<Mutex<HashSet<String>>>,
    }

    pub const DOCUMENT: &str = r#"{
  "accountId" : "123456789012",
  "architecture" : "x86_64",
  "availabilityZone" : "us-east-1a",
  "billingProducts" : null,
  "devpayProductCodes" : null,
  "marketplaceProductCodes" : null,
  "imageId" : "ami-0abcdef1234567890",
  "instanceId" : "i-0123456789abcdef0",
  "instanceType" : "m5.large",
  "kernelId" : null,
  "pendingTime" : "2024-05-01T09:00:00Z",
  "privateIp" : "10.0.0.5",
  "ramdiskId" : null,
  "region" : "us-east-1",
  "version" : "2017-09-30"
}"#;

    impl Imds {
        pub fn v2() -> Imds {
            Imds {
                v2: true,
                put_status: 200,
                tags: Some(vec![("Name", "web-1"), ("Env", "Test")]),
                tokens: Arc::new(Mutex::new(HashSet::new())),
            }
        }

        pub fn v1(put_status: u16) -> Imds {
            Imds {
                v2: false,
                put_status,
                ..Imds::v2()
            }
        }

        pub fn handle(&self, r: &Request) -> Reply {
            if r.method == "PUT" && r.path == super::TOKEN_PATH {
                if !self.v2 {
                    return status(self.put_status);
                }
                if r.header("X-aws-ec2-metadata-token-ttl-seconds").is_none() {
                    return status(400);
                }
                let mut tokens = self.tokens.lock().unwrap();
                let token = format!("TOKEN-{}", tokens.len() + 1);
                tokens.insert(token.clone());
                return Reply::Normal(
                    200,
                    vec![(
                        "X-aws-ec2-metadata-token-ttl-seconds".into(),
                        "21600".into(),
                    )],
                    token.into_bytes(),
                );
            }
            if r.method != "GET" {
                return status(405);
            }
            if self.v2 {
                let valid = r
                    .header("X-aws-ec2-metadata-token")
                    .is_some_and(|t| self.tokens.lock().unwrap().contains(t));
                if !valid {
                    return status(401);
                }
            }
            if r.path == super::IDENTITY_PATH {
                return ok(DOCUMENT);
            }
            if let Some(key) = r.path.strip_prefix(super::TAGS_PATH) {
                let Some(tags) = &self.tags else {
                    return status(404);
                };
                if key.is_empty() {
                    let keys: Vec<&str> = tags.iter().map(|(k, _)| *k).collect();
                    return ok(&keys.join("\n"));
                }
                let key = key.replace("%20", " ");
                return match tags.iter().find(|(k, _)| *k == key) {
                    Some((_, v)) => ok(v),
                    None => status(404),
                };
            }
            status(404)
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::test_server::{ok, status, Imds, Reply, Server};
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    /// Generous timeouts: a loaded CI machine must not turn a reply into a timeout.
    fn client(server: &Server) -> ImdsClient {
        ImdsClient::new(&server.url())
            .unwrap()
            .with_timeouts(Duration::from_secs(2), Duration::from_secs(2))
    }

    /// For servers that never answer, so that the test is quick.
    fn impatient_client(server: &Server) -> ImdsClient {
        ImdsClient::new(&server.url())
            .unwrap()
            .with_timeouts(Duration::from_secs(2), Duration::from_millis(400))
    }

    /// The identity document every test server here serves (shared with the converter's tests).
    pub(crate) fn expected_identity() -> IdentityDocument {
        IdentityDocument {
            private_ip: Some("10.0.0.5".into()),
            availability_zone: Some("us-east-1a".into()),
            instance_id: Some("i-0123456789abcdef0".into()),
            instance_type: Some("m5.large".into()),
            account_id: Some("123456789012".into()),
            image_id: Some("ami-0abcdef1234567890".into()),
            region: Some("us-east-1".into()),
        }
    }

    fn tags(pairs: &[(&str, &str)]) -> Option<Vec<(String, String)>> {
        Some(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn endpoints_parse() {
        let e = Endpoint::parse("http://169.254.169.254").unwrap();
        assert_eq!(
            (
                e.host.as_str(),
                e.port,
                e.authority.as_str(),
                e.prefix.as_str()
            ),
            ("169.254.169.254", 80, "169.254.169.254", "")
        );
        let e = Endpoint::parse(" HTTP://127.0.0.1:8080/ ").unwrap();
        assert_eq!((e.host.as_str(), e.port), ("127.0.0.1", 8080));
        assert_eq!(e.url, "http://127.0.0.1:8080");
        let e = Endpoint::parse("http://[fd00:ec2::254]").unwrap();
        assert_eq!((e.host.as_str(), e.port), ("fd00:ec2::254", 80));
        assert_eq!(e.authority, "[fd00:ec2::254]");
        let e = Endpoint::parse("http://[::1]:1234/imds/").unwrap();
        assert_eq!(
            (e.host.as_str(), e.port, e.prefix.as_str()),
            ("::1", 1234, "/imds")
        );
        for bad in [
            "",
            "169.254.169.254",
            "https://169.254.169.254",
            "ftp://x",
            "http://",
            "http://:80",
            "http://h:0",
            "http://h:99999",
            "http://h:x",
            "http://[::1",
            "http://[::1]x",
            "http://u@h",
            "http://h/a b",
            "http://h/?q",
            "http://h\r\nX: y",
            "http:/é",
        ] {
            assert!(Endpoint::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn config_from_environment_variables() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            ImdsConfig::from_lookup(move |name| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| v.to_string())
            })
        };
        assert_eq!(env(&[]), ImdsConfig::Endpoint(DEFAULT_ENDPOINT.into()));
        assert_eq!(
            env(&[(ENDPOINT_ENV, "http://127.0.0.1:9")]),
            ImdsConfig::Endpoint("http://127.0.0.1:9".into())
        );
        assert_eq!(
            env(&[(ENDPOINT_ENV, " "), (ENDPOINT_MODE_ENV, "IPv6")]),
            ImdsConfig::Endpoint(DEFAULT_ENDPOINT_IPV6.into())
        );
        assert_eq!(
            env(&[(DISABLED_ENV, "TRUE"), (ENDPOINT_ENV, "http://x")]),
            ImdsConfig::Disabled
        );
        assert_eq!(
            env(&[(DISABLED_ENV, "false")]),
            ImdsConfig::Endpoint(DEFAULT_ENDPOINT.into())
        );
    }

    #[test]
    fn imdsv2_token_flow() {
        let imds = Imds::v2();
        let server = Server::start(move |r| imds.handle(r));
        let mut c = client(&server);
        let m = c.fetch().unwrap();
        assert_eq!(m.identity, expected_identity());
        assert_eq!(m.tags, tags(&[("Name", "web-1"), ("Env", "Test")]));
        let requests = server.requests();
        assert_eq!(
            server.log(),
            [
                "PUT /latest/api/token",
                "GET /latest/dynamic/instance-identity/document",
                "GET /latest/meta-data/tags/instance/",
                "GET /latest/meta-data/tags/instance/Name",
                "GET /latest/meta-data/tags/instance/Env",
            ]
        );
        assert_eq!(
            requests[0].header("X-aws-ec2-metadata-token-ttl-seconds"),
            Some("21600")
        );
        assert_eq!(requests[0].header("Content-Length"), Some("0"));
        for r in &requests[1..] {
            assert_eq!(r.header("X-aws-ec2-metadata-token"), Some("TOKEN-1"));
            assert_eq!(
                r.header("Host"),
                Some(&*format!("127.0.0.1:{}", server.port))
            );
        }
    }

    #[test]
    fn token_is_reused_across_fetches() {
        let imds = Imds::v2();
        let server = Server::start(move |r| imds.handle(r));
        let mut c = client(&server);
        for _ in 0..3 {
            c.fetch().unwrap();
        }
        let puts = server.log().iter().filter(|l| l.starts_with("PUT")).count();
        assert_eq!(puts, 1);
        assert!(server
            .requests()
            .iter()
            .skip(1)
            .all(|r| r.header("X-aws-ec2-metadata-token") == Some("TOKEN-1")));
    }

    #[test]
    fn rejected_token_is_replaced_once() {
        let imds = Imds::v2();
        let tokens = imds.tokens.clone();
        let server = Server::start(move |r| imds.handle(r));
        let mut c = client(&server);
        c.identity_document().unwrap();
        tokens.lock().unwrap().clear();
        c.identity_document().unwrap();
        assert_eq!(
            server.log(),
            [
                "PUT /latest/api/token",
                "GET /latest/dynamic/instance-identity/document",
                "GET /latest/dynamic/instance-identity/document",
                "PUT /latest/api/token",
                "GET /latest/dynamic/instance-identity/document",
            ]
        );
        assert_eq!(
            server.requests()[4].header("X-aws-ec2-metadata-token"),
            Some("TOKEN-1"),
            "the fake numbers tokens by the set size, which was cleared"
        );
        // A server that rejects every token: one renewal, then the 401 is reported.
        let server = Server::start(|r| {
            if r.method == "PUT" {
                ok("T")
            } else {
                status(401)
            }
        });
        let err = client(&server).identity_document().unwrap_err();
        assert!(
            matches!(err, ImdsError::Status { status: 401, .. }),
            "{err}"
        );
        assert_eq!(server.requests().len(), 4);
    }

    #[test]
    fn unusable_token_lifetime_means_the_requested_one() {
        let server = Server::start(|r| {
            if r.method == "PUT" {
                Reply::Normal(
                    200,
                    vec![("X-aws-ec2-metadata-token-ttl-seconds".into(), "0".into())],
                    b"T1\n".to_vec(),
                )
            } else {
                ok("x")
            }
        });
        let mut c = client(&server);
        c.get("/a").unwrap();
        // "0" is not a usable lifetime, so the requested 21600 s applies and the token is reused.
        c.get("/b").unwrap();
        assert_eq!(server.log(), ["PUT /latest/api/token", "GET /a", "GET /b"]);
        assert_eq!(
            server.requests()[2].header("X-aws-ec2-metadata-token"),
            Some("T1")
        );
    }

    #[test]
    fn imdsv1_fallback_when_put_is_refused() {
        for put_status in [403, 404, 405] {
            let imds = Imds::v1(put_status);
            let server = Server::start(move |r| imds.handle(r));
            let mut c = client(&server);
            let m = c.fetch().unwrap();
            assert_eq!(m.identity, expected_identity(), "{put_status}");
            assert_eq!(m.tags, tags(&[("Name", "web-1"), ("Env", "Test")]));
            let requests = server.requests();
            assert_eq!(requests[0].method, "PUT");
            assert_eq!(
                requests.len(),
                5,
                "one token request per fetch, not per GET"
            );
            assert!(requests[1..]
                .iter()
                .all(|r| r.method == "GET" && r.header("X-aws-ec2-metadata-token").is_none()));
        }
    }

    #[test]
    fn imdsv1_fallback_when_put_fails_at_connection_level() {
        for reply in [
            || Reply::Close,
            || Reply::Hang,
            || Reply::Raw(b"garbage\r\n\r\n".to_vec()),
        ] {
            let server = Server::start(move |r| {
                if r.method == "PUT" {
                    reply()
                } else {
                    ok(test_server::DOCUMENT)
                }
            });
            let mut c = impatient_client(&server);
            assert_eq!(c.identity_document().unwrap(), expected_identity());
            assert_eq!(
                server.log(),
                [
                    "PUT /latest/api/token",
                    "PUT /latest/api/token",
                    "GET /latest/dynamic/instance-identity/document"
                ],
                "one retry of the PUT, then IMDSv1"
            );
            c.identity_document().unwrap();
            assert_eq!(server.log().len(), 4, "IMDSv1 is remembered for a while");
        }
    }

    #[test]
    fn other_token_errors_are_reported() {
        let server = Server::start(|_| status(400));
        let err = client(&server).fetch().unwrap_err();
        assert!(
            matches!(
                err,
                ImdsError::Status {
                    method: "PUT",
                    status: 400,
                    ..
                }
            ),
            "{err}"
        );
        assert_eq!(server.requests().len(), 1);
        let server = Server::start(|_| status(503));
        let err = client(&server).fetch().unwrap_err();
        assert_eq!(
            err.to_string(),
            "IMDS answered HTTP 503 to PUT /latest/api/token"
        );
        assert_eq!(server.requests().len(), 2, "5xx is retried once");
    }

    #[test]
    fn get_retries_once_then_succeeds() {
        let calls = Arc::new(AtomicUsize::new(0));
        let n = calls.clone();
        let server = Server::start(move |r| {
            if r.method == "PUT" {
                return status(404);
            }
            match n.fetch_add(1, Ordering::SeqCst) {
                0 => status(500),
                _ => ok(test_server::DOCUMENT),
            }
        });
        assert_eq!(
            client(&server).identity_document().unwrap(),
            expected_identity()
        );
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn missing_tags_are_empty_and_vanished_values_skipped() {
        let mut imds = Imds::v2();
        imds.tags = None;
        let server = Server::start(move |r| imds.handle(r));
        assert_eq!(client(&server).fetch().unwrap().tags, Some(Vec::new()));

        let mut imds = Imds::v2();
        imds.tags = Some(vec![("a b", "1"), ("gone", "x")]);
        let server = Server::start(move |r| {
            if r.path.ends_with("/gone") {
                status(404)
            } else if r.path.ends_with('/') {
                ok("a b\r\n\ngone\n")
            } else {
                imds.handle(r)
            }
        });
        let m = client(&server).fetch().unwrap();
        assert_eq!(m.tags, tags(&[("a b", "1")]));
        assert!(server
            .log()
            .contains(&"GET /latest/meta-data/tags/instance/a%20b".to_string()));
    }

    #[test]
    fn tag_errors_leave_tags_unknown() {
        let imds = Imds::v2();
        let server = Server::start(move |r| {
            if r.path.ends_with("/Env") {
                status(500)
            } else {
                imds.handle(r)
            }
        });
        let m = client(&server).fetch().unwrap();
        assert_eq!(m.identity, expected_identity());
        assert_eq!(m.tags, None);
    }

    #[test]
    fn percent_encoding() {
        assert_eq!(percent_encode("aZ09-._~"), "aZ09-._~");
        assert_eq!(percent_encode("a b/c:é"), "a%20b%2Fc%3A%C3%A9");
    }

    #[test]
    fn body_framings() {
        let server = Server::start(|r| match r.path.as_str() {
            "/chunked" => Reply::Chunked(200, vec![b"hel".to_vec(), b"lo".to_vec()]),
            "/eof" => Reply::Raw(b"HTTP/1.0 200 OK\r\n\r\nhello".to_vec()),
            "/interim" => Reply::Raw(
                b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\nContent-Length: 5\n\nhello"
                    .to_vec(),
            ),
            "/empty" => status(200),
            "/404" => status(404),
            _ => ok("hello"),
        });
        let mut c = client(&server);
        for path in ["/chunked", "/eof", "/interim", "/length"] {
            assert_eq!(
                c.get(path).unwrap().as_deref(),
                Some(&b"hello"[..]),
                "{path}"
            );
        }
        assert_eq!(c.get("/empty").unwrap(), Some(Vec::new()));
        assert_eq!(c.get("/404").unwrap(), None);
    }

    #[test]
    fn malformed_replies_are_errors_not_panics() {
        let big_header = format!("HTTP/1.1 200 OK\r\nX: {}\r\n\r\n", "a".repeat(MAX_HEAD));
        let big_body = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n",
            MAX_BODY + 1
        );
        let replies: Vec<Vec<u8>> = vec![
            b"".to_vec(),
            b"HTTP/1.1".to_vec(),
            b"HTTP/1.1 2000 OK\r\n\r\n".to_vec(),
            b"HTTP/1.1 abc OK\r\n\r\n".to_vec(),
            b"HTTP/2 200 OK\r\n\r\n".to_vec(),
            b"\xff\xfe\r\n\r\n".to_vec(),
            b"HTTP/1.1 200 OK\r\nno colon\r\n\r\n".to_vec(),
            b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort".to_vec(),
            b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n".to_vec(),
            b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab".to_vec(),
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n".to_vec(),
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab".to_vec(),
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabcd\r\n0\r\n\r\n".to_vec(),
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\n".to_vec(),
            b"HTTP/1.1 100 Continue\r\n\r\n".repeat(MAX_INTERIM + 2),
            big_header.into_bytes(),
            big_body.into_bytes(),
        ];
        for raw in replies {
            let reply = raw.clone();
            let server = Server::start(move |_| Reply::Raw(reply.clone()));
            let err = client(&server).get("/x");
            assert!(
                matches!(err, Err(ImdsError::Protocol { .. })),
                "{:?}: {err:?}",
                String::from_utf8_lossy(&raw)
            );
        }
    }

    #[test]
    fn unanswered_requests_time_out() {
        let server = Server::start(|_| Reply::Hang);
        let mut c = impatient_client(&server);
        let err = c.fetch().unwrap_err();
        assert!(matches!(err, ImdsError::Timeout { .. }), "{err}");
        assert!(err.to_string().contains("timeout"), "{err}");
        // PUT + retry, then the IMDSv1 GET + retry.
        assert_eq!(server.requests().len(), 4);
    }

    #[test]
    fn closed_port_is_a_connection_error() {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let mut c = ImdsClient::new(&format!("http://127.0.0.1:{port}")).unwrap();
        let err = c.fetch().unwrap_err();
        assert!(matches!(err, ImdsError::Connect { .. }), "{err}");
        assert!(err.is_transport());
    }

    #[test]
    fn identity_document_parsing() {
        let d = IdentityDocument::parse(br#"{"instanceId":"i-1","region":7,"privateIp":null}"#)
            .unwrap();
        assert_eq!(
            d,
            IdentityDocument {
                instance_id: Some("i-1".into()),
                ..IdentityDocument::default()
            }
        );
        for bad in [&b"[]"[..], b"", b"{", b"\"x\""] {
            assert!(matches!(
                IdentityDocument::parse(bad),
                Err(ImdsError::Document(_))
            ));
        }
    }

    #[test]
    fn token_never_shows_in_debug_or_errors() {
        let server = Server::start(|r| {
            if r.method == "PUT" {
                ok("SECRET-TOKEN")
            } else {
                status(500)
            }
        });
        let mut c = client(&server);
        let err = c.fetch().unwrap_err();
        assert!(!format!("{err} {err:?} {c:?}").contains("SECRET"), "{c:?}");
        assert!(format!("{c:?}").contains("<redacted>"));
    }

    #[test]
    fn unprintable_tokens_are_refused() {
        let server = Server::start(|r| {
            if r.method == "PUT" {
                ok("a\u{1}b")
            } else {
                ok("x")
            }
        });
        let err = client(&server).get("/x").unwrap_err();
        assert!(matches!(err, ImdsError::Protocol { .. }), "{err}");
    }
}
