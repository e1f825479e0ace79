//! Which failed calls only an operator can fix, shared by every destination.

/// Error codes that retrying cannot fix: configuration or permission problems (Kinesis and
/// Firehose spell them alike).
pub const PERSISTENT_CODES: &[&str] = &[
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
    // Firehose only: the delivery stream's KMS key or its Kinesis source is unusable.
    "InvalidKMSResourceException",
    "InvalidSourceException",
];
