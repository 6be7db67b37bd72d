"""GetResourceOauth2Token, oauth2Flow=M2M (client credentials), through boto3's
`bedrock-agentcore` client against the test kit's real oidc-provider and the
fault-injecting provider: client authentication, request shape, caching (memory, vault,
restart), single flight, provider failures, the SSRF guard, hostile input, leaks, metrics.

Provider counters are shared by the session: every test compares deltas.
"""

from __future__ import annotations

import base64
import json
import re
import sqlite3
import threading
import time
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

import helpers
from faultprovider import MODES
from helpers import (ADMIN_KEY_ID, ADMIN_SECRET, REGION, Server, assert_raw_error, create_key,
                     expect_error, http_get, new_secret, raw_call, register_secret,
                     scan_tree_for, secret_variants, status_of, uname)

TOKEN_PATH = "/identities/oauth2/token"
ALLOW_ALL = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "bedrock-agentcore:*", "Resource": "*"}]}

# What this module handed out or used: the leak test at the end scans for all of it.
ISSUED: list[str] = []           # access tokens warrant returned to a client here
CLIENT_SECRETS: list[str] = []   # client secrets of providers created here
SERVERS: list[Server] = []       # every warrant server this module talked to


# ---------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------


def remember(token: str) -> str:
    ISSUED.append(token)
    register_secret(token)  # the run's log/data-dir scans look for it too
    return token


def use(server: Server) -> Server:
    if server not in SERVERS:
        SERVERS.append(server)
    return server


_CLIENTS: dict[int, tuple] = {}


def clients_of(server: Server) -> tuple:
    """(control client, data client) of a module server, made once (boto3 clients are slow
    to create)."""
    key = id(server)
    if key not in _CLIENTS or _CLIENTS[key][0] != server.port:
        _CLIENTS[key] = (server.port, server.client(), server.data_client())
    return _CLIENTS[key][1:]


def new_workload(server: Server, client, data_client=None) -> tuple[str, str]:
    """A fresh workload identity and a WAT for it."""
    name = uname("m2m-wl")
    assert status_of(client.create_workload_identity(name=name)) == 201
    dc = data_client or server.data_client()
    wat = dc.get_workload_access_token(workloadName=name)["workloadAccessToken"]
    assert isinstance(wat, str) and wat.count(".") == 2
    return name, wat


def new_provider(client, *, discovery_url: str | None = None, metadata: dict | None = None,
                 client_id: str = "m2m-client", client_secret: str | None = None,
                 method: str | None = None, name: str | None = None) -> str:
    """A CustomOauth2 provider with a discovery URL or authorizationServerMetadata."""
    assert (discovery_url is None) != (metadata is None)
    name = name or uname("m2m-p")
    if client_secret is None:
        client_secret = new_secret("m2m-client-sekret-")
    register_secret(client_secret)
    CLIENT_SECRETS.append(client_secret)
    cfg: dict = {"clientId": client_id, "clientSecret": client_secret,
                 "oauthDiscovery": ({"discoveryUrl": discovery_url} if discovery_url
                                    else {"authorizationServerMetadata": metadata})}
    if method:
        cfg["clientAuthenticationMethod"] = method
    r = client.create_oauth2_credential_provider(
        name=name, credentialProviderVendor="CustomOauth2",
        oauth2ProviderConfigInput={"customOauth2ProviderConfig": cfg})
    assert status_of(r) == 201
    return name


def idp_provider(client, idp, kind: str = "basic", **kw) -> str:
    """A provider for one of the oidc-provider's clients ("basic" or "post")."""
    c = idp.clients[kind]
    if "metadata" not in kw:
        kw.setdefault("discovery_url", idp.discovery_url)
    return new_provider(client, client_id=c["client_id"], client_secret=c["client_secret"], **kw)


def idp_metadata(idp, methods: list[str] | None = None) -> dict:
    md = {"issuer": idp.issuer, "authorizationEndpoint": idp.issuer + "/auth",
          "tokenEndpoint": idp.token_endpoint}
    if methods is not None:
        md["tokenEndpointAuthMethods"] = methods
    return md


def m2m(dc, wat: str, provider: str, scopes=("read",), **kw) -> str:
    r = dc.get_resource_oauth2_token(workloadIdentityToken=wat,
                                     resourceCredentialProviderName=provider,
                                     scopes=list(scopes), oauth2Flow="M2M", **kw)
    assert status_of(r) == 200
    tok = r.get("accessToken")
    assert isinstance(tok, str) and tok, r
    return remember(tok)


def m2m_error(dc, wat: str, provider: str, scopes=("read",), *, code: str, status: int,
              contains: str | None = None, **kw) -> str:
    return expect_error(dc.get_resource_oauth2_token, workloadIdentityToken=wat,
                        resourceCredentialProviderName=provider, scopes=list(scopes),
                        oauth2Flow="M2M", code=code, status=status, contains=contains, **kw)


def idp_count(idp) -> int:
    return idp.stats()["token_requests"]


def vault_count(data_dir: Path, provider: str | None = None, workload: str | None = None) -> int:
    """Rows of vault_entries (all, or of one provider / workload) in a server's database."""
    sql, args = "SELECT COUNT(*) FROM vault_entries WHERE 1 = 1", []
    if provider is not None:
        sql, args = sql + " AND provider = ?", args + [provider]
    if workload is not None:
        sql, args = sql + " AND workload = ?", args + [workload]
    con = sqlite3.connect(f"file:{Path(data_dir) / 'warrant.db'}?mode=ro", uri=True, timeout=5)
    try:
        return con.execute(sql, args).fetchone()[0]
    finally:
        con.close()


def jwt_claims(token: str) -> dict:
    parts = token.split(".")
    assert len(parts) == 3, "not a compact JWS"
    pad = "=" * (-len(parts[1]) % 4)
    return json.loads(base64.urlsafe_b64decode(parts[1] + pad))


_METRIC_RE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$')


def metric(server: Server, name: str, **labels) -> float:
    """Sum of the samples of `name` whose labels include `labels` (0 when absent)."""
    st, hdrs, body = http_get(server.port, "/metrics")
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


def pooled_data_client(server: Server, pool: int = 64, key_id: str = ADMIN_KEY_ID,
                       secret: str = ADMIN_SECRET):
    """A data-plane client with a connection pool big enough for the concurrency tests."""
    c = boto3.session.Session().client(
        "bedrock-agentcore", endpoint_url=server.url, region_name=REGION,
        aws_access_key_id=key_id, aws_secret_access_key=secret,
        config=Config(retries={"total_max_attempts": 1, "mode": "standard"},
                      max_pool_connections=pool, connect_timeout=10, read_timeout=60))
    c.meta.events.register("response-received", helpers._response_hook)
    return c


