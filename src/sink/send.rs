//! Sending a hand-built request body: SigV4 by `aws-sigv4` over a body hashed once, credentials
//! from aws-config's identity cache, the SDK's HTTP client and timeouts, no SDK retries (the
//! sink loop retries), and the reply read by `reply.rs` and classified as the SDK classifies
//! errors.
//!
//! The request goes straight to the SDK's HTTP connector (its connection pool, TLS, proxy and
//! connect/read timeouts) rather than through the SDK's orchestrator: the orchestrator's
//! interceptors, config layers and runtime plugins, run per request, were ~10 % of the agent's
//! CPU on raw lines. Nothing of them applied here: no retries, no classifiers (so no connection
//! poisoning), no SDK headers. The operation and attempt timeouts bound the whole exchange.

use super::aws::{AwsError, DataPlane};
use super::errors::PERSISTENT_CODES;
use super::reply::{self, ServiceFault};
use super::request::Api;
use super::{EntryResults, SendError};
use aws_credential_types::provider::error::CredentialsError;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use aws_smithy_async::rt::sleep::default_async_sleep;
use aws_smithy_async::time::SharedTimeSource;
use aws_smithy_runtime::client::auth::no_auth::NoAuthScheme;
use aws_smithy_runtime::client::orchestrator::endpoints::StaticUriEndpointResolver;
use aws_smithy_runtime::client::retries::strategy::NeverRetryStrategy;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::auth::static_resolver::StaticAuthSchemeOptionResolver;
use aws_smithy_runtime_api::client::auth::AuthSchemeId;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorSettings, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::identity::{
    Identity, ResolveCachedIdentity, SharedIdentityResolver,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::{
    RuntimeComponents, RuntimeComponentsBuilder,
};
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::config_bag::ConfigBag;
use aws_smithy_types::date_time::{DateTime, Format};
use aws_smithy_types::error::display::DisplayErrorContext;
use bytes::Bytes;
use sha2::{Digest, Sha256};
use std::future::Future;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

/// Throttling codes, as the SDK lists them (`aws-runtime`'s `THROTTLING_ERRORS`), plus the
/// services' own "try later" answers.
const TRANSIENT_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "TransactionInProgressException",
    "RequestLimitExceeded",
    "BandwidthLimitExceeded",
    "LimitExceededException",
    "RequestThrottled",
    "SlowDown",
    "PriorRequestNotComplete",
    "EC2ThrottledException",
    "RequestTimeout",
    "RequestTimeoutException",
    "ServiceUnavailableException",
    "ServiceUnavailable",
    "InternalFailure",
    "InternalServerError",
];

/// Codes that always mean the request's time was too far from the server's.
const SKEW_CODES: &[&str] = &[
    "RequestTimeTooSkewed",
    "RequestExpired",
    "RequestInTheFuture",
];

/// Codes that mean a skewed clock when the reply's `Date` shows one (the SDK's list).
const POSSIBLE_SKEW_CODES: &[&str] = &[
    "InvalidSignatureException",
    "SignatureDoesNotMatch",
    "AuthFailure",
    "AccessDeniedException",
];

/// Below this, a possible skew error is a genuine signature error (as in the SDK).
const SKEW_THRESHOLD: Duration = Duration::from_secs(4 * 60);

/// A round trip longer than this makes a `Date` useless for measuring skew (as in the SDK).
const MAX_TRUSTED_ROUND_TRIP: Duration = Duration::from_secs(15 * 60);

/// Finished bodies kept for the next requests, and the largest kept: more would hold memory
/// the in-flight budget does not count.
const POOL_KEEP: usize = 4;
const POOL_MAX_CAPACITY: usize = 2 << 20;

const SCHEME: AuthSchemeId = AuthSchemeId::new("kinetail-sigv4");

/// A request could not be signed.
#[derive(Debug, thiserror::Error)]
#[error("cannot sign the request: {0}")]
pub struct SignError(String);

/// What a signature is for: a region, a service, an instant.
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a> {
    /// Region signed for.
    pub region: &'a str,
    /// Signing name of the service (`kinesis`, `firehose`).
    pub service: &'a str,
    /// The request's time (the service's clock, as far as known).
    pub time: SystemTime,
}

/// The SigV4 headers for a request: `authorization`, `x-amz-date`, and `x-amz-security-token`
/// for temporary credentials. `headers` are the ones to sign (`host` included);
/// `payload_sha256` is the lowercase hex SHA-256 of the body.
pub fn sigv4_headers<'a>(
    method: &'a str,
    uri: &'a str,
    headers: impl Iterator<Item = (&'a str, &'a str)>,
    payload_sha256: &str,
    identity: &Identity,
    scope: Scope<'_>,
) -> Result<Vec<(&'static str, String)>, SignError> {
    let params = v4::SigningParams::builder()
        .identity(identity)
        .region(scope.region)
        .name(scope.service)
        .time(scope.time)
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| SignError(e.to_string()))?;
    let request = SignableRequest::new(
        method,
        uri,
        headers,
        SignableBody::Precomputed(payload_sha256.to_owned()),
    )
    .map_err(|e| SignError(e.to_string()))?;
    let (instructions, _signature) = sign(request, &params.into())
        .map_err(|e| SignError(e.to_string()))?
        .into_parts();
    Ok(instructions
        .into_parts()
        .0
        .into_iter()
        .map(|h| (h.name(), h.value().to_owned()))
        .collect())
}

