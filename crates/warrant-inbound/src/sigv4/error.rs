//! The SigV4 verification error and its mapping onto AWS error types.

/// Why a request failed SigV4 verification.
///
/// Every message ([`Display`](std::fmt::Display) / [`SigV4Error::message`]) is
/// safe to return to the client: it never contains the secret access key or a
/// derived signing key (neither is ever passed to a constructor of this type),
/// only values the client itself sent or that are public (expected region and
/// service, timestamps).
///
/// The HTTP layer picks the AWS error code with [`SigV4Error::aws_error_type`];
/// the split follows what AWS services answer: a request without credentials is
/// `MissingAuthenticationTokenException`, a structurally broken signature is
/// `IncompleteSignatureException`, and a well-formed signature that does not
/// hold (wrong scope, out of time window, mismatch) is
/// `InvalidSignatureException`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SigV4Error {
    /// No `Authorization` header at all.
    #[error("Missing Authentication Token")]
    MissingAuthorization,

    /// The `Authorization` header is not of the form
    /// `AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...`.
    #[error("Authorization header is malformed: {0}")]
    MalformedAuthorization(&'static str),

    /// One of `Credential`, `SignedHeaders`, `Signature` is missing.
    #[error("Authorization header requires '{0}' parameter.")]
    MissingAuthorizationParam(&'static str),

    /// The scheme is not `AWS4-HMAC-SHA256` (e.g. SigV2, SigV4A, Bearer).
    #[error("Unsupported AWS 'algorithm': only 'AWS4-HMAC-SHA256' is supported.")]
    UnsupportedAlgorithm,

    /// The credential is not `AKID/YYYYMMDD/region/service/terminator`.
    #[error("Authorization header has a malformed Credential: expected 'AccessKeyId/YYYYMMDD/region/service/aws4_request'.")]
    MalformedCredential,

    /// The signature is not exactly 64 hexadecimal characters.
    #[error("Signature must be 64 hexadecimal characters.")]
    MalformedSignature,

    /// `SignedHeaders` is empty, has an empty entry or an upper-case entry.
    #[error("SignedHeaders must be a ';'-separated list of lower-case header names.")]
    MalformedSignedHeaders,

    /// No `X-Amz-Date` header.
    #[error("Authorization header requires existence of a 'X-Amz-Date' header.")]
    MissingDateHeader,

    /// `X-Amz-Date` is not `YYYYMMDDTHHMMSSZ` or names an impossible date.
    #[error("X-Amz-Date must be in ISO-8601 'basic format' (YYYYMMDDTHHMMSSZ).")]
    MalformedDate,

    /// `host` is not listed in `SignedHeaders`.
    #[error("'Host' must be a 'SignedHeader' in the AWS Authorization.")]
    HostNotSigned,

    /// `x-amz-date` is not listed in `SignedHeaders`.
    #[error("'X-Amz-Date' must be a 'SignedHeader' in the AWS Authorization.")]
    DateNotSigned,

    /// A header listed in `SignedHeaders` is not in the request.
    #[error("Signed header '{0}' is not present in the request.")]
    SignedHeaderAbsent(String),

    /// The credential scope does not end in `aws4_request`.
    #[error("Credential should be scoped with a valid terminator: 'aws4_request'.")]
    BadTerminator,

    /// The credential scope date differs from the date part of `X-Amz-Date`.
    #[error("Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{scope_date}' != '{amz_day}', from '{amz_date}'.")]
    DateScopeMismatch {
        /// `YYYYMMDD` from the credential scope.
        scope_date: String,
        /// `YYYYMMDD` from `X-Amz-Date`.
        amz_day: String,
        /// The full `X-Amz-Date` value.
        amz_date: String,
    },

    /// The credential is scoped to another region.
    #[error("Credential should be scoped to a valid region.")]
    WrongRegion,

    /// The credential is scoped to another service.
    #[error("Credential should be scoped to correct service: '{expected}'.")]
    WrongService {
        /// The service this endpoint answers for.
        expected: String,
    },

    /// `X-Amz-Date` is older than `now - max_skew`.
    #[error("Signature expired: {amz_date} is now earlier than {earliest} ({now} - {skew}.)")]
    Expired {
        /// The request's `X-Amz-Date`.
        amz_date: String,
        /// `now - max_skew` in the same format.
        earliest: String,
        /// Server time in the same format.
        now: String,
        /// The allowed skew, e.g. `15 min` or `90 sec`.
        skew: String,
    },

    /// `X-Amz-Date` is later than `now + max_skew`.
    #[error(
        "Signature not yet current: {amz_date} is still later than {latest} ({now} + {skew}.)"
    )]
    NotYetCurrent {
        /// The request's `X-Amz-Date`.
        amz_date: String,
        /// `now + max_skew` in the same format.
        latest: String,
        /// Server time in the same format.
        now: String,
        /// The allowed skew, e.g. `15 min` or `90 sec`.
        skew: String,
    },

    /// `x-amz-content-sha256` is present but is not the SHA-256 of the body.
    #[error("The provided 'x-amz-content-sha256' header does not match what was computed.")]
    PayloadHashMismatch,

    /// `x-amz-content-sha256` is `UNSIGNED-PAYLOAD` or a `STREAMING-*` mode.
    #[error("The request payload must be signed: 'x-amz-content-sha256' must be the hex SHA-256 of the body.")]
    UnsignedPayload,

    /// The recomputed signature differs from the one provided.
    #[error("The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.")]
    SignatureMismatch,
}

impl SigV4Error {
    /// The AWS error type (`__type` / `x-amzn-ErrorType`) to answer with.
    pub fn aws_error_type(&self) -> &'static str {
        use SigV4Error::*;
        match self {
            MissingAuthorization => "MissingAuthenticationTokenException",
            MalformedAuthorization(_)
            | MissingAuthorizationParam(_)
            | UnsupportedAlgorithm
            | MalformedCredential
            | MalformedSignature
            | MalformedSignedHeaders
            | MissingDateHeader
            | MalformedDate
            | HostNotSigned
            | DateNotSigned
            | SignedHeaderAbsent(_) => "IncompleteSignatureException",
            BadTerminator
            | DateScopeMismatch { .. }
            | WrongRegion
            | WrongService { .. }
            | Expired { .. }
            | NotYetCurrent { .. }
            | PayloadHashMismatch
            | UnsignedPayload
            | SignatureMismatch => "InvalidSignatureException",
        }
    }

    /// The client-safe message (same as `Display`).
    pub fn message(&self) -> String {
        self.to_string()
    }
}