def concurrently(n: int, fn) -> tuple[list, list]:
    """Run fn() in n threads released at once; (results, exceptions)."""
    barrier = threading.Barrier(n)
    results: list = [None] * n
    errors: list = []

    def run(i):
        try:
            barrier.wait(30)
            results[i] = fn()
        except Exception as e:  # noqa: BLE001 - reported by the test
            errors.append(e)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(90)
    assert not any(t.is_alive() for t in threads), "a request never returned"
    return results, errors


# ---------------------------------------------------------------------------------------
# module servers
# ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def module_server(tmp_path_factory):
    made: list[Server] = []

    def make(label: str, args: list[str]) -> Server:
        s = Server(tmp_path_factory.mktemp(label), label=label, args=args)
        made.append(s)
        s.start()
        return use(s)

    yield make
    problems = [f"{s.label}: exit {rc}" for s in made if s.running() and (rc := s.stop()) != 0]
    assert not problems, problems


@pytest.fixture(scope="module")
def fault_server(module_server):
    """Allowlists 127.0.0.1; short outbound timeout and a 64 KiB response cap."""
    return module_server("m2m-fault", ["--outbound-allow", "127.0.0.1", "--outbound-timeout", "1",
                                       "--outbound-max-response-bytes", "65536"])


@pytest.fixture(scope="module")
def guarded_server(module_server):
    """No --outbound-allow: only public https destinations."""
    return module_server("m2m-guarded", [])


@pytest.fixture
def session(server, client, data_client):
    use(server)
    return server, client, data_client


# ---------------------------------------------------------------------------------------
# 1. success: discovery and metadata providers, client authentication, request shape
# ---------------------------------------------------------------------------------------

# (label, "discovery"|"metadata", idp client, clientAuthenticationMethod, metadata methods,
#  the authentication the provider must see)
AUTH_CASES = [
    ("discovery-basic", "discovery", "basic", "CLIENT_SECRET_BASIC", None, "basic"),
    ("discovery-post", "discovery", "post", "CLIENT_SECRET_POST", None, "post"),
    # oidc-provider's discovery lists client_secret_basic (and post): basic is preferred
    ("discovery-default", "discovery", "basic", None, None, "basic"),
    ("metadata-basic", "metadata", "basic", "CLIENT_SECRET_BASIC", None, "basic"),
    ("metadata-post", "metadata", "post", "CLIENT_SECRET_POST", None, "post"),
    ("metadata-methods-post", "metadata", "post", None, ["client_secret_post"], "post"),
    ("metadata-methods-both", "metadata", "basic", None,
     ["client_secret_post", "client_secret_basic"], "basic"),
    ("metadata-no-methods", "metadata", "basic", None, None, "basic"),
    ("metadata-method-wins", "metadata", "post", "CLIENT_SECRET_POST", ["client_secret_basic"],
     "post"),
]


def test_client_auth_methods_against_strict_provider(session, spawn_oidc_provider):
    """--strict-client-auth: each client accepts only its registered method, so a token
    proves warrant used the right one; stats() shows which one arrived."""
    server, client, dc = session
    idp = spawn_oidc_provider(strict_client_auth=True)
    _, wat = new_workload(server, client, dc)
    for label, how, kind, method, methods, want in AUTH_CASES:
        kw = ({"discovery_url": idp.discovery_url} if how == "discovery"
              else {"metadata": idp_metadata(idp, methods)})
        p = idp_provider(client, idp, kind, method=method, **kw)
        before = idp_count(idp)
        tok = m2m(dc, wat, p, scopes=["read"])
        st = idp.stats()
        assert st["token_requests"] == before + 1, label
        assert st["last"]["auth"] == want, (label, st["last"])
        params = st["last"]["params"]
        assert params.get("grant_type") == "client_credentials", (label, params)
        if want == "post":
            assert params.get("client_id") == idp.clients[kind]["client_id"], (label, params)
        assert params.get("scope") == "read", (label, params)
        assert "." not in tok, f"{label}: no resource, so the token is opaque"

    # the strict provider really refuses the other method: the basic client through post
    p = idp_provider(client, idp, "basic", method="CLIENT_SECRET_POST")
    before = idp_count(idp)
    msg = m2m_error(dc, wat, p, code="ValidationException", status=400, contains="invalid_client")
    assert idp.stats()["last"]["auth"] == "post"
    assert idp_count(idp) == before + 1
    assert p in msg
    for c in idp.clients.values():
        assert c["client_secret"] not in msg


def test_resource_gives_jwt_for_that_audience(session, oidc_provider):
    server, client, dc = session
    _, wat = new_workload(server, client, dc)
    p = idp_provider(client, oidc_provider, "post", method="CLIENT_SECRET_POST")
    before = idp_count(oidc_provider)
    tok = m2m(dc, wat, p, scopes=["write", "read", "read"], resources=[oidc_provider.resource])
    st = oidc_provider.stats()
    assert st["token_requests"] == before + 1
    assert st["last"]["auth"] == "post"
    assert st["last"]["params"]["resource"] == oidc_provider.resource
    assert st["last"]["params"]["scope"] == "read write"
    claims = jwt_claims(tok)
    aud = claims["aud"]
    assert aud == oidc_provider.resource or aud == [oidc_provider.resource], claims
    assert set(claims.get("scope", "").split()) == {"read", "write"}, claims
    assert claims["client_id"] == oidc_provider.clients["post"]["client_id"]
    assert claims["exp"] > time.time() + 60


def test_audiences_custom_parameters_and_scope_reach_the_provider(session, oidc_provider):
    server, client, dc = session
    _, wat = new_workload(server, client, dc)
    p = idp_provider(client, oidc_provider, "basic")
    before = idp_count(oidc_provider)
    m2m(dc, wat, p, scopes=["write", "admin", "read", "write", "admin"],
        audiences=["https://aud-b.example", "https://aud-a.example"],
        customParameters={"tenant": "t-42", "x.y-z_W": "v w&x=y"})
    st = oidc_provider.stats()
    assert st["token_requests"] == before + 1
    params = st["last"]["params"]
    assert params["scope"] == "admin read write", params
    aud = params["audience"]
    assert sorted(aud if isinstance(aud, list) else [aud]) == [
        "https://aud-a.example", "https://aud-b.example"], params
    assert params["tenant"] == "t-42"
    assert params["x.y-z_W"] == "v w&x=y"
    assert params["grant_type"] == "client_credentials"
    assert "resource" not in params
    assert st["last"]["auth"] == "basic"

    # one audience: one parameter
    m2m(dc, wat, p, scopes=["read"], audiences=["https://only.example"])
    params = oidc_provider.stats()["last"]["params"]
    assert params["audience"] in ("https://only.example", ["https://only.example"])
    assert "tenant" not in params


