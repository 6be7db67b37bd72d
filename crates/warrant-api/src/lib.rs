//! The HTTP API: AWS rest-json routes for `bedrock-agentcore-control` and
//! `bedrock-agentcore` (Identity), warrant's own routes under `/warrant/v1/`, the WAT
//! JWKS at `/.well-known/jwks.json`, Prometheus metrics at `/metrics`; SigV4
//! authentication, request ids, body limits, load shedding and AWS error mapping.
//! Business rules live in `warrant-core`; this layer only translates.

mod auth;
mod error;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::error_handling::HandleErrorLayer;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::{BoxError, Router};
use serde_json::{Map, Value};
use tower::limit::GlobalConcurrencyLimitLayer;
use tower::ServiceBuilder;
use warrant_core::service::audit::{RefusedRequest, RequestMeta};
use warrant_core::service::{Clock, Operation, Service};

pub use error::ApiError;

/// Settings of the HTTP layer.
#[derive(Clone, Debug)]
pub struct ApiSettings {
    /// Largest request body accepted; larger ones get 413.
    pub max_body_bytes: usize,
    /// How far X-Amz-Date may be from now.
    pub sigv4_max_skew: Duration,
    /// Requests served at once; beyond it, ThrottlingException.
    pub max_concurrent_requests: usize,
    /// Renders `/metrics`; `None` serves no metrics.
    pub metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
}

impl Default for ApiSettings {
    fn default() -> Self {
        Self {
            max_body_bytes: 1024 * 1024,
            sigv4_max_skew: Duration::from_secs(900),
            max_concurrent_requests: 1024,
            metrics: None,
        }
    }
}

#[derive(Clone)]
pub struct AppState {
    service: Arc<Service>,
    settings: Arc<ApiSettings>,
    clock: Arc<dyn Clock>,
}

/// The SigV4 service name both AgentCore APIs sign with.
pub const SIGNING_NAME: &str = "bedrock-agentcore";

/// The AWS routes, both APIs: path -> operation.
const AWS_ROUTES: &[(&str, Operation)] = {
    use Operation::*;
    &[
        ("/identities/CreateWorkloadIdentity", CreateWorkloadIdentity),
        ("/identities/GetWorkloadIdentity", GetWorkloadIdentity),
        ("/identities/UpdateWorkloadIdentity", UpdateWorkloadIdentity),
        ("/identities/DeleteWorkloadIdentity", DeleteWorkloadIdentity),
        ("/identities/ListWorkloadIdentities", ListWorkloadIdentities),
        (
            "/identities/CreateOauth2CredentialProvider",
            CreateOauth2CredentialProvider,
        ),
        (
            "/identities/GetOauth2CredentialProvider",
            GetOauth2CredentialProvider,
        ),
        (
            "/identities/UpdateOauth2CredentialProvider",
            UpdateOauth2CredentialProvider,
        ),
        (
            "/identities/DeleteOauth2CredentialProvider",
            DeleteOauth2CredentialProvider,
        ),
        (
            "/identities/ListOauth2CredentialProviders",
            ListOauth2CredentialProviders,
        ),
        (
            "/identities/CreateApiKeyCredentialProvider",
            CreateApiKeyCredentialProvider,
        ),
        (
            "/identities/GetApiKeyCredentialProvider",
            GetApiKeyCredentialProvider,
        ),
        (
            "/identities/UpdateApiKeyCredentialProvider",
            UpdateApiKeyCredentialProvider,
        ),
        (
            "/identities/DeleteApiKeyCredentialProvider",
            DeleteApiKeyCredentialProvider,
        ),
        (
            "/identities/ListApiKeyCredentialProviders",
            ListApiKeyCredentialProviders,
        ),
        ("/identities/get-token-vault", GetTokenVault),
        ("/identities/set-token-vault-cmk", SetTokenVaultCMK),
        (
            "/identities/reset-token-vault-key-material",
            ResetTokenVaultKeyMaterial,
        ),
        // bedrock-agentcore (the data plane)
        ("/identities/GetWorkloadAccessToken", GetWorkloadAccessToken),
        (
            "/identities/GetWorkloadAccessTokenForUserId",
            GetWorkloadAccessTokenForUserId,
        ),
        (
            "/identities/GetWorkloadAccessTokenForJWT",
            GetWorkloadAccessTokenForJWT,
        ),
        ("/identities/api-key", GetResourceApiKey),
        ("/identities/oauth2/token", GetResourceOauth2Token),
        (
            "/identities/CompleteResourceTokenAuth",
            CompleteResourceTokenAuth,
        ),
    ]
};

