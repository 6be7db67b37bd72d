//! The service against a real SQLite store on a temporary file, with an injected clock:
//! WAT signing-key rotation, expiry and workload binding, without sleeping.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use serde_json::{json, Value};
use warrant_core::domain::policy::Policy;
use warrant_core::service::{Caller, Clock, Operation, Service, Settings};
use warrant_core::Error;
use warrant_crypto::{Keyring, MasterKey};
use warrant_store::{SqliteOptions, SqliteStore};

struct FakeClock(AtomicI64);

impl Clock for FakeClock {
    fn now_millis(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

const HOUR: i64 = 3_600_000;
/// The start of a rotation window (rotation = 1 h), plus 10 minutes.
const T0: i64 = 500_000 * HOUR + 10 * 60_000;

struct Fixture {
    _dir: tempfile::TempDir,
    clock: Arc<FakeClock>,
    service: Arc<Service>,
    caller: Caller,
}

impl Fixture {
    async fn new(wat_ttl_secs: i64) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("w.db").display());
        let store = Arc::new(
            SqliteStore::open(&url, &SqliteOptions::default())
                .await
                .unwrap(),
        );
        let clock = Arc::new(FakeClock(AtomicI64::new(T0)));
        let mut settings = Settings::new("us-east-1", "000000000000", "https://warrant.test");
        settings.wat_ttl_secs = wat_ttl_secs;
        settings.signing_key_rotation_secs = 3_600;
        let http = warrant_oauth::HttpClient::new(Default::default()).unwrap();
        let service = Service::new(
            store,
            Keyring::new(MasterKey::generate()),
            settings,
            clock.clone(),
            http,
        );
        service.refresh_signing_keys().await.unwrap();
        let caller = Caller {
            access_key_id: "AKIATEST".into(),
            account_id: "000000000000".into(),
            name: "admin".into(),
            policy: Policy::parse(Policy::allow_all_json()).unwrap(),
        };
        let f = Self {
            _dir: dir,
            clock,
            service,
            caller,
        };
        f.call(Operation::CreateWorkloadIdentity, json!({"name": "agent"}))
            .await
            .unwrap();
        f.call(
            Operation::CreateApiKeyCredentialProvider,
            json!({"name": "k", "apiKey": "sk-123"}),
        )
        .await
        .unwrap();
        f
    }

    async fn call(&self, op: Operation, input: Value) -> Result<Value, Error> {
        self.service.call(&self.caller, op, &input).await
    }

    fn set(&self, t: i64) {
        self.clock.0.store(t, Ordering::SeqCst);
    }

    async fn wat(&self) -> String {
        let out = self
            .call(
                Operation::GetWorkloadAccessTokenForUserId,
                json!({"workloadName": "agent", "userId": "alice"}),
            )
            .await
            .unwrap();
        out["workloadAccessToken"].as_str().unwrap().to_string()
    }

    async fn api_key(&self, wat: &str) -> Result<Value, Error> {
        self.call(
            Operation::GetResourceApiKey,
            json!({"workloadIdentityToken": wat, "resourceCredentialProviderName": "k"}),
        )
        .await
    }

    async fn kids(&self) -> Vec<String> {
        let doc: Value = serde_json::from_str(&self.service.jwks().await.unwrap()).unwrap();
        doc["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap().to_string())
            .collect()
    }
}

fn kid_of(token: &str) -> String {
    warrant_inbound::wat::peek_kid(token).unwrap()
}

#[tokio::test]
async fn keys_rotate_and_old_keys_verify_until_their_tokens_expire() {
    let f = Fixture::new(2 * 3_600).await;
    let first = f.wat().await;
    let a = kid_of(&first);
    // The current key and the next window's key are published from the start.
    let kids = f.kids().await;
    assert_eq!(kids.len(), 2, "{kids:?}");
    assert!(kids.contains(&a));
    assert_eq!(f.api_key(&first).await.unwrap()["apiKey"], "sk-123");

    // Next window: a new key signs; the old token still verifies.
    f.set(T0 + HOUR);
    f.service.refresh_signing_keys().await.unwrap();
    let second = f.wat().await;
    let b = kid_of(&second);
    assert_ne!(a, b);
    assert!(
        kids.contains(&b),
        "the next key was published a window ahead"
    );
    assert!(f.kids().await.contains(&a));
    assert!(f.api_key(&first).await.is_ok());
    assert!(f.api_key(&second).await.is_ok());

    // Once the last token the old key could have signed has expired, the key is gone.
    let window_end = T0 - 10 * 60_000 + HOUR;
    f.set(window_end + 2 * HOUR + 61_000 + 1);
    f.service.refresh_signing_keys().await.unwrap();
    assert!(!f.kids().await.contains(&a));
    assert!(matches!(
        f.api_key(&first).await,
        Err(Error::Unauthorized(_))
    ));
}

#[tokio::test]
async fn expired_and_orphaned_tokens_are_refused() {
    let f = Fixture::new(60).await;
    let t = f.wat().await;
    f.set(T0 + 59_000);
    assert!(f.api_key(&t).await.is_ok());
    f.set(T0 + 60_000);
    match f.api_key(&t).await {
        Err(Error::Unauthorized(m)) => assert!(m.contains("expired"), "{m}"),
        other => panic!("{other:?}"),
    }
    f.set(T0);
    // Delete the workload and make another of the same name: the old token stays dead.
    f.call(Operation::DeleteWorkloadIdentity, json!({"name": "agent"}))
        .await
        .unwrap();
    assert!(matches!(f.api_key(&t).await, Err(Error::Unauthorized(_))));
    f.set(T0 + 1);
    f.call(Operation::CreateWorkloadIdentity, json!({"name": "agent"}))
        .await
        .unwrap();
    match f.api_key(&t).await {
        Err(Error::Unauthorized(m)) => assert!(m.contains("no longer exists"), "{m}"),
        other => panic!("{other:?}"),
    }
    assert!(f.api_key(&f.wat().await).await.is_ok());
}

#[tokio::test]
async fn another_accounts_token_gets_nothing() {
    let f = Fixture::new(900).await;
    let t = f.wat().await;
    let other = Caller {
        account_id: "111111111111".into(),
        ..f.caller.clone()
    };
    let r = f
        .service
        .call(
            &other,
            Operation::GetResourceApiKey,
            &json!({"workloadIdentityToken": t, "resourceCredentialProviderName": "k"}),
        )
        .await;
    assert!(matches!(r, Err(Error::AccessDenied(_))), "{r:?}");
}
