//! IMDSv1: metadata GETs without a session token.
//!
//! aws-config's IMDS client speaks IMDSv2 only. This is one operation on the same SDK runtime
//! (orchestrator, default HTTP client, aws-config's IMDS retry classifier, the same timeouts
//! and attempts) without the token auth scheme: no HTTP of its own.

use std::time::Duration;

use aws_config::imds::client::ImdsResponseRetryClassifier;
use aws_smithy_runtime::client::orchestrator::operation::Operation;
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse, OrchestratorError};
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::retry::RetryConfig;
use aws_smithy_types::timeout::TimeoutConfig;

use super::client::{error_chain, Timeouts};
use super::Ec2Error;

/// Attempts per GET, as aws-config's IMDS client makes.
const ATTEMPTS: u32 = 4;
/// Bound of one attempt, as in aws-config's IMDS client.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// Bound of a GET with its retries, as in aws-config's IMDS client.
const OPERATION_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a reply was not a metadata value.
#[derive(Debug, thiserror::Error)]
enum BadReply {
    /// Not a 2xx status (the code is in the raw reply).
    #[error("IMDS answered with an error status")]
    Status,
    /// Metadata values are text.
    #[error("IMDS did not return valid UTF-8")]
    InvalidUtf8,
}

/// Token-less GETs against one endpoint.
#[derive(Debug)]
pub(super) struct Imdsv1 {
    operation: Operation<String, String, BadReply>,
}

impl Imdsv1 {
    /// GETs against `endpoint`, which the SDK client has already validated.
    pub(super) fn new(endpoint: &str, timeouts: Timeouts) -> Imdsv1 {
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(timeouts.connect)
            .read_timeout(timeouts.read)
            .operation_attempt_timeout(ATTEMPT_TIMEOUT)
            .operation_timeout(OPERATION_TIMEOUT)
            .build();
        let operation = Operation::builder()
            .service_name("imds")
            .operation_name("get-v1")
            .endpoint_url(endpoint)
            .no_auth()
            .standard_retry(&RetryConfig::standard().with_max_attempts(ATTEMPTS))
            .retry_classifier(ImdsResponseRetryClassifier::default())
            .timeout_config(timeouts)
            .with_connection_poisoning()
            .serializer(|path: String| Ok(HttpRequest::get(path)?))
            .deserializer(|reply: &HttpResponse| {
                if !reply.status().is_success() {
                    return Err(OrchestratorError::operation(BadReply::Status));
                }
                let body = reply.body().bytes().unwrap_or_default();
                std::str::from_utf8(body)
                    .map(str::to_owned)
                    .map_err(|_| OrchestratorError::operation(BadReply::InvalidUtf8))
            })
            .build();
        Imdsv1 { operation }
    }

    /// GET a metadata path: `Some(body)` on 200, `None` on 404, an error otherwise.
    pub(super) async fn get(&self, path: &str) -> Result<Option<String>, Ec2Error> {
        match self.operation.invoke(path.to_owned()).await {
            Ok(body) => Ok(Some(body)),
            Err(SdkError::ServiceError(reply)) if matches!(reply.err(), BadReply::Status) => {
                match reply.raw().status().as_u16() {
                    404 => Ok(None),
                    status => Err(Ec2Error::Status {
                        path: path.to_owned(),
                        status,
                    }),
                }
            }
            Err(e) => Err(Ec2Error::Request {
                path: path.to_owned(),
                reason: error_chain(&e),
            }),
        }
    }
}
