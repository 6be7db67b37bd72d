//! Storage for warrant.
//!
//! The [`Store`] trait is the one datastore interface; [`SqliteStore`] is the embedded
//! backend (a PostgreSQL backend implements the same trait for scale-out). The store
//! keeps only sealed bytes for secrets: it never sees plaintext. Every query filters on
//! the account id.

mod cache;
mod sqlite;

use std::sync::Arc;

use async_trait::async_trait;

pub use cache::CachedStore;
pub use sqlite::{SqliteOptions, SqliteStore};

/// Milliseconds since the Unix epoch.
pub type Millis = i64;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A row with the same key exists.
    #[error("already exists")]
    Conflict,
    /// A resource would carry more tags than allowed.
    #[error("too many tags")]
    TooManyTags,
    /// The database failed; the text is for the operator's log, never for clients.
    #[error("database error: {0}")]
    Database(String),
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// A SigV4 access key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessKeyRecord {
    pub access_key_id: String,
    pub account_id: String,
    pub name: String,
    pub secret_sealed: Vec<u8>,
    /// The IAM-style policy document, as JSON text.
    pub policy: String,
    pub created_at: Millis,
}

/// The kinds of named resources.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    WorkloadIdentity,
    Oauth2Provider,
    ApiKeyProvider,
    TokenVault,
}

impl Kind {
    const ALL: [Kind; 4] = [
        Kind::WorkloadIdentity,
        Kind::Oauth2Provider,
        Kind::ApiKeyProvider,
        Kind::TokenVault,
    ];

    /// The kind stored under `name`, the inverse of [`Kind::as_str`].
    pub fn from_stored(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == name)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::WorkloadIdentity => "workload-identity",
            Kind::Oauth2Provider => "oauth2-provider",
            Kind::ApiKeyProvider => "apikey-provider",
            Kind::TokenVault => "token-vault",
        }
    }
}

/// A named resource: its identity, its non-secret configuration as JSON, and its one
/// sealed secret, if any.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceRecord {
    pub account_id: String,
    pub kind: Kind,
    pub name: String,
    pub arn: String,
    pub body: String,
    pub secret_sealed: Option<Vec<u8>>,
    pub lookup_id: Option<String>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// What an update writes. `secret_sealed: None` keeps the stored secret.
#[derive(Clone, Debug)]
pub struct ResourceUpdate {
    pub body: String,
    pub secret_sealed: Option<Vec<u8>>,
    pub updated_at: Millis,
}

/// A key that signs workload access tokens during `[not_before, not_after)` and
/// verifies them for as long as one it signed can be alive.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SigningKeyRecord {
    /// The rotation window the key was made for; unique, so one node wins.
    pub slot: String,
    pub kid: String,
    pub public_key: Vec<u8>,
    pub private_sealed: Vec<u8>,
    pub not_before: Millis,
    pub not_after: Millis,
    pub created_at: Millis,
}

/// One sealed token set in the vault.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VaultEntry {
    pub account_id: String,
    /// A hash of what the token was fetched for; see the migration's comment.
    pub entry_key: String,
    pub workload: String,
    /// `""` when the token is the workload's own (M2M).
    pub user_key: String,
    pub provider: String,
    pub sealed: Vec<u8>,
    /// When the access token expires, if the provider said.
    pub expires_at: Option<Millis>,
    pub updated_at: Millis,
}

