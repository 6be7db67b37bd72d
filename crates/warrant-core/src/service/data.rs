//! The data-plane operations of `bedrock-agentcore` (Identity): workload access tokens,
//! API keys, and OAuth 2.0 client-credentials (M2M) tokens.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use warrant_crypto::{Aad, ExposeSecret, SecretString};
use warrant_inbound::jwt::policy::VerifiedUser;
use warrant_inbound::jwt::validator::Failure;
use warrant_inbound::wat::{self, UserKey, WatClaims, WatError};
use warrant_oauth::OutboundError;
use warrant_store::{Kind, ResourceRecord, VaultEntry};

use super::control::{
    body, Oauth2Body, Operation, WorkloadBody, PROVIDER_NAME, RETURN_URL, WORKLOAD_NAME,
};
use super::federation::UserRequest;
use super::flight::Flights;
use super::{audit, Caller, Service};
use crate::domain::input::{unsupported, violation, Input, StrRule};
use crate::error::{Error, Result};

const TOKEN: StrRule = StrRule::len(1, wat::MAX_LEN);
const USER_ID: StrRule = StrRule::len(1, 128);
/// The model's limit; the JWT parser has its own, smaller one (`warrant_inbound::jwt::MAX_LEN`) and says
/// why a token is refused, so the model's loose pattern is not applied here.
const USER_TOKEN: StrRule = StrRule::len(1, 131_072);
const SCOPE: StrRule = StrRule::len(1, 128);
const RESOURCE: StrRule = StrRule::len(1, 2048);
const PARAM_KEY: StrRule = StrRule::pattern(1, 256, r"[a-zA-Z0-9\-_\.]+");
const PARAM_VALUE: StrRule = StrRule::len(1, 2048);
pub(super) const SESSION_URI: StrRule = StrRule::pattern(
    1,
    1024,
    r"urn:ietf:params:oauth:request_uri:[a-zA-Z0-9-._~]+",
);
const STATE: StrRule = StrRule::len(1, 4096);
/// Parameters a caller may not set through `customParameters`: the grant's own, and
/// client authentication.
const RESERVED_PARAMS: &[&str] = &[
    "grant_type",
    "client_id",
    "client_secret",
    "client_assertion",
    "client_assertion_type",
    "scope",
    "resource",
    "audience",
    "code",
    "code_verifier",
    "redirect_uri",
    "refresh_token",
    "username",
    "password",
    "state",
    "response_type",
    "code_challenge",
    "code_challenge_method",
];
/// Bounds of the in-memory maps; each empties when full (entries are re-derivable).
const MEMO_MAX: usize = 16_384;

/// A token held for reuse.
pub(super) struct CachedToken {
    access_token: SecretString,
    /// Reuse until then; after it, fetch a new one.
    reuse_until: i64,
}

#[derive(Default)]
pub(super) struct DataState {
    /// Verified WATs by SHA-256 of the token, until they expire.
    wats: Mutex<HashMap<[u8; 32], Arc<WatClaims>>>,
    /// Opened M2M tokens by account and vault entry key.
    tokens: Mutex<HashMap<String, Arc<CachedToken>>>,
    /// M2M provider calls in flight, by the same key: one call per key at a time.
    m2m_flights: Flights<Arc<CachedToken>>,
    /// Parsed workload bodies by ARN, with the stored text they were parsed from.
    workload_bodies: Mutex<HashMap<String, (String, Arc<WorkloadBody>)>>,
}

pub(super) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A vault entry's key: the SHA-256 of everything the entry is for, as a JSON array
/// whose first member names the kind of entry and its version (`"m2m/v1"`, `"user/v1"`).
pub(super) fn vault_entry_key(parts: Value) -> String {
    hex::encode(Sha256::digest(parts.to_string()))
}

/// The in-memory name of an account's vault entry (token memos, flights, pending
/// commits).
pub(super) fn memo_key(account: &str, entry_key: &str) -> String {
    format!("{account}/{entry_key}")
}

pub(super) fn insert_bounded<K: std::hash::Hash + Eq, V>(map: &mut HashMap<K, V>, k: K, v: V) {
    if map.len() >= MEMO_MAX {
        map.clear();
    }
    map.insert(k, v);
}

fn unauthorized(e: WatError) -> Error {
    Error::Unauthorized(e.to_string())
}