def test_fault_provider_sees_a_well_formed_request(session, fault_provider):
    """The raw request as a provider sees it (the fault provider records it all)."""
    server, client, dc = session
    _, wat = new_workload(server, client, dc)
    p = new_provider(client, discovery_url=fault_provider.discovery_url("ok"), client_id="c i/d")
    before = fault_provider.hits("ok")
    m2m(dc, wat, p, scopes=["b", "a"], resources=["https://r2.example", "https://r1.example"])
    assert fault_provider.hits("ok") == before + 1
    last = fault_provider.last("ok")
    assert last["method"] == "POST"
    assert last["content_type"].startswith("application/x-www-form-urlencoded")
    assert last["basic"] is True and last["basic_client_id"] == "c i/d", last
    assert last["client_secret_in_form"] is False
    assert last["params"]["scope"] == "a b"
    assert sorted(last["params"]["resource"]) == ["https://r1.example", "https://r2.example"]
    assert last["params"]["grant_type"] == "client_credentials"


# ---------------------------------------------------------------------------------------
# 2. caching
# ---------------------------------------------------------------------------------------


def test_sequential_calls_make_one_provider_request(session, oidc_provider):
    server, client, dc = session
    _, wat = new_workload(server, client, dc)
    p = idp_provider(client, oidc_provider, "basic")
    before = idp_count(oidc_provider)
    tokens = {m2m(dc, wat, p, scopes=["read", "write"]) for _ in range(10)}
    assert idp_count(oidc_provider) == before + 1
    assert len(tokens) == 1
    assert vault_count(server.data_dir, p) == 1


def test_cache_key_is_the_whole_request(session, oidc_provider):
    server, client, dc = session
    _, wat = new_workload(server, client, dc)
    p = idp_provider(client, oidc_provider, "basic")
    res = oidc_provider.resource
    variants = [
        ("base", {"scopes": ["read"]}),
        ("scopes", {"scopes": ["read", "write"]}),
        ("resources", {"scopes": ["read"], "resources": [res]}),
        ("audiences", {"scopes": ["read"], "audiences": ["https://aud-1.example"]}),
        ("audiences2", {"scopes": ["read"], "audiences": ["https://aud-2.example"]}),
        ("params", {"scopes": ["read"], "customParameters": {"tenant": "a"}}),
        ("params-value", {"scopes": ["read"], "customParameters": {"tenant": "b"}}),
        ("params-key", {"scopes": ["read"], "customParameters": {"tenant2": "a"}}),
    ]
    got = {}
    for label, kw in variants:
        before = idp_count(oidc_provider)
        got[label] = m2m(dc, wat, p, **kw)
        assert idp_count(oidc_provider) == before + 1, f"{label}: no new provider request"
    assert len(set(got.values())) == len(variants)
    before = idp_count(oidc_provider)
    for label, kw in variants:  # each again: served from the cache
        assert m2m(dc, wat, p, **kw) == got[label], label
    # the same scope set in another order, or with duplicates: the same token
    assert m2m(dc, wat, p, scopes=["read", "read"]) == got["base"]
    assert m2m(dc, wat, p, scopes=["write", "read"]) == got["scopes"]
    assert m2m(dc, wat, p, scopes=["write", "read", "write", "read"]) == got["scopes"]
    assert m2m(dc, wat, p, scopes=["read"], customParameters={"tenant": "a"}) == got["params"]
    assert idp_count(oidc_provider) == before
    assert vault_count(server.data_dir, p) == len(variants)

    # another workload asking the very same: a token of its own
    _, wat2 = new_workload(server, client, dc)
    other = m2m(dc, wat2, p, scopes=["read"])
    assert other != got["base"]
    assert idp_count(oidc_provider) == before + 1


def test_force_authentication_fetches_a_new_token(session, oidc_provider):
    server, client, dc = session
    _, wat = new_workload(server, client, dc)
    p = idp_provider(client, oidc_provider, "basic")
    before = idp_count(oidc_provider)
    t1 = m2m(dc, wat, p)
    t2 = m2m(dc, wat, p, forceAuthentication=True)
    assert idp_count(oidc_provider) == before + 2
    assert t2 != t1
    t3 = m2m(dc, wat, p, forceAuthentication=True)
    assert t3 not in (t1, t2)
    assert idp_count(oidc_provider) == before + 3
    # forceAuthentication=False is the default
    t4 = m2m(dc, wat, p, forceAuthentication=False)
    assert t4 in (t1, t2, t3)
    assert idp_count(oidc_provider) == before + 3


def test_short_lived_token_is_fetched_again_near_expiry(session, fault_provider):
    """expires_in 2: reused until expiry minus min(60 s, lifetime/4) = 1.5 s."""
    server, client, dc = session
    _, wat = new_workload(server, client, dc)
    p = new_provider(client, discovery_url=fault_provider.discovery_url("short"))
    before = fault_provider.hits("short")
    t1 = m2m(dc, wat, p)
    first = time.monotonic()
    assert m2m(dc, wat, p) == t1
    assert fault_provider.hits("short") == before + 1
    time.sleep(max(0.0, first + 1.7 - time.monotonic()))
    t2 = m2m(dc, wat, p)
    assert t2 != t1
    assert fault_provider.hits("short") == before + 2
    assert m2m(dc, wat, p) == t2
    assert fault_provider.hits("short") == before + 2
    assert t1 in fault_provider.issued("short") and t2 in fault_provider.issued("short")


def test_short_lived_oidc_token_is_fetched_again(session, spawn_oidc_provider):
    server, client, dc = session
    idp = spawn_oidc_provider(token_ttl=2)
    _, wat = new_workload(server, client, dc)
    p = idp_provider(client, idp, "basic")
    t1 = m2m(dc, wat, p)
    first = time.monotonic()
    assert m2m(dc, wat, p) == t1
    assert idp_count(idp) == 1
    time.sleep(max(0.0, first + 1.7 - time.monotonic()))
    t2 = m2m(dc, wat, p)
    assert t2 != t1
    assert idp_count(idp) == 2


def test_token_without_expiry_is_not_cached(session, fault_provider):
    server, client, dc = session
    _, wat = new_workload(server, client, dc)
    p = new_provider(client, discovery_url=fault_provider.discovery_url("noexpiry"))
    before = fault_provider.hits("noexpiry")
    tokens = [m2m(dc, wat, p) for _ in range(3)]
    assert fault_provider.hits("noexpiry") == before + 3
    assert len(set(tokens)) == 3
    assert vault_count(server.data_dir, p) == 0


