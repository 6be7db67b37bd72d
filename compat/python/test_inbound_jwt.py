"""Inbound JWT (issue 4): a workload identity's JWT authorizers (native API under
/warrant/v1/workload-identities/{name}/authorizers and the CLI) and the data-plane
operation GetWorkloadAccessTokenForJWT, against docs/contracts/inbound-jwt.md.

Issuers are real oidc-provider processes of the test kit (testkit.OidcProvider) started
with key files this module writes (testkit.SigningKey), so the tests can both log users in
through the provider's real login pages and forge tokens with the issuer's own keys (or
anyone else's). Every token made here is registered as a secret of the run: responses,
logs and data dirs are scanned for it.

Servers: the session server for almost everything; two servers of their own for the JWKS
cache timings (refetch on an unknown kid, TTL ageing, an issuer that goes down).
"""

from __future__ import annotations

import base64
import functools
import json
import os
import re
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

import helpers
from helpers import (ACCOUNT, SESSION_PUBLIC_URL, assert_raw_error, create_key, expect_error,
                     http_get, raw_call, register_secret, run_warrant, status_of, uname)
from testkit import (OidcProvider, SigningKey, b64u, b64u_dec, b64u_json, free_port, hs_sign,
                     jwt_parts, write_keys)

JWT_OP = "/identities/GetWorkloadAccessTokenForJWT"
WAT_AUDIENCE = "warrant:workload-access-token"
WAT_CLAIMS = {"iss", "aud", "sub", "workload_name", "account", "workload_version", "iat", "exp",
              "jti", "user"}
AUD = "api://warrant-jwt-tests"
OTHER_ACCOUNT = "111111111111"
REFUSED_PREFIX = "The user token was refused: "

ALLOW_ALL = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": ["bedrock-agentcore:*", "warrant:*"], "Resource": "*"}]}


# ---------------------------------------------------------------------------------------
# helpers of this module
# ---------------------------------------------------------------------------------------


def secret(token: str) -> str:
    """Register a hand-made token (long enough not to match by chance)."""
    if len(token) >= 40:
        register_secret(token)
    return token


def authz_path(name: str) -> str:
    return f"/warrant/v1/workload-identities/{name}/authorizers"


def put_authz(server, name: str, authorizers, **kw):
    body = authorizers if isinstance(authorizers, (dict, bytes, str)) else {
        "authorizers": authorizers}
    return raw_call(server, authz_path(name), body, method="PUT", **kw)


def get_authz(server, name: str, **kw):
    return raw_call(server, authz_path(name), None, method="GET", **kw)


def delete_authz(server, name: str, **kw):
    return raw_call(server, authz_path(name), None, method="DELETE", **kw)


def authz_of(server, name: str):
    r = get_authz(server, name)
    assert r.status == 200, r
    assert r.json["workloadName"] == name, r.json
    return r.json["authorizers"]


def jwt_authorizer(discovery_url: str, *, audience=None, clients=None, scopes=None,
                   claims=None) -> dict:
    inner: dict = {"discoveryUrl": discovery_url}
    if audience is not None:
        inner["allowedAudience"] = list(audience)
    if clients is not None:
        inner["allowedClients"] = list(clients)
    if scopes is not None:
        inner["allowedScopes"] = list(scopes)
    if claims is not None:
        inner["customClaims"] = list(claims)
    return {"customJWTAuthorizer": inner}


def claim_rule(name: str, op: str, value) -> dict:
    vtype = "STRING" if op == "EQUALS" else "STRING_ARRAY"
    match = ({"matchValueStringList": list(value)} if op == "CONTAINS_ANY"
             else {"matchValueString": value})
    return {"inboundTokenClaimName": name, "inboundTokenClaimValueType": vtype,
            "authorizingClaimMatchValue": {"claimMatchValue": match, "claimMatchOperator": op}}


def new_workload(client, name: str | None = None) -> str:
    name = name or uname("jwt-wl")
    assert status_of(client.create_workload_identity(name=name)) == 201
    return name


def trusting(server, client, *authorizers) -> str:
    """A new workload identity that trusts these authorizers."""
    name = new_workload(client)
    r = put_authz(server, name, list(authorizers))
    assert r.status == 200, r
    return name


def for_jwt(dc, name: str, token: str) -> str:
    r = dc.get_workload_access_token_for_jwt(workloadName=name, userToken=token)
    assert status_of(r) == 200
    assert set(r) == {"workloadAccessToken", "ResponseMetadata"}, r.keys()
    return register_secret(r["workloadAccessToken"])


def no_token_in(msg: str, token: str) -> None:
    assert token not in msg, f"the message echoes the token: {msg!r}"
    for part in token.split("."):
        if len(part) >= 8:
            assert part not in msg, f"the message echoes a part of the token: {msg!r}"


def refused(dc, name: str, token: str, words=(), *, code: str = "UnauthorizedException",
            status: int = 401) -> str:
    """The call fails with code/status; a 401's message is 'The user token was refused:
    <reason>' with every one of `words` (case-insensitive); no part of the token in it;
    no WAT was minted."""
    port = int(dc.meta.endpoint_url.rsplit(":", 1)[1].rstrip("/"))
    before = _minted_at(port)
    msg = expect_error(dc.get_workload_access_token_for_jwt, workloadName=name,
                       userToken=token, code=code, status=status)
    assert _minted_at(port) == before, "a WAT was minted for a refused token"
    no_token_in(msg, token)
    if status == 401:
        assert msg.startswith(REFUSED_PREFIX), msg
    for w in (words,) if isinstance(words, str) else words:
        assert w.lower() in msg.lower(), (w, msg)
    return msg


def raw_for_jwt(server, body, **kw):
    return raw_call(server, JWT_OP, body, **kw)


_METRIC_RE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)')


def metric(server, name: str, **labels) -> float:
    """Sum of the samples of `name` whose labels include `labels` (0 when absent)."""
    return _metric_at(server.port, name, **labels)


def _minted_at(port: int) -> float:
    return _metric_at(port, "warrant_workload_access_tokens_issued_total")


def _metric_at(port: int, name: str, **labels) -> float:
    st, _, body = http_get(port, "/metrics")
    assert st == 200, (st, body[:300])
    total = 0.0
    for line in body.decode().splitlines():
        m = _METRIC_RE.match(line.strip())
        if not m or m.group(1) != name:
            continue
        got = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
        if all(got.get(k) == v for k, v in labels.items()):
            total += float(m.group(3))
    return total


def minted(server) -> float:
    return metric(server, "warrant_workload_access_tokens_issued_total")


def verify_wat(server, token: str) -> dict:
    """Ed25519 verification of a WAT with the server's JWKS, independently of warrant."""
    st, _, body = http_get(server.port, "/.well-known/jwks.json")
    assert st == 200, (st, body[:200])
    keys = {k["kid"]: k for k in json.loads(body)["keys"]}
    h, p, s = token.split(".")
    header = json.loads(b64u_dec(h))
    assert header.get("typ") == "wat+jwt" and header.get("alg") == "EdDSA", header
    Ed25519PublicKey.from_public_bytes(b64u_dec(keys[header["kid"]]["x"])).verify(
        b64u_dec(s), f"{h}.{p}".encode())
    return json.loads(b64u_dec(p))


# retries on any exception (AssertionError, ClientError, ...), re-raised at the deadline
eventually = functools.partial(helpers.eventually, timeout=2.0, step=0.02,
                               exceptions=(Exception,))


def now() -> int:
    return int(time.time())


# ---------------------------------------------------------------------------------------
# issuers
# ---------------------------------------------------------------------------------------


class Issuer:
    """An oidc-provider with keys this module knows (kid -> SigningKey)."""

    def __init__(self, provider: OidcProvider, keys: list[SigningKey]):
        self.p = provider
        self.keys = {k.kid: k for k in keys}

    @property
    def iss(self) -> str:
        return self.p.issuer

    @property
    def discovery(self) -> str:
        return self.p.discovery_url

    def claims(self, **over) -> dict:
        c = {"iss": self.iss, "sub": "user-" + uname("")[-8:], "aud": AUD,
             "iat": now(), "exp": now() + 600}
        for k, v in over.items():
            if v is None:
                c.pop(k, None)
            else:
                c[k] = v
        return c

    def token(self, kid: str | None = None, claims: dict | None = None, **kw) -> str:
        key = self.keys[kid] if kid else next(iter(self.keys.values()))
        return key.sign(claims if claims is not None else self.claims(), **kw)


@pytest.fixture(scope="module")
def idp_a(tmp_path_factory):
    """Issuer A: RS256 (first, signs the provider's own tokens), RS512, PS256, ES256, ES384
    and EdDSA keys."""
    keys = [SigningKey.rsa("a-rs256"), SigningKey.rsa("a-rs512", alg="RS512"),
            SigningKey.rsa("a-ps256", alg="PS256"), SigningKey.ec("a-es256"),
            SigningKey.ec("a-es384", crv="P-384"), SigningKey.ed25519("a-eddsa")]
    path = write_keys(tmp_path_factory.mktemp("idp-a") / "keys.json", keys)
    p = OidcProvider(keys_file=path, label="jwt-idp-a").start()
    yield Issuer(p, keys)
    assert p.stop() == 0