/// Sorted and without duplicates: the order of scopes, resources or audiences does
/// not change what a token is for.
pub(super) fn canonical<T: Ord>(mut v: Vec<T>) -> Vec<T> {
    v.sort();
    v.dedup();
    v
}

/// What an M2M request asks for.
struct M2mRequest {
    scopes: Vec<String>,
    resources: Vec<String>,
    audiences: Vec<String>,
    params: Vec<(String, String)>,
    force: bool,
}

impl Service {
    // ---- workload access tokens ----

    pub(super) async fn get_workload_access_token(
        &self,
        caller: &Caller,
        op: Operation,
        i: &Input<'_>,
    ) -> Result<Value> {
        let name = i.req_str("workloadName", &WORKLOAD_NAME)?;
        // Read (and so check) the user member before anything else.
        let user_id = (op == Operation::GetWorkloadAccessTokenForUserId)
            .then(|| i.req_str("userId", &USER_ID))
            .transpose()?;
        let user_token = (op == Operation::GetWorkloadAccessTokenForJWT)
            .then(|| i.req_str("userToken", &USER_TOKEN))
            .transpose()?;
        let rec = self.authorized_workload(caller, op, name).await?;
        let user = match (user_id, user_token) {
            (Some(user_id), _) => Some(UserKey::UserId {
                user_id: user_id.to_string(),
            }),
            (_, Some(token)) => {
                let u = self.validate_user_token(&rec, token).await?;
                Some(UserKey::Jwt {
                    iss: u.iss,
                    sub: u.sub,
                })
            }
            _ => None,
        };
        let keys = self.key_set().await?;
        let now = self.now() / 1000;
        let claims = WatClaims {
            iss: self.settings.public_url.clone(),
            aud: wat::AUDIENCE.into(),
            sub: rec.arn.clone(),
            workload_name: rec.name.clone(),
            account: rec.account_id.clone(),
            workload_version: rec.created_at,
            user,
            iat: now,
            exp: now + self.settings.wat_ttl_secs,
            jti: uuid::Builder::from_random_bytes(rand::random())
                .into_uuid()
                .simple()
                .to_string(),
        };
        let token = keys.signer.sign(&claims);
        metrics::counter!("warrant_workload_access_tokens_issued_total").increment(1);
        Ok(json!({ "workloadAccessToken": token }))
    }

    /// Validate an end user's JWT with the authorizers `workload` trusts: the one piece
    /// both `GetWorkloadAccessTokenForJWT` and `CompleteResourceTokenAuth` use.
    pub(super) async fn validate_user_token(
        &self,
        workload: &ResourceRecord,
        token: &str,
    ) -> Result<VerifiedUser> {
        let b = self.workload_body(workload)?;
        let authorizers = b.authorizers.as_deref().unwrap_or_default();
        if authorizers.is_empty() {
            return Err(Error::validation(format!(
                "Workload identity {} trusts no JWT authorizer: set one with PUT /warrant/v1/workload-identities/{}/authorizers or `warrant workloads set-authorizer`",
                workload.name, workload.name
            )));
        }
        let got = self
            .user_tokens
            .validate(token, authorizers, self.now() / 1000, &workload.name)
            .await;
        let outcome = match &got {
            Ok(_) => "accepted",
            Err(Failure::Refused(_)) => "refused",
            Err(Failure::Unavailable(_)) => "unavailable",
        };
        metrics::counter!("warrant_user_tokens_total", "outcome" => outcome).increment(1);
        if let Ok(u) = &got {
            audit::note(|d| {
                d.user = Some(UserKey::Jwt {
                    iss: u.iss.clone(),
                    sub: u.sub.clone(),
                })
            });
        }
        got.map_err(|e| match e {
            Failure::Refused(r) => Error::Unauthorized(format!("The user token was refused: {r}")),
            Failure::Unavailable(m) => {
                Error::Upstream(format!("The user token could not be validated: {m}"))
            }
        })
    }