def test_update_provider_makes_the_next_call_fetch(session, oidc_provider):
    server, client, dc = session
    _, wat = new_workload(server, client, dc)
    c = oidc_provider.clients["basic"]
    p = idp_provider(client, oidc_provider, "basic")
    before = idp_count(oidc_provider)
    t1 = m2m(dc, wat, p)
    assert m2m(dc, wat, p) == t1
    # the same configuration again, right away: still a new version of the provider
    client.update_oauth2_credential_provider(
        name=p, credentialProviderVendor="CustomOauth2",
        oauth2ProviderConfigInput={"customOauth2ProviderConfig": {
            "oauthDiscovery": {"discoveryUrl": oidc_provider.discovery_url},
            "clientId": c["client_id"], "clientSecret": c["client_secret"]}})
    t2 = m2m(dc, wat, p)
    assert idp_count(oidc_provider) == before + 2
    assert t2 != t1
    assert m2m(dc, wat, p) == t2
    # now with the other client and method: the next token comes that way
    c2 = oidc_provider.clients["post"]
    client.update_oauth2_credential_provider(
        name=p, credentialProviderVendor="CustomOauth2",
        oauth2ProviderConfigInput={"customOauth2ProviderConfig": {
            "oauthDiscovery": {"discoveryUrl": oidc_provider.discovery_url},
            "clientId": c2["client_id"], "clientSecret": c2["client_secret"],
            "clientAuthenticationMethod": "CLIENT_SECRET_POST"}})
    t3 = m2m(dc, wat, p)
    assert t3 not in (t1, t2)
    st = oidc_provider.stats()
    assert st["token_requests"] == before + 3
    assert st["last"]["auth"] == "post"
    assert st["last"]["params"]["client_id"] == c2["client_id"]


def test_delete_drops_vault_entries_and_namesakes_fetch_anew(session, fault_provider):
    server, client, dc = session
    wl, wat = new_workload(server, client, dc)
    p = new_provider(client, discovery_url=fault_provider.discovery_url("ok"))
    t1 = m2m(dc, wat, p)
    m2m(dc, wat, p, scopes=["write"])
    assert vault_count(server.data_dir, p) == 2
    assert status_of(client.delete_oauth2_credential_provider(name=p)) == 204
    assert vault_count(server.data_dir, p) == 0
    m2m_error(dc, wat, p, code="ResourceNotFoundException", status=404, contains="does not exist")
    # a namesake provider: none of the old tokens
    new_provider(client, discovery_url=fault_provider.discovery_url("ok"), name=p)
    hits = fault_provider.hits("ok")
    t2 = m2m(dc, wat, p)
    assert t2 != t1
    assert fault_provider.hits("ok") == hits + 1
    assert vault_count(server.data_dir, p) == 1

    # deleting the workload drops its entries; a namesake workload fetches anew
    assert vault_count(server.data_dir, workload=wl) == 1
    assert status_of(client.delete_workload_identity(name=wl)) == 204
    assert vault_count(server.data_dir, workload=wl) == 0
    assert status_of(client.create_workload_identity(name=wl)) == 201
    wat2 = dc.get_workload_access_token(workloadName=wl)["workloadAccessToken"]
    t3 = m2m(dc, wat2, p)
    assert t3 not in (t1, t2)
    assert fault_provider.hits("ok") == hits + 2


def test_deleting_an_api_key_provider_of_the_same_name_keeps_the_tokens(session, fault_provider):
    """API-key and OAuth2 providers have separate namespaces: deleting the API-key provider
    must not take the OAuth2 provider's vault entries along."""
    server, client, dc = session
    _, wat = new_workload(server, client, dc)
    p = new_provider(client, discovery_url=fault_provider.discovery_url("ok"))
    t1 = m2m(dc, wat, p)
    client.create_api_key_credential_provider(name=p, apiKey=new_secret("apikey-sekret-"))
    assert vault_count(server.data_dir, p) == 1
    assert status_of(client.delete_api_key_credential_provider(name=p)) == 204
    assert vault_count(server.data_dir, p) == 1, "the OAuth2 provider's vault entry is gone"
    hits = fault_provider.hits("ok")
    assert m2m(dc, wat, p) == t1
    assert fault_provider.hits("ok") == hits


def test_vault_survives_restart(spawn, fault_provider):
    # a fixed public URL: it is the WATs' issuer, and the port changes on restart
    kw = {"args": ["--outbound-allow", "127.0.0.1"], "public_url": "https://m2m.example.test"}
    s1 = use(spawn(label="m2m-restart-1", **kw))
    c1 = s1.client()
    _, wat = new_workload(s1, c1)
    p = new_provider(c1, discovery_url=fault_provider.discovery_url("ok"))
    before, disc_before = fault_provider.hits("ok"), fault_provider.discovery_hits("ok")
    t1 = m2m(s1.data_client(), wat, p, scopes=["read", "write"])
    assert fault_provider.hits("ok") == before + 1
    assert fault_provider.discovery_hits("ok") == disc_before + 1
    assert vault_count(s1.data_dir, p) == 1
    assert s1.stop() == 0

    s2 = use(spawn(s1.data_dir, label="m2m-restart-2", **kw))
    dc2 = s2.data_client()
    assert m2m(dc2, wat, p, scopes=["write", "read"]) == t1
    assert m2m(dc2, wat, p, scopes=["read", "write"]) == t1
    assert fault_provider.hits("ok") == before + 1, "the vault did not survive the restart"
    assert fault_provider.discovery_hits("ok") == disc_before + 1, "discovery fetched again"
    # another scope set after the restart still works (and fetches)
    t2 = m2m(dc2, wat, p, scopes=["read"])
    assert t2 != t1
    assert fault_provider.hits("ok") == before + 2


# ---------------------------------------------------------------------------------------
# 3. single flight
# ---------------------------------------------------------------------------------------


def test_single_flight_50_concurrent_cold_requests(session, oidc_provider):
    server, client, dc = session
    _, wat = new_workload(server, client, dc)
    p = idp_provider(client, oidc_provider, "basic")
    pooled = pooled_data_client(server)
    pooled.get_workload_access_token(workloadName=new_workload(server, client, dc)[0])  # warm up
    before = idp_count(oidc_provider)
    results, errors = concurrently(50, lambda: m2m(pooled, wat, p, scopes=["read", "admin"]))
    assert not errors, errors[:3]
    assert idp_count(oidc_provider) == before + 1
    assert len(set(results)) == 1 and results[0]
    assert vault_count(server.data_dir, p) == 1


