"""API key credential providers through boto3 (and raw requests where boto3 would refuse)."""

import json
import time

from helpers import (ACCOUNT, REGION, assert_no_key, assert_raw_error, call, expect_error,
                     is_aware_datetime, list_all, near_now, new_secret, status_of, uname)

SECRET_ARN_PREFIX = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:"
FORBIDDEN = {"apiKey", "apiKeySecretConfig"}


def ak_arn(name):
    return (f"arn:aws:bedrock-agentcore:{REGION}:{ACCOUNT}:"
            f"token-vault/default/apikeycredentialprovider/{name}")


def make(client, name=None, **kw):
    name = name or uname("ak")
    key = new_secret("apikey-sekret-")
    resp = client.create_api_key_credential_provider(name=name, apiKey=key, **kw)
    return name, key, resp


def test_create_get_delete(client):
    name, key, resp = make(client)
    assert status_of(resp) == 201
    assert resp["name"] == name
    assert resp["credentialProviderArn"] == ak_arn(name)
    assert resp["apiKeySecretArn"]["secretArn"].startswith(SECRET_ARN_PREFIX)
    assert_no_key(resp, FORBIDDEN)
    assert key not in json.dumps(resp, default=str)

    got = client.get_api_key_credential_provider(name=name)
    assert status_of(got) == 200
    assert got["name"] == name
    assert got["credentialProviderArn"] == ak_arn(name)
    assert got["apiKeySecretArn"] == resp["apiKeySecretArn"]
    for k in ("createdTime", "lastUpdatedTime"):
        assert is_aware_datetime(got[k]) and near_now(got[k])
    assert_no_key(got, FORBIDDEN)
    assert key not in json.dumps(got, default=str)

    assert status_of(client.delete_api_key_credential_provider(name=name)) == 204
    expect_error(client.get_api_key_credential_provider, name=name,
                 code="ResourceNotFoundException", status=404)
    expect_error(client.delete_api_key_credential_provider, name=name,
                 code="ResourceNotFoundException", status=404)


def test_update_moves_time_and_keeps_identity(client):
    name, _, created = make(client, tags={"env": "dev"})
    before = client.get_api_key_credential_provider(name=name)
    time.sleep(1.2)
    key2 = new_secret("apikey-sekret-")
    up = client.update_api_key_credential_provider(name=name, apiKey=key2)
    assert status_of(up) == 200
    assert up["name"] == name
    assert up["credentialProviderArn"] == ak_arn(name)
    assert up["apiKeySecretArn"]["secretArn"].startswith(SECRET_ARN_PREFIX)
    assert up["createdTime"] == before["createdTime"]
    assert up["lastUpdatedTime"] > before["lastUpdatedTime"]
    assert_no_key(up, FORBIDDEN)
    got = client.get_api_key_credential_provider(name=name)
    assert got["createdTime"] == before["createdTime"]
    assert got["lastUpdatedTime"] > before["lastUpdatedTime"]
    assert client.list_tags_for_resource(resourceArn=ak_arn(name))["tags"] == {"env": "dev"}


def test_list(client):
    made = [make(client)[0] for _ in range(3)]
    items = list_all(client, "list_api_key_credential_providers", "credentialProviders")
    by = {}
    for it in items:
        assert it["name"] not in by
        by[it["name"]] = it
    for n in made:
        assert by[n]["credentialProviderArn"] == ak_arn(n)
        assert is_aware_datetime(by[n]["createdTime"])
        assert is_aware_datetime(by[n]["lastUpdatedTime"])
    assert_no_key(items, FORBIDDEN)
    names = [i["name"] for i in items]
    assert names == sorted(names)


def test_missing_api_key_refused(server):
    name = uname("ak")
    r = call(server, "CreateApiKeyCredentialProvider", {"name": name})
    assert_raw_error(r, "ValidationException", 400, field="apiKey")
    assert_raw_error(call(server, "GetApiKeyCredentialProvider", {"name": name}),
                     "ResourceNotFoundException", 404)


def test_empty_api_key_refused(client):
    name = uname("ak")
    expect_error(client.create_api_key_credential_provider, name=name, apiKey="",
                 code="ValidationException", status=400, field="apiKey")
    expect_error(client.get_api_key_credential_provider, name=name,
                 code="ResourceNotFoundException", status=404)


