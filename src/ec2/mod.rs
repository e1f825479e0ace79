//! EC2 instance metadata: the instance identity document and the instance tags, from the
//! instance metadata service (IMDS), for ADDEC2METADATA.
//!
//! [`ImdsClient`] is aws-config's IMDS client (IMDSv2 session tokens and their caching,
//! retries, timeouts), the one the credential chain already uses, plus a fallback to IMDSv1
//! (GETs without a token, `imdsv1.rs`) for when the token request is refused or its reply is
//! lost, as behind proxies that block PUT or in containers under a hop limit of 1. The token is
//! a credential: it never appears in a log line, an error or a `Debug` output.
//!
//! Instead of the Java agent's EC2 `DescribeTags` call (which needs credentials and the
//! `ec2:DescribeTags` permission), instance tags come from IMDS itself
//! (`/latest/meta-data/tags/instance/`, available when the instance allows tags in metadata).

mod client;
mod identity;
mod imdsv1;

use std::future::Future;
use std::time::SystemTime;

pub use client::{
    endpoint_from_lookup, ImdsClient, Timeouts, DEFAULT_ENDPOINT, DEFAULT_ENDPOINT_IPV6,
    DISABLED_ENV, ENDPOINT_ENV, ENDPOINT_MODE_ENV, IDENTITY_PATH, TAGS_PATH,
};
pub use identity::IdentityDocument;

#[cfg(test)]
pub(crate) use identity::tests::expected_identity;

/// Why instance metadata could not be had.
///
/// Reasons are kept as text built from the `Display` of the SDK's errors, never their `Debug`:
/// a failed token request keeps its raw reply, whose body may be the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Ec2Error {
    /// `AWS_EC2_METADATA_DISABLED` is `true`.
    #[error("IMDS is disabled by {DISABLED_ENV}")]
    Disabled,
    /// The endpoint or endpoint mode from the environment cannot be used.
    #[error("invalid IMDS endpoint {value:?}: {reason}")]
    Endpoint {
        /// The value as given.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The IMDSv2 session token could not be had, for a reason IMDSv1 would not fix
    /// (a 400 or 5xx reply, an unusable token).
    #[error("IMDSv2 session token: {0}")]
    Token(String),
    /// IMDS answered a GET with an unexpected status.
    #[error("IMDS answered HTTP {status} to GET {path}")]
    Status {
        /// The metadata path.
        path: String,
        /// The HTTP status code.
        status: u16,
    },
    /// IMDS could not be reached, did not answer in time, or its reply was unusable.
    #[error("IMDS request GET {path} failed: {reason}")]
    Request {
        /// The metadata path.
        path: String,
        /// The error and its causes.
        reason: String,
    },
    /// The identity document is not a JSON object.
    #[error("invalid instance identity document: {0}")]
    Document(String),
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

/// Where ADDEC2METADATA gets its metadata: [`ImdsClient`], or a test double.
pub trait MetadataSource: Send {
    /// One fetch of the identity document and the tags.
    fn fetch(&mut self) -> impl Future<Output = Result<Ec2Metadata, Ec2Error>> + Send;
}

impl MetadataSource for ImdsClient {
    fn fetch(&mut self) -> impl Future<Output = Result<Ec2Metadata, Ec2Error>> + Send {
        ImdsClient::fetch(self)
    }
}

/// A closure answering at once: fixed answers and scripted sequences in tests.
impl<F> MetadataSource for F
where
    F: FnMut() -> Result<Ec2Metadata, Ec2Error> + Send,
{
    fn fetch(&mut self) -> impl Future<Output = Result<Ec2Metadata, Ec2Error>> + Send {
        std::future::ready(self())
    }
}