/// An authorization session of user federation (see migration 0004 for each column).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthSession {
    /// SHA-256 (hex) of the session URI.
    pub id: String,
    pub account_id: String,
    /// SHA-256 (hex) of the `state` sent to the provider; `None` once consumed.
    pub state_hash: Option<String>,
    /// The provider's callback id (the last segment of its callback URL).
    pub callback_id: String,
    pub workload: String,
    pub user_key: String,
    pub provider: String,
    pub status: String,
    pub sealed: Vec<u8>,
    pub expires_at: Millis,
    pub created_at: Millis,
    pub updated_at: Millis,
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    async fn meta_get(&self, key: &str) -> Result<Option<Vec<u8>>>;
    /// Insert unless present; true when this call inserted it.
    async fn meta_put_if_absent(&self, key: &str, value: &[u8]) -> Result<bool>;
    /// A number that changes whenever another process commits a change (this store's
    /// own writes need not show: the cache accounts for them itself); `None` when the
    /// backend cannot tell (then nothing may be cached).
    async fn data_version(&self) -> Result<Option<i64>>;

    async fn count_access_keys(&self) -> Result<i64>;
    async fn insert_access_key(&self, rec: &AccessKeyRecord) -> Result<()>;
    async fn get_access_key(&self, access_key_id: &str) -> Result<Option<Arc<AccessKeyRecord>>>;
    async fn list_access_keys(&self) -> Result<Vec<AccessKeyRecord>>;
    async fn delete_access_key(&self, access_key_id: &str) -> Result<bool>;

    /// Insert a resource and its tags in one transaction. `Conflict` when the name is taken.
    async fn insert_resource(&self, rec: &ResourceRecord, tags: &[(String, String)]) -> Result<()>;
    async fn get_resource(
        &self,
        account_id: &str,
        kind: Kind,
        name: &str,
    ) -> Result<Option<Arc<ResourceRecord>>>;
    /// Apply `update` and return the new record; `None` when no such resource.
    async fn update_resource(
        &self,
        account_id: &str,
        kind: Kind,
        name: &str,
        update: &ResourceUpdate,
    ) -> Result<Option<ResourceRecord>>;
    /// Delete a resource, its tags and the vault entries fetched for it (as workload or
    /// provider) in one transaction; false when absent.
    async fn delete_resource(&self, account_id: &str, kind: Kind, name: &str) -> Result<bool>;
    /// Up to `limit` resources of a kind ordered by name, starting after `after`.
    async fn list_resources(
        &self,
        account_id: &str,
        kind: Kind,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<ResourceRecord>>;

    /// Merge `tags` into the resource's tags, refusing (and changing nothing) when the
    /// result would hold more than `max_tags`.
    async fn tag_resource(
        &self,
        account_id: &str,
        arn: &str,
        tags: &[(String, String)],
        max_tags: usize,
    ) -> Result<()>;
    async fn untag_resource(&self, account_id: &str, arn: &str, keys: &[String]) -> Result<()>;
    async fn list_tags(&self, account_id: &str, arn: &str) -> Result<Vec<(String, String)>>;

    /// Store a signing key unless its slot has one; true when this call stored it.
    async fn insert_signing_key_if_absent(&self, rec: &SigningKeyRecord) -> Result<bool>;
    /// The signing keys whose signing window ended at or after `not_after_since`.
    async fn list_signing_keys(&self, not_after_since: Millis) -> Result<Vec<SigningKeyRecord>>;

    async fn get_vault_entry(
        &self,
        account_id: &str,
        entry_key: &str,
    ) -> Result<Option<VaultEntry>>;
    /// Insert or replace a vault entry (committed before this returns).
    async fn put_vault_entry(&self, entry: &VaultEntry) -> Result<()>;
    async fn count_vault_entries(&self, account_id: &str) -> Result<i64>;
    /// Remove one vault entry; false when there was none.
    async fn delete_vault_entry(&self, account_id: &str, entry_key: &str) -> Result<bool>;
    /// Take the refresh lease of a vault entry for `owner` until `until`, unless another
    /// owner holds one that has not expired at `now`. True when `owner` holds it.
    async fn acquire_vault_lease(
        &self,
        account_id: &str,
        entry_key: &str,
        owner: &str,
        now: Millis,
        until: Millis,
    ) -> Result<bool>;
    /// Give up `owner`'s lease (no-op when it holds none).
    async fn release_vault_lease(
        &self,
        account_id: &str,
        entry_key: &str,
        owner: &str,
    ) -> Result<()>;

    // ---- user federation: authorization sessions ----
    async fn insert_auth_session(&self, s: &AuthSession) -> Result<()>;
    async fn get_auth_session(&self, id: &str) -> Result<Option<AuthSession>>;
    async fn find_auth_session_by_state(&self, state_hash: &str) -> Result<Option<AuthSession>>;
    /// Write `s` (status, state hash, sealed data, updated_at) only if the stored session
    /// is still in status `from`: the compare-and-set that makes each step single use.
    async fn update_auth_session(&self, s: &AuthSession, from: &str) -> Result<bool>;
    /// Remove sessions that expired before `before`.
    async fn prune_auth_sessions(&self, before: Millis) -> Result<u64>;

    /// Append audit events in one transaction: each gets the next `seq` of its account
    /// and `hash = chain(account, seq, prev_hash, event)`, chained to the account's
    /// newest event (or checkpoint, after a prune). Committed before this returns.
    async fn append_audit(
        &self,
        events: Vec<NewAuditEvent>,
        chain: ChainFn,
    ) -> Result<Vec<AuditRow>>;
    /// Events matching `q`, ordered by `id` (the order of commits).
    async fn list_audit(&self, q: &AuditQuery) -> Result<Vec<AuditRow>>;
    /// Accounts whose newest event is newer than their newest checkpoint: that event's
    /// account, seq and hash.
    async fn audit_heads_to_checkpoint(&self) -> Result<Vec<AuditHead>>;
    async fn insert_audit_checkpoint(&self, c: &AuditCheckpoint) -> Result<()>;
    /// Checkpoints (of one account, or all), ordered by account and seq.
    async fn list_audit_checkpoints(
        &self,
        account_id: Option<&str>,
    ) -> Result<Vec<AuditCheckpoint>>;
    /// Delete the events of `account_id` with `seq <= up_to_seq` and the checkpoints
    /// before that one; the number of events deleted.
    async fn prune_audit(&self, account_id: &str, up_to_seq: i64) -> Result<u64>;
}

