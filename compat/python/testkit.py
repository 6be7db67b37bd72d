"""The real OAuth 2.0 authorization server of the test kit (testkit/oidc-provider.mjs).

`OidcProvider` runs `node testkit/oidc-provider.mjs` (panva/oidc-provider 8.x), reads its
one-line JSON ready message and exposes what the tests need. Its stdout/stderr land in
helpers.LOG_DIR like warrant's logs; the ready line (which carries the client secrets) is
written there with the secrets redacted, and the secrets are registered with
helpers.register_secret, so the run's leak scans cover them in every log, response and
data dir.

End-user logins: `OidcProvider.login(username, ...)` (or `login(provider, ...)`) drives
oidc-provider's development login and consent pages like a browser would (authorization
code + PKCE, cookies kept by hand) and returns the token response (ID token, and a JWT
access token when the test kit's resource indicator is asked for). Every token it returns
is registered as a secret of the run.

Signing keys of the tests' own: `SigningKey.rsa()/.ec()/.ed25519()` make private JWKs with
`cryptography`; `write_keys(path, keys)` writes the file for `OidcProvider(keys_file=...)`
(the provider then signs with exactly those keys), and `SigningKey.sign(claims, header)`
forges compact JWS tokens with the same keys.

The `oidc_provider`, `spawn_oidc_provider` and `fault_provider` fixtures live in conftest.py.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import http.client
import json
import re
import secrets
import shutil
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable, Iterable
from urllib.parse import parse_qs, quote, urlencode, urljoin, urlsplit

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

import helpers

SCRIPT = helpers.REPO / "testkit" / "oidc-provider.mjs"
START_TIMEOUT = 20.0


class ReadyLineProcess(helpers.ChildProcess):
    """A test-kit server started as a child process that prints one JSON ready line on
    stdout (with per-run client secrets, registered as secrets of the run and logged
    redacted) and then only log lines. Subclasses give command() and the ready line's
    accessors."""

    def __init__(self, label: str, args: list[str], log_dir: Path | None = None):
        self.label = label
        self.args = args
        self.log_dir = Path(log_dir) if log_dir is not None else helpers.LOG_DIR
        self.proc: subprocess.Popen | None = None
        self.ready: dict | None = None
        self.returncode: int | None = None
        self.stdout_path: Path | None = None
        self.stderr_path: Path | None = None
        self._ready = threading.Event()
        self._reader: threading.Thread | None = None
        self._stderr_file = None

    def command(self) -> list[str]:
        raise NotImplementedError

    def _info(self, key: str):
        assert self.ready is not None, f"{self.label} not started"
        return self.ready[key]

    def start(self, timeout: float = START_TIMEOUT):
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
                first = self.ready is None and not self._ready.is_set()
                if first:
                    try:
                        info = json.loads(line)
                        for group in ("clients", "login_clients"):
                            for c in info.get(group, {}).values():
                                helpers.register_secret(c["client_secret"])
                        self.ready = info
                        line = (json.dumps(redacted(info)) + "\n").encode()
                    except (ValueError, KeyError, TypeError, AttributeError):
                        pass  # not the ready line: logged as is, start() reports it
                out.write(line)  # logged before start() returns
                out.flush()
                if first:
                    self._ready.set()
        self._ready.set()

    # -- what the ready line said
    @property
    def port(self) -> int:
        return self._info("port")

    @property
    def clients(self) -> dict[str, dict[str, str]]:
        """{name: {"client_id", "client_secret"}}: OidcProvider's "basic" and "post",
        QuirkProvider's one per vendor."""
        return self._info("clients")


def _register_issued(issued: dict) -> None:
    """Registers every value of a provider's {"codes", "access_tokens", "refresh_tokens"}
    record of what it handed out as a secret of the run."""
    for kind in ("codes", "access_tokens", "refresh_tokens"):
        for item in issued[kind]:
            helpers.register_secret(item["value"])


def basic_auth(client_id: str, secret: str) -> str:
    """The Authorization header value of HTTP Basic client authentication as RFC 6749
    2.3.1 says: id and secret form-urlencoded, joined by ":", then base64."""
    pair = f"{quote(client_id, safe='')}:{quote(secret, safe='')}"
    return "Basic " + base64.b64encode(pair.encode()).decode()


