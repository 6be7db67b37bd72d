//! Provider metadata from OpenID Connect Discovery or RFC 8414 documents: fetched
//! through the guard, validated (the issuer must match the URL it was fetched from),
//! and cached for a TTL. When a refresh fails, the last good document keeps serving
//! for up to `stale_for`, so a provider's brief outage does not stop cached flows.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::{origin, HttpClient, OutboundError};

/// The members of a discovery document warrant uses.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct Metadata {
    pub issuer: String,
    #[serde(default)]
    pub authorization_endpoint: Option<String>,
    #[serde(default)]
    pub token_endpoint: Option<String>,
    #[serde(default)]
    pub jwks_uri: Option<String>,
    #[serde(default)]
    pub token_endpoint_auth_methods_supported: Option<Vec<String>>,
    /// RFC 9207: the server sends `iss` with every authorization response.
    /// (`Option`: an explicit `null` must not fail the whole document.)
    #[serde(default)]
    pub authorization_response_iss_parameter_supported: Option<bool>,
}

/// The two parts of a discovery URL around its well-known name:
/// `{prefix}/.well-known/{name}{suffix}` names the issuer `{prefix}{suffix}` (OIDC
/// Discovery §4 and RFC 8414 §3).
fn issuer_parts(discovery_url: &str) -> Option<(&str, &str)> {
    [
        "/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server",
    ]
    .iter()
    .find_map(|name| discovery_url.split_once(name))
}

/// The issuer a discovery URL belongs to; `None` when the URL is not a discovery URL.
pub fn expected_issuer(discovery_url: &str) -> Option<String> {
    issuer_parts(discovery_url).map(|(prefix, suffix)| format!("{prefix}{suffix}"))
}

/// Whether `iss` is the issuer `discovery_url` belongs to, a trailing slash aside
/// (without building the issuer: this runs for every user token).
pub fn names_issuer(discovery_url: &str, iss: &str) -> bool {
    let Some((prefix, suffix)) = issuer_parts(discovery_url) else {
        return false;
    };
    let (prefix, suffix) = if suffix.is_empty() {
        (trim_slash(prefix), suffix)
    } else {
        (prefix, trim_slash(suffix))
    };
    trim_slash(iss).strip_prefix(prefix) == Some(suffix)
}

fn trim_slash(s: &str) -> &str {
    s.strip_suffix('/').unwrap_or(s)
}

struct Cached {
    fetched: Instant,
    metadata: Arc<Metadata>,
    /// The last failed refresh, if the newest attempt failed.
    failed: Option<Instant>,
}

/// After a failed refresh, the last good document is served without another attempt
/// for this long (at most the TTL), so an unreachable provider costs one timeout per
/// interval, not one per request.
const RETRY_AFTER: Duration = Duration::from_secs(30);

pub struct Discovery {
    http: HttpClient,
    ttl: Duration,
    stale_for: Duration,
    cache: Mutex<HashMap<String, Cached>>,
}

impl Discovery {
    pub fn new(http: HttpClient, ttl: Duration, stale_for: Duration) -> Self {
        Self {
            http,
            ttl,
            stale_for,
            cache: Mutex::new(HashMap::new()),
        }
    }

    fn cached(&self, url: &str, max_age: Duration) -> Option<Arc<Metadata>> {
        let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        cache
            .get(url)
            .filter(|c| c.fetched.elapsed() < max_age)
            .map(|c| c.metadata.clone())
    }

    /// A stale document whose refresh failed moments ago.
    fn backing_off(&self, url: &str) -> Option<Arc<Metadata>> {
        let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        let retry = RETRY_AFTER.min(self.ttl);
        cache
            .get(url)
            .filter(|c| c.fetched.elapsed() < self.stale_for)
            .filter(|c| c.failed.is_some_and(|f| f.elapsed() < retry))
            .map(|c| c.metadata.clone())
    }

