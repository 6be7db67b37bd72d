//! The embedded SQLite backend.
//!
//! One writer connection serializes writes (SQLite allows one writer at a time; a
//! single writer avoids busy errors on lock upgrades), and a small pool of readers
//! serves reads concurrently under WAL. `synchronous=FULL` makes every acknowledged
//! commit durable across a crash or power loss.

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{Row, SqlitePool};

use crate::{
    AccessKeyRecord, AuditCheckpoint, AuditHead, AuditQuery, AuditRow, AuthSession, ChainFn, Kind,
    Millis, NewAuditEvent, ResourceRecord, ResourceUpdate, Result, SigningKeyRecord, Store,
    StoreError, VaultEntry,
};

/// Tunables of the SQLite backend.
#[derive(Clone, Debug)]
pub struct SqliteOptions {
    /// Reader connections (WAL lets them read while the writer writes).
    pub readers: u32,
    /// Bytes of the database file mapped into memory (`PRAGMA mmap_size`).
    pub mmap_size: u64,
    /// Page cache per connection in KiB (`PRAGMA cache_size = -N`).
    pub cache_kib: u32,
    /// How long a connection waits on a lock before failing.
    pub busy_timeout: Duration,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        Self {
            readers: 4,
            mmap_size: 64 * 1024 * 1024,
            cache_kib: 8 * 1024,
            busy_timeout: Duration::from_secs(5),
        }
    }
}

pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
    /// Each account's audit chain head as this process last appended or read it.
    audit_heads: tokio::sync::Mutex<HashMap<String, (i64, Vec<u8>)>>,
}

fn db_err(e: sqlx::Error) -> StoreError {
    if let sqlx::Error::Database(d) = &e {
        if d.is_unique_violation() {
            return StoreError::Conflict;
        }
    }
    StoreError::Database(e.to_string())
}

fn migrator() -> Migrator {
    let migrations = vec![
        Migration::new(
            1,
            Cow::Borrowed("init"),
            MigrationType::Simple,
            Cow::Borrowed(include_str!("../migrations/sqlite/0001_init.sql")),
            false,
        ),
        Migration::new(
            2,
            Cow::Borrowed("signing keys and vault"),
            MigrationType::Simple,
            Cow::Borrowed(include_str!(
                "../migrations/sqlite/0002_signing_keys_and_vault.sql"
            )),
            false,
        ),
        Migration::new(
            3,
            Cow::Borrowed("audit"),
            MigrationType::Simple,
            Cow::Borrowed(include_str!("../migrations/sqlite/0003_audit.sql")),
            false,
        ),
        Migration::new(
            4,
            Cow::Borrowed("user federation"),
            MigrationType::Simple,
            Cow::Borrowed(include_str!(
                "../migrations/sqlite/0004_user_federation.sql"
            )),
            false,
        ),
    ];
    Migrator {
        migrations: Cow::Owned(migrations),
        ..Migrator::DEFAULT
    }
}

impl SqliteStore {
    /// Open (creating if missing) the database at `url` (`sqlite://PATH` or a plain
    /// path) and apply pending migrations.
    pub async fn open(url: &str, opts: &SqliteOptions) -> Result<Self> {
        let base = if url.starts_with("sqlite:") {
            SqliteConnectOptions::from_str(url).map_err(db_err)?
        } else {
            SqliteConnectOptions::new().filename(Path::new(url))
        };
        let base = base
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(opts.busy_timeout)
            .foreign_keys(true)
            .pragma("mmap_size", opts.mmap_size.to_string())
            .pragma("cache_size", format!("-{}", opts.cache_kib));
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(base.clone())
            .await
            .map_err(db_err)?;
        migrator()
            .run(&writer)
            .await
            .map_err(|e| StoreError::Database(e.to_string()))?;
        let reader = SqlitePoolOptions::new()
            .max_connections(opts.readers.max(1))
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(base.clone().read_only(true))
            .await
            .map_err(db_err)?;
        Ok(Self {
            writer,
            reader,
            audit_heads: Default::default(),
        })
    }

    /// Close both pools, checkpointing the WAL.
    pub async fn close(&self) {
        self.reader.close().await;
        self.writer.close().await;
    }
}