    /// Verify a WAT fully for `caller`: signature, issuer, audience, expiry, account,
    /// and that its workload still exists (the same one, not a namesake made later).
    /// A token verified once is remembered by its hash until it expires; the workload
    /// check runs every time, so deleting a workload invalidates its tokens at once.
    async fn verify_wat(
        &self,
        caller: &Caller,
        token: &str,
    ) -> Result<(Arc<WatClaims>, Arc<ResourceRecord>)> {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let now = self.now() / 1000;
        let memo = lock(&self.data.wats).get(&digest).cloned();
        let claims = match memo {
            Some(c) if now < c.exp => c,
            _ => {
                let kid = wat::peek_kid(token).map_err(unauthorized)?;
                let mut keys = self.key_set().await?;
                if !keys.verifiers.contains_key(&kid) {
                    keys = self.reload_for_unknown_kid().await?;
                }
                let key = keys
                    .verifiers
                    .get(&kid)
                    .ok_or_else(|| unauthorized(WatError::UnknownKey))?;
                let c = Arc::new(
                    wat::verify(token, key, &self.settings.public_url, now)
                        .map_err(unauthorized)?,
                );
                insert_bounded(&mut lock(&self.data.wats), digest, c.clone());
                c
            }
        };
        if claims.account != caller.account_id {
            return Err(Error::AccessDenied(
                "The workload access token was not issued to this account".into(),
            ));
        }
        let gone = || {
            Error::Unauthorized(format!(
                "The workload identity {} of this workload access token no longer exists",
                claims.workload_name
            ))
        };
        let rec = self
            .store
            .get_resource(
                &caller.account_id,
                Kind::WorkloadIdentity,
                &claims.workload_name,
            )
            .await?
            .ok_or_else(gone)?;
        if rec.created_at != claims.workload_version {
            return Err(gone());
        }
        audit::note(|d| {
            d.workload = Some(claims.workload_name.clone());
            d.user = claims.user.clone();
        });
        Ok((claims, rec))
    }

    /// A workload's parsed body, reused while its stored text is unchanged (every
    /// data-plane call reads the allowlist or the authorizers from it).
    pub(super) fn workload_body(&self, rec: &ResourceRecord) -> Result<Arc<WorkloadBody>> {
        if let Some((text, b)) = lock(&self.data.workload_bodies).get(&rec.arn) {
            if *text == rec.body {
                return Ok(b.clone());
            }
        }
        let b: Arc<WorkloadBody> = Arc::new(body(rec)?);
        insert_bounded(
            &mut lock(&self.data.workload_bodies),
            rec.arn.clone(),
            (rec.body.clone(), b.clone()),
        );
        Ok(b)
    }

    /// Enforce the workload's provider allowlist, when it has one.
    fn check_allowlist(&self, workload: &ResourceRecord, provider: &str) -> Result<()> {
        match &self.workload_body(workload)?.allowed_providers {
            Some(list) if !list.iter().any(|p| p == provider) => Err(Error::AccessDenied(format!(
                "Workload identity {} is not allowed to use credential provider {provider}: it is not in the workload's allowed providers",
                workload.name
            ))),
            _ => Ok(()),
        }
    }

    pub(super) fn open_secret(&self, rec: &ResourceRecord) -> Result<SecretString> {
        let sealed = rec
            .secret_sealed
            .as_ref()
            .ok_or_else(|| Error::Internal(format!("{} has no sealed secret", rec.arn)))?;
        let plain = self.keyring.open(
            &Aad {
                account: &rec.account_id,
                kind: rec.kind.as_str(),
                resource: &rec.name,
            },
            sealed,
        )?;
        let text = std::str::from_utf8(&plain)
            .map_err(|_| Error::Internal(format!("the secret of {} is not UTF-8", rec.arn)))?;
        Ok(SecretString::from(text.to_string()))
    }

    /// Verify the WAT, authorize `op` on the provider, enforce the allowlist, and load
    /// the provider. The order keeps a caller who may not see a provider from learning
    /// whether it exists.
    async fn provider_for(
        &self,
        caller: &Caller,
        op: Operation,
        kind: Kind,
        token: &str,
        provider: &str,
    ) -> Result<(Arc<WatClaims>, Arc<ResourceRecord>, Arc<ResourceRecord>)> {
        let (claims, workload) = self.verify_wat(caller, token).await?;
        let arn = self.scope(&caller.account_id).resource(kind, provider);
        caller.authorize(op, &arn)?;
        self.check_allowlist(&workload, provider)?;
        let rec = self.load(caller, kind, provider).await?;
        Ok((claims, workload, rec))
    }

    // ---- API keys ----

    pub(super) async fn get_resource_api_key(
        &self,
        caller: &Caller,
        i: &Input<'_>,
    ) -> Result<Value> {
        let token = i.req_str("workloadIdentityToken", &TOKEN)?;
        let provider = i.req_str("resourceCredentialProviderName", &PROVIDER_NAME)?;
        let (_, _, rec) = self
            .provider_for(
                caller,
                Operation::GetResourceApiKey,
                Kind::ApiKeyProvider,
                token,
                provider,
            )
            .await?;
        let key = self.open_secret(&rec)?;
        metrics::counter!("warrant_credentials_released_total", "kind" => "api_key").increment(1);
        Ok(json!({ "apiKey": key.expose_secret() }))
    }

