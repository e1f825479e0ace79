//! Kinesis Data Streams destination: one PutRecords call per batch.

use super::{Destination, EntryResults, SendError};
use crate::record::Record;
use aws_sdk_kinesis::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::PutRecordsRequestEntry;
use aws_smithy_types::error::display::DisplayErrorContext;
use std::future::Future;

/// Error codes that retrying cannot fix: configuration or permission problems.
const PERSISTENT_CODES: &[&str] = &[
    "ResourceNotFoundException",
    "AccessDeniedException",
    "UnrecognizedClientException",
    "InvalidSignatureException",
    "IncompleteSignature",
    "MissingAuthenticationToken",
    "ExpiredTokenException",
    "InvalidClientTokenId",
    "KMSAccessDeniedException",
    "KMSDisabledException",
    "KMSInvalidStateException",
    "KMSNotFoundException",
    "KMSOptInRequired",
    "ValidationException",
    "InvalidArgumentException",
];

/// A Kinesis data stream.
#[derive(Debug, Clone)]
pub struct KinesisStream {
    client: aws_sdk_kinesis::Client,
    stream: String,
}

impl KinesisStream {
    /// A destination writing to `stream` through `client`.
    pub fn new(client: aws_sdk_kinesis::Client, stream: &str) -> KinesisStream {
        KinesisStream {
            client,
            stream: stream.to_owned(),
        }
    }
}

/// Classifies a failed call: persistent (needs an operator) or transient.
pub fn classify<E: ProvideErrorMetadata + std::error::Error + 'static>(
    err: &SdkError<E>,
) -> SendError {
    let text = DisplayErrorContext(err).to_string();
    match err {
        SdkError::ServiceError(se) => {
            let code = se.err().code().unwrap_or("");
            let status = se.raw().status().as_u16();
            let msg = format!("{code}: {}", se.err().message().unwrap_or(&text));
            if PERSISTENT_CODES.contains(&code) || status == 401 || status == 403 {
                SendError::Persistent(msg)
            } else {
                SendError::Transient(msg)
            }
        }
        SdkError::ConstructionFailure(_) => SendError::Persistent(text),
        _ if text.contains("credentials") => SendError::Persistent(text),
        _ => SendError::Transient(text),
    }
}

impl Destination for KinesisStream {
    fn name(&self) -> String {
        format!("KinesisStream:{}", self.stream)
    }

    fn put(
        &self,
        records: &[Record],
    ) -> impl Future<Output = Result<EntryResults, SendError>> + Send + 'static {
        let entries: Result<Vec<PutRecordsRequestEntry>, _> = records
            .iter()
            .map(|r| {
                PutRecordsRequestEntry::builder()
                    .data(Blob::new(r.data.clone()))
                    .partition_key(r.partition_key.clone())
                    .build()
            })
            .collect();
        let call = self
            .client
            .put_records()
            .stream_name(self.stream.clone())
            .set_records(entries.ok());
        let expected = records.len();
        async move {
            let out = call.send().await.map_err(|e| classify(&e))?;
            let results: EntryResults = out
                .records()
                .iter()
                .map(|e| e.error_code().map(str::to_owned))
                .collect();
            if results.len() != expected {
                return Err(SendError::Transient(format!(
                    "PutRecords reply has {} entries for {expected} records",
                    results.len()
                )));
            }
            Ok(results)
        }
    }
}
