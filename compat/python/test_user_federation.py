"""User federation (3-legged OAuth) end to end, against docs/contracts/user-federation.md:
GetResourceOauth2Token with oauth2Flow USER_FEDERATION, the browser endpoints
(/identities/oauth2/authorize and /identities/oauth2/callback/{id}),
CompleteResourceTokenAuth, the vault of users' tokens, their refresh (rotation, single
flight, storage failures, invalid_grant), the long poll, audit events, leaks, and the
vendor presets' quirks.

The provider is the test kit's real oidc-provider (testkit/oidc-provider.mjs) with clients
registered at run time (RFC 7591) whose redirect URI is warrant's callback URL; a scripted
browser (testkit.Browser) follows warrant's authorizationUrl, logs in and consents on
oidc-provider's real pages and stops at the redirect to the app's return URL. The vendor
presets run against testkit/quirk_provider.py through --danger-vendor-endpoint.

Servers (module scope): `uf` (most tests; its own oidc-provider, so provider counters are
exact per registered client), `short` (--session-ttl 30: expiry), `quirky` (the quirk
provider's endpoints), and servers of their own for the restart and the storage failure.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import parse_qs, quote, urlencode, urlsplit

import pytest
from botocore.exceptions import ClientError

import helpers
from helpers import (ACCOUNT, ADMIN_KEY_ID, ADMIN_SECRET, REGION, Server, assert_raw_error,
                     create_key, expect_error, raw_call, register_secret, scan_tree_for,
                     secret_variants, status_of, uname)
from testkit import (Browser, OidcProvider, create_3lo_provider, create_3lo_workload,
                     wat_for_jwt, wat_for_user)

PUBLIC = "https://warrant.example.test"
RETURN = "https://app.example/cb"
OTHER_RETURN = "https://app.example/other?tenant=7"
URN = "urn:ietf:params:oauth:request_uri:"
SESSION_RE = re.compile(r"^urn:ietf:params:oauth:request_uri:[A-Za-z0-9_-]{43}$")
COMPLETE_PATH = "/identities/CompleteResourceTokenAuth"
AUTHORIZE_PATH = "/identities/oauth2/authorize"
CALLBACK_PREFIX = "/identities/oauth2/callback/"
EVENTS_PATH = "/warrant/v1/audit/events"
OTHER_ACCOUNT = "111111111111"
ALLOW_ALL = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": ["bedrock-agentcore:*", "warrant:*"], "Resource": "*"}]}
NOT_FINISHED = "has not finished authorizing"
UNKNOWN_SESSION = "unknown or expired session"

# Everything this module received or used, for the leak scans at the end.
RECEIVED: list[str] = []          # access tokens warrant handed out here
PAGES: list[tuple[str, bytes]] = []   # warrant's HTML pages (url, body)
LOCATIONS: list[str] = []         # every Location header warrant sent
CLIENT_SECRETS: list[str] = []    # of the clients registered at oidc-provider here
SERVERS: list[Server] = []


# ---------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------


def got(token: str) -> str:
    RECEIVED.append(token)
    return register_secret(token)


def sha16(s: str) -> str:
    return hashlib.sha256(s.encode()).hexdigest()[:16]


def sha(s: str) -> str:
    return hashlib.sha256(s.encode()).hexdigest()


def body_of(resp: dict) -> dict:
    return {k: v for k, v in resp.items() if k != "ResponseMetadata"}


# retries on refusals (ClientError) too, not only on failed assertions
eventually = functools.partial(helpers.eventually, exceptions=(AssertionError, ClientError))


class Env:
    """A warrant server with its clients, a provider, and the browser mapping."""

    def __init__(self, server: Server, idp: OidcProvider | None):
        self.server = server
        self.idp = idp
        self.control = server.client()
        self.data = server.data_client()

    def browser(self) -> Browser:
        return Browser({PUBLIC: self.server.url})

    # -- set-up
    def provider(self, **kw) -> dict:
        p = create_3lo_provider(self.control, self.idp, **kw)
        CLIENT_SECRETS.append(p["client"]["client_secret"])
        return p

    def workload(self, return_urls=(RETURN, OTHER_RETURN)) -> str:
        return create_3lo_workload(self.control, return_urls)

    def wat(self, workload: str, user: str) -> str:
        return wat_for_user(self.data, workload, user)

    def setup(self, users=("alice",), **provider_kw) -> SimpleNamespace:
        p = self.provider(**provider_kw)
        wl = self.workload()
        ns = SimpleNamespace(p=p, name=p["name"], client_id=p["client"]["client_id"], wl=wl,
                             wats={u: self.wat(wl, u) for u in users})
        ns.wat = ns.wats[users[0]]
        return ns

    # -- the agent's calls
    def get_token(self, wat: str, provider: str, scopes=("read", "write"), *,
                  data=None, **kw) -> dict:
        r = (data or self.data).get_resource_oauth2_token(
            workloadIdentityToken=wat, resourceCredentialProviderName=provider,
            scopes=list(scopes), oauth2Flow="USER_FEDERATION", **kw)
        assert status_of(r) == 200
        out = body_of(r)
        if "accessToken" in out:
            got(out["accessToken"])
        return out

    def start(self, wat: str, provider: str, scopes=("read", "write"), *,
              return_url: str | None = RETURN, **kw) -> dict:
        """A call that must start a new session: the IN_PROGRESS answer."""
        if return_url is not None:
            kw["resourceOauth2ReturnUrl"] = return_url
        out = self.get_token(wat, provider, scopes, **kw)
        assert set(out) == {"authorizationUrl", "sessionUri", "sessionStatus"}, out
        assert out["sessionStatus"] == "IN_PROGRESS"
        assert SESSION_RE.match(out["sessionUri"]), out["sessionUri"]
        assert out["authorizationUrl"] == (
            f"{PUBLIC}{AUTHORIZE_PATH}?request_uri={quote(out['sessionUri'], safe='')}"), out
        return out

    def token(self, wat: str, provider: str, scopes=("read", "write"), **kw) -> str:
        """A call that must answer an access token."""
        out = self.get_token(wat, provider, scopes, **kw)
        assert "accessToken" in out, out
        assert not {"authorizationUrl", "sessionStatus"} & set(out), out
        return out["accessToken"]

    def complete(self, session_uri: str, user_id: str | None = None, *,
                 user_token: str | None = None, data=None) -> dict:
        ident = {"userId": user_id} if user_token is None else {"userToken": user_token}
        r = (data or self.data).complete_resource_token_auth(sessionUri=session_uri,
                                                             userIdentifier=ident)
        assert status_of(r) == 200
        assert body_of(r) == {}, r
        return r

    def complete_error(self, session_uri: str, user_id: str | None = "alice", *,
                       code: str, status: int, user_token: str | None = None, data=None,
                       contains: str | None = None) -> str:
        ident = {"userId": user_id} if user_token is None else {"userToken": user_token}
        return expect_error((data or self.data).complete_resource_token_auth,
                            sessionUri=session_uri, userIdentifier=ident, code=code,
                            status=status, contains=contains)

    def flow(self, authorization_url: str, username: str = "alice", *, deny=False):
        """The user's side in a browser; records warrant's pages and Location headers."""
        b = self.browser()
        try:
            res = b.authorize(authorization_url, username, deny=deny)
        finally:
            record_hops(b, self.server)
        return res

    def consent(self, wat: str, provider: str, user: str = "alice", scopes=("read", "write"),
                **kw) -> tuple[str, object]:
        """Start, authorize in the browser, complete: (sessionUri, FlowResult)."""
        s = self.start(wat, provider, scopes, **kw)
        res = self.flow(s["authorizationUrl"], user)
        assert res.callback.status == 303, (res.callback.status, res.callback.body[:300])
        assert res.query.get("session_id") == s["sessionUri"], res.return_url
        self.complete(s["sessionUri"], user)
        return s["sessionUri"], res

    # -- the provider's side
    def grants(self, client_id: str) -> dict:
        return self.idp.grants(client_id)

    def provider_tokens(self, client_id: str, kind: str = "access_tokens") -> list[dict]:
        return [t for t in self.idp.issued()[kind] if t["client_id"] == client_id]

    # -- the browser endpoints, by hand
    def get(self, path_or_url: str, headers: dict | None = None):
        """GET on warrant (a path, or a URL under the public URL) without following."""
        if path_or_url.startswith(PUBLIC):
            path_or_url = path_or_url[len(PUBLIC):]
        st, hdrs, body = helpers.http_get(self.server.port, path_or_url, headers)
        if "location" in hdrs:
            LOCATIONS.append(hdrs["location"])
        if hdrs.get("content-type", "").startswith("text/html"):
            PAGES.append((path_or_url, body))
        return st, hdrs, body


def record_hops(b: Browser, server: Server) -> None:
    for h in b.hops:
        real = urlsplit(b._real(h.url))
        if real.port != server.port:
            continue
        if "location" in h.headers:
            LOCATIONS.append(h.headers["location"])
        if h.headers.get("content-type", "").startswith("text/html"):
            PAGES.append((h.url, h.body))


def assert_browser_headers(hdrs: dict) -> None:
    assert "no-store" in hdrs.get("cache-control", ""), hdrs
    assert hdrs.get("referrer-policy") == "no-referrer", hdrs


def assert_refused_page(st: int, hdrs: dict, body: bytes, *, echoes=()) -> None:
    """A 4xx HTML error page: no redirect, the browser headers, no query value echoed."""
    assert 400 <= st < 500, (st, body[:300])
    assert st == 400, (st, body[:300])
    assert "location" not in hdrs, hdrs
    assert hdrs.get("content-type", "").startswith("text/html"), hdrs
    assert_browser_headers(hdrs)
    for v in echoes:
        if v and len(v) >= 6:
            assert v.encode() not in body, f"the page echoes {v[:12]}..."
            assert quote(v, safe="").encode() not in body


def callback_parts(callback_url: str) -> tuple[str, dict]:
    """(path, query dict) of a callback URL under the public URL."""
    parts = urlsplit(callback_url)
    return parts.path, {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}


def callback_path(path: str, params: dict) -> str:
    return path + "?" + urlencode(params)


def until_provider_redirect(env: Env, authorization_url: str, user: str = "alice",
                            deny: bool = False) -> tuple[str, dict]:
    """The user authorizes at the provider, but the browser stops before warrant's
    callback: (callback path, its query: code, state, iss)."""
    b = env.browser()
    first = b.open_authorization_url(authorization_url)
    record_hops(b, env.server)
    assert first.status == 303, (first.status, first.body[:300])
    back = b.at_provider(first.location, user, deny=deny)
    path, q = callback_parts(back)
    if "code" in q:
        register_secret(q["code"])
    return path, q


def session_status(env: Env, wat: str, provider: str, session_uri: str, **kw) -> dict:
    return env.get_token(wat, provider, sessionUri=session_uri,
                         resourceOauth2ReturnUrl=RETURN, **kw)


def assert_failed(env: Env, wat: str, provider: str, session_uri: str) -> None:
    out = session_status(env, wat, provider, session_uri)
    assert out == {"sessionUri": session_uri, "sessionStatus": "FAILED"}, out


def vault_rows(data_dir: Path, provider: str | None = None) -> int:
    con = sqlite3.connect(f"file:{Path(data_dir) / 'warrant.db'}?mode=ro", uri=True, timeout=10)
    try:
        sql, args = "SELECT COUNT(*) FROM vault_entries", []
        if provider is not None:
            sql, args = sql + " WHERE provider = ?", [provider]
        return con.execute(sql, args).fetchone()[0]
    finally:
        con.close()


def wait_due(issued_at: float, ttl: int) -> None:
    """Sleep until a token of lifetime ttl issued at issued_at is due for refresh under
    the default --refresh-margin (60 s): now >= expires_at - min(60, ttl / 2)."""
    due = issued_at + ttl - min(60, ttl / 2)
    time.sleep(max(0.0, due - time.time()) + 0.3)


def with_wait_header(client, seconds):
    """Adds x-warrant-wait-seconds to every GetResourceOauth2Token of this client."""
    def add(request, **kwargs):
        request.headers["x-warrant-wait-seconds"] = str(seconds)
    client.meta.events.register("before-sign.bedrock-agentcore.GetResourceOauth2Token", add)
    return client


def audit_events(server: Server, after: int = 0, **params) -> list[dict]:
    out, token = [], None
    for _ in range(100):
        q = {"maxResults": "1000", **params}
        if token:
            q["nextToken"] = token
        r = raw_call(server, EVENTS_PATH, None, method="GET", query=q)
        assert r.status == 200, r
        out += r.json["events"]
        token = r.json.get("nextToken")
        if not token:
            break
    return [e for e in out if e["seq"] > after]


def max_seq(server: Server) -> int:
    evs = audit_events(server)
    return max((e["seq"] for e in evs), default=0)


# ---------------------------------------------------------------------------------------
# servers
# ---------------------------------------------------------------------------------------


def _start(tmp_path_factory, label: str, args=(), data_dir: Path | None = None) -> Server:
    d = data_dir or tmp_path_factory.mktemp(label)
    s = Server(d, label=label, public_url=PUBLIC,
               args=["--outbound-allow", "127.0.0.1", *args])
    s.start()
    SERVERS.append(s)
    return s


@pytest.fixture(scope="module")
def idp():
    p = OidcProvider(label="uf-idp").start()
    yield p
    assert p.stop() == 0


@pytest.fixture(scope="module")
def uf(tmp_path_factory, idp):
    s = _start(tmp_path_factory, "uf-main")
    yield Env(s, idp)
    if s.running():
        assert s.stop() == 0


@pytest.fixture(scope="module")
def short(tmp_path_factory, idp):
    """--session-ttl 30: sessions made at the start of the module, checked at its end.
    .fresh: IN_PROGRESS, never visited; .at_provider: the user finished at the provider
    but the callback was not delivered (its path and query); .called_back: callback
    received, not completed; .done_at: when they were made."""
    s = _start(tmp_path_factory, "uf-short", ["--session-ttl", "30"])
    env = Env(s, idp)
    ns = env.setup()
    ns.env = env
    ns.fresh = env.start(ns.wat, ns.name)["sessionUri"]
    st2 = env.start(ns.wat, ns.name)
    ns.at_provider_session = st2["sessionUri"]
    ns.at_provider_url = st2["authorizationUrl"]
    ns.cb_path, ns.cb_query = until_provider_redirect(env, st2["authorizationUrl"])
    st3 = env.start(ns.wat, ns.name)
    res = env.flow(st3["authorizationUrl"])
    assert res.callback.status == 303
    ns.called_back = st3["sessionUri"]
    ns.fresh_url = env.start(ns.wat, ns.name)["authorizationUrl"]
    ns.made_at = time.time()
    yield ns
    if s.running():
        assert s.stop() == 0


# ---------------------------------------------------------------------------------------
# 0. sessions that will expire (checked at the end of the module)
# ---------------------------------------------------------------------------------------


def test_sessions_for_the_expiry_test_are_made(short):
    out = session_status(short.env, short.wat, short.name, short.fresh)
    assert out["sessionStatus"] == "IN_PROGRESS" and out["sessionUri"] == short.fresh
    out = session_status(short.env, short.wat, short.name, short.called_back)
    assert out["sessionStatus"] == "IN_PROGRESS"


# ---------------------------------------------------------------------------------------
# 1. starting a session, the authorization redirect
# ---------------------------------------------------------------------------------------


def test_first_call_starts_a_session_without_calling_the_provider(uf):
    ns = uf.setup()
    before = vault_rows(uf.server.data_dir)
    s1 = uf.start(ns.wat, ns.name)
    s2 = uf.start(ns.wat, ns.name)
    assert s1["sessionUri"] != s2["sessionUri"]  # 256 random bits each
    assert uf.grants(ns.client_id) == {}
    assert vault_rows(uf.server.data_dir) == before


def test_authorize_redirects_to_the_provider_with_pkce_and_state(uf):
    ns = uf.setup()
    s = uf.start(ns.wat, ns.name, ["read", "write"], resources=[uf.idp.resource],
                 audiences=["aud-1", "aud-2"])
    st, hdrs, body = uf.get(s["authorizationUrl"])
    assert st == 303, (st, body[:300])
    assert_browser_headers(hdrs)
    loc = urlsplit(hdrs["location"])
    assert f"{loc.scheme}://{loc.netloc}{loc.path}" == uf.idp.issuer + "/auth"
    q = parse_qs(loc.query, keep_blank_values=True)
    one = {k: v[0] for k, v in q.items()}
    assert one["response_type"] == "code"
    assert one["client_id"] == ns.client_id
    assert one["redirect_uri"] == ns.p["callbackUrl"]
    assert one["scope"].split(" ") == ["read", "write"]
    assert one["code_challenge_method"] == "S256"
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", one["code_challenge"]), one["code_challenge"]
    assert len(one["state"]) >= 22 and one["state"] not in s["sessionUri"]
    assert q["resource"] == [uf.idp.resource]
    assert sorted(q["audience"]) == ["aud-1", "aud-2"]
    # the same session gives the same redirect (same state, same challenge)
    st2, hdrs2, _ = uf.get(s["authorizationUrl"])
    assert st2 == 303
    loc2 = urlsplit(hdrs2["location"])
    assert (loc2.scheme, loc2.netloc, loc2.path) == (loc.scheme, loc.netloc, loc.path)
    assert parse_qs(loc2.query, keep_blank_values=True) == q
    # nothing was sent to the provider's token endpoint
    assert uf.grants(ns.client_id) == {}


def test_callback_url_is_the_providers(uf):
    ns = uf.setup()
    got_p = uf.control.get_oauth2_credential_provider(name=ns.name)
    assert got_p["callbackUrl"] == ns.p["callbackUrl"]
    assert re.fullmatch(re.escape(PUBLIC + CALLBACK_PREFIX) + r"[0-9a-f-]{36}",
                        ns.p["callbackUrl"]), ns.p["callbackUrl"]


@pytest.mark.parametrize("bad", [
    "urn:ietf:params:oauth:request_uri:" + "A" * 43,  # well-formed, unknown
    "urn:ietf:params:oauth:request_uri:short",
    "not-a-urn", "", None])
def test_authorize_with_an_unknown_session_is_a_400_page(uf, bad):
    path = AUTHORIZE_PATH if bad is None else f"{AUTHORIZE_PATH}?request_uri={quote(bad, safe='')}"
    st, hdrs, body = uf.get(path)
    assert_refused_page(st, hdrs, body, echoes=[bad or ""])


# ---------------------------------------------------------------------------------------
# 2. happy paths
# ---------------------------------------------------------------------------------------


def test_happy_path_for_a_user_id(uf):
    ns = uf.setup()
    s = uf.start(ns.wat, ns.name)
    res = uf.flow(s["authorizationUrl"], "alice")
    # the callback: 303 to the return URL with session_id only (no customState given)
    assert res.callback.status == 303, res.callback.body[:300]
    assert_browser_headers(res.callback.headers)
    assert res.return_url.startswith(RETURN + "?"), res.return_url
    assert res.query_lists == {"session_id": [s["sessionUri"]]}, res.query_lists
    assert res.callback_params["iss"] == uf.idp.issuer  # RFC 9207 iss from the provider
    # the code is not redeemed before CompleteResourceTokenAuth
    assert uf.grants(ns.client_id) == {}
    # polling meanwhile: still IN_PROGRESS, with the authorization URL
    out = session_status(uf, ns.wat, ns.name, s["sessionUri"])
    assert out == s, out
    uf.complete(s["sessionUri"], "alice")
    assert uf.grants(ns.client_id) == {"authorization_code": 1}
    # the token is the provider's, from the session and then from the vault
    issued = uf.provider_tokens(ns.client_id)
    assert len(issued) == 1
    assert uf.token(ns.wat, ns.name, sessionUri=s["sessionUri"],
                    resourceOauth2ReturnUrl=RETURN) == issued[0]["value"]
    assert uf.token(ns.wat, ns.name) == issued[0]["value"]
    assert uf.token(ns.wat, ns.name, ["read"]) == issued[0]["value"]  # a subset is covered
    assert uf.grants(ns.client_id) == {"authorization_code": 1}
    # the code was redeemed with PKCE, the callback URL and the client's own method
    last = uf.idp.stats()["last"]
    assert last["auth"] == "basic"
    assert last["params"]["grant_type"] == "authorization_code"
    assert last["params"]["redirect_uri"] == ns.p["callbackUrl"]
    assert re.fullmatch(r"[A-Za-z0-9._~-]{43,128}", last["params"]["code_verifier"])
    assert last["params"]["code"] == res.callback_params["code"]


def test_client_secret_post_and_authorization_server_metadata(uf):
    ns = uf.setup(auth_method="client_secret_post", metadata=True, method_in_config=True)
    uf.consent(ns.wat, ns.name)
    assert uf.idp.stats()["last"]["auth"] == "post"
    assert uf.grants(ns.client_id) == {"authorization_code": 1}
    assert uf.token(ns.wat, ns.name) == uf.provider_tokens(ns.client_id)[0]["value"]


def test_happy_path_for_a_jwt_user(uf, idp):
    """The user signs in to the app at oidc-provider (the IdP); the app gets a WAT with
    GetWorkloadAccessTokenForJWT; the user then consents at the same provider for the
    resource; CompleteResourceTokenAuth names the user by the same JWT."""
    login = idp.login_clients["login"]
    ns = uf.setup()
    authz = {"authorizers": [{"customJWTAuthorizer": {
        "discoveryUrl": idp.discovery_url, "allowedAudience": [login["client_id"]]}}]}
    r = raw_call(uf.server, f"/warrant/v1/workload-identities/{ns.wl}/authorizers", authz,
                 method="PUT")
    assert r.status == 200, r
    id_token = idp.login("carol-jwt")["id_token"]
    wat = wat_for_jwt(uf.data, ns.wl, id_token)
    s = uf.start(wat, ns.name)
    res = uf.flow(s["authorizationUrl"], "carol-jwt")
    assert res.callback.status == 303 and res.query["session_id"] == s["sessionUri"]
    # a userId of the same name is another user
    uf.complete_error(s["sessionUri"], "carol-jwt", code="AccessDeniedException", status=403)
    assert_failed(uf, wat, ns.name, s["sessionUri"])
    assert uf.grants(ns.client_id) == {}
    # again, completed with the JWT
    s = uf.start(wat, ns.name)
    res = uf.flow(s["authorizationUrl"], "carol-jwt")
    assert res.callback.status == 303
    other = idp.login("dave-jwt")["id_token"]
    uf.complete_error(s["sessionUri"], None, user_token=other, code="AccessDeniedException",
                      status=403)
    s = uf.start(wat, ns.name)
    res = uf.flow(s["authorizationUrl"], "carol-jwt")
    assert res.callback.status == 303
    uf.complete(s["sessionUri"], user_token=id_token)
    tok = uf.token(wat, ns.name)
    assert tok == uf.provider_tokens(ns.client_id)[-1]["value"]
    assert uf.grants(ns.client_id) == {"authorization_code": 1}
    # the userId "carol-jwt" does not share the JWT user's vault entry
    uid_wat = uf.wat(ns.wl, "carol-jwt")
    uf.start(uid_wat, ns.name)
    # a refused user token: UnauthorizedException
    s = uf.start(wat, ns.name, forceAuthentication=True)
    res = uf.flow(s["authorizationUrl"], "carol-jwt")
    uf.complete_error(s["sessionUri"], None, user_token=register_secret(
        id_token[:-8] + ("AAAAAAAA" if not id_token.endswith("AAAAAAAA") else "BBBBBBBB")),
        code="UnauthorizedException", status=401)


def test_aws_cli_completes_the_flow(uf, tmp_path):
    """The AWS CLI (bedrock-agentcore) starts the session and completes it."""
    ns = uf.setup()
    aws = shutil.which("aws", path=str(Path(sys.executable).parent)) or shutil.which("aws")
    assert aws, "the AWS CLI is not installed"
    config = tmp_path / "aws-config"  # never fetch URLs given as parameters
    config.write_text("[default]\ncli_follow_urlparam = false\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_ACCESS_KEY_ID=ADMIN_KEY_ID, AWS_SECRET_ACCESS_KEY=ADMIN_SECRET,
               AWS_CONFIG_FILE=str(config), AWS_SHARED_CREDENTIALS_FILE=os.devnull,
               AWS_MAX_ATTEMPTS="1", AWS_PAGER="", AWS_EC2_METADATA_DISABLED="true")

    def cli(*args):
        cp = subprocess.run([aws, "bedrock-agentcore", *args, "--endpoint-url", uf.server.url,
                             "--region", REGION, "--output", "json"], capture_output=True,
                            env=env, timeout=120)
        assert cp.returncode == 0, cp.stderr.decode()[-2000:]
        assert not helpers.secrets_in(cp.stderr), "the CLI's stderr shows a secret"
        return json.loads(cp.stdout) if cp.stdout.strip() else None

    out = cli("get-resource-oauth2-token", "--workload-identity-token", ns.wat,
              "--resource-credential-provider-name", ns.name, "--scopes", "read", "write",
              "--oauth2-flow", "USER_FEDERATION", "--resource-oauth2-return-url", RETURN)
    assert out["sessionStatus"] == "IN_PROGRESS" and SESSION_RE.match(out["sessionUri"])
    res = uf.flow(out["authorizationUrl"], "alice")
    assert res.query["session_id"] == out["sessionUri"]
    assert cli("complete-resource-token-auth", "--session-uri", out["sessionUri"],
               "--user-identifier", "userId=alice") in ({}, None)
    assert uf.grants(ns.client_id) == {"authorization_code": 1}
    out = cli("get-resource-oauth2-token", "--workload-identity-token", ns.wat,
              "--resource-credential-provider-name", ns.name, "--scopes", "read", "write",
              "--oauth2-flow", "USER_FEDERATION")
    assert got(out["accessToken"]) == uf.provider_tokens(ns.client_id)[0]["value"]
    assert "providerAttributes" not in out


def test_poll_loop_like_the_agentcore_sdk(uf):
    """bedrock_agentcore's IdentityClient.get_token: the first call gives the
    authorizationUrl (handed to on_auth_url), then the same request plus sessionUri (and
    forceAuthentication false) is repeated until it carries an accessToken."""
    ns = uf.setup()
    req = {"resourceCredentialProviderName": ns.name, "scopes": ["read"],
           "oauth2Flow": "USER_FEDERATION", "workloadIdentityToken": ns.wat,
           "resourceOauth2ReturnUrl": RETURN, "forceAuthentication": True,
           "customState": "sdk-state-1"}
    resp = uf.data.get_resource_oauth2_token(**req)
    assert "accessToken" not in resp and "authorizationUrl" in resp
    auth_url = resp["authorizationUrl"]
    req["forceAuthentication"] = False
    req["sessionUri"] = resp["sessionUri"]
    done = {}

    def user_and_app():  # on_auth_url: the user consents; the app's return URL completes
        time.sleep(0.5)
        res = uf.flow(auth_url, "alice")
        done["state"] = res.query.get("state")
        uf.complete(res.query["session_id"], "alice")

    t = threading.Thread(target=user_and_app)
    t.start()
    token, polls, deadline = None, 0, time.monotonic() + 30
    while time.monotonic() < deadline:
        time.sleep(0.2)
        polls += 1
        token = uf.data.get_resource_oauth2_token(**req).get("accessToken")
        if token is not None:
            break
    t.join(30)
    assert token is not None, "the poll loop never got a token"
    assert got(token) == uf.provider_tokens(ns.client_id)[0]["value"]
    assert done["state"] == "sdk-state-1" and polls >= 2
    assert uf.grants(ns.client_id) == {"authorization_code": 1}


def test_consent_once_then_the_vault_across_a_restart(tmp_path_factory, idp):
    s = _start(tmp_path_factory, "uf-restart")
    env = Env(s, idp)
    ns = env.setup()
    env.consent(ns.wat, ns.name)
    tok = env.token(ns.wat, ns.name)
    assert env.grants(ns.client_id) == {"authorization_code": 1}
    assert s.stop() == 0
    s2 = _start(tmp_path_factory, "uf-restart-2", data_dir=s.data_dir)
    try:
        env2 = Env(s2, idp)
        base = max_seq(s2)
        # no second prompt: the same token, from the vault, no provider call
        assert env2.token(ns.wat, ns.name) == tok
        wat2 = env2.wat(ns.wl, "alice")
        assert env2.token(wat2, ns.name, resourceOauth2ReturnUrl=RETURN) == tok
        assert env2.grants(ns.client_id) == {"authorization_code": 1}
        evs = [e for e in audit_events(s2, base) if e["operation"] == "GetResourceOauth2Token"]
        assert evs and all(e.get("tokenSource") == "vault" for e in evs), json.dumps(evs)
        assert all(e.get("tokenSha256") == sha(tok) for e in evs), json.dumps(evs)
    finally:
        assert s2.stop() == 0


# ---------------------------------------------------------------------------------------
# 3. CompleteResourceTokenAuth
# ---------------------------------------------------------------------------------------


def test_the_wrong_user_completing_fails_the_session(uf):
    ns = uf.setup(users=("alice", "bob"))
    s = uf.start(ns.wat, ns.name)
    res = uf.flow(s["authorizationUrl"], "alice")
    assert res.callback.status == 303
    uf.complete_error(s["sessionUri"], "bob", code="AccessDeniedException", status=403)
    assert_failed(uf, ns.wat, ns.name, s["sessionUri"])
    # the code was never redeemed, and never will be
    uf.complete_error(s["sessionUri"], "alice", code="ValidationException", status=400)
    assert uf.grants(ns.client_id) == {}
    # neither user has a token
    assert "accessToken" not in uf.get_token(ns.wat, ns.name, resourceOauth2ReturnUrl=RETURN)
    assert "accessToken" not in uf.get_token(ns.wats["bob"], ns.name,
                                             resourceOauth2ReturnUrl=RETURN)
    assert uf.grants(ns.client_id) == {}
    assert vault_rows(uf.server.data_dir, ns.name) == 0


def test_complete_before_the_callback_keeps_the_session(uf):
    ns = uf.setup()
    s = uf.start(ns.wat, ns.name)
    uf.complete_error(s["sessionUri"], "alice", code="ValidationException", status=400,
                      contains=NOT_FINISHED)
    # after the user went to the provider but before the callback: the same
    path, q = until_provider_redirect(uf, s["authorizationUrl"])
    uf.complete_error(s["sessionUri"], "alice", code="ValidationException", status=400,
                      contains=NOT_FINISHED)
    assert session_status(uf, ns.wat, ns.name, s["sessionUri"])["sessionStatus"] == "IN_PROGRESS"
    st, hdrs, _ = uf.get(callback_path(path, q))
    assert st == 303
    uf.complete(s["sessionUri"], "alice")
    assert uf.token(ns.wat, ns.name) == uf.provider_tokens(ns.client_id)[0]["value"]
    assert uf.grants(ns.client_id) == {"authorization_code": 1}


def test_code_replay_is_refused_and_redeemed_once(uf):
    ns = uf.setup()
    s, res = uf.consent(ns.wat, ns.name)
    uf.complete_error(s, "alice", code="ValidationException", status=400)
    assert uf.grants(ns.client_id) == {"authorization_code": 1}
    # the callback itself cannot be replayed either (the state is consumed)
    path, q = callback_parts(res.callback_url)
    st, hdrs, body = uf.get(callback_path(path, q))
    assert_refused_page(st, hdrs, body, echoes=[q["code"], q["state"]])
    uf.complete_error(s, "alice", code="ValidationException", status=400)
    assert uf.grants(ns.client_id) == {"authorization_code": 1}
    assert uf.token(ns.wat, ns.name) == uf.provider_tokens(ns.client_id)[0]["value"]


def test_complete_hostile_input(uf, tmp_path):
    ns = uf.setup()
    s = uf.start(ns.wat, ns.name)
    res = uf.flow(s["authorizationUrl"], "alice")
    assert res.callback.status == 303
    uri = s["sessionUri"]
    server = uf.server
    bad_bodies = [
        ({}, ("sessionUri", "userIdentifier")),
        ({"sessionUri": uri}, "userIdentifier"),
        ({"userIdentifier": {"userId": "alice"}}, "sessionUri"),
        ({"sessionUri": uri, "userIdentifier": {}}, ("userIdentifier", "userId", "userToken")),
        ({"sessionUri": uri, "userIdentifier": {"userId": "alice", "userToken": "x" * 50}},
         ("userIdentifier", "userId", "userToken")),
        ({"sessionUri": uri, "userIdentifier": {"userId": ""}}, ("userId", "userIdentifier")),
        ({"sessionUri": uri, "userIdentifier": "alice"}, "userIdentifier"),
        ({"sessionUri": uri, "userIdentifier": {"userId": 7}}, ("userId", "userIdentifier")),
        ({"sessionUri": 7, "userIdentifier": {"userId": "alice"}}, "sessionUri"),
        ({"sessionUri": "not-a-urn", "userIdentifier": {"userId": "alice"}}, "sessionUri"),
        ({"sessionUri": URN + "a b", "userIdentifier": {"userId": "alice"}}, "sessionUri"),
        ({"sessionUri": URN + "A" * 1100, "userIdentifier": {"userId": "alice"}}, "sessionUri"),
    ]
    for body, field in bad_bodies:
        r = raw_call(server, COMPLETE_PATH, body)
        assert_raw_error(r, "ValidationException", 400, field=field)
    r = raw_call(server, COMPLETE_PATH, b"{not json")
    assert_raw_error(r, "ValidationException", 400)
    r = raw_call(server, COMPLETE_PATH, {"sessionUri": URN + "A" * 43,
                                         "userIdentifier": {"userId": "alice"}})
    assert_raw_error(r, "ResourceNotFoundException", 404)
    # another account's key: not found (the session is not of its account)
    other = create_key(server.data_dir, uname("uf-other"), ALLOW_ALL, account=OTHER_ACCOUNT,
                       tmp=tmp_path)
    od = server.data_client(other["accessKeyId"], other["secretAccessKey"])
    eventually(lambda: uf.complete_error(uri, "alice", data=od,
                                         code="ResourceNotFoundException", status=404))
    # a key whose policy denies the action, and one allowed only on another workload
    deny = create_key(server.data_dir, uname("uf-deny"), {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "bedrock-agentcore:*", "Resource": "*"},
        {"Effect": "Deny", "Action": "bedrock-agentcore:CompleteResourceTokenAuth",
         "Resource": "*"}]}, tmp=tmp_path)
    elsewhere = create_key(server.data_dir, uname("uf-elsewhere"), {
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "bedrock-agentcore:CompleteResourceTokenAuth",
             "Resource": server.arn("wi", "some-other-workload")}]}, tmp=tmp_path)
    only_this = create_key(server.data_dir, uname("uf-only"), {
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "bedrock-agentcore:CompleteResourceTokenAuth",
             "Resource": server.arn("wi", ns.wl)}]}, tmp=tmp_path)
    for key in (deny, elsewhere):
        dc = server.data_client(key["accessKeyId"], key["secretAccessKey"])
        eventually(lambda: uf.complete_error(uri, "alice", data=dc,
                                             code="AccessDeniedException", status=403))
    # both userId and userToken through boto3: refused before sending (a union)
    with pytest.raises(Exception, match="union"):
        uf.data.complete_resource_token_auth(sessionUri=uri, userIdentifier={
            "userId": "alice", "userToken": "x" * 50})
    # nothing changed: the session completes now, with the key allowed on its workload
    assert uf.grants(ns.client_id) == {}
    assert session_status(uf, ns.wat, ns.name, uri)["sessionStatus"] == "IN_PROGRESS"
    dc = server.data_client(only_this["accessKeyId"], only_this["secretAccessKey"])
    uf.complete(uri, "alice", data=dc)
    assert uf.grants(ns.client_id) == {"authorization_code": 1}
    assert uf.token(ns.wat, ns.name) == uf.provider_tokens(ns.client_id)[0]["value"]


# ---------------------------------------------------------------------------------------
# 4. the return URL
# ---------------------------------------------------------------------------------------

BAD_RETURN_URLS = [
    "https://app.example/other",          # not registered
    "https://app.example/cb.evil.com",    # registered URL as a prefix
    "https://app.example/cb/../x",
    "https://app.example/cb/",            # trailing slash
    "https://app.example/cb/x",
    "https://app.example@evil/cb",
    "https://app.example/CB",             # case
    "https://APP.example/cb",
    "HTTPS://app.example/cb",
    "https://app.example/cb?x=1",         # query added
    "https://app.example/cb#frag",
    "https://app.example:443/cb",
    "http://app.example/cb",
    "https://app.example/cb%2F..",
    "https://app.example/cb ",
    "https://app.example/other?tenant=7&x=1",
]


@pytest.fixture(scope="module")
def shared(uf):
    """One provider and workload for the parametrized refusals (they change nothing)."""
    return uf.setup()


@pytest.mark.parametrize("url", BAD_RETURN_URLS)
def test_return_url_must_be_registered_byte_for_byte(uf, shared, url):
    ns = shared
    before = max_seq(uf.server)
    msg = expect_error(uf.data.get_resource_oauth2_token, workloadIdentityToken=ns.wat,
                       resourceCredentialProviderName=ns.name, scopes=["read"],
                       oauth2Flow="USER_FEDERATION", resourceOauth2ReturnUrl=url,
                       code="ValidationException", status=400, field="resourceOauth2ReturnUrl")
    assert url.strip() not in msg, msg  # never echoes the value
    evs = audit_events(uf.server, before)
    assert [(e["operation"], e["outcome"], e.get("errorType")) for e in evs] == [
        ("GetResourceOauth2Token", "failure", "ValidationException")], evs
    assert "session" not in evs[0], evs[0]
    assert uf.grants(ns.client_id) == {}


def test_return_url_rules_with_a_vault_token(uf):
    ns = uf.setup()
    # a new session needs a return URL
    expect_error(uf.data.get_resource_oauth2_token, workloadIdentityToken=ns.wat,
                 resourceCredentialProviderName=ns.name, scopes=["read"],
                 oauth2Flow="USER_FEDERATION", code="ValidationException", status=400,
                 field="resourceOauth2ReturnUrl")
    uf.consent(ns.wat, ns.name)
    tok = uf.token(ns.wat, ns.name)  # no return URL needed: the vault answers
    assert uf.token(ns.wat, ns.name, resourceOauth2ReturnUrl=OTHER_RETURN) == tok
    # checked even when the vault could answer
    expect_error(uf.data.get_resource_oauth2_token, workloadIdentityToken=ns.wat,
                 resourceCredentialProviderName=ns.name, scopes=["read"],
                 oauth2Flow="USER_FEDERATION", resourceOauth2ReturnUrl="https://app.example/cb/",
                 code="ValidationException", status=400, field="resourceOauth2ReturnUrl")
    # scopes not covered: a new session (and that needs the return URL)
    expect_error(uf.data.get_resource_oauth2_token, workloadIdentityToken=ns.wat,
                 resourceCredentialProviderName=ns.name, scopes=["read", "admin"],
                 oauth2Flow="USER_FEDERATION", code="ValidationException", status=400,
                 field="resourceOauth2ReturnUrl")
    uf.start(ns.wat, ns.name, ["read", "admin"])
    assert uf.grants(ns.client_id) == {"authorization_code": 1}


def test_return_url_query_is_kept_and_custom_state_comes_back(uf):
    ns = uf.setup()
    s = uf.start(ns.wat, ns.name, return_url=OTHER_RETURN, customState="app-state/1 ü&x=y")
    res = uf.flow(s["authorizationUrl"], "alice")
    assert res.callback.status == 303
    parts = urlsplit(res.return_url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == "https://app.example/other"
    assert res.query_lists == {"tenant": ["7"], "session_id": [s["sessionUri"]],
                               "state": ["app-state/1 ü&x=y"]}, res.query_lists
    assert parts.query.startswith("tenant=7&"), parts.query
    # the provider never saw customState (warrant's own state went there)
    assert res.provider_params["state"] != "app-state/1 ü&x=y"
    uf.complete(s["sessionUri"], "alice")


# ---------------------------------------------------------------------------------------
# 5. the callback: refusals that change nothing
# ---------------------------------------------------------------------------------------


def test_callback_with_a_bad_state_is_refused_without_side_effects(uf):
    ns = uf.setup()
    other = uf.setup()  # another provider: another callback id
    s = uf.start(ns.wat, ns.name)
    path, q = until_provider_redirect(uf, s["authorizationUrl"])
    state, code = q["state"], q["code"]
    assert path == urlsplit(ns.p["callbackUrl"]).path
    other_path = urlsplit(other.p["callbackUrl"]).path
    flipped = state[:-1] + ("A" if state[-1] != "A" else "B")
    before = max_seq(uf.server)
    attempts = [
        (path, {**q, "state": flipped}),                       # tampered
        (path, {**q, "state": state + "x"}),
        (path, {**q, "state": state[:-2]}),
        (path, {**q, "state": "x" * len(state)}),              # unknown
        (path, {k: v for k, v in q.items() if k != "state"}),  # missing
        (path, {**q, "state": ""}),
        (other_path, q),                                       # another provider's callback
        (CALLBACK_PREFIX + "00000000-0000-4000-8000-000000000000", q),
    ]
    for p, params in attempts:
        st, hdrs, body = uf.get(callback_path(p, params))
        assert_refused_page(st, hdrs, body, echoes=[code, state, params.get("state", "")])
    # nothing was sent to the provider, and the session is unchanged: the real callback
    # still works once
    assert uf.grants(ns.client_id) == {} and uf.grants(other.client_id) == {}
    assert session_status(uf, ns.wat, ns.name, s["sessionUri"])["sessionStatus"] == "IN_PROGRESS"
    st, hdrs, _ = uf.get(callback_path(path, q))
    assert st == 303 and parse_qs(urlsplit(hdrs["location"]).query)["session_id"] == [
        s["sessionUri"]]
    # and then never again (used)
    st, hdrs, body = uf.get(callback_path(path, q))
    assert_refused_page(st, hdrs, body, echoes=[code, state])
    uf.complete(s["sessionUri"], "alice")
    assert uf.grants(ns.client_id) == {"authorization_code": 1}
    # one successful OAuth2Callback in the session's account (refusals without a session
    # have no account of this caller to be recorded in)
    evs = [e for e in audit_events(uf.server, before) if e["operation"] == "OAuth2Callback"]
    assert [e["outcome"] for e in evs].count("success") == 1, evs
    assert all(e["outcome"] in ("success", "failure") for e in evs), evs


def test_authorize_after_the_callback_is_refused(uf):
    ns = uf.setup()
    s = uf.start(ns.wat, ns.name)
    res = uf.flow(s["authorizationUrl"], "alice")
    assert res.callback.status == 303
    st, hdrs, body = uf.get(s["authorizationUrl"])  # callback received: not awaiting the user
    assert_refused_page(st, hdrs, body)
    uf.complete(s["sessionUri"], "alice")
    st, hdrs, body = uf.get(s["authorizationUrl"])  # completed
    assert_refused_page(st, hdrs, body)


def test_callback_iss_must_be_the_providers(uf):
    ns = uf.setup()
    s = uf.start(ns.wat, ns.name)
    path, q = until_provider_redirect(uf, s["authorizationUrl"])
    assert q["iss"] == uf.idp.issuer
    base = max_seq(uf.server)
    st, hdrs, body = uf.get(callback_path(path, {**q, "iss": "https://evil.example"}))
    assert_refused_page(st, hdrs, body, echoes=[q["code"], q["state"]])
    evs = audit_events(uf.server, base)
    assert [(e["operation"], e["outcome"]) for e in evs] == [("OAuth2Callback", "failure")], evs
    assert evs[0]["account"] == ACCOUNT and evs[0].get("session", sha16(s["sessionUri"])) == \
        sha16(s["sessionUri"])
    assert_failed(uf, ns.wat, ns.name, s["sessionUri"])
    uf.complete_error(s["sessionUri"], "alice", code="ValidationException", status=400)
    assert uf.grants(ns.client_id) == {}
    # the discovery document says authorization_response_iss_parameter_supported: an
    # answer without iss is refused too
    s = uf.start(ns.wat, ns.name)
    path, q = until_provider_redirect(uf, s["authorizationUrl"])
    st, hdrs, body = uf.get(callback_path(path, {k: v for k, v in q.items() if k != "iss"}))
    assert_refused_page(st, hdrs, body, echoes=[q["code"], q["state"]])
    uf.complete_error(s["sessionUri"], "alice", code="ValidationException", status=400)
    assert uf.grants(ns.client_id) == {}


def test_callback_without_iss_is_accepted_without_discovery(uf):
    """authorizationServerMetadata (no discovery document): iss absent is accepted, a
    wrong one is not."""
    ns = uf.setup(metadata=True)
    s = uf.start(ns.wat, ns.name)
    path, q = until_provider_redirect(uf, s["authorizationUrl"])
    st, hdrs, _ = uf.get(callback_path(path, {k: v for k, v in q.items() if k != "iss"}))
    assert st == 303, hdrs
    uf.complete(s["sessionUri"], "alice")
    assert uf.grants(ns.client_id) == {"authorization_code": 1}
    s = uf.start(ns.wat, ns.name, forceAuthentication=True)
    path, q = until_provider_redirect(uf, s["authorizationUrl"])
    st, hdrs, body = uf.get(callback_path(path, {**q, "iss": uf.idp.issuer + "/"}))
    assert_refused_page(st, hdrs, body)
    assert_failed(uf, ns.wat, ns.name, s["sessionUri"])


# ---------------------------------------------------------------------------------------
# 6. the provider says no
# ---------------------------------------------------------------------------------------


def test_consent_denied_at_the_provider(uf):
    ns = uf.setup()
    s = uf.start(ns.wat, ns.name, customState="st-deny")
    res = uf.flow(s["authorizationUrl"], "alice", deny=True)
    assert res.callback_params["error"] == "access_denied"
    assert res.callback.status == 303, res.callback.body[:300]
    assert_browser_headers(res.callback.headers)
    assert res.return_url.startswith(RETURN + "?")
    assert res.query_lists == {"session_id": [s["sessionUri"]], "error": ["access_denied"],
                               "state": ["st-deny"]}, res.query_lists
    assert_failed(uf, ns.wat, ns.name, s["sessionUri"])
    uf.complete_error(s["sessionUri"], "alice", code="ValidationException", status=400)
    assert uf.grants(ns.client_id) == {}
    assert vault_rows(uf.server.data_dir, ns.name) == 0


def test_crafted_error_callback_with_a_valid_state(uf):
    ns = uf.setup()
    s = uf.start(ns.wat, ns.name)
    st, hdrs, _ = uf.get(s["authorizationUrl"])
    state = parse_qs(urlsplit(hdrs["location"]).query)["state"][0]
    path = urlsplit(ns.p["callbackUrl"]).path
    st, hdrs, body = uf.get(callback_path(path, {
        "error": "temporarily_unavailable", "error_description": "<script>x</script>",
        "state": state, "iss": uf.idp.issuer}))
    assert st == 303, body[:300]
    loc = urlsplit(hdrs["location"])
    q = parse_qs(loc.query)
    assert q == {"session_id": [s["sessionUri"]], "error": ["temporarily_unavailable"]}, q
    assert_failed(uf, ns.wat, ns.name, s["sessionUri"])
    uf.complete_error(s["sessionUri"], "alice", code="ValidationException", status=400)
    # and the state is used up
    st, hdrs, body = uf.get(callback_path(path, {"code": "x" * 30, "state": state}))
    assert_refused_page(st, hdrs, body, echoes=[state])
    assert uf.grants(ns.client_id) == {}


def test_provider_refusing_the_code_fails_the_session(uf, idp):
    """The user revokes the app at the provider between the callback and
    CompleteResourceTokenAuth: the redemption is refused (invalid_grant, a 4xx) →
    ValidationException, the session FAILED, never retried."""
    ns = uf.setup()
    s = uf.start(ns.wat, ns.name)
    res = uf.flow(s["authorizationUrl"], "alice")
    assert res.callback.status == 303
    assert idp.revoke_grants(ns.client_id) == 1
    msg = uf.complete_error(s["sessionUri"], "alice", code="ValidationException", status=400)
    assert "invalid_grant" in msg, msg
    assert res.callback_params["code"] not in msg
    assert uf.grants(ns.client_id) == {"authorization_code": 1}
    assert_failed(uf, ns.wat, ns.name, s["sessionUri"])
    uf.complete_error(s["sessionUri"], "alice", code="ValidationException", status=400)
    assert uf.grants(ns.client_id) == {"authorization_code": 1}
    assert vault_rows(uf.server.data_dir, ns.name) == 0


# ---------------------------------------------------------------------------------------
# 7. refresh
# ---------------------------------------------------------------------------------------

TTL = 6  # access token lifetime of the refresh tests: due after 3 s (margin 60, half life)


def test_refresh_rotates_and_invalid_grant_starts_a_new_session(uf, idp):
    ns = uf.setup(access_token_ttl=TTL)
    uf.consent(ns.wat, ns.name)
    t0 = time.time()  # the token was received before this
    first = uf.token(ns.wat, ns.name)
    assert uf.token(ns.wat, ns.name) == first  # fresh: from the vault
    old_rt = uf.provider_tokens(ns.client_id, "refresh_tokens")[0]["value"]
    wait_due(t0, TTL)
    second = uf.token(ns.wat, ns.name)
    t1 = time.time()
    assert second != first
    assert uf.grants(ns.client_id) == {"authorization_code": 1, "refresh_token": 1}
    assert second == uf.provider_tokens(ns.client_id)[-1]["value"]
    assert uf.token(ns.wat, ns.name) == second  # exactly once
    assert uf.grants(ns.client_id) == {"authorization_code": 1, "refresh_token": 1}
    # the old refresh token is dead (rotation); presenting it makes oidc-provider revoke
    # the grant, so the refresh token warrant holds now dies too
    c = ns.p["client"]
    status, doc = idp.refresh_token_grant(c["client_id"], c["client_secret"], old_rt)
    assert status == 400 and doc["error"] == "invalid_grant", doc
    rows = vault_rows(uf.server.data_dir, ns.name)
    assert rows == 1
    wait_due(t1, TTL)
    # invalid_grant: the entry is deleted and a new session starts
    out = uf.get_token(ns.wat, ns.name, resourceOauth2ReturnUrl=RETURN)
    assert set(out) == {"authorizationUrl", "sessionUri", "sessionStatus"}, out
    assert out["sessionStatus"] == "IN_PROGRESS"
    assert uf.grants(ns.client_id) == {"authorization_code": 1, "refresh_token": 3}
    assert vault_rows(uf.server.data_dir, ns.name) == 0
    # the user consents again: a token again
    res = uf.flow(out["authorizationUrl"])
    uf.complete(res.query["session_id"], "alice")
    assert uf.token(ns.wat, ns.name) == uf.provider_tokens(ns.client_id)[-1]["value"]


def test_100_concurrent_requests_at_expiry_make_one_refresh(uf):
    ns = uf.setup(access_token_ttl=TTL)
    clients = [uf.server.data_client() for _ in range(100)]  # made before the clock starts
    uf.consent(ns.wat, ns.name)
    t0 = time.time()
    first = uf.token(ns.wat, ns.name)
    wait_due(t0, TTL)
    barrier = threading.Barrier(100)
    results: list = [None] * 100
    errors: list = []

    def run(i):
        try:
            barrier.wait(30)
            r = clients[i].get_resource_oauth2_token(
                workloadIdentityToken=ns.wat, resourceCredentialProviderName=ns.name,
                scopes=["read", "write"], oauth2Flow="USER_FEDERATION")
            results[i] = r.get("accessToken")
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(100)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(90)
    assert not errors, errors[:3]
    assert uf.grants(ns.client_id) == {"authorization_code": 1, "refresh_token": 1}
    new = uf.provider_tokens(ns.client_id)[-1]["value"]
    assert new != first
    assert set(results) == {new}, {r[:8] if r else r for r in results}
    got(new)


def test_storage_failure_after_a_rotation_loses_nothing(tmp_path_factory, idp):
    s = _start(tmp_path_factory, "uf-storage")
    env = Env(s, idp)
    try:
        ns = env.setup(access_token_ttl=TTL)
        env.consent(ns.wat, ns.name)
        t0 = time.time()
        first = env.token(ns.wat, ns.name)
        db = sqlite3.connect(s.data_dir / "warrant.db", timeout=10)
        try:
            fail_vault_writes(db)
            wait_due(t0, TTL)
            try:
                r = env.data.get_resource_oauth2_token(
                    workloadIdentityToken=ns.wat, resourceCredentialProviderName=ns.name,
                    scopes=["read", "write"], oauth2Flow="USER_FEDERATION")
                raise AssertionError(f"answered despite the storage failure: {list(r)}")
            except ClientError as e:
                t_fail = time.time()
                assert e.response["Error"]["Code"] == "InternalServerException", e.response
                assert e.response["ResponseMetadata"]["HTTPStatusCode"] == 500
                text = json.dumps(e.response, default=str)
                for t in uf_tokens(idp, ns.client_id):
                    assert t not in text, "a token in the error answer"
            assert env.grants(ns.client_id) == {"authorization_code": 1, "refresh_token": 1}
            new = env.provider_tokens(ns.client_id)[-1]["value"]
            assert new != first
        finally:
            heal_vault_writes(db)
            db.close()
        # the next request commits the kept token set and answers it: no second refresh
        assert env.token(ns.wat, ns.name) == new
        assert env.grants(ns.client_id) == {"authorization_code": 1, "refresh_token": 1}
        # the rotated refresh token was kept: the next refresh works
        wait_due(t_fail, TTL)
        third = env.token(ns.wat, ns.name)
        assert third not in (first, new)
        assert env.grants(ns.client_id) == {"authorization_code": 1, "refresh_token": 2}
        assert third == env.provider_tokens(ns.client_id)[-1]["value"]
    finally:
        assert s.stop() == 0


def fail_vault_writes(db: sqlite3.Connection) -> None:
    """Storage failure injected into warrant's live database: every INSERT and UPDATE of
    `vault_entries` aborts (leases and sessions, in other tables, still work)."""
    db.executescript("""
        CREATE TRIGGER uf_fail_insert BEFORE INSERT ON vault_entries
        BEGIN SELECT RAISE(ABORT, 'injected'); END;
        CREATE TRIGGER uf_fail_update BEFORE UPDATE ON vault_entries
        BEGIN SELECT RAISE(ABORT, 'injected'); END;
    """)
    db.commit()


def heal_vault_writes(db: sqlite3.Connection) -> None:
    db.executescript("DROP TRIGGER IF EXISTS uf_fail_insert;"
                     "DROP TRIGGER IF EXISTS uf_fail_update;")
    db.commit()


def test_crash_while_the_store_fails_loses_the_rotation(tmp_path_factory, idp):
    """The contract's caveat: the rotated token set is only in memory while the store
    fails; a crash then loses it, and the next use gets invalid_grant (the old refresh
    token was spent) → a new authorization URL."""
    s = _start(tmp_path_factory, "uf-crash")
    env = Env(s, idp)
    ns = env.setup(access_token_ttl=TTL)
    env.consent(ns.wat, ns.name)
    t0 = time.time()
    env.token(ns.wat, ns.name)
    db = sqlite3.connect(s.data_dir / "warrant.db", timeout=10)
    fail_vault_writes(db)
    wait_due(t0, TTL)
    expect_error(env.data.get_resource_oauth2_token, workloadIdentityToken=ns.wat,
                 resourceCredentialProviderName=ns.name, scopes=["read", "write"],
                 oauth2Flow="USER_FEDERATION", code="InternalServerException", status=500)
    s.kill()
    heal_vault_writes(db)
    db.close()
    s2 = _start(tmp_path_factory, "uf-crash-2", data_dir=s.data_dir)
    try:
        env2 = Env(s2, idp)
        t = time.monotonic()
        try:
            out = env2.get_token(ns.wat, ns.name, resourceOauth2ReturnUrl=RETURN)
        except ClientError as e:
            raise AssertionError(f"the next use after the crash answered "
                                 f"{e.response['Error']['Code']} after "
                                 f"{time.monotonic() - t:.1f} s: "
                                 f"{e.response['Error']['Message']}") from None
        assert "accessToken" not in out and out["sessionStatus"] == "IN_PROGRESS", out
        assert env2.grants(ns.client_id) == {"authorization_code": 1, "refresh_token": 2}
        assert vault_rows(s2.data_dir, ns.name) == 0
    finally:
        assert s2.stop() == 0


def uf_tokens(idp: OidcProvider, client_id: str) -> list[str]:
    issued = idp.issued()
    return [t["value"] for kind in ("codes", "access_tokens", "refresh_tokens")
            for t in issued[kind] if t["client_id"] == client_id]


# ---------------------------------------------------------------------------------------
# 8. isolation, forceAuthentication, customParameters, sessions of others
# ---------------------------------------------------------------------------------------


def test_a_users_token_is_never_released_to_another(uf):
    ns = uf.setup(users=("alice", "bob"))
    uf.consent(ns.wat, ns.name, "alice")
    tok_a = uf.token(ns.wat, ns.name)
    # bob, same workload: a session of his own
    out = uf.get_token(ns.wats["bob"], ns.name, resourceOauth2ReturnUrl=RETURN)
    assert "accessToken" not in out and out["sessionStatus"] == "IN_PROGRESS"
    # alice through another workload: a session too
    wl2 = uf.workload()
    wat2 = uf.wat(wl2, "alice")
    out2 = uf.get_token(wat2, ns.name, resourceOauth2ReturnUrl=RETURN)
    assert "accessToken" not in out2 and out2["sessionStatus"] == "IN_PROGRESS"
    # a WAT without a user: refused
    plain = uf.data.get_workload_access_token(workloadName=ns.wl)["workloadAccessToken"]
    register_secret(plain)
    expect_error(uf.data.get_resource_oauth2_token, workloadIdentityToken=plain,
                 resourceCredentialProviderName=ns.name, scopes=["read"],
                 oauth2Flow="USER_FEDERATION", resourceOauth2ReturnUrl=RETURN,
                 code="ValidationException", status=400, field="workloadIdentityToken")
    # alice's own session is unknown to bob's and to the other workload's WAT, with the
    # same message as an unknown or a malformed one
    s = uf.start(ns.wat, ns.name, forceAuthentication=True)
    msgs = set()
    for wat, uri in [(ns.wats["bob"], s["sessionUri"]), (wat2, s["sessionUri"]),
                     (ns.wat, URN + "A" * 43), (ns.wat, URN + "short")]:
        msgs.add(expect_error(uf.data.get_resource_oauth2_token, workloadIdentityToken=wat,
                              resourceCredentialProviderName=ns.name, scopes=["read", "write"],
                              oauth2Flow="USER_FEDERATION", resourceOauth2ReturnUrl=RETURN,
                              sessionUri=uri, code="ValidationException", status=400,
                              field="sessionUri", contains=UNKNOWN_SESSION))
    other_p = uf.provider()
    msgs.add(expect_error(uf.data.get_resource_oauth2_token, workloadIdentityToken=ns.wat,
                          resourceCredentialProviderName=other_p["name"], scopes=["read"],
                          oauth2Flow="USER_FEDERATION", resourceOauth2ReturnUrl=RETURN,
                          sessionUri=s["sessionUri"], code="ValidationException", status=400,
                          field="sessionUri"))
    assert len(msgs) == 1, msgs
    # bob cannot complete alice's session either
    res = uf.flow(s["authorizationUrl"], "alice")
    assert res.callback.status == 303
    uf.complete_error(s["sessionUri"], "bob", code="AccessDeniedException", status=403)
    assert uf.token(ns.wat, ns.name) == tok_a
    assert uf.grants(ns.client_id) == {"authorization_code": 1}


def test_force_authentication_starts_a_session_and_keeps_the_token_until_replaced(uf):
    ns = uf.setup()
    uf.consent(ns.wat, ns.name)
    tok = uf.token(ns.wat, ns.name)
    s = uf.start(ns.wat, ns.name, forceAuthentication=True)
    assert uf.token(ns.wat, ns.name) == tok  # kept until the new consent replaces it
    res = uf.flow(s["authorizationUrl"], "alice")
    assert res.callback.status == 303
    assert uf.token(ns.wat, ns.name) == tok
    uf.complete(s["sessionUri"], "alice")
    new = uf.token(ns.wat, ns.name)
    assert new != tok and new == uf.provider_tokens(ns.client_id)[-1]["value"]
    assert uf.grants(ns.client_id) == {"authorization_code": 2}
    assert vault_rows(uf.server.data_dir, ns.name) == 1


def test_custom_parameters_reach_the_provider(uf, idp):
    ns = uf.setup()
    idp.reset()
    s = uf.start(ns.wat, ns.name, customParameters={"login_hint": "alice@example.test",
                                                    "ui_locales": "de", "x-tenant": "7 8"},
                 customState="cs-1")
    res = uf.flow(s["authorizationUrl"], "alice")
    auths = [a["params"] for a in idp.authorizations()
             if a["params"].get("client_id") == ns.client_id]
    assert len(auths) == 1, auths
    a = auths[0]
    assert a["login_hint"] == "alice@example.test" and a["ui_locales"] == "de"
    assert a["x-tenant"] == "7 8"
    assert a["state"] != "cs-1" and "customState" not in a
    assert res.query["state"] == "cs-1"
    uf.complete(res.query["session_id"], "alice")


@pytest.mark.parametrize("name", ["state", "redirect_uri", "code_challenge", "client_id",
                                  "response_type", "client_secret"])
def test_custom_parameters_may_not_set_what_the_flow_sets(uf, shared, name):
    ns = shared
    expect_error(uf.data.get_resource_oauth2_token, workloadIdentityToken=ns.wat,
                 resourceCredentialProviderName=ns.name, scopes=["read"],
                 oauth2Flow="USER_FEDERATION", resourceOauth2ReturnUrl=RETURN,
                 customParameters={name: "https://evil.example/x"},
                 code="ValidationException", status=400, field="customParameters")


# ---------------------------------------------------------------------------------------
# 9. the long poll (x-warrant-wait-seconds)
# ---------------------------------------------------------------------------------------


def test_long_poll_returns_as_soon_as_the_session_completes(uf):
    ns = uf.setup()
    s = uf.start(ns.wat, ns.name)
    res = uf.flow(s["authorizationUrl"], "alice")
    assert res.callback.status == 303
    poller = with_wait_header(uf.server.data_client(), 20)
    out: dict = {}

    def poll():
        t = time.monotonic()
        out["resp"] = poller.get_resource_oauth2_token(
            workloadIdentityToken=ns.wat, resourceCredentialProviderName=ns.name,
            scopes=["read", "write"], oauth2Flow="USER_FEDERATION",
            resourceOauth2ReturnUrl=RETURN, sessionUri=s["sessionUri"])
        out["done"] = time.monotonic()
        out["took"] = out["done"] - t

    t = threading.Thread(target=poll)
    t.start()
    time.sleep(1.5)
    assert t.is_alive(), f"the poll did not wait: {out}"
    uf.complete(s["sessionUri"], "alice")
    completed = time.monotonic()
    t.join(30)
    assert not t.is_alive()
    latency = out["done"] - completed
    assert latency < 2.0, f"the poll returned {latency:.2f}s after the completion"
    assert 1.4 < out["took"] < 15, out["took"]
    assert got(out["resp"]["accessToken"]) == uf.provider_tokens(ns.client_id)[0]["value"]


def test_long_poll_limits(uf):
    ns = uf.setup()
    s = uf.start(ns.wat, ns.name)
    req = dict(workloadIdentityToken=ns.wat, resourceCredentialProviderName=ns.name,
               scopes=["read", "write"], oauth2Flow="USER_FEDERATION",
               resourceOauth2ReturnUrl=RETURN, sessionUri=s["sessionUri"])
    wait1 = with_wait_header(uf.server.data_client(), 1)
    wait0 = with_wait_header(uf.server.data_client(), 0)
    wait20 = with_wait_header(uf.server.data_client(), 20)
    # nothing happens: it waits N seconds, then answers IN_PROGRESS
    t = time.monotonic()
    r = wait1.get_resource_oauth2_token(**req)
    took = time.monotonic() - t
    assert r["sessionStatus"] == "IN_PROGRESS" and 0.9 < took < 5, took
    # without the header (or 0) nothing waits
    for client in (uf.data, wait0):
        t = time.monotonic()
        assert client.get_resource_oauth2_token(**req)["sessionStatus"] == "IN_PROGRESS"
        assert time.monotonic() - t < 1.0
    for bad in ("31", "-1", "abc", "1.5", "", "9" * 30):
        expect_error(with_wait_header(uf.server.data_client(), bad).get_resource_oauth2_token,
                     code="ValidationException", status=400, **req)
    # a FAILED session answers at once
    uf.flow(s["authorizationUrl"], "alice")
    uf.complete_error(s["sessionUri"], "mallory", code="AccessDeniedException", status=403)
    t = time.monotonic()
    r = wait20.get_resource_oauth2_token(**req)
    assert body_of(r) == {"sessionUri": s["sessionUri"], "sessionStatus": "FAILED"}
    assert time.monotonic() - t < 1.0


def test_long_poll_sees_a_failure_at_once(uf):
    ns = uf.setup()
    s = uf.start(ns.wat, ns.name)
    assert uf.flow(s["authorizationUrl"], "alice").callback.status == 303
    poller = with_wait_header(uf.server.data_client(), 20)
    out: dict = {}

    def poll():
        out["resp"] = body_of(poller.get_resource_oauth2_token(
            workloadIdentityToken=ns.wat, resourceCredentialProviderName=ns.name,
            scopes=["read", "write"], oauth2Flow="USER_FEDERATION",
            resourceOauth2ReturnUrl=RETURN, sessionUri=s["sessionUri"]))
        out["done"] = time.monotonic()

    t = threading.Thread(target=poll)
    t.start()
    time.sleep(1.0)
    uf.complete_error(s["sessionUri"], "mallory", code="AccessDeniedException", status=403)
    failed = time.monotonic()
    t.join(30)
    assert out["resp"] == {"sessionUri": s["sessionUri"], "sessionStatus": "FAILED"}
    assert out["done"] - failed < 2.0


def test_token_without_a_refresh_token_is_reauthorized_after_expiry(uf):
    """A vault token without a refresh token (the client may not refresh) serves until it
    expires; then the user is asked again."""
    ns = uf.setup(access_token_ttl=3, grant_types=("authorization_code",))
    uf.consent(ns.wat, ns.name)
    t0 = time.time()
    assert uf.provider_tokens(ns.client_id, "refresh_tokens") == []
    tok = uf.token(ns.wat, ns.name)
    time.sleep(max(0.0, t0 + 3.3 - time.time()))
    out = uf.get_token(ns.wat, ns.name, resourceOauth2ReturnUrl=RETURN)
    assert "accessToken" not in out and out["sessionStatus"] == "IN_PROGRESS", out
    assert uf.grants(ns.client_id) == {"authorization_code": 1}
    assert tok not in json.dumps(out)


def test_refresh_margin_zero_refreshes_at_expiry(tmp_path_factory, idp):
    """--refresh-margin 0: due only when expired (the half-life rule does not apply)."""
    s = _start(tmp_path_factory, "uf-margin0", ["--refresh-margin", "0"])
    try:
        env = Env(s, idp)
        ns = env.setup(access_token_ttl=4)
        env.consent(ns.wat, ns.name)
        t0 = time.time()
        first = env.token(ns.wat, ns.name)
        time.sleep(max(0.0, t0 + 2.4 - time.time()))  # past half its life
        assert env.token(ns.wat, ns.name) == first
        assert env.grants(ns.client_id) == {"authorization_code": 1}
        time.sleep(max(0.0, t0 + 4.4 - time.time()))
        second = env.token(ns.wat, ns.name)
        assert second != first
        assert env.grants(ns.client_id) == {"authorization_code": 1, "refresh_token": 1}
    finally:
        assert s.stop() == 0


@pytest.mark.parametrize("args", [
    ["--session-ttl", "29"], ["--session-ttl", "86401"], ["--session-ttl", "x"],
    ["--refresh-margin", "3601"], ["--refresh-margin=-1"],
    ["--danger-vendor-endpoint", "GithubOauth2"],
    ["--danger-vendor-endpoint", "NoSuchVendor=http://127.0.0.1:9"],
    ["--danger-vendor-endpoint", "GithubOauth2=not-a-url"],
    ["--danger-vendor-endpoint", "GithubOauth2=http://127.0.0.1:9/path"],
])
def test_bad_flags_stop_start_up(tmp_path, args):
    cp = subprocess.run([helpers.WARRANT_BIN, "serve", "--listen", "127.0.0.1:0",
                         "--data-dir", str(tmp_path / "d"), *args], capture_output=True,
                        timeout=60, env=helpers.base_env())
    assert cp.returncode == 2, (cp.returncode, cp.stderr[-500:])
    err = cp.stderr.decode()
    flag = args[0].split("=")[0]
    assert flag.lstrip("-") in err, err
    assert len([ln for ln in err.splitlines() if ln.strip()]) <= 3, err


def test_checks_before_the_flow(uf, tmp_path):
    """Input shape → WAT → policy → the workload's provider allowlist → provider exists."""
    ns = uf.setup()
    req = dict(resourceCredentialProviderName=ns.name, scopes=["read"],
               oauth2Flow="USER_FEDERATION", resourceOauth2ReturnUrl=RETURN)
    expect_error(uf.data.get_resource_oauth2_token, workloadIdentityToken="x.y.z",
                 code="UnauthorizedException", status=401, **req)
    expect_error(uf.data.get_resource_oauth2_token, workloadIdentityToken=ns.wat,
                 code="ResourceNotFoundException", status=404,
                 **{**req, "resourceCredentialProviderName": uname("nope")})
    deny = create_key(uf.server.data_dir, uname("uf-nouf"), {
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "bedrock-agentcore:*", "Resource": "*"},
            {"Effect": "Deny", "Action": "bedrock-agentcore:GetResourceOauth2Token",
             "Resource": uf.server.arn("oauth2", ns.name)}]}, tmp=tmp_path)
    dc = uf.server.data_client(deny["accessKeyId"], deny["secretAccessKey"])
    eventually(lambda: expect_error(dc.get_resource_oauth2_token, workloadIdentityToken=ns.wat,
                                    code="AccessDeniedException", status=403, **req))
    other = uf.provider()
    r = raw_call(uf.server, f"/warrant/v1/workload-identities/{ns.wl}/allowed-providers",
                 {"allowedProviders": [other["name"]]}, method="PUT")
    assert r.status == 200, r
    expect_error(uf.data.get_resource_oauth2_token, workloadIdentityToken=ns.wat,
                 code="AccessDeniedException", status=403, **req)
    # nothing of it started a session or reached the provider
    assert uf.grants(ns.client_id) == {}
    uf.start(ns.wat, other["name"])


