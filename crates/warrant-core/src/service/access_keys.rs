//! SigV4 access keys: bootstrap, admin commands, and lookup for authentication.

use std::sync::{Arc, Mutex};

use rand::Rng;
use warrant_crypto::{Aad, ExposeSecret, SecretString};
use warrant_store::AccessKeyRecord;

use super::{Caller, Service};
use crate::domain::input::matches_pattern;
use crate::domain::policy::Policy;
use crate::error::{Error, Result};

/// What authenticating with one access key needs, kept between requests: the caller
/// (with its parsed policy), the opened secret, and the last derived signing key.
/// Reused only while the stored key row is byte-for-byte the same.
pub struct AuthEntry {
    pub caller: Caller,
    secret: SecretString,
    sealed: Vec<u8>,
    policy_text: String,
    signing: Mutex<Option<SigningKey>>,
}

/// The last credential scope an access key signed for, and its derived key.
struct SigningKey {
    date: String,
    region: String,
    service: String,
    key: [u8; 32],
}

impl AuthEntry {
    /// The SigV4 signing key for a credential scope, derived once per scope.
    pub fn signing_key(&self, date: &str, region: &str, service: &str) -> [u8; 32] {
        let mut slot = self.signing.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(k) = slot.as_ref() {
            if k.date == date && k.region == region && k.service == service {
                return k.key;
            }
        }
        let k = warrant_inbound::sigv4::derive_signing_key(
            self.secret.expose_secret().as_bytes(),
            date,
            region,
            service,
        );
        *slot = Some(SigningKey {
            date: date.to_string(),
            region: region.to_string(),
            service: service.to_string(),
            key: k,
        });
        k
    }
}

/// Most access keys remembered at once; the memo empties when full.
const AUTH_MEMO_MAX: usize = 10_000;

/// A key just created; the only time its secret is shown.
pub struct NewAccessKey {
    pub access_key_id: String,
    pub secret_access_key: SecretString,
    pub name: String,
    pub account_id: String,
}

/// A key as listed: never its secret.
#[derive(Debug, Clone)]
pub struct AccessKeyInfo {
    pub access_key_id: String,
    pub name: String,
    pub account_id: String,
    pub created_at: i64,
}

const KEY_ID_PATTERN: &str = "[A-Z0-9]{16,128}";
const ACCOUNT_PATTERN: &str = "[0-9]{12}";
const KEY_NAME_PATTERN: &str = "[A-Za-z0-9_.@+=,-]{1,64}";

fn access_key_aad<'a>(account: &'a str, id: &'a str) -> Aad<'a> {
    Aad {
        account,
        kind: "access-key",
        resource: id,
    }
}

/// A new access key id: `AKWR` and 16 characters of base32 (80 random bits).
fn new_key_id() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut rng = rand::rngs::OsRng;
    let mut id = String::from("AKWR");
    for _ in 0..16 {
        id.push(ALPHABET[rng.gen_range(0..32)] as char);
    }
    id
}

/// A new secret access key: 40 characters, 240 random bits.
fn new_secret() -> SecretString {
    SecretString::from(warrant_crypto::random_token(30))
}

