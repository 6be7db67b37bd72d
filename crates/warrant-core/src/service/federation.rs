//! User federation (3-legged OAuth): an agent acting for a user gets that user's token
//! for a provider after the user consented once.
//!
//! 1. `GetResourceOauth2Token` (USER_FEDERATION) answers from the vault, refreshing when
//!    due, or starts an **authorization session** and answers its authorization URL.
//! 2. The user's browser visits [`Service::oauth2_authorize`] (303 to the provider, with
//!    PKCE and a state bound to the session) and comes back to
//!    [`Service::oauth2_callback`], which keeps the code sealed with the session and
//!    sends the browser to the workload's return URL.
//! 3. `CompleteResourceTokenAuth` binds the session to the user the app vouches for:
//!    only when that user is the session's does warrant redeem the code, once.
//!
//! Sessions live in the store (any node can serve any step); each step is a
//! compare-and-set on the session's status, so every step is single use.
//!
//! **Refresh** runs once per vault key at a time: a single flight in the process, and a
//! lease row in the store across nodes. A rotated refresh token is committed before any
//! response; when the commit fails, the sealed entry is kept in memory and committed by
//! the next request for the key or by a retry every 2 s, and no provider call is made for
//! the key meanwhile (the lease is kept): the spent refresh token is never used again.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tokio::sync::watch;
use warrant_crypto::Aad;
use warrant_inbound::wat::{UserKey, WatClaims};
use warrant_oauth::OutboundError;
use warrant_store::{AuthSession, Kind, ResourceRecord, VaultEntry};

use super::control::{body, Oauth2Body, Operation};
use super::data::{insert_bounded, lock, memo_key, provider_error, vault_entry_key};
use super::flight::Flights;
use super::{audit, Caller, Service};
use crate::domain::input::{violation, Input, StrRule};
use crate::domain::vendor::vendor_quirks;
use crate::error::{Error, Result};

const IN_PROGRESS: &str = "IN_PROGRESS";
const CALLBACK_RECEIVED: &str = "CALLBACK_RECEIVED";
const REDEEMING: &str = "REDEEMING";
const COMPLETED: &str = "COMPLETED";
const FAILED: &str = "FAILED";

pub const SESSION_URI_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";
/// How long a refresh lease is held at most (a refresh that takes longer is abandoned
/// by its provider call's own timeout first).
const LEASE_MS: i64 = 30_000;
/// How long an opened token set is reused before its vault row is read again.
const RECHECK_MS: i64 = 1_000;
/// How long a request waits for another request's refresh of the same entry, in this
/// process or on another node.
const FOLLOW_MS: i64 = 10_000;
const USER_ID: StrRule = StrRule::len(1, 128);
const USER_TOKEN: StrRule = StrRule::len(1, 131_072);

/// What an agent asked for (`GetResourceOauth2Token` with USER_FEDERATION).
pub(super) struct UserRequest<'a> {
    pub scopes: Vec<String>,
    pub return_url: Option<&'a str>,
    pub session_uri: Option<&'a str>,
    pub custom_state: Option<&'a str>,
    pub force: bool,
    pub params: Vec<(String, String)>,
    pub resources: Vec<String>,
    pub audiences: Vec<String>,
    /// Long poll: how long to wait for an unfinished session.
    pub wait: Option<Duration>,
}

/// A user's token set as sealed in the vault. (No `Debug`: it holds tokens.)
#[derive(Clone, Serialize, Deserialize)]
struct UserTokens {
    access_token: String,
    token_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    refresh_token: Option<String>,
    /// Milliseconds since the epoch.
    expires_at: i64,
    lifetime_ms: i64,
    /// What the token is good for: the provider's granted scopes, else those requested.
    scopes: Vec<String>,
    /// Vendor members an API client needs (Salesforce `instance_url`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    kept: BTreeMap<String, String>,
}

/// Everything of a session that is secret or sensitive, sealed in its row.
#[derive(Serialize, Deserialize)]
struct SessionDoc {
    uri: String,
    state: String,
    verifier: String,
    scopes: Vec<String>,
    return_url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    custom_state: Option<String>,
    params: Vec<(String, String)>,
    resources: Vec<String>,
    audiences: Vec<String>,
    workload_version: i64,
    provider_version: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    code: Option<String>,
}

/// The result of one refresh, shared by every request waiting for it.
#[derive(Clone)]
enum Refreshed {
    Token(Arc<UserTokens>),
    /// The grant is gone (`invalid_grant`): the user must consent again.
    Reauthorize,
}

pub(super) struct FederationState {
    /// This process's name in vault leases.
    node: String,
    /// Opened token sets by `{account}/{entry key}`, with when they were read: reused
    /// for at most [`RECHECK_MS`], so a change made by another node (a re-consent, an
    /// entry deleted after `invalid_grant`) is seen within that time.
    tokens: Mutex<HashMap<String, (Arc<UserTokens>, i64)>>,
    flights: Flights<Refreshed>,
    /// Sealed entries the store could not take yet, by the same key.
    pending: Mutex<HashMap<String, VaultEntry>>,
    /// Bumped whenever a session changes in this process (long polls wake on it).
    changed: watch::Sender<u64>,
}

