//! The audit trail: one event per control-plane mutation, per data-plane decision, and
//! per refused request, appended to a hash chain per account in the store, with signed
//! checkpoints.
//!
//! - **Fail closed**: [`Service::call_as`] answers only after the request's event is
//!   committed; when it cannot be, a request that would release a credential or change
//!   something answers `InternalServerException` instead (nothing is released).
//! - **Group commit**: events go to one writer task, which appends everything queued in
//!   one transaction, so concurrent requests share one commit.
//! - **Details** (workload, user, provider, where a token came from) are noted by the
//!   operations themselves through a task-local, so no operation's signature changes.
//! - **Never a secret**: events carry names, ids and a SHA-256 of the credential
//!   released, never a credential, and never a member of the request other than the
//!   names listed here.

use std::cell::RefCell;
use std::sync::{Arc, OnceLock};

use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use tokio::sync::{mpsc, oneshot};
use warrant_inbound::date::{format_rfc3339_ms, parse_rfc3339_ms};
use warrant_inbound::wat::{self, UserKey};
use warrant_store::{AuditCheckpoint, AuditQuery, AuditRow, NewAuditEvent, Store};

use super::control::Operation;
use super::{Caller, Service};
use crate::error::{Error, Result};

/// Where each committed event is also written, for a SIEM.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mirror {
    Stdout,
    File(std::path::PathBuf),
}

#[derive(Clone, Debug)]
pub struct AuditSettings {
    pub enabled: bool,
    pub mirror: Option<Mirror>,
}

impl Default for AuditSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            mirror: None,
        }
    }
}

/// Who asked, from where: the parts of an event the API layer knows.
#[derive(Clone, Debug)]
pub struct RequestMeta {
    pub request_id: String,
    pub source: String,
    /// Long poll (`x-warrant-wait-seconds`): how long an unfinished authorization
    /// session may be waited for before answering.
    pub wait: Option<std::time::Duration>,
}

impl RequestMeta {
    /// A request made at the console (`warrant workloads ...`).
    pub fn cli() -> Self {
        Self {
            request_id: format!("cli-{}", uuid::Uuid::new_v4().simple()),
            source: "cli".into(),
            wait: None,
        }
    }
}

/// What an operation learnt while running.
#[derive(Default)]
pub(super) struct Details {
    pub workload: Option<String>,
    pub user: Option<UserKey>,
    pub provider: Option<String>,
    pub token_source: Option<&'static str>,
    /// User federation: the session (a hash of its URI, never the URI) and its status.
    pub session: Option<String>,
    pub session_status: Option<&'static str>,
}

/// The members of an event only [`Service::call_as`] knows, from the request and its
/// answer.
#[derive(Default)]
struct RequestFacts {
    flow: Option<String>,
    resource: Option<String>,
    scopes: Option<Vec<String>>,
    token_sha256: Option<String>,
}

tokio::task_local! {
    static DETAILS: RefCell<Details>;
}

/// Note something about the running request for its audit event.
pub(super) fn note(f: impl FnOnce(&mut Details)) {
    let _ = DETAILS.try_with(|d| f(&mut d.borrow_mut()));
}

/// The hash chaining an event to the previous one.
pub fn chain_hash(account: &str, seq: i64, prev_hash: &[u8], event: &str) -> Vec<u8> {
    let mut h = Sha256::new();
    h.update(b"warrant-audit-v1\n");
    h.update(account.as_bytes());
    h.update(format!("\n{seq}\n{}\n", hex::encode(prev_hash)).as_bytes());
    h.update(event.as_bytes());
    h.finalize().to_vec()
}

/// The bytes a checkpoint's signature covers.
fn checkpoint_message(account: &str, seq: i64, hash: &[u8]) -> Vec<u8> {
    format!(
        "warrant-audit-checkpoint-v1\n{account}\n{seq}\n{}",
        hex::encode(hash)
    )
    .into_bytes()
}

struct Pending {
    event: NewAuditEvent,
    done: oneshot::Sender<std::result::Result<(), String>>,
}