/// Identity operations of the model that warrant does not offer.
const UNSUPPORTED: &[&str] = &[
    "/identities/CreateConsentPortal",
    "/identities/GetConsentPortal",
    "/identities/UpdateConsentPortal",
    "/identities/DeleteConsentPortal",
    "/identities/ListConsentPortals",
    "/identities/CreatePaymentCredentialProvider",
    "/identities/GetPaymentCredentialProvider",
    "/identities/UpdatePaymentCredentialProvider",
    "/identities/DeletePaymentCredentialProvider",
    "/identities/ListPaymentCredentialProviders",
];

/// The model's success status for an operation.
fn success_status(op: Operation) -> StatusCode {
    let name = op.name();
    if name.starts_with("Create") {
        StatusCode::CREATED
    } else if name.starts_with("Delete")
        || matches!(op, Operation::TagResource | Operation::UntagResource)
    {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::OK
    }
}

/// Build the router.
pub fn router(service: Arc<Service>, settings: ApiSettings, clock: Arc<dyn Clock>) -> Router {
    let max_concurrent = settings.max_concurrent_requests;
    let state = AppState {
        service,
        settings: Arc::new(settings),
        clock,
    };
    let mut app = Router::new().route("/ping", get(ping));
    for &(path, op) in AWS_ROUTES {
        app = app.route(
            path,
            any(move |st: State<AppState>, req: Request| aws_operation(st, op, req)),
        );
    }
    app = app
        .route("/tags/{arn}", any(tags))
        .route(
            "/warrant/v1/workload-identities/{name}/allowed-providers",
            any(allowed_providers),
        )
        .route(
            "/warrant/v1/workload-identities/{name}/authorizers",
            any(authorizers),
        )
        .route("/warrant/v1/audit/events", any(audit_events))
        .route("/identities/oauth2/authorize", any(oauth2_authorize))
        .route("/identities/oauth2/callback/{id}", any(oauth2_callback))
        .route("/.well-known/jwks.json", get(jwks))
        .route("/metrics", get(metrics));
    for &path in UNSUPPORTED {
        app = app.route(path, any(unsupported));
    }
    app.fallback(unknown_operation).with_state(state).layer(
        ServiceBuilder::new()
            .layer(middleware::from_fn(request_id))
            .layer(HandleErrorLayer::new(overloaded))
            .load_shed()
            // Global: axum layers each route separately, and a per-route limit
            // would let every route have `max_concurrent` requests in flight.
            .layer(GlobalConcurrencyLimitLayer::new(max_concurrent)),
    )
}

async fn overloaded(_: BoxError) -> Response {
    ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "ThrottlingException",
        "Rate exceeded: too many requests in flight; retry with backoff",
    )
    .into_response()
}

/// The request's id, for handlers (audit events name it).
#[derive(Clone)]
struct RequestId(String);

/// The audit trail's view of a request: its id and the TCP peer's address.
fn request_meta(parts: &axum::http::request::Parts) -> RequestMeta {
    RequestMeta {
        request_id: parts
            .extensions
            .get::<RequestId>()
            .map(|r| r.0.clone())
            .unwrap_or_default(),
        source: parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0.ip().to_string())
            .unwrap_or_else(|| "unknown".into()),
        wait: None,
    }
}

/// The most a long poll may wait.
const MAX_WAIT_SECS: u64 = 30;

/// `x-warrant-wait-seconds: N` (0..=30): long-poll an unfinished authorization session.
fn long_poll(parts: &axum::http::request::Parts) -> Result<Option<Duration>, ApiError> {
    let Some(v) = parts.headers.get("x-warrant-wait-seconds") else {
        return Ok(None);
    };
    v.to_str()
        .ok()
        .filter(|s| s.len() <= 2 && s.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|s| s.parse::<u64>().ok())
        .filter(|n| *n <= MAX_WAIT_SECS)
        .map(|n| Some(Duration::from_secs(n)))
        .ok_or_else(|| {
            ApiError::validation(format!(
                "1 validation error detected: Value at 'x-warrant-wait-seconds' failed to satisfy constraint: Member must be an integer from 0 to {MAX_WAIT_SECS}"
            ))
        })
}

