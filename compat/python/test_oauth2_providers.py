"""OAuth2 credential providers through boto3: every vendor, custom discovery, refusals."""

import copy
import json
import re
import time

import pytest

from helpers import (ACCOUNT, DISCOVERY_URL, OWN_MEMBER, REGION, SESSION_PUBLIC_URL,
                     TENANT_VENDORS, VENDORS, assert_no_key, call, assert_raw_error,
                     expect_error, is_aware_datetime, list_all, member_for, near_now, new_secret,
                     status_of, tenant_endpoints, uname, vendor_config)

CALLBACK_RE = re.compile(
    "^" + re.escape(SESSION_PUBLIC_URL) + r"/identities/oauth2/callback/"
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
SECRET_ARN_PREFIX = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:"
FORBIDDEN = {"clientSecret", "clientSecretConfig"}


def o2_arn(name):
    return (f"arn:aws:bedrock-agentcore:{REGION}:{ACCOUNT}:"
            f"token-vault/default/oauth2credentialprovider/{name}")


def create(client, vendor="GoogleOauth2", name=None, **kw):
    name = name or uname("o2")
    secret = new_secret()
    cfg = vendor_config(vendor, "client-" + name, secret)
    resp = client.create_oauth2_credential_provider(
        name=name, credentialProviderVendor=vendor, oauth2ProviderConfigInput=cfg, **kw)
    return name, secret, resp


def check_output(resp, name, vendor, client_id, has_vendor=True):
    # the model's CreateOauth2CredentialProviderResponse has no credentialProviderVendor
    assert resp["name"] == name
    assert resp["credentialProviderArn"] == o2_arn(name)
    if has_vendor:
        assert resp["credentialProviderVendor"] == vendor
    assert CALLBACK_RE.match(resp.get("callbackUrl", "")), resp.get("callbackUrl")
    assert resp["clientSecretArn"]["secretArn"].startswith(SECRET_ARN_PREFIX), resp["clientSecretArn"]
    out = resp["oauth2ProviderConfigOutput"]
    member = member_for(vendor)
    assert list(out) == [member], out
    inner = out[member]
    assert inner.get("clientId") == client_id
    disc = inner["oauthDiscovery"]
    if vendor == "CustomOauth2":
        assert disc.get("discoveryUrl") == DISCOVERY_URL, disc
    else:
        md = disc["authorizationServerMetadata"]
        for k in ("issuer", "authorizationEndpoint", "tokenEndpoint"):
            assert isinstance(md.get(k), str) and md[k].startswith("https://"), (k, md)
        if vendor in TENANT_VENDORS:
            want = tenant_endpoints(vendor)
            for k, v in want.items():
                assert md[k] == v, (k, md)
    assert_no_key(resp, FORBIDDEN)


@pytest.mark.parametrize("vendor", VENDORS)
def test_every_vendor_lifecycle(client, vendor):
    name, secret, resp = create(client, vendor)
    assert status_of(resp) == 201
    check_output(resp, name, vendor, "client-" + name, has_vendor=False)
    assert secret not in json.dumps(resp, default=str)

    got = client.get_oauth2_credential_provider(name=name)
    assert status_of(got) == 200
    check_output(got, name, vendor, "client-" + name)
    assert got["callbackUrl"] == resp["callbackUrl"]
    assert got["clientSecretArn"] == resp["clientSecretArn"]
    assert got["oauth2ProviderConfigOutput"] == resp["oauth2ProviderConfigOutput"]
    for k in ("createdTime", "lastUpdatedTime"):
        assert is_aware_datetime(got[k]) and near_now(got[k])
    assert secret not in json.dumps(got, default=str)

    assert status_of(client.delete_oauth2_credential_provider(name=name)) == 204
    expect_error(client.get_oauth2_credential_provider, name=name,
                 code="ResourceNotFoundException", status=404)


def test_builtin_catalog_endpoints(client):
    name, _, resp = create(client, "GoogleOauth2")
    md = resp["oauth2ProviderConfigOutput"]["googleOauth2ProviderConfig"]["oauthDiscovery"][
        "authorizationServerMetadata"]
    assert "google" in md["authorizationEndpoint"]
    assert "google" in md["tokenEndpoint"]
    name, _, resp = create(client, "GithubOauth2")
    md = resp["oauth2ProviderConfigOutput"]["githubOauth2ProviderConfig"]["oauthDiscovery"][
        "authorizationServerMetadata"]
    assert "github.com" in md["authorizationEndpoint"]


def test_microsoft_tenant_id(client):
    name = uname("ms")
    secret = new_secret()
    resp = client.create_oauth2_credential_provider(
        name=name, credentialProviderVendor="MicrosoftOauth2",
        oauth2ProviderConfigInput={"microsoftOauth2ProviderConfig": {
            "clientId": "ms-client", "clientSecret": secret, "tenantId": "contoso-tenant"}})
    assert status_of(resp) == 201
    md = resp["oauth2ProviderConfigOutput"]["microsoftOauth2ProviderConfig"]["oauthDiscovery"][
        "authorizationServerMetadata"]
    assert "contoso-tenant" in md["tokenEndpoint"], md
    assert "contoso-tenant" in md["authorizationEndpoint"], md


def test_list_contains_and_has_no_secrets(client):
    made = {}
    for vendor in ("SlackOauth2", "XOauth2", "CustomOauth2"):
        name, secret, _ = create(client, vendor)
        made[name] = vendor
    items = list_all(client, "list_oauth2_credential_providers", "credentialProviders")
    by = {}
    for it in items:
        assert it["name"] not in by
        by[it["name"]] = it
    for name, vendor in made.items():
        it = by[name]
        assert it["credentialProviderVendor"] == vendor
        assert it["credentialProviderArn"] == o2_arn(name)
        assert is_aware_datetime(it["createdTime"]) and is_aware_datetime(it["lastUpdatedTime"])
    assert_no_key(items, FORBIDDEN)
    names = [i["name"] for i in items]
    assert names == sorted(names)


def test_callback_urls_unique(client):
    urls = set()
    for _ in range(3):
        _, _, resp = create(client, "GoogleOauth2")
        urls.add(resp["callbackUrl"])
    assert len(urls) == 3


def test_update_keeps_callback_and_arn(client):
    name, _, created = create(client, "GoogleOauth2")
    before = client.get_oauth2_credential_provider(name=name)
    time.sleep(1.2)
    secret2 = new_secret()
    up = client.update_oauth2_credential_provider(
        name=name, credentialProviderVendor="GoogleOauth2",
        oauth2ProviderConfigInput={"googleOauth2ProviderConfig": {
            "clientId": "new-client-id", "clientSecret": secret2}})
    assert status_of(up) == 200
    assert up["callbackUrl"] == created["callbackUrl"]
    assert up["credentialProviderArn"] == o2_arn(name)
    assert up["oauth2ProviderConfigOutput"]["googleOauth2ProviderConfig"]["clientId"] == "new-client-id"
    assert up["createdTime"] == before["createdTime"]
    assert up["lastUpdatedTime"] > before["lastUpdatedTime"]
    assert_no_key(up, FORBIDDEN)
    got = client.get_oauth2_credential_provider(name=name)
    assert got["callbackUrl"] == created["callbackUrl"]
    assert got["oauth2ProviderConfigOutput"]["googleOauth2ProviderConfig"]["clientId"] == "new-client-id"
    assert got["createdTime"] == before["createdTime"]
    assert got["lastUpdatedTime"] > before["lastUpdatedTime"]


def test_custom_discovery_url_and_auth_method(client):
    name = uname("cu")
    secret = new_secret()
    resp = client.create_oauth2_credential_provider(
        name=name, credentialProviderVendor="CustomOauth2",
        oauth2ProviderConfigInput={"customOauth2ProviderConfig": {
            "oauthDiscovery": {"discoveryUrl": DISCOVERY_URL},
            "clientId": "cid", "clientSecret": secret,
            "clientAuthenticationMethod": "CLIENT_SECRET_POST"}})
    assert status_of(resp) == 201
    out = resp["oauth2ProviderConfigOutput"]["customOauth2ProviderConfig"]
    assert out["oauthDiscovery"] == {"discoveryUrl": DISCOVERY_URL}
    assert out["clientAuthenticationMethod"] == "CLIENT_SECRET_POST"
    assert out["clientId"] == "cid"
    got = client.get_oauth2_credential_provider(name=name)
    assert got["oauth2ProviderConfigOutput"]["customOauth2ProviderConfig"] == out

    up = client.update_oauth2_credential_provider(
        name=name, credentialProviderVendor="CustomOauth2",
        oauth2ProviderConfigInput={"customOauth2ProviderConfig": {
            "oauthDiscovery": {"discoveryUrl": DISCOVERY_URL},
            "clientId": "cid", "clientSecret": secret,
            "clientAuthenticationMethod": "CLIENT_SECRET_BASIC"}})
    assert up["oauth2ProviderConfigOutput"]["customOauth2ProviderConfig"][
        "clientAuthenticationMethod"] == "CLIENT_SECRET_BASIC"
    assert up["callbackUrl"] == resp["callbackUrl"]
    got = client.get_oauth2_credential_provider(name=name)
    assert got["oauth2ProviderConfigOutput"]["customOauth2ProviderConfig"][
        "clientAuthenticationMethod"] == "CLIENT_SECRET_BASIC"


def test_custom_authorization_server_metadata(client):
    name = uname("cm")
    md = {"issuer": "https://auth.example.test",
          "authorizationEndpoint": "https://auth.example.test/authorize",
          "tokenEndpoint": "https://auth.example.test/token",
          "responseTypes": ["code"],
          "tokenEndpointAuthMethods": ["client_secret_basic"]}
    resp = client.create_oauth2_credential_provider(
        name=name, credentialProviderVendor="CustomOauth2",
        oauth2ProviderConfigInput={"customOauth2ProviderConfig": {
            "oauthDiscovery": {"authorizationServerMetadata": md},
            "clientId": "cid", "clientSecret": new_secret(),
            "clientAuthenticationMethod": "CLIENT_SECRET_BASIC"}})
    assert status_of(resp) == 201
    out = resp["oauth2ProviderConfigOutput"]["customOauth2ProviderConfig"]
    assert out["oauthDiscovery"] == {"authorizationServerMetadata": md}
    assert out["clientAuthenticationMethod"] == "CLIENT_SECRET_BASIC"
    got = client.get_oauth2_credential_provider(name=name)
    assert got["oauth2ProviderConfigOutput"]["customOauth2ProviderConfig"]["oauthDiscovery"] == {
        "authorizationServerMetadata": md}


def test_duplicate_and_unknown(client):
    name, _, created = create(client, "GithubOauth2")
    expect_error(create, client, "GoogleOauth2", name=name, code="ConflictException", status=409)
    got = client.get_oauth2_credential_provider(name=name)
    assert got["credentialProviderVendor"] == "GithubOauth2"
    assert got["callbackUrl"] == created["callbackUrl"]

    unknown = uname("nope")
    expect_error(client.get_oauth2_credential_provider, name=unknown,
                 code="ResourceNotFoundException", status=404)
    expect_error(client.delete_oauth2_credential_provider, name=unknown,
                 code="ResourceNotFoundException", status=404)
    expect_error(client.update_oauth2_credential_provider, name=unknown,
                 credentialProviderVendor="GoogleOauth2",
                 oauth2ProviderConfigInput=vendor_config("GoogleOauth2", "c", new_secret()),
                 code="ResourceNotFoundException", status=404)
    expect_error(client.get_oauth2_credential_provider, name=unknown,
                 code="ResourceNotFoundException", status=404)


# ---------------------------------------------------------------------------------------
# Refusals: (id, vendor, oauth2ProviderConfigInput, names the message may use)
# ---------------------------------------------------------------------------------------

LATTICE = {"selfManagedLatticeResource": {"resourceConfigurationIdentifier": "rcfg-0123456789abcdef0"}}


def _g(**extra):
    return {"googleOauth2ProviderConfig": {"clientId": "c", "clientSecret": "s3cr3t-value", **extra}}


def _c(**extra):
    base = {"oauthDiscovery": {"discoveryUrl": DISCOVERY_URL}, "clientId": "c",
            "clientSecret": "s3cr3t-value"}
    base.update(extra)
    return {"customOauth2ProviderConfig": base}


def _okta(**drop):
    cfg = {"clientId": "c", "clientSecret": "s3cr3t-value", **tenant_endpoints("OktaOauth2")}
    for k in drop:
        cfg.pop(k)
    return {"includedOauth2ProviderConfig": cfg}


MEMBERS = ["oauth2ProviderConfigInput", "googleOauth2ProviderConfig", "githubOauth2ProviderConfig",
           "includedOauth2ProviderConfig", "customOauth2ProviderConfig", "credentialProviderVendor"]

REFUSALS = [
    ("google-with-github-member", "GoogleOauth2",
     {"githubOauth2ProviderConfig": {"clientId": "c", "clientSecret": "s3cr3t-value"}}, MEMBERS),
    ("google-with-included-member", "GoogleOauth2",
     {"includedOauth2ProviderConfig": {"clientId": "c", "clientSecret": "s3cr3t-value"}}, MEMBERS),
    ("x-with-google-member", "XOauth2", _g(), MEMBERS),
    ("custom-with-included-member", "CustomOauth2",
     {"includedOauth2ProviderConfig": {"clientId": "c", "clientSecret": "s3cr3t-value"}}, MEMBERS),
    ("github-with-custom-member", "GithubOauth2", _c(), MEMBERS),
    ("two-members", "GoogleOauth2",
     {**_g(), "githubOauth2ProviderConfig": {"clientId": "c", "clientSecret": "s3cr3t-value"}},
     MEMBERS),
    ("no-member", "GoogleOauth2", {}, MEMBERS),
    ("external-source", "GoogleOauth2", _g(clientSecretSource="EXTERNAL"), ["clientSecretSource"]),
    ("secret-config", "GoogleOauth2",
     _g(clientSecretConfig={"secretId": "my-secret", "jsonKey": "k"}), ["clientSecretConfig"]),
    ("private-endpoint", "CustomOauth2", _c(privateEndpoint=LATTICE), ["privateEndpoint"]),
    ("private-endpoint-overrides", "CustomOauth2",
     _c(privateEndpointOverrides=[{"domain": "idp.example.test", "privateEndpoint": LATTICE}]),
     ["privateEndpointOverrides"]),
    ("certificate-configurations", "CustomOauth2",
     _c(certificateConfigurations=[{"s3": {"uri": "s3://bucket/ca.pem"}}]),
     ["certificateConfigurations"]),
    ("private-key-jwt-config", "CustomOauth2",
     _c(privateKeyJwtConfig={"signingAlgorithm": "RS256"}), ["privateKeyJwtConfig"]),
    ("auth-private-key-jwt", "CustomOauth2", _c(clientAuthenticationMethod="PRIVATE_KEY_JWT"),
     ["clientAuthenticationMethod"]),
    ("auth-aws-iam-jwt", "CustomOauth2", _c(clientAuthenticationMethod="AWS_IAM_ID_TOKEN_JWT"),
     ["clientAuthenticationMethod"]),
    ("discovery-both", "CustomOauth2",
     _c(oauthDiscovery={"discoveryUrl": DISCOVERY_URL, "authorizationServerMetadata": {
         "issuer": "https://a.test", "authorizationEndpoint": "https://a.test/auth",
         "tokenEndpoint": "https://a.test/token"}}), ["oauthDiscovery"]),
    ("discovery-neither", "CustomOauth2", _c(oauthDiscovery={}), ["oauthDiscovery"]),
    ("discovery-bad-url", "CustomOauth2",
     _c(oauthDiscovery={"discoveryUrl": "https://idp.example.test/openid-configuration"}),
     ["discoveryUrl"]),
    ("discovery-url-with-query", "CustomOauth2",
     _c(oauthDiscovery={"discoveryUrl": DISCOVERY_URL + "?x=1"}), ["discoveryUrl"]),
    ("okta-no-issuer", "OktaOauth2", _okta(issuer=1), ["issuer"]),
    ("okta-no-authorization-endpoint", "OktaOauth2", _okta(authorizationEndpoint=1),
     ["authorizationEndpoint"]),
    ("okta-no-token-endpoint", "OktaOauth2", _okta(tokenEndpoint=1), ["tokenEndpoint"]),
    ("google-no-client-secret", "GoogleOauth2", {"googleOauth2ProviderConfig": {"clientId": "c"}},
     ["clientSecret"]),
    ("custom-no-client-secret", "CustomOauth2",
     {"customOauth2ProviderConfig": {"oauthDiscovery": {"discoveryUrl": DISCOVERY_URL},
                                     "clientId": "c"}}, ["clientSecret"]),
]


# raw requests: botocore checks the unions (exactly one member) client-side
@pytest.mark.parametrize("vendor,cfg,fields", [r[1:] for r in REFUSALS],
                         ids=[r[0] for r in REFUSALS])
def test_create_refusals(server, vendor, cfg, fields):
    name = uname("bad")
    r = call(server, "CreateOauth2CredentialProvider", {
        "name": name, "credentialProviderVendor": vendor, "oauth2ProviderConfigInput": cfg})
    assert_raw_error(r, "ValidationException", 400, field=fields)
    # nothing was created
    assert_raw_error(call(server, "GetOauth2CredentialProvider", {"name": name}),
                     "ResourceNotFoundException", 404)


UPDATE_REFUSALS = [r for r in REFUSALS
                   if r[0] not in ("google-no-client-secret", "custom-no-client-secret")]


@pytest.mark.parametrize("vendor,cfg,fields", [r[1:] for r in UPDATE_REFUSALS],
                         ids=[r[0] for r in UPDATE_REFUSALS])
def test_update_refusals_leave_provider_unchanged(server, client, vendor, cfg, fields):
    # the existing provider has the vendor of the refused request, so only the config is wrong
    name = uname("upd")
    good = vendor_config(vendor, "orig-client", new_secret())
    client.create_oauth2_credential_provider(name=name, credentialProviderVendor=vendor,
                                             oauth2ProviderConfigInput=good)
    before = client.get_oauth2_credential_provider(name=name)
    r = call(server, "UpdateOauth2CredentialProvider", {
        "name": name, "credentialProviderVendor": vendor, "oauth2ProviderConfigInput": cfg})
    assert_raw_error(r, "ValidationException", 400, field=fields)
    after = client.get_oauth2_credential_provider(name=name)
    for k in ("credentialProviderVendor", "callbackUrl", "oauth2ProviderConfigOutput",
              "clientSecretArn", "createdTime", "lastUpdatedTime"):
        assert after[k] == before[k], k
    assert after["oauth2ProviderConfigOutput"][member_for(vendor)]["clientId"] == "orig-client"


def test_unknown_vendor_raw(server):
    name = uname("bad")
    r = call(server, "CreateOauth2CredentialProvider", {
        "name": name, "credentialProviderVendor": "FooOauth2",
        "oauth2ProviderConfigInput": _g()})
    assert_raw_error(r, "ValidationException", 400, field="credentialProviderVendor")
    r = call(server, "GetOauth2CredentialProvider", {"name": name})
    assert_raw_error(r, "ResourceNotFoundException", 404)


def test_unknown_auth_method_raw(server):
    name = uname("bad")
    r = call(server, "CreateOauth2CredentialProvider", {
        "name": name, "credentialProviderVendor": "CustomOauth2",
        "oauth2ProviderConfigInput": _c(clientAuthenticationMethod="CLIENT_SECRET_JWT")})
    assert_raw_error(r, "ValidationException", 400, field="clientAuthenticationMethod")
    assert_raw_error(call(server, "GetOauth2CredentialProvider", {"name": name}),
                     "ResourceNotFoundException", 404)


def test_refusal_messages_do_not_echo_secret(client):
    secret = new_secret()
    msg = expect_error(client.create_oauth2_credential_provider, name=uname("bad"),
                       credentialProviderVendor="GoogleOauth2",
                       oauth2ProviderConfigInput={"googleOauth2ProviderConfig": {
                           "clientId": "c", "clientSecret": secret + "x" * 2048}},
                       code="ValidationException", status=400, field="clientSecret")
    assert secret not in msg
