"""User federation (3-legged OAuth) for bench/: the set-up, a scripted browser and the
consent flow, shared by the oauth-user workload (bench/workloads.py) and the
callback-to-token measurement (bench/callback_to_token.py). Stdlib only (plus
bench/sigv4.py through the caller's `call`).

Set-up (`setup`), against a warrant whose public URL is its own http://127.0.0.1:PORT
(bench/run starts it without --public-url) and the test kit's oidc-provider:
  - workload identity UF_WORKLOAD with allowedResourceOauth2ReturnUrls [RETURN_URL]
    (a workload of its own, so the other workloads' requests and answers are unchanged);
  - CustomOauth2 provider UF_PROVIDER on the test kit's discovery URL, created with a
    placeholder client; then a client registered at oidc-provider's /reg (RFC 7591)
    whose redirect URI is the provider's callbackUrl and whose access tokens live
    TOKEN_TTL (the test kit's `testkit_access_token_ttl` member: no refresh during a
    run, and the M2M client's tokens keep oidc-provider's --token-ttl); the provider is
    then updated with that client.

Consent (`consent`): GetResourceOauth2Token (USER_FEDERATION) starts a session; the
browser follows the authorizationUrl (303 to oidc-provider), submits the development
login form (login = the user id, any password) and the consent form, and follows the
provider's redirect to warrant's callback, whose 303 to the return URL (session_id) is
not followed; CompleteResourceTokenAuth with the userId; then GetResourceOauth2Token
must answer an accessToken from the vault.
"""

from __future__ import annotations

import http.client
import json
import re
from html import unescape
from typing import Callable
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

UF_WORKLOAD = "bench-uf-agent"
UF_PROVIDER = "bench-uf"
RETURN_URL = "https://app.example/bench-cb"
SCOPES = ["read"]
TOKEN_TTL = 30 * 24 * 3600

TOKEN_PATH = "/identities/oauth2/token"
COMPLETE_PATH = "/identities/CompleteResourceTokenAuth"

# call(path, payload, ok=(200,)) -> the JSON answer (a signed request; bench/workloads.py's).
Call = Callable[..., dict]


def http_request(method: str, url: str, body: bytes | None = None,
                 headers: dict | None = None) -> tuple[int, dict, bytes, list[str]]:
    """One request on a connection of its own: (status, lower-cased headers, body,
    Set-Cookie values). No redirect is followed."""
    u = urlsplit(url)
    if u.scheme != "http":
        raise SystemExit(f"uf_flow.py: refusing a non-http URL {url}")
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    try:
        conn.request(method, u.path + (f"?{u.query}" if u.query else ""), body=body,
                     headers=headers or {})
        r = conn.getresponse()
        data = r.read()
        return (r.status, {k.lower(): v for k, v in r.getheaders()}, data,
                r.headers.get_all("Set-Cookie") or [])
    finally:
        conn.close()


def register_client(issuer: str, redirect_uri: str, ttl: int = TOKEN_TTL) -> dict:
    """RFC 7591 registration of a confidential web client (code flow, refresh tokens,
    client_secret_basic) at the test kit's oidc-provider."""
    doc = {"redirect_uris": [redirect_uri], "grant_types": ["authorization_code", "refresh_token"],
           "response_types": ["code"], "token_endpoint_auth_method": "client_secret_basic",
           "application_type": "web", "testkit_access_token_ttl": ttl}
    status, _, body, _ = http_request("POST", issuer + "/reg", json.dumps(doc).encode(),
                                      {"Content-Type": "application/json"})
    if status != 201:
        raise SystemExit(f"uf_flow.py: client registration answered {status}: {body[:300]!r}")
    return json.loads(body)


