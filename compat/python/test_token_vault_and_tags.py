"""Token vault operations, consent-portal refusals and tagging of all three resource kinds."""

import pytest

from helpers import (ACCOUNT, REGION, assert_raw_error, expect_error, is_aware_datetime,
                     new_secret, raw_call, status_of, tags_path, uname, vendor_config)

KMS_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/12345678-1234-1234-1234-123456789012"


# ---------------------------------------------------------------------------------------
# token vault
# ---------------------------------------------------------------------------------------


def test_get_token_vault_default(client):
    for kwargs in ({}, {"tokenVaultId": "default"}):
        r = client.get_token_vault(**kwargs)
        assert status_of(r) == 200
        assert r["tokenVaultId"] == "default"
        assert r["kmsConfiguration"]["keyType"] == "ServiceManagedKey"
        assert "kmsKeyArn" not in r["kmsConfiguration"]
        assert is_aware_datetime(r["lastModifiedDate"])


def test_get_token_vault_unknown(client):
    expect_error(client.get_token_vault, tokenVaultId="no-such-vault",
                 code="ResourceNotFoundException", status=404)


def test_set_token_vault_cmk_service_managed(client):
    r = client.set_token_vault_cmk(kmsConfiguration={"keyType": "ServiceManagedKey"})
    assert status_of(r) == 200
    assert r["tokenVaultId"] == "default"
    assert r["kmsConfiguration"]["keyType"] == "ServiceManagedKey"
    assert is_aware_datetime(r["lastModifiedDate"])
    r = client.set_token_vault_cmk(tokenVaultId="default",
                                   kmsConfiguration={"keyType": "ServiceManagedKey"})
    assert r["kmsConfiguration"]["keyType"] == "ServiceManagedKey"
    assert client.get_token_vault()["kmsConfiguration"]["keyType"] == "ServiceManagedKey"


def test_set_token_vault_cmk_customer_managed_not_supported(client):
    expect_error(client.set_token_vault_cmk,
                 kmsConfiguration={"keyType": "CustomerManagedKey", "kmsKeyArn": KMS_ARN},
                 code="ValidationException", status=400, contains="not yet supported")
    v = client.get_token_vault()
    assert v["kmsConfiguration"]["keyType"] == "ServiceManagedKey"
    assert "kmsKeyArn" not in v["kmsConfiguration"]


def test_set_token_vault_cmk_unknown_vault(client):
    expect_error(client.set_token_vault_cmk, tokenVaultId="no-such-vault",
                 kmsConfiguration={"keyType": "ServiceManagedKey"},
                 code="ResourceNotFoundException", status=404)


def test_set_token_vault_cmk_bad_key_type(server):
    r = raw_call(server, "/identities/set-token-vault-cmk", {"kmsConfiguration": {"keyType": "Foo"}})
    assert_raw_error(r, "ValidationException", 400, field="keyType")


def test_reset_token_vault_key_material_refused(client):
    expect_error(client.reset_token_vault_key_material, tokenVaultId="default",
                 code="ValidationException", status=400)
    assert client.get_token_vault()["kmsConfiguration"]["keyType"] == "ServiceManagedKey"


def test_consent_portal_operations_refused(client):
    pid = "portal-abcdefghij"
    calls = [
        (client.list_consent_portals, {}),
        (client.get_consent_portal, {"consentPortalIdentifier": pid}),
        (client.delete_consent_portal, {"consentPortalIdentifier": pid}),
        (client.update_consent_portal, {"consentPortalIdentifier": pid, "description": "d"}),
        (client.create_consent_portal, {
            "name": "portal",
            "executionRoleArn": f"arn:aws:iam::{ACCOUNT}:role/r",
            "idpConfig": {"credentialProviderArn":
                          f"arn:aws:bedrock-agentcore:{REGION}:{ACCOUNT}:token-vault/default/"
                          "oauth2credentialprovider/x", "scopes": ["openid"]},
            "sources": [{"identifier": "gw-abcdefghij", "type": "agentcore-gateway"}]}),
    ]
    for fn, kw in calls:
        expect_error(fn, **kw, code="ValidationException", status=400, contains="support")


# ---------------------------------------------------------------------------------------
# tags
# ---------------------------------------------------------------------------------------


def _make_wi(client, name, tags=None):
    kw = {"tags": tags} if tags is not None else {}
    return client.create_workload_identity(name=name, **kw)["workloadIdentityArn"]


