//! Token requests, made with the `oauth2` crate over the guarded client.

use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::Duration;

use oauth2::basic::BasicClient;
use oauth2::{
    AsyncHttpClient, AuthType, ClientId, ClientSecret, HttpRequest, HttpResponse,
    RequestTokenError, Scope, TokenResponse, TokenUrl,
};

use crate::{origin, HttpClient, OutboundError};

/// How the client authenticates at the token endpoint (RFC 6749 §2.3.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthMethod {
    /// HTTP Basic with the form-encoded id and secret.
    Basic,
    /// `client_id` and `client_secret` in the form body.
    Post,
}

/// A client-credentials grant request.
pub struct ClientCredentials<'a> {
    pub token_endpoint: &'a str,
    pub client_id: &'a str,
    pub client_secret: &'a str,
    pub auth: AuthMethod,
    pub scopes: &'a [String],
    /// RFC 8707 `resource` parameters.
    pub resources: &'a [String],
    /// `audience` parameters.
    pub audiences: &'a [String],
    /// Further parameters, already checked not to collide with the grant's own.
    pub extra: &'a [(String, String)],
}

/// What a token endpoint granted.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenSet {
    pub access_token: String,
    pub token_type: String,
    pub expires_in: Option<Duration>,
    pub scope: Option<String>,
    pub refresh_token: Option<String>,
}

impl std::fmt::Debug for TokenSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSet")
            .field("token_type", &self.token_type)
            .field("expires_in", &self.expires_in)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

/// Run the client-credentials grant (RFC 6749 §4.4).
pub async fn client_credentials(
    http: &HttpClient,
    req: &ClientCredentials<'_>,
) -> Result<TokenSet, OutboundError> {
    let url = http.check_url(req.token_endpoint)?;
    let at = origin(&url);
    let client = BasicClient::new(ClientId::new(req.client_id.to_string()))
        .set_client_secret(ClientSecret::new(req.client_secret.to_string()))
        .set_token_uri(TokenUrl::from_url(url.clone()))
        .set_auth_type(match req.auth {
            AuthMethod::Basic => AuthType::BasicAuth,
            AuthMethod::Post => AuthType::RequestBody,
        });
    let mut grant = client
        .exchange_client_credentials()
        .add_scopes(req.scopes.iter().map(|s| Scope::new(s.clone())));
    for r in req.resources {
        grant = grant.add_extra_param("resource", r.clone());
    }
    for a in req.audiences {
        grant = grant.add_extra_param("audience", a.clone());
    }
    for (k, v) in req.extra {
        grant = grant.add_extra_param(k.clone(), v.clone());
    }
    let send = Sender {
        http,
        url: url.clone(),
        seen: Mutex::new(None),
    };
    let seen = &send.seen;
    match grant.request_async(&send).await {
        Ok(t) => Ok(TokenSet {
            access_token: t.access_token().secret().clone(),
            token_type: t.token_type().as_ref().to_string(),
            expires_in: t.expires_in(),
            scope: t
                .scopes()
                .map(|s| s.iter().map(|x| x.as_str()).collect::<Vec<_>>().join(" ")),
            refresh_token: t.refresh_token().map(|r| r.secret().clone()),
        }),
        Err(RequestTokenError::Request(e)) => Err(e),
        Err(RequestTokenError::ServerResponse(e)) => {
            let status = seen
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .as_ref()
                .map_or(400, |s| s.0);
            Err(OutboundError::Provider {
                at,
                status,
                error: e.error().as_ref().to_string(),
                description: e.error_description().map(|d| clip(d, 300)),
            })
        }
        Err(_) => {
            let seen = seen.lock().unwrap_or_else(|p| p.into_inner()).take();
            Err(explain(at, seen))
        }
    }
}

/// The `oauth2` crate's HTTP client: the guarded client, remembering what the
/// provider sent so errors the crate reports without it can be explained.
struct Sender<'a> {
    http: &'a HttpClient,
    url: url::Url,
    seen: Mutex<Option<(u16, Vec<u8>)>>,
}

impl<'c> AsyncHttpClient<'c> for Sender<'_> {
    type Error = OutboundError;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, OutboundError>> + Send + 'c>>;

    fn call(&'c self, r: HttpRequest) -> Self::Future {
        Box::pin(async move {
            let (parts, body) = r.into_parts();
            let res = self
                .http
                .post_form(self.url.clone(), &parts.headers, body)
                .await?;
            *self.seen.lock().unwrap_or_else(|p| p.into_inner()) =
                Some((res.status, res.body.clone()));
            // The crate insists on JSON; providers that say `text/json` or nothing
            // still get their body parsed.
            http::Response::builder()
                .status(res.status)
                .header("content-type", "application/json")
                .body(res.body)
                .map_err(|_| OutboundError::BadResponse {
                    at: origin(&self.url),
                    what: "an unreadable HTTP response".into(),
                })
        })
    }
}

/// Describe a response the crate could not use, without echoing it (it may hold a token).
fn explain(at: String, seen: Option<(u16, Vec<u8>)>) -> OutboundError {
    let Some((status, body)) = seen else {
        return OutboundError::BadResponse {
            at,
            what: "no response".into(),
        };
    };
    let json: Option<serde_json::Value> = serde_json::from_slice(&body).ok();
    // Some providers (GitHub) send OAuth errors with HTTP 200.
    if let Some(err) = json
        .as_ref()
        .and_then(|j| j.get("error"))
        .and_then(|e| e.as_str())
    {
        return OutboundError::Provider {
            at,
            status,
            error: clip(err, 100),
            description: json
                .as_ref()
                .and_then(|j| j.get("error_description"))
                .and_then(|d| d.as_str())
                .map(|d| clip(d, 300)),
        };
    }
    let what = if !(200..300).contains(&status) {
        format!("HTTP {status}")
    } else {
        match &json {
            None => "the body is not JSON".into(),
            Some(serde_json::Value::Object(m)) if !m.contains_key("access_token") => {
                "the token response has no access_token".into()
            }
            Some(serde_json::Value::Object(m)) if !m.contains_key("token_type") => {
                "the token response has no token_type".into()
            }
            Some(_) => "the token response is malformed".into(),
        }
    };
    OutboundError::BadResponse { at, what }
}

/// At most `max` characters of provider-supplied text, without control characters.
fn clip(s: &str, max: usize) -> String {
    s.chars().filter(|c| !c.is_control()).take(max).collect()
}
