"""Input validation with raw signed requests (boto3 would refuse much of this client-side).

Every refusal: status + x-amzn-ErrorType + JSON {"message"} naming the member, and the
store is unchanged afterwards.
"""

import json
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from helpers import (DISCOVERY_URL, assert_raw_error, call, new_secret, raw_call, tags_path,
                     uname, vendor_config)

VALID_GOOGLE = {"googleOauth2ProviderConfig": {"clientId": "c", "clientSecret": "s3cr3t-value"}}


def ok(r, status=200):
    assert r.status == status, r
    assert "x-amzn-requestid" in r.headers
    return r.json


def wi_absent(server, name):
    assert_raw_error(call(server, "GetWorkloadIdentity", {"name": name}),
                     "ResourceNotFoundException", 404)


def o2_absent(server, name):
    assert_raw_error(call(server, "GetOauth2CredentialProvider", {"name": name}),
                     "ResourceNotFoundException", 404)


def ak_absent(server, name):
    assert_raw_error(call(server, "GetApiKeyCredentialProvider", {"name": name}),
                     "ResourceNotFoundException", 404)


# ---------------------------------------------------------------------------------------
# required members
# ---------------------------------------------------------------------------------------

REQUIRED = [
    ("CreateWorkloadIdentity", {}, "name"),
    ("CreateWorkloadIdentity", {"allowedResourceOauth2ReturnUrls": ["https://a.test/cb"]}, "name"),
    ("GetWorkloadIdentity", {}, "name"),
    ("UpdateWorkloadIdentity", {"allowedResourceOauth2ReturnUrls": []}, "name"),
    ("DeleteWorkloadIdentity", {}, "name"),
    ("CreateOauth2CredentialProvider",
     {"credentialProviderVendor": "GoogleOauth2", "oauth2ProviderConfigInput": VALID_GOOGLE}, "name"),
    ("CreateOauth2CredentialProvider",
     {"name": "@NAME@", "oauth2ProviderConfigInput": VALID_GOOGLE}, "credentialProviderVendor"),
    ("CreateOauth2CredentialProvider",
     {"name": "@NAME@", "credentialProviderVendor": "GoogleOauth2"}, "oauth2ProviderConfigInput"),
    ("CreateOauth2CredentialProvider",
     {"name": "@NAME@", "credentialProviderVendor": "GoogleOauth2",
      "oauth2ProviderConfigInput": {"googleOauth2ProviderConfig": {"clientSecret": "s3cr3t-value"}}},
     "clientId"),
    ("CreateOauth2CredentialProvider",
     {"name": "@NAME@", "credentialProviderVendor": "CustomOauth2",
      "oauth2ProviderConfigInput": {"customOauth2ProviderConfig": {
          "clientId": "c", "clientSecret": "s3cr3t-value"}}}, "oauthDiscovery"),
    ("CreateOauth2CredentialProvider",
     {"name": "@NAME@", "credentialProviderVendor": "CustomOauth2",
      "oauth2ProviderConfigInput": {"customOauth2ProviderConfig": {
          "clientId": "c", "clientSecret": "s3cr3t-value",
          "oauthDiscovery": {"authorizationServerMetadata": {
              "authorizationEndpoint": "https://a.test/auth", "tokenEndpoint": "https://a.test/t"}}}}},
     "issuer"),
    ("CreateOauth2CredentialProvider",
     {"name": "@NAME@", "credentialProviderVendor": "CustomOauth2",
      "oauth2ProviderConfigInput": {"customOauth2ProviderConfig": {
          "clientId": "c", "clientSecret": "s3cr3t-value",
          "oauthDiscovery": {"authorizationServerMetadata": {
              "issuer": "https://a.test", "authorizationEndpoint": "https://a.test/auth"}}}}},
     "tokenEndpoint"),
    ("GetOauth2CredentialProvider", {}, "name"),
    ("UpdateOauth2CredentialProvider",
     {"credentialProviderVendor": "GoogleOauth2", "oauth2ProviderConfigInput": VALID_GOOGLE}, "name"),
    ("DeleteOauth2CredentialProvider", {}, "name"),
    ("CreateApiKeyCredentialProvider", {"apiKey": "abcdef"}, "name"),
    ("GetApiKeyCredentialProvider", {}, "name"),
    ("UpdateApiKeyCredentialProvider", {"apiKey": "abcdef"}, "name"),
    ("DeleteApiKeyCredentialProvider", {}, "name"),
    ("SetTokenVaultCMK", {}, "kmsConfiguration"),
    ("SetTokenVaultCMK", {"kmsConfiguration": {}}, "keyType"),
    ("ResetTokenVaultKeyMaterial", {}, "tokenVaultId"),
]


