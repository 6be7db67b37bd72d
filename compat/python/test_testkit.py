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
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

import helpers
from faultprovider import HUGE_BYTES, METADATA_URL, MODES, REDIRECT_DISCOVERY_TARGET
from testkit import (Browser, OidcProvider, QuirkProvider, SigningKey, _pkce, b64u_dec,
                     basic_auth, client_credentials, free_port, http_request, jwt_parts,
                     register_client, write_keys)

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
                         "discovery_requests": 0, "grants": {}, "grants_by_client": {},
                         "authorization_requests": 0, "registrations": 0}
    assert p.token("basic")[0] == 200
    assert p.token("post", scope="read")[0] == 200
    s = p.stats()
    assert s["token_requests"] == 2
    assert s["grants"] == {"client_credentials": 2}
    assert s["grants_by_client"] == {p.clients["basic"]["client_id"]: {"client_credentials": 1},
                                     p.clients["post"]["client_id"]: {"client_credentials": 1}}
    assert s["last"]["auth"] == "post"
    assert "client_secret" not in s["last"]["params"]
    assert p.clients["post"]["client_secret"] not in json.dumps(s)
    # failures count too
    assert p.token("basic", secret="wrong-" + "x" * 40)[0] == 401
    s = p.stats()
    assert s["token_requests"] == 3 and s["last"]["auth"] == "basic"
    assert s["last"]["params"] == {"grant_type": "client_credentials"}
    assert s["grants"] == {"client_credentials": 3}
    p.reset()
    assert p.stats()["token_requests"] == 0 and p.stats()["grants"] == {}


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


# ---------------------------------------------------------------------------------------
# 3LO pieces: registered clients at the real server, the scripted browser, the quirk
# provider (testkit/quirk_provider.py)
# ---------------------------------------------------------------------------------------

APP_CB = "https://warrant.example.test/identities/oauth2/callback/kit-" + uuid.uuid4().hex[:8]


def _code_flow(p: OidcProvider, client: dict, username: str = "kit-user", *, deny=False,
               scope: str = "read write", **extra) -> tuple[str, str, Browser]:
    """Authorization request as warrant would make it; the browser logs in and consents
    (or cancels). Returns (the URL the provider sent the browser back to, verifier, browser)."""
    verifier, challenge = _pkce()
    q = {"response_type": "code", "client_id": client["client_id"],
         "redirect_uri": client["redirect_uris"][0], "scope": scope, "state": "kit-state",
         "code_challenge": challenge, "code_challenge_method": "S256", **extra}
    b = Browser()
    back = b.at_provider(p.issuer + "/auth?" + urlencode(q), username, deny=deny)
    return back, verifier, b


def _redeem(p: OidcProvider, client: dict, code: str, verifier: str, auth: str = "basic"):
    form = {"grant_type": "authorization_code", "code": code,
            "redirect_uri": client["redirect_uris"][0], "code_verifier": verifier}
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if auth == "basic":
        headers["Authorization"] = basic_auth(client["client_id"], client["client_secret"])
    else:
        form.update(client_id=client["client_id"], client_secret=client["client_secret"])
    status, _, body = http_request("POST", p.token_endpoint, urlencode(form).encode(), headers)
    doc = json.loads(body)
    for k in ("access_token", "refresh_token"):
        if isinstance(doc.get(k), str):
            helpers.register_secret(doc[k])
    return status, doc


def test_registration_is_advertised_and_open(oidc_provider):
    status, doc = get_json(oidc_provider.discovery_url)
    assert status == 200
    assert doc["registration_endpoint"] == oidc_provider.issuer + "/reg"
    assert doc["authorization_response_iss_parameter_supported"] is True
    assert {"authorization_code", "refresh_token"} <= set(doc["grant_types_supported"])
    c = register_client(oidc_provider, APP_CB, auth_method="client_secret_post")
    assert c["redirect_uris"] == [APP_CB]
    assert c["token_endpoint_auth_method"] == "client_secret_post"
    assert c["grant_types"] == ["authorization_code", "refresh_token"]
    assert len(c["client_secret"]) >= 43 and c["client_secret"] in helpers.SECRETS
    # the kit's own members are validated like any metadata
    status, _, body = http_request("POST", oidc_provider.issuer + "/reg", json.dumps({
        "redirect_uris": [APP_CB], "testkit_access_token_ttl": "soon"}).encode(),
        {"Content-Type": "application/json"})
    assert status == 400 and json.loads(body)["error"] == "invalid_client_metadata"


