"""A fault-injecting OAuth 2.0 authorization server for warrant's compatibility tests.

Standard library only: a ThreadingHTTPServer on 127.0.0.1 (ephemeral port) in a daemon
thread. Every MODE has its own issuer, discovery documents and token endpoint:

    GET  /MODE/.well-known/openid-configuration     discovery (issuer = base + "/MODE")
    GET  /MODE/.well-known/oauth-authorization-server   the same document (RFC 8414 path)
    POST /MODE/token                                 behaves as MODE says (see MODES)

Special discovery documents (both well-known paths):

    /bad-issuer/...      issuer "https://someone-else.example" (mismatch); its token
                         endpoint /bad-issuer/token answers like "ok", so a client that
                         ignores the mismatch shows up in hits("bad-issuer")
    /metadata-ip/...     token_endpoint "http://169.254.169.254/token"
    /redirect-discovery/...   302 to http://10.0.0.1/.well-known/openid-configuration

Usage:

    fp = FaultProvider().start()
    fp.discovery_url("short")      # http://127.0.0.1:PORT/short/.well-known/openid-configuration
    fp.hits("short"), fp.last("short"), fp.issued("short"), fp.reset(), fp.stop()
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote_plus, urlsplit

# What POST /MODE/token does:
MODES = (
    "ok",           # 200 token (expires_in 3600)
    "slow",         # sleeps slow_seconds (default 5), then like ok
    "500",          # HTTP 500, text body
    "garbage",      # 200, body <html>not json</html>
    "missing",      # 200 JSON without access_token
    "oauth_error",  # 400 {"error":"invalid_scope", ...}
    "redirect",     # 302 to the cloud metadata address
    "huge",         # 200, a valid token response padded to a 5 MiB JSON body
    "noexpiry",     # 200 token without expires_in
    "short",        # 200 token with expires_in 2
)
SPECIAL_DISCOVERY = ("bad-issuer", "metadata-ip", "redirect-discovery")
TOKEN_PATHS = MODES + ("bad-issuer",)  # every path prefix that has a token endpoint

METADATA_URL = "http://169.254.169.254/latest/meta-data/"
REDIRECT_DISCOVERY_TARGET = "http://10.0.0.1/.well-known/openid-configuration"
HUGE_BYTES = 5 * 1024 * 1024
WELL_KNOWN = ("/.well-known/openid-configuration", "/.well-known/oauth-authorization-server")


class FaultProvider:
    def __init__(self, slow_seconds: float = 5.0):
        self.slow_seconds = slow_seconds
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.port: int | None = None
        self.reset()

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> "FaultProvider":
        assert self._httpd is None, "already started"
        self._stopping.clear()
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        httpd.daemon_threads = True
        self._httpd = httpd
        self.port = httpd.server_address[1]
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="fault-provider", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes sleeping "slow" handlers
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None

    def __enter__(self) -> "FaultProvider":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- addresses -------------------------------------------------------------------

    @property
    def base(self) -> str:
        assert self.port, "fault provider not started"
        return f"http://127.0.0.1:{self.port}"

    def issuer(self, mode: str) -> str:
        return f"{self.base}/{mode}"

    def discovery_url(self, mode: str) -> str:
        return f"{self.base}/{mode}/.well-known/openid-configuration"

    def token_url(self, mode: str) -> str:
        return f"{self.base}/{mode}/token"

    # -- what was asked --------------------------------------------------------------

    def reset(self) -> None:
        with self._lock:
            self._hits: dict[str, int] = {}
            self._discovery_hits: dict[str, int] = {}
            self._last: dict[str, dict] = {}
            self._issued: dict[str, list[str]] = {}

    def hits(self, mode: str) -> int:
        """Number of requests to the token endpoint of `mode` (any method)."""
        with self._lock:
            return self._hits.get(mode, 0)

    def discovery_hits(self, mode: str) -> int:
        """Number of GETs of either discovery document of `mode`."""
        with self._lock:
            return self._discovery_hits.get(mode, 0)

    def last(self, mode: str) -> dict | None:
        """The last token request of `mode`: {"params": form params without client_secret,
        "basic": Authorization: Basic was used, "basic_client_id": its client id or None,
        "client_secret_in_form": bool, "content_type": str, "method": str}."""
        with self._lock:
            rec = self._last.get(mode)
            return json.loads(json.dumps(rec)) if rec is not None else None

    def issued(self, mode: str) -> list[str]:
        """Access tokens handed out by `mode` (to register as secrets of the run)."""
        with self._lock:
            return list(self._issued.get(mode, []))

    # -- documents and answers -------------------------------------------------------

    def discovery_document(self, mode: str) -> dict:
        base = self.base
        doc = {
            "issuer": f"{base}/{mode}",
            "token_endpoint": f"{base}/{mode}/token",
            "authorization_endpoint": f"{base}/{mode}/authorize",
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "response_types_supported": ["code"],
            "grant_types_supported": ["client_credentials", "authorization_code"],
        }
        if mode == "bad-issuer":
            doc["issuer"] = "https://someone-else.example"
        elif mode == "metadata-ip":
            doc["token_endpoint"] = "http://169.254.169.254/token"
        return doc

    def _record(self, mode: str, rec: dict) -> int:
        with self._lock:
            n = self._hits.get(mode, 0) + 1
            self._hits[mode] = n
            self._last[mode] = rec
            return n

    def _count_discovery(self, mode: str) -> None:
        with self._lock:
            self._discovery_hits[mode] = self._discovery_hits.get(mode, 0) + 1

    def _new_token(self, mode: str, n: int) -> str:
        tok = f"fault-{mode}-{n}-{secrets.token_hex(8)}"
        with self._lock:
            self._issued.setdefault(mode, []).append(tok)
        return tok


def _flatten(q: dict[str, list[str]]) -> dict:
    return {k: (v[0] if len(v) == 1 else v) for k, v in q.items()}


def _make_handler(fp: FaultProvider):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "warrant-fault-provider"
        sys_version = ""

        def log_message(self, format, *args):  # noqa: A002 - keep test output quiet
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
                    view = memoryview(body)
                    for i in range(0, len(view), 256 * 1024):
                        self.wfile.write(view[i:i + 256 * 1024])
            except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
                self.close_connection = True

        def _json(self, status: int, obj, headers: dict | None = None) -> None:
            self._send(status, json.dumps(obj).encode(), "application/json", headers)

        def _read_body(self) -> bytes:
            n = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(n) if n > 0 else b""

        def _split(self) -> tuple[str, str]:
            path = urlsplit(self.path).path
            first, _, rest = path.lstrip("/").partition("/")
            return first, "/" + rest

        # -- GET: discovery
        def do_GET(self):
            mode, rest = self._split()
            if rest in WELL_KNOWN and (mode in MODES or mode in SPECIAL_DISCOVERY):
                fp._count_discovery(mode)
                if mode == "redirect-discovery":
                    return self._send(302, b"", None, {"Location": REDIRECT_DISCOVERY_TARGET})
                return self._json(200, fp.discovery_document(mode))
            if rest == "/token" and mode in TOKEN_PATHS:
                fp._record(mode, self._request_record(b""))
                return self._json(405, {"error": "invalid_request",
                                        "error_description": "use POST"}, {"Allow": "POST"})
            return self._json(404, {"error": "not_found"})

        def do_HEAD(self):
            self.do_GET()

        # -- POST: token endpoint
        def do_POST(self):
            mode, rest = self._split()
            body = self._read_body()
            if rest != "/token" or mode not in TOKEN_PATHS:
                return self._json(404, {"error": "not_found"})
            n = fp._record(mode, self._request_record(body))
            self._answer(mode, n)

        def _request_record(self, body: bytes) -> dict:
            ctype = self.headers.get("Content-Type") or ""
            params: dict = {}
            if body:
                try:
                    params = _flatten(parse_qs(body.decode("utf-8"), keep_blank_values=True))
                except UnicodeDecodeError:
                    params = {}
            secret_in_form = "client_secret" in params
            params.pop("client_secret", None)
            auth = self.headers.get("Authorization") or ""
            basic = auth[:6].lower() == "basic "
            basic_id = None
            if basic:
                try:
                    raw = base64.b64decode(auth[6:].strip(), validate=True).decode("utf-8")
                    basic_id = unquote_plus(raw.partition(":")[0])
                except (ValueError, UnicodeDecodeError):
                    basic_id = None
            return {"method": self.command, "content_type": ctype, "params": params,
                    "basic": basic, "basic_client_id": basic_id,
                    "client_secret_in_form": secret_in_form}

        def _token(self, mode: str, n: int, expires_in: int | None = 3600) -> dict:
            out = {"access_token": fp._new_token(mode, n), "token_type": "Bearer"}
            if expires_in is not None:
                out["expires_in"] = expires_in
            return out

        def _answer(self, mode: str, n: int) -> None:
            if mode in ("ok", "bad-issuer"):
                return self._json(200, self._token(mode, n))
            if mode == "slow":
                if fp._stopping.wait(fp.slow_seconds):
                    return self._send(503, b"shutting down", "text/plain")
                return self._json(200, self._token(mode, n))
            if mode == "500":
                return self._send(500, b"internal error (fault provider)", "text/plain")
            if mode == "garbage":
                return self._send(200, b"<html>not json</html>", "application/json")
            if mode == "missing":
                return self._json(200, {"token_type": "Bearer", "expires_in": 3600})
            if mode == "oauth_error":
                return self._json(400, {"error": "invalid_scope",
                                        "error_description": "scope nope is not allowed"})
            if mode == "redirect":
                return self._send(302, b"", None, {"Location": METADATA_URL})
            if mode == "huge":
                head = json.dumps(self._token(mode, n))[:-1] + ', "padding": "'
                tail = '"}'
                pad = HUGE_BYTES - len(head) - len(tail)
                return self._send(200, (head + "x" * pad + tail).encode(), "application/json")
            if mode == "noexpiry":
                return self._json(200, self._token(mode, n, None))
            if mode == "short":
                return self._json(200, self._token(mode, n, 2))
            return self._json(404, {"error": "not_found"})

    return Handler
