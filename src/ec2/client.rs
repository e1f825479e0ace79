//! [`ImdsClient`]: aws-config's IMDSv2 client with a fallback to IMDSv1.

use std::error::Error as _;
use std::fmt;
use std::time::{Duration, Instant, SystemTime};

use aws_config::imds::client::error::{ImdsError, TokenError};
use aws_config::imds::client::EndpointMode;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;

use super::imdsv1::Imdsv1;
use super::{Ec2Error, Ec2Metadata, IdentityDocument};

/// The IMDS address on every EC2 instance.
pub const DEFAULT_ENDPOINT: &str = "http://169.254.169.254";
/// The IMDS address in `IPv6` endpoint mode (Nitro instances).
pub const DEFAULT_ENDPOINT_IPV6: &str = "http://[fd00:ec2::254]";
/// Environment variable overriding the endpoint, as in the AWS SDKs.
pub const ENDPOINT_ENV: &str = "AWS_EC2_METADATA_SERVICE_ENDPOINT";
/// Environment variable choosing `IPv4` (default) or `IPv6` endpoint mode, as in the AWS SDKs.
pub const ENDPOINT_MODE_ENV: &str = "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE";
/// Environment variable that disables IMDS when `true`, as in the AWS SDKs' IMDS providers.
pub const DISABLED_ENV: &str = "AWS_EC2_METADATA_DISABLED";

/// Path of the instance identity document.
pub const IDENTITY_PATH: &str = "/latest/dynamic/instance-identity/document";
/// Path listing the instance's tag keys (one per line).
pub const TAGS_PATH: &str = "/latest/meta-data/tags/instance/";

/// Tag keys fetched at most, which bounds one refresh against a misbehaving server
/// (EC2 allows 50 tags per resource).
const MAX_TAGS: usize = 1000;
/// After IMDSv2 failed, IMDSv1 is used this long before a token is tried again, so that a
/// proxy blocking PUT costs one failed token request per refresh rather than one per GET.
const V1_FALLBACK_FOR: Duration = Duration::from_secs(300);

/// Connect and read timeouts of each IMDS request (the SDK's defaults: 1 s each).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Time allowed to open the connection.
    pub connect: Duration,
    /// Time allowed between bytes of the reply.
    pub read: Duration,
}

impl Default for Timeouts {
    fn default() -> Timeouts {
        Timeouts {
            connect: Duration::from_secs(1),
            read: Duration::from_secs(1),
        }
    }
}

/// The endpoint named by the AWS SDK variables, read through `lookup` (normally
/// `std::env::var`); [`Ec2Error::Disabled`] when `AWS_EC2_METADATA_DISABLED` is `true`.
///
/// Resolved here rather than by the SDK client so that its IMDSv2 requests and the IMDSv1
/// fallback always go to the same place.
pub fn endpoint_from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<String, Ec2Error> {
    let set = |name: &str| {
        lookup(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    if set(DISABLED_ENV).is_some_and(|v| v.eq_ignore_ascii_case("true")) {
        return Err(Ec2Error::Disabled);
    }
    if let Some(url) = set(ENDPOINT_ENV) {
        return Ok(url);
    }
    let Some(mode) = set(ENDPOINT_MODE_ENV) else {
        return Ok(DEFAULT_ENDPOINT.to_owned());
    };
    match mode.parse::<EndpointMode>() {
        Ok(EndpointMode::IpV6) => Ok(DEFAULT_ENDPOINT_IPV6.to_owned()),
        Ok(_) => Ok(DEFAULT_ENDPOINT.to_owned()),
        Err(e) => Err(Ec2Error::Endpoint {
            value: mode,
            reason: e.to_string(),
        }),
    }
}

/// An IMDS client: IMDSv2 through aws-config, IMDSv1 when the session token cannot be had.
pub struct ImdsClient {
    endpoint: String,
    v2: aws_config::imds::Client,
    v1: Imdsv1,
    /// IMDSv1 is used until then.
    v1_until: Option<Instant>,
}

// By hand: the SDK client's `Debug` is long (it redacts its cached token itself).
impl fmt::Debug for ImdsClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ImdsClient")
            .field("endpoint", &self.endpoint)
            .field("v1_until", &self.v1_until)
            .finish_non_exhaustive()
    }
}