@pytest.mark.parametrize("auth", ["basic", "post"])
def test_registered_client_code_flow_with_rotation(oidc_provider, auth):
    p = oidc_provider
    c = register_client(p, APP_CB, auth_method=f"client_secret_{auth}", access_token_ttl=7)
    p.reset()
    back, verifier, _ = _code_flow(p, c, custom_thing="x y")
    assert back.startswith(APP_CB + "?")
    q = {k: v[0] for k, v in parse_qs(urlsplit(back).query).items()}
    assert q["state"] == "kit-state" and q["iss"] == p.issuer and "code" in q  # RFC 9207
    # every authorization parameter is recorded, unknown ones included
    auths = p.authorizations()
    assert len(auths) == 1 and auths[0]["params"]["custom_thing"] == "x y"
    assert auths[0]["params"]["code_challenge_method"] == "S256"
    status, tok = _redeem(p, c, q["code"], verifier, auth)
    assert status == 200, tok
    assert tok["expires_in"] == 7 and tok["scope"] == "read write" and tok["token_type"] == "Bearer"
    assert OPAQUE.match(tok["access_token"]) and tok["refresh_token"]
    assert "id_token" not in tok
    # the code is single use (and its replay revokes the grant: oidc-provider's behaviour)
    assert _redeem(p, c, q["code"], verifier, auth)[1]["error"] == "invalid_grant"
    issued = p.issued()
    assert {"client_id": c["client_id"], "value": q["code"]} in issued["codes"]
    assert any(t["value"] == tok["access_token"] for t in issued["access_tokens"])
    assert p.grants() == {"authorization_code": 2}


def test_refresh_rotation_and_replay_revokes_the_grant(oidc_provider):
    p = oidc_provider
    c = register_client(p, APP_CB)
    back, verifier, _ = _code_flow(p, c)
    code = parse_qs(urlsplit(back).query)["code"][0]
    p.reset()
    tok = _redeem(p, c, code, verifier)[1]
    s1, r1 = p.refresh_token_grant(c["client_id"], c["client_secret"], tok["refresh_token"])
    assert s1 == 200 and r1["refresh_token"] != tok["refresh_token"], r1
    assert r1["access_token"] != tok["access_token"] and r1["scope"] == "read write"
    # the used refresh token is dead; presenting it again revokes the grant, so the new
    # refresh token dies with it
    s2, r2 = p.refresh_token_grant(c["client_id"], c["client_secret"], tok["refresh_token"])
    assert s2 == 400 and r2["error"] == "invalid_grant"
    s3, r3 = p.refresh_token_grant(c["client_id"], c["client_secret"], r1["refresh_token"])
    assert s3 == 400 and r3["error"] == "invalid_grant"
    assert p.grants() == {"authorization_code": 1, "refresh_token": 3}
    assert p.grants(c["client_id"]) == {"authorization_code": 1, "refresh_token": 3}
    assert p.grants("someone-else") == {}


def test_refresh_without_rotation_when_opted_out(oidc_provider):
    p = oidc_provider
    c = register_client(p, APP_CB, rotate=False)
    back, verifier, _ = _code_flow(p, c)
    tok = _redeem(p, c, parse_qs(urlsplit(back).query)["code"][0], verifier)[1]
    for _ in range(2):
        s, r = p.refresh_token_grant(c["client_id"], c["client_secret"], tok["refresh_token"])
        assert s == 200 and r.get("refresh_token") in (None, tok["refresh_token"]), r


def test_revoke_grants_kills_codes_and_refresh_tokens(oidc_provider):
    p = oidc_provider
    c = register_client(p, APP_CB)
    back, verifier, _ = _code_flow(p, c)
    tok = _redeem(p, c, parse_qs(urlsplit(back).query)["code"][0], verifier)[1]
    back2, verifier2, _ = _code_flow(p, c)
    assert p.revoke_grants(c["client_id"]) == 2
    status, r = p.refresh_token_grant(c["client_id"], c["client_secret"], tok["refresh_token"])
    assert status == 400 and r["error"] == "invalid_grant"
    status, r = _redeem(p, c, parse_qs(urlsplit(back2).query)["code"][0], verifier2)
    assert status == 400 and r["error"] == "invalid_grant"
    assert p.revoke_grants(c["client_id"]) == 0