class OidcProvider(ReadyLineProcess):
    """One `node testkit/oidc-provider.mjs` process."""

    STOP_TIMEOUT = 15.0

    def __init__(self, *, token_ttl: int | None = None, strict_client_auth: bool = False,
                 port: int = 0, keys_file: Path | str | None = None, args: Iterable[str] = (),
                 label: str = "oidc-provider", log_dir: Path | None = None):
        """port: 0 = ephemeral; a fixed port (see free_port()) lets a test stop the provider
        and start another one (e.g. with a new keys_file) under the same issuer.
        keys_file: a private JWKS (write_keys) used as the signing keys."""
        argv = ["--port", str(port)]
        if token_ttl is not None:
            argv += ["--token-ttl", str(token_ttl)]
        if strict_client_auth:
            argv.append("--strict-client-auth")
        if keys_file is not None:
            argv += ["--keys", str(keys_file)]
        super().__init__(label, argv + list(args), log_dir)

    # -- what the ready line said
    @property
    def issuer(self) -> str:
        return self._info("issuer")

    @property
    def login_clients(self) -> dict[str, dict[str, str]]:
        """{"login": {client_id, client_secret, redirect_uri, id_token_signed_response_alg},
        "login-es256": {...} (one per further algorithm of the key set)}"""
        return self._info("login_clients")

    @property
    def redirect_uri(self) -> str:
        return self._info("redirect_uri")

    @property
    def kids(self) -> list[str]:
        """kids of the signing keys, in the order of the key set."""
        return self._info("kids")

    @property
    def jwks_uri(self) -> str:
        return self.issuer + "/jwks"

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
        return super().start(timeout)

    # -- test-only endpoints
    def stats(self) -> dict:
        """{"token_requests": N, "last": {"auth": "basic"|"post"|"none", "params": {...}} | None}"""
        status, _, body = http_request("GET", self.issuer + "/__testkit/stats")
        assert status == 200, (status, body[:300])
        return json.loads(body)

    def reset(self) -> None:
        status, _, body = http_request("POST", self.issuer + "/__testkit/reset")
        assert status == 204, (status, body[:300])

    def login(self, username: str, **kw) -> dict:
        """An end user's login through the browser flow; see `login`."""
        return login(self, username, **kw)

    def register_client(self, redirect_uri: str | list[str], **kw) -> dict:
        """RFC 7591 registration of a 3LO client; see register_client()."""
        return register_client(self, redirect_uri, **kw)

    def issued(self) -> dict:
        """{"codes": [{client_id, value}], "access_tokens": [{client_id, grant_type, value}],
        "refresh_tokens": [...]}: everything the provider handed out this run (every value
        is registered as a secret of the run)."""
        status, _, body = http_request("GET", self.issuer + "/__testkit/issued")
        assert status == 200, (status, body[:300])
        doc = json.loads(body)
        _register_issued(doc)
        return doc

    def authorizations(self) -> list[dict]:
        """[{"method", "params": {...every query parameter...}}] of the authorization requests
        since the last reset, oldest first."""
        status, _, body = http_request("GET", self.issuer + "/__testkit/authorizations")
        assert status == 200, (status, body[:300])
        return json.loads(body)

    def grants(self, client_id: str | None = None) -> dict:
        """Token-endpoint requests per grant_type since the last reset (of one client)."""
        s = self.stats()
        if client_id is None:
            return dict(s["grants"])
        return dict(s["grants_by_client"].get(client_id, {}))

    def revoke_grants(self, client_id: str) -> int:
        """Revokes every grant of the client (and its codes and tokens), like a user
        removing the app's access at the provider; returns how many grants."""
        status, _, body = http_request(
            "POST", self.issuer + "/__testkit/revoke-grants?" + urlencode({"client_id": client_id}))
        assert status == 200, (status, body[:300])
        return json.loads(body)["revoked"]

    def refresh_token_grant(self, client_id: str, client_secret: str,
                            refresh_token: str, auth: str = "basic") -> tuple[int, dict | None]:
        """A refresh_token grant straight at the provider (e.g. replaying a rotated token)."""
        form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
        headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}
        if auth == "basic":
            headers["Authorization"] = basic_auth(client_id, client_secret)
        else:
            form.update(client_id=client_id, client_secret=client_secret)
        status, _, body = http_request("POST", self.token_endpoint, urlencode(form).encode(), headers)
        try:
            doc = json.loads(body)
        except ValueError:
            doc = None
        for k in ("access_token", "refresh_token"):
            if isinstance(doc, dict) and isinstance(doc.get(k), str):
                helpers.register_secret(doc[k])
        return status, doc

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
    for group in ("clients", "login_clients"):
        for c in out.get(group, {}).values():
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
        headers["Authorization"] = basic_auth(client_id, client_secret)
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