    /// The metadata behind `url`, from the cache when fresh.
    pub async fn metadata(&self, url: &str) -> Result<Arc<Metadata>, OutboundError> {
        if let Some(m) = self.cached(url, self.ttl) {
            return Ok(m);
        }
        if let Some(m) = self.backing_off(url) {
            return Ok(m);
        }
        match self.fetch(url).await {
            Ok(m) => {
                let m = Arc::new(m);
                let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
                if cache.len() >= 10_000 {
                    cache.clear();
                }
                cache.insert(
                    url.to_string(),
                    Cached {
                        fetched: Instant::now(),
                        metadata: m.clone(),
                        failed: None,
                    },
                );
                Ok(m)
            }
            Err(e) if !e.is_configuration() => match self.cached(url, self.stale_for) {
                Some(stale) => {
                    tracing::warn!(error = %e, "discovery refresh failed; serving the last good document");
                    let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
                    if let Some(c) = cache.get_mut(url) {
                        c.failed = Some(Instant::now());
                    }
                    Ok(stale)
                }
                None => Err(e),
            },
            Err(e) => Err(e),
        }
    }

    async fn fetch(&self, url: &str) -> Result<Metadata, OutboundError> {
        let parsed = self.http.check_url(url)?;
        let at = origin(&parsed);
        let bad = |what: &str| OutboundError::BadMetadata {
            at: at.clone(),
            what: what.to_string(),
        };
        let expected = expected_issuer(url).ok_or_else(|| bad("the URL is not a discovery URL"))?;
        let res = self.http.get(parsed).await?;
        if res.status != 200 {
            return Err(bad(&format!("HTTP {}", res.status)));
        }
        let m: Metadata = serde_json::from_slice(&res.body)
            .map_err(|_| bad("it is not a JSON object with an issuer"))?;
        if !names_issuer(url, &m.issuer) {
            return Err(bad(&format!(
                "its issuer {:?} does not match the URL's issuer {expected:?}",
                m.issuer
            )));
        }
        for (name, v) in [
            ("token_endpoint", &m.token_endpoint),
            ("authorization_endpoint", &m.authorization_endpoint),
        ] {
            if let Some(v) = v {
                if url::Url::parse(v).is_err() {
                    return Err(bad(&format!("{name} is not a URL")));
                }
            }
        }
        Ok(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_issuer_agrees_with_expected_issuer() {
        for (url, iss, yes) in [
            (
                "https://idp.example/.well-known/openid-configuration",
                "https://idp.example",
                true,
            ),
            (
                "https://idp.example/.well-known/openid-configuration",
                "https://idp.example/",
                true,
            ),
            (
                "https://idp.example/t/.well-known/openid-configuration",
                "https://idp.example/t",
                true,
            ),
            (
                "https://idp.example/.well-known/oauth-authorization-server/t1",
                "https://idp.example/t1",
                true,
            ),
            (
                "https://idp.example/.well-known/openid-configuration",
                "https://idp.example.evil",
                false,
            ),
            (
                "https://idp.example/.well-known/openid-configuration",
                "https://idp.exampl",
                false,
            ),
            ("https://idp.example/token", "https://idp.example", false),
        ] {
            assert_eq!(names_issuer(url, iss), yes, "{url} {iss}");
        }
    }

    #[test]
    fn issuer_of_discovery_urls() {
        assert_eq!(
            expected_issuer("https://idp.example/.well-known/openid-configuration").as_deref(),
            Some("https://idp.example")
        );
        assert_eq!(
            expected_issuer("https://idp.example/tenant/.well-known/openid-configuration")
                .as_deref(),
            Some("https://idp.example/tenant")
        );
        assert_eq!(
            expected_issuer("https://idp.example/.well-known/oauth-authorization-server/t1")
                .as_deref(),
            Some("https://idp.example/t1")
        );
        assert_eq!(expected_issuer("https://idp.example/token"), None);
    }
}