def test_cancel_at_the_provider_is_access_denied(oidc_provider):
    p = oidc_provider
    c = register_client(p, APP_CB)
    back, _, _ = _code_flow(p, c, deny=True)
    q = {k: v[0] for k, v in parse_qs(urlsplit(back).query).items()}
    assert q["error"] == "access_denied" and q["state"] == "kit-state" and "code" not in q
    assert q["iss"] == p.issuer


def test_browser_maps_public_origins_and_stays_local():
    b = Browser({"https://warrant.example.test": "http://127.0.0.1:9"})
    assert b._real("https://warrant.example.test/x?y=1") == "http://127.0.0.1:9/x?y=1"
    with pytest.raises(AssertionError):
        b.get("https://elsewhere.example/")


@pytest.fixture(scope="module")
def quirks(quirk_provider):
    """The session's quirk provider, reset (no redirect URI registered: the kit's flows
    use the unregistered QUIRK_CB) before and after this module's tests."""
    quirk_provider.reset()
    yield quirk_provider
    quirk_provider.reset()


QUIRK_CB = "https://warrant.example.test/identities/oauth2/callback/quirk-kit"
# vendor -> (authorization path, token path, auth, extra authorization parameters)
QUIRK_FLOWS = {
    "GithubOauth2": ("/login/oauth/authorize", "/login/oauth/access_token", "post", {}),
    "SlackOauth2": ("/oauth/v2/authorize", "/api/oauth.v2.access", "basic", {}),
    "SalesforceOauth2": ("/services/oauth2/authorize", "/services/oauth2/token", "basic", {}),
    "GoogleOauth2": ("/o/oauth2/v2/auth", "/token", "post",
                     {"access_type": "offline", "prompt": "consent"}),
    "AtlassianOauth2": ("/authorize", "/oauth/token", "post",
                        {"audience": "api.atlassian.com", "prompt": "consent"}),
    "MicrosoftOauth2": ("/contoso/oauth2/v2.0/authorize", "/contoso/oauth2/v2.0/token", "basic",
                        {}),
    "TwitchOauth2": ("/oauth2/authorize", "/oauth2/token", "post", {}),
    "RedditOauth2": ("/api/v1/authorize", "/api/v1/access_token", "basic",
                     {"duration": "permanent"}),
    "DropboxOauth2": ("/oauth2/authorize", "/oauth2/token", "basic",
                      {"token_access_type": "offline"}),
    "XOauth2": ("/i/oauth2/authorize", "/2/oauth2/token", "basic", {}),
    "OktaOauth2": ("/oauth2/default/v1/authorize", "/oauth2/default/v1/token", "post", {}),
}
OFFLINE_SCOPE = {"AtlassianOauth2": "offline_access", "MicrosoftOauth2": "offline_access",
                 "OktaOauth2": "offline_access", "XOauth2": "offline.access"}


def quirk_code(q: QuirkProvider, vendor: str, scope: str = "a b", extra=None,
               redirect_uri: str = QUIRK_CB) -> tuple[int, dict, str]:
    """An authorization at the quirk provider: (status, headers, verifier)."""
    path = QUIRK_FLOWS[vendor][0]
    verifier, challenge = _pkce()
    params = {"response_type": "code", "client_id": q.clients[vendor]["client_id"],
              "redirect_uri": redirect_uri, "state": "st",
              "code_challenge": challenge, "code_challenge_method": "S256",
              ("user_scope" if vendor == "SlackOauth2" else "scope"): scope}
    params.update(extra if extra is not None else QUIRK_FLOWS[vendor][3])
    status, headers, _ = http_request("GET", q.origin + path + "?" + urlencode(params))
    return status, headers, verifier


