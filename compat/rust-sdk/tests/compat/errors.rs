use aws_sdk_bedrockagentcorecontrol as sdk;
use sdk::error::ProvideErrorMetadata;
use sdk::operation::RequestId;

use crate::harness::*;

#[tokio::test]
async fn modeled_errors() {
    let server = Server::start();
    let client = server.client();

    // Unknown names: modeled ResourceNotFoundException on every kind.
    let (err, status) = service_error(
        client
            .get_workload_identity()
            .name("does-not-exist")
            .send()
            .await,
        "GetWorkloadIdentity unknown",
    );
    assert!(err.is_resource_not_found_exception(), "{err:?}");
    assert_eq!(err.code(), Some("ResourceNotFoundException"));
    assert!(
        err.message().is_some_and(|m| !m.is_empty()),
        "empty message: {err:?}"
    );
    assert!(
        err.request_id().is_some_and(|r| !r.is_empty()),
        "no request id: {err:?}"
    );
    assert_eq!(status, 404);

    let (err, _) = service_error(
        client
            .get_oauth2_credential_provider()
            .name("does-not-exist")
            .send()
            .await,
        "GetOauth2CredentialProvider unknown",
    );
    assert!(err.is_resource_not_found_exception(), "{err:?}");
    let (err, _) = service_error(
        client
            .get_api_key_credential_provider()
            .name("does-not-exist")
            .send()
            .await,
        "GetApiKeyCredentialProvider unknown",
    );
    assert!(err.is_resource_not_found_exception(), "{err:?}");
    let (err, _) = service_error(
        client
            .delete_oauth2_credential_provider()
            .name("does-not-exist")
            .send()
            .await,
        "DeleteOauth2CredentialProvider unknown",
    );
    assert!(err.is_resource_not_found_exception(), "{err:?}");

    // Duplicate create: ConflictException.
    must(
        client
            .create_workload_identity()
            .name("dup-wi")
            .send()
            .await,
        "CreateWorkloadIdentity",
    );
    let (err, status) = service_error(
        client
            .create_workload_identity()
            .name("dup-wi")
            .send()
            .await,
        "CreateWorkloadIdentity duplicate",
    );
    assert!(err.is_conflict_exception(), "{err:?}");
    assert_eq!(err.code(), Some("ConflictException"));
    assert_eq!(status, 409);

    // Invalid names: ValidationException naming the field.
    for bad in ["bad name!", "ab", "slash/name", &"x".repeat(256)] {
        let (err, status) = service_error(
            client.create_workload_identity().name(bad).send().await,
            "CreateWorkloadIdentity invalid name",
        );
        assert!(err.is_validation_exception(), "{bad:?}: {err:?}");
        assert_eq!(err.code(), Some("ValidationException"));
        assert_eq!(status, 400);
        assert!(
            err.message().is_some_and(|m| m.contains("name")),
            "message should name the field: {:?}",
            err.message()
        );
    }
    let (err, _) = service_error(
        client
            .create_workload_identity()
            .name("bad-url")
            .allowed_resource_oauth2_return_urls("not a url")
            .send()
            .await,
        "CreateWorkloadIdentity invalid return URL",
    );
    assert!(err.is_validation_exception(), "{err:?}");

    // A body over 1 MiB is refused with 413 before anything else.
    let res = client
        .create_api_key_credential_provider()
        .name("too-big")
        .api_key("k".repeat(1024 * 1024 + 100))
        .send()
        .await;
    let (err, status) = service_error(res, "CreateApiKeyCredentialProvider with a 1 MiB body");
    assert_eq!(status, 413, "{err:?}");
    let (err, _) = service_error(
        client
            .get_api_key_credential_provider()
            .name("too-big")
            .send()
            .await,
        "oversized create left nothing behind",
    );
    assert!(err.is_resource_not_found_exception(), "{err:?}");

    // Consent portal operations are refused with ValidationException.
    let (err, _) = service_error(
        client.list_consent_portals().send().await,
        "ListConsentPortals",
    );
    assert!(err.is_validation_exception(), "{err:?}");

    server.recorder.assert_all_have_request_id();
    server.shutdown();
}

