//! A read-through cache in front of a [`Store`], for the hot path: every API call reads
//! its caller's access key, and most read one resource by name.
//!
//! Coherence: entries carry the generation they were read under. Every write through
//! this store bumps the generation after it commits, and a background task asks the
//! backend for its data version every `refresh` interval, bumping the generation when
//! another process (the `warrant keys` CLI, another node) changed the data. A read
//! never caches a row it fetched while a write raced it (the generation it started
//! under must still be current). So a write by this process is visible to the next
//! request, and a write by another process within one refresh interval.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use async_trait::async_trait;

use crate::{
    AccessKeyRecord, AuditCheckpoint, AuditHead, AuditQuery, AuditRow, AuthSession, ChainFn, Kind,
    Millis, NewAuditEvent, ResourceRecord, ResourceUpdate, Result, SigningKeyRecord, Store,
    VaultEntry,
};

type ResourceKey = (String, Kind, String);

#[derive(Default)]
struct Entries {
    generation: u64,
    keys: HashMap<String, Arc<AccessKeyRecord>>,
    resources: HashMap<ResourceKey, Arc<ResourceRecord>>,
}

pub struct CachedStore {
    inner: Arc<dyn Store>,
    generation: AtomicU64,
    entries: Mutex<Entries>,
    max_entries: usize,
}

impl CachedStore {
    /// Wrap `inner`, holding at most `max_entries` rows (the cache empties when full),
    /// and watch for changes by other processes every `refresh`.
    pub async fn new(
        inner: Arc<dyn Store>,
        max_entries: usize,
        refresh: Duration,
    ) -> Result<Arc<Self>> {
        // Read the version before anything is cached, so no change can slip between.
        let first = inner.data_version().await?;
        let this = Arc::new(Self {
            inner,
            generation: AtomicU64::new(1),
            entries: Mutex::new(Entries::default()),
            max_entries,
        });
        let weak = Arc::downgrade(&this);
        tokio::spawn(watch(weak, refresh, first));
        Ok(this)
    }

    fn bump(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    fn current(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Lock the entries, dropping them if they belong to an older generation.
    fn lock(&self, generation: u64) -> std::sync::MutexGuard<'_, Entries> {
        let mut e = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if e.generation != generation {
            e.keys.clear();
            e.resources.clear();
            e.generation = generation;
        }
        e
    }

    fn room(&self, e: &mut Entries) {
        if e.keys.len() + e.resources.len() >= self.max_entries {
            e.keys.clear();
            e.resources.clear();
        }
    }
}

async fn watch(this: Weak<CachedStore>, refresh: Duration, first: Option<i64>) {
    let mut last = first;
    loop {
        tokio::time::sleep(refresh).await;
        let Some(store) = this.upgrade() else { return };
        match store.inner.data_version().await {
            Ok(Some(v)) => {
                if last != Some(v) {
                    store.bump();
                }
                last = Some(v);
            }
            Ok(None) => {
                // The backend cannot tell: never trust an entry for longer than one interval.
                store.bump();
            }
            Err(e) => {
                // Unable to tell whether others wrote: drop everything to be safe.
                tracing::warn!(error = %e, "cache: cannot read the data version");
                store.bump();
            }
        }
    }
}

#[async_trait]
impl Store for CachedStore {
    async fn meta_get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        self.inner.meta_get(key).await
    }

    async fn meta_put_if_absent(&self, key: &str, value: &[u8]) -> Result<bool> {
        let r = self.inner.meta_put_if_absent(key, value).await;
        self.bump();
        r
    }

    async fn data_version(&self) -> Result<Option<i64>> {
        self.inner.data_version().await
    }

    async fn count_access_keys(&self) -> Result<i64> {
        self.inner.count_access_keys().await
    }

    async fn insert_access_key(&self, rec: &AccessKeyRecord) -> Result<()> {
        let r = self.inner.insert_access_key(rec).await;
        self.bump();
        r
    }

    async fn get_access_key(&self, id: &str) -> Result<Option<Arc<AccessKeyRecord>>> {
        let generation = self.current();
        if let Some(r) = self.lock(generation).keys.get(id) {
            return Ok(Some(r.clone()));
        }
        let rec = self.inner.get_access_key(id).await?;
        if let Some(r) = &rec {
            let mut e = self.lock(generation);
            if self.current() == generation {
                self.room(&mut e);
                e.keys.insert(id.to_string(), r.clone());
            }
        }
        Ok(rec)
    }

    async fn list_access_keys(&self) -> Result<Vec<AccessKeyRecord>> {
        self.inner.list_access_keys().await
    }

