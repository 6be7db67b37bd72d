//! warrant's outbound OAuth 2.0 client: every call to a provider goes through the
//! SSRF-guarded [`HttpClient`]; provider metadata comes from [`Discovery`] (fetched,
//! validated, cached); token requests ([`token_request`]) read every shape real vendors
//! answer in.
//!
//! Errors name the provider's origin (scheme, host, port), its `error` and
//! `error_description`, an HTTP status; never a path, a secret or a token.

mod discovery;
mod guard;
mod token;

pub use discovery::{expected_issuer, names_issuer, Discovery, Metadata};
pub use guard::{is_forbidden, origin, HttpClient, OutboundAllow, OutboundSettings, Response};
pub use token::{
    pkce_challenge, token_request, AuthMethod, Granted, ResponseQuirks, TokenRequest, TokenSet,
};

/// Why an outbound call failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum OutboundError {
    /// The SSRF guard or the scheme rule refused the destination (a configuration error).
    #[error("{0}")]
    Refused(String),
    #[error("{at} answered with a redirect (HTTP {status}); warrant does not follow redirects")]
    Redirect { at: String, status: u16 },
    #[error("{at} sent a response larger than {cap} bytes")]
    TooLarge { at: String, cap: usize },
    #[error("{at} did not answer within {secs} s")]
    Timeout { at: String, secs: f64 },
    #[error("{at} is unreachable: {detail}")]
    Unreachable { at: String, detail: String },
    /// The provider answered with an OAuth error response.
    #[error("{at} refused the token request (HTTP {status}): {error}{}", description.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
    Provider {
        at: String,
        status: u16,
        error: String,
        description: Option<String>,
    },
    /// The provider answered, but not with what the protocol asks for.
    #[error("{at} sent an invalid response: {what}")]
    BadResponse { at: String, what: String },
    /// A discovery document that cannot be used.
    #[error("the discovery document at {at} is invalid: {what}")]
    BadMetadata { at: String, what: String },
}

impl OutboundError {
    /// True when the operator's configuration, not the provider's health, is at fault.
    pub fn is_configuration(&self) -> bool {
        matches!(
            self,
            OutboundError::Refused(_) | OutboundError::BadMetadata { .. }
        )
    }
}