/// Where requests go: the origin the HTTP client connects to, the `Host` header, the path.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Endpoint {
    origin: String,
    host: String,
    path: String,
}

impl Endpoint {
    fn parse(url: &str) -> Option<Endpoint> {
        let (scheme, rest) = url.split_once("://")?;
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let authority = &rest[..end];
        let host = authority.rsplit('@').next().unwrap_or(authority);
        if host.is_empty() || !matches!(scheme, "http" | "https") {
            return None;
        }
        let path = rest[end..].split(['?', '#']).next().unwrap_or("");
        Some(Endpoint {
            origin: format!("{scheme}://{authority}"),
            host: host.to_owned(),
            path: if path.is_empty() { "/" } else { path }.to_owned(),
        })
    }
}

/// The offset of the service's clock from ours, learnt from skew errors; requests are signed
/// at our time plus it.
#[derive(Debug, Default)]
struct ClockSkew {
    millis: AtomicI64,
}

impl ClockSkew {
    fn apply(&self, t: SystemTime) -> SystemTime {
        let ms = self.millis.load(Ordering::Relaxed);
        let d = Duration::from_millis(ms.unsigned_abs());
        if ms >= 0 {
            t.checked_add(d).unwrap_or(t)
        } else {
            t.checked_sub(d).unwrap_or(t)
        }
    }

    /// Server time minus the midpoint of the round trip, when the round trip was short.
    fn measure(date: &str, sent: SystemTime, received: SystemTime) -> Option<i64> {
        let server = SystemTime::try_from(DateTime::from_str(date, Format::HttpDate).ok()?).ok()?;
        let trip = received.duration_since(sent).ok()?;
        if trip > MAX_TRUSTED_ROUND_TRIP {
            return None;
        }
        let midpoint = sent + trip / 2;
        Some(match server.duration_since(midpoint) {
            Ok(ahead) => ahead.as_millis() as i64,
            Err(behind) => -(behind.duration().as_millis() as i64),
        })
    }
}

/// Request bodies given back by finished requests, for the next ones to be written into.
#[derive(Debug, Default)]
struct BufferPool {
    free: Mutex<Vec<Vec<u8>>>,
}

impl BufferPool {
    fn take(&self) -> Vec<u8> {
        self.free
            .lock()
            .ok()
            .and_then(|mut f| f.pop())
            .unwrap_or_default()
    }

    /// Keeps the buffer behind `body` when nothing else holds it any more.
    fn give(&self, body: Bytes) {
        let Ok(mut buf) = body.try_into_mut() else {
            return;
        };
        // Emptied first: turning a non-empty shared buffer into a `Vec` moves its contents.
        buf.clear();
        let buf = Vec::from(buf);
        if buf.capacity() > POOL_MAX_CAPACITY {
            return;
        }
        if let Ok(mut free) = self.free.lock() {
            if free.len() < POOL_KEEP {
                free.push(buf);
            }
        }
    }
}

/// A request's per-entry results, and where each entry was stored when that was asked for.
#[derive(Debug)]
pub struct Reply {
    /// Per entry: None when stored, the error code when rejected.
    pub results: EntryResults,
    /// Per entry, the shard it was stored in (empty unless asked for).
    pub shard_ids: Vec<Option<String>>,
}

/// SigV4 with a body hashed once, at the time corrected by [`ClockSkew`].
#[derive(Debug)]
struct SigV4 {
    region: String,
    service: &'static str,
    skew: ClockSkew,
}

impl SigV4 {
    fn sign(&self, request: &mut HttpRequest, identity: &Identity) -> Result<(), SignError> {
        let body = request
            .body()
            .bytes()
            .ok_or_else(|| SignError("the request body is not in memory".into()))?;
        let payload = hex::encode(Sha256::digest(body));
        let headers = sigv4_headers(
            request.method(),
            request.uri(),
            request.headers().iter(),
            &payload,
            identity,
            Scope {
                region: &self.region,
                service: self.service,
                time: self.skew.apply(SystemTime::now()),
            },
        )?;
        for (name, value) in headers {
            request.headers_mut().insert(name, value);
        }
        Ok(())
    }
}

/// Sends request bodies of one API to one endpoint.
#[derive(Debug, Clone)]
pub struct Sender {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    api: Api,
    /// The SDK's HTTP client for this endpoint's timeouts: its connection pool, TLS and proxy.
    connector: SharedHttpConnector,
    /// What the connector and the identity cache run on: the SDK's sleep and clock.
    components: RuntimeComponents,
    credentials: SharedIdentityResolver,
    /// Per request, at most this long (the SDK's operation and attempt timeouts, the shorter).
    deadline: Option<Duration>,
    uri: String,
    host: String,
    user_agent: String,
    signer: SigV4,
    buffers: BufferPool,
}

