//! User federation (3-legged OAuth) with the official SDKs, end to end,
//! against the real oidc-provider of the test kit (docs/contracts/user-federation.md):
//! a workload with an allowed return URL, a `CustomOauth2` provider whose client
//! is registered at oidc-provider (RFC 7591, redirect URI = the provider's
//! `callbackUrl`), `GetResourceOauth2Token` with `USER_FEDERATION` starting a
//! session, a scripted browser through warrant's authorization URL, the
//! provider's real login and consent pages and warrant's callback (stopping at
//! the 303 to the app's return URL), then the agent's side as the AWS Python
//! SDK's `bedrock_agentcore` `requires_access_token` does it (poll
//! `GetResourceOauth2Token` with the `sessionUri` until an `accessToken`
//! comes, with a deadline) while the app calls `CompleteResourceTokenAuth`.
//! Refusals are the modeled error types.

use std::time::{Duration, Instant};

use aws_sdk_bedrockagentcore as data_sdk;
use aws_sdk_bedrockagentcorecontrol::types::{
    CredentialProviderVendorType, CustomOauth2ProviderConfigInput, Oauth2Discovery,
    Oauth2ProviderConfigInput,
};
use data_sdk::config::http::HttpResponse;
use data_sdk::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use data_sdk::operation::complete_resource_token_auth::CompleteResourceTokenAuthError;
use data_sdk::types::{Oauth2FlowType, SessionStatus, UserIdentifier};

use crate::harness::*;
use crate::testkit::{http_get, origin_of, query_param, Browser, OidcProvider};

const RETURN_URL: &str = "https://app.example/cb?tenant=7";
const WORKLOAD: &str = "uf-agent";
const PROVIDER: &str = "uf-oidc";
const SCOPES: [&str; 2] = ["read", "write"];
const SESSION_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";
/// The AWS Python SDK polls every 5 s by default; 1 s keeps the test short.
const POLL_INTERVAL: Duration = Duration::from_secs(1);
const POLL_DEADLINE: Duration = Duration::from_secs(30);

fn custom_config(discovery: &str, client_id: &str, secret: &str) -> Oauth2ProviderConfigInput {
    Oauth2ProviderConfigInput::CustomOauth2ProviderConfig(
        CustomOauth2ProviderConfigInput::builder()
            .oauth_discovery(Oauth2Discovery::DiscoveryUrl(discovery.to_string()))
            .client_id(client_id)
            .client_secret(secret)
            .build(),
    )
}

/// `GetResourceOauth2Token` (USER_FEDERATION, scopes read write, the
/// allowed return URL), optionally continuing a session.
fn token_request(
    data: &data_sdk::Client,
    wat: &str,
    session_uri: Option<&str>,
) -> data_sdk::operation::get_resource_oauth2_token::builders::GetResourceOauth2TokenFluentBuilder {
    data.get_resource_oauth2_token()
        .workload_identity_token(wat)
        .resource_credential_provider_name(PROVIDER)
        .scopes(SCOPES[0])
        .scopes(SCOPES[1])
        .oauth2_flow(Oauth2FlowType::UserFederation)
        .resource_oauth2_return_url(RETURN_URL)
        .set_session_uri(session_uri.map(str::to_string))
}

/// A new session: the IN_PROGRESS answer, checked; `(authorizationUrl, sessionUri)`.
async fn start_session(data: &data_sdk::Client, wat: &str, what: &str) -> (String, String) {
    let out = must(token_request(data, wat, None).send().await, what);
    assert!(out.access_token().is_none(), "{what}: {out:?}");
    assert_eq!(
        out.session_status(),
        Some(&SessionStatus::InProgress),
        "{what}: {out:?}"
    );
    let uri = out.session_uri().expect("sessionUri").to_string();
    let id = uri
        .strip_prefix(SESSION_PREFIX)
        .unwrap_or_else(|| panic!("{what}: sessionUri {uri:?}"));
    assert_eq!(id.len(), 43, "{what}: 256 bits, base64url: {uri:?}");
    assert!(
        id.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "{what}: {uri:?}"
    );
    let url = out
        .authorization_url()
        .expect("authorizationUrl")
        .to_string();
    assert!(
        url.starts_with(&format!("{PUBLIC_URL}/identities/oauth2/authorize?")),
        "{what}: {url}"
    );
    assert_eq!(
        query_param(&url, "request_uri").as_deref(),
        Some(uri.as_str()),
        "{what}: {url}"
    );
    (url, uri)
}