    async fn delete_access_key(&self, id: &str) -> Result<bool> {
        let r = self.inner.delete_access_key(id).await;
        self.bump();
        r
    }

    async fn insert_resource(&self, rec: &ResourceRecord, tags: &[(String, String)]) -> Result<()> {
        let r = self.inner.insert_resource(rec, tags).await;
        self.bump();
        r
    }

    async fn get_resource(
        &self,
        account_id: &str,
        kind: Kind,
        name: &str,
    ) -> Result<Option<Arc<ResourceRecord>>> {
        let generation = self.current();
        let key = (account_id.to_string(), kind, name.to_string());
        if let Some(r) = self.lock(generation).resources.get(&key) {
            return Ok(Some(r.clone()));
        }
        let rec = self.inner.get_resource(account_id, kind, name).await?;
        if let Some(r) = &rec {
            let mut e = self.lock(generation);
            if self.current() == generation {
                self.room(&mut e);
                e.resources.insert(key, r.clone());
            }
        }
        Ok(rec)
    }

    async fn update_resource(
        &self,
        account_id: &str,
        kind: Kind,
        name: &str,
        update: &ResourceUpdate,
    ) -> Result<Option<ResourceRecord>> {
        let r = self
            .inner
            .update_resource(account_id, kind, name, update)
            .await;
        self.bump();
        r
    }

    async fn delete_resource(&self, account_id: &str, kind: Kind, name: &str) -> Result<bool> {
        let r = self.inner.delete_resource(account_id, kind, name).await;
        self.bump();
        r
    }

