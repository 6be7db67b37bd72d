//! Data plane with the official data-plane SDK (`aws-sdk-bedrockagentcore`):
//! workload access tokens (verified against `/.well-known/jwks.json` with
//! ed25519-dalek), GetResourceApiKey, and GetResourceOauth2Token (M2M)
//! against the real oidc-provider of the test kit.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ed25519_dalek::{Signature, VerifyingKey};
use serde_json::{json, Value};

use aws_sdk_bedrockagentcore::error::ProvideErrorMetadata;
use aws_sdk_bedrockagentcore::operation::get_resource_api_key::GetResourceApiKeyError;
use aws_sdk_bedrockagentcore::types::Oauth2FlowType;
use aws_sdk_bedrockagentcorecontrol::types::{
    CredentialProviderVendorType, CustomOauth2ProviderConfigInput, Oauth2Discovery,
    Oauth2ProviderConfigInput,
};

use crate::harness::*;
use crate::testkit::{http_get, OidcProvider};

const WAT_AUDIENCE: &str = "warrant:workload-access-token";
/// `--wat-ttl` default.
const DEFAULT_WAT_TTL: i64 = 900;

fn b64d(part: &str, what: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD
        .decode(part)
        .unwrap_or_else(|e| panic!("{what} is not base64url without padding ({e}): {part:?}"))
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// `GET /.well-known/jwks.json` (unauthenticated), with its shape checked.
pub(crate) fn fetch_jwks(server: &Server) -> Value {
    let answer = http_get(&format!("{}/.well-known/jwks.json", server.endpoint));
    assert_eq!(answer.status, 200, "GET /.well-known/jwks.json: {answer:?}");
    let ctype = answer.header("content-type").unwrap_or_default();
    assert!(
        ctype.starts_with("application/jwk-set+json"),
        "JWKS content-type {ctype:?}"
    );
    let jwks = answer.json();
    let keys = jwks["keys"].as_array().expect("JWKS has a keys array");
    assert!(!keys.is_empty(), "JWKS has no keys: {jwks}");
    for k in keys {
        assert_eq!(k["kty"], "OKP", "{k}");
        assert_eq!(k["crv"], "Ed25519", "{k}");
        assert_eq!(k["alg"], "EdDSA", "{k}");
        assert_eq!(k["use"], "sig", "{k}");
        assert!(k["kid"].as_str().is_some_and(|s| !s.is_empty()), "{k}");
        let x = b64d(k["x"].as_str().expect("x"), "JWK x");
        assert_eq!(x.len(), 32, "Ed25519 public key length: {k}");
        assert!(k.get("d").is_none(), "JWKS publishes a private key: {k}");
    }
    jwks
}

/// Verifies a WAT (compact JWS) with ed25519-dalek against the JWKS and
/// returns its claims.
pub(crate) fn verify_wat(wat: &str, jwks: &Value) -> Value {
    let parts: Vec<&str> = wat.split('.').collect();
    assert_eq!(
        parts.len(),
        3,
        "WAT is not a compact JWS: {} parts",
        parts.len()
    );
    let header: Value = serde_json::from_slice(&b64d(parts[0], "WAT header")).expect("header JSON");
    let header_obj = header.as_object().expect("header is an object");
    let mut names: Vec<&str> = header_obj.keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(names, ["alg", "kid", "typ"], "WAT header {header}");
    assert_eq!(header["alg"], "EdDSA", "WAT header {header}");
    assert_eq!(header["typ"], "wat+jwt", "WAT header {header}");
    let kid = header["kid"].as_str().expect("kid is a string");

    let jwk = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid)
        .unwrap_or_else(|| panic!("kid {kid:?} not in the JWKS {jwks}"));
    let x: [u8; 32] = b64d(jwk["x"].as_str().unwrap(), "JWK x")
        .try_into()
        .unwrap();
    let key = VerifyingKey::from_bytes(&x).expect("valid Ed25519 public key");
    let sig: [u8; 64] = b64d(parts[2], "WAT signature")
        .try_into()
        .unwrap_or_else(|v: Vec<u8>| panic!("signature is {} bytes, want 64", v.len()));
    let signing_input = format!("{}.{}", parts[0], parts[1]);
    key.verify_strict(signing_input.as_bytes(), &Signature::from_bytes(&sig))
        .expect("WAT signature verifies with the JWKS key");

    serde_json::from_slice(&b64d(parts[1], "WAT payload")).expect("claims JSON")
}

