"""The real OAuth 2.0 authorization server of the test kit (testkit/oidc-provider.mjs).

`OidcProvider` runs `node testkit/oidc-provider.mjs` (panva/oidc-provider 8.x), reads its
one-line JSON ready message and exposes what the tests need. Its stdout/stderr land in
helpers.LOG_DIR like warrant's logs; the ready line (which carries the client secrets) is
written there with the secrets redacted, and the secrets are registered with
helpers.register_secret, so the run's leak scans cover them in every log, response and
data dir.

The `oidc_provider`, `spawn_oidc_provider` and `fault_provider` fixtures live in conftest.py.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Iterable
from urllib.parse import quote, urlencode

import helpers

SCRIPT = helpers.REPO / "testkit" / "oidc-provider.mjs"
START_TIMEOUT = 20.0


class OidcProvider(helpers.ChildProcess):
    """One `node testkit/oidc-provider.mjs` process."""

    STOP_TIMEOUT = 15.0

    def __init__(self, *, token_ttl: int | None = None, strict_client_auth: bool = False,
                 port: int = 0, args: Iterable[str] = (), label: str = "oidc-provider",
                 log_dir: Path | None = None):
        self.label = label
        self.args = ["--port", str(port)]
        if token_ttl is not None:
            self.args += ["--token-ttl", str(token_ttl)]
        if strict_client_auth:
            self.args.append("--strict-client-auth")
        self.args += list(args)
        self.log_dir = Path(log_dir) if log_dir is not None else helpers.LOG_DIR
        self.proc: subprocess.Popen | None = None
        self.ready: dict | None = None
        self.returncode: int | None = None
        self.stdout_path: Path | None = None
        self.stderr_path: Path | None = None
        self._ready = threading.Event()
        self._reader: threading.Thread | None = None
        self._stderr_file = None

    # -- what the ready line said
    @property
    def issuer(self) -> str:
        return self._info("issuer")

    @property
    def port(self) -> int:
        return self._info("port")

    @property
    def clients(self) -> dict[str, dict[str, str]]:
        """{"basic": {"client_id", "client_secret"}, "post": {...}}"""
        return self._info("clients")

    @property
    def resource(self) -> str:
        return self._info("resource")

    @property
    def scopes(self) -> list[str]:
        return self._info("scopes")

    @property
    def discovery_url(self) -> str:
        return self.issuer + "/.well-known/openid-configuration"

    @property
    def token_endpoint(self) -> str:
        return self.issuer + "/token"

    def _info(self, key: str):
        assert self.ready is not None, f"{self.label} not started"
        return self.ready[key]

    # -- process
    def command(self) -> list[str]:
        node = shutil.which("node")
        if node is None:
            raise AssertionError("`node` not found on PATH: the OAuth test kit needs Node.js 18+ "
                                 "(and `npm ci --prefix testkit`)")
        return [node, str(SCRIPT)] + self.args

    def start(self, timeout: float = START_TIMEOUT) -> "OidcProvider":
        if not (helpers.REPO / "testkit" / "node_modules" / "oidc-provider").is_dir():
            raise AssertionError("testkit/node_modules/oidc-provider is missing: "
                                 "run `npm ci --prefix testkit`")
        cmd = self.command()
        n = next(helpers._server_counter)
        stem = f"{n:03d}-{self.label}"
        self.stdout_path = self.log_dir / f"{stem}.stdout"
        self.stderr_path = self.log_dir / f"{stem}.stderr"
        self._stderr_file = open(self.stderr_path, "wb")
        self._ready.clear()
        self.ready = None
        self.proc = subprocess.Popen(cmd, cwd=str(helpers.REPO), stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=self._stderr_file,
                                     env=helpers.base_env())
        self._reader = threading.Thread(target=self._read_stdout, daemon=True)
        self._reader.start()
        if not self._ready.wait(timeout):
            self.kill()
            raise AssertionError(f"{self.label}: no ready line within {timeout}s\n"
                                 f"stderr:\n{self.stderr_text()[-3000:]}")
        if self.ready is None:
            try:
                rc = self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()
                rc = None
            self.returncode = rc
            raise AssertionError(f"{self.label}: exited ({rc}) or printed no JSON ready line\n"
                                 f"stdout:\n{self.stdout_text()[-1000:]}\n"
                                 f"stderr:\n{self.stderr_text()[-3000:]}")
        return self

    def _read_stdout(self) -> None:
        assert self.proc and self.proc.stdout and self.stdout_path
        with open(self.stdout_path, "wb") as out:
            for line in iter(self.proc.stdout.readline, b""):
                if self.ready is None and not self._ready.is_set():
                    try:
                        info = json.loads(line)
                        for c in info["clients"].values():
                            helpers.register_secret(c["client_secret"])
                        self.ready = info
                        line = (json.dumps(redacted(info)) + "\n").encode()
                    except (ValueError, KeyError, TypeError, AttributeError):
                        pass  # not the ready line: logged as is, start() reports it
                    self._ready.set()
                out.write(line)
                out.flush()
        self._ready.set()


    def stderr_text(self) -> str:
        try:
            return self.stderr_path.read_text("utf-8", "replace") if self.stderr_path else ""
        except FileNotFoundError:
            return ""

    def stdout_text(self) -> str:
        try:
            return self.stdout_path.read_text("utf-8", "replace") if self.stdout_path else ""
        except FileNotFoundError:
            return ""

    # -- test-only endpoints
    def stats(self) -> dict:
        """{"token_requests": N, "last": {"auth": "basic"|"post"|"none", "params": {...}} | None}"""
        status, _, body = http_request("GET", self.issuer + "/__testkit/stats")
        assert status == 200, (status, body[:300])
        return json.loads(body)

    def reset(self) -> None:
        status, _, body = http_request("POST", self.issuer + "/__testkit/reset")
        assert status == 204, (status, body[:300])

    # -- a client_credentials request straight to the provider (no warrant involved)
    def token(self, client: str = "basic", *, auth: str | None = None, secret: str | None = None,
              **params) -> tuple[int, dict | None]:
        """POST grant_type=client_credentials as clients[client]; auth "basic" or "post"
        (default: the client's own). Extra keyword params go into the form (e.g. scope,
        resource). Returns (HTTP status, JSON body or None)."""
        c = self.clients[client]
        return client_credentials(self.token_endpoint, c["client_id"],
                                  c["client_secret"] if secret is None else secret,
                                  auth=auth or client, **params)


def redacted(info: dict) -> dict:
    out = json.loads(json.dumps(info))
    for c in out.get("clients", {}).values():
        if "client_secret" in c:
            c["client_secret"] = "<redacted>"
    return out


def http_request(method: str, url: str, data: bytes | None = None, headers: dict | None = None,
                 timeout: float = 10) -> tuple[int, dict, bytes]:
    """(status, lower-cased headers, body) without following redirects or raising on 4xx/5xx."""
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(req, timeout=timeout) as r:
            return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()
    except urllib.error.HTTPError as e:
        with e:
            return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


def client_credentials(token_endpoint: str, client_id: str, client_secret: str, *,
                       auth: str = "basic", timeout: float = 10,
                       **params) -> tuple[int, dict | None]:
    """One RFC 6749 client-credentials request; auth "basic" (credentials form-urlencoded,
    then base64, as RFC 6749 2.3.1 says) or "post" (in the form)."""
    form = {"grant_type": "client_credentials"}
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}
    if auth == "basic":
        pair = f"{quote(client_id, safe='')}:{quote(client_secret, safe='')}"
        headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
    elif auth == "post":
        form.update(client_id=client_id, client_secret=client_secret)
    else:
        raise ValueError(f"auth must be 'basic' or 'post', not {auth!r}")
    form.update({k: v for k, v in params.items() if v is not None})
    status, _, body = http_request("POST", token_endpoint, urlencode(form).encode(), headers,
                                   timeout=timeout)
    try:
        return status, json.loads(body)
    except ValueError:
        return status, None