@pytest.fixture(scope="module")
def idp_b(tmp_path_factory):
    """Issuer B: one RS256 key, the only ES256 key (tokens without kid), a 1024-bit RSA key."""
    keys = [SigningKey.rsa("b-rs256"), SigningKey.ec("b-es256"),
            SigningKey.rsa("b-weak", bits=1024)]
    path = write_keys(tmp_path_factory.mktemp("idp-b") / "keys.json", keys)
    p = OidcProvider(keys_file=path, label="jwt-idp-b").start()
    yield Issuer(p, keys)
    assert p.stop() == 0


@pytest.fixture(scope="module")
def wl_a(server, client, idp_a):
    """A workload of the session server trusting issuer A for audience AUD."""
    return trusting(server, client, jwt_authorizer(idp_a.discovery, audience=[AUD]))


# ---------------------------------------------------------------------------------------
# 1. the authorizer configuration API
# ---------------------------------------------------------------------------------------

GOOD_CONFIGS = [
    [jwt_authorizer("https://idp.example.test/.well-known/openid-configuration",
                    audience=["api://one"])],
    [jwt_authorizer("https://idp.example.test/tenant/.well-known/openid-configuration",
                    clients=["client-1", "client-2"])],
    [jwt_authorizer("https://idp.example.test/.well-known/oauth-authorization-server",
                    audience=["a"], clients=["c"], scopes=["read", "a:b/c.d!#[]~"],
                    claims=[claim_rule("dept", "EQUALS", "eng"),
                            claim_rule("groups", "CONTAINS", "admins"),
                            claim_rule("roles", "CONTAINS_ANY", ["a", "b"]),
                            claim_rule("x.example:claims_y-1.2", "EQUALS", "v")])],
    [jwt_authorizer(f"https://idp{i}.example.test/.well-known/openid-configuration",
                    audience=[f"aud-{i}"]) for i in range(10)],
    [jwt_authorizer("https://idp.example.test/.well-known/openid-configuration",
                    audience=[f"{i:03d}" + "a" * 252 for i in range(100)],
                    clients=["c" * 255], scopes=["s" * 255] + [f"s{i}" for i in range(99)],
                    claims=[claim_rule("c" * 255, "CONTAINS_ANY",
                                       [f"{i:03d}" + "v" * 252 for i in range(100)])]
                    + [claim_rule(f"c{i}", "CONTAINS_ANY", [f"v{j}" for j in range(100)])
                       for i in range(19)])],
    # http on an --outbound-allow'ed host (the test kit's issuers)
    [jwt_authorizer("http://127.0.0.1:9/.well-known/openid-configuration", audience=["x"])],
]


def _stored(authorizers) -> list:
    """A configuration without null members (absent and null are the same), its lists of
    strings in sorted order (the contract does not pin their order)."""
    def strip(v):
        if isinstance(v, dict):
            return {k: strip(x) for k, x in v.items() if x is not None}
        if isinstance(v, list):
            if all(isinstance(x, str) for x in v):
                return sorted(v)
            return [strip(x) for x in v]
        return v
    return strip(authorizers)


def stored_is(server, name: str, expected) -> None:
    got = authz_of(server, name)
    assert _stored(got) == _stored(expected), got


@pytest.mark.parametrize("config", GOOD_CONFIGS, ids=[f"good-{i}" for i in range(len(GOOD_CONFIGS))])
def test_good_configs_round_trip(server, client, config):
    name = new_workload(client)
    assert authz_of(server, name) is None
    r = put_authz(server, name, config)
    assert r.status == 200, r
    assert set(r.json) == {"workloadName", "authorizers"}, r.json
    assert r.json["workloadName"] == name
    assert _stored(r.json["authorizers"]) == _stored(config)
    assert _stored(authz_of(server, name)) == _stored(config)
    # PUT replaces
    other = [jwt_authorizer("https://other.example.test/.well-known/openid-configuration",
                            audience=["z"])]
    assert put_authz(server, name, other).status == 200
    assert _stored(authz_of(server, name)) == _stored(other)
    r = delete_authz(server, name)
    assert r.status == 204 and r.body == b"", r
    assert authz_of(server, name) is None
    # DELETE again: still 204, still none
    r = delete_authz(server, name)
    assert r.status == 204 and r.body == b"", r
    assert authz_of(server, name) is None


DISC = "https://idp.example.test/.well-known/openid-configuration"


def _a(**inner) -> dict:
    """One customJWTAuthorizer: a good one (discovery + audience) changed by `inner`
    (None removes a member)."""
    base = {"discoveryUrl": DISC, "allowedAudience": ["aud"]}
    for k, v in inner.items():
        if v is None:
            base.pop(k, None)
        else:
            base[k] = v
    return {"authorizers": [{"customJWTAuthorizer": base}]}


def _claim(**over) -> dict:
    """A body with one customClaims item: a good STRING/EQUALS one changed by `over`
    (members of the item or of its authorizingClaimMatchValue; None removes one)."""
    item = claim_rule("dept", "EQUALS", "eng")
    match = item["authorizingClaimMatchValue"]
    for k, v in over.items():
        target = match if k in ("claimMatchOperator", "claimMatchValue") else item
        if v is None:
            target.pop(k, None)
        else:
            target[k] = v
    return _a(customClaims=[item])


WELL_KNOWN = "/.well-known/openid-configuration"
# an operator that does not fit the value type: the message names one of these
OPERATOR_FIELDS = ("claimMatchOperator", "inboundTokenClaimValueType",
                   "authorizingClaimMatchValue")
