//! Token requests (RFC 6749 §3.2): every grant warrant makes, over the guarded client.
//!
//! Written here rather than with the `oauth2` crate, which warrant used for the
//! client-credentials grant at first: real vendors answer in shapes that crate refuses
//! by design (GitHub form-encodes unless asked for JSON and reports errors with HTTP 200,
//! Slack nests the user's token in `authed_user`, Twitch sends `scope` as an array,
//! Salesforce omits `expires_in`, some omit `token_type`), and its typed client cannot
//! keep the extra members a vendor's API needs (`instance_url`). One function builds the
//! form, authenticates the client, and reads every shape into one [`Granted`].

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine as _;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::{origin, HttpClient, OutboundError};

/// How the client authenticates at the token endpoint (RFC 6749 §2.3.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthMethod {
    /// HTTP Basic with the form-encoded id and secret.
    Basic,
    /// `client_id` and `client_secret` in the form body.
    Post,
}

/// How a vendor's token responses deviate from RFC 6749 §5.1.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ResponseQuirks {
    /// Slack (v2): the user's token set is the `authed_user` member.
    pub nested_user_token: bool,
    /// Members of the response kept beside the token set (Salesforce `instance_url`).
    pub keep: &'static [&'static str],
}

/// A token request: the grant's parameters, and how to authenticate the client.
pub struct TokenRequest<'a> {
    pub token_endpoint: &'a str,
    pub client_id: &'a str,
    pub client_secret: &'a str,
    pub auth: AuthMethod,
    /// The grant's parameters (`grant_type` first), already checked by the caller not to
    /// collide with client authentication.
    pub params: Vec<(&'a str, &'a str)>,
    pub quirks: ResponseQuirks,
}

/// What a token endpoint granted.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenSet {
    pub access_token: String,
    pub token_type: String,
    pub expires_in: Option<Duration>,
    /// Granted scopes, space-separated, when the provider said.
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

/// A token set and the vendor members kept beside it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Granted {
    pub set: TokenSet,
    pub kept: BTreeMap<String, String>,
}

/// Make one token request. Never retried: an authorization code or a rotating refresh
/// token is spent by the first request the provider sees.
pub async fn token_request(
    http: &HttpClient,
    req: &TokenRequest<'_>,
) -> Result<Granted, OutboundError> {
    let url = http.check_url(req.token_endpoint)?;
    let at = origin(&url);
    let (headers, body) = encode(req)?;
    let res = http.post_form(url, &headers, body).await?;
    read_response(
        at,
        res.status,
        res.content_type.as_deref(),
        &res.body,
        req.quirks,
    )
}

/// The request's headers and form body, with the client authenticated.
fn encode(req: &TokenRequest<'_>) -> Result<(http::HeaderMap, Vec<u8>), OutboundError> {
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    let mut headers = http::HeaderMap::new();
    headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/x-www-form-urlencoded"),
    );
    // GitHub answers form-encoded unless asked for JSON.
    headers.insert(
        http::header::ACCEPT,
        http::HeaderValue::from_static("application/json"),
    );
    match req.auth {
        AuthMethod::Basic => {
            // RFC 6749 §2.3.1: each part form-encoded, then Basic.
            let enc =
                |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
            let raw = format!("{}:{}", enc(req.client_id), enc(req.client_secret));
            let value = format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(raw)
            );
            let mut v = http::HeaderValue::from_str(&value)
                .map_err(|_| OutboundError::Refused("the client id cannot be sent".into()))?;
            v.set_sensitive(true);
            headers.insert(http::header::AUTHORIZATION, v);
        }
        AuthMethod::Post => {
            form.append_pair("client_id", req.client_id);
            form.append_pair("client_secret", req.client_secret);
        }
    }
    for (k, v) in &req.params {
        form.append_pair(k, v);
    }
    Ok((headers, form.finish().into_bytes()))
}