pub(super) struct Auditor {
    settings: AuditSettings,
    writer: OnceLock<mpsc::Sender<Pending>>,
}

impl Auditor {
    pub fn new(settings: AuditSettings) -> Self {
        Self {
            settings,
            writer: OnceLock::new(),
        }
    }

    /// Append one event; returns once it is committed.
    async fn record(&self, store: &Arc<dyn Store>, event: NewAuditEvent) -> Result<()> {
        let tx = self.writer.get_or_init(|| {
            let (tx, rx) = mpsc::channel(4096);
            tokio::spawn(write_loop(store.clone(), rx, self.settings.mirror.clone()));
            tx
        });
        let (done, wait) = oneshot::channel();
        tx.send(Pending { event, done })
            .await
            .map_err(|_| unavailable("its writer stopped"))?;
        match wait.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(unavailable(&e)),
            Err(_) => Err(unavailable("its writer stopped")),
        }
    }
}

fn unavailable(why: &str) -> Error {
    tracing::error!(error = %why, "the audit trail could not record a request");
    Error::Unavailable(
        "The audit trail could not record this request, so nothing was released or changed. Try again later."
            .into(),
    )
}

/// The writer: append everything queued in one transaction, then answer each request.
async fn write_loop(
    store: Arc<dyn Store>,
    mut rx: mpsc::Receiver<Pending>,
    mirror: Option<Mirror>,
) {
    let mut out: Option<Box<dyn tokio::io::AsyncWrite + Unpin + Send>> = None;
    let mut batch = Vec::new();
    let mut last_time: std::collections::HashMap<String, i64> = Default::default();
    while rx.recv_many(&mut batch, 512).await > 0 {
        // Let the requests that are ready run first, so their events join this commit:
        // one commit (and its fsync) per batch, not per event.
        for _ in 0..4 {
            if batch.len() >= 512 {
                break;
            }
            tokio::task::yield_now().await;
            let before = batch.len();
            while batch.len() < 512 {
                match rx.try_recv() {
                    Ok(p) => batch.push(p),
                    Err(_) => break,
                }
            }
            if batch.len() == before {
                break;
            }
        }
        metrics::counter!("warrant_audit_batches_total").increment(1);
        metrics::counter!("warrant_audit_events_total").increment(batch.len() as u64);
        let (mut events, waiters): (Vec<NewAuditEvent>, Vec<_>) =
            batch.drain(..).map(|p| (p.event, p.done)).unzip();
        for e in &mut events {
            keep_time_order(&mut last_time, e);
        }
        let got = store.append_audit(events, chain_hash).await;
        let answer = got.as_ref().map(|_| ()).map_err(|e| e.to_string());
        if let (Ok(rows), Some(m)) = (&got, &mirror) {
            if out.is_none() {
                out = open_mirror(m).await;
            }
            if let Some(w) = out.as_mut() {
                let mut text = String::new();
                for r in rows {
                    text.push_str(&render(r, false).to_string());
                    text.push('\n');
                }
                if let Err(e) = w.write_all(text.as_bytes()).await {
                    tracing::error!(error = %e, "writing the audit mirror failed");
                }
                let _ = w.flush().await;
            }
        }
        for done in waiters {
            let _ = done.send(answer.clone());
        }
    }
}

/// Events are stamped when their request ends and sequenced when they reach the writer,
/// so two racing requests can arrive in the other order. An event stamped earlier than
/// the one sequenced before it in its account takes that one's time, so time never goes
/// back along a chain and a time range is a contiguous run of `seq` (which a ranged
/// export needs to verify). Rare: only then is the event's text rewritten (its members
/// stay sorted).
fn keep_time_order(last: &mut std::collections::HashMap<String, i64>, e: &mut NewAuditEvent) {
    match last.get_mut(&e.account_id) {
        Some(t) if e.time_ms < *t => {
            let t = *t;
            if let Ok(Value::Object(mut m)) = serde_json::from_str::<Value>(&e.event) {
                m.insert("time".into(), json!(format_rfc3339_ms(t)));
                e.event = Value::Object(m).to_string();
                e.time_ms = t;
            }
        }
        Some(t) => *t = e.time_ms,
        // One entry per account, as the store's chain heads: accounts are made by the
        // operator, so the map stays small.
        None => {
            last.insert(e.account_id.clone(), e.time_ms);
        }
    }
}