impl FederationState {
    /// `node`: this node's stable name in vault leases (see [`super::Settings::node_id`]).
    pub fn new(node: Option<String>) -> Self {
        Self {
            node: node.unwrap_or_else(|| warrant_crypto::random_token(32)),
            tokens: Mutex::default(),
            flights: Flights::default(),
            pending: Mutex::default(),
            changed: watch::channel(0).0,
        }
    }
}

fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

/// A session's short name in audit events: never the URI, which is a handle.
fn session_tag(id: &str) -> String {
    id[..16.min(id.len())].to_string()
}

fn session_aad<'a>(account: &'a str, id: &'a str) -> Aad<'a> {
    Aad {
        account,
        kind: "auth_session",
        resource: id,
    }
}

/// One user's entry in the vault: whose token, for which workload and provider, and the
/// names it goes by.
struct UserEntry<'a> {
    workload: &'a ResourceRecord,
    provider: &'a ResourceRecord,
    user: &'a UserKey,
    /// Its key in the vault ([`user_entry_key`]).
    entry_key: String,
    /// Its name in memory (token memo, flight, pending commit).
    key: String,
}

impl<'a> UserEntry<'a> {
    fn new(workload: &'a ResourceRecord, provider: &'a ResourceRecord, user: &'a UserKey) -> Self {
        let entry_key = user_entry_key(workload, user, provider);
        let key = memo_key(&provider.account_id, &entry_key);
        Self {
            workload,
            provider,
            user,
            entry_key,
            key,
        }
    }

    fn account(&self) -> &'a str {
        &self.provider.account_id
    }
}

/// The vault entry of (workload, user, provider). Both records' creation times are in
/// it, so a namesake created later never sees an earlier one's tokens; the provider's
/// updates (a new client secret) keep the users' consents.
fn user_entry_key(workload: &ResourceRecord, user: &UserKey, provider: &ResourceRecord) -> String {
    vault_entry_key(json!([
        "user/v1",
        workload.name,
        workload.created_at,
        user.vault_key(),
        provider.name,
        provider.created_at,
    ]))
}

fn unknown_session(path: &str) -> Error {
    violation(path, "unknown or expired session")
}

/// A provider's `error` code fit for a URL and a log: RFC 6749's character set, short.
fn error_code(e: &str) -> String {
    if !e.is_empty()
        && e.len() <= 64
        && e.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-')
    {
        e.to_string()
    } else {
        "server_error".into()
    }
}

fn with_query(url: &str, pairs: &[(&str, &str)]) -> Result<String> {
    let mut u = url::Url::parse(url)
        .map_err(|_| Error::Internal("a stored return URL does not parse".into()))?;
    {
        let mut q = u.query_pairs_mut();
        for (k, v) in pairs {
            q.append_pair(k, v);
        }
    }
    Ok(u.to_string())
}

impl Service {
    pub(super) fn open_json<T: serde::de::DeserializeOwned>(
        &self,
        aad: &Aad<'_>,
        sealed: &[u8],
    ) -> Result<T> {
        let plain = self.keyring.open(aad, sealed)?;
        serde_json::from_slice(&plain)
            .map_err(|_| Error::Internal(format!("a sealed {} does not parse", aad.kind)))
    }

    fn notify_sessions(&self) {
        self.federation
            .changed
            .send_modify(|n| *n = n.wrapping_add(1));
    }

    // ---- GetResourceOauth2Token (USER_FEDERATION) ----

    pub(super) async fn user_federation(
        &self,
        claims: &WatClaims,
        workload: &ResourceRecord,
        provider: &ResourceRecord,
        req: UserRequest<'_>,
    ) -> Result<Value> {
        let user = claims.user.as_ref().ok_or_else(|| {
            violation(
                "workloadIdentityToken",
                "USER_FEDERATION needs a workload access token for a user: get one with GetWorkloadAccessTokenForUserId or GetWorkloadAccessTokenForJWT",
            )
        })?;
        if let Some(url) = req.return_url {
            let allowed = self.workload_body(workload)?;
            let urls = allowed
                .allowed_resource_oauth2_return_urls
                .as_deref()
                .unwrap_or_default();
            if !urls.iter().any(|u| u == url) {
                return Err(violation(
                    "resourceOauth2ReturnUrl",
                    &format!(
                        "it is not one of the allowedResourceOauth2ReturnUrls of workload identity {} (the match is exact)",
                        workload.name
                    ),
                ));
            }
        }
        let entry = UserEntry::new(workload, provider, user);
        if let Some(uri) = req.session_uri {
            let id = sha256_hex(uri);
            // A long poll subscribes before the session is read, so a change made
            // between that read and the wait is not missed.
            let changes = req.wait.map(|w| (w, self.federation.changed.subscribe()));
            let mut s = self
                .store
                .get_auth_session(&id)
                .await?
                .filter(|s| {
                    s.account_id == workload.account_id
                        && s.workload == workload.name
                        && s.provider == provider.name
                        && s.user_key == user.vault_key()
                })
                .ok_or_else(|| unknown_session("sessionUri"))?;
            audit::note(|d| d.session = Some(session_tag(&id)));
            if let Some((wait, rx)) = changes {
                s = self.wait_session(s, wait, rx).await?;
            }
            let expired = self.now() >= s.expires_at;
            match s.status.as_str() {
                COMPLETED | REDEEMING => {
                    if let Some(t) = self.user_token(&entry, &req.scopes).await? {
                        return Ok(released(&t));
                    }
                    if s.status == REDEEMING && !expired {
                        return Ok(self.in_progress(uri));
                    }
                }
                IN_PROGRESS | CALLBACK_RECEIVED if !expired => return Ok(self.in_progress(uri)),
                _ => {
                    audit::note(|d| d.session_status = Some(FAILED));
                    return Ok(json!({"sessionUri": uri, "sessionStatus": FAILED}));
                }
            }
        } else if !req.force {
            if let Some(t) = self.user_token(&entry, &req.scopes).await? {
                return Ok(released(&t));
            }
        }
        self.start_session(workload, provider, user, req).await
    }