/// Claims every WAT of workload `name` carries.
fn check_claims(claims: &Value, name: &str, created_ms: i64) {
    assert_eq!(claims["iss"], PUBLIC_URL, "iss: {claims}");
    assert_eq!(claims["aud"], WAT_AUDIENCE, "aud: {claims}");
    assert_eq!(claims["sub"], wi_arn(name).as_str(), "sub: {claims}");
    assert_eq!(claims["workload_name"], name, "workload_name: {claims}");
    assert_eq!(claims["account"], ACCOUNT, "account: {claims}");
    assert_eq!(
        claims["workload_version"].as_i64(),
        Some(created_ms),
        "workload_version (creation ms): {claims}"
    );
    let iat = claims["iat"].as_i64().expect("iat is an integer");
    let exp = claims["exp"].as_i64().expect("exp is an integer");
    assert!(exp > iat, "exp {exp} <= iat {iat}");
    assert_eq!(exp - iat, DEFAULT_WAT_TTL, "exp - iat: {claims}");
    assert!(
        (iat - now_secs()).abs() <= 120,
        "iat {iat} is far from now {}",
        now_secs()
    );
    assert!(
        claims["jti"].as_str().is_some_and(|s| !s.is_empty()),
        "jti: {claims}"
    );
}

/// Re-encodes the WAT's claims after `edit`, keeping the original signature.
fn tamper_claims(wat: &str, edit: impl FnOnce(&mut Value)) -> String {
    let parts: Vec<&str> = wat.split('.').collect();
    let mut claims: Value = serde_json::from_slice(&b64d(parts[1], "WAT payload")).unwrap();
    edit(&mut claims);
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap());
    format!("{}.{payload}.{}", parts[0], parts[2])
}

/// Flips one bit in the middle of the WAT's signature.
fn flip_signature_bit(wat: &str) -> String {
    let parts: Vec<&str> = wat.split('.').collect();
    let mut sig = b64d(parts[2], "WAT signature");
    sig[20] ^= 0x01;
    format!("{}.{}.{}", parts[0], parts[1], URL_SAFE_NO_PAD.encode(sig))
}

async fn create_workload(server: &Server, name: &str) -> i64 {
    let control = server.client();
    must(
        control.create_workload_identity().name(name).send().await,
        "CreateWorkloadIdentity",
    );
    let got = must(
        control.get_workload_identity().name(name).send().await,
        "GetWorkloadIdentity",
    );
    // createdTime travels as epoch seconds with a fraction (a JSON float):
    // round, since `to_millis` truncates 1795910537.712 to ...711.
    (got.created_time().as_secs_f64() * 1000.0).round() as i64
}

#[tokio::test]
async fn workload_access_tokens_verify_against_jwks() {
    let server = Server::start();
    let data = server.data_client();
    let name = "dp-wat-agent";
    let created_ms = create_workload(&server, name).await;
    let jwks = fetch_jwks(&server);

    // GetWorkloadAccessToken.
    let out = must(
        data.get_workload_access_token()
            .workload_name(name)
            .send()
            .await,
        "GetWorkloadAccessToken",
    );
    let wat = out.workload_access_token();
    let claims = verify_wat(wat, &jwks);
    check_claims(&claims, name, created_ms);
    assert!(
        claims.get("user").is_none(),
        "a plain WAT carries no user claim: {claims}"
    );

    // A second token: another jti, still verifying.
    let again = must(
        data.get_workload_access_token()
            .workload_name(name)
            .send()
            .await,
        "GetWorkloadAccessToken (again)",
    );
    let claims2 = verify_wat(again.workload_access_token(), &jwks);
    check_claims(&claims2, name, created_ms);
    assert_ne!(claims["jti"], claims2["jti"], "jti reused");

    // GetWorkloadAccessTokenForUserId.
    let user_id = "alice@example.com";
    let out = must(
        data.get_workload_access_token_for_user_id()
            .workload_name(name)
            .user_id(user_id)
            .send()
            .await,
        "GetWorkloadAccessTokenForUserId",
    );
    let claims = verify_wat(out.workload_access_token(), &jwks);
    check_claims(&claims, name, created_ms);
    assert_eq!(
        claims["user"],
        json!({ "user_id": user_id }),
        "user: {claims}"
    );

    // A tampered token does not verify locally either (the check is real).
    let tampered = tamper_claims(wat, |c| c["workload_name"] = json!("someone-else"));
    let parts: Vec<&str> = tampered.split('.').collect();
    let kid_header: Value = serde_json::from_slice(&b64d(parts[0], "header")).unwrap();
    let jwk = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid_header["kid"])
        .unwrap();
    let x: [u8; 32] = b64d(jwk["x"].as_str().unwrap(), "x").try_into().unwrap();
    let sig: [u8; 64] = b64d(parts[2], "sig").try_into().unwrap();
    assert!(VerifyingKey::from_bytes(&x)
        .unwrap()
        .verify_strict(
            format!("{}.{}", parts[0], parts[1]).as_bytes(),
            &Signature::from_bytes(&sig)
        )
        .is_err());

    server.data_recorder.assert_all_have_request_id();
    server.shutdown();
}