    // ---- OAuth2 tokens ----

    pub(super) async fn get_resource_oauth2_token(
        &self,
        caller: &Caller,
        i: &Input<'_>,
        wait: Option<std::time::Duration>,
    ) -> Result<Value> {
        let token = i.req_str("workloadIdentityToken", &TOKEN)?;
        let provider = i.req_str("resourceCredentialProviderName", &PROVIDER_NAME)?;
        let scopes = i
            .opt_str_list("scopes", &SCOPE, 0, 100)?
            .ok_or_else(|| i.missing("scopes"))?;
        let flow = i.req_enum(
            "oauth2Flow",
            &["USER_FEDERATION", "M2M", "ON_BEHALF_OF_TOKEN_EXCHANGE"],
        )?;
        // Read (and so validate) the members of every flow, whichever is asked for.
        let session_uri = i.opt_str("sessionUri", &SESSION_URI)?;
        let return_url = i.opt_str("resourceOauth2ReturnUrl", &RETURN_URL)?;
        let custom_state = i.opt_str("customState", &STATE)?;
        let force = i.opt_bool("forceAuthentication")?.unwrap_or(false);
        let params = i
            .opt_str_map("customParameters", &PARAM_KEY, &PARAM_VALUE, 50)?
            .unwrap_or_default();
        for (k, _) in &params {
            if RESERVED_PARAMS.iter().any(|r| r.eq_ignore_ascii_case(k)) {
                return Err(violation(
                    &i.path("customParameters"),
                    &format!("Member must not set {k}, which warrant sets itself"),
                ));
            }
        }
        let resources = i
            .opt_str_list("resources", &RESOURCE, 0, 20)?
            .unwrap_or_default();
        let audiences = i
            .opt_str_list("audiences", &RESOURCE, 0, 20)?
            .unwrap_or_default();
        if flow == "ON_BEHALF_OF_TOKEN_EXCHANGE" {
            return Err(unsupported(
                &i.path("oauth2Flow"),
                &format!("{flow} in this version; it arrives with token exchange"),
            ));
        }
        let (claims, workload, rec) = self
            .provider_for(
                caller,
                Operation::GetResourceOauth2Token,
                Kind::Oauth2Provider,
                token,
                provider,
            )
            .await?;
        if flow == "USER_FEDERATION" {
            let req = UserRequest {
                scopes: canonical(scopes),
                return_url,
                session_uri,
                custom_state,
                force,
                params,
                resources,
                audiences,
                wait,
            };
            return self.user_federation(&claims, &workload, &rec, req).await;
        }
        let req = M2mRequest {
            scopes: canonical(scopes),
            resources: canonical(resources),
            audiences: canonical(audiences),
            params: canonical(params),
            force,
        };
        let token = self.m2m_token(&workload, &rec, &req).await?;
        metrics::counter!("warrant_credentials_released_total", "kind" => "oauth2_m2m")
            .increment(1);
        Ok(json!({ "accessToken": token.access_token.expose_secret() }))
    }

    /// The M2M token for (workload, provider, request): from memory, the vault, or one
    /// provider call shared by every concurrent request for the same key.
    async fn m2m_token(
        &self,
        workload: &ResourceRecord,
        provider: &ResourceRecord,
        req: &M2mRequest,
    ) -> Result<Arc<CachedToken>> {
        // Everything the token is for, including both records' versions, so a token
        // fetched under an earlier configuration or namesake is never reused.
        let entry_key = vault_entry_key(json!([
            "m2m/v1",
            workload.name,
            workload.created_at,
            provider.name,
            provider.created_at,
            provider.updated_at,
            req.scopes,
            req.resources,
            req.audiences,
            req.params,
        ]));
        let key = memo_key(&provider.account_id, &entry_key);
        let mut force = req.force;
        for _ in 0..3 {
            if !force {
                if let Some(t) = self.memory_token(&key) {
                    audit::note(|d| d.token_source = Some("cache"));
                    return Ok(t);
                }
            }
            let flight = self.data.m2m_flights.run(&key, None, || {
                self.fetch_m2m(workload, provider, req, &entry_key, &key, force)
            });
            match flight.await {
                Some(r) => return r,
                // The request fetching it went away: try again, reusing what it stored.
                None => force = false,
            }
        }
        Err(Error::Throttling(
            "Too many concurrent requests for this token were cancelled; retry".into(),
        ))
    }