BAD_CONFIGS = [
    # the list
    ({}, "authorizers"),
    ({"authorizers": None}, "authorizers"),
    ({"authorizers": []}, "authorizers"),
    ({"authorizers": "x"}, "authorizers"),
    ({"authorizers": [_a()["authorizers"][0]] * 11}, "authorizers"),
    ({"authorizers": [{}]}, "customJWTAuthorizer"),
    ({"authorizers": [None]}, ("authorizers", "customJWTAuthorizer")),
    ({"authorizers": [{"customJWTAuthorizer": None}]}, "customJWTAuthorizer"),
    ({"authorizers": [{"customJWTAuthorizer": "x"}]}, "customJWTAuthorizer"),
    # unknown members anywhere
    ({**_a(), "extra": 1}, "extra"),
    ({"authorizers": [{**_a()["authorizers"][0], "otherAuthorizer": {}}]}, "otherAuthorizer"),
    (_a(issuer="https://idp.example.test"), "issuer"),
    (_a(jwksUri="https://idp.example.test/jwks"), "jwksUri"),
    (_claim(extra="x"), "extra"),
    # discoveryUrl
    (_a(discoveryUrl=None), "discoveryUrl"),
    (_a(discoveryUrl=""), "discoveryUrl"),
    (_a(discoveryUrl=123), "discoveryUrl"),
    (_a(discoveryUrl=["https://idp.example.test" + WELL_KNOWN]), "discoveryUrl"),
    (_a(discoveryUrl="https://idp.example.test/" + "p" * 2048 + WELL_KNOWN), "discoveryUrl"),
    (_a(discoveryUrl="not a url"), "discoveryUrl"),
    (_a(discoveryUrl="https://idp.example.test/"), "discoveryUrl"),
    (_a(discoveryUrl="https://idp.example.test/.well-known/jwks.json"), "discoveryUrl"),
    (_a(discoveryUrl="ftp://idp.example.test" + WELL_KNOWN), "discoveryUrl"),
    (_a(discoveryUrl="file:///etc" + WELL_KNOWN), "discoveryUrl"),
    (_a(discoveryUrl="javascript:alert(1)//" + WELL_KNOWN), "discoveryUrl"),
    # SSRF guard: http to a host that is not allowlisted, literal private/metadata IPs
    (_a(discoveryUrl="http://idp.example.test" + WELL_KNOWN), "discoveryUrl"),
    (_a(discoveryUrl="http://169.254.169.254" + WELL_KNOWN), "discoveryUrl"),
    (_a(discoveryUrl="https://169.254.169.254" + WELL_KNOWN), "discoveryUrl"),
    (_a(discoveryUrl="https://10.0.0.1" + WELL_KNOWN), "discoveryUrl"),
    (_a(discoveryUrl="https://192.168.1.1" + WELL_KNOWN), "discoveryUrl"),
    (_a(discoveryUrl="https://[::1]" + WELL_KNOWN), "discoveryUrl"),
    (_a(discoveryUrl="https://[fd00::1]" + WELL_KNOWN), "discoveryUrl"),
    (_a(discoveryUrl="https://0.0.0.0" + WELL_KNOWN), "discoveryUrl"),
    (_a(discoveryUrl="http://[::ffff:169.254.169.254]" + WELL_KNOWN), "discoveryUrl"),
    # audience / clients
    (_a(allowedAudience=None), ("allowedAudience", "allowedClients")),
    (_a(allowedAudience=[]), "allowedAudience"),
    (_a(allowedAudience="aud"), "allowedAudience"),
    (_a(allowedAudience=[""]), "allowedAudience"),
    (_a(allowedAudience=["a" * 256]), "allowedAudience"),
    (_a(allowedAudience=[1]), "allowedAudience"),
    (_a(allowedAudience=[None]), "allowedAudience"),
    (_a(allowedAudience=[f"a{i}" for i in range(101)]), "allowedAudience"),
    (_a(allowedClients=[]), "allowedClients"),
    (_a(allowedClients=[""]), "allowedClients"),
    (_a(allowedClients=["c" * 256]), "allowedClients"),
    (_a(allowedClients=[f"c{i}" for i in range(101)]), "allowedClients"),
    (_a(allowedClients={"c": 1}), "allowedClients"),
    # scopes
    (_a(allowedScopes=[]), "allowedScopes"),
    (_a(allowedScopes=[""]), "allowedScopes"),
    (_a(allowedScopes=["has space"]), "allowedScopes"),
    (_a(allowedScopes=['quo"te']), "allowedScopes"),
    (_a(allowedScopes=["back\\slash"]), "allowedScopes"),
    (_a(allowedScopes=["tab\there"]), "allowedScopes"),
    (_a(allowedScopes=["ünï"]), "allowedScopes"),
    (_a(allowedScopes=["s" * 256]), "allowedScopes"),
    (_a(allowedScopes=[f"s{i}" for i in range(101)]), "allowedScopes"),
    (_a(allowedScopes="read"), "allowedScopes"),
    # custom claims
    (_a(customClaims=[]), "customClaims"),
    (_a(customClaims="x"), "customClaims"),
    (_a(customClaims=[claim_rule(f"c{i}", "EQUALS", "v") for i in range(21)]), "customClaims"),
    (_claim(inboundTokenClaimName=""), "inboundTokenClaimName"),
    (_claim(inboundTokenClaimName="bad name"), "inboundTokenClaimName"),
    (_claim(inboundTokenClaimName="bad/name"), "inboundTokenClaimName"),
    (_claim(inboundTokenClaimName="c" * 256), "inboundTokenClaimName"),
    (_claim(inboundTokenClaimName=None), "inboundTokenClaimName"),
    (_claim(inboundTokenClaimValueType="NUMBER"), "inboundTokenClaimValueType"),
    (_claim(inboundTokenClaimValueType=None), "inboundTokenClaimValueType"),
    (_claim(claimMatchOperator="CONTAINS"), OPERATOR_FIELDS),
    (_claim(claimMatchOperator="STARTS_WITH"), "claimMatchOperator"),
    (_claim(claimMatchOperator=None), "claimMatchOperator"),
    (_claim(inboundTokenClaimValueType="STRING_ARRAY"), OPERATOR_FIELDS),
    (_claim(claimMatchValue={}), "claimMatchValue"),
    (_claim(claimMatchValue=None), "claimMatchValue"),
    (_claim(claimMatchValue={"matchValueString": "a", "matchValueStringList": ["a"]}),
     ("claimMatchValue", "matchValueString")),
    (_claim(claimMatchValue={"matchValueStringList": ["eng"]}), "matchValueString"),
    (_claim(claimMatchValue={"matchValueString": ""}), "matchValueString"),
    (_claim(claimMatchValue={"matchValueString": "v" * 256}), "matchValueString"),
    (_claim(claimMatchValue={"matchValueString": 5}), "matchValueString"),
    (_claim(claimMatchValue={"matchValueString": "a", "other": "b"}),
     ("other", "claimMatchValue")),
    (_claim(authorizingClaimMatchValue=None), "authorizingClaimMatchValue"),
    (_a(customClaims=[claim_rule("g", "CONTAINS_ANY", [])]), "matchValueStringList"),
    (_a(customClaims=[claim_rule("g", "CONTAINS_ANY", [""])]), "matchValueStringList"),
    (_a(customClaims=[claim_rule("g", "CONTAINS_ANY", ["v" * 256])]), "matchValueStringList"),
    (_a(customClaims=[claim_rule("g", "CONTAINS_ANY", ["v"] * 101)]), "matchValueStringList"),
    (_a(customClaims=[{**claim_rule("g", "CONTAINS", "x"), "authorizingClaimMatchValue": {
        "claimMatchValue": {"matchValueStringList": ["x"]}, "claimMatchOperator": "CONTAINS"}}]),
     "matchValueString"),
    (_a(customClaims=[{**claim_rule("g", "CONTAINS_ANY", ["x"]), "authorizingClaimMatchValue": {
        "claimMatchValue": {"matchValueString": "x"}, "claimMatchOperator": "CONTAINS_ANY"}}]),
     "matchValueString"),
    # AWS members warrant does not support
    (_a(privateEndpoint={}), "privateEndpoint"),
    (_a(privateEndpointOverrides=[]), "privateEndpointOverrides"),
]


def test_bad_configs_are_refused_and_change_nothing(server, client):
    name = new_workload(client)
    original = [jwt_authorizer("https://orig.example.test/.well-known/openid-configuration",
                               audience=["orig"])]
    assert put_authz(server, name, original).status == 200
    problems = []
    for body, field in BAD_CONFIGS:
        r = put_authz(server, name, body)
        try:
            msg = assert_raw_error(r, "ValidationException", 400, field=field)
            if "privateEndpoint" in json.dumps(body):
                assert "not supported" in msg.lower(), msg
        except AssertionError as e:
            problems.append(f"{json.dumps(body)[:160]} -> {e}")
    assert not problems, "\n".join(problems)
    assert _stored(authz_of(server, name)) == _stored(original)
    # not JSON, JSON of the wrong type
    for raw in (b"{not json", b"[]", b'"authorizers"', b"null"):
        r = put_authz(server, name, raw)
        assert r.status == 400, (raw, r)
    assert _stored(authz_of(server, name)) == _stored(original)


def test_bad_config_without_any_previous_one(server, client):
    name = new_workload(client)
    r = put_authz(server, name, _a(discoveryUrl="http://169.254.169.254" + WELL_KNOWN))
    assert_raw_error(r, "ValidationException", 400, field="discoveryUrl")
    r = put_authz(server, name, _a(allowedAudience=None))
    msg = assert_raw_error(r, "ValidationException", 400)
    assert "allowedAudience" in msg or "allowedClients" in msg, msg
    assert authz_of(server, name) is None


def test_unknown_workload_and_bad_names(server):
    ghost = uname("ghost")
    good = {"authorizers": [jwt_authorizer(DISC, audience=["a"])]}
    for r in (put_authz(server, ghost, good), get_authz(server, ghost),
              delete_authz(server, ghost)):
        assert_raw_error(r, "ResourceNotFoundException", 404)
    for r in (get_authz(server, "ab"), put_authz(server, "a" * 256, good),
              delete_authz(server, "bad:name")):
        assert_raw_error(r, "ValidationException", 400)


def test_config_needs_sigv4_and_the_warrant_actions(server, client):
    wl = new_workload(client)
    arn = server.arn("wi", wl)
    orig = [jwt_authorizer(DISC, audience=["orig"])]
    hijack = [jwt_authorizer("https://attacker.example.test" + WELL_KNOWN, audience=["x"])]
    assert put_authz(server, wl, orig).status == 200
    assert_raw_error(get_authz(server, wl, sign=False), "MissingAuthenticationTokenException", 403)
    assert_raw_error(put_authz(server, wl, hijack, secret="wrong-secret-wrong-secret-wrong"),
                     "InvalidSignatureException", 403)
    k_ba = create_key(server.data_dir, "jwt-ba-only", {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "bedrock-agentcore:*", "Resource": "*"}]})
    k_get = create_key(server.data_dir, "jwt-get-only", {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "warrant:GetWorkloadAuthorizers", "Resource": arn}]})
    k_noput = create_key(server.data_dir, "jwt-noput", {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "warrant:*", "Resource": "*"},
        {"Effect": "Deny", "Action": "warrant:PutWorkloadAuthorizers", "Resource": arn}]})
    k_nodel = create_key(server.data_dir, "jwt-nodel", {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "warrant:*", "Resource": "*"},
        {"Effect": "Deny", "Action": "warrant:DeleteWorkloadAuthorizers", "Resource": "*"}]})
    cred = lambda k: {"key_id": k["accessKeyId"], "secret": k["secretAccessKey"]}  # noqa: E731
    for r in (put_authz(server, wl, hijack, **cred(k_ba)), get_authz(server, wl, **cred(k_ba)),
              delete_authz(server, wl, **cred(k_ba))):
        assert_raw_error(r, "AccessDeniedException", 403)
    r = get_authz(server, wl, **cred(k_get))
    assert r.status == 200 and _stored(r.json["authorizers"]) == _stored(orig), r
    assert_raw_error(put_authz(server, wl, hijack, **cred(k_get)), "AccessDeniedException", 403)
    assert_raw_error(delete_authz(server, wl, **cred(k_get)), "AccessDeniedException", 403)
    other = new_workload(client)
    assert_raw_error(get_authz(server, other, **cred(k_get)), "AccessDeniedException", 403)
    assert_raw_error(put_authz(server, wl, hijack, **cred(k_noput)), "AccessDeniedException", 403)
    assert get_authz(server, wl, **cred(k_noput)).status == 200
    assert_raw_error(delete_authz(server, wl, **cred(k_nodel)), "AccessDeniedException", 403)
    assert _stored(authz_of(server, wl)) == _stored(orig)
    # the denied PUT of k_noput on this workload does not deny it elsewhere
    assert put_authz(server, other, hijack, **cred(k_noput)).status == 200
    assert delete_authz(server, wl, **cred(k_noput)).status == 204
    assert authz_of(server, wl) is None