def quirk_token(q: QuirkProvider, vendor: str, form: dict, *, auth: str | None = None,
                accept: str = "application/json", secret: str | None = None):
    path, auth = QUIRK_FLOWS[vendor][1], auth or QUIRK_FLOWS[vendor][2]
    c = q.clients[vendor]
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept": accept}
    form = dict(form)
    if auth == "basic":
        headers["Authorization"] = basic_auth(c["client_id"], secret or c["client_secret"])
    else:
        form.update(client_id=c["client_id"], client_secret=secret or c["client_secret"])
    status, h, body = http_request("POST", q.origin + path, urlencode(form).encode(), headers)
    if h.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        doc = {k: v[0] for k, v in parse_qs(body.decode()).items()}
    else:
        doc = json.loads(body)
    return status, h, doc


def quirk_login(q: QuirkProvider, vendor: str, scope: str = "a b", extra=None, **kw):
    status, headers, verifier = quirk_code(q, vendor, scope, extra)
    assert status == 303, (vendor, status)
    loc = urlsplit(headers["location"])
    assert loc.netloc == "warrant.example.test"
    code = parse_qs(loc.query)["code"][0]
    return quirk_token(q, vendor, {"grant_type": "authorization_code", "code": code,
                                   "redirect_uri": QUIRK_CB, "code_verifier": verifier}, **kw)


def test_quirk_ready_line_and_logs(quirks):
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", quirks.origin)
    assert set(quirks.clients) == set(QUIRK_FLOWS)
    log = quirks.stdout_path.read_bytes()
    assert b"<redacted>" in log
    for c in quirks.clients.values():
        assert c["client_secret"].encode() not in log and c["client_secret"] in helpers.SECRETS
    args = quirks.danger_args()
    assert args.count("--danger-vendor-endpoint") == len(QUIRK_FLOWS) - 1
    assert f"GithubOauth2={quirks.origin}" in args


@pytest.mark.parametrize("vendor", sorted(QUIRK_FLOWS))
def test_quirk_vendor_shapes(quirks, vendor):
    quirks.reset()
    scope = "a b " + OFFLINE_SCOPE.get(vendor, "")
    status, headers, doc = quirk_login(quirks, vendor, scope.strip())
    assert status == 200, doc
    if vendor == "SlackOauth2":
        assert doc["ok"] is True and doc["token_type"] == "bot"
        user = doc["authed_user"]
        assert user["access_token"].startswith("xoxp-") and user["token_type"] == "user"
        assert user["scope"] == "a,b" and user["refresh_token"] and user["expires_in"] > 0
        rt = user["refresh_token"]
    else:
        assert doc["access_token"]
        rt = doc.get("refresh_token")
        assert rt, doc
    if vendor == "SalesforceOauth2":
        assert "expires_in" not in doc and doc["instance_url"].startswith("https://")
    elif vendor == "TwitchOauth2":
        assert doc["scope"] == ["a", "b"]
    elif vendor == "GithubOauth2":
        assert doc["scope"] == "a,b" and doc["expires_in"] == 28800
    elif vendor != "SlackOauth2":
        assert doc["expires_in"] > 0 and set(doc["scope"].split()) >= {"a", "b"}
    st = quirks.vendor_stats(vendor)
    assert st["token_requests"] == {"authorization_code": 1}
    assert st["last_token_request"]["auth"] == QUIRK_FLOWS[vendor][2]
    assert "client_secret" not in st["last_token_request"]["params"]
    assert len(st["authorizations"]) == 1
    # refresh: rotated where the vendor rotates
    s1, _, r1 = quirk_token(quirks, vendor, {"grant_type": "refresh_token", "refresh_token": rt})
    assert s1 == 200 and (r1.get("ok", True) is True) and r1["access_token"], r1
    s2, _, r2 = quirk_token(quirks, vendor, {"grant_type": "refresh_token", "refresh_token": rt})
    rotates = vendor in ("GithubOauth2", "SlackOauth2", "AtlassianOauth2", "TwitchOauth2",
                         "XOauth2", "OktaOauth2")
    if rotates:
        assert r1["refresh_token"] != rt
        assert "access_token" not in r2, r2
    else:
        assert s2 == 200 and r2["access_token"], r2
        if vendor != "MicrosoftOauth2":
            assert "refresh_token" not in r1, r1
    assert quirks.vendor_stats(vendor)["token_requests"] == {"authorization_code": 1,
                                                             "refresh_token": 2}