async fn open_mirror(m: &Mirror) -> Option<Box<dyn tokio::io::AsyncWrite + Unpin + Send>> {
    match m {
        Mirror::Stdout => Some(Box::new(tokio::io::stdout())),
        Mirror::File(p) => match tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)
            .await
        {
            Ok(f) => Some(Box::new(f)),
            Err(e) => {
                tracing::error!(error = %e, path = %p.display(), "opening the audit mirror failed");
                None
            }
        },
    }
}

/// An event as readers see it: its stored members plus `account` and `seq` (and, for
/// exports, `prevHash` and `hash`).
pub fn render(r: &AuditRow, with_hashes: bool) -> Value {
    let mut v: Value = serde_json::from_str(&r.event).unwrap_or_else(|_| json!({}));
    if let Value::Object(m) = &mut v {
        m.insert("account".into(), json!(r.account_id));
        m.insert("seq".into(), json!(r.seq));
        if with_hashes {
            m.insert("prevHash".into(), json!(hex::encode(&r.prev_hash)));
            m.insert("hash".into(), json!(hex::encode(&r.hash)));
        }
    }
    v
}

/// An audit query's time: Unix seconds or RFC 3339, to milliseconds.
pub fn parse_time(s: &str) -> Option<i64> {
    match s.parse::<i64>() {
        Ok(n) => n.checked_mul(1000),
        Err(_) => parse_rfc3339_ms(s),
    }
}

fn trunc(s: &str) -> String {
    s.chars().take(256).collect()
}

/// An event as stored: members in alphabetical order (the JSON text is what the hash
/// covers, and readers expect sorted keys); absent members are left out.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct EventDoc<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    caller: Option<CallerDoc<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    flow: Option<String>,
    operation: &'a str,
    outcome: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    provider: Option<&'a str>,
    request_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    resource: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    scopes: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    session: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    session_status: Option<&'static str>,
    source: String,
    time: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    token_sha256: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    token_source: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<UserDoc<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    workload: Option<&'a str>,
}

#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct CallerDoc<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    access_key_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
}

#[derive(serde::Serialize)]
#[serde(untagged)]
enum UserDoc<'a> {
    #[serde(rename_all = "camelCase")]
    Id {
        user_id: &'a str,
    },
    Jwt {
        iss: &'a str,
        sub: &'a str,
    },
}

impl<'a> UserDoc<'a> {
    fn of(u: &'a UserKey) -> Self {
        match u {
            UserKey::UserId { user_id } => UserDoc::Id { user_id },
            UserKey::Jwt { iss, sub } => UserDoc::Jwt { iss, sub },
        }
    }
}

impl Operation {
    /// The data-plane operations: every call is recorded.
    pub fn is_data_plane(self) -> bool {
        use Operation::*;
        matches!(
            self,
            GetWorkloadAccessToken
                | GetWorkloadAccessTokenForUserId
                | GetWorkloadAccessTokenForJWT
                | GetResourceApiKey
                | GetResourceOauth2Token
                | CompleteResourceTokenAuth
        )
    }

    /// Operations that change something: every call is recorded.
    pub fn is_mutation(self) -> bool {
        let n = self.name();
        [
            "Create", "Update", "Delete", "Put", "Tag", "Untag", "Set", "Reset",
        ]
        .iter()
        .any(|p| n.starts_with(p))
    }
}

/// The members of an audit event a request with SigV4 failure still has.
pub struct RefusedRequest<'a> {
    pub operation: &'a str,
    pub access_key_id: Option<&'a str>,
    pub caller: Option<&'a Caller>,
    pub error_type: &'static str,
}

