use aws_sdk_bedrockagentcorecontrol as sdk;
use sdk::types::SecretSourceType;

use crate::harness::*;

fn check_secret_arn(arn: Option<&sdk::types::Secret>) {
    let arn = arn.expect("apiKeySecretArn present").secret_arn();
    assert!(
        arn.starts_with(&secret_arn_prefix()) && arn.len() > secret_arn_prefix().len(),
        "apiKeySecretArn {arn:?} should start with {}",
        secret_arn_prefix()
    );
}

fn check_source(source: Option<&SecretSourceType>) {
    if let Some(s) = source {
        assert_eq!(*s, SecretSourceType::Managed, "apiKeySecretSource");
    }
}

#[tokio::test]
async fn api_key_provider_crud() {
    let server = Server::start();
    let client = server.client();
    let key1 = format!("sk-{}", random_alnum(48));
    let key2 = format!("sk-{}", random_alnum(48));
    let name = "apikey-compat";

    let created = must(
        client
            .create_api_key_credential_provider()
            .name(name)
            .api_key(&key1)
            .tags("kind", "apikey")
            .send()
            .await,
        "CreateApiKeyCredentialProvider",
    );
    assert_debug_hides(&created, &key1, "create api key");
    assert_eq!(created.name(), name);
    assert_eq!(created.credential_provider_arn(), apikey_arn(name));
    check_secret_arn(created.api_key_secret_arn());
    check_source(created.api_key_secret_source());

    let got = must(
        client
            .get_api_key_credential_provider()
            .name(name)
            .send()
            .await,
        "GetApiKeyCredentialProvider",
    );
    assert_debug_hides(&got, &key1, "get api key");
    assert_eq!(got.name(), name);
    assert_eq!(got.credential_provider_arn(), apikey_arn(name));
    check_secret_arn(got.api_key_secret_arn());
    check_source(got.api_key_secret_source());
    let created_secs = got.created_time().secs();
    assert!(
        created_secs > 1_600_000_000,
        "createdTime {:?}",
        got.created_time()
    );
    assert!(got.last_updated_time().secs() >= created_secs);

    let tags_out = must(
        client
            .list_tags_for_resource()
            .resource_arn(apikey_arn(name))
            .send()
            .await,
        "ListTagsForResource (api key)",
    );
    assert_eq!(
        tags_out.tags().cloned().unwrap_or_default(),
        tags(&[("kind", "apikey")])
    );

    let updated = must(
        client
            .update_api_key_credential_provider()
            .name(name)
            .api_key(&key2)
            .send()
            .await,
        "UpdateApiKeyCredentialProvider",
    );
    assert_debug_hides(&updated, &key2, "update api key");
    assert_debug_hides(&updated, &key1, "update api key");
    assert_eq!(updated.name(), name);
    assert_eq!(updated.credential_provider_arn(), apikey_arn(name));
    check_secret_arn(updated.api_key_secret_arn());
    assert_eq!(updated.created_time().secs(), created_secs);
    assert!(updated.last_updated_time().secs() >= created_secs);

    // More providers, then list (default page size and explicit paging).
    for n in ["apikey-a", "apikey-z"] {
        must(
            client
                .create_api_key_credential_provider()
                .name(n)
                .api_key(&key1)
                .send()
                .await,
            "CreateApiKeyCredentialProvider (extra)",
        );
    }
    let list = must(
        client.list_api_key_credential_providers().send().await,
        "ListApiKeyCredentialProviders",
    );
    assert_debug_hides(&list, &key1, "list api keys");
    assert_debug_hides(&list, &key2, "list api keys");
    let names: Vec<&str> = list
        .credential_providers()
        .iter()
        .map(|p| p.name())
        .collect();
    assert_eq!(names, ["apikey-a", "apikey-compat", "apikey-z"]);
    for p in list.credential_providers() {
        assert_eq!(p.credential_provider_arn(), apikey_arn(p.name()));
        assert!(p.created_time().secs() > 1_600_000_000);
    }
    assert!(list.next_token().is_none());

    let mut paged = Vec::new();
    let mut token = None;
    loop {
        let page = must(
            client
                .list_api_key_credential_providers()
                .max_results(2)
                .set_next_token(token)
                .send()
                .await,
            "ListApiKeyCredentialProviders paged",
        );
        assert!(page.credential_providers().len() <= 2);
        paged.extend(
            page.credential_providers()
                .iter()
                .map(|p| p.name().to_string()),
        );
        token = page.next_token().map(str::to_string);
        if token.is_none() {
            break;
        }
        assert!(paged.len() < 10, "pagination does not terminate");
    }
    assert_eq!(paged, ["apikey-a", "apikey-compat", "apikey-z"]);

    // Delete.
    must(
        client
            .delete_api_key_credential_provider()
            .name(name)
            .send()
            .await,
        "DeleteApiKeyCredentialProvider",
    );
    let (err, status) = service_error(
        client
            .get_api_key_credential_provider()
            .name(name)
            .send()
            .await,
        "GetApiKeyCredentialProvider after delete",
    );
    assert!(err.is_resource_not_found_exception(), "{err:?}");
    assert_eq!(status, 404);
    let (err, _) = service_error(
        client
            .delete_api_key_credential_provider()
            .name(name)
            .send()
            .await,
        "DeleteApiKeyCredentialProvider twice",
    );
    assert!(err.is_resource_not_found_exception(), "{err:?}");
    let (err, _) = service_error(
        client
            .update_api_key_credential_provider()
            .name(name)
            .api_key(&key2)
            .send()
            .await,
        "UpdateApiKeyCredentialProvider after delete",
    );
    assert!(err.is_resource_not_found_exception(), "{err:?}");

    server.recorder.assert_never_returned(&key1, "an API key");
    server.recorder.assert_never_returned(&key2, "an API key");
    server.recorder.assert_all_have_request_id();
    server.shutdown();
}

#[tokio::test]
async fn api_key_provider_validation() {
    let server = Server::start();
    let client = server.client();
    let key = random_alnum(32);

    let (err, status) = service_error(
        client
            .create_api_key_credential_provider()
            .name("no-key")
            .send()
            .await,
        "create without apiKey",
    );
    assert!(err.is_validation_exception(), "{err:?}");
    assert_eq!(status, 400);

    let (err, _) = service_error(
        client
            .create_api_key_credential_provider()
            .name("empty-key")
            .api_key("")
            .send()
            .await,
        "create with empty apiKey",
    );
    assert!(err.is_validation_exception(), "{err:?}");

    let (err, _) = service_error(
        client
            .create_api_key_credential_provider()
            .name("external")
            .api_key(&key)
            .api_key_secret_source(SecretSourceType::External)
            .send()
            .await,
        "create with apiKeySecretSource EXTERNAL",
    );
    assert!(err.is_validation_exception(), "{err:?}");

    let (err, _) = service_error(
        client
            .create_api_key_credential_provider()
            .name("bad name")
            .api_key(&key)
            .send()
            .await,
        "create with invalid name",
    );
    assert!(err.is_validation_exception(), "{err:?}");

    must(
        client
            .create_api_key_credential_provider()
            .name("dup")
            .api_key(&key)
            .send()
            .await,
        "create dup (first)",
    );
    let (err, status) = service_error(
        client
            .create_api_key_credential_provider()
            .name("dup")
            .api_key(&key)
            .send()
            .await,
        "create dup (second)",
    );
    assert!(err.is_conflict_exception(), "{err:?}");
    assert_eq!(status, 409);

    server.recorder.assert_never_returned(&key, "an API key");
    server.shutdown();
}