    async fn list_resources(
        &self,
        account_id: &str,
        kind: Kind,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<ResourceRecord>> {
        self.inner
            .list_resources(account_id, kind, after, limit)
            .await
    }

    async fn tag_resource(
        &self,
        account_id: &str,
        arn: &str,
        tags: &[(String, String)],
        max_tags: usize,
    ) -> Result<()> {
        self.inner
            .tag_resource(account_id, arn, tags, max_tags)
            .await
    }

    async fn untag_resource(&self, account_id: &str, arn: &str, keys: &[String]) -> Result<()> {
        self.inner.untag_resource(account_id, arn, keys).await
    }

    async fn list_tags(&self, account_id: &str, arn: &str) -> Result<Vec<(String, String)>> {
        self.inner.list_tags(account_id, arn).await
    }

    // Signing keys and vault entries are not cached here: the service keeps its own
    // parsed keys and opened tokens. Their writes touch no cached row, so they do not
    // bump the generation here (nor does the data version, which shows only other
    // processes' commits).
    async fn insert_signing_key_if_absent(&self, rec: &SigningKeyRecord) -> Result<bool> {
        self.inner.insert_signing_key_if_absent(rec).await
    }

    async fn list_signing_keys(&self, not_after_since: Millis) -> Result<Vec<SigningKeyRecord>> {
        self.inner.list_signing_keys(not_after_since).await
    }

    async fn get_vault_entry(
        &self,
        account_id: &str,
        entry_key: &str,
    ) -> Result<Option<VaultEntry>> {
        self.inner.get_vault_entry(account_id, entry_key).await
    }

    async fn put_vault_entry(&self, entry: &VaultEntry) -> Result<()> {
        self.inner.put_vault_entry(entry).await
    }

    async fn count_vault_entries(&self, account_id: &str) -> Result<i64> {
        self.inner.count_vault_entries(account_id).await
    }

    // Vault leases and authorization sessions change with every step: never cached.
    async fn delete_vault_entry(&self, account_id: &str, entry_key: &str) -> Result<bool> {
        self.inner.delete_vault_entry(account_id, entry_key).await
    }

    async fn acquire_vault_lease(
        &self,
        account_id: &str,
        entry_key: &str,
        owner: &str,
        now: Millis,
        until: Millis,
    ) -> Result<bool> {
        self.inner
            .acquire_vault_lease(account_id, entry_key, owner, now, until)
            .await
    }

    async fn release_vault_lease(
        &self,
        account_id: &str,
        entry_key: &str,
        owner: &str,
    ) -> Result<()> {
        self.inner
            .release_vault_lease(account_id, entry_key, owner)
            .await
    }

    async fn insert_auth_session(&self, s: &AuthSession) -> Result<()> {
        self.inner.insert_auth_session(s).await
    }

    async fn get_auth_session(&self, id: &str) -> Result<Option<AuthSession>> {
        self.inner.get_auth_session(id).await
    }

    async fn find_auth_session_by_state(&self, state_hash: &str) -> Result<Option<AuthSession>> {
        self.inner.find_auth_session_by_state(state_hash).await
    }

    async fn update_auth_session(&self, s: &AuthSession, from: &str) -> Result<bool> {
        self.inner.update_auth_session(s, from).await
    }

    async fn prune_auth_sessions(&self, before: Millis) -> Result<u64> {
        self.inner.prune_auth_sessions(before).await
    }

    // The audit trail is append-only and read rarely: nothing to cache.
    async fn append_audit(
        &self,
        events: Vec<NewAuditEvent>,
        chain: ChainFn,
    ) -> Result<Vec<AuditRow>> {
        self.inner.append_audit(events, chain).await
    }

    async fn list_audit(&self, q: &AuditQuery) -> Result<Vec<AuditRow>> {
        self.inner.list_audit(q).await
    }

    async fn audit_heads_to_checkpoint(&self) -> Result<Vec<AuditHead>> {
        self.inner.audit_heads_to_checkpoint().await
    }

    async fn insert_audit_checkpoint(&self, c: &AuditCheckpoint) -> Result<()> {
        self.inner.insert_audit_checkpoint(c).await
    }

    async fn list_audit_checkpoints(
        &self,
        account_id: Option<&str>,
    ) -> Result<Vec<AuditCheckpoint>> {
        self.inner.list_audit_checkpoints(account_id).await
    }

    async fn prune_audit(&self, account_id: &str, up_to_seq: i64) -> Result<u64> {
        self.inner.prune_audit(account_id, up_to_seq).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{SqliteOptions, SqliteStore};

    fn rec(name: &str, body: &str) -> ResourceRecord {
        ResourceRecord {
            account_id: "a".into(),
            kind: Kind::WorkloadIdentity,
            name: name.into(),
            arn: format!("arn:{name}"),
            body: body.into(),
            secret_sealed: None,
            lookup_id: None,
            created_at: 1,
            updated_at: 1,
        }
    }

    #[tokio::test]
    async fn own_writes_are_seen_at_once_and_others_within_the_refresh() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.db");
        let p = path.to_str().unwrap();
        let raw = Arc::new(
            SqliteStore::open(p, &SqliteOptions::default())
                .await
                .unwrap(),
        );
        let cached = CachedStore::new(raw.clone(), 100, Duration::from_millis(20))
            .await
            .unwrap();
        cached.insert_resource(&rec("x", "1"), &[]).await.unwrap();
        let got = cached
            .get_resource("a", Kind::WorkloadIdentity, "x")
            .await
            .unwrap();
        assert_eq!(got.unwrap().body, "1");
        // Our own update is visible immediately.
        let up = ResourceUpdate {
            body: "2".into(),
            secret_sealed: None,
            updated_at: 2,
        };
        cached
            .update_resource("a", Kind::WorkloadIdentity, "x", &up)
            .await
            .unwrap();
        let got = cached
            .get_resource("a", Kind::WorkloadIdentity, "x")
            .await
            .unwrap();
        assert_eq!(got.unwrap().body, "2");
        // Another process (here: a second, uncached store on the same file) deletes it.
        let other = SqliteStore::open(p, &SqliteOptions::default())
            .await
            .unwrap();
        assert!(other
            .delete_resource("a", Kind::WorkloadIdentity, "x")
            .await
            .unwrap());
        let mut gone = false;
        for _ in 0..50 {
            tokio::time::sleep(Duration::from_millis(10)).await;
            if cached
                .get_resource("a", Kind::WorkloadIdentity, "x")
                .await
                .unwrap()
                .is_none()
            {
                gone = true;
                break;
            }
        }
        assert!(
            gone,
            "an external delete must reach the cache within the refresh interval"
        );
    }

    #[tokio::test]
    async fn cache_stays_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.db");
        let raw = Arc::new(
            SqliteStore::open(path.to_str().unwrap(), &SqliteOptions::default())
                .await
                .unwrap(),
        );
        let cached = CachedStore::new(raw, 3, Duration::from_secs(60))
            .await
            .unwrap();
        for i in 0..10 {
            let n = format!("n{i}");
            cached.insert_resource(&rec(&n, "b"), &[]).await.unwrap();
        }
        for i in 0..10 {
            let n = format!("n{i}");
            assert!(cached
                .get_resource("a", Kind::WorkloadIdentity, &n)
                .await
                .unwrap()
                .is_some());
        }
        let e = cached.entries.lock().unwrap();
        assert!(e.keys.len() + e.resources.len() <= 3);
    }
}