/// One attempt at appending a batch: each event's (seq, prev_hash, hash), committed in a
/// single round trip to SQLite's worker thread (`BEGIN IMMEDIATE; INSERT ...; COMMIT` as
/// one multi-statement query). The hand-offs to and from that thread cost more than the
/// rows on a small machine, so the chain heads come from `heads`, read from the database
/// only for an account this process has not appended to yet. A head gone stale (another
/// process appended since) cannot fork the chain: the guarded head update then fails as
/// a conflict, and the caller retries after reading the heads again.
async fn append_audit_once(
    conn: &mut sqlx::SqliteConnection,
    heads: &mut HashMap<String, (i64, Vec<u8>)>,
    events: &[NewAuditEvent],
    chain: ChainFn,
) -> Result<Vec<(i64, Vec<u8>, Vec<u8>)>> {
    for e in events {
        if heads.contains_key(e.account_id.as_str()) {
            continue;
        }
        // The heads table, else the newest checkpoint (every event pruned), else the
        // start of a chain.
        let row = sqlx::query(
            "SELECT seq, hash FROM audit_heads WHERE account_id = ?1 \
             UNION ALL SELECT seq, hash FROM audit_checkpoints WHERE account_id = ?1 \
             ORDER BY seq DESC LIMIT 1",
        )
        .bind(&e.account_id)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_err)?;
        let head = row
            .map(|r| (r.get::<i64, _>(0), r.get::<Vec<u8>, _>(1)))
            .unwrap_or((0, vec![0u8; 32]));
        heads.insert(e.account_id.clone(), head);
    }
    // Chain on a copy: `heads` changes only once the commit succeeded.
    let mut next: HashMap<&str, (i64, Vec<u8>)> = HashMap::new();
    let mut links = Vec::with_capacity(events.len());
    for e in events {
        let head = next
            .entry(e.account_id.as_str())
            .or_insert_with(|| heads[e.account_id.as_str()].clone());
        let seq = head.0 + 1;
        let hash = chain(&e.account_id, seq, &head.1, &e.event);
        let prev_hash = std::mem::replace(&mut head.1, hash.clone());
        head.0 = seq;
        links.push((seq, prev_hash, hash));
    }
    // The heads first, each guarded: a head that moved since this process read it
    // (another process appended, checkpointed, or even pruned) makes the guarded seq
    // NULL, which NOT NULL refuses, so nothing of the batch is written. UNIQUE
    // (account_id, seq) on the events is a second guard.
    let mut sql = String::from("BEGIN IMMEDIATE;");
    for _ in 0..next.len() {
        sql.push_str(
            "INSERT INTO audit_heads (account_id, seq, hash) VALUES (?,?,?) \
             ON CONFLICT (account_id) DO UPDATE SET \
             seq = CASE WHEN audit_heads.seq = ? THEN excluded.seq END, hash = excluded.hash;",
        );
    }
    // Anonymous `?` placeholders: SQLite finds a numbered one's name by a linear search,
    // which makes binding a large statement quadratic. They count on across the
    // statements of the query.
    for (n, _) in events.iter().enumerate() {
        sql.push_str(if n % 256 == 0 {
            "INSERT INTO audit_events (account_id, seq, time_ms, operation, workload, user_key, provider, event, prev_hash, hash) VALUES "
        } else {
            ","
        });
        sql.push_str("(?,?,?,?,?,?,?,?,?,?)");
        if n % 256 == 255 || n + 1 == events.len() {
            sql.push(';');
        }
    }
    sql.push_str("COMMIT;");
    let mut q = sqlx::query(&sql);
    for (account, (seq, hash)) in &next {
        q = q
            .bind(*account)
            .bind(*seq)
            .bind(hash)
            .bind(heads[*account].0);
    }
    for (e, (seq, prev_hash, hash)) in events.iter().zip(&links) {
        q = q
            .bind(&e.account_id)
            .bind(*seq)
            .bind(e.time_ms)
            .bind(&e.operation)
            .bind(&e.workload)
            .bind(&e.user_key)
            .bind(&e.provider)
            .bind(&e.event)
            .bind(prev_hash)
            .bind(hash);
    }
    q.execute(&mut *conn).await.map_err(|e| match &e {
        sqlx::Error::Database(d) if d.kind() == sqlx::error::ErrorKind::NotNullViolation => {
            StoreError::Conflict
        }
        _ => db_err(e),
    })?;
    for (account, head) in next {
        heads.insert(account.to_string(), head);
    }
    Ok(links)
}

const AUTH_SESSION_COLUMNS: &str = "id, account_id, state_hash, callback_id, workload, user_key, \
     provider, status, sealed, expires_at, created_at, updated_at";

fn auth_session_from_row(r: &SqliteRow) -> AuthSession {
    AuthSession {
        id: r.get("id"),
        account_id: r.get("account_id"),
        state_hash: r.get("state_hash"),
        callback_id: r.get("callback_id"),
        workload: r.get("workload"),
        user_key: r.get("user_key"),
        provider: r.get("provider"),
        status: r.get("status"),
        sealed: r.get("sealed"),
        expires_at: r.get("expires_at"),
        created_at: r.get("created_at"),
        updated_at: r.get("updated_at"),
    }
}

impl SqliteStore {
    /// The session whose `column` (`id` or `state_hash`, both unique) is `value`. Read
    /// from the writer: a session's steps follow each other within milliseconds, and a
    /// reader connection may not see the step just committed yet.
    async fn auth_session_by(&self, column: &str, value: &str) -> Result<Option<AuthSession>> {
        let sql = format!("SELECT {AUTH_SESSION_COLUMNS} FROM auth_sessions WHERE {column} = ?1");
        let row = sqlx::query(&sql)
            .bind(value)
            .fetch_optional(&self.writer)
            .await
            .map_err(db_err)?;
        Ok(row.as_ref().map(auth_session_from_row))
    }
}

fn kind_from_str(s: &str) -> Result<Kind> {
    Kind::from_stored(s).ok_or_else(|| StoreError::Database(format!("unknown kind {s:?}")))
}

fn access_key_from_row(r: &SqliteRow) -> AccessKeyRecord {
    AccessKeyRecord {
        access_key_id: r.get("access_key_id"),
        account_id: r.get("account_id"),
        name: r.get("name"),
        secret_sealed: r.get("secret_sealed"),
        policy: r.get("policy"),
        created_at: r.get("created_at"),
    }
}

fn resource_from_row(r: &SqliteRow) -> Result<ResourceRecord> {
    Ok(ResourceRecord {
        account_id: r.get("account_id"),
        kind: kind_from_str(r.get::<&str, _>("kind"))?,
        name: r.get("name"),
        arn: r.get("arn"),
        body: r.get("body"),
        secret_sealed: r.get("secret_sealed"),
        lookup_id: r.get("lookup_id"),
        created_at: r.get("created_at"),
        updated_at: r.get("updated_at"),
    })
}

const RESOURCE_COLUMNS: &str =
    "account_id, kind, name, arn, body, secret_sealed, lookup_id, created_at, updated_at";