@pytest.mark.parametrize("op,body,field", REQUIRED,
                         ids=[f"{o}-{f}-{i}" for i, (o, _, f) in enumerate(REQUIRED)])
def test_required_member_missing(server, op, body, field):
    name = uname("req")
    body = json.loads(json.dumps(body).replace("@NAME@", name))
    r = call(server, op, body)
    assert_raw_error(r, "ValidationException", 400, field=field)
    if op.startswith("Create") and "Oauth2" in op:
        o2_absent(server, name)


def test_update_oauth2_required_members(server, client):
    name = uname("req")
    client.create_oauth2_credential_provider(
        name=name, credentialProviderVendor="GoogleOauth2",
        oauth2ProviderConfigInput=vendor_config("GoogleOauth2", "orig", new_secret()))
    before = call(server, "GetOauth2CredentialProvider", {"name": name}).json
    r = call(server, "UpdateOauth2CredentialProvider",
             {"name": name, "oauth2ProviderConfigInput": VALID_GOOGLE})
    assert_raw_error(r, "ValidationException", 400, field="credentialProviderVendor")
    r = call(server, "UpdateOauth2CredentialProvider",
             {"name": name, "credentialProviderVendor": "GoogleOauth2"})
    assert_raw_error(r, "ValidationException", 400, field="oauth2ProviderConfigInput")
    assert call(server, "GetOauth2CredentialProvider", {"name": name}).json == before


def test_tag_required_members(server, client):
    arn = client.create_workload_identity(name=uname("req"), tags={"a": "b"})["workloadIdentityArn"]
    r = raw_call(server, tags_path(arn), {})
    assert_raw_error(r, "ValidationException", 400, field="tags")
    r = raw_call(server, tags_path(arn), method="DELETE")
    assert_raw_error(r, "ValidationException", 400, field="tagKeys")
    assert client.list_tags_for_resource(resourceArn=arn)["tags"] == {"a": "b"}


# ---------------------------------------------------------------------------------------
# length limits at the boundary and +-1
# ---------------------------------------------------------------------------------------


def test_workload_identity_name_lengths(server):
    base = uname("n").replace("-", "")
    # rule: None = accepted, else a word of the rule the message must name
    for n, rule in ((2, "3"), (3, None), (255, None), (256, "255")):
        name = (base + "a" * 300)[:n] if n >= len(base) else base[:n]
        r = call(server, "CreateWorkloadIdentity", {"name": name})
        if rule is None:
            assert ok(r, 201)["name"] == name
        else:
            assert_raw_error(r, "ValidationException", 400, field="name", contains=rule)
    # Get/Delete/Update also check the name
    for op in ("GetWorkloadIdentity", "DeleteWorkloadIdentity", "UpdateWorkloadIdentity"):
        assert_raw_error(call(server, op, {"name": "ab"}), "ValidationException", 400, field="name")
        assert_raw_error(call(server, op, {"name": "a" * 256}), "ValidationException", 400,
                         field="name")


