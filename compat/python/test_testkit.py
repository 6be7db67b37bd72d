"""The OAuth test kit itself, without warrant: the real authorization server
(testkit/oidc-provider.mjs) and the fault-injecting one (faultprovider.py) behave as the
OAuth tests of warrant assume."""

from __future__ import annotations

import base64
import json
import re
import socket
import time

import uuid

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

import helpers
from faultprovider import HUGE_BYTES, METADATA_URL, MODES, REDIRECT_DISCOVERY_TARGET
from testkit import (OidcProvider, SigningKey, b64u_dec, client_credentials, free_port,
                     http_request, jwt_parts, write_keys)

OPAQUE = re.compile(r"^[A-Za-z0-9_-]{20,}$")


def jwt_payload(token: str) -> dict:
    parts = token.split(".")
    assert len(parts) == 3, f"not a JWS compact serialization ({len(parts)} parts)"
    pad = "=" * (-len(parts[1]) % 4)
    return json.loads(base64.urlsafe_b64decode(parts[1] + pad))


def get_json(url: str) -> tuple[int, dict | None]:
    status, _, body = http_request("GET", url)
    try:
        return status, json.loads(body)
    except ValueError:
        return status, None


# ---------------------------------------------------------------------------------------
# the real authorization server
# ---------------------------------------------------------------------------------------


def test_ready_line_and_discovery(oidc_provider):
    p = oidc_provider
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", p.issuer) and p.issuer.endswith(f":{p.port}")
    assert p.resource == "https://api.warrant-testkit.example"
    assert p.scopes == ["read", "write", "admin"]
    assert set(p.clients) == {"basic", "post"}
    for c in p.clients.values():
        assert c["client_id"] and len(c["client_secret"]) >= 32
    assert p.clients["basic"]["client_secret"] != p.clients["post"]["client_secret"]

    status, doc = get_json(p.discovery_url)
    assert status == 200
    assert doc["issuer"] == p.issuer  # exactly, no trailing slash
    assert doc["token_endpoint"] == p.token_endpoint == p.issuer + "/token"
    assert "client_credentials" in doc["grant_types_supported"]
    assert {"client_secret_basic", "client_secret_post"} <= set(
        doc["token_endpoint_auth_methods_supported"])
    assert {"read", "write", "admin"} <= set(doc["scopes_supported"])


def test_ready_line_is_logged_without_secrets(oidc_provider):
    log = oidc_provider.stdout_path.read_bytes()
    assert b"<redacted>" in log and oidc_provider.issuer.encode() in log
    for c in oidc_provider.clients.values():
        assert c["client_secret"] in helpers.SECRETS
        assert c["client_secret"].encode() not in log
        assert c["client_secret"].encode() not in oidc_provider.stderr_path.read_bytes()


@pytest.mark.parametrize("client", ["basic", "post"])
def test_client_credentials_without_resource_is_opaque(oidc_provider, client):
    status, body = oidc_provider.token(client, scope="read write")
    assert status == 200, body
    assert OPAQUE.match(body["access_token"]), body["access_token"]
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert body["scope"] == "read write"
    assert oidc_provider.stats()["last"]["auth"] == client


def test_client_credentials_without_scope(oidc_provider):
    status, body = oidc_provider.token("basic")
    assert status == 200, body
    assert body["access_token"] and body["expires_in"] == 3600 and "scope" not in body


def test_unknown_scopes_are_dropped_not_rejected(oidc_provider):
    status, body = oidc_provider.token("post", scope="read nope")
    assert status == 200, body
    assert body["scope"] == "read"


@pytest.mark.parametrize("client", ["basic", "post"])
def test_client_credentials_with_resource_is_a_jwt(oidc_provider, client):
    status, body = oidc_provider.token(client, scope="read admin nope",
                                       resource=oidc_provider.resource)
    assert status == 200, body
    claims = jwt_payload(body["access_token"])
    assert claims["aud"] == oidc_provider.resource
    assert claims["iss"] == oidc_provider.issuer
    assert claims["client_id"] == oidc_provider.clients[client]["client_id"]
    assert claims["scope"] == "read admin"
    assert claims["exp"] - claims["iat"] == 3600
    assert body["expires_in"] == 3600 and body["token_type"] == "Bearer"


def test_unknown_resource_is_invalid_target(oidc_provider):
    status, body = oidc_provider.token("basic", resource="https://other.example")
    assert status == 400 and body["error"] == "invalid_target", body


