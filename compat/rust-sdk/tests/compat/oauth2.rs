use aws_sdk_bedrockagentcorecontrol as sdk;
use sdk::error::ProvideErrorMetadata;
use sdk::types::{
    ClientAuthenticationMethodType, CredentialProviderVendorType, CustomOauth2ProviderConfigInput,
    GoogleOauth2ProviderConfigInput, Oauth2AuthorizationServerMetadata, Oauth2Discovery,
    Oauth2ProviderConfigInput, Oauth2ProviderConfigOutput, SecretSourceType, Status,
};

use crate::harness::*;

fn google_config(client_id: &str, secret: &str) -> Oauth2ProviderConfigInput {
    Oauth2ProviderConfigInput::GoogleOauth2ProviderConfig(
        GoogleOauth2ProviderConfigInput::builder()
            .client_id(client_id)
            .client_secret(secret)
            .build()
            .expect("google config"),
    )
}

fn custom_metadata(token_endpoint: &str) -> Oauth2AuthorizationServerMetadata {
    Oauth2AuthorizationServerMetadata::builder()
        .issuer("https://idp.example.com")
        .authorization_endpoint("https://idp.example.com/oauth2/authorize")
        .token_endpoint(token_endpoint)
        .response_types("code")
        .token_endpoint_auth_methods("client_secret_post")
        .build()
        .expect("metadata")
}

fn custom_config(client_id: &str, secret: &str, token_endpoint: &str) -> Oauth2ProviderConfigInput {
    Oauth2ProviderConfigInput::CustomOauth2ProviderConfig(
        CustomOauth2ProviderConfigInput::builder()
            .oauth_discovery(Oauth2Discovery::AuthorizationServerMetadata(
                custom_metadata(token_endpoint),
            ))
            .client_id(client_id)
            .client_secret(secret)
            .client_authentication_method(ClientAuthenticationMethodType::ClientSecretPost)
            .build(),
    )
}

fn check_callback(url: Option<&str>) -> String {
    let url = url.expect("callbackUrl present");
    let prefix = format!("{PUBLIC_URL}/identities/oauth2/callback/");
    let id = url
        .strip_prefix(&prefix)
        .unwrap_or_else(|| panic!("callbackUrl {url} does not start with {prefix}"));
    let is_uuid = id.len() == 36
        && id.chars().enumerate().all(|(i, c)| {
            if [8, 13, 18, 23].contains(&i) {
                c == '-'
            } else {
                c.is_ascii_hexdigit()
            }
        });
    assert!(is_uuid, "callbackUrl id {id:?} is not a UUID");
    url.to_string()
}

fn check_secret_arn(arn: Option<&sdk::types::Secret>) {
    let arn = arn.expect("clientSecretArn present").secret_arn();
    assert!(
        arn.starts_with(&secret_arn_prefix()) && arn.len() > secret_arn_prefix().len(),
        "clientSecretArn {arn:?} should start with {}",
        secret_arn_prefix()
    );
}

fn check_status(status: Option<&Status>) {
    if let Some(s) = status {
        assert_eq!(*s, Status::Ready, "status");
    }
}

fn check_source(source: Option<&SecretSourceType>) {
    if let Some(s) = source {
        assert_eq!(*s, SecretSourceType::Managed, "clientSecretSource");
    }
}

fn google_output(out: Option<&Oauth2ProviderConfigOutput>, client_id: &str) {
    let out = out.expect("oauth2ProviderConfigOutput present");
    let g = out
        .as_google_oauth2_provider_config()
        .unwrap_or_else(|o| panic!("expected googleOauth2ProviderConfig, got {o:?}"));
    assert_eq!(g.client_id(), Some(client_id));
    let meta = g
        .oauth_discovery()
        .expect("oauthDiscovery")
        .as_authorization_server_metadata()
        .unwrap_or_else(|d| panic!("expected authorizationServerMetadata, got {d:?}"));
    assert!(
        meta.issuer().starts_with("https://accounts.google.com"),
        "google issuer {:?}",
        meta.issuer()
    );
    assert!(
        meta.authorization_endpoint().starts_with("https://"),
        "{meta:?}"
    );
    assert!(meta.token_endpoint().starts_with("https://"), "{meta:?}");
}

