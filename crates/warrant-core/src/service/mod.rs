//! One function per operation: read the request through the domain's rules, authorize
//! the caller, then act on the store. The API layer maps [`crate::Error`] to AWS errors.

mod access_keys;
pub mod audit;
mod control;
mod data;
mod federation;
mod flight;
mod native;
mod provider;
mod signing;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use warrant_crypto::{Aad, Keyring};
use warrant_store::Store;

use crate::domain::arn::Scope;
use crate::domain::policy::{Decision, Policy};
use crate::error::{Error, Result};

pub use access_keys::{AccessKeyInfo, AuthEntry, NewAccessKey};
pub use control::Operation;
pub use warrant_inbound::jwt::validator::ValidatorSettings as UserTokenSettings;

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
    /// Base of URLs handed to browsers (no trailing slash); the issuer of WATs.
    pub public_url: String,
    /// Lifetime of a workload access token.
    pub wat_ttl_secs: i64,
    /// How long a WAT signing key signs before the next one takes over.
    pub signing_key_rotation_secs: i64,
    /// How long a fetched discovery document is used before it is fetched again.
    pub discovery_ttl_secs: u64,
    /// End users' JWTs: clock skew and JWKS caching.
    pub user_tokens: UserTokenSettings,
    pub audit: audit::AuditSettings,
    /// How long an authorization session (user federation) lives.
    pub session_ttl_secs: i64,
    /// A user's token is refreshed this long before it expires (at most half its life).
    pub refresh_margin_secs: i64,
    /// `--danger-vendor-endpoint`: (vendor, origin) pairs replacing the origin of a
    /// vendor preset's endpoints. For tests against a vendor-emulating server only.
    pub vendor_endpoints: Vec<(String, String)>,
    /// This node's stable name (kept in its data directory): the owner of the refresh
    /// leases it takes. Stable across restarts, so a node that crashed while holding a
    /// lease takes it back at once instead of waiting for it to expire. `None`: a random
    /// name per process.
    pub node_id: Option<String>,
}

impl Settings {
    /// Defaults for everything but the identity of the deployment.
    pub fn new(region: &str, account_id: &str, public_url: &str) -> Self {
        Self {
            region: region.into(),
            account_id: account_id.into(),
            public_url: public_url.into(),
            wat_ttl_secs: 900,
            signing_key_rotation_secs: 86_400,
            discovery_ttl_secs: 3_600,
            user_tokens: Default::default(),
            audit: Default::default(),
            session_ttl_secs: 600,
            refresh_margin_secs: 60,
            vendor_endpoints: Vec::new(),
            node_id: None,
        }
    }
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
    /// Allow `op` on `resource`, or refuse it in AWS's words.
    pub fn authorize(&self, op: Operation, resource: &str) -> Result<()> {
        let full = op.action();
        match self.policy.evaluate(full, resource) {
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
    /// WAT signing keys, parsed once.
    signing: signing::SigningState,
    /// Data-plane state: verified WATs, cached tokens, requests in flight.
    data: data::DataState,
    /// Every outbound call goes through this guarded client.
    http: warrant_oauth::HttpClient,
    discovery: Arc<warrant_oauth::Discovery>,
    /// End users' JWTs, validated against workloads' authorizers.
    user_tokens: warrant_inbound::jwt::validator::Validator,
    audit: audit::Auditor,
    /// User federation: opened token sets, refreshes in flight, sessions' changes.
    federation: federation::FederationState,
    /// The service itself, for work that must outlive the request that started it.
    me: std::sync::Weak<Service>,
}

const CANARY: &[u8] = b"warrant master key canary v1";

impl Service {
    /// The service, shared: provider calls whose results must be stored (code
    /// redemption, refresh) run to the end even when their request goes away.
    pub fn new(
        store: Arc<dyn Store>,
        keyring: Keyring,
        settings: Settings,
        clock: Arc<dyn Clock>,
        http: warrant_oauth::HttpClient,
    ) -> Arc<Self> {
        let ttl = std::time::Duration::from_secs(settings.discovery_ttl_secs);
        let discovery = Arc::new(warrant_oauth::Discovery::new(
            http.clone(),
            ttl,
            // A failed refresh keeps serving the last good document this long.
            ttl.max(std::time::Duration::from_secs(86_400)),
        ));
        let audit = audit::Auditor::new(settings.audit.clone());
        let settings_node = settings.node_id.clone();
        let user_tokens = warrant_inbound::jwt::validator::Validator::new(
            http.clone(),
            discovery.clone(),
            settings.user_tokens.clone(),
        );
        Arc::new_cyclic(|me| Self {
            store,
            keyring,
            settings,
            clock,
            auth_memo: Mutex::new(HashMap::new()),
            signing: signing::SigningState::default(),
            data: data::DataState::default(),
            http,
            discovery,
            user_tokens,
            audit,
            federation: federation::FederationState::new(settings_node),
            me: me.clone(),
        })
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

/// Every operation's future can move between the runtime's threads (axum needs it).
#[cfg(test)]
#[allow(dead_code)]
fn operations_are_send(
    s: &'static Service,
    c: &'static Caller,
    v: &'static serde_json::Value,
    m: &'static audit::RequestMeta,
) {
    fn is_send<T: Send>(_: T) {}
    is_send(s.call_as(c, Operation::GetResourceApiKey, v, m));
    is_send(s.oauth2_authorize(""));
    is_send(s.oauth2_callback("", &[], m));
}