# ---------------------------------------------------------------------------------------
# 10. audit
# ---------------------------------------------------------------------------------------


def test_audit_events_of_the_flow(uf):
    ns = uf.setup(access_token_ttl=TTL)
    base = max_seq(uf.server)
    s = uf.start(ns.wat, ns.name, ["read"])
    uri = s["sessionUri"]
    uf.flow(s["authorizationUrl"], "alice")
    uf.complete(uri, "alice")
    t0 = time.time()
    tok = uf.token(ns.wat, ns.name, ["read"])
    wait_due(t0, TTL)
    tok2 = uf.token(ns.wat, ns.name, ["read"])
    assert tok2 != tok
    evs = audit_events(uf.server, base)
    ops = [e["operation"] for e in evs]
    assert ops == ["GetResourceOauth2Token", "OAuth2Callback", "CompleteResourceTokenAuth",
                   "GetResourceOauth2Token", "GetResourceOauth2Token"], ops
    start, cb, comp, vault, refresh = evs
    user = {"userId": "alice"}
    assert start["outcome"] == "success" and start["flow"] == "USER_FEDERATION"
    assert start["session"] == sha16(uri) and start["sessionStatus"] == "IN_PROGRESS"
    assert start["workload"] == ns.wl and start["user"] == user and start["provider"] == ns.name
    assert start["scopes"] == ["read"] and "tokenSha256" not in start
    assert cb["outcome"] == "success" and cb["account"] == ACCOUNT
    assert cb.get("session", sha16(uri)) == sha16(uri)
    assert "caller" not in cb or "accessKeyId" not in cb["caller"]
    assert comp["outcome"] == "success" and comp["session"] == sha16(uri)
    assert comp["sessionStatus"] == "COMPLETED"
    assert comp.get("workload", ns.wl) == ns.wl and comp.get("user", user) == user
    assert comp.get("provider", ns.name) == ns.name
    assert "tokenSha256" not in comp  # nothing is released to the caller
    assert comp.get("tokenSource", "provider") == "provider"
    assert vault["tokenSource"] == "vault" and vault["tokenSha256"] == sha(tok)
    assert vault["flow"] == "USER_FEDERATION" and vault["outcome"] == "success"
    assert refresh["tokenSource"] == "refresh" and refresh["tokenSha256"] == sha(tok2)
    # refusals are events too
    base = max_seq(uf.server)
    uf.complete_error(uri, "alice", code="ValidationException", status=400)
    s2 = uf.start(ns.wat, ns.name, forceAuthentication=True)
    uf.flow(s2["authorizationUrl"], "alice")
    uf.complete_error(s2["sessionUri"], "bob", code="AccessDeniedException", status=403)
    evs = audit_events(uf.server, base)
    ops = [(e["operation"], e["outcome"], e.get("errorType")) for e in evs]
    assert ops == [("CompleteResourceTokenAuth", "failure", "ValidationException"),
                   ("GetResourceOauth2Token", "success", None),
                   ("OAuth2Callback", "success", None),
                   ("CompleteResourceTokenAuth", "failure", "AccessDeniedException")], ops
    assert evs[-1]["session"] == sha16(s2["sessionUri"])
    assert evs[-1].get("sessionStatus", "FAILED") == "FAILED"
    text = json.dumps(audit_events(uf.server))
    for secret in uf_tokens(uf.idp, ns.client_id) + [ns.p["client"]["client_secret"], uri,
                                                      s2["sessionUri"]]:
        assert secret not in text, f"an audit event carries {secret[:10]}..."


