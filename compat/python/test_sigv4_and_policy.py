"""SigV4 abuse with raw requests, and policies / accounts of access keys made with `warrant keys`."""

import datetime
import json
import time

import pytest
from botocore.auth import SigV4Auth
from botocore.exceptions import ClientError

from helpers import (ADMIN_KEY_ID, ADMIN_SECRET, SECRETS, assert_raw_error, call, create_key,
                     expect_error, fixed_clock, list_all, new_secret, raw_call, run_warrant,
                     status_of, tags_path, uname, vendor_config)

LIST = "/identities/ListWorkloadIdentities"


def test_good_signature_control(server):
    r = raw_call(server, LIST, {"maxResults": 1})
    assert r.status == 200, r
    assert "workloadIdentities" in r.json


def test_wrong_secret(server):
    r = raw_call(server, LIST, {}, secret="WRONG" + ADMIN_SECRET[5:])
    assert_raw_error(r, "InvalidSignatureException", 403)


def test_wrong_secret_through_boto3(server):
    c = server.client(ADMIN_KEY_ID, "not-the-secret-at-all-123")
    expect_error(c.list_workload_identities, code="InvalidSignatureException", status=403)


def test_unknown_key(server):
    r = raw_call(server, LIST, {}, key_id="AKIAUNKNOWNKEY000000", secret="whatever-secret-1234")
    assert_raw_error(r, "UnrecognizedClientException", 403)
    c = server.client("AKIAUNKNOWNKEY000001", "whatever-secret-1234")
    expect_error(c.get_token_vault, code="UnrecognizedClientException", status=403)


def test_tampered_body(server, client):
    signed_name, sent_name = uname("sig"), uname("tamper")

    def mutate(h, body):
        return h, body.replace(signed_name.encode(), sent_name.encode())

    r = raw_call(server, "/identities/CreateWorkloadIdentity", {"name": signed_name}, mutate=mutate)
    assert_raw_error(r, "InvalidSignatureException", 403)
    for n in (signed_name, sent_name):
        expect_error(client.get_workload_identity, name=n, code="ResourceNotFoundException",
                     status=404)


def test_tampered_signed_header(server):
    def mutate(h, body):
        h = dict(h)
        h["X-Warrant-Test"] = "tampered"
        return h, body

    r = raw_call(server, LIST, {}, headers={"X-Warrant-Test": "original"}, mutate=mutate)
    assert_raw_error(r, "InvalidSignatureException", 403)


def test_tampered_date_header(server):
    def mutate(h, body):
        h = dict(h)
        d = datetime.datetime.strptime(h["X-Amz-Date"], "%Y%m%dT%H%M%SZ")
        h["X-Amz-Date"] = (d + datetime.timedelta(seconds=1)).strftime("%Y%m%dT%H%M%SZ")
        return h, body

    r = raw_call(server, LIST, {}, mutate=mutate)
    assert r.status == 403, r
    assert r.error_type in ("InvalidSignatureException", "IncompleteSignatureException"), r


def test_tampered_host_header(server):
    def mutate(h, body):
        h = dict(h)
        h["Host"] = f"localhost:{server.port}"
        return h, body

    r = raw_call(server, LIST, {}, mutate=mutate)
    assert_raw_error(r, "InvalidSignatureException", 403)


def test_content_sha256_header_must_match_body(server, client):
    import hashlib
    name = uname("sha")
    other = hashlib.sha256(b'{"name": "something-else"}').hexdigest()
    r = raw_call(server, "/identities/CreateWorkloadIdentity", {"name": name},
                 headers={"X-Amz-Content-Sha256": other})
    assert_raw_error(r, "InvalidSignatureException", 403)
    expect_error(client.get_workload_identity, name=name, code="ResourceNotFoundException",
                 status=404)
    # the right hash is fine
    body = json.dumps({"name": name}).encode()
    r = raw_call(server, "/identities/CreateWorkloadIdentity", body,
                 headers={"X-Amz-Content-Sha256": hashlib.sha256(body).hexdigest()})
    assert r.status == 201, r