#[tokio::test]
async fn signature_errors() {
    let server = Server::start();

    // Sanity: the right secret works.
    must(
        server.client().list_workload_identities().send().await,
        "ListWorkloadIdentities (admin)",
    );

    // Wrong secret for a known key.
    let wrong = server.client_with(ADMIN_KEY_ID, &random_string(40), REGION);
    let (err, status) = service_error(
        wrong.get_workload_identity().name("whatever").send().await,
        "wrong secret",
    );
    assert_eq!(err.code(), Some("InvalidSignatureException"), "{err:?}");
    assert_eq!(status, 403);

    // Same on a POST with a JSON body.
    let (err, _) = service_error(
        wrong.create_workload_identity().name("sig-wi").send().await,
        "wrong secret (create)",
    );
    assert_eq!(err.code(), Some("InvalidSignatureException"), "{err:?}");

    // Credential scope for another region.
    let other_region = server.client_with(ADMIN_KEY_ID, &server.admin_secret, "eu-central-1");
    let (err, status) = service_error(
        other_region.list_workload_identities().send().await,
        "wrong region in scope",
    );
    assert_eq!(err.code(), Some("InvalidSignatureException"), "{err:?}");
    assert_eq!(status, 403);

    // Unknown access key.
    let unknown = server.client_with("AKIDUNKNOWN000000000", &random_string(40), REGION);
    let (err, status) = service_error(
        unknown.list_workload_identities().send().await,
        "unknown key",
    );
    assert_eq!(err.code(), Some("UnrecognizedClientException"), "{err:?}");
    assert_eq!(status, 403);

    // Nothing was created by the rejected requests.
    let (err, _) = service_error(
        server
            .client()
            .get_workload_identity()
            .name("sig-wi")
            .send()
            .await,
        "rejected create left nothing behind",
    );
    assert!(err.is_resource_not_found_exception(), "{err:?}");

    server.shutdown();
}

fn json_field(json: &str, key: &str) -> String {
    let needle = format!("\"{key}\"");
    let start = json
        .find(&needle)
        .unwrap_or_else(|| panic!("{key} missing in {json}"))
        + needle.len();
    let rest = json[start..]
        .trim_start()
        .strip_prefix(':')
        .expect("colon")
        .trim_start();
    let rest = rest.strip_prefix('"').expect("string value");
    rest[..rest.find('"').expect("closing quote")].to_string()
}

#[tokio::test]
async fn policy_denied_is_access_denied_exception() {
    let server = Server::start();
    let admin = server.client();
    must(
        admin
            .create_workload_identity()
            .name("readable")
            .send()
            .await,
        "CreateWorkloadIdentity (admin)",
    );

    let policy = server.data_dir.path().join("reader-policy.json");
    std::fs::write(
        &policy,
        r#"{"Version":"2012-10-17","Statement":[
            {"Effect":"Allow","Action":["bedrock-agentcore:GetWorkloadIdentity","bedrock-agentcore:DeleteWorkloadIdentity"],
             "Resource":"arn:aws:bedrock-agentcore:*:*:workload-identity-directory/default/workload-identity/*"},
            {"Effect":"Deny","Action":"bedrock-agentcore:DeleteWorkloadIdentity","Resource":"*"}]}"#,
    )
    .unwrap();
    let out = server.cli(&[
        "keys",
        "create",
        "--name",
        "reader",
        "--policy",
        policy.to_str().unwrap(),
        "--account-id",
        ACCOUNT,
    ]);
    assert!(
        out.status.success(),
        "keys create failed: {:?}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let key_id = json_field(&stdout, "accessKeyId");
    let secret = json_field(&stdout, "secretAccessKey");
    let reader = server.client_with(&key_id, &secret, REGION);

    let got = must(
        reader.get_workload_identity().name("readable").send().await,
        "GetWorkloadIdentity (reader, allowed)",
    );
    assert_eq!(got.name(), "readable");

    // Allowed action on a missing resource: not found, not denied.
    let (err, _) = service_error(
        reader.get_workload_identity().name("missing").send().await,
        "GetWorkloadIdentity (reader, missing)",
    );
    assert!(err.is_resource_not_found_exception(), "{err:?}");

    // Not allowed (default deny).
    let (err, status) = service_error(
        reader.create_workload_identity().name("nope").send().await,
        "CreateWorkloadIdentity (reader)",
    );
    assert!(err.is_access_denied_exception(), "{err:?}");
    assert_eq!(status, 403);

    // Explicit deny beats allow.
    let (err, _) = service_error(
        reader
            .delete_workload_identity()
            .name("readable")
            .send()
            .await,
        "DeleteWorkloadIdentity (reader)",
    );
    assert!(err.is_access_denied_exception(), "{err:?}");
    must(
        admin.get_workload_identity().name("readable").send().await,
        "still there",
    );

    server.shutdown();
}