def test_config_of_another_account(server, client, data_client, idp_a):
    k = create_key(server.data_dir, "jwt-acct-one", ALLOW_ALL, account=OTHER_ACCOUNT)
    cred = {"key_id": k["accessKeyId"], "secret": k["secretAccessKey"]}
    oc = server.client(k["accessKeyId"], k["secretAccessKey"])
    od = server.data_client(k["accessKeyId"], k["secretAccessKey"])
    wl = new_workload(client)
    new_workload(oc, wl)  # the same name in the other account
    mine = [jwt_authorizer(idp_a.discovery, audience=[AUD])]
    assert put_authz(server, wl, mine, **cred).status == 200
    assert authz_of(server, wl) is None  # account 0's workload is untouched
    r = get_authz(server, wl, **cred)
    assert r.status == 200 and _stored(r.json["authorizers"]) == _stored(mine)
    only_zero = new_workload(client)
    for r in (get_authz(server, only_zero, **cred), put_authz(server, only_zero, mine, **cred),
              delete_authz(server, only_zero, **cred)):
        assert_raw_error(r, "ResourceNotFoundException", 404)
    assert authz_of(server, only_zero) is None
    # the other account's workload trusts A; account 0's of the same name trusts nobody
    token = idp_a.token()
    claims = verify_wat(server, for_jwt(od, wl, token))
    assert claims["account"] == OTHER_ACCOUNT
    assert claims["sub"] == server.arn("wi", wl, account=OTHER_ACCOUNT)
    refused(data_client, wl, token, "trusts no JWT authorizer", code="ValidationException",
            status=400)


def test_cli(server, client, data_client, idp_a):
    """`warrant workloads set-authorizer | add-authorizer | get-authorizers |
    clear-authorizers` on the session server's data dir, seen by the running server.
    (https issuers here: the CLI has no --outbound-allow; the server never fetches them,
    since an authorizer is chosen by the token's iss first.)"""
    wl = new_workload(client)
    disc1 = "https://idp-cli.example.test" + WELL_KNOWN
    disc2 = "https://idp-cli-2.example.test/tenant" + WELL_KNOWN

    def cli(*args):
        cp = run_warrant("workloads", *args, "--data-dir", str(server.data_dir))
        return cp.returncode, cp.stdout.decode(), cp.stderr.decode()

    token = idp_a.token()
    refused(data_client, wl, token, "trusts no JWT authorizer", code="ValidationException",
            status=400)
    claim = claim_rule("dept", "EQUALS", "eng")
    rc, out, err = cli("set-authorizer", wl, "--discovery-url", disc1,
                       "--audience", AUD, "--audience", "api://second", "--client", "cli-client",
                       "--scope", "read", "--claim", json.dumps(claim))
    assert rc == 0, err
    first = {"customJWTAuthorizer": {
        "discoveryUrl": disc1, "allowedAudience": [AUD, "api://second"],
        "allowedClients": ["cli-client"], "allowedScopes": ["read"], "customClaims": [claim]}}
    doc = json.loads(out)
    assert doc["workloadName"] == wl and _stored(doc["authorizers"]) == _stored([first]), doc
    # the running server sees it without a restart (API and data plane)
    eventually(lambda: stored_is(server, wl, [first]))
    eventually(lambda: refused(data_client, wl, token, ("issuer", "not trusted")))

    rc, out, err = cli("add-authorizer", wl, "--discovery-url", disc2, "--client", "c2")
    assert rc == 0, err
    second = jwt_authorizer(disc2, clients=["c2"])
    assert _stored(json.loads(out)["authorizers"]) == _stored([first, second])
    rc, out, err = cli("get-authorizers", wl)
    assert rc == 0, err
    assert json.loads(out)["workloadName"] == wl
    assert _stored(json.loads(out)["authorizers"]) == _stored([first, second])
    eventually(lambda: stored_is(server, wl, [first, second]))

    rc, out, err = cli("set-authorizer", wl, "--discovery-url", disc2, "--audience", "only")
    assert rc == 0, err
    assert _stored(json.loads(out)["authorizers"]) == [jwt_authorizer(disc2, audience=["only"])]

    rc, out, err = cli("clear-authorizers", wl)
    assert rc == 0, err
    assert json.loads(out) == {"workloadName": wl, "authorizers": None}
    eventually(lambda: refused(data_client, wl, token, "trusts no JWT authorizer",
                               code="ValidationException", status=400))
    rc, out, err = cli("get-authorizers", wl)
    assert rc == 0 and json.loads(out) == {"workloadName": wl, "authorizers": None}

    # errors: exit 1, one line on stderr, nothing on stdout, nothing changed
    assert put_authz(server, wl, [first]).status == 200
    for args in (("set-authorizer", uname("ghost"), "--discovery-url", disc1, "--audience", "a"),
                 ("set-authorizer", wl, "--discovery-url", "http://169.254.169.254" + WELL_KNOWN,
                  "--audience", "a"),
                 ("set-authorizer", wl, "--discovery-url", idp_a.discovery, "--audience", "a"),
                 ("set-authorizer", wl, "--discovery-url", disc1),
                 ("add-authorizer", wl, "--discovery-url", "not a url", "--audience", "a"),
                 ("add-authorizer", wl, "--discovery-url", "https://x.example.test/",
                  "--audience", "a"),
                 ("set-authorizer", wl, "--discovery-url", disc1, "--audience", "a",
                  "--claim", "{not json"),
                 ("set-authorizer", wl, "--discovery-url", disc1, "--audience", "a",
                  "--claim", json.dumps(claim_rule("bad name", "EQUALS", "x"))),
                 ("set-authorizer", wl, "--discovery-url", disc1, "--audience", "a",
                  "--scope", "has space"),
                 ("set-authorizer", wl, "--discovery-url", disc1, "--audience", ""),
                 ("get-authorizers", uname("ghost")),
                 ("clear-authorizers", uname("ghost"))):
        rc, out, err = cli(*args)
        assert rc == 1, (args, rc, out, err)
        assert not out.strip(), (args, out)
        assert len(err.strip().splitlines()) == 1, (args, err)
    assert _stored(authz_of(server, wl)) == _stored([first])


# ---------------------------------------------------------------------------------------
# 2. GetWorkloadAccessTokenForJWT: real logins, algorithms, keying
# ---------------------------------------------------------------------------------------


def check_wat(server, wat: str, name: str, iss: str, sub: str) -> dict:
    claims = verify_wat(server, wat)
    assert set(claims) == WAT_CLAIMS, claims
    assert claims["user"] == {"iss": iss, "sub": sub}, claims["user"]
    assert claims["iss"] == SESSION_PUBLIC_URL
    assert claims["aud"] == WAT_AUDIENCE
    assert claims["sub"] == server.arn("wi", name)
    assert claims["workload_name"] == name and claims["account"] == ACCOUNT
    return claims


def test_real_login_id_token(server, client, data_client, idp_a):
    login = idp_a.p.login_clients["login"]
    wl = trusting(server, client, jwt_authorizer(idp_a.discovery, audience=[login["client_id"]]))
    user = "alice-" + uname("")[-6:]
    out = idp_a.p.login(user)
    header, claims = jwt_parts(out["id_token"])
    assert header["alg"] == "RS256" and claims["aud"] == login["client_id"]
    accepted = metric(server, "warrant_user_tokens_total", outcome="accepted")
    before = minted(server)
    wat = for_jwt(data_client, wl, out["id_token"])
    check_wat(server, wat, wl, idp_a.iss, user)
    assert minted(server) == before + 1
    assert metric(server, "warrant_user_tokens_total", outcome="accepted") == accepted + 1
    # the ID token is no access token for the resource: refused where only that is trusted
    wl_api = trusting(server, client, jwt_authorizer(idp_a.discovery, audience=[idp_a.p.resource]))
    refused(data_client, wl_api, out["id_token"], "audience")


