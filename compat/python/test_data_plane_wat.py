"""Data plane I: workload access tokens (WAT), GetResourceApiKey, the workload provider
allowlist (native API and CLI), and WAT signing keys across restarts.

boto3's `bedrock-agentcore` client where it can go; raw SigV4 requests (helpers.raw_call)
for warrant's own routes and for inputs boto3 refuses to send. Every WAT is verified
independently of warrant: Ed25519 over "header.payload" with the key of the JWKS
(`cryptography`), so a server that signs wrongly cannot pass by agreeing with itself.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import re
import sqlite3
import time

import pytest
from botocore.exceptions import ClientError
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (Ed25519PrivateKey,
                                                                Ed25519PublicKey)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

import helpers
from helpers import (ACCOUNT, SESSION_PUBLIC_URL, assert_raw_error, create_key, expect_error,
                     http_get, new_secret, raw_call, register_secret, run_warrant,
                     scan_tree_for, secret_variants, status_of, uname)

WAT_AUDIENCE = "warrant:workload-access-token"
OTHER_ACCOUNT = "111111111111"
WAT_TTL_DEFAULT = 900
CLAIMS = {"iss", "aud", "sub", "workload_name", "account", "workload_version", "iat", "exp",
          "jti"}

ALLOW_ALL = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "bedrock-agentcore:*", "Resource": "*"}]}


# ---------------------------------------------------------------------------------------
# helpers of this module
# ---------------------------------------------------------------------------------------


def b64u_dec(s: str) -> bytes:
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def b64u_enc(b: bytes) -> str:
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def b64u_json(obj) -> str:
    return b64u_enc(json.dumps(obj, separators=(",", ":")).encode())


def fetch_jwks(server) -> dict:
    st, hdrs, body = http_get(server.port, "/.well-known/jwks.json")
    assert st == 200, (st, body[:300])
    assert hdrs.get("content-type", "").split(";")[0].strip() == "application/jwk-set+json", hdrs
    doc = json.loads(body)
    assert isinstance(doc, dict) and isinstance(doc.get("keys"), list), doc
    return doc


def split_wat(token: str):
    parts = token.split(".")
    assert len(parts) == 3, f"not a compact JWS of three parts: {len(parts)} parts"
    for p in parts:
        assert p and re.fullmatch(r"[A-Za-z0-9_-]+", p), "a part is not unpadded base64url"
    return json.loads(b64u_dec(parts[0])), json.loads(b64u_dec(parts[1])), b64u_dec(parts[2])


def verify_wat(server, token: str) -> tuple[dict, dict]:
    """Verify `token` with the JWKS of `server` (independently of warrant) and return
    (header, claims). Raises InvalidSignature (or AssertionError) when it does not verify."""
    header, claims, sig = split_wat(token)
    keys = {k["kid"]: k for k in fetch_jwks(server)["keys"]}
    assert header.get("kid") in keys, f"kid {header.get('kid')!r} not in the JWKS {list(keys)}"
    pub = Ed25519PublicKey.from_public_bytes(b64u_dec(keys[header["kid"]]["x"]))
    h, p, _ = token.split(".")
    pub.verify(sig, f"{h}.{p}".encode())
    return header, claims


def metrics_text(server) -> str:
    st, hdrs, body = http_get(server.port, "/metrics")
    assert st == 200, (st, body[:300])
    assert hdrs.get("content-type", "").startswith("text/plain"), hdrs
    return body.decode()


_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$")


def metric(server, name: str, **labels) -> float:
    """The value of the series `name{labels}` exactly (0 while it does not exist yet)."""
    for line in metrics_text(server).splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        m = _SAMPLE.match(line.strip())
        assert m, f"unparseable metrics line: {line!r}"
        got = dict(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
        if m.group(1) == name and got == labels:
            return float(m.group(3))
    return 0.0


def released(server) -> float:
    return metric(server, "warrant_credentials_released_total", kind="api_key")


def issued(server) -> float:
    return metric(server, "warrant_workload_access_tokens_issued_total")


def new_workload(client, name: str | None = None) -> str:
    name = name or uname("wl")
    assert status_of(client.create_workload_identity(name=name)) == 201
    return name


def new_apikey_provider(client, name: str | None = None) -> tuple[str, str]:
    name = name or uname("ak")
    key = new_secret("apikey-sekret-")
    assert status_of(client.create_api_key_credential_provider(name=name, apiKey=key)) == 201
    return name, key


def wat(data_client, workload: str, user_id: str | None = None) -> str:
    if user_id is None:
        resp = data_client.get_workload_access_token(workloadName=workload)
    else:
        resp = data_client.get_workload_access_token_for_user_id(workloadName=workload,
                                                                  userId=user_id)
    assert status_of(resp) == 200
    assert set(resp) == {"workloadAccessToken", "ResponseMetadata"}, resp.keys()
    # a WAT is a bearer credential: it must never show up in a log or a data dir
    return register_secret(resp["workloadAccessToken"])


def api_key(data_client, token: str, provider: str) -> str:
    resp = data_client.get_resource_api_key(workloadIdentityToken=token,
                                            resourceCredentialProviderName=provider)
    assert status_of(resp) == 200
    assert set(resp) == {"apiKey", "ResponseMetadata"}, resp.keys()
    return resp["apiKey"]


def no_token_in(msg: str, token: str) -> None:
    """The error message names no part of the token (nor the token itself)."""
    assert token not in msg, f"the message contains the token: {msg!r}"
    for part in token.split("."):
        if len(part) >= 12:
            assert part not in msg, f"the message contains a part of the token: {msg!r}"


def expect_unauthorized(data_client, token: str, provider: str,
                        contains: str | tuple[str, ...] | None = None):
    """401 UnauthorizedException naming the failed check (`contains`: any of these words),
    and no part of the token in the message."""
    msg = expect_error(data_client.get_resource_api_key, workloadIdentityToken=token,
                       resourceCredentialProviderName=provider,
                       code="UnauthorizedException", status=401)
    no_token_in(msg, token)
    if contains is not None:
        words = (contains,) if isinstance(contains, str) else contains
        assert any(w.lower() in msg.lower() for w in words), (words, msg)
    return msg


def allowlist_path(name: str) -> str:
    return f"/warrant/v1/workload-identities/{name}/allowed-providers"


def put_allowlist(server, name: str, providers, **kw):
    return raw_call(server, allowlist_path(name), {"allowedProviders": providers}, method="PUT",
                    **kw)


def get_allowlist(server, name: str, **kw):
    return raw_call(server, allowlist_path(name), None, method="GET", **kw)


def delete_allowlist(server, name: str, **kw):
    return raw_call(server, allowlist_path(name), None, method="DELETE", **kw)


def allowlist_of(server, name: str):
    r = get_allowlist(server, name)
    assert r.status == 200, r
    assert r.json["workloadName"] == name
    return r.json["allowedProviders"]


@pytest.fixture(scope="module")
def setup(server, client, data_client):
    """A workload, two API key providers and a WAT on the session server."""
    wl = new_workload(client)
    p1, k1 = new_apikey_provider(client)
    p2, k2 = new_apikey_provider(client)
    return {"wl": wl, "p1": p1, "k1": k1, "p2": p2, "k2": k2, "token": wat(data_client, wl)}


# ---------------------------------------------------------------------------------------
# 1. GetWorkloadAccessToken / ...ForUserId
# ---------------------------------------------------------------------------------------


def test_jwks_document(server):
    doc = fetch_jwks(server)
    assert set(doc) == {"keys"}
    keys = doc["keys"]
    assert len(keys) >= 2, f"expected the current and the next key: {keys}"
    kids = [k["kid"] for k in keys]
    assert len(set(kids)) == len(kids), kids
    xs = set()
    for k in keys:
        assert set(k) == {"kty", "crv", "x", "kid", "alg", "use"}, k
        assert (k["kty"], k["crv"], k["alg"], k["use"]) == ("OKP", "Ed25519", "EdDSA", "sig"), k
        assert isinstance(k["kid"], str) and k["kid"]
        assert re.fullmatch(r"[A-Za-z0-9_-]{43}", k["x"]), k["x"]  # 32 bytes, no padding
        Ed25519PublicKey.from_public_bytes(b64u_dec(k["x"]))
        xs.add(k["x"])
    assert len(xs) == len(keys), "two kids share a public key"
    # unauthenticated, and the same on the next read
    assert fetch_jwks(server) == doc


def test_get_workload_access_token(server, client, data_client):
    name = new_workload(client)
    created = client.get_workload_identity(name=name)["createdTime"]
    before = issued(server)
    t0 = time.time()
    token = wat(data_client, name)
    t1 = time.time()
    assert issued(server) == before + 1

    header, claims = verify_wat(server, token)
    assert set(header) == {"alg", "typ", "kid"}, header
    assert header["alg"] == "EdDSA" and header["typ"] == "wat+jwt", header
    assert header["kid"] in [k["kid"] for k in fetch_jwks(server)["keys"]]

    assert set(claims) == CLAIMS, claims
    assert claims["iss"] == SESSION_PUBLIC_URL
    assert claims["aud"] == WAT_AUDIENCE
    assert claims["sub"] == server.arn("wi", name)
    assert claims["workload_name"] == name
    assert claims["account"] == ACCOUNT
    assert "user" not in claims
    for k in ("iat", "exp", "workload_version"):
        assert isinstance(claims[k], int) and not isinstance(claims[k], bool), claims
    assert int(t0) - 1 <= claims["iat"] <= t1 + 1, (claims["iat"], t0, t1)
    assert claims["exp"] - claims["iat"] == WAT_TTL_DEFAULT
    # workload_version is the workload's creation time in ms
    assert abs(claims["workload_version"] / 1000 - created.timestamp()) < 1.0, (
        claims["workload_version"], created)
    assert isinstance(claims["jti"], str) and len(claims["jti"]) >= 16

    # the independent verification can fail: one changed payload byte breaks it
    h, p, s = token.split(".")
    forged = b64u_json({**claims, "workload_name": "someone-else"})
    with pytest.raises(InvalidSignature):
        Ed25519PublicKey.from_public_bytes(b64u_dec(
            {k["kid"]: k for k in fetch_jwks(server)["keys"]}[header["kid"]]["x"])
        ).verify(b64u_dec(s), f"{h}.{forged}".encode())


def test_get_workload_access_token_for_user_id(server, client, data_client):
    name = new_workload(client)
    user = "alice@example.test/" + uname("u")
    before = issued(server)
    token = wat(data_client, name, user_id=user)
    assert issued(server) == before + 1
    header, claims = verify_wat(server, token)
    assert set(header) == {"alg", "typ", "kid"}
    assert (header["alg"], header["typ"]) == ("EdDSA", "wat+jwt")
    assert set(claims) == CLAIMS | {"user"}, claims
    assert claims["user"] == {"user_id": user}
    assert claims["iss"] == SESSION_PUBLIC_URL
    assert claims["aud"] == WAT_AUDIENCE
    assert claims["sub"] == server.arn("wi", name)
    assert claims["workload_name"] == name
    assert claims["account"] == ACCOUNT
    assert claims["exp"] - claims["iat"] == WAT_TTL_DEFAULT


def test_user_id_boundaries(client, data_client, server):
    name = new_workload(client)
    # lengths count characters (code points), not bytes
    for user in ("u", "U" * 128, "ü" * 128, "🔑" * 128, "ünïcödé user with spaces", "a/b:c@d",
                 " "):
        _, claims = verify_wat(server, wat(data_client, name, user_id=user))
        assert claims["user"] == {"user_id": user}


def test_every_token_is_new(server, client, data_client):
    name = new_workload(client)
    tokens = [wat(data_client, name) for _ in range(4)]
    tokens += [wat(data_client, name, user_id="bob") for _ in range(2)]
    assert len(set(tokens)) == len(tokens)
    jtis = [verify_wat(server, t)[1]["jti"] for t in tokens]
    assert len(set(jtis)) == len(jtis), jtis


def test_workload_name_boundaries(server, client, data_client):
    for name in ("w" + uname("")[-2:], uname("wl.with_dots-and_"), ("W" * 243) + uname("")[-12:]):
        assert 3 <= len(name) <= 255
        new_workload(client, name)
        _, claims = verify_wat(server, wat(data_client, name))
        assert claims["workload_name"] == name
        assert claims["sub"] == server.arn("wi", name)


# ---------------------------------------------------------------------------------------
# 2. policy, unknown workloads, input validation
# ---------------------------------------------------------------------------------------


def test_actions_are_separate(server, client):
    name = new_workload(client)
    arn = server.arn("wi", name)
    only_plain = create_key(server.data_dir, "wat-plain", {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "bedrock-agentcore:GetWorkloadAccessToken",
         "Resource": arn}]})
    only_user = create_key(server.data_dir, "wat-user", {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "bedrock-agentcore:GetWorkloadAccessTokenForUserId",
         "Resource": arn}]})
    dp = server.data_client(only_plain["accessKeyId"], only_plain["secretAccessKey"])
    du = server.data_client(only_user["accessKeyId"], only_user["secretAccessKey"])

    verify_wat(server, wat(dp, name))
    verify_wat(server, wat(du, name, user_id="carol"))
    before = issued(server)
    expect_error(dp.get_workload_access_token_for_user_id, workloadName=name, userId="carol",
                 code="AccessDeniedException", status=403)
    expect_error(du.get_workload_access_token, workloadName=name,
                 code="AccessDeniedException", status=403)
    # the allow is on this workload only; policy comes before the lookup, so an unknown
    # name is denied too (no existence oracle)
    other = new_workload(client)
    expect_error(dp.get_workload_access_token, workloadName=other,
                 code="AccessDeniedException", status=403)
    expect_error(dp.get_workload_access_token, workloadName=uname("nope"),
                 code="AccessDeniedException", status=403)
    assert issued(server) == before


def test_deny_on_api_key_provider_arn(server, client, setup):
    wl, p1, p2 = setup["wl"], setup["p1"], setup["p2"]
    k = create_key(server.data_dir, "deny-apikey", {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "bedrock-agentcore:*", "Resource": "*"},
        {"Effect": "Deny", "Action": "bedrock-agentcore:GetResourceApiKey",
         "Resource": server.arn("apikey", p1)}]})
    dc = server.data_client(k["accessKeyId"], k["secretAccessKey"])
    token = wat(dc, wl)
    before = released(server)
    msg = expect_error(dc.get_resource_api_key, workloadIdentityToken=token,
                       resourceCredentialProviderName=p1,
                       code="AccessDeniedException", status=403)
    no_token_in(msg, token)
    assert setup["k1"] not in msg
    assert released(server) == before
    assert api_key(dc, token, p2) == setup["k2"]
    assert released(server) == before + 1


def test_no_get_resource_api_key_action(server, setup):
    k = create_key(server.data_dir, "no-apikey", {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "bedrock-agentcore:GetWorkloadAccessToken",
         "Resource": "*"}]})
    dc = server.data_client(k["accessKeyId"], k["secretAccessKey"])
    token = wat(dc, setup["wl"])
    expect_error(dc.get_resource_api_key, workloadIdentityToken=token,
                 resourceCredentialProviderName=setup["p1"],
                 code="AccessDeniedException", status=403)
    # not even an existence oracle: an unknown provider is denied the same way
    expect_error(dc.get_resource_api_key, workloadIdentityToken=token,
                 resourceCredentialProviderName=uname("nope"),
                 code="AccessDeniedException", status=403)


def test_unknown_workload(server, data_client):
    before = issued(server)
    name = uname("ghost")
    expect_error(data_client.get_workload_access_token, workloadName=name,
                 code="ResourceNotFoundException", status=404)
    expect_error(data_client.get_workload_access_token_for_user_id, workloadName=name,
                 userId="dave", code="ResourceNotFoundException", status=404)
    assert issued(server) == before


WAT_OP = "/identities/GetWorkloadAccessToken"
WAT_USER_OP = "/identities/GetWorkloadAccessTokenForUserId"
EXISTING = "__existing__"  # replaced by the module's workload

WAT_BAD_INPUTS = [
    ({}, "workloadName"),
    ({"workloadName": None}, "workloadName"),
    ({"workloadName": ""}, "workloadName"),
    ({"workloadName": "ab"}, "workloadName"),
    ({"workloadName": "a" * 256}, "workloadName"),
    ({"workloadName": "bad name"}, "workloadName"),
    ({"workloadName": "bad/name"}, "workloadName"),
    ({"workloadName": "bäd-name"}, "workloadName"),
    ({"workloadName": "bad:name"}, "workloadName"),
    ({"workloadName": 123}, "workloadName"),
    ({"workloadName": True}, "workloadName"),
    ({"workloadName": ["abc"]}, "workloadName"),
    ({"workloadName": {"name": "abc"}}, "workloadName"),
]
USER_BAD_INPUTS = WAT_BAD_INPUTS + [
    ({"workloadName": EXISTING}, "userId"),
    ({"workloadName": EXISTING, "userId": None}, "userId"),
    ({"workloadName": EXISTING, "userId": ""}, "userId"),
    ({"workloadName": EXISTING, "userId": "u" * 129}, "userId"),
    ({"workloadName": EXISTING, "userId": 42}, "userId"),
    ({"workloadName": EXISTING, "userId": ["alice"]}, "userId"),
    ({"workloadName": EXISTING, "userId": {"id": "alice"}}, "userId"),
]


def _fill(body: dict, name: str) -> dict:
    return {k: (name if v == EXISTING else v) for k, v in body.items()}


@pytest.mark.parametrize("path,cases", [(WAT_OP, WAT_BAD_INPUTS), (WAT_USER_OP, USER_BAD_INPUTS)],
                         ids=["GetWorkloadAccessToken", "ForUserId"])
def test_wat_input_validation(server, setup, path, cases):
    before = issued(server)
    for body, field in cases:
        body = _fill(body, setup["wl"])
        if path == WAT_USER_OP and "userId" not in body and field == "workloadName":
            body["userId"] = "alice"
        r = raw_call(server, path, body)
        try:
            assert_raw_error(r, "ValidationException", 400, field=field)
        except AssertionError as e:
            raise AssertionError(f"{path} {body!r}: {e}") from None
        assert "workloadAccessToken" not in (r.json or {})
    # not JSON at all
    r = raw_call(server, path, b"{not json")
    assert r.status == 400, r
    assert "workloadAccessToken" not in (r.json or {})
    assert issued(server) == before
    # control: the same call with valid input works
    good = {"workloadName": setup["wl"]} | ({"userId": "alice"} if path == WAT_USER_OP else {})
    r = raw_call(server, path, good)
    assert r.status == 200, r
    register_secret(r.json["workloadAccessToken"])
    assert issued(server) == before + 1


def test_wat_input_validation_through_boto3(data_client, setup):
    """boto3 checks only types and minimum lengths; the server checks the rest."""
    for kw, field in (({"workloadName": "x" * 256}, "workloadName"),
                      ({"workloadName": "no spaces"}, "workloadName"),
                      ({"workloadName": setup["wl"], "userId": "u" * 129}, "userId")):
        fn = (data_client.get_workload_access_token_for_user_id if "userId" in kw
              else data_client.get_workload_access_token)
        expect_error(fn, **kw, code="ValidationException", status=400, field=field)


# ---------------------------------------------------------------------------------------
# 3. GetResourceApiKey
# ---------------------------------------------------------------------------------------


def test_get_resource_api_key_and_metric(server, data_client, setup):
    before = released(server)
    assert api_key(data_client, setup["token"], setup["p1"]) == setup["k1"]
    assert released(server) == before + 1
    assert api_key(data_client, setup["token"], setup["p2"]) == setup["k2"]
    assert released(server) == before + 2
    # a WAT for a user releases the same key
    tu = wat(data_client, setup["wl"], user_id="erin")
    assert api_key(data_client, tu, setup["p1"]) == setup["k1"]
    assert released(server) == before + 3


def test_api_key_exact_bytes(server, client, data_client, setup):
    """No trimming, escaping or re-encoding: unicode, quotes, backslashes, long keys."""
    for raw in ("  spaced key \t", 'qu"ote\\back\\slash', "ünïcödé-κλειδί-🔑", "k" * 60000):
        key = register_secret(raw + "-" + uname("s"))
        name = uname("akx")
        client.create_api_key_credential_provider(name=name, apiKey=key)
        assert api_key(data_client, setup["token"], name) == key


def test_api_key_after_update(server, client, data_client, setup):
    name, old = new_apikey_provider(client)
    assert api_key(data_client, setup["token"], name) == old
    new = new_secret("apikey-sekret-")
    assert status_of(client.update_api_key_credential_provider(name=name, apiKey=new)) == 200
    got = api_key(data_client, setup["token"], name)
    assert got == new and got != old


def test_unknown_and_deleted_provider(server, client, data_client, setup):
    before = released(server)
    missing = uname("nope")
    msg = expect_error(data_client.get_resource_api_key, workloadIdentityToken=setup["token"],
                       resourceCredentialProviderName=missing,
                       code="ResourceNotFoundException", status=404, contains="does not exist")
    no_token_in(msg, setup["token"])
    name, key = new_apikey_provider(client)
    assert api_key(data_client, setup["token"], name) == key
    client.delete_api_key_credential_provider(name=name)
    expect_error(data_client.get_resource_api_key, workloadIdentityToken=setup["token"],
                 resourceCredentialProviderName=name,
                 code="ResourceNotFoundException", status=404, contains="does not exist")
    # an OAuth2 provider of that name is not an API key provider
    assert released(server) == before + 1


APIKEY_OP = "/identities/api-key"


def test_get_resource_api_key_input_validation(server, setup):
    tok, p1 = setup["token"], setup["p1"]
    before = released(server)
    cases = [
        ({"resourceCredentialProviderName": p1}, "workloadIdentityToken"),
        ({"workloadIdentityToken": "", "resourceCredentialProviderName": p1},
         "workloadIdentityToken"),
        ({"workloadIdentityToken": 7, "resourceCredentialProviderName": p1},
         "workloadIdentityToken"),
        ({"workloadIdentityToken": [tok], "resourceCredentialProviderName": p1},
         "workloadIdentityToken"),
        ({"workloadIdentityToken": tok}, "resourceCredentialProviderName"),
        ({"workloadIdentityToken": tok, "resourceCredentialProviderName": ""},
         "resourceCredentialProviderName"),
        ({"workloadIdentityToken": tok, "resourceCredentialProviderName": "a" * 129},
         "resourceCredentialProviderName"),
        ({"workloadIdentityToken": tok, "resourceCredentialProviderName": "has.dot"},
         "resourceCredentialProviderName"),
        ({"workloadIdentityToken": tok, "resourceCredentialProviderName": "sp ace"},
         "resourceCredentialProviderName"),
        ({"workloadIdentityToken": tok, "resourceCredentialProviderName": 5},
         "resourceCredentialProviderName"),
        # input validation comes before WAT verification
        ({"workloadIdentityToken": "garbage-garbage", "resourceCredentialProviderName": "x y"},
         "resourceCredentialProviderName"),
    ]
    for body, field in cases:
        r = raw_call(server, APIKEY_OP, body)
        try:
            assert_raw_error(r, "ValidationException", 400, field=field)
        except AssertionError as e:
            raise AssertionError(f"{list(body)} -> {e}") from None
        no_token_in(r.message, tok)
        assert "apiKey" not in (r.json or {})
    assert released(server) == before


def test_other_account(server, client, data_client):
    k = create_key(server.data_dir, "acct-one", ALLOW_ALL, account=OTHER_ACCOUNT)
    oc = server.client(k["accessKeyId"], k["secretAccessKey"])
    od = server.data_client(k["accessKeyId"], k["secretAccessKey"])
    wl, shared, only_zero = uname("wl"), uname("ak"), uname("ak0")
    new_workload(client, wl)
    new_workload(oc, wl)
    _, key0 = new_apikey_provider(client, shared)
    _, key1 = new_apikey_provider(oc, shared)
    new_apikey_provider(client, only_zero)

    t0, t1 = wat(data_client, wl), wat(od, wl)
    _, c0 = verify_wat(server, t0)
    _, c1 = verify_wat(server, t1)
    assert c1["account"] == OTHER_ACCOUNT
    assert c1["sub"] == server.arn("wi", wl, account=OTHER_ACCOUNT)
    assert c0["sub"] == server.arn("wi", wl)
    assert c0["workload_name"] == c1["workload_name"] == wl

    assert api_key(data_client, t0, shared) == key0
    assert api_key(od, t1, shared) == key1
    before = released(server)
    expect_error(od.get_resource_api_key, workloadIdentityToken=t1,
                 resourceCredentialProviderName=only_zero,
                 code="ResourceNotFoundException", status=404)
    only_one, _ = new_apikey_provider(oc)
    expect_error(data_client.get_resource_api_key, workloadIdentityToken=t0,
                 resourceCredentialProviderName=only_one,
                 code="ResourceNotFoundException", status=404)
    # a WAT of the other account: refused both ways, whatever the provider
    for dc, token in ((od, t0), (data_client, t1)):
        for provider in (shared, only_zero):
            msg = expect_error(dc.get_resource_api_key, workloadIdentityToken=token,
                               resourceCredentialProviderName=provider,
                               code="AccessDeniedException", status=403,
                               contains="not issued to this account")
            no_token_in(msg, token)
    assert released(server) == before
    # the other account's WAT issuance does not see account 0's workloads
    expect_error(od.get_workload_access_token, workloadName=new_workload(client),
                 code="ResourceNotFoundException", status=404)
    # nor its allowlists
    r = get_allowlist(server, wl, key_id=k["accessKeyId"], secret=k["secretAccessKey"])
    assert r.status == 403, r  # bedrock-agentcore:* does not cover warrant:* actions
    kw = create_key(server.data_dir, "acct-one-w", {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["bedrock-agentcore:*", "warrant:*"], "Resource": "*"}]},
        account=OTHER_ACCOUNT)
    assert put_allowlist(server, wl, [shared], key_id=kw["accessKeyId"],
                         secret=kw["secretAccessKey"]).status == 200
    assert allowlist_of(server, wl) is None  # account 0's workload is untouched
    ghost = new_workload(client)
    assert_raw_error(get_allowlist(server, ghost, key_id=kw["accessKeyId"],
                                   secret=kw["secretAccessKey"]),
                     "ResourceNotFoundException", 404)


# ---------------------------------------------------------------------------------------
# 4. hostile workload access tokens
# ---------------------------------------------------------------------------------------


def _forge(token: str, **header_changes):
    h, p, s = token.split(".")
    header = json.loads(b64u_dec(h))
    header.update(header_changes)
    header = {k: v for k, v in header.items() if v is not None}
    return b64u_json(header), p, s


def _change_char(part: str, i: int) -> str:
    c = part[i]
    return part[:i] + ("A" if c != "A" else "B") + part[i + 1:]


def hostile_tokens(good: str, next_kid: str) -> dict[str, tuple[str, str | None]]:
    """name -> (token, a word the message must contain, or None)."""
    h, p, s = good.split(".")
    out: dict[str, tuple[str, str | None]] = {}
    for i, g in enumerate(["garbage-garbage-garbage", "not a token at all, just words",
                           "eyJhbGciOiJub25lIn0", "x" * 5000, "....", "a.b.c",
                           "ünïcödé.ünïcödé.ünïcödé", "%00%00%00.e30.e30"]):
        out[f"garbage-{i}"] = (g, "malformed")
    # the signed bytes changed: whichever check runs first fails
    out["payload-char-changed"] = (f"{h}.{_change_char(p, len(p) // 2)}.{s}",
                                   ("signature does not verify", "malformed"))
    out["payload-first-char-changed"] = (f"{h}.{_change_char(p, 0)}.{s}",
                                         ("signature does not verify", "malformed"))
    out["signature-char-changed"] = (f"{h}.{p}.{_change_char(s, 10)}", "signature")
    out["header-char-changed"] = (f"{_change_char(h, len(h) // 2)}.{p}.{s}", None)
    nh, np_, ns = _forge(good, alg="none")
    out["alg-none"] = (f"{nh}.{np_}.{ns}", "malformed")
    out["alg-none-no-signature"] = (f"{nh}.{np_}.", "malformed")
    hh, hp, _ = _forge(good, alg="HS256")
    mac = hmac.new(b"any-shared-secret", f"{hh}.{hp}".encode(), hashlib.sha256).digest()
    out["alg-HS256"] = (f"{hh}.{hp}.{b64u_enc(mac)}", "malformed")
    th, tp, ts = _forge(good, typ="JWT")
    out["typ-JWT"] = (f"{th}.{tp}.{ts}", "malformed")
    xh, xp, xs = _forge(good, typ=None)
    out["no-typ"] = (f"{xh}.{xp}.{xs}", "malformed")
    jh, jp, js = _forge(good, jku="https://attacker.example.test/jwks.json")
    out["extra-jku-header"] = (f"{jh}.{jp}.{js}", None)
    kh, kp, ks = _forge(good, kid="no-such-kid")
    out["unknown-kid"] = (f"{kh}.{kp}.{ks}", "unknown key")
    ok_, op_, os_ = _forge(good, kid=next_kid)
    out["kid-of-the-other-key"] = (f"{ok_}.{op_}.{os_}", "signature does not verify")
    out["signature-stripped"] = (f"{h}.{p}.", "malformed")
    out["two-parts"] = (f"{h}.{p}", "malformed")
    out["four-parts"] = (f"{good}.{s}", "malformed")
    out["trailing-dot"] = (f"{good}.", "malformed")
    out["padded"] = (f"{h}.{p}.{s}==", "malformed")
    out["whitespace"] = (f" {good}", "malformed")
    out["bearer-prefix"] = (f"Bearer {good}", "malformed")
    out["signature-of-another-token"] = (None, "signature does not verify")  # filled in later
    # a JWT with valid structure but claims that are not a WAT's, signed by nobody
    fake_claims = b64u_json({"sub": "admin", "iat": 0, "exp": 9999999999})
    out["foreign-claims"] = (f"{h}.{fake_claims}.{s}", ("signature does not verify", "malformed"))
    # a key of the attacker's own, with its kid: unknown
    priv = Ed25519PrivateKey.generate()
    ah = b64u_json({"alg": "EdDSA", "typ": "wat+jwt", "kid": "attacker-kid"})
    sig = priv.sign(f"{ah}.{p}".encode())
    out["attacker-key"] = (f"{ah}.{p}.{b64u_enc(sig)}", "unknown key")
    # the attacker's key under the server's own kid
    gh = h
    sig = priv.sign(f"{gh}.{p}".encode())
    out["attacker-key-server-kid"] = (f"{gh}.{p}.{b64u_enc(sig)}", "signature does not verify")
    return out


def test_hostile_tokens(server, client, data_client, setup):
    good = setup["token"]
    header, _ = verify_wat(server, good)
    others = [k["kid"] for k in fetch_jwks(server)["keys"] if k["kid"] != header["kid"]]
    assert others, "the JWKS has only one key"
    cases = hostile_tokens(good, others[0])
    another = wat(data_client, new_workload(client))
    h, p, _ = good.split(".")
    cases["signature-of-another-token"] = (f"{h}.{p}.{another.split('.')[2]}",
                                           "signature does not verify")
    before = released(server)
    failures = []
    for case, (token, word) in cases.items():
        assert token != good
        try:
            expect_unauthorized(data_client, token, setup["p1"], contains=word)
        except AssertionError as e:
            failures.append(f"{case}: {e}")
    assert not failures, "\n".join(failures)
    assert released(server) == before
    # control: the good token still works
    assert api_key(data_client, good, setup["p1"]) == setup["k1"]


def test_token_length_limit(server, data_client, setup):
    good = setup["token"]
    h, p, s = good.split(".")
    # exactly 131072 characters: a length the model allows; refused as a bad token
    pad = 131072 - len(good)
    at_limit = f"{h}.{p}{'A' * pad}.{s}"
    assert len(at_limit) == 131072
    expect_unauthorized(data_client, at_limit, setup["p1"])
    over = at_limit + "A"
    msg = expect_error(data_client.get_resource_api_key, workloadIdentityToken=over,
                       resourceCredentialProviderName=setup["p1"],
                       code="ValidationException", status=400, field="workloadIdentityToken")
    no_token_in(msg, over)
    msg = expect_error(data_client.get_resource_api_key, workloadIdentityToken="Z" * 131073,
                       resourceCredentialProviderName=setup["p1"],
                       code="ValidationException", status=400, field="workloadIdentityToken")
    assert "Z" * 64 not in msg


def test_token_of_deleted_workload(server, client, data_client, setup):
    name = new_workload(client)
    token = wat(data_client, name)
    assert api_key(data_client, token, setup["p1"]) == setup["k1"]  # verified and memoised
    client.delete_workload_identity(name=name)
    before = released(server)
    expect_unauthorized(data_client, token, setup["p1"], contains="no longer exists")
    assert released(server) == before
    expect_error(data_client.get_workload_access_token, workloadName=name,
                 code="ResourceNotFoundException", status=404)


def test_token_of_recreated_workload(server, client, data_client, setup):
    name = new_workload(client)
    old = wat(data_client, name)
    assert api_key(data_client, old, setup["p1"]) == setup["k1"]
    client.delete_workload_identity(name=name)
    time.sleep(0.01)  # a different creation millisecond
    new_workload(client, name)
    before = released(server)
    expect_unauthorized(data_client, old, setup["p1"], contains="no longer exists")
    assert released(server) == before
    new = wat(data_client, name)
    assert verify_wat(server, new)[1]["workload_version"] > verify_wat(server, old)[1][
        "workload_version"]
    assert api_key(data_client, new, setup["p1"]) == setup["k1"]
    # and the old one stays refused after the new one was used
    expect_unauthorized(data_client, old, setup["p1"], contains="no longer exists")


def test_token_of_another_warrant_server(server, client, data_client, spawn, setup):
    # same public URL, account and workload name: only the keys differ
    other = spawn(label="other-warrant", public_url=SESSION_PUBLIC_URL)
    oc = other.client()
    new_workload(oc, setup["wl"])
    foreign = wat(other.data_client(), setup["wl"])
    fh, fc = verify_wat(other, foreign)
    assert fc["iss"] == SESSION_PUBLIC_URL and fc["sub"] == server.arn("wi", setup["wl"])
    assert fh["kid"] not in [k["kid"] for k in fetch_jwks(server)["keys"]]
    before = released(server)
    expect_unauthorized(data_client, foreign, setup["p1"], contains="unknown key")
    assert released(server) == before
    # and the other way round
    name, _ = new_apikey_provider(oc, setup["p1"])
    expect_unauthorized(other.data_client(), setup["token"], name, contains="unknown key")


def test_expired_token_and_ttl_flag(spawn):
    s = spawn(label="wat-ttl-2", args=["--wat-ttl", "2"], public_url="https://ttl.example.test")
    c, d = s.client(), s.data_client()
    wl = new_workload(c)
    p, key = new_apikey_provider(c)
    token = wat(d, wl)
    _, claims = verify_wat(s, token)
    assert claims["exp"] - claims["iat"] == 2
    assert claims["iss"] == "https://ttl.example.test"
    assert api_key(d, token, p) == key  # verified and memoised before it expires
    time.sleep(max(0.0, claims["exp"] - time.time()) + 0.3)
    before = released(s)
    expect_unauthorized(d, token, p, contains="expired")
    assert released(s) == before
    assert api_key(d, wat(d, wl), p) == key


@pytest.mark.parametrize("args", [["--wat-ttl", "0"], ["--wat-ttl", "86401"],
                                  ["--wat-ttl", "abc"], ["--signing-key-rotation", "59"]],
                         ids=["ttl-0", "ttl-86401", "ttl-abc", "rotation-59"])
def test_bad_wat_settings_refused(spawn, args):
    s = spawn(label="bad-wat-setting", args=args, start=False)
    rc = s.wait_exit()
    assert rc != 0, s.stderr_text()
    assert args[0].lstrip("-").replace("-", "_") in s.stderr_text().lower().replace("-", "_"), (
        s.stderr_text())


def test_good_wat_settings_accepted(spawn):
    s = spawn(label="ok-wat-setting", args=["--wat-ttl", "86400", "--signing-key-rotation", "60"],
              public_url="https://max-ttl.example.test")
    wl = new_workload(s.client())
    _, claims = verify_wat(s, wat(s.data_client(), wl))
    assert claims["exp"] - claims["iat"] == 86400


# ---------------------------------------------------------------------------------------
# 5. the workload provider allowlist
# ---------------------------------------------------------------------------------------


def test_allowlist_api(server, client, data_client):
    wl = new_workload(client)
    a, ka = new_apikey_provider(client)
    b, kb = new_apikey_provider(client)
    token = wat(data_client, wl)
    assert allowlist_of(server, wl) is None
    assert api_key(data_client, token, a) == ka and api_key(data_client, token, b) == kb

    r = put_allowlist(server, wl, [a])
    assert r.status == 200, r
    assert r.headers.get("content-type", "").startswith("application/json")
    assert r.json == {"workloadName": wl, "allowedProviders": [a]}
    assert allowlist_of(server, wl) == [a]
    assert api_key(data_client, token, a) == ka
    before = released(server)
    msg = expect_error(data_client.get_resource_api_key, workloadIdentityToken=token,
                       resourceCredentialProviderName=b,
                       code="AccessDeniedException", status=403, contains="allowed providers")
    no_token_in(msg, token)
    assert kb not in msg
    # the allowlist is checked before the provider is looked up: no existence oracle
    expect_error(data_client.get_resource_api_key, workloadIdentityToken=token,
                 resourceCredentialProviderName=uname("nope"),
                 code="AccessDeniedException", status=403, contains="allowed providers")
    # and it covers OAuth2 tokens as well
    expect_error(data_client.get_resource_oauth2_token, workloadIdentityToken=token,
                 resourceCredentialProviderName=b, scopes=[], oauth2Flow="M2M",
                 code="AccessDeniedException", status=403, contains="allowed providers")
    assert released(server) == before
    # a WAT issued after the change, and one for a user, are bound by it too
    expect_error(data_client.get_resource_api_key,
                 workloadIdentityToken=wat(data_client, wl, user_id="frank"),
                 resourceCredentialProviderName=b,
                 code="AccessDeniedException", status=403, contains="allowed providers")

    # a name on the list that does not exist: not found
    ghost = uname("ghost")
    assert put_allowlist(server, wl, [a, ghost]).status == 200
    assert sorted(allowlist_of(server, wl)) == sorted([a, ghost])
    expect_error(data_client.get_resource_api_key, workloadIdentityToken=token,
                 resourceCredentialProviderName=ghost,
                 code="ResourceNotFoundException", status=404)

    # [] allows nothing
    r = put_allowlist(server, wl, [])
    assert r.status == 200 and r.json == {"workloadName": wl, "allowedProviders": []}, r
    assert allowlist_of(server, wl) == []
    for p in (a, b):
        expect_error(data_client.get_resource_api_key, workloadIdentityToken=token,
                     resourceCredentialProviderName=p,
                     code="AccessDeniedException", status=403, contains="allowed providers")

    # PUT replaces
    assert put_allowlist(server, wl, [b, b]).status == 200
    assert allowlist_of(server, wl) == [b]
    assert api_key(data_client, token, b) == kb
    expect_error(data_client.get_resource_api_key, workloadIdentityToken=token,
                 resourceCredentialProviderName=a,
                 code="AccessDeniedException", status=403, contains="allowed providers")

    # DELETE restores the policy-only behaviour
    r = delete_allowlist(server, wl)
    assert r.status == 204, r
    assert r.body == b""
    assert allowlist_of(server, wl) is None
    assert api_key(data_client, token, a) == ka and api_key(data_client, token, b) == kb
    # deleting again is fine (nothing set)
    assert delete_allowlist(server, wl).status == 204

    # other workloads are not affected by this one's list
    other = new_workload(client)
    assert put_allowlist(server, wl, [a]).status == 200
    assert api_key(data_client, wat(data_client, other), b) == kb
    # a workload deleted and created again starts without a list
    client.delete_workload_identity(name=wl)
    new_workload(client, wl)
    assert allowlist_of(server, wl) is None
    assert api_key(data_client, wat(data_client, wl), b) == kb


def test_allowlist_limits_and_bad_input(server, client):
    wl = new_workload(client)
    assert put_allowlist(server, wl, ["keep-me"]).status == 200
    hundred = [f"p-{i:03d}" for i in range(100)]
    bad = [
        ({}, "allowedProviders"),
        ({"allowedProviders": None}, "allowedProviders"),
        ({"allowedProviders": "keep-me"}, "allowedProviders"),
        ({"allowedProviders": {"a": "b"}}, "allowedProviders"),
        ({"allowedProviders": [123]}, "allowedProviders"),
        ({"allowedProviders": [None]}, "allowedProviders"),
        ({"allowedProviders": [""]}, "allowedProviders"),
        ({"allowedProviders": ["a" * 129]}, "allowedProviders"),
        ({"allowedProviders": ["bad name"]}, "allowedProviders"),
        ({"allowedProviders": ["bad.name"]}, "allowedProviders"),
        ({"allowedProviders": ["ok", "bad/name"]}, "allowedProviders"),
        ({"allowedProviders": hundred + ["p-100"]}, "allowedProviders"),
    ]
    for body, field in bad:
        r = raw_call(server, allowlist_path(wl), body, method="PUT")
        try:
            assert_raw_error(r, "ValidationException", 400, field=field)
        except AssertionError as e:
            raise AssertionError(f"{str(body)[:80]}: {e}") from None
    for raw in (None, b"not json", b"[]", b'"x"'):
        r = raw_call(server, allowlist_path(wl), raw, method="PUT")
        assert r.status == 400, (raw, r)
        assert r.error_type in ("ValidationException", "SerializationException"), (raw, r)
    assert allowlist_of(server, wl) == ["keep-me"]
    # the limits themselves are fine
    r = put_allowlist(server, wl, hundred)
    assert r.status == 200, r
    assert sorted(allowlist_of(server, wl)) == hundred
    longest = "L" * 128
    assert put_allowlist(server, wl, [longest, "a", "A-b_9"]).status == 200
    assert sorted(allowlist_of(server, wl)) == sorted([longest, "a", "A-b_9"])


def test_allowlist_unknown_workload(server):
    ghost = uname("ghost")
    for r in (put_allowlist(server, ghost, ["a"]), get_allowlist(server, ghost),
              delete_allowlist(server, ghost)):
        assert_raw_error(r, "ResourceNotFoundException", 404)
    # a bad workload name is a validation error
    for r in (get_allowlist(server, "ab"), put_allowlist(server, "a" * 256, ["a"]),
              delete_allowlist(server, "bad:name")):
        assert_raw_error(r, "ValidationException", 400)


def test_allowlist_needs_sigv4_and_the_warrant_actions(server, client):
    wl = new_workload(client)
    assert_raw_error(get_allowlist(server, wl, sign=False), "MissingAuthenticationTokenException",
                     403)
    assert_raw_error(put_allowlist(server, wl, [], secret="wrong-secret-wrong-secret"),
                     "InvalidSignatureException", 403)
    # bedrock-agentcore:* does not cover warrant's own actions
    k_all = create_key(server.data_dir, "ba-all", ALLOW_ALL)
    # Get only
    k_get = create_key(server.data_dir, "al-get", {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "warrant:GetWorkloadAllowedProviders",
         "Resource": server.arn("wi", wl)}]})
    # everything of warrant, but Put denied on this workload
    k_noput = create_key(server.data_dir, "al-noput", {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "warrant:*", "Resource": "*"},
        {"Effect": "Deny", "Action": "warrant:PutWorkloadAllowedProviders",
         "Resource": server.arn("wi", wl)}]})
    assert put_allowlist(server, wl, ["orig"]).status == 200
    for k in (k_all, k_get, k_noput):
        cred = {"key_id": k["accessKeyId"], "secret": k["secretAccessKey"]}
        assert_raw_error(put_allowlist(server, wl, ["hijack"], **cred), "AccessDeniedException", 403)
        if k is k_noput:
            # only Put was denied
            assert get_allowlist(server, wl, **cred).status == 200
        if k is k_get:
            r = get_allowlist(server, wl, **cred)
            assert r.status == 200 and r.json["allowedProviders"] == ["orig"], r
            assert_raw_error(delete_allowlist(server, wl, **cred), "AccessDeniedException", 403)
        if k is k_all:
            for r in (get_allowlist(server, wl, **cred), delete_allowlist(server, wl, **cred)):
                assert_raw_error(r, "AccessDeniedException", 403)
    assert allowlist_of(server, wl) == ["orig"]
    # the allow of k_get is for this workload only
    other = new_workload(client)
    assert_raw_error(get_allowlist(server, other, key_id=k_get["accessKeyId"],
                                   secret=k_get["secretAccessKey"]), "AccessDeniedException", 403)
    # k_noput may delete
    assert delete_allowlist(server, wl, key_id=k_noput["accessKeyId"],
                            secret=k_noput["secretAccessKey"]).status == 204
    assert allowlist_of(server, wl) is None


def test_update_workload_identity_keeps_allowlist(server, client, data_client, setup):
    wl = new_workload(client)
    token = wat(data_client, wl)
    assert put_allowlist(server, wl, [setup["p1"]]).status == 200
    up = client.update_workload_identity(name=wl,
                                         allowedResourceOauth2ReturnUrls=["https://a.test/cb"])
    assert status_of(up) == 200
    assert allowlist_of(server, wl) == [setup["p1"]]
    expect_error(data_client.get_resource_api_key, workloadIdentityToken=token,
                 resourceCredentialProviderName=setup["p2"],
                 code="AccessDeniedException", status=403, contains="allowed providers")
    assert api_key(data_client, token, setup["p1"]) == setup["k1"]
    # the update did not change the workload's version: its WATs still verify
    client.update_workload_identity(name=wl, allowedResourceOauth2ReturnUrls=[])
    assert allowlist_of(server, wl) == [setup["p1"]]
    assert api_key(data_client, token, setup["p1"]) == setup["k1"]


def _cli(data_dir, *args):
    cp = run_warrant("workloads", *args, "--data-dir", str(data_dir))
    return cp.returncode, cp.stdout.decode(), cp.stderr.decode()


# polls fn until it returns without AssertionError or ClientError, for at most 1 s
_eventually = functools.partial(helpers.eventually, timeout=1.0, step=0.02,
                                exceptions=(AssertionError, ClientError))


def test_allowlist_cli(spawn):
    s = spawn(label="allowlist-cli", public_url="https://cli.example.test")
    c, d = s.client(), s.data_client()
    wl = new_workload(c)
    a, ka = new_apikey_provider(c)
    b, kb = new_apikey_provider(c)
    token = wat(d, wl)
    assert api_key(d, token, b) == kb

    rc, out, err = _cli(s.data_dir, "set-providers", wl, "--provider", a)
    assert rc == 0, err
    assert json.loads(out) == {"workloadName": wl, "allowedProviders": [a]}

    def b_refused():
        expect_error(d.get_resource_api_key, workloadIdentityToken=token,
                     resourceCredentialProviderName=b,
                     code="AccessDeniedException", status=403, contains="allowed providers")
    _eventually(b_refused)
    assert api_key(d, token, a) == ka

    rc, out, err = _cli(s.data_dir, "get-providers", wl)
    assert rc == 0, err
    assert json.loads(out) == {"workloadName": wl, "allowedProviders": [a]}
    assert allowlist_of(s, wl) == [a]

    rc, out, err = _cli(s.data_dir, "set-providers", wl, "--provider", a, "--provider", b)
    assert rc == 0, err
    assert sorted(json.loads(out)["allowedProviders"]) == sorted([a, b])
    def b_allowed():
        assert api_key(d, token, b) == kb
    _eventually(b_allowed)

    rc, out, err = _cli(s.data_dir, "set-providers", wl)  # no --provider: nothing allowed
    assert rc == 0, err
    assert json.loads(out) == {"workloadName": wl, "allowedProviders": []}

    def a_refused():
        expect_error(d.get_resource_api_key, workloadIdentityToken=token,
                     resourceCredentialProviderName=a,
                     code="AccessDeniedException", status=403, contains="allowed providers")
    _eventually(a_refused)

    rc, out, err = _cli(s.data_dir, "clear-providers", wl)
    assert rc == 0, err
    assert json.loads(out) == {"workloadName": wl, "allowedProviders": None}
    def a_allowed():
        assert api_key(d, token, a) == ka
    _eventually(a_allowed)
    assert api_key(d, token, b) == kb
    rc, out, err = _cli(s.data_dir, "get-providers", wl)
    assert rc == 0 and json.loads(out) == {"workloadName": wl, "allowedProviders": None}

    # errors: unknown workload, bad provider name; nothing on stdout, the list unchanged
    rc, out, err = _cli(s.data_dir, "set-providers", uname("ghost"), "--provider", a)
    assert rc != 0 and not out.strip(), (rc, out)
    assert err.strip()
    rc, out, err = _cli(s.data_dir, "set-providers", wl, "--provider", "bad name")
    assert rc != 0 and not out.strip(), (rc, out)
    assert allowlist_of(s, wl) is None


# ---------------------------------------------------------------------------------------
# 6. restart: signing keys persist, sealed
# ---------------------------------------------------------------------------------------


def test_wat_survives_restart(spawn, tmp_path_factory):
    data = tmp_path_factory.mktemp("wat-restart")
    url = "https://restart-wat.example.test"
    s = spawn(data, label="wat-restart-1", public_url=url)
    c, d = s.client(), s.data_client()
    wl = new_workload(c)
    p, key = new_apikey_provider(c)
    token = wat(d, wl)
    utoken = wat(d, wl, user_id="grace")
    other_wl = new_workload(c)
    assert put_allowlist(s, other_wl, [p]).status == 200
    header, _ = verify_wat(s, token)
    jwks_before = fetch_jwks(s)
    assert api_key(d, token, p) == key
    assert s.stop() == 0

    s2 = spawn(data, label="wat-restart-2", public_url=url)
    d2 = s2.data_client()
    jwks_after = fetch_jwks(s2)
    assert header["kid"] in [k["kid"] for k in jwks_after["keys"]]
    # the same keys (the next window's key may have been added, none replaced)
    before_by_kid = {k["kid"]: k for k in jwks_before["keys"]}
    after_by_kid = {k["kid"]: k for k in jwks_after["keys"]}
    for kid, k in before_by_kid.items():
        assert after_by_kid.get(kid) == k, (kid, after_by_kid.get(kid))
    verify_wat(s2, token)
    assert api_key(d2, token, p) == key
    assert api_key(d2, utoken, p) == key
    # new tokens are signed with the same current key
    assert verify_wat(s2, wat(d2, wl))[0]["kid"] == header["kid"]
    # the allowlist survives too
    assert allowlist_of(s2, other_wl) == [p]
    hits = scan_tree_for(data, [v for s_ in (key, token, utoken) for v in secret_variants(s_)])
    assert not hits, hits
    assert s2.stop() == 0

    # another public URL: the same keys, but tokens of the old issuer are refused
    s3 = spawn(data, label="wat-restart-3", public_url="https://elsewhere.example.test")
    expect_unauthorized(s3.data_client(), token, p, contains="another issuer")
    assert s3.stop() == 0

    # at rest: no API key (nor WAT) in any file, the signing keys sealed
    files = [f for f in data.rglob("*") if f.is_file()]
    assert files
    hits = scan_tree_for(data, [v for s_ in (key, token, utoken) for v in secret_variants(s_)])
    assert not hits, hits
    db = next((f for f in files if f.name == "warrant.db"), None)
    assert db is not None, [f.name for f in files]
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert "signing_keys" in tables, tables
        rows = con.execute("SELECT kid, public_key, private_sealed FROM signing_keys").fetchall()
    finally:
        con.close()
    assert rows
    by_kid = {kid: (bytes(pub), bytes(sealed)) for kid, pub, sealed in rows}
    assert header["kid"] in by_kid
    for kid, (pub, sealed) in by_kid.items():
        assert sealed, f"{kid}: empty private_sealed"
        assert len(sealed) > 32, f"{kid}: private_sealed is no larger than a bare seed"
        # no 32-byte window of the sealed blob is the seed of this public key
        for i in range(len(sealed) - 31):
            derived = Ed25519PrivateKey.from_private_bytes(sealed[i:i + 32]).public_key()
            assert derived.public_bytes(Encoding.Raw, PublicFormat.Raw) != pub, (
                f"{kid}: the seed is in private_sealed in the clear")
    # the JWKS keys are exactly the stored public keys
    stored = {kid: b64u_enc(pub) for kid, (pub, _) in by_kid.items()}
    for kid, k in after_by_kid.items():
        assert stored.get(kid) == k["x"], kid