impl Sender {
    /// A sender of `api` requests to `endpoint_url` (as the SDK's endpoint rules resolved it).
    pub fn new(plane: &DataPlane, api: Api, endpoint_url: &str) -> Result<Sender, AwsError> {
        let endpoint = Endpoint::parse(endpoint_url).ok_or_else(|| AwsError::Endpoint {
            service: api.signing_name(),
            region: plane.region.clone(),
            reason: format!("{endpoint_url:?} is not an http(s) URL"),
        })?;
        let client = plane
            .http_client
            .clone()
            .unwrap_or_else(super::aws::http_client);
        // The identity cache and the connector read their sleep and clock from runtime
        // components; the rest is required by the builder and unused here.
        let components = RuntimeComponentsBuilder::new("kinetail-send")
            .with_http_client(Some(client.clone()))
            .with_sleep_impl(default_async_sleep())
            .with_time_source(Some(SharedTimeSource::default()))
            .with_identity_cache(Some(plane.identity_cache.clone()))
            .with_identity_resolver(SCHEME, plane.credentials.clone())
            .with_auth_scheme(NoAuthScheme::new())
            .with_auth_scheme_option_resolver(Some(StaticAuthSchemeOptionResolver::new(vec![
                SCHEME,
            ])))
            .with_endpoint_resolver(Some(StaticUriEndpointResolver::uri(
                endpoint.origin.clone(),
            )))
            .with_retry_strategy(Some(NeverRetryStrategy::new()))
            .build()
            .map_err(|e| AwsError::Endpoint {
                service: api.signing_name(),
                region: plane.region.clone(),
                reason: format!("the HTTP client cannot be set up: {e}"),
            })?;
        let mut settings = HttpConnectorSettings::builder();
        settings.set_connect_timeout(plane.timeouts.connect_timeout());
        settings.set_read_timeout(plane.timeouts.read_timeout());
        let settings = settings.build();
        let deadline = match (
            plane.timeouts.operation_timeout(),
            plane.timeouts.operation_attempt_timeout(),
        ) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        Ok(Sender {
            inner: Arc::new(Inner {
                api,
                connector: client.http_connector(&settings, &components),
                components,
                credentials: plane.credentials.clone(),
                deadline,
                uri: format!("{}{}", endpoint.origin, endpoint.path),
                host: endpoint.host,
                user_agent: plane.user_agent.clone(),
                signer: SigV4 {
                    region: plane.region.clone(),
                    service: api.signing_name(),
                    skew: ClockSkew::default(),
                },
                buffers: BufferPool::default(),
            }),
        })
    }

    /// An empty buffer to write the next body into (one a finished request gave back, if any).
    pub fn buffer(&self) -> Vec<u8> {
        self.inner.buffers.take()
    }

    /// Sends `body`, a request of `entries` entries; per entry, None when stored and the error
    /// code when rejected. The buffer goes back to [`Sender::buffer`] when the request is done.
    pub fn send(
        &self,
        body: Vec<u8>,
        entries: usize,
    ) -> impl Future<Output = Result<EntryResults, SendError>> + Send + 'static {
        let sent = self.send_reading(body, entries, false);
        async move { sent.await.map(|r| r.results) }
    }

    /// As [`Sender::send`], and also reads the shard each entry was stored in (PutRecords).
    pub fn send_reading_shards(
        &self,
        body: Vec<u8>,
        entries: usize,
    ) -> impl Future<Output = Result<Reply, SendError>> + Send + 'static {
        self.send_reading(body, entries, true)
    }

    fn send_reading(
        &self,
        body: Vec<u8>,
        entries: usize,
        shards: bool,
    ) -> impl Future<Output = Result<Reply, SendError>> + Send + 'static {
        let inner = self.inner.clone();
        let body = Bytes::from(body);
        async move {
            let keep = body.clone();
            let exchange = inner.exchange(body);
            let result = match inner.deadline {
                None => exchange.await,
                Some(limit) => tokio::time::timeout(limit, exchange)
                    .await
                    .unwrap_or_else(|_| Err(Failure::TimedOut(limit))),
            };
            inner.buffers.give(keep);
            match result {
                Ok((response, body, sent, received)) => {
                    inner.read(&response, &body, entries, shards, sent, received)
                }
                Err(failure) => Err(failure.classify(inner.api.name())),
            }
        }
    }
}

/// A reply: its head, its body, when the request went and when the reply came.
type Exchanged = (HttpResponse, Bytes, SystemTime, SystemTime);

/// Why a request got no reply to read.
#[derive(Debug)]
enum Failure {
    Credentials(BoxError),
    Sign(SignError),
    Connector(ConnectorError),
    Body(BoxError),
    TimedOut(Duration),
}