@pytest.mark.parametrize("kind", ["oauth2", "apikey"])
def test_provider_name_lengths(server, kind):
    def create(name):
        if kind == "oauth2":
            return call(server, "CreateOauth2CredentialProvider", {
                "name": name, "credentialProviderVendor": "GoogleOauth2",
                "oauth2ProviderConfigInput": vendor_config("GoogleOauth2", "c", new_secret())})
        return call(server, "CreateApiKeyCredentialProvider",
                    {"name": name, "apiKey": new_secret("apikey-sekret-")})

    get_op = "GetOauth2CredentialProvider" if kind == "oauth2" else "GetApiKeyCredentialProvider"
    del_op = get_op.replace("Get", "Delete")
    base = uname("p").replace("-", "")
    # one character: create, then delete again so the name is free for later runs
    one = "Z"
    call(server, del_op, {"name": one})
    assert ok(create(one), 201)["name"] == one
    assert ok(call(server, del_op, {"name": one}), 204) is None
    long_ok = (base + "b" * 200)[:128]
    assert ok(create(long_ok), 201)["name"] == long_ok
    assert_raw_error(create(""), "ValidationException", 400, field="name", contains="1")
    too_long = (base + "b" * 200)[:129]
    assert_raw_error(create(too_long), "ValidationException", 400, field="name", contains="128")
    assert_raw_error(call(server, get_op, {"name": too_long}), "ValidationException", 400,
                     field="name")
    assert_raw_error(call(server, get_op, {"name": ""}), "ValidationException", 400, field="name")


def test_return_url_lengths_and_patterns(server):
    cases = [
        (["a:b"], None),
        (["https://x.test/" + "p" * (2048 - len("https://x.test/"))], None),
        (["https://x.test/" + "p" * (2049 - len("https://x.test/"))], "2048"),
        ([""], "1"),
        (["no-scheme.example.test/path"], "pattern"),
        (["https://exa mple.test/cb"], "pattern"),
        (["https://ok.test/cb", "bad url"], "pattern"),
    ]
    for urls, rule in cases:
        name = uname("ru")
        r = call(server, "CreateWorkloadIdentity",
                 {"name": name, "allowedResourceOauth2ReturnUrls": urls})
        if rule is None:
            assert ok(r, 201)["allowedResourceOauth2ReturnUrls"] == urls
        else:
            assert_raw_error(r, "ValidationException", 400,
                             field="allowedResourceOauth2ReturnUrls", contains=rule)
            wi_absent(server, name)
    # and on update: the stored list stays
    name = uname("ru")
    ok(call(server, "CreateWorkloadIdentity",
            {"name": name, "allowedResourceOauth2ReturnUrls": ["https://keep.test/cb"]}), 201)
    before = call(server, "GetWorkloadIdentity", {"name": name}).json
    r = call(server, "UpdateWorkloadIdentity",
             {"name": name, "allowedResourceOauth2ReturnUrls": ["https://new.test/cb", "nope"]})
    assert_raw_error(r, "ValidationException", 400, field="allowedResourceOauth2ReturnUrls")
    assert call(server, "GetWorkloadIdentity", {"name": name}).json == before


def test_tag_key_and_value_lengths(server):
    cases = [
        ({"k" * 128: "v"}, None),
        ({"k" * 129: "v"}, "128"),
        ({"": "v"}, "1"),
        ({"key": ""}, None),
        ({"key": "v" * 256}, None),
        ({"key": "v" * 257}, "256"),
        ({"bad#key": "v"}, "pattern"),
        ({"key": "bad#value"}, "pattern"),
        ({"with space:/=+@-._": "ok value"}, None),
    ]
    for tags, rule in cases:
        name = uname("tl")
        r = call(server, "CreateWorkloadIdentity", {"name": name, "tags": tags})
        if rule is None:
            ok(r, 201)
            arn = r.json["workloadIdentityArn"]
            got = raw_call(server, tags_path(arn), method="GET").json
            assert got["tags"] == tags
        else:
            assert_raw_error(r, "ValidationException", 400, field="tags", contains=rule)
            wi_absent(server, name)


def test_untag_key_limits(server, client):
    arn = client.create_workload_identity(name=uname("ut"), tags={"a": "1"})["workloadIdentityArn"]
    r = raw_call(server, tags_path(arn), method="DELETE", query=[("tagKeys", "k" * 129)])
    assert_raw_error(r, "ValidationException", 400, field="tagKeys")
    r = raw_call(server, tags_path(arn), method="DELETE",
                 query=[("tagKeys", f"k{i}") for i in range(201)])
    assert_raw_error(r, "ValidationException", 400, field="tagKeys")
    assert client.list_tags_for_resource(resourceArn=arn)["tags"] == {"a": "1"}