fn custom_output(out: Option<&Oauth2ProviderConfigOutput>, client_id: &str, token_endpoint: &str) {
    let out = out.expect("oauth2ProviderConfigOutput present");
    let c = out
        .as_custom_oauth2_provider_config()
        .unwrap_or_else(|o| panic!("expected customOauth2ProviderConfig, got {o:?}"));
    assert_eq!(c.client_id(), Some(client_id));
    assert_eq!(
        c.client_authentication_method(),
        Some(&ClientAuthenticationMethodType::ClientSecretPost)
    );
    let meta = c
        .oauth_discovery()
        .expect("oauthDiscovery")
        .as_authorization_server_metadata()
        .unwrap_or_else(|d| panic!("expected authorizationServerMetadata, got {d:?}"));
    assert_eq!(meta, &custom_metadata(token_endpoint));
}

#[tokio::test]
async fn oauth2_google_and_custom_providers() {
    let server = Server::start();
    let client = server.client();

    let g_secret1 = format!("GOCSPX-{}", random_alnum(28));
    let g_secret2 = format!("GOCSPX-{}", random_alnum(28));
    let c_secret1 = random_alnum(40);
    let c_secret2 = random_alnum(40);
    let all_secrets = [&g_secret1, &g_secret2, &c_secret1, &c_secret2];
    let g_client_id = "1234567890-compat.apps.googleusercontent.com";

    // ---- Google ----
    let created = must(
        client
            .create_oauth2_credential_provider()
            .name("google-compat")
            .credential_provider_vendor(CredentialProviderVendorType::GoogleOauth2)
            .oauth2_provider_config_input(google_config(g_client_id, &g_secret1))
            .tags("vendor", "google")
            .send()
            .await,
        "CreateOauth2CredentialProvider (google)",
    );
    assert_debug_hides(&created, &g_secret1, "create google");
    assert_eq!(created.name(), "google-compat");
    assert_eq!(
        created.credential_provider_arn(),
        oauth2_arn("google-compat")
    );
    check_secret_arn(created.client_secret_arn());
    check_source(created.client_secret_source());
    check_status(created.status());
    let g_callback = check_callback(created.callback_url());
    google_output(created.oauth2_provider_config_output(), g_client_id);

    let got = must(
        client
            .get_oauth2_credential_provider()
            .name("google-compat")
            .send()
            .await,
        "GetOauth2CredentialProvider (google)",
    );
    assert_debug_hides(&got, &g_secret1, "get google");
    assert_eq!(got.name(), "google-compat");
    assert_eq!(got.credential_provider_arn(), oauth2_arn("google-compat"));
    assert_eq!(
        got.credential_provider_vendor(),
        &CredentialProviderVendorType::GoogleOauth2
    );
    assert_eq!(got.callback_url(), Some(g_callback.as_str()));
    check_secret_arn(got.client_secret_arn());
    check_source(got.client_secret_source());
    check_status(got.status());
    google_output(got.oauth2_provider_config_output(), g_client_id);
    assert!(
        got.created_time().secs() > 1_600_000_000,
        "createdTime {:?}",
        got.created_time()
    );
    assert!(got.last_updated_time().secs() >= got.created_time().secs());

    let updated = must(
        client
            .update_oauth2_credential_provider()
            .name("google-compat")
            .credential_provider_vendor(CredentialProviderVendorType::GoogleOauth2)
            .oauth2_provider_config_input(google_config(
                "updated-client.apps.googleusercontent.com",
                &g_secret2,
            ))
            .send()
            .await,
        "UpdateOauth2CredentialProvider (google)",
    );
    assert_debug_hides(&updated, &g_secret2, "update google");
    assert_debug_hides(&updated, &g_secret1, "update google");
    assert_eq!(updated.name(), "google-compat");
    assert_eq!(
        updated.credential_provider_vendor(),
        &CredentialProviderVendorType::GoogleOauth2
    );
    assert_eq!(
        updated.callback_url(),
        Some(g_callback.as_str()),
        "callbackUrl stable across updates"
    );
    check_secret_arn(updated.client_secret_arn());
    google_output(
        updated.oauth2_provider_config_output(),
        "updated-client.apps.googleusercontent.com",
    );
    let got = must(
        client
            .get_oauth2_credential_provider()
            .name("google-compat")
            .send()
            .await,
        "GetOauth2CredentialProvider (google, after update)",
    );
    google_output(
        got.oauth2_provider_config_output(),
        "updated-client.apps.googleusercontent.com",
    );
    assert_eq!(got.callback_url(), Some(g_callback.as_str()));

    // ---- Custom with authorizationServerMetadata + CLIENT_SECRET_POST ----
    let token1 = "https://idp.example.com/oauth2/token";
    let created = must(
        client
            .create_oauth2_credential_provider()
            .name("custom-compat")
            .credential_provider_vendor(CredentialProviderVendorType::CustomOauth2)
            .oauth2_provider_config_input(custom_config("custom-client", &c_secret1, token1))
            .send()
            .await,
        "CreateOauth2CredentialProvider (custom)",
    );
    assert_debug_hides(&created, &c_secret1, "create custom");
    assert_eq!(
        created.credential_provider_arn(),
        oauth2_arn("custom-compat")
    );
    check_secret_arn(created.client_secret_arn());
    let c_callback = check_callback(created.callback_url());
    assert_ne!(
        c_callback, g_callback,
        "callbackUrl must be unique per provider"
    );
    custom_output(
        created.oauth2_provider_config_output(),
        "custom-client",
        token1,
    );

    let got = must(
        client
            .get_oauth2_credential_provider()
            .name("custom-compat")
            .send()
            .await,
        "GetOauth2CredentialProvider (custom)",
    );
    assert_debug_hides(&got, &c_secret1, "get custom");
    assert_eq!(
        got.credential_provider_vendor(),
        &CredentialProviderVendorType::CustomOauth2
    );
    assert_eq!(got.callback_url(), Some(c_callback.as_str()));
    custom_output(got.oauth2_provider_config_output(), "custom-client", token1);

    let token2 = "https://idp.example.com/oauth2/v2/token";
    let updated = must(
        client
            .update_oauth2_credential_provider()
            .name("custom-compat")
            .credential_provider_vendor(CredentialProviderVendorType::CustomOauth2)
            .oauth2_provider_config_input(custom_config("custom-client-2", &c_secret2, token2))
            .send()
            .await,
        "UpdateOauth2CredentialProvider (custom)",
    );
    assert_debug_hides(&updated, &c_secret2, "update custom");
    assert_eq!(updated.callback_url(), Some(c_callback.as_str()));
    custom_output(
        updated.oauth2_provider_config_output(),
        "custom-client-2",
        token2,
    );

    // ---- List ----
    let list = must(
        client.list_oauth2_credential_providers().send().await,
        "ListOauth2CredentialProviders",
    );
    for s in all_secrets {
        assert_debug_hides(&list, s, "list");
    }
    let items: Vec<(String, CredentialProviderVendorType, String)> = list
        .credential_providers()
        .iter()
        .map(|p| {
            assert!(p.created_time().secs() > 1_600_000_000);
            (
                p.name().to_string(),
                p.credential_provider_vendor().clone(),
                p.credential_provider_arn().to_string(),
            )
        })
        .collect();
    assert_eq!(
        items,
        vec![
            (
                "custom-compat".to_string(),
                CredentialProviderVendorType::CustomOauth2,
                oauth2_arn("custom-compat")
            ),
            (
                "google-compat".to_string(),
                CredentialProviderVendorType::GoogleOauth2,
                oauth2_arn("google-compat")
            ),
        ]
    );
    assert!(list.next_token().is_none());
    let page = must(
        client
            .list_oauth2_credential_providers()
            .max_results(1)
            .send()
            .await,
        "ListOauth2CredentialProviders maxResults 1",
    );
    assert_eq!(page.credential_providers().len(), 1);
    assert_eq!(page.credential_providers()[0].name(), "custom-compat");
    let page2 = must(
        client
            .list_oauth2_credential_providers()
            .max_results(1)
            .next_token(page.next_token().expect("nextToken on first of two pages"))
            .send()
            .await,
        "ListOauth2CredentialProviders page 2",
    );
    assert_eq!(page2.credential_providers().len(), 1);
    assert_eq!(page2.credential_providers()[0].name(), "google-compat");
    assert!(page2.next_token().is_none());

    // ---- Delete ----
    for name in ["google-compat", "custom-compat"] {
        must(
            client
                .delete_oauth2_credential_provider()
                .name(name)
                .send()
                .await,
            "DeleteOauth2CredentialProvider",
        );
        let (err, status) = service_error(
            client
                .get_oauth2_credential_provider()
                .name(name)
                .send()
                .await,
            "GetOauth2CredentialProvider after delete",
        );
        assert!(err.is_resource_not_found_exception(), "{err:?}");
        assert_eq!(status, 404);
        let (err, _) = service_error(
            client
                .delete_oauth2_credential_provider()
                .name(name)
                .send()
                .await,
            "DeleteOauth2CredentialProvider twice",
        );
        assert!(err.is_resource_not_found_exception(), "{err:?}");
    }
    let list = must(
        client.list_oauth2_credential_providers().send().await,
        "ListOauth2CredentialProviders after delete",
    );
    assert!(list.credential_providers().is_empty(), "{list:?}");

    // The recorder really sees raw bodies (so the check below is not vacuous).
    assert!(
        server
            .recorder
            .exchanges()
            .iter()
            .any(|e| e.body.contains(&g_callback)),
        "recorder captured no response body"
    );
    for s in all_secrets {
        server
            .recorder
            .assert_never_returned(s, "an OAuth2 client secret");
    }
    server.recorder.assert_all_have_request_id();
    server.shutdown();
}

