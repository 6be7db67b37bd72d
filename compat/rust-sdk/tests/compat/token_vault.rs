use aws_sdk_bedrockagentcorecontrol as sdk;
use sdk::types::{KeyType, KmsConfiguration};

use crate::harness::*;

#[tokio::test]
async fn token_vault_get_and_set_cmk() {
    let server = Server::start();
    let client = server.client();

    let vault = must(client.get_token_vault().send().await, "GetTokenVault");
    assert_eq!(vault.token_vault_id(), "default");
    let kms = vault.kms_configuration().expect("kmsConfiguration");
    assert_eq!(kms.key_type(), &KeyType::ServiceManagedKey);
    assert!(
        vault.last_modified_date().secs() > 1_600_000_000,
        "lastModifiedDate {:?}",
        vault.last_modified_date()
    );

    let vault = must(
        client
            .get_token_vault()
            .token_vault_id("default")
            .send()
            .await,
        "GetTokenVault (explicit id)",
    );
    assert_eq!(vault.token_vault_id(), "default");

    let set = must(
        client
            .set_token_vault_cmk()
            .kms_configuration(
                KmsConfiguration::builder()
                    .key_type(KeyType::ServiceManagedKey)
                    .build()
                    .unwrap(),
            )
            .send()
            .await,
        "SetTokenVaultCMK (ServiceManagedKey)",
    );
    assert_eq!(set.token_vault_id(), "default");
    assert_eq!(
        set.kms_configuration().map(|k| k.key_type()),
        Some(&KeyType::ServiceManagedKey)
    );
    assert!(set.last_modified_date().secs() > 1_600_000_000);

    let set = must(
        client
            .set_token_vault_cmk()
            .token_vault_id("default")
            .kms_configuration(
                KmsConfiguration::builder()
                    .key_type(KeyType::ServiceManagedKey)
                    .build()
                    .unwrap(),
            )
            .send()
            .await,
        "SetTokenVaultCMK (explicit id)",
    );
    assert_eq!(set.token_vault_id(), "default");

    let (err, status) = service_error(
        client
            .set_token_vault_cmk()
            .kms_configuration(
                KmsConfiguration::builder()
                    .key_type(KeyType::CustomerManagedKey)
                    .kms_key_arn(format!(
                        "arn:aws:kms:{REGION}:{ACCOUNT}:key/0a1b2c3d-0000-4000-8000-000000000000"
                    ))
                    .build()
                    .unwrap(),
            )
            .send()
            .await,
        "SetTokenVaultCMK (CustomerManagedKey)",
    );
    assert!(err.is_validation_exception(), "{err:?}");
    assert_eq!(status, 400);

    let (err, _) = service_error(
        client
            .reset_token_vault_key_material()
            .token_vault_id("default")
            .send()
            .await,
        "ResetTokenVaultKeyMaterial",
    );
    assert!(err.is_validation_exception(), "{err:?}");

    // Still service-managed afterwards.
    let vault = must(
        client.get_token_vault().send().await,
        "GetTokenVault (after)",
    );
    assert_eq!(
        vault.kms_configuration().map(|k| k.key_type()),
        Some(&KeyType::ServiceManagedKey)
    );

    server.recorder.assert_all_have_request_id();
    server.shutdown();
}
