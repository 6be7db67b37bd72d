//! The service's error: one variant per AWS error the API layer can answer with.
//! Messages name the field and the rule; they never carry a secret, a path or SQL.

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    #[error("{0}")]
    Validation(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    AccessDenied(String),
    #[error("{0}")]
    Throttling(String),
    /// The caller's bearer token (a workload access token) is not valid.
    #[error("{0}")]
    Unauthorized(String),
    /// A credential provider failed (timeout, 5xx, a response that breaks the
    /// protocol). The text names the provider and what went wrong, never a secret.
    #[error("{0}")]
    Upstream(String),
    /// A part of warrant that must succeed for the request to (the audit trail) failed;
    /// nothing was released or acknowledged. The text is for the client.
    #[error("{0}")]
    Unavailable(String),
    /// Something failed inside warrant. The text goes to the operator's log only.
    #[error("internal error: {0}")]
    Internal(String),
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn validation(msg: impl Into<String>) -> Self {
        Error::Validation(msg.into())
    }

    /// The AWS error type the API answers with.
    pub fn aws_type(&self) -> &'static str {
        match self {
            Error::Validation(_) => "ValidationException",
            Error::NotFound(_) => "ResourceNotFoundException",
            Error::Conflict(_) => "ConflictException",
            Error::AccessDenied(_) => "AccessDeniedException",
            Error::Throttling(_) => "ThrottlingException",
            Error::Unauthorized(_) => "UnauthorizedException",
            Error::Upstream(_) | Error::Unavailable(_) | Error::Internal(_) => {
                "InternalServerException"
            }
        }
    }
}

impl From<warrant_store::StoreError> for Error {
    fn from(e: warrant_store::StoreError) -> Self {
        match e {
            warrant_store::StoreError::Conflict => Error::Conflict("resource already exists".into()),
            warrant_store::StoreError::TooManyTags => {
                Error::Validation("Value at 'tags' failed to satisfy constraint: a resource can carry at most 50 tags".into())
            }
            warrant_store::StoreError::Database(d) => Error::Internal(d),
        }
    }
}

impl From<warrant_crypto::CryptoError> for Error {
    fn from(e: warrant_crypto::CryptoError) -> Self {
        Error::Internal(format!("sealed value: {e}"))
    }
}