def test_quirk_github_form_encoding_and_errors_with_200(quirks):
    quirks.reset()
    status, headers, doc = quirk_login(quirks, "GithubOauth2", accept="*/*")
    assert status == 200
    assert headers["content-type"].startswith("application/x-www-form-urlencoded")
    assert doc["access_token"].startswith("ghu_") and doc["token_type"] == "bearer"
    status, _, doc = quirk_token(quirks, "GithubOauth2", {
        "grant_type": "authorization_code", "code": "nope", "redirect_uri": QUIRK_CB})
    assert status == 200 and doc["error"] == "bad_verification_code"
    status, _, doc = quirk_token(quirks, "GithubOauth2", {"grant_type": "refresh_token",
                                                          "refresh_token": "nope"}, secret="bad")
    assert status == 200 and doc["error"] == "incorrect_client_credentials"


def test_quirk_slack_errors_are_ok_false_with_200(quirks):
    status, _, doc = quirk_token(quirks, "SlackOauth2", {
        "grant_type": "authorization_code", "code": "nope", "redirect_uri": QUIRK_CB})
    assert status == 200 and doc == {"ok": False, "error": "invalid_code"}


@pytest.mark.parametrize("vendor,extra", [
    ("GoogleOauth2", {}), ("GoogleOauth2", {"access_type": "offline"}),
    ("RedditOauth2", {}), ("DropboxOauth2", {}), ("AtlassianOauth2", None),
    ("MicrosoftOauth2", {}), ("XOauth2", {}), ("OktaOauth2", {})])
def test_quirk_no_refresh_token_without_offline(quirks, vendor, extra):
    status, _, doc = quirk_login(quirks, vendor, "a b", extra)
    assert status == 200 and doc["access_token"] and "refresh_token" not in doc, doc


def test_quirk_atlassian_refuses_without_audience(quirks):
    for extra in ({}, {"audience": "api.atlassian.com"}, {"prompt": "consent"}):
        status, headers, _ = quirk_code(quirks, "AtlassianOauth2", extra=extra)
        assert status == 400 and "location" not in headers


def test_quirk_client_auth_pkce_and_redirect_uri_are_checked(quirks):
    # Reddit: Basic only; Twitch: form only
    assert quirk_login(quirks, "RedditOauth2", auth="post")[0] == 401
    assert quirk_login(quirks, "TwitchOauth2", auth="basic")[0] == 401
    assert quirk_login(quirks, "DropboxOauth2", secret="wrong")[0] == 401
    status, headers, verifier = quirk_code(quirks, "DropboxOauth2")
    code = parse_qs(urlsplit(headers["location"]).query)["code"][0]
    status, _, doc = quirk_token(quirks, "DropboxOauth2", {
        "grant_type": "authorization_code", "code": code, "redirect_uri": QUIRK_CB,
        "code_verifier": verifier + "x"})
    assert status == 400 and doc["error"] == "invalid_grant"  # and the code is now used
    status, headers, verifier = quirk_code(quirks, "DropboxOauth2")
    code = parse_qs(urlsplit(headers["location"]).query)["code"][0]
    status, _, doc = quirk_token(quirks, "DropboxOauth2", {
        "grant_type": "authorization_code", "code": code, "redirect_uri": QUIRK_CB + "x",
        "code_verifier": verifier})
    assert status == 400 and doc["error"] == "invalid_grant"
    # a registered redirect URI: others are refused at the authorization endpoint
    quirks.register("DropboxOauth2", QUIRK_CB)
    try:
        status, headers, _ = quirk_code(quirks, "DropboxOauth2", redirect_uri=QUIRK_CB + "/x")
        assert status == 400 and "location" not in headers
        assert quirk_code(quirks, "DropboxOauth2")[0] == 303
    finally:
        quirks.reset()