# ---------------------------------------------------------------------------------------
# 11. vendor presets against the quirk provider
# ---------------------------------------------------------------------------------------

QUIRK_VENDORS = ["GithubOauth2", "SlackOauth2", "SalesforceOauth2", "GoogleOauth2",
                 "AtlassianOauth2", "MicrosoftOauth2", "TwitchOauth2", "RedditOauth2",
                 "DropboxOauth2", "XOauth2", "OktaOauth2"]
OWN_MEMBERS = {"GithubOauth2": "githubOauth2ProviderConfig",
               "SlackOauth2": "slackOauth2ProviderConfig",
               "SalesforceOauth2": "salesforceOauth2ProviderConfig",
               "GoogleOauth2": "googleOauth2ProviderConfig",
               "AtlassianOauth2": "atlassianOauth2ProviderConfig",
               "MicrosoftOauth2": "microsoftOauth2ProviderConfig"}
# the scopes an agent asks for (Atlassian needs offline_access for a refresh token)
QUIRK_SCOPES = {"AtlassianOauth2": ["read:jira-work", "offline_access"],
                "SlackOauth2": ["channels:read", "chat:write"],
                "GithubOauth2": ["repo", "read:user"]}
# the token endpoint's client authentication the preset must use
QUIRK_AUTH = {"RedditOauth2": "basic", "TwitchOauth2": "post", "XOauth2": "basic",
              "GithubOauth2": "post", "AtlassianOauth2": "post"}


