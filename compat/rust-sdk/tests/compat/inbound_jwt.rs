//! GetWorkloadAccessTokenForJWT with the official data-plane SDK: a user
//! token of a real issuer (the test kit's oidc-provider, started with an
//! Ed25519 key this test writes, so that the test can sign tokens with the
//! issuer's own key) is exchanged for a WAT keyed by (iss, sub); a bad token
//! is the modeled UnauthorizedException.

use std::io::Read;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ed25519_dalek::{Signer, SigningKey};
use serde_json::{json, Value};

use aws_sdk_bedrockagentcore::error::ProvideErrorMetadata;
use aws_sdk_bedrockagentcore::operation::get_workload_access_token_for_jwt::GetWorkloadAccessTokenForJWTError;

use crate::data_plane::{fetch_jwks, verify_wat};
use crate::harness::*;
use crate::testkit::OidcProvider;

const AUDIENCE: &str = "api://rust-sdk-jwt";
const KID: &str = "rust-sdk-ed25519";

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A fresh Ed25519 key (seed from /dev/urandom).
fn new_key() -> SigningKey {
    let mut seed = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut seed))
        .expect("read /dev/urandom");
    SigningKey::from_bytes(&seed)
}

/// The private JWKS file for `oidc-provider.mjs --keys`.
fn private_jwks(key: &SigningKey) -> Value {
    json!({"keys": [{
        "kty": "OKP", "crv": "Ed25519", "use": "sig", "alg": "EdDSA", "kid": KID,
        "x": b64(key.verifying_key().as_bytes()),
        "d": b64(key.as_bytes()),
    }]})
}

/// A compact JWS (EdDSA) of `claims` with `header`.
fn sign(key: &SigningKey, header: &Value, claims: &Value) -> String {
    let input = format!(
        "{}.{}",
        b64(&serde_json::to_vec(header).unwrap()),
        b64(&serde_json::to_vec(claims).unwrap())
    );
    let sig = key.sign(input.as_bytes());
    format!("{input}.{}", b64(&sig.to_bytes()))
}