def _make_o2(client, name, tags=None):
    kw = {"tags": tags} if tags is not None else {}
    return client.create_oauth2_credential_provider(
        name=name, credentialProviderVendor="GithubOauth2",
        oauth2ProviderConfigInput=vendor_config("GithubOauth2", "c", new_secret()),
        **kw)["credentialProviderArn"]


def _make_ak(client, name, tags=None):
    kw = {"tags": tags} if tags is not None else {}
    return client.create_api_key_credential_provider(
        name=name, apiKey=new_secret("apikey-sekret-"), **kw)["credentialProviderArn"]


KINDS = {
    "workload-identity": (_make_wi, "delete_workload_identity"),
    "oauth2-provider": (_make_o2, "delete_oauth2_credential_provider"),
    "apikey-provider": (_make_ak, "delete_api_key_credential_provider"),
}


@pytest.mark.parametrize("kind", list(KINDS))
def test_tag_lifecycle(client, kind):
    make, delete = KINDS[kind]
    name = uname("tg")
    arn = make(client, name, {"team": "blue", "env": "dev"})
    r = client.list_tags_for_resource(resourceArn=arn)
    assert status_of(r) == 200
    assert r["tags"] == {"team": "blue", "env": "dev"}

    r = client.tag_resource(resourceArn=arn, tags={"env": "prod", "cost": "42"})
    assert status_of(r) == 204
    assert client.list_tags_for_resource(resourceArn=arn)["tags"] == {
        "team": "blue", "env": "prod", "cost": "42"}

    r = client.untag_resource(resourceArn=arn, tagKeys=["team", "not-there"])
    assert status_of(r) == 204
    assert client.list_tags_for_resource(resourceArn=arn)["tags"] == {"env": "prod", "cost": "42"}

    r = client.untag_resource(resourceArn=arn, tagKeys=["env", "cost"])
    assert client.list_tags_for_resource(resourceArn=arn).get("tags", {}) == {}

    client.tag_resource(resourceArn=arn, tags={"left": "over"})
    getattr(client, delete)(name=name)
    expect_error(client.list_tags_for_resource, resourceArn=arn,
                 code="ResourceNotFoundException", status=404)
    # re-created under the same name: no tags survive from the deleted one
    arn2 = make(client, name)
    assert arn2 == arn
    assert client.list_tags_for_resource(resourceArn=arn).get("tags", {}) == {}


@pytest.mark.parametrize("kind", list(KINDS))
def test_fifty_tags_ok_fifty_one_refused(client, kind):
    make, _ = KINDS[kind]
    fifty = {f"k{i:02d}": f"v{i}" for i in range(50)}
    arn = make(client, uname("t50"), fifty)
    assert client.list_tags_for_resource(resourceArn=arn)["tags"] == fifty
    name51 = uname("t51")
    fifty_one = {f"k{i:02d}": f"v{i}" for i in range(51)}
    expect_error(make, client, name51, fifty_one, code="ValidationException", status=400,
                 field="tags")
    # nothing created
    arn51 = arn.rsplit("/", 1)[0] + "/" + name51
    expect_error(client.list_tags_for_resource, resourceArn=arn51,
                 code="ResourceNotFoundException", status=404)
    # TagResource with 51 in one request
    arn_b = make(client, uname("tb"))
    expect_error(client.tag_resource, resourceArn=arn_b, tags=fifty_one,
                 code="ValidationException", status=400, field="tags")
    assert client.list_tags_for_resource(resourceArn=arn_b).get("tags", {}) == {}


def test_tag_unknown_arn_not_found(client):
    for arn in (
        f"arn:aws:bedrock-agentcore:{REGION}:{ACCOUNT}:workload-identity-directory/default/"
        f"workload-identity/{uname('ghost')}",
        f"arn:aws:bedrock-agentcore:{REGION}:{ACCOUNT}:token-vault/default/"
        f"oauth2credentialprovider/{uname('ghost')}",
        f"arn:aws:bedrock-agentcore:{REGION}:{ACCOUNT}:token-vault/default/"
        f"apikeycredentialprovider/{uname('ghost')}",
    ):
        expect_error(client.list_tags_for_resource, resourceArn=arn,
                     code="ResourceNotFoundException", status=404)
        expect_error(client.tag_resource, resourceArn=arn, tags={"a": "b"},
                     code="ResourceNotFoundException", status=404)
        expect_error(client.untag_resource, resourceArn=arn, tagKeys=["a"],
                     code="ResourceNotFoundException", status=404)