def test_real_login_access_token(server, client, data_client, idp_a):
    login = idp_a.p.login_clients["login"]
    wl = trusting(server, client, jwt_authorizer(
        idp_a.discovery, audience=[idp_a.p.resource], clients=[login["client_id"]],
        scopes=["read"]))
    out = idp_a.p.login("bob-at", resource=True, scope="openid read write")
    header, claims = jwt_parts(out["access_token"])
    assert header["typ"] == "at+jwt" and claims["aud"] == idp_a.p.resource
    check_wat(server, for_jwt(data_client, wl, out["access_token"]), wl, idp_a.iss, "bob-at")
    # without the scope the workload asks for
    out = idp_a.p.login("bob-at", resource=True, scope="openid write")
    refused(data_client, wl, out["access_token"], ("scope", "read"))


@pytest.mark.parametrize("client_name,alg", [("login-es256", "ES256"), ("login-eddsa", "EdDSA"),
                                             ("login-ps256", "PS256"), ("login-es384", "ES384"),
                                             ("login-rs512", "RS512")])
def test_real_login_other_algorithms(server, client, data_client, idp_a, client_name, alg):
    login = idp_a.p.login_clients[client_name]
    wl = trusting(server, client, jwt_authorizer(idp_a.discovery, audience=[login["client_id"]]))
    out = idp_a.p.login("carol-" + alg, client=client_name)
    assert jwt_parts(out["id_token"])[0]["alg"] == alg
    check_wat(server, for_jwt(data_client, wl, out["id_token"]), wl, idp_a.iss, "carol-" + alg)


def test_user_id_and_jwt_users_are_different_users(server, client, data_client, idp_a, wl_a):
    wat_uid = register_secret(data_client.get_workload_access_token_for_user_id(
        workloadName=wl_a, userId="alice")["workloadAccessToken"])
    wat_jwt = for_jwt(data_client, wl_a, idp_a.token(claims=idp_a.claims(sub="alice")))
    u1, u2 = verify_wat(server, wat_uid)["user"], verify_wat(server, wat_jwt)["user"]
    assert u1 == {"user_id": "alice"}
    assert u2 == {"iss": idp_a.iss, "sub": "alice"}
    assert u1 != u2
    # a sub that looks like anything is just a string
    for sub in ("user_id", '{"user_id":"alice"}', "ünïcödé sub", "a" * 255):
        wat = for_jwt(data_client, wl_a, idp_a.token(claims=idp_a.claims(sub=sub)))
        assert verify_wat(server, wat)["user"] == {"iss": idp_a.iss, "sub": sub}


def test_forged_tokens_of_every_algorithm(server, data_client, idp_a, wl_a):
    for kid, key in idp_a.keys.items():
        sub = f"sub-{kid}"
        wat = for_jwt(data_client, wl_a, key.sign(idp_a.claims(sub=sub)))
        check_wat(server, wat, wl_a, idp_a.iss, sub)


def test_accepted_variants(server, client, data_client, idp_a, idp_b, wl_a):
    """Tokens that are unusual but valid."""
    t = now()
    ok = [
        ("no typ", idp_a.token(typ=None)),
        ("typ at+jwt", idp_a.token(typ="at+jwt")),
        ("typ application/jwt", idp_a.token(typ="application/jwt")),
        ("typ application/at+jwt", idp_a.token(typ="application/at+jwt")),
        ("aud array with a match", idp_a.token(claims=idp_a.claims(aud=["x", AUD, "y"]))),
        ("exp within skew", idp_a.token(claims=idp_a.claims(exp=t - 20))),
        ("nbf within skew", idp_a.token(claims=idp_a.claims(nbf=t + 20))),
        ("iat within skew", idp_a.token(claims=idp_a.claims(iat=t + 20))),
        ("no iat", idp_a.token(claims=idp_a.claims(iat=None))),
        ("nbf past", idp_a.token(claims=idp_a.claims(nbf=t - 60))),
        ("extra claims", idp_a.token(claims=idp_a.claims(extra={"nested": [1, 2]}, n=1.5))),
        ("extra header members", idp_a.token(header={"x-custom": "1"})),
    ]
    problems = []
    for name, token in ok:
        try:
            for_jwt(data_client, wl_a, token)
        except Exception as e:  # noqa: BLE001 - collected
            problems.append(f"{name}: {e}")
    assert not problems, problems
    # no kid: the issuer's only key of the type (B has one EC key)
    wl_b = trusting(server, client, jwt_authorizer(idp_b.discovery, audience=[AUD]))
    sub = "no-kid-user"
    wat = for_jwt(data_client, wl_b, idp_b.keys["b-es256"].sign(idp_b.claims(sub=sub), kid=None))
    check_wat(server, wat, wl_b, idp_b.iss, sub)
    # RSA keys under 2048 bits are not used, even when the issuer publishes one
    refused(data_client, wl_b, idp_b.keys["b-weak"].sign(idp_b.claims()))


def test_workload_without_authorizers_and_bad_input(server, client, data_client, idp_a, wl_a):
    plain = new_workload(client)
    before = minted(server)
    refused(data_client, plain, idp_a.token(), "trusts no JWT authorizer",
            code="ValidationException", status=400)
    # unknown workload
    expect_error(data_client.get_workload_access_token_for_jwt, workloadName=uname("ghost"),
                 userToken=idp_a.token(), code="ResourceNotFoundException", status=404)
    # input rules (raw: boto3 checks minimum lengths itself)
    too_long = secret(idp_a.token(claims=idp_a.claims(pad="x" * 140_000)))
    assert len(too_long) > 131072
    for body, field in (({"workloadName": wl_a}, "userToken"),
                        ({"workloadName": wl_a, "userToken": ""}, "userToken"),
                        ({"workloadName": wl_a, "userToken": None}, "userToken"),
                        ({"workloadName": wl_a, "userToken": 5}, "userToken"),
                        ({"workloadName": wl_a, "userToken": ["a.b.c"]}, "userToken"),
                        ({"workloadName": wl_a, "userToken": too_long}, "userToken"),
                        ({"userToken": idp_a.token()}, "workloadName"),
                        ({"workloadName": "bad name", "userToken": idp_a.token()},
                         "workloadName")):
        r = raw_for_jwt(server, body)
        assert_raw_error(r, "ValidationException", 400, field=field)
        if isinstance(body.get("userToken"), str) and body["userToken"]:
            no_token_in(r.message, body["userToken"])
    r = raw_for_jwt(server, b"{not json")
    assert r.status == 400, r
    # a 200 KB token through boto3 too
    big = secret(idp_a.token(claims=idp_a.claims(pad="y" * 200_000)))
    refused(data_client, wl_a, big, (), code="ValidationException", status=400)
    assert minted(server) == before


def test_policy_of_the_operation(server, client, idp_a, wl_a):
    arn = server.arn("wi", wl_a)
    only_wat = create_key(server.data_dir, "jwt-only-wat", {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["bedrock-agentcore:GetWorkloadAccessToken",
                                       "bedrock-agentcore:GetWorkloadAccessTokenForUserId"],
         "Resource": "*"}]})
    only_jwt = create_key(server.data_dir, "jwt-only-jwt", {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "bedrock-agentcore:GetWorkloadAccessTokenForJWT",
         "Resource": arn}]})
    d1 = server.data_client(only_wat["accessKeyId"], only_wat["secretAccessKey"])
    d2 = server.data_client(only_jwt["accessKeyId"], only_jwt["secretAccessKey"])
    before = minted(server)
    msg = expect_error(d1.get_workload_access_token_for_jwt, workloadName=wl_a,
                       userToken=(tok := idp_a.token()), code="AccessDeniedException", status=403)
    no_token_in(msg, tok)
    assert minted(server) == before
    for_jwt(d2, wl_a, idp_a.token())
    other = trusting(server, client, jwt_authorizer(idp_a.discovery, audience=[AUD]))
    expect_error(d2.get_workload_access_token_for_jwt, workloadName=other,
                 userToken=idp_a.token(), code="AccessDeniedException", status=403)
    expect_error(d2.get_workload_access_token, workloadName=wl_a,
                 code="AccessDeniedException", status=403)


# ---------------------------------------------------------------------------------------
# 3. the attack catalog
# ---------------------------------------------------------------------------------------


def _seg(obj) -> str:
    return b64u_json(obj) if not isinstance(obj, (bytes, str)) else b64u(
        obj.encode() if isinstance(obj, str) else obj)


def signed_raw(key: SigningKey, header: str | dict, payload: str | bytes | dict,
               alg: str | None = None) -> str:
    """A compact JWS over the header/payload bytes exactly as given (raw JSON text allowed,
    e.g. with duplicate members), signed with `key`."""
    h, p = _seg(header), _seg(payload)
    if isinstance(header, dict):
        alg = alg or header.get("alg")
    sig = key.sign_bytes(f"{h}.{p}".encode(), alg or key.alg)
    return secret(f"{h}.{p}.{b64u(sig)}")