/// Read a token response of any shape a vendor sends.
fn read_response(
    at: String,
    status: u16,
    content_type: Option<&str>,
    body: &[u8],
    quirks: ResponseQuirks,
) -> Result<Granted, OutboundError> {
    let bad = |what: &str| OutboundError::BadResponse {
        at: at.clone(),
        what: what.into(),
    };
    let form = content_type.is_some_and(|c| {
        c.split(';').next().is_some_and(|m| {
            m.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
    });
    let doc: Option<Map<String, Value>> = if form {
        Some(
            url::form_urlencoded::parse(body)
                .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
                .collect(),
        )
    } else {
        match serde_json::from_slice(body) {
            Ok(Value::Object(m)) => Some(m),
            _ => None,
        }
    };
    // An OAuth error, whatever the HTTP status (GitHub and Slack send errors with 200).
    if let Some(err) = doc
        .as_ref()
        .and_then(|d| d.get("error"))
        .and_then(Value::as_str)
    {
        return Err(OutboundError::Provider {
            at,
            status,
            error: clip(err, 100),
            description: doc
                .as_ref()
                .and_then(|d| d.get("error_description"))
                .and_then(Value::as_str)
                .map(|d| clip(d, 300)),
        });
    }
    if !(200..300).contains(&status) {
        return Err(bad(&format!("HTTP {status}")));
    }
    let Some(doc) = doc else {
        return Err(bad("the body is not JSON"));
    };
    if doc.get("ok") == Some(&Value::Bool(false)) {
        return Err(OutboundError::Provider {
            at,
            status,
            error: "unknown_error".into(),
            description: None,
        });
    }
    let tokens = if quirks.nested_user_token {
        match doc.get("authed_user") {
            Some(Value::Object(m)) => m,
            _ => return Err(bad("the token response has no authed_user")),
        }
    } else {
        &doc
    };
    let access_token = match tokens.get("access_token") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        _ => return Err(bad("the token response has no access_token")),
    };
    let token_type = match tokens.get("token_type") {
        None | Some(Value::Null) => "Bearer".to_string(),
        Some(Value::String(s)) if !s.is_empty() && s.len() <= 64 => s.clone(),
        Some(_) => return Err(bad("the token response has an invalid token_type")),
    };
    let expires_in = match tokens.get("expires_in") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => Some(
            n.as_u64()
                .ok_or_else(|| bad("the token response has an invalid expires_in"))?,
        ),
        Some(Value::String(s)) => Some(
            s.parse::<u64>()
                .map_err(|_| bad("the token response has an invalid expires_in"))?,
        ),
        Some(_) => return Err(bad("the token response has an invalid expires_in")),
    }
    .map(Duration::from_secs);
    // A string (space- or comma-separated: GitHub uses commas) or an array (Twitch).
    let scope = match tokens.get("scope") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(normalize_scopes(s.split([' ', ',']))),
        Some(Value::Array(a)) => Some(normalize_scopes(a.iter().filter_map(Value::as_str))),
        Some(_) => return Err(bad("the token response has an invalid scope")),
    };
    let refresh_token = match tokens.get("refresh_token") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.is_empty() => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(bad("the token response has an invalid refresh_token")),
    };
    let kept = quirks
        .keep
        .iter()
        .filter_map(|k| match doc.get(*k) {
            Some(Value::String(s)) => Some((k.to_string(), clip(s, 2048))),
            _ => None,
        })
        .collect();
    Ok(Granted {
        set: TokenSet {
            access_token,
            token_type,
            expires_in,
            scope,
            refresh_token,
        },
        kept,
    })
}

fn normalize_scopes<'a>(it: impl Iterator<Item = &'a str>) -> String {
    it.map(str::trim)
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The S256 challenge of a PKCE verifier (RFC 7636 §4.2); warrant's verifiers are
/// 43 characters from 256 random bits (`warrant_crypto::random_token(32)`).
pub fn pkce_challenge(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// At most `max` characters of provider-supplied text, without control characters.
fn clip(s: &str, max: usize) -> String {
    s.chars().filter(|c| !c.is_control()).take(max).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(ct: Option<&str>, body: &str, q: ResponseQuirks) -> Result<Granted, OutboundError> {
        read_response("http://p".into(), 200, ct, body.as_bytes(), q)
    }

    #[test]
    fn reads_the_shapes_vendors_send() {
        let g = read(
            Some("application/x-www-form-urlencoded; charset=utf-8"),
            "access_token=gho_x&scope=repo%2Cgist&token_type=bearer",
            ResponseQuirks::default(),
        )
        .unwrap();
        assert_eq!(g.set.access_token, "gho_x");
        assert_eq!(g.set.scope.as_deref(), Some("repo gist"));
        let slack = ResponseQuirks {
            nested_user_token: true,
            keep: &[],
        };
        let g = read(
            Some("application/json"),
            r#"{"ok":true,"access_token":"xoxb","authed_user":{"id":"U1","access_token":"xoxp","token_type":"user","scope":"chat:write","refresh_token":"xoxe","expires_in":43200}}"#,
            slack,
        )
        .unwrap();
        assert_eq!(g.set.access_token, "xoxp");
        assert_eq!(g.set.refresh_token.as_deref(), Some("xoxe"));
        assert_eq!(g.set.expires_in, Some(Duration::from_secs(43200)));
        let e = read(None, r#"{"ok":false,"error":"invalid_code"}"#, slack).unwrap_err();
        assert!(matches!(e, OutboundError::Provider { ref error, .. } if error == "invalid_code"));
        let sf = ResponseQuirks {
            nested_user_token: false,
            keep: &["instance_url"],
        };
        let g = read(
            None,
            r#"{"access_token":"00D","instance_url":"https://x.my.salesforce.com","token_type":"Bearer"}"#,
            sf,
        )
        .unwrap();
        assert_eq!(g.set.expires_in, None);
        assert_eq!(g.kept["instance_url"], "https://x.my.salesforce.com");
        let g = read(
            None,
            r#"{"access_token":"t","scope":["a","b"],"expires_in":"60"}"#,
            ResponseQuirks::default(),
        )
        .unwrap();
        assert_eq!(g.set.scope.as_deref(), Some("a b"));
        assert_eq!(g.set.token_type, "Bearer");
        assert_eq!(g.set.expires_in, Some(Duration::from_secs(60)));
    }

    #[test]
    fn refuses_what_is_not_a_token_response() {
        for body in [
            "not json",
            "[]",
            r#"{"token_type":"Bearer"}"#,
            r#"{"access_token":""}"#,
            r#"{"access_token":"t","expires_in":-1}"#,
            r#"{"access_token":"t","refresh_token":5}"#,
        ] {
            assert!(
                read(None, body, ResponseQuirks::default()).is_err(),
                "{body}"
            );
        }
        let e = read_response(
            "http://p".into(),
            400,
            None,
            br#"{"error":"invalid_grant","error_description":"gone\n"}"#,
            ResponseQuirks::default(),
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "http://p refused the token request (HTTP 400): invalid_grant: gone"
        );
        // RFC 7636 appendix B.
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }
}