@pytest.fixture(scope="module")
def quirky(tmp_path_factory, quirk_provider):
    s = _start(tmp_path_factory, "uf-quirks",
               quirk_provider.danger_args() + ["--outbound-timeout", "15"])
    env = Env(s, None)
    env.quirks = quirk_provider
    env.wl = env.workload()
    env.providers = {}
    for v in QUIRK_VENDORS:
        c = quirk_provider.clients[v]
        inner = {"clientId": c["client_id"], "clientSecret": c["client_secret"]}
        if v == "MicrosoftOauth2":
            inner["tenantId"] = "contoso"
        if v == "OktaOauth2":
            o = quirk_provider.origin
            inner.update(issuer=o + "/oauth2/default",
                         authorizationEndpoint=o + "/oauth2/default/v1/authorize",
                         tokenEndpoint=o + "/oauth2/default/v1/token")
        name = uname("uf-" + v[:-6].lower())
        r = env.control.create_oauth2_credential_provider(
            name=name, credentialProviderVendor=v,
            oauth2ProviderConfigInput={OWN_MEMBERS.get(v, "includedOauth2ProviderConfig"): inner})
        env.providers[v] = (name, r["callbackUrl"])
        if v != "OktaOauth2":
            quirk_provider.register(v, r["callbackUrl"])  # only warrant's callback is accepted
    yield env
    quirk_provider.reset()
    if s.running():
        assert s.stop() == 0