impl Service {
    /// Run `op` for `caller` (see [`Service::call`]) and record its audit event: every
    /// mutation and data-plane call, and any refusal by policy.
    pub async fn call_as(
        &self,
        caller: &Caller,
        op: Operation,
        input: &Value,
        meta: &RequestMeta,
    ) -> Result<Value> {
        if !self.audit.settings.enabled {
            return self.dispatch(caller, op, input, meta).await;
        }
        let (r, details) = DETAILS
            .scope(RefCell::new(Details::default()), async {
                let r = self.dispatch(caller, op, input, meta).await;
                (r, DETAILS.with(|d| d.take()))
            })
            .await;
        let denied = matches!(r, Err(Error::AccessDenied(_)));
        if !(op.is_mutation() || op.is_data_plane() || denied) {
            return r;
        }
        let member = |name: &str| input.get(name).and_then(Value::as_str);
        let name = member("name");
        let is_workload_op = op.name().contains("WorkloadIdentit");
        let is_provider_op = op.name().contains("CredentialProvider");
        let workload = details
            .workload
            .or_else(|| member("workloadName").map(trunc))
            .or_else(|| name.filter(|_| is_workload_op).map(trunc));
        let provider = details
            .provider
            .or_else(|| member("resourceCredentialProviderName").map(trunc))
            .or_else(|| name.filter(|_| is_provider_op).map(trunc));
        let user = details.user.or_else(|| {
            (op == Operation::GetWorkloadAccessTokenForUserId)
                .then(|| member("userId"))
                .flatten()
                .map(|u| UserKey::UserId { user_id: trunc(u) })
        });
        let oauth = op == Operation::GetResourceOauth2Token;
        let facts = RequestFacts {
            flow: member("oauth2Flow").filter(|_| oauth).map(trunc),
            resource: (!op.is_data_plane())
                .then(|| member("resourceArn").or(name).or(member("workloadName")))
                .flatten()
                .map(trunc),
            scopes: match input.get("scopes") {
                Some(Value::Array(a)) if oauth => Some(
                    a.iter()
                        .filter_map(Value::as_str)
                        .take(100)
                        .map(trunc)
                        .collect(),
                ),
                _ => None,
            },
            token_sha256: r.as_ref().ok().and_then(|out| {
                ["workloadAccessToken", "apiKey", "accessToken"]
                    .iter()
                    .find_map(|k| out.get(*k).and_then(Value::as_str))
                    .map(|t| hex::encode(Sha256::digest(t.as_bytes())))
            }),
        };
        let details = Details {
            workload,
            user,
            provider,
            token_source: details.token_source.filter(|_| oauth),
            ..details
        };
        let caller_doc = CallerDoc {
            access_key_id: Some(&caller.access_key_id),
            name: Some(&caller.name),
        };
        let error_type = r.as_ref().err().map(Error::aws_type);
        let event = self.new_event(
            caller.account_id.clone(),
            op.name(),
            Some(caller_doc),
            details,
            facts,
            error_type,
            meta,
        );
        match self.audit.record(&self.store, event).await {
            Ok(()) => r,
            Err(e) if r.is_ok() => Err(e),
            Err(_) => r,
        }
    }

    /// Record a request refused before it reached an operation (SigV4 failures).
    /// Best effort: the request is refused whatever happens here.
    pub async fn record_refused(&self, req: &RefusedRequest<'_>, meta: &RequestMeta) {
        let account = req
            .caller
            .map(|c| c.account_id.clone())
            .unwrap_or_else(|| "-".into());
        let caller = (req.access_key_id.is_some() || req.caller.is_some()).then(|| CallerDoc {
            access_key_id: req.access_key_id,
            name: req.caller.map(|c| c.name.as_str()),
        });
        let _ = self
            .record_plain(
                account,
                req.operation,
                caller,
                Details::default(),
                Some(req.error_type),
                meta,
            )
            .await;
    }

