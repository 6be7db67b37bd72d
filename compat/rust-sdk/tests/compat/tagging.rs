use std::collections::HashMap;

use aws_sdk_bedrockagentcorecontrol as sdk;
use sdk::types::{
    CredentialProviderVendorType, GoogleOauth2ProviderConfigInput, Oauth2ProviderConfigInput,
};

use crate::harness::*;

async fn tags_of(client: &sdk::Client, arn: &str) -> HashMap<String, String> {
    must(
        client
            .list_tags_for_resource()
            .resource_arn(arn)
            .send()
            .await,
        &format!("ListTagsForResource {arn}"),
    )
    .tags()
    .cloned()
    .unwrap_or_default()
}

/// A key using characters of the TagKey pattern that need percent-encoding
/// in the path / untag query string.
const ODD_KEY: &str = "team/owner:a+b=c@d e_f.g-h";

/// Tag, overwrite, untag (several keys, one never set) and list on `arn`.
async fn exercise_tags(client: &sdk::Client, arn: &str, initial: HashMap<String, String>) {
    assert_eq!(tags_of(client, arn).await, initial, "initial tags of {arn}");

    must(
        client
            .tag_resource()
            .resource_arn(arn)
            .tags("b", "2")
            .tags("c", "3")
            .tags(ODD_KEY, "value with spaces / and : colons")
            .send()
            .await,
        &format!("TagResource {arn}"),
    );
    let mut want = initial.clone();
    want.extend(tags(&[
        ("b", "2"),
        ("c", "3"),
        (ODD_KEY, "value with spaces / and : colons"),
    ]));
    assert_eq!(tags_of(client, arn).await, want, "after tag {arn}");

    // Overwrite one value; others unchanged.
    must(
        client
            .tag_resource()
            .resource_arn(arn)
            .tags("b", "22")
            .send()
            .await,
        "TagResource overwrite",
    );
    want.insert("b".into(), "22".into());
    assert_eq!(tags_of(client, arn).await, want, "after overwrite {arn}");

    // Untag several keys (repeated tagKeys query parameter), one not set.
    must(
        client
            .untag_resource()
            .resource_arn(arn)
            .tag_keys("c")
            .tag_keys(ODD_KEY)
            .tag_keys("never-set")
            .send()
            .await,
        &format!("UntagResource {arn}"),
    );
    want.remove("c");
    want.remove(ODD_KEY);
    assert_eq!(tags_of(client, arn).await, want, "after untag {arn}");
}

async fn expect_unknown(client: &sdk::Client, arn: &str) {
    let (err, status) = service_error(
        client
            .list_tags_for_resource()
            .resource_arn(arn)
            .send()
            .await,
        "ListTagsForResource unknown",
    );
    assert!(err.is_resource_not_found_exception(), "{arn}: {err:?}");
    assert_eq!(status, 404);
    let (err, _) = service_error(
        client
            .tag_resource()
            .resource_arn(arn)
            .tags("x", "y")
            .send()
            .await,
        "TagResource unknown",
    );
    assert!(err.is_resource_not_found_exception(), "{arn}: {err:?}");
    let (err, _) = service_error(
        client
            .untag_resource()
            .resource_arn(arn)
            .tag_keys("x")
            .send()
            .await,
        "UntagResource unknown",
    );
    assert!(err.is_resource_not_found_exception(), "{arn}: {err:?}");
}

#[tokio::test]
async fn tags_on_workload_identity_and_api_key_provider() {
    let server = Server::start();
    let client = server.client();

    must(
        client
            .create_workload_identity()
            .name("tagged-wi")
            .tags("a", "1")
            .send()
            .await,
        "CreateWorkloadIdentity",
    );
    must(
        client
            .create_api_key_credential_provider()
            .name("tagged-key")
            .api_key(random_alnum(20))
            .send()
            .await,
        "CreateApiKeyCredentialProvider",
    );
    exercise_tags(&client, &wi_arn("tagged-wi"), tags(&[("a", "1")])).await;
    exercise_tags(&client, &apikey_arn("tagged-key"), tags(&[])).await;

    expect_unknown(&client, &wi_arn("no-such-wi")).await;
    expect_unknown(&client, &apikey_arn("no-such-key")).await;

    // Tags go away with the resource.
    must(
        client
            .delete_workload_identity()
            .name("tagged-wi")
            .send()
            .await,
        "DeleteWorkloadIdentity",
    );
    let (err, _) = service_error(
        client
            .list_tags_for_resource()
            .resource_arn(wi_arn("tagged-wi"))
            .send()
            .await,
        "ListTagsForResource deleted",
    );
    assert!(err.is_resource_not_found_exception(), "{err:?}");
    must(
        client
            .create_workload_identity()
            .name("tagged-wi")
            .send()
            .await,
        "re-CreateWorkloadIdentity",
    );
    assert!(
        tags_of(&client, &wi_arn("tagged-wi")).await.is_empty(),
        "tags survived delete + re-create"
    );

    server.recorder.assert_all_have_request_id();
    server.shutdown();
}

#[tokio::test]
async fn tags_on_oauth2_provider() {
    let server = Server::start();
    let client = server.client();

    must(
        client
            .create_oauth2_credential_provider()
            .name("tagged-oauth")
            .credential_provider_vendor(CredentialProviderVendorType::GoogleOauth2)
            .oauth2_provider_config_input(Oauth2ProviderConfigInput::GoogleOauth2ProviderConfig(
                GoogleOauth2ProviderConfigInput::builder()
                    .client_id("cid")
                    .client_secret(random_alnum(20))
                    .build()
                    .unwrap(),
            ))
            .tags("vendor", "google")
            .send()
            .await,
        "CreateOauth2CredentialProvider",
    );
    exercise_tags(
        &client,
        &oauth2_arn("tagged-oauth"),
        tags(&[("vendor", "google")]),
    )
    .await;
    expect_unknown(&client, &oauth2_arn("no-such-oauth")).await;

    server.recorder.assert_all_have_request_id();
    server.shutdown();
}
