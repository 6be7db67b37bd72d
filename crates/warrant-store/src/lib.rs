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

#[async_trait]
pub trait Store: Send + Sync + 'static {
    async fn meta_get(&self, key: &str) -> Result<Option<Vec<u8>>>;
    /// Insert unless present; true when this call inserted it.
    async fn meta_put_if_absent(&self, key: &str, value: &[u8]) -> Result<bool>;
    /// A number that changes whenever any connection or process commits a change;
    /// `None` when the backend cannot tell (then nothing may be cached).
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
}