def test_unsigned_header_may_change(server):
    """Control: a header that is not signed can be added without breaking the signature."""
    def mutate(h, body):
        h = dict(h)
        h["X-Unsigned-Extra"] = "added-after-signing"
        return h, body

    r = raw_call(server, LIST, {}, mutate=mutate)
    assert r.status == 200, r


@pytest.mark.parametrize("minutes", [-20, 20])
def test_date_outside_window(server, minutes):
    with fixed_clock(datetime.timedelta(minutes=minutes)):
        r = raw_call(server, LIST, {})
    msg = assert_raw_error(r, "InvalidSignatureException", 403)
    if minutes < 0:
        assert "expired" in msg.lower(), msg


@pytest.mark.parametrize("minutes", [-10, 10])
def test_date_inside_window(server, minutes):
    with fixed_clock(datetime.timedelta(minutes=minutes)):
        r = raw_call(server, LIST, {})
    assert r.status == 200, r


class NoHostSigner(SigV4Auth):
    def headers_to_sign(self, request):
        h = super().headers_to_sign(request)
        del h["host"]
        return h


class NoDateSigner(SigV4Auth):
    def headers_to_sign(self, request):
        h = super().headers_to_sign(request)
        del h["x-amz-date"]
        return h


@pytest.mark.parametrize("signer", [NoHostSigner, NoDateSigner], ids=["no-host", "no-x-amz-date"])
def test_signed_headers_must_include_host_and_date(server, signer):
    r = raw_call(server, LIST, {}, signer_cls=signer)
    assert r.status == 403, r
    assert r.error_type in ("InvalidSignatureException", "IncompleteSignatureException"), r
    assert "x-amzn-requestid" in r.headers
    assert r.json and r.json.get("message")


def test_wrong_service_in_scope(server):
    r = raw_call(server, LIST, {}, service="s3")
    assert_raw_error(r, "InvalidSignatureException", 403)
    r = raw_call(server, LIST, {}, service="bedrock-agentcore-control")
    assert_raw_error(r, "InvalidSignatureException", 403)


def test_wrong_region_in_scope(server):
    r = raw_call(server, LIST, {}, region="eu-west-1")
    assert_raw_error(r, "InvalidSignatureException", 403)
    c = server.client(region="eu-west-1")
    expect_error(c.list_workload_identities, code="InvalidSignatureException", status=403)


def test_no_authorization(server):
    r = raw_call(server, LIST, {}, sign=False)
    assert_raw_error(r, "MissingAuthenticationTokenException", 403)
    r = raw_call(server, "/identities/CreateWorkloadIdentity", {"name": uname("noauth")}, sign=False)
    assert_raw_error(r, "MissingAuthenticationTokenException", 403)


@pytest.mark.parametrize("value", [
    "garbage",
    "AWS4-HMAC-SHA256",
    "AWS4-HMAC-SHA256 Credential=AKIAFOO",
    "AWS4-HMAC-SHA256 Credential=AKIAFOO/20200101/us-east-1/bedrock-agentcore/aws4_request, "
    "SignedHeaders=host;x-amz-date",
    "AWS4-HMAC-SHA256 SignedHeaders=host;x-amz-date, Signature=abcd",
])
def test_garbage_authorization(server, value):
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    r = raw_call(server, LIST, {}, sign=False,
                 headers={"Authorization": value, "X-Amz-Date": now})
    assert_raw_error(r, "IncompleteSignatureException", 403)


def test_signature_failures_change_nothing(server, client):
    name = uname("sigx")
    r = raw_call(server, "/identities/CreateWorkloadIdentity", {"name": name},
                 secret="nope-nope-nope-nope")
    assert r.status == 403
    with fixed_clock(datetime.timedelta(minutes=-30)):
        r = raw_call(server, "/identities/CreateWorkloadIdentity", {"name": name})
    assert r.status == 403
    expect_error(client.get_workload_identity, name=name, code="ResourceNotFoundException",
                 status=404)


def test_ping_needs_no_auth_but_api_does(server):
    from helpers import http_get
    st, hdrs, _ = http_get(server.port, "/ping")
    assert st == 200
    assert "x-amzn-requestid" in hdrs