#[async_trait]
impl Store for SqliteStore {
    async fn meta_get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        sqlx::query_scalar("SELECT value FROM meta WHERE key = ?1")
            .bind(key)
            .fetch_optional(&self.reader)
            .await
            .map_err(db_err)
    }

    async fn meta_put_if_absent(&self, key: &str, value: &[u8]) -> Result<bool> {
        let r = sqlx::query("INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT DO NOTHING")
            .bind(key)
            .bind(value)
            .execute(&self.writer)
            .await
            .map_err(db_err)?;
        Ok(r.rows_affected() == 1)
    }

    async fn data_version(&self) -> Result<Option<i64>> {
        // Asked on the writer connection: SQLite's data_version changes for commits by
        // *other* connections, and every write of this process goes through the
        // writer, so only other processes' commits (the CLI, another node) show here.
        // (On a separate connection, this process's own audit and vault commits would
        // flush the read cache every interval.)
        sqlx::query_scalar("PRAGMA data_version")
            .fetch_one(&self.writer)
            .await
            .map(Some)
            .map_err(db_err)
    }

    async fn count_access_keys(&self) -> Result<i64> {
        sqlx::query_scalar("SELECT COUNT(*) FROM access_keys")
            .fetch_one(&self.reader)
            .await
            .map_err(db_err)
    }

    async fn insert_access_key(&self, rec: &AccessKeyRecord) -> Result<()> {
        sqlx::query(
            "INSERT INTO access_keys (access_key_id, account_id, name, secret_sealed, policy, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )
        .bind(&rec.access_key_id)
        .bind(&rec.account_id)
        .bind(&rec.name)
        .bind(&rec.secret_sealed)
        .bind(&rec.policy)
        .bind(rec.created_at)
        .execute(&self.writer)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn get_access_key(&self, access_key_id: &str) -> Result<Option<Arc<AccessKeyRecord>>> {
        let row = sqlx::query("SELECT * FROM access_keys WHERE access_key_id = ?1")
            .bind(access_key_id)
            .fetch_optional(&self.reader)
            .await
            .map_err(db_err)?;
        Ok(row.as_ref().map(|r| Arc::new(access_key_from_row(r))))
    }

    async fn list_access_keys(&self) -> Result<Vec<AccessKeyRecord>> {
        let rows =
            sqlx::query("SELECT * FROM access_keys ORDER BY account_id, name, access_key_id")
                .fetch_all(&self.reader)
                .await
                .map_err(db_err)?;
        Ok(rows.iter().map(access_key_from_row).collect())
    }

    async fn delete_access_key(&self, access_key_id: &str) -> Result<bool> {
        let r = sqlx::query("DELETE FROM access_keys WHERE access_key_id = ?1")
            .bind(access_key_id)
            .execute(&self.writer)
            .await
            .map_err(db_err)?;
        Ok(r.rows_affected() == 1)
    }

    async fn insert_resource(&self, rec: &ResourceRecord, tags: &[(String, String)]) -> Result<()> {
        let mut tx = self.writer.begin().await.map_err(db_err)?;
        sqlx::query(
            "INSERT INTO resources (account_id, kind, name, arn, body, secret_sealed, lookup_id, created_at, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )
        .bind(&rec.account_id)
        .bind(rec.kind.as_str())
        .bind(&rec.name)
        .bind(&rec.arn)
        .bind(&rec.body)
        .bind(&rec.secret_sealed)
        .bind(&rec.lookup_id)
        .bind(rec.created_at)
        .bind(rec.updated_at)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        // Tags of an earlier resource with the same ARN were deleted with it; replace
        // any leftovers all the same so a new resource never inherits tags.
        sqlx::query("DELETE FROM tags WHERE account_id = ?1 AND resource_arn = ?2")
            .bind(&rec.account_id)
            .bind(&rec.arn)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        for (k, v) in tags {
            sqlx::query(
                "INSERT INTO tags (account_id, resource_arn, key, value) VALUES (?1, ?2, ?3, ?4)",
            )
            .bind(&rec.account_id)
            .bind(&rec.arn)
            .bind(k)
            .bind(v)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        }
        tx.commit().await.map_err(db_err)
    }

    async fn get_resource(
        &self,
        account_id: &str,
        kind: Kind,
        name: &str,
    ) -> Result<Option<Arc<ResourceRecord>>> {
        let row = sqlx::query(&format!(
            "SELECT {RESOURCE_COLUMNS} FROM resources WHERE account_id = ?1 AND kind = ?2 AND name = ?3"
        ))
        .bind(account_id)
        .bind(kind.as_str())
        .bind(name)
        .fetch_optional(&self.reader)
        .await
        .map_err(db_err)?;
        row.as_ref()
            .map(|r| resource_from_row(r).map(Arc::new))
            .transpose()
    }

    async fn update_resource(
        &self,
        account_id: &str,
        kind: Kind,
        name: &str,
        update: &ResourceUpdate,
    ) -> Result<Option<ResourceRecord>> {
        let row = sqlx::query(&format!(
            "UPDATE resources SET body = ?4, secret_sealed = COALESCE(?5, secret_sealed), updated_at = ?6 \
             WHERE account_id = ?1 AND kind = ?2 AND name = ?3 RETURNING {RESOURCE_COLUMNS}"
        ))
        .bind(account_id)
        .bind(kind.as_str())
        .bind(name)
        .bind(&update.body)
        .bind(&update.secret_sealed)
        .bind(update.updated_at)
        .fetch_optional(&self.writer)
        .await
        .map_err(db_err)?;
        row.as_ref().map(resource_from_row).transpose()
    }

    async fn delete_resource(&self, account_id: &str, kind: Kind, name: &str) -> Result<bool> {
        let mut tx = self.writer.begin().await.map_err(db_err)?;
        let arn: Option<String> = sqlx::query_scalar(
            "DELETE FROM resources WHERE account_id = ?1 AND kind = ?2 AND name = ?3 RETURNING arn",
        )
        .bind(account_id)
        .bind(kind.as_str())
        .bind(name)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?;
        let Some(arn) = arn else {
            return Ok(false);
        };
        sqlx::query("DELETE FROM tags WHERE account_id = ?1 AND resource_arn = ?2")
            .bind(account_id)
            .bind(&arn)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        // The vault's tokens go with the workload or provider they were fetched for.
        // (Only OAuth2 providers have tokens in the vault; an API-key provider of the
        // same name must not take them along.)
        let column = match kind {
            Kind::WorkloadIdentity => Some("workload"),
            Kind::Oauth2Provider => Some("provider"),
            Kind::ApiKeyProvider | Kind::TokenVault => None,
        };
        if let Some(column) = column {
            // With them their refresh leases (a crashed node's would stay forever), and
            // the authorization sessions, which could otherwise still complete.
            let statements = [
                format!(
                    "DELETE FROM vault_leases WHERE account_id = ?1 AND entry_key IN \
                     (SELECT entry_key FROM vault_entries WHERE account_id = ?1 AND {column} = ?2)"
                ),
                format!("DELETE FROM vault_entries WHERE account_id = ?1 AND {column} = ?2"),
                format!("DELETE FROM auth_sessions WHERE account_id = ?1 AND {column} = ?2"),
            ];
            for sql in &statements {
                sqlx::query(sql)
                    .bind(account_id)
                    .bind(name)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
            }
        }
        tx.commit().await.map_err(db_err)?;
        Ok(true)
    }

    async fn list_resources(
        &self,
        account_id: &str,
        kind: Kind,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<ResourceRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {RESOURCE_COLUMNS} FROM resources WHERE account_id = ?1 AND kind = ?2 AND name > ?3 \
             ORDER BY name LIMIT ?4"
        ))
        .bind(account_id)
        .bind(kind.as_str())
        .bind(after.unwrap_or(""))
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await
        .map_err(db_err)?;
        rows.iter().map(resource_from_row).collect()
    }

    async fn tag_resource(
        &self,
        account_id: &str,
        arn: &str,
        tags: &[(String, String)],
        max_tags: usize,
    ) -> Result<()> {
        let mut tx = self.writer.begin().await.map_err(db_err)?;
        for (k, v) in tags {
            sqlx::query(
                "INSERT INTO tags (account_id, resource_arn, key, value) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT (account_id, resource_arn, key) DO UPDATE SET value = excluded.value",
            )
            .bind(account_id)
            .bind(arn)
            .bind(k)
            .bind(v)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        }
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM tags WHERE account_id = ?1 AND resource_arn = ?2",
        )
        .bind(account_id)
        .bind(arn)
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err)?;
        if n as usize > max_tags {
            tx.rollback().await.map_err(db_err)?;
            return Err(StoreError::TooManyTags);
        }
        tx.commit().await.map_err(db_err)
    }

    async fn untag_resource(&self, account_id: &str, arn: &str, keys: &[String]) -> Result<()> {
        let mut tx = self.writer.begin().await.map_err(db_err)?;
        for k in keys {
            sqlx::query(
                "DELETE FROM tags WHERE account_id = ?1 AND resource_arn = ?2 AND key = ?3",
            )
            .bind(account_id)
            .bind(arn)
            .bind(k)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        }
        tx.commit().await.map_err(db_err)
    }

    async fn list_tags(&self, account_id: &str, arn: &str) -> Result<Vec<(String, String)>> {
        let rows = sqlx::query(
            "SELECT key, value FROM tags WHERE account_id = ?1 AND resource_arn = ?2 ORDER BY key",
        )
        .bind(account_id)
        .bind(arn)
        .fetch_all(&self.reader)
        .await
        .map_err(db_err)?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    async fn insert_signing_key_if_absent(&self, rec: &SigningKeyRecord) -> Result<bool> {
        let r = sqlx::query(
            "INSERT INTO signing_keys (slot, kid, public_key, private_sealed, not_before, not_after, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (slot) DO NOTHING",
        )
        .bind(&rec.slot)
        .bind(&rec.kid)
        .bind(&rec.public_key)
        .bind(&rec.private_sealed)
        .bind(rec.not_before)
        .bind(rec.not_after)
        .bind(rec.created_at)
        .execute(&self.writer)
        .await
        .map_err(db_err)?;
        Ok(r.rows_affected() == 1)
    }

    async fn list_signing_keys(&self, not_after_since: Millis) -> Result<Vec<SigningKeyRecord>> {
        let rows = sqlx::query(
            "SELECT slot, kid, public_key, private_sealed, not_before, not_after, created_at \
             FROM signing_keys WHERE not_after >= ?1 ORDER BY not_before",
        )
        .bind(not_after_since)
        .fetch_all(&self.reader)
        .await
        .map_err(db_err)?;
        Ok(rows
            .iter()
            .map(|r| SigningKeyRecord {
                slot: r.get("slot"),
                kid: r.get("kid"),
                public_key: r.get("public_key"),
                private_sealed: r.get("private_sealed"),
                not_before: r.get("not_before"),
                not_after: r.get("not_after"),
                created_at: r.get("created_at"),
            })
            .collect())
    }

    async fn get_vault_entry(
        &self,
        account_id: &str,
        entry_key: &str,
    ) -> Result<Option<VaultEntry>> {
        let row = sqlx::query(
            "SELECT account_id, entry_key, workload, user_key, provider, sealed, expires_at, updated_at \
             FROM vault_entries WHERE account_id = ?1 AND entry_key = ?2",
        )
        .bind(account_id)
        .bind(entry_key)
        .fetch_optional(&self.reader)
        .await
        .map_err(db_err)?;
        Ok(row.map(|r| VaultEntry {
            account_id: r.get("account_id"),
            entry_key: r.get("entry_key"),
            workload: r.get("workload"),
            user_key: r.get("user_key"),
            provider: r.get("provider"),
            sealed: r.get("sealed"),
            expires_at: r.get("expires_at"),
            updated_at: r.get("updated_at"),
        }))
    }

    async fn put_vault_entry(&self, e: &VaultEntry) -> Result<()> {
        sqlx::query(
            "INSERT INTO vault_entries (account_id, entry_key, workload, user_key, provider, sealed, expires_at, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) \
             ON CONFLICT (account_id, entry_key) DO UPDATE SET sealed = excluded.sealed, \
             expires_at = excluded.expires_at, updated_at = excluded.updated_at",
        )
        .bind(&e.account_id)
        .bind(&e.entry_key)
        .bind(&e.workload)
        .bind(&e.user_key)
        .bind(&e.provider)
        .bind(&e.sealed)
        .bind(e.expires_at)
        .bind(e.updated_at)
        .execute(&self.writer)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn count_vault_entries(&self, account_id: &str) -> Result<i64> {
        sqlx::query_scalar("SELECT COUNT(*) FROM vault_entries WHERE account_id = ?1")
            .bind(account_id)
            .fetch_one(&self.reader)
            .await
            .map_err(db_err)
    }

    async fn delete_vault_entry(&self, account_id: &str, entry_key: &str) -> Result<bool> {
        let r = sqlx::query("DELETE FROM vault_entries WHERE account_id = ?1 AND entry_key = ?2")
            .bind(account_id)
            .bind(entry_key)
            .execute(&self.writer)
            .await
            .map_err(db_err)?;
        Ok(r.rows_affected() > 0)
    }

    async fn acquire_vault_lease(
        &self,
        account_id: &str,
        entry_key: &str,
        owner: &str,
        now: Millis,
        until: Millis,
    ) -> Result<bool> {
        let r = sqlx::query(
            "INSERT INTO vault_leases (account_id, entry_key, owner, until) VALUES (?1, ?2, ?3, ?5) \
             ON CONFLICT (account_id, entry_key) DO UPDATE SET owner = excluded.owner, until = excluded.until \
             WHERE vault_leases.owner = excluded.owner OR vault_leases.until <= ?4",
        )
        .bind(account_id)
        .bind(entry_key)
        .bind(owner)
        .bind(now)
        .bind(until)
        .execute(&self.writer)
        .await
        .map_err(db_err)?;
        Ok(r.rows_affected() > 0)
    }

    async fn release_vault_lease(
        &self,
        account_id: &str,
        entry_key: &str,
        owner: &str,
    ) -> Result<()> {
        sqlx::query(
            "DELETE FROM vault_leases WHERE account_id = ?1 AND entry_key = ?2 AND owner = ?3",
        )
        .bind(account_id)
        .bind(entry_key)
        .bind(owner)
        .execute(&self.writer)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn insert_auth_session(&self, s: &AuthSession) -> Result<()> {
        sqlx::query(
            "INSERT INTO auth_sessions (id, account_id, state_hash, callback_id, workload, user_key, provider, \
             status, sealed, expires_at, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        )
        .bind(&s.id)
        .bind(&s.account_id)
        .bind(&s.state_hash)
        .bind(&s.callback_id)
        .bind(&s.workload)
        .bind(&s.user_key)
        .bind(&s.provider)
        .bind(&s.status)
        .bind(&s.sealed)
        .bind(s.expires_at)
        .bind(s.created_at)
        .bind(s.updated_at)
        .execute(&self.writer)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn get_auth_session(&self, id: &str) -> Result<Option<AuthSession>> {
        self.auth_session_by("id", id).await
    }

    async fn find_auth_session_by_state(&self, state_hash: &str) -> Result<Option<AuthSession>> {
        self.auth_session_by("state_hash", state_hash).await
    }

    async fn update_auth_session(&self, s: &AuthSession, from: &str) -> Result<bool> {
        let r = sqlx::query(
            "UPDATE auth_sessions SET status = ?1, state_hash = ?2, sealed = ?3, updated_at = ?4 \
             WHERE id = ?5 AND account_id = ?6 AND status = ?7",
        )
        .bind(&s.status)
        .bind(&s.state_hash)
        .bind(&s.sealed)
        .bind(s.updated_at)
        .bind(&s.id)
        .bind(&s.account_id)
        .bind(from)
        .execute(&self.writer)
        .await
        .map_err(db_err)?;
        Ok(r.rows_affected() > 0)
    }

    async fn prune_auth_sessions(&self, before: Millis) -> Result<u64> {
        let r = sqlx::query("DELETE FROM auth_sessions WHERE expires_at < ?1")
            .bind(before)
            .execute(&self.writer)
            .await
            .map_err(db_err)?;
        Ok(r.rows_affected())
    }

    async fn append_audit(
        &self,
        events: Vec<NewAuditEvent>,
        chain: ChainFn,
    ) -> Result<Vec<AuditRow>> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        // Appends are serialized here (there is one writer connection anyway), so the
        // head cache stays the chain this process last committed.
        let mut heads = self.audit_heads.lock().await;
        let mut conn = self.writer.acquire().await.map_err(db_err)?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = append_audit_once(&mut conn, &mut heads, &events, chain).await;
            match result {
                Ok(links) => {
                    return Ok(events
                        .into_iter()
                        .zip(links)
                        .map(|(e, (seq, prev_hash, hash))| AuditRow {
                            id: 0,
                            account_id: e.account_id,
                            seq,
                            time_ms: e.time_ms,
                            operation: e.operation,
                            workload: e.workload,
                            user_key: e.user_key,
                            provider: e.provider,
                            event: e.event,
                            prev_hash,
                            hash,
                        })
                        .collect());
                }
                Err(e) => {
                    // The statement stops at its first error, inside the transaction.
                    let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
                    heads.clear();
                    // A conflict: another process moved a chain's head since this one
                    // read it. Read the heads again.
                    if !(matches!(e, StoreError::Conflict) && attempt < 3) {
                        return Err(e);
                    }
                }
            }
        }
    }

    async fn list_audit(&self, q: &AuditQuery) -> Result<Vec<AuditRow>> {
        let mut sql = String::from(
            "SELECT id, account_id, seq, time_ms, operation, workload, user_key, provider, event, prev_hash, hash \
             FROM audit_events WHERE 1 = 1",
        );
        let mut binds: Vec<Bind> = Vec::new();
        let mut add = |cond: &str, b: Bind| {
            binds.push(b);
            sql.push_str(&format!(" AND {cond} ?{}", binds.len()));
        };
        if let Some(v) = &q.account_id {
            add("account_id =", Bind::Text(v.clone()));
        }
        if let Some(v) = &q.workload {
            add("workload =", Bind::Text(v.clone()));
        }
        if let Some(v) = &q.user_key {
            add("user_key =", Bind::Text(v.clone()));
        }
        if let Some(v) = &q.provider {
            add("provider =", Bind::Text(v.clone()));
        }
        if let Some(v) = &q.operation {
            add("operation =", Bind::Text(v.clone()));
        }
        if let Some(v) = q.since_ms {
            add("time_ms >=", Bind::Int(v));
        }
        if let Some(v) = q.until_ms {
            add("time_ms <", Bind::Int(v));
        }
        if let Some(v) = q.after_id {
            add("id >", Bind::Int(v));
        }
        sql.push_str(if q.newest {
            " ORDER BY id DESC"
        } else {
            " ORDER BY id"
        });
        sql.push_str(&format!(" LIMIT {}", q.limit));
        let mut query = sqlx::query(&sql);
        for b in binds {
            query = match b {
                Bind::Text(t) => query.bind(t),
                Bind::Int(i) => query.bind(i),
            };
        }
        let rows = query.fetch_all(&self.reader).await.map_err(db_err)?;
        let mut out: Vec<AuditRow> = rows.iter().map(audit_row).collect();
        if q.newest {
            out.reverse();
        }
        Ok(out)
    }

    async fn audit_heads_to_checkpoint(&self) -> Result<Vec<AuditHead>> {
        let rows = sqlx::query(
            "SELECT h.account_id, h.seq, h.hash FROM audit_heads h \
             WHERE h.seq > COALESCE((SELECT MAX(seq) FROM audit_checkpoints c WHERE c.account_id = h.account_id), 0)",
        )
        .fetch_all(&self.writer)
        .await
        .map_err(db_err)?;
        Ok(rows
            .iter()
            .map(|r| AuditHead {
                account_id: r.get(0),
                seq: r.get(1),
                hash: r.get(2),
            })
            .collect())
    }

    async fn insert_audit_checkpoint(&self, c: &AuditCheckpoint) -> Result<()> {
        sqlx::query(
            "INSERT INTO audit_checkpoints (account_id, seq, hash, time_ms, kid, signature) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (account_id, seq) DO NOTHING",
        )
        .bind(&c.account_id)
        .bind(c.seq)
        .bind(&c.hash)
        .bind(c.time_ms)
        .bind(&c.kid)
        .bind(&c.signature)
        .execute(&self.writer)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn list_audit_checkpoints(
        &self,
        account_id: Option<&str>,
    ) -> Result<Vec<AuditCheckpoint>> {
        let rows = sqlx::query(
            "SELECT account_id, seq, hash, time_ms, kid, signature FROM audit_checkpoints \
             WHERE ?1 IS NULL OR account_id = ?1 ORDER BY account_id, seq",
        )
        .bind(account_id)
        .fetch_all(&self.reader)
        .await
        .map_err(db_err)?;
        Ok(rows
            .iter()
            .map(|r| AuditCheckpoint {
                account_id: r.get("account_id"),
                seq: r.get("seq"),
                hash: r.get("hash"),
                time_ms: r.get("time_ms"),
                kid: r.get("kid"),
                signature: r.get("signature"),
            })
            .collect())
    }

    async fn prune_audit(&self, account_id: &str, up_to_seq: i64) -> Result<u64> {
        let mut tx = self.writer.begin().await.map_err(db_err)?;
        let n = sqlx::query("DELETE FROM audit_events WHERE account_id = ?1 AND seq <= ?2")
            .bind(account_id)
            .bind(up_to_seq)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?
            .rows_affected();
        sqlx::query("DELETE FROM audit_checkpoints WHERE account_id = ?1 AND seq < ?2")
            .bind(account_id)
            .bind(up_to_seq)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(n)
    }
}

/// A value bound to a query built at run time.
enum Bind {
    Text(String),
    Int(i64),
}

fn audit_row(r: &sqlx::sqlite::SqliteRow) -> AuditRow {
    AuditRow {
        id: r.get("id"),
        account_id: r.get("account_id"),
        seq: r.get("seq"),
        time_ms: r.get("time_ms"),
        operation: r.get("operation"),
        workload: r.get("workload"),
        user_key: r.get("user_key"),
        provider: r.get("provider"),
        event: r.get("event"),
        prev_hash: r.get("prev_hash"),
        hash: r.get("hash"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn store() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.db");
        let s = SqliteStore::open(path.to_str().unwrap(), &SqliteOptions::default())
            .await
            .unwrap();
        (dir, s)
    }

    fn rec(account: &str, name: &str) -> ResourceRecord {
        ResourceRecord {
            account_id: account.into(),
            kind: Kind::WorkloadIdentity,
            name: name.into(),
            arn: format!("arn:{account}:{name}"),
            body: "{}".into(),
            secret_sealed: Some(vec![1, 2, 3]),
            lookup_id: None,
            created_at: 1,
            updated_at: 1,
        }
    }

    #[tokio::test]
    async fn resources_crud_conflict_and_account_isolation() {
        let (_d, s) = store().await;
        let tags = vec![("k".to_string(), "v".to_string())];
        s.insert_resource(&rec("a", "one"), &tags).await.unwrap();
        assert!(matches!(
            s.insert_resource(&rec("a", "one"), &[]).await,
            Err(StoreError::Conflict)
        ));
        s.insert_resource(&rec("b", "one"), &[]).await.unwrap();
        assert!(s
            .get_resource("a", Kind::WorkloadIdentity, "one")
            .await
            .unwrap()
            .is_some());
        assert!(s
            .get_resource("a", Kind::ApiKeyProvider, "one")
            .await
            .unwrap()
            .is_none());
        assert!(s
            .get_resource("c", Kind::WorkloadIdentity, "one")
            .await
            .unwrap()
            .is_none());
        assert_eq!(s.list_tags("a", "arn:a:one").await.unwrap(), tags);
        assert!(s.list_tags("b", "arn:a:one").await.unwrap().is_empty());

        let up = ResourceUpdate {
            body: "{\"x\":1}".into(),
            secret_sealed: None,
            updated_at: 5,
        };
        let r = s
            .update_resource("a", Kind::WorkloadIdentity, "one", &up)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(r.body, "{\"x\":1}");
        assert_eq!(
            r.secret_sealed,
            Some(vec![1, 2, 3]),
            "None keeps the secret"
        );
        assert_eq!(r.updated_at, 5);
        assert!(s
            .update_resource("a", Kind::WorkloadIdentity, "nope", &up)
            .await
            .unwrap()
            .is_none());

        assert!(s
            .delete_resource("a", Kind::WorkloadIdentity, "one")
            .await
            .unwrap());
        assert!(!s
            .delete_resource("a", Kind::WorkloadIdentity, "one")
            .await
            .unwrap());
        assert!(
            s.list_tags("a", "arn:a:one").await.unwrap().is_empty(),
            "tags go with it"
        );
        assert!(s
            .get_resource("b", Kind::WorkloadIdentity, "one")
            .await
            .unwrap()
            .is_some());
    }

    #[tokio::test]
    async fn list_pages_by_name_and_stays_stable_under_inserts() {
        let (_d, s) = store().await;
        for n in ["b", "d", "f"] {
            s.insert_resource(&rec("a", n), &[]).await.unwrap();
        }
        let p1 = s
            .list_resources("a", Kind::WorkloadIdentity, None, 2)
            .await
            .unwrap();
        assert_eq!(
            p1.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(),
            ["b", "d"]
        );
        s.insert_resource(&rec("a", "a"), &[]).await.unwrap();
        s.insert_resource(&rec("a", "e"), &[]).await.unwrap();
        let p2 = s
            .list_resources("a", Kind::WorkloadIdentity, Some("d"), 2)
            .await
            .unwrap();
        assert_eq!(
            p2.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(),
            ["e", "f"]
        );
    }

    #[tokio::test]
    async fn tag_limit_changes_nothing() {
        let (_d, s) = store().await;
        let t = |n: usize| -> Vec<(String, String)> {
            (0..n).map(|i| (format!("k{i}"), "v".to_string())).collect()
        };
        s.tag_resource("a", "arn", &t(3), 3).await.unwrap();
        assert!(matches!(
            s.tag_resource("a", "arn", &[("new".into(), "v".into())], 3)
                .await,
            Err(StoreError::TooManyTags)
        ));
        assert_eq!(s.list_tags("a", "arn").await.unwrap().len(), 3);
        s.tag_resource("a", "arn", &[("k0".into(), "w".into())], 3)
            .await
            .unwrap();
        assert_eq!(s.list_tags("a", "arn").await.unwrap()[0].1, "w");
        s.untag_resource("a", "arn", &["k0".into(), "zz".into()])
            .await
            .unwrap();
        assert_eq!(s.list_tags("a", "arn").await.unwrap().len(), 2);
    }

    #[tokio::test]
    async fn access_keys_and_meta() {
        let (_d, s) = store().await;
        assert_eq!(s.count_access_keys().await.unwrap(), 0);
        let k = AccessKeyRecord {
            access_key_id: "AK1".into(),
            account_id: "000000000000".into(),
            name: "admin".into(),
            secret_sealed: vec![9],
            policy: "{}".into(),
            created_at: 3,
        };
        s.insert_access_key(&k).await.unwrap();
        assert!(matches!(
            s.insert_access_key(&k).await,
            Err(StoreError::Conflict)
        ));
        assert_eq!(s.get_access_key("AK1").await.unwrap().as_deref(), Some(&k));
        assert_eq!(s.list_access_keys().await.unwrap(), vec![k]);
        assert!(s.delete_access_key("AK1").await.unwrap());
        assert!(s.get_access_key("AK1").await.unwrap().is_none());

        assert!(s.meta_put_if_absent("canary", b"x").await.unwrap());
        assert!(!s.meta_put_if_absent("canary", b"y").await.unwrap());
        assert_eq!(s.meta_get("canary").await.unwrap(), Some(b"x".to_vec()));
    }

    #[tokio::test]
    async fn data_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.db");
        let p = path.to_str().unwrap();
        {
            let s = SqliteStore::open(p, &SqliteOptions::default())
                .await
                .unwrap();
            s.insert_resource(&rec("a", "x"), &[]).await.unwrap();
            s.close().await;
        }
        let s = SqliteStore::open(p, &SqliteOptions::default())
            .await
            .unwrap();
        assert!(s
            .get_resource("a", Kind::WorkloadIdentity, "x")
            .await
            .unwrap()
            .is_some());
    }

    fn toy_chain(account: &str, seq: i64, prev: &[u8], event: &str) -> Vec<u8> {
        format!("{account}/{seq}/{}/{event}", prev.len()).into_bytes()
    }

    fn ev(account: &str, n: i64) -> NewAuditEvent {
        NewAuditEvent {
            account_id: account.into(),
            time_ms: n,
            operation: "Op".into(),
            workload: Some("w".into()),
            user_key: None,
            provider: None,
            event: format!("{{\"n\":{n}}}"),
        }
    }

    #[tokio::test]
    async fn audit_chains_per_account_and_prunes_to_a_checkpoint() {
        let (_d, s) = store().await;
        let rows = s
            .append_audit(vec![ev("a", 1), ev("b", 2), ev("a", 3)], toy_chain)
            .await
            .unwrap();
        assert_eq!(
            rows.iter()
                .map(|r| (r.account_id.as_str(), r.seq))
                .collect::<Vec<_>>(),
            vec![("a", 1), ("b", 1), ("a", 2)]
        );
        assert_eq!(rows[0].prev_hash, vec![0u8; 32]);
        assert_eq!(rows[2].prev_hash, rows[0].hash);
        let more = s.append_audit(vec![ev("a", 4)], toy_chain).await.unwrap();
        assert_eq!((more[0].seq, &more[0].prev_hash), (3, &rows[2].hash));
        let heads = s.audit_heads_to_checkpoint().await.unwrap();
        assert_eq!(heads.len(), 2);
        let cp = AuditCheckpoint {
            account_id: "a".into(),
            seq: 3,
            hash: more[0].hash.clone(),
            time_ms: 10,
            kid: "k".into(),
            signature: vec![1],
        };
        s.insert_audit_checkpoint(&cp).await.unwrap();
        assert_eq!(s.audit_heads_to_checkpoint().await.unwrap().len(), 1);
        assert_eq!(s.prune_audit("a", 3).await.unwrap(), 3);
        assert_eq!(
            s.list_audit_checkpoints(Some("a")).await.unwrap(),
            vec![cp.clone()]
        );
        // With every event pruned, the next one chains to the checkpoint.
        let next = s.append_audit(vec![ev("a", 5)], toy_chain).await.unwrap();
        assert_eq!((next[0].seq, &next[0].prev_hash), (4, &cp.hash));
        let q = AuditQuery {
            account_id: Some("a".into()),
            limit: 10,
            ..Default::default()
        };
        assert_eq!(s.list_audit(&q).await.unwrap().len(), 1);
        let q = AuditQuery {
            workload: Some("w".into()),
            limit: 1,
            newest: true,
            ..Default::default()
        };
        assert_eq!(s.list_audit(&q).await.unwrap()[0].seq, 4);
    }

    /// Two processes on one database (the server and `warrant audit` or `workloads` at
    /// the console): each caches its chain heads, so the second to append after the
    /// other finds its head stale. The insert collides on (account, seq), the batch is
    /// rolled back and chained again on the heads read afresh: one unbroken chain.
    #[tokio::test]
    async fn audit_append_from_two_processes_keeps_one_chain() {
        let (d, a) = store().await;
        let path = d.path().join("w.db");
        let b = SqliteStore::open(path.to_str().unwrap(), &SqliteOptions::default())
            .await
            .unwrap();
        let mut all = Vec::new();
        all.extend(a.append_audit(vec![ev("x", 1)], toy_chain).await.unwrap());
        all.extend(b.append_audit(vec![ev("x", 2)], toy_chain).await.unwrap());
        all.extend(
            a.append_audit(vec![ev("x", 3), ev("y", 3)], toy_chain)
                .await
                .unwrap(),
        );
        all.extend(b.append_audit(vec![ev("x", 4)], toy_chain).await.unwrap());
        all.extend(a.append_audit(vec![ev("x", 5)], toy_chain).await.unwrap());
        let x: Vec<_> = all.iter().filter(|r| r.account_id == "x").collect();
        assert_eq!(
            x.iter().map(|r| r.seq).collect::<Vec<_>>(),
            vec![1, 2, 3, 4, 5]
        );
        for w in x.windows(2) {
            assert_eq!(w[1].prev_hash, w[0].hash);
        }
        let q = AuditQuery {
            account_id: Some("x".into()),
            limit: 100,
            ..Default::default()
        };
        let stored = a.list_audit(&q).await.unwrap();
        assert_eq!(stored.len(), 5);
        for (s, r) in stored.iter().zip(&x) {
            assert_eq!(
                (s.seq, &s.hash, &s.prev_hash),
                (r.seq, &r.hash, &r.prev_hash)
            );
        }
        // Another process appends, checkpoints its head and prunes every event: the
        // stale head's seq is free again, but the guarded head still refuses it.
        let last = b.append_audit(vec![ev("x", 8)], toy_chain).await.unwrap();
        b.insert_audit_checkpoint(&AuditCheckpoint {
            account_id: "x".into(),
            seq: last[0].seq,
            hash: last[0].hash.clone(),
            time_ms: 8,
            kid: "k".into(),
            signature: vec![1],
        })
        .await
        .unwrap();
        assert_eq!(b.prune_audit("x", last[0].seq).await.unwrap(), 6);
        let after = a.append_audit(vec![ev("x", 9)], toy_chain).await.unwrap();
        assert_eq!((after[0].seq, &after[0].prev_hash), (7, &last[0].hash));
        // A batch that fails for another reason is rolled back whole, and the next
        // append continues the chain where the last commit left it.
        sqlx::query(
            "CREATE TRIGGER no_z BEFORE INSERT ON audit_events WHEN NEW.account_id = 'z' \
             BEGIN SELECT RAISE(ABORT, 'no z'); END",
        )
        .execute(&a.writer)
        .await
        .unwrap();
        assert!(a
            .append_audit(vec![ev("x", 6), ev("z", 6)], toy_chain)
            .await
            .is_err());
        let next = a.append_audit(vec![ev("x", 7)], toy_chain).await.unwrap();
        assert_eq!((next[0].seq, &next[0].prev_hash), (8, &after[0].hash));
        assert_eq!(
            a.list_audit(&q)
                .await
                .unwrap()
                .iter()
                .map(|r| r.seq)
                .collect::<Vec<_>>(),
            vec![7, 8]
        );
    }
}

#[cfg(test)]
mod audit_cost {
    use super::*;

    /// `cargo test -p warrant-store --release audit_append_cost -- --ignored --nocapture`
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore]
    async fn audit_append_cost() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.db");
        let s = SqliteStore::open(path.to_str().unwrap(), &SqliteOptions::default())
            .await
            .unwrap();
        let ev = r#"{"caller":{"accessKeyId":"AKIAXXXXXXXXXXXXXXXX","name":"admin"},"operation":"GetResourceApiKey","outcome":"success","provider":"k1","requestId":"0f2c7a9e-8d1b-4f5e-9a3c-2b1d0e6f7a8b","source":"127.0.0.1","time":"2026-11-29T05:00:00.000Z","tokenSha256":"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08","workload":"agent1"}"#;
        // The store's own cost: a stand-in for the hash.
        fn chain(_: &str, seq: i64, prev: &[u8], e: &str) -> Vec<u8> {
            let mut h = prev.to_vec();
            h[0] ^= (seq as u8) ^ (e.len() as u8);
            h
        }
        fn cpu() -> f64 {
            let s = std::fs::read_to_string("/proc/self/stat").unwrap();
            let f: Vec<&str> = s.rsplit(')').next().unwrap().split_whitespace().collect();
            (f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap()) / 100.0
        }
        for batch in [1usize, 10, 50, 200] {
            let n = 20_000 / batch;
            let t = std::time::Instant::now();
            let c = cpu();
            for _ in 0..n {
                let events = (0..batch)
                    .map(|_| NewAuditEvent {
                        account_id: "000000000000".into(),
                        time_ms: 1,
                        operation: "GetResourceApiKey".into(),
                        workload: Some("agent1".into()),
                        user_key: None,
                        provider: Some("k1".into()),
                        event: ev.into(),
                    })
                    .collect();
                s.append_audit(events, chain).await.unwrap();
            }
            let per = t.elapsed().as_secs_f64() * 1e6 / (n * batch) as f64;
            let per_cpu = (cpu() - c) * 1e6 / (n * batch) as f64;
            println!("batch {batch}: {per:.2} µs/event wall, {per_cpu:.2} µs/event CPU");
        }
    }
}