/// Give every response an `x-amzn-RequestId`, and log each request once.
async fn request_id(req: Request, next: Next) -> Response {
    // 122 random bits from the thread-local CSPRNG: no system call per request.
    let id = uuid::Builder::from_random_bytes(rand::random())
        .into_uuid()
        .to_string();
    // Both clones share the request's bytes (no allocation on the hot path).
    let method = req.method().clone();
    let uri = req.uri().clone();
    let path = uri.path();
    let started = Instant::now();
    let mut req = req;
    req.extensions_mut().insert(RequestId(id.clone()));
    let mut res = next.run(req).await;
    let status = res.status();
    if status.is_server_error() {
        tracing::warn!(request_id = %id, %method, %path, status = status.as_u16(), elapsed_us = started.elapsed().as_micros() as u64, "request failed");
    } else {
        tracing::debug!(request_id = %id, %method, %path, status = status.as_u16(), elapsed_us = started.elapsed().as_micros() as u64, "request");
    }
    if let Ok(v) = HeaderValue::from_str(&id) {
        res.headers_mut().insert("x-amzn-requestid", v);
    }
    res
}

/// The public keys that verify workload access tokens. Unauthenticated, like any JWKS.
async fn jwks(State(st): State<AppState>) -> Response {
    match st.service.jwks().await {
        Ok(doc) => (
            [
                ("content-type", "application/jwk-set+json"),
                ("cache-control", "public, max-age=300"),
            ],
            doc.as_str().to_owned(),
        )
            .into_response(),
        Err(e) => ApiError::from(e).into_response(),
    }
}

/// Prometheus text exposition. Counters carry no secret and no identifier of a caller.
async fn metrics(State(st): State<AppState>) -> Response {
    match &st.settings.metrics {
        Some(h) => ([("content-type", "text/plain; version=0.0.4")], h.render()).into_response(),
        None => (StatusCode::NOT_FOUND, "metrics are off").into_response(),
    }
}

async fn ping() -> Response {
    ([("content-type", "application/json")], r#"{"status":"ok"}"#).into_response()
}

async fn unsupported(req: Request) -> Response {
    let op = req
        .uri()
        .path()
        .trim_start_matches("/identities/")
        .to_string();
    ApiError::validation(format!(
        "{op} is not supported by warrant: consent portals and payment credential providers are AWS-hosted features"
    ))
    .into_response()
}

async fn unknown_operation(req: Request) -> Response {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "UnknownOperationException",
        format!("No operation at {} {}", req.method(), req.uri().path()),
    )
    .into_response()
}

/// Read the whole body, refusing more than the limit with 413.
async fn read_body(body: Body, limit: usize) -> Result<Bytes, ApiError> {
    axum::body::to_bytes(body, limit).await.map_err(|_| {
        ApiError::cannot_parse(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("Request body is larger than the limit of {limit} bytes"),
        )
    })
}

fn parse_json(bytes: &[u8]) -> Result<Value, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Null);
    }
    serde_json::from_slice(bytes).map_err(|e| {
        ApiError::cannot_parse(
            StatusCode::BAD_REQUEST,
            format!(
                "The request body is not valid JSON (line {}, column {})",
                e.line(),
                e.column()
            ),
        )
    })
}

/// Authenticate, parse, run, and answer one AWS operation.
async fn run(
    st: &AppState,
    op: Operation,
    req: Request,
    extra: impl FnOnce(&mut Map<String, Value>),
) -> Result<Response, ApiError> {
    let (parts, body) = req.into_parts();
    let bytes = read_body(body, st.settings.max_body_bytes).await?;
    let mut meta = request_meta(&parts);
    let key = match auth::authenticate(st, &parts, &bytes).await {
        Ok(k) => k,
        Err(r) => {
            // Recorded under the key's account when the request named a known key.
            let refused = RefusedRequest {
                operation: op.name(),
                access_key_id: r.access_key_id.as_deref(),
                caller: r.entry.as_ref().map(|e| &e.caller),
                error_type: r.error.error_type,
            };
            st.service.record_refused(&refused, &meta).await;
            return Err(r.error);
        }
    };
    if op == Operation::GetResourceOauth2Token {
        meta.wait = long_poll(&parts)?;
    }
    let mut input = parse_json(&bytes)?;
    if let Value::Null = input {
        input = Value::Object(Map::new());
    }
    if let Value::Object(m) = &mut input {
        extra(m);
    }
    let out = st.service.call_as(&key.caller, op, &input, &meta).await?;
    let status = success_status(op);
    if status == StatusCode::NO_CONTENT {
        return Ok(status.into_response());
    }
    Ok((
        status,
        [("content-type", "application/json")],
        out.to_string(),
    )
        .into_response())
}