# ---------------------------------------------------------------------------------------
# policies
# ---------------------------------------------------------------------------------------

RO_POLICY = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": ["bedrock-agentcore:Get*", "bedrock-agentcore:List*"],
     "Resource": "*"}]}
ALLOW_ALL = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "bedrock-agentcore:*", "Resource": "*"}]}


def test_keys_create_output(server):
    k = create_key(server.data_dir, "out-" + uname("k")[:20], RO_POLICY)
    assert set(k) >= {"accessKeyId", "secretAccessKey", "name", "accountId"}
    assert k["accountId"] == "000000000000"
    assert k["accessKeyId"] != ADMIN_KEY_ID
    assert len(k["secretAccessKey"]) >= 16


def test_read_only_key(server, client):
    existing = uname("ro")
    client.create_workload_identity(name=existing, tags={"a": "b"})
    k = create_key(server.data_dir, "ro", RO_POLICY)
    ro = server.client(k["accessKeyId"], k["secretAccessKey"])
    assert ro.get_workload_identity(name=existing)["name"] == existing
    assert status_of(ro.list_workload_identities()) == 200
    assert status_of(ro.get_token_vault()) == 200
    arn = client.get_workload_identity(name=existing)["workloadIdentityArn"]
    assert ro.list_tags_for_resource(resourceArn=arn)["tags"] == {"a": "b"}

    new = uname("ro-new")
    expect_error(ro.create_workload_identity, name=new, code="AccessDeniedException", status=403)
    expect_error(client.get_workload_identity, name=new, code="ResourceNotFoundException",
                 status=404)
    expect_error(ro.create_api_key_credential_provider, name=new, apiKey="abcdef",
                 code="AccessDeniedException", status=403)
    expect_error(client.get_api_key_credential_provider, name=new,
                 code="ResourceNotFoundException", status=404)
    expect_error(ro.delete_workload_identity, name=existing, code="AccessDeniedException",
                 status=403)
    expect_error(ro.update_workload_identity, name=existing,
                 allowedResourceOauth2ReturnUrls=["https://x.test/cb"],
                 code="AccessDeniedException", status=403)
    expect_error(ro.tag_resource, resourceArn=arn, tags={"c": "d"},
                 code="AccessDeniedException", status=403)
    expect_error(ro.set_token_vault_cmk, kmsConfiguration={"keyType": "ServiceManagedKey"},
                 code="AccessDeniedException", status=403)
    got = client.get_workload_identity(name=existing)
    assert got.get("allowedResourceOauth2ReturnUrls", []) == []
    assert client.list_tags_for_resource(resourceArn=arn)["tags"] == {"a": "b"}


def test_explicit_deny_beats_allow(server, client):
    denied, allowed = uname("deny"), uname("allow")
    for n in (denied, allowed):
        client.create_workload_identity(name=n)
    denied_arn = server.arn("wi", denied)
    policy = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "bedrock-agentcore:*", "Resource": "*"},
        {"Effect": "Deny", "Action": "bedrock-agentcore:*", "Resource": denied_arn},
    ]}
    k = create_key(server.data_dir, "deny-one", policy)
    c = server.client(k["accessKeyId"], k["secretAccessKey"])
    expect_error(c.get_workload_identity, name=denied, code="AccessDeniedException", status=403)
    expect_error(c.delete_workload_identity, name=denied, code="AccessDeniedException", status=403)
    expect_error(c.list_tags_for_resource, resourceArn=denied_arn, code="AccessDeniedException",
                 status=403)
    assert c.get_workload_identity(name=allowed)["name"] == allowed
    assert status_of(c.list_workload_identities(maxResults=1)) == 200
    assert client.get_workload_identity(name=denied)["name"] == denied