#[tokio::test]
async fn oauth2_validation() {
    let server = Server::start();
    let client = server.client();
    let secret = random_alnum(32);
    let discovery = || {
        Oauth2Discovery::DiscoveryUrl(
            "https://idp.example.com/.well-known/openid-configuration".into(),
        )
    };
    let google = |b: sdk::types::builders::GoogleOauth2ProviderConfigInputBuilder| {
        Oauth2ProviderConfigInput::GoogleOauth2ProviderConfig(b.build().unwrap())
    };
    let custom = |b: sdk::types::builders::CustomOauth2ProviderConfigInputBuilder| {
        Oauth2ProviderConfigInput::CustomOauth2ProviderConfig(
            b.oauth_discovery(discovery()).client_id("cid").build(),
        )
    };
    use CredentialProviderVendorType as V;

    // (case, vendor, config, a word the message must contain)
    let cases: Vec<(&str, V, Oauth2ProviderConfigInput, Option<&str>)> = vec![
        (
            "GoogleOauth2 vendor with customOauth2ProviderConfig",
            V::GoogleOauth2,
            custom_config("c", &secret, "https://idp.example.com/t"),
            None,
        ),
        (
            "CustomOauth2 vendor with googleOauth2ProviderConfig",
            V::CustomOauth2,
            google_config("c", &secret),
            None,
        ),
        (
            "google without clientSecret (Rust SDK sends \"\")",
            V::GoogleOauth2,
            google(GoogleOauth2ProviderConfigInput::builder().client_id("cid")),
            Some("clientSecret"),
        ),
        (
            "google with clientSecretSource EXTERNAL",
            V::GoogleOauth2,
            google(
                GoogleOauth2ProviderConfigInput::builder()
                    .client_id("cid")
                    .client_secret(&secret)
                    .client_secret_source(SecretSourceType::External),
            ),
            Some("clientSecretSource"),
        ),
        (
            "custom with clientSecretSource EXTERNAL",
            V::CustomOauth2,
            custom(
                CustomOauth2ProviderConfigInput::builder()
                    .client_secret(&secret)
                    .client_secret_source(SecretSourceType::External),
            ),
            Some("clientSecretSource"),
        ),
        (
            "google with clientSecretConfig",
            V::GoogleOauth2,
            google(
                GoogleOauth2ProviderConfigInput::builder()
                    .client_id("cid")
                    .client_secret(&secret)
                    .client_secret_config(
                        sdk::types::SecretReference::builder()
                            .secret_id("my-secret")
                            .json_key("k")
                            .build()
                            .unwrap(),
                    ),
            ),
            Some("clientSecretConfig"),
        ),
        (
            "custom with clientAuthenticationMethod AWS_IAM_ID_TOKEN_JWT",
            V::CustomOauth2,
            custom(
                CustomOauth2ProviderConfigInput::builder()
                    .client_secret(&secret)
                    .client_authentication_method(ClientAuthenticationMethodType::AwsIamIdTokenJwt),
            ),
            Some("clientAuthenticationMethod"),
        ),
        (
            "custom with clientAuthenticationMethod PRIVATE_KEY_JWT",
            V::CustomOauth2,
            custom(
                CustomOauth2ProviderConfigInput::builder()
                    .client_secret(&secret)
                    .client_authentication_method(ClientAuthenticationMethodType::PrivateKeyJwt),
            ),
            Some("clientAuthenticationMethod"),
        ),
        (
            "OktaOauth2 (tenant-specific) without issuer/endpoints",
            V::OktaOauth2,
            Oauth2ProviderConfigInput::IncludedOauth2ProviderConfig(
                sdk::types::IncludedOauth2ProviderConfigInput::builder()
                    .client_id("cid")
                    .client_secret(&secret)
                    .build()
                    .unwrap(),
            ),
            None,
        ),
    ];

    let mut failures = Vec::new();
    for (i, (case, vendor, config, word)) in cases.into_iter().enumerate() {
        let res = client
            .create_oauth2_credential_provider()
            .name(format!("invalid-{i}"))
            .credential_provider_vendor(vendor)
            .oauth2_provider_config_input(config)
            .send()
            .await;
        match res {
            Ok(out) => failures.push(format!(
                "{case}: accepted (expected ValidationException): {out:?}"
            )),
            Err(e) => {
                let status = e.raw_response().map(|r| r.status().as_u16());
                let err = e.into_service_error();
                if !err.is_validation_exception() || status != Some(400) {
                    failures.push(format!(
                        "{case}: expected ValidationException/400, got {:?} {status:?}: {:?}",
                        err.code(),
                        err.message()
                    ));
                } else if let Some(w) = word {
                    if !err.message().is_some_and(|m| m.contains(w)) {
                        failures.push(format!(
                            "{case}: message should name `{w}`: {:?}",
                            err.message()
                        ));
                    }
                }
            }
        }
    }

    // Custom with a discovery URL is accepted and echoed.
    let created = must(
        client
            .create_oauth2_credential_provider()
            .name("custom-discovery")
            .credential_provider_vendor(CredentialProviderVendorType::CustomOauth2)
            .oauth2_provider_config_input(custom(
                CustomOauth2ProviderConfigInput::builder().client_secret(&secret),
            ))
            .send()
            .await,
        "create custom with discoveryUrl",
    );
    let disc = created
        .oauth2_provider_config_output()
        .and_then(|o| o.as_custom_oauth2_provider_config().ok())
        .and_then(|c| c.oauth_discovery())
        .expect("custom oauthDiscovery");
    assert_eq!(
        disc.as_discovery_url().ok().map(String::as_str),
        Some("https://idp.example.com/.well-known/openid-configuration")
    );

    // Duplicate name.
    let (err, status) = service_error(
        client
            .create_oauth2_credential_provider()
            .name("custom-discovery")
            .credential_provider_vendor(CredentialProviderVendorType::GoogleOauth2)
            .oauth2_provider_config_input(google_config("cid", &secret))
            .send()
            .await,
        "duplicate create",
    );
    assert!(err.is_conflict_exception(), "{err:?}");
    assert_eq!(status, 409);

    // Invalid name.
    let (err, _) = service_error(
        client
            .create_oauth2_credential_provider()
            .name("bad name/with slash")
            .credential_provider_vendor(CredentialProviderVendorType::GoogleOauth2)
            .oauth2_provider_config_input(google_config("cid", &secret))
            .send()
            .await,
        "invalid name",
    );
    assert!(err.is_validation_exception(), "{err:?}");

    server
        .recorder
        .assert_never_returned(&secret, "an OAuth2 client secret");
    server.shutdown();
    assert!(
        failures.is_empty(),
        "{} case(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The Rust SDK models `clientSecret` / `clientId` (`DefaultClientSecretType`,
/// `DefaultClientIdType`, length 0..) as non-optional strings with the Smithy
/// default `""`, and always serializes them. An update that does not set the
/// secret therefore sends `"clientSecret": ""`, which under Smithy 2.0 default
/// semantics means "not set": the stored secret must be kept ("Update keeps
/// members left out").
#[tokio::test]
async fn oauth2_update_without_secret_rust_sdk_default() {
    let server = Server::start();
    let client = server.client();
    let secret = random_alnum(32);

    must(
        client
            .create_oauth2_credential_provider()
            .name("google-keep")
            .credential_provider_vendor(CredentialProviderVendorType::GoogleOauth2)
            .oauth2_provider_config_input(google_config("cid-1", &secret))
            .send()
            .await,
        "CreateOauth2CredentialProvider",
    );
    must(
        client
            .create_oauth2_credential_provider()
            .name("custom-keep")
            .credential_provider_vendor(CredentialProviderVendorType::CustomOauth2)
            .oauth2_provider_config_input(custom_config(
                "custom-cid",
                &secret,
                "https://idp.example.com/t1",
            ))
            .send()
            .await,
        "CreateOauth2CredentialProvider (custom)",
    );

    // Custom: new token endpoint, clientId and clientSecret not set (both
    // sent as ""). Reported, not asserted: whether "" clientId means "keep".
    let probe = client
        .update_oauth2_credential_provider()
        .name("custom-keep")
        .credential_provider_vendor(CredentialProviderVendorType::CustomOauth2)
        .oauth2_provider_config_input(Oauth2ProviderConfigInput::CustomOauth2ProviderConfig(
            CustomOauth2ProviderConfigInput::builder()
                .oauth_discovery(Oauth2Discovery::AuthorizationServerMetadata(
                    custom_metadata("https://idp.example.com/t2"),
                ))
                .client_authentication_method(ClientAuthenticationMethodType::ClientSecretPost)
                .build(),
        ))
        .send()
        .await;
    match probe {
        Ok(out) => println!(
            "PROBE custom update with clientId/clientSecret \"\": accepted; config now {:?}",
            out.oauth2_provider_config_output()
        ),
        Err(e) => {
            let e = e.into_service_error();
            println!(
                "PROBE custom update with clientId/clientSecret \"\": {:?}: {:?}",
                e.code(),
                e.message()
            );
        }
    }

    // Google: new clientId, secret not set (sent as "").
    let updated = must(
        client
            .update_oauth2_credential_provider()
            .name("google-keep")
            .credential_provider_vendor(CredentialProviderVendorType::GoogleOauth2)
            .oauth2_provider_config_input(Oauth2ProviderConfigInput::GoogleOauth2ProviderConfig(
                GoogleOauth2ProviderConfigInput::builder()
                    .client_id("cid-2")
                    .build()
                    .unwrap(),
            ))
            .send()
            .await,
        "UpdateOauth2CredentialProvider without clientSecret (Rust SDK sends \"\")",
    );
    google_output(updated.oauth2_provider_config_output(), "cid-2");

    server
        .recorder
        .assert_never_returned(&secret, "an OAuth2 client secret");
    server.shutdown();
}

/// (member name, clientId, oauthDiscovery) of an output config union.
fn output_parts(
    out: &Oauth2ProviderConfigOutput,
) -> (&'static str, Option<&str>, Option<&Oauth2Discovery>) {
    use Oauth2ProviderConfigOutput as O;
    match out {
        O::GoogleOauth2ProviderConfig(c) => (
            "googleOauth2ProviderConfig",
            c.client_id(),
            c.oauth_discovery(),
        ),
        O::GithubOauth2ProviderConfig(c) => (
            "githubOauth2ProviderConfig",
            c.client_id(),
            c.oauth_discovery(),
        ),
        O::SlackOauth2ProviderConfig(c) => (
            "slackOauth2ProviderConfig",
            c.client_id(),
            c.oauth_discovery(),
        ),
        O::SalesforceOauth2ProviderConfig(c) => (
            "salesforceOauth2ProviderConfig",
            c.client_id(),
            c.oauth_discovery(),
        ),
        O::MicrosoftOauth2ProviderConfig(c) => (
            "microsoftOauth2ProviderConfig",
            c.client_id(),
            c.oauth_discovery(),
        ),
        O::AtlassianOauth2ProviderConfig(c) => (
            "atlassianOauth2ProviderConfig",
            c.client_id(),
            c.oauth_discovery(),
        ),
        O::LinkedinOauth2ProviderConfig(c) => (
            "linkedinOauth2ProviderConfig",
            c.client_id(),
            c.oauth_discovery(),
        ),
        O::IncludedOauth2ProviderConfig(c) => (
            "includedOauth2ProviderConfig",
            c.client_id(),
            c.oauth_discovery(),
        ),
        O::CustomOauth2ProviderConfig(c) => (
            "customOauth2ProviderConfig",
            c.client_id(),
            c.oauth_discovery(),
        ),
        _ => ("<unknown>", None, None),
    }
}

#[tokio::test]
async fn oauth2_other_vendors() {
    use sdk::types::{
        GithubOauth2ProviderConfigInput, IncludedOauth2ProviderConfigInput,
        MicrosoftOauth2ProviderConfigInput, SlackOauth2ProviderConfigInput,
    };
    use CredentialProviderVendorType as V;
    use Oauth2ProviderConfigInput as I;

    let server = Server::start();
    let client = server.client();
    let secret = random_alnum(32);

    let cases: Vec<(&str, V, I, &str, Option<&str>)> = vec![
        (
            "github-p",
            V::GithubOauth2,
            I::GithubOauth2ProviderConfig(
                GithubOauth2ProviderConfigInput::builder()
                    .client_id("gh-id")
                    .client_secret(&secret)
                    .build()
                    .unwrap(),
            ),
            "githubOauth2ProviderConfig",
            None,
        ),
        (
            "slack-p",
            V::SlackOauth2,
            I::SlackOauth2ProviderConfig(
                SlackOauth2ProviderConfigInput::builder()
                    .client_id("sl-id")
                    .client_secret(&secret)
                    .build()
                    .unwrap(),
            ),
            "slackOauth2ProviderConfig",
            None,
        ),
        (
            "microsoft-p",
            V::MicrosoftOauth2,
            I::MicrosoftOauth2ProviderConfig(
                MicrosoftOauth2ProviderConfigInput::builder()
                    .client_id("ms-id")
                    .client_secret(&secret)
                    .tenant_id("contoso")
                    .build()
                    .unwrap(),
            ),
            "microsoftOauth2ProviderConfig",
            None,
        ),
        (
            "x-p",
            V::XOauth2,
            I::IncludedOauth2ProviderConfig(
                IncludedOauth2ProviderConfigInput::builder()
                    .client_id("x-id")
                    .client_secret(&secret)
                    .build()
                    .unwrap(),
            ),
            "includedOauth2ProviderConfig",
            None,
        ),
        (
            "okta-p",
            V::OktaOauth2,
            I::IncludedOauth2ProviderConfig(
                IncludedOauth2ProviderConfigInput::builder()
                    .client_id("okta-id")
                    .client_secret(&secret)
                    .issuer("https://dev-123.okta.com/oauth2/default")
                    .authorization_endpoint("https://dev-123.okta.com/oauth2/default/v1/authorize")
                    .token_endpoint("https://dev-123.okta.com/oauth2/default/v1/token")
                    .build()
                    .unwrap(),
            ),
            "includedOauth2ProviderConfig",
            Some("https://dev-123.okta.com/oauth2/default"),
        ),
    ];

    let mut failures = Vec::new();
    for (name, vendor, config, member, issuer) in cases {
        let res = client
            .create_oauth2_credential_provider()
            .name(name)
            .credential_provider_vendor(vendor.clone())
            .oauth2_provider_config_input(config)
            .send()
            .await;
        let out = match res {
            Ok(o) => o,
            Err(e) => {
                let e = e.into_service_error();
                failures.push(format!(
                    "{name}: create failed: {:?}: {:?}",
                    e.code(),
                    e.message()
                ));
                continue;
            }
        };
        check_callback(out.callback_url());
        let got = must(
            client
                .get_oauth2_credential_provider()
                .name(name)
                .send()
                .await,
            "GetOauth2CredentialProvider",
        );
        assert_eq!(got.credential_provider_vendor(), &vendor);
        for cfg in [
            out.oauth2_provider_config_output(),
            got.oauth2_provider_config_output(),
        ] {
            let Some(cfg) = cfg else {
                failures.push(format!("{name}: no oauth2ProviderConfigOutput"));
                continue;
            };
            let (m, cid, disc) = output_parts(cfg);
            if m != member {
                failures.push(format!("{name}: output member {m}, want {member}"));
            }
            if cid.is_none() {
                failures.push(format!("{name}: clientId not echoed"));
            }
            match disc.and_then(|d| d.as_authorization_server_metadata().ok()) {
                None => failures.push(format!(
                    "{name}: no authorizationServerMetadata in {disc:?}"
                )),
                Some(meta) => {
                    if !meta.token_endpoint().starts_with("https://")
                        || !meta.authorization_endpoint().starts_with("https://")
                    {
                        failures.push(format!("{name}: odd endpoints {meta:?}"));
                    }
                    if let Some(want) = issuer {
                        if meta.issuer() != want {
                            failures
                                .push(format!("{name}: issuer {:?}, want {want:?}", meta.issuer()));
                        }
                    }
                }
            }
        }
    }

    server
        .recorder
        .assert_never_returned(&secret, "an OAuth2 client secret");
    server.shutdown();
    assert!(
        failures.is_empty(),
        "{} problem(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
}