def wire_body(env: Env, **req) -> dict:
    """GetResourceOauth2Token through boto3, returning the JSON body as sent on the wire
    (with members the model lacks)."""
    seen: dict = {}

    def capture(response_dict=None, **kwargs):
        if response_dict and response_dict.get("status_code") == 200:
            seen["body"] = json.loads(response_dict["body"])

    client = env.server.data_client()
    client.meta.events.register("response-received.bedrock-agentcore.GetResourceOauth2Token",
                                capture)
    client.get_resource_oauth2_token(**req)
    return seen["body"]


@contextlib.contextmanager
def quirk_vendor(env: Env, vendor: str, ttl: int | None = None, reset: bool = True):
    """The quirk provider set up for `vendor`: reset first (unless reset=False), warrant's
    callback registered as the vendor's redirect URI (Okta: nothing to register), and with
    a ttl the vendor's access-token lifetime until the block ends. Yields (quirks, the
    name of warrant's provider for the vendor)."""
    q = env.quirks
    if reset:
        q.reset()
    name, cb = env.providers[vendor]
    if vendor != "OktaOauth2":
        q.register(vendor, cb)
    if ttl is not None:
        q.set_expires_in(vendor, ttl)
    try:
        yield q, name
    finally:
        if ttl is not None:
            q.set_expires_in(vendor, None)


