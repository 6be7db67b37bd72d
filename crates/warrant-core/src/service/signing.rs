//! The keys that sign workload access tokens: generated on first start, stored sealed,
//! rotated on a schedule, and kept for verification until the last token they signed
//! has expired.
//!
//! Time is cut into windows of `rotation` length. Window `n` is signed by the key of
//! slot `"{rotation_ms}:{n}"`. Every node computes the same slot, and the store's
//! unique slot lets exactly one node's key win the race to create it; every node then
//! reads back the winner. The next window's key is made one window ahead, so JWKS
//! consumers see a key before any token it signs.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use rand::RngCore;
use warrant_crypto::Aad;
use warrant_inbound::wat::{self, VerifyingKey, WatSigner};
use warrant_store::SigningKeyRecord;

use super::Service;
use crate::error::{Error, Result};

/// The keys in use, parsed once.
pub(super) struct KeySet {
    /// Signs new tokens until `signer_until`.
    pub signer: Arc<WatSigner>,
    pub signer_until: i64,
    /// Every key that may have signed a live token, and the next one, by kid.
    pub verifiers: HashMap<String, VerifyingKey>,
    /// Whether the next window's key was loaded too.
    pub next_known: bool,
    /// The JWKS document, serialised.
    pub jwks: Arc<String>,
}

#[derive(Default)]
pub(super) struct SigningState {
    pub keys: RwLock<Option<Arc<KeySet>>>,
    /// Serialises reloads, so a burst of unknown kids makes one store read.
    pub reload: tokio::sync::Mutex<i64>,
}

fn aad(slot: &str) -> Aad<'_> {
    Aad {
        account: "-",
        kind: "signing-key",
        resource: slot,
    }
}

impl Service {
    fn rotation_ms(&self) -> i64 {
        self.settings.signing_key_rotation_secs.max(60) * 1000
    }

    fn window(&self, now: i64) -> (String, i64, i64) {
        let r = self.rotation_ms();
        let n = now.div_euclid(r);
        (format!("{r}:{n}"), n * r, (n + 1) * r)
    }

    /// Make sure this window's and the next window's keys exist, and load the key set.
    /// Run at start and periodically; cheap when nothing is due.
    pub async fn refresh_signing_keys(&self) -> Result<()> {
        let now = self.now();
        let current = self
            .signing
            .keys
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let next_start = self.window(now).2;
        if let Some(k) = &current {
            // Loaded, and the next window's key is already known: nothing to do.
            if now < k.signer_until && k.next_known {
                return Ok(());
            }
        }
        for at in [now, next_start] {
            let (slot, not_before, not_after) = self.window(at);
            let mut seed = [0u8; 32];
            rand::rngs::OsRng.fill_bytes(&mut seed);
            let signer = WatSigner::from_seed("-", &seed);
            let rec = SigningKeyRecord {
                kid: warrant_crypto::random_token(16),
                public_key: signer.public_key().to_vec(),
                private_sealed: self.keyring.seal(&aad(&slot), &seed)?,
                slot,
                not_before,
                not_after,
                created_at: now,
            };
            seed.fill(0);
            if self.store.insert_signing_key_if_absent(&rec).await? {
                tracing::info!(kid = %rec.kid, not_before, not_after, "created a signing key");
            }
        }
        self.load_signing_keys(now).await
    }

    async fn load_signing_keys(&self, now: i64) -> Result<()> {
        let ttl_ms = self.settings.wat_ttl_secs * 1000;
        let since = now - ttl_ms - wat::IAT_SKEW_SECS * 1000;
        let rows = self.store.list_signing_keys(since).await?;
        let (slot, _, until) = self.window(now);
        let (next_slot, _, _) = self.window(until);
        let mut verifiers = HashMap::new();
        let mut jwks = Vec::new();
        let mut signer = None;
        let mut next_known = false;
        for r in &rows {
            let Some(vk) = wat::verifying_key(&r.public_key) else {
                return Err(Error::Internal(format!(
                    "signing key {} has a bad public key",
                    r.kid
                )));
            };
            let pk: [u8; 32] = vk.to_bytes();
            jwks.push(wat::jwk(&r.kid, &pk));
            verifiers.insert(r.kid.clone(), vk);
            if r.slot == slot {
                signer = Some(Arc::new(self.open_signer(r)?));
            }
            next_known |= r.slot == next_slot;
        }
        let signer = signer.ok_or_else(|| {
            Error::Internal("no signing key for the current window after creating it".into())
        })?;
        let doc = serde_json::json!({ "keys": jwks }).to_string();
        *self.signing.keys.write().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(KeySet {
            signer,
            signer_until: until,
            verifiers,
            next_known,
            jwks: Arc::new(doc),
        }));
        Ok(())
    }

    /// A stored key's signer: its seed, opened with the master key.
    pub(super) fn open_signer(&self, r: &SigningKeyRecord) -> Result<WatSigner> {
        let seed = self.keyring.open(&aad(&r.slot), &r.private_sealed)?;
        let seed: [u8; 32] = seed
            .as_slice()
            .try_into()
            .map_err(|_| Error::Internal("a signing key seed is not 32 bytes".into()))?;
        Ok(WatSigner::from_seed(&r.kid, &seed))
    }

    /// The loaded key set, if its signing window has not passed.
    fn current_keys(&self, now: i64) -> Option<Arc<KeySet>> {
        let keys = self.signing.keys.read().unwrap_or_else(|p| p.into_inner());
        keys.as_ref().filter(|k| now < k.signer_until).cloned()
    }

    /// The key set, refreshed first when the signing window has passed.
    pub(super) async fn key_set(&self) -> Result<Arc<KeySet>> {
        let now = self.now();
        if let Some(k) = self.current_keys(now) {
            return Ok(k);
        }
        let _guard = self.signing.reload.lock().await;
        if let Some(k) = self.current_keys(now) {
            return Ok(k);
        }
        self.refresh_signing_keys().await?;
        self.current_keys(now)
            .ok_or_else(|| Error::Internal("signing keys not loaded".into()))
    }

    /// Reload from the store because a token names a kid this node does not know
    /// (another node may have made it). At most once every few seconds.
    pub(super) async fn reload_for_unknown_kid(&self) -> Result<Arc<KeySet>> {
        let now = self.now();
        let mut last = self.signing.reload.lock().await;
        if now - *last >= 5_000 {
            *last = now;
            self.load_signing_keys(now).await?;
        }
        drop(last);
        self.key_set().await
    }

    /// The public keys as a JWKS document.
    pub async fn jwks(&self) -> Result<Arc<String>> {
        Ok(self.key_set().await?.jwks.clone())
    }
}