/// The user's side in a browser: warrant's authorization URL (303 to the
/// provider, checked), the provider's login and consent as `username`, then
/// warrant's callback, whose 303 to the app's return URL is not followed.
/// Returns that Location.
fn authorize_in_browser(
    server: &Server,
    kit: &OidcProvider,
    callback_url: &str,
    client_id: &str,
    authorization_url: &str,
    username: &str,
) -> String {
    let mut browser = Browser::new(&[(PUBLIC_URL, &server.endpoint)]);
    let (first, to_provider) = browser.request("GET", authorization_url, None);
    assert_eq!(first.status, 303, "authorizationUrl: {first:?}");
    assert_eq!(first.header("cache-control"), Some("no-store"), "{first:?}");
    let to_provider = to_provider.expect("Location to the provider");
    assert!(
        to_provider.starts_with(&format!("{}/auth?", kit.issuer)),
        "warrant should send the browser to the provider's authorization endpoint: {to_provider}"
    );
    let param = |k: &str| query_param(&to_provider, k);
    assert_eq!(param("response_type").as_deref(), Some("code"));
    assert_eq!(param("client_id").as_deref(), Some(client_id));
    assert_eq!(param("redirect_uri").as_deref(), Some(callback_url));
    assert_eq!(param("scope").as_deref(), Some("read write"));
    assert_eq!(param("code_challenge_method").as_deref(), Some("S256"));
    assert!(param("code_challenge").is_some_and(|c| c.len() == 43));
    assert!(param("state").is_some_and(|s| s.len() >= 22));

    let back = browser.at_provider(&to_provider, username);
    assert!(
        back.starts_with(&format!("{callback_url}?")),
        "the provider should send the browser to warrant's callback: {back}"
    );
    assert!(query_param(&back, "code").is_some(), "{back}");
    let (callback, to_app) = browser.request("GET", &back, None);
    assert_eq!(
        callback.status, 303,
        "callback: {callback:?}; hops {:#?}",
        browser.hops
    );
    let to_app = to_app.expect("Location to the return URL");
    assert!(
        to_app.starts_with(&format!("{RETURN_URL}&session_id=")),
        "the return URL's query is kept and session_id appended: {to_app}"
    );
    to_app
}

