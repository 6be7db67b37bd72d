//! SigV4 authentication of API callers, against the access keys warrant keeps.

use axum::http::request::Parts;
use axum::http::StatusCode;
use std::sync::Arc;

use warrant_core::service::AuthEntry;
use warrant_inbound::sigv4::{self, Expectation, RequestParts, SigV4Error};

use crate::{ApiError, AppState, SIGNING_NAME};

fn sig_error(e: SigV4Error) -> ApiError {
    let t = e.aws_error_type();
    let status = StatusCode::FORBIDDEN;
    ApiError::new(status, t, e.to_string())
}

/// A request SigV4 refused, with what the audit trail may say of it: the access key id
/// it named and the key's entry, when it named a known key.
pub(crate) struct Refused {
    pub error: ApiError,
    pub access_key_id: Option<String>,
    pub entry: Option<Arc<AuthEntry>>,
}

/// Verify the request's SigV4 signature and return the access key it proves.
pub(crate) async fn authenticate(
    st: &AppState,
    parts: &Parts,
    body: &[u8],
) -> Result<Arc<AuthEntry>, Refused> {
    let refused = |error: ApiError, id: Option<&str>, entry: Option<&Arc<AuthEntry>>| Refused {
        error,
        access_key_id: id.map(str::to_string),
        entry: entry.cloned(),
    };
    let auth = sigv4::parse_authorization(&parts.headers)
        .map_err(|e| refused(sig_error(e), None, None))?;
    let id = Some(auth.access_key_id.as_str());
    let req = RequestParts {
        method: parts.method.as_str(),
        raw_path: parts.uri.path(),
        raw_query: parts.uri.query(),
        headers: &parts.headers,
        body,
    };
    let exp = Expectation {
        region: &st.service.settings().region,
        service: SIGNING_NAME,
        max_skew_secs: st.settings.sigv4_max_skew.as_secs(),
        now_unix: st.clock.now_millis().div_euclid(1000),
    };
    let found = st.service.caller_for_key(&auth.access_key_id).await;
    let entry = match found {
        Ok(e) => e,
        Err(e) => return Err(refused(e.into(), id, None)),
    };
    sigv4::check_request(&auth, &req, &exp)
        .map_err(|e| refused(sig_error(e), id, entry.as_ref()))?;
    let Some(entry) = entry else {
        return Err(refused(
            ApiError::forbidden(
                "UnrecognizedClientException",
                "The security token included in the request is invalid.",
            ),
            id,
            None,
        ));
    };
    let key = entry.signing_key(&auth.date, &auth.region, &auth.service);
    sigv4::verify_signature(&auth, &req, &key)
        .map_err(|e| refused(sig_error(e), id, Some(&entry)))?;
    Ok(entry)
}