def test_client_id_and_secret_lengths(server):
    def create(name, cid, secret):
        return call(server, "CreateOauth2CredentialProvider", {
            "name": name, "credentialProviderVendor": "GoogleOauth2",
            "oauth2ProviderConfigInput": {"googleOauth2ProviderConfig": {
                "clientId": cid, "clientSecret": secret}}})

    for cid, rule in (("", "1"), ("c", None), ("c" * 256, None), ("c" * 257, "256")):
        name = uname("ci")
        r = create(name, cid, new_secret())
        if rule is None:
            assert ok(r, 201)["oauth2ProviderConfigOutput"]["googleOauth2ProviderConfig"][
                "clientId"] == cid
        else:
            assert_raw_error(r, "ValidationException", 400, field="clientId", contains=rule)
            o2_absent(server, name)
    s = new_secret()
    for n, rule in ((2048, None), (2049, "2048")):
        name = uname("cs")
        r = create(name, "c", (s + "x" * 3000)[:n])
        if rule is None:
            ok(r, 201)
        else:
            assert_raw_error(r, "ValidationException", 400, field="clientSecret", contains=rule)
            o2_absent(server, name)


def test_api_key_lengths_raw(server):
    key = new_secret("apikey-sekret-")
    for n, rule in ((65536, None), (65537, "65536"), (0, "apiKey")):
        name = uname("al")
        r = call(server, "CreateApiKeyCredentialProvider",
                 {"name": name, "apiKey": (key + "x" * 70000)[:n]})
        if rule is None:
            ok(r, 201)
        else:
            assert_raw_error(r, "ValidationException", 400, field="apiKey", contains=rule)
            ak_absent(server, name)


# ---------------------------------------------------------------------------------------
# patterns, enums, types
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["a/b-c", "abc def", "abc$", "ab\u00e9c", "../etc"])
def test_workload_identity_name_pattern(server, name):
    r = call(server, "CreateWorkloadIdentity", {"name": name})
    assert_raw_error(r, "ValidationException", 400, field="name")


@pytest.mark.parametrize("name", ["a.b", "a/b", "a b", "a:b", "a%2Fb"])
def test_provider_name_pattern(server, name):
    r = call(server, "CreateApiKeyCredentialProvider", {"name": name, "apiKey": "abc"})
    assert_raw_error(r, "ValidationException", 400, field="name")
    r = call(server, "CreateOauth2CredentialProvider", {
        "name": name, "credentialProviderVendor": "GoogleOauth2",
        "oauth2ProviderConfigInput": VALID_GOOGLE})
    assert_raw_error(r, "ValidationException", 400, field="name")


def test_bad_enums(server):
    name = uname("en")
    r = call(server, "CreateOauth2CredentialProvider", {
        "name": name, "credentialProviderVendor": "googleoauth2",
        "oauth2ProviderConfigInput": VALID_GOOGLE})
    assert_raw_error(r, "ValidationException", 400, field="credentialProviderVendor")
    r = call(server, "CreateOauth2CredentialProvider", {
        "name": name, "credentialProviderVendor": "CustomOauth2",
        "oauth2ProviderConfigInput": {"customOauth2ProviderConfig": {
            "oauthDiscovery": {"discoveryUrl": DISCOVERY_URL}, "clientId": "c",
            "clientSecret": "s3cr3t-value", "clientAuthenticationMethod": "client_secret_post"}}})
    assert_raw_error(r, "ValidationException", 400, field="clientAuthenticationMethod")
    r = call(server, "CreateOauth2CredentialProvider", {
        "name": name, "credentialProviderVendor": "GoogleOauth2",
        "oauth2ProviderConfigInput": {"googleOauth2ProviderConfig": {
            "clientId": "c", "clientSecret": "s3cr3t-value", "clientSecretSource": "FOO"}}})
    assert_raw_error(r, "ValidationException", 400, field="clientSecretSource")
    o2_absent(server, name)
    r = call(server, "CreateApiKeyCredentialProvider",
             {"name": name, "apiKey": "abc", "apiKeySecretSource": "managed"})
    assert_raw_error(r, "ValidationException", 400, field="apiKeySecretSource")
    ak_absent(server, name)
    r = call(server, "SetTokenVaultCMK", {"kmsConfiguration": {"keyType": "serviceManagedKey"}})
    assert_raw_error(r, "ValidationException", 400, field="keyType")