impl Inner {
    /// Signs and sends one request and reads its reply's body.
    async fn exchange(&self, body: Bytes) -> Result<Exchanged, Failure> {
        let cfg = ConfigBag::base();
        let identity = self
            .components
            .identity_cache()
            .resolve_cached_identity(self.credentials.clone(), &self.components, &cfg)
            .await
            .map_err(Failure::Credentials)?;
        let mut request = HttpRequest::new(SdkBody::from(body));
        request
            .set_method("POST")
            .and_then(|()| request.set_uri(self.uri.as_str()))
            .map_err(|e| Failure::Sign(SignError(e.to_string())))?;
        let headers = request.headers_mut();
        headers.insert("content-type", "application/x-amz-json-1.1");
        headers.insert("x-amz-target", self.api.target());
        headers.insert("host", self.host.clone());
        headers.insert("user-agent", self.user_agent.clone());
        self.signer
            .sign(&mut request, &identity)
            .map_err(Failure::Sign)?;
        let sent = SystemTime::now();
        let mut response = self
            .connector
            .call(request)
            .await
            .map_err(Failure::Connector)?;
        let body = http_body_util::BodyExt::collect(response.take_body())
            .await
            .map_err(Failure::Body)?
            .to_bytes();
        Ok((response, body, sent, SystemTime::now()))
    }

    /// The per-entry results of a reply, or why it has none.
    fn read(
        &self,
        response: &HttpResponse,
        body: &[u8],
        entries: usize,
        shards: bool,
        sent: SystemTime,
        received: SystemTime,
    ) -> Result<Reply, SendError> {
        let status = response.status().as_u16();
        if !response.status().is_success() {
            let headers = response.headers();
            let fault = reply::parse_error(
                status,
                headers.get("x-amzn-errortype"),
                headers.get("date"),
                body,
            );
            return Err(classify_fault(&fault, &self.signer.skew, sent, received));
        }
        let read = reply::parse_success(self.api, status, body, entries).and_then(|results| {
            let shard_ids = if shards {
                reply::shard_ids(status, body)?
            } else {
                Vec::new()
            };
            Ok(Reply { results, shard_ids })
        });
        read.map_err(|bad| SendError::Transient(bad.to_string()))
    }
}

impl Failure {
    fn classify(self, api: &str) -> SendError {
        match self {
            Failure::TimedOut(limit) => {
                SendError::Transient(format!("{api} timed out after {limit:?}"))
            }
            Failure::Connector(e) if e.is_timeout() => {
                SendError::Transient(format!("{api} timed out: {}", DisplayErrorContext(&e)))
            }
            Failure::Connector(e) => {
                SendError::Transient(format!("{api} request failed: {}", DisplayErrorContext(&e)))
            }
            Failure::Body(e) => SendError::Transient(format!(
                "{api} reply could not be read: {}",
                DisplayErrorContext(&*e)
            )),
            Failure::Sign(e) => {
                SendError::Persistent(format!("{api} request could not be built: {e}"))
            }
            Failure::Credentials(e) => match credentials_error(&*e) {
                Some(
                    CredentialsError::CredentialsNotLoaded(_)
                    | CredentialsError::InvalidConfiguration(_),
                ) => SendError::Persistent(format!(
                    "no usable AWS credentials: {}",
                    DisplayErrorContext(&*e)
                )),
                _ => SendError::Transient(format!(
                    "AWS credentials could not be loaded: {}",
                    DisplayErrorContext(&*e)
                )),
            },
        }
    }
}

/// The credentials error behind a failed request, if that is what failed.
fn credentials_error<'e>(
    err: &'e (dyn std::error::Error + 'static),
) -> Option<&'e CredentialsError> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        if let Some(c) = e.downcast_ref::<CredentialsError>() {
            return Some(c);
        }
        cur = e.source();
    }
    None
}

/// Transient or persistent, as the SDK's classifiers see an error reply; a clock-skew error
/// also sets the clock offset later requests are signed with.
fn classify_fault(
    fault: &ServiceFault,
    skew: &ClockSkew,
    sent: SystemTime,
    received: SystemTime,
) -> SendError {
    let code = fault.code.as_deref().unwrap_or("");
    let measured = fault
        .date
        .as_deref()
        .and_then(|d| ClockSkew::measure(d, sent, received));
    let expired = code == "InvalidSignatureException"
        && (fault.message.contains("Signature expired")
            || fault.message.contains("not yet current"));
    let large = measured.is_some_and(|m| m.unsigned_abs() >= SKEW_THRESHOLD.as_millis() as u64);
    if SKEW_CODES.contains(&code) || expired || (POSSIBLE_SKEW_CODES.contains(&code) && large) {
        return match measured {
            Some(ms) => {
                skew.millis.store(ms, Ordering::Relaxed);
                SendError::Transient(format!(
                    "{fault}; the service's clock is {:+.1} s from ours: later requests are signed with its time",
                    ms as f64 / 1000.0
                ))
            }
            None => SendError::Transient(format!(
                "{fault}; the reply has no Date to correct the clock by"
            )),
        };
    }
    if TRANSIENT_CODES.contains(&code) || fault.status >= 500 {
        SendError::Transient(fault.to_string())
    } else if PERSISTENT_CODES.contains(&code) || fault.status == 401 || fault.status == 403 {
        SendError::Persistent(fault.to_string())
    } else {
        SendError::Transient(fault.to_string())
    }
}