def test_single_flight_with_a_slow_provider(session, fault_provider):
    server, client, dc = session
    _, wat = new_workload(server, client, dc)
    p = new_provider(client, discovery_url=fault_provider.discovery_url("slow"))
    pooled = pooled_data_client(server, pool=32)
    pooled.get_workload_access_token(workloadName=new_workload(server, client, dc)[0])
    old = fault_provider.slow_seconds
    fault_provider.slow_seconds = 1.5
    try:
        before = fault_provider.hits("slow")
        t0 = time.monotonic()
        results, errors = concurrently(20, lambda: m2m(pooled, wat, p))
        elapsed = time.monotonic() - t0
    finally:
        fault_provider.slow_seconds = old
    assert not errors, errors[:3]
    assert fault_provider.hits("slow") == before + 1
    assert len(set(results)) == 1
    assert results[0] in fault_provider.issued("slow")
    assert elapsed < 6, f"the 20 requests took {elapsed:.1f}s: they were not one flight"


# ---------------------------------------------------------------------------------------
# 4. provider failures
# ---------------------------------------------------------------------------------------

# mode -> (error code, HTTP status, what the message must say)
FAILURES = {
    "slow": ("InternalServerException", 500, "did not answer within"),
    "500": ("InternalServerException", 500, "HTTP 500"),
    "garbage": ("InternalServerException", 500, "not JSON"),
    "missing": ("InternalServerException", 500, "no access_token"),
    "oauth_error": ("ValidationException", 400, "invalid_scope"),
    "redirect": ("InternalServerException", 500, "redirect"),
    "huge": ("InternalServerException", 500, "larger than"),
}


@pytest.mark.parametrize("mode", list(FAILURES))
def test_provider_failure(fault_server, fault_provider, mode):
    code, status, needle = FAILURES[mode]
    client, dc = clients_of(fault_server)
    _, wat = new_workload(fault_server, client, dc)
    secret = new_secret("m2m-fail-sekret-")
    p = new_provider(client, discovery_url=fault_provider.discovery_url(mode),
                     client_secret=secret)
    old = fault_provider.slow_seconds
    fault_provider.slow_seconds = 1.5  # > --outbound-timeout 1
    try:
        vault_before = vault_count(fault_server.data_dir)
        hits = fault_provider.hits(mode)
        errors_before = metric(fault_server, "warrant_provider_token_requests_total",
                               outcome="error")
        released_before = metric(fault_server, "warrant_credentials_released_total",
                                 kind="oauth2_m2m")
        msgs = []
        for attempt in (1, 2):  # no negative caching: the second call asks again
            t0 = time.monotonic()
            msg = m2m_error(dc, wat, p, code=code, status=status, contains=needle)
            elapsed = time.monotonic() - t0
            msgs.append(msg)
            assert fault_provider.hits(mode) == hits + attempt, (attempt, msg)
            assert vault_count(fault_server.data_dir) == vault_before, "a failure was stored"
            assert elapsed < 4, f"{mode}: took {elapsed:.1f}s"
    finally:
        fault_provider.slow_seconds = old
    for msg in msgs:
        assert p in msg, msg
        assert fault_provider.base in msg, f"the provider's origin is not named: {msg!r}"
        assert secret not in msg
        for tok in fault_provider.issued(mode):
            assert tok not in msg
    if mode == "oauth_error":
        assert "scope nope is not allowed" in msgs[0]
    if mode == "huge":
        assert "65536" in msgs[0]
    assert metric(fault_server, "warrant_provider_token_requests_total",
                  outcome="error") == errors_before + 2
    assert metric(fault_server, "warrant_credentials_released_total",
                  kind="oauth2_m2m") == released_before


def test_concurrent_requests_share_one_failure(fault_server, fault_provider):
    """Single flight holds for failures too; the failure is not kept: the next call asks."""
    client, dc = clients_of(fault_server)
    _, wat = new_workload(fault_server, client, dc)
    p = new_provider(client, discovery_url=fault_provider.discovery_url("slow"))
    pooled = pooled_data_client(fault_server, pool=16)
    pooled.get_workload_access_token(workloadName=new_workload(fault_server, client, dc)[0])
    old = fault_provider.slow_seconds
    fault_provider.slow_seconds = 1.5
    try:
        hits = fault_provider.hits("slow")
        _, errors = concurrently(10, lambda: pooled.get_resource_oauth2_token(
            workloadIdentityToken=wat, resourceCredentialProviderName=p, scopes=["read"],
            oauth2Flow="M2M"))
        assert len(errors) == 10
        for e in errors:
            assert isinstance(e, ClientError), e
            assert e.response["Error"]["Code"] == "InternalServerException", e.response
            assert "did not answer within" in e.response["Error"]["Message"]
        assert fault_provider.hits("slow") == hits + 1
        m2m_error(pooled, wat, p, code="InternalServerException", status=500)
        assert fault_provider.hits("slow") == hits + 2
    finally:
        fault_provider.slow_seconds = old


def test_failure_then_success_is_not_negatively_cached(fault_server, fault_provider):
    """A provider that failed, once fixed (UpdateOauth2CredentialProvider to a healthy
    endpoint), answers at once; and a forced call that fails keeps the old token."""
    client, dc = clients_of(fault_server)
    _, wat = new_workload(fault_server, client, dc)
    secret = new_secret("m2m-fix-sekret-")
    p = new_provider(client, discovery_url=fault_provider.discovery_url("500"),
                     client_secret=secret)
    m2m_error(dc, wat, p, code="InternalServerException", status=500, contains="HTTP 500")
    client.update_oauth2_credential_provider(
        name=p, credentialProviderVendor="CustomOauth2",
        oauth2ProviderConfigInput={"customOauth2ProviderConfig": {
            "oauthDiscovery": {"discoveryUrl": fault_provider.discovery_url("ok")},
            "clientId": "m2m-client", "clientSecret": secret}})
    before = fault_provider.hits("ok")
    t1 = m2m(dc, wat, p)
    assert fault_provider.hits("ok") == before + 1
    assert m2m(dc, wat, p) == t1