WRONG_TYPES = [
    ("CreateWorkloadIdentity", {"name": 12345}, "name"),
    ("CreateWorkloadIdentity", {"name": None}, "name"),
    ("CreateWorkloadIdentity", {"name": "@NAME@", "allowedResourceOauth2ReturnUrls": "https://a.test"},
     "allowedResourceOauth2ReturnUrls"),
    ("CreateWorkloadIdentity", {"name": "@NAME@", "allowedResourceOauth2ReturnUrls": [1]},
     "allowedResourceOauth2ReturnUrls"),
    ("CreateWorkloadIdentity", {"name": "@NAME@", "tags": ["a", "b"]}, "tags"),
    ("CreateWorkloadIdentity", {"name": "@NAME@", "tags": {"a": 5}}, "tags"),
    ("CreateWorkloadIdentity", {"name": ["x", "y", "z"]}, "name"),
    ("ListWorkloadIdentities", {"maxResults": "5"}, "maxResults"),
    ("ListWorkloadIdentities", {"maxResults": 2.5}, "maxResults"),
    ("ListWorkloadIdentities", {"nextToken": 7}, "nextToken"),
    ("CreateOauth2CredentialProvider", {"name": "@NAME@", "credentialProviderVendor": "GoogleOauth2",
                                        "oauth2ProviderConfigInput": "google"},
     "oauth2ProviderConfigInput"),
    ("CreateOauth2CredentialProvider", {"name": "@NAME@", "credentialProviderVendor": "GoogleOauth2",
                                        "oauth2ProviderConfigInput": {"googleOauth2ProviderConfig": {
                                            "clientId": 42, "clientSecret": "s3cr3t-value"}}},
     "clientId"),
    ("CreateApiKeyCredentialProvider", {"name": "@NAME@", "apiKey": 123456}, "apiKey"),
    ("CreateApiKeyCredentialProvider", {"name": "@NAME@", "apiKey": True}, "apiKey"),
    ("SetTokenVaultCMK", {"kmsConfiguration": "ServiceManagedKey"}, "kmsConfiguration"),
]


@pytest.mark.parametrize("op,body,field", WRONG_TYPES,
                         ids=[f"{o}-{f}-{i}" for i, (o, _, f) in enumerate(WRONG_TYPES)])
def test_wrong_json_types(server, op, body, field):
    name = uname("ty")
    body = json.loads(json.dumps(body).replace("@NAME@", name))
    r = call(server, op, body)
    assert_raw_error(r, "ValidationException", 400, field=field)
    if op == "CreateWorkloadIdentity":
        wi_absent(server, name)
    elif op == "CreateApiKeyCredentialProvider":
        ak_absent(server, name)
    elif op == "CreateOauth2CredentialProvider":
        o2_absent(server, name)


@pytest.mark.parametrize("body", [b'{"name": ', b"{name: 'x'}", b"\xff\xfe{}", b'{"name": "abc"}}',
                                  b"[]", b'"just a string"', b"42"])
def test_malformed_json(server, body):
    r = raw_call(server, "/identities/CreateWorkloadIdentity", body)
    assert_raw_error(r, "ValidationException", 400)