/// The agent's side, like `bedrock_agentcore`'s `requires_access_token`:
/// the same request with the `sessionUri`, every POLL_INTERVAL, until an
/// `accessToken`; a FAILED session or the deadline is an error.
/// Returns the token and how many calls it took.
async fn poll_for_token(
    data: data_sdk::Client,
    wat: String,
    session_uri: String,
) -> Result<(String, u32), String> {
    let deadline = Instant::now() + POLL_DEADLINE;
    let mut calls = 0;
    loop {
        calls += 1;
        let out = token_request(&data, &wat, Some(&session_uri))
            .send()
            .await
            .map_err(|e| format!("poll {calls}: {}", DisplayErrorContext(&e)))?;
        if let Some(t) = out.access_token() {
            return Ok((t.to_string(), calls));
        }
        match out.session_status() {
            Some(SessionStatus::InProgress) => {}
            other => return Err(format!("poll {calls}: session {other:?}: {out:?}")),
        }
        if Instant::now() + POLL_INTERVAL > deadline {
            return Err(format!("no token within {POLL_DEADLINE:?} ({calls} polls)"));
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

async fn complete(
    data: &data_sdk::Client,
    session_uri: &str,
    user_id: &str,
) -> Result<
    data_sdk::operation::complete_resource_token_auth::CompleteResourceTokenAuthOutput,
    SdkError<CompleteResourceTokenAuthError, HttpResponse>,
> {
    data.complete_resource_token_auth()
        .session_uri(session_uri)
        .user_identifier(UserIdentifier::UserId(user_id.to_string()))
        .send()
        .await
}

/// The access tokens oidc-provider issued to `client_id` (`/__testkit/issued`).
fn issued_access_tokens(kit: &OidcProvider, client_id: &str) -> Vec<serde_json::Value> {
    let answer = http_get(&format!("{}/__testkit/issued", kit.issuer));
    assert_eq!(answer.status, 200, "{answer:?}");
    answer.json()["access_tokens"]
        .as_array()
        .expect("access_tokens")
        .iter()
        .filter(|t| t["client_id"] == client_id)
        .cloned()
        .collect()
}

#[tokio::test]
async fn user_federation_consent_poll_and_complete() {
    let kit = OidcProvider::start(&[]);
    let server = Server::start_with(&["--outbound-allow", "127.0.0.1"]);
    let control = server.client();
    let data = server.data_client();

    must(
        control
            .create_workload_identity()
            .name(WORKLOAD)
            .allowed_resource_oauth2_return_urls(RETURN_URL)
            .send()
            .await,
        "CreateWorkloadIdentity",
    );

    // The callback URL exists once the provider does: create it with a
    // placeholder client, register the real client with that URL as its
    // redirect URI, then update the provider with it.
    let discovery = kit.discovery_url();
    let created = must(
        control
            .create_oauth2_credential_provider()
            .name(PROVIDER)
            .credential_provider_vendor(CredentialProviderVendorType::CustomOauth2)
            .oauth2_provider_config_input(custom_config(
                &discovery,
                "placeholder",
                &random_alnum(32),
            ))
            .send()
            .await,
        "CreateOauth2CredentialProvider",
    );
    let callback_url = created.callback_url().expect("callbackUrl").to_string();
    assert!(
        callback_url.starts_with(&format!("{PUBLIC_URL}/identities/oauth2/callback/")),
        "{callback_url}"
    );
    let client = kit.register_client(&callback_url);
    let client_id = client["client_id"].as_str().expect("client_id").to_string();
    let client_secret = client["client_secret"]
        .as_str()
        .expect("client_secret")
        .to_string();
    let updated = must(
        control
            .update_oauth2_credential_provider()
            .name(PROVIDER)
            .credential_provider_vendor(CredentialProviderVendorType::CustomOauth2)
            .oauth2_provider_config_input(custom_config(&discovery, &client_id, &client_secret))
            .send()
            .await,
        "UpdateOauth2CredentialProvider",
    );
    assert_eq!(updated.callback_url(), Some(callback_url.as_str()));

    let wat_for = |user: &'static str| {
        let data = data.clone();
        async move {
            must(
                data.get_workload_access_token_for_user_id()
                    .workload_name(WORKLOAD)
                    .user_id(user)
                    .send()
                    .await,
                "GetWorkloadAccessTokenForUserId",
            )
            .workload_access_token()
            .to_string()
        }
    };
    let alice = wat_for("alice").await;

    // 1. A new session for alice.
    let (auth_url, session) = start_session(&data, &alice, "GetResourceOauth2Token (start)").await;

    // 2. Completing before the provider's callback: ValidationException, and
    //    the session stays usable.
    let res = complete(&data, &session, "alice").await;
    let (err, status) = service_error(res, "CompleteResourceTokenAuth (before the callback)");
    assert_eq!(status, 400, "{err:?}");
    match &err {
        CompleteResourceTokenAuthError::ValidationException(e) => assert!(
            e.message().contains("has not finished authorizing"),
            "{e:?}"
        ),
        other => panic!("expected ValidationException, got {other:?}"),
    }
    let still = must(
        token_request(&data, &alice, Some(&session)).send().await,
        "GetResourceOauth2Token (session, before the callback)",
    );
    assert_eq!(still.session_status(), Some(&SessionStatus::InProgress));
    assert_eq!(still.authorization_url(), Some(auth_url.as_str()));

    // 3. The user consents in the browser.
    let to_app = authorize_in_browser(&server, &kit, &callback_url, &client_id, &auth_url, "alice");
    assert_eq!(
        query_param(&to_app, "session_id").as_deref(),
        Some(session.as_str()),
        "{to_app}"
    );
    assert_eq!(origin_of(&to_app), "https://app.example");
    assert!(
        issued_access_tokens(&kit, &client_id).is_empty(),
        "the code must not be redeemed before CompleteResourceTokenAuth"
    );

    // 4. The agent polls while the app completes the session.
    let poller = tokio::spawn(poll_for_token(data.clone(), alice.clone(), session.clone()));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(!poller.is_finished(), "the poll should still be waiting");
    must(
        complete(&data, &session, "alice").await,
        "CompleteResourceTokenAuth (alice)",
    );
    let completed = Instant::now();
    let (token, polls) = poller
        .await
        .expect("the poll task")
        .unwrap_or_else(|e| panic!("polling for the token: {e}"));
    let waited = completed.elapsed();
    assert!(polls >= 2, "the token came on poll {polls}");
    assert!(
        waited <= POLL_INTERVAL + Duration::from_secs(2),
        "the token came {waited:?} after the completion"
    );
    let issued = issued_access_tokens(&kit, &client_id);
    assert_eq!(issued.len(), 1, "one code redeemed: {issued:?}");
    assert_eq!(issued[0]["grant_type"], "authorization_code");
    assert_eq!(
        issued[0]["value"].as_str(),
        Some(token.as_str()),
        "the agent got the token the provider issued"
    );

    // The vault answers now without a session; completing again is refused.
    let again = must(
        token_request(&data, &alice, None).send().await,
        "GetResourceOauth2Token (vault)",
    );
    assert_eq!(again.access_token(), Some(token.as_str()), "{again:?}");
    assert!(again.session_uri().is_none() && again.authorization_url().is_none());
    let (err, status) = service_error(
        complete(&data, &session, "alice").await,
        "CompleteResourceTokenAuth (again)",
    );
    assert_eq!(status, 400, "{err:?}");
    assert!(
        matches!(err, CompleteResourceTokenAuthError::ValidationException(_)),
        "{err:?}"
    );

    // 5. Bob's session completed by someone else: AccessDeniedException, the
    //    session FAILED, and bob's code is never redeemed.
    let bob = wat_for("bob").await;
    let (bob_url, bob_session) = start_session(&data, &bob, "GetResourceOauth2Token (bob)").await;
    let to_app = authorize_in_browser(&server, &kit, &callback_url, &client_id, &bob_url, "bob");
    assert_eq!(
        query_param(&to_app, "session_id").as_deref(),
        Some(bob_session.as_str())
    );
    let (err, status) = service_error(
        complete(&data, &bob_session, "mallory").await,
        "CompleteResourceTokenAuth (wrong user)",
    );
    assert_eq!(status, 403, "{err:?}");
    assert_eq!(err.code(), Some("AccessDeniedException"));
    assert!(
        matches!(
            err,
            CompleteResourceTokenAuthError::AccessDeniedException(_)
        ),
        "expected the typed AccessDeniedException, got {err:?}"
    );
    let failed = must(
        token_request(&data, &bob, Some(&bob_session)).send().await,
        "GetResourceOauth2Token (bob's failed session)",
    );
    assert_eq!(
        failed.session_status(),
        Some(&SessionStatus::Failed),
        "{failed:?}"
    );
    assert!(failed.access_token().is_none());
    let (err, _) = service_error(
        complete(&data, &bob_session, "bob").await,
        "CompleteResourceTokenAuth (bob, after the failure)",
    );
    assert!(
        matches!(err, CompleteResourceTokenAuthError::ValidationException(_)),
        "{err:?}"
    );
    assert_eq!(
        issued_access_tokens(&kit, &client_id).len(),
        1,
        "bob's code must never be redeemed"
    );

    // No response of the data plane carried the client secret; every one has
    // a request id.
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