def test_metrics_count_releases_and_outcomes(fault_server, fault_provider):
    client, dc = clients_of(fault_server)
    _, wat = new_workload(fault_server, client, dc)
    ok = new_provider(client, discovery_url=fault_provider.discovery_url("ok"))
    bad = new_provider(client, discovery_url=fault_provider.discovery_url("500"))
    name = "warrant_provider_token_requests_total"
    r0 = metric(fault_server, "warrant_credentials_released_total", kind="oauth2_m2m")
    ok0 = metric(fault_server, name, grant="client_credentials", outcome="ok")
    err0 = metric(fault_server, name, grant="client_credentials", outcome="error")
    ak0 = metric(fault_server, "warrant_credentials_released_total", kind="api_key")
    m2m(dc, wat, ok)
    m2m(dc, wat, ok)  # cache hit: released, not requested
    m2m(dc, wat, ok, forceAuthentication=True)
    m2m_error(dc, wat, bad, code="InternalServerException", status=500)
    assert metric(fault_server, "warrant_credentials_released_total", kind="oauth2_m2m") == r0 + 3
    assert metric(fault_server, name, grant="client_credentials", outcome="ok") == ok0 + 2
    assert metric(fault_server, name, grant="client_credentials", outcome="error") == err0 + 1
    assert metric(fault_server, "warrant_credentials_released_total", kind="api_key") == ak0


# ---------------------------------------------------------------------------------------
# 5. the SSRF guard
# ---------------------------------------------------------------------------------------


def test_http_discovery_refused_without_allowlist(guarded_server, fault_provider):
    client, dc = clients_of(guarded_server)
    _, wat = new_workload(guarded_server, client, dc)
    secret = new_secret("m2m-ssrf-sekret-")
    p = new_provider(client, discovery_url=fault_provider.discovery_url("ok"),
                     client_secret=secret)
    disc, hits = fault_provider.discovery_hits("ok"), fault_provider.hits("ok")
    msg = m2m_error(dc, wat, p, code="ValidationException", status=400, contains="https")
    assert p in msg and secret not in msg
    assert fault_provider.discovery_hits("ok") == disc
    assert fault_provider.hits("ok") == hits
    # authorizationServerMetadata with an http token endpoint: refused the same way
    p2 = new_provider(client, metadata={"issuer": fault_provider.issuer("ok"),
                                        "authorizationEndpoint": fault_provider.issuer("ok") + "/a",
                                        "tokenEndpoint": fault_provider.token_url("ok")})
    m2m_error(dc, wat, p2, code="ValidationException", status=400, contains="https")
    assert fault_provider.hits("ok") == hits
    assert vault_count(guarded_server.data_dir) == 0


@pytest.mark.parametrize("url,needles", [
    ("https://localhost/.well-known/openid-configuration", ["localhost"]),
    ("https://169.254.169.254/.well-known/openid-configuration", ["169.254.169.254"]),
    ("https://10.0.0.1/.well-known/openid-configuration", ["10.0.0.1"]),
    ("https://[::1]/.well-known/openid-configuration", ["::1"]),
    ("https://127.0.0.1:1/.well-known/openid-configuration", ["127.0.0.1"]),
    # other spellings of the metadata and loopback addresses
    ("https://2852039166/.well-known/openid-configuration", ["169.254.169.254"]),
    ("https://0xa9.0xfe.0xa9.0xfe/.well-known/openid-configuration", ["169.254.169.254"]),
    ("https://[::ffff:169.254.169.254]/.well-known/openid-configuration", ["169.254.169.254"]),
    ("https://[fd00:ec2::254]/.well-known/openid-configuration", ["fd00:ec2::254"]),
    ("https://0.0.0.0/.well-known/openid-configuration", ["0.0.0.0"]),
    ("https://127.1/.well-known/openid-configuration", ["127.0.0.1"]),
])
def test_private_discovery_addresses_refused(guarded_server, url, needles):
    client, dc = clients_of(guarded_server)
    _, wat = new_workload(guarded_server, client, dc)
    p = new_provider(client, discovery_url=url)
    t0 = time.monotonic()
    msg = m2m_error(dc, wat, p, code="ValidationException", status=400)
    elapsed = time.monotonic() - t0
    assert elapsed < 3, f"{url}: {elapsed:.1f}s, as if a connection was attempted"
    for n in needles:
        assert n in msg, msg
    assert p in msg
    if "localhost" in url:
        assert "127.0.0.1" in msg or "::1" in msg, msg


def test_private_token_endpoint_refused(guarded_server):
    client, dc = clients_of(guarded_server)
    _, wat = new_workload(guarded_server, client, dc)
    for host in ("10.0.0.1", "169.254.169.254", "localhost", "192.168.1.1"):
        p = new_provider(client, metadata={
            "issuer": "https://idp.example.test", "authorizationEndpoint":
            "https://idp.example.test/authorize", "tokenEndpoint": f"https://{host}/token"})
        t0 = time.monotonic()
        msg = m2m_error(dc, wat, p, code="ValidationException", status=400, contains=host)
        assert time.monotonic() - t0 < 3, host
        assert p in msg


def test_discovery_pointing_token_endpoint_at_metadata_ip(session, fault_provider):
    server, client, dc = session
    _, wat = new_workload(server, client, dc)
    p = new_provider(client, discovery_url=fault_provider.discovery_url("metadata-ip"))
    disc = fault_provider.discovery_hits("metadata-ip")
    t0 = time.monotonic()
    msg = m2m_error(dc, wat, p, code="ValidationException", status=400,
                    contains="169.254.169.254")
    assert time.monotonic() - t0 < 3
    assert fault_provider.discovery_hits("metadata-ip") == disc + 1
    assert p in msg
    assert vault_count(server.data_dir, p) == 0


def test_discovery_with_another_issuer(session, fault_provider):
    server, client, dc = session
    _, wat = new_workload(server, client, dc)
    p = new_provider(client, discovery_url=fault_provider.discovery_url("bad-issuer"))
    hits = fault_provider.hits("bad-issuer")
    for _ in range(2):
        msg = m2m_error(dc, wat, p, code="ValidationException", status=400, contains="issuer")
        assert "someone-else.example" in msg or fault_provider.issuer("bad-issuer") in msg, msg
    assert fault_provider.hits("bad-issuer") == hits, "the token endpoint was used anyway"
    assert vault_count(server.data_dir, p) == 0


def test_discovery_redirect_not_followed(session, fault_provider):
    server, client, dc = session
    _, wat = new_workload(server, client, dc)
    p = new_provider(client, discovery_url=fault_provider.discovery_url("redirect-discovery"))
    disc = fault_provider.discovery_hits("redirect-discovery")
    t0 = time.monotonic()
    try:
        dc.get_resource_oauth2_token(workloadIdentityToken=wat, resourceCredentialProviderName=p,
                                     scopes=["read"], oauth2Flow="M2M")
    except ClientError as e:
        err = e.response["Error"]
        status = e.response["ResponseMetadata"]["HTTPStatusCode"]
    else:
        raise AssertionError("a redirecting discovery document was followed")
    assert time.monotonic() - t0 < 3, "a connection to the redirect target was attempted"
    assert (err["Code"], status) in (("ValidationException", 400),
                                     ("InternalServerException", 500)), err
    assert "redirect" in err["Message"].lower(), err
    assert fault_provider.discovery_hits("redirect-discovery") == disc + 1