impl Service {
    /// Create an access key in `account` with `policy_json`. With `given`, the id and
    /// secret are the caller's (the bootstrap admin key from the environment).
    pub async fn create_access_key(
        &self,
        name: &str,
        account: &str,
        policy_json: &str,
        given: Option<(String, SecretString)>,
    ) -> Result<NewAccessKey> {
        if !matches_pattern(KEY_NAME_PATTERN, name) {
            return Err(Error::validation(format!(
                "key name must match {KEY_NAME_PATTERN}"
            )));
        }
        if !matches_pattern(ACCOUNT_PATTERN, account) {
            return Err(Error::validation("account id must be twelve digits"));
        }
        Policy::parse(policy_json).map_err(|e| Error::validation(e.to_string()))?;
        let (id, secret) = match given {
            Some((id, secret)) => {
                if !matches_pattern(KEY_ID_PATTERN, &id) {
                    return Err(Error::validation(
                        "access key id must be 16 to 128 upper-case letters and digits",
                    ));
                }
                if secret.expose_secret().len() < 16 {
                    return Err(Error::validation(
                        "secret access key must be at least 16 characters",
                    ));
                }
                (id, secret)
            }
            None => (new_key_id(), new_secret()),
        };
        let sealed = self.keyring.seal(
            &access_key_aad(account, &id),
            secret.expose_secret().as_bytes(),
        )?;
        self.store
            .insert_access_key(&AccessKeyRecord {
                access_key_id: id.clone(),
                account_id: account.to_string(),
                name: name.to_string(),
                secret_sealed: sealed,
                policy: policy_json.to_string(),
                created_at: self.now(),
            })
            .await
            .map_err(|e| match e {
                warrant_store::StoreError::Conflict => {
                    Error::Conflict(format!("access key {id} already exists"))
                }
                other => other.into(),
            })?;
        Ok(NewAccessKey {
            access_key_id: id,
            secret_access_key: secret,
            name: name.to_string(),
            account_id: account.to_string(),
        })
    }

    /// When no access key exists, create the admin key (Allow *) in the default
    /// account: `given` when set, else a generated one. `None` when keys exist.
    pub async fn bootstrap_admin(
        &self,
        given: Option<(String, SecretString)>,
    ) -> Result<Option<NewAccessKey>> {
        if self.store.count_access_keys().await? > 0 {
            return Ok(None);
        }
        let account = self.settings.account_id.clone();
        self.create_access_key("admin", &account, Policy::allow_all_json(), given)
            .await
            .map(Some)
    }

    pub async fn list_access_keys(&self) -> Result<Vec<AccessKeyInfo>> {
        Ok(self
            .store
            .list_access_keys()
            .await?
            .into_iter()
            .map(|r| AccessKeyInfo {
                access_key_id: r.access_key_id,
                name: r.name,
                account_id: r.account_id,
                created_at: r.created_at,
            })
            .collect())
    }

    pub async fn delete_access_key(&self, id: &str) -> Result<()> {
        if self.store.delete_access_key(id).await? {
            Ok(())
        } else {
            Err(Error::NotFound(format!("no access key {id}")))
        }
    }

    /// What authenticating with access key `id` needs; `None` for an unknown key.
    pub async fn caller_for_key(&self, id: &str) -> Result<Option<Arc<AuthEntry>>> {
        let Some(rec) = self.store.get_access_key(id).await? else {
            return Ok(None);
        };
        {
            let memo = self.auth_memo.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(e) = memo.get(id) {
                if e.sealed == rec.secret_sealed
                    && e.policy_text == rec.policy
                    && e.caller.account_id == rec.account_id
                {
                    return Ok(Some(e.clone()));
                }
            }
        }
        let plain = self.keyring.open(
            &access_key_aad(&rec.account_id, &rec.access_key_id),
            &rec.secret_sealed,
        )?;
        let secret = String::from_utf8(plain.to_vec())
            .map_err(|_| Error::Internal("access key secret is not UTF-8".into()))?;
        let policy = Policy::parse(&rec.policy)
            .map_err(|e| Error::Internal(format!("stored policy of {id}: {e}")))?;
        let entry = Arc::new(AuthEntry {
            caller: Caller {
                access_key_id: rec.access_key_id.clone(),
                account_id: rec.account_id.clone(),
                name: rec.name.clone(),
                policy,
            },
            secret: SecretString::from(secret),
            sealed: rec.secret_sealed.clone(),
            policy_text: rec.policy.clone(),
            signing: Mutex::new(None),
        });
        let mut memo = self.auth_memo.lock().unwrap_or_else(|p| p.into_inner());
        if memo.len() >= AUTH_MEMO_MAX {
            memo.clear();
        }
        memo.insert(id.to_string(), entry.clone());
        Ok(Some(entry))
    }
}