def free_port() -> int:
    """A TCP port that was free a moment ago (for OidcProvider(port=...) restarts)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sk:
        sk.bind(("127.0.0.1", 0))
        return sk.getsockname()[1]


# ---------------------------------------------------------------------------------------
# End-user login (authorization code + PKCE through oidc-provider's dev interactions)
# ---------------------------------------------------------------------------------------


class LoginError(AssertionError):
    pass


class _Browser:
    """Just enough of a browser: cookies by name (every cookie sent to every path of the
    one host), no automatic redirects."""

    def __init__(self, base: str):
        parts = urlsplit(base)
        self.host, self.port = parts.hostname, parts.port
        self.cookies: dict[str, str] = {}

    def request(self, method: str, url: str, form: dict | None = None,
                headers: dict | None = None) -> tuple[int, dict, bytes]:
        parts = urlsplit(url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        hdrs = dict(headers or {})
        if self.cookies:
            hdrs["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if form is not None:
            body = urlencode(form).encode()
            hdrs["Content-Type"] = "application/x-www-form-urlencoded"
        conn = http.client.HTTPConnection(self.host, self.port, timeout=10)
        try:
            conn.request(method, path, body=body, headers=hdrs)
            r = conn.getresponse()
            data = r.read()
            for raw in r.headers.get_all("Set-Cookie") or []:
                pair = raw.split(";", 1)[0]
                name, _, value = pair.partition("=")
                name = name.strip()
                expired = "expires=thu, 01 jan 1970" in raw.lower()
                if not value or expired:
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = value.strip()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, data
        finally:
            conn.close()


def _pkce() -> tuple[str, str]:
    verifier = base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()
    challenge = base64.urlsafe_b64encode(
        hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def authorization_code(provider: "OidcProvider", username: str, *, client: str = "login",
                       scope: str = "openid read write", resource: bool | str = False,
                       password: str = "any-password") -> tuple[str, str]:
    """Runs GET /auth → login page → consent page → redirect; returns (code, verifier)."""
    c = provider.login_clients[client]
    verifier, challenge = _pkce()
    state, nonce = secrets.token_hex(8), secrets.token_hex(8)
    params = {"client_id": c["client_id"], "response_type": "code",
              "redirect_uri": c["redirect_uri"], "scope": scope, "state": state,
              "nonce": nonce, "code_challenge": challenge, "code_challenge_method": "S256"}
    if resource:
        params["resource"] = provider.resource if resource is True else resource
    browser = _Browser(provider.issuer)
    url = provider.issuer + "/auth?" + urlencode(params)
    method, form = "GET", None
    seen: list[str] = []
    for _ in range(20):
        status, headers, body = browser.request(method, url, form)
        seen.append(f"{method} {urlsplit(url).path} -> {status}")
        method, form = "GET", None
        if status in (302, 303):
            loc = urljoin(url, headers["location"])
            if loc.startswith(c["redirect_uri"]):
                q = parse_qs(urlsplit(loc).query)
                if "error" in q:
                    raise LoginError(f"login refused: {q}")
                if q.get("state") != [state]:
                    raise LoginError(f"state mismatch in {q}")
                return q["code"][0], verifier
            url = loc
            continue
        if status == 200 and "/interaction/" in url:
            m = re.search(rb'name="prompt" value="(\w+)"', body)
            prompt = m.group(1).decode() if m else None
            if prompt == "login":
                method, form = "POST", {"prompt": "login", "login": username,
                                        "password": password}
            elif prompt == "consent":
                method, form = "POST", {"prompt": "consent"}
            else:
                raise LoginError(f"unexpected interaction page: {body[:300]!r}")
            continue
        raise LoginError(f"unexpected answer {status} at {url}: {body[:500]!r}; steps {seen}")
    raise LoginError(f"login did not finish: {seen}")


def login(provider: "OidcProvider", username: str, *, client: str = "login",
          scope: str = "openid read write", resource: bool | str = False,
          password: str = "any-password") -> dict:
    """An end user `username` (becomes the `sub`) logs in through oidc-provider's login and
    consent pages; the code is redeemed at /token (client_secret_basic, PKCE). Returns the
    token response: `id_token` (signed with the client's id_token_signed_response_alg),
    `access_token` (a JWT with aud = the resource, client_id and scope when `resource` is
    True or a resource URL, else opaque), `refresh_token`, `expires_in`, `scope`.
    Every token is registered with helpers.register_secret."""
    c = provider.login_clients[client]
    code, verifier = authorization_code(provider, username, client=client, scope=scope,
                                        resource=resource, password=password)
    form = {"grant_type": "authorization_code", "code": code,
            "redirect_uri": c["redirect_uri"], "code_verifier": verifier}
    if resource:
        form["resource"] = provider.resource if resource is True else resource
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json",
               "Authorization": basic_auth(c["client_id"], c["client_secret"])}
    status, _, body = http_request("POST", provider.token_endpoint, urlencode(form).encode(),
                                   headers)
    try:
        doc = json.loads(body)
    except ValueError:
        raise LoginError(f"token endpoint answered {status} with non-JSON {body[:300]!r}")
    if status != 200:
        raise LoginError(f"token endpoint answered {status}: {doc}")
    for k in ("id_token", "access_token", "refresh_token"):
        if isinstance(doc.get(k), str):
            helpers.register_secret(doc[k])
    return doc


# ---------------------------------------------------------------------------------------
# Signing keys and forged tokens
# ---------------------------------------------------------------------------------------


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64u_json(obj) -> str:
    return b64u(json.dumps(obj, separators=(",", ":")).encode())


def b64u_dec(s: str) -> bytes:
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def _int_b64u(n: int, length: int | None = None) -> str:
    length = length or max(1, (n.bit_length() + 7) // 8)
    return b64u(n.to_bytes(length, "big"))


_HASHES = {"256": hashes.SHA256, "384": hashes.SHA384, "512": hashes.SHA512}
_CURVES = {"P-256": (ec.SECP256R1, "ES256", 32), "P-384": (ec.SECP384R1, "ES384", 48),
           "P-521": (ec.SECP521R1, "ES512", 66)}


class SigningKey:
    """A private key with its JWK (kid, alg); signs compact JWS tokens."""

    def __init__(self, key, kid: str, alg: str):
        self.key, self.kid, self.alg = key, kid, alg

    @classmethod
    def rsa(cls, kid: str | None = None, alg: str = "RS256", bits: int = 2048) -> "SigningKey":
        return cls(rsa.generate_private_key(public_exponent=65537, key_size=bits),
                   kid or f"rsa-{secrets.token_hex(4)}", alg)

    @classmethod
    def ec(cls, kid: str | None = None, crv: str = "P-256") -> "SigningKey":
        curve, alg, _ = _CURVES[crv]
        return cls(ec.generate_private_key(curve()), kid or f"ec-{secrets.token_hex(4)}", alg)

    @classmethod
    def ed25519(cls, kid: str | None = None) -> "SigningKey":
        return cls(ed25519.Ed25519PrivateKey.generate(), kid or f"ed-{secrets.token_hex(4)}",
                   "EdDSA")

    def public_jwk(self) -> dict:
        k = self.key
        if isinstance(k, rsa.RSAPrivateKey):
            pn = k.public_key().public_numbers()
            out = {"kty": "RSA", "n": _int_b64u(pn.n), "e": _int_b64u(pn.e)}
        elif isinstance(k, ec.EllipticCurvePrivateKey):
            crv = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}[k.curve.name]
            size = _CURVES[crv][2]
            pn = k.public_key().public_numbers()
            out = {"kty": "EC", "crv": crv, "x": _int_b64u(pn.x, size), "y": _int_b64u(pn.y, size)}
        else:
            from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
            raw = k.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
            out = {"kty": "OKP", "crv": "Ed25519", "x": b64u(raw)}
        out.update(kid=self.kid, alg=self.alg, use="sig")
        return out

    def private_jwk(self) -> dict:
        out = self.public_jwk()
        k = self.key
        if isinstance(k, rsa.RSAPrivateKey):
            n = k.private_numbers()
            out.update(d=_int_b64u(n.d), p=_int_b64u(n.p), q=_int_b64u(n.q),
                       dp=_int_b64u(n.dmp1), dq=_int_b64u(n.dmq1), qi=_int_b64u(n.iqmp))
        elif isinstance(k, ec.EllipticCurvePrivateKey):
            out["d"] = _int_b64u(k.private_numbers().private_value, _CURVES[out["crv"]][2])
        else:
            from cryptography.hazmat.primitives.serialization import (Encoding, NoEncryption,
                                                                      PrivateFormat)
            out["d"] = b64u(k.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption()))
        return out

    def sign_bytes(self, data: bytes, alg: str | None = None) -> bytes:
        """The JWS signature of `data` with this key under `alg` (default: the key's)."""
        alg = alg or self.alg
        k = self.key
        if alg.startswith("RS"):
            return k.sign(data, padding.PKCS1v15(), _HASHES[alg[2:]]())
        if alg.startswith("PS"):
            h = _HASHES[alg[2:]]()
            return k.sign(data, padding.PSS(mgf=padding.MGF1(h), salt_length=h.digest_size), h)
        if alg.startswith("ES"):
            r, s = decode_dss_signature(k.sign(data, ec.ECDSA(_HASHES[alg[2:]]())))
            size = (k.curve.key_size + 7) // 8
            return r.to_bytes(size, "big") + s.to_bytes(size, "big")
        if alg == "EdDSA":
            return k.sign(data)
        raise ValueError(f"cannot sign {alg} with {type(k).__name__}")

    def sign(self, claims, header: dict | None = None, *, alg: str | None = None,
             kid: str | None | bool = True, typ: str | None = "JWT") -> str:
        """A compact JWS of `claims` (a dict, or raw bytes/str used as the payload as is).
        header: extra/overriding members (None values remove a member). kid=True: this
        key's kid; kid=None/False: no kid; a string: that kid."""
        alg = alg or self.alg
        h: dict = {"alg": alg}
        if typ is not None:
            h["typ"] = typ
        if kid is True:
            h["kid"] = self.kid
        elif isinstance(kid, str):
            h["kid"] = kid
        for name, value in (header or {}).items():
            if value is None:
                h.pop(name, None)
            else:
                h[name] = value
        if isinstance(claims, (bytes, str)):
            payload = b64u(claims.encode() if isinstance(claims, str) else claims)
        else:
            payload = b64u_json(claims)
        signing_input = f"{b64u_json(h)}.{payload}"
        sig = self.sign_bytes(signing_input.encode(), alg)
        return helpers.register_secret(f"{signing_input}.{b64u(sig)}")


def hs_sign(secret: bytes, claims: dict, header: dict, alg: str = "HS256") -> str:
    """An HMAC-signed compact JWS (for the 'public key as HMAC secret' attack)."""
    h = {"alg": alg, **header}
    signing_input = f"{b64u_json(h)}.{b64u_json(claims)}"
    digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}[alg]
    mac = hmac.new(secret, signing_input.encode(), digest).digest()
    return helpers.register_secret(f"{signing_input}.{b64u(mac)}")


def write_keys(path: Path | str, keys: Iterable[SigningKey]) -> Path:
    """Writes the private JWKS file for OidcProvider(keys_file=...)."""
    path = Path(path)
    path.write_text(json.dumps({"keys": [k.private_jwk() for k in keys]}))
    return path


def jwt_parts(token: str) -> tuple[dict, dict]:
    """(header, claims) of a compact JWS, unverified."""
    h, p, _ = token.split(".")
    return json.loads(b64u_dec(h)), json.loads(b64u_dec(p))


# ---------------------------------------------------------------------------------------
# 3-legged OAuth (user federation): registered clients, the quirk provider, a browser
# ---------------------------------------------------------------------------------------
#
# oidc-provider: `register_client(provider, redirect_uri, ...)` registers a confidential
# client at run time (RFC 7591, POST /reg) whose redirect URI is warrant's callback URL;
# `provider.issued()` / `provider.authorizations()` read what the provider handed out and
# was asked. The quirk provider (testkit/quirk_provider.py) plays the vendor presets.
# `Browser` is a scripted user agent: it follows warrant's authorizationUrl (303) to the
# provider, submits oidc-provider's real login and consent forms (or cancels), follows
# the redirect to warrant's callback and stops at the redirect to the app's return URL.


def register_client(provider: "OidcProvider", redirect_uri: str | list[str], *,
                    auth_method: str = "client_secret_basic",
                    access_token_ttl: int | None = None, rotate: bool | None = None,
                    grant_types: tuple[str, ...] = ("authorization_code", "refresh_token"),
                    extra: dict | None = None) -> dict:
    """RFC 7591 dynamic client registration at the test kit's oidc-provider: a confidential
    web client (auth_method client_secret_basic or client_secret_post) for the code flow
    with refresh tokens. access_token_ttl: its access tokens' lifetime (default the
    provider's --token-ttl); rotate: False turns refresh-token rotation off (default on).
    Returns the registration response (client_id, client_secret, redirect_uris, ...); the
    secret and the registration access token are registered as secrets of the run."""
    doc: dict = {
        "redirect_uris": [redirect_uri] if isinstance(redirect_uri, str) else list(redirect_uri),
        "grant_types": list(grant_types),
        "response_types": ["code"],
        "token_endpoint_auth_method": auth_method,
        "application_type": "web",
    }
    if access_token_ttl is not None:
        doc["testkit_access_token_ttl"] = access_token_ttl
    if rotate is not None:
        doc["testkit_rotate_refresh_token"] = rotate
    doc.update(extra or {})
    status, _, body = http_request("POST", provider.issuer + "/reg", json.dumps(doc).encode(),
                                   {"Content-Type": "application/json"})
    out = json.loads(body)
    if status != 201:
        raise AssertionError(f"client registration refused: {status} {out}")
    helpers.register_secret(out["client_secret"])
    helpers.register_secret(out.get("registration_access_token", ""))
    return out




QUIRK_SCRIPT = helpers.REPO / "testkit" / "quirk_provider.py"


class QuirkProvider(ReadyLineProcess):
    """One `python3 testkit/quirk_provider.py` process: the vendor presets' endpoints with
    their quirks on one loopback port (see the script's docstring)."""

    STOP_TIMEOUT = 10.0

    def __init__(self, *, port: int = 0, label: str = "quirk-provider"):
        super().__init__(label, ["--port", str(port)])

    def command(self) -> list[str]:
        return [sys.executable, str(QUIRK_SCRIPT)] + self.args

    @property
    def origin(self) -> str:
        return self._info("origin")

    @property
    def vendors(self) -> dict:
        return self._info("vendors")

    def danger_args(self, vendors: Iterable[str] | None = None) -> list[str]:
        """warrant flags: --danger-vendor-endpoint VENDOR=ORIGIN for every built-in vendor
        of the provider (or those given)."""
        out: list[str] = []
        for v in (vendors if vendors is not None else self.vendors):
            if v == "OktaOauth2":
                continue  # a tenant vendor: no built-in endpoints to redirect
            out += ["--danger-vendor-endpoint", f"{v}={self.origin}"]
        return out

    # -- test-only endpoints
    def _post(self, path: str, doc: dict | None = None) -> None:
        status, _, body = http_request("POST", self.origin + path,
                                       json.dumps(doc or {}).encode(),
                                       {"Content-Type": "application/json"})
        assert status == 204, (path, status, body[:300])

    def stats(self) -> dict:
        """{"vendors": {V: {"authorizations": [{"path", "params"}], "token_requests":
        {grant_type: n}, "last_token_request": {...} | None, "errors": [...]}},
        "issued": {...}} (every issued value is registered as a secret of the run)."""
        status, _, body = http_request("GET", self.origin + "/__quirks/stats")
        assert status == 200, (status, body[:300])
        doc = json.loads(body)
        _register_issued(doc["issued"])
        return doc

    def vendor_stats(self, vendor: str) -> dict:
        return self.stats()["vendors"][vendor]

    def reset(self) -> None:
        self._post("/__quirks/reset")

    def fail_next_refresh(self, vendor: str, error: str = "invalid_grant",
                          status: int = 400) -> None:
        """The next refresh of `vendor` answers `error` (HTTP `status`; a 5xx is a bare
        text/plain 5xx); invalid_grant also kills the refresh token."""
        self._post("/__quirks/fail-next-refresh", {"vendor": vendor, "error": error,
                                                   "status": status})

    def fail_next_code(self, vendor: str, error: str = "invalid_grant",
                       status: int = 400) -> None:
        """The next authorization_code grant of `vendor` answers `error` (HTTP `status`,
        a 5xx as a bare 5xx); the code is spent."""
        self._post("/__quirks/fail-next-code", {"vendor": vendor, "error": error,
                                                "status": status})

    def delay_next_refresh(self, vendor: str, seconds: float) -> None:
        """The next refresh of `vendor` is answered (as usual) after `seconds`."""
        self._post("/__quirks/delay-next-refresh", {"vendor": vendor, "seconds": seconds})

    def form_always(self, vendor: str, on: bool = True) -> None:
        """GitHub answers form-encoded bodies even to Accept: application/json."""
        self._post("/__quirks/config", {"vendor": vendor, "form_always": on})

    def deny_next(self, vendor: str, error: str = "access_denied") -> None:
        self._post("/__quirks/deny-next", {"vendor": vendor, "error": error})

    def set_expires_in(self, vendor: str, expires_in: int | None) -> None:
        self._post("/__quirks/config", {"vendor": vendor, "expires_in": expires_in})

    def register(self, vendor: str, redirect_uri: str) -> None:
        self._post("/__quirks/register", {"vendor": vendor, "redirect_uri": redirect_uri})


class BrowserError(AssertionError):
    pass


class Hop:
    """One request the browser made: method, url (as requested, before mapping), status,
    lower-cased headers, body."""

    def __init__(self, method: str, url: str, status: int, headers: dict, body: bytes):
        self.method, self.url, self.status, self.headers, self.body = (
            method, url, status, headers, body)

    @property
    def location(self) -> str | None:
        loc = self.headers.get("location")
        return urljoin(self.url, loc) if loc else None

    def __repr__(self):
        return f"<{self.method} {self.url[:120]} -> {self.status}>"


class Browser:
    """A scripted user agent for the 3LO flow. Cookies per (host, port); no automatic
    redirects; `hosts` maps public origins to where they really listen (warrant's public
    URL https://warrant.example.test -> http://127.0.0.1:PORT), so the URLs warrant hands
    out are followed as they are. Every hop is kept in .hops."""

    def __init__(self, hosts: dict[str, str] | None = None):
        self.hosts = {k.rstrip("/"): v.rstrip("/") for k, v in (hosts or {}).items()}
        self.cookies: dict[tuple, dict[str, str]] = {}
        self.hops: list[Hop] = []

    def _real(self, url: str) -> str:
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        if origin in self.hosts:
            return self.hosts[origin] + url[len(origin):]
        return url

    def request(self, method: str, url: str, form: dict | None = None,
                headers: dict | None = None) -> Hop:
        real = urlsplit(self._real(url))
        if real.scheme != "http" or real.hostname != "127.0.0.1":
            raise BrowserError(f"refusing to leave the machine: {url}")
        key = (real.hostname, real.port)
        jar = self.cookies.setdefault(key, {})
        path = real.path + (f"?{real.query}" if real.query else "")
        hdrs = dict(headers or {})
        hdrs.setdefault("Accept", "text/html")
        if jar:
            hdrs["Cookie"] = "; ".join(f"{k}={v}" for k, v in jar.items())
        body = None
        if form is not None:
            body = urlencode(form).encode()
            hdrs["Content-Type"] = "application/x-www-form-urlencoded"
        conn = http.client.HTTPConnection(real.hostname, real.port, timeout=30)
        try:
            conn.request(method, path, body=body, headers=hdrs)
            r = conn.getresponse()
            data = r.read()
            for raw in r.headers.get_all("Set-Cookie") or []:
                name, _, value = raw.split(";", 1)[0].partition("=")
                name = name.strip()
                if not value or "expires=thu, 01 jan 1970" in raw.lower():
                    jar.pop(name, None)
                else:
                    jar[name] = value.strip()
            hop = Hop(method, url, r.status, {k.lower(): v for k, v in r.getheaders()}, data)
        finally:
            conn.close()
        self.hops.append(hop)
        return hop

    def get(self, url: str) -> Hop:
        return self.request("GET", url)

    # -- the steps of the flow
    def open_authorization_url(self, authorization_url: str) -> Hop:
        """GET warrant's authorizationUrl: the hop (a 303 to the provider when all is well)."""
        return self.get(authorization_url)

    def at_provider(self, provider_url: str, username: str, *, deny: bool = False,
                    stop: Callable[[str], bool] | None = None) -> str:
        """Runs the provider's side from its authorization URL: oidc-provider's login and
        consent pages (submitted, or cancelled with deny=True), or a provider that redirects
        at once (the quirk provider). Returns the URL the provider redirects the browser to
        that is not the provider's own (warrant's callback, with code/state/iss or error)."""
        start = urlsplit(self._real(provider_url))
        provider_origin = (start.hostname, start.port)
        url, method, form = provider_url, "GET", None
        for _ in range(20):
            hop = self.request(method, url, form)
            method, form = "GET", None
            if hop.status in (302, 303):
                loc = hop.location
                real = urlsplit(self._real(loc))
                if (real.hostname, real.port) != provider_origin or (stop and stop(loc)):
                    return loc
                url = loc
                continue
            if hop.status == 200 and "/interaction/" in url:
                m = re.search(rb'name="prompt" value="(\w+)"', hop.body)
                prompt = m.group(1).decode() if m else None
                if deny:
                    m = re.search(rb'href="([^"]*/abort)"', hop.body)
                    if not m:
                        raise BrowserError(f"no cancel link on {prompt} page")
                    url = urljoin(url, m.group(1).decode())
                    continue
                if prompt == "login":
                    method, form = "POST", {"prompt": "login", "login": username,
                                            "password": "any-password"}
                elif prompt == "consent":
                    method, form = "POST", {"prompt": "consent"}
                else:
                    raise BrowserError(f"unexpected interaction page: {hop.body[:300]!r}")
                url = urljoin(url, _form_action(hop.body) or url)
                continue
            raise BrowserError(f"provider answered {hop.status} at {url}: {hop.body[:300]!r}")
        raise BrowserError(f"the provider never redirected back: {self.hops[-20:]}")

    def authorize(self, authorization_url: str, username: str = "alice", *,
                  deny: bool = False) -> "FlowResult":
        """The whole user side: warrant's authorizationUrl -> provider (login, consent or
        cancel) -> warrant's callback -> stop at the redirect to the app's return URL."""
        first = self.open_authorization_url(authorization_url)
        if first.status != 303:
            raise BrowserError(f"authorizationUrl answered {first.status}, not 303: "
                               f"{first.body[:300]!r}")
        provider_url = first.location
        callback_url = self.at_provider(provider_url, username, deny=deny)
        cb = self.get(callback_url)
        return FlowResult(first, provider_url, callback_url, cb)


class FlowResult:
    """What the browser saw: .authorize (the hop at warrant's authorization URL),
    .provider_url (where warrant sent the browser), .callback_url (where the provider sent
    it back: warrant's callback with code, state, iss), .callback (warrant's answer there),
    .return_url (its Location), .query (the return URL's query: session_id, state, error)."""

    def __init__(self, authorize: Hop, provider_url: str, callback_url: str, callback: Hop):
        self.authorize = authorize
        self.provider_url = provider_url
        self.callback_url = callback_url
        self.callback = callback
        self.return_url = callback.location if callback.status in (302, 303) else None
        q = parse_qs(urlsplit(self.return_url).query, keep_blank_values=True) \
            if self.return_url else {}
        self.query = {k: v[-1] for k, v in q.items()}
        self.query_lists = q
        for v in parse_qs(urlsplit(callback_url).query).get("code", []):
            helpers.register_secret(v)

    @property
    def provider_params(self) -> dict:
        """The query warrant sent to the provider's authorization endpoint."""
        return {k: v[-1] for k, v in parse_qs(urlsplit(self.provider_url).query,
                                               keep_blank_values=True).items()}

    @property
    def callback_params(self) -> dict:
        return {k: v[-1] for k, v in parse_qs(urlsplit(self.callback_url).query,
                                               keep_blank_values=True).items()}

    def __repr__(self):
        return (f"<FlowResult callback {self.callback.status} -> {self.return_url!r}>")


def _form_action(body: bytes) -> str | None:
    m = re.search(rb'<form[^>]*action="([^"]+)"', body)
    return html.unescape(m.group(1).decode()) if m else None


# -- warrant-side set-up for the 3LO tests


def create_3lo_provider(control, idp: "OidcProvider", *, name: str | None = None,
                        auth_method: str = "client_secret_basic",
                        access_token_ttl: int | None = None, rotate: bool | None = None,
                        metadata: bool = False, method_in_config: bool = False,
                        grant_types: tuple[str, ...] = ("authorization_code",
                                                        "refresh_token")) -> dict:
    """A CustomOauth2 credential provider in warrant backed by a client registered at the
    test kit's oidc-provider with warrant's callback URL as its redirect URI.

    The callback URL exists only once the provider does, so: create the provider with a
    placeholder client, register the client (RFC 7591) with the callback URL, then update
    the provider with the registered client id and secret. metadata=True configures
    authorizationServerMetadata instead of the discovery URL; method_in_config sets
    clientAuthenticationMethod explicitly; grant_types without refresh_token gives a
    client that never gets a refresh token. Returns {"name", "callbackUrl", "arn",
    "client": the registration response}."""
    name = name or helpers.uname("uf-p")
    if metadata:
        disc = {"authorizationServerMetadata": {
            "issuer": idp.issuer, "authorizationEndpoint": idp.issuer + "/auth",
            "tokenEndpoint": idp.token_endpoint,
            "responseTypes": ["code"]}}
    else:
        disc = {"discoveryUrl": idp.discovery_url}
    placeholder = helpers.new_secret("uf-placeholder-")
    r = control.create_oauth2_credential_provider(
        name=name, credentialProviderVendor="CustomOauth2",
        oauth2ProviderConfigInput={"customOauth2ProviderConfig": {
            "clientId": "placeholder", "clientSecret": placeholder, "oauthDiscovery": disc}})
    callback = r["callbackUrl"]
    client = register_client(idp, callback, auth_method=auth_method,
                             access_token_ttl=access_token_ttl, rotate=rotate,
                             grant_types=grant_types)
    cfg: dict = {"clientId": client["client_id"], "clientSecret": client["client_secret"],
                 "oauthDiscovery": disc}
    if method_in_config:
        cfg["clientAuthenticationMethod"] = auth_method.upper()
    u = control.update_oauth2_credential_provider(
        name=name, credentialProviderVendor="CustomOauth2",
        oauth2ProviderConfigInput={"customOauth2ProviderConfig": cfg})
    if u["callbackUrl"] != callback:
        raise AssertionError(f"the callback URL changed on update: {callback} -> "
                             f"{u['callbackUrl']}")
    return {"name": name, "callbackUrl": callback,
            "arn": r["credentialProviderArn"], "client": client}


def create_3lo_workload(control, return_urls: Iterable[str], name: str | None = None) -> str:
    """A workload identity with allowedResourceOauth2ReturnUrls."""
    name = name or helpers.uname("uf-wl")
    control.create_workload_identity(name=name,
                                     allowedResourceOauth2ReturnUrls=list(return_urls))
    return name


def wat_for_user(data, workload: str, user_id: str) -> str:
    """A workload access token for `workload` acting for userId `user_id`."""
    r = data.get_workload_access_token_for_user_id(workloadName=workload, userId=user_id)
    return helpers.register_secret(r["workloadAccessToken"])


def wat_for_jwt(data, workload: str, user_token: str) -> str:
    """A workload access token for `workload` acting for the user a JWT proves."""
    r = data.get_workload_access_token_for_jwt(workloadName=workload, userToken=user_token)
    return helpers.register_secret(r["workloadAccessToken"])