def test_every_fetch_is_a_new_token(oidc_provider):
    tokens = {oidc_provider.token("basic", scope="read")[1]["access_token"] for _ in range(3)}
    assert len(tokens) == 3


def test_unknown_parameters_are_ignored_and_recorded(oidc_provider):
    status, body = oidc_provider.token("post", scope="write", audience="https://aud.example",
                                       tenant="xyz")
    assert status == 200, body
    last = oidc_provider.stats()["last"]
    assert last["auth"] == "post"
    assert last["params"] == {
        "grant_type": "client_credentials",
        "client_id": oidc_provider.clients["post"]["client_id"],
        "scope": "write", "audience": "https://aud.example", "tenant": "xyz",
    }


def test_stats_count_every_token_request_and_reset(oidc_provider):
    p = oidc_provider
    p.reset()
    assert p.stats() == {"token_requests": 0, "last": None, "jwks_requests": 0,
                         "discovery_requests": 0}
    assert p.token("basic")[0] == 200
    assert p.token("post", scope="read")[0] == 200
    s = p.stats()
    assert s["token_requests"] == 2
    assert s["last"]["auth"] == "post"
    assert "client_secret" not in s["last"]["params"]
    assert p.clients["post"]["client_secret"] not in json.dumps(s)
    # failures count too
    assert p.token("basic", secret="wrong-" + "x" * 40)[0] == 401
    s = p.stats()
    assert s["token_requests"] == 3 and s["last"]["auth"] == "basic"
    assert s["last"]["params"] == {"grant_type": "client_credentials"}
    p.reset()
    assert p.stats()["token_requests"] == 0


@pytest.mark.parametrize("auth", ["basic", "post"])
def test_wrong_secret_is_401_invalid_client(oidc_provider, auth):
    status, body = oidc_provider.token(auth, secret="not-the-secret")
    assert status == 401
    assert body["error"] == "invalid_client", body


def test_unknown_client_is_401(oidc_provider):
    status, body = client_credentials(oidc_provider.token_endpoint, "nobody", "x" * 40)
    assert status == 401 and body["error"] == "invalid_client", body


def test_lenient_provider_accepts_either_method(oidc_provider):
    # oidc-provider treats client_secret_basic and client_secret_post as interchangeable
    assert oidc_provider.token("basic", auth="post")[0] == 200
    assert oidc_provider.stats()["last"]["auth"] == "post"
    assert oidc_provider.token("post", auth="basic")[0] == 200
    assert oidc_provider.stats()["last"]["auth"] == "basic"


def test_own_provider_token_ttl_and_strict_client_auth(spawn_oidc_provider, oidc_provider):
    p = spawn_oidc_provider(token_ttl=2, strict_client_auth=True)
    assert p.issuer != oidc_provider.issuer
    assert p.clients["basic"]["client_secret"] != oidc_provider.clients["basic"]["client_secret"]
    status, body = p.token("basic", scope="read")
    assert status == 200 and body["expires_in"] == 2, body
    status, body = p.token("post", resource=p.resource)
    assert status == 200 and body["expires_in"] == 2, body
    claims = jwt_payload(body["access_token"])
    assert claims["exp"] - claims["iat"] == 2
    # strict: only the registered method
    status, body = p.token("basic", auth="post")
    assert status == 401 and body["error"] == "invalid_client", body
    status, body = p.token("post", auth="basic")
    assert status == 401 and body["error"] == "invalid_client", body
    assert p.stats()["token_requests"] == 4


# ---------------------------------------------------------------------------------------
# end-user logins, key files, counters, restarts on a fixed port
# ---------------------------------------------------------------------------------------


def _verify(token: str, keys: dict) -> tuple[dict, dict]:
    """Verify a compact JWS with one of `keys` (kid -> SigningKey), independently of the kit."""
    header, claims = jwt_parts(token)
    key = keys[header["kid"]]
    h, p, s = token.split(".")
    pub = key.key.public_key()
    sig = b64u_dec(s)
    alg = header["alg"]
    if alg == "RS256":
        pub.verify(sig, f"{h}.{p}".encode(), padding.PKCS1v15(), hashes.SHA256())
    elif alg == "ES256":
        r, sv = int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")
        pub.verify(encode_dss_signature(r, sv), f"{h}.{p}".encode(), ec.ECDSA(hashes.SHA256()))
    elif alg == "EdDSA":
        pub.verify(sig, f"{h}.{p}".encode())
    else:
        raise AssertionError(f"unexpected alg {alg}")
    return header, claims