def attack_catalog(a: Issuer, b: Issuer) -> list[tuple[str, str, tuple]]:
    """(case, token, words the reason must contain); each signed with A's real key unless
    the case is about something else."""
    t = now()
    rsa, ec_key, ed = a.keys["a-rs256"], a.keys["a-es256"], a.keys["a-eddsa"]
    base = a.claims(sub="victim")
    good = rsa.sign(base)
    h, p, s = good.split(".")
    hdr = {"alg": "RS256", "typ": "JWT", "kid": "a-rs256"}
    attacker = SigningKey.rsa("a-rs256")  # an attacker's key under A's kid
    cases: list[tuple[str, str, tuple]] = []

    def add(name, token, *words):
        cases.append((name, secret(token), words))

    # compact serialisation
    add("one segment", f"{h}{p}{s}", "compact JWS")
    add("two segments", f"{h}.{p}", "compact JWS")
    add("four segments", f"{h}.{p}.{s}.{s}", "compact JWS")
    add("empty signature", f"{h}.{p}.", "compact JWS")
    add("empty header", f".{p}.{s}", "compact JWS")
    add("empty payload", f"{h}..{s}", "compact JWS")
    add("trailing dot", f"{good}.", "compact JWS")
    rnd = lambda n: b64u(os.urandom(n))  # noqa: E731
    add("JWE", f"{_seg({'alg': 'RSA-OAEP-256', 'enc': 'A256GCM', 'kid': 'a-rs256'})}."
        f"{rnd(256)}.{rnd(12)}.{rnd(300)}.{rnd(16)}", "JWE")
    add("larger than 32 KiB", rsa.sign(a.claims(pad="z" * 40_000)), "larger than")
    # base64url
    add("padding", f"{h}.{p}.{s}==", "base64url")
    add("padding in the header", f"{h}=.{p}.{s}", "base64url")
    add("plus", f"{h}.{p[:-2]}+{p[-1:]}.{s}", "base64url")
    add("slash", f"{h}.{p}.{s[:-2]}/{s[-1:]}", "base64url")
    add("space", f"{h}.{p[:10]} {p[10:]}.{s}", "base64url")
    add("percent", f"{h}.{p}.%41{s}", "base64url")
    # JSON
    add("header not JSON", f"{_seg('not json at all')}.{p}.{s}", "JSON object")
    add("header an array", f"{_seg([hdr])}.{p}.{s}", "JSON object")
    add("header a string", f"{_seg(json.dumps('RS256'))}.{p}.{s}", "JSON object")
    add("claims an array", signed_raw(rsa, hdr, json.dumps([base])), "JSON object")
    add("claims a number", signed_raw(rsa, hdr, "12345"), "JSON object")
    add("duplicate header member",
        signed_raw(rsa, '{"alg":"RS256","typ":"JWT","kid":"a-rs256","kid":"a-rs256"}',
                   base, alg="RS256"), "duplicate")
    add("duplicate alg", signed_raw(rsa, '{"alg":"none","alg":"RS256","kid":"a-rs256"}',
                                    base, alg="RS256"), "duplicate")
    dup_claims = json.dumps(base)[:-1] + ', "sub": "admin"}'
    add("duplicate claim", signed_raw(rsa, hdr, dup_claims), "duplicate")
    # algorithms
    for alg in ("none", "None", "NONE"):
        nh = _seg({"alg": alg, "typ": "JWT"})
        add(f"alg {alg}", f"{nh}.{p}.{s}", "algorithm", alg)
        add(f"alg {alg} with kid", f"{_seg({**hdr, 'alg': alg})}.{p}.{s}", "algorithm", alg)
    cases.append(("alg none, empty signature", secret(f"{_seg({'alg': 'none'})}.{p}."), ()))
    pem = rsa.key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    der = rsa.key.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    jwk_json = json.dumps(rsa.public_jwk()).encode()
    for alg in ("HS256", "HS384", "HS512"):
        add(f"{alg} with the public key (PEM)", hs_sign(pem, base, {"typ": "JWT", "kid": "a-rs256"},
                                                        alg), "algorithm", alg)
    add("HS256 with the public key (DER, no kid)", hs_sign(der, base, {"typ": "JWT"}),
        "algorithm", "HS256")
    add("HS256 with the JWK", hs_sign(jwk_json, base, {"kid": "a-rs256"}), "algorithm", "HS256")
    add("ES256 on the RSA key", ec_key.sign(base, kid="a-rs256"), "does not match")
    add("RS256 on the EC key", rsa.sign(base, kid="a-es256"), "does not match")
    add("EdDSA on the RSA key", ed.sign(base, kid="a-rs256"), "does not match")
    add("RS256 on the Ed25519 key", rsa.sign(base, kid="a-eddsa"), "does not match")
    # the JWK says RS512, the token says RS256 (same key type): refused, reason not pinned
    add("alg other than the JWK's alg", a.keys["a-rs512"].sign(base, alg="RS256"))
    add("unknown alg", signed_raw(rsa, {**hdr, "alg": "RS1024"}, base, alg="RS256"))
    # headers that point elsewhere
    add("jku", rsa.sign(base, header={"jku": "https://attacker.example.test/jwks.json"}),
        "header", "jku")
    add("x5u", rsa.sign(base, header={"x5u": "https://attacker.example.test/cert.pem"}),
        "header", "x5u")
    add("jwk", rsa.sign(base, header={"jwk": rsa.public_jwk()}), "header", "jwk")
    add("x5c", rsa.sign(base, header={"x5c": [base64.b64encode(der).decode()]}), "header", "x5c")
    add("crit", rsa.sign(base, header={"crit": ["exp"]}), "header", "crit")
    # the same, as an attacker would send them: signed with the attacker's embedded key
    evil = SigningKey.rsa("evil")
    add("jwk (attacker)", evil.sign(base, kid=None, header={"jwk": evil.public_jwk()}))
    add("jku (attacker)", evil.sign(base, kid="evil",
                                    header={"jku": "http://127.0.0.1:9/jwks.json"}))
    # typ / cty
    for typ in ("JOSE", "wat+jwt", "secevent+jwt", "dpop+jwt", "logout+jwt"):
        add(f"typ {typ}", rsa.sign(base, typ=typ), "type")
    add("cty JWT", rsa.sign(base, header={"cty": "JWT"}), "nested")
    add("nested JWT as claims", signed_raw(rsa, hdr, good), "nested")
    # kid
    add("unknown kid", attacker.sign(base, kid="no-such-kid"), "key id")
    add("kid with a path", rsa.sign(base, kid="../../../../etc/passwd"), "key id")
    add("kid with SQL", rsa.sign(base, kid="' OR '1'='1' --"), "key id")
    add("kid of 257 chars", rsa.sign(base, kid="k" * 257), "key id")
    add("kid with a NUL", rsa.sign(base, kid="a-rs256\u0000"), "key id")
    add("kid with a newline", rsa.sign(base, kid="a-rs256\nlevel=INFO msg=forged"), "key id")
    add("kid not a string", rsa.sign(base, kid=None, header={"kid": 1}))
    # signatures
    add("attacker key under A's kid", attacker.sign(base), "signature")
    add("B's key under A's kid", b.keys["b-rs256"].sign(base, kid="a-rs256"), "signature")
    add("B's key with B's kid", b.keys["b-rs256"].sign(base), "key id")
    flipped = bytearray(b64u_dec(s))
    flipped[10] ^= 1
    add("signature bit flipped", f"{h}.{p}.{b64u(bytes(flipped))}", "signature")
    add("claims changed", f"{h}.{_seg({**base, 'sub': 'admin'})}.{s}", "signature")
    add("signature of another token", f"{h}.{p}.{rsa.sign(a.claims()).split('.')[2]}",
        "signature")
    add("truncated signature", f"{h}.{p}.{s[:-8]}", "signature")
    # iss
    add("wrong iss", rsa.sign(a.claims(iss="https://evil.example.test")), "issuer")
    add("iss with a trailing slash", rsa.sign(a.claims(iss=a.iss + "/")), "issuer")
    add("iss in upper case", rsa.sign(a.claims(iss=a.iss.upper())), "issuer")
    add("iss missing", rsa.sign(a.claims(iss=None)), "iss")
    add("iss not a string", rsa.sign(a.claims(iss=[a.iss])), "iss")
    add("B's token", b.token(claims=b.claims()), "issuer", "not trusted")
    # time
    add("exp missing", rsa.sign(a.claims(exp=None)), "exp")
    add("expired", rsa.sign(a.claims(exp=t - 3600)), "expired")
    add("expired beyond skew", rsa.sign(a.claims(exp=t - 120)), "expired")
    add("exp a string", rsa.sign(a.claims(exp=str(t + 600))), "exp")
    add("nbf in the future", rsa.sign(a.claims(nbf=t + 600)), "not valid yet")
    add("iat in the future", rsa.sign(a.claims(iat=t + 600)), "issued in the future")
    # sub
    add("sub missing", rsa.sign(a.claims(sub=None)), "sub")
    add("sub empty", rsa.sign(a.claims(sub="")), "sub")
    add("sub not a string", rsa.sign(a.claims(sub=12345)), "sub")
    # audience
    add("wrong aud", rsa.sign(a.claims(aud="api://other")), "audience")
    add("aud array without a match", rsa.sign(a.claims(aud=["api://x", "api://y"])), "audience")
    add("aud missing", rsa.sign(a.claims(aud=None)), "audience")
    add("aud prefix", rsa.sign(a.claims(aud=AUD[:-1])), "audience")
    add("aud with a suffix", rsa.sign(a.claims(aud=AUD + " ")), "audience")
    add("aud empty array", rsa.sign(a.claims(aud=[])), "audience")
    # other garbage
    add("Bearer prefix", f"Bearer {good}")
    add("whitespace around", f" {good} ")
    add("unicode", "ünï.cödé.tökén")
    return cases