impl ImdsClient {
    /// A client for the endpoint named by the environment (see [`endpoint_from_lookup`]).
    pub fn from_env() -> Result<ImdsClient, Ec2Error> {
        ImdsClient::new(&endpoint_from_lookup(|name| std::env::var(name).ok())?)
    }

    /// A client for `endpoint` (`http://host[:port]`), with the default timeouts.
    pub fn new(endpoint: &str) -> Result<ImdsClient, Ec2Error> {
        ImdsClient::with_timeouts(endpoint, Timeouts::default())
    }

    /// A client for `endpoint` with the given timeouts.
    pub fn with_timeouts(endpoint: &str, timeouts: Timeouts) -> Result<ImdsClient, Ec2Error> {
        let v2 = aws_config::imds::Client::builder()
            .endpoint(endpoint)
            .map_err(|e| Ec2Error::Endpoint {
                value: endpoint.to_owned(),
                reason: e.to_string(),
            })?
            .connect_timeout(timeouts.connect)
            .read_timeout(timeouts.read)
            .build();
        Ok(ImdsClient {
            endpoint: endpoint.to_owned(),
            v2,
            v1: Imdsv1::new(endpoint, timeouts),
            v1_until: None,
        })
    }

    /// The endpoint URL.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Fetch the identity document and the tags; a failure to get the tags is logged and
    /// leaves [`Ec2Metadata::tags`] `None` rather than failing the whole fetch.
    pub async fn fetch(&mut self) -> Result<Ec2Metadata, Ec2Error> {
        let fetched_at = SystemTime::now();
        let identity = self.identity_document().await?;
        let tags = match self.instance_tags().await {
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
    pub async fn identity_document(&mut self) -> Result<IdentityDocument, Ec2Error> {
        match self.get(IDENTITY_PATH).await? {
            Some(body) => IdentityDocument::parse(&body),
            None => Err(Ec2Error::Status {
                path: IDENTITY_PATH.to_owned(),
                status: 404,
            }),
        }
    }

    /// The instance tags in IMDS order; empty when IMDS does not expose tags (404).
    ///
    /// A key whose value has disappeared since the listing (404) is left out.
    pub async fn instance_tags(&mut self) -> Result<Vec<(String, String)>, Ec2Error> {
        let Some(list) = self.get(TAGS_PATH).await? else {
            return Ok(Vec::new());
        };
        let mut tags = Vec::new();
        for key in list
            .split('\n')
            .map(|k| k.trim_end_matches('\r'))
            .filter(|k| !k.is_empty())
            .take(MAX_TAGS)
        {
            let path = format!("{TAGS_PATH}{}", percent_encode(key));
            if let Some(value) = self.get(&path).await? {
                tags.push((key.to_owned(), value));
            }
        }
        Ok(tags)
    }

    /// GET a metadata path: `Some(body)` on 200, `None` on 404, an error otherwise.
    pub async fn get(&mut self, path: &str) -> Result<Option<String>, Ec2Error> {
        let v1_remembered = self.v1_until.is_some_and(|until| Instant::now() < until);
        if !v1_remembered {
            match self.v2.get(path).await {
                Ok(body) => return Ok(Some(body.into())),
                Err(e) if token_refused(&e) => {
                    tracing::debug!(
                        reason = %error_chain(&e),
                        "IMDSv2 session token refused or lost; using IMDSv1"
                    );
                    self.v1_until = Some(Instant::now() + V1_FALLBACK_FOR);
                }
                Err(e) => return v2_error(path, e),
            }
        }
        let result = self.v1.get(path).await;
        if matches!(result, Err(Ec2Error::Status { status: 401, .. })) {
            // IMDSv2 is required (again): the next request asks for a token at once.
            self.v1_until = None;
        }
        result
    }
}

/// Whether IMDSv1 may work where the token request failed: the PUT was refused with
/// 403/404/405 (a proxy or a server without IMDSv2), or failed at the connection level
/// (its reply lost under a hop limit of 1, a proxy closing the connection).
fn token_refused(e: &ImdsError) -> bool {
    let ImdsError::FailedToLoadToken(failed) = e else {
        return false;
    };
    match e
        .source()
        .and_then(|s| s.downcast_ref::<SdkError<TokenError, HttpResponse>>())
    {
        Some(SdkError::ServiceError(reply)) => {
            matches!(reply.raw().status().as_u16(), 403..=405)
        }
        Some(
            SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) | SdkError::ResponseError(_),
        ) => true,
        Some(_) => false,
        None => failed.is_dispatch_failure(),
    }
}

/// The answer for a failed IMDSv2 GET: 404 means "no such path".
fn v2_error(path: &str, e: ImdsError) -> Result<Option<String>, Ec2Error> {
    match e {
        ImdsError::ErrorResponse(reply) => match reply.response().status().as_u16() {
            404 => Ok(None),
            status => Err(Ec2Error::Status {
                path: path.to_owned(),
                status,
            }),
        },
        ImdsError::FailedToLoadToken(_) => Err(Ec2Error::Token(error_chain(&e))),
        e => Err(Ec2Error::Request {
            path: path.to_owned(),
            reason: error_chain(&e),
        }),
    }
}

/// `error: cause: cause…` from `Display` alone: the SDK's `Debug` (and `DisplayErrorContext`)
/// would show raw replies, among them a token.
pub(super) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
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

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &'static [(&'static str, &'static str)]) -> Result<String, Ec2Error> {
        endpoint_from_lookup(move |name| {
            pairs
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.to_string())
        })
    }

    #[test]
    fn endpoint_from_environment_variables() {
        assert_eq!(env(&[]).unwrap(), DEFAULT_ENDPOINT);
        assert_eq!(
            env(&[(ENDPOINT_ENV, " http://127.0.0.1:9 ")]).unwrap(),
            "http://127.0.0.1:9"
        );
        assert_eq!(
            env(&[(ENDPOINT_ENV, " "), (ENDPOINT_MODE_ENV, "IPv6")]).unwrap(),
            DEFAULT_ENDPOINT_IPV6
        );
        assert_eq!(
            env(&[(ENDPOINT_MODE_ENV, "ipv4")]).unwrap(),
            DEFAULT_ENDPOINT
        );
        assert!(matches!(
            env(&[(ENDPOINT_MODE_ENV, "IPv5")]),
            Err(Ec2Error::Endpoint { .. })
        ));
        assert_eq!(
            env(&[(DISABLED_ENV, "TRUE"), (ENDPOINT_ENV, "http://x")]),
            Err(Ec2Error::Disabled)
        );
        assert_eq!(env(&[(DISABLED_ENV, "false")]).unwrap(), DEFAULT_ENDPOINT);
    }

    #[test]
    fn invalid_endpoints_are_refused() {
        for bad in ["http://h/a b", "http://[::1", "\u{1}"] {
            assert!(
                matches!(ImdsClient::new(bad), Err(Ec2Error::Endpoint { .. })),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn percent_encoding() {
        assert_eq!(percent_encode("aZ09-._~"), "aZ09-._~");
        assert_eq!(percent_encode("a b/c:é"), "a%20b%2Fc%3A%C3%A9");
    }

    /// A port nothing listens on.
    fn closed_port() -> u16 {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    }

    #[tokio::test]
    async fn closed_port_is_an_error_not_a_panic() {
        let mut c = ImdsClient::new(&format!("http://127.0.0.1:{}", closed_port())).unwrap();
        let err = c.fetch().await.unwrap_err();
        // The token request failed at the connection level, so IMDSv1 was tried, and failed.
        assert!(
            matches!(&err, Ec2Error::Request { path, .. } if path == IDENTITY_PATH),
            "{err}"
        );
        assert!(c.v1_until.is_some());
    }

    #[tokio::test]
    async fn unanswered_requests_time_out() {
        // The kernel accepts connections into the backlog; nothing ever reads or answers.
        let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", silent.local_addr().unwrap());
        let timeouts = Timeouts {
            connect: Duration::from_secs(2),
            read: Duration::from_millis(200),
        };
        let mut c = ImdsClient::with_timeouts(&url, timeouts).unwrap();
        let started = Instant::now();
        let err = c.fetch().await.unwrap_err();
        assert!(matches!(err, Ec2Error::Request { .. }), "{err}");
        assert!(err.to_string().contains("timeout"), "{err}");
        assert!(started.elapsed() < Duration::from_secs(20));
    }
}