/// An HTTP client for tests: answers every request from a script and records what it got.
#[cfg(test)]
pub(crate) mod test_http {
    use aws_smithy_runtime_api::client::http::{
        HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
        SharedHttpConnector,
    };
    use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
    use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;
    use std::sync::{Arc, Mutex};

    /// One request as the client received it.
    #[derive(Debug, Clone)]
    pub struct Seen {
        pub method: String,
        pub uri: String,
        pub headers: Vec<(String, String)>,
        pub body: Vec<u8>,
    }

    impl Seen {
        pub fn header(&self, name: &str) -> Option<&str> {
            self.headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        }
    }

    /// (status, headers, body) for a request.
    pub type Answer = (u16, Vec<(&'static str, String)>, Vec<u8>);

    /// Answers with `reply` and records every request.
    #[derive(Clone)]
    pub struct Scripted {
        pub seen: Arc<Mutex<Vec<Seen>>>,
        reply: Arc<dyn Fn(&Seen) -> Answer + Send + Sync>,
    }

    impl std::fmt::Debug for Scripted {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("Scripted")
        }
    }

    impl Scripted {
        pub fn new(reply: impl Fn(&Seen) -> Answer + Send + Sync + 'static) -> Scripted {
            Scripted {
                seen: Arc::default(),
                reply: Arc::new(reply),
            }
        }

        pub fn client(&self) -> SharedHttpClient {
            SharedHttpClient::new(self.clone())
        }

        pub fn seen(&self) -> Vec<Seen> {
            self.seen.lock().unwrap().clone()
        }
    }

    impl HttpConnector for Scripted {
        fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
            let seen = Seen {
                method: request.method().to_owned(),
                uri: request.uri().to_owned(),
                headers: request
                    .headers()
                    .iter()
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .collect(),
                body: request.body().bytes().unwrap_or_default().to_vec(),
            };
            let (status, headers, body) = (self.reply)(&seen);
            self.seen.lock().unwrap().push(seen);
            drop(request);
            let mut response =
                HttpResponse::new(StatusCode::try_from(status).unwrap(), SdkBody::from(body));
            for (k, v) in headers {
                response.headers_mut().insert(k, v);
            }
            HttpConnectorFuture::ready(Ok(response))
        }
    }

    impl HttpClient for Scripted {
        fn http_connector(
            &self,
            _settings: &HttpConnectorSettings,
            _components: &RuntimeComponents,
        ) -> SharedHttpConnector {
            SharedHttpConnector::new(self.clone())
        }
    }