def test_attack_catalog(server, data_client, idp_a, idp_b, wl_a):
    cases = attack_catalog(idp_a, idp_b)
    for_jwt(data_client, wl_a, idp_a.token())  # warm: the keys are known
    before = minted(server)
    refused_before = metric(server, "warrant_user_tokens_total", outcome="refused")
    problems = []
    n401 = 0
    for name, token, words in cases:
        try:
            refused(data_client, wl_a, token, words)
            n401 += 1
        except Exception as e:  # noqa: BLE001 - collected, all cases run
            problems.append(f"{name}: {e}")
    assert not problems, f"{len(problems)} of {len(cases)} cases:\n" + "\n".join(problems)
    assert minted(server) == before, "a WAT was minted for a refused token"
    assert metric(server, "warrant_user_tokens_total", outcome="refused") >= refused_before + n401


# ---------------------------------------------------------------------------------------
# 4. audience, clients, scopes, custom claims, several authorizers
# ---------------------------------------------------------------------------------------


def test_allowed_clients(server, client, data_client, idp_a):
    wl = trusting(server, client, jwt_authorizer(idp_a.discovery, clients=["app-1", "app-2"]))
    c = idp_a.claims
    for claims in (c(client_id="app-1"), c(client_id="app-2", aud=None),
                   c(azp="app-1", aud="anything"), c(client_id="app-1", azp="other")):
        for_jwt(data_client, wl, idp_a.token(claims=claims))
    for claims in (c(client_id="app-3"), c(azp="app-3"), c(), c(client_id="APP-1"),
                   c(client_id="app-3", azp="app-1"), c(client_id=["app-1"])):
        refused(data_client, wl, idp_a.token(claims=claims), "client")


def test_audience_and_clients_both_must_pass(server, client, data_client, idp_a):
    wl = trusting(server, client, jwt_authorizer(idp_a.discovery, audience=[AUD, "api://two"],
                                                 clients=["app-1"]))
    c = idp_a.claims
    for_jwt(data_client, wl, idp_a.token(claims=c(client_id="app-1")))
    for_jwt(data_client, wl, idp_a.token(claims=c(aud=["api://two"], client_id="app-1")))
    refused(data_client, wl, idp_a.token(claims=c(client_id="app-2")), "client")
    refused(data_client, wl, idp_a.token(claims=c(aud="api://x", client_id="app-1")), "audience")
    refused(data_client, wl, idp_a.token(claims=c(aud=None, client_id="app-1")), "audience")


def test_allowed_scopes(server, client, data_client, idp_a):
    wl = trusting(server, client, jwt_authorizer(idp_a.discovery, audience=[AUD],
                                                 scopes=["read", "write"]))
    c = idp_a.claims
    for claims in (c(scope="read write"), c(scope="admin write read"),
                   c(scp=["read", "write"]), c(scp=["write", "x", "read"]),
                   c(scp="read write")):
        for_jwt(data_client, wl, idp_a.token(claims=claims))
    for claims, missing in ((c(scope="read"), "write"), (c(scope="write"), "read"),
                            (c(scp=["read"]), "write"), (c(), "read"),
                            (c(scope="readwrite write"), "read"), (c(scope="READ write"), "read"),
                            (c(scope="read,write"), "read"), (c(scp=["read write"]), "read")):
        refused(data_client, wl, idp_a.token(claims=claims), ("scope", missing))
    wl1 = trusting(server, client, jwt_authorizer(idp_a.discovery, audience=[AUD],
                                                  scopes=["read"]))
    for_jwt(data_client, wl1, idp_a.token(claims=c(scp="read")))
    refused(data_client, wl1, idp_a.token(claims=c(scope="write")), ("scope", "read"))


def test_custom_claims(server, client, data_client, idp_a):
    wl = trusting(server, client, jwt_authorizer(idp_a.discovery, audience=[AUD], claims=[
        claim_rule("dept", "EQUALS", "eng"),
        claim_rule("groups", "CONTAINS", "admins"),
        claim_rule("roles", "CONTAINS_ANY", ["owner", "editor"])]))
    good = idp_a.claims(dept="eng", groups=["users", "admins"], roles=["viewer", "editor"])
    for_jwt(data_client, wl, idp_a.token(claims=good))
    for_jwt(data_client, wl, idp_a.token(claims={**good, "roles": ["owner"]}))
    bad = [
        ("dept", {"dept": "sales"}), ("dept", {"dept": None}), ("dept", {"dept": ["eng"]}),
        ("dept", {"dept": "ENG"}), ("dept", {"dept": "eng "}),
        ("groups", {"groups": ["users"]}), ("groups", {"groups": "admins"}),
        ("groups", {"groups": None}), ("groups", {"groups": []}),
        ("groups", {"groups": ["admin"]}),
        ("roles", {"roles": ["viewer"]}), ("roles", {"roles": []}), ("roles", {"roles": "owner"}),
        ("roles", {"roles": None}),
    ]
    for name, change in bad:
        claims = {**good, **change}
        claims = {k: v for k, v in claims.items() if v is not None}
        refused(data_client, wl, idp_a.token(claims=claims), ("claim", name))


def test_all_lists_combined(server, client, data_client, idp_a):
    wl = trusting(server, client, jwt_authorizer(
        idp_a.discovery, audience=[AUD], clients=["app-1"], scopes=["read"],
        claims=[claim_rule("tenant", "EQUALS", "t1")]))
    good = idp_a.claims(client_id="app-1", scope="read", tenant="t1")
    for_jwt(data_client, wl, idp_a.token(claims=good))
    for change, word in (({"aud": "x"}, "audience"), ({"client_id": "app-2"}, "client"),
                         ({"scope": "write"}, "scope"), ({"tenant": "t2"}, "tenant")):
        refused(data_client, wl, idp_a.token(claims={**good, **change}), word)


def test_several_authorizers(server, client, data_client, idp_a, idp_b):
    # two issuers: each token is checked by the authorizer of its issuer
    wl = trusting(server, client, jwt_authorizer(idp_a.discovery, audience=["api://for-a"]),
                  jwt_authorizer(idp_b.discovery, audience=["api://for-b"]))
    wat = for_jwt(data_client, wl, idp_a.token(claims=idp_a.claims(aud="api://for-a", sub="s")))
    check_wat(server, wat, wl, idp_a.iss, "s")
    wat = for_jwt(data_client, wl, idp_b.token(claims=idp_b.claims(aud="api://for-b", sub="s")))
    check_wat(server, wat, wl, idp_b.iss, "s")
    refused(data_client, wl, idp_a.token(claims=idp_a.claims(aud="api://for-b")), "audience")
    # the same issuer twice: any of them may accept
    wl2 = trusting(server, client, jwt_authorizer(idp_a.discovery, audience=["api://x"]),
                   jwt_authorizer(idp_a.discovery, clients=["app-y"]))
    for_jwt(data_client, wl2, idp_a.token(claims=idp_a.claims(aud="api://x")))
    for_jwt(data_client, wl2, idp_a.token(claims=idp_a.claims(aud="api://z", client_id="app-y")))
    refused(data_client, wl2, idp_a.token(claims=idp_a.claims(aud="api://z", client_id="app-z")))
    # an issuer no authorizer has
    wl3 = trusting(server, client, jwt_authorizer(idp_b.discovery, audience=[AUD]))
    msg = refused(data_client, wl3, idp_a.token(), ("issuer", "not trusted"))
    assert wl3 in msg, msg


def test_changes_apply_to_the_next_request(server, client, data_client, idp_a):
    wl = trusting(server, client, jwt_authorizer(idp_a.discovery, audience=["api://one"]))
    t1 = idp_a.token(claims=idp_a.claims(aud="api://one"))
    t2 = idp_a.token(claims=idp_a.claims(aud="api://two"))
    for_jwt(data_client, wl, t1)
    refused(data_client, wl, t2, "audience")
    assert put_authz(server, wl, [jwt_authorizer(idp_a.discovery, audience=["api://two"])]
                     ).status == 200
    for_jwt(data_client, wl, t2)
    refused(data_client, wl, t1, "audience")
    assert delete_authz(server, wl).status == 204
    refused(data_client, wl, t2, "trusts no JWT authorizer", code="ValidationException",
            status=400)