def quirk_consent(env: Env, vendor: str, user: str, scopes=None, **kw) -> SimpleNamespace:
    name, cb = env.providers[vendor]
    scopes = scopes or QUIRK_SCOPES.get(vendor, ["read", "write"])
    wat = env.wat(env.wl, user)
    s = env.start(wat, name, scopes, **kw)
    res = env.flow(s["authorizationUrl"], user)
    assert res.callback.status == 303, (res.callback.status, res.callback.body[:300])
    assert res.query["session_id"] == s["sessionUri"]
    env.complete(s["sessionUri"], user)
    return SimpleNamespace(name=name, wat=wat, scopes=scopes, res=res, session=s)


def quirk_user_tokens(q, vendor: str, since: int = 0) -> list[str]:
    """The user access tokens the quirk provider issued for `vendor` (Slack's bot tokens
    excluded), oldest first, from the `since`-th on (see quirk_count)."""
    return [t["value"] for t in q.stats()["issued"]["access_tokens"]
            if t["vendor"] == vendor and not t["value"].startswith("xoxb-")][since:]


def quirk_count(q, vendor: str) -> int:
    return len(quirk_user_tokens(q, vendor))


def test_quirk_vendor_flows(quirky):
    """Every preset: the vendor's defaults in the authorization request, the code
    redeemed at the vendor's token endpoint with its client authentication, the user's
    token (Slack: authed_user's) in the vault, scopes in the vendor's format covering the
    request (no second session, no second provider call)."""
    problems = []
    for vendor in QUIRK_VENDORS:
        try:
            with quirk_vendor(quirky, vendor) as (q, _):
                _quirk_vendor_flow(quirky, q, vendor)
        except AssertionError as e:
            problems.append(f"{vendor}: {e}")
        except ClientError as e:
            problems.append(f"{vendor}: {e.response['Error']}")
    assert not problems, "\n".join(problems)