    /// A PutRecords reply storing `n` entries.
    pub fn stored(n: usize) -> Vec<u8> {
        let entries: Vec<String> = (0..n)
            .map(|i| format!(r#"{{"SequenceNumber":"{i}","ShardId":"shardId-000000000000"}}"#))
            .collect();
        format!(
            r#"{{"FailedRecordCount":0,"Records":[{}]}}"#,
            entries.join(",")
        )
        .into_bytes()
    }

    /// The body `aws-sdk-kinesis` sends for PutRecords of these (data, key) entries.
    pub fn sdk_put_records_body(stream: &str, records: &[(Vec<u8>, String)]) -> Vec<u8> {
        use aws_sdk_kinesis::primitives::Blob;
        use aws_sdk_kinesis::types::PutRecordsRequestEntry;
        let n = records.len();
        let http = Scripted::new(move |_| (200, vec![], stored(n)));
        let config = aws_sdk_kinesis::Config::builder()
            .behavior_version(aws_sdk_kinesis::config::BehaviorVersion::latest())
            .region(aws_sdk_kinesis::config::Region::new("us-east-1"))
            .credentials_provider(aws_credential_types::Credentials::new(
                "AKID", "SECRET", None, None, "test",
            ))
            .endpoint_url("http://127.0.0.1:1")
            .http_client(http.client())
            .build();
        let client = aws_sdk_kinesis::Client::from_conf(config);
        let entries: Vec<PutRecordsRequestEntry> = records
            .iter()
            .map(|(d, k)| {
                PutRecordsRequestEntry::builder()
                    .data(Blob::new(d.clone()))
                    .partition_key(k.clone())
                    .build()
                    .unwrap()
            })
            .collect();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(
            client
                .put_records()
                .stream_name(stream)
                .set_records(Some(entries))
                .send(),
        )
        .unwrap();
        let seen = http.seen();
        assert_eq!(seen.len(), 1);
        seen[0].body.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::test_http::{stored, Scripted, Seen};
    use super::*;
    use crate::sink::request::{Key, PutRecordBatchBody, PutRecordsBody};
    use aws_credential_types::provider::SharedCredentialsProvider;
    use aws_credential_types::Credentials;
    use aws_smithy_runtime::client::identity::IdentityCache;

    fn at(rfc3339: &str) -> SystemTime {
        SystemTime::try_from(DateTime::from_str(rfc3339, Format::DateTime).unwrap()).unwrap()
    }

    fn example_identity(token: Option<&str>) -> Identity {
        Credentials::new(
            "AKIDEXAMPLE",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            token.map(str::to_owned),
            None,
            "test",
        )
        .into()
    }

    const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    /// AWS's SigV4 test suite, `post-vanilla` (aws-sig-v4-test-suite, as vendored in aws-sigv4).
    #[test]
    fn sigv4_post_vanilla_known_answer() {
        let headers = sigv4_headers(
            "POST",
            "https://example.amazonaws.com/",
            [("host", "example.amazonaws.com")].into_iter(),
            EMPTY_SHA256,
            &example_identity(None),
            Scope {
                region: "us-east-1",
                service: "service",
                time: at("2015-08-30T12:36:00Z"),
            },
        )
        .unwrap();
        let get = |n: &str| {
            headers
                .iter()
                .find(|(k, _)| *k == n)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("x-amz-date"), Some("20150830T123600Z"));
        assert_eq!(
            get("authorization"),
            Some("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b")
        );
        assert_eq!(get("x-amz-security-token"), None);
    }

    /// AWS's SigV4 test suite, `get-vanilla-with-session-token`: the token is signed and sent.
    #[test]
    fn sigv4_session_token_known_answer() {
        let token = "6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267";
        let headers = sigv4_headers(
            "GET",
            "https://example.amazonaws.com/",
            [("host", "example.amazonaws.com")].into_iter(),
            EMPTY_SHA256,
            &example_identity(Some(token)),
            Scope {
                region: "us-east-1",
                service: "service",
                time: at("2015-08-30T12:36:00Z"),
            },
        )
        .unwrap();
        let get = |n: &str| {
            headers
                .iter()
                .find(|(k, _)| *k == n)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("x-amz-security-token"), Some(token));
        assert_eq!(
            get("authorization"),
            Some("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date;x-amz-security-token, Signature=07ec1639c89043aa0e3e2de82b96708f198cceab042d4a97044c66dd9f74e7f8")
        );
    }

    fn plane(http: &Scripted, credentials: SharedCredentialsProvider) -> DataPlane {
        DataPlane {
            region: "eu-west-1".into(),
            credentials: SharedIdentityResolver::new(credentials),
            identity_cache: IdentityCache::lazy().build(),
            http_client: Some(http.client()),
            timeouts: aws_config::timeout::TimeoutConfig::disabled(),
            user_agent: "myapp/2 kinetail/0.1.0".into(),
            use_fips: false,
            use_dual_stack: false,
        }
    }

    fn static_keys() -> SharedCredentialsProvider {
        SharedCredentialsProvider::new(Credentials::new("AKIDTEST", "secret", None, None, "test"))
    }

    fn sender(http: &Scripted, api: Api) -> Sender {
        let url = "https://kinesis.eu-west-1.amazonaws.com";
        Sender::new(&plane(http, static_keys()), api, url).unwrap()
    }

    fn body(sender: &Sender, n: usize) -> Vec<u8> {
        let mut buf = sender.buffer();
        let mut b = PutRecordsBody::new(&mut buf, "s");
        for i in 0..n {
            b.push(format!("record {i}").as_bytes(), Key::Text("k"));
        }
        b.finish();
        buf
    }

    #[tokio::test]
    async fn a_request_is_signed_sent_and_read() {
        let http = Scripted::new(|_| (200, vec![], stored(3)));
        let s = sender(&http, Api::PutRecords);
        let b = body(&s, 3);
        let sent_body = b.clone();
        assert_eq!(s.send(b, 3).await, Ok(vec![None, None, None]));
        let seen: Vec<Seen> = http.seen();
        assert_eq!(seen.len(), 1, "no retries, no second request");
        let r = &seen[0];
        assert_eq!(r.method, "POST");
        assert_eq!(r.uri, "https://kinesis.eu-west-1.amazonaws.com/");
        assert_eq!(r.body, sent_body);
        assert_eq!(r.header("content-type"), Some("application/x-amz-json-1.1"));
        assert_eq!(
            r.header("x-amz-target"),
            Some("Kinesis_20131202.PutRecords")
        );
        assert_eq!(r.header("host"), Some("kinesis.eu-west-1.amazonaws.com"));
        assert_eq!(r.header("user-agent"), Some("myapp/2 kinetail/0.1.0"));
        let auth = r.header("authorization").unwrap();
        assert!(
            auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIDTEST/")
                && auth.contains("/eu-west-1/kinesis/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature="),
            "{auth}"
        );
        // The body went back to the pool for the next request.
        assert!(s.buffer().capacity() >= sent_body.len());
    }

    #[tokio::test]
    async fn put_record_batch_is_signed_for_firehose() {
        let http = Scripted::new(|_| {
            (
                200,
                vec![],
                br#"{"FailedPutCount":1,"RequestResponses":[{"RecordId":"a"},{"ErrorCode":"ServiceUnavailableException"}]}"#.to_vec(),
            )
        });
        let s = Sender::new(
            &plane(&http, static_keys()),
            Api::PutRecordBatch,
            "https://firehose.eu-west-1.amazonaws.com/",
        )
        .unwrap();
        let mut buf = s.buffer();
        let mut b = PutRecordBatchBody::new(&mut buf, "d");
        b.push(b"1");
        b.push(b"2");
        b.finish();
        assert_eq!(
            s.send(buf, 2).await,
            Ok(vec![None, Some("ServiceUnavailableException".into())])
        );
        let r = &http.seen()[0];
        assert_eq!(
            r.header("x-amz-target"),
            Some("Firehose_20150804.PutRecordBatch")
        );
        assert!(r
            .header("authorization")
            .unwrap()
            .contains("/eu-west-1/firehose/aws4_request"));
    }

    async fn outcome(
        status: u16,
        headers: Vec<(&'static str, String)>,
        reply: &[u8],
    ) -> Result<EntryResults, SendError> {
        let reply = reply.to_vec();
        let http = Scripted::new(move |_| (status, headers.clone(), reply.clone()));
        let s = sender(&http, Api::PutRecords);
        let b = body(&s, 2);
        s.send(b, 2).await
    }

    fn transient(r: Result<EntryResults, SendError>) -> String {
        match r {
            Err(SendError::Transient(m)) => m,
            other => panic!("expected a transient error, got {other:?}"),
        }
    }

    fn persistent(r: Result<EntryResults, SendError>) -> String {
        match r {
            Err(SendError::Persistent(m)) => m,
            other => panic!("expected a persistent error, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn malformed_replies_are_transient_failures_of_the_whole_request() {
        let html = b"<html><body><h1>502 Bad Gateway</h1></body></html>";
        let m = transient(outcome(200, vec![], html).await);
        assert!(
            m.contains("not what the API promises") && m.contains("502 Bad Gateway"),
            "{m}"
        );
        let full = stored(2);
        let m = transient(outcome(200, vec![], &full[..full.len() - 3]).await);
        assert!(m.contains("not the expected JSON"), "{m}");
        let m = transient(outcome(200, vec![], &stored(1)).await);
        assert!(m.contains("1 entries for 2 records"), "{m}");
        let m = transient(outcome(502, vec![("content-type", "text/html".into())], html).await);
        assert!(m.starts_with("HTTP 502: <html>"), "{m}");
    }

    #[tokio::test]
    async fn error_replies_are_classified_by_code() {
        let json = |code: &str| format!(r#"{{"__type":"{code}","message":"m"}}"#).into_bytes();
        for code in [
            "ProvisionedThroughputExceededException",
            "ThrottlingException",
            "LimitExceededException",
            "ServiceUnavailableException",
        ] {
            let m = transient(outcome(400, vec![], &json(code)).await);
            assert!(m.starts_with(code), "{m}");
        }
        transient(outcome(500, vec![], &json("InternalFailure")).await);
        transient(outcome(503, vec![], b"").await);
        let m = persistent(outcome(400, vec![], &json("ResourceNotFoundException")).await);
        assert_eq!(m, "ResourceNotFoundException: m (HTTP 400)");
        persistent(
            outcome(
                400,
                vec![],
                &json("com.amazon.coral.service#AccessDeniedException"),
            )
            .await,
        );
        persistent(outcome(403, vec![], b"<html>Forbidden</html>").await);
        let m = persistent(
            outcome(
                400,
                vec![(
                    "x-amzn-ErrorType",
                    "UnrecognizedClientException:http://internal.amazon.com/".into(),
                )],
                br#"{"message":"The security token included in the request is invalid."}"#,
            )
            .await,
        );
        assert!(
            m.starts_with("UnrecognizedClientException: The security token"),
            "{m}"
        );
    }

    /// A `Signature expired` reply with the service's `Date` an hour ahead: retried, and the
    /// next request is signed an hour ahead.
    #[tokio::test]
    async fn clock_skew_is_corrected_from_the_reply_date() {
        let ahead = SystemTime::now() + Duration::from_secs(3600);
        let date = DateTime::from(ahead).fmt(Format::HttpDate).unwrap();
        let calls = Arc::new(AtomicI64::new(0));
        let c = calls.clone();
        let http = Scripted::new(move |_| {
            if c.fetch_add(1, Ordering::SeqCst) == 0 {
                (
                    400,
                    vec![("date", date.clone())],
                    br#"{"__type":"InvalidSignatureException","message":"Signature expired: 20261130T150000Z is now earlier than 20261130T155500Z (20261130T160000Z - 5 min.)"}"#.to_vec(),
                )
            } else {
                (200, vec![], stored(2))
            }
        });
        let s = sender(&http, Api::PutRecords);
        let m = transient(s.send(body(&s, 2), 2).await);
        assert!(
            m.contains("Signature expired")
                && (m.contains("clock is +3599") || m.contains("clock is +3600")),
            "{m}"
        );
        assert_eq!(s.send(body(&s, 2), 2).await, Ok(vec![None, None]));
        let seen = http.seen();
        let signed_at = |r: &Seen| {
            let d = r.header("x-amz-date").unwrap();
            let iso = format!(
                "{}-{}-{}T{}:{}:{}Z",
                &d[..4],
                &d[4..6],
                &d[6..8],
                &d[9..11],
                &d[11..13],
                &d[13..15]
            );
            at(&iso)
        };
        let shift = signed_at(&seen[1])
            .duration_since(signed_at(&seen[0]))
            .unwrap();
        assert!(
            shift >= Duration::from_secs(3590) && shift <= Duration::from_secs(3610),
            "{shift:?}"
        );
    }

    /// A signature error without a skewed `Date` is the operator's problem, not the clock's.
    #[tokio::test]
    async fn a_signature_error_without_skew_is_persistent() {
        let date = DateTime::from(SystemTime::now())
            .fmt(Format::HttpDate)
            .unwrap();
        persistent(
            outcome(
                400,
                vec![("date", date)],
                br#"{"__type":"InvalidSignatureException","message":"The request signature we calculated does not match"}"#,
            )
            .await,
        );
    }

    #[tokio::test]
    async fn missing_credentials_are_persistent_and_nothing_is_sent() {
        #[derive(Debug)]
        struct NoCredentials;
        impl aws_credential_types::provider::ProvideCredentials for NoCredentials {
            fn provide_credentials<'a>(
                &'a self,
            ) -> aws_credential_types::provider::future::ProvideCredentials<'a>
            where
                Self: 'a,
            {
                aws_credential_types::provider::future::ProvideCredentials::ready(Err(
                    CredentialsError::not_loaded("no credentials in the chain"),
                ))
            }
        }
        let http = Scripted::new(|_| (200, vec![], stored(2)));
        let s = Sender::new(
            &plane(&http, SharedCredentialsProvider::new(NoCredentials)),
            Api::PutRecords,
            "http://127.0.0.1:4567",
        )
        .unwrap();
        let m = persistent(s.send(body(&s, 2), 2).await);
        assert!(m.contains("no usable AWS credentials"), "{m}");
        assert!(http.seen().is_empty());
    }

    #[tokio::test]
    async fn a_request_past_the_operation_timeout_is_a_transient_failure() {
        use aws_smithy_runtime_api::client::http;
        #[derive(Debug)]
        struct Silent;
        impl HttpConnector for Silent {
            fn call(&self, _: HttpRequest) -> http::HttpConnectorFuture {
                http::HttpConnectorFuture::new(std::future::pending())
            }
        }
        let http = Scripted::new(|_| (200, vec![], stored(1)));
        let mut plane = plane(&http, static_keys());
        plane.http_client = Some(http::http_client_fn(|_, _| {
            SharedHttpConnector::new(Silent)
        }));
        plane.timeouts = aws_config::timeout::TimeoutConfig::builder()
            .operation_timeout(Duration::from_millis(50))
            .build();
        let s = Sender::new(&plane, Api::PutRecords, "http://127.0.0.1:4567").unwrap();
        let sent = tokio::time::timeout(Duration::from_secs(10), s.send(body(&s, 1), 1));
        let m = transient(sent.await.expect("the request is never given up"));
        assert!(m.contains("PutRecords timed out after 50ms"), "{m}");
    }

    #[test]
    fn endpoints_split_into_origin_host_and_path() {
        assert_eq!(
            Endpoint::parse("http://127.0.0.1:4567"),
            Some(Endpoint {
                origin: "http://127.0.0.1:4567".into(),
                host: "127.0.0.1:4567".into(),
                path: "/".into()
            })
        );
        assert_eq!(
            Endpoint::parse("https://vpce-1.kinesis.eu-west-1.vpce.amazonaws.com/prefix/"),
            Some(Endpoint {
                origin: "https://vpce-1.kinesis.eu-west-1.vpce.amazonaws.com".into(),
                host: "vpce-1.kinesis.eu-west-1.vpce.amazonaws.com".into(),
                path: "/prefix/".into()
            })
        );
        assert_eq!(Endpoint::parse("kinesis.eu-west-1.amazonaws.com"), None);
        assert_eq!(Endpoint::parse("ftp://x"), None);
    }

    #[test]
    fn the_pool_keeps_only_buffers_nothing_else_holds() {
        let pool = BufferPool::default();
        let mut v = Vec::with_capacity(1000);
        v.extend_from_slice(b"body");
        let b = Bytes::from(v);
        let other = b.clone();
        pool.give(b);
        assert_eq!(pool.take().capacity(), 0, "still shared: not kept");
        pool.give(other);
        let back = pool.take();
        assert!(back.is_empty() && back.capacity() >= 1000);
        pool.give(Bytes::from(vec![0u8; POOL_MAX_CAPACITY + 1]));
        assert_eq!(pool.take().capacity(), 0, "too large: not kept");
    }
}
