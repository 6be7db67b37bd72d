//! AWS error responses: an `x-amzn-ErrorType` header, a JSON `{"message": ...}` body and
//! the status AWS uses for the type. Each service error maps to exactly one type.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use warrant_core::Error;

/// An error on its way to the client.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub error_type: &'static str,
    pub message: String,
    /// `reason` of a ValidationException (required there by the model).
    pub reason: Option<&'static str>,
}

impl ApiError {
    pub fn new(status: StatusCode, error_type: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            error_type,
            message: message.into(),
            reason: None,
        }
    }

    /// A ValidationException for a member that breaks a rule.
    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "ValidationException", message)
            .with_reason("FieldValidationFailed")
    }

    /// A ValidationException for a body that cannot be read.
    pub fn cannot_parse(status: StatusCode, message: impl Into<String>) -> Self {
        Self::new(status, "ValidationException", message).with_reason("CannotParse")
    }

    fn with_reason(mut self, reason: &'static str) -> Self {
        self.reason = Some(reason);
        self
    }

    pub fn forbidden(error_type: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, error_type, message)
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        let t = e.aws_type();
        match e {
            Error::Validation(m) => ApiError::validation(m),
            Error::NotFound(m) => ApiError::new(StatusCode::NOT_FOUND, t, m),
            Error::Conflict(m) => ApiError::new(StatusCode::CONFLICT, t, m),
            Error::AccessDenied(m) => ApiError::forbidden(t, m),
            Error::Throttling(m) => ApiError::new(StatusCode::TOO_MANY_REQUESTS, t, m),
            Error::Unauthorized(m) => ApiError::new(StatusCode::UNAUTHORIZED, t, m),
            Error::Upstream(m) => {
                // The message names the provider and the failure; it is for the client.
                tracing::warn!(detail = %m, "credential provider failed");
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, t, m)
            }
            Error::Unavailable(m) => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, t, m),
            Error::Internal(detail) => {
                // Logged once, here at the boundary; the client sees no internals.
                tracing::error!(%detail, "internal error");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    t,
                    "The service encountered an internal error. Try again.",
                )
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = serde_json::json!({ "message": self.message });
        if let Some(r) = self.reason {
            body["reason"] = serde_json::Value::from(r);
        }
        let body = body.to_string();
        let mut res = (self.status, body).into_response();
        let h = res.headers_mut();
        h.insert("content-type", HeaderValue::from_static("application/json"));
        h.insert(
            "x-amzn-errortype",
            HeaderValue::from_static(self.error_type),
        );
        res
    }
}