    fn memory_token(&self, key: &str) -> Option<Arc<CachedToken>> {
        let now = self.now();
        lock(&self.data.tokens)
            .get(key)
            .filter(|t| now < t.reuse_until)
            .cloned()
    }

    pub(super) fn vault_aad<'a>(account: &'a str, entry_key: &'a str) -> Aad<'a> {
        Aad {
            account,
            kind: "vault",
            resource: entry_key,
        }
    }

    async fn fetch_m2m(
        &self,
        workload: &ResourceRecord,
        provider: &ResourceRecord,
        req: &M2mRequest,
        entry_key: &str,
        key: &str,
        force: bool,
    ) -> Result<Arc<CachedToken>> {
        let account = &provider.account_id;
        let now = self.now();
        if !force {
            // Another request may have just finished, or another node filled the vault.
            if let Some(t) = self.memory_token(key) {
                audit::note(|d| d.token_source = Some("cache"));
                return Ok(t);
            }
            if let Some(e) = self.store.get_vault_entry(account, entry_key).await? {
                let v: Value = self.open_json(&Self::vault_aad(account, entry_key), &e.sealed)?;
                let reuse_until = v["reuse_until"].as_i64().unwrap_or(0);
                if let (Some(t), true) = (v["access_token"].as_str(), now < reuse_until) {
                    let t = Arc::new(CachedToken {
                        access_token: SecretString::from(t.to_string()),
                        reuse_until,
                    });
                    insert_bounded(&mut lock(&self.data.tokens), key.to_string(), t.clone());
                    audit::note(|d| d.token_source = Some("vault"));
                    return Ok(t);
                }
            }
        }
        let b: Oauth2Body = body(provider)?;
        let scope = req.scopes.join(" ");
        let mut params = vec![("grant_type", "client_credentials")];
        if !scope.is_empty() {
            params.push(("scope", &scope));
        }
        params.extend(req.resources.iter().map(|r| ("resource", r.as_str())));
        params.extend(req.audiences.iter().map(|a| ("audience", a.as_str())));
        params.extend(req.params.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let got = self.token_grant(provider, &b.config, params).await?;
        let set = got.map_err(|e| provider_error(&provider.name, e))?.set;
        let now = self.now();
        // Reuse until shortly before expiry: a quarter of the lifetime, at most a minute.
        // A token without `expires_in` is not kept: its lifetime is unknown.
        let lifetime = set
            .expires_in
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 2));
        let expires_at = lifetime.map(|life| now + life);
        let reuse_until = lifetime.map(|life| now + life - (life / 4).min(60_000));
        let token = Arc::new(CachedToken {
            access_token: SecretString::from(set.access_token.clone()),
            reuse_until: reuse_until.unwrap_or(0),
        });
        if let Some(reuse_until) = reuse_until {
            let doc = json!({
                "access_token": set.access_token,
                "token_type": set.token_type,
                "scope": set.scope,
                "expires_at": expires_at,
                "reuse_until": reuse_until,
            });
            let sealed = self.seal_json(&Self::vault_aad(account, entry_key), &doc)?;
            // Committed before the token is released, so a restart reuses it.
            self.store
                .put_vault_entry(&VaultEntry {
                    account_id: account.clone(),
                    entry_key: entry_key.to_string(),
                    workload: workload.name.clone(),
                    user_key: String::new(),
                    provider: provider.name.clone(),
                    sealed,
                    expires_at,
                    updated_at: now,
                })
                .await?;
            insert_bounded(&mut lock(&self.data.tokens), key.to_string(), token.clone());
        }
        audit::note(|d| d.token_source = Some("provider"));
        Ok(token)
    }
}

/// A provider failure in the caller's terms: configuration problems are the caller's
/// to fix (ValidationException), the provider's own failures are upstream errors.
pub(super) fn provider_error(provider: &str, e: OutboundError) -> Error {
    let msg = format!("Credential provider {provider}: {e}");
    match &e {
        OutboundError::Refused(_) | OutboundError::BadMetadata { .. } => Error::Validation(msg),
        OutboundError::Provider { status, .. } if *status < 500 => Error::Validation(msg),
        _ => Error::Upstream(msg),
    }
}
