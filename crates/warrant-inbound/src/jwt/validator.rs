//! The whole validation of a user token against a workload's authorizers, with the
//! issuers' discovery documents and JWKS cached.
//!
//! JWKS caching, per `jwks_uri`:
//! - keys are used for `jwks_ttl`, then refetched;
//! - a token whose `kid` is unknown refetches at once, but at most once per
//!   `refetch_interval` (so a stream of forged `kid`s cannot hammer the issuer), and a
//!   failed fetch is not retried sooner either;
//! - when refreshes fail, the last good keys keep validating for `max_stale` past their
//!   TTL, then requests fail closed ([`Failure::Unavailable`]);
//! - concurrent fetches of one JWKS are one fetch: the others wait for it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use warrant_oauth::{names_issuer, origin, Discovery, HttpClient};

use super::keys::{verify_signature, KeySet};
use super::policy::{check_times, subject, JwtAuthorizer, VerifiedUser};
use super::{parse, Parsed, Refusal};

#[derive(Debug, Clone)]
pub struct ValidatorSettings {
    /// Allowed clock difference for `exp`, `nbf` and `iat`, in seconds.
    pub clock_skew_secs: i64,
    pub jwks_ttl: Duration,
    pub refetch_interval: Duration,
    pub max_stale: Duration,
}

impl Default for ValidatorSettings {
    fn default() -> Self {
        Self {
            clock_skew_secs: 60,
            jwks_ttl: Duration::from_secs(600),
            refetch_interval: Duration::from_secs(30),
            max_stale: Duration::from_secs(86_400),
        }
    }
}

/// Why a token was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The token fails a check (the caller's problem: 401).
    Refused(Refusal),
    /// The token could not be checked: the issuer's discovery document or keys could
    /// not be had (fail closed: no token is accepted).
    Unavailable(String),
}

impl From<Refusal> for Failure {
    fn from(r: Refusal) -> Self {
        Failure::Refused(r)
    }
}

#[derive(Clone)]
struct JwksState {
    /// The last good keys and when they were fetched.
    keys: Option<(Arc<KeySet>, Instant)>,
    /// The last fetch attempt, good or not.
    attempted: Instant,
    last_error: Option<String>,
}