def test_empty_api_key_on_update_means_not_given(client):
    # apiKey is a DefaultApiKeyType (model default ""): SDKs that fill in defaults, like
    # the AWS SDK for Rust, send "" when the caller did not set it. On update that keeps
    # the stored key (on create it is refused: see test_empty_api_key_refused).
    name, _, _ = make(client)
    before = client.get_api_key_credential_provider(name=name)
    after = client.update_api_key_credential_provider(name=name, apiKey="")
    assert after["ResponseMetadata"]["HTTPStatusCode"] == 200
    for k in ("name", "credentialProviderArn", "apiKeySecretArn", "createdTime"):
        assert after[k] == before[k]


def test_external_source_and_secret_config_refused(client):
    name = uname("ak")
    expect_error(client.create_api_key_credential_provider, name=name, apiKey="k" * 20,
                 apiKeySecretSource="EXTERNAL", code="ValidationException", status=400,
                 field="apiKeySecretSource")
    expect_error(client.create_api_key_credential_provider, name=name, apiKey="k" * 20,
                 apiKeySecretConfig={"secretId": "s", "jsonKey": "k"},
                 code="ValidationException", status=400, field="apiKeySecretConfig")
    expect_error(client.get_api_key_credential_provider, name=name,
                 code="ResourceNotFoundException", status=404)
    # and on update
    name2, _, _ = make(client)
    before = client.get_api_key_credential_provider(name=name2)
    expect_error(client.update_api_key_credential_provider, name=name2, apiKey="k" * 20,
                 apiKeySecretSource="EXTERNAL", code="ValidationException", status=400,
                 field="apiKeySecretSource")
    expect_error(client.update_api_key_credential_provider, name=name2,
                 apiKeySecretConfig={"secretId": "s", "jsonKey": "k"},
                 code="ValidationException", status=400, field="apiKeySecretConfig")
    after = client.get_api_key_credential_provider(name=name2)
    assert after["lastUpdatedTime"] == before["lastUpdatedTime"]
    assert after["apiKeySecretArn"] == before["apiKeySecretArn"]


def test_api_key_length_limit(client):
    name = uname("ak")
    big = new_secret("apikey-big-")
    big = big + "x" * (65536 - len(big))
    assert status_of(client.create_api_key_credential_provider(name=name, apiKey=big)) == 201
    name2 = uname("ak")
    expect_error(client.create_api_key_credential_provider, name=name2, apiKey=big + "y",
                 code="ValidationException", status=400, field="apiKey")
    expect_error(client.get_api_key_credential_provider, name=name2,
                 code="ResourceNotFoundException", status=404)
    before = client.get_api_key_credential_provider(name=name)
    expect_error(client.update_api_key_credential_provider, name=name, apiKey=big + "y",
                 code="ValidationException", status=400, field="apiKey")
    assert client.get_api_key_credential_provider(name=name)["lastUpdatedTime"] == \
        before["lastUpdatedTime"]


def test_duplicate_and_unknown(client):
    name, _, _ = make(client)
    expect_error(client.create_api_key_credential_provider, name=name, apiKey="another-key-1",
                 code="ConflictException", status=409)
    unknown = uname("nope")
    expect_error(client.get_api_key_credential_provider, name=unknown,
                 code="ResourceNotFoundException", status=404)
    expect_error(client.update_api_key_credential_provider, name=unknown, apiKey="abc",
                 code="ResourceNotFoundException", status=404)
    expect_error(client.delete_api_key_credential_provider, name=unknown,
                 code="ResourceNotFoundException", status=404)
    expect_error(client.get_api_key_credential_provider, name=unknown,
                 code="ResourceNotFoundException", status=404)


def test_update_without_api_key_keeps_it(client):
    """The model makes apiKey optional on update; a member left out is kept."""
    name, _, created = make(client)
    up = client.update_api_key_credential_provider(name=name)
    assert status_of(up) == 200
    assert up["credentialProviderArn"] == ak_arn(name)
    assert up["apiKeySecretArn"] == created["apiKeySecretArn"]
    assert_no_key(up, FORBIDDEN)