    /// Record a request that no access key made (SigV4 refusals, the browser's OAuth
    /// callback), with what is known of it.
    pub(super) async fn record_plain(
        &self,
        account: String,
        operation: &str,
        caller: Option<CallerDoc<'_>>,
        details: Details,
        error_type: Option<&'static str>,
        meta: &RequestMeta,
    ) -> Result<()> {
        if !self.audit.settings.enabled {
            return Ok(());
        }
        let event = self.new_event(
            account,
            operation,
            caller,
            details,
            RequestFacts::default(),
            error_type,
            meta,
        );
        self.audit.record(&self.store, event).await
    }

    /// An event: its stored JSON text (see [`EventDoc`]) and the columns it is found by.
    #[allow(clippy::too_many_arguments)]
    fn new_event(
        &self,
        account: String,
        operation: &str,
        caller: Option<CallerDoc<'_>>,
        mut details: Details,
        facts: RequestFacts,
        error_type: Option<&'static str>,
        meta: &RequestMeta,
    ) -> NewAuditEvent {
        let now = self.now();
        let doc = EventDoc {
            caller,
            error_type,
            flow: facts.flow,
            operation,
            outcome: if error_type.is_some() {
                "failure"
            } else {
                "success"
            },
            provider: details.provider.as_deref(),
            request_id: trunc(&meta.request_id),
            resource: facts.resource,
            scopes: facts.scopes,
            session: details.session.take(),
            session_status: details.session_status,
            source: trunc(&meta.source),
            time: format_rfc3339_ms(now),
            token_sha256: facts.token_sha256,
            token_source: details.token_source,
            user: details.user.as_ref().map(UserDoc::of),
            workload: details.workload.as_deref(),
        };
        let event = serde_json::to_string(&doc).expect("an event serialises");
        NewAuditEvent {
            account_id: account,
            time_ms: now,
            operation: operation.to_string(),
            user_key: details.user.as_ref().map(UserKey::vault_key),
            workload: details.workload,
            provider: details.provider,
            event,
        }
    }

    /// Sign a checkpoint for every account with events newer than its last checkpoint.
    /// Returns how many were written.
    pub async fn checkpoint_audit(&self) -> Result<usize> {
        let heads = self.store.audit_heads_to_checkpoint().await?;
        if heads.is_empty() {
            return Ok(0);
        }
        let keys = self.key_set().await?;
        for h in &heads {
            let sig = keys
                .signer
                .sign_bytes(&checkpoint_message(&h.account_id, h.seq, &h.hash));
            self.store
                .insert_audit_checkpoint(&AuditCheckpoint {
                    account_id: h.account_id.clone(),
                    seq: h.seq,
                    hash: h.hash.clone(),
                    time_ms: self.now(),
                    kid: keys.signer.kid().to_string(),
                    signature: sig.to_vec(),
                })
                .await?;
        }
        Ok(heads.len())
    }

    /// Read events (newest `limit` with `newest`), for the CLI and the API.
    pub async fn audit_events(&self, q: &AuditQuery) -> Result<Vec<AuditRow>> {
        Ok(self.store.list_audit(q).await?)
    }

    /// Delete events up to the newest checkpoint at or before `before_ms` in each
    /// account (or one); the checkpoint stays, so the rest still verifies. Returns the
    /// number of events deleted.
    pub async fn prune_audit(&self, account: Option<&str>, before_ms: i64) -> Result<u64> {
        let mut by_account: std::collections::BTreeMap<String, i64> = Default::default();
        for c in self.store.list_audit_checkpoints(account).await? {
            if c.time_ms <= before_ms {
                by_account.insert(c.account_id.clone(), c.seq);
            }
        }
        let mut n = 0;
        for (acct, seq) in by_account {
            n += self.store.prune_audit(&acct, seq).await?;
        }
        Ok(n)
    }