def _quirk_vendor_flow(env, q, vendor):
    name, cb = env.providers[vendor]
    since = quirk_count(q, vendor)
    c = quirk_consent(env, vendor, "qa-" + vendor.lower())
    p = c.res.provider_params
    st = q.vendor_stats(vendor)
    assert len(st["authorizations"]) == 1, st["authorizations"]
    path = st["authorizations"][0]["path"]
    scope_words = lambda s: set(re.split(r"[ ,]+", s or "")) - {""}  # noqa: E731
    expect_path = {"MicrosoftOauth2": "/contoso/oauth2/v2.0/authorize"}.get(
        vendor, urlsplit(q.vendors[vendor]["authorization_endpoint"]).path)
    assert path == expect_path, path
    assert p["response_type"] == "code" and p["redirect_uri"] == cb
    assert p["code_challenge_method"] == "S256"
    if vendor == "SlackOauth2":
        assert scope_words(p["user_scope"]) == set(c.scopes), p
        assert not (scope_words(p.get("scope")) & set(c.scopes)), p
    else:
        want = set(c.scopes)
        if vendor in ("MicrosoftOauth2", "OktaOauth2"):
            want.add("offline_access")
        if vendor == "XOauth2":
            want.add("offline.access")
        assert scope_words(p["scope"]) == want, p
    defaults = {"GoogleOauth2": {"access_type": "offline", "prompt": "consent"},
                "AtlassianOauth2": {"audience": "api.atlassian.com", "prompt": "consent"},
                "DropboxOauth2": {"token_access_type": "offline"},
                "RedditOauth2": {"duration": "permanent"}}.get(vendor, {})
    for k, v in defaults.items():
        assert p.get(k) == v, (k, p)
    st = q.vendor_stats(vendor)
    assert st["token_requests"] == {"authorization_code": 1}, st["token_requests"]
    last = st["last_token_request"]
    assert "application/json" in (last["accept"] or ""), last
    if vendor in QUIRK_AUTH:
        assert last["auth"] == QUIRK_AUTH[vendor], last
    assert last["params"]["redirect_uri"] == cb and last["params"]["code_verifier"]
    issued = quirk_user_tokens(q, vendor, since)
    assert len(issued) == 1, issued
    # the body as sent: boto3 drops members the model does not have (providerAttributes)
    out = wire_body(env, workloadIdentityToken=c.wat, resourceCredentialProviderName=name,
                    scopes=c.scopes, oauth2Flow="USER_FEDERATION")
    assert out.get("accessToken") == got(issued[0]), (vendor, sorted(out))
    if vendor == "SalesforceOauth2":
        assert out == {"accessToken": issued[0], "providerAttributes": {
            "instance_url": "https://quirk-dev-ed.my.salesforce.com"}}, sorted(out)
    else:
        assert set(out) == {"accessToken"}, sorted(out)
    assert env.get_token(c.wat, name, c.scopes) == {"accessToken": issued[0]}
    # the scopes the vendor reported cover the request: the vault answers again
    assert env.token(c.wat, name, c.scopes) == issued[0]
    assert q.vendor_stats(vendor)["token_requests"] == {"authorization_code": 1}


def test_quirk_custom_parameters_override_a_vendor_default(quirky):
    with quirk_vendor(quirky, "GoogleOauth2") as (q, name):
        since = quirk_count(q, "GoogleOauth2")
        c = quirk_consent(quirky, "GoogleOauth2", "qa-google-override",
                          customParameters={"prompt": "select_account", "hd": "example.test"})
        p = q.vendor_stats("GoogleOauth2")["authorizations"][0]["params"]
        assert p["prompt"] == "select_account" and p["hd"] == "example.test"
        assert p["access_type"] == "offline"
        assert quirky.token(c.wat, name, c.scopes) == quirk_user_tokens(
            q, "GoogleOauth2", since)[0]


def test_quirk_refresh_without_a_new_refresh_token_keeps_the_old_one(quirky):
    """Google answers a refresh without refresh_token: the old one stays and works."""
    with quirk_vendor(quirky, "GoogleOauth2", ttl=TTL) as (q, name):
        since = quirk_count(q, "GoogleOauth2")
        c = quirk_consent(quirky, "GoogleOauth2", "qa-google-refresh")
        t0 = time.time()
        first = quirky.token(c.wat, name, c.scopes)
        wait_due(t0, TTL)
        second = quirky.token(c.wat, name, c.scopes)
        t1 = time.time()
        wait_due(t1, TTL)
        third = quirky.token(c.wat, name, c.scopes)
        assert len({first, second, third}) == 3
        assert q.vendor_stats("GoogleOauth2")["token_requests"] == {
            "authorization_code": 1, "refresh_token": 2}
        assert quirk_user_tokens(q, "GoogleOauth2", since) == [first, second, third]


def test_quirk_refresh_failures(quirky):
    """A 5xx or a non-invalid_grant 4xx refresh failure answers the old token while it has
    not expired, then the error; GitHub's invalid_grant in an HTTP-200 body starts a new
    session."""
    with quirk_vendor(quirky, "DropboxOauth2", ttl=TTL) as (q, name):
        c = quirk_consent(quirky, "DropboxOauth2", "qa-dropbox-fail")
        t0 = time.time()
        first = quirky.token(c.wat, name, c.scopes)
        wait_due(t0, TTL)
        q.fail_next_refresh("DropboxOauth2", "server_error", 503)
        assert quirky.token(c.wat, name, c.scopes) == first  # not expired yet
        time.sleep(max(0.0, t0 + TTL + 0.5 - time.time()))
        q.fail_next_refresh("DropboxOauth2", "server_error", 503)
        expect_error(quirky.data.get_resource_oauth2_token, workloadIdentityToken=c.wat,
                     resourceCredentialProviderName=name, scopes=c.scopes,
                     oauth2Flow="USER_FEDERATION", code="InternalServerException", status=500)
        q.fail_next_refresh("DropboxOauth2", "temporarily_unavailable", 400)
        expect_error(quirky.data.get_resource_oauth2_token, workloadIdentityToken=c.wat,
                     resourceCredentialProviderName=name, scopes=c.scopes,
                     oauth2Flow="USER_FEDERATION", code="ValidationException", status=400)
        # the refresh token survived: the next refresh works
        second = quirky.token(c.wat, name, c.scopes)
        assert second not in (first,) and second == quirk_user_tokens(q, "DropboxOauth2")[-1]
        assert q.vendor_stats("DropboxOauth2")["token_requests"] == {
            "authorization_code": 1, "refresh_token": 4}
    # GitHub: rotation, and an invalid_grant with HTTP 200
    with quirk_vendor(quirky, "GithubOauth2", ttl=TTL, reset=False) as (q, name):
        c = quirk_consent(quirky, "GithubOauth2", "qa-github-refresh")
        t0 = time.time()
        first = quirky.token(c.wat, name, c.scopes)
        wait_due(t0, TTL)
        second = quirky.token(c.wat, name, c.scopes)
        t1 = time.time()
        assert second != first
        stats = q.stats()
        gh = stats["vendors"]["GithubOauth2"]
        assert gh["token_requests"] == {"authorization_code": 1, "refresh_token": 1}
        assert gh["last_token_request"]["params"]["refresh_token"] == [
            t["value"] for t in stats["issued"]["refresh_tokens"]
            if t["vendor"] == "GithubOauth2"][-2]
        wait_due(t1, TTL)
        q.fail_next_refresh("GithubOauth2")
        out = quirky.get_token(c.wat, name, c.scopes, resourceOauth2ReturnUrl=RETURN)
        assert out.get("sessionStatus") == "IN_PROGRESS" and "accessToken" not in out, out
        assert q.vendor_stats("GithubOauth2")["token_requests"] == {
            "authorization_code": 1, "refresh_token": 2}