#[tokio::test]
async fn workload_access_token_for_jwt() {
    let key = new_key();
    let keys_dir = tempfile::Builder::new()
        .prefix("warrant-rust-sdk-jwt-")
        .tempdir()
        .expect("tempdir");
    let keys_file = keys_dir.path().join("keys.json");
    std::fs::write(&keys_file, private_jwks(&key).to_string()).unwrap();
    let kit = OidcProvider::start(&["--keys", keys_file.to_str().unwrap()]);
    assert_eq!(kit.ready["kids"], json!([KID]), "ready line: {}", kit.ready);

    let server = Server::start_with(&["--outbound-allow", "127.0.0.1"]);
    let control = server.client();
    let data = server.data_client();
    let name = "jwt-agent";
    must(
        control.create_workload_identity().name(name).send().await,
        "CreateWorkloadIdentity",
    );

    // The workload trusts the test kit's issuer (CLI on the data dir; the
    // CLI reads --outbound-allow from a config file).
    let config = server.data_dir.path().join("cli.toml");
    std::fs::write(&config, "outbound_allow = \"127.0.0.1\"\n").unwrap();
    let discovery = kit.discovery_url();
    let out = server.cli(&[
        "workloads",
        "set-authorizer",
        name,
        "--config",
        config.to_str().unwrap(),
        "--region",
        REGION,
        "--account-id",
        ACCOUNT,
        "--discovery-url",
        &discovery,
        "--audience",
        AUDIENCE,
    ]);
    assert!(
        out.status.success(),
        "set-authorizer failed: {:?}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let printed: Value = serde_json::from_slice(&out.stdout).expect("set-authorizer prints JSON");
    assert_eq!(printed["workloadName"], name, "{printed}");
    assert_eq!(
        printed["authorizers"][0]["customJWTAuthorizer"]["discoveryUrl"],
        discovery.as_str(),
        "{printed}"
    );

    let header = json!({"alg": "EdDSA", "typ": "JWT", "kid": KID});
    let claims = json!({
        "iss": kit.issuer, "sub": "rust-sdk-user", "aud": AUDIENCE,
        "iat": now_secs(), "exp": now_secs() + 600,
    });
    let token = sign(&key, &header, &claims);

    // Success (the server sees the CLI's change within moments).
    let deadline = Instant::now() + Duration::from_secs(3);
    let wat = loop {
        let res = data
            .get_workload_access_token_for_jwt()
            .workload_name(name)
            .user_token(&token)
            .send()
            .await;
        if res.is_ok() || Instant::now() > deadline {
            break must(res, "GetWorkloadAccessTokenForJWT")
                .workload_access_token()
                .to_string();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let wat_claims = verify_wat(&wat, &fetch_jwks(&server));
    assert_eq!(
        wat_claims["user"],
        json!({"iss": kit.issuer, "sub": "rust-sdk-user"}),
        "{wat_claims}"
    );
    assert_eq!(wat_claims["workload_name"], name, "{wat_claims}");
    assert_eq!(wat_claims["sub"], wi_arn(name).as_str(), "{wat_claims}");

    // Bad tokens: the typed UnauthorizedException, 401, the reason named,
    // the token not echoed.
    let mut flipped = token.clone().into_bytes();
    let i = flipped.len() - 10;
    flipped[i] = if flipped[i] == b'A' { b'B' } else { b'A' };
    let flipped = String::from_utf8(flipped).unwrap();
    let other_key = new_key();
    let cases = [
        ("signature changed", flipped, "signature"),
        (
            "signed by another key",
            sign(&other_key, &header, &claims),
            "signature",
        ),
        (
            "expired",
            sign(
                &key,
                &header,
                &json!({"iss": kit.issuer, "sub": "u", "aud": AUDIENCE,
                        "exp": now_secs() - 3600}),
            ),
            "expired",
        ),
        (
            "wrong audience",
            sign(
                &key,
                &header,
                &json!({"iss": kit.issuer, "sub": "u", "aud": "api://other",
                        "exp": now_secs() + 600}),
            ),
            "audience",
        ),
        (
            "alg none",
            format!(
                "{}.{}.{}",
                b64(br#"{"alg":"none","typ":"JWT"}"#),
                token.split('.').nth(1).unwrap(),
                token.split('.').nth(2).unwrap()
            ),
            "algorithm",
        ),
    ];
    for (what, bad, word) in &cases {
        assert_ne!(bad, &token, "{what}");
        let res = data
            .get_workload_access_token_for_jwt()
            .workload_name(name)
            .user_token(bad)
            .send()
            .await;
        let (err, status) = service_error(res, &format!("GetWorkloadAccessTokenForJWT ({what})"));
        assert_eq!(status, 401, "{what}: {err:?}");
        assert_eq!(err.code(), Some("UnauthorizedException"), "{what}");
        match &err {
            GetWorkloadAccessTokenForJWTError::UnauthorizedException(e) => {
                let msg = e.message().unwrap_or_default();
                assert!(
                    msg.starts_with("The user token was refused: "),
                    "{what}: {msg:?}"
                );
                assert!(
                    msg.to_lowercase().contains(word),
                    "{what}: message should name the failed check ({word}): {msg:?}"
                );
                for part in bad.split('.').filter(|p| p.len() >= 8) {
                    assert!(!msg.contains(part), "{what}: message echoes the token");
                }
            }
            other => panic!("{what}: expected UnauthorizedException, got {other:?}"),
        }
    }

    // A workload without authorizers: ValidationException.
    must(
        control
            .create_workload_identity()
            .name("jwt-none")
            .send()
            .await,
        "CreateWorkloadIdentity (no authorizers)",
    );
    let (err, status) = service_error(
        data.get_workload_access_token_for_jwt()
            .workload_name("jwt-none")
            .user_token(&token)
            .send()
            .await,
        "GetWorkloadAccessTokenForJWT (no authorizers)",
    );
    assert_eq!(status, 400, "{err:?}");
    assert!(
        matches!(
            err,
            GetWorkloadAccessTokenForJWTError::ValidationException(_)
        ),
        "{err:?}"
    );

    // Neither the user token nor the WAT was ever returned by the control plane.
    server
        .recorder
        .assert_never_returned(&token, "the user token");
    server.data_recorder.assert_all_have_request_id();
    drop(kit);
    server.shutdown();
}