    /// Walk the chains of every account (or one) and check the checkpoints. `Ok(summary)`
    /// when intact; `Err(first problem)` otherwise.
    pub async fn verify_audit(
        &self,
        account: Option<&str>,
    ) -> Result<std::result::Result<String, String>> {
        let mut rows = Vec::new();
        let mut after = None;
        loop {
            let page = self
                .store
                .list_audit(&AuditQuery {
                    account_id: account.map(str::to_string),
                    after_id: after,
                    limit: 10_000,
                    ..Default::default()
                })
                .await?;
            let Some(last) = page.last() else { break };
            after = Some(last.id);
            rows.extend(page);
        }
        let checkpoints = self.store.list_audit_checkpoints(account).await?;
        // Checkpoint keys: only keys whose sealed private half opens with this master
        // key count, so a key row planted in the database cannot vouch for a forgery.
        let mut keys = std::collections::HashMap::new();
        for k in self.store.list_signing_keys(i64::MIN).await? {
            if let Ok(signer) = self.open_signer(&k) {
                if signer.public_key().as_slice() == k.public_key.as_slice() {
                    keys.insert(k.kid.clone(), signer.public_key());
                }
            }
        }
        Ok(verify_chain(
            &rows,
            &checkpoints,
            &|kid, msg, sig| {
                keys.get(kid)
                    .and_then(|pk| wat::verifying_key(pk))
                    .is_some_and(|vk| wat::verify_bytes(&vk, msg, sig))
            },
            true,
        ))
    }
}

/// An exported line (`render(row, true)`) back to the row it came from, so an export
/// can be verified offline: the hash covers the event without `account`, `seq`,
/// `prevHash` and `hash`, serialised as warrant serialises it.
pub fn row_from_export(line: &str) -> std::result::Result<AuditRow, String> {
    let mut v: Map<String, Value> =
        serde_json::from_str(line).map_err(|_| "not a JSON object".to_string())?;
    let mut take = |k: &str| v.remove(k).ok_or(format!("no {k} member"));
    let account = take("account")?
        .as_str()
        .ok_or("account is not a string")?
        .to_string();
    let seq = take("seq")?.as_i64().ok_or("seq is not an integer")?;
    let hex_of = |v: Value, k: &str| {
        v.as_str()
            .and_then(|h| hex::decode(h).ok())
            .ok_or(format!("{k} is not hex"))
    };
    let prev_hash = hex_of(take("prevHash")?, "prevHash")?;
    let hash = hex_of(take("hash")?, "hash")?;
    let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    let user_key = v.get("user").and_then(user_key_of);
    Ok(AuditRow {
        id: seq,
        account_id: account,
        seq,
        time_ms: v
            .get("time")
            .and_then(Value::as_str)
            .and_then(parse_time)
            .unwrap_or(0),
        operation: s("operation").unwrap_or_default(),
        workload: s("workload"),
        user_key,
        provider: s("provider"),
        event: Value::Object(v).to_string(),
        prev_hash,
        hash,
    })
}

/// The user key an event's `user` member names.
fn user_key_of(u: &Value) -> Option<String> {
    if let Some(id) = u.get("userId").and_then(Value::as_str) {
        return Some(UserKey::UserId { user_id: id.into() }.vault_key());
    }
    Some(
        UserKey::Jwt {
            iss: u.get("iss")?.as_str()?.into(),
            sub: u.get("sub")?.as_str()?.into(),
        }
        .vault_key(),
    )
}

type CheckSig<'a> = dyn Fn(&str, &[u8], &[u8]) -> bool + 'a;