async fn aws_operation(State(st): State<AppState>, op: Operation, req: Request) -> Response {
    if req.method() != Method::POST {
        return method_not_allowed(&req);
    }
    run(&st, op, req, |_| {})
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

fn method_not_allowed(req: &Request) -> Response {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "UnknownOperationException",
        format!("No operation at {} {}", req.method(), req.uri().path()),
    )
    .into_response()
}

fn decode(s: &str) -> Result<String, ApiError> {
    percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| {
            ApiError::validation("The request URI is not valid UTF-8 after percent-decoding")
        })
}

/// `/tags/{resourceArn}`: GET lists, POST tags, DELETE untags (`?tagKeys=..`).
async fn tags(State(st): State<AppState>, req: Request) -> Response {
    let op = match *req.method() {
        Method::GET => Operation::ListTagsForResource,
        Method::POST => Operation::TagResource,
        Method::DELETE => Operation::UntagResource,
        _ => return method_not_allowed(&req),
    };
    let result = async {
        let raw = req.uri().path().trim_start_matches("/tags/");
        let arn = decode(raw)?;
        let mut keys = Vec::new();
        if let Some(q) = req.uri().query() {
            for pair in q.split('&').filter(|p| !p.is_empty()) {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                if decode(k)? == "tagKeys" {
                    keys.push(Value::String(decode(v)?));
                }
            }
        }
        run(&st, op, req, move |m| {
            m.insert("resourceArn".into(), Value::String(arn));
            // `tagKeys` lives in the query string; absent there means absent.
            if op == Operation::UntagResource && !keys.is_empty() {
                m.insert("tagKeys".into(), Value::Array(keys));
            } else {
                m.remove("tagKeys");
            }
        })
        .await
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

/// `/warrant/v1/workload-identities/{name}/allowed-providers`: PUT sets the workload's
/// provider allowlist (`{"allowedProviders": [...]}`), GET reads it, DELETE removes it.
async fn allowed_providers(st: State<AppState>, req: Request) -> Response {
    use Operation::*;
    let ops = [
        GetWorkloadAllowedProviders,
        PutWorkloadAllowedProviders,
        DeleteWorkloadAllowedProviders,
    ];
    workload_setting(st, req, "/allowed-providers", ops).await
}

/// `/warrant/v1/workload-identities/{name}/authorizers`: PUT sets the JWT authorizers the
/// workload trusts (`{"authorizers": [{"customJWTAuthorizer": {...}}]}`), GET reads
/// them, DELETE removes them.
async fn authorizers(st: State<AppState>, req: Request) -> Response {
    use Operation::*;
    let ops = [
        GetWorkloadAuthorizers,
        PutWorkloadAuthorizers,
        DeleteWorkloadAuthorizers,
    ];
    workload_setting(st, req, "/authorizers", ops).await
}

/// `GET /warrant/v1/audit/events?workload=..&userId=..&provider=..&operation=..&since=..&until=..&maxResults=..&nextToken=..`:
/// the caller's account's audit events.
async fn audit_events(State(st): State<AppState>, req: Request) -> Response {
    if req.method() != Method::GET {
        return method_not_allowed(&req);
    }
    let result = async {
        let params = query_pairs(req.uri())?;
        let mut seen = std::collections::HashSet::new();
        for (k, _) in &params {
            if !seen.insert(k.clone()) {
                return Err(ApiError::validation(format!(
                    "1 validation error detected: Value at '{}' is given more than once",
                    k.chars().take(64).collect::<String>()
                )));
            }
        }
        run(&st, Operation::ListAuditEvents, req, move |m| {
            m.clear();
            for (k, v) in params {
                m.insert(k, Value::String(v));
            }
        })
        .await
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

/// The query string's pairs, percent-decoded, in order.
fn query_pairs(uri: &axum::http::Uri) -> Result<Vec<(String, String)>, ApiError> {
    axum::extract::Query::<Vec<(String, String)>>::try_from_uri(uri)
        .map(|q| q.0)
        .map_err(|_| ApiError::validation("The query string is not valid"))
}

/// Headers of every browser-facing response: nothing cached, no referrer carried on.
const BROWSER_HEADERS: [(&str, &str); 3] = [
    ("cache-control", "no-store"),
    ("referrer-policy", "no-referrer"),
    ("x-content-type-options", "nosniff"),
];

/// A browser endpoint's answer: a 303 to `location`, or an HTML page saying what went
/// wrong (the service's message, which never echoes a query value).
fn browser_answer(r: Result<String, warrant_core::Error>) -> Response {
    match r {
        Ok(location) => match HeaderValue::from_str(&location) {
            Ok(v) => {
                let mut res = (StatusCode::SEE_OTHER, BROWSER_HEADERS).into_response();
                res.headers_mut().insert("location", v);
                res
            }
            Err(_) => browser_page(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalServerException",
                "The return address cannot be sent to a browser",
            )),
        },
        Err(e) => browser_page(ApiError::from(e)),
    }
}

fn browser_page(e: ApiError) -> Response {
    let escaped: String = e
        .message
        .chars()
        .map(|c| match c {
            '<' => "&lt;".to_string(),
            '>' => "&gt;".to_string(),
            '&' => "&amp;".to_string(),
            '"' => "&quot;".to_string(),
            c => c.to_string(),
        })
        .collect();
    let html = format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>Authorization failed</title></head>\n<body><h1>Authorization failed</h1>\n<p>{escaped}</p></body></html>\n"
    );
    (
        e.status,
        [
            ("content-type", "text/html; charset=utf-8"),
            BROWSER_HEADERS[0],
            BROWSER_HEADERS[1],
            BROWSER_HEADERS[2],
        ],
        html,
    )
        .into_response()
}

/// A browser request's query (GET only).
fn browser_query(parts: &axum::http::request::Parts) -> Result<Vec<(String, String)>, ApiError> {
    if parts.method != Method::GET {
        return Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "UnknownOperationException",
            "Use GET",
        ));
    }
    query_pairs(&parts.uri)
}

