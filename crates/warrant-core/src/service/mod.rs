//! One function per operation: read the request through the domain's rules, authorize
//! the caller, then act on the store. The API layer maps [`crate::Error`] to AWS errors.

mod access_keys;
mod control;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use warrant_crypto::{Aad, Keyring};
use warrant_store::Store;

use crate::domain::arn::Scope;
use crate::domain::policy::{Decision, Policy};
use crate::error::{Error, Result};

pub use access_keys::{AccessKeyInfo, AuthEntry, NewAccessKey};
pub use control::Operation;

/// The source of time, injectable so expiry and skew are testable without sleeping.
pub trait Clock: Send + Sync + 'static {
    fn now_millis(&self) -> i64;
}

/// The wall clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_millis(&self) -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0)
    }
}

/// Settings the service needs from the configuration.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The region in every ARN, and the one SigV4 scopes must name.
    pub region: String,
    /// The account of the bootstrap key and the default for new keys.
    pub account_id: String,
    /// Base of URLs handed to browsers (no trailing slash).
    pub public_url: String,
}

/// An authenticated caller: an access key, its account and its policy.
#[derive(Debug, Clone)]
pub struct Caller {
    pub access_key_id: String,
    pub account_id: String,
    pub name: String,
    pub policy: Policy,
}

impl Caller {
    /// Allow `action` (an operation name) on `resource`, or refuse it in AWS's words.
    pub fn authorize(&self, action: &str, resource: &str) -> Result<()> {
        let full = format!("bedrock-agentcore:{action}");
        match self.policy.evaluate(&full, resource) {
            Decision::Allow => Ok(()),
            d => Err(Error::AccessDenied(format!(
                "User: arn:aws:iam::{}:user/{} is not authorized to perform: {full} on resource: {resource}{}",
                self.account_id,
                self.name,
                if d == Decision::ExplicitDeny {
                    " with an explicit deny in an identity-based policy"
                } else {
                    " because no identity-based policy allows the action"
                }
            ))),
        }
    }
}

pub struct Service {
    store: Arc<dyn Store>,
    keyring: Keyring,
    settings: Settings,
    clock: Arc<dyn Clock>,
    /// Opened access keys, by id (see [`AuthEntry`]).
    auth_memo: Mutex<HashMap<String, Arc<AuthEntry>>>,
}

const CANARY: &[u8] = b"warrant master key canary v1";

impl Service {
    pub fn new(
        store: Arc<dyn Store>,
        keyring: Keyring,
        settings: Settings,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            store,
            keyring,
            settings,
            clock,
            auth_memo: Mutex::new(HashMap::new()),
        }
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    fn now(&self) -> i64 {
        self.clock.now_millis()
    }

    fn scope<'a>(&'a self, account: &'a str) -> Scope<'a> {
        Scope {
            region: &self.settings.region,
            account,
        }
    }

    /// Prove the master key is the one the data was sealed with: the first start seals
    /// a canary value; every later start must open it. Fails with a clear error rather
    /// than serving data it cannot open.
    pub async fn check_master_key(&self) -> Result<()> {
        let aad = Aad {
            account: "-",
            kind: "meta",
            resource: "canary",
        };
        let sealed = self.keyring.seal(&aad, CANARY)?;
        self.store.meta_put_if_absent("canary", &sealed).await?;
        let stored = self
            .store
            .meta_get("canary")
            .await?
            .ok_or_else(|| Error::Internal("canary missing after insert".into()))?;
        match self.keyring.open(&aad, &stored) {
            Ok(v) if v.as_slice() == CANARY => Ok(()),
            _ => Err(Error::Internal(format!(
                "the master key (id {}) is not the one this data was sealed with; \
                 start with the original master key (DATA_DIR/master.key or WARRANT_MASTER_KEY)",
                self.keyring.active_id_hex()
            ))),
        }
    }
}