class Browser:
    """Cookies per (host, port), every cookie sent to every path; no automatic redirects."""

    def __init__(self):
        self.cookies: dict[tuple, dict[str, str]] = {}
        self.hops: list[str] = []

    def request(self, method: str, url: str, form: dict | None = None) -> tuple[int, str | None, bytes]:
        """(status, Location resolved against url, body)."""
        u = urlsplit(url)
        jar = self.cookies.setdefault((u.hostname, u.port), {})
        headers = {"Accept": "text/html"}
        if jar:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in jar.items())
        body = None
        if form is not None:
            body = urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        status, hdrs, data, cookies = http_request(method, url, body, headers)
        for raw in cookies:
            name, _, value = raw.split(";", 1)[0].partition("=")
            name = name.strip()
            if not value or "expires=thu, 01 jan 1970" in raw.lower():
                jar.pop(name, None)
            else:
                jar[name] = value.strip()
        self.hops.append(f"{method} {u.path} -> {status}")
        loc = hdrs.get("location")
        return status, (urljoin(url, loc) if loc else None), data

    def to_callback(self, authorization_url: str, username: str) -> str:
        """warrant's authorizationUrl (303 to the provider), oidc-provider's login and
        consent pages; returns warrant's callback URL the provider redirects to (code,
        state, iss), not requested yet."""
        status, provider_url, body = self.request("GET", authorization_url)
        if status != 303 or not provider_url:
            raise SystemExit(f"uf_flow.py: authorizationUrl answered {status}: {body[:300]!r}")
        origin = urlsplit(provider_url)[:2]
        url, form = provider_url, None
        for _ in range(20):
            status, loc, body = self.request("POST" if form else "GET", url, form)
            form = None
            if status in (302, 303) and loc:
                if urlsplit(loc)[:2] != origin:
                    return loc
                url = loc
                continue
            if status == 200 and "/interaction/" in url:
                m = re.search(rb'name="prompt" value="(\w+)"', body)
                prompt = m.group(1).decode() if m else None
                if prompt == "login":
                    form = {"prompt": "login", "login": username, "password": "bench-password"}
                elif prompt == "consent":
                    form = {"prompt": "consent"}
                else:
                    raise SystemExit(f"uf_flow.py: unexpected interaction page: {body[:300]!r}")
                m = re.search(rb'<form[^>]*action="([^"]+)"', body)
                if m:
                    url = urljoin(url, unescape(m.group(1).decode()))
                continue
            raise SystemExit(f"uf_flow.py: the provider answered {status} at {url}: {body[:300]!r}; "
                             f"hops {self.hops}")
        raise SystemExit(f"uf_flow.py: the provider never redirected back: {self.hops}")

    def callback(self, callback_url: str, session_uri: str) -> None:
        """warrant's callback: must be a 303 to the return URL with session_id."""
        status, loc, body = self.request("GET", callback_url)
        if status != 303 or not loc or not loc.startswith(RETURN_URL):
            raise SystemExit(f"uf_flow.py: the callback answered {status} -> {loc}: {body[:300]!r}")
        got = parse_qs(urlsplit(loc).query).get("session_id")
        if got != [session_uri]:
            raise SystemExit(f"uf_flow.py: the return URL carries session_id {got}, not the session")


def setup(call: Call, issuer: str) -> dict:
    """The workload and the provider (see the module doc); returns what the flows need."""
    call("/identities/CreateWorkloadIdentity",
         {"name": UF_WORKLOAD, "allowedResourceOauth2ReturnUrls": [RETURN_URL]}, (201,))
    discovery = {"discoveryUrl": issuer + "/.well-known/openid-configuration"}
    created = call("/identities/CreateOauth2CredentialProvider", {
        "name": UF_PROVIDER, "credentialProviderVendor": "CustomOauth2",
        "oauth2ProviderConfigInput": {"customOauth2ProviderConfig": {
            "oauthDiscovery": discovery, "clientId": "placeholder",
            "clientSecret": "placeholder-secret-0123456789abcdef"}}}, (201,))
    callback = created["callbackUrl"]
    client = register_client(issuer, callback)
    updated = call("/identities/UpdateOauth2CredentialProvider", {
        "name": UF_PROVIDER, "credentialProviderVendor": "CustomOauth2",
        "oauth2ProviderConfigInput": {"customOauth2ProviderConfig": {
            "oauthDiscovery": discovery, "clientId": client["client_id"],
            "clientSecret": client["client_secret"]}}})
    if updated.get("callbackUrl") != callback:
        raise SystemExit(f"uf_flow.py: the callback URL changed on update: {updated}")
    return {"workload": UF_WORKLOAD, "provider": UF_PROVIDER, "return_url": RETURN_URL,
            "scopes": SCOPES, "callback_url": callback, "client_id": client["client_id"],
            "issuer": issuer}


def user_wat(call: Call, user: str) -> str:
    return call("/identities/GetWorkloadAccessTokenForUserId",
                {"workloadName": UF_WORKLOAD, "userId": user})["workloadAccessToken"]


def token_body(wat: str, session_uri: str | None = None) -> dict:
    """GetResourceOauth2Token as an agent sends it: USER_FEDERATION, the return URL."""
    body = {"workloadIdentityToken": wat, "resourceCredentialProviderName": UF_PROVIDER,
            "scopes": SCOPES, "oauth2Flow": "USER_FEDERATION", "resourceOauth2ReturnUrl": RETURN_URL}
    if session_uri:
        body["sessionUri"] = session_uri
    return body


def start(call: Call, wat: str) -> tuple[str, str]:
    """A new session: (authorizationUrl, sessionUri)."""
    out = call(TOKEN_PATH, token_body(wat))
    if out.get("sessionStatus") != "IN_PROGRESS" or "authorizationUrl" not in out:
        raise SystemExit(f"uf_flow.py: expected a new session, got {sorted(out)}")
    return out["authorizationUrl"], out["sessionUri"]


def complete(call: Call, session_uri: str, user: str) -> None:
    out = call(COMPLETE_PATH, {"sessionUri": session_uri, "userIdentifier": {"userId": user}})
    if out != {}:
        raise SystemExit(f"uf_flow.py: CompleteResourceTokenAuth answered {out}")


def consent(call: Call, user: str) -> tuple[str, str]:
    """The whole flow once for USER (a new WAT for it): returns (wat, access token)."""
    wat = user_wat(call, user)
    auth_url, session = start(call, wat)
    b = Browser()
    b.callback(b.to_callback(auth_url, user), session)
    complete(call, session, user)
    out = call(TOKEN_PATH, token_body(wat))
    if not out.get("accessToken"):
        raise SystemExit(f"uf_flow.py: no accessToken from the vault after the consent: {sorted(out)}")
    return wat, out["accessToken"]