def test_unknown_members_ignored(server):
    name = uname("unk")
    r = call(server, "CreateWorkloadIdentity", {
        "name": name, "bogusMember": 1, "nested": {"deep": [1, 2, 3]},
        "allowedResourceOauth2ReturnUrls": ["https://a.test/cb"]})
    body = ok(r, 201)
    assert body["name"] == name
    assert "bogusMember" not in body
    got = ok(call(server, "GetWorkloadIdentity", {"name": name, "whatever": True}))
    assert got["allowedResourceOauth2ReturnUrls"] == ["https://a.test/cb"]
    r = call(server, "CreateApiKeyCredentialProvider",
             {"name": name, "apiKey": new_secret("apikey-sekret-"), "extra": {"x": "y"}})
    ok(r, 201)
    r = call(server, "CreateOauth2CredentialProvider", {
        "name": name, "credentialProviderVendor": "GoogleOauth2",
        "oauth2ProviderConfigInput": {"googleOauth2ProviderConfig": {
            "clientId": "c", "clientSecret": new_secret(), "futureField": "z"}}})
    ok(r, 201)


def test_body_over_one_mib_is_413(server):
    name = uname("big")
    pad = "x" * (1024 * 1024)
    body = json.dumps({"name": name, "pad": pad}).encode()
    assert len(body) > 1024 * 1024
    r = raw_call(server, "/identities/CreateWorkloadIdentity", body)
    assert r.status == 413, r
    assert "x-amzn-requestid" in r.headers
    wi_absent(server, name)


def test_body_just_under_one_mib_is_accepted(server):
    name = uname("big")
    skeleton = json.dumps({"name": name, "pad": ""}).encode()
    pad = "x" * (1024 * 1024 - len(skeleton) - 1)
    body = json.dumps({"name": name, "pad": pad}).encode()
    assert len(body) < 1024 * 1024
    r = raw_call(server, "/identities/CreateWorkloadIdentity", body)
    assert r.status == 201, r


def test_error_responses_are_json_with_message(server):
    """A sample of every error family through raw requests."""
    r = call(server, "GetWorkloadIdentity", {"name": uname("ghost")})
    msg = assert_raw_error(r, "ResourceNotFoundException", 404)
    assert r.headers.get("content-type", "").startswith("application/json")
    assert msg
    name = uname("dup")
    ok(call(server, "CreateWorkloadIdentity", {"name": name}), 201)
    r = call(server, "CreateWorkloadIdentity", {"name": name})
    assert_raw_error(r, "ConflictException", 409)
    assert r.headers.get("content-type", "").startswith("application/json")


def test_success_status_codes_raw(server):
    name = uname("sc")
    assert call(server, "CreateWorkloadIdentity", {"name": name}).status == 201
    assert call(server, "GetWorkloadIdentity", {"name": name}).status == 200
    assert call(server, "UpdateWorkloadIdentity", {"name": name}).status == 200
    assert call(server, "ListWorkloadIdentities", {"maxResults": 1}).status == 200
    r = call(server, "DeleteWorkloadIdentity", {"name": name})
    assert r.status == 204, r
    assert call(server, "CreateApiKeyCredentialProvider",
                {"name": name, "apiKey": new_secret("apikey-sekret-")}).status == 201
    assert call(server, "GetApiKeyCredentialProvider", {"name": name}).status == 200
    assert call(server, "ListApiKeyCredentialProviders", {}).status == 200
    assert call(server, "DeleteApiKeyCredentialProvider", {"name": name}).status == 204
    assert call(server, "CreateOauth2CredentialProvider", {
        "name": name, "credentialProviderVendor": "GoogleOauth2",
        "oauth2ProviderConfigInput": vendor_config("GoogleOauth2", "c", new_secret())}).status == 201
    assert call(server, "ListOauth2CredentialProviders", {}).status == 200
    assert call(server, "DeleteOauth2CredentialProvider", {"name": name}).status == 204
    assert call(server, "GetTokenVault", {}).status == 200
    # an empty body reads as {}
    assert raw_call(server, "/identities/ListWorkloadIdentities", None).status == 200


def test_timestamps_are_epoch_seconds_on_the_wire(server):
    name = uname("ts")
    assert call(server, "CreateWorkloadIdentity", {"name": name}).status == 201
    body = call(server, "GetWorkloadIdentity", {"name": name}).json
    for k in ("createdTime", "lastUpdatedTime"):
        assert isinstance(body[k], (int, float)) and not isinstance(body[k], bool), body
        assert abs(body[k] - time.time()) < 300, body
    body = call(server, "GetTokenVault", {}).json
    assert isinstance(body["lastModifiedDate"], (int, float)), body