    fn in_progress(&self, uri: &str) -> Value {
        audit::note(|d| d.session_status = Some(IN_PROGRESS));
        json!({
            "authorizationUrl": self.authorization_url(uri),
            "sessionUri": uri,
            "sessionStatus": IN_PROGRESS,
        })
    }

    fn authorization_url(&self, uri: &str) -> String {
        let mut u = format!("{}/identities/oauth2/authorize?", self.settings.public_url);
        u.push_str(
            &url::form_urlencoded::Serializer::new(String::new())
                .append_pair("request_uri", uri)
                .finish(),
        );
        u
    }

    /// Wait until the session is finished (COMPLETED or FAILED), expires, or `wait` passes.
    /// `rx` was subscribed before `s` was read.
    async fn wait_session(
        &self,
        mut s: AuthSession,
        wait: Duration,
        mut rx: watch::Receiver<u64>,
    ) -> Result<AuthSession> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let open = matches!(
                s.status.as_str(),
                IN_PROGRESS | CALLBACK_RECEIVED | REDEEMING
            );
            if !open || self.now() >= s.expires_at || tokio::time::Instant::now() >= deadline {
                return Ok(s);
            }
            // Woken by this process's changes at once; another node's are polled.
            tokio::select! {
                _ = rx.changed() => {}
                _ = tokio::time::sleep(Duration::from_millis(250)) => {}
                _ = tokio::time::sleep_until(deadline) => {}
            }
            match self.store.get_auth_session(&s.id).await? {
                Some(n) => s = n,
                None => return Ok(s),
            }
        }
    }

    async fn start_session(
        &self,
        workload: &ResourceRecord,
        provider: &ResourceRecord,
        user: &UserKey,
        req: UserRequest<'_>,
    ) -> Result<Value> {
        let return_url = req.return_url.ok_or_else(|| {
            violation(
                "resourceOauth2ReturnUrl",
                "Member must not be null when the user has to authorize: it is where the browser returns",
            )
        })?;
        let uri = format!("{SESSION_URI_PREFIX}{}", warrant_crypto::random_token(32));
        let id = sha256_hex(&uri);
        let state = warrant_crypto::random_token(32);
        let now = self.now();
        let doc = SessionDoc {
            uri: uri.clone(),
            state: state.clone(),
            verifier: warrant_crypto::random_token(32),
            scopes: req.scopes,
            return_url: return_url.to_string(),
            custom_state: req.custom_state.map(str::to_string),
            params: req.params,
            resources: req.resources,
            audiences: req.audiences,
            workload_version: workload.created_at,
            provider_version: provider.created_at,
            code: None,
        };
        let sealed = self.seal_json(&session_aad(&workload.account_id, &id), &doc)?;
        self.store
            .insert_auth_session(&AuthSession {
                id: id.clone(),
                account_id: workload.account_id.clone(),
                state_hash: Some(sha256_hex(&state)),
                callback_id: provider.lookup_id.clone().unwrap_or_default(),
                workload: workload.name.clone(),
                user_key: user.vault_key(),
                provider: provider.name.clone(),
                status: IN_PROGRESS.into(),
                sealed,
                expires_at: now + self.settings.session_ttl_secs * 1000,
                created_at: now,
                updated_at: now,
            })
            .await?;
        metrics::counter!("warrant_auth_sessions_started_total").increment(1);
        audit::note(|d| d.session = Some(session_tag(&id)));
        Ok(self.in_progress(&uri))
    }

    pub(super) fn seal_json<T: Serialize>(&self, aad: &Aad<'_>, v: &T) -> Result<Vec<u8>> {
        let text = serde_json::to_vec(v).expect("sealed documents serialise");
        Ok(self.keyring.seal(aad, &text)?)
    }

    // ---- the vault of users' tokens ----

    /// The user's token for the request, refreshed when due; `None` when the user must
    /// authorize (no entry, scopes not covered, or the grant is gone).
    async fn user_token(
        &self,
        entry: &UserEntry<'_>,
        scopes: &[String],
    ) -> Result<Option<Arc<UserTokens>>> {
        let (account, key) = (entry.account(), &entry.key);
        self.commit_pending(key).await?;
        let covers = |t: &UserTokens| scopes.iter().all(|s| t.scopes.contains(s));
        let now = self.now();
        if let Some((t, read_at)) = lock(&self.federation.tokens).get(key).cloned() {
            if now - read_at < RECHECK_MS && covers(&t) && !self.due(&t, now) {
                // An opened copy of the vault row: reported as the vault.
                audit::note(|d| d.token_source = Some("vault"));
                return Ok(Some(t));
            }
        }
        for _ in 0..3 {
            let Some((t, version)) = self.read_user_entry(account, &entry.entry_key).await? else {
                return Ok(None);
            };
            if !covers(&t) {
                return Ok(None);
            }
            if !self.due(&t, now) {
                insert_bounded(
                    &mut lock(&self.federation.tokens),
                    key.clone(),
                    (t.clone(), now),
                );
                audit::note(|d| d.token_source = Some("vault"));
                return Ok(Some(t));
            }
            if t.refresh_token.is_none() {
                // Nothing to refresh with: usable until it expires, then consent again.
                return Ok((now < t.expires_at).then_some(t));
            }
            // The flight itself runs detached: it lasts as long as the refresh, not as
            // long as the request that started it, so a request that goes away cannot
            // let a second refresh spend the same refresh token.
            let (w, p, u) = (
                entry.workload.clone(),
                entry.provider.clone(),
                entry.user.clone(),
            );
            let flight = self.detached(move |me| async move {
                let entry = UserEntry::new(&w, &p, &u);
                let follow = Some(Duration::from_millis(FOLLOW_MS as u64));
                Ok(me
                    .federation
                    .flights
                    .run(&entry.key, follow, || me.refresh_user(&entry, version))
                    .await)
            });
            match flight.await? {
                Some(Ok(Refreshed::Token(t))) => {
                    audit::note(|d| d.token_source = Some("refresh"));
                    return Ok(Some(t));
                }
                Some(Ok(Refreshed::Reauthorize)) => return Ok(None),
                Some(Err(e)) => return Err(e),
                None => continue,
            }
        }
        Err(Error::Throttling(
            "Too many concurrent requests for this token were cancelled; retry".into(),
        ))
    }

    /// Refresh when `now >= expires_at - min(margin, lifetime / 2)`.
    fn due(&self, t: &UserTokens, now: i64) -> bool {
        let margin = (self.settings.refresh_margin_secs * 1000).min(t.lifetime_ms / 2);
        now >= t.expires_at - margin
    }

    async fn read_user_entry(
        &self,
        account: &str,
        entry_key: &str,
    ) -> Result<Option<(Arc<UserTokens>, i64)>> {
        let Some(e) = self.store.get_vault_entry(account, entry_key).await? else {
            return Ok(None);
        };
        let t: UserTokens = self.open_json(&Self::vault_aad(account, entry_key), &e.sealed)?;
        Ok(Some((Arc::new(t), e.updated_at)))
    }

    /// Commit a token set the store could not take earlier. Until it is committed, the
    /// key answers 500: its provider grant is only in this process's memory.
    async fn commit_pending(&self, key: &str) -> Result<()> {
        let Some(entry) = lock(&self.federation.pending).get(key).cloned() else {
            return Ok(());
        };
        match self.store.put_vault_entry(&entry).await {
            Ok(()) => {
                // Only if no newer one was kept meanwhile.
                {
                    let mut p = lock(&self.federation.pending);
                    if p.get(key).is_some_and(|e| e.updated_at == entry.updated_at) {
                        p.remove(key);
                    }
                }
                let _ = self
                    .store
                    .release_vault_lease(&entry.account_id, &entry.entry_key, &self.federation.node)
                    .await;
                Ok(())
            }
            Err(e) => {
                tracing::error!(error = %e, "the vault still cannot store a refreshed token set");
                Err(Error::Internal(
                    "The refreshed token could not be stored yet; it is kept and stored as soon as the store accepts it. Retry shortly."
                        .into(),
                ))
            }
        }
    }

    /// Seal and commit a user's token set; on failure, keep it for [`Self::commit_pending`]
    /// and a background retry.
    async fn store_user_tokens(&self, e: &UserEntry<'_>, t: &UserTokens) -> Result<()> {
        let (account, entry_key, key) = (e.account(), e.entry_key.as_str(), e.key.as_str());
        let now = self.now();
        let entry = VaultEntry {
            account_id: account.to_string(),
            entry_key: entry_key.to_string(),
            workload: e.workload.name.clone(),
            user_key: e.user.vault_key(),
            provider: e.provider.name.clone(),
            sealed: self.seal_json(&Self::vault_aad(account, entry_key), t)?,
            expires_at: Some(t.expires_at),
            updated_at: now,
        };
        match self.store.put_vault_entry(&entry).await {
            Ok(()) => {
                insert_bounded(
                    &mut lock(&self.federation.tokens),
                    key.to_string(),
                    (Arc::new(t.clone()), now),
                );
                Ok(())
            }
            Err(err) => {
                tracing::error!(error = %err, "the vault could not store a token set; keeping it to retry");
                lock(&self.federation.tokens).remove(key);
                lock(&self.federation.pending).insert(key.to_string(), entry);
                self.spawn_pending_retry(key.to_string());
                Err(Error::Internal(
                    "The token could not be stored; it is kept and stored as soon as the store accepts it. Retry shortly."
                        .into(),
                ))
            }
        }
    }

    /// Retry committing a kept entry every 2 s until it is stored (here or by a request).
    fn spawn_pending_retry(&self, key: String) {
        let me = self.me.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(2)).await;
                // Until the service is gone, or the entry is stored (here or by a request).
                let Some(me) = me.upgrade() else { return };
                let kept = lock(&me.federation.pending).contains_key(&key);
                if !kept || me.commit_pending(&key).await.is_ok() {
                    return;
                }
            }
        });
    }

    fn tokens_from(
        &self,
        g: warrant_oauth::Granted,
        vendor: &str,
        previous: Option<&UserTokens>,
        requested: &[String],
    ) -> UserTokens {
        let now = self.now();
        let lifetime_ms = g
            .set
            .expires_in
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 4))
            .unwrap_or(vendor_quirks(vendor).default_lifetime_secs * 1000);
        let scopes = match &g.set.scope {
            Some(s) => s
                .split(' ')
                .filter(|x| !x.is_empty())
                .map(str::to_string)
                .collect(),
            None => previous
                .map(|p| p.scopes.clone())
                .unwrap_or_else(|| requested.to_vec()),
        };
        let mut kept = previous.map(|p| p.kept.clone()).unwrap_or_default();
        kept.extend(g.kept);
        UserTokens {
            access_token: g.set.access_token,
            token_type: g.set.token_type,
            // A refresh response without a refresh token keeps the old one.
            refresh_token: g
                .set
                .refresh_token
                .or_else(|| previous.and_then(|p| p.refresh_token.clone())),
            expires_at: now.saturating_add(lifetime_ms),
            lifetime_ms,
            scopes: super::data::canonical(scopes),
            kept,
        }
    }

    /// The one refresh of `entry_key` (this process's flight leader): take the lease,
    /// re-read (another node may have just refreshed), call the provider, commit.
    async fn refresh_user(&self, entry: &UserEntry<'_>, seen_version: i64) -> Result<Refreshed> {
        let (account, entry_key) = (entry.account(), entry.entry_key.as_str());
        let node = &self.federation.node;
        let started = self.now();
        loop {
            let now = self.now();
            if self
                .store
                .acquire_vault_lease(account, entry_key, node, now, now + LEASE_MS)
                .await?
            {
                break;
            }
            // Another node is refreshing: wait for its commit.
            if now - started > FOLLOW_MS {
                return Err(Error::Throttling(
                    "Another warrant node is refreshing this token; retry".into(),
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            if let Some((t, v)) = self.read_user_entry(account, entry_key).await? {
                if v != seen_version && !self.due(&t, self.now()) {
                    return Ok(Refreshed::Token(t));
                }
            }
        }
        // Every way out gives the lease back, except a token set the store could not
        // take: nobody may spend the old refresh token until it is committed.
        let mut keep_lease = false;
        let r = self
            .refresh_leased(entry, seen_version, &mut keep_lease)
            .await;
        if !keep_lease {
            let _ = self
                .store
                .release_vault_lease(account, entry_key, node)
                .await;
        }
        r
    }

    /// The refresh itself, under the lease.
    async fn refresh_leased(
        &self,
        entry: &UserEntry<'_>,
        seen_version: i64,
        keep_lease: &mut bool,
    ) -> Result<Refreshed> {
        let (account, entry_key, provider) =
            (entry.account(), entry.entry_key.as_str(), entry.provider);
        let Some((current, version)) = self.read_user_entry(account, entry_key).await? else {
            return Ok(Refreshed::Reauthorize);
        };
        if version != seen_version && !self.due(&current, self.now()) {
            return Ok(Refreshed::Token(current));
        }
        let Some(refresh_token) = current.refresh_token.clone() else {
            return Ok(Refreshed::Reauthorize);
        };
        let b: Oauth2Body = body(provider)?;
        let vendor = b.config.vendor.clone();
        let params = vec![
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token.as_str()),
        ];
        match self.token_grant(provider, &b.config, params).await? {
            Ok(g) => {
                let t = self.tokens_from(g, &vendor, Some(&current), &current.scopes);
                *keep_lease = true;
                self.store_user_tokens(entry, &t).await?;
                *keep_lease = false;
                Ok(Refreshed::Token(Arc::new(t)))
            }
            Err(OutboundError::Provider { error, .. }) if error == "invalid_grant" => {
                // The grant is gone (revoked, expired, or its refresh token was spent):
                // remove the dead entry; the agent gets a new authorization URL.
                self.store.delete_vault_entry(account, entry_key).await?;
                lock(&self.federation.tokens).remove(&entry.key);
                Ok(Refreshed::Reauthorize)
            }
            Err(e) => {
                if self.now() < current.expires_at {
                    // Not expired yet: the current token still works.
                    tracing::warn!(error = %e, provider = %provider.name, "refresh failed; the current access token is still valid");
                    Ok(Refreshed::Token(current))
                } else {
                    Err(provider_error(&provider.name, e))
                }
            }
        }
    }

    // ---- the browser ----

    /// `GET /identities/oauth2/authorize?request_uri=…`: where to send the browser.
    pub async fn oauth2_authorize(&self, request_uri: &str) -> Result<String> {
        let refused = || {
            Error::validation("This authorization link is unknown, expired or already used. Ask the agent for a new one.")
        };
        let id = sha256_hex(request_uri);
        let s = self
            .store
            .get_auth_session(&id)
            .await?
            .ok_or_else(refused)?;
        if s.status != IN_PROGRESS || self.now() >= s.expires_at {
            return Err(refused());
        }
        let doc: SessionDoc = self.open_json(&session_aad(&s.account_id, &id), &s.sealed)?;
        let provider = self.session_provider(&s, &doc).await?.ok_or_else(refused)?;
        let b: Oauth2Body = body(&provider)?;
        let ep = self.endpoints(&provider.name, &b.config).await?;
        let authorization = ep.authorization.ok_or_else(|| {
            Error::validation(format!(
                "Credential provider {} has no authorization endpoint",
                provider.name
            ))
        })?;
        let q = vendor_quirks(&b.config.vendor);
        let mut scopes = doc.scopes.clone();
        for s in q.offline_scopes {
            if !scopes.iter().any(|x| x == s) {
                scopes.push(s.to_string());
            }
        }
        let mut u = url::Url::parse(&authorization)
            .map_err(|_| Error::validation("the provider's authorization endpoint is not a URL"))?;
        let challenge = warrant_oauth::pkce_challenge(&doc.verifier);
        let callback = self.callback_url(&provider);
        {
            let mut p = u.query_pairs_mut();
            p.append_pair("response_type", "code")
                .append_pair(
                    "client_id",
                    super::provider::client_id(&provider, &b.config)?,
                )
                .append_pair("redirect_uri", &callback)
                .append_pair("state", &doc.state)
                .append_pair("code_challenge", &challenge)
                .append_pair("code_challenge_method", "S256");
            if !scopes.is_empty() {
                p.append_pair(q.scope_param, &scopes.join(" "));
            }
            for (k, v) in q.authorize_params {
                if !doc.params.iter().any(|(c, _)| c == k) {
                    p.append_pair(k, v);
                }
            }
            for (k, v) in &doc.params {
                p.append_pair(k, v);
            }
            for r in &doc.resources {
                p.append_pair("resource", r);
            }
            for a in &doc.audiences {
                p.append_pair("audience", a);
            }
        }
        Ok(u.to_string())
    }

    /// The session's provider, if it is still the one the session was started with.
    async fn session_provider(
        &self,
        s: &AuthSession,
        doc: &SessionDoc,
    ) -> Result<Option<Arc<ResourceRecord>>> {
        Ok(self
            .store
            .get_resource(&s.account_id, Kind::Oauth2Provider, &s.provider)
            .await?
            .filter(|p| p.created_at == doc.provider_version))
    }

    /// Move a session on to `to` (compare-and-set from its current status, so each step
    /// happens once) and wake the long polls. `false` when another request moved it first.
    async fn move_session(&self, s: &mut AuthSession, to: &'static str) -> Result<bool> {
        let from = std::mem::replace(&mut s.status, to.into());
        s.state_hash = None;
        s.updated_at = self.now();
        let moved = self.store.update_auth_session(s, &from).await?;
        if moved {
            self.notify_sessions();
        }
        Ok(moved)
    }

    /// `GET /identities/oauth2/callback/{id}?…`: the provider's answer. Returns where to
    /// send the browser (the workload's return URL), or an error for an HTML page.
    pub async fn oauth2_callback(
        &self,
        callback_id: &str,
        query: &[(String, String)],
        meta: &audit::RequestMeta,
    ) -> Result<String> {
        let refused = || {
            Error::validation(
                "This authorization response is unknown, expired or already used; nothing was done. Ask the agent for a new link.",
            )
        };
        let mut one = HashMap::new();
        for (k, v) in query {
            if one.insert(k.as_str(), v.as_str()).is_some() {
                return Err(Error::validation(
                    "The authorization response repeats a parameter; nothing was done.",
                ));
            }
        }
        let state = one
            .get("state")
            .copied()
            .filter(|s| s.len() <= 4096)
            .ok_or_else(refused)?;
        let mut s = self
            .store
            .find_auth_session_by_state(&sha256_hex(state))
            .await?
            .filter(|s| s.callback_id == callback_id && s.status == IN_PROGRESS)
            .ok_or_else(refused)?;
        if self.now() >= s.expires_at {
            return Err(refused());
        }
        let aad_id = s.id.clone();
        let mut doc: SessionDoc =
            self.open_json(&session_aad(&s.account_id, &aad_id), &s.sealed)?;
        let provider = self.session_provider(&s, &doc).await?.ok_or_else(refused)?;
        let b: Oauth2Body = body(&provider)?;
        let ep = self.endpoints(&provider.name, &b.config).await?;
        let mut details = audit::Details {
            workload: Some(s.workload.clone()),
            provider: Some(s.provider.clone()),
            session: Some(session_tag(&aad_id)),
            ..Default::default()
        };
        // RFC 9207: a response naming another issuer is a mix-up attack.
        let iss_ok = match (one.get("iss"), &ep.issuer) {
            (Some(iss), Some(expected)) => iss == expected,
            (Some(_), None) => true,
            (None, _) => !ep.iss_required,
        };
        let denied = one.get("error").map(|e| error_code(e));
        let code = one.get("code").copied();
        let (status, outcome) = match (&denied, code, iss_ok) {
            (_, _, false) => (FAILED, Err(Error::validation("The authorization response names another issuer than the provider's (RFC 9207); the session is closed."))),
            (Some(_), _, _) => (FAILED, Ok(())),
            (None, Some(c), _) if !c.is_empty() && c.len() <= 4096 => {
                doc.code = Some(c.to_string());
                (CALLBACK_RECEIVED, Ok(()))
            }
            _ => return Err(Error::validation("The authorization response has neither a code nor an error; nothing was done.")),
        };
        s.sealed = self.seal_json(&session_aad(&s.account_id, &aad_id), &doc)?;
        if !self.move_session(&mut s, status).await? {
            return Err(refused());
        }
        details.session_status = Some(if status == FAILED {
            FAILED
        } else {
            IN_PROGRESS
        });
        let error_type = match (&outcome, &denied) {
            (Err(_), _) => Some("ValidationException"),
            (Ok(()), Some(_)) => Some("ProviderError"),
            _ => None,
        };
        self.record_plain(
            s.account_id.clone(),
            "OAuth2Callback",
            None,
            details,
            error_type,
            meta,
        )
        .await?;
        outcome?;
        let mut pairs = vec![("session_id", doc.uri.as_str())];
        if let Some(e) = &denied {
            pairs.push(("error", e));
        }
        if let Some(cs) = &doc.custom_state {
            pairs.push(("state", cs));
        }
        with_query(&doc.return_url, &pairs)
    }

    // ---- CompleteResourceTokenAuth ----

    pub(super) async fn complete_resource_token_auth(
        &self,
        caller: &Caller,
        i: &Input<'_>,
    ) -> Result<Value> {
        let uri = i.req_str("sessionUri", &super::data::SESSION_URI)?;
        let ui = i.req_obj("userIdentifier")?;
        let user_id = ui.opt_str("userId", &USER_ID)?;
        let user_token = ui.opt_str("userToken", &USER_TOKEN)?;
        if user_id.is_some() == user_token.is_some() {
            return Err(violation(
                &i.path("userIdentifier"),
                "Member must set exactly one of userId and userToken",
            ));
        }
        let id = sha256_hex(uri);
        let not_found = || Error::NotFound("No authorization session matches sessionUri".into());
        let mut s = self
            .store
            .get_auth_session(&id)
            .await?
            .filter(|s| s.account_id == caller.account_id)
            .ok_or_else(not_found)?;
        let workload = self
            .store
            .get_resource(&caller.account_id, Kind::WorkloadIdentity, &s.workload)
            .await?
            .ok_or_else(not_found)?;
        caller.authorize(Operation::CompleteResourceTokenAuth, &workload.arn)?;
        audit::note(|d| {
            d.workload = Some(s.workload.clone());
            d.provider = Some(s.provider.clone());
            d.session = Some(session_tag(&id));
        });
        let mut doc: SessionDoc = self.open_json(&session_aad(&s.account_id, &id), &s.sealed)?;
        if workload.created_at != doc.workload_version {
            return Err(not_found());
        }
        if self.now() >= s.expires_at {
            return Err(violation(
                "sessionUri",
                "the session expired; the agent must start again",
            ));
        }
        let user = match (user_id, user_token) {
            (Some(u), _) => UserKey::UserId {
                user_id: u.to_string(),
            },
            (_, Some(t)) => {
                let v = self.validate_user_token(&workload, t).await?;
                UserKey::Jwt {
                    iss: v.iss,
                    sub: v.sub,
                }
            }
            _ => unreachable!("exactly one is set"),
        };
        audit::note(|d| d.user = Some(user.clone()));
        if user.vault_key() != s.user_key {
            // A forwarded link must not stay live: the rightful user starts again.
            if matches!(s.status.as_str(), IN_PROGRESS | CALLBACK_RECEIVED) {
                self.move_session(&mut s, FAILED).await?;
            }
            audit::note(|d| d.session_status = Some(FAILED));
            return Err(Error::AccessDenied(
                "The user completing this session is not the user the agent asked for; the session is closed".into(),
            ));
        }
        match s.status.as_str() {
            IN_PROGRESS => {
                return Err(violation(
                    "sessionUri",
                    "the user has not finished authorizing at the provider yet; complete the session after the browser returns",
                ))
            }
            CALLBACK_RECEIVED => {}
            _ => return Err(violation("sessionUri", "the session is already completed or failed")),
        }
        let code = doc
            .code
            .take()
            .ok_or_else(|| Error::Internal("a session has no code".into()))?;
        // Before the session moves on: a provider gone or re-created must not leave it
        // stuck in REDEEMING.
        let provider = self
            .session_provider(&s, &doc)
            .await?
            .ok_or_else(not_found)?;
        // Single use: only the request that moves the session on redeems the code.
        s.sealed = self.seal_json(&session_aad(&s.account_id, &id), &doc)?;
        if !self.move_session(&mut s, REDEEMING).await? {
            return Err(violation(
                "sessionUri",
                "the session is already completed or failed",
            ));
        }
        let r = self
            .detached(
                move |me| async move { me.redeem(s, doc, code, workload, provider, user).await },
            )
            .await;
        audit::note(|d| {
            d.session_status = Some(if r.is_ok() { COMPLETED } else { FAILED });
            d.token_source = r.is_ok().then_some("provider");
        });
        r?;
        metrics::counter!("warrant_auth_sessions_completed_total").increment(1);
        Ok(json!({}))
    }

    /// Run `f` to completion even if the request that started it goes away (a client
    /// that disconnects must not cancel a code redemption or a refresh between the
    /// provider's answer and the commit).
    async fn detached<T, F, Fut>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(Arc<Service>) -> Fut,
        Fut: std::future::Future<Output = Result<T>> + Send + 'static,
    {
        let me = self
            .me
            .upgrade()
            .ok_or_else(|| Error::Internal("the service is shutting down".into()))?;
        tokio::spawn(f(me))
            .await
            .unwrap_or_else(|e| Err(Error::Internal(format!("a provider call failed: {e}"))))
    }

    /// Redeem a session's code once, store the token set, and close the session.
    async fn redeem(
        &self,
        mut s: AuthSession,
        doc: SessionDoc,
        code: String,
        workload: Arc<ResourceRecord>,
        provider: Arc<ResourceRecord>,
        user: UserKey,
    ) -> Result<()> {
        let b: Oauth2Body = body(&provider)?;
        let callback = self.callback_url(&provider);
        let params = vec![
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", callback.as_str()),
            ("code_verifier", doc.verifier.as_str()),
        ];
        let redeemed = self
            .token_grant(&provider, &b.config, params)
            .await
            .and_then(|got| got.map_err(|e| provider_error(&provider.name, e)));
        let g = match redeemed {
            Ok(g) => g,
            Err(e) => {
                self.move_session(&mut s, FAILED).await?;
                return Err(e);
            }
        };
        let t = self.tokens_from(g, &b.config.vendor, None, &doc.scopes);
        self.store_user_tokens(&UserEntry::new(&workload, &provider, &user), &t)
            .await?;
        self.move_session(&mut s, COMPLETED).await?;
        Ok(())
    }

    /// Remove sessions that expired more than a day ago (called periodically by `serve`).
    pub async fn prune_auth_sessions(&self) -> Result<u64> {
        Ok(self
            .store
            .prune_auth_sessions(self.now() - 86_400_000)
            .await?)
    }
}

/// The response releasing a user's token.
fn released(t: &UserTokens) -> Value {
    metrics::counter!("warrant_credentials_released_total", "kind" => "oauth2_user").increment(1);
    let mut out = json!({ "accessToken": t.access_token });
    if !t.kept.is_empty() {
        out["providerAttributes"] = json!(t.kept);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_error_codes_are_sanitised_for_urls() {
        assert_eq!(error_code("access_denied"), "access_denied");
        assert_eq!(error_code("x<script>"), "server_error");
        assert_eq!(error_code(""), "server_error");
        assert_eq!(error_code(&"a".repeat(65)), "server_error");
    }

    #[test]
    fn return_urls_keep_their_query_and_encode_what_is_added() {
        let u = with_query(
            "https://app.example/cb?tab=1",
            &[
                ("session_id", "urn:ietf:params:oauth:request_uri:abc"),
                ("state", "a&b=c"),
            ],
        )
        .unwrap();
        assert_eq!(
            u,
            "https://app.example/cb?tab=1&session_id=urn%3Aietf%3Aparams%3Aoauth%3Arequest_uri%3Aabc&state=a%26b%3Dc"
        );
        assert!(with_query("myapp://done", &[("session_id", "x")])
            .unwrap()
            .starts_with("myapp://done?"));
    }

    fn rec(name: &str, created_at: i64) -> ResourceRecord {
        ResourceRecord {
            account_id: "000000000000".into(),
            kind: Kind::WorkloadIdentity,
            name: name.into(),
            arn: format!("arn:{name}"),
            body: "{}".into(),
            secret_sealed: None,
            lookup_id: None,
            created_at,
            updated_at: created_at,
        }
    }

    #[test]
    fn vault_keys_never_collide_across_users_workloads_or_namesakes() {
        let (w, p) = (rec("agent", 1), rec("github", 1));
        let alice = UserKey::UserId {
            user_id: "alice".into(),
        };
        let key = user_entry_key(&w, &alice, &p);
        let others = [
            user_entry_key(
                &w,
                &UserKey::UserId {
                    user_id: "bob".into(),
                },
                &p,
            ),
            user_entry_key(&rec("agent2", 1), &alice, &p),
            user_entry_key(&rec("agent", 2), &alice, &p),
            user_entry_key(&w, &alice, &rec("github", 2)),
            user_entry_key(
                &w,
                &UserKey::Jwt {
                    iss: "user_id:".into(),
                    sub: "alice".into(),
                },
                &p,
            ),
        ];
        for o in others {
            assert_ne!(key, o);
        }
        // An update of the provider (a new client secret) keeps the users' consents.
        let mut updated = rec("github", 1);
        updated.updated_at = 5;
        assert_eq!(key, user_entry_key(&w, &alice, &updated));
    }
}