@pytest.fixture(scope="module")
def keyed_provider(tmp_path_factory):
    keys = [SigningKey.rsa("kit-rsa"), SigningKey.ec("kit-ec"), SigningKey.ed25519("kit-ed")]
    path = write_keys(tmp_path_factory.mktemp("kit-keys") / "keys.json", keys)
    p = OidcProvider(keys_file=path, label="oidc-provider-keyed").start()
    yield p, {k.kid: k for k in keys}
    assert p.stop() == 0


def test_keys_file_is_the_jwks(keyed_provider):
    p, keys = keyed_provider
    assert p.kids == ["kit-rsa", "kit-ec", "kit-ed"]
    status, doc = get_json(p.discovery_url)
    assert status == 200 and doc["jwks_uri"] == p.jwks_uri
    assert {"RS256", "ES256", "EdDSA"} <= set(doc["id_token_signing_alg_values_supported"])
    status, jwks = get_json(p.jwks_uri)
    assert status == 200
    assert [(k["kid"], k["alg"]) for k in jwks["keys"]] == [
        ("kit-rsa", "RS256"), ("kit-ec", "ES256"), ("kit-ed", "EdDSA")]
    for k in jwks["keys"]:
        assert "d" not in k and "p" not in k, k
        assert {m: v for m, v in k.items() if v is not None} == keys[k["kid"]].public_jwk()


def test_login_gives_an_id_token_of_the_user(keyed_provider):
    p, keys = keyed_provider
    c = p.login_clients["login"]
    assert c["id_token_signed_response_alg"] == "RS256"
    assert c["redirect_uri"] == p.redirect_uri and p.redirect_uri.startswith("http://127.0.0.1:")
    assert c["client_secret"] in helpers.SECRETS
    user = "alice-" + uuid.uuid4().hex[:6]
    out = p.login(user)
    assert out["token_type"] == "Bearer" and out["refresh_token"]
    for k in ("id_token", "access_token", "refresh_token"):
        assert out[k] in helpers.SECRETS
    header, claims = _verify(out["id_token"], keys)
    assert header == {"alg": "RS256", "typ": "JWT", "kid": "kit-rsa"}
    assert claims["iss"] == p.issuer and claims["sub"] == user
    assert claims["aud"] == c["client_id"]
    assert claims["exp"] > claims["iat"] >= time.time() - 60
    assert OPAQUE.match(out["access_token"]), "no resource asked: the access token is opaque"
    assert p.stats()["last"]["params"]["grant_type"] == "authorization_code"


def test_login_with_the_resource_gives_a_jwt_access_token(keyed_provider):
    p, keys = keyed_provider
    out = p.login("bob", resource=True, scope="openid read admin")
    header, claims = _verify(out["access_token"], keys)
    assert header == {"alg": "RS256", "typ": "at+jwt", "kid": "kit-rsa"}
    assert claims["iss"] == p.issuer and claims["sub"] == "bob"
    assert claims["aud"] == p.resource
    assert claims["client_id"] == p.login_clients["login"]["client_id"]
    assert claims["scope"] == "read admin"
    assert _verify(out["id_token"], keys)[1]["sub"] == "bob"


@pytest.mark.parametrize("client,alg,kid", [("login-es256", "ES256", "kit-ec"),
                                            ("login-eddsa", "EdDSA", "kit-ed")])
def test_login_clients_per_algorithm(keyed_provider, client, alg, kid):
    p, keys = keyed_provider
    assert set(p.login_clients) == {"login", "login-es256", "login-eddsa"}
    assert p.login_clients[client]["id_token_signed_response_alg"] == alg
    header, claims = _verify(p.login(f"user-{alg}", client=client)["id_token"], keys)
    assert header["alg"] == alg and header["kid"] == kid
    assert claims["sub"] == f"user-{alg}" and claims["aud"] == p.login_clients[client]["client_id"]


def test_default_provider_has_one_login_client(oidc_provider):
    assert set(oidc_provider.login_clients) == {"login"}
    assert len(oidc_provider.kids) == 1
    out = oidc_provider.login("carol", resource=True)
    assert jwt_parts(out["access_token"])[1]["sub"] == "carol"
    log = oidc_provider.stdout_path.read_bytes()
    assert oidc_provider.login_clients["login"]["client_secret"].encode() not in log