# ---------------------------------------------------------------------------------------
# 6. hostile and bad input
# ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def target(server, client, data_client, fault_provider):
    """A valid WAT and a provider behind the fault provider's healthy endpoint."""
    use(server)
    _, wat = new_workload(server, client, data_client)
    p = new_provider(client, discovery_url=fault_provider.discovery_url("ok"))
    m2m(data_client, wat, p)  # the valid request works (and warms the discovery cache)
    return wat, p


def _valid(wat, p) -> dict:
    return {"workloadIdentityToken": wat, "resourceCredentialProviderName": p,
            "scopes": ["read"], "oauth2Flow": "M2M"}


_DROP = object()
BAD_INPUTS = [
    # (label, member, value or _DROP, field the message must name)
    ("no-token", "workloadIdentityToken", _DROP, "workloadIdentityToken"),
    ("empty-token", "workloadIdentityToken", "", "workloadIdentityToken"),
    ("token-type", "workloadIdentityToken", 7, "workloadIdentityToken"),
    ("no-provider", "resourceCredentialProviderName", _DROP, "resourceCredentialProviderName"),
    ("empty-provider", "resourceCredentialProviderName", "", "resourceCredentialProviderName"),
    ("provider-pattern", "resourceCredentialProviderName", "bad name!",
     "resourceCredentialProviderName"),
    ("provider-long", "resourceCredentialProviderName", "p" * 129,
     "resourceCredentialProviderName"),
    ("no-scopes", "scopes", _DROP, "scopes"),
    ("scopes-string", "scopes", "read", "scopes"),
    ("scopes-null", "scopes", None, "scopes"),
    ("scope-empty", "scopes", [""], "scopes"),
    ("scope-long", "scopes", ["s" * 129], "scopes"),
    ("scope-type", "scopes", [1], "scopes"),
    ("scopes-101", "scopes", [f"s{i}" for i in range(101)], "scopes"),
    ("no-flow", "oauth2Flow", _DROP, "oauth2Flow"),
    ("flow-bad", "oauth2Flow", "CLIENT_CREDENTIALS", "oauth2Flow"),
    ("flow-lower", "oauth2Flow", "m2m", "oauth2Flow"),
    ("flow-empty", "oauth2Flow", "", "oauth2Flow"),
    ("resources-21", "resources", [f"https://r{i}.example" for i in range(21)], "resources"),
    ("resource-empty", "resources", [""], "resources"),
    ("resource-long", "resources", ["https://r.example/" + "r" * 2040], "resources"),
    ("resources-string", "resources", "https://r.example", "resources"),
    ("audiences-21", "audiences", [f"https://a{i}.example" for i in range(21)], "audiences"),
    ("audience-empty", "audiences", [""], "audiences"),
    ("audience-long", "audiences", ["a" * 2049], "audiences"),
    ("params-51", "customParameters", {f"k{i}": "v" for i in range(51)}, "customParameters"),
    ("param-key-space", "customParameters", {"bad key": "v"}, "customParameters"),
    ("param-key-slash", "customParameters", {"a/b": "v"}, "customParameters"),
    ("param-key-empty", "customParameters", {"": "v"}, "customParameters"),
    ("param-key-long", "customParameters", {"k" * 257: "v"}, "customParameters"),
    ("param-value-empty", "customParameters", {"k": ""}, "customParameters"),
    ("param-value-long", "customParameters", {"k": "v" * 2049}, "customParameters"),
    ("param-value-type", "customParameters", {"k": 1}, "customParameters"),
    ("params-list", "customParameters", ["k"], "customParameters"),
    ("force-type", "forceAuthentication", "yes", "forceAuthentication"),
    ("session-uri", "sessionUri", "https://not-a-request-uri", "sessionUri"),
    ("return-url", "resourceOauth2ReturnUrl", "no spaces allowed", "resourceOauth2ReturnUrl"),
    ("state-long", "customState", "s" * 4097, "customState"),
] + [
    (f"reserved-{k}", "customParameters", {k: "x"}, "customParameters")
    for k in ("grant_type", "client_id", "client_secret", "client_assertion",
              "client_assertion_type", "scope", "resource", "audience", "code", "code_verifier",
              "redirect_uri", "refresh_token", "username", "password",
              # case-insensitive
              "GRANT_TYPE", "Client_Secret", "CLIENT_ID", "Scope", "Password")
] + [
    ("reserved-among-valid", "customParameters", {"tenant": "t", "client_secret": "x"},
     "customParameters"),
]