#[tokio::test]
async fn resource_api_key_with_workload_access_token() {
    let server = Server::start();
    let control = server.client();
    let data = server.data_client();
    let name = "dp-apikey-agent";
    create_workload(&server, name).await;
    let key = format!("sk-{}", random_alnum(48));
    must(
        control
            .create_api_key_credential_provider()
            .name("dp-apikey")
            .api_key(&key)
            .send()
            .await,
        "CreateApiKeyCredentialProvider",
    );

    let wat = must(
        data.get_workload_access_token()
            .workload_name(name)
            .send()
            .await,
        "GetWorkloadAccessToken",
    )
    .workload_access_token()
    .to_string();
    let got = must(
        data.get_resource_api_key()
            .workload_identity_token(&wat)
            .resource_credential_provider_name("dp-apikey")
            .send()
            .await,
        "GetResourceApiKey",
    );
    assert_eq!(got.api_key(), key, "GetResourceApiKey returned another key");

    // A user-bound WAT works the same way.
    let user_wat = must(
        data.get_workload_access_token_for_user_id()
            .workload_name(name)
            .user_id("bob")
            .send()
            .await,
        "GetWorkloadAccessTokenForUserId",
    )
    .workload_access_token()
    .to_string();
    let got = must(
        data.get_resource_api_key()
            .workload_identity_token(&user_wat)
            .resource_credential_provider_name("dp-apikey")
            .send()
            .await,
        "GetResourceApiKey (user WAT)",
    );
    assert_eq!(got.api_key(), key);

    // Tampered tokens: modeled UnauthorizedException (401), token not echoed.
    let tampered = [
        (
            "claims changed",
            tamper_claims(&wat, |c| {
                c["workload_name"] = json!("other-agent");
                c["sub"] = json!(wi_arn("other-agent"));
            }),
        ),
        ("signature bit flipped", flip_signature_bit(&wat)),
    ];
    for (what, bad) in &tampered {
        assert_ne!(bad, &wat);
        let res = data
            .get_resource_api_key()
            .workload_identity_token(bad)
            .resource_credential_provider_name("dp-apikey")
            .send()
            .await;
        let (err, status) = service_error(res, &format!("GetResourceApiKey ({what})"));
        assert_eq!(status, 401, "{what}: {err:?}");
        assert_eq!(err.code(), Some("UnauthorizedException"), "{what}");
        match &err {
            GetResourceApiKeyError::UnauthorizedException(e) => {
                let msg = e.message().unwrap_or_default();
                assert!(
                    msg.contains("signature"),
                    "{what}: message should name the failed check: {msg:?}"
                );
                assert!(
                    !msg.contains(bad.as_str()),
                    "{what}: message echoes the token"
                );
                let sig = bad.rsplit('.').next().unwrap();
                assert!(!msg.contains(sig), "{what}: message echoes the signature");
            }
            other => panic!("{what}: expected UnauthorizedException, got {other:?}"),
        }
    }
    let (err, status) = service_error(
        data.get_resource_api_key()
            .workload_identity_token("not-a-jwt")
            .resource_credential_provider_name("dp-apikey")
            .send()
            .await,
        "GetResourceApiKey (malformed token)",
    );
    assert!(
        matches!(err, GetResourceApiKeyError::UnauthorizedException(_)),
        "{err:?}"
    );
    assert_eq!(status, 401);

    // Valid token, unknown provider: ResourceNotFoundException.
    let (err, status) = service_error(
        data.get_resource_api_key()
            .workload_identity_token(&wat)
            .resource_credential_provider_name("no-such-provider")
            .send()
            .await,
        "GetResourceApiKey (unknown provider)",
    );
    assert!(
        matches!(err, GetResourceApiKeyError::ResourceNotFoundException(_)),
        "{err:?}"
    );
    assert_eq!(status, 404);

    // The control plane never returned the key.
    server.recorder.assert_never_returned(&key, "an API key");
    server.data_recorder.assert_all_have_request_id();
    server.shutdown();
}