def test_stats_count_jwks_and_discovery(keyed_provider):
    p, _ = keyed_provider
    p.reset()
    s = p.stats()
    assert (s["jwks_requests"], s["discovery_requests"]) == (0, 0)
    for _ in range(3):
        assert get_json(p.jwks_uri)[0] == 200
    assert get_json(p.discovery_url)[0] == 200
    s = p.stats()
    assert (s["jwks_requests"], s["discovery_requests"], s["token_requests"]) == (3, 1, 0)
    p.reset()
    s = p.stats()
    assert (s["jwks_requests"], s["discovery_requests"]) == (0, 0)


def test_restart_on_a_fixed_port_with_new_keys(spawn_oidc_provider, tmp_path):
    old, new = SigningKey.rsa("rot-old"), SigningKey.rsa("rot-new")
    port = free_port()
    p1 = spawn_oidc_provider(port=port, keys_file=write_keys(tmp_path / "1.json", [old]))
    assert p1.port == port and p1.issuer == f"http://127.0.0.1:{port}"
    assert jwt_parts(p1.login("dan")["id_token"])[0]["kid"] == "rot-old"
    assert p1.stop() == 0
    p2 = spawn_oidc_provider(port=port, keys_file=write_keys(tmp_path / "2.json", [new, old]))
    assert p2.issuer == p1.issuer
    assert [k["kid"] for k in get_json(p2.jwks_uri)[1]["keys"]] == ["rot-new", "rot-old"]
    # the first key of the set signs
    out = p2.login("dan", resource=True)
    assert jwt_parts(out["id_token"])[0]["kid"] == "rot-new"
    assert jwt_parts(out["access_token"])[0]["kid"] == "rot-new"


@pytest.mark.parametrize("content", ["not json", '{"keys": []}',
                                     '{"keys": [{"kty": "RSA"}]}'])
def test_bad_keys_file_is_a_usage_error(tmp_path, content):
    path = tmp_path / "keys.json"
    path.write_text(content)
    p = OidcProvider(keys_file=path, label="oidc-provider-badkeys")
    with pytest.raises(AssertionError):
        p.start()
    assert p.returncode == 2


def test_forged_tokens_verify_with_the_key(keyed_provider):
    _, keys = keyed_provider
    for key in keys.values():
        token = key.sign({"sub": "x", "exp": 1})
        header, claims = _verify(token, keys)
        assert header == {"alg": key.alg, "typ": "JWT", "kid": key.kid} and claims["sub"] == "x"
        assert token in helpers.SECRETS


# ---------------------------------------------------------------------------------------
# the fault-injecting provider
# ---------------------------------------------------------------------------------------

SPECIAL = ["bad-issuer", "metadata-ip"]


@pytest.mark.parametrize("mode", list(MODES) + SPECIAL)
@pytest.mark.parametrize("doc", ["openid-configuration", "oauth-authorization-server"])
def test_fault_discovery(fault_provider, mode, doc):
    fp = fault_provider
    before = fp.discovery_hits(mode)
    status, body = get_json(f"{fp.base}/{mode}/.well-known/{doc}")
    assert status == 200
    assert fp.discovery_hits(mode) == before + 1
    issuer = {"bad-issuer": "https://someone-else.example"}.get(mode, f"{fp.base}/{mode}")
    token = {"metadata-ip": "http://169.254.169.254/token"}.get(mode, f"{fp.base}/{mode}/token")
    assert body == {
        "issuer": issuer,
        "token_endpoint": token,
        "authorization_endpoint": f"{fp.base}/{mode}/authorize",
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "response_types_supported": ["code"],
        "grant_types_supported": ["client_credentials", "authorization_code"],
    }
    if mode in MODES:
        assert fp.discovery_url(mode) == f"{fp.base}/{mode}/.well-known/openid-configuration"
        assert fp.token_url(mode) == token and fp.issuer(mode) == issuer


@pytest.mark.parametrize("doc", ["openid-configuration", "oauth-authorization-server"])
def test_fault_redirecting_discovery(fault_provider, doc):
    status, headers, body = http_request(
        "GET", f"{fault_provider.base}/redirect-discovery/.well-known/{doc}")
    assert status == 302
    assert headers["location"] == REDIRECT_DISCOVERY_TARGET


def test_fault_unknown_paths_are_404(fault_provider):
    assert http_request("GET", fault_provider.base + "/nope/.well-known/openid-configuration")[0] == 404
    assert http_request("POST", fault_provider.base + "/nope/token", b"x=1")[0] == 404
    assert http_request("POST", fault_provider.base + "/metadata-ip/token", b"x=1")[0] == 404