def test_concurrent_duplicate_creates(server):
    name = uname("race")
    with ThreadPoolExecutor(8) as ex:
        results = list(ex.map(lambda _: call(server, "CreateWorkloadIdentity", {"name": name}),
                              range(16)))
    codes = sorted(r.status for r in results)
    assert codes.count(201) == 1, codes
    assert codes.count(409) == 15, codes
    for r in results:
        if r.status == 409:
            assert r.error_type == "ConflictException"


def test_validation_exception_body_fits_the_model(server):
    """The model's ValidationException requires `reason`
    (CannotParse | FieldValidationFailed | ...); `fieldList` is optional."""
    from helpers import service_model, shape_problems
    shape = service_model().shape_for("ValidationException")
    for r in (call(server, "CreateWorkloadIdentity", {}),
              call(server, "CreateWorkloadIdentity", {"name": "a/b/c"}),
              raw_call(server, "/identities/CreateWorkloadIdentity", b"{broken")):
        assert_raw_error(r, "ValidationException", 400)
        assert shape_problems(shape, r.json) == [], r.json


def test_other_error_bodies_fit_the_model(server):
    from helpers import service_model, shape_problems
    m = service_model()
    r = call(server, "GetWorkloadIdentity", {"name": uname("ghost")})
    assert_raw_error(r, "ResourceNotFoundException", 404)
    assert shape_problems(m.shape_for("ResourceNotFoundException"), r.json) == []
    name = uname("dup")
    call(server, "CreateWorkloadIdentity", {"name": name})
    r = call(server, "CreateWorkloadIdentity", {"name": name})
    assert_raw_error(r, "ConflictException", 409)
    assert shape_problems(m.shape_for("ConflictException"), r.json) == []


def test_chunked_body_over_one_mib_is_413(server):
    name = uname("chunk")
    body = json.dumps({"name": name, "pad": "x" * (1024 * 1024 + 10)}).encode()
    r = raw_call(server, "/identities/CreateWorkloadIdentity", body, chunked=True)
    assert r.status == 413, r
    wi_absent(server, name)
    # a small chunked body is an ordinary request
    name2 = uname("chunk")
    r = raw_call(server, "/identities/CreateWorkloadIdentity", {"name": name2}, chunked=True)
    assert r.status == 201, r


def test_deeply_nested_json_is_refused_cleanly(server):
    r = raw_call(server, "/identities/CreateWorkloadIdentity", b"[" * 100000 + b"]" * 100000)
    assert_raw_error(r, "ValidationException", 400)
    nested = b'{"name": "abc", "x": ' + b'{"a": ' * 5000 + b"1" + b"}" * 5000 + b"}"
    r = raw_call(server, "/identities/CreateWorkloadIdentity", nested)
    assert r.status in (201, 400), r
    # still alive
    assert call(server, "GetTokenVault", {}).status == 200


def test_unknown_operation_and_wrong_method(server):
    r = raw_call(server, "/identities/NoSuchOperation", {})
    assert 400 <= r.status < 500, r
    assert "x-amzn-requestid" in r.headers
    name = uname("meth")
    r = raw_call(server, "/identities/CreateWorkloadIdentity", None, method="GET")
    assert 400 <= r.status < 500, r
    assert "x-amzn-requestid" in r.headers
    r = raw_call(server, "/identities/CreateWorkloadIdentity", {"name": name}, method="PUT")
    assert 400 <= r.status < 500, r
    wi_absent(server, name)


@pytest.mark.parametrize("vault_id,rule", [("", "1"), ("a" * 65, "64"), ("a/b", "pattern"),
                                           ("a.b", "pattern")])
def test_token_vault_id_rules(server, vault_id, rule):
    for op, body in (("GetTokenVault", {"tokenVaultId": vault_id}),
                     ("SetTokenVaultCMK", {"tokenVaultId": vault_id,
                                           "kmsConfiguration": {"keyType": "ServiceManagedKey"}})):
        r = call(server, op, body)
        assert_raw_error(r, "ValidationException", 400, field="tokenVaultId", contains=rule)