def test_issuer_must_match_the_discovery_document(server, client, fault_provider):
    """The discovery document's issuer must match the discovery URL's issuer prefix: a
    document claiming another issuer makes nothing trusted (reason not pinned)."""
    base = f"{fault_provider.base}/bad-issuer"
    wl = trusting(server, client, jwt_authorizer(base + WELL_KNOWN, audience=[AUD]))
    key = SigningKey.rsa("bad-issuer-key")
    before = minted(server)
    for iss in (base, "https://someone-else.example"):
        tok = key.sign({"iss": iss, "sub": "u", "aud": AUD, "exp": now() + 600})
        r = raw_for_jwt(server, {"workloadName": wl, "userToken": tok})
        assert r.status in (401, 500), r
        assert "workloadAccessToken" not in (r.json or {})
        no_token_in(r.message, tok)
    assert minted(server) == before


# ---------------------------------------------------------------------------------------
# 5. JWKS caching: rotation, refetch limits, an issuer that is down
# ---------------------------------------------------------------------------------------


def assert_fetch_failure(msg: str) -> None:
    """The 500's message says the issuer's keys or discovery document could not be
    fetched (the contract pins the meaning, not the words)."""
    low = msg.lower()
    assert "key" in low or "discovery" in low, msg
    assert any(w in low for w in ("fetch", "unreachable", "could not", "cannot")), msg


def test_cold_cache_issuer_down_fails_closed(server, client, data_client):
    port = free_port()  # nothing listens there
    wl = trusting(server, client, jwt_authorizer(
        f"http://127.0.0.1:{port}/.well-known/openid-configuration", audience=[AUD]))
    key = SigningKey.rsa("down-key")
    token = key.sign({"iss": f"http://127.0.0.1:{port}", "sub": "u", "aud": AUD,
                      "exp": now() + 600})
    before = minted(server)
    for _ in range(2):
        t0 = time.monotonic()
        msg = refused(data_client, wl, token, (), code="InternalServerException", status=500)
        assert time.monotonic() - t0 < 15
        assert_fetch_failure(msg)
    assert minted(server) == before


def _restart(spawn_oidc_provider, old: OidcProvider | None, port: int, keys_file: Path,
             label: str) -> OidcProvider:
    if old is not None and old.running():
        assert old.stop() == 0
    return spawn_oidc_provider(port=port, keys_file=keys_file, label=label)


def test_rotation_and_refetch_limit(spawn, spawn_oidc_provider, tmp_path):
    """Unknown kid → at most one JWKS refetch per --jwks-refetch-interval; a new key at the
    issuer is accepted after that refetch (without waiting for the TTL); the discovery
    document stays cached. A small --jwt-clock-skew applies."""
    interval = 2
    port = free_port()
    k_old, k_new = SigningKey.rsa("rot1-old"), SigningKey.rsa("rot1-new")
    idp = spawn_oidc_provider(port=port, keys_file=write_keys(tmp_path / "1.json", [k_old]),
                              label="jwt-rot1-idp")
    s = spawn(label="jwt-rotation", public_url=SESSION_PUBLIC_URL,
              args=["--outbound-allow", "127.0.0.1", "--jwks-refetch-interval", str(interval),
                    "--jwt-clock-skew", "5"])
    c, d = s.client(), s.data_client()
    iss = idp.issuer
    wl = trusting(s, c, jwt_authorizer(idp.discovery_url, audience=[AUD]))
    claims = lambda **kw: {"iss": iss, "sub": "rot-user", "aud": AUD,  # noqa: E731
                           "iat": now(), "exp": now() + 600, **kw}
    idp.reset()
    for_jwt(d, wl, k_old.sign(claims()))
    st = idp.stats()
    assert st["discovery_requests"] == 1 and st["jwks_requests"] == 1, st
    # the small skew of this server
    refused(d, wl, k_old.sign(claims(exp=now() - 20)), "expired")
    refused(d, wl, k_old.sign(claims(nbf=now() + 20)), "not valid yet")
    # a flood of unknown kids: at most one refetch within the interval
    t_flood = time.monotonic()
    for i in range(8):
        refused(d, wl, k_new.sign(claims(), kid=f"nope-{i}"), "key id")
    assert time.monotonic() - t_flood < interval, "the flood took longer than the interval"
    assert idp.stats()["jwks_requests"] <= 2, idp.stats()

    # rotation at the issuer: [new, old]
    idp = _restart(spawn_oidc_provider, idp, port, write_keys(tmp_path / "2.json",
                                                              [k_new, k_old]), "jwt-rot1-idp2")
    assert idp.issuer == iss
    new_token = k_new.sign(claims())
    t0 = time.monotonic()

    def new_accepted():
        try:
            for_jwt(d, wl, new_token)
        except Exception as e:  # noqa: BLE001 - retried
            raise AssertionError(str(e)) from None
    eventually(new_accepted, timeout=interval + 3, step=0.25)
    assert time.monotonic() - t0 < interval + 3
    for_jwt(d, wl, k_old.sign(claims()))  # both keys are published
    st = idp.stats()
    assert st["discovery_requests"] == 0, f"the discovery document was fetched again: {st}"
    assert 1 <= st["jwks_requests"] <= 3, st

    # once per interval: a burst right after a refetch fetches nothing, one after the
    # interval fetches exactly once
    time.sleep(interval + 0.5)
    base = idp.stats()["jwks_requests"]
    refused(d, wl, k_new.sign(claims(), kid="unknown-1"), "key id")
    assert idp.stats()["jwks_requests"] == base + 1, idp.stats()
    t1 = time.monotonic()
    for i in range(6):
        refused(d, wl, k_new.sign(claims(), kid=f"unknown-2-{i}"), "key id")
    assert time.monotonic() - t1 < interval
    assert idp.stats()["jwks_requests"] == base + 1, idp.stats()
    assert metric(s, "warrant_jwks_fetches_total", outcome="ok") >= 3


def test_removed_key_ages_out_and_issuer_down(spawn, spawn_oidc_provider, tmp_path):
    """--jwks-ttl: a key removed at the issuer keeps validating until the cached JWKS ages
    out, then is refused. Issuer down: the last good keys keep validating for
    --jwks-max-stale past their TTL, then requests fail closed (500)."""
    ttl, stale = 3, 4
    port = free_port()
    k_old, k_new = SigningKey.rsa("rot2-old"), SigningKey.rsa("rot2-new")
    idp = spawn_oidc_provider(port=port, keys_file=write_keys(tmp_path / "1.json",
                                                              [k_old, k_new]),
                              label="jwt-rot2-idp")
    s = spawn(label="jwt-ttl", public_url=SESSION_PUBLIC_URL,
              args=["--outbound-allow", "127.0.0.1", "--jwks-ttl", str(ttl),
                    "--jwks-refetch-interval", "1", "--jwks-max-stale", str(stale)])
    c, d = s.client(), s.data_client()
    iss = idp.issuer
    wl = trusting(s, c, jwt_authorizer(idp.discovery_url, audience=[AUD]))
    claims = lambda: {"iss": iss, "sub": "ttl-user", "aud": AUD,  # noqa: E731
                      "iat": now(), "exp": now() + 600}
    old_token, new_token = k_old.sign(claims()), k_new.sign(claims())
    for_jwt(d, wl, old_token)
    t_fetch = time.monotonic()
    for_jwt(d, wl, new_token)

    # the issuer drops the old key
    idp = _restart(spawn_oidc_provider, idp, port, write_keys(tmp_path / "2.json", [k_new]),
                   "jwt-rot2-idp2")
    t_refused = None
    while time.monotonic() < t_fetch + ttl + 4:
        t_req = time.monotonic()
        r = raw_for_jwt(s, {"workloadName": wl, "userToken": old_token})
        if r.status == 200:
            register_secret(r.json["workloadAccessToken"])
            assert t_req < t_fetch + ttl + 1.5, "the removed key was used past the TTL"
        else:
            assert_raw_error(r, "UnauthorizedException", 401, contains="key id")
            t_refused = time.monotonic()
            break
        time.sleep(0.2)
    assert t_refused is not None, "the removed key was still accepted long after the TTL"
    assert t_refused > t_fetch + ttl - 0.5, "the cached keys were dropped before their TTL"
    for_jwt(d, wl, new_token)
    t_good = time.monotonic()  # the last good fetch was at most now

    # the issuer goes down: stale keys keep validating, then fail closed
    assert idp.stop() == 0
    errors_before = metric(s, "warrant_jwks_fetches_total", outcome="error")
    time.sleep(max(0.0, t_good + ttl + 1 - time.monotonic()))
    for_jwt(d, wl, new_token)  # past the TTL, the refresh fails: the last good keys
    assert metric(s, "warrant_jwks_fetches_total", outcome="error") >= errors_before + 1
    time.sleep(max(0.0, t_good + ttl + stale + 1.5 - time.monotonic()))
    before = minted(s)
    msg = refused(d, wl, new_token, (), code="InternalServerException", status=500)
    assert_fetch_failure(msg)
    assert minted(s) == before