def test_quirk_armed_failures_and_lifetimes(quirks):
    quirks.reset()
    quirks.set_expires_in("GoogleOauth2", 5)
    status, _, doc = quirk_login(quirks, "GoogleOauth2")
    assert status == 200 and doc["expires_in"] == 5
    quirks.fail_next_refresh("GoogleOauth2")
    rt = doc["refresh_token"]
    status, _, doc = quirk_token(quirks, "GoogleOauth2", {"grant_type": "refresh_token",
                                                          "refresh_token": rt})
    assert status == 400 and doc["error"] == "invalid_grant"
    status, _, doc = quirk_token(quirks, "GoogleOauth2", {"grant_type": "refresh_token",
                                                          "refresh_token": rt})
    assert status == 400 and doc["error"] == "invalid_grant"  # revoked for good
    quirks.deny_next("GoogleOauth2")
    status, headers, _ = quirk_code(quirks, "GoogleOauth2")
    q = parse_qs(urlsplit(headers["location"]).query)
    assert status == 303 and q["error"] == ["access_denied"] and q["state"] == ["st"]
    assert "code" not in q
    quirks.reset()
    status, _, doc = quirk_login(quirks, "GoogleOauth2")
    assert doc["expires_in"] == 3599


def test_quirk_armed_non_fatal_refresh_failures(quirks):
    quirks.reset()
    status, _, doc = quirk_login(quirks, "DropboxOauth2")
    rt = doc["refresh_token"]
    quirks.fail_next_refresh("DropboxOauth2", "temporarily_unavailable", 400)
    s1, _, d1 = quirk_token(quirks, "DropboxOauth2", {"grant_type": "refresh_token",
                                                      "refresh_token": rt})
    assert s1 == 400 and d1["error"] == "temporarily_unavailable"
    quirks.fail_next_refresh("DropboxOauth2", status=503)
    path = QUIRK_FLOWS["DropboxOauth2"][1]
    c = quirks.clients["DropboxOauth2"]
    st, h, body = http_request("POST", quirks.origin + path, urlencode({
        "grant_type": "refresh_token", "refresh_token": rt, "client_id": c["client_id"],
        "client_secret": c["client_secret"]}).encode(),
        {"Content-Type": "application/x-www-form-urlencoded"})
    assert st == 503 and h["content-type"].startswith("text/plain")
    # neither killed the refresh token
    s3, _, d3 = quirk_token(quirks, "DropboxOauth2", {"grant_type": "refresh_token",
                                                      "refresh_token": rt})
    assert s3 == 200 and d3["access_token"], d3


def test_quirk_armed_code_failures_and_forced_form(quirks):
    quirks.reset()
    quirks.fail_next_code("SlackOauth2", "invalid_code")
    status, _, doc = quirk_login(quirks, "SlackOauth2")
    assert status == 200 and doc == {"ok": False, "error": "invalid_code"}
    quirks.fail_next_code("GoogleOauth2", "server_error", 502)
    st, headers, verifier = quirk_code(quirks, "GoogleOauth2")
    code = parse_qs(urlsplit(headers["location"]).query)["code"][0]
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": QUIRK_CB,
            "code_verifier": verifier}
    c = quirks.clients["GoogleOauth2"]
    st, h, _ = http_request("POST", quirks.origin + "/token", urlencode(
        {**form, "client_id": c["client_id"], "client_secret": c["client_secret"]}).encode(),
        {"Content-Type": "application/x-www-form-urlencoded"})
    assert st == 502
    # the code is spent
    assert quirk_token(quirks, "GoogleOauth2", form)[2]["error"] == "invalid_grant"
    quirks.form_always("GithubOauth2")
    status, headers, doc = quirk_login(quirks, "GithubOauth2")  # asks for JSON
    assert headers["content-type"].startswith("application/x-www-form-urlencoded")
    assert doc["access_token"].startswith("ghu_")
    quirks.reset()
    status, headers, doc = quirk_login(quirks, "GithubOauth2")
    assert headers["content-type"].startswith("application/json")


def test_quirk_delayed_refresh(quirks):
    quirks.reset()
    status, _, doc = quirk_login(quirks, "DropboxOauth2")
    quirks.delay_next_refresh("DropboxOauth2", 0.6)
    t = time.monotonic()
    s1, _, d1 = quirk_token(quirks, "DropboxOauth2", {"grant_type": "refresh_token",
                                                      "refresh_token": doc["refresh_token"]})
    assert s1 == 200 and d1["access_token"] and time.monotonic() - t >= 0.6