pub struct Validator {
    http: HttpClient,
    discovery: Arc<Discovery>,
    settings: ValidatorSettings,
    jwks: Mutex<HashMap<String, JwksState>>,
    fetching: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// Bound on the number of JWKS URLs remembered (entries are re-fetchable).
const MAX_JWKS: usize = 4_096;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Validator {
    pub fn new(http: HttpClient, discovery: Arc<Discovery>, settings: ValidatorSettings) -> Self {
        Self {
            http,
            discovery,
            settings,
            jwks: Mutex::new(HashMap::new()),
            fetching: Mutex::new(HashMap::new()),
        }
    }

    /// Validate `token` against `authorizers` (those of the workload named `workload`),
    /// at `now` (Unix seconds).
    /// The authorizers whose discovery URL names the token's `iss` are tried; the token
    /// is accepted when one accepts it, else the first failure is returned.
    pub async fn validate<A: AsRef<JwtAuthorizer>>(
        &self,
        token: &str,
        authorizers: &[A],
        now: i64,
        workload: &str,
    ) -> Result<VerifiedUser, Failure> {
        let t = parse(token)?;
        let iss = match t.claims.get("iss") {
            Some(Value::String(s)) if !s.is_empty() => s.as_str(),
            _ => return Err(Refusal("it has no issuer (iss) claim".into()).into()),
        };
        let mut first = None;
        for a in authorizers
            .iter()
            .map(AsRef::as_ref)
            .filter(|a| names_issuer(&a.discovery_url, iss))
        {
            match self.validate_with(&t, iss, a, now).await {
                Ok(u) => return Ok(u),
                Err(e) => {
                    first.get_or_insert(e);
                }
            }
        }
        Err(first.unwrap_or_else(|| {
            Refusal(format!(
                "its issuer is not trusted by workload identity {workload}"
            ))
            .into()
        }))
    }

    async fn validate_with(
        &self,
        t: &Parsed<'_>,
        iss: &str,
        a: &JwtAuthorizer,
        now: i64,
    ) -> Result<VerifiedUser, Failure> {
        let meta = self
            .discovery
            .metadata(&a.discovery_url)
            .await
            .map_err(|e| {
                Failure::Unavailable(format!(
                    "the issuer's discovery document could not be used: {e}"
                ))
            })?;
        if meta.issuer != iss {
            return Err(Refusal(
                "its issuer (iss) does not equal, byte for byte, the issuer of the discovery document"
                    .into(),
            )
            .into());
        }
        let jwks_uri = meta.jwks_uri.as_deref().ok_or_else(|| {
            Failure::Unavailable(format!(
                "the discovery document of {} has no jwks_uri",
                meta.issuer
            ))
        })?;
        self.check_signature(jwks_uri, t).await?;
        check_times(&t.claims, now, self.settings.clock_skew_secs)?;
        let sub = subject(&t.claims)?;
        a.check_claims(&t.claims)?;
        Ok(VerifiedUser {
            iss: iss.to_string(),
            sub: sub.to_string(),
        })
    }

    fn state(&self, uri: &str) -> Option<JwksState> {
        lock(&self.jwks).get(uri).cloned()
    }

    fn may_fetch(&self, s: Option<&JwksState>) -> bool {
        s.is_none_or(|s| s.attempted.elapsed() >= self.settings.refetch_interval)
    }

    /// The keys still usable (fresh, or stale within `max_stale`).
    fn usable(&self, s: Option<&JwksState>) -> Option<Arc<KeySet>> {
        let (keys, at) = s?.keys.as_ref()?;
        (at.elapsed() < self.settings.jwks_ttl + self.settings.max_stale).then(|| keys.clone())
    }

    async fn check_signature(&self, uri: &str, t: &Parsed<'_>) -> Result<(), Failure> {
        let mut st = self.state(uri);
        let fresh = st
            .as_ref()
            .and_then(|s| s.keys.as_ref())
            .is_some_and(|(_, at)| at.elapsed() < self.settings.jwks_ttl);
        let mut refreshed = false;
        if !fresh && self.may_fetch(st.as_ref()) {
            st = Some(self.refresh(uri).await);
            refreshed = true;
        }
        let unavailable = |s: Option<&JwksState>| {
            Failure::Unavailable(format!(
                "the issuer's signing keys could not be fetched{}",
                s.and_then(|s| s.last_error.as_deref())
                    .map(|e| format!(": {e}"))
                    .unwrap_or_default()
            ))
        };
        let keys = self
            .usable(st.as_ref())
            .ok_or_else(|| unavailable(st.as_ref()))?;
        if let Some(k) = keys.find(t)? {
            return Ok(verify_signature(t, k)?);
        }
        // An unknown kid: the issuer may have rotated its keys. Refetch, once per interval.
        if !refreshed && self.may_fetch(st.as_ref()) {
            let st = self.refresh(uri).await;
            if let Some(keys) = self.usable(Some(&st)) {
                if let Some(k) = keys.find(t)? {
                    return Ok(verify_signature(t, k)?);
                }
            }
        }
        Err(Refusal("its key id (kid) is not one of the issuer's signing keys".into()).into())
    }

    /// Fetch the JWKS (one fetch at a time per URL; a request that waited for another's
    /// fetch uses its result) and record the outcome.
    async fn refresh(&self, uri: &str) -> JwksState {
        let started = Instant::now();
        let gate = lock(&self.fetching)
            .entry(uri.to_string())
            .or_default()
            .clone();
        let _held = gate.lock().await;
        if let Some(s) = self.state(uri) {
            if s.attempted >= started {
                return s; // fetched while this request waited
            }
        }
        // Mark the attempt before the network call: requests arriving meanwhile keep
        // using the keys they have instead of queueing behind a slow issuer.
        if let Some(s) = lock(&self.jwks).get_mut(uri) {
            s.attempted = Instant::now();
        }
        let got = self.fetch(uri).await;
        metrics::counter!("warrant_jwks_fetches_total", "outcome" => if got.is_ok() { "ok" } else { "error" })
            .increment(1);
        let mut map = lock(&self.jwks);
        let prev = map.get(uri).and_then(|s| s.keys.clone());
        let now = Instant::now();
        let st = match got {
            Ok(keys) => JwksState {
                keys: Some((Arc::new(keys), now)),
                attempted: now,
                last_error: None,
            },
            Err(e) => {
                tracing::warn!(error = %e, "fetching an issuer's JWKS failed");
                JwksState {
                    keys: prev,
                    attempted: now,
                    last_error: Some(e),
                }
            }
        };
        if map.len() >= MAX_JWKS && !map.contains_key(uri) {
            map.clear();
        }
        map.insert(uri.to_string(), st.clone());
        drop(map);
        if lock(&self.fetching).len() >= MAX_JWKS {
            lock(&self.fetching).clear();
        }
        st
    }

    async fn fetch(&self, uri: &str) -> Result<KeySet, String> {
        let url = self.http.check_url(uri).map_err(|e| e.to_string())?;
        let at = origin(&url);
        let res = self.http.get(url).await.map_err(|e| e.to_string())?;
        if res.status != 200 {
            return Err(format!("the JWKS at {at} answered HTTP {}", res.status));
        }
        KeySet::parse(&res.body).map_err(|e| format!("the JWKS at {at} is unusable: {e}"))
    }
}