def test_deny_with_wildcards(server, client):
    prefix = uname("sec")
    hidden = prefix + "-hidden"
    client.create_api_key_credential_provider(name=hidden, apiKey=new_secret("apikey-sekret-"))
    client.create_api_key_credential_provider(name=prefix + "-x", apiKey=new_secret("apikey-sekret-"))
    policy = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["bedrock-agentcore:Get*", "bedrock-agentcore:List*"],
         "Resource": ["*"]},
        {"Effect": "Deny", "Action": ["bedrock-agentcore:GetApiKey?redentialProvider"],
         "Resource": server.arn("apikey", prefix + "-hid*")},
    ]}
    k = create_key(server.data_dir, "deny-glob", policy)
    c = server.client(k["accessKeyId"], k["secretAccessKey"])
    expect_error(c.get_api_key_credential_provider, name=hidden, code="AccessDeniedException",
                 status=403)
    assert c.get_api_key_credential_provider(name=prefix + "-x")["name"] == prefix + "-x"


def test_default_deny(server):
    policy = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "bedrock-agentcore:GetTokenVault", "Resource": "*"}]}
    k = create_key(server.data_dir, "vault-only", policy)
    c = server.client(k["accessKeyId"], k["secretAccessKey"])
    assert status_of(c.get_token_vault()) == 200
    expect_error(c.list_workload_identities, code="AccessDeniedException", status=403)
    expect_error(c.list_api_key_credential_providers, code="AccessDeniedException", status=403)


def test_resource_scoped_allow(server, client):
    """Allow on the directory ARN permits List but not Get of an identity."""
    name = uname("scoped")
    client.create_workload_identity(name=name)
    policy = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "bedrock-agentcore:*", "Resource": server.arn("wi-dir")}]}
    k = create_key(server.data_dir, "dir-only", policy)
    c = server.client(k["accessKeyId"], k["secretAccessKey"])
    assert status_of(c.list_workload_identities(maxResults=1)) == 200
    expect_error(c.get_workload_identity, name=name, code="AccessDeniedException", status=403)
    expect_error(c.list_oauth2_credential_providers, code="AccessDeniedException", status=403)


def test_account_isolation(server, client):
    shared, mine = uname("shared"), uname("mine")
    client.create_workload_identity(name=shared, tags={"acct": "zero"})
    client.create_api_key_credential_provider(name=shared, apiKey=new_secret("apikey-sekret-"))
    k = create_key(server.data_dir, "other-account", ALLOW_ALL, account="111111111111")
    assert k["accountId"] == "111111111111"
    other = server.client(k["accessKeyId"], k["secretAccessKey"])

    expect_error(other.get_workload_identity, name=shared, code="ResourceNotFoundException",
                 status=404)
    expect_error(other.get_api_key_credential_provider, name=shared,
                 code="ResourceNotFoundException", status=404)
    assert shared not in [i["name"] for i in list_all(other, "list_workload_identities",
                                                      "workloadIdentities")]
    assert shared not in [i["name"] for i in list_all(other, "list_api_key_credential_providers",
                                                      "credentialProviders")]
    # another account's ARN: not visible
    with pytest.raises(ClientError) as ei:
        other.list_tags_for_resource(resourceArn=server.arn("wi", shared))
    assert ei.value.response["Error"]["Code"] in ("ResourceNotFoundException",
                                                   "AccessDeniedException")

    for fn, kw in ((other.tag_resource, {"tags": {"acct": "hijacked"}}),
                   (other.untag_resource, {"tagKeys": ["acct"]})):
        with pytest.raises(ClientError) as ei:
            fn(resourceArn=server.arn("wi", shared), **kw)
        assert ei.value.response["Error"]["Code"] in ("ResourceNotFoundException",
                                                       "AccessDeniedException")
    assert client.list_tags_for_resource(resourceArn=server.arn("wi", shared))["tags"] == {
        "acct": "zero"}

    # own creations live in 111111111111, even under a name taken in 000000000000
    r = other.create_workload_identity(name=shared, tags={"acct": "one"})
    assert r["workloadIdentityArn"] == server.arn("wi", shared, account="111111111111")
    r = other.create_workload_identity(name=mine)
    assert r["workloadIdentityArn"] == server.arn("wi", mine, account="111111111111")
    r = other.create_oauth2_credential_provider(
        name=mine, credentialProviderVendor="GoogleOauth2",
        oauth2ProviderConfigInput=vendor_config("GoogleOauth2", "c", new_secret()))
    assert r["credentialProviderArn"] == server.arn("oauth2", mine, account="111111111111")
    assert ":111111111111:" in r["clientSecretArn"]["secretArn"]
    r = other.create_api_key_credential_provider(name=mine, apiKey=new_secret("apikey-sekret-"))
    assert r["credentialProviderArn"] == server.arn("apikey", mine, account="111111111111")

    assert other.list_tags_for_resource(
        resourceArn=server.arn("wi", shared, account="111111111111"))["tags"] == {"acct": "one"}
    assert client.list_tags_for_resource(resourceArn=server.arn("wi", shared))["tags"] == {
        "acct": "zero"}
    assert client.get_workload_identity(name=shared)["workloadIdentityArn"] == server.arn("wi", shared)
    for fn in (client.get_workload_identity, client.get_oauth2_credential_provider,
               client.get_api_key_credential_provider):
        expect_error(fn, name=mine, code="ResourceNotFoundException", status=404)
    assert mine not in [i["name"] for i in list_all(client, "list_workload_identities",
                                                    "workloadIdentities")]
    # deleting in one account leaves the other's alone
    other.delete_workload_identity(name=shared)
    assert client.get_workload_identity(name=shared)["name"] == shared