def test_quirk_provider_denial(quirky):
    with quirk_vendor(quirky, "AtlassianOauth2") as (q, name):
        wat = quirky.wat(quirky.wl, "qa-atl-deny")
        s = quirky.start(wat, name, QUIRK_SCOPES["AtlassianOauth2"])
        q.deny_next("AtlassianOauth2")
        res = quirky.flow(s["authorizationUrl"], "x")
        assert res.callback.status == 303
        assert res.query_lists == {"session_id": [s["sessionUri"]], "error": ["access_denied"]}
        assert_failed(quirky, wat, name, s["sessionUri"])
        assert q.vendor_stats("AtlassianOauth2")["token_requests"] == {}


def test_danger_vendor_endpoint_leaves_the_stored_configuration_alone(quirky):
    name, _ = quirky.providers["GithubOauth2"]
    got_p = quirky.control.get_oauth2_credential_provider(name=name)
    text = json.dumps(got_p, default=str)
    assert "127.0.0.1" not in text and quirky.quirks.origin not in text
    disc = got_p["oauth2ProviderConfigOutput"]["githubOauth2ProviderConfig"]["oauthDiscovery"]
    md = disc["authorizationServerMetadata"]
    assert md["authorizationEndpoint"] == "https://github.com/login/oauth/authorize"
    assert md["tokenEndpoint"] == "https://github.com/login/oauth/access_token"


def test_quirk_followers_give_up_after_10_seconds(quirky):
    """A refresh that takes 12 s (the server's --outbound-timeout is 15): a concurrent
    request for the same entry waits for it at most 10 s, then ThrottlingException; the
    leader gets the new token; one provider call."""
    follower_client = quirky.server.data_client()
    with quirk_vendor(quirky, "DropboxOauth2", ttl=TTL) as (q, name):
        c = quirk_consent(quirky, "DropboxOauth2", "qa-dropbox-slow")
        t0 = time.time()
        first = quirky.token(c.wat, name, c.scopes)
        q.delay_next_refresh("DropboxOauth2", 12)
        wait_due(t0, TTL)
        out: dict = {}
        req = dict(workloadIdentityToken=c.wat, resourceCredentialProviderName=name,
                   scopes=c.scopes, oauth2Flow="USER_FEDERATION")

        def leader():
            out["leader"] = quirky.data.get_resource_oauth2_token(**req).get("accessToken")

        lt = threading.Thread(target=leader)
        lt.start()
        time.sleep(0.5)
        t = time.monotonic()
        try:
            tok = follower_client.get_resource_oauth2_token(**req).get("accessToken")
            out["follower"] = ("answered", "the old token" if tok == first else
                               "the new token" if tok is not None else "no token")
        except ClientError as e:
            out["follower"] = (e.response["Error"]["Code"],
                               e.response["ResponseMetadata"]["HTTPStatusCode"])
        waited = time.monotonic() - t
        lt.join(30)
        assert out["follower"] == ("ThrottlingException", 429), (
            f"the follower answered {out['follower']} after {waited:.1f} s")
        assert 9.0 <= waited <= 11.5, waited
        new = quirk_user_tokens(q, "DropboxOauth2")[-1]
        assert got(out["leader"]) == new and new != first
        assert quirky.token(c.wat, name, c.scopes) == new
        assert q.vendor_stats("DropboxOauth2")["token_requests"] == {
            "authorization_code": 1, "refresh_token": 1}


def test_quirk_a_refresh_outlives_the_request_that_started_it(quirky):
    """A client that gives up (read timeout, connection closed) while its refresh is at
    the provider does not cancel the refresh: the rotated tokens are committed, and the
    next request gets the new token with no second provider call."""
    impatient = quirky.server.data_client(read_timeout=1)
    with quirk_vendor(quirky, "DropboxOauth2", ttl=TTL) as (q, name):
        c = quirk_consent(quirky, "DropboxOauth2", "qa-dropbox-gone")
        t0 = time.time()
        first = quirky.token(c.wat, name, c.scopes)
        q.delay_next_refresh("DropboxOauth2", 3)
        wait_due(t0, TTL)
        with pytest.raises(Exception) as gone:
            impatient.get_resource_oauth2_token(
                workloadIdentityToken=c.wat, resourceCredentialProviderName=name,
                scopes=c.scopes, oauth2Flow="USER_FEDERATION")
        assert "timeout" in type(gone.value).__name__.lower() or "timed out" in str(gone.value)
        time.sleep(3.5)  # the provider answers; warrant commits with nobody waiting
        new = quirk_user_tokens(q, "DropboxOauth2")[-1]
        assert new != first
        assert quirky.token(c.wat, name, c.scopes) == new
        assert q.vendor_stats("DropboxOauth2")["token_requests"] == {
            "authorization_code": 1, "refresh_token": 1}


def test_quirk_a_request_during_an_orphaned_refresh_joins_it(quirky):
    """The request that started a refresh gives up while the refresh is at the provider;
    the next request for the same token waits for that refresh instead of starting a
    second one with the same refresh token (which a rotating provider answers with
    invalid_grant, and which would cost the user their consent)."""
    impatient = quirky.server.data_client(read_timeout=1)
    with quirk_vendor(quirky, "DropboxOauth2", ttl=TTL) as (q, name):
        c = quirk_consent(quirky, "DropboxOauth2", "qa-dropbox-join")
        t0 = time.time()
        first = quirky.token(c.wat, name, c.scopes)
        q.delay_next_refresh("DropboxOauth2", 3)
        wait_due(t0, TTL)
        with pytest.raises(Exception):
            impatient.get_resource_oauth2_token(
                workloadIdentityToken=c.wat, resourceCredentialProviderName=name,
                scopes=c.scopes, oauth2Flow="USER_FEDERATION")
        # The refresh is still at the provider (2 s to go): this request joins it.
        joined = quirky.token(c.wat, name, c.scopes)
        new = quirk_user_tokens(q, "DropboxOauth2")[-1]
        assert joined == new and new != first
        assert q.vendor_stats("DropboxOauth2")["token_requests"] == {
            "authorization_code": 1, "refresh_token": 1}


def test_quirk_code_redemption_failures(quirky):
    """The provider refuses the code: a 5xx → InternalServerException, Slack's ok:false
    with HTTP 200 → ValidationException; the session FAILED either way, never retried."""
    for vendor, error, status, code, http in [
            ("GoogleOauth2", "server_error", 503, "InternalServerException", 500),
            ("SlackOauth2", "invalid_code", 400, "ValidationException", 400),
            ("GithubOauth2", "bad_verification_code", 400, "ValidationException", 400)]:
        with quirk_vendor(quirky, vendor) as (q, name):
            user = "qa-code-" + vendor.lower()
            wat = quirky.wat(quirky.wl, user)
            s = quirky.start(wat, name, QUIRK_SCOPES.get(vendor, ["read"]))
            res = quirky.flow(s["authorizationUrl"], user)
            assert res.callback.status == 303
            q.fail_next_code(vendor, error, status)
            msg = quirky.complete_error(s["sessionUri"], user, code=code, status=http)
            assert res.callback_params["code"] not in msg
            assert q.vendor_stats(vendor)["token_requests"] == {"authorization_code": 1}, vendor
            assert_failed(quirky, wat, name, s["sessionUri"])
            quirky.complete_error(s["sessionUri"], user, code="ValidationException", status=400)
            assert q.vendor_stats(vendor)["token_requests"] == {"authorization_code": 1}, vendor


def test_quirk_github_form_encoded_answer(quirky):
    """Token responses are parsed as form-urlencoded when the content type says so."""
    with quirk_vendor(quirky, "GithubOauth2") as (q, name):
        q.form_always("GithubOauth2")
        since = quirk_count(q, "GithubOauth2")
        c = quirk_consent(quirky, "GithubOauth2", "qa-github-form")
        assert quirky.token(c.wat, name, c.scopes) == quirk_user_tokens(
            q, "GithubOauth2", since)[0]
        # the scope came back comma-separated in a form body: still covers the request
        assert quirky.token(c.wat, name, c.scopes) == quirk_user_tokens(
            q, "GithubOauth2", since)[0]
        assert q.vendor_stats("GithubOauth2")["token_requests"] == {"authorization_code": 1}
    q.reset()


def test_quirk_microsoft_default_tenant_is_common(quirky):
    q = quirky.quirks
    q.reset()
    c = q.clients["MicrosoftOauth2"]
    name = uname("uf-ms-common")
    r = quirky.control.create_oauth2_credential_provider(
        name=name, credentialProviderVendor="MicrosoftOauth2",
        oauth2ProviderConfigInput={"microsoftOauth2ProviderConfig": {
            "clientId": c["client_id"], "clientSecret": c["client_secret"]}})
    q.register("MicrosoftOauth2", r["callbackUrl"])
    wat = quirky.wat(quirky.wl, "qa-ms-common")
    s = quirky.start(wat, name, ["User.Read"])
    res = quirky.flow(s["authorizationUrl"], "x")
    assert urlsplit(res.provider_url).path == "/common/oauth2/v2.0/authorize"
    quirky.complete(s["sessionUri"], "qa-ms-common")
    st = q.vendor_stats("MicrosoftOauth2")
    assert st["last_token_request"]["path"] == "/common/oauth2/v2.0/token"
    assert quirky.token(wat, name, ["User.Read"]) == quirk_user_tokens(q, "MicrosoftOauth2")[-1]


# ---------------------------------------------------------------------------------------
# 12. expired sessions (made at the start of the module, --session-ttl 30)
# ---------------------------------------------------------------------------------------


def test_expired_sessions(short):
    env = short.env
    time.sleep(max(0.0, short.made_at + 31.5 - time.time()))
    before = env.grants(short.client_id)
    # the authorization URL of an expired session: 400, no redirect
    st, hdrs, body = env.get(short.fresh_url)
    assert_refused_page(st, hdrs, body)
    # the provider's redirect arrives after the session expired: 400, no redirect
    st, hdrs, body = env.get(callback_path(short.cb_path, short.cb_query))
    assert_refused_page(st, hdrs, body, echoes=[short.cb_query["code"], short.cb_query["state"]])
    # completing it: ValidationException; nothing sent to the provider
    env.complete_error(short.called_back, "alice", code="ValidationException", status=400)
    env.complete_error(short.at_provider_session, "alice", code="ValidationException",
                       status=400)
    assert env.grants(short.client_id) == before == {}
    # polling: FAILED (or, once forgotten, the unknown-session refusal)
    for uri in (short.fresh, short.called_back, short.at_provider_session):
        try:
            out = session_status(env, short.wat, short.name, uri)
            assert out == {"sessionUri": uri, "sessionStatus": "FAILED"}, out
        except ClientError as e:
            assert e.response["Error"]["Code"] == "ValidationException"
            assert "sessionUri" in e.response["Error"]["Message"]
    # the user can start again
    short.env.start(short.wat, short.name)


# ---------------------------------------------------------------------------------------
# 13. no secret anywhere (runs last in this module)
# ---------------------------------------------------------------------------------------


def test_zz_no_secret_leaks(uf, idp, quirk_provider):
    """warrant's logs (stdout, stderr, debug level), its HTML pages, every Location header
    it sent, and its database files hold no access token, refresh token, code or client
    secret of this module; nor do the audit events."""
    issued = idp.issued()
    qi = quirk_provider.stats()["issued"]
    needles = set()
    for kind in ("codes", "access_tokens", "refresh_tokens"):
        needles.update(t["value"] for t in issued[kind])
        needles.update(t["value"] for t in qi[kind])
    needles.update(c["client_secret"] for c in quirk_provider.clients.values())
    needles.update(s for s in helpers.SECRETS if s.startswith("uf-placeholder-"))
    needles.update(RECEIVED)
    needles.update(CLIENT_SECRETS)
    needles = {n for n in needles if n and len(n) >= 16}
    assert len(needles) > 50, len(needles)
    problems = []
    for url, body in PAGES:
        for n in needles:
            if n.encode() in body:
                problems.append(f"page {url[:60]} shows {n[:8]}...")
    for loc in LOCATIONS:
        for n in needles:
            if n in loc or quote(n, safe="") in loc:
                problems.append(f"Location {loc[:60]} carries {n[:8]}...")
    variants = [v for n in needles for v in secret_variants(n)]
    for s in SERVERS:
        for path in (s.stdout_path, s.stderr_path):
            if path and path.exists():
                data = path.read_bytes()
                for n in needles:
                    if n.encode() in data:
                        problems.append(f"{path.name} contains {n[:8]}...")
        for f, n in scan_tree_for(s.data_dir, variants):
            problems.append(f"{f} contains {n}")
    # registered client secrets of oidc-provider (the clients warrant used)
    for s in SERVERS:
        if s.running():
            text = json.dumps(audit_events(s))
            for n in needles:
                if n in text:
                    problems.append(f"an audit event of {s.label} carries {n[:8]}...")
    assert not problems, "\n".join(sorted(set(problems))[:50])