@pytest.mark.parametrize("arn", [
    "not-an-arn-at-all-really",
    "arn:aws:s3:::some-bucket-name-here",
    f"arn:aws:bedrock-agentcore:{REGION}:12345:workload-identity-directory/default",
    f"arn:aws:bedrock-agentcore:{REGION}:{ACCOUNT}:",
])
def test_tag_malformed_arn_validation(client, arn):
    expect_error(client.list_tags_for_resource, resourceArn=arn,
                 code="ValidationException", status=400, field="resourceArn")
    expect_error(client.tag_resource, resourceArn=arn, tags={"a": "b"},
                 code="ValidationException", status=400, field="resourceArn")
    expect_error(client.untag_resource, resourceArn=arn, tagKeys=["a"],
                 code="ValidationException", status=400, field="resourceArn")


def test_tag_failed_request_changes_nothing(client):
    name = uname("tg")
    arn = _make_wi(client, name, {"keep": "me"})
    expect_error(client.tag_resource, resourceArn=arn, tags={"ok": "1", "bad": "v" * 257},
                 code="ValidationException", status=400)
    assert client.list_tags_for_resource(resourceArn=arn)["tags"] == {"keep": "me"}


def test_tag_raw_status_codes(server, client):
    arn = _make_ak(client, uname("tr"))
    r = raw_call(server, tags_path(arn), {"tags": {"a": "b"}})
    assert r.status == 204, r
    assert "x-amzn-requestid" in r.headers
    r = raw_call(server, tags_path(arn), method="GET")
    assert r.status == 200, r
    assert r.json == {"tags": {"a": "b"}}
    r = raw_call(server, tags_path(arn), method="DELETE", query=[("tagKeys", "a")])
    assert r.status == 204, r
    r = raw_call(server, tags_path(arn), method="GET")
    assert r.json.get("tags", {}) == {}


def test_tag_keys_with_special_characters(client):
    """Keys with space / : = + @ survive the query string of UntagResource (SigV4 encoding)."""
    arn = _make_wi(client, uname("sp"))
    tags = {"a b/c:d=e+f@g": "v 1", "plain": "x", "x.y_z-w": ""}
    client.tag_resource(resourceArn=arn, tags=tags)
    assert client.list_tags_for_resource(resourceArn=arn)["tags"] == tags
    client.untag_resource(resourceArn=arn, tagKeys=["a b/c:d=e+f@g", "x.y_z-w"])
    assert client.list_tags_for_resource(resourceArn=arn)["tags"] == {"plain": "x"}


def test_tags_do_not_leak_across_region_partition_or_directory(client):
    name = uname("iso")
    arn = _make_wi(client, name, {"secret-ish": "value"})
    for other in (
        arn.replace(f":{REGION}:", ":eu-west-1:"),
        arn.replace("arn:aws:", "arn:aws-cn:"),
        arn.replace("workload-identity-directory/default/", "workload-identity-directory/other/"),
        arn.replace("workload-identity-directory/default/workload-identity/",
                    "token-vault/default/apikeycredentialprovider/"),
    ):
        try:
            r = client.list_tags_for_resource(resourceArn=other)
        except Exception as e:  # noqa: BLE001
            code = e.response["Error"]["Code"]
            assert code in ("ResourceNotFoundException", "ValidationException"), (other, code)
        else:
            raise AssertionError(f"tags returned for {other}: {r.get('tags')}")


def test_more_than_fifty_tags_in_total_refused(client):
    """AWS allows at most 50 tags per resource; a TagResource that would exceed it fails."""
    arn = _make_ak(client, uname("tot"), {f"a{i}": "1" for i in range(30)})
    try:
        client.tag_resource(resourceArn=arn, tags={f"b{i}": "2" for i in range(30)})
    except Exception as e:  # noqa: BLE001
        assert e.response["Error"]["Code"] in ("ValidationException",
                                               "ServiceQuotaExceededException"), e
    else:
        raise AssertionError("a resource ended up with 60 tags")
    assert len(client.list_tags_for_resource(resourceArn=arn)["tags"]) == 30