def fetch(fp, mode: str, auth: str = "basic", timeout: float = 30, **params):
    return client_credentials(fp.token_url(mode), "fault-client", "fault-secret-" + "s" * 32,
                              auth=auth, timeout=timeout, **params)


@pytest.mark.parametrize("mode,expires_in", [("ok", 3600), ("short", 2), ("noexpiry", None),
                                             ("bad-issuer", 3600)])
def test_fault_good_tokens(fault_provider, mode, expires_in):
    fp = fault_provider
    fp.reset()
    seen = set()
    for i in (1, 2):
        status, body = fetch(fp, mode, scope="read")
        assert status == 200, body
        assert re.fullmatch(rf"fault-{re.escape(mode)}-{i}-[0-9a-f]{{16}}", body["access_token"])
        assert body["token_type"] == "Bearer"
        assert body.get("expires_in") == expires_in
        assert ("expires_in" in body) == (expires_in is not None)
        seen.add(body["access_token"])
    assert len(seen) == 2 and set(fp.issued(mode)) == seen
    assert fp.hits(mode) == 2


def test_fault_slow(fault_provider):
    fp = fault_provider
    assert fp.slow_seconds == 5
    fp.slow_seconds = 0.6
    try:
        t0 = time.monotonic()
        status, body = fetch(fp, "slow")
        took = time.monotonic() - t0
        assert status == 200 and body["access_token"].startswith("fault-slow-"), body
        assert took >= 0.6
        with pytest.raises((TimeoutError, socket.timeout, OSError)):
            fetch(fp, "slow", timeout=0.2)
    finally:
        fp.slow_seconds = 5


def test_fault_500(fault_provider):
    status, headers, body = http_request("POST", fault_provider.token_url("500"),
                                         b"grant_type=client_credentials")
    assert status == 500 and headers["content-type"].startswith("text/plain") and body


def test_fault_garbage(fault_provider):
    status, _, body = http_request("POST", fault_provider.token_url("garbage"),
                                   b"grant_type=client_credentials")
    assert status == 200 and body == b"<html>not json</html>"


def test_fault_missing(fault_provider):
    status, body = fetch(fault_provider, "missing")
    assert status == 200 and body == {"token_type": "Bearer", "expires_in": 3600}


def test_fault_oauth_error(fault_provider):
    status, body = fetch(fault_provider, "oauth_error", scope="nope")
    assert status == 400
    assert body == {"error": "invalid_scope", "error_description": "scope nope is not allowed"}


def test_fault_redirect(fault_provider):
    status, headers, _ = http_request("POST", fault_provider.token_url("redirect"),
                                      b"grant_type=client_credentials")
    assert status == 302 and headers["location"] == METADATA_URL


def test_fault_huge(fault_provider):
    status, headers, body = http_request("POST", fault_provider.token_url("huge"),
                                         b"grant_type=client_credentials", timeout=30)
    assert status == 200
    assert len(body) == HUGE_BYTES == 5 * 1024 * 1024
    assert int(headers["content-length"]) == HUGE_BYTES
    doc = json.loads(body)
    assert doc["access_token"].startswith("fault-huge-") and doc["expires_in"] == 3600


@pytest.mark.parametrize("auth", ["basic", "post"])
def test_fault_records_requests_without_the_secret(fault_provider, auth):
    fp = fault_provider
    fp.reset()
    status, _ = fetch(fp, "ok", auth=auth, scope="read write", audience="https://a.example",
                      tenant="xyz")
    assert status == 200
    last = fp.last("ok")
    assert last["basic"] is (auth == "basic")
    assert last["client_secret_in_form"] is (auth == "post")
    assert last["basic_client_id"] == ("fault-client" if auth == "basic" else None)
    expected = {"grant_type": "client_credentials", "scope": "read write",
                "audience": "https://a.example", "tenant": "xyz"}
    if auth == "post":
        expected["client_id"] = "fault-client"
    assert last["params"] == expected
    assert "fault-secret" not in json.dumps(last)
    assert fp.hits("ok") == 1 and fp.hits("short") == 0 and fp.last("short") is None
    fp.reset()
    assert fp.hits("ok") == 0 and fp.last("ok") is None and fp.issued("ok") == []


def test_fault_every_mode_counts(fault_provider):
    fp = fault_provider
    fp.reset()
    fp.slow_seconds = 0
    try:
        for mode in MODES:
            http_request("POST", fp.token_url(mode), b"grant_type=client_credentials", timeout=30)
    finally:
        fp.slow_seconds = 5
    assert {m: fp.hits(m) for m in MODES} == {m: 1 for m in MODES}
