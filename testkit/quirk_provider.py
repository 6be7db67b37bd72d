#!/usr/bin/env python3
"""A quirk-emulating OAuth 2.0 provider for warrant's user-federation (3LO) tests.

Python 3 standard library only. One ThreadingHTTPServer on 127.0.0.1 (ephemeral port, or
--port N) that plays the authorization and token endpoints of the built-in vendor presets
on the vendors' real paths, with the vendors' real quirks, so that warrant can be started
with `--danger-vendor-endpoint VENDOR=http://127.0.0.1:PORT` for each of them:

    vendor            authorization endpoint          token endpoint
    GithubOauth2      /login/oauth/authorize          /login/oauth/access_token
    SlackOauth2       /oauth/v2/authorize             /api/oauth.v2.access
    SalesforceOauth2  /services/oauth2/authorize      /services/oauth2/token
    GoogleOauth2      /o/oauth2/v2/auth               /token
    AtlassianOauth2   /authorize                      /oauth/token
    MicrosoftOauth2   /{tenant}/oauth2/v2.0/authorize /{tenant}/oauth2/v2.0/token
    TwitchOauth2      /oauth2/authorize               /oauth2/token
    RedditOauth2      /api/v1/authorize               /api/v1/access_token
    DropboxOauth2     /oauth2/authorize               /oauth2/token
    XOauth2           /i/oauth2/authorize             /2/oauth2/token
    OktaOauth2        /oauth2/default/v1/authorize    /oauth2/default/v1/token
                      (tenant vendors have no built-in endpoints: configure these)

Twitch and Dropbox share their paths (they live on different hosts in reality): every
vendor has a client of its own (printed in the ready line), and the client id of a request
says which vendor answers it (a path that is not that vendor's is a 404).

Authorization endpoint (GET): records the query, checks the client, the redirect URI (when
one was registered with /__quirks/register) and the vendor's own rules (Atlassian: 400
without audience=api.atlassian.com and prompt=consent), then auto-approves: 303 to the
redirect URI (its own query kept) with `code` and `state` (or `error` and `state` when a
denial was armed with /__quirks/deny-next).

Token endpoint (POST, form or JSON body): client authentication (Basic or form; Reddit and X
take Basic only, Twitch the form only), grant_type authorization_code (the code exists, is
unused, belongs to the client, redirect_uri equals the authorization's, PKCE S256 verifier
matches when a challenge was sent) or refresh_token (alive, the client's). Answers in the
vendor's shape:

- GitHub: `application/x-www-form-urlencoded` unless `Accept: application/json`; errors
  (`bad_verification_code`, `incorrect_client_credentials`, `bad_refresh_token`) with HTTP
  200; expiring user tokens (expires_in 28800) with rotated refresh tokens; scopes
  comma-separated in answers.
- Slack: `{"ok": true, "access_token": <bot token>, "token_type": "bot", "authed_user":
  {"id", "scope", "access_token", "token_type": "user", "refresh_token", "expires_in"}}`
  (the user token is in `authed_user`, scopes comma-separated, from `user_scope`); errors
  `{"ok": false, "error": ...}` (`invalid_code`, `invalid_refresh_token`,
  `invalid_client_id`) with HTTP 200; a refresh answers the user token at the top
  level (`token_type: "user"`) and rotates.
- Salesforce: no `expires_in`; `instance_url`, `id`, `issued_at`, `signature`; refresh
  answers no refresh token (the old one stays good).
- Google: a refresh token only when the authorization had access_type=offline and
  prompt=consent; refresh answers no refresh token.
- Atlassian: a refresh token with scope offline_access; rotated.
- Microsoft: a refresh token with scope offline_access; a refresh answers a new one (the old
  one stays good, as at Microsoft).
- Twitch: `scope` is a JSON array, `token_type` "bearer"; rotated refresh tokens.
- Reddit: a refresh token only with duration=permanent; not rotated.
- Dropbox: a refresh token only with token_access_type=offline; not rotated.
- X: a refresh token with scope offline.access; rotated.
- Okta: a refresh token with scope offline_access; rotated.
Rotated: the used refresh token is dead (invalid_grant).

Test-only endpoints (any vendor's origin, it is one server):

    GET  /__quirks/stats    {"vendors": {VENDOR: {"authorizations": [query, ...],
                              "token_requests": {grant_type: n}, "last_token_request":
                              {"path", "params" (no client_secret), "auth": "basic"|"post"|
                              "none", "accept", "content_type"} | null, "errors": [...]}},
                             "issued": {"codes": [...], "access_tokens": [...],
                              "refresh_tokens": [...]}}      (issued: never cleared)
    POST /__quirks/reset    204: counters, records, armed failures and settings cleared
    POST /__quirks/fail-next-refresh   {"vendor": V, "error"?: "invalid_grant",
                             "status"?: 400} -> 204: the next refresh_token grant of V
                             answers that error code as is (in the vendor's shape, with
                             that status; a 5xx status answers a text/plain 5xx instead);
                             invalid_grant with 400 also kills the refresh token
    POST /__quirks/fail-next-code      the same for the next authorization_code grant (the
                             code is spent)
    POST /__quirks/delay-next-refresh  {"vendor": V, "seconds": S} -> 204: the next
                             refresh_token grant of V answers after S seconds (0..60)
    POST /__quirks/deny-next           {"vendor": V, "error"?: "access_denied"} -> 204: the
                             next authorization of V redirects with error=...
    POST /__quirks/config   {"vendor": V, "expires_in"?: N | null, "form_always"?: bool}
                             -> 204: lifetime of the access tokens V issues from now on
                             (null: the vendor's own); form_always: GitHub answers
                             form-encoded even when asked for JSON
    POST /__quirks/register {"vendor": V, "redirect_uri": U} -> 204: V's client accepts only
                             this redirect URI (RFC 6749 3.1.2.2)

Run:  python3 testkit/quirk_provider.py [--port N]
When listening it prints exactly one JSON line on stdout:
    {"origin": "http://127.0.0.1:PORT", "port": PORT,
     "clients": {VENDOR: {"client_id": ..., "client_secret": ...}, ...},
     "vendors": {VENDOR: {"authorization_endpoint": ..., "token_endpoint": ...}, ...}}
and then nothing more on stdout; SIGTERM/SIGINT stop it with exit code 0. Nothing it
writes (stdout or stderr) carries a secret, a code or a token.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import html
import json
import re
import secrets
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote_plus, urlencode, urlsplit, urlunsplit

# vendor -> (authorization path or regex, token path or regex, client auth methods,
#            default access token lifetime (None: no expires_in), refresh rotation)
ROTATE, KEEP_OLD, NO_ROTATION = "rotate", "keep-old", "none"
VENDORS: dict[str, dict] = {
    "GithubOauth2": dict(authorize="/login/oauth/authorize", token="/login/oauth/access_token",
                         auth=("basic", "post"), expires_in=28800, rotation=ROTATE),
    "SlackOauth2": dict(authorize="/oauth/v2/authorize", token="/api/oauth.v2.access",
                        auth=("basic", "post"), expires_in=43200, rotation=ROTATE),
    "SalesforceOauth2": dict(authorize="/services/oauth2/authorize",
                             token="/services/oauth2/token", auth=("basic", "post"),
                             expires_in=None, rotation=NO_ROTATION),
    "GoogleOauth2": dict(authorize="/o/oauth2/v2/auth", token="/token", auth=("basic", "post"),
                         expires_in=3599, rotation=NO_ROTATION),
    "AtlassianOauth2": dict(authorize="/authorize", token="/oauth/token", auth=("basic", "post"),
                            expires_in=3600, rotation=ROTATE),
    "MicrosoftOauth2": dict(authorize=re.compile(r"^/([A-Za-z0-9._-]+)/oauth2/v2\.0/authorize$"),
                            token=re.compile(r"^/([A-Za-z0-9._-]+)/oauth2/v2\.0/token$"),
                            auth=("basic", "post"), expires_in=3599, rotation=KEEP_OLD),
    "TwitchOauth2": dict(authorize="/oauth2/authorize", token="/oauth2/token", auth=("post",),
                         expires_in=14400, rotation=ROTATE),
    "RedditOauth2": dict(authorize="/api/v1/authorize", token="/api/v1/access_token",
                         auth=("basic",), expires_in=86400, rotation=NO_ROTATION),
    "DropboxOauth2": dict(authorize="/oauth2/authorize", token="/oauth2/token",
                          auth=("basic", "post"), expires_in=14400, rotation=NO_ROTATION),
    "XOauth2": dict(authorize="/i/oauth2/authorize", token="/2/oauth2/token", auth=("basic",),
                    expires_in=7200, rotation=ROTATE),
    "OktaOauth2": dict(authorize="/oauth2/default/v1/authorize", token="/oauth2/default/v1/token",
                       auth=("basic", "post"), expires_in=3600, rotation=ROTATE),
}
MAX_BODY = 1 << 20


def _path_matches(spec, path: str) -> re.Match | bool | None:
    if isinstance(spec, re.Pattern):
        return spec.match(path)
    return spec == path


def _example_path(spec) -> str:
    if isinstance(spec, re.Pattern):
        return spec.pattern.strip("^$").replace(r"([A-Za-z0-9._-]+)", "{tenant}").replace("\\", "")
    return spec


def _b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class QuirkProvider:
    def __init__(self, port: int = 0):
        self.requested_port = port
        self.lock = threading.Lock()
        self.clients = {v: {"client_id": f"quirk-{v[:-6].lower()}-{secrets.token_hex(4)}",
                            "client_secret": secrets.token_urlsafe(32)} for v in VENDORS}
        self.vendor_of_client = {c["client_id"]: v for v, c in self.clients.items()}
        self.issued = {"codes": [], "access_tokens": [], "refresh_tokens": []}
        self.codes: dict[str, dict] = {}
        self.refresh_tokens: dict[str, dict] = {}
        self.redirect_uris: dict[str, str] = {}
        self.httpd: ThreadingHTTPServer | None = None
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.stats = {v: {"authorizations": [], "token_requests": {},
                              "last_token_request": None, "errors": []} for v in VENDORS}
            self.fail_next_refresh: dict[str, tuple[str, int]] = {}
            self.fail_next_code: dict[str, tuple[str, int]] = {}
            self.delay_next_refresh: dict[str, float] = {}
            self.form_always: set[str] = set()
            self.deny_next: dict[str, str] = {}
            self.expires_in: dict[str, int | None] = {}
            self.redirect_uris = {}

    # -- lifecycle
    def start(self) -> "QuirkProvider":
        self.httpd = ThreadingHTTPServer(("127.0.0.1", self.requested_port), _make_handler(self))
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.1},
                         name="quirk-provider", daemon=True).start()
        return self

    def stop(self) -> None:
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.httpd = None

    @property
    def port(self) -> int:
        assert self.httpd is not None
        return self.httpd.server_address[1]

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def ready_info(self) -> dict:
        return {"origin": self.origin, "port": self.port, "clients": self.clients,
                "vendors": {v: {"authorization_endpoint": self.origin + _example_path(s["authorize"]),
                                "token_endpoint": self.origin + _example_path(s["token"])}
                            for v, s in VENDORS.items()}}

    # -- tokens
    def new_token(self, kind: str, vendor: str, prefix: str) -> str:
        tok = prefix + secrets.token_urlsafe(24)
        with self.lock:
            self.issued[kind].append({"vendor": vendor, "value": tok})
        return tok

    def lifetime(self, vendor: str) -> int | None:
        with self.lock:
            if vendor in self.expires_in:
                return self.expires_in[vendor]
        return VENDORS[vendor]["expires_in"]


def _make_handler(qp: QuirkProvider):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "warrant-quirk-provider"
        sys_version = ""

        def log_message(self, format, *args):  # noqa: A002 - no request data in logs
            pass

        # -- plumbing
        def _send(self, status: int, body: bytes = b"", ctype: str | None = None,
                  headers: dict | None = None) -> None:
            try:
                self.send_response(status)
                if ctype:
                    self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                if body and self.command != "HEAD":
                    self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
                self.close_connection = True

        def _json(self, status: int, obj, headers: dict | None = None) -> None:
            self._send(status, json.dumps(obj).encode(), "application/json; charset=utf-8", headers)

        def _html(self, status: int, text: str) -> None:
            page = f"<!doctype html><title>{status}</title><p>{html.escape(text)}</p>"
            self._send(status, page.encode(), "text/html; charset=utf-8")

        def _body(self) -> bytes:
            n = int(self.headers.get("Content-Length") or 0)
            if n > MAX_BODY:
                raise ValueError("body too large")
            return self.rfile.read(n) if n > 0 else b""

        def _control_body(self) -> dict:
            raw = self._body()
            doc = json.loads(raw or b"{}")
            if not isinstance(doc, dict):
                raise ValueError("expected a JSON object")
            return doc

        # -- routing
        def do_GET(self):
            parts = urlsplit(self.path)
            if parts.path == "/__quirks/stats":
                with qp.lock:
                    doc = {"vendors": qp.stats, "issued": qp.issued}
                    data = json.dumps(doc).encode()
                return self._send(200, data, "application/json")
            return self._authorize(parts.path, parts.query)

        def do_POST(self):
            parts = urlsplit(self.path)
            if parts.path.startswith("/__quirks/"):
                return self._control(parts.path)
            return self._token(parts.path)

        def _control(self, path: str) -> None:
            try:
                doc = self._control_body()
            except ValueError as e:
                return self._json(400, {"error": str(e)})
            if path == "/__quirks/reset":
                qp.reset()
                return self._send(204)
            vendor = doc.get("vendor")
            if vendor not in VENDORS:
                return self._json(400, {"error": f"unknown vendor {vendor!r}"})
            with qp.lock:
                if path in ("/__quirks/fail-next-refresh", "/__quirks/fail-next-code"):
                    status = doc.get("status", 400)
                    if not isinstance(status, int) or not 400 <= status <= 599:
                        return self._json(400, {"error": "status: 400..599"})
                    armed = (str(doc.get("error") or "invalid_grant"), status)
                    if path.endswith("refresh"):
                        qp.fail_next_refresh[vendor] = armed
                    else:
                        qp.fail_next_code[vendor] = armed
                elif path == "/__quirks/delay-next-refresh":
                    secs = doc.get("seconds")
                    if not isinstance(secs, (int, float)) or not 0 <= secs <= 60:
                        return self._json(400, {"error": "seconds: 0..60"})
                    qp.delay_next_refresh[vendor] = float(secs)
                elif path == "/__quirks/deny-next":
                    qp.deny_next[vendor] = str(doc.get("error") or "access_denied")
                elif path == "/__quirks/config":
                    v = doc.get("expires_in")
                    if v is not None and (not isinstance(v, int) or v < 1):
                        return self._json(400, {"error": "expires_in: a positive integer or null"})
                    if "expires_in" in doc:
                        qp.expires_in[vendor] = v
                    if "form_always" in doc:
                        if doc["form_always"]:
                            qp.form_always.add(vendor)
                        else:
                            qp.form_always.discard(vendor)
                elif path == "/__quirks/register":
                    uri = doc.get("redirect_uri")
                    if not isinstance(uri, str) or not uri:
                        return self._json(400, {"error": "redirect_uri required"})
                    qp.redirect_uris[vendor] = uri
                else:
                    return self._json(404, {"error": "not found"})
            return self._send(204)

        # -- authorization endpoint
        def _authorize(self, path: str, query: str) -> None:
            q = {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}
            vendor = qp.vendor_of_client.get(q.get("client_id", ""))
            if vendor is None or not _path_matches(VENDORS[vendor]["authorize"], path):
                if any(_path_matches(s["authorize"], path) for s in VENDORS.values()):
                    return self._html(400, "unknown client_id")
                return self._json(404, {"error": "not found"})
            with qp.lock:
                rec = {"path": path, "params": q}
                qp.stats[vendor]["authorizations"].append(rec)
                registered = qp.redirect_uris.get(vendor)
                deny = qp.deny_next.pop(vendor, None)
            redirect_uri = q.get("redirect_uri")
            if not redirect_uri or not redirect_uri.startswith(("http://", "https://")):
                return self._html(400, "redirect_uri missing or invalid")
            if registered is not None and redirect_uri != registered:
                return self._html(400, "redirect_uri is not registered for this client")
            if q.get("response_type") != "code":
                return self._redirect(redirect_uri, {"error": "unsupported_response_type",
                                                     "state": q.get("state")})
            if vendor == "AtlassianOauth2":
                if q.get("audience") != "api.atlassian.com" or q.get("prompt") != "consent":
                    # Atlassian shows an error page; it does not go back to the app
                    return self._html(400, "audience=api.atlassian.com and prompt=consent "
                                           "are required")
            method = q.get("code_challenge_method")
            if q.get("code_challenge") and method not in ("S256", "plain", None):
                return self._redirect(redirect_uri, {"error": "invalid_request",
                                                     "state": q.get("state")})
            if deny:
                return self._redirect(redirect_uri, {"error": deny, "state": q.get("state")})
            code = qp.new_token("codes", vendor, "qc-")
            scope_param = "user_scope" if vendor == "SlackOauth2" else "scope"
            with qp.lock:
                qp.codes[code] = {"vendor": vendor, "client_id": q["client_id"],
                                  "redirect_uri": redirect_uri, "challenge": q.get("code_challenge"),
                                  "method": method or "plain", "scope": q.get(scope_param, ""),
                                  "params": q, "used": False, "issued_at": time.time()}
            return self._redirect(redirect_uri, {"code": code, "state": q.get("state")})

        def _redirect(self, redirect_uri: str, params: dict) -> None:
            parts = urlsplit(redirect_uri)
            extra = urlencode({k: v for k, v in params.items() if v is not None})
            query = f"{parts.query}&{extra}" if parts.query else extra
            self._send(303, b"", None, {"Location": urlunsplit(parts._replace(query=query))})

        # -- token endpoint
        def _token(self, path: str) -> None:
            try:
                raw = self._body()
            except ValueError:
                return self._json(413, {"error": "invalid_request"})
            ctype = (self.headers.get("Content-Type") or "").lower()
            try:
                if ctype.startswith("application/json"):
                    doc = json.loads(raw or b"{}")
                    form = {str(k): str(v) for k, v in doc.items()} if isinstance(doc, dict) else {}
                else:
                    form = {k: v[-1] for k, v in parse_qs(raw.decode("utf-8"),
                                                          keep_blank_values=True).items()}
            except (ValueError, UnicodeDecodeError):
                form = {}
            # who is asking: Basic credentials, else the form's client_id
            auth = self.headers.get("Authorization") or ""
            basic_id = basic_secret = None
            if auth[:6].lower() == "basic ":
                try:
                    pair = base64.b64decode(auth[6:].strip(), validate=True).decode("utf-8")
                    i, _, s = pair.partition(":")
                    basic_id, basic_secret = unquote_plus(i), unquote_plus(s)
                except (ValueError, UnicodeDecodeError):
                    basic_id = ""
            client_id = basic_id if basic_id is not None else form.get("client_id", "")
            vendor = qp.vendor_of_client.get(client_id)
            if vendor is None:
                vendor = next((v for v, s in VENDORS.items() if _path_matches(s["token"], path)),
                              None)
                if vendor is None:
                    return self._json(404, {"error": "not found"})
            elif not _path_matches(VENDORS[vendor]["token"], path):
                return self._json(404, {"error": "not found"})
            spec = VENDORS[vendor]
            grant = form.get("grant_type") or "none"
            used_auth = "basic" if basic_id is not None else (
                "post" if "client_secret" in form else "none")
            with qp.lock:
                st = qp.stats[vendor]
                st["token_requests"][grant] = st["token_requests"].get(grant, 0) + 1
                st["last_token_request"] = {
                    "path": path, "auth": used_auth,
                    "params": {k: v for k, v in form.items() if k != "client_secret"},
                    "accept": self.headers.get("Accept"), "content_type": ctype}
            # client authentication
            client = qp.clients[vendor]
            secret = basic_secret if basic_id is not None else form.get("client_secret")
            if basic_id is not None and form.get("client_secret") is not None:
                return self._error(vendor, 400, "invalid_request",
                                   "more than one client authentication method")
            if (client_id != client["client_id"] or used_auth not in spec["auth"]
                    or not isinstance(secret, str)
                    or not secrets.compare_digest(secret, client["client_secret"])):
                return self._error(vendor, 401, "invalid_client", "client authentication failed")
            if grant == "authorization_code":
                return self._code_grant(vendor, form)
            if grant == "refresh_token":
                return self._refresh_grant(vendor, form)
            return self._error(vendor, 400, "unsupported_grant_type", "grant type not supported")

        def _code_grant(self, vendor: str, form: dict) -> None:
            code = form.get("code") or ""
            with qp.lock:
                armed = qp.fail_next_code.pop(vendor, None)
                rec = qp.codes.get(code)
                if armed and rec is not None:
                    rec["used"] = True  # the code is spent either way
            if armed:
                error, status = armed
                if status >= 500:
                    return self._send(status, b"upstream trouble (quirk provider)", "text/plain")
                return self._error(vendor, status, error, "code refused", verbatim=True)
            with qp.lock:
                rec = qp.codes.get(code)
                reuse = rec is not None and rec["used"]
                if rec is not None:
                    rec["used"] = True
            if rec is None or reuse or rec["vendor"] != vendor:
                return self._error(vendor, 400, "invalid_grant",
                                   "authorization code unknown or already used")
            if time.time() - rec["issued_at"] > 600:
                return self._error(vendor, 400, "invalid_grant", "authorization code expired")
            if form.get("redirect_uri") != rec["redirect_uri"]:
                return self._error(vendor, 400, "invalid_grant", "redirect_uri mismatch")
            if rec["challenge"]:
                verifier = form.get("code_verifier") or ""
                if rec["method"] == "S256":
                    computed = _b64u(hashlib.sha256(verifier.encode()).digest())
                else:
                    computed = verifier
                if not verifier or not secrets.compare_digest(computed, rec["challenge"]):
                    return self._error(vendor, 400, "invalid_grant", "PKCE verification failed")
            elif form.get("code_verifier"):
                return self._error(vendor, 400, "invalid_grant", "code_verifier without challenge")
            p = rec["params"]
            scopes = _split_scopes(rec["scope"])
            offline = {
                "GoogleOauth2": p.get("access_type") == "offline" and p.get("prompt") == "consent",
                "RedditOauth2": p.get("duration") == "permanent",
                "DropboxOauth2": p.get("token_access_type") == "offline",
                "AtlassianOauth2": "offline_access" in scopes,
                "MicrosoftOauth2": "offline_access" in scopes,
                "OktaOauth2": "offline_access" in scopes,
                "XOauth2": "offline.access" in scopes,
            }.get(vendor, True)
            refresh = None
            if offline:
                refresh = self._new_refresh(vendor, scopes)
            self._tokens(vendor, scopes, refresh, first=True)

        def _new_refresh(self, vendor: str, scopes: list[str]) -> str:
            prefix = {"SlackOauth2": "xoxe-1-", "GithubOauth2": "ghr_"}.get(vendor, "qr-")
            rt = qp.new_token("refresh_tokens", vendor, prefix)
            with qp.lock:
                qp.refresh_tokens[rt] = {"vendor": vendor, "scopes": scopes, "alive": True}
            return rt

        def _refresh_grant(self, vendor: str, form: dict) -> None:
            rt = form.get("refresh_token") or ""
            with qp.lock:
                armed = qp.fail_next_refresh.pop(vendor, None)
                delay = qp.delay_next_refresh.pop(vendor, 0.0)
                rec = qp.refresh_tokens.get(rt)
                ok = rec is not None and rec["alive"] and rec["vendor"] == vendor
                if ok and armed and armed == ("invalid_grant", 400):
                    rec["alive"] = False  # the provider revoked it
            if delay:
                time.sleep(delay)  # a slow provider (the answer is as usual)
            if armed:
                error, status = armed
                if status >= 500:
                    return self._send(status, b"upstream trouble (quirk provider)", "text/plain")
                return self._error(vendor, status, error, "refresh refused", verbatim=True)
            if not ok:
                return self._error(vendor, 400, "invalid_grant", "refresh token invalid",
                                   refresh=True)
            scopes = rec["scopes"]
            rotation = VENDORS[vendor]["rotation"]
            new_rt = None
            if rotation in (ROTATE, KEEP_OLD):
                new_rt = self._new_refresh(vendor, scopes)
                if rotation == ROTATE:
                    with qp.lock:
                        rec["alive"] = False
            self._tokens(vendor, scopes, new_rt, first=False)

        def _tokens(self, vendor: str, scopes: list[str], refresh: str | None, *, first: bool):
            prefix = {"SlackOauth2": "xoxp-", "GithubOauth2": "ghu_"}.get(vendor, "qa-")
            access = qp.new_token("access_tokens", vendor, prefix)
            life = qp.lifetime(vendor)
            if vendor == "GithubOauth2":
                out = {"access_token": access, "token_type": "bearer", "scope": ",".join(scopes)}
                if life is not None:
                    out["expires_in"] = life
                if refresh:
                    out.update(refresh_token=refresh, refresh_token_expires_in=15897600)
                if self._wants_json(vendor):
                    return self._json(200, out)
                body = urlencode({k: str(v) for k, v in out.items()}).encode()
                return self._send(200, body, "application/x-www-form-urlencoded; charset=utf-8")
            if vendor == "SlackOauth2":
                user = {"access_token": access, "token_type": "user", "scope": ",".join(scopes)}
                if life is not None:
                    user["expires_in"] = life
                if refresh:
                    user["refresh_token"] = refresh
                if not first:  # a refresh of the user token: answered at the top level
                    return self._json(200, {"ok": True, **user})
                bot = qp.new_token("access_tokens", vendor, "xoxb-")
                return self._json(200, {"ok": True, "app_id": "A0QUIRK", "access_token": bot,
                                        "token_type": "bot", "scope": "commands",
                                        "bot_user_id": "U0BOT",
                                        "team": {"id": "T0QUIRK", "name": "Quirk"},
                                        "authed_user": {"id": "U0USER", **user}})
            if vendor == "SalesforceOauth2":
                out = {"access_token": access, "token_type": "Bearer",
                       "instance_url": "https://quirk-dev-ed.my.salesforce.com",
                       "id": "https://login.salesforce.com/id/00Dxx0000001gPL/005xx000001SwiU",
                       "issued_at": str(int(time.time() * 1000)),
                       "signature": _b64u(secrets.token_bytes(32)), "scope": " ".join(scopes)}
                if life is not None:
                    out["expires_in"] = life
                if refresh:
                    out["refresh_token"] = refresh
                return self._json(200, out)
            out = {"access_token": access,
                   "token_type": "bearer" if vendor in ("TwitchOauth2", "RedditOauth2",
                                                        "DropboxOauth2") else "Bearer"}
            if life is not None:
                out["expires_in"] = life
            out["scope"] = list(scopes) if vendor == "TwitchOauth2" else " ".join(scopes)
            if refresh:
                out["refresh_token"] = refresh
            if vendor == "MicrosoftOauth2" and life is not None:
                out["ext_expires_in"] = life
            if vendor == "DropboxOauth2":
                out.update(account_id="dbid:QUIRK", uid="12345")
            return self._json(200, out)

        def _wants_json(self, vendor: str) -> bool:
            """GitHub: JSON only when asked for (and not forced to form encoding)."""
            with qp.lock:
                if vendor in qp.form_always:
                    return False
            return "application/json" in (self.headers.get("Accept") or "")

        def _error(self, vendor: str, status: int, error: str, description: str, *,
                   refresh: bool = False, verbatim: bool = False) -> None:
            """An error in the vendor's shape. The vendor's own error codes replace the
            standard ones (GitHub, Slack) unless verbatim (an error armed by a test)."""
            with qp.lock:
                qp.stats[vendor]["errors"].append(error)
            if vendor == "GithubOauth2":
                code = error if verbatim else {
                    "invalid_grant": "bad_refresh_token" if refresh else "bad_verification_code",
                    "invalid_client": "incorrect_client_credentials"}.get(error, error)
                out = {"error": code, "error_description": description,
                       "error_uri": "https://docs.github.com/apps/troubleshooting"}
                if self._wants_json(vendor):
                    return self._json(200, out)
                return self._send(200, urlencode(out).encode(),
                                  "application/x-www-form-urlencoded; charset=utf-8")
            if vendor == "SlackOauth2":
                code = error if verbatim else {
                    "invalid_grant": "invalid_refresh_token" if refresh else "invalid_code",
                    "invalid_client": "invalid_client_id"}.get(error, error)
                return self._json(200, {"ok": False, "error": code})
            return self._json(status, {"error": error, "error_description": description})

    return Handler


def _split_scopes(s: str) -> list[str]:
    return [x for x in re.split(r"[ ,]+", s or "") if x]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="quirk-emulating OAuth provider (test kit)")
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args(argv)
    if not 0 <= args.port <= 65535:
        print("quirk_provider.py: --port must be 0..65535", file=sys.stderr)
        return 2
    qp = QuirkProvider(args.port).start()
    stop = threading.Event()

    def on_signal(signum, frame):
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    sys.stdout.write(json.dumps(qp.ready_info()) + "\n")
    sys.stdout.flush()
    while not stop.wait(0.2):
        pass
    qp.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