/// The hash that chains an audit event to the one before it.
pub type ChainFn = fn(account: &str, seq: i64, prev_hash: &[u8], event: &str) -> Vec<u8>;

/// An audit event to append; `event` is its JSON text, which the hash covers.
#[derive(Clone, Debug)]
pub struct NewAuditEvent {
    pub account_id: String,
    pub time_ms: Millis,
    pub operation: String,
    pub workload: Option<String>,
    pub user_key: Option<String>,
    pub provider: Option<String>,
    pub event: String,
}

/// A stored audit event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditRow {
    /// The commit order (0 in what `append_audit` returns).
    pub id: i64,
    pub account_id: String,
    pub seq: i64,
    pub time_ms: Millis,
    pub operation: String,
    pub workload: Option<String>,
    pub user_key: Option<String>,
    pub provider: Option<String>,
    pub event: String,
    pub prev_hash: Vec<u8>,
    pub hash: Vec<u8>,
}

/// What to read from the audit trail; `None` members do not filter.
#[derive(Clone, Debug, Default)]
pub struct AuditQuery {
    pub account_id: Option<String>,
    pub workload: Option<String>,
    pub user_key: Option<String>,
    pub provider: Option<String>,
    pub operation: Option<String>,
    pub since_ms: Option<Millis>,
    pub until_ms: Option<Millis>,
    /// Only events with a larger `id`.
    pub after_id: Option<i64>,
    /// At most this many; with `newest`, the newest ones (still returned oldest first).
    pub limit: u32,
    pub newest: bool,
}

/// Where an account's chain stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditHead {
    pub account_id: String,
    pub seq: i64,
    pub hash: Vec<u8>,
}

/// A signed statement that an account's chain reached `seq` with `hash`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditCheckpoint {
    pub account_id: String,
    pub seq: i64,
    pub hash: Vec<u8>,
    pub time_ms: Millis,
    pub kid: String,
    pub signature: Vec<u8>,
}