#[tokio::test]
async fn resource_oauth2_token_m2m_against_oidc_provider() {
    let kit = OidcProvider::start(&[]);
    let server = Server::start_with(&["--outbound-allow", "127.0.0.1"]);
    let control = server.client();
    let data = server.data_client();
    let name = "dp-m2m-agent";
    create_workload(&server, name).await;

    let (client_id, client_secret) = kit.client("basic");
    let provider = "dp-testkit-m2m";
    must(
        control
            .create_oauth2_credential_provider()
            .name(provider)
            .credential_provider_vendor(CredentialProviderVendorType::CustomOauth2)
            .oauth2_provider_config_input(Oauth2ProviderConfigInput::CustomOauth2ProviderConfig(
                CustomOauth2ProviderConfigInput::builder()
                    .oauth_discovery(Oauth2Discovery::DiscoveryUrl(kit.discovery_url()))
                    .client_id(&client_id)
                    .client_secret(&client_secret)
                    .build(),
            ))
            .send()
            .await,
        "CreateOauth2CredentialProvider (discovery URL)",
    );

    let wat = must(
        data.get_workload_access_token()
            .workload_name(name)
            .send()
            .await,
        "GetWorkloadAccessToken",
    )
    .workload_access_token()
    .to_string();

    let fetch = |force: bool| {
        data.get_resource_oauth2_token()
            .workload_identity_token(&wat)
            .resource_credential_provider_name(provider)
            .scopes("read")
            .oauth2_flow(Oauth2FlowType::M2M)
            .set_force_authentication(force.then_some(true))
            .send()
    };
    let first = must(fetch(false).await, "GetResourceOauth2Token (first)");
    let token = first
        .access_token()
        .filter(|t| !t.is_empty())
        .expect("accessToken")
        .to_string();
    assert!(
        first.authorization_url().is_none(),
        "M2M gives no authorizationUrl"
    );
    let second = must(fetch(false).await, "GetResourceOauth2Token (second)");
    assert_eq!(
        second.access_token(),
        Some(token.as_str()),
        "the second call should get the cached token"
    );

    let stats = kit.stats();
    assert_eq!(
        stats["token_requests"], 1,
        "one token request expected: {stats}"
    );
    let last = &stats["last"];
    assert_eq!(last["auth"], "basic", "client authentication: {stats}");
    assert_eq!(
        last["params"]["grant_type"], "client_credentials",
        "{stats}"
    );
    assert_eq!(last["params"]["scope"], "read", "{stats}");

    // forceAuthentication fetches a fresh token.
    let forced = must(fetch(true).await, "GetResourceOauth2Token (forced)");
    let forced_token = forced.access_token().expect("accessToken (forced)");
    assert_ne!(
        forced_token, token,
        "forceAuthentication returned the old token"
    );
    assert_eq!(
        kit.stats()["token_requests"],
        2,
        "forced call hits the provider"
    );

    // The client secret never came back from the control plane.
    server
        .recorder
        .assert_never_returned(&client_secret, "the client secret");
    server
        .data_recorder
        .assert_never_returned(&client_secret, "the client secret");
    server.data_recorder.assert_all_have_request_id();
    server.shutdown();
    drop(kit);
}