/// Verify chains: `rows` in commit order (any accounts), `checkpoints` of the same
/// accounts. The first problem found, naming the account and the seq.
/// With `anchored` false (an export, which may start anywhere), each chain starts at its
/// first event.
pub fn verify_chain(
    rows: &[AuditRow],
    checkpoints: &[AuditCheckpoint],
    check_sig: &CheckSig<'_>,
    anchored: bool,
) -> std::result::Result<String, String> {
    let mut by_account: std::collections::BTreeMap<&str, Vec<&AuditRow>> = Default::default();
    for r in rows {
        by_account.entry(&r.account_id).or_default().push(r);
    }
    let mut cps: std::collections::BTreeMap<&str, Vec<&AuditCheckpoint>> = Default::default();
    for c in checkpoints {
        cps.entry(&c.account_id).or_default().push(c);
        by_account.entry(&c.account_id).or_default();
    }
    for (acct, list) in &mut by_account {
        list.sort_by_key(|r| r.seq);
        let fail = |what: String| Err(format!("account {acct}: {what}"));
        let acct_cps = cps.get(acct).cloned().unwrap_or_default();
        for c in &acct_cps {
            if !check_sig(
                &c.kid,
                &checkpoint_message(acct, c.seq, &c.hash),
                &c.signature,
            ) {
                return fail(format!("checkpoint at seq {} has a bad signature", c.seq));
            }
        }
        // Where the chain starts: seq 1 from zeros, or just after a kept checkpoint.
        let (mut seq, mut prev) = match list.first() {
            Some(first) if first.seq == 1 => (0, vec![0u8; 32]),
            Some(first) if !anchored => (first.seq - 1, first.prev_hash.clone()),
            Some(first) => match acct_cps.iter().find(|c| c.seq == first.seq - 1) {
                Some(c) => (c.seq, c.hash.clone()),
                None => {
                    let start = acct_cps
                        .iter()
                        .rfind(|c| c.seq < first.seq)
                        .map_or(1, |c| c.seq + 1);
                    return fail(format!("event seq {start} is missing"));
                }
            },
            None => match acct_cps.last() {
                Some(c) => (c.seq, c.hash.clone()),
                None => (0, vec![0u8; 32]),
            },
        };
        for r in list.iter() {
            if r.seq != seq + 1 {
                return fail(if r.seq > seq + 1 {
                    format!("event seq {} is missing", seq + 1)
                } else {
                    format!("event seq {} is out of order", r.seq)
                });
            }
            if r.prev_hash != prev {
                return fail(format!("event seq {} does not chain to the one before it (removed, reordered or altered)", r.seq));
            }
            if chain_hash(acct, r.seq, &r.prev_hash, &r.event) != r.hash {
                return fail(format!("event seq {} was altered", r.seq));
            }
            let v: Value = serde_json::from_str(&r.event).map_err(|_| {
                format!("account {acct}: event seq {} was altered (not JSON)", r.seq)
            })?;
            let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
            let user_key = v.get("user").and_then(user_key_of);
            if s("operation").as_deref() != Some(r.operation.as_str())
                || s("workload") != r.workload
                || s("provider") != r.provider
                || user_key != r.user_key
            {
                return fail(format!(
                    "event seq {} was altered (its columns differ from its record)",
                    r.seq
                ));
            }
            seq = r.seq;
            prev = r.hash.clone();
        }
        for c in &acct_cps {
            if let Some(r) = list.iter().find(|r| r.seq == c.seq) {
                if r.hash != c.hash {
                    return fail(format!(
                        "event seq {} differs from the checkpoint signed at seq {}",
                        r.seq, c.seq
                    ));
                }
            }
        }
        if let Some(c) = acct_cps.last() {
            if seq < c.seq {
                return fail(format!(
                    "events after seq {seq} were removed (a checkpoint vouches for seq {})",
                    c.seq
                ));
            }
        }
    }
    let accounts = by_account.len();
    Ok(format!(
        "ok: {} events in {accounts} accounts, {} checkpoints",
        rows.len(),
        checkpoints.len()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_never_goes_back_along_a_chain() {
        let ev = |account: &str, t: i64| NewAuditEvent {
            account_id: account.into(),
            time_ms: t,
            operation: "GetResourceApiKey".into(),
            workload: None,
            user_key: None,
            provider: None,
            event: format!(
                r#"{{"operation":"GetResourceApiKey","outcome":"success","source":"127.0.0.1","time":"{}","user":{{"userId":"u"}}}}"#,
                format_rfc3339_ms(t)
            ),
        };
        let mut last = Default::default();
        let mut a = ev("a", 2_000);
        keep_time_order(&mut last, &mut a);
        assert_eq!(a.time_ms, 2_000);
        // Stamped earlier but sequenced later: takes the previous event's time.
        let mut b = ev("a", 1_999);
        keep_time_order(&mut last, &mut b);
        assert_eq!(b.time_ms, 2_000);
        assert_eq!(
            b.event,
            r#"{"operation":"GetResourceApiKey","outcome":"success","source":"127.0.0.1","time":"1970-01-01T00:00:02.000Z","user":{"userId":"u"}}"#
        );
        // Another account's chain is its own.
        let mut c = ev("b", 1_000);
        keep_time_order(&mut last, &mut c);
        assert_eq!(c.time_ms, 1_000);
        let mut d = ev("a", 2_500);
        keep_time_order(&mut last, &mut d);
        assert_eq!(d.time_ms, 2_500);
    }

    #[test]
    fn query_times_are_seconds_or_rfc3339() {
        assert_eq!(parse_time("1700000000"), Some(1_700_000_000_000));
        assert_eq!(parse_time("1970-01-01T00:00:01Z"), Some(1000));
        assert_eq!(parse_time("soon"), None);
    }

    fn row(acct: &str, seq: i64, prev: &[u8], event: &str) -> AuditRow {
        AuditRow {
            id: seq,
            account_id: acct.into(),
            seq,
            time_ms: 0,
            operation: "X".into(),
            workload: None,
            user_key: None,
            provider: None,
            event: event.into(),
            prev_hash: prev.to_vec(),
            hash: chain_hash(acct, seq, prev, event),
        }
    }

    fn chain(n: i64) -> Vec<AuditRow> {
        let mut prev = vec![0u8; 32];
        (1..=n)
            .map(|i| {
                let r = row("a", i, &prev, &format!(r#"{{"n":{i},"operation":"X"}}"#));
                prev = r.hash.clone();
                r
            })
            .collect()
    }

    #[test]
    fn finds_the_first_problem() {
        let ok = |_: &str, _: &[u8], _: &[u8]| true;
        let rows = chain(5);
        assert!(verify_chain(&rows, &[], &ok, true).is_ok());
        let mut edited = rows.clone();
        edited[2].event = r#"{"n":99,"operation":"X"}"#.into();
        assert!(verify_chain(&edited, &[], &ok, true)
            .unwrap_err()
            .contains("seq 3 was altered"));
        let mut removed = rows.clone();
        removed.remove(1);
        assert!(verify_chain(&removed, &[], &ok, true)
            .unwrap_err()
            .contains("seq 2 is missing"));
        let mut swapped = rows.clone();
        let (e1, e3) = (swapped[1].event.clone(), swapped[3].event.clone());
        swapped[1].event = e3;
        swapped[3].event = e1;
        assert!(verify_chain(&swapped, &[], &ok, true)
            .unwrap_err()
            .contains("seq 2"));
        let cp = AuditCheckpoint {
            account_id: "a".into(),
            seq: 5,
            hash: rows[4].hash.clone(),
            time_ms: 0,
            kid: "k".into(),
            signature: vec![],
        };
        let truncated = rows[..3].to_vec();
        assert!(
            verify_chain(&truncated, std::slice::from_ref(&cp), &ok, true)
                .unwrap_err()
                .contains("after seq 3 were removed")
        );
        let bad = |_: &str, _: &[u8], _: &[u8]| false;
        assert!(verify_chain(&rows, std::slice::from_ref(&cp), &bad, true)
            .unwrap_err()
            .contains("bad signature"));
        // Pruned up to a kept checkpoint at seq 2: the rest verifies.
        let cp2 = AuditCheckpoint {
            seq: 2,
            hash: rows[1].hash.clone(),
            ..cp.clone()
        };
        assert!(verify_chain(&rows[2..], &[cp2, cp], &ok, true).is_ok());
    }
}