/// `GET /identities/oauth2/authorize?request_uri=…`: the link an agent hands its user;
/// 303 to the provider's authorization endpoint.
async fn oauth2_authorize(State(st): State<AppState>, req: Request) -> Response {
    let (parts, _) = req.into_parts();
    let q = match browser_query(&parts) {
        Ok(q) => q,
        Err(e) => return browser_page(e),
    };
    let uris: Vec<&str> = q
        .iter()
        .filter(|(k, _)| k == "request_uri")
        .map(|(_, v)| v.as_str())
        .collect();
    let [uri] = uris[..] else {
        return browser_page(ApiError::validation(
            "The link must carry exactly one request_uri",
        ));
    };
    browser_answer(st.service.oauth2_authorize(uri).await)
}

/// `GET /identities/oauth2/callback/{id}?code=…&state=…`: the provider sends the
/// browser back here; 303 to the workload's return URL.
async fn oauth2_callback(State(st): State<AppState>, req: Request) -> Response {
    let (parts, _) = req.into_parts();
    let q = match browser_query(&parts) {
        Ok(q) => q,
        Err(e) => return browser_page(e),
    };
    let id = parts
        .uri
        .path()
        .trim_start_matches("/identities/oauth2/callback/");
    browser_answer(
        st.service
            .oauth2_callback(id, &q, &request_meta(&parts))
            .await,
    )
}

/// One of warrant's own settings of a workload, at
/// `/warrant/v1/workload-identities/{name}{suffix}`; `ops` are GET, PUT and DELETE's.
async fn workload_setting(
    State(st): State<AppState>,
    req: Request,
    suffix: &str,
    [get, put, delete]: [Operation; 3],
) -> Response {
    let op = match *req.method() {
        Method::GET => get,
        Method::PUT => put,
        Method::DELETE => delete,
        _ => return method_not_allowed(&req),
    };
    let result = async {
        let raw = req
            .uri()
            .path()
            .trim_start_matches("/warrant/v1/workload-identities/")
            .trim_end_matches(suffix);
        let name = decode(raw)?;
        run(&st, op, req, move |m| {
            m.insert("workloadName".into(), Value::String(name));
        })
        .await
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}