@pytest.mark.parametrize("label,member,value,field", BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
def test_bad_input_is_refused_before_any_provider_call(server, fault_provider, target,
                                                       label, member, value, field):
    wat, p = target
    body = _valid(wat, p)
    if value is _DROP:
        body.pop(member)
    else:
        body[member] = value
    hits, disc = fault_provider.hits("ok"), fault_provider.discovery_hits("ok")
    r = raw_call(server, TOKEN_PATH, body)
    msg = assert_raw_error(r, "ValidationException", 400, field=field)
    assert wat not in msg
    assert fault_provider.hits("ok") == hits
    assert fault_provider.discovery_hits("ok") == disc


def test_boto3_bad_input_and_other_flows(data_client, fault_provider, target):
    """The same refusals through boto3 (client-side validation off), and the flows that
    are not M2M."""
    wat, p = target
    c = boto3.session.Session().client(
        "bedrock-agentcore", endpoint_url=data_client.meta.endpoint_url, region_name=REGION,
        aws_access_key_id=ADMIN_KEY_ID, aws_secret_access_key=ADMIN_SECRET,
        config=Config(retries={"total_max_attempts": 1, "mode": "standard"},
                      parameter_validation=False))
    c.meta.events.register("response-received", helpers._response_hook)
    hits, disc = fault_provider.hits("ok"), fault_provider.discovery_hits("ok")
    call = c.get_resource_oauth2_token
    for flow in ("USER_FEDERATION", "ON_BEHALF_OF_TOKEN_EXCHANGE"):
        expect_error(call, workloadIdentityToken=wat, resourceCredentialProviderName=p,
                     scopes=["read"], oauth2Flow=flow, code="ValidationException", status=400)
        # also through the validating client
        expect_error(data_client.get_resource_oauth2_token, workloadIdentityToken=wat,
                     resourceCredentialProviderName=p, scopes=["read"], oauth2Flow=flow,
                     resourceOauth2ReturnUrl="https://app.example/cb",
                     code="ValidationException", status=400)
    expect_error(call, workloadIdentityToken=wat, resourceCredentialProviderName=p,
                 oauth2Flow="M2M", code="ValidationException", status=400, field="scopes")
    expect_error(call, workloadIdentityToken=wat, resourceCredentialProviderName=p,
                 scopes=["read"], code="ValidationException", status=400, field="oauth2Flow")
    expect_error(call, workloadIdentityToken=wat, resourceCredentialProviderName=p,
                 scopes=["read"], oauth2Flow="M2M", customParameters={"Client_Secret": "x"},
                 code="ValidationException", status=400, field="customParameters")
    expect_error(call, workloadIdentityToken=wat, resourceCredentialProviderName=p,
                 scopes=["read"] * 101, oauth2Flow="M2M",
                 code="ValidationException", status=400, field="scopes")
    assert fault_provider.hits("ok") == hits
    assert fault_provider.discovery_hits("ok") == disc


def test_limits_are_inclusive(session, fault_provider):
    """The largest valid request goes through, and reaches the provider whole."""
    server, client, dc = session
    _, wat = new_workload(server, client, dc)
    p = new_provider(client, discovery_url=fault_provider.discovery_url("ok"))
    scopes = [f"{i:03d}" + "s" * 125 for i in range(100)]
    resources = [f"https://r{i:02d}.example/".ljust(2048, "r") for i in range(20)]
    audiences = [f"aud-{i:02d}-".ljust(2048, "a") for i in range(20)]
    params = {f"k{i:02d}-_.".ljust(256, "k"): "v" * 2048 for i in range(50)}
    assert all(len(x) == 128 for x in scopes)
    assert all(len(x) == 2048 for x in resources + audiences)
    assert all(len(k) == 256 for k in params)
    hits = fault_provider.hits("ok")
    m2m(dc, wat, p, scopes=scopes, resources=resources, audiences=audiences,
        customParameters=params)
    assert fault_provider.hits("ok") == hits + 1
    got = fault_provider.last("ok")["params"]
    assert got["scope"] == " ".join(sorted(scopes))
    assert sorted(got["resource"]) == sorted(resources)
    assert sorted(got["audience"]) == sorted(audiences)
    for k, v in params.items():
        assert got[k] == v


def test_policy_denying_the_provider(server, client, data_client, fault_provider):
    use(server)
    _, wat = new_workload(server, client, data_client)
    denied = new_provider(client, discovery_url=fault_provider.discovery_url("ok"))
    allowed = new_provider(client, discovery_url=fault_provider.discovery_url("ok"))
    policy = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "bedrock-agentcore:*", "Resource": "*"},
        {"Effect": "Deny", "Action": "bedrock-agentcore:GetResourceOauth2Token",
         "Resource": server.arn("oauth2", denied)},
    ]}
    k = create_key(server.data_dir, "m2m-deny", policy)
    dc = server.data_client(k["accessKeyId"], k["secretAccessKey"])
    hits, disc = fault_provider.hits("ok"), fault_provider.discovery_hits("ok")
    for kw in ({}, {"forceAuthentication": True}):
        m2m_error(dc, wat, denied, code="AccessDeniedException", status=403, **kw)
    assert fault_provider.hits("ok") == hits
    assert fault_provider.discovery_hits("ok") == disc
    assert vault_count(server.data_dir, denied) == 0
    # the same key may use the other provider
    m2m(dc, wat, allowed)
    assert fault_provider.hits("ok") == hits + 1

    # a key that may do everything but GetResourceOauth2Token
    policy2 = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "bedrock-agentcore:GetWorkloadAccessToken",
         "Resource": "*"}]}
    k2 = create_key(server.data_dir, "m2m-nodata", policy2)
    dc2 = server.data_client(k2["accessKeyId"], k2["secretAccessKey"])
    m2m_error(dc2, wat, allowed, code="AccessDeniedException", status=403)
    # ...and it does not learn whether a provider exists
    m2m_error(dc2, wat, uname("m2m-nope"), code="AccessDeniedException", status=403)
    assert fault_provider.hits("ok") == hits + 1


def test_provider_of_another_account_is_not_found(server, client, data_client, fault_provider):
    use(server)
    mine = new_provider(client, discovery_url=fault_provider.discovery_url("ok"))
    k = create_key(server.data_dir, "m2m-other", ALLOW_ALL, account="111122223333")
    oc = server.client(k["accessKeyId"], k["secretAccessKey"])
    odc = server.data_client(k["accessKeyId"], k["secretAccessKey"])
    _, owat = new_workload(server, oc, odc)
    hits, disc = fault_provider.hits("ok"), fault_provider.discovery_hits("ok")
    m2m_error(odc, owat, mine, code="ResourceNotFoundException", status=404,
              contains="does not exist")
    m2m_error(odc, owat, uname("m2m-nope"), code="ResourceNotFoundException", status=404)
    assert fault_provider.hits("ok") == hits
    assert fault_provider.discovery_hits("ok") == disc
    # the other account's own provider of the same name is its own
    theirs = new_provider(oc, discovery_url=fault_provider.discovery_url("ok"), name=mine)
    assert theirs == mine
    t = m2m(odc, owat, mine)
    assert fault_provider.hits("ok") == hits + 1
    assert t in fault_provider.issued("ok")
    # and the other account's WAT is no good to account 0
    m2m_error(data_client, owat, mine, code="AccessDeniedException", status=403)


# ---------------------------------------------------------------------------------------
# 7. no leaks (runs last in this module)
# ---------------------------------------------------------------------------------------


def test_zz_no_token_or_client_secret_leaks(fault_provider, oidc_provider):
    issued = set(ISSUED)
    for mode in MODES + ("bad-issuer",):
        issued.update(fault_provider.issued(mode))
    for t in issued:
        register_secret(t)
    if len(ISSUED) < 50:
        pytest.skip("scans what the whole module issued: run it with the module")
    secrets = set(CLIENT_SECRETS)
    secrets.update(c["client_secret"] for c in oidc_provider.clients.values())
    assert len(secrets) > 10
    assert SERVERS, "no servers were used?"
    needles = {s: secret_variants(s) for s in issued | secrets}
    hits = []
    for s in SERVERS:
        logs = (s.stdout_text() + s.stderr_text()).encode()
        assert logs, f"{s.label}: no logs captured"
        for value, variants in needles.items():
            if any(v in logs for v in variants):
                hits.append((s.label, "log", value[:16] + "..."))
        if s.data_dir is not None and s.data_dir.exists():
            for path, n in scan_tree_for(s.data_dir, [v for vs in needles.values() for v in vs]):
                if Path(path).name != "credentials":
                    hits.append((s.label, path, n))
    assert not hits, hits