def test_keys_list_shows_no_secrets(server):
    k = create_key(server.data_dir, "listed", RO_POLICY)
    cp = run_warrant("keys", "list", "--data-dir", str(server.data_dir))
    assert cp.returncode == 0, cp.stderr
    out = cp.stdout.decode()
    rows = json.loads(out)
    assert isinstance(rows, list)
    ids = {r["accessKeyId"]: r for r in rows}
    assert ADMIN_KEY_ID in ids
    row = ids[k["accessKeyId"]]
    assert row["name"] == "listed"
    assert row["accountId"] == "000000000000"
    assert row.get("createdAt")
    for r in rows:
        assert set(r) >= {"accessKeyId", "name", "accountId", "createdAt"}
        assert not any("secret" in key.lower() for key in r), r
    for s in SECRETS:
        assert s not in out
        assert s not in cp.stderr.decode()


def test_keys_delete_makes_key_unrecognized(server):
    k = create_key(server.data_dir, "doomed", ALLOW_ALL)
    c = server.client(k["accessKeyId"], k["secretAccessKey"])
    assert status_of(c.get_token_vault()) == 200
    cp = run_warrant("keys", "delete", k["accessKeyId"], "--data-dir", str(server.data_dir))
    assert cp.returncode == 0, cp.stderr
    time.sleep(0.2)  # the server's cache refresh interval is 10 ms by default
    expect_error(c.get_token_vault, code="UnrecognizedClientException", status=403)
    cp = run_warrant("keys", "list", "--data-dir", str(server.data_dir))
    assert k["accessKeyId"] not in cp.stdout.decode()


@pytest.mark.parametrize("policy", [
    {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "NotAction": "bedrock-agentcore:Get*", "Resource": "*"}]},
    {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "*", "Resource": "*",
         "Condition": {"StringEquals": {"aws:RequestedRegion": "us-east-1"}}}]},
    {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}]},
    {"Version": "2012-10-17", "Statement": [
        {"Effect": "Maybe", "Action": "*", "Resource": "*"}]},
    "this is not json",
], ids=["NotAction", "Condition", "Principal", "bad-effect", "not-json"])
def test_keys_create_refuses_unsupported_policy(server, tmp_path, policy):
    pf = tmp_path / "p.json"
    pf.write_text(policy if isinstance(policy, str) else json.dumps(policy))
    cp = run_warrant("keys", "create", "--name", "nope", "--policy", str(pf),
                     "--data-dir", str(server.data_dir))
    assert cp.returncode != 0, cp.stdout
    assert b"secretAccessKey" not in cp.stdout


def test_keys_create_bad_account(server, tmp_path):
    pf = tmp_path / "p.json"
    pf.write_text(json.dumps(ALLOW_ALL))
    cp = run_warrant("keys", "create", "--name", "badacct", "--policy", str(pf),
                     "--account-id", "1234", "--data-dir", str(server.data_dir))
    assert cp.returncode != 0
